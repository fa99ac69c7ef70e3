//! `busbar run` with a stdin source: the bundled example configuration,
//! envelopes and raw objects in, shaped matches out, invalid lines to the
//! dead-letter destination, exit 0 at EOF; plus `busbar validate`.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

fn run_with_stdin(config: &std::path::Path, input: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config"])
        .arg(config)
        .env("BUSBAR_ADMIN_ADDR", "127.0.0.1:0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("busbar runs");
    let mut w = child.stdin.take().expect("stdin");
    let data = input.to_vec();
    let t = std::thread::spawn(move || {
        let _ = w.write_all(&data);
    });
    let out = child.wait_with_output().expect("busbar exits");
    t.join().expect("writer");
    out
}

fn manifest(p: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

#[test]
fn bundled_stdin_example_routes_shapes_and_dead_letters() {
    let events = std::fs::read(manifest("config/example-events.ndjson")).unwrap();
    let out = run_with_stdin(&manifest("config/stdin.yaml"), &events);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    // Two targets write independently: order between them is not defined.
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            r#"{"key":"images/cat.jpg","size":48213}"#,
            r#"{"rule": "big-orders", "order": "o-1", "total": 1250.5}"#,
        ],
        "{stdout}"
    );
    // The invalid line is dead-lettered to stderr as a JSON record.
    let dl = stderr
        .lines()
        .find(|l| l.starts_with('{') && l.contains("\"stage\":\"source\""))
        .unwrap_or_else(|| panic!("no dead letter in:\n{stderr}"));
    let v: serde_json::Value = serde_json::from_str(dl).unwrap();
    assert_eq!(v["error_code"], "invalid_json");
    assert_eq!(v["input"], "this line is not an event");
    assert!(
        v["error_message"]
            .as_str()
            .unwrap()
            .starts_with("line 6: invalid event at byte 0:"),
        "{v}"
    );
}

#[test]
fn raw_objects_are_wrapped_in_an_envelope_and_every_target_gets_the_same_id() {
    let dir = support::temp_dir("wrap");
    let cfg = dir.join("c.yaml");
    std::fs::write(
        &cfg,
        r#"
bus: {name: orders, account: "123456789012", region: eu-central-1}
sources:
  - {id: in, kind: stdin, source: my.app, detail_type: Thing}
rules:
  - name: everything
    event_pattern: {"source": [{"prefix": ""}]}
    targets:
      - {id: a, kind: stdout}
      - {id: b, kind: stdout, input_path: $.id}
admin: {listen: "127.0.0.1:0"}
watch_config: false
"#,
    )
    .unwrap();
    let out = run_with_stdin(&cfg, b"{\"n\":1}\n\n   \n{\"n\":2}\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let envelopes: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with('"'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(envelopes.len(), 2, "{stdout}");
    assert_eq!(ids.len(), 2, "{stdout}");
    for (n, e) in envelopes.iter().enumerate() {
        let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
        assert_eq!(e["version"], "0");
        assert_eq!(e["source"], "my.app");
        assert_eq!(e["detail-type"], "Thing");
        assert_eq!(e["account"], "123456789012");
        assert_eq!(e["region"], "eu-central-1");
        assert_eq!(e["resources"], serde_json::json!([]));
        assert_eq!(e["detail"]["n"], n as u64 + 1);
        assert_eq!(keys.len(), 9);
        assert!(
            ids.contains(&e["id"].as_str().unwrap().to_string()),
            "{stdout}"
        );
    }
    assert_ne!(envelopes[0]["id"], envelopes[1]["id"]);
}

/// The pipeline reads an envelope's keys only up to `detail` and lets the
/// matcher's scan confirm that `detail` is the last member; members after
/// it take the validating path: kept (reordered) when they are other keys,
/// dead-lettered when they repeat an envelope key or turn a raw object
/// into something else.
#[test]
fn members_after_detail_are_kept_or_rejected_never_trusted() {
    let dir = support::temp_dir("after-detail");
    let cfg = dir.join("c.yaml");
    std::fs::write(
        &cfg,
        r#"
sources:
  - {id: in, kind: stdin, dead_letter: rejected}
rules:
  - name: everything
    event_pattern: {"source": [{"prefix": ""}]}
    targets:
      - {id: a, kind: stdout}
dead_letters:
  rejected: {kind: stderr}
admin: {listen: "127.0.0.1:0"}
watch_config: false
"#,
    )
    .unwrap();
    let head = r#"{"version":"0","id":"e-1","detail-type":"T","source":"s","account":"1","time":"2025-01-01T00:00:00Z","region":"r","resources":[],"detail":{"n":1}"#;
    let input = format!(
        "{head}}}\n{head},\"extra\":true}}\n{head},\"source\":\"evil\"}}\n{{\"a\":1}},\"source\":\"x\"\n{{\"a\":1}},\"detail\":{{\"b\":2}}\n"
    );
    let out = run_with_stdin(&cfg, input.as_bytes());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0], format!("{head}}}"), "kept byte for byte");
    let v: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(v["extra"], true);
    assert_eq!(v["source"], "s");
    let dead: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let codes: Vec<&str> = dead
        .iter()
        .map(|d| d["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["duplicate_key", "invalid_json", "invalid_json"],
        "{stderr}"
    );
    assert!(
        dead[0]["error_message"]
            .as_str()
            .unwrap()
            .starts_with("line 3: "),
        "{stderr}"
    );
}

#[test]
fn validate_reports_every_problem_and_exits_78() {
    let dir = support::temp_dir("validate");
    let cfg = dir.join("bad.yaml");
    std::fs::write(
        &cfg,
        r#"
sources: [{id: in, kind: stdin}]
rules:
  - name: r1
    event_pattern: '{"source": [{"prefix": 5}]}'
    targets: [{id: t, kind: stdout, input_transformer: {input_template: '{"a": <nope>}'}}]
  - name: r2
    event_pattern: '{"detail": {"n": [{"numeric": [">", "x"]}]}}'
    targets: [{id: t, kind: file, path: /tmp/x, dead_letter: nowhere}]
"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["validate", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "rules[0] (r1).event_pattern",
        "prefix match pattern must be a string",
        "InputTemplate for target t contains invalid placeholder nope.",
        "rules[1] (r2).event_pattern",
        "`nowhere` is not defined under `dead_letters`",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }
    let ok = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["validate", "--config"])
        .arg(manifest("config/stdin.yaml"))
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        String::from_utf8_lossy(&ok.stdout).contains("ok (2 rules enabled, 1 disabled, 1 sources)")
    );
}

#[test]
fn an_event_over_the_size_limit_is_dead_lettered_as_too_large() {
    let dir = support::temp_dir("toolarge");
    let cfg = dir.join("c.yaml");
    std::fs::write(
        &cfg,
        r#"
sources: [{id: in, kind: stdin, dead_letter: dl}]
rules:
  - {name: all, event_pattern: '{"source": [{"prefix": ""}]}', targets: [{id: out, kind: stdout, input_path: $.detail.n}]}
dead_letters: {dl: {kind: stderr}}
limits: {max_event_bytes: 100, max_in_flight_bytes: 1000000}  # the input limit; envelopes may add their keys
admin: {listen: "127.0.0.1:0"}
watch_config: false
"#,
    )
    .unwrap();
    let big = format!("{{\"n\":2,\"pad\":\"{}\"}}", "x".repeat(500));
    let out = run_with_stdin(
        &cfg,
        format!("{{\"n\":1}}\n{big}\n{{\"n\":3}}\n").as_bytes(),
    );
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut got: Vec<&str> = stdout.lines().collect();
    got.sort();
    assert_eq!(got, vec!["1", "3"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let dl: serde_json::Value = serde_json::from_str(
        stderr
            .lines()
            .find(|l| l.starts_with('{'))
            .expect("a dead letter"),
    )
    .unwrap();
    assert_eq!(dl["error_code"], "too_large");
    assert!(
        dl["error_message"]
            .as_str()
            .unwrap()
            .contains("line 2: event is more than 100 bytes, over the limit of 100 (setting limits.max_event_bytes)"),
        "{dl}"
    );
}

#[test]
fn a_closed_stdout_does_not_hang_the_pipeline() {
    use std::io::{BufRead, BufReader};
    let dir = support::temp_dir("epipe");
    let cfg = dir.join("c.yaml");
    std::fs::write(
        &cfg,
        "sources: [{id: in, kind: stdin}]\nrules:\n  - {name: all, event_pattern: '{\"source\": [{\"prefix\": \"\"}]}', targets: [{id: out, kind: stdout}]}\nadmin: {listen: \"127.0.0.1:0\"}\nwatch_config: false\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for i in 0..200_000 {
            if writeln!(input, "{{\"n\":{i}}}").is_err() {
                break;
            }
        }
    });
    // Read one line, then close the pipe like `| head -1` does.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"detail\":{\"n\":"), "{first}");
    drop(out);
    feeder.join().unwrap();
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < std::time::Duration::from_secs(30),
            "busbar hangs on a closed stdout"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
