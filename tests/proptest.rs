//! Property tests: the automaton agrees with the naive reference matcher.
//!
//! Patterns are generated as JSON text over a small alphabet of keys (`a`,
//! `b`, `c`, nested one or two levels, sometimes the dotted key `a.b`) with
//! every operator: exact strings/numbers/`true`/`false`/`null`, prefix, suffix,
//! equals-ignore-case, prefix/suffix with equals-ignore-case, wildcard, the six
//! anything-but forms, numeric (one- and two-sided), cidr, IP-literal strings,
//! exists true/false and `$or`. Events are objects over the same keys whose
//! values come from small sets chosen so that matches are likely: short
//! strings over `{a, b, A, é, *}` (often the pattern strings themselves),
//! characters whose case mappings are several characters or not each
//! other's (`ß`/`SS`, `ŉ`/`ʼN`, `ǅ`, `σ`/`ς`, `ı`, `İ`), characters outside
//! the Basic Multilingual Plane, small numbers in several spellings (`-0`,
//! `1e2`, `100.0`, …), numbers at the edge of exactness (long mantissas,
//! huge and tiny exponents, spellings that are not exactly a double), IPs
//! near the generated CIDRs (IPv4 parts and IPv6 groups padded with any
//! number of leading zeros, some past what the JDK reads), `null`/booleans,
//! arrays of values, arrays of objects and nested arrays.
//!
//! 1. `single_rule_matches_naive`: for each pattern, the builder rejects it
//!    exactly when the parser does (with the same reason; a rule the parser
//!    accepts may still be too complex for the engine), and otherwise a
//!    one-rule automaton answers every event as the naive matcher does.
//! 2. `rule_set_matches_naive_in_any_order`: 2–6 rules, added in generated
//!    order and again in a shuffled order; per rule, both automata answer as
//!    the naive matcher does (busbar's answer never depends on rule order).
//! 3. `many_wildcards_on_one_field_match_naive`: 8–80 wildcard rules with
//!    two or three stars on one field (enough to blow a subset construction
//!    up, so most sets are matched by their literal pieces), mixed with exact,
//!    prefix, suffix and anything-but-wildcard rules on that field; values
//!    are made of the rules' own pieces. Built with a budget of 4,000 states
//!    (where the small sets keep their DFA) and with the smallest one
//!    `validate` accepts (which sends nearly every set to the pieces); per
//!    rule, both answer as the naive matcher does.
//!
//! 4. `many_exact_strings_on_one_field_match_naive`: 64–120 exact strings
//!    on one field (enough for the path to keep them in a hash table rather
//!    than a DFA), the same short strings over `{a, b, c}` named by several
//!    rules, mixed with anything-but strings and lists, wildcards with no
//!    star, prefixes and equals-ignore-case; per rule, `find` and
//!    `find_checked` answer as the naive matcher does.
//!
//! 256 cases per property unless `PROPTEST_CASES` says otherwise; the third
//! and fourth run a quarter as many (each case builds up to 80 or 160
//! rules).

use busbar::bench::{reformat, Format};
use busbar::engine::{naive, Automaton, Cache, Limits, RuleId, RuleSetBuilder};
use busbar::pattern::{parse, Pattern};
use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::Config;

const TOO_COMPLEX: &str = busbar::engine::RULE_TOO_COMPLEX;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // No regression files in the tree: a failure found here becomes a
        // case of tests/data (STYLE.md: every failure becomes a plain test).
        failure_persistence: None,
        ..Config::default()
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serialises")
}

// ---------------------------------------------------------------- values

/// Pattern strings: short, over the event alphabet, with case variants.
const PATTERN_STRINGS: &[&str] = &[
    "", "a", "b", "ab", "ba", "A", "AB", "é", "É", "aé", "a*", "*", "aa",
];
/// Pattern numbers: mostly exactly representable, a few that are text
/// (matched by spelling, rejected as numeric bounds) or at the ends of the
/// double range.
const PATTERN_NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "1.5",
    "100",
    "1e2",
    "2",
    "-1",
    "0.5",
    "0.3",
    "1e21",
    "4.9e-324",
    "0.30000000000000001",
    "1000000000000000000001",
    "1e400",
];
/// Decoded wildcard strings; the last two are syntax errors on purpose.
const GLOBS: &[&str] = &[
    "*", "a*", "*b", "a*b", "*a*", "", "ab", "\\*a", "é*", "*A", "a\\\\*", "**", "a\\",
];
const CIDRS: &[&str] = &[
    "0.0.0.0/4",
    "2001:db8::/32",
    "10.0.0.0/24",
    "10.0.0.4/30",
    "10.0.1.0/24",
    "10.0.0.1/31",
    "2001:db8::/64",
    "0.0.0.0/0",
    "::/0",
];
const IP_LITERALS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.4",
    "2001:db8::1",
    "10.0.0.0001",
    "2001:00db8::1",
    "010.000.000.0001",
];
/// Pattern strings for the case-insensitive operators: characters whose
/// full case mappings are longer than themselves (`ß` → `SS`, `ŉ` → `ʼN`,
/// `ΐ` → three characters), are not each other's inverse (`ǅ`, `ſ`, `ı`,
/// `İ`, `ς`), or lie outside the Basic Multilingual Plane.
const CASE_STRINGS: &[&str] = &[
    "ß", "ẞ", "aß", "ßa", "ss", "S", "σ", "ς", "Σ", "ŉ", "ǅ", "ǆ", "ſ", "ı", "i", "İ", "ﬁ", "ΐ",
    "🚀", "𐐀", "a🚀",
];

/// A pattern string for a case-insensitive operator.
fn ci_str() -> BoxedStrategy<String> {
    prop_oneof![
        pstr(),
        prop::sample::select(CASE_STRINGS).prop_map(String::from),
    ]
    .boxed()
}

fn pstr() -> BoxedStrategy<String> {
    prop::sample::select(PATTERN_STRINGS)
        .prop_map(String::from)
        .boxed()
}

/// Non-empty pattern strings (empty anything-but prefixes are errors).
fn pstr_nonempty() -> BoxedStrategy<String> {
    prop::sample::select(&PATTERN_STRINGS[1..])
        .prop_map(String::from)
        .boxed()
}

fn pnum() -> BoxedStrategy<String> {
    prop::sample::select(PATTERN_NUMBERS)
        .prop_map(String::from)
        .boxed()
}

fn glob() -> BoxedStrategy<String> {
    prop::sample::select(GLOBS).prop_map(String::from).boxed()
}

fn list(item: BoxedStrategy<String>, max: usize) -> BoxedStrategy<String> {
    prop::collection::vec(item, 1..=max)
        .prop_map(|items| format!("[{}]", items.join(",")))
        .boxed()
}

fn quoted(strategy: BoxedStrategy<String>) -> BoxedStrategy<String> {
    strategy.prop_map(|s| json_string(&s)).boxed()
}

/// `{"op": value}`.
fn op(name: &'static str, value: BoxedStrategy<String>) -> BoxedStrategy<String> {
    value
        .prop_map(move |v| format!(r#"{{"{name}":{v}}}"#))
        .boxed()
}

// -------------------------------------------------------------- matchers

fn anything_but() -> BoxedStrategy<String> {
    let forms: Vec<BoxedStrategy<String>> = vec![
        quoted(pstr()),
        pnum(),
        list(quoted(pstr()), 3),
        list(pnum(), 3),
        op(
            "prefix",
            prop_oneof![quoted(pstr_nonempty()), list(quoted(pstr_nonempty()), 2)].boxed(),
        ),
        op(
            "suffix",
            prop_oneof![quoted(pstr_nonempty()), list(quoted(pstr_nonempty()), 2)].boxed(),
        ),
        op(
            "equals-ignore-case",
            prop_oneof![quoted(ci_str()), list(quoted(ci_str()), 2)].boxed(),
        ),
        op(
            "wildcard",
            prop_oneof![quoted(glob()), list(quoted(glob()), 2)].boxed(),
        ),
    ];
    op("anything-but", Union::new(forms).boxed())
}

fn numeric() -> BoxedStrategy<String> {
    let one_sided = (
        prop::sample::select(&["=", "<", "<=", ">", ">="][..]),
        pnum(),
    )
        .prop_map(|(o, n)| format!(r#"["{o}",{n}]"#));
    // Bounds are put in order, so most ranges are valid; equal bounds (a
    // pattern error) still come up now and then.
    let two_sided = (
        prop::sample::select(&[">", ">="][..]),
        pnum(),
        prop::sample::select(&["<", "<="][..]),
        pnum(),
    )
        .prop_map(|(lo_op, a, hi_op, b)| {
            let value = |s: &str| s.parse::<f64>().unwrap_or(0.0);
            let (lo, hi) = if value(&a) <= value(&b) {
                (a, b)
            } else {
                (b, a)
            };
            format!(r#"["{lo_op}",{lo},"{hi_op}",{hi}]"#)
        });
    op("numeric", prop_oneof![one_sided, two_sided].boxed())
}

fn matcher() -> BoxedStrategy<String> {
    let kinds: Vec<(u32, BoxedStrategy<String>)> = vec![
        (4, quoted(pstr())),
        (2, pnum()),
        (
            1,
            prop::sample::select(&["true", "false", "null"][..])
                .prop_map(String::from)
                .boxed(),
        ),
        (2, op("prefix", quoted(pstr()))),
        (2, op("suffix", quoted(pstr()))),
        (2, op("equals-ignore-case", quoted(ci_str()))),
        (1, op("prefix", op("equals-ignore-case", quoted(ci_str())))),
        (1, op("suffix", op("equals-ignore-case", quoted(ci_str())))),
        (2, op("exactly", quoted(pstr()))),
        (3, op("wildcard", quoted(glob()))),
        (4, anything_but()),
        (3, numeric()),
        (
            2,
            op(
                "cidr",
                quoted(prop::sample::select(CIDRS).prop_map(String::from).boxed()),
            ),
        ),
        (
            1,
            quoted(
                prop::sample::select(IP_LITERALS)
                    .prop_map(String::from)
                    .boxed(),
            ),
        ),
        (
            3,
            op("exists", any::<bool>().prop_map(|b| b.to_string()).boxed()),
        ),
    ];
    Union::new_weighted(kinds).boxed()
}

fn matcher_list() -> BoxedStrategy<String> {
    prop_oneof![3 => list(matcher(), 2), 1 => list(matcher(), 4)].boxed()
}

// -------------------------------------------------------------- patterns

fn pattern_key() -> BoxedStrategy<String> {
    prop::sample::select(&["a", "b", "c", "a.b"][..])
        .prop_map(String::from)
        .boxed()
}

fn object(members: Vec<(String, String)>) -> String {
    let body: Vec<String> = members
        .into_iter()
        .map(|(k, v)| format!("{}:{v}", json_string(&k)))
        .collect();
    format!("{{{}}}", body.join(","))
}

/// A pattern object nesting at most `depth` more object levels.
fn pattern_object(depth: u32) -> BoxedStrategy<String> {
    let leaf = (pattern_key(), matcher_list()).boxed();
    let member = if depth == 0 {
        leaf
    } else {
        let nested = (pattern_key(), pattern_object(depth - 1)).boxed();
        let or = prop::collection::vec(pattern_object(depth - 1), 2..=3)
            .prop_map(|branches| ("$or".to_string(), format!("[{}]", branches.join(","))))
            .boxed();
        prop_oneof![5 => leaf, 3 => nested, 1 => or].boxed()
    };
    // Mostly one or two members: every member is one more ANDed field, and
    // big conjunctions almost never match.
    let size = prop_oneof![3 => Just(1usize), 2 => Just(2usize), 1 => Just(3usize)];
    (size, prop::collection::vec(member, 3))
        .prop_map(|(n, mut members)| {
            members.truncate(n);
            object(members)
        })
        .boxed()
}

fn pattern_text() -> BoxedStrategy<String> {
    pattern_object(2)
}

// ---------------------------------------------------------------- events

const EVENT_NUMBERS: &[&str] = &[
    "0", "-0", "0.0", "1", "1.0", "1.5", "15e-1", "100", "1e2", "100.0", "1E2", "2", "-1", "0.5",
    "5e-1", "3",
];
/// Event numbers at the edge of exactness (issue #19, rule A): spellings of
/// the pattern numbers that are and are not exactly a double, huge and tiny
/// exponents, negative zero.
const EDGE_NUMBERS: &[&str] = &[
    "0.3",
    "3e-1",
    "0.30000000000000001",
    "0.30000000000000004",
    "1e21",
    "1000000000000000000000",
    "1000000000000000000001",
    "999999999999999999999",
    "1e400",
    "-1e400",
    "1e-400",
    "5e-324",
    "4.9e-324",
    "-0.0e5",
    "10e-1",
    "1.00000000000000000000",
    "1.0000000000000001",
    "0.99999999999999999",
];
const EVENT_IPS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.4",
    "10.0.0.7",
    "10.0.0.255",
    "10.0.1.5",
    "10.0.2.0",
    "2001:db8::1",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "2001:db9::1",
    "::1",
];

/// Event strings near the pattern strings (case variants, extensions).
const EVENT_STRINGS: &[&str] = &[
    "", "a", "b", "ab", "ba", "A", "AB", "aB", "é", "É", "aé", "AÉ", "a*", "*", "aa", "abab",
    "a*b", "*a", "ab*",
];

/// Event strings near [`CASE_STRINGS`]: each character's lower and upper
/// forms, and the near misses a folding of the event would accept.
const CASE_EVENT_STRINGS: &[&str] = &[
    "ß",
    "SS",
    "ss",
    "Ss",
    "ẞ",
    "aSS",
    "ASS",
    "Aß",
    "SSA",
    "ßA",
    "σ",
    "ς",
    "Σ",
    "ŉ",
    "\u{2bc}N",
    "\u{2bc}n",
    "ǅ",
    "ǆ",
    "Ǆ",
    "Dž",
    "ſ",
    "S",
    "s",
    "ı",
    "I",
    "i",
    "İ",
    "i\u{307}",
    "ﬁ",
    "FI",
    "fi",
    "ΐ",
    "\u{399}\u{308}\u{301}",
    "\u{3b9}\u{308}\u{301}",
    "🚀",
    "??",
    "?",
    "𐐀",
    "𐐨",
    "a🚀",
    "A🚀",
    "A??",
];

/// IPv4 and IPv6 addresses near the generated CIDRs and IP literals, parts
/// and groups padded with 0-5 leading zeros: the JDK reads IPv4 parts
/// with any number of them within 15 characters, IPv6 groups by value.
fn event_ip() -> BoxedStrategy<String> {
    let pad = |n: usize, digits: String| format!("{}{digits}", "0".repeat(n));
    let v4 = (
        prop::collection::vec(0usize..=5, 4),
        prop::sample::select(
            &[
                [10u8, 0, 0, 1],
                [10, 0, 0, 4],
                [0, 0, 0, 255],
                [15, 0, 1, 7],
            ][..],
        ),
    )
        .prop_map(move |(zeros, parts)| {
            let parts: Vec<String> = zeros
                .iter()
                .zip(parts)
                .map(|(&n, p)| pad(n, p.to_string()))
                .collect();
            parts.join(".")
        });
    let v6 = (
        prop::collection::vec(0usize..=5, 2),
        prop::sample::select(&[(0x2001u32, 0xdb8u32), (0x2001, 0xdb9), (0x2001, 0x10db8)][..]),
    )
        .prop_map(move |(zeros, (g0, g1))| {
            format!(
                "{}:{}::1",
                pad(zeros[0], format!("{g0:x}")),
                pad(zeros[1], format!("{g1:x}"))
            )
        });
    prop_oneof![
        2 => prop::sample::select(EVENT_IPS).prop_map(String::from),
        1 => v4,
        1 => v6,
    ]
    .boxed()
}

fn event_leaf() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(EVENT_STRINGS).prop_map(json_string),
        3 => "[abAé*]{0,3}".prop_map(|s| json_string(&s)),
        2 => prop::sample::select(CASE_EVENT_STRINGS).prop_map(json_string),
        2 => "(ß|SS|s|S|a|A|🚀|\\?|σ|ς|Σ|ǆ|Ǆ){0,3}".prop_map(|s| json_string(&s)),
        3 => prop::sample::select(EVENT_NUMBERS).prop_map(String::from),
        1 => prop::sample::select(EDGE_NUMBERS).prop_map(String::from),
        // Long mantissas (15-20 digits: exact or not) at any exponent.
        1 => "-?[0-3]\\.[0-9]{13,18}(e-?[0-9]{1,3})?",
        2 => event_ip().prop_map(|s| json_string(&s)),
        2 => prop::sample::select(&["null", "true", "false"][..]).prop_map(String::from),
    ]
    .boxed()
}

/// An event object nesting at most `depth` more levels: each of the keys
/// `a`, `b`, `c`, `a.b`, `d` is present with probability `present`, so the
/// paths patterns name are usually there. Keys are unique per object
/// (duplicate event keys are not what these properties are about).
fn event_object(depth: u32, present: f64) -> BoxedStrategy<String> {
    let keys = ["a", "b", "c", "a.b", "d"];
    let members: Vec<BoxedStrategy<Option<String>>> = keys
        .iter()
        .map(|_| prop::option::weighted(present, event_value(depth)).boxed())
        .collect();
    members
        .prop_map(move |values| {
            let present: Vec<(String, String)> = keys
                .iter()
                .zip(values)
                .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
                .collect();
            object(present)
        })
        .boxed()
}

fn event_value(depth: u32) -> BoxedStrategy<String> {
    if depth == 0 {
        return event_leaf();
    }
    let array = prop::collection::vec(event_value(depth - 1), 0..=3)
        .prop_map(|items| format!("[{}]", items.join(",")));
    // Arrays of objects are what array consistency is about: frequent.
    prop_oneof![
        3 => event_leaf(),
        3 => array,
        3 => event_object(depth - 1, 0.5),
    ]
    .boxed()
}

fn event_text() -> BoxedStrategy<String> {
    event_object(3, 0.6)
}

// ------------------------------------------------------------- harness

/// Adds the rules in order and builds; any error as text.
fn build(rules: &[(String, &str)]) -> Result<Automaton, String> {
    let mut builder = RuleSetBuilder::new(Limits::default());
    for (name, text) in rules {
        builder.add(name, text).map_err(|e| e.to_string())?;
    }
    builder.build().map_err(|e| e.to_string())
}

/// `Automaton::skip_lines` over `bytes` stops at a line boundary, and
/// every line it passes over is one `find` rejects.
fn skips_only_what_find_rejects(
    automaton: &Automaton,
    cache: &mut Cache,
    bytes: &[u8],
) -> Result<(), TestCaseError> {
    let n = automaton.skip_lines(bytes, cache);
    prop_assert!(
        n == 0 || bytes[n - 1] == b'\n',
        "not at a line boundary: {n}"
    );
    for line in bytes[..n].split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let found = automaton.find(line, cache).map(|ids| ids.len());
        prop_assert_eq!(found, Ok(0), "skipped {}", String::from_utf8_lossy(line));
    }
    Ok(())
}

/// Parses and builds one pattern alone, checking that parser and builder
/// agree on validity. `Ok(None)` means "invalid, skip it".
fn check_one(text: &str) -> Result<Option<(Pattern, Automaton)>, TestCaseError> {
    let limits = Limits::default();
    let parsed = parse(text, &limits.pattern);
    let mut builder = RuleSetBuilder::new(limits);
    let added = builder.add("p", text);
    let pattern = match (parsed, added) {
        (Ok(pattern), Ok(_)) => pattern,
        (Err(p), Err(b)) => {
            prop_assert_eq!(
                p.reason(),
                b.reason(),
                "parser and builder reject {} differently",
                text
            );
            return Ok(None);
        }
        (Err(p), Ok(_)) => {
            return Err(TestCaseError::fail(format!(
                "parser rejects {text} (`{}`) but the builder accepts it",
                p.reason()
            )));
        }
        (Ok(_), Err(b)) => {
            prop_assert_eq!(
                b.reason(),
                TOO_COMPLEX,
                "builder rejects {} which the parser accepts",
                text
            );
            return Ok(None);
        }
    };
    match builder.build() {
        Ok(automaton) => Ok(Some((pattern, automaton))),
        Err(e) => Err(TestCaseError::fail(format!("{text} does not build: {e}"))),
    }
}

/// The naive answer: `None` when the event is invalid.
fn naive_answer(pattern: &Pattern, event: &str) -> Option<bool> {
    naive::matches(pattern, event.as_bytes(), &Limits::default()).ok()
}

// ------------------------------------------------- many wildcards, one field

/// Literals over a three-letter alphabet, so that pieces of different rules
/// overlap, repeat and occur inside each other.
fn piece(min: usize) -> BoxedStrategy<String> {
    prop::collection::vec(prop::sample::select(&['a', 'b', 'c'][..]), min..=3)
        .prop_map(|cs| cs.into_iter().collect())
        .boxed()
}

/// A wildcard with two or three stars: `h*m*t` or `h*m*m*t`, where the head
/// and tail may be empty (a leading or trailing star) and the middle pieces
/// may not (`**` is a syntax error).
fn infix_glob() -> BoxedStrategy<String> {
    (piece(0), prop::collection::vec(piece(1), 1..=2), piece(0))
        .prop_map(|(head, middle, tail)| format!("{head}*{}*{tail}", middle.join("*")))
        .boxed()
}

/// One rule on field `a`: mostly an infix wildcard.
fn one_field_rule() -> BoxedStrategy<String> {
    let m = prop_oneof![
        12 => op("wildcard", quoted(infix_glob())),
        1 => quoted(piece(0)),
        1 => op("prefix", quoted(piece(1))),
        1 => op("suffix", quoted(piece(1))),
        1 => op("wildcard", quoted(piece(0).prop_map(|p| format!("{p}*")).boxed())),
        1 => op("anything-but", op("wildcard", quoted(infix_glob()))),
    ];
    m.prop_map(|m| format!(r#"{{"a":[{m}]}}"#)).boxed()
}

/// A value for `a`: pieces run together, sometimes in an array.
fn one_field_event() -> BoxedStrategy<String> {
    let value = prop::collection::vec(piece(0), 0..=5).prop_map(|ps| json_string(&ps.concat()));
    prop_oneof![
        4 => value.clone().boxed(),
        1 => prop::collection::vec(value, 0..=3).prop_map(|vs| format!("[{}]", vs.join(","))).boxed(),
    ]
    .prop_map(|v| format!(r#"{{"a":{v}}}"#))
    .boxed()
}

/// Per event, `find_checked` and `find` select exactly the rules (in
/// `patterns`' order) that the naive matcher matches.
fn both_find_as_naive(
    automaton: &Automaton,
    patterns: &[Pattern],
    events: &[String],
    context: &str,
) -> Result<(), TestCaseError> {
    let mut cache = automaton.cache();
    for event in events {
        let want: Vec<RuleId> = patterns
            .iter()
            .enumerate()
            .filter(|(_, p)| naive_answer(p, event) == Some(true))
            .map(|(i, _)| RuleId(i as u32))
            .collect();
        let checked = automaton
            .find_checked(event.as_bytes(), &mut cache)
            .ok()
            .map(<[RuleId]>::to_vec);
        prop_assert_eq!(
            checked,
            Some(want.clone()),
            "find_checked, {}, event {}",
            context,
            event
        );
        let fast = automaton
            .find(event.as_bytes(), &mut cache)
            .ok()
            .map(<[RuleId]>::to_vec);
        prop_assert_eq!(fast, Some(want), "find, {}, event {}", context, event);
    }
    Ok(())
}

fn quarter_config() -> Config {
    let c = config();
    Config {
        cases: (c.cases / 4).max(1),
        ..c
    }
}

proptest! {
    #![proptest_config(quarter_config())]

    #[test]
    fn many_wildcards_on_one_field_match_naive(
        texts in prop::collection::vec(one_field_rule(), 8..=80),
        events in prop::collection::vec(one_field_event(), 1..12),
    ) {
        // Rules over the wildcard complexity limit are left out.
        let texts: Vec<&String> = texts
            .iter()
            .filter(|t| RuleSetBuilder::new(Limits::default()).add("r", t).is_ok())
            .collect();
        let patterns: Vec<Pattern> = texts
            .iter()
            .map(|t| parse(t, &Limits::default().pattern).expect("generated rules are valid"))
            .collect();
        let limits = |states| Limits {
            max_automaton_states: states,
            ..Limits::default()
        };
        for limits in [limits(4000), limits(1000)] {
            let mut builder = RuleSetBuilder::new(limits);
            for (i, t) in texts.iter().enumerate() {
                builder.add(&format!("r{i}"), t).map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            let automaton = builder.build().map_err(|e| TestCaseError::fail(e.to_string()))?;
            let context = format!("{} pieces", automaton.piece_globs());
            both_find_as_naive(&automaton, &patterns, &events, &context)?;
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn single_rule_matches_naive(
        text in pattern_text(),
        events in prop::collection::vec(event_text(), 1..8),
    ) {
        let Some((pattern, automaton)) = check_one(&text)? else {
            return Ok(());
        };
        let mut cache = automaton.cache();
        for event in &events {
            let want = naive_answer(&pattern, event);
            let got = automaton.is_match(event.as_bytes(), &mut cache).ok();
            prop_assert_eq!(
                got, want,
                "pattern {} event {} (automaton, naive; None = invalid event)",
                text, event
            );
            let found = automaton
                .find_checked(event.as_bytes(), &mut cache)
                .ok()
                .map(|ids| !ids.is_empty());
            prop_assert_eq!(found, want, "find_checked disagrees: pattern {} event {}", text, event);
            if want.is_some() {
                let fast = automaton
                    .find(event.as_bytes(), &mut cache)
                    .ok()
                    .map(|ids| !ids.is_empty());
                prop_assert_eq!(fast, want, "find disagrees: pattern {} event {}", text, event);
            }
        }
    }

    #[test]
    fn rule_set_matches_naive_in_any_order(
        (texts, order) in prop::collection::vec(pattern_text(), 2..=6).prop_flat_map(|texts| {
            let n = texts.len();
            (Just(texts), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        }),
        events in prop::collection::vec(event_text(), 1..6),
    ) {
        // Keep the rules that are valid on their own.
        let mut valid: Vec<(usize, Pattern)> = Vec::new();
        for (index, text) in texts.iter().enumerate() {
            if let Some((pattern, _)) = check_one(text)? {
                valid.push((index, pattern));
            }
        }
        let name = |index: usize| format!("rule-{index}");
        let in_order: Vec<(String, &str)> =
            valid.iter().map(|(i, _)| (name(*i), texts[*i].as_str())).collect();
        let shuffled: Vec<(String, &str)> = order
            .iter()
            .filter(|i| valid.iter().any(|(v, _)| v == *i))
            .map(|i| (name(*i), texts[*i].as_str()))
            .collect();
        let automata = [
            (build(&in_order), &in_order),
            (build(&shuffled), &shuffled),
        ];
        for (built, rules) in &automata {
            let automaton = match built {
                Ok(automaton) => automaton,
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "valid rules {rules:?} fail to build together: {}",
                        e
                    )));
                }
            };
            let mut cache = automaton.cache();
            for event in &events {
                // Naive answer per rule, in this automaton's id order.
                let mut want = Some(Vec::new());
                for (position, (rule_name, _)) in rules.iter().enumerate() {
                    let (_, pattern) = valid
                        .iter()
                        .find(|(i, _)| name(*i) == *rule_name)
                        .expect("every rule is a valid one");
                    match naive_answer(pattern, event) {
                        None => want = None,
                        Some(true) => {
                            if let Some(w) = want.as_mut() {
                                w.push(RuleId(position as u32));
                            }
                        }
                        Some(false) => {}
                    }
                }
                let got = automaton.find_checked(event.as_bytes(), &mut cache).ok().map(|ids| {
                    let mut ids = ids.to_vec();
                    ids.sort();
                    ids.dedup();
                    ids
                });
                prop_assert_eq!(
                    &got, &want,
                    "rules (in add order) {:?}, event {}",
                    rules, event
                );
            }
        }
    }
}

// ------------------------------------------------------------ formatting

/// `event` (compact) with about half of the ASCII characters of its
/// strings, keys included, written as `\u00XX` (or `\/` for a slash).
fn escape_some(event: &str, seed: u64) -> String {
    let mut out = String::new();
    let (mut in_string, mut escaped) = (false, false);
    for (i, c) in event.chars().enumerate() {
        let pick = (seed.rotate_left(i as u32 % 64) ^ i as u64) & 1 == 1;
        if in_string && !escaped && c != '"' && c != '\\' && c.is_ascii() && pick {
            if c == '/' {
                out.push_str("\\/");
            } else {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            continue;
        }
        match c {
            '"' if !escaped => in_string = !in_string,
            _ => {}
        }
        escaped = in_string && c == '\\' && !escaped;
        out.push(c);
    }
    out
}

proptest! {
    #![proptest_config(config())]

    /// The same events written as producers write JSON (Python's spacing,
    /// spaces everywhere, escapes, keys in any order, indentation) match
    /// the same rules as compact, through the prefilter (`find`) and
    /// without it (`find_checked`).
    #[test]
    fn every_formatting_matches_as_compact(
        texts in prop::collection::vec(pattern_text(), 1..=4),
        events in prop::collection::vec(event_text(), 1..6),
        seed in any::<u64>(),
    ) {
        let mut rules: Vec<(String, &str)> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            if check_one(text)?.is_some() {
                rules.push((format!("rule-{i}"), text.as_str()));
            }
        }
        let automaton = build(&rules).map_err(TestCaseError::fail)?;
        let mut cache = automaton.cache();
        // Sorted: rules are decided in the order their fields are met.
        let sorted = |ids: &[RuleId]| {
            let mut ids = ids.to_vec();
            ids.sort();
            ids
        };
        for event in &events {
            let want = automaton.find_checked(event.as_bytes(), &mut cache).ok().map(sorted);
            let mut forms: Vec<(&str, String)> = Format::all()
                .iter()
                .map(|&f| {
                    let mut out = Vec::new();
                    reformat(event.as_bytes(), f, seed, &mut out);
                    (f.name(), String::from_utf8(out).expect("reformat keeps UTF-8"))
                })
                .collect();
            forms.push(("escape_some", escape_some(event, seed)));
            for (name, form) in &forms {
                let got = automaton.find_checked(form.as_bytes(), &mut cache).ok().map(sorted);
                prop_assert_eq!(&got, &want, "find_checked, {} {}: rules {:?}", name, form, rules);
                if want.is_some() {
                    let fast = automaton.find(form.as_bytes(), &mut cache).ok().map(sorted);
                    prop_assert_eq!(&fast, &want, "find, {} {}: rules {:?}", name, form, rules);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// `Automaton::skip_lines` passes over only lines that `find` rejects,
    /// stops at a line boundary, and passes over every line of a buffer
    /// without literals, or whose escapes cannot hide one. The values are a few letters around
    /// an `X` (a rare byte, which the buffer search takes as its needle, at
    /// a different offset in each), so literals occur, nearly occur, hide
    /// behind `\u` escapes and start before the needle.
    #[test]
    fn the_buffer_skip_passes_over_only_lines_find_rejects(
        values in prop::collection::vec("[ab]{1,3}X[abY]{1,3}", 1..6),
        lines in prop::collection::vec(
            ("[abXYZ]{0,8}", 0..4usize, 0..3usize),
            1..40,
        ),
    ) {
        let rules: Vec<(String, String)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("r{i}"), format!(r#"{{"k":["{v}"]}}"#)))
            .collect();
        let refs: Vec<(String, &str)> = rules.iter().map(|(n, t)| (n.clone(), t.as_str())).collect();
        let automaton = build(&refs).map_err(TestCaseError::fail)?;
        let mut cache = automaton.cache();
        let mut buf = String::new();
        for (text, which, escape) in &lines {
            // Some lines carry a rule's value, whole or inside another.
            let value = match which {
                0 => text.clone(),
                1 => format!("{}{text}", values[text.len() % values.len()]),
                _ => values[text.len() % values.len()].clone(),
            };
            let value = match escape {
                // The first letter as a \u escape.
                1 => {
                    let mut chars = value.chars();
                    match chars.next() {
                        Some(c) => format!("\\u{:04x}{}", c as u32, chars.as_str()),
                        None => value,
                    }
                }
                // Every letter: a literal then spans escapes only.
                2 => value.chars().map(|c| format!("\\u{:04x}", c as u32)).collect(),
                _ => value,
            };
            buf.push_str(&format!(r#"{{"k":"{value}","n":1}}"#));
            buf.push('\n');
        }
        let bytes = buf.as_bytes();
        skips_only_what_find_rejects(&automaton, &mut cache, bytes)?;
        // Lines without a literal or an escape are passed over, all of
        // them (the search may stop a little early, before a line that
        // holds one, never late: `find` above judges those).
        let clean = "{\"k\":\"zzz\",\"n\":1}\n".repeat(lines.len());
        prop_assert_eq!(automaton.skip_lines(clean.as_bytes(), &mut cache), clean.len());
        // So are lines whose escapes stand for characters no literal holds
        // (`Z`, `/`, a newline, `é`): they cannot hide one.
        let escaped = "{\"k\":\"z\\u005az\\/z\\n\\u00e9\",\"n\":1}\n".repeat(lines.len());
        prop_assert_eq!(automaton.skip_lines(escaped.as_bytes(), &mut cache), escaped.len());
        // And lines whose escapes stand for bytes the literals hold (`a`,
        // `X`) where no literal is spelt around them.
        let near = "{\"k\":\"zz\\u0061zzz\\u0058Z\",\"n\":1}\n".repeat(lines.len());
        prop_assert_eq!(automaton.skip_lines(near.as_bytes(), &mut cache), near.len());
    }

    /// The same for rules whose values share no rare byte, on a key that
    /// holds one (`KQ`): the buffer skip then probes each `KQ"` key and
    /// judges its value by the path's string automata, as `find` does per
    /// line. The lines carry the key nested or not, in arrays, beside a
    /// look-alike key, and with escapes in keys (its own bytes, the dot of
    /// a dotted key, or others the search passes over) and values.
    #[test]
    fn the_probing_buffer_skip_passes_over_only_lines_find_rejects(
        rules in prop::collection::vec(("[ab1]{1,3}", 0..5usize), 1..5),
        lines in prop::collection::vec(("[ab1]{0,5}", 0..9usize, 0..3usize), 1..40),
    ) {
        let rules: Vec<(String, String)> = rules
            .iter()
            .enumerate()
            .map(|(i, (v, op))| {
                let m = match op {
                    0 => format!(r#""{v}""#),
                    1 => format!(r#"{{"prefix":"{v}"}}"#),
                    2 => format!(r#"{{"suffix":"{v}"}}"#),
                    3 => format!(r#"{{"wildcard":"{v}*1"}}"#),
                    _ => format!(r#"{{"equals-ignore-case":"{v}"}}"#),
                };
                (format!("r{i}"), format!(r#"{{"o":{{"KQ":[{m}]}}}}"#))
            })
            .collect();
        let refs: Vec<(String, &str)> = rules.iter().map(|(n, t)| (n.clone(), t.as_str())).collect();
        let automaton = build(&refs).map_err(TestCaseError::fail)?;
        let mut cache = automaton.cache();
        let mut buf = String::new();
        for (value, shape, escape) in &lines {
            let value = match escape {
                // The first character as a \u escape.
                1 => match value.chars().next() {
                    Some(c) => format!("\\u{:04x}{}", c as u32, &value[1..]),
                    None => value.clone(),
                },
                2 => format!("{value}\\/"),
                _ => value.clone(),
            };
            let line = match shape {
                0 => format!(r#"{{"o":{{"KQ":"{value}"}},"n":1}}"#),
                1 => format!(r#"{{"o" : {{ "KQ" : [ "x", "{value}" ] }} }}"#),
                2 => format!(r#"{{"o":{{"XKQ":"{value}","KQ":"zz"}}}}"#),
                3 => format!(r#"{{"o":{{"K\u0051":"{value}"}}}}"#),
                4 => format!(r#"{{"KQ":"{value}","o":{{"n":2}}}}"#),
                5 => format!(r#"{{"o.KQ":"{value}"}}"#),
                // Escapes before the key: of bytes no key holds, and of
                // key bytes in strings that are not the key.
                6 => format!(r#"{{"t\u0065":"\u00e9","\u004bx":"\u0051Q","o":{{"KQ":"{value}"}}}}"#),
                // The dot of a dotted key, escaped; a dotted key's own byte.
                7 => format!(r#"{{"o\u002eKQ":"{value}"}}"#),
                _ => format!(r#"{{"o.K\u0051":"{value}"}}"#),
            };
            buf.push_str(&line);
            buf.push('\n');
        }
        let bytes = buf.as_bytes();
        skips_only_what_find_rejects(&automaton, &mut cache, bytes)?;
        // Lines whose values no rule takes: all passed over, with escapes
        // or without (those are judged by their decoded copy).
        let clean = "{\"o\":{\"KQ\":\"zzz\"},\"n\":1}\n".repeat(lines.len());
        prop_assert_eq!(automaton.skip_lines(clean.as_bytes(), &mut cache), clean.len());
        let escaped = "{\"o\":{\"K\\u0051\":\"z\\u007az\\/\"},\"n\":1}\n".repeat(lines.len());
        prop_assert_eq!(automaton.skip_lines(escaped.as_bytes(), &mut cache), escaped.len());
    }
}

// ------------------------------------------------ many exact strings, one field

/// A short string over `{a, b, c}`, empty included: several rules name the
/// same one, and one is often a prefix of another.
fn short() -> BoxedStrategy<String> {
    prop::collection::vec(piece(0), 0..=3)
        .prop_map(|ps| ps.concat())
        .boxed()
}

/// One more rule on field `a` beside the exact strings.
fn beside_exact_rule() -> BoxedStrategy<String> {
    let m = prop_oneof![
        2 => op("anything-but", quoted(short())),
        2 => op("anything-but", list(quoted(short()), 3)),
        1 => op("wildcard", quoted(short())),
        1 => op("prefix", quoted(piece(1))),
        1 => op("equals-ignore-case", quoted(short())),
        1 => op("exists", Just("true".to_string()).boxed()),
    ];
    m.prop_map(|m| format!(r#"{{"a":[{m}]}}"#)).boxed()
}

proptest! {
    #![proptest_config(quarter_config())]

    #[test]
    fn many_exact_strings_on_one_field_match_naive(
        exact in prop::collection::vec(short(), 64..=120),
        others in prop::collection::vec(beside_exact_rule(), 0..=40),
        events in prop::collection::vec(one_field_event(), 1..12),
    ) {
        let mut texts: Vec<String> = exact
            .iter()
            .map(|s| format!(r#"{{"a":[{}]}}"#, json_string(s)))
            .collect();
        texts.extend(others);
        let patterns: Vec<Pattern> = texts
            .iter()
            .map(|t| parse(t, &Limits::default().pattern).expect("generated rules are valid"))
            .collect();
        let mut builder = RuleSetBuilder::new(Limits::default());
        for (i, t) in texts.iter().enumerate() {
            builder.add(&format!("r{i}"), t).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        let automaton = builder.build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(automaton.literal_tables(), 1);
        both_find_as_naive(&automaton, &patterns, &events, "a literal table")?;
    }
}
