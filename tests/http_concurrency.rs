//! An `http` target's concurrency: up to `max_concurrency` requests in
//! flight, one at a time per `ordering.key`, the rate limit across all of
//! them, and a Kafka source that never commits past a delivery still in
//! flight while later ones complete. Every test runs the real binary
//! against a scripted endpoint and counts ids.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use http_server::{Reply, Server};
use serde_json::json;
use support::Busbar;

/// `busbar run` over stdin (`lines`) with one http target; returns once
/// stdin's end is reached and every event delivered.
fn run_stdin(url: &str, target_extra: &str, lines: &str) -> std::process::Output {
    let dir = support::temp_dir("http-concurrency");
    let config = format!(
        r#"
sources:
  - {{id: in, kind: stdin}}
rules:
  - name: all
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}"{target_extra}}}
admin: {{listen: "127.0.0.1:0"}}
watch_config: false
"#
    );
    let path = dir.join("busbar.yaml");
    std::fs::write(&path, config).unwrap();
    let out = support::busbar(
        &["run", "--config", path.to_str().unwrap()],
        lines.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn events(n: usize, keys: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"id": format!("ev-{i:04}"), "source": "shop", "detail-type": "T",
                   "detail": {"customer": format!("c{}", i % keys.max(1)), "i": i}})
            .to_string()
                + "\n"
        })
        .collect()
}

fn ids(server: &Server) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn max_concurrency_bounds_and_fills_the_requests_in_flight() {
    let server = Server::start(|_| Reply::Delay(Duration::from_millis(50)));
    let t = Instant::now();
    run_stdin(&server.url("/"), ", max_concurrency: 8", &events(200, 1));
    let took = t.elapsed();
    let got = ids(&server);
    assert_eq!(got.len(), 200, "once each");
    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 200);
    let peak = server.peak_concurrency();
    assert!((6..=8).contains(&peak), "peak {peak}");
    // 200 × 50 ms one at a time would be 10 s; 8 at a time about 1.3 s.
    assert!(took < Duration::from_secs(6), "{took:?}");
}

#[test]
fn max_concurrency_1_delivers_one_at_a_time_in_order() {
    let server = Server::start(|_| Reply::Delay(Duration::from_millis(5)));
    run_stdin(&server.url("/"), ", max_concurrency: 1", &events(40, 1));
    assert_eq!(server.peak_concurrency(), 1);
    let want: Vec<String> = (0..40).map(|i| format!("ev-{i:04}")).collect();
    assert_eq!(ids(&server), want);
}

#[test]
fn an_ordering_key_serialises_each_key_and_parallelises_the_rest() {
    let server = Server::start(|_| Reply::Delay(Duration::from_millis(20)));
    run_stdin(
        &server.url("/"),
        ", max_concurrency: 32, ordering: {key: $.detail.customer}",
        &events(120, 4),
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 120);
    let mut per_key: BTreeMap<String, Vec<(u64, Instant)>> = BTreeMap::new();
    for r in &reqs {
        let v = r.json();
        per_key
            .entry(v["detail"]["customer"].as_str().unwrap().to_string())
            .or_default()
            .push((v["detail"]["i"].as_u64().unwrap(), r.at));
    }
    assert_eq!(per_key.len(), 4);
    for (key, seen) in &per_key {
        let order: Vec<u64> = seen.iter().map(|(i, _)| *i).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "key {key}: in source order");
        for w in seen.windows(2) {
            // The next of a key is sent only once the last was answered.
            assert!(
                w[1].1.duration_since(w[0].1) >= Duration::from_millis(19),
                "key {key}: {} and {} overlapped",
                w[0].0,
                w[1].0
            );
        }
    }
    let peak = server.peak_concurrency();
    assert!(
        (3..=4).contains(&peak),
        "four keys in parallel: peak {peak}"
    );
}

#[test]
fn the_rate_limit_holds_across_concurrent_requests() {
    let server = Server::start(|_| Reply::Status(200, Vec::new()));
    run_stdin(
        &server.url("/"),
        ", max_concurrency: 32, rate_limit_per_second: 20",
        &events(60, 1),
    );
    let reqs = server.requests();
    assert_eq!(reqs.len(), 60);
    // A burst of 20, then 20 a second: the last of 60 no sooner than 2 s in.
    let span = reqs.last().unwrap().at.duration_since(reqs[0].at);
    assert!(span >= Duration::from_millis(1900), "{span:?}");
    assert!(span < Duration::from_secs(4), "{span:?}");
}

#[test]
fn a_kafka_source_commits_nothing_past_a_delivery_still_in_flight() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let p = format!("conc{}-kafka", std::process::id());
    let topic = format!("{p}.in");
    support::kafka::create(&bootstrap, 1, &[&topic]);
    support::kafka::produce_to(&bootstrap, &topic, 0, &support::kafka::events(100));
    let config = |url: &str| {
        format!(
            r#"
sources:
  - {{id: in, kind: kafka, topics: [{topic}], group_id: {p}-g}}
rules:
  - name: all
    event_pattern: {{"source": ["load"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}", timeout_seconds: 60, max_concurrency: 32}}
kafka:
  brokers: "{bootstrap}"
  consumer: {{fetch.wait.max.ms: "10", session.timeout.ms: "6000", heartbeat.interval.ms: "1000"}}
admin: {{listen: "127.0.0.1:0"}}
watch_config: false
shutdown_grace_seconds: 1
"#
        )
    };
    // The first request is answered only at the end; the other 99 at once,
    // so deliveries complete out of order around a gap at offset 0.
    let server = Server::start(|n| {
        if n == 0 {
            Reply::Held
        } else {
            Reply::Status(200, Vec::new())
        }
    });
    let dir = support::temp_dir("concurrency-kafka");
    let mut busbar = Busbar::start(&dir, &config(&server.url("/")), support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(30));
    server.wait_for(100, Duration::from_secs(60));
    let first = server.requests()[0].json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(first, "ev-0", "the held request is the first record's");
    std::thread::sleep(Duration::from_secs(2));
    let committed = support::kafka::committed(&bootstrap, &format!("{p}-g"), &topic);
    assert!(
        committed.get(&0).copied().unwrap_or(-1) <= 0,
        "committed past the delivery in flight: {committed:?}"
    );
    let status = busbar.stop();
    assert_eq!(status.code(), Some(0), "{}", busbar.stderr());
    server.release();

    // The next process starts at offset 0: the held record comes again.
    let ok = Server::start(|_| Reply::Status(200, Vec::new()));
    let dir = support::temp_dir("concurrency-kafka-2");
    let mut busbar = Busbar::start(&dir, &config(&ok.url("/")), support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(30));
    ok.wait_for(1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(1));
    assert!(ids(&ok).contains(&"ev-0".to_string()), "{:?}", ids(&ok));
    assert_eq!(busbar.stop().code(), Some(0), "{}", busbar.stderr());
}
