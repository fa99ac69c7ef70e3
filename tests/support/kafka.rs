//! Kafka helpers for the end-to-end tests: topics, producing and reading
//! back through the outside client (tests/clients/kafka_client.py).

use std::collections::HashMap;

use serde_json::Value;

/// Runs one `kafka_client.py` subcommand (`args[0]`) and fails the test if
/// it fails; its output.
fn client(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let out = super::run_client("kafka_client.py", args, stdin);
    assert!(
        out.status.success(),
        "{}: {}",
        args[0],
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The event id of a message read by [`read`] (its value is an envelope).
fn event_id(m: &Value) -> String {
    let v: Value = serde_json::from_str(m["value"].as_str().unwrap()).unwrap();
    v["id"].as_str().unwrap().to_string()
}

pub fn create(bootstrap: &str, partitions: u32, topics: &[&str]) {
    let mut args = vec!["create-topics", "--bootstrap", bootstrap, "--partitions"];
    let p = partitions.to_string();
    args.push(&p);
    args.extend_from_slice(topics);
    client(&args, b"");
}

/// Produce `key<TAB>value` lines to one partition in the client's normal
/// batches (many records per batch).
pub fn produce_to(bootstrap: &str, topic: &str, partition: i32, lines: &str) {
    let p = partition.to_string();
    let args = [
        "produce",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--partition",
        &p,
    ];
    client(&args, lines.as_bytes());
}

pub fn produce(bootstrap: &str, topic: &str, lines: &str, headers: &[&str]) {
    let mut args = vec![
        "produce",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--one-per-batch",
        // One record per batch is slow on tansu (a few thousand a second):
        // give a large input time to flush.
        "--timeout",
        "600",
    ];
    for h in headers {
        args.push("--header");
        args.push(h);
    }
    client(&args, lines.as_bytes());
}

/// Read up to `n` messages from the beginning of `topic` (all partitions,
/// no group) within `timeout_s`; whether all `n` arrived, and the messages.
fn read(bootstrap: &str, topic: &str, n: usize, timeout_s: u32) -> (bool, Vec<Value>, String) {
    let n_s = n.to_string();
    let t_s = timeout_s.to_string();
    let out = super::run_client(
        "kafka_client.py",
        &[
            "consume",
            "--bootstrap",
            bootstrap,
            "--topic",
            topic,
            "--count",
            &n_s,
            "--timeout",
            &t_s,
            "--from-beginning",
        ],
        b"",
    );
    let v = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("consume prints JSON"))
        .collect();
    (
        out.status.success(),
        v,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Exactly `n` messages from the beginning of `topic`; fails the test on timeout.
pub fn consume(bootstrap: &str, topic: &str, n: usize, timeout_s: u32) -> Vec<Value> {
    let (ok, v, err) = read(bootstrap, topic, n, timeout_s);
    assert!(ok, "consume {topic}: got {} of {n}: {err}", v.len());
    v
}

/// Every event id on a topic, with counts (duplicates), reading for
/// `timeout_s` (asking for more than can arrive: duplicates count too).
pub fn ids_on(
    bootstrap: &str,
    topic: &str,
    expect: usize,
    timeout_s: u32,
) -> HashMap<String, usize> {
    let (_, messages, _) = read(bootstrap, topic, expect * 3, timeout_s);
    let mut seen = HashMap::new();
    for m in messages {
        *seen.entry(event_id(&m)).or_insert(0) += 1;
    }
    seen
}

/// `key<TAB>envelope` lines with ids `ev-0` .. `ev-{n-1}`.
pub fn events(n: usize) -> String {
    events_range(0..n)
}

/// `key<TAB>envelope` lines with ids `ev-{i}` for `i` in `range`.
pub fn events_range(range: std::ops::Range<usize>) -> String {
    let mut s = String::with_capacity(range.len() * 200);
    for i in range {
        s.push_str(&format!(
            "k{i}\t{{\"version\":\"0\",\"id\":\"ev-{i}\",\"detail-type\":\"T\",\"source\":\"load\",\"account\":\"111122223333\",\"time\":\"2026-11-23T10:00:00Z\",\"region\":\"eu-west-1\",\"resources\":[],\"detail\":{{\"n\":{i},\"pad\":\"{}\"}}}}\n",
            "x".repeat(100)
        ));
    }
    s
}

/// The group's committed offset per partition of `topic` (-1: none), read
/// without joining the group.
pub fn committed(bootstrap: &str, group: &str, topic: &str) -> HashMap<i32, i64> {
    let args = [
        "committed",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--group",
        group,
    ];
    let out = client(&args, b"");
    let v: HashMap<String, i64> =
        serde_json::from_slice(&out.stdout).expect("committed prints a JSON object");
    v.into_iter()
        .map(|(p, o)| (p.parse().expect("a partition number"), o))
        .collect()
}

/// Where each event of `topic` lies: event id → (partition, offset), for
/// the `n` events written by [`produce`] of [`events`].
pub fn positions(
    bootstrap: &str,
    topic: &str,
    n: usize,
    timeout_s: u32,
) -> HashMap<String, (i32, i64)> {
    consume(bootstrap, topic, n, timeout_s)
        .into_iter()
        .map(|m| {
            let at = (
                m["partition"].as_i64().unwrap() as i32,
                m["offset"].as_i64().unwrap(),
            );
            (event_id(&m), at)
        })
        .collect()
}
