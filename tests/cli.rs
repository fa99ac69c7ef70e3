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

fn validate_with_env(config: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["validate", "--config", config.to_str().unwrap()])
        .envs(env.iter().copied())
        .env_remove("BUSBAR_TEST_UNSET")
        .output()
        .expect("busbar runs")
}

#[test]
fn validate_expands_variables_reports_unset_ones_and_never_prints_values() {
    let good = temp(
        "expand-ok.yaml",
        "bus: {name: \"${BUS_NAME:-default}\"}\n\
         kafka:\n  settings: {sasl.password: \"${BUSBAR_TEST_PASSWORD}\", client.id: a$$b}\n\
         sources: [{id: in, kind: stdin}]\n\
         rules:\n  - name: r\n    event_pattern: '{\"source\": [\"${BUSBAR_TEST_SOURCE}\"]}'\n\
         \x20   targets: [{id: out, kind: stdout, input_path: $.detail}]\n",
    );
    let out = validate_with_env(
        &good,
        &[
            ("BUSBAR_TEST_PASSWORD", "pa ss#word"),
            ("BUSBAR_TEST_SOURCE", "orders"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // Unset without a default: every one named, with its line and column.
    let out = validate_with_env(&good, &[("BUSBAR_TEST_SOURCE", "orders")]);
    assert_eq!(out.status.code(), Some(78));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "config: `{}:3:30`: the environment variable `BUSBAR_TEST_PASSWORD` is not set \
             (`${{BUSBAR_TEST_PASSWORD:-default}}` gives a default)",
            good.display()
        )
    );

    // A value that is wrong is reported by its reference, not its text,
    // in both stages (parsing and checking).
    let secret = "hunter2-very-secret";
    let checked = temp(
        "expand-check.yaml",
        "bus: {account: \"${BUSBAR_TEST_ACCOUNT}\"}\nsources: [{id: in, kind: stdin}]\n",
    );
    let out = validate_with_env(&checked, &[("BUSBAR_TEST_ACCOUNT", secret)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78));
    assert!(
        err.contains("`bus.account`: `${BUSBAR_TEST_ACCOUNT}` is not a 12-digit AWS account id"),
        "{err}"
    );
    let parsed = temp(
        "expand-parse.yaml",
        "workers: ${BUSBAR_TEST_WORKERS}\nsources: [{id: in, kind: stdin}]\n",
    );
    let out = validate_with_env(&parsed, &[("BUSBAR_TEST_WORKERS", secret)]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(78));
    assert!(err.contains("${BUSBAR_TEST_WORKERS}"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn version_names_revision_target_and_features() {
    let out = busbar(&["--version"], b"");
    assert!(out.status.success());
    let text = text(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], concat!("busbar ", env!("CARGO_PKG_VERSION")));
    let revision = lines[1].strip_prefix("revision: ").expect(&text);
    assert!(
        revision == "unknown"
            || (revision.len() == 12 && revision.bytes().all(|b| b.is_ascii_hexdigit())),
        "{text}"
    );
    let target = lines[2].strip_prefix("target: ").expect(&text);
    assert!(target.contains(std::env::consts::ARCH), "{text}");
    assert!(lines[3].starts_with("features: "), "{text}");
    let short = text_of(busbar(&["-V"], b"").stdout);
    assert_eq!(
        short.trim(),
        format!("busbar {} ({revision})", env!("CARGO_PKG_VERSION"))
    );
}

fn text_of(b: Vec<u8>) -> String {
    String::from_utf8(b).expect("UTF-8")
}

#[test]
fn completions_for_bash_zsh_and_fish_name_the_subcommands() {
    for (shell, marker) in [
        ("bash", "complete -F _busbar"),
        ("zsh", "#compdef busbar"),
        ("fish", "complete -c busbar"),
    ] {
        let out = busbar(&["completions", shell], b"");
        assert!(out.status.success(), "{shell}");
        let script = text(&out.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in ["run", "validate", "filter", "test-pattern", "completions"] {
            assert!(script.contains(sub), "{shell} lacks {sub}");
        }
    }
    let out = busbar(&["completions", "tcsh"], b"");
    assert_eq!(out.status.code(), Some(2));
}

/// With `listen: 127.0.0.1:0` the log must say which port was bound: it is
/// the only way to find the listener.
#[test]
fn the_log_names_the_bound_ports_of_port_zero_listeners() {
    use std::time::{Duration, Instant};
    let dir = support::temp_dir("port-zero");
    let config = dir.join("busbar.yaml");
    std::fs::write(
        &config,
        "sources: [{id: api, kind: http, listen: \"127.0.0.1:0\"}]\n\
         admin: {listen: \"127.0.0.1:0\"}\n",
    )
    .unwrap();
    let stderr = dir.join("stderr");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("BUSBAR_LOG_FORMAT", "json")
        .env_remove("BUSBAR_ADMIN_ADDR")
        .env_remove("BUSBAR_HTTP_ADDR")
        .stdin(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let addr_of = |log: &str, message: &str| -> Option<String> {
        log.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| {
                v["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(message))
            })
            .and_then(|v| v["fields"]["addr"].as_str().map(str::to_string))
    };
    let t = Instant::now();
    let (admin, http) = loop {
        let log = std::fs::read_to_string(&stderr).unwrap_or_default();
        if let (Some(a), Some(h)) = (
            addr_of(&log, "admin listening"),
            addr_of(&log, "http ingest listening"),
        ) {
            break (a, h);
        }
        assert!(t.elapsed() < Duration::from_secs(20), "{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    for addr in [&admin, &http] {
        assert!(!addr.ends_with(":0"), "{addr}");
    }
    let (status, body) = support::http(&admin, "GET", "/healthz", &[], b"").unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, _) = support::http(&http, "POST", "/events", &[], b"{\"a\":1}\n").unwrap();
    assert_eq!(status, 200);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_webhook_example_validates_once_its_secret_is_mounted() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = std::fs::read_to_string(format!("{root}/config/webhook.yaml")).unwrap();
    // As shipped, the Secret is not mounted here: validate names the file.
    let out = busbar(
        &[
            "validate",
            "--config",
            &format!("{root}/config/webhook.yaml"),
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains(
            "`connections.partner.auth.api_key.value`: cannot read the secret file \
             `/var/run/secrets/partner/api-key`"
        ),
        "{}",
        text(&out.stderr)
    );
    let key = temp("webhook-api-key", "k3y-not-printed\n");
    let config = temp(
        "webhook.yaml",
        &example.replace("/var/run/secrets/partner/api-key", key.to_str().unwrap()),
    );
    let out = busbar(&["validate", "--config", config.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("k3y-not-printed"));
}

/// `gen-citylots` makes its events and rule sets in memory: a count out of
/// range is a usage error naming the range, not an allocation that aborts
/// the process (as 99999999999999 events or `exact-99999999999` rules did).
#[test]
fn gen_citylots_counts_outside_their_range_are_errors() {
    for (args, range) in [
        (&["--count", "0"][..], "1..=5000000"),
        (&["--count", "99999999999999"][..], "1..=5000000"),
        (&["--rules", "exact-99999999999"][..], "from 1 to 1000000"),
        (&["--rules", "absent-0"][..], "from 1 to 1000000"),
    ] {
        let mut all = vec!["gen-citylots"];
        all.extend_from_slice(args);
        let out = busbar(&all, b"");
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            out.stdout.is_empty() && err.contains(range),
            "{args:?}: {err}"
        );
    }
    let out = busbar(&["gen-citylots", "--count", "3"], b"");
    assert!(out.status.success());
    assert_eq!(text(&out.stdout).lines().count(), 3);
}
