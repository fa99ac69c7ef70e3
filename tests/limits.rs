//! Every numeric setting has a range that `validate` (and `run`, which
//! checks the same way) enforces, naming the setting, the value and the
//! range; and the ends of the ranges work: the deepest event the largest
//! `limits.max_event_depth` allows is matched end to end (stdin, `POST
//! /events`, PutEvents), one level deeper is dead-lettered with the setting
//! named and the byte offset into the input as it was sent.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::Busbar;

use support::busbar;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("file written");
    p.display().to_string()
}

const RULES: &str = r#"
rules:
  - name: all
    event_pattern: '{"source": [{"prefix": ""}]}'
    targets:
      - id: web
        kind: http
        url: http://127.0.0.1:9/x
        rate_limit_per_second: 0.0001
        timeout_seconds: .inf
"#;

#[test]
fn validate_names_the_setting_the_value_and_the_range_of_every_number() {
    let dir = support::temp_dir("limits-validate");
    let text = format!(
        r#"
sources:
  - id: api
    kind: http
    listen: "127.0.0.1:9464"
    max_request_bytes: 0
    max_connections: 0
    header_timeout_seconds: 0
    body_timeout_seconds: .nan
    idle_timeout_seconds: 1e9
{RULES}
admin: {{listen: "0.0.0.0:9464"}}
workers: 100000
shutdown_grace_seconds: 18446744073709551615
limits:
  max_event_bytes: 0
  max_event_depth: 4000000000
  max_targets_per_rule: 0
  wildcard_complexity: 1000
  max_in_flight_events: 0
  max_in_flight_bytes: 5000000000
"#
    );
    let cfg = write(&dir, "bad.yaml", &text);
    let out = busbar(&["validate", "--config", &cfg], b"");
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    for line in [
        "config: `workers`: 100000 is outside 1-1024",
        "config: `shutdown_grace_seconds`: 18446744073709551615 is outside 0-3600",
        "config: `limits.max_event_bytes`: 0 is outside 1-67108864",
        "config: `limits.max_event_depth`: 4000000000 is outside 1-4096",
        "config: `limits.max_targets_per_rule`: 0 is outside 1-100",
        "config: `limits.wildcard_complexity`: 1000 is outside 1-100",
        "config: `limits.max_in_flight_events`: 0 is outside 1-1000000",
        "config: `limits.max_in_flight_bytes`: 5000000000 is outside 1-4294967295",
        "config: `sources[0] (api).max_request_bytes`: 0 is outside 1-268435456",
        "config: `sources[0] (api).max_connections`: 0 is outside 1-1048576",
        "config: `sources[0] (api).header_timeout_seconds`: 0 is not a number of seconds in 0.001-3600",
        "config: `sources[0] (api).body_timeout_seconds`: NaN is not a number of seconds in 0.001-3600",
        "config: `sources[0] (api).idle_timeout_seconds`: 1000000000 is not a number of seconds in 0.001-3600",
        "config: `sources[0] (api).listen`: `127.0.0.1:9464` is the address of `admin.listen` too: each listener needs its own port",
        "config: `rules[0] (all).targets[0] (web).rate_limit_per_second`: 0.0001 is not a rate in 0.001-1000000 per second",
        "config: `rules[0] (all).targets[0] (web).timeout_seconds`: inf must be a number of seconds in (0, 3600]",
    ] {
        assert!(
            err.lines().any(|l| l == line),
            "missing {line:?} in:\n{err}"
        );
    }
}

#[test]
fn the_ends_of_every_range_validate() {
    let dir = support::temp_dir("limits-edges");
    for (workers, grace, depth, bytes, timeout) in
        [(1, 0, 1, 1, 0.001), (1024, 3600, 4096, 67108864, 3600.0)]
    {
        let text = format!(
            r#"
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:0", max_request_bytes: {bytes}, max_connections: 1,
     header_timeout_seconds: {timeout}, body_timeout_seconds: {timeout}, idle_timeout_seconds: {timeout}}}
workers: {workers}
shutdown_grace_seconds: {grace}
admin: {{listen: "127.0.0.1:0"}}
limits: {{max_event_bytes: {bytes}, max_event_depth: {depth}, max_in_flight_bytes: 4294967295}}
"#
        );
        let cfg = write(&dir, "edge.yaml", &text);
        let out = busbar(&["validate", "--config", &cfg], b"");
        assert!(
            out.status.success(),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The values of the report that used to crash `run` (stack overflow, exit
/// 134; panic, exit 101) now stop it before it starts, with exit 78.
#[test]
fn run_refuses_what_used_to_crash_it() {
    let dir = support::temp_dir("limits-run");
    for (setting, line) in [
        (
            "limits: {max_event_depth: 4000000000}",
            "config: `limits.max_event_depth`: 4000000000 is outside 1-4096",
        ),
        (
            "shutdown_grace_seconds: 18446744073709551615",
            "config: `shutdown_grace_seconds`: 18446744073709551615 is outside 0-3600",
        ),
        (
            "workers: 100000",
            "config: `workers`: 100000 is outside 1-1024",
        ),
    ] {
        let cfg = write(
            &dir,
            "run.yaml",
            &format!(
                "sources: [{{id: in, kind: stdin}}]\nadmin: {{listen: \"127.0.0.1:0\"}}\nwatch_config: false\n{setting}\n"
            ),
        );
        let out = busbar(&["run", "--config", &cfg], b"{\"a\":1}\n");
        assert_eq!(out.status.code(), Some(78), "{setting}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.lines().any(|l| l == line), "{setting}:\n{err}");
    }
    // The command line's `--workers` has the same range.
    let cfg = write(
        &dir,
        "ok.yaml",
        "sources: [{id: in, kind: stdin}]\nadmin: {listen: \"127.0.0.1:0\"}\n",
    );
    let out = busbar(&["run", "--config", &cfg, "--workers", "1025"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("1..=1024"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `{"k":{"k":…{"k":1}…}}`: `depth` nested objects, 5 bytes per level in
/// front of the innermost value.
fn nested(depth: usize) -> String {
    format!("{}1{}", "{\"k\":".repeat(depth), "}".repeat(depth))
}

/// An envelope whose `detail` nests `depth` levels.
fn envelope(depth: usize) -> String {
    format!(
        r#"{{"source":"deep","detail-type":"t","detail":{}}}"#,
        nested(depth)
    )
}

/// The rules of the depth tests: one that takes everything, and one whose
/// path follows the nesting for 1,000 levels, so that matching recurses
/// along a rule path (the scanner's most stack-hungry case) as well as
/// skipping the thousands of levels below it.
fn depth_rules(out: &Path) -> String {
    let path = format!("detail{}", ".k".repeat(1000));
    format!(
        r#"
rules:
  - name: all
    event_pattern: '{{"source": [{{"prefix": ""}}]}}'
    targets: [{{id: out, kind: file, path: "{out}"}}]
  - name: deep-path
    event_pattern: '{{"{path}": [{{"exists": true}}]}}'
    targets: [{{id: out2, kind: file, path: "{out}.deep"}}]
limits: {{max_event_depth: 4096}}
"#,
        out = out.display()
    )
}

/// The dead letters written so far: complete lines only. A dead letter
/// holding a deep event is tens of kilobytes, and a reader polling the file
/// may see the first pages of its line while the write is still copying
/// the rest (a run of CI read 32,768 bytes of one): Linux does not make a
/// read of a regular file wait for a write in progress.
fn dead_letters(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n'))
        .map(|l| serde_json::from_str(l).expect("dead letter is JSON"))
        .collect()
}

#[test]
fn the_deepest_allowed_event_is_matched_and_one_deeper_is_dead_lettered() {
    let dir = support::temp_dir("limits-depth-stdin");
    let out = dir.join("out.ndjson");
    let dlq = dir.join("dlq.ndjson");
    let cfg = write(
        &dir,
        "depth.yaml",
        &format!(
            "sources: [{{id: in, kind: stdin, dead_letter: dlq}}]\n\
             dead_letters: {{dlq: {{kind: file, path: \"{}\"}}}}\n\
             admin: {{listen: \"127.0.0.1:0\"}}\nwatch_config: false\n{}",
            dlq.display(),
            depth_rules(&out)
        ),
    );
    let input = format!(
        "{}\n{}\n{}\n{}\n",
        nested(4096),
        nested(4097),
        envelope(4096),
        envelope(4097)
    );
    let run = busbar(&["run", "--config", &cfg], input.as_bytes());
    assert!(
        run.status.success(),
        "{:?}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    let delivered = std::fs::read_to_string(&out).expect("delivered");
    assert_eq!(delivered.lines().count(), 2);
    assert!(delivered.lines().all(|l| l.ends_with(&"}".repeat(4097))));

    let dl = dead_letters(&dlq);
    assert_eq!(dl.len(), 2, "{dl:?}");
    // Offsets count in the line as sent: the 4,097th `{` is at 5 · 4096.
    assert_eq!(dl[0]["error_code"], "event_limit");
    assert_eq!(
        dl[0]["error_message"],
        "line 2: invalid event at byte 20480: nesting deeper than 4096 levels \
         (setting limits.max_event_depth)"
    );
    let at = envelope(4097)
        .find(&"{\"k\":".repeat(4097))
        .expect("detail")
        + 5 * 4096;
    assert_eq!(
        dl[1]["error_message"],
        format!(
            "line 4: invalid event at byte {at}: nesting deeper than 4097 levels \
             (setting limits.max_event_depth 4096, plus the envelope's own level)"
        )
    );
}

#[test]
fn the_deepest_allowed_event_goes_through_put_events_and_events() {
    let dir = support::temp_dir("limits-depth-http");
    let out = dir.join("out.ndjson");
    let port = support::free_port();
    let config = format!(
        "sources: [{{id: api, kind: http, listen: \"127.0.0.1:{port}\", dead_letter: dlq}}]\n\
         dead_letters: {{dlq: {{kind: file, path: \"{}\"}}}}\nwatch_config: false\n{}",
        dir.join("dlq.ndjson").display(),
        depth_rules(&out)
    );
    let mut b = Busbar::start(&dir, &config, support::free_port(), &[]);
    b.wait_ready(Duration::from_secs(15));
    let ingest = format!("127.0.0.1:{port}");

    let put = json!({"Entries": [
        {"Source": "deep", "DetailType": "t", "Detail": nested(4096)},
        {"Source": "deep", "DetailType": "t", "Detail": nested(4097)},
    ]});
    let (status, body) = support::http(
        &ingest,
        "POST",
        "/",
        &[("X-Amz-Target", "AWSEvents.PutEvents")],
        put.to_string().as_bytes(),
    )
    .expect("PutEvents");
    assert_eq!(status, 200);
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["FailedEntryCount"], 1, "{body}");
    assert!(body["Entries"][0]["EventId"].is_string(), "{body}");
    assert_eq!(body["Entries"][1]["ErrorCode"], "MalformedDetail", "{body}");

    let lines = format!("{}\n{}\n", nested(4096), nested(4097));
    let (status, body) =
        support::http(&ingest, "POST", "/events", &[], lines.as_bytes()).expect("/events");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));

    let t = std::time::Instant::now();
    while std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .count()
        < 2
        || dead_letters(&dir.join("dlq.ndjson")).is_empty()
    {
        assert!(t.elapsed() < Duration::from_secs(10), "{}", b.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let dl = dead_letters(&dir.join("dlq.ndjson"));
    assert_eq!(
        dl[0]["error_message"],
        "line 2: invalid event at byte 20480: nesting deeper than 4096 levels \
         (setting limits.max_event_depth)"
    );
    assert!(b.child.try_wait().expect("wait").is_none(), "busbar exited");
    assert!(b.stop().success());
    assert_eq!(
        std::fs::read_to_string(&out)
            .expect("delivered")
            .lines()
            .count(),
        2
    );
}
