//! `busbar run` with an `http` source, over real loopback HTTP: PutEvents and
//! TestEventPattern through the AWS SDK (boto3, tests/clients), the raw
//! protocol (unknown operations, NDJSON on `/events`), throttling when the
//! in-flight budget is spent (and nothing lost once it frees up), and the
//! admin endpoints and metrics a deployment watches.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{json, Value};
use support::{sample, Busbar};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "eu-west-1";
const ENVELOPE_KEYS: [&str; 9] = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
];

struct Run {
    busbar: Busbar,
    ingest: String,
    dir: PathBuf,
}

/// The shared configuration: an `http` source `api` (raw objects become
/// `shop`/`Raw` envelopes, invalid input goes to `dlq`), rule `all-orders`
/// (every `shop` event → file `a.ndjson` and stdout) and rule `big-orders`
/// (`detail.total > 100` → file `b.ndjson`). `extra` is appended (limits,
/// more rules).
fn config(dir: &Path, port: u16, extra_rules: &str, extra: &str) -> String {
    format!(
        r#"
bus: {{name: orders, account: "{ACCOUNT}", region: {REGION}}}
sources:
  - id: api
    kind: http
    listen: "127.0.0.1:{port}"
    source: shop
    detail_type: Raw
    dead_letter: dlq
rules:
  - name: all-orders
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: file-a, kind: file, path: "{a}"}}
      - {{id: out, kind: stdout}}
  - name: big-orders
    event_pattern: {{"source": ["shop"], "detail": {{"total": [{{"numeric": [">", 100]}}]}}}}
    targets:
      - {{id: file-b, kind: file, path: "{b}"}}
{extra_rules}
dead_letters:
  dlq: {{kind: file, path: "{dlq}"}}
watch_config: false
shutdown_grace_seconds: 5
{extra}
"#,
        a = dir.join("a.ndjson").display(),
        b = dir.join("b.ndjson").display(),
        dlq = dir.join("dlq.ndjson").display(),
    )
}

fn start(test: &str, extra_rules: &str, extra: &str) -> Run {
    let dir = support::temp_dir(test);
    let port = support::free_port();
    let mut busbar = Busbar::start(
        &dir,
        &config(&dir, port, extra_rules, extra),
        support::free_port(),
        &[],
    );
    busbar.wait_ready(Duration::from_secs(15));
    Run {
        busbar,
        ingest: format!("127.0.0.1:{port}"),
        dir,
    }
}

impl Run {
    fn endpoint(&self) -> String {
        format!("http://{}", self.ingest)
    }

    /// boto3 `put_events`; (exit code, parsed stdout).
    fn boto_put_events(&self, entries: &Value) -> (i32, Value) {
        let out = support::run_client(
            "eventbridge_client.py",
            &[
                "put-events",
                "--endpoint",
                &self.endpoint(),
                "--entries-json",
                "-",
            ],
            entries.to_string().as_bytes(),
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "client output is not JSON ({e}): {stdout}\nstderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), v)
    }

    /// boto3 `test_event_pattern`: `{"Result":..}` or `{"Error":..}`.
    fn boto_test_pattern(&self, pattern: &str, event: &str) -> Value {
        let out = support::run_client(
            "eventbridge_client.py",
            &[
                "test-event-pattern",
                "--endpoint",
                &self.endpoint(),
                "--pattern",
                pattern,
                "--event",
                event,
            ],
            b"",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("client prints JSON")
    }

    /// A raw AWS JSON 1.1 request; (status, head, body).
    fn amz(&self, target: Option<&str>, body: &Value) -> (u16, String, Value) {
        let mut headers = vec![("Content-Type", "application/x-amz-json-1.1")];
        if let Some(t) = target {
            headers.push(("X-Amz-Target", t));
        }
        let (status, head, body) = support::http_full(
            &self.ingest,
            "POST",
            "/",
            &headers,
            body.to_string().as_bytes(),
        )
        .expect("request");
        let v = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&body))
        });
        (status, head, v)
    }

    fn ndjson(&self, body: &str) -> (u16, String, Vec<u8>) {
        support::http_full(&self.ingest, "POST", "/events", &[], body.as_bytes()).expect("request")
    }

    /// Wait until `file` in the test dir has `n` lines; returns them.
    fn lines(&self, file: &str, n: usize) -> Vec<String> {
        wait_lines(&self.dir.join(file), n, &self.busbar)
    }

    fn wait_metric(&self, series: &str, want: f64) -> String {
        let t = Instant::now();
        loop {
            let m = self.busbar.metrics();
            if sample(&m, series) == Some(want) {
                return m;
            }
            if t.elapsed() > Duration::from_secs(10) {
                panic!("{series} never reached {want}:\n{m}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

fn wait_lines(path: &Path, n: usize, busbar: &Busbar) -> Vec<String> {
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n {
            return lines;
        }
        if t.elapsed() > Duration::from_secs(10) {
            panic!(
                "{}: {} lines, wanted {n}:\n{text}\nstderr:\n{}",
                path.display(),
                lines.len(),
                busbar.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The top-level keys of a JSON object, in the order they are written.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, IgnoredAny>()? {
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(V)
    }
}

fn key_order(line: &str) -> Vec<String> {
    serde_json::from_str::<Keys>(line)
        .unwrap_or_else(|e| panic!("{e}: {line}"))
        .0
}

fn parse(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn put_events_through_boto3_validates_each_entry_and_delivers_the_valid_ones() {
    let _py = need!(support::python(), "python with boto3");
    let run = start("ingest-put", "", "");
    let entries = json!([
        {"Source": "shop", "DetailType": "Order Placed",
         "Detail": "{\"total\": 250, \"order\": \"o-1\"}",
         "Resources": ["arn:aws:s3:::bucket"], "Time": "2022-01-01T00:00:00Z"},
        {"DetailType": "Order Placed", "Detail": "{}"},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "NotJSON"},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "{\"total\": 5}"},
        {"Source": "shop", "Detail": "{}"},
        {"Source": "aws.ec2", "DetailType": "x", "Detail": "{}"},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "{\"total\": 999}",
         "EventBusName": "some-other-bus"},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "{\"total\": 7}",
         "EventBusName": "orders"},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "[]"},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": "{}"},
    ]);
    let (code, resp) = run.boto_put_events(&entries);
    assert_eq!(code, 0, "{resp}");
    assert_eq!(resp["FailedEntryCount"], 5, "{resp}");
    let got = resp["Entries"].as_array().expect("Entries");
    assert_eq!(got.len(), 10, "{resp}");
    let failed = |i: usize, code: &str, message: &str| {
        assert_eq!(
            got[i],
            json!({"ErrorCode": code, "ErrorMessage": message}),
            "entry {i}"
        );
    };
    failed(
        1,
        "InvalidArgument",
        "Parameter Source is not valid. Reason: Source is a required argument.",
    );
    failed(2, "MalformedDetail", "Detail is malformed.");
    failed(
        4,
        "InvalidArgument",
        "Parameter DetailType is not valid. Reason: DetailType is a required argument.",
    );
    failed(
        5,
        "NotAuthorizedForSourceException",
        "Not authorized for the source.",
    );
    failed(8, "MalformedDetail", "Detail is malformed.");
    let id = |i: usize| -> String {
        let e = got[i].as_object().expect("entry");
        assert_eq!(e.len(), 1, "entry {i}: {e:?}");
        let id = e["EventId"].as_str().expect("EventId").to_string();
        assert!(uuid_like(&id), "entry {i}: {id}");
        id
    };
    let ids: Vec<String> = [0, 3, 6, 7, 9].iter().map(|&i| id(i)).collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");

    // Entries 0, 3, 7 and 9 are for this bus; 6 names another bus and is
    // answered but dropped, as EventBridge does.
    let a = run.lines("a.ndjson", 4);
    let b = run.lines("b.ndjson", 1);
    std::thread::sleep(Duration::from_millis(300));
    let a = run.lines("a.ndjson", a.len());
    assert_eq!(a.len(), 4, "{a:#?}");
    assert_eq!(run.lines("b.ndjson", 1).len(), 1);
    for line in a.iter().chain(&b) {
        assert_eq!(key_order(line), ENVELOPE_KEYS, "{line}");
    }
    let a: Vec<Value> = a.iter().map(|l| parse(l)).collect();
    let b = parse(&b[0]);
    let delivered = [&ids[0], &ids[1], &ids[3], &ids[4]].map(|s| s.as_str());
    let a_ids: Vec<&str> = a.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(a_ids, delivered);
    assert_eq!(
        a[0],
        json!({
            "version": "0", "id": ids[0], "detail-type": "Order Placed", "source": "shop",
            "account": ACCOUNT, "time": "2022-01-01T00:00:00Z", "region": REGION,
            "resources": ["arn:aws:s3:::bucket"], "detail": {"total": 250, "order": "o-1"}
        })
    );
    // The same event at the second rule's target carries the same id.
    assert_eq!(b, a[0]);
    for e in &a[1..] {
        assert_eq!(e["account"], ACCOUNT);
        assert_eq!(e["region"], REGION);
        assert_eq!(e["resources"], json!([]));
        let time = e["time"].as_str().unwrap();
        assert!(
            time.len() == 20 && time.ends_with('Z') && time.starts_with("20"),
            "{time}"
        );
    }
    assert_eq!(a[1]["detail"], json!({"total": 5}));
    assert_eq!(a[3]["detail"], json!({}));
    // stdout: the same four envelopes.
    let stdout_ids: Vec<String> = run
        .busbar
        .stdout()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| parse(l)["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(stdout_ids, delivered);

    let m = run.busbar.metrics();
    assert_eq!(
        sample(
            &m,
            "busbar_events_dropped_total{reason=\"OTHER_EVENT_BUS\",rule=\"\",stage=\"source\",target=\"api\"}"
        ),
        Some(1.0),
        "{m}"
    );
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

#[test]
fn test_event_pattern_through_boto3() {
    let _py = need!(support::python(), "python with boto3");
    let run = start("ingest-tep", "", "");
    let pattern = r#"{"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}"#;
    let event = |total: u32| {
        json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "Order Placed", "source": "shop", "account": ACCOUNT,
            "time": "2022-01-01T00:00:00Z", "region": REGION, "resources": [],
            "detail": {"total": total}
        })
        .to_string()
    };
    assert_eq!(
        run.boto_test_pattern(pattern, &event(250)),
        json!({"Result": true})
    );
    assert_eq!(
        run.boto_test_pattern(pattern, &event(5)),
        json!({"Result": false})
    );
    for (bad, reason) in [
        (
            r#"{"source": [{"prefix": 5}]}"#,
            "prefix match pattern must be a string",
        ),
        (
            r#"{"source": "shop"}"#,
            "\"source\" must be an object or an array",
        ),
    ] {
        let r = run.boto_test_pattern(bad, &event(1));
        assert_eq!(r["Error"]["Code"], "InvalidEventPatternException", "{r}");
        let msg = r["Error"]["Message"].as_str().unwrap_or_default();
        assert_eq!(
            msg.lines().next(),
            Some(format!("Event pattern is not valid. Reason: {reason}").as_str()),
            "{r}"
        );
    }
    let r = run.boto_test_pattern(pattern, r#"{"testEvent": "value"}"#);
    assert_eq!(
        r,
        json!({"Error": {"Code": "ValidationException", "Message": "Parameter Event is not valid."}})
    );
}

#[test]
fn raw_protocol_unknown_operations_and_ndjson() {
    let run = start("ingest-raw", "", "");

    for target in [
        Some("AWSEvents.Frobnicate"),
        Some("AWSEvents.ListArchives"),
        None,
    ] {
        let (status, head, body) = run.amz(target, &json!({}));
        assert_eq!(status, 400, "{target:?}: {head}\n{body}");
        assert_eq!(body["__type"], "UnknownOperationException", "{body}");
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains("\r\nx-amzn-errortype: unknownoperationexception"),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/x-amz-json-1.1"),
            "{head}"
        );
        assert!(head.contains("\r\nx-amzn-requestid: "), "{head}");
    }

    let id = "1b6a3c6e-5d0e-4b8f-9d5c-1f2e3d4c5b6a";
    let envelope = json!({
        "id": id, "source": "shop", "detail-type": "Order Placed",
        "time": "2023-05-01T10:00:00Z", "detail": {"total": 500}
    });
    let body = format!(
        "{envelope}\n{{\"total\": 3}}\n\n   \nthis is not json\n{}\n",
        r#"{"source": "shop", "detail-type": "X", "detail": "not an object"}"#
    );
    let (status, head, resp) = run.ndjson(&body);
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\ncontent-type: application/json"),
        "{head}"
    );
    // Every non-blank line was taken in (the invalid ones are dead-lettered,
    // not refused): 4.
    assert_eq!(
        parse(&String::from_utf8_lossy(&resp)),
        json!({"Accepted": 4})
    );

    let a: Vec<Value> = run.lines("a.ndjson", 2).iter().map(|l| parse(l)).collect();
    let b: Vec<Value> = run.lines("b.ndjson", 1).iter().map(|l| parse(l)).collect();
    // The envelope keeps its id and time; account and region come from the bus.
    assert_eq!(
        a[0],
        json!({
            "version": "0", "id": id, "detail-type": "Order Placed", "source": "shop",
            "account": ACCOUNT, "time": "2023-05-01T10:00:00Z", "region": REGION,
            "resources": [], "detail": {"total": 500}
        })
    );
    assert_eq!(b[0], a[0]);
    // The raw object is wrapped with the source's `source` and `detail_type`.
    assert_eq!(a[1]["source"], "shop");
    assert_eq!(a[1]["detail-type"], "Raw");
    assert_eq!(a[1]["detail"], json!({"total": 3}));
    assert!(uuid_like(a[1]["id"].as_str().unwrap()), "{}", a[1]);

    let dl: Vec<Value> = run
        .lines("dlq.ndjson", 2)
        .iter()
        .map(|l| parse(l))
        .collect();
    assert_eq!(dl.len(), 2, "{dl:#?}");
    let d = &dl[0];
    assert_eq!(d["stage"], "source", "{d}");
    assert_eq!(d["source"], "api", "{d}");
    assert_eq!(d["error_code"], "invalid_json", "{d}");
    assert_eq!(d["input"], "this is not json", "{d}");
    let msg = d["error_message"].as_str().unwrap_or_default();
    assert!(msg.contains("line 5: "), "names the line: {d}");
    let d = &dl[1];
    assert_eq!(d["stage"], "source", "{d}");
    assert_eq!(
        d["input"],
        r#"{"source": "shop", "detail-type": "X", "detail": "not an object"}"#
    );
    assert!(
        d["error_code"].as_str().is_some_and(|c| !c.is_empty()),
        "{d}"
    );
    assert!(
        d["error_message"]
            .as_str()
            .is_some_and(|c| c.contains("detail")),
        "{d}"
    );
    // Nothing else was delivered.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(run.lines("a.ndjson", 2).len(), 2);
}

#[test]
fn a_full_pipeline_throttles_producers_and_loses_nothing() {
    let held = http_server::Server::start(|_| http_server::Reply::Held);
    let rules = format!(
        r#"
  - name: hold
    event_pattern: {{"source": ["slow"]}}
    targets:
      - {{id: held, kind: http, url: "{url}", timeout_seconds: 30, max_concurrency: 1}}
"#,
        url = held.url("/")
    );
    let run = start(
        "ingest-throttle",
        &rules,
        "limits: {max_in_flight_events: 2}",
    );
    let put = |n: u32| {
        run.amz(
            Some("AWSEvents.PutEvents"),
            &json!({"Entries": [{"Source": "slow", "DetailType": "T",
                                 "Detail": json!({"n": n}).to_string()}]}),
        )
    };
    let accepted_id = |(status, head, body): (u16, String, Value)| -> String {
        assert_eq!(status, 200, "{head}\n{body}");
        assert_eq!(body["FailedEntryCount"], 0, "{body}");
        body["Entries"][0]["EventId"].as_str().unwrap().to_string()
    };
    let mut ids = vec![accepted_id(put(1))];
    held.wait_for(1, Duration::from_secs(10));
    ids.push(accepted_id(put(2)));

    // Two events in flight, the limit: refused as a whole, with EventBridge's
    // throttling error...
    let (status, head, body) = put(3);
    assert_eq!(status, 400, "{head}\n{body}");
    assert_eq!(
        body,
        json!({"__type": "ThrottlingException", "message": "Rate exceeded"})
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nx-amzn-errortype: throttlingexception"),
        "{head}"
    );
    let mut throttled = 1;
    // ... which the SDK sees as ThrottlingException ...
    if support::python().is_some() {
        let (code, resp) = run.boto_put_events(
            &json!([{"Source": "slow", "DetailType": "T", "Detail": "{\"n\": 4}"}]),
        );
        assert_eq!(code, 1, "{resp}");
        assert_eq!(resp["Error"]["Code"], "ThrottlingException", "{resp}");
        assert_eq!(resp["HTTPStatusCode"], 400, "{resp}");
        throttled += 1;
    }
    // ... and as 429 with Retry-After on /events.
    let (status, head, _) =
        run.ndjson("{\"source\": \"slow\", \"detail-type\": \"T\", \"detail\": {}}\n");
    assert_eq!(status, 429, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("\r\nretry-after: 1"),
        "{head}"
    );
    throttled += 1;
    // A request that could never fit the budget is refused for good, not throttled.
    let (status, _, body) = run.ndjson("{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    assert_eq!(status, 413, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("limits.max_in_flight_events 2"));

    let m = run.busbar.metrics();
    assert_eq!(
        sample(&m, "busbar_backpressure_total{source=\"api\"}"),
        Some(throttled as f64),
        "{m}"
    );
    assert_eq!(sample(&m, "busbar_in_flight_events"), Some(2.0), "{m}");
    assert_eq!(
        sample(
            &m,
            "busbar_http_requests_total{operation=\"events\",status=\"429\"}"
        ),
        Some(1.0),
        "{m}"
    );
    // Only the first request reached the target (max_concurrency 1); the
    // second waits behind it.
    assert_eq!(held.count(), 1);

    held.release();
    run.wait_metric(
        "busbar_deliveries_total{rule=\"hold\",target=\"held\"}",
        2.0,
    );
    run.wait_metric("busbar_in_flight_events", 0.0);
    // Room again: accepted and delivered.
    ids.push(accepted_id(put(5)));
    run.wait_metric(
        "busbar_deliveries_total{rule=\"hold\",target=\"held\"}",
        3.0,
    );
    std::thread::sleep(Duration::from_millis(200));
    let got = held.requests();
    let got_ids: Vec<String> = got
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_string())
        .collect();
    // Each accepted event exactly once, in order; nothing refused arrived.
    assert_eq!(got_ids, ids);
    let ns: Vec<Value> = got
        .iter()
        .map(|r| r.json()["detail"]["n"].clone())
        .collect();
    assert_eq!(ns, [json!(1), json!(2), json!(5)]);
}

#[test]
fn admin_endpoints_metrics_and_a_clean_exit_on_sigterm() {
    let mut run = start("ingest-admin", "", "");
    for path in ["/healthz", "/readyz"] {
        let (status, _) = support::http(&run.busbar.admin, "GET", path, &[], b"").unwrap();
        assert_eq!(status, 200, "{path}");
    }

    let (status, _, body) = run.amz(
        Some("AWSEvents.PutEvents"),
        &json!({"Entries": [
            {"Source": "shop", "DetailType": "T", "Detail": "{\"total\": 101}"},
            {"Source": "shop", "DetailType": "T", "Detail": "{\"total\": 1}"},
            {"Source": "shop", "DetailType": "T", "Detail": "oops"},
        ]}),
    );
    assert_eq!(status, 200);
    assert_eq!(body["FailedEntryCount"], 1, "{body}");
    let (status, _, _) = run.ndjson("{\"total\": 2}\nnot json\n");
    assert_eq!(status, 200);
    let (status, _, _) = run.amz(
        Some("AWSEvents.TestEventPattern"),
        &json!({"EventPattern": "{\"source\": [\"x\"]}", "Event": "{}"}),
    );
    assert_eq!(status, 400);
    let (status, _, _) = run.amz(Some("AWSEvents.Nope"), &json!({}));
    assert_eq!(status, 400);

    let m = run.wait_metric(
        "busbar_deliveries_total{rule=\"all-orders\",target=\"file-a\"}",
        3.0,
    );
    let m = if sample(&m, "busbar_dead_letters_total{reason=\"invalid_json\",rule=\"\",stage=\"source\",target=\"api\"}") == Some(1.0) {
        m
    } else {
        run.wait_metric(
            "busbar_dead_letters_total{reason=\"invalid_json\",rule=\"\",stage=\"source\",target=\"api\"}",
            1.0,
        )
    };
    let version = env!("CARGO_PKG_VERSION");
    for (series, want) in [
        // Two valid PutEvents entries and two NDJSON lines (the failed
        // entry never entered the pipeline).
        ("busbar_events_received_total{source=\"api\"}", 4.0),
        ("busbar_events_matched_total{rule=\"all-orders\"}", 3.0),
        ("busbar_events_matched_total{rule=\"big-orders\"}", 1.0),
        (
            "busbar_deliveries_total{rule=\"all-orders\",target=\"out\"}",
            3.0,
        ),
        (
            "busbar_deliveries_total{rule=\"big-orders\",target=\"file-b\"}",
            1.0,
        ),
        (
            "busbar_parse_failures_total{reason=\"invalid_json\",source=\"api\"}",
            1.0,
        ),
        (
            "busbar_http_requests_total{operation=\"PutEvents\",status=\"200\"}",
            1.0,
        ),
        (
            "busbar_http_requests_total{operation=\"events\",status=\"200\"}",
            1.0,
        ),
        (
            "busbar_http_requests_total{operation=\"TestEventPattern\",status=\"400\"}",
            1.0,
        ),
        (
            "busbar_http_requests_total{operation=\"other\",status=\"400\"}",
            1.0,
        ),
        (
            &format!(
                "busbar_build_info{{features=\"{}\",revision=\"{}\",target=\"{}\",version=\"{version}\"}}",
                busbar::version::FEATURES,
                busbar::version::REVISION,
                busbar::version::TARGET
            ),
            1.0,
        ),
        ("busbar_rules_loaded", 2.0),
        ("busbar_in_flight_events", 0.0),
    ] {
        assert_eq!(sample(&m, series), Some(want), "{series}:\n{m}");
    }

    run.busbar.signal("TERM");
    let t = Instant::now();
    let st = loop {
        if let Some(st) = run.busbar.child.try_wait().expect("wait") {
            break st;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "busbar ignored SIGTERM for 10 s; stderr:\n{}",
            run.busbar.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(st.code(), Some(0), "stderr:\n{}", run.busbar.stderr());
    assert!(
        run.busbar.stderr().contains("SIGTERM"),
        "{}",
        run.busbar.stderr()
    );
    assert!(
        std::net::TcpStream::connect(&run.ingest).is_err(),
        "the ingest port still answers after exit"
    );
}

#[test]
fn rejected_put_events_entries_are_counted_by_error_code() {
    let run = start("ingest-rejected", "", "");
    let entries = json!({"Entries": [
        {"Source": "shop", "DetailType": "t", "Detail": "{\"total\": 1}"},
        {"DetailType": "t", "Detail": "{}"},
        {"Source": "shop", "Detail": "{}"},
        {"Source": "shop", "DetailType": "t", "Detail": "[1]"},
        {"Source": "aws.ec2", "DetailType": "t", "Detail": "{}"},
    ]});
    let (status, _, body) = run.amz(Some("AWSEvents.PutEvents"), &entries);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["FailedEntryCount"], 4, "{body}");
    let m = run.busbar.metrics();
    for (code, n) in [
        ("InvalidArgument", 2.0),
        ("MalformedDetail", 1.0),
        ("NotAuthorizedForSourceException", 1.0),
    ] {
        assert_eq!(
            sample(
                &m,
                &format!(
                    "busbar_put_events_rejected_entries_total{{reason=\"{code}\",source=\"api\"}}"
                )
            ),
            Some(n),
            "{code}:\n{m}"
        );
    }
    // Only entry 0 went on.
    assert_eq!(run.lines("a.ndjson", 1).len(), 1);
}

/// The dead-letter record of a stdin line, from `busbar run` on a stdin
/// source with `limits`.
fn stdin_dead_letter(dir: &Path, limits: &str, input: &str) -> Value {
    let dlq = dir.join("stdin-dlq.ndjson");
    let cfg = dir.join("stdin.yaml");
    std::fs::write(
        &cfg,
        format!(
            "sources: [{{id: api, kind: stdin, dead_letter: dlq}}]\n\
             dead_letters: {{dlq: {{kind: file, path: \"{}\"}}}}\n\
             admin: {{listen: \"127.0.0.1:0\"}}\nwatch_config: false\n{limits}\n",
            dlq.display()
        ),
    )
    .expect("config");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("busbar runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("input written");
    assert!(child.wait().expect("exit").success());
    let text = std::fs::read_to_string(&dlq).expect("stdin dead letter");
    parse(text.lines().next().expect("one record"))
}

#[test]
fn an_over_long_events_line_is_refused_exactly_as_on_stdin() {
    let limits = "limits: {max_event_bytes: 100, max_in_flight_bytes: 1000000}";
    let run = start("ingest-long-line", "", limits);
    // 501 bytes: over the limit, yet within the 4 KiB the matcher allows an
    // envelope, which `/events` lines used to get too.
    let long = format!("{{\"total\":2,\"pad\":\"{}\"}}", "x".repeat(481));
    assert_eq!(long.len(), 501);
    let body = format!("{{\"total\":1}}\n{long}  \r\n{{\"total\":3}}\n");
    let (status, _, resp) = run.ndjson(&body);
    assert_eq!(status, 200);
    assert_eq!(
        parse(&String::from_utf8_lossy(&resp)),
        json!({"Accepted": 3})
    );
    let a = run.lines("a.ndjson", 2);
    assert_eq!(a.len(), 2, "{a:?}");
    let http = parse(&run.lines("dlq.ndjson", 1)[0]);
    assert_eq!(http["error_code"], "too_large", "{http}");
    assert_eq!(
        http["error_message"],
        "line 2: event is more than 100 bytes, over the limit of 100 (setting limits.max_event_bytes)"
    );
    assert_eq!(
        http["input"],
        long[..101],
        "the line cut one byte past the limit"
    );
    let m = run.busbar.metrics();
    assert_eq!(
        sample(
            &m,
            "busbar_parse_failures_total{reason=\"too_large\",source=\"api\"}"
        ),
        Some(1.0),
        "{m}"
    );

    // The same line on stdin gives the same record.
    let stdin = stdin_dead_letter(&run.dir, limits, &body);
    for key in ["stage", "source", "error_code", "error_message", "input"] {
        assert_eq!(http[key], stdin[key], "{key}: {http} vs {stdin}");
    }

    // PutEvents applies the limit to the entry (its §2.1.3 size), not to
    // the envelope busbar builds around it.
    let detail = format!("{{\\\"total\\\":4,\\\"p\\\":\\\"{}\\\"}}", "y".repeat(60));
    let (status, _, resp) = run.amz(
        Some("AWSEvents.PutEvents"),
        &parse(&format!(
            r#"{{"Entries":[{{"Source":"shop","DetailType":"t","Detail":"{detail}"}}]}}"#
        )),
    );
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["FailedEntryCount"], 0, "{resp}");
    let a = run.lines("a.ndjson", 3);
    assert!(a[2].len() > 100, "{}", a[2]);
}
