//! Regression tests for what the fuzz targets of `tests/fuzz/` check (see
//! `tests/fuzz/README.md`), through the public API only: they run with plain
//! `cargo test`, without the fuzzing toolchain.
//!
//! [`check_pattern`], [`check_single`] and [`check_fixed`] assert exactly what
//! the `pattern` and `match` fuzz targets assert, so a minimised fuzz input
//! becomes a one-line test here:
//!
//! ```text
//! /// match target: <what went wrong>, in <function>.
//! #[test]
//! #[ignore = "reproduces <bug>, fix pending"]
//! fn short_name() {
//!     check_match_input(b"<the minimised input, as `cargo fuzz fmt` prints it>");
//! }
//! ```
//!
//! Drop the `#[ignore]` once the engine is fixed.

use std::path::Path;

use busbar::engine::{
    naive, Automaton, Cache, Limits, RuleId, RuleSetBuilder, MAX_FIELDS_PER_BRANCH,
    RULE_TOO_COMPLEX,
};
use busbar::pattern::{parse, Pattern};

/// The `match` target's fixed rule set.
const FIXED_RULES: &str = include_str!("fuzz/fixed_rules.txt");

fn fixed_rules() -> Vec<&'static str> {
    FIXED_RULES
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

/// `pattern` target: parse, add and build never panic; parse is deterministic;
/// add accepts what parse accepts (save the engine's own limits) and rejects
/// with parse's reason what parse rejects; the built automaton agrees with the
/// naive matcher on a few fixed events.
fn check_pattern(data: &[u8]) {
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
    let pattern = match (parsed, added) {
        (Ok(p), Ok(_)) => p,
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
    };
    let Ok(automaton) = builder.build() else {
        return;
    };
    let mut cache = automaton.cache();
    for event in [
        &b"{}"[..],
        br#"{"a":"x"}"#,
        br#"{"a":[1,"x",null,true,{"b":"y"}]}"#,
    ] {
        let want = naive::matches(&pattern, event, &limits).unwrap();
        let got = automaton.find_checked(event, &mut cache).unwrap().to_vec();
        assert_eq!(!got.is_empty(), want, "find_checked and naive disagree");
        let fast = automaton.find(event, &mut cache).unwrap();
        assert_eq!(fast, &got[..], "find and find_checked disagree");
    }
}

/// An event that the `match` target matches between two matches of the input.
const OTHER: &[u8] = br#"{"a":["x","abyz",{"q":1}],"b":4,"arr":[{"k":"x","v":"1"}],"z":null}"#;

fn find_checked(a: &Automaton, event: &[u8], cache: &mut Cache) -> Result<Vec<RuleId>, String> {
    a.find_checked(event, cache)
        .map(<[RuleId]>::to_vec)
        .map_err(|e| e.to_string())
}

/// `find_checked` twice on one cache (another event in between) and `find`.
fn check_automaton(a: &Automaton, event: &[u8]) -> Result<Vec<RuleId>, String> {
    let mut cache = a.cache();
    let checked = find_checked(a, event, &mut cache);
    let fast = a
        .find(event, &mut cache)
        .map(<[RuleId]>::to_vec)
        .map_err(|e| e.to_string());
    let _ = a.find_checked(OTHER, &mut cache);
    let again = find_checked(a, event, &mut cache);
    assert_eq!(
        checked, again,
        "find_checked changed its answer on a reused cache"
    );
    match (&checked, &fast) {
        (Ok(rules), _) => assert_eq!(fast.as_ref(), Ok(rules), "find disagrees with find_checked"),
        (Err(_), Ok(rules)) => assert!(
            rules.is_empty(),
            "find matched an event find_checked rejects: {rules:?}"
        ),
        (Err(_), Err(_)) => {}
    }
    checked
}

/// `match` target, one rule: automaton vs naive, find vs find_checked.
fn check_single(pattern_text: &str, event: &[u8]) {
    let limits = Limits::default();
    let Ok(pattern) = parse(pattern_text, &limits.pattern) else {
        return;
    };
    let mut builder = RuleSetBuilder::new(limits);
    if builder.add("r", pattern_text).is_err() {
        return;
    }
    let Ok(automaton) = builder.build() else {
        return;
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

/// `match` target, the fixed rule set: find vs find_checked, and per rule vs naive.
fn check_fixed(event: &[u8]) {
    let limits = Limits::default();
    let texts = fixed_rules();
    let mut builder = RuleSetBuilder::new(limits);
    let patterns: Vec<Pattern> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            builder.add(&format!("r{i}"), t).unwrap();
            parse(t, &limits.pattern).unwrap()
        })
        .collect();
    let automaton = builder.build().unwrap();
    let got = check_automaton(&automaton, event);
    for (i, p) in patterns.iter().enumerate() {
        let want = naive::matches(p, event, &limits);
        match (&got, &want) {
            (Ok(rules), Ok(w)) => assert_eq!(
                rules.contains(&RuleId(i as u32)),
                *w,
                "fixed rule {i} {}: automaton {rules:?}, naive {w}",
                texts[i]
            ),
            (Err(_), Err(_)) => {}
            _ => panic!(
                "fixed rule {i}: automaton and naive disagree on validity: automaton {got:?}, naive {want:?}"
            ),
        }
    }
}

/// Everything the `match` target does with one input.
fn check_match_input(data: &[u8]) {
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

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/seeds")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// The `match` target panics at start-up if its fixed rules do not build.
#[test]
fn fixed_rules_parse_and_build() {
    let rules = fixed_rules();
    assert!(rules.len() >= 10, "{} fixed rules", rules.len());
    let mut builder = RuleSetBuilder::new(Limits::default());
    for (i, r) in rules.iter().enumerate() {
        builder
            .add(&format!("r{i}"), r)
            .unwrap_or_else(|e| panic!("fixed rule {i} rejected: {e}"));
    }
    builder.build().unwrap();
}

/// The committed seeds hold every invariant (and the fixed rules are exercised:
/// each seed event of the fixed set matches at least one of them).
#[test]
fn committed_seeds_hold() {
    let match_seeds = seeds("match");
    assert!(!match_seeds.is_empty());
    for (name, data) in &match_seeds {
        eprintln!("match seed {name}");
        check_match_input(data);
    }
    for (name, data) in seeds("pattern") {
        eprintln!("pattern seed {name}");
        check_pattern(&data);
    }
}

/// The checks themselves: a few inputs of each shape pass.
#[test]
fn checks_accept_known_good_inputs() {
    check_pattern(br#"{"a":[{"prefix":"x"}]}"#);
    check_pattern(br#"{"a":[{"wildcard":"*a*a*a*a*a*a*a*a*a*a*a*"}]}"#);
    check_pattern(b"not json");
    check_pattern(b"\xff");
    check_match_input(b"{\"a\":[\"x\"]}\n{\"a\":\"x\"}");
    check_match_input(b"{\"a\":[\"x\"]}\n{\"a\":");
    check_match_input(br#"{"a":"abyz","c":"HELLO","ip":"10.9.9.9","z":1}"#);
}

// ---------------------------------------------------------------------------
// Findings. One test per minimised fuzz input, newest last.
// ---------------------------------------------------------------------------

/// `match` target, fixed rule set (found 2026-11-23 at 9b03625, minimised
/// with `cargo fuzz tmin`): the event `{"ip":["::ffff:10.0.0.1"]}` against
/// fixed rule 10 `{"ip":[{"cidr":"10.0.0.0/8"},{"cidr":"2001:db8::/32"},"192.168.1.1"]}`:
/// the automaton answers no match, `naive::matches` answers a match.
///
/// The oracle is the one that is wrong: `naive::ip_in` reads event strings
/// with `ip::parse_ip`, which accepts the dotted IPv4-mapped form, instead of
/// `ip::parse_event_ip`, which first applies event-ruler's regex gate (dots
/// fail the IPv6 regex, so `"::ffff:10.0.0.1"` is not an address; see the docs
/// of `parse_event_ip` and tests/data/cidr.txt §1.9.4).
#[test]
fn fuzz_naive_reads_dotted_ipv4_mapped_event_as_ip() {
    check_match_input(br#"{"ip":["::ffff:10.0.0.1"]}"#);
}

/// The same bug with one rule (derived by hand from the finding above): both
/// matchers must agree, and on "no match" (the engine's, event-ruler's answer).
#[test]
fn fuzz_naive_reads_dotted_ipv4_mapped_event_as_ip_single_rule() {
    let pattern = r#"{"ip":[{"cidr":"10.0.0.0/8"}]}"#;
    let event = br#"{"ip":"::ffff:10.0.0.1"}"#;
    check_single(pattern, event);
    let limits = Limits::default();
    let p = parse(pattern, &limits.pattern).unwrap();
    assert_eq!(naive::matches(&p, event, &limits), Ok(false));
}
