//! What busbar tells its operators about itself, checked on a running
//! process: delivery failures in the log (first line, then quiet, then a
//! recovery line) with the address and cause in the log and the dead
//! letter.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::path::Path;
use std::time::Duration;

use http_server::{Reply, Server};
use serde_json::{json, Value};
use support::Busbar;

/// A busbar with an `http` source and the given rules (YAML list items),
/// a `file` dead letter `dlq` in `dir/dlq.ndjson`; returns it and the
/// ingest address.
fn start(dir: &Path, rules: &str, extra: &str) -> (Busbar, String) {
    support::start_ingest(dir, rules, extra, &[])
}

fn send(ingest: &str, lines: &[String]) {
    let body = lines.join("\n");
    let (status, resp) =
        support::http(ingest, "POST", "/events", &[], body.as_bytes()).expect("ingest");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
}

fn dead_letters(b: &Busbar, n: usize) -> Vec<Value> {
    let path = b.dir.join("dlq.ndjson");
    let mut out = Vec::new();
    support::wait_until(Duration::from_secs(20), "dead letters written", || {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        out = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("dead letter is JSON"))
            .collect();
        out.len() >= n
    });
    out
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn a_refused_connection_is_logged_once_naming_target_endpoint_and_cause() {
    let dir = support::temp_dir("ops-refused");
    // Nothing listens on this port.
    let closed = support::free_port();
    let rules = format!(
        r#"
  - name: to-nowhere
    event_pattern: {{"source": ["shop"]}}
    targets:
      - id: nowhere
        kind: http
        url: "http://user:secret@127.0.0.1:{closed}/hook?token=t"
        retry: {{maximum_retry_attempts: 2}}
        dead_letter: dlq
"#
    );
    let (b, ingest) = start(&dir, &rules, "");
    let events: Vec<String> = (0..20)
        .map(|i| json!({"source": "shop", "detail-type": "Order", "detail": {"n": i}}).to_string())
        .collect();
    send(&ingest, &events);
    let dl = dead_letters(&b, 20);
    let cause = format!("connection refused to 127.0.0.1:{closed}");
    for d in &dl {
        assert_eq!(d["error_code"], "CONNECTION_FAILURE", "{d}");
        assert_eq!(d["error_message"], cause.as_str(), "{d}");
    }
    let err = b.stderr();
    let failed = lines_with(&err, "delivery failed");
    assert_eq!(failed.len(), 1, "one line for 60 failed attempts:\n{err}");
    let line = failed[0];
    assert!(line.contains("WARN"), "{line}");
    for part in [
        "rule=to-nowhere",
        "target=nowhere",
        &format!("endpoint=http://127.0.0.1:{closed}/hook"),
        &cause,
    ] {
        assert!(line.contains(part), "{part} missing from {line}");
    }
    assert!(!err.contains("secret") && !err.contains("token=t"), "{err}");
}

#[test]
fn a_target_that_recovers_says_so_once() {
    let dir = support::temp_dir("ops-recovers");
    let flaky = Server::start(|n| {
        if n < 2 {
            Reply::Status(503, vec![])
        } else {
            Reply::Status(200, vec![])
        }
    });
    let rules = format!(
        r#"
  - name: to-flaky
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: flaky, kind: http, url: "{url}", dead_letter: dlq}}
"#,
        url = flaky.url("/in")
    );
    let (b, ingest) = start(&dir, &rules, "");
    send(
        &ingest,
        &[json!({"source": "shop", "detail-type": "Order", "detail": {}}).to_string()],
    );
    support::wait_until(Duration::from_secs(20), "the target recovered", || {
        b.stderr().contains("target recovered")
    });
    send(
        &ingest,
        &[json!({"source": "shop", "detail-type": "Order", "detail": {}}).to_string()],
    );
    flaky.wait_for(4, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(200));
    let err = b.stderr();
    assert_eq!(lines_with(&err, "delivery failed").len(), 1, "{err}");
    let back = lines_with(&err, "target recovered");
    assert_eq!(back.len(), 1, "{err}");
    assert!(
        back[0].contains("target=flaky") && back[0].contains("failures=2"),
        "{}",
        back[0]
    );
}

#[test]
fn a_closed_stdout_ends_run_quietly_and_accounts_for_every_event() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let dir = support::temp_dir("ops-epipe");
    let dlq = dir.join("dlq.ndjson");
    let config = format!(
        r#"
sources:
  - {{id: in, kind: stdin}}
rules:
  - name: all
    event_pattern: {{"source": [{{"prefix": ""}}]}}
    targets:
      - {{id: out, kind: stdout, dead_letter: dlq}}
dead_letters:
  dlq: {{kind: file, path: "{}"}}
watch_config: false
admin: {{listen: "127.0.0.1:0"}}
"#,
        dlq.display()
    );
    let path = dir.join("busbar.yaml");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config"])
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for i in 0..20_000 {
            let line = format!("{{\"n\":{i}}}\n");
            if input.write_all(line.as_bytes()).is_err() {
                return;
            }
        }
    });
    // `| head -1`: one line, then the reader goes.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.contains("\"n\":0"), "{first}");
    drop(out);
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "run did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("WARN") && !err.contains("ERROR"), "{err}");
    assert!(err.lines().count() < 10, "{err}");
    assert!(err.contains("broken pipe"), "{err}");
    // sent = delivered + dead-lettered: every accepted event finished.
    let stopped = lines_with(&err, " stopped").join("\n");
    let field = |name: &str| -> u64 {
        let at = stopped.find(&format!("{name}=")).expect(name) + name.len() + 1;
        stopped[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (accepted, finished) = (field("accepted"), field("finished"));
    assert_eq!(accepted, finished, "{err}");
    let dead = std::fs::read_to_string(&dlq).unwrap_or_default();
    let dead: Vec<Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!dead.is_empty() && (dead.len() as u64) < accepted, "{err}");
    assert!(
        dead.iter().all(|d| d["error_code"] == "NO_RESOURCE"),
        "{dead:?}"
    );
}

/// PutEvents with `EventBusName` over the HTTP ingest endpoint.
fn put_events(ingest: &str, bus: &str, n: usize) -> Value {
    let entries: Vec<Value> = (0..n)
        .map(|i| json!({"Source": "shop", "DetailType": "Order", "Detail": format!("{{\"n\":{i}}}"), "EventBusName": bus}))
        .collect();
    let body = json!({ "Entries": entries }).to_string();
    let (status, resp) = support::http(
        ingest,
        "POST",
        "/",
        &[
            ("X-Amz-Target", "AWSEvents.PutEvents"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        body.as_bytes(),
    )
    .expect("PutEvents");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    serde_json::from_slice(&resp).unwrap()
}

/// One rule, `all`, sending every `shop` event to the file `out`.
fn all_to_file(out: &Path) -> String {
    format!(
        r#"
  - name: all
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: out, kind: file, path: "{}"}}
"#,
        out.display()
    )
}

#[test]
fn entries_for_another_bus_are_named_in_one_warning_or_taken_when_configured() {
    let dir = support::temp_dir("ops-other-bus");
    let out = dir.join("out.ndjson");
    let rules = all_to_file(&out);
    let (b, ingest) = start(&dir, &rules, "");
    for _ in 0..3 {
        put_events(&ingest, "payments", 5);
    }
    support::wait_until(Duration::from_secs(5), "dropped counted", || {
        support::sample(
            &b.metrics(),
            "busbar_events_dropped_total{reason=\"OTHER_EVENT_BUS\",rule=\"\",stage=\"source\",target=\"api\"}",
        ) == Some(15.0)
    });
    let err = b.stderr();
    let warned = lines_with(&err, "another event bus");
    assert_eq!(warned.len(), 1, "{err}");
    assert!(
        warned[0].contains("event_bus=payments") && warned[0].contains("bus.accept_other_buses")
    );
    assert!(!out.exists() || std::fs::read_to_string(&out).unwrap().is_empty());
    drop(b);

    let dir = support::temp_dir("ops-other-bus-accepted");
    let out = dir.join("out.ndjson");
    let rules = all_to_file(&out);
    // The same, with the bus accepted.
    let port = support::free_port();
    let text = format!(
        r#"
bus: {{name: default, account: "123456789012", region: eu-west-1, accept_other_buses: [payments]}}
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:{port}"}}
rules:
{rules}
watch_config: false
"#
    );
    let mut b = Busbar::start(&dir, &text, support::free_port(), &[]);
    b.wait_ready(Duration::from_secs(15));
    let ingest = format!("127.0.0.1:{port}");
    put_events(&ingest, "payments", 4);
    put_events(
        &ingest,
        "arn:aws:events:eu-west-1:123456789012:event-bus/payments",
        1,
    );
    put_events(&ingest, "refunds", 2);
    support::wait_until(Duration::from_secs(10), "5 events delivered", || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .count()
            == 5
    });
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 5);
    assert_eq!(lines_with(&b.stderr(), "event_bus=refunds").len(), 1);
}

#[test]
fn a_bridge_without_a_broker_logs_a_line_per_change_not_per_attempt() {
    let dir = support::temp_dir("ops-no-broker");
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bridge.yaml"))
            .unwrap();
    let closed = support::free_port();
    let brokers = format!("127.0.0.1:{closed}");
    let b = Busbar::start(
        &dir,
        &config,
        support::free_port(),
        &[("BUSBAR_BROKERS", brokers.as_str())],
    );
    // Before: 490 lines in 7 s (librdkafka's FAIL line, its error callback
    // twice, "all brokers down", the consumer's own line, per attempt).
    std::thread::sleep(Duration::from_secs(7));
    let err = b.stderr();
    let lines = err.lines().count();
    assert!(lines <= 8, "{lines} lines:\n{err}");
    let unreachable = lines_with(&err, "kafka brokers unreachable");
    assert!(
        (1..=4).contains(&unreachable.len()),
        "one per client and kind:\n{err}"
    );
    assert!(unreachable.iter().all(|l| l.contains(&brokers)), "{err}");
}

/// Two rules on an http source, one of them disabled, one with a file
/// target: what `/rules`, `busbar tap` and the EventBridge calls look at.
fn start_two_rules(dir: &Path) -> (Busbar, String) {
    let rules = format!(
        r#"
  - name: orders
    description: every order
    event_pattern: {{"source": ["shop"], "detail-type": ["Order"]}}
    targets:
      - {{id: book, kind: file, path: "{book}", input_path: $.detail, dead_letter: dlq}}
  - name: refunds
    event_pattern: {{"source": ["shop"], "detail-type": ["Refund"]}}
    targets:
      - {{id: ledger, kind: file, path: "{ledger}"}}
  - name: paused
    state: DISABLED
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: never, kind: stdout}}
"#,
        book = dir.join("book.ndjson").display(),
        ledger = dir.join("ledger.ndjson").display(),
    );
    start(dir, &rules, "")
}

fn event(kind: &str, n: u32) -> String {
    json!({"source": "shop", "detail-type": kind, "detail": {"n": n}}).to_string()
}

fn get_rules(b: &Busbar) -> Value {
    let (status, body) = support::http(&b.admin, "GET", "/rules", &[], b"").unwrap();
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn admin_rules_lists_rules_state_targets_and_counts() {
    let dir = support::temp_dir("ops-rules");
    let (b, ingest) = start_two_rules(&dir);
    send(
        &ingest,
        &[event("Order", 1), event("Order", 2), event("Refund", 3)],
    );
    support::wait_until(Duration::from_secs(10), "3 deliveries", || {
        get_rules(&b)["rules"][0]["targets"][0]["delivered"] == 2
            && get_rules(&b)["rules"][1]["targets"][0]["delivered"] == 1
    });
    let v = get_rules(&b);
    assert_eq!(v["bus"]["name"], "default");
    let orders = &v["rules"][0];
    assert_eq!(orders["name"], "orders");
    assert_eq!(orders["state"], "ENABLED");
    assert_eq!(orders["description"], "every order");
    assert_eq!(
        orders["arn"],
        "arn:aws:events:eu-west-1:123456789012:rule/orders"
    );
    assert_eq!(
        orders["event_pattern"],
        json!({"source": ["shop"], "detail-type": ["Order"]})
    );
    assert_eq!(orders["matched"], 2);
    assert_eq!(orders["taps"], 0);
    let t = &orders["targets"][0];
    assert_eq!(t["id"], "book");
    assert_eq!(t["kind"], "file");
    assert_eq!(t["dead_letter"], "dlq");
    assert_eq!(
        (&t["failed_attempts"], &t["dead_lettered"], &t["dropped"]),
        (&json!(0), &json!(0), &json!(0))
    );
    assert_eq!(v["rules"][1]["matched"], 1);
    assert_eq!(v["rules"][2]["state"], "DISABLED");
    assert_eq!(v["rules"][2]["matched"], 0);
}

#[test]
fn aws_tools_can_look_at_the_loaded_rules() {
    need!(support::python(), "Python with boto3");
    let dir = support::temp_dir("ops-aws");
    let (b, ingest) = start_two_rules(&dir);
    let endpoint = format!("http://{ingest}");
    let out = support::run_client(
        "eventbridge_client.py",
        &["describe", "--endpoint", &endpoint, "--region", "eu-west-1"],
        b"",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: {stdout}\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            b.stderr()
        )
    });
    let names: Vec<&str> = v["Rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["orders", "refunds", "paused"], "paged one by one");
    // JSON text, as AWS gives it.
    let pattern: Value =
        serde_json::from_str(v["Rules"][0]["EventPattern"].as_str().unwrap()).unwrap();
    assert_eq!(
        pattern,
        json!({"source": ["shop"], "detail-type": ["Order"]})
    );
    assert_eq!(v["Rules"][2]["State"], "DISABLED");
    assert_eq!(v["Described"]["orders"]["Description"], "every order");
    assert_eq!(v["Described"]["orders"]["EventBusName"], "default");
    assert_eq!(v["Targets"]["orders"][0]["Id"], "book");
    assert_eq!(v["Targets"]["orders"][0]["InputPath"], "$.detail");
    assert_eq!(v["Prefixed"], json!(["orders"]));
    assert_eq!(
        v["EventBuses"],
        json!([{"Name": "default", "Arn": "arn:aws:events:eu-west-1:123456789012:event-bus/default"}])
    );
    assert_eq!(v["EventBus"]["Name"], "default");
    assert_eq!(v["PutRule"]["Code"], "OperationDisabledException");
    assert!(
        v["PutRule"]["Message"]
            .as_str()
            .unwrap()
            .contains("configured by file"),
        "{v}"
    );

    // The AWS CLI, where the machine has one that runs.
    let has_cli = std::process::Command::new("aws")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cli {
        eprintln!("skipped the AWS CLI part: no working `aws` on PATH");
        return;
    }
    let aws = std::process::Command::new("aws")
        .args([
            "events",
            "list-targets-by-rule",
            "--rule",
            "refunds",
            "--endpoint-url",
            &endpoint,
            "--region",
            "eu-west-1",
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output();
    match aws {
        Ok(o) if o.status.success() => {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["Targets"][0]["Id"], "ledger", "{v}");
        }
        Ok(o) => panic!(
            "aws events list-targets-by-rule failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => eprintln!("skipped the AWS CLI part: {e}"),
    }
}

/// `busbar tap` as a child process, its stdout piped.
fn tap(b: &Busbar, rule: &str, limit: Option<u32>) -> std::process::Child {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_busbar"));
    cmd.args(["tap", "--rule", rule, "--admin", &b.admin]);
    if let Some(n) = limit {
        cmd.args(["--limit", &n.to_string()]);
    }
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn taps_of(b: &Busbar, rule: usize) -> Value {
    get_rules(b)["rules"][rule]["taps"].clone()
}

#[test]
fn tap_streams_exactly_what_the_rule_matches_and_detaches() {
    let dir = support::temp_dir("ops-tap");
    let (b, ingest) = start_two_rules(&dir);
    let child = tap(&b, "orders", Some(3));
    support::wait_until(Duration::from_secs(10), "the tap attached", || {
        taps_of(&b, 0) == 1
    });
    // Interleaved: 3 orders among refunds, in two requests.
    send(
        &ingest,
        &[
            event("Refund", 1),
            event("Order", 2),
            event("Refund", 3),
            event("Order", 4),
        ],
    );
    send(
        &ingest,
        &[event("Refund", 5), event("Order", 6), event("Order", 7)],
    );
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ns: Vec<u64> = lines
        .iter()
        .map(|e| e["detail"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, [2, 4, 6], "the limit of 3, orders only, in order");
    assert!(lines
        .iter()
        .all(|e| e["detail-type"] == "Order" && e["id"].is_string()));
    // The server stopped copying for it.
    support::wait_until(Duration::from_secs(5), "the tap detached", || {
        taps_of(&b, 0) == 0
    });

    // A client that goes away without a limit is noticed too.
    let mut child = tap(&b, "refunds", None);
    support::wait_until(Duration::from_secs(10), "the second tap attached", || {
        taps_of(&b, 1) == 1
    });
    child.kill().unwrap();
    let _ = child.wait();
    support::wait_until(Duration::from_secs(5), "the killed tap detached", || {
        taps_of(&b, 1) == 0
    });

    // A rule that is not loaded, or disabled, is refused with the reason.
    let out = tap(&b, "nope", Some(1)).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rule `nope` is loaded"));
    let out = tap(&b, "paused", Some(1)).wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("DISABLED"));
}

#[test]
fn rules_and_list_rules_follow_a_reload() {
    let dir = support::temp_dir("ops-reload");
    let (b, ingest) = start_two_rules(&dir);
    let path = dir.join("busbar.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let changed = text.replace("name: paused", "name: held");
    std::fs::write(&path, changed).unwrap();
    b.signal("HUP");
    support::wait_until(Duration::from_secs(10), "the reload shows", || {
        get_rules(&b)["rules"][2]["name"] == "held"
    });
    let (status, body) = support::http(
        &ingest,
        "POST",
        "/",
        &[
            ("X-Amz-Target", "AWSEvents.ListRules"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        br#"{"NamePrefix":"he"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["Rules"][0]["Name"], "held", "{v}");
    assert_eq!(v["Rules"].as_array().unwrap().len(), 1, "{v}");
}

#[test]
fn a_broker_that_comes_back_is_logged_once_down_and_once_back() {
    use support::kafka::{create, OwnBroker};
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let tansu = need!(
        OwnBroker::binary(),
        "tansu binary (BUSBAR_TEST_TANSU, or ~/.cargo/bin/tansu from .ci/run)"
    );
    let dir = support::temp_dir("ops-broker-back");
    let mut broker = OwnBroker::start(&tansu, &dir);
    let bs = broker.bootstrap.clone();
    create(&bs, 1, &["out"]);
    let rules = r#"
  - name: to-kafka
    event_pattern: {"source": ["shop"]}
    targets:
      - {id: k, kind: kafka, topic: out, dead_letter: dlq}
"#;
    let (b, ingest) = start(
        &dir,
        rules,
        &format!("kafka: {{brokers: \"{bs}\", producer_stall_seconds: 5}}"),
    );
    send(&ingest, &[event("Order", 1)]);
    let delivered = |n: f64| {
        support::sample(
            &b.metrics(),
            "busbar_deliveries_total{rule=\"to-kafka\",target=\"k\"}",
        ) == Some(n)
    };
    support::wait_until(Duration::from_secs(20), "first delivery", || delivered(1.0));
    broker.restart(Duration::from_secs(4));
    create(&bs, 1, &["out"]);
    send(&ingest, &[event("Order", 2)]);
    support::wait_until(
        Duration::from_secs(60),
        "delivery after the restart",
        || delivered(2.0),
    );
    support::wait_until(Duration::from_secs(10), "the recovery line", || {
        b.stderr().contains("kafka brokers reachable again")
    });
    let err = b.stderr();
    let down = lines_with(&err, "kafka brokers unreachable");
    assert!(
        (1..=3).contains(&down.len()),
        "a line per change of kind:\n{err}"
    );
    assert_eq!(
        lines_with(&err, "kafka brokers reachable again").len(),
        1,
        "{err}"
    );
    assert!(
        lines_with(&err, "kafka brokers").len() <= 6,
        "no line per attempt:\n{err}"
    );
}
