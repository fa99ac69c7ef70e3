//! The bundled sidecar example (`config/sidecar.yaml`) as a pod would run
//! it, with the per-pod environment overrides: an AWS SDK (boto3) puts
//! events, `all-to-stdout` prints every envelope, NDJSON that is not an
//! event lands in the dead-letter file, logs are JSON.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[test]
fn bundled_sidecar_config_serves_putevents_and_prints_every_envelope() {
    need!(support::python(), "python with boto3 (BUSBAR_TEST_PYTHON)");
    let dir = support::temp_dir("sidecar");
    let config = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sidecar.yaml"),
    )
    .unwrap();
    // Files the example writes to /tmp go to this test's directory instead.
    let config = config.replace("/tmp/", &format!("{}/", dir.display()));
    let http = format!("127.0.0.1:{}", support::free_port());
    let mut b = support::Busbar::start(
        &dir,
        &config,
        support::free_port(),
        &[
            ("BUSBAR_HTTP_ADDR", &http),
            ("BUSBAR_LOG_FORMAT", "json"),
            ("BUSBAR_LOG", "info"),
        ],
    );
    b.wait_ready(Duration::from_secs(20));

    let entries = json!([
        {"Source": "shop.orders", "DetailType": "OrderCreated", "Detail": "{\"order-id\":\"o-7\",\"total\":12}"},
        {"Source": "storage.s3", "DetailType": "ObjectCreated", "Detail": "{\"key\":\"a.png\"}", "Resources": ["arn:aws:s3:::b"]}
    ]);
    let out = support::run_client(
        "eventbridge_client.py",
        &[
            "put-events",
            "--endpoint",
            &format!("http://{http}"),
            "--entries-json",
            "-",
        ],
        entries.to_string().as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(resp["FailedEntryCount"], 0, "{resp}");
    let ids: Vec<&str> = resp["Entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventId"].as_str().unwrap())
        .collect();

    let (status, body) =
        support::http(&http, "POST", "/events", &[], b"{\"k\":1}\nnot json\n").unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, b"{\"Accepted\":2}");

    let t = Instant::now();
    let printed = loop {
        let lines: Vec<Value> = b
            .stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= 3 {
            break lines;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "{lines:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(printed.len(), 3);
    for id in &ids {
        assert!(printed.iter().any(|e| e["id"] == *id), "{id} printed");
    }
    let raw = printed
        .iter()
        .find(|e| e["source"] == "app.ndjson")
        .expect("the raw object, wrapped");
    assert_eq!(raw["detail"], json!({"k": 1}));
    assert_eq!(raw["account"], "111122223333");

    let uploads = std::fs::read_to_string(dir.join("busbar-uploads.ndjson")).unwrap_or_default();
    assert_eq!(
        uploads.trim(),
        r#"{"key":"a.png"}"#,
        "input_path $.detail to the archive file"
    );
    let t = Instant::now();
    let dl = loop {
        let text =
            std::fs::read_to_string(dir.join("busbar-parse-failures.ndjson")).unwrap_or_default();
        if let Some(l) = text.lines().next() {
            break serde_json::from_str::<Value>(l).unwrap();
        }
        assert!(t.elapsed() < Duration::from_secs(10), "no dead letter");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(dl["stage"], "source");
    assert_eq!(dl["source"], "putevents");
    assert_eq!(dl["input"], "not json");
    assert!(
        dl["error_message"]
            .as_str()
            .unwrap()
            .starts_with("line 2: invalid event at byte 0:"),
        "{dl}"
    );

    // Three envelopes printed: the latency histogram saw three stdout deliveries.
    let t = Instant::now();
    loop {
        let m = b.metrics();
        let n = support::sample(&m, "busbar_delivery_latency_seconds_count{kind=\"stdout\"}");
        if n == Some(3.0) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "latency count {n:?}:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(b.stop().success(), "{}", b.stderr());
    // Logs are JSON lines when BUSBAR_LOG_FORMAT=json.
    let logs = b.stderr();
    assert!(!logs.is_empty());
    for l in logs.lines() {
        let v: Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line not JSON ({e}): {l}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{l}");
    }
}
