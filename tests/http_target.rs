//! `busbar run` delivering to `http` targets over real loopback HTTP: a
//! scripted server in the test (tests/support/http_server.rs) fails,
//! throttles, stalls or accepts, and the tests check what arrived (method,
//! path, headers, body), how often, how fast, what was dead-lettered and what
//! the metrics counted. Events come in through an `http` source's
//! `POST /events`.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use http_server::{Reply, Server};
use serde_json::{json, Value};
use support::{sample, Busbar};

const RULE_ARN_PREFIX: &str = "arn:aws:events:eu-west-1:123456789012:rule/";

/// A busbar with an `http` source and the given rules (YAML list items,
/// indented by two spaces), a `file` dead letter `dlq` in `dir/dlq.ndjson`.
struct Run {
    busbar: Busbar,
    ingest: String,
}

fn start(dir: &Path, rules: &str) -> Run {
    let (busbar, ingest) = support::start_ingest(dir, rules, "", &[]);
    Run { busbar, ingest }
}

impl Run {
    /// POST NDJSON lines to `/events`; all must be accepted.
    fn send(&self, lines: &[String]) {
        let body = lines.join("\n");
        let (status, resp) =
            support::http(&self.ingest, "POST", "/events", &[], body.as_bytes()).expect("ingest");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        let v: Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(v, json!({ "Accepted": lines.len() }));
    }

    fn metric(&self, series: &str) -> Option<f64> {
        sample(&self.busbar.metrics(), series)
    }

    /// Wait until the metric reaches `want`; panics with the exposition.
    fn wait_metric(&self, series: &str, want: f64, within: Duration) {
        let t = Instant::now();
        loop {
            let m = self.busbar.metrics();
            if sample(&m, series) == Some(want) {
                return;
            }
            if t.elapsed() > within {
                panic!("{series} never reached {want} within {within:?}:\n{m}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Wait for `n` dead-letter lines.
    fn dead_letters(&self, n: usize, within: Duration) -> Vec<Value> {
        let path = self.busbar.dir.join("dlq.ndjson");
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("dead letter is JSON"))
                .collect();
            if lines.len() >= n {
                return lines;
            }
            if t.elapsed() > within {
                panic!(
                    "{} dead letters within {within:?}, wanted {n}: {text}\nstderr:\n{}",
                    lines.len(),
                    self.busbar.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An envelope line with a known id.
fn envelope(id: &str, detail: Value) -> String {
    json!({"id": id, "source": "shop", "detail-type": "Order", "detail": detail}).to_string()
}

const ID1: &str = "0f8c1d52-0d2e-4a53-9f6f-3c1b1f0e0001";
const ID2: &str = "0f8c1d52-0d2e-4a53-9f6f-3c1b1f0e0002";

#[test]
fn failures_are_retried_until_the_target_accepts_and_the_request_is_shaped_as_configured() {
    let dir = support::temp_dir("http-target-retry");
    // 503, 429 with Retry-After: 1, 503, then 200.
    let flaky = Server::start(|n| match n {
        0 | 2 => Reply::Status(503, vec![]),
        1 => Reply::Status(429, vec![("Retry-After", "1".into())]),
        _ => Reply::Status(200, vec![]),
    });
    let plain = Server::start(|_| Reply::Status(204, vec![]));
    let rules = format!(
        r#"
  - name: to-http
    event_pattern: {{"source": ["shop"], "detail": {{"order": [{{"exists": true}}]}}}}
    targets:
      - id: hook
        kind: http
        url: "{flaky}"
        headers: {{x-api-key: s3cret, X-Tenant: t-1}}
        input_transformer:
          input_paths_map: {{order: $.detail.order, id: $.id}}
          input_template: '{{"order": <order>, "event": <id>, "rule": <aws.events.rule-name>}}'
        retry: {{maximum_retry_attempts: 10}}
        dead_letter: dlq
      - id: plain
        kind: http
        method: PUT
        url: "{plain}"
        headers: {{content-type: application/cloudevents+json}}
"#,
        flaky = flaky.url("/hooks/orders?v=2"),
        plain = plain.url("/in"),
    );
    let run = start(&dir, &rules);
    run.send(&[envelope(ID1, json!({"order": "o-1", "total": 12.5}))]);

    let got = flaky.wait_for(4, Duration::from_secs(15));
    run.wait_metric(
        "busbar_deliveries_total{rule=\"to-http\",target=\"hook\"}",
        1.0,
        Duration::from_secs(5),
    );
    // Exactly one more request than failures, and no more after the 200.
    std::thread::sleep(Duration::from_millis(400));
    let got_after = flaky.requests();
    assert_eq!(got_after.len(), 4, "{got_after:#?}");
    // Retry-After: 1 was honoured before the third attempt.
    let gap = got[2].at - got[1].at;
    assert!(
        gap >= Duration::from_millis(950),
        "retry after a 429 came after {gap:?}"
    );

    let want_body = json!({"order": "o-1", "event": ID1, "rule": "to-http"});
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/hooks/orders?v=2");
        assert_eq!(r.header("x-api-key"), Some("s3cret"));
        assert_eq!(r.header("x-tenant"), Some("t-1"));
        let ct = r.header("content-type").unwrap_or_default();
        assert!(ct.starts_with("application/json"), "content-type {ct:?}");
        assert_eq!(r.json(), want_body, "{}", String::from_utf8_lossy(&r.body));
    }

    // The other target: PUT, its own content type, the whole envelope.
    let p = plain.wait_for(1, Duration::from_secs(5));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].method, "PUT");
    assert_eq!(p[0].path, "/in");
    assert_eq!(
        p[0].header("content-type"),
        Some("application/cloudevents+json")
    );
    let env = p[0].json();
    assert_eq!(env["id"], ID1);
    assert_eq!(env["account"], "123456789012");
    assert_eq!(env["detail"], json!({"order": "o-1", "total": 12.5}));

    let m = run.busbar.metrics();
    let s = |series: &str| sample(&m, series);
    assert_eq!(
        s("busbar_delivery_retries_total{rule=\"to-http\",target=\"hook\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_delivery_failures_total{reason=\"SERVER_ERROR\",rule=\"to-http\",target=\"hook\"}"),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_delivery_failures_total{reason=\"THROTTLING\",rule=\"to-http\",target=\"hook\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_deliveries_total{rule=\"to-http\",target=\"plain\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_delivery_retries_total{rule=\"to-http\",target=\"plain\"}"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(s("busbar_in_flight_events"), Some(0.0), "{m}");
    // Nothing was dead-lettered.
    let dlq = std::fs::read_to_string(dir.join("dlq.ndjson")).unwrap_or_default();
    assert_eq!(dlq, "");
}

#[test]
fn server_errors_exhaust_the_retry_attempts_and_dead_letter_the_envelope() {
    let dir = support::temp_dir("http-target-exhaust");
    let down = Server::start(|_| Reply::Status(500, vec![]));
    let rules = format!(
        r#"
  - name: to-down
    event_pattern: {{"source": ["shop"]}}
    targets:
      - id: down
        kind: http
        url: "{url}"
        input_path: $.detail
        retry: {{maximum_retry_attempts: 2}}
        dead_letter: dlq
"#,
        url = down.url("/x")
    );
    let run = start(&dir, &rules);
    run.send(&[envelope(ID1, json!({"n": 1}))]);

    let dl = run.dead_letters(1, Duration::from_secs(15));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(down.count(), 3, "{:#?}", down.requests());
    // input_path shaped what was sent; the dead letter carries the envelope.
    assert_eq!(down.requests()[0].json(), json!({"n": 1}));
    assert_eq!(dl.len(), 1, "{dl:#?}");
    let d = &dl[0];
    assert_eq!(d["stage"], "target");
    assert_eq!(d["rule"], "to-down");
    assert_eq!(d["rule_arn"], format!("{RULE_ARN_PREFIX}to-down"));
    assert_eq!(d["target"], "down");
    assert_eq!(d["error_code"], "SERVER_ERROR");
    assert_eq!(d["error_message"], "HTTP 500");
    assert_eq!(d["exhausted_retry_condition"], "MaximumRetryAttempts");
    assert_eq!(
        d["retry_attempts"], 2,
        "retries, as EventBridge counts them"
    );
    assert_eq!(d["event_id"], ID1);
    assert_eq!(d["event"]["id"], ID1);
    assert_eq!(d["event"]["source"], "shop");
    assert_eq!(d["event"]["region"], "eu-west-1");
    assert_eq!(d["event"]["detail"], json!({"n": 1}));

    let m = run.busbar.metrics();
    let s = |series: &str| sample(&m, series);
    assert_eq!(
        s("busbar_dead_letters_total{reason=\"SERVER_ERROR\",rule=\"to-down\",stage=\"target\",target=\"down\"}"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_delivery_failures_total{reason=\"SERVER_ERROR\",rule=\"to-down\",target=\"down\"}"),
        Some(3.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_delivery_retries_total{rule=\"to-down\",target=\"down\"}"),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        s("busbar_deliveries_total{rule=\"to-down\",target=\"down\"}"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(s("busbar_in_flight_events"), Some(0.0), "{m}");
}

#[test]
fn client_errors_are_not_retried() {
    let dir = support::temp_dir("http-target-4xx");
    let bad = Server::start(|_| Reply::Status(400, vec![]));
    let gone = Server::start(|_| Reply::Status(404, vec![]));
    let rules = format!(
        r#"
  - name: to-bad
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: bad, kind: http, url: "{bad}", dead_letter: dlq}}
      - {{id: gone, kind: http, url: "{gone}", dead_letter: dlq}}
"#,
        bad = bad.url("/bad"),
        gone = gone.url("/gone"),
    );
    let run = start(&dir, &rules);
    run.send(&[envelope(ID2, json!({"n": 2}))]);

    let mut dl = run.dead_letters(2, Duration::from_secs(10));
    // Long enough for a retry with the 100 ms initial backoff to show up.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(bad.count(), 1, "{:#?}", bad.requests());
    assert_eq!(gone.count(), 1, "{:#?}", gone.requests());
    dl.sort_by_key(|d| d["target"].as_str().unwrap_or_default().to_string());
    assert_eq!(dl.len(), 2, "{dl:#?}");
    for (d, target, code, status) in [
        (&dl[0], "bad", "SDK_CLIENT_ERROR", 400),
        (&dl[1], "gone", "NO_RESOURCE", 404),
    ] {
        assert_eq!(d["stage"], "target", "{d}");
        assert_eq!(d["target"], target, "{d}");
        assert_eq!(d["rule_arn"], format!("{RULE_ARN_PREFIX}to-bad"));
        assert_eq!(d["error_code"], code, "{d}");
        assert_eq!(d["error_message"], format!("HTTP {status}"), "{d}");
        assert_eq!(d["retry_attempts"], 0, "{d}");
        assert!(d.get("exhausted_retry_condition").is_none(), "{d}");
        assert_eq!(d["event"]["id"], ID2, "{d}");
    }
    let m = run.busbar.metrics();
    assert_eq!(
        sample(
            &m,
            "busbar_delivery_retries_total{rule=\"to-bad\",target=\"bad\"}"
        ),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "busbar_dead_letters_total{reason=\"SDK_CLIENT_ERROR\",rule=\"to-bad\",stage=\"target\",target=\"bad\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

#[test]
fn a_target_that_does_not_answer_times_out() {
    let dir = support::temp_dir("http-target-timeout");
    let mute = Server::start(|_| Reply::Silent(Duration::from_secs(5)));
    let rules = format!(
        r#"
  - name: to-mute
    event_pattern: {{"source": ["shop"]}}
    targets:
      - id: mute
        kind: http
        url: "{url}"
        timeout_seconds: 0.5
        retry: {{maximum_retry_attempts: 1}}
        dead_letter: dlq
      - id: refused
        kind: http
        url: "http://127.0.0.1:{closed}/"
        retry: {{maximum_retry_attempts: 0}}
        dead_letter: dlq
"#,
        url = mute.url("/"),
        closed = support::free_port(),
    );
    let run = start(&dir, &rules);
    run.send(&[envelope(ID1, json!({}))]);
    let first = mute.wait_for(1, Duration::from_secs(5))[0].at;
    let mut dl = run.dead_letters(2, Duration::from_secs(10));
    let took = first.elapsed();
    assert_eq!(mute.count(), 2, "{:#?}", mute.requests());
    // Two attempts of 0.5 s each (plus a short backoff).
    assert!(took >= Duration::from_millis(950), "gave up after {took:?}");
    assert!(took < Duration::from_secs(5), "gave up after {took:?}");
    dl.sort_by_key(|d| d["target"].as_str().unwrap_or_default().to_string());
    // Nobody listens: a connection failure, retryable, but no retries allowed.
    let d = &dl[1];
    assert_eq!(d["target"], "refused", "{d}");
    assert_eq!(d["error_code"], "CONNECTION_FAILURE", "{d}");
    assert_eq!(
        d["exhausted_retry_condition"], "MaximumRetryAttempts",
        "{d}"
    );
    assert_eq!(d["retry_attempts"], 0, "{d}");
    let d = &dl[0];
    assert_eq!(d["target"], "mute", "{d}");
    assert_eq!(d["error_code"], "TIMEOUT", "{d}");
    assert_eq!(
        d["exhausted_retry_condition"], "MaximumRetryAttempts",
        "{d}"
    );
    assert_eq!(d["retry_attempts"], 1, "{d}");
    assert_eq!(
        run.metric(
            "busbar_delivery_failures_total{reason=\"TIMEOUT\",rule=\"to-mute\",target=\"mute\"}"
        ),
        Some(2.0)
    );
}

#[test]
fn the_rate_limit_spaces_out_deliveries() {
    let dir = support::temp_dir("http-target-rate");
    let sink = Server::start(|_| Reply::Status(200, vec![]));
    let rules = format!(
        r#"
  - name: to-slow
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: slow, kind: http, url: "{url}", rate_limit_per_second: 5, input_path: $.detail.n}}
"#,
        url = sink.url("/")
    );
    let run = start(&dir, &rules);
    let lines: Vec<String> = (0..10).map(|n| json!({ "n": n }).to_string()).collect();
    run.send(&lines);
    let got = sink.wait_for(10, Duration::from_secs(15));
    // A token bucket of 5/s that starts full (burst 5): the first five go at
    // once, the other five 200 ms apart, so 10 take about 1 s; unlimited,
    // they take a few milliseconds.
    let span = got[9].at - got[0].at;
    assert!(
        span >= Duration::from_millis(900),
        "10 deliveries in {span:?}"
    );
    assert!(span < Duration::from_secs(8), "10 deliveries in {span:?}");
    // One token every 200 ms; a timer that fires late on a loaded machine
    // may bring the next request closer, never the whole run.
    for w in got[5..].windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(gap >= Duration::from_millis(100), "gap {gap:?}");
    }
    // Each once (the burst goes out concurrently, in any order; the rest
    // one per token, in order).
    let mut ns: Vec<i64> = got.iter().map(|r| r.json().as_i64().unwrap()).collect();
    assert_eq!(ns[5..], [5, 6, 7, 8, 9]);
    ns.sort_unstable();
    assert_eq!(ns, (0..10).collect::<Vec<_>>());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(sink.count(), 10);
    assert_eq!(
        run.metric("busbar_deliveries_total{rule=\"to-slow\",target=\"slow\"}"),
        Some(10.0)
    );
}

#[test]
fn http_parameters_fill_the_url_query_and_headers_from_the_event() {
    let dir = support::temp_dir("http-target-params");
    let server = Server::start(|_| Reply::Status(200, vec![]));
    let rules = format!(
        r#"
  - name: params
    event_pattern: {{"source": ["shop"]}}
    targets:
      - id: hook
        kind: http
        url: "{url}"
        dead_letter: dlq
        http_parameters:
          path: [$.detail.orderId]
          query: {{src: $.source, v: "2"}}
          headers: {{x-tenant: $.detail.tenant}}
"#,
        url = server.url("/orders/*/items")
    );
    let run = start(&dir, &rules);
    run.send(&[
        envelope(ID1, json!({"orderId": "o/1 é", "tenant": "acme"})),
        envelope(ID2, json!({"tenant": "acme"})),
    ]);
    let got = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].path, "/orders/o%2F1%20%C3%A9/items?src=shop&v=2");
    assert_eq!(got[0].header("x-tenant"), Some("acme"));
    // The event without an order id cannot be sent: dead-lettered at once,
    // naming the parameter, and never retried.
    let dl = run.dead_letters(1, Duration::from_secs(10));
    assert_eq!(dl[0]["error_code"], "INPUT_PATH_NO_MATCH", "{}", dl[0]);
    assert_eq!(dl[0]["event_id"], ID2);
    assert!(
        dl[0]["error_message"]
            .as_str()
            .unwrap()
            .contains("http_parameters.path[0] `$.detail.orderId`"),
        "{}",
        dl[0]
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.count(), 1);
}
