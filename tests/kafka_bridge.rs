//! `busbar run` as a Kafka bridge against a real Kafka-protocol broker
//! (tansu, started by `.ci/run`; see ../shared notes in tests/clients/README.md).
//! Events are produced and read back by an outside client (confluent-kafka).
//!
//! Broker settings these tests depend on, and why:
//! - producers of input topics send one record per batch (`--one-per-batch`):
//!   tansu's memory engine only serves batches that start at or after the
//!   fetch offset, so a group resuming mid-batch would skip records;
//! - busbar's consumer gets `fetch.wait.max.ms: 10`: tansu holds every fetch
//!   for that long even when data waits (librdkafka's default is 500 ms);
//! - topics are created up front (tansu does not auto-create them).

mod support;

use support::kafka::{committed, consume, create, events, ids_on, positions, produce};

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;

fn topics_for(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// The bundled bridge configuration with this test's topic names and the
/// broker settings the tests need.
fn bridge_config(prefix: &str, group: &str) -> String {
    let base = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/bridge.yaml"),
    )
    .unwrap();
    base.replace("busbar.in", &format!("{prefix}.in"))
        .replace("busbar.out.", &format!("{prefix}.out."))
        .replace("busbar.dlq", &format!("{prefix}.dlq"))
        .replace("group_id: busbar ", &format!("group_id: {group} "))
        .replace(
            "  consumer: {}",
            "  consumer: {fetch.wait.max.ms: \"10\", statistics.interval.ms: \"200\"}",
        )
        .replace(
            "admin:\n  listen: 127.0.0.1:9464",
            "admin:\n  listen: 127.0.0.1:0",
        )
}

#[test]
fn bridge_routes_to_topics_with_keys_headers_and_dead_letters() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let p = topics_for("bridge");
    let (input, archive, orders, big, dlq) = (
        format!("{p}.in"),
        format!("{p}.out.archive"),
        format!("{p}.out.orders"),
        format!("{p}.out.big-orders"),
        format!("{p}.dlq"),
    );
    create(&bootstrap, 3, &[&input]);
    create(&bootstrap, 1, &[&archive, &orders, &big, &dlq]);

    let events = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example-events.ndjson"),
    )
    .unwrap();
    let mut lines = String::new();
    for (i, l) in events.lines().enumerate() {
        // Trailing whitespace after an event is not part of it: envelopes
        // still pass through byte for byte (below), without it.
        let pad = if l.starts_with('{') { " \t " } else { "" };
        lines.push_str(&format!("key-{i}\t{l}{pad}\n"));
    }
    // A raw object (becomes an envelope's detail) and a record without a key.
    lines.push_str("key-raw\t{\"order-id\":\"o-9\"}\n");
    produce(&bootstrap, &input, &lines, &["trace=abc", "tenant=t1"]);

    let dir = support::temp_dir("bridge");
    let admin = support::free_port();
    let mut b = support::Busbar::start(
        &dir,
        &bridge_config(&p, &format!("{p}-g")),
        admin,
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b.wait_ready(Duration::from_secs(30));

    let valid = events.lines().filter(|l| l.starts_with('{')).count();
    let got = consume(&bootstrap, &archive, valid + 1, 60);
    let mut ids = HashSet::new();
    for m in &got {
        let env: Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
        let h = &m["headers"];
        assert_eq!(h["trace"], "abc", "{m}");
        assert_eq!(h["tenant"], "t1", "{m}");
        assert_eq!(h["busbar-rule"], "archive", "{m}");
        assert_eq!(h["busbar-event-id"], env["id"], "{m}");
        assert!(
            m["key"].as_str().unwrap().starts_with("key-"),
            "source key kept: {m}"
        );
        ids.insert(env["id"].as_str().unwrap().to_string());
        if m["key"] == "key-raw" {
            assert_eq!(env["source"], "busbar.in");
            assert_eq!(env["detail"]["order-id"], "o-9");
        } else {
            // Envelopes pass through byte for byte.
            let k: usize = m["key"].as_str().unwrap()[4..].parse().unwrap();
            assert_eq!(m["value"].as_str().unwrap(), events.lines().nth(k).unwrap());
        }
    }
    assert_eq!(ids.len(), valid + 1);

    let shop = events
        .lines()
        .filter(|l| l.contains("\"shop.orders\""))
        .count();
    let got = consume(&bootstrap, &orders, shop, 30);
    for m in &got {
        let env: Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
        assert_eq!(
            m["key"], env["detail"]["order-id"],
            "key from $.detail.order-id: {m}"
        );
    }
    let got = consume(&bootstrap, &big, 1, 30);
    assert_eq!(got[0]["value"], r#"{"order": "o-1", "total": 1250.5}"#);
    assert!(
        ids.contains(got[0]["key"].as_str().unwrap()),
        "key is the event id"
    );

    let got = consume(&bootstrap, &dlq, 1, 30);
    let h = &got[0]["headers"];
    assert_eq!(h["STAGE"], "source");
    assert_eq!(h["ERROR_CODE"], "invalid_json");
    assert_eq!(h["SOURCE"], "in");
    assert_eq!(h["trace"], "abc");
    assert!(
        h["ERROR_MESSAGE"]
            .as_str()
            .unwrap()
            .contains("invalid event at byte 0"),
        "{h}"
    );
    assert_eq!(got[0]["value"], "this line is not an event");

    // Metrics, then a clean shutdown that commits.
    let m = b.metrics();
    assert_eq!(
        support::sample(&m, "busbar_events_received_total{source=\"in\"}"),
        Some((events.lines().count() + 1) as f64),
        "{m}"
    );
    assert_eq!(
        support::sample(&m, "busbar_events_matched_total{rule=\"archive\"}"),
        Some((valid + 1) as f64)
    );
    assert_eq!(
        support::sample(
            &m,
            "busbar_deliveries_total{rule=\"archive\",target=\"archive\"}"
        ),
        Some((valid + 1) as f64)
    );
    assert_eq!(
        support::sample(
            &m,
            "busbar_parse_failures_total{reason=\"invalid_json\",source=\"in\"}"
        ),
        Some(1.0)
    );
    assert_eq!(support::sample(&m, "busbar_in_flight_events"), Some(0.0));
    // Lag per partition comes from librdkafka's statistics (every 200 ms here).
    let t = std::time::Instant::now();
    loop {
        let m = b.metrics();
        let lag = format!(
            "busbar_consumer_lag_messages{{partition=\"0\",source=\"in\",topic=\"{input}\"}}"
        );
        if support::sample(&m, &lag) == Some(0.0) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "no lag of 0 for partition 0:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = b.stop();
    assert!(st.success(), "{st}: {}", b.stderr());

    // Restarted in the same group, nothing is delivered twice: all committed.
    let mut b2 = support::Busbar::start(
        &dir,
        &bridge_config(&p, &format!("{p}-g")),
        support::free_port(),
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b2.wait_ready(Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let m = b2.metrics();
    assert_eq!(
        support::sample(&m, "busbar_events_received_total{source=\"in\"}"),
        Some(0.0),
        "{m}"
    );
    assert!(b2.stop().success());
}

fn copy_config(prefix: &str) -> String {
    format!(
        r#"
bus: {{account: "111122223333", region: eu-west-1}}
sources:
  - {{id: in, kind: kafka, topics: [{prefix}.in], group_id: {prefix}-g, start: earliest}}
rules:
  - name: all
    event_pattern: {{"source": [{{"prefix": ""}}]}}
    targets:
      - {{id: out, kind: kafka, topic: {prefix}.out, key: source}}
kafka:
  # A killed member holds its partitions until its session times out:
  # keep that short so the restarted process takes over quickly.
  # Commits every 100 ms (busbar: every second), so that the kill below
  # falls after some commits and the tail it leaves is short.
  consumer: {{fetch.wait.max.ms: "10", session.timeout.ms: "6000", heartbeat.interval.ms: "1000",
             auto.commit.interval.ms: "100"}}
  # Paced (at most 100 events in flight, each produce batch lingering
  # 20 ms: a few thousand events a second) so that the kill reliably falls
  # mid-stream, after commits, however fast the machine.
  producer: {{linger.ms: "20"}}
limits: {{max_in_flight_events: 100}}
admin: {{listen: "127.0.0.1:0"}}
shutdown_grace_seconds: 10
"#
    )
}

/// At-least-once: kill -9 mid-stream, restart; every event id arrives.
#[test]
fn kill_9_mid_stream_loses_nothing() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let n: usize = std::env::var("BUSBAR_E2E_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let p = topics_for("kill9");
    create(&bootstrap, 3, &[&format!("{p}.in")]);
    create(&bootstrap, 3, &[&format!("{p}.out")]);
    produce(&bootstrap, &format!("{p}.in"), &events(n), &[]);

    let dir = support::temp_dir("kill9");
    let cfg = copy_config(&p);
    let mut b = support::Busbar::start(
        &dir,
        &cfg,
        support::free_port(),
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b.wait_ready(Duration::from_secs(30));
    // Kill once some, not all, have been delivered, and some committed.
    let group = format!("{p}-g");
    let input = format!("{p}.in");
    let t = std::time::Instant::now();
    loop {
        let m = b.metrics();
        let d = support::sample(&m, "busbar_deliveries_total{rule=\"all\",target=\"out\"}")
            .unwrap_or(0.0);
        assert!(
            d < n as f64,
            "all {n} delivered before a commit was seen: the kill would not be mid-stream"
        );
        if d >= (n / 4) as f64
            && committed(&bootstrap, &group, &input)
                .values()
                .any(|&o| o > 0)
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "too slow: {d} delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    b.signal("KILL");
    b.wait(Duration::from_secs(10));
    // What the dead process had committed: the restart starts there.
    let at_kill = committed(&bootstrap, &group, &input);
    assert!(
        at_kill.values().any(|&o| o > 0),
        "nothing committed before the kill ({at_kill:?}): the test proves nothing"
    );

    let mut b2 = support::Busbar::start(
        &dir,
        &cfg,
        support::free_port(),
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b2.wait_ready(Duration::from_secs(30));
    // Everything arrives; duplicates only from the uncommitted tail.
    // Wait until the restarted process has caught up, then read everything.
    let t = std::time::Instant::now();
    loop {
        let m = b2.metrics();
        let lag_free = support::sample(&m, "busbar_in_flight_events") == Some(0.0);
        let d = support::sample(&m, "busbar_deliveries_total{rule=\"all\",target=\"out\"}")
            .unwrap_or(0.0);
        if lag_free && d > 0.0 && t.elapsed() > Duration::from_secs(3) {
            let d2 = {
                std::thread::sleep(Duration::from_secs(2));
                support::sample(
                    &b2.metrics(),
                    "busbar_deliveries_total{rule=\"all\",target=\"out\"}",
                )
                .unwrap_or(0.0)
            };
            if d2 == d {
                break;
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(240),
            "restarted busbar did not catch up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let seen = ids_on(&bootstrap, &format!("{p}.out"), n, 20);
    let total: usize = seen.values().sum();
    let missing: Vec<usize> = (0..n)
        .filter(|i| !seen.contains_key(&format!("ev-{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} ids missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // Duplicates only from the uncommitted tail: an event before its
    // partition's committed offset came exactly once; one after it at most
    // twice (once from each process; the producer is idempotent).
    let at = positions(&bootstrap, &input, n, 60);
    let mut tail = 0;
    for (id, count) in &seen {
        let (part, offset) = at[id];
        let from = at_kill.get(&part).copied().unwrap_or(-1);
        if offset < from {
            assert_eq!(
                *count, 1,
                "{id} (partition {part}, offset {offset}, committed {from}) came {count} times"
            );
        } else {
            tail += 1;
            assert!(*count <= 2, "{id} came {count} times after one kill");
        }
    }
    eprintln!(
        "kill -9: {n} events, {} duplicates; committed at the kill {at_kill:?}, {tail} events after it",
        total.saturating_sub(n)
    );
    assert!(b2.stop().success(), "{}", b2.stderr());
}
