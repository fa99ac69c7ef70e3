//! Tests of the benchmark data and rule sets: determinism, shape and size of
//! the generated events, and that every rule of every kind matches some of
//! 10,000 events (judged by a small serde_json evaluator written here, not
//! by the engine), plus what quamina-rs accepts.

use super::*;
use serde_json::Value;

const N: usize = 10_000;

fn lines(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// ---- a plain evaluator over serde_json values (simple kinds only) ----

/// Every leaf of `v` with its dotted path; arrays are transparent.
fn leaves<'a>(v: &'a Value, path: &str, out: &mut Vec<(String, &'a Value)>) {
    match v {
        Value::Object(o) => {
            for (k, child) in o {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(child, &p, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                leaves(child, path, out);
            }
        }
        _ => out.push((path.to_string(), v)),
    }
}

/// `(path, matchers)` of a pattern.
fn fields<'a>(p: &'a Value, path: &str, out: &mut Vec<(String, &'a [Value])>) {
    if let Value::Object(o) = p {
        for (k, child) in o {
            let p = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            match child {
                Value::Array(m) => out.push((p, m)),
                _ => fields(child, &p, out),
            }
        }
    }
}

fn glob(pat: &[u8], s: &[u8]) -> bool {
    match pat.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, &s[1..]),
    }
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

fn numeric(ops: &[Value], x: f64) -> bool {
    ops.chunks(2).all(|pair| {
        let (Some(op), Some(n)) = (pair[0].as_str(), pair.get(1).and_then(Value::as_f64)) else {
            return false;
        };
        match op {
            "=" => x == n,
            "<" => x < n,
            "<=" => x <= n,
            ">" => x > n,
            ">=" => x >= n,
            _ => false,
        }
    })
}

/// String operator `op` (prefix, suffix, wildcard, equals-ignore-case, or
/// their `{"equals-ignore-case": ..}` forms) applied to `s`.
fn string_op(op: &str, arg: &Value, s: &str) -> bool {
    match (op, arg) {
        ("prefix", Value::String(p)) => s.starts_with(p.as_str()),
        ("suffix", Value::String(p)) => s.ends_with(p.as_str()),
        ("prefix", Value::Object(o)) => o
            .get("equals-ignore-case")
            .and_then(Value::as_str)
            .is_some_and(|p| lower(s).starts_with(&lower(p))),
        ("suffix", Value::Object(o)) => o
            .get("equals-ignore-case")
            .and_then(Value::as_str)
            .is_some_and(|p| lower(s).ends_with(&lower(p))),
        ("wildcard", Value::String(p)) => glob(p.as_bytes(), s.as_bytes()),
        ("equals-ignore-case", Value::String(p)) => s.eq_ignore_ascii_case(p),
        ("equals-ignore-case", Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|p| s.eq_ignore_ascii_case(p)),
        _ => false,
    }
}

fn matcher(m: &Value, leaf: &Value) -> bool {
    match m {
        Value::String(s) => leaf.as_str() == Some(s.as_str()),
        Value::Number(n) => leaf.as_f64().is_some() && leaf.as_f64() == n.as_f64(),
        Value::Null => leaf.is_null(),
        Value::Object(o) => {
            let Some((op, arg)) = o.iter().next() else {
                return false;
            };
            match op.as_str() {
                "numeric" => match (arg, leaf.as_f64()) {
                    (Value::Array(ops), Some(x)) => numeric(ops, x),
                    _ => false,
                },
                "anything-but" => match arg {
                    Value::Array(list) => !list.iter().any(|x| x == leaf),
                    Value::Object(inner) => {
                        let Some((iop, iarg)) = inner.iter().next() else {
                            return false;
                        };
                        match leaf.as_str() {
                            Some(s) => !string_op(iop, iarg, s),
                            // event-ruler: a non-string is not excluded.
                            None => true,
                        }
                    }
                    other => other != leaf,
                },
                _ => leaf.as_str().is_some_and(|s| string_op(op, arg, s)),
            }
        }
        _ => false,
    }
}

fn eval(pattern: &Value, event: &[(String, &Value)]) -> bool {
    let mut fs = Vec::new();
    fields(pattern, "", &mut fs);
    fs.iter().all(|(path, ms)| {
        event
            .iter()
            .filter(|(p, _)| p == path)
            .any(|(_, leaf)| ms.iter().any(|m| matcher(m, leaf)))
    })
}

// ---- data ----

#[test]
fn deterministic_and_prefix_stable() {
    let a = citylots(2_000, 42);
    assert_eq!(a, citylots(2_000, 42));
    let b = citylots(3_000, 42);
    assert!(
        b.starts_with(&a),
        "citylots(n) must be a prefix of citylots(m > n)"
    );
    assert_ne!(a, citylots(2_000, 43));
    assert!(citylots(0, 42).is_empty());
}

/// Pins the bytes: any change to the generator changes the benchmark data
/// set, which must then be renamed (or this value updated on purpose).
#[test]
fn golden_checksum() {
    let data = citylots(1_000, 42);
    assert_eq!(fnv1a(&data), GOLDEN_1000_42, "fnv1a of citylots(1000, 42)");
}
const GOLDEN_1000_42: u64 = 16_612_942_525_138_516_749;

#[test]
fn first_event_is_the_first_real_lot() {
    let data = citylots(1, 7);
    let v: Value = serde_json::from_slice(&data).expect("json");
    assert_eq!(v["properties"]["MAPBLKLOT"], "0001001");
    assert_eq!(v["properties"]["STREET"], "UNKNOWN");
    assert!(v["properties"]["ST_TYPE"].is_null());
    let text = std::str::from_utf8(&data).expect("utf-8");
    assert!(text.starts_with(
        r#"{"type":"Feature","properties":{"MAPBLKLOT":"0001001","BLKLOT":"0001001","BLOCK_NUM":"0001","LOT_NUM":"001","FROM_ST":"0","TO_ST":"0","STREET":"UNKNOWN","ST_TYPE":null,"ODD_EVEN":"E"},"geometry":{"type":"Polygon","coordinates":[[[-122.422003528252475,37.808480096967251,0.0],"#
    ));
}

#[test]
fn shape_and_distributions() {
    let data = citylots(N, 42);
    let ls = lines(&data);
    assert_eq!(ls.len(), N);
    assert_eq!(data.last(), Some(&b'\n'));
    let mean = data.len() as f64 / N as f64;
    assert!(
        (850.0..=950.0).contains(&mean),
        "mean event size {mean:.0} bytes"
    );

    let mut multi = 0;
    let mut null_type = 0;
    let mut st = 0;
    let mut odd = 0;
    let mut lettered = 0;
    let mut streets = std::collections::BTreeSet::new();
    let mut types = std::collections::BTreeSet::new();
    for line in &ls {
        let v: Value = serde_json::from_slice(line).expect("every line is JSON");
        let p = &v["properties"];
        for k in [
            "MAPBLKLOT",
            "BLKLOT",
            "BLOCK_NUM",
            "LOT_NUM",
            "FROM_ST",
            "TO_ST",
            "STREET",
            "ODD_EVEN",
        ] {
            assert!(p[k].is_string(), "{k} in {}", String::from_utf8_lossy(line));
        }
        let from: u32 = p["FROM_ST"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("FROM_ST numeric");
        let to: u32 = p["TO_ST"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("TO_ST numeric");
        assert!(to >= from);
        let oe = p["ODD_EVEN"].as_str().expect("ODD_EVEN");
        assert_eq!(oe, if from % 2 == 1 { "O" } else { "E" });
        odd += usize::from(oe == "O");
        let mbl = p["MAPBLKLOT"].as_str().expect("MAPBLKLOT");
        lettered += usize::from(mbl.bytes().any(|b| b.is_ascii_alphabetic()));
        streets.insert(p["STREET"].as_str().expect("STREET").to_string());
        match p["ST_TYPE"].as_str() {
            None => null_type += 1,
            Some(t) => {
                st += usize::from(t == "ST");
                types.insert(t.to_string());
            }
        }
        let g = &v["geometry"];
        let rings: Vec<&Value> = match g["type"].as_str() {
            Some("Polygon") => g["coordinates"].as_array().expect("rings").iter().collect(),
            Some("MultiPolygon") => {
                multi += 1;
                g["coordinates"]
                    .as_array()
                    .expect("polygons")
                    .iter()
                    .flat_map(|p| p.as_array().expect("rings").iter())
                    .collect()
            }
            other => panic!("geometry type {other:?}"),
        };
        for ring in rings {
            let ring = ring.as_array().expect("ring");
            assert!((4..=30).contains(&ring.len()), "ring of {}", ring.len());
            assert_eq!(ring.first(), ring.last(), "rings are closed");
            for pos in ring {
                let pos = pos.as_array().expect("position");
                assert_eq!(pos.len(), 3);
                let x = pos[0].as_f64().expect("x");
                let y = pos[1].as_f64().expect("y");
                assert!((-122.52..-122.35).contains(&x), "x {x}");
                assert!((37.70..37.82).contains(&y), "y {y}");
            }
        }
    }
    // Significant digits of the coordinate texts.
    let text = std::str::from_utf8(&data).expect("utf-8");
    for num in text
        .split(['[', ']', ','])
        .filter(|t| t.starts_with("-122.") || t.starts_with("37."))
        .take(20_000)
    {
        let sig = num.bytes().filter(u8::is_ascii_digit).count();
        assert!((15..=18).contains(&sig), "{num}: {sig} significant digits");
    }
    eprintln!(
        "mean {mean:.0} B, multipolygons {multi}, ST {st}, null ST_TYPE {null_type}, odd {odd}, \
         lettered MAPBLKLOT {lettered}, {} streets, types {types:?}",
        streets.len()
    );
    assert!((3..=50).contains(&multi), "multipolygons {multi}");
    assert!((N * 45 / 100..N * 65 / 100).contains(&st), "ST {st}");
    assert!(null_type > N / 100, "null ST_TYPE {null_type}");
    assert!(odd > N / 4 && odd < N * 3 / 4, "odd {odd}");
    assert!(lettered > 0);
    assert!(streets.len() > 250, "{} distinct streets", streets.len());
    for s in [
        "MARKET", "MISSION", "FOLSOM", "HOWARD", "JESSIE", "FELL", "BEACH", "UNKNOWN", "19TH",
    ] {
        assert!(streets.contains(s), "street {s}");
    }
    for t in ["ST", "AVE", "BLVD", "WAY", "DR"] {
        assert!(types.contains(t), "type {t}");
    }
}

// ---- rules ----

#[test]
fn rule_sets_are_well_formed() {
    assert_eq!(RuleKind::all().len(), 14);
    let mut names = std::collections::HashSet::new();
    for &k in RuleKind::all() {
        assert!(names.insert(k.name()));
        assert!(k
            .name()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_'));
        let rules = k.rules();
        assert_eq!(rules.len(), 5, "{}", k.name());
        for (name, text) in &rules {
            assert!(name.starts_with(k.name()));
            let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(v.is_object());
        }
    }
}

#[test]
fn every_rule_matches_some_events() {
    let data = citylots(N, 42);
    let events: Vec<Value> = lines(&data)
        .iter()
        .map(|l| serde_json::from_slice(l).expect("json"))
        .collect();
    let flat: Vec<Vec<(String, &Value)>> = events
        .iter()
        .map(|e| {
            let mut out = Vec::new();
            leaves(e, "", &mut out);
            out
        })
        .collect();
    let mut failures = Vec::new();
    for &k in RuleKind::all() {
        let mut counts = Vec::new();
        for (name, text) in k.rules() {
            let p: Value = serde_json::from_str(&text).expect("pattern");
            let n = flat.iter().filter(|e| eval(&p, e)).count();
            if n == 0 {
                failures.push(name.clone());
            }
            counts.push(n);
        }
        eprintln!("{:<26} {counts:?} of {N}", k.name());
    }
    assert!(failures.is_empty(), "rules matching nothing: {failures:?}");
}

#[test]
fn rule_set_sizes_outside_their_range_are_errors() {
    for name in [
        "exact-0",
        "absent-0",
        "exact-1000001",
        "absent-99999999999999999999",
        "exact-x",
    ] {
        let e = rule_set(name, false).expect_err(name);
        assert!(e.contains(name) && e.contains("from 1 to 1000000"), "{e}");
    }
    for name in ["exact-1", "absent-1"] {
        assert_eq!(
            rule_set(name, false).map(|r| r.map(|r| r.len())),
            Ok(Some(1))
        );
    }
}

#[test]
fn the_every_rule_set_matches_every_event() {
    let (name, text) = &every_rule()[0];
    assert_eq!(rule_set("every", false), Ok(Some(every_rule())));
    assert_eq!(rule_set("every", true), Ok(Some(every_rule())));
    let p: Value = serde_json::from_str(text).expect("pattern");
    let data = citylots(N, 42);
    for l in lines(&data) {
        let e: Value = serde_json::from_slice(l).expect("json");
        let mut flat = Vec::new();
        leaves(&e, "", &mut flat);
        assert!(
            eval(&p, &flat),
            "{name} misses {}",
            String::from_utf8_lossy(l)
        );
    }
}

#[test]
fn many_exact_rules_are_distinct_and_some_match() {
    let rules = many_exact_rules(10_000);
    assert_eq!(rules.len(), 10_000);
    let texts: std::collections::HashSet<&str> = rules.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(texts.len(), rules.len(), "rules must be distinct");
    let names: std::collections::HashSet<&str> = rules.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names.len(), rules.len());
    assert_eq!(many_exact_rules(10), rules[..10].to_vec());

    let values: std::collections::HashSet<String> = rules
        .iter()
        .map(|(_, t)| {
            let v: Value = serde_json::from_str(t).expect("pattern");
            v["properties"]["MAPBLKLOT"][0]
                .as_str()
                .expect("value")
                .to_string()
        })
        .collect();
    let data = citylots(N, 42);
    let hits = lines(&data)
        .iter()
        .filter(|l| {
            let v: Value = serde_json::from_slice(l).expect("json");
            v["properties"]["MAPBLKLOT"]
                .as_str()
                .is_some_and(|m| values.contains(m))
        })
        .count();
    eprintln!("10,000 exact rules: {hits} of {N} events match one");
    assert!(hits > N / 100 && hits < N / 5, "{hits}");
}

// ---- quamina ----

#[test]
fn quamina_accepts_what_we_say_it_expresses() {
    for &k in RuleKind::all() {
        for (name, text) in k.rules() {
            let mut q = quamina::Quamina::<u32>::new();
            let original = q.add_pattern(0, &text);
            match k.quamina_pattern(&text) {
                Some(qt) => {
                    let mut q = quamina::Quamina::<u32>::new();
                    q.add_pattern(0, &qt)
                        .unwrap_or_else(|e| panic!("{name}: quamina rejects {qt}: {e}"));
                    if qt == text {
                        assert!(original.is_ok());
                    } else {
                        // Rewritten only because quamina refuses the original.
                        assert!(original.is_err(), "{name}: needless rewrite");
                    }
                }
                None => {
                    assert!(!k.quamina_expressible());
                    assert!(original.is_err(), "{name}: quamina accepts {text}");
                }
            }
        }
        assert_eq!(
            k.quamina_rules().is_some(),
            k.quamina_expressible(),
            "{}",
            k.name()
        );
    }
}

#[test]
fn quamina_rewrites_agree_with_the_plain_evaluator() {
    let data = citylots(3_000, 42);
    let ls = lines(&data);
    let events: Vec<Value> = ls
        .iter()
        .map(|l| serde_json::from_slice(l).expect("json"))
        .collect();
    for k in [
        RuleKind::PrefixEqualsIgnoreCase,
        RuleKind::SuffixEqualsIgnoreCase,
    ] {
        for (name, text) in k.rules() {
            let qt = k.quamina_pattern(&text).expect("expressible");
            let mut q = quamina::Quamina::<u32>::new();
            q.add_pattern(0, &qt).expect("quamina pattern");
            let p: Value = serde_json::from_str(&text).expect("pattern");
            for (line, e) in ls.iter().zip(&events) {
                let mut flat = Vec::new();
                leaves(e, "", &mut flat);
                let ours = eval(&p, &flat);
                let theirs = !q.matches_for_event(line).expect("event").is_empty();
                assert_eq!(
                    ours,
                    theirs,
                    "{name} ({qt}) on {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }
}

#[test]
fn case_insensitive_regexp_rewrite() {
    assert_eq!(case_insensitive_regexp("Ac").as_deref(), Some("[aA][cC]"));
    assert_eq!(
        case_insensitive_regexp("O'F 1").as_deref(),
        Some("[oO]'[fF] 1")
    );
    assert_eq!(case_insensitive_regexp("a.b"), None);
    assert_eq!(
        to_quamina(r#"{"a":[{"prefix":{"equals-ignore-case":"Ac"}}]}"#).as_deref(),
        Some(r#"{"a":[{"regexp":"[aA][cC].*"}]}"#)
    );
    assert_eq!(
        to_quamina(r#"{"a":[{"anything-but":{"prefix":"x"}}]}"#),
        None
    );
    assert_eq!(to_quamina(r#"{"$or":[{"a":["x"]},{"b":["y"]}]}"#), None);
    let exact = r#"{"a":["x", 1]}"#;
    assert_eq!(to_quamina(exact).as_deref(), Some(exact));
}

#[test]
fn scale_rules_share_the_first_ten() {
    let big = super::scale_rules(10_000);
    assert_eq!(big.len(), 10_000);
    assert_eq!(big[..10].to_vec(), many_exact_rules(10));
    let names: std::collections::HashSet<&String> = big.iter().map(|r| &r.0).collect();
    assert_eq!(names.len(), 10_000);
    assert!(big[10..].iter().all(|(_, p)| p.contains("\"X")));
}

/// Every formatting writes the same values as compact (key order aside),
/// spelt as it says: spaces where it puts them, escapes in about a third
/// of the events, every event on one line but the indented ones.
#[test]
fn formattings_write_the_same_values() {
    let compact = citylots(300, 7);
    let want: Vec<Value> = lines(&compact)
        .iter()
        .map(|l| serde_json::from_slice(l).expect("compact is JSON"))
        .collect();
    for &format in Format::all() {
        let data = citylots_formatted(300, 7, format);
        let got: Vec<Value> = match format {
            Format::Pretty => serde_json::Deserializer::from_slice(&data)
                .into_iter::<Value>()
                .map(|v| v.expect("pretty is JSON"))
                .collect(),
            _ => lines(&data)
                .iter()
                .map(|l| serde_json::from_slice(l).expect("formatted is JSON"))
                .collect(),
        };
        assert_eq!(got, want, "{}", format.name());
        let text = String::from_utf8(data.clone()).expect("UTF-8");
        match format {
            Format::Compact | Format::Shuffled => assert!(!text.contains(", ")),
            Format::Python => assert!(text.starts_with("{\"type\": \"Feature\", ")),
            Format::Spaced => assert!(text.starts_with("{ \"type\": \"Feature\", ")),
            Format::Escaped => {
                let escaped = lines(&data)
                    .iter()
                    .filter(|l| l.windows(2).any(|w| w == b"\\u"))
                    .count();
                assert!((60..150).contains(&escaped), "{escaped} of 300 escaped");
            }
            Format::Pretty => assert!(text.contains("\n  \"properties\": {\n    \"")),
        }
        if format == Format::Shuffled {
            assert_ne!(data, compact, "keys move");
        }
    }
}
