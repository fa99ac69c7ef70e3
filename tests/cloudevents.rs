//! `format: cloudevents` and `cloudevents-binary` on the real binary, read
//! back by the CloudEvents SDK for Python (tests/clients/cloudevents_client.py)
//! as a Knative or Dapr consumer would: structured and binary HTTP requests
//! caught by a local server, and binary-mode Kafka records from the test
//! broker. Checks the attribute mapping (id, source, type, time, subject,
//! account, region, the trace context), what `data` is with and without
//! `input*` settings, and that an event that cannot be a CloudEvent is
//! dead-lettered.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use http_server::{Recorded, Reply, Server};
use serde_json::{json, Value};
use support::Busbar;

const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/// The SDK's reading of each message (`cloudevents_client.py MODE`).
fn sdk_reads(mode: &str, lines: &[String]) -> Vec<Value> {
    let out = support::run_client(
        "cloudevents_client.py",
        &[mode],
        lines.join("\n").as_bytes(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the SDK rejected a message:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A recorded request as `cloudevents_client.py http` reads it.
fn as_message(r: &Recorded) -> String {
    let headers: HashMap<&str, &str> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    json!({"headers": headers, "body": String::from_utf8_lossy(&r.body)}).to_string()
}

fn start(dir: &Path, rules: &str) -> (Busbar, String) {
    support::start_ingest(dir, rules, "", &[])
}

fn events() -> String {
    [
        json!({"id": "ev-1", "source": "shop.orders", "detail-type": "Order Placed",
               "time": "2026-11-23T10:00:00Z", "resources": ["arn:aws:shop:order/7", "arn:2"],
               "detail": {"order": 7, "note": "größer \"quoted\""}}),
        json!({"id": "ev-2", "source": "shop.orders", "detail-type": "Ordre passée %",
               "time": "2026-11-23T10:00:01Z", "resources": [], "detail": {"order": 8}}),
    ]
    .map(|e| e.to_string())
    .join("\n")
}

#[test]
fn http_targets_send_cloudevents_the_python_sdk_reads() {
    need!(
        support::python(),
        "python with the cloudevents SDK (BUSBAR_TEST_PYTHON)"
    );
    let dir = support::temp_dir("ce_http");
    let server = Server::start(|_| Reply::Status(200, vec![]));
    let rules = format!(
        r#"  - name: orders
    event_pattern: {{"source": ["shop.orders"]}}
    targets:
      - {{id: structured, kind: http, url: "{s}", format: cloudevents, dead_letter: dlq}}
      - {{id: binary, kind: http, url: "{b}", format: cloudevents-binary, dead_letter: dlq}}
      - id: text
        kind: http
        url: "{t}"
        format: cloudevents-binary
        input_transformer:
          input_paths_map: {{n: $.detail.order}}
          input_template: "order <n> placed"
      - {{id: picked, kind: http, url: "{p}", format: cloudevents, input_path: $.detail.order}}"#,
        s = server.url("/s"),
        b = server.url("/b"),
        t = server.url("/t"),
        p = server.url("/p"),
    );
    let (mut busbar, ingest) = start(&dir, &rules);
    let tracestate = "congo=t61rcWkgMzE";
    let (status, body) = support::http(
        &ingest,
        "POST",
        "/events",
        &[("traceparent", TRACEPARENT), ("tracestate", tracestate)],
        events().as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let got = server.wait_for(8, Duration::from_secs(10));
    assert_eq!(got.len(), 8, "{got:?}");
    let by = |path: &str| -> Vec<Recorded> {
        let mut v: Vec<Recorded> = got.iter().filter(|r| r.path == path).cloned().collect();
        v.sort_by_key(|r| r.body.len());
        v
    };

    // Structured mode: one JSON object, content type and all.
    for r in by("/s") {
        assert_eq!(
            r.header("content-type"),
            Some("application/cloudevents+json; charset=utf-8")
        );
        assert!(
            r.header("ce-id").is_none(),
            "structured mode has no ce- headers"
        );
        assert_eq!(
            r.header("traceparent"),
            Some(TRACEPARENT),
            "forwarded as a header too"
        );
        assert!(r
            .header("user-agent")
            .is_some_and(|a| a.starts_with("busbar/")));
    }
    let mut read: Vec<Value> =
        sdk_reads("http", &by("/s").iter().map(as_message).collect::<Vec<_>>());
    read.sort_by_key(|v| v["attributes"]["id"].as_str().unwrap().to_string());
    assert_eq!(
        read[0],
        json!({"attributes": {
            "specversion": "1.0", "id": "ev-1", "source": "shop.orders", "type": "Order Placed",
            "time": "2026-11-23T10:00:00+00:00", "subject": "arn:aws:shop:order/7",
            "account": "123456789012", "region": "eu-west-1",
            "traceparent": TRACEPARENT, "tracestate": tracestate,
            "datacontenttype": "application/json"},
          "data": {"order": 7, "note": "größer \"quoted\""}})
    );
    assert_eq!(read[1]["attributes"]["type"], "Ordre passée %");
    assert!(
        read[1]["attributes"].get("subject").is_none(),
        "no resources, no subject"
    );

    // Binary mode: the detail is the body, attributes are ce- headers
    // (percent-encoded where the HTTP binding says so).
    let binary = by("/b");
    assert!(binary
        .iter()
        .all(|r| r.header("content-type") == Some("application/json")));
    assert!(binary
        .iter()
        .any(|r| r.header("ce-type") == Some("Ordre%20pass%C3%A9e%20%25")));
    let mut read = sdk_reads("http", &binary.iter().map(as_message).collect::<Vec<_>>());
    read.sort_by_key(|v| v["attributes"]["id"].as_str().unwrap().to_string());
    assert_eq!(
        read[0]["data"],
        json!({"order": 7, "note": "größer \"quoted\""})
    );
    assert_eq!(read[0]["attributes"]["subject"], "arn:aws:shop:order/7");
    assert_eq!(read[0]["attributes"]["traceparent"], TRACEPARENT);
    assert_eq!(read[1]["attributes"]["type"], "Ordre passée %");
    assert_eq!(read[1]["attributes"]["region"], "eu-west-1");

    // A plain-text template's result is text data; an input path's is JSON.
    let mut read = sdk_reads("http", &by("/t").iter().map(as_message).collect::<Vec<_>>());
    read.sort_by_key(|v| v["attributes"]["id"].as_str().unwrap().to_string());
    assert_eq!(read[0]["data"], "order 7 placed");
    assert_eq!(
        read[0]["attributes"]["datacontenttype"],
        "text/plain; charset=utf-8"
    );
    let mut read = sdk_reads("http", &by("/p").iter().map(as_message).collect::<Vec<_>>());
    read.sort_by_key(|v| v["attributes"]["id"].as_str().unwrap().to_string());
    assert_eq!(
        (read[0]["data"].clone(), read[1]["data"].clone()),
        (json!(7), json!(8))
    );

    // An empty detail-type cannot be a CloudEvent `type`: dead-lettered,
    // the others still delivered.
    let bad = json!({"id": "ev-3", "source": "shop.orders", "detail-type": "", "detail": {}});
    let (status, _) =
        support::http(&ingest, "POST", "/events", &[], bad.to_string().as_bytes()).unwrap();
    assert_eq!(status, 200);
    let dlq = dir.join("dlq.ndjson");
    support::wait_until(Duration::from_secs(10), "two dead letters", || {
        std::fs::read_to_string(&dlq).is_ok_and(|s| s.lines().count() == 2)
    });
    let text = std::fs::read_to_string(&dlq).unwrap();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["error_code"], "CLOUDEVENTS_UNMAPPABLE", "{l}");
        assert!(
            v["error_message"].as_str().unwrap().contains("detail-type"),
            "{l}"
        );
    }
    busbar.stop();
}

#[test]
fn kafka_targets_write_binary_mode_records_the_python_sdk_reads() {
    need!(
        support::python(),
        "python with the cloudevents SDK (BUSBAR_TEST_PYTHON)"
    );
    let bootstrap = need!(support::kafka(), "Kafka broker (KAFKA_BOOTSTRAP)");
    let dir = support::temp_dir("ce_kafka");
    let topic = format!("ce-out-{}", std::process::id());
    support::kafka::create(&bootstrap, 1, &[&topic]);
    let rules = format!(
        r#"  - name: orders
    event_pattern: {{"source": ["shop.orders"]}}
    targets:
      - {{id: out, kind: kafka, topic: "{topic}", format: cloudevents, dead_letter: dlq}}"#
    );
    let port = support::free_port();
    let config = format!(
        r#"
bus: {{name: default, account: "123456789012", region: eu-west-1}}
kafka: {{brokers: "{bootstrap}"}}
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:{port}", source: shop, detail_type: Order}}
rules:
{rules}
dead_letters:
  dlq: {{kind: file, path: "{dlq}"}}
watch_config: false
shutdown_grace_seconds: 2
"#,
        dlq = dir.join("dlq.ndjson").display()
    );
    let mut busbar = Busbar::start(&dir, &config, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(20));
    let ingest = format!("127.0.0.1:{port}");
    let (status, _) = support::http(
        &ingest,
        "POST",
        "/events",
        &[("traceparent", TRACEPARENT)],
        events().as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 200);
    let records = support::kafka::consume(&bootstrap, &topic, 2, 30);
    assert_eq!(records.len(), 2, "{records:?}");
    for r in &records {
        assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
        assert_eq!(r["headers"]["ce_specversion"], "1.0", "{r}");
        assert_eq!(r["headers"]["traceparent"], TRACEPARENT, "{r}");
    }
    let mut read = sdk_reads(
        "kafka",
        &records.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    );
    read.sort_by_key(|v| v["attributes"]["id"].as_str().unwrap().to_string());
    assert_eq!(
        read[0],
        json!({"attributes": {
            "specversion": "1.0", "id": "ev-1", "source": "shop.orders", "type": "Order Placed",
            "time": "2026-11-23T10:00:00+00:00", "subject": "arn:aws:shop:order/7",
            "account": "123456789012", "region": "eu-west-1", "traceparent": TRACEPARENT,
            "datacontenttype": "application/json",
            // The SDK reads the record key (the event id by default) as
            // the binding's `partitionkey` extension.
            "partitionkey": "ev-1"},
          "data": {"order": 7, "note": "größer \"quoted\""}})
    );
    assert_eq!(
        read[1]["attributes"]["type"], "Ordre passée %",
        "UTF-8, not encoded"
    );
    busbar.stop();
}
