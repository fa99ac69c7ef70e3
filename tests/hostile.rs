//! The hostile-input catalogue: malformed, truncated, oversized and
//! mistyped events that nobody working on busbar wrote, each sent through
//! every way an event gets in: `busbar filter --validate`, `busbar run`
//! with a stdin source, `POST /events` and PutEvents on an http source, and
//! a Kafka source.
//!
//! For every case the test knows what each path must say: the error code
//! and the text naming the byte or envelope field (dead-letter record and
//! `busbar_parse_failures_total`), the PutEvents `ErrorCode` (and
//! `busbar_put_events_rejected_entries_total`), or that the input is a
//! valid event after all and is delivered. Dead letters must keep the input
//! byte for byte (`input`, or `input_base64` where it is not UTF-8).
//!
//! One busbar per path is fed the whole catalogue, then one valid event;
//! that event must still be delivered, and every id is accounted for:
//! sent = delivered + dead-lettered (+ blank lines, which are not events).
//! Mismatches are collected and reported together, so one run shows every
//! case that changed.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};
use support::Busbar;

/// `limits.max_event_depth` of the `run` configurations.
const DEPTH: usize = 16;
/// `limits.max_event_bytes` of the `run` configurations and `filter`.
const MAX_BYTES: usize = 4096;
/// The `source` of the valid event sent after the catalogue.
const FINAL_SOURCE: &str = "hostile.final";
const SURROGATE: &str = "invalid event at byte 6: unpaired UTF-16 surrogate in \\u escape";

/// What `busbar run` must do with a line (stdin, `/events`, Kafka).
#[derive(Clone, Copy, Debug)]
enum Run {
    /// A valid event: delivered.
    Ok,
    /// Nothing but whitespace: not an event, skipped.
    Blank,
    /// Dead-lettered with this error code and a message containing this.
    Reject(&'static str, &'static str),
}

/// What PutEvents must do with an entry whose `Detail` is the input.
#[derive(Clone, Copy, Debug)]
enum Put {
    Ok,
    Fail(&'static str),
    /// The whole request is refused with this `__type`.
    Request(&'static str),
    /// The input is not a string a JSON request can carry.
    Na,
}

struct Case {
    name: &'static str,
    input: Vec<u8>,
    run: Run,
    /// `filter --validate`: `None` accepted, `Some(text)` reported with it.
    filter: Option<&'static str>,
    put: Put,
}

fn case(name: &'static str, input: impl Into<Vec<u8>>, run: Run) -> Case {
    let input = input.into();
    let filter = match run {
        Run::Reject(_, m) => Some(m),
        Run::Ok | Run::Blank => None,
    };
    let put = match (std::str::from_utf8(&input), run) {
        (Err(_), _) => Put::Na,
        (Ok(_), Run::Ok) => Put::Ok,
        (Ok(_), Run::Blank) => Put::Fail("MalformedDetail"),
        (Ok(_), Run::Reject(..)) => Put::Fail("MalformedDetail"),
    };
    Case {
        name,
        input,
        run,
        filter,
        put,
    }
}

impl Case {
    fn filter(mut self, f: Option<&'static str>) -> Case {
        self.filter = f;
        self
    }
    fn put(mut self, p: Put) -> Case {
        self.put = p;
        self
    }
}

/// An envelope with every key, `field` replaced by `value` (raw JSON).
fn envelope_with(field: &str, value: &str) -> String {
    let mut parts = vec![
        ("version", "\"0\"".to_string()),
        ("id", "\"e-1\"".to_string()),
        ("detail-type", "\"T\"".to_string()),
        ("source", "\"s\"".to_string()),
        ("account", "\"123456789012\"".to_string()),
        ("time", "\"2025-01-01T00:00:00Z\"".to_string()),
        ("region", "\"r\"".to_string()),
        ("resources", "[]".to_string()),
        ("detail", "{\"n\":1}".to_string()),
    ];
    for p in &mut parts {
        if p.0 == field {
            p.1 = value.to_string();
        }
    }
    let body: Vec<String> = parts.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn catalogue() -> Vec<Case> {
    use Run::{Blank, Ok, Reject};
    let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
    let deep_obj = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
    vec![
        // Encoding.
        case(
            "invalid utf-8 in a string",
            b"{\"a\":\"\xff\"}".to_vec(),
            Reject("invalid_json", "byte 6"),
        ),
        case(
            "overlong utf-8",
            b"{\"a\":\"\xc0\xaf\"}".to_vec(),
            Reject("invalid_json", "byte 6"),
        ),
        case(
            "invalid utf-8 in a key",
            b"{\"\xfe\":1}".to_vec(),
            Reject("invalid_json", "byte 2"),
        ),
        case(
            "a lone invalid byte",
            b"\xff".to_vec(),
            Reject("invalid_json", "byte 0"),
        ),
        case(
            "truncated utf-8 sequence",
            b"{\"a\":\"\xe2\x82\"}".to_vec(),
            Reject("invalid_json", "byte 6"),
        ),
        case(
            "utf-8 BOM",
            b"\xef\xbb\xbf{\"a\":1}".to_vec(),
            Reject("invalid_json", "byte 0"),
        ),
        // serde_json's RawValue does not decode escapes, so the envelope is
        // read fine and the matcher's scanner finds these (still bad JSON).
        case(
            "lone leading surrogate",
            r#"{"a":"\ud800"}"#,
            Reject("invalid_json", SURROGATE),
        ),
        case(
            "lone trailing surrogate",
            r#"{"a":"\udc00"}"#,
            Reject("invalid_json", SURROGATE),
        ),
        case(
            "surrogates reversed",
            r#"{"a":"\ude00\ud83d"}"#,
            Reject("invalid_json", SURROGATE),
        ),
        case("a valid surrogate pair", r#"{"a":"\ud83d\ude00"}"#, Ok),
        // Truncation and garbage.
        // Every path names the byte at fault, as `filter` does (busbar's own
        // scanner says what is wrong with input that is not JSON).
        case(
            "truncated object",
            r#"{"a":1"#,
            Reject("invalid_json", "byte 6: unexpected end of input"),
        ),
        case(
            "truncated string",
            r#"{"a":"abc"#,
            Reject("invalid_json", "byte 9: unexpected end of input"),
        ),
        case(
            "truncated after colon",
            r#"{"a":"#,
            Reject("invalid_json", "byte 5: unexpected end of input"),
        ),
        case(
            "only an open brace",
            "{",
            Reject("invalid_json", "byte 1: unexpected end of input"),
        ),
        case(
            "trailing garbage",
            r#"{"a":1}x"#,
            Reject("invalid_json", "byte 7"),
        ),
        case(
            "two objects on one line",
            r#"{"a":1}{"b":2}"#,
            Reject("invalid_json", "byte 7"),
        ),
        case(
            "trailing comma in an object",
            r#"{"a":1,}"#,
            Reject("invalid_json", "byte 7"),
        ),
        case(
            "trailing comma in an array",
            r#"{"a":[1,2,]}"#,
            Reject("invalid_json", "byte 10"),
        ),
        case(
            "missing colon",
            r#"{"a"1}"#,
            Reject("invalid_json", "byte 4"),
        ),
        case(
            "missing comma",
            r#"{"a":1 "b":2}"#,
            Reject("invalid_json", "byte 7"),
        ),
        case("single quotes", "{'a':1}", Reject("invalid_json", "byte 1")),
        case("unquoted key", "{a:1}", Reject("invalid_json", "byte 1")),
        case(
            "a comment after the event",
            r#"{"a":1}//c"#,
            Reject("invalid_json", "byte 7"),
        ),
        case(
            "short unicode escape",
            r#"{"a":"\u12"}"#,
            Reject("invalid_json", "byte 6: invalid \\u escape"),
        ),
        case(
            "unknown escape",
            r#"{"a":"\x"}"#,
            Reject("invalid_json", "byte 6: invalid escape in a string"),
        ),
        // Numbers.
        case("huge exponent", r#"{"n":1e999999}"#, Ok),
        case(
            "400-digit integer",
            format!("{{\"n\":{}}}", "9".repeat(400)),
            Ok,
        ),
        case(
            "a lone minus",
            r#"{"n":-}"#,
            Reject("invalid_json", "byte 6: invalid number"),
        ),
        case(
            "leading zero",
            r#"{"n":012}"#,
            Reject("invalid_json", "byte 6: expected ',' or '}' in an object"),
        ),
        case("NaN", r#"{"n":NaN}"#, Reject("invalid_json", "byte 5")),
        case(
            "Infinity",
            r#"{"n":Infinity}"#,
            Reject("invalid_json", "byte 5"),
        ),
        case(
            "no digit after the point",
            r#"{"n":1.}"#,
            Reject(
                "invalid_json",
                "byte 7: invalid number: digit expected after '.'",
            ),
        ),
        case(
            "no digit before the point",
            r#"{"n":.5}"#,
            Reject("invalid_json", "byte 5"),
        ),
        // Control characters and NUL.
        case(
            "raw NUL in a string",
            b"{\"a\":\"\0\"}".to_vec(),
            Reject("invalid_json", "byte 6: raw control character in a string"),
        ),
        case(
            "NUL after the event",
            b"{\"a\":1}\0".to_vec(),
            Reject("invalid_json", "byte 7"),
        ),
        case("escaped NUL", r#"{"a":"\u0000"}"#, Ok),
        case(
            "raw tab in a string",
            "{\"a\":\"x\ty\"}",
            Reject("invalid_json", "byte 7: raw control character in a string"),
        ),
        case(
            "raw 0x1f in a string",
            b"{\"a\":\"\x1f\"}".to_vec(),
            Reject("invalid_json", "byte 6: raw control character in a string"),
        ),
        case("DEL in a string", b"{\"a\":\"\x7f\"}".to_vec(), Ok),
        case("escaped quote in a key", r#"{"a\"b":1}"#, Ok),
        // Whitespace and line ends.
        case("CRLF line end", b"{\"crlf\":1}\r".to_vec(), Ok),
        case("whitespace-only line", " \t  ", Blank),
        case("empty line", "", Blank).put(Put::Fail("InvalidArgument")),
        case("leading and trailing spaces", "   {\"pad\":1}   ", Ok),
        // Empty and non-object values.
        case("empty object", "{}", Ok),
        case("empty key and value", r#"{"":""}"#, Ok),
        case(
            "empty array",
            "[]",
            Reject("not_an_object", "byte 0: event is not a JSON object"),
        ),
        case(
            "a number",
            "1",
            Reject("not_an_object", "byte 0: event is not a JSON object"),
        ),
        case(
            "a string",
            r#""x""#,
            Reject("not_an_object", "byte 0: event is not a JSON object"),
        ),
        case(
            "null",
            "null",
            Reject("not_an_object", "byte 0: event is not a JSON object"),
        ),
        case(
            "true",
            "true",
            Reject("not_an_object", "byte 0: event is not a JSON object"),
        ),
        // Duplicate keys.
        case("duplicate key in a raw object", r#"{"a":1,"a":2}"#, Ok),
        case(
            "duplicate envelope key",
            r#"{"source":"s","detail-type":"T","source":"t","detail":{}}"#,
            Reject("duplicate_key", "envelope key `source` appears twice"),
        )
        .filter(None)
        .put(Put::Ok),
        // Envelope fields of the wrong type.
        case(
            "detail a string",
            envelope_with("detail", "\"x\""),
            Reject(
                "detail_not_object",
                "envelope field `detail` must be an object",
            ),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "detail an array",
            envelope_with("detail", "[]"),
            Reject(
                "detail_not_object",
                "envelope field `detail` must be an object",
            ),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "detail null",
            envelope_with("detail", "null"),
            Reject(
                "detail_not_object",
                "envelope field `detail` must be an object",
            ),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "time a number",
            envelope_with("time", "5"),
            Reject("bad_field_type", "envelope field `time`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "resources an object",
            envelope_with("resources", "{}"),
            Reject("bad_field_type", "envelope field `resources`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "resources of numbers",
            envelope_with("resources", "[1]"),
            Reject("bad_field_type", "envelope field `resources`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "source a number",
            envelope_with("source", "1"),
            Reject("bad_field_type", "envelope field `source`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "detail-type null",
            envelope_with("detail-type", "null"),
            Reject("bad_field_type", "envelope field `detail-type`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "id a number",
            envelope_with("id", "7"),
            Reject("bad_field_type", "envelope field `id`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "account an array",
            envelope_with("account", "[]"),
            Reject("bad_field_type", "envelope field `account`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "version a number",
            envelope_with("version", "0"),
            Reject("bad_field_type", "envelope field `version`"),
        )
        .filter(None)
        .put(Put::Ok),
        case(
            "region a boolean",
            envelope_with("region", "true"),
            Reject("bad_field_type", "envelope field `region`"),
        )
        .filter(None)
        .put(Put::Ok),
        // Limits.
        case(
            "arrays one level over the depth limit",
            format!("{{\"a\":{}}}", deep(DEPTH)),
            Reject("event_limit", "limits.max_event_depth"),
        )
        .filter(None),
        case(
            "objects one level over the depth limit",
            format!("{{\"a\":{}}}", deep_obj(DEPTH)),
            Reject("event_limit", "limits.max_event_depth"),
        )
        .filter(None),
        case(
            "arrays at the depth limit",
            format!("{{\"b\":{}}}", deep(DEPTH - 1)),
            Ok,
        ),
        case(
            "nesting over filter's default depth",
            format!("{{\"a\":{}}}", deep(1000)),
            Reject("event_limit", "limits.max_event_depth"),
        )
        .filter(Some("byte 1004: nesting deeper than 1000 levels")),
        case(
            "a line over max_event_bytes",
            format!("{{\"big\":\"{}\"}}", "x".repeat(MAX_BYTES)),
            Reject(
                "too_large",
                "bytes, over the limit of 4096 (setting limits.max_event_bytes)",
            ),
        )
        .filter(Some(
            "event is 4106 bytes, over the limit of 4096 (setting --max-event-bytes)",
        ))
        .put(Put::Request("ValidationException")),
        // PutEvents counts Source and DetailType into the same limit.
        case(
            "a line of exactly max_event_bytes",
            format!("{{\"fit\":\"{}\"}}", "y".repeat(MAX_BYTES - 10)),
            Ok,
        )
        .put(Put::Request("ValidationException")),
        case(
            "a 3000-byte key",
            format!("{{\"{}\":1}}", "k".repeat(3000)),
            Ok,
        ),
        case(
            "1,000 empty arrays",
            format!("{{\"a\":[{}[]]}}", "[],".repeat(1000)),
            Ok,
        ),
    ]
}

/// What a dead letter of `path` must keep of a case's input: all of it,
/// except that a line reader (stdin, `/events`) stops one byte past
/// `limits.max_event_bytes` and keeps only that much of an over-long line.
fn kept<'a>(path: &str, c: &'a Case) -> &'a [u8] {
    match c.run {
        Run::Reject("too_large", _) if path != "kafka" => &c.input[..MAX_BYTES + 1],
        _ => &c.input,
    }
}

/// Whether error text `m` says `want`; a `want` ending in a byte offset
/// must be followed by the colon, so `byte 6` is not found in `byte 60:`.
fn says(m: &str, want: &str) -> bool {
    if want.ends_with(|c: char| c.is_ascii_digit()) {
        m.contains(&format!("{want}:"))
    } else {
        m.contains(want)
    }
}

fn matches_input(dl: &Value, input: &[u8]) -> bool {
    match dl["input"].as_str() {
        Some(t) => t.as_bytes() == input,
        // Decoded, so the record is checked for the bytes it carries, not
        // for one encoder agreeing with another.
        None => dl["input_base64"]
            .as_str()
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .is_some_and(|bytes| bytes == input),
    }
}

/// `metric{reason=..,source=..}` values of one source, by reason.
fn by_reason(metrics: &str, metric: &str, source: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for l in metrics.lines() {
        let Some(rest) = l.strip_prefix(metric).and_then(|r| r.strip_prefix('{')) else {
            continue;
        };
        let Some((labels, v)) = rest.split_once("} ") else {
            continue;
        };
        if !labels.contains(&format!("source=\"{source}\"")) {
            continue;
        }
        let reason = labels
            .split(',')
            .find_map(|kv| kv.strip_prefix("reason=\""))
            .map(|r| r.trim_end_matches('"').to_string())
            .unwrap_or_default();
        out.insert(reason, v.trim().parse().unwrap_or(f64::NAN));
    }
    out
}

/// The parse failures the catalogue must produce on a line-based path,
/// by reason (cases `skip` leaves out are not counted).
fn expected_failures(cases: &[&Case]) -> BTreeMap<String, f64> {
    let mut want = BTreeMap::new();
    for c in cases {
        if let Run::Reject(code, _) = c.run {
            *want.entry(code.to_string()).or_insert(0.0) += 1.0;
        }
    }
    want
}

fn config(dir: &Path, source: &str) -> String {
    format!(
        r#"
bus: {{name: hostile, account: "123456789012", region: eu-west-1}}
sources:
  - {source}
rules:
  - name: everything
    event_pattern: {{"source": [{{"prefix": ""}}]}}
    targets:
      - {{id: out, kind: file, path: "{out}"}}
dead_letters:
  dlq: {{kind: file, path: "{dlq}"}}
limits: {{max_event_depth: {DEPTH}, max_event_bytes: {MAX_BYTES}}}
watch_config: false
shutdown_grace_seconds: 5
"#,
        out = dir.join("out.ndjson").display(),
        dlq = dir.join("dlq.ndjson").display(),
    )
}

fn final_event() -> String {
    format!(r#"{{"source":"{FINAL_SOURCE}","detail-type":"T","detail":{{"last":true}}}}"#)
}

fn read_json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            // serde_json refuses numbers out of f64's range (`1e999999`),
            // which busbar passes through as written: keep the id.
            serde_json::from_str(l).unwrap_or_else(|_| {
                let field = |k: &str| {
                    l.split_once(&format!("\"{k}\":\""))
                        .and_then(|(_, r)| r.split_once('"'))
                        .map(|(v, _)| v.to_string())
                };
                json!({"id": field("id"), "source": field("source"), "unparsed": l})
            })
        })
        .collect()
}

/// Wait until `out` and `dlq` in `dir` have `delivered` and `dead` lines.
fn wait_outputs(
    dir: &Path,
    delivered: usize,
    dead: usize,
    b: Option<&Busbar>,
) -> (Vec<Value>, Vec<Value>) {
    let t = Instant::now();
    loop {
        let out = read_json_lines(&dir.join("out.ndjson"));
        let dlq = read_json_lines(&dir.join("dlq.ndjson"));
        let last = out.iter().any(|e| e["source"] == FINAL_SOURCE);
        if (out.len() >= delivered && dlq.len() >= dead && last)
            || t.elapsed() > Duration::from_secs(20)
        {
            // A moment more: anything beyond the expected counts shows up.
            std::thread::sleep(Duration::from_millis(200));
            let out = read_json_lines(&dir.join("out.ndjson"));
            let dlq = read_json_lines(&dir.join("dlq.ndjson"));
            if out.len() < delivered || dlq.len() < dead {
                eprintln!(
                    "timed out: {} of {delivered} delivered, {} of {dead} dead-lettered; stderr:\n{}",
                    out.len(),
                    dlq.len(),
                    b.map(|b| b.stderr()).unwrap_or_default()
                );
            }
            return (out, dlq);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Checks one line-based path's outputs against the cases it was sent.
fn check_lines(
    path: &str,
    cases: &[&Case],
    out: &[Value],
    dlq: &[Value],
    errors: &mut Vec<String>,
) {
    let want_out = cases.iter().filter(|c| matches!(c.run, Run::Ok)).count() + 1;
    let want_dead = cases
        .iter()
        .filter(|c| matches!(c.run, Run::Reject(..)))
        .count();
    if out.len() != want_out || dlq.len() != want_dead {
        errors.push(format!(
            "{path}: sent {} events ({} blank): delivered {} (want {want_out}), dead-lettered {} (want {want_dead})",
            cases.len() + 1,
            cases.len() + 1 - want_out - want_dead,
            out.len(),
            dlq.len()
        ));
    }
    if !out
        .iter()
        .any(|e| e["source"] == FINAL_SOURCE && e["detail"]["last"] == true)
    {
        errors.push(format!(
            "{path}: the valid event after the catalogue was not delivered"
        ));
    }
    let ids: std::collections::HashSet<&str> =
        out.iter().filter_map(|e| e["id"].as_str()).collect();
    if ids.len() != out.len() {
        errors.push(format!("{path}: delivered ids are not distinct"));
    }
    for c in cases {
        let dl = dlq.iter().find(|d| matches_input(d, kept(path, c)));
        match (c.run, dl) {
            (Run::Reject(code, msg), Some(d)) => {
                let m = d["error_message"].as_str().unwrap_or("");
                if d["stage"] != "source" || d["error_code"] != code || !says(m, msg) {
                    errors.push(format!(
                        "{path}: {}: want {code} with {msg:?}, got stage {} {} {m:?}",
                        c.name, d["stage"], d["error_code"]
                    ));
                }
            }
            (Run::Reject(code, _), None) => errors.push(format!(
                "{path}: {}: no dead letter keeping the input intact (want {code})",
                c.name
            )),
            (Run::Ok | Run::Blank, Some(d)) => errors.push(format!(
                "{path}: {}: want {:?}, got dead letter {} {}",
                c.name, c.run, d["error_code"], d["error_message"]
            )),
            (Run::Ok | Run::Blank, None) => {}
        }
    }
    for d in dlq {
        if !cases.iter().any(|c| matches_input(d, kept(path, c))) {
            errors.push(format!(
                "{path}: a dead letter with an input that was not sent: {d}"
            ));
        }
    }
}

fn check_metric(
    path: &str,
    metrics: &str,
    source: &str,
    want: &BTreeMap<String, f64>,
    errors: &mut Vec<String>,
) {
    let got = by_reason(metrics, "busbar_parse_failures_total", source);
    let got: BTreeMap<String, f64> = got.into_iter().filter(|(_, v)| *v != 0.0).collect();
    if &got != want {
        errors.push(format!(
            "{path}: busbar_parse_failures_total {got:?}, want {want:?}"
        ));
    }
}

fn report(errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

#[test]
fn the_catalogue_is_large_and_its_inputs_distinct() {
    let cases = catalogue();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut seen = HashMap::new();
    for c in &cases {
        if let Some(other) = seen.insert(c.input.clone(), c.name) {
            panic!("{} and {other} have the same input", c.name);
        }
        assert!(!c.input.contains(&b'\n'), "{}: one line per case", c.name);
    }
}

#[test]
fn filter_validate_reports_every_bad_line_and_keeps_going() {
    let cases = catalogue();
    let mut input = Vec::new();
    for c in &cases {
        input.extend_from_slice(&c.input);
        input.push(b'\n');
    }
    input.extend_from_slice(final_event().as_bytes());
    input.push(b'\n');
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["filter", "--validate", "--max-event-bytes"])
        .arg(MAX_BYTES.to_string())
        .args(["--pattern", &format!(r#"{{"source":["{FINAL_SOURCE}"]}}"#)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("busbar runs");
    let mut w = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || w.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut errors = Vec::new();
    // Invalid lines under --validate make the status 2, as grep's errors.
    if out.status.code() != Some(2) {
        errors.push(format!("filter: exit {:?}", out.status));
    }
    if String::from_utf8_lossy(&out.stdout).trim() != final_event() {
        errors.push(format!(
            "filter: stdout {:?}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let reported: HashMap<usize, &str> = stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("busbar: <stdin>: line ")?;
            let (n, msg) = rest.split_once(": ")?;
            Some((n.parse().ok()?, msg))
        })
        .collect();
    if reported.len() != stderr.lines().count() {
        errors.push(format!(
            "filter: stderr lines without a line number:\n{stderr}"
        ));
    }
    for (i, c) in cases.iter().enumerate() {
        match (c.filter, reported.get(&(i + 1))) {
            (None, None) => {}
            (Some(want), Some(got)) if says(got, want) => {}
            (want, got) => errors.push(format!(
                "filter: {} (line {}): want {want:?}, got {got:?}",
                c.name,
                i + 1
            )),
        }
    }
    // --strict stops at the first bad line with status 2.
    let strict = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["filter", "--strict", "--pattern", r#"{"a":[1]}"#])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .unwrap()
                .write_all(b"{\"a\":1}\n{\"a\":1}x\n{\"a\":1}\n")?;
            c.wait_with_output()
        })
        .unwrap();
    if strict.status.code() != Some(2) || strict.stdout != b"{\"a\":1}\n" {
        errors.push(format!(
            "filter --strict: exit {:?}, stdout {:?}, stderr {:?}",
            strict.status,
            String::from_utf8_lossy(&strict.stdout),
            String::from_utf8_lossy(&strict.stderr)
        ));
    }
    report(errors);
}

#[test]
fn run_with_stdin_dead_letters_every_bad_line_and_routes_the_rest() {
    let cases = catalogue();
    let dir = support::temp_dir("hostile-stdin");
    let cfg = dir.join("busbar.yaml");
    std::fs::write(
        &cfg,
        config(&dir, "{id: in, kind: stdin, dead_letter: dlq}"),
    )
    .unwrap();
    let mut input = Vec::new();
    for c in &cases {
        input.extend_from_slice(&c.input);
        input.push(b'\n');
    }
    input.extend_from_slice(final_event().as_bytes());
    input.push(b'\n');
    // The metrics are scraped before stdin ends: the process exits at EOF.
    let admin = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("BUSBAR_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("busbar runs");
    let mut w = child.stdin.take().unwrap();
    w.write_all(&input).unwrap();
    let refs: Vec<&Case> = cases.iter().collect();
    let want_out = refs.iter().filter(|c| matches!(c.run, Run::Ok)).count() + 1;
    let want_dead = refs
        .iter()
        .filter(|c| matches!(c.run, Run::Reject(..)))
        .count();
    let (out, dlq) = wait_outputs(&dir, want_out, want_dead, None);
    let mut errors = Vec::new();
    let addr = format!("127.0.0.1:{admin}");
    let metrics = support::http(&addr, "GET", "/metrics", &[], b"")
        .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    drop(w);
    let done = child.wait_with_output().unwrap();
    if !done.status.success() {
        errors.push(format!(
            "stdin: exit {:?}: {}",
            done.status,
            String::from_utf8_lossy(&done.stderr)
        ));
    }
    check_lines("stdin", &refs, &out, &dlq, &mut errors);
    check_metric(
        "stdin",
        &metrics,
        "in",
        &expected_failures(&refs),
        &mut errors,
    );
    report(errors);
}

#[test]
fn http_events_and_put_events_reject_every_bad_input_and_stay_up() {
    let cases = catalogue();
    let dir = support::temp_dir("hostile-http");
    let port = support::free_port();
    let ingest = format!("127.0.0.1:{port}");
    let mut b = Busbar::start(
        &dir,
        &config(
            &dir,
            &format!("{{id: api, kind: http, listen: \"{ingest}\", dead_letter: dlq}}"),
        ),
        support::free_port(),
        &[],
    );
    b.wait_ready(Duration::from_secs(15));
    let mut errors = Vec::new();

    // POST /events, one request per case, then the valid event.
    for c in &cases {
        match support::http(&ingest, "POST", "/events", &[], &c.input) {
            Err(e) => errors.push(format!("/events: {}: {e}", c.name)),
            Ok((s, body)) if !(200..300).contains(&s) => errors.push(format!(
                "/events: {}: status {s} {}",
                c.name,
                String::from_utf8_lossy(&body)
            )),
            Ok(_) => {}
        }
    }
    let (s, body) =
        support::http(&ingest, "POST", "/events", &[], final_event().as_bytes()).unwrap();
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let refs: Vec<&Case> = cases.iter().collect();
    let want_out = refs.iter().filter(|c| matches!(c.run, Run::Ok)).count() + 1;
    let want_dead = refs
        .iter()
        .filter(|c| matches!(c.run, Run::Reject(..)))
        .count();
    let (out, dlq) = wait_outputs(&dir, want_out, want_dead, Some(&b));
    check_lines("/events", &refs, &out, &dlq, &mut errors);
    check_metric(
        "/events",
        &b.metrics(),
        "api",
        &expected_failures(&refs),
        &mut errors,
    );

    // PutEvents: each case is the Detail of one entry.
    let mut rejected: BTreeMap<String, f64> = BTreeMap::new();
    let mut accepted = 0;
    for c in &cases {
        let Ok(detail) = std::str::from_utf8(&c.input) else {
            continue;
        };
        if matches!(c.put, Put::Na) {
            continue;
        }
        let req =
            json!({"Entries": [{"Source": "hostile.put", "DetailType": "T", "Detail": detail}]});
        let (s, body) = support::http(
            &ingest,
            "POST",
            "/",
            &[
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "AWSEvents.PutEvents"),
            ],
            req.to_string().as_bytes(),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let got = v["Entries"][0]["ErrorCode"].as_str();
        match (c.put, got) {
            (Put::Ok, None) if s == 200 && v["Entries"][0]["EventId"].is_string() => accepted += 1,
            (Put::Fail(code), Some(g)) if s == 200 && g == code && v["FailedEntryCount"] == 1 => {
                *rejected.entry(code.to_string()).or_insert(0.0) += 1.0;
            }
            (Put::Request(t), _) if s == 400 && v["__type"] == t => {}
            (want, _) => errors.push(format!("PutEvents: {}: want {want:?}, got {s} {v}", c.name)),
        }
    }
    let got = by_reason(
        &b.metrics(),
        "busbar_put_events_rejected_entries_total",
        "api",
    );
    let got: BTreeMap<String, f64> = got.into_iter().filter(|(_, v)| *v != 0.0).collect();
    if got != rejected {
        errors.push(format!(
            "PutEvents: busbar_put_events_rejected_entries_total {got:?}, want {rejected:?}"
        ));
    }
    // Still up: one more valid event through PutEvents is delivered.
    let req =
        json!({"Entries": [{"Source": FINAL_SOURCE, "DetailType": "T", "Detail": "{\"last\":2}"}]});
    let (s, _) = support::http(
        &ingest,
        "POST",
        "/",
        &[("X-Amz-Target", "AWSEvents.PutEvents")],
        req.to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(s, 200);
    let t = Instant::now();
    loop {
        let out = read_json_lines(&dir.join("out.ndjson"));
        let put = out.iter().filter(|e| e["source"] == "hostile.put").count();
        let last = out.iter().any(|e| e["detail"]["last"] == 2);
        if (put == accepted && last) || t.elapsed() > Duration::from_secs(10) {
            if put != accepted || !last {
                errors.push(format!(
                    "PutEvents: delivered {put} of {accepted} accepted, final: {last}"
                ));
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let dlq_after = read_json_lines(&dir.join("dlq.ndjson"));
    if dlq_after.len() != dlq.len() {
        errors.push(
            "PutEvents: rejected entries were dead-lettered (the client got the error)".into(),
        );
    }
    let st = b.stop();
    if !st.success() {
        errors.push(format!("http: exit {st}"));
    }
    report(errors);
}

#[test]
fn kafka_source_dead_letters_every_bad_record_and_commits_past_them() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let cases = catalogue();
    // The producing client reads `key<TAB>value` lines and drops a CR at
    // the end of a line: a value cannot end with one.
    // A record is one event: an empty or blank one is invalid JSON, not a
    // line to skip.
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| !c.input.ends_with(b"\r"))
        .map(|mut c| {
            if matches!(c.run, Run::Blank) {
                c.run = Run::Reject(
                    "invalid_json",
                    "no JSON value (the input is empty or only whitespace)",
                );
            }
            c
        })
        .collect();
    let refs: Vec<&Case> = cases.iter().collect();
    let topic = format!("t{}-hostile.in", std::process::id());
    support::kafka::create(&bootstrap, 1, &[&topic]);
    let mut lines = Vec::new();
    for (i, c) in refs.iter().enumerate() {
        lines.extend_from_slice(format!("k{i}\t").as_bytes());
        lines.extend_from_slice(&c.input);
        lines.push(b'\n');
    }
    lines.extend_from_slice(format!("last\t{}\n", final_event()).as_bytes());
    let out = support::run_client(
        "kafka_client.py",
        &[
            "produce",
            "--bootstrap",
            &bootstrap,
            "--topic",
            &topic,
            "--timeout",
            "60",
        ],
        &lines,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dir = support::temp_dir("hostile-kafka");
    let source = format!(
        "{{id: in, kind: kafka, topics: [\"{topic}\"], group_id: \"{topic}-g\", start: earliest, \
         dead_letter: dlq}}"
    );
    // tansu holds every fetch for fetch.wait.max.ms (librdkafka: 500 ms).
    let config = config(&dir, &source)
        + "kafka: {brokers: 127.0.0.1:9092, consumer: {fetch.wait.max.ms: \"10\"}}\n";
    let mut b = Busbar::start(
        &dir,
        &config,
        support::free_port(),
        &[("BUSBAR_BROKERS", &bootstrap)],
    );
    b.wait_ready(Duration::from_secs(30));
    let want_out = refs.iter().filter(|c| matches!(c.run, Run::Ok)).count() + 1;
    let want_dead = refs
        .iter()
        .filter(|c| matches!(c.run, Run::Reject(..)))
        .count();
    let (out, dlq) = wait_outputs(&dir, want_out, want_dead, Some(&b));
    let mut errors = Vec::new();
    check_lines("kafka", &refs, &out, &dlq, &mut errors);
    check_metric(
        "kafka",
        &b.metrics(),
        "in",
        &expected_failures(&refs),
        &mut errors,
    );
    let st = b.stop();
    if !st.success() {
        errors.push(format!("kafka: exit {st}"));
    }
    let committed = support::kafka::committed(&bootstrap, &format!("{topic}-g"), &topic);
    if committed.get(&0) != Some(&((refs.len() + 1) as i64)) {
        errors.push(format!(
            "kafka: committed {committed:?}, want every record ({})",
            refs.len() + 1
        ));
    }
    report(errors);
}
