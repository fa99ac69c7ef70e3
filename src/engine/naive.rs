//! Naive reference matcher: the oracle the automaton is tested against.
//!
//! It is written to be obviously correct, not fast. The event is parsed into a
//! tree with the pattern module's positioned JSON parser (not the engine's
//! flattener, so that a bug there cannot hide itself), flattened into *every*
//! leaf occurrence, and each `$or` expansion of the pattern is decided by
//! brute force over the choices of occurrences the definition allows.
//!
//! # The definition it implements
//!
//! An event is flattened into occurrences: one per leaf value (string, number,
//! `true`, `false`, `null`; empty arrays and objects give none), each with its
//! dotted path (object keys joined with `.`, array levels not in the path) and
//! its *membership*: the (array instance, element index) of every array that
//! encloses it. Two occurrences are *consistent* when they agree on the
//! element index of every array instance they share (EventBridge's array
//! consistency, semantics §1.13).
//!
//! A [`SubPattern`] matches iff there is a subset S of its fields and, for each
//! field in S, one occurrence on that field's path satisfying one of the
//! field's matchers other than `exists:false`, such that the chosen
//! occurrences are pairwise consistent, and every field outside S has an
//! `exists:false` matcher and no occurrence of its path is consistent with all
//! the chosen occurrences. A [`Pattern`] matches iff one of its subpatterns
//! does.
//!
//! Leaf semantics (semantics §1.3–§1.10), one function per matcher kind:
//! strings compare as decoded UTF-8 bytes; numbers compare by IEEE-754 value
//! when the pattern number and the event number both are exactly a double
//! (`pattern::number`), else by raw text; matching is type-strict;
//! case-insensitive forms accept, for each character of the pattern, its
//! lower- or its upper-case form ([`case`]), the event never being folded;
//! `anything-but` excludes strings only by its string forms and numbers only by
//! its number form, and never excludes `true`, `false` or `null`.

use crate::engine::Limits;
use crate::flatten::{EventError, EventErrorKind};
use crate::pattern::json::{parse_document, Json, JsonKind};
use crate::pattern::number::exact_value;
use crate::pattern::wildcard::glob_matches;
use crate::pattern::{
    case, ip, AnythingBut, Field, IpRange, Literal, Matcher, Number, NumericRange, Pattern,
    SubPattern,
};

/// Does `pattern` match `event`? Errors only when the event is not an
/// acceptable JSON object (too large, too deep, malformed, not an object).
pub fn matches(pattern: &Pattern, event: &[u8], limits: &Limits) -> Result<bool, EventError> {
    let leaves = flatten(event, limits)?;
    Ok(pattern
        .subpatterns
        .iter()
        .any(|sub| subpattern_matches(sub, &leaves)))
}

/// A leaf value of the event.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// Decoded string.
    String(String),
    /// Raw JSON number text.
    Number(String),
    True,
    False,
    Null,
}

/// One leaf of the event, with where it sits.
#[derive(Debug, Clone)]
struct Occurrence {
    path: String,
    value: Value,
    /// (array instance id, element index) of every enclosing array, outermost first.
    membership: Vec<(usize, usize)>,
}

/// Parses and flattens the event into every leaf occurrence, in document order.
fn flatten(event: &[u8], limits: &Limits) -> Result<Vec<Occurrence>, EventError> {
    if event.len() > limits.max_event_bytes {
        return Err(EventError::too_large(event.len(), limits.max_event_bytes));
    }
    let doc = parse_document(event, false, limits.max_depth).map_err(|e| EventError {
        offset: e.offset,
        message: e.message.clone(),
        kind: EventErrorKind::Syntax("invalid JSON"),
    })?;
    let JsonKind::Object(members) = &doc.kind else {
        return Err(EventError {
            offset: doc.offset,
            message: "event is not a JSON object".to_string(),
            kind: EventErrorKind::NotAnObject,
        });
    };
    let mut out = Vec::new();
    let mut next_array = 0;
    let mut membership = Vec::new();
    for (key, value) in members {
        walk(
            value,
            key.clone(),
            &mut membership,
            &mut next_array,
            &mut out,
        );
    }
    Ok(out)
}

fn walk(
    node: &Json,
    path: String,
    membership: &mut Vec<(usize, usize)>,
    next_array: &mut usize,
    out: &mut Vec<Occurrence>,
) {
    let value = match &node.kind {
        JsonKind::Object(members) => {
            for (key, child) in members {
                walk(child, format!("{path}.{key}"), membership, next_array, out);
            }
            return;
        }
        JsonKind::Array(elements) => {
            let id = *next_array;
            *next_array += 1;
            for (index, child) in elements.iter().enumerate() {
                membership.push((id, index));
                walk(child, path.clone(), membership, next_array, out);
                membership.pop();
            }
            return;
        }
        JsonKind::String(s) => Value::String(s.clone()),
        JsonKind::Number(text) => Value::Number(text.clone()),
        JsonKind::True => Value::True,
        JsonKind::False => Value::False,
        JsonKind::Null => Value::Null,
    };
    out.push(Occurrence {
        path,
        value,
        membership: membership.clone(),
    });
}

/// Two occurrences are consistent when every array instance they share
/// encloses both of them in the same element.
fn consistent(a: &Occurrence, b: &Occurrence) -> bool {
    a.membership.iter().all(|&(array_a, index_a)| {
        b.membership
            .iter()
            .all(|&(array_b, index_b)| array_a != array_b || index_a == index_b)
    })
}

fn subpattern_matches(sub: &SubPattern, leaves: &[Occurrence]) -> bool {
    let mut chosen = Vec::new();
    let mut absent = Vec::new();
    search(&sub.fields, leaves, &mut chosen, &mut absent)
}

/// Tries every way to decide the remaining `fields`: either put the field in
/// S with one consistent occurrence that a matcher accepts, or (when it has
/// `exists:false`) leave it out of S, to be checked once S is complete.
fn search<'a>(
    fields: &'a [Field],
    leaves: &'a [Occurrence],
    chosen: &mut Vec<&'a Occurrence>,
    absent: &mut Vec<&'a Field>,
) -> bool {
    let Some((field, rest)) = fields.split_first() else {
        return absent.iter().all(|field| {
            !leaves
                .iter()
                .any(|o| o.path == field.path && chosen.iter().all(|c| consistent(o, c)))
        });
    };
    for occurrence in leaves.iter().filter(|o| o.path == field.path) {
        let accepted = field
            .matchers
            .iter()
            .any(|m| leaf_matches(m, &occurrence.value));
        if accepted && chosen.iter().all(|c| consistent(occurrence, c)) {
            chosen.push(occurrence);
            if search(rest, leaves, chosen, absent) {
                return true;
            }
            chosen.pop();
        }
    }
    if field.matchers.contains(&Matcher::Exists(false)) {
        absent.push(field);
        if search(rest, leaves, chosen, absent) {
            return true;
        }
        absent.pop();
    }
    false
}

/// Does one matcher accept one leaf? `exists:false` accepts no leaf: it is
/// decided by the absence of consistent occurrences, in [`search`].
fn leaf_matches(matcher: &Matcher, value: &Value) -> bool {
    match matcher {
        Matcher::Exact(literal) => exact(literal, value),
        Matcher::Prefix(p) => string(value).is_some_and(|s| prefix(p, s)),
        Matcher::PrefixIgnoreCase(p) => string(value).is_some_and(|s| prefix_ignore_case(p, s)),
        Matcher::Suffix(p) => string(value).is_some_and(|s| suffix(p, s)),
        Matcher::SuffixIgnoreCase(p) => string(value).is_some_and(|s| suffix_ignore_case(p, s)),
        Matcher::EqualsIgnoreCase(p) => string(value).is_some_and(|s| equals_ignore_case(p, s)),
        Matcher::Wildcard(glob) => string(value).is_some_and(|s| glob_matches(glob, s.as_bytes())),
        Matcher::AnythingBut(ab) => !anything_but_excludes(ab, value),
        Matcher::Numeric(range) => number(value).is_some_and(|n| numeric(range, n)),
        Matcher::Ip(range) => string(value).is_some_and(|s| ip_in(range, s)),
        Matcher::Exists(exists) => *exists,
    }
}

fn string(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn number(value: &Value) -> Option<&str> {
    match value {
        Value::Number(text) => Some(text),
        _ => None,
    }
}

/// Type-strict literal equality (§1.3).
fn exact(literal: &Literal, value: &Value) -> bool {
    match (literal, value) {
        (Literal::String(p), Value::String(s)) => p == s,
        (Literal::Number(p), Value::Number(text)) => number_equals(p, text),
        (Literal::True, Value::True)
        | (Literal::False, Value::False)
        | (Literal::Null, Value::Null) => true,
        _ => false,
    }
}

/// A pattern number equals an event number by IEEE-754 value when the pattern
/// number has one (300 = 300.0 = 3e2, 0 = -0), else by raw text (§1.3.3–4).
/// An event number that is not exactly a double is text too, so it equals
/// only a pattern number spelled the same way.
fn number_equals(pattern: &Number, event_text: &str) -> bool {
    match pattern.value {
        Some(v) => exact_value(event_text.as_bytes()) == Some(v),
        None => pattern.text == event_text,
    }
}

fn prefix(p: &str, s: &str) -> bool {
    s.as_bytes().starts_with(p.as_bytes())
}

fn suffix(p: &str, s: &str) -> bool {
    s.as_bytes().ends_with(p.as_bytes())
}

/// The byte offsets of `s` at which pattern `p` can end when read from
/// offset `from` under the ignore-case rule ([`case`]): every character of
/// `p` in turn must be followed, exactly, by its lower- or upper-case form.
fn case_ends(p: &str, s: &str, from: usize) -> Vec<usize> {
    let mut at = vec![from];
    for c in p.chars() {
        let forms = case::case_forms(c);
        let mut next: Vec<usize> = at
            .iter()
            .flat_map(|&i| {
                forms
                    .iter()
                    .filter(move |f| s.as_bytes()[i..].starts_with(f.as_bytes()))
                    .map(move |f| i + f.len())
            })
            .collect();
        next.sort_unstable();
        next.dedup();
        at = next;
    }
    at
}

fn equals_ignore_case(p: &str, s: &str) -> bool {
    case_ends(p, s, 0).contains(&s.len())
}

fn prefix_ignore_case(p: &str, s: &str) -> bool {
    !case_ends(p, s, 0).is_empty()
}

fn suffix_ignore_case(p: &str, s: &str) -> bool {
    (0..=s.len())
        .filter(|&k| s.is_char_boundary(k))
        .any(|k| case_ends(p, s, k).contains(&s.len()))
}

/// Numbers only; the event number's IEEE-754 value must lie in the interval.
/// A number that is not exactly a double (`1e400`, `0.30000000000000001`)
/// is text and lies in no interval.
fn numeric(range: &NumericRange, event_text: &str) -> bool {
    let Some(x) = exact_value(event_text.as_bytes()) else {
        return false;
    };
    let above = if range.lo_inclusive {
        range.lo <= x
    } else {
        range.lo < x
    };
    let below = if range.hi_inclusive {
        x <= range.hi
    } else {
        x < range.hi
    };
    above && below
}

/// Strings only: an IP literal inside the range.
fn ip_in(range: &IpRange, s: &str) -> bool {
    ip::parse_event_ip(s.as_bytes()).is_some_and(|addr| range.contains(addr))
}

/// Does this `anything-but` exclude the leaf? Strings are excluded only by
/// the string forms, numbers only by the number form; `true`, `false` and
/// `null` never are (§1.7.2, §1.7.4).
fn anything_but_excludes(ab: &AnythingBut, value: &Value) -> bool {
    match (ab, value) {
        (AnythingBut::Strings(list), Value::String(s)) => list.iter().any(|p| p == s),
        (AnythingBut::Prefix(list), Value::String(s)) => list.iter().any(|p| prefix(p, s)),
        (AnythingBut::Suffix(list), Value::String(s)) => list.iter().any(|p| suffix(p, s)),
        (AnythingBut::EqualsIgnoreCase(list), Value::String(s)) => {
            list.iter().any(|p| equals_ignore_case(p, s))
        }
        (AnythingBut::Wildcard(list), Value::String(s)) => {
            list.iter().any(|g| glob_matches(g, s.as_bytes()))
        }
        (AnythingBut::Numbers(list), Value::Number(text)) => {
            list.iter().any(|p| number_equals(p, text))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{parse, PatternLimits};

    fn pat(text: &str) -> Pattern {
        parse(text, &PatternLimits::default()).unwrap()
    }

    fn run(pattern: &Pattern, event: &str) -> bool {
        matches(pattern, event.as_bytes(), &Limits::default()).unwrap()
    }

    fn yes(pattern: &str, event: &str) {
        assert!(
            run(&pat(pattern), event),
            "expected {pattern} to match {event}"
        );
    }

    fn no(pattern: &str, event: &str) {
        assert!(
            !run(&pat(pattern), event),
            "expected {pattern} not to match {event}"
        );
    }

    /// Hand-built AST, so the consistency tests do not depend on the parser.
    fn fields(fields: Vec<(&str, Vec<Matcher>)>) -> Pattern {
        Pattern {
            subpatterns: vec![SubPattern {
                fields: fields
                    .into_iter()
                    .map(|(path, matchers)| Field {
                        path: path.to_string(),
                        matchers,
                    })
                    .collect(),
            }],
        }
    }

    fn s(text: &str) -> Matcher {
        Matcher::Exact(Literal::String(text.to_string()))
    }

    #[test]
    fn flatten_paths_and_membership() {
        let leaves = flatten(
            br#"{"a":[{"b":1},{"b":[2,[3]]}],"c":{"d.e":null},"f":[],"g":{}}"#,
            &Limits::default(),
        )
        .unwrap();
        type Leaf<'a> = (&'a str, &'a Value, &'a [(usize, usize)]);
        let got: Vec<Leaf<'_>> = leaves
            .iter()
            .map(|o| (o.path.as_str(), &o.value, o.membership.as_slice()))
            .collect();
        let one = Value::Number("1".into());
        let two = Value::Number("2".into());
        let three = Value::Number("3".into());
        assert_eq!(
            got,
            vec![
                ("a.b", &one, &[(0, 0)][..]),
                ("a.b", &two, &[(0, 1), (1, 0)][..]),
                ("a.b", &three, &[(0, 1), (1, 1), (2, 0)][..]),
                ("c.d.e", &Value::Null, &[][..]),
            ]
        );
    }

    #[test]
    fn rejects_invalid_events() {
        let p = fields(vec![("a", vec![Matcher::Exists(true)])]);
        let limits = Limits::default();
        for bad in [
            &br#"["a"]"#[..],
            br#""a""#,
            br#"5"#,
            br#"{"a":1} x"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":01}"#,
            br#"{"a":"x"#,
        ] {
            assert!(
                matches(&p, bad, &limits).is_err(),
                "accepted {}",
                String::from_utf8_lossy(bad)
            );
        }
        let small = Limits {
            max_event_bytes: 8,
            ..Limits::default()
        };
        assert!(matches(&p, br#"{"a":"xyz"}"#, &small).is_err());
        let shallow = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert!(matches(&p, br#"{"a":[[[[1]]]]}"#, &shallow).is_err());
        assert!(matches(&p, br#"{"a":[1]}"#, &shallow).unwrap());
    }

    // §1.13.2: two matched fields in different elements of one array.
    #[test]
    fn consistency_same_array_different_elements() {
        let p = fields(vec![("a.b", vec![s("x")]), ("a.c", vec![s("y")])]);
        assert!(!run(&p, r#"{"a":[{"b":"x","c":"n"},{"b":"n","c":"y"}]}"#));
        assert!(run(&p, r#"{"a":[{"b":"n","c":"n"},{"b":"x","c":"y"}]}"#));
        // One field outside the array is consistent with everything.
        let p = fields(vec![("top", vec![s("t")]), ("a.b", vec![s("x")])]);
        assert!(run(&p, r#"{"top":"t","a":[{"b":"x"}]}"#));
    }

    // §1.13.3: the event-ruler README's employees example.
    #[test]
    fn consistency_readme_employees() {
        let event = r#"{"employees":[[{"firstName":"John","lastName":"Doe","ids":[1234,1000,9999]},{"firstName":"Anna","lastName":"Smith"}],[{"firstName":"Peter","lastName":"Jones","ids":[]}]]}"#;
        let names = fields(vec![
            ("employees.firstName", vec![s("Anna")]),
            ("employees.lastName", vec![s("Jones")]),
        ]);
        assert!(!run(&names, event));
        let absent_ids = fields(vec![
            ("employees.firstName", vec![s("Anna")]),
            ("employees.ids", vec![Matcher::Exists(false)]),
        ]);
        assert!(run(&absent_ids, event));
        let ids_1000 = pat(r#"{"employees":{"firstName":["Anna"],"ids":[1000]}}"#);
        assert!(!run(&ids_1000, event));
        let john_1000 = pat(r#"{"employees":{"firstName":["John"],"ids":[1000]}}"#);
        assert!(run(&john_1000, event));
    }

    // §1.13.4: exists:false only looks at occurrences consistent with the match.
    #[test]
    fn consistency_exists_false_is_element_scoped() {
        let p = fields(vec![
            ("a.b", vec![s("x")]),
            ("a.c", vec![Matcher::Exists(false)]),
        ]);
        assert!(!run(&p, r#"{"a":[{"b":"x","c":1},{"b":"y"}]}"#));
        assert!(run(&p, r#"{"a":[{"b":"x"},{"b":"y","c":1}]}"#));
        // Outside any array, exists:false sees every occurrence.
        assert!(!run(&p, r#"{"a":{"b":"x","c":1}}"#));
        assert!(run(&p, r#"{"a":{"b":"x"}}"#));
    }

    // Nested arrays: the inner arrays are distinct instances; only the shared
    // outer array constrains.
    #[test]
    fn consistency_nested_arrays() {
        let p = fields(vec![("a.b", vec![s("x")]), ("a.c", vec![s("y")])]);
        // b and c in the same outer element, different inner arrays: fine.
        assert!(run(&p, r#"{"a":[{"b":["n","x"],"c":["y"]}]}"#));
        // Different elements of one inner array: rejected.
        assert!(!run(&p, r#"{"a":[[{"b":"x"},{"c":"y"}]]}"#));
        // Different outer elements: rejected.
        assert!(!run(&p, r#"{"a":[[{"b":"x"}],[{"c":"y"}]]}"#));
        // Same element at every shared level: fine.
        assert!(run(&p, r#"{"a":[[{"b":"n"}],[{"b":"x","c":"y"}]]}"#));
        // Sibling arrays under different keys never conflict.
        let p = fields(vec![("a", vec![s("x")]), ("b", vec![s("y")])]);
        assert!(run(&p, r#"{"a":["n","x"],"b":["y","n"]}"#));
    }

    // A field with both a value matcher and exists:false may be satisfied
    // either way (§1.7.11), and the choice interacts with consistency.
    #[test]
    fn consistency_either_present_or_absent() {
        let p = fields(vec![
            ("a.b", vec![s("x")]),
            ("a.c", vec![s("y"), Matcher::Exists(false)]),
        ]);
        assert!(run(&p, r#"{"a":[{"b":"x","c":"y"}]}"#));
        assert!(run(&p, r#"{"a":[{"b":"x"},{"c":"z"}]}"#));
        assert!(!run(&p, r#"{"a":[{"b":"x","c":"z"}]}"#));
        // The second element has b=x and no c: absent in that element.
        assert!(run(&p, r#"{"a":[{"b":"x","c":"z"},{"b":"x"}]}"#));
    }

    // §1.10: exists is about leaves only.
    #[test]
    fn exists_leaf_only() {
        let t = fields(vec![("a", vec![Matcher::Exists(true)])]);
        let f = fields(vec![("a", vec![Matcher::Exists(false)])]);
        for (event, present) in [
            (r#"{"a":"x"}"#, true),
            (r#"{"a":""}"#, true),
            (r#"{"a":null}"#, true),
            (r#"{"a":false}"#, true),
            (r#"{"a":0}"#, true),
            (r#"{"a":[null]}"#, true),
            (r#"{"a":[]}"#, false),
            (r#"{"a":[[]]}"#, false),
            (r#"{"a":{}}"#, false),
            (r#"{"a":{"b":1}}"#, false),
            (r#"{"b":1}"#, false),
            (r#"{}"#, false),
        ] {
            assert_eq!(run(&t, event), present, "exists:true on {event}");
            assert_eq!(run(&f, event), !present, "exists:false on {event}");
        }
        // exists:false under an intermediate scalar: the path has no leaf.
        let nested = fields(vec![("a.b", vec![Matcher::Exists(false)])]);
        assert!(run(&nested, r#"{"a":"scalar"}"#));
        assert!(!run(&nested, r#"{"a":{"b":null}}"#));
    }

    // Only exists:false fields: S is empty, every occurrence counts.
    #[test]
    fn only_absence_fields() {
        let p = fields(vec![
            ("a", vec![Matcher::Exists(false)]),
            ("b", vec![Matcher::Exists(false)]),
        ]);
        assert!(run(&p, r#"{"c":1}"#));
        assert!(!run(&p, r#"{"b":[1]}"#));
    }

    #[test]
    fn leaf_semantics() {
        // Numbers by value, type-strict.
        yes(r#"{"a":[300]}"#, r#"{"a":3e2}"#);
        yes(r#"{"a":[0]}"#, r#"{"a":-0}"#);
        no(r#"{"a":[5]}"#, r#"{"a":"5"}"#);
        no(r#"{"a":["5"]}"#, r#"{"a":5}"#);
        no(r#"{"a":[null]}"#, r#"{"a":"null"}"#);
        // Prefix/suffix on strings only.
        no(r#"{"a":[{"prefix":"1"}]}"#, r#"{"a":12}"#);
        yes(r#"{"a":[{"suffix":""}]}"#, r#"{"a":""}"#);
        // Case folding.
        yes(
            r#"{"a":[{"equals-ignore-case":"ÉCOLE"}]}"#,
            r#"{"a":"école"}"#,
        );
        yes(
            r#"{"a":[{"equals-ignore-case":"straße"}]}"#,
            r#"{"a":"STRASSE"}"#,
        );
        yes(
            r#"{"a":[{"prefix":{"equals-ignore-case":"EventB"}}]}"#,
            r#"{"a":"EvEnTbridge"}"#,
        );
        yes(
            r#"{"a":[{"suffix":{"equals-ignore-case":".png"}}]}"#,
            r#"{"a":"x.PNG"}"#,
        );
        // The pattern is folded, the event never: `ss` is neither form of `ß`.
        no(
            r#"{"a":[{"equals-ignore-case":"straße"}]}"#,
            r#"{"a":"strasse"}"#,
        );
        no(r#"{"a":[{"equals-ignore-case":"σ"}]}"#, r#"{"a":"ς"}"#);
        yes(
            r#"{"a":[{"suffix":{"equals-ignore-case":"ße"}}]}"#,
            r#"{"a":"STRASSE"}"#,
        );
        yes(
            r#"{"a":[{"prefix":{"equals-ignore-case":"ŉa"}}]}"#,
            r#"{"a":"ʼNAx"}"#,
        );
        yes(r#"{"a":[{"equals-ignore-case":"🚀"}]}"#, r#"{"a":"🚀"}"#);
        // Numeric ranges.
        yes(r#"{"a":[{"numeric":[">",0,"<=",5]}]}"#, r#"{"a":5}"#);
        no(r#"{"a":[{"numeric":[">",0,"<=",5]}]}"#, r#"{"a":0}"#);
        no(r#"{"a":[{"numeric":[">",0]}]}"#, r#"{"a":"1"}"#);
        // Anything-but.
        yes(r#"{"a":[{"anything-but":"x"}]}"#, r#"{"a":null}"#);
        yes(r#"{"a":[{"anything-but":5}]}"#, r#"{"a":"5"}"#);
        no(r#"{"a":[{"anything-but":5}]}"#, r#"{"a":5.0}"#);
        yes(r#"{"a":[{"anything-but":"5"}]}"#, r#"{"a":5}"#);
        no(r#"{"a":[{"anything-but":"x"}]}"#, r#"{"a":["x","x"]}"#);
        yes(r#"{"a":[{"anything-but":"x"}]}"#, r#"{"a":["x","y"]}"#);
        no(r#"{"a":[{"anything-but":"x"}]}"#, r#"{"a":[]}"#);
        yes(
            r#"{"a":[{"anything-but":{"prefix":"init"}}]}"#,
            r#"{"a":12}"#,
        );
        no(
            r#"{"a":[{"anything-but":{"wildcard":"*/init/*"}}]}"#,
            r#"{"a":"dir/init/file"}"#,
        );
        // CIDR.
        yes(r#"{"a":[{"cidr":"10.0.0.0/24"}]}"#, r#"{"a":"10.0.0.255"}"#);
        no(r#"{"a":[{"cidr":"10.0.0.0/24"}]}"#, r#"{"a":"10.0.1.0"}"#);
        // Wildcard.
        yes(r#"{"a":[{"wildcard":"a*b*c"}]}"#, r#"{"a":"abc"}"#);
        no(r#"{"a":[{"wildcard":"a*b"}]}"#, r#"{"a":5}"#);
    }

    // $or: any expansion.
    #[test]
    fn or_any_expansion() {
        let p = pat(r#"{"$or":[{"a":["x"]},{"b":["y"]}]}"#);
        assert!(run(&p, r#"{"a":"x"}"#));
        assert!(run(&p, r#"{"b":"y"}"#));
        assert!(!run(&p, r#"{"a":"y","b":"x"}"#));
    }
}
