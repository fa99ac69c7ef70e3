//! W3C trace context on the real binary: a `traceparent` (and
//! `tracestate`) that comes with an event through each entry point (an
//! HTTP ingest request's headers on `/events` and PutEvents, a PutEvents
//! entry's `TraceHeader`, W3C or X-Ray, and a Kafka record's headers)
//! reaches `http` targets as headers and `kafka` targets as record
//! headers. A malformed one is not forwarded, and its event still is. A
//! CloudEvents kafka target replaces the consumed `ce_*` headers.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::time::Duration;

use http_server::{Recorded, Reply, Server};
use serde_json::{json, Value};
use support::Busbar;

const TP_REQUEST: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
const TP_ENTRY: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const TP_XRAY: &str = "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01";
const MALFORMED: &str = "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01";

/// The requests by `detail.n`, their `traceparent` and `tracestate`.
fn traces(got: &[Recorded]) -> Vec<(i64, Option<String>, Option<String>)> {
    let mut v: Vec<_> = got
        .iter()
        .map(|r| {
            (
                r.json()["detail"]["n"].as_i64().unwrap(),
                r.header("traceparent").map(str::to_string),
                r.header("tracestate").map(str::to_string),
            )
        })
        .collect();
    v.sort();
    v
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[test]
fn http_ingest_and_putevents_trace_context_reaches_http_targets() {
    let dir = support::temp_dir("trace_http");
    let server = Server::start(|_| Reply::Status(200, vec![]));
    let port = support::free_port();
    let config = format!(
        r#"
bus: {{name: default, account: "123456789012", region: eu-west-1}}
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:{port}", source: shop, detail_type: Order}}
rules:
  - name: all
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}"}}
watch_config: false
shutdown_grace_seconds: 2
"#,
        url = server.url("/hook")
    );
    let mut busbar = Busbar::start(&dir, &config, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));
    let ingest = format!("127.0.0.1:{port}");
    let post = |path: &str, headers: &[(&str, &str)], body: String| {
        let (status, resp) =
            support::http(&ingest, "POST", path, headers, body.as_bytes()).unwrap();
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
        resp
    };

    // `/events`: the request's headers hold for each of its lines; a
    // malformed traceparent is dropped, not its events.
    let line = |n: i64| json!({"source": "shop", "detail-type": "Order", "detail": {"n": n}});
    post(
        "/events",
        &[("traceparent", TP_REQUEST), ("tracestate", "a=1,b=2")],
        format!("{}\n{}", line(0), line(1)),
    );
    post(
        "/events",
        &[("traceparent", MALFORMED), ("tracestate", "a=1")],
        line(2).to_string(),
    );

    // PutEvents: an entry's own TraceHeader (W3C, or X-Ray converted)
    // before the request's headers; a malformed one falls back to them.
    let entry = |n: i64, trace: Option<&str>| {
        let mut e = json!({"Source": "shop", "DetailType": "Order",
                           "Detail": json!({"n": n}).to_string()});
        if let Some(t) = trace {
            e["TraceHeader"] = json!(t);
        }
        e
    };
    let body = json!({"Entries": [
        entry(3, None), entry(4, Some(TP_ENTRY)), entry(5, Some(XRAY)), entry(6, Some("nonsense"))
    ]});
    let resp = post(
        "/",
        &[
            ("x-amz-target", "AWSEvents.PutEvents"),
            ("content-type", "application/x-amz-json-1.1"),
            ("traceparent", TP_REQUEST),
        ],
        body.to_string(),
    );
    let v: Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(v["FailedEntryCount"], 0, "{v}");
    // A PutEvents request without trace headers: nothing is made up.
    post(
        "/",
        &[
            ("x-amz-target", "AWSEvents.PutEvents"),
            ("content-type", "application/x-amz-json-1.1"),
        ],
        json!({"Entries": [entry(7, None)]}).to_string(),
    );

    let got = server.wait_for(8, Duration::from_secs(10));
    assert_eq!(
        traces(&got),
        vec![
            (0, some(TP_REQUEST), some("a=1,b=2")),
            (1, some(TP_REQUEST), some("a=1,b=2")),
            (2, None, None),
            (3, some(TP_REQUEST), None),
            (4, some(TP_ENTRY), None),
            (5, some(TP_XRAY), None),
            (6, some(TP_REQUEST), None),
            (7, None, None),
        ]
    );
    busbar.stop();
}

#[test]
fn kafka_record_trace_headers_reach_http_and_kafka_targets() {
    let bootstrap = need!(support::kafka(), "Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let dir = support::temp_dir("trace_kafka");
    let prefix = format!("trace-{}", std::process::id());
    let (input, output) = (format!("{prefix}.in"), format!("{prefix}.out"));
    let ce = format!("{prefix}.ce");
    support::kafka::create(&bootstrap, 1, &[&input, &output, &ce]);
    let server = Server::start(|_| Reply::Status(200, vec![]));
    let config = format!(
        r#"
bus: {{name: default, account: "123456789012", region: eu-west-1}}
kafka: {{brokers: "{bootstrap}"}}
sources:
  - {{id: in, kind: kafka, topics: [{input}], group_id: {prefix}-g, start: earliest}}
rules:
  - name: all
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}"}}
      - {{id: out, kind: kafka, topic: {output}}}
      - {{id: ce, kind: kafka, topic: {ce}, format: cloudevents}}
watch_config: false
shutdown_grace_seconds: 2
"#,
        url = server.url("/hook")
    );
    let line = |n: i64| json!({"source": "shop", "detail-type": "Order", "detail": {"n": n}});
    let tp = format!("traceparent={TP_REQUEST}");
    support::kafka::produce(
        &bootstrap,
        &input,
        &format!("{}\n{}\n", line(0), line(1)),
        &[&tp, "tracestate=k=v", "other=kept", "ce_subject=stale"],
    );
    let bad = format!("traceparent={MALFORMED}");
    support::kafka::produce(
        &bootstrap,
        &input,
        &format!("{}\n", line(2)),
        &[&bad, "other=kept"],
    );
    support::kafka::produce(&bootstrap, &input, &format!("{}\n", line(3)), &[]);
    let mut busbar = Busbar::start(&dir, &config, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(30));

    let got = server.wait_for(4, Duration::from_secs(30));
    assert_eq!(
        traces(&got),
        vec![
            (0, some(TP_REQUEST), some("k=v")),
            (1, some(TP_REQUEST), some("k=v")),
            (2, None, None),
            (3, None, None),
        ]
    );
    let records = support::kafka::consume(&bootstrap, &output, 4, 30);
    let mut seen: Vec<(i64, Value)> = records
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(r["value"].as_str().unwrap()).unwrap();
            (v["detail"]["n"].as_i64().unwrap(), r["headers"].clone())
        })
        .collect();
    seen.sort_by_key(|(n, _)| *n);
    assert_eq!(seen.len(), 4, "{records:?}");
    for (n, h) in &seen {
        let want = (*n < 2).then_some(TP_REQUEST);
        assert_eq!(h["traceparent"].as_str(), want, "record {n}: {h}");
        assert_eq!(h["tracestate"].as_str(), (*n < 2).then_some("k=v"), "{h}");
        if *n < 3 {
            assert_eq!(h["other"], "kept", "other headers still pass: {h}");
        }
    }
    // As CloudEvents: the consumed `ce_*` headers give way to the event's
    // (which has no resources, so no subject), and the trace context is an
    // attribute as well as a header.
    let records = support::kafka::consume(&bootstrap, &ce, 4, 30);
    assert_eq!(records.len(), 4, "{records:?}");
    for r in &records {
        let h = &r["headers"];
        assert_eq!(h["ce_type"], "Order", "{h}");
        assert!(h.get("ce_subject").is_none(), "{h}");
        let traced = h["ce_traceparent"].as_str() == Some(TP_REQUEST);
        assert_eq!(h["traceparent"].as_str() == Some(TP_REQUEST), traced, "{h}");
    }
    assert_eq!(
        records
            .iter()
            .filter(|r| r["headers"]["ce_traceparent"] == TP_REQUEST)
            .count(),
        2
    );
    busbar.stop();
}
