//! One target that fails stops nobody else: an HTTP target whose endpoint
//! never answers keeps copies of its own deliveries in a bounded backlog,
//! so the other targets keep receiving and HTTP ingest keeps accepting,
//! with an in-flight budget far smaller than the events sent. Each test
//! counts ids at every end: the healthy target's file, the failing
//! target's endpoint once it answers, and the dead-letter file.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use http_server::{Reply, Server};
use serde_json::{json, Value};
use support::Busbar;

fn envelope(id: &str) -> String {
    json!({"id": id, "source": "shop", "detail-type": "Order", "detail": {"n": id}}).to_string()
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("ev-{i:05}")).collect()
}

/// The ids in a file of JSON lines (envelopes, or dead letters' events).
fn file_ids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let v = if v.get("event").is_some() {
                v["event"].clone()
            } else {
                v
            };
            v["id"].as_str().expect("id").to_string()
        })
        .collect()
}

/// HTTP ingest, one rule with a failing http target `hook` (timeout 1 s)
/// and a file target `copy`; an in-flight budget of 100 events.
fn config(port: u16, url: &str, out: &Path, dlq: &Path, backlog: usize) -> String {
    format!(
        r#"
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:{port}"}}
rules:
  - name: orders
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}", timeout_seconds: 1, dead_letter: dlq}}
      - {{id: copy, kind: file, path: "{out}"}}
dead_letters:
  dlq: {{kind: file, path: "{dlq}"}}
limits:
  max_in_flight_events: 100
  max_backlog_events: {backlog}
watch_config: false
shutdown_grace_seconds: 1
"#,
        out = out.display(),
        dlq = dlq.display(),
    )
}

/// POST `all` in requests of 20, as an SDK does: a throttled request (429)
/// is sent again after 50 ms. Gives up once nothing was accepted for
/// `patience`. Returns the ids accepted (200) and the 429s seen.
fn send(port: u16, all: &[String], patience: Duration) -> (Vec<String>, usize) {
    let ingest = format!("127.0.0.1:{port}");
    let mut accepted = Vec::new();
    let mut throttled = 0;
    let mut last = Instant::now();
    for chunk in all.chunks(20) {
        let body: Vec<String> = chunk.iter().map(|id| envelope(id)).collect();
        loop {
            let (status, resp) =
                support::http(&ingest, "POST", "/events", &[], body.join("\n").as_bytes())
                    .expect("ingest answers");
            match status {
                200 => {
                    accepted.extend(chunk.iter().cloned());
                    last = Instant::now();
                    break;
                }
                429 if last.elapsed() < patience => {
                    throttled += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                429 => return (accepted, throttled + 1),
                s => panic!("status {s}: {}", String::from_utf8_lossy(&resp)),
            }
        }
    }
    (accepted, throttled)
}

fn backlog(busbar: &Busbar) -> f64 {
    support::sample(
        &busbar.metrics(),
        r#"busbar_target_backlog_events{rule="orders",target="hook"}"#,
    )
    .unwrap_or(-1.0)
}

#[test]
fn a_target_that_never_answers_stops_no_other_target_and_catches_up() {
    let dir = support::temp_dir("isolation-catch-up");
    let server = Server::start(|_| Reply::Held);
    let port = support::free_port();
    let (out, dlq) = (dir.join("out.ndjson"), dir.join("dlq.ndjson"));
    let cfg = config(port, &server.url("/hook"), &out, &dlq, 10_000);
    let mut busbar = Busbar::start(&dir, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));

    // Ten times the in-flight budget, while `hook` answers nothing. Until
    // its first attempt times out (1 s) it is not known to fail, and ingest
    // may throttle; after that, not any more.
    let all = ids(1_000);
    let t = Instant::now();
    let (accepted, throttled) = send(port, &all, Duration::from_secs(10));
    assert_eq!(accepted.len(), 1_000, "{throttled} throttled");
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "{:?}, {throttled} throttled",
        t.elapsed()
    );
    support::wait_until(Duration::from_secs(30), "copy received every id", || {
        file_ids(&out).len() >= 1_000
    });
    let copied = file_ids(&out);
    assert_eq!(
        copied.iter().collect::<BTreeSet<_>>(),
        all.iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(copied.len(), 1_000, "once each");
    // Every hook delivery waits in the backlog (the one being tried aside).
    support::wait_until(Duration::from_secs(10), "backlog holds the rest", || {
        backlog(&busbar) >= 999.0
    });
    let m = busbar.metrics();
    assert!(
        support::sample(&m, "busbar_in_flight_events").unwrap() <= 100.0,
        "{m}"
    );

    // The endpoint comes back: the backlog drains, every id delivered.
    server.release();
    let delivered = || {
        support::sample(
            &busbar.metrics(),
            r#"busbar_deliveries_total{rule="orders",target="hook"}"#,
        )
    };
    support::wait_until(Duration::from_secs(60), "every id delivered", || {
        delivered() == Some(1_000.0)
    });
    assert_eq!(backlog(&busbar), 0.0);
    let got: BTreeSet<String> = server
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(got, all.iter().cloned().collect::<BTreeSet<_>>());
    let status = busbar.stop();
    assert_eq!(status.code(), Some(0), "{}", busbar.stderr());
    assert!(file_ids(&dlq).is_empty(), "nothing dead-lettered");
}

#[test]
fn a_failing_backlog_is_dead_lettered_at_shutdown_and_a_full_one_throttles() {
    let dir = support::temp_dir("isolation-full");
    let server = Server::start(|_| Reply::Held);
    let port = support::free_port();
    let (out, dlq) = (dir.join("out.ndjson"), dir.join("dlq.ndjson"));
    // A backlog of 300: past it (and the in-flight budget of 100 behind
    // it) the failing target slows its source again.
    let cfg = config(port, &server.url("/hook"), &out, &dlq, 300);
    let mut busbar = Busbar::start(&dir, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));
    let all = ids(1_000);
    let (accepted, throttled) = send(port, &all, Duration::from_secs(3));
    assert!(throttled > 0, "a full backlog throttles ingest");
    assert!(
        (300..=500).contains(&accepted.len()),
        "backlog 300 + in-flight 100 (+ one request's slack): {}",
        accepted.len()
    );
    support::wait_until(
        Duration::from_secs(30),
        "copy received the accepted ids",
        || file_ids(&out).len() >= accepted.len(),
    );
    assert!(backlog(&busbar) <= 300.0);

    let status = busbar.stop();
    let stderr = busbar.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let accepted: BTreeSet<String> = accepted.into_iter().collect();
    let copied = file_ids(&out);
    assert_eq!(copied.len(), accepted.len(), "copy: once each");
    assert_eq!(copied.into_iter().collect::<BTreeSet<_>>(), accepted);
    // Nothing reached hook (it never answered), so every accepted id is in
    // its dead letter, once, with the shutdown reason.
    let dead = file_ids(&dlq);
    assert_eq!(dead.len(), accepted.len(), "{stderr}");
    assert_eq!(dead.into_iter().collect::<BTreeSet<_>>(), accepted);
    for l in std::fs::read_to_string(&dlq).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["error_code"], "SHUTDOWN", "{v}");
    }
}

#[test]
fn a_kafka_source_flows_past_a_failing_target_and_commits_nothing_past_it() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let p = format!("iso{}-kafka", std::process::id());
    let topic = format!("{p}.in");
    support::kafka::create(&bootstrap, 1, &[&topic]);
    // One record per batch: tansu's memory engine serves a fetch only from
    // batch starts, and the next process resumes from the committed offset.
    support::kafka::produce(&bootstrap, &topic, &support::kafka::events(300), &[]);
    let dir = support::temp_dir("isolation-kafka");
    let out = dir.join("out.ndjson");
    let config = |url: &str| {
        format!(
            r#"
sources:
  - {{id: in, kind: kafka, topics: [{topic}], group_id: {p}-g}}
rules:
  - name: all
    event_pattern: {{"source": ["load"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}", timeout_seconds: 1}}
      - {{id: copy, kind: file, path: "{out}"}}
kafka:
  brokers: "{bootstrap}"
  consumer: {{fetch.wait.max.ms: "10", session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}}
limits:
  max_in_flight_events: 50
admin: {{listen: "127.0.0.1:0"}}
watch_config: false
shutdown_grace_seconds: 1
"#,
            out = out.display()
        )
    };
    // Six times the in-flight budget, while `hook` answers nothing: the
    // file target gets every record all the same.
    let held = Server::start(|_| Reply::Held);
    let mut busbar = Busbar::start(&dir, &config(&held.url("/x")), support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(30));
    let want: BTreeSet<String> = (0..300).map(|i| format!("ev-{i}")).collect();
    support::wait_until(Duration::from_secs(60), "copy received all 300", || {
        file_ids(&out).into_iter().collect::<BTreeSet<_>>() == want
    });
    // Nothing is committed past the first record `hook` has not taken.
    std::thread::sleep(Duration::from_secs(2));
    let committed = support::kafka::committed(&bootstrap, &format!("{p}-g"), &topic);
    assert!(
        committed.get(&0).copied().unwrap_or(-1) <= 0,
        "committed past an undelivered record: {committed:?}"
    );
    let status = busbar.stop();
    let stderr = busbar.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("left_for_redelivery=300"), "{stderr}");
    held.release();

    // The next process of the group delivers every record to `hook`.
    let ok = Server::start(|_| Reply::Status(200, Vec::new()));
    let dir = support::temp_dir("isolation-kafka-2");
    let mut busbar = Busbar::start(&dir, &config(&ok.url("/x")), support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(30));
    ok.wait_for(300, Duration::from_secs(60));
    let got: BTreeSet<String> = ok
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(got, want);
    assert_eq!(busbar.stop().code(), Some(0), "{}", busbar.stderr());
}
