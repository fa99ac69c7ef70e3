//! End-to-end tests of the `busbar` binary: `filter` and `test-pattern` as a
//! user runs them, over pipes and files.

mod support;

use support::busbar;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("busbar-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let p = dir.join(name);
    std::fs::write(&p, content).expect("temp file");
    p
}

const EVENTS: &str = concat!(
    r#"{"source":"a","n":1}"#,
    "\n",
    r#"{"source":"b","n":2}"#,
    "\n",
    "not json\n",
    "\n",
    r#"{"source":"a","n":3}"#,
    "\n",
    r#"{"source":"c"} trailing"#,
    "\n",
    r#"{"source":"b","n":30}"#
);

#[test]
fn filter_writes_matching_lines_byte_for_byte() {
    let out = busbar(
        &["filter", "--pattern", r#"{"source":["a"]}"#],
        EVENTS.as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"source\":\"a\",\"n\":1}\n{\"source\":\"a\",\"n\":3}\n"
    );
}

#[test]
fn filter_reports_invalid_lines_with_numbers_when_validating() {
    let out = busbar(
        &[
            "filter",
            "--validate",
            "--pattern",
            r#"{"n":[{"numeric":[">",1]}]}"#,
        ],
        EVENTS.as_bytes(),
    );
    // The lines that are events are filtered; the others make the status 2.
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stdout),
        "{\"source\":\"b\",\"n\":2}\n{\"source\":\"a\",\"n\":3}\n{\"source\":\"b\",\"n\":30}\n"
    );
    let err = text(&out.stderr);
    assert!(err.contains("line 3: invalid event at byte 0"), "{err}");
    assert!(
        err.contains("line 6: invalid event at byte 15: trailing data"),
        "{err}"
    );
}

#[test]
fn strict_stops_at_the_first_invalid_line() {
    let out = busbar(
        &["filter", "--strict", "--pattern", r#"{"source":["b"]}"#],
        EVENTS.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(text(&out.stdout), "{\"source\":\"b\",\"n\":2}\n");
    assert!(text(&out.stderr).contains("line 3:"));
}

#[test]
fn count_and_print_rules_with_a_rules_file() {
    let rules = temp(
        "rules.json",
        r#"{"is-a":{"source":["a"]},"big":{"n":[{"numeric":[">=",3]}]},"none":{"source":["zzz"]}}"#,
    );
    let r = rules.to_str().expect("utf-8 path");
    let out = busbar(&["filter", "--rules", r, "--count"], EVENTS.as_bytes());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "3\n2\tis-a\n2\tbig\n0\tnone\n");
    let out = busbar(
        &["filter", "--rules", r, "--print-rules"],
        EVENTS.as_bytes(),
    );
    assert_eq!(
        text(&out.stdout),
        "is-a\t{\"source\":\"a\",\"n\":1}\nis-a,big\t{\"source\":\"a\",\"n\":3}\nbig\t{\"source\":\"b\",\"n\":30}\n"
    );
}

#[test]
fn files_and_stdin_dash_are_read_in_order() {
    let f = temp("events.ndjson", "{\"source\":\"a\",\"from\":\"file\"}");
    let out = busbar(
        &[
            "filter",
            "-p",
            r#"{"source":["a"]}"#,
            f.to_str().expect("path"),
            "-",
        ],
        b"{\"source\":\"a\",\"from\":\"stdin\"}\n",
    );
    assert_eq!(
        text(&out.stdout),
        "{\"source\":\"a\",\"from\":\"file\"}\n{\"source\":\"a\",\"from\":\"stdin\"}\n"
    );
}

#[test]
fn bad_rules_are_reported_with_rule_name_and_reason() {
    let rules = temp(
        "bad.json",
        r#"{"ok":{"a":["x"]},"bad-prefix":{"a":[{"prefix":1}]},"bad-wild":{"b":[{"wildcard":"a**"}]}}"#,
    );
    let out = busbar(&["filter", "--rules", rules.to_str().expect("path")], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("Reason: prefix match pattern must be a string"),
        "{err}"
    );
    assert!(err.contains("rule `bad-prefix`"), "{err}");
    assert!(err.contains("rule `bad-wild`"), "{err}");
    let dup = temp("dup.json", r#"{"x":{"a":["1"]},"x":{"a":["2"]}}"#);
    let out = busbar(&["filter", "--rules", dup.to_str().expect("path")], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("duplicate rule name `x`"));
}

#[test]
fn over_long_lines_are_reported_and_skipped() {
    let long = format!("{{\"source\":\"a\",\"pad\":\"{}\"}}", "x".repeat(5000));
    let input = format!("{long}\n{{\"source\":\"a\"}}\n");
    let out = busbar(
        &[
            "filter",
            "--max-event-bytes",
            "1000",
            "-p",
            r#"{"source":["a"]}"#,
        ],
        input.as_bytes(),
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "{\"source\":\"a\"}\n");
    assert!(
        text(&out.stderr).contains("line 1:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn test_pattern_exit_codes() {
    let m = busbar(
        &[
            "test-pattern",
            "--pattern",
            r#"{"a":[{"prefix":"x"}]}"#,
            "--event",
            r#"{"a":"xy"}"#,
        ],
        b"",
    );
    assert_eq!(
        (m.status.code(), text(&m.stdout)),
        (Some(0), "true\n".to_string())
    );
    let n = busbar(
        &[
            "test-pattern",
            "--pattern",
            r#"{"a":["q"]}"#,
            "--event",
            r#"{"a":"xy"}"#,
        ],
        b"",
    );
    assert_eq!(
        (n.status.code(), text(&n.stdout)),
        (Some(1), "false\n".to_string())
    );
    let bad = busbar(
        &["test-pattern", "--pattern", r#"{"a":"x"}"#, "--event", "{}"],
        b"",
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr)
        .starts_with("Event pattern is not valid. Reason: \"a\" must be an object or an array"));
    let p = temp("p.json", r#"{"a":[1]}"#);
    let e = temp("e.json", r#"{"a":1.0}"#);
    let f = busbar(
        &[
            "test-pattern",
            "--pattern",
            &format!("@{}", p.display()),
            "--event",
            &format!("@{}", e.display()),
        ],
        b"",
    );
    assert_eq!(f.status.code(), Some(0));
}

#[test]
fn the_readme_example_runs() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = busbar(
        &[
            "filter",
            "--rules",
            &format!("{root}/config/example-rules.json"),
            "--print-rules",
            &format!("{root}/config/example-events.ndjson"),
        ],
        b"",
    );
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let firsts: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect();
    assert_eq!(
        firsts,
        vec![
            "orders-created,big-orders,eu-customers,not-from-tests",
            "orders-created",
            "image-uploads,internal-clients",
            "missing-owner",
            "not-from-tests",
        ]
    );
}

/// A `busbar run` configuration on stdin with these rules (no targets) and
/// these extra top-level lines.
fn rules_config(patterns: &[String], extra: &str) -> String {
    let mut c = String::from("sources: [{id: in, kind: stdin}]\nrules:\n");
    for (i, p) in patterns.iter().enumerate() {
        c.push_str(&format!("  - {{name: r{i}, event_pattern: '{p}'}}\n"));
    }
    c.push_str(extra);
    c
}

/// 1,000 wildcard rules of two or three stars on one field, with distinct
/// literals: the rule set whose subset construction exhausted memory.
fn thousand_wildcards() -> Vec<String> {
    (0..1000)
        .map(|i| {
            let g = match i % 3 {
                0 => format!("*k{i}x*q{i}z*"),
                1 => format!("a{i}*b{i}*c"),
                _ => format!("*foo{i}*bar*baz{i}"),
            };
            format!(r#"{{"a":[{{"wildcard":"{g}"}}]}}"#)
        })
        .collect()
}

#[test]
fn validate_accepts_a_thousand_wildcards_and_rejects_a_rule_set_over_the_budget() {
    let mut rules = thousand_wildcards();
    let ok = temp("wildcards.yaml", &rules_config(&rules, ""));
    let out = busbar(&["validate", "--config", ok.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok (1000 rules enabled"),
        "{}",
        text(&out.stdout)
    );

    // Exact values on the same field fill its automaton's states.
    rules.extend((0..2000).map(|i| format!(r#"{{"a":["value-{i:05}"]}}"#)));
    let budget = "limits: {max_automaton_states: 1000}\n";
    let over = temp("over.yaml", &rules_config(&rules, budget));
    let out = busbar(&["validate", "--config", over.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    let rule: usize = err
        .split("rule set too large at rule `r")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no rule named in {err}"));
    assert!((1000..3000).contains(&rule), "an exact rule: {err}");
    assert!(
        err.contains(&format!(
            "config: `rules[{rule}] (r{rule}).event_pattern`: rule set too large at rule `r{rule}`: \
             the string automaton of path `a` needs more than 1000 states \
             (setting limits.max_automaton_states)"
        )),
        "{err}"
    );

    // The budget itself has a range.
    let out_of_range = temp(
        "range.yaml",
        &rules_config(
            &rules[..1],
            "limits: {max_automaton_states: 10, max_automaton_bytes: 1000}\n",
        ),
    );
    let out = busbar(
        &["validate", "--config", out_of_range.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(78));
    let err = text(&out.stderr);
    assert!(
        err.contains("`limits.max_automaton_states`: 10 is outside 1000-16777216"),
        "{err}"
    );
    assert!(
        err.contains("`limits.max_automaton_bytes`: 1000 is outside 1048576-17179869184"),
        "{err}"
    );
}

/// Wildcard complexity is counted as event-ruler counts it, per field, and
/// compared with `limits.wildcard_complexity` (10 by default, as
/// EventBridge): issue #19's two rules that busbar used to over-count are
/// accepted, a star and ten repeats of a letter (11) is not, until the
/// limit allows it.
#[test]
fn validate_counts_wildcard_complexity_as_event_ruler() {
    let rules = [
        r#"{"b":[{"wildcard":"*"},{"anything-but":{"wildcard":["*a*","*s","*ssl*sa*"]}}]}"#,
        r#"{"b":[{"anything-but":{"wildcard":["*u*e","*ed*e","*ed*e"]}}]}"#,
        r#"{"detail":{"a":[{"wildcard":"*aaaaaaaaaa"}]}}"#,
    ]
    .map(String::from);
    let config = temp("complexity.yaml", &rules_config(&rules, ""));
    let out = busbar(&["validate", "--config", config.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        !err.contains("rules[0]") && !err.contains("rules[1]"),
        "{err}"
    );
    assert!(
        err.contains("`rules[2] (r2).event_pattern`")
            && err.contains(busbar::engine::RULE_TOO_COMPLEX)
            && err.contains("detail.a"),
        "{err}"
    );

    let raised = temp(
        "complexity-11.yaml",
        &rules_config(&rules, "limits: {wildcard_complexity: 11}\n"),
    );
    let out = busbar(&["validate", "--config", raised.to_str().unwrap()], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("ok (3 rules enabled"),
        "{}",
        text(&out.stdout)
    );

    // `test-pattern` applies the same count.
    let out = busbar(
        &[
            "test-pattern",
            "--pattern",
            &rules[0],
            "--event",
            r#"{"b":"glass"}"#,
        ],
        b"",
    );
    assert_eq!(text(&out.stdout), "true\n", "{}", text(&out.stderr));
    let out = busbar(
        &["test-pattern", "--pattern", &rules[2], "--event", "{}"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(busbar::engine::RULE_TOO_COMPLEX),
        "{}",
        text(&out.stderr)
    );
}

/// A pattern of exactly `chars` characters (an exact match on `source`).
fn pattern_of(chars: usize) -> String {
    let frame = r#"{"source":[""]}"#.len();
    format!(r#"{{"source":["{}"]}}"#, "x".repeat(chars - frame))
}

/// `test-pattern` takes patterns up to TestEventPattern's 4096 characters;
/// a rule in a configuration keeps the 2048-character quota.
#[test]
fn test_pattern_takes_4096_characters_and_rules_keep_the_2048_quota() {
    let long = pattern_of(3000);
    let event = format!(r#"{{"source":"{}"}}"#, "x".repeat(3000 - 15));
    let out = busbar(
        &["test-pattern", "--pattern", &long, "--event", &event],
        b"",
    );
    assert_eq!(
        (out.status.code(), text(&out.stdout)),
        (Some(0), "true\n".to_string()),
        "{}",
        text(&out.stderr)
    );
    let over = busbar(
        &[
            "test-pattern",
            "--pattern",
            &pattern_of(4097),
            "--event",
            "{}",
        ],
        b"",
    );
    assert_eq!(over.status.code(), Some(2));
    assert!(
        text(&over.stderr).contains("Event pattern is too long: 4097 characters, limit 4096"),
        "{}",
        text(&over.stderr)
    );

    let config = temp("long-rule.yaml", &rules_config(&[long], ""));
    let out = busbar(&["validate", "--config", config.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "Event pattern is too long: 3000 characters, limit 2048 \
             (EventBridge's event pattern size quota)"
        ),
        "{err}"
    );
}
