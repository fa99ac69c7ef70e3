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

use std::sync::OnceLock;

use busbar::engine::{
    naive, Automaton, Limits, RuleId, RuleSetBuilder, MAX_FIELDS_PER_BRANCH, RULE_TOO_COMPLEX,
};
use busbar::envelope::{normalise, normalise_unchecked, trim_end, Bus, RawDefaults};
use busbar::pattern::{parse, Pattern};

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
            assert!(
                e.reason() == RULE_TOO_COMPLEX
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
    static EMPTY: OnceLock<Automaton> = OnceLock::new();
    let engine = EMPTY.get_or_init(|| {
        RuleSetBuilder::new(Limits::default())
            .build()
            .expect("an empty rule set builds")
    });
    let bus = Bus {
        name: "default".into(),
        account: "123456789012".into(),
        region: "eu-west-1".into(),
    };
    let defaults = RawDefaults {
        source: "busbar.fuzz",
        detail_type: "Fuzz Event",
    };
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
