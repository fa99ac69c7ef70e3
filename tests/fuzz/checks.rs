//! What the fuzz targets check, shared by the targets (`fuzz_targets/*.rs`)
//! and by the plain regression tests (`tests/fuzz_regressions.rs`), so that
//! a minimised fuzz input replays exactly as the fuzzer saw it.
//!
//! ## `pattern`
//!
//! Pattern text → `parse`, `RuleSetBuilder::add` and `build`.
//!
//! Invariants:
//! - none of them panics (libFuzzer reports a panic as a crash);
//! - `parse` is deterministic;
//! - when `parse` accepts the text, `add` accepts it too, unless the engine's
//!   own limits reject it (wildcard complexity, fields per `$or` branch);
//!   when `parse` rejects it, `add` rejects it with the same reason;
//! - a built automaton agrees with the naive matcher on a few fixed events
//!   (cheap; the `match` target does this properly).
//!
//! Input that is not UTF-8 is skipped: the API only takes `&str`.
//!
//! ## `match`
//!
//! Events against the automaton, checked against the naive reference matcher.
//!
//! Input layout: the first line (up to the first `\n`) is a pattern, the rest
//! is an event. Two checks run on every input:
//!
//! 1. One rule. When the first line is a pattern `RuleSetBuilder` accepts and
//!    the rule set builds: `find_checked` does not panic and agrees with
//!    `naive::matches` (both `Ok` with the same answer, or both `Err`), and
//!    `find` returns exactly what `find_checked` returns whenever
//!    `find_checked` is `Ok`.
//! 2. A fixed automaton of hand-written rules covering every operator
//!    (`tests/fuzz/fixed_rules.txt`), matched against the whole input and against the event part
//!    as events: `find` agrees with `find_checked`, and per rule membership in
//!    `find_checked`'s answer agrees with `naive::matches` of that rule alone.
//!
//! Each event is matched twice with the same cache (once with a different
//! event in between) so that state leaking from one event into the next shows
//! up too.
//!
//! ## `envelope`
//!
//! One input line → the pipeline's two ways of making it an envelope:
//! `normalise_unchecked` (the fast path: structure only, the canonical
//! envelope kept where it lies) and `normalise` (full validation).
//!
//! Invariants (what lets the pipeline trust the fast path):
//! - neither panics;
//! - when the fast path decides (`Some`) and what it produced stands (the
//!   matcher's validating scan accepts it and finds `detail` to be the last
//!   top-level key, as the pipeline checks), `normalise` accepts the line
//!   too, with the same id range and the same bytes (a kept line once its
//!   end is trimmed);
//! - when `normalise` rejects the line, the fast path's result never stands.
//!
//! ## `transform`
//!
//! An `InputTransformer` and an event through the public API of
//! `busbar::transform`, as the pipeline uses it.
//!
//! Input layout: the first line is the event; then one `key=path` line per
//! `input_paths_map` entry (split at the first `=`), up to the first empty
//! line; everything after that empty line is the template (it may span
//! lines). Invariants:
//! - `Shaper::transformer` (and `input_path` for each path, `constant` for
//!   the template text) never panics: what it cannot compile is a
//!   `ShapeError` naming the target and a setting;
//! - `render` never panics, whatever bytes it is given as the event (the
//!   path cursor reports what it cannot read);
//! - for an event the pipeline would render (`normalise` accepts the line
//!   and the matcher's validating scan accepts the envelope, with `run`'s
//!   default limits): rendering
//!   does not depend on what the output buffer held; it is never
//!   `InvalidEvent` (that code means a bug upstream) nor `InputPathNoMatch`
//!   (a transformer renders a missing value as `""` or nothing);
//!   `InvalidJsonAfterTransform` comes only from a JSON-shaped template
//!   (first non-blank char `{` or `[`); and a JSON-shaped template that
//!   renders `Ok` renders valid JSON (the module's promise: a template that
//!   can never be JSON is rejected when compiled, one that breaks after
//!   substitution is an error).
//!
//! ## `putevents`
//!
//! A PutEvents request body through `prepare_put_events`, as the HTTP
//! source calls it (default limits, this bus), and through
//! `test_event_pattern`, which the same endpoint serves. Invariants:
//! - neither panics;
//! - a request-level error is a 400 with one of the documented `__type`s
//!   and a JSON error body saying the same;
//! - otherwise there is one outcome per request entry (1 to `max_entries`
//!   of them), each accepted, dropped (another bus) or failed with one of
//!   EventBridge's codes; every event id is distinct and each fresh id
//!   was used once;
//! - the response body is JSON: `FailedEntryCount` is the number of failed
//!   entries, and `Entries` holds one element per request entry, in order,
//!   with the entry's `EventId` or its `ErrorCode` and `ErrorMessage`;
//! - every accepted envelope is one the pipeline takes as it is: the
//!   validating `normalise` accepts it as a canonical envelope (kept byte
//!   for byte, not wrapped, with the entry's id), the matcher's validating
//!   scan accepts it with `run`'s default limits, and it carries the
//!   entry's `Source`, `DetailType`, `Resources` and `Detail` (compared as
//!   parsed JSON where serde_json can read both).

use std::sync::OnceLock;

use busbar::engine::{
    naive, Automaton, Limits, RuleId, RuleSetBuilder, MAX_FIELDS_PER_BRANCH, RULE_TOO_COMPLEX,
};
use busbar::envelope::{normalise, normalise_unchecked, trim_end, Bus, RawDefaults};
use busbar::ingest::putevents::{
    prepare_put_events, test_event_pattern, EntryOutcome, PutEventsLimits,
};
use busbar::pattern::{parse, Pattern};
use busbar::transform::{RenderContext, RenderError, Shaper};
use serde::de::{Deserialize, IgnoredAny};
use serde_json::Value;

const EVENTS: &[&[u8]] = &[
    b"{}",
    br#"{"a":"x"}"#,
    br#"{"a":[1,"x",null,true,{"b":"y"}]}"#,
];

/// The `pattern` target: everything it checks for one input.
pub fn check_pattern(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let limits = Limits::default();
    let parsed = parse(text, &limits.pattern);
    assert_eq!(
        parsed,
        parse(text, &limits.pattern),
        "parse is not deterministic"
    );

    let mut builder = RuleSetBuilder::new(limits);
    let added = builder.add("r", text);
    match (&parsed, &added) {
        (Ok(_), Ok(_)) => {}
        (Ok(p), Err(e)) => {
            let too_many_fields = p
                .subpatterns
                .iter()
                .any(|sp| sp.fields.len() > MAX_FIELDS_PER_BRANCH);
            // Too complex, or too costly to count (the same reason, then
            // why); or too many fields.
            assert!(
                e.reason().starts_with(RULE_TOO_COMPLEX)
                    || (too_many_fields && e.reason().contains("fields")),
                "parse accepted the pattern but add rejected it: {e}"
            );
            return;
        }
        (Err(pe), Err(ae)) => {
            assert_eq!(
                pe.reason(),
                ae.reason(),
                "parse and add disagree on the reason"
            );
            return;
        }
        (Err(e), Ok(_)) => panic!("parse rejected the pattern but add accepted it: {e}"),
    }
    let pattern = parsed.unwrap();
    // `build` may refuse a rule set whose string automaton is too large; that
    // is an error, not a bug.
    let Ok(automaton) = builder.build() else {
        return;
    };
    let mut cache = automaton.cache();
    for event in EVENTS {
        let want = naive::matches(&pattern, event, &limits).expect("fixed events are valid");
        let got = automaton
            .find_checked(event, &mut cache)
            .expect("fixed events are valid")
            .to_vec();
        assert_eq!(
            !got.is_empty(),
            want,
            "find_checked and naive disagree on {:?}",
            String::from_utf8_lossy(event)
        );
        let fast = automaton
            .find(event, &mut cache)
            .expect("fixed events are valid");
        assert_eq!(fast, &got[..], "find and find_checked disagree");
    }
}

/// The fixed rule set, one pattern a line (shared with tests/fuzz_regressions.rs).
const RULES_TEXT: &str = include_str!("fixed_rules.txt");

pub fn rules() -> impl Iterator<Item = &'static str> {
    RULES_TEXT
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
}

struct Fixed {
    automaton: Automaton,
    texts: Vec<&'static str>,
    patterns: Vec<Pattern>,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let limits = Limits::default();
        let mut builder = RuleSetBuilder::new(limits);
        let mut patterns = Vec::new();
        let texts: Vec<&'static str> = rules().collect();
        for (i, rule) in texts.iter().enumerate() {
            builder
                .add(&format!("r{i}"), rule)
                .unwrap_or_else(|e| panic!("fixed rule {i} rejected: {e}"));
            patterns.push(parse(rule, &limits.pattern).unwrap());
        }
        Fixed {
            automaton: builder.build().expect("fixed rules build"),
            texts,
            patterns,
        }
    })
}

/// A valid event unrelated to the input, matched between two matches of the
/// input with the same cache.
const OTHER: &[u8] = br#"{"a":["x","abyz",{"q":1}],"b":4,"arr":[{"k":"x","v":"1"}],"z":null}"#;

fn find_checked(
    a: &Automaton,
    event: &[u8],
    cache: &mut busbar::engine::Cache,
) -> Result<Vec<RuleId>, String> {
    a.find_checked(event, cache)
        .map(<[RuleId]>::to_vec)
        .map_err(|e| e.to_string())
}

fn find(
    a: &Automaton,
    event: &[u8],
    cache: &mut busbar::engine::Cache,
) -> Result<Vec<RuleId>, String> {
    a.find(event, cache)
        .map(<[RuleId]>::to_vec)
        .map_err(|e| e.to_string())
}

/// `find_checked` twice (same cache, another event in between) and `find`;
/// returns `find_checked`'s answer.
fn check_automaton(a: &Automaton, event: &[u8]) -> Result<Vec<RuleId>, String> {
    let mut cache = a.cache();
    let checked = find_checked(a, event, &mut cache);
    let fast = find(a, event, &mut cache);
    let _ = a.find_checked(OTHER, &mut cache);
    let again = find_checked(a, event, &mut cache);
    assert_eq!(
        checked, again,
        "find_checked changed its answer on a reused cache"
    );
    if let Ok(rules) = &checked {
        assert_eq!(fast.as_ref(), Ok(rules), "find disagrees with find_checked");
    } else if let Ok(rules) = &fast {
        // find may skip an invalid event only by answering "no match".
        assert!(
            rules.is_empty(),
            "find matched an event find_checked rejects: {rules:?}"
        );
    }
    checked
}

pub fn check_single(pattern_text: &str, event: &[u8]) {
    let limits = Limits::default();
    let Ok(pattern) = parse(pattern_text, &limits.pattern) else {
        return;
    };
    let mut builder = RuleSetBuilder::new(limits);
    if builder.add("r", pattern_text).is_err() {
        return; // engine limits (complexity, fields per branch)
    }
    let Ok(automaton) = builder.build() else {
        return; // too many automaton states
    };
    let got = check_automaton(&automaton, event);
    let want = naive::matches(&pattern, event, &limits);
    match (&got, &want) {
        (Ok(rules), Ok(w)) => assert_eq!(
            !rules.is_empty(),
            *w,
            "automaton and naive disagree: automaton {rules:?}, naive {w}"
        ),
        (Err(_), Err(_)) => {}
        _ => panic!("automaton and naive disagree on validity: automaton {got:?}, naive {want:?}"),
    }
}

pub fn check_fixed(event: &[u8]) {
    let f = fixed();
    let limits = Limits::default();
    let got = check_automaton(&f.automaton, event);
    for (i, p) in f.patterns.iter().enumerate() {
        let want = naive::matches(p, event, &limits);
        match (&got, &want) {
            (Ok(rules), Ok(w)) => assert_eq!(
                rules.contains(&RuleId(i as u32)),
                *w,
                "fixed rule {i} {}: automaton {rules:?}, naive {w}",
                f.texts[i]
            ),
            (Err(_), Err(_)) => {}
            _ => panic!("fixed rule {i}: automaton and naive disagree on validity: automaton {got:?}, naive {want:?}"),
        }
    }
}

/// The `match` target: everything it checks for one input.
pub fn check_match_input(data: &[u8]) {
    check_fixed(data);
    let Some(nl) = data.iter().position(|&b| b == b'\n') else {
        return;
    };
    let (head, event) = (&data[..nl], &data[nl + 1..]);
    check_fixed(event);
    if let Ok(pattern_text) = std::str::from_utf8(head) {
        check_single(pattern_text, event);
    }
}

/// The `envelope` target: everything it checks for one input.
pub fn check_envelope(line: &[u8]) {
    let engine = empty_automaton();
    let bus = bus();
    let defaults = DEFAULTS;
    let mut id = || uuid::Uuid::from_u128(7);
    let (mut fast_out, mut slow_out) = (Vec::new(), Vec::new());
    let fast = normalise_unchecked(line, &bus, &defaults, 7, &mut id, &mut fast_out);
    let slow = normalise(line, &bus, &defaults, 7, &mut id, &mut slow_out);
    let Some(fast) = fast else {
        // Not decided: the pipeline calls `normalise`.
        return;
    };
    let envelope: &[u8] = match &fast.kept {
        Some(r) => {
            assert!(fast_out.is_empty(), "a kept line is not copied");
            &line[r.clone()]
        }
        None => &fast_out,
    };
    let mut cache = engine.cache();
    let stands = engine.find_checked(envelope, &mut cache).is_ok() && fast.stands(&cache);
    match slow {
        Ok(norm) if stands => {
            assert_eq!(
                trim_end(envelope),
                &slow_out[..],
                "the fast path's envelope differs from normalise's"
            );
            assert_eq!(fast.norm, norm, "the fast path's id or wrapping differs");
        }
        Ok(_) => {}
        Err(e) => assert!(
            !stands,
            "normalise rejects the line ({e}) but the fast path's envelope stands"
        ),
    }
}

fn bus() -> Bus {
    Bus {
        name: "default".into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
    }
}

const DEFAULTS: RawDefaults<'static> = RawDefaults {
    source: "busbar.fuzz",
    detail_type: "Fuzz Event",
};

/// 2022-01-01T00:00:00Z.
const NOW: i64 = 1_640_995_200;

/// An empty rule set: `find_checked` with it is the matcher's validating
/// scan alone, with the engine's default limits.
fn empty_automaton() -> &'static Automaton {
    static EMPTY: OnceLock<Automaton> = OnceLock::new();
    EMPTY.get_or_init(|| {
        RuleSetBuilder::new(Limits::default())
            .build()
            .expect("an empty rule set builds")
    })
}

/// The engine limits `run` uses with the default `limits` settings (the
/// envelope's own level and keys on top of `max_event_depth` and
/// `max_event_bytes`).
fn run_limits() -> Limits {
    const CONFIG: &str = "
sources: [{id: in, kind: stdin}]
rules: [{name: r, event_pattern: '{}', targets: [{id: out, kind: stdout}]}]
";
    busbar::config::Config::from_yaml(CONFIG, "fuzz.yaml")
        .expect("the fuzz config parses")
        .engine_limits()
}

/// An empty rule set built with `run`'s limits: the validating scan every
/// event passes before it is matched and shaped.
fn run_automaton() -> &'static Automaton {
    static RUN: OnceLock<Automaton> = OnceLock::new();
    RUN.get_or_init(|| {
        RuleSetBuilder::new(run_limits())
            .build()
            .expect("an empty rule set builds")
    })
}

/// Whether `text` is one JSON value, however deep (serde_json's default
/// recursion limit of 128 would call deep but valid output invalid).
pub fn is_json(text: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(text);
    de.disable_recursion_limit();
    IgnoredAny::deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// The pipeline's view of `line`: the envelope it would match and render,
/// or `None` where it would dead-letter the line instead.
fn pipeline_envelope(line: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut id = || uuid::Uuid::from_u128(7);
    normalise(line, &bus(), &DEFAULTS, NOW, &mut id, &mut out).ok()?;
    let automaton = run_automaton();
    let mut cache = automaton.cache();
    automaton.find_checked(&out, &mut cache).ok()?;
    Some(out)
}

/// First non-blank (ASCII whitespace) byte is `{` or `[`: the transform
/// module's definition of a JSON-shaped template.
fn json_shaped(template: &str) -> bool {
    matches!(
        template.bytes().find(|c| !c.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// The `transform` target's input, split.
pub struct TransformInput<'a> {
    /// The first line.
    pub event: &'a [u8],
    /// `key=path` lines (split at the first `=`) up to the first empty line.
    pub paths: Vec<(String, String)>,
    /// Everything after that empty line.
    pub template: &'a str,
}

/// `None` for input without a newline or with a non-UTF-8 tail.
pub fn split_transform_input(data: &[u8]) -> Option<TransformInput<'_>> {
    let nl = data.iter().position(|&b| b == b'\n')?;
    let event = &data[..nl];
    let mut rest = std::str::from_utf8(&data[nl + 1..]).ok()?;
    let mut paths = Vec::new();
    while !rest.is_empty() {
        let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = after;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        paths.push((k.to_string(), v.to_string()));
    }
    Some(TransformInput {
        event,
        paths,
        template: rest,
    })
}

/// The `transform` target: everything it checks for one input.
pub fn check_transform(data: &[u8]) {
    let Some(TransformInput {
        event,
        paths,
        template,
    }) = split_transform_input(data)
    else {
        return;
    };
    const TARGET: &str = "fuzz-target";
    let setting_error = |e: busbar::transform::ShapeError| {
        assert_eq!(e.target(), TARGET, "a ShapeError names its target");
        assert!(!e.setting().is_empty(), "a ShapeError names its setting");
        assert!(!e.to_string().is_empty());
    };
    for (_, path) in &paths {
        if let Err(e) = Shaper::input_path(TARGET, path) {
            setting_error(e);
        }
    }
    if let Err(e) = Shaper::constant(TARGET, template) {
        setting_error(e);
    }
    let shaper = match Shaper::transformer(TARGET, &paths, template) {
        Ok(s) => s,
        Err(e) => return setting_error(e),
    };
    // The rule name holds what must be escaped: a quote, a backslash and a
    // control character.
    let bus = bus();
    let rule_name = "fuzz \"rule\"\\\u{1}";
    let rule_arn = bus.rule_arn(rule_name);
    let ctx = RenderContext {
        rule_name,
        rule_arn: &rule_arn,
        ingestion_time: "2026-11-23T10:00:00Z",
    };
    let mut out = b"left over from an earlier event".to_vec();
    // Any bytes at all: reported, not a panic.
    let _ = shaper.render(event, &ctx, &mut out);

    let Some(envelope) = pipeline_envelope(event) else {
        return;
    };
    let got = shaper.render(&envelope, &ctx, &mut out);
    let mut fresh = Vec::new();
    let again = shaper.render(&envelope, &ctx, &mut fresh);
    assert_eq!(got, again, "render depends on the output buffer");
    match got {
        Ok(()) => {
            assert_eq!(out, fresh, "render depends on the output buffer");
            if json_shaped(template) {
                assert!(
                    is_json(&out),
                    "a JSON-shaped template rendered invalid JSON: {:?}",
                    String::from_utf8_lossy(&out)
                );
            }
        }
        Err(RenderError::InvalidJsonAfterTransform { .. }) => assert!(
            json_shaped(template),
            "InvalidJsonAfterTransform from a template that is not JSON-shaped"
        ),
        Err(e) => panic!(
            "a validated envelope failed to render: {e} ({}); envelope {:?}",
            e.code(),
            String::from_utf8_lossy(&envelope)
        ),
    }
}

/// EventBridge's per-entry codes that PutEvents answers with (§3.3).
const ENTRY_CODES: &[&str] = &[
    "InvalidArgument",
    "MalformedDetail",
    "NotAuthorizedForSourceException",
];

/// Request-level `__type`s of a PutEvents or TestEventPattern answer.
const REQUEST_TYPES: &[&str] = &[
    "SerializationException",
    "ValidationException",
    "InvalidEventPatternException",
];

fn check_api_error(e: &busbar::ingest::putevents::ApiError) {
    assert_eq!(e.status, 400, "{e}");
    assert!(REQUEST_TYPES.contains(&e.type_name), "{e}");
    let body: Value = serde_json::from_slice(&e.body()).expect("error bodies are JSON");
    assert_eq!(body["__type"], e.type_name);
    assert_eq!(body["message"], e.message.as_str());
}

/// A JSON value parsed from `text`, or `None` where serde_json cannot
/// represent it (too deep, a number out of range).
fn value(text: &[u8]) -> Option<Value> {
    serde_json::from_slice(text).ok()
}

/// The `putevents` target: everything it checks for one input.
pub fn check_putevents(body: &[u8]) {
    let limits = PutEventsLimits::default();
    if let Err(e) = test_event_pattern(body, &Limits::default()) {
        check_api_error(&e);
    }
    let bus = bus();
    let mut issued = 0u128;
    let mut new_id = || {
        issued += 1;
        uuid::Uuid::from_u128(0x1111_1111_2222_4333_8444_0000_0000_0000 + issued)
    };
    let prepared = match prepare_put_events(body, &bus, &limits, NOW, &mut new_id) {
        Ok(p) => p,
        Err(e) => return check_api_error(&e),
    };
    let entries = &prepared.entries;
    assert!(
        (1..=limits.max_entries).contains(&entries.len()),
        "{} entries accepted for processing",
        entries.len()
    );

    // Ids: distinct, and each one drawn was used.
    let mut ids: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            EntryOutcome::Accepted { id, .. } | EntryOutcome::Dropped { id, .. } => {
                Some(id.as_str())
            }
            EntryOutcome::Failed { .. } => None,
        })
        .collect();
    assert_eq!(ids.len() as u128, issued, "an event id drawn and not used");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len() as u128, issued, "an event id given twice");

    // The response counts add up.
    let response: Value =
        serde_json::from_slice(&prepared.response_body()).expect("the response is JSON");
    let failed = entries
        .iter()
        .filter(|e| matches!(e, EntryOutcome::Failed { .. }))
        .count();
    assert_eq!(prepared.failed_count(), failed);
    assert_eq!(response["FailedEntryCount"], failed);
    let answered = response["Entries"]
        .as_array()
        .expect("the response has Entries");
    assert_eq!(answered.len(), entries.len(), "one answer per entry");
    for (e, a) in entries.iter().zip(answered) {
        let a = a.as_object().expect("each answer is an object");
        match e {
            EntryOutcome::Accepted { id, .. } | EntryOutcome::Dropped { id, .. } => {
                assert_eq!(a.len(), 1, "{a:?}");
                assert_eq!(a["EventId"], id.as_str());
            }
            EntryOutcome::Failed { code, message } => {
                assert!(ENTRY_CODES.contains(code), "unknown entry code {code}");
                assert!(!message.is_empty());
                assert_eq!(a.len(), 2, "{a:?}");
                assert_eq!(a["ErrorCode"], *code);
                assert_eq!(a["ErrorMessage"], message.as_str());
            }
        }
    }

    // The request as serde_json reads it, where it can (depth, numbers).
    let request = value(body);
    let request_entries = request
        .as_ref()
        .and_then(|r| r.get("Entries"))
        .and_then(Value::as_array);
    if let Some(r) = &request {
        // serde's derive also reads a struct from an array of its fields in
        // order; PutEvents takes objects only (a member of the wrong JSON
        // type is a SerializationException).
        assert!(
            r.is_object(),
            "a request that is not an object was accepted"
        );
    }
    if let Some(r) = request_entries {
        assert_eq!(r.len(), entries.len(), "one outcome per request entry");
        for (i, e) in r.iter().enumerate() {
            assert!(e.is_object(), "entry {i} is not an object: {e}");
        }
    }

    for (i, e) in entries.iter().enumerate() {
        let EntryOutcome::Accepted { envelope, id, .. } = e else {
            continue;
        };
        let mut out = Vec::new();
        let mut unused = || uuid::Uuid::from_u128(0);
        let norm = normalise(envelope, &bus, &DEFAULTS, NOW, &mut unused, &mut out).unwrap_or_else(
            |err| {
                panic!(
                    "entry {i}: normalise rejects the accepted envelope ({err}): {:?}",
                    String::from_utf8_lossy(envelope)
                )
            },
        );
        assert!(!norm.wrapped, "entry {i}: the envelope was wrapped");
        assert_eq!(&out, envelope, "entry {i}: the envelope is not canonical");
        assert_eq!(&out[norm.id.clone()], id.as_bytes(), "entry {i}: id");
        let automaton = run_automaton();
        if let Err(err) = automaton.find_checked(envelope, &mut automaton.cache()) {
            panic!("entry {i}: the matcher rejects the accepted envelope: {err}");
        }

        let (Some(env), Some(req)) = (value(envelope), request_entries.and_then(|r| r.get(i)))
        else {
            continue;
        };
        assert_eq!(env["source"], req["Source"], "entry {i}: source");
        assert_eq!(
            env["detail-type"], req["DetailType"],
            "entry {i}: detail-type"
        );
        match req.get("Resources") {
            None | Some(Value::Null) => assert_eq!(env["resources"], Value::Array(vec![])),
            Some(r) => assert_eq!(&env["resources"], r, "entry {i}: resources"),
        }
        if let Some(detail) = req["Detail"].as_str().and_then(|d| value(d.as_bytes())) {
            assert_eq!(env["detail"], detail, "entry {i}: detail");
        }
    }
}
