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
#![no_main]

use busbar::engine::{naive, Limits, RuleSetBuilder, MAX_FIELDS_PER_BRANCH, RULE_TOO_COMPLEX};
use busbar::pattern::parse;
use libfuzzer_sys::fuzz_target;

const EVENTS: &[&[u8]] = &[
    b"{}",
    br#"{"a":"x"}"#,
    br#"{"a":[1,"x",null,true,{"b":"y"}]}"#,
];

fuzz_target!(|data: &[u8]| {
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
});
