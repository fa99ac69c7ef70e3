//! `busbar run` in a consumer group against the real broker: two processes
//! split the partitions and one stopping hands its partitions over without
//! loss; a blocked target stops consumption instead of growing memory; a
//! target that cannot deliver dead-letters to a Kafka topic with the
//! reason in headers. Broker settings as in tests/kafka_bridge.rs.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::time::{Duration, Instant};

use support::kafka::{consume, create, events_range, ids_on, produce, produce_to};

fn prefix(test: &str) -> String {
    format!("g{}-{test}", std::process::id())
}

fn deliveries(b: &support::Busbar, rule: &str, target: &str) -> f64 {
    support::sample(
        &b.metrics(),
        &format!("busbar_deliveries_total{{rule=\"{rule}\",target=\"{target}\"}}"),
    )
    .unwrap_or(0.0)
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < within, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn group_config(p: &str) -> String {
    format!(
        r#"
bus: {{account: "111122223333", region: eu-west-1}}
sources:
  - {{id: in, kind: kafka, topics: [{p}.in], group_id: {p}-g}}
rules:
  - name: all
    event_pattern: {{"source": [{{"prefix": ""}}]}}
    targets: [{{id: out, kind: kafka, topic: {p}.out, key: source}}]
kafka:
  consumer: {{fetch.wait.max.ms: "10", session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}}
admin: {{listen: "127.0.0.1:0"}}
shutdown_grace_seconds: 10
"#
    )
}

#[test]
fn two_processes_split_the_partitions_and_a_stopped_one_hands_over_without_loss() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let p = prefix("split");
    create(&bootstrap, 4, &[&format!("{p}.in")]);
    create(&bootstrap, 1, &[&format!("{p}.out")]);
    let cfg = group_config(&p);
    let env = [("BUSBAR_BROKERS", bootstrap.as_str())];
    let mut a = support::Busbar::start(
        &support::temp_dir("split-a"),
        &cfg,
        support::free_port(),
        &env,
    );
    a.wait_ready(Duration::from_secs(30));
    let mut b = support::Busbar::start(
        &support::temp_dir("split-b"),
        &cfg,
        support::free_port(),
        &env,
    );
    b.wait_ready(Duration::from_secs(30));
    // Let the rebalance that B's join started settle (classic protocol on tansu: seconds).
    std::thread::sleep(Duration::from_secs(6));

    produce(&bootstrap, &format!("{p}.in"), &events_range(0..2000), &[]);
    wait_until("2000 deliveries", Duration::from_secs(60), || {
        deliveries(&a, "all", "out") + deliveries(&b, "all", "out") >= 2000.0
    });
    let (da, db) = (deliveries(&a, "all", "out"), deliveries(&b, "all", "out"));
    assert!(da > 0.0 && db > 0.0, "both members work: a={da} b={db}");

    // Stop A while more events arrive; B takes its partitions over.
    let bs = bootstrap.clone();
    let topic = format!("{p}.in");
    let producer = std::thread::spawn(move || produce(&bs, &topic, &events_range(2000..5000), &[]));
    std::thread::sleep(Duration::from_millis(300));
    let st = a.stop();
    assert!(st.success(), "{}", a.stderr());
    producer.join().unwrap();
    // Exactly 5000 expected (no duplicates after a clean hand-over): read
    // 5000, then make sure nothing more follows.
    let mut seen = std::collections::HashMap::new();
    for m in consume(&bootstrap, &format!("{p}.out"), 5000, 90) {
        let v: serde_json::Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
        *seen
            .entry(v["id"].as_str().unwrap().to_string())
            .or_insert(0usize) += 1;
    }
    let all = ids_on(&bootstrap, &format!("{p}.out"), 5000, 3);
    assert_eq!(
        all.values().sum::<usize>(),
        5000,
        "no more than 5000 records"
    );
    let missing: Vec<usize> = (0..5000)
        .filter(|i| !seen.contains_key(&format!("ev-{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // A drained and committed before leaving: no event is delivered twice.
    let dups: usize = seen.values().filter(|c| **c > 1).count();
    assert_eq!(dups, 0, "duplicates after a clean hand-over");
    assert!(b.stop().success());
}

#[test]
fn a_blocked_target_stops_consumption_and_loses_nothing() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let held = http_server::Server::start(|_| http_server::Reply::Held);
    let p = prefix("pause");
    create(&bootstrap, 2, &[&format!("{p}.in")]);
    // Partition 0 holds ev-0..300, partition 1 ev-300..600, each in order,
    // in multi-record batches: stopping and resuming consumption must not
    // skip the rest of a batch (it did when partitions were `pause`d, with
    // tansu serving fetches only from batch starts).
    produce_to(&bootstrap, &format!("{p}.in"), 0, &events_range(0..300));
    produce_to(&bootstrap, &format!("{p}.in"), 1, &events_range(300..600));
    let cfg = format!(
        r#"
sources:
  - {{id: in, kind: kafka, topics: [{p}.in], group_id: {p}-g}}
rules:
  - name: slow
    event_pattern: {{"source": ["load"]}}
    targets: [{{id: held, kind: http, url: "{}", timeout_seconds: 60, max_concurrency: 1}}]
kafka:
  consumer: {{fetch.wait.max.ms: "10", statistics.interval.ms: "200"}}
limits: {{max_in_flight_events: 50}}
admin: {{listen: "127.0.0.1:0"}}
"#,
        held.url("/in")
    );
    let mut b = support::Busbar::start(
        &support::temp_dir("pause"),
        &cfg,
        support::free_port(),
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b.wait_ready(Duration::from_secs(30));
    wait_until("the pipeline to fill", Duration::from_secs(30), || {
        let m = b.metrics();
        support::sample(&m, "busbar_in_flight_events").unwrap_or(0.0) >= 1.0
            && support::sample(&m, "busbar_backpressure_total{source=\"in\"}").unwrap_or(0.0) >= 1.0
    });
    std::thread::sleep(Duration::from_secs(2));
    let m = b.metrics();
    let in_flight = support::sample(&m, "busbar_in_flight_events").unwrap();
    let received = support::sample(&m, "busbar_events_received_total{source=\"in\"}").unwrap();
    assert!(in_flight <= 50.0, "in flight {in_flight} over the limit");
    assert!(
        received <= 50.0 + 1024.0,
        "intake stopped: {received} received of 600"
    );
    assert_eq!(
        held.count(),
        1,
        "one request at a time (max_concurrency 1), held"
    );

    held.release();
    wait_until("all 600 delivered", Duration::from_secs(60), || {
        deliveries(&b, "slow", "held") >= 600.0
    });
    let order: Vec<usize> = held
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap()[3..].parse().unwrap())
        .collect();
    let ids: std::collections::HashSet<usize> = order.iter().copied().collect();
    assert_eq!(ids.len(), 600);
    // Each partition's events reached the target in partition order.
    for part in [0..300, 300..600] {
        let seq: Vec<usize> = order.iter().copied().filter(|i| part.contains(i)).collect();
        assert!(
            seq.windows(2).all(|w| w[0] < w[1]),
            "out of order in {part:?}: {seq:?}"
        );
    }
    assert!(b.stop().success());
}

#[test]
fn undeliverable_events_reach_a_kafka_dead_letter_topic_with_the_reason_in_headers() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let p = prefix("dlq");
    create(&bootstrap, 1, &[&format!("{p}.in"), &format!("{p}.dlq")]);
    produce(
        &bootstrap,
        &format!("{p}.in"),
        &events_range(0..3),
        &["trace=t1"],
    );
    let dead_port = support::free_port();
    let cfg = format!(
        r#"
bus: {{name: orders, account: "111122223333", region: eu-west-1}}
sources:
  - {{id: in, kind: kafka, topics: [{p}.in], group_id: {p}-g}}
rules:
  - name: to-nowhere
    event_pattern: {{"source": ["load"]}}
    targets:
      - id: api
        kind: http
        url: "http://127.0.0.1:{dead_port}/x"
        retry: {{maximum_retry_attempts: 1, maximum_event_age_seconds: 60}}
        dead_letter: dlq
dead_letters:
  dlq: {{kind: kafka, topic: {p}.dlq}}
kafka:
  consumer: {{fetch.wait.max.ms: "10"}}
admin: {{listen: "127.0.0.1:0"}}
"#
    );
    let mut b = support::Busbar::start(
        &support::temp_dir("dlq"),
        &cfg,
        support::free_port(),
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b.wait_ready(Duration::from_secs(30));
    let got = consume(&bootstrap, &format!("{p}.dlq"), 3, 60);
    for m in &got {
        let h = &m["headers"];
        let env: serde_json::Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
        assert_eq!(h["STAGE"], "target", "{m}");
        assert_eq!(h["RULE_NAME"], "to-nowhere");
        assert_eq!(
            h["RULE_ARN"],
            "arn:aws:events:eu-west-1:111122223333:rule/orders/to-nowhere"
        );
        assert_eq!(h["TARGET_ID"], "api");
        assert_eq!(h["ERROR_CODE"], "CONNECTION_FAILURE");
        assert_eq!(h["EXHAUSTED_RETRY_CONDITION"], "MaximumRetryAttempts");
        assert_eq!(h["RETRY_ATTEMPTS"], "1", "retries, not attempts");
        assert_eq!(h["EVENT_ID"], env["id"]);
        assert_eq!(h["trace"], "t1", "source headers kept");
        assert!(
            m["key"].as_str().unwrap().starts_with('k'),
            "source key kept"
        );
    }
    let m = b.metrics();
    assert_eq!(
        support::sample(
            &m,
            "busbar_dead_letters_total{reason=\"CONNECTION_FAILURE\",rule=\"to-nowhere\",stage=\"target\",target=\"api\"}"
        ),
        Some(3.0),
        "{m}"
    );
    assert!(b.stop().success());
}
