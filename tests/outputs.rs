//! Outputs that cannot half-fail: `busbar run` against a full disk (a
//! small tmpfs) under a file target and a file dead letter, a 1 MiB event
//! to a Kafka target, and a Kafka dead letter too large for the producer
//! whose destination topic does not exist yet.
//!
//! Every test counts ids: each event sent is found exactly once in the
//! target's output or the dead letter's (none in both, none missing, none
//! on a broken line), and the metrics say the same
//! (`busbar_deliveries_total + busbar_dead_letters_total = sent`).
//!
//! The disk-full tests mount a tmpfs (`mount -t tmpfs -o size=…`), which
//! needs root (or CAP_SYS_ADMIN); where mounting is not permitted they
//! print why and skip. The Kafka tests need the broker of `.ci/run` (see
//! tests/clients/README.md).
//!
//! Broker settings these tests depend on, and why:
//! - tansu 0.6.0 enforces no record size limit (its produce path has no
//!   `message.max.bytes` / `max.message.bytes` check), so a 1 MiB record
//!   needs no broker or topic setting here. A Kafka broker needs the
//!   topic's `max.message.bytes` raised above its 1 MiB + 12 default.
//! - the test producer of a 2 MB header raises its own librdkafka
//!   `message.max.bytes` (`-X message.max.bytes=10000000`);
//! - busbar's producer gets `topic.metadata.propagation.max.ms: 1000` and
//!   `topic.metadata.refresh.interval.ms: 1000`, so that a dead-letter
//!   topic that does not exist fails a write within a second, and is found
//!   within a second once it is created (librdkafka: 30 s and 5 min);
//! - busbar's consumer gets `fetch.wait.max.ms: 10` (tansu holds a fetch
//!   that long even when data waits), and the input topic is written one
//!   record per batch.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, http, sample, temp_dir, Busbar};

/// A tmpfs mounted for one test; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mount a tmpfs of `size` (`64k`) on `dir`, or say why not.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "`mount -t tmpfs` failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The tmpfs, or a skip with the reason printed.
macro_rules! tmpfs_or_skip {
    ($dir:expr, $size:expr) => {
        match Tmpfs::mount(&$dir, $size) {
            Ok(t) => t,
            Err(why) => {
                eprintln!("skipped: a disk-full test needs a small tmpfs and mounting is not permitted here: {why}");
                return;
            }
        }
    };
}

/// Fill `fs` but for `room` bytes with a file; its path. tmpfs counts
/// whole pages: `room` below a page leaves none.
fn fill(fs: &Tmpfs, room: u64) -> PathBuf {
    let p = fs.0.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0u8; 4096];
    while f.write_all(&chunk).is_ok() {}
    drop(f);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len.saturating_sub(room))
        .unwrap();
    p
}

/// `busbar run` on `config` with stdin kept open (so it does not shut
/// down before the test has looked).
fn start(dir: &Path, config: &str) -> (Busbar, ChildStdin) {
    let path = dir.join("busbar.yaml");
    std::fs::write(&path, config).unwrap();
    let admin = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["run", "--config"])
        .arg(&path)
        .env("BUSBAR_ADMIN_ADDR", &admin)
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .expect("busbar starts");
    let stdin = child.stdin.take().unwrap();
    let mut b = Busbar {
        child,
        admin,
        dir: dir.to_path_buf(),
    };
    b.wait_ready(Duration::from_secs(20));
    (b, stdin)
}

/// An envelope with id `ev-{i}` (about 250 bytes).
fn event(i: usize) -> String {
    format!(
        r#"{{"version":"0","id":"ev-{i}","detail-type":"T","source":"load","account":"111122223333","time":"2026-11-23T10:00:00Z","region":"eu-west-1","resources":[],"detail":{{"n":{i},"pad":"{}"}}}}"#,
        "x".repeat(100)
    )
}

fn events(n: usize) -> String {
    (0..n).map(|i| event(i) + "\n").collect()
}

/// The sum of every sample of metric `name`.
fn total(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn wait_for(b: &Busbar, what: &str, within: Duration, mut ok: impl FnMut(&str) -> bool) {
    let t = Instant::now();
    loop {
        let m = b.metrics();
        if ok(&m) {
            return;
        }
        if t.elapsed() > within {
            panic!(
                "not within {within:?}: {what}\nmetrics:\n{}\nstderr:\n{}",
                m.lines()
                    .filter(|l| l.starts_with("busbar_"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                b.stderr()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn readyz(b: &Busbar) -> (u16, String) {
    let (s, body) = http(&b.admin, "GET", "/readyz", &[], b"").expect("readyz");
    (s, String::from_utf8_lossy(&body).into_owned())
}

/// Every line of an NDJSON file, parsed; fails on a partial or corrupt
/// line. A missing file has none.
fn lines(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read(path) else {
        return Vec::new();
    };
    assert!(
        text.is_empty() || text.ends_with(b"\n"),
        "{} ends in a partial line",
        path.display()
    );
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_slice(l).unwrap_or_else(|e| {
                panic!(
                    "{} line {}: not a whole JSON line ({e}): {}",
                    path.display(),
                    i + 1,
                    String::from_utf8_lossy(&l[..l.len().min(300)])
                )
            })
        })
        .collect()
}

/// Ids on the target's lines (envelopes) and the dead letter's (records
/// with `event_id`); asserts each of `ev-0..ev-{n-1}` is in exactly one
/// place, once. Returns (delivered, dead-lettered).
fn account(target: &Path, dead_letter: &Path, n: usize) -> (usize, usize) {
    let mut seen: HashMap<String, Vec<&str>> = HashMap::new();
    let delivered = lines(target);
    for v in &delivered {
        let id = v["id"].as_str().expect("an envelope id").to_string();
        seen.entry(id).or_default().push("target");
    }
    let dead = lines(dead_letter);
    for v in &dead {
        let id = v["event_id"].as_str().expect("event_id").to_string();
        assert_eq!(v["event"]["id"].as_str(), Some(id.as_str()), "{v}");
        seen.entry(id).or_default().push("dead letter");
    }
    let mut missing = Vec::new();
    for i in 0..n {
        match seen.remove(&format!("ev-{i}")) {
            None => missing.push(i),
            Some(places) => assert_eq!(places.len(), 1, "ev-{i} in {places:?}"),
        }
    }
    assert!(missing.is_empty(), "ids missing: {missing:?}");
    assert!(seen.is_empty(), "unexpected ids: {:?}", seen.keys());
    (delivered.len(), dead.len())
}

/// Close stdin and expect a clean exit.
fn finish(mut b: Busbar, stdin: ChildStdin) {
    drop(stdin);
    eprintln!("busbar's log:\n{}", b.stderr());
    let st = b.wait(Duration::from_secs(60));
    assert!(st.success(), "exit {st}; stderr:\n{}", b.stderr());
}

fn file_config(target: &Path, retry: &str, dead_letter: &Path) -> String {
    format!(
        r#"
sources: [{{id: in, kind: stdin}}]
rules:
  - name: all
    event_pattern: {{"source": ["load"]}}
    targets:
      - id: file
        kind: file
        path: {}
        retry: {retry}
        dead_letter: dlq
dead_letters:
  dlq: {{kind: file, path: {}}}
"#,
        target.display(),
        dead_letter.display()
    )
}

#[test]
fn disk_full_under_a_file_target_leaves_whole_lines_and_loses_nothing() {
    let dir = temp_dir("outputs-full");
    let fs = tmpfs_or_skip!(dir.join("mnt"), "64k");
    let (target, dlq) = (fs.0.join("out.ndjson"), dir.join("dlq.ndjson"));
    let (b, mut stdin) = start(
        &dir,
        &file_config(
            &target,
            "{maximum_retry_attempts: 2, maximum_event_age_seconds: 60}",
            &dlq,
        ),
    );
    // About 500 KB of lines for 64 KiB of disk.
    let n = 2000;
    stdin.write_all(events(n).as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for(
        &b,
        "every event delivered or dead-lettered",
        Duration::from_secs(60),
        |m| total(m, "busbar_deliveries_total") + total(m, "busbar_dead_letters_total") >= n as f64,
    );
    let m = b.metrics();
    let (delivered, dead) = account(&target, &dlq, n);
    eprintln!("{n} sent: {delivered} delivered, {dead} dead-lettered");
    assert!(
        delivered > 0 && dead > 0,
        "{delivered} delivered, {dead} dead-lettered"
    );
    assert_eq!(
        sample(&m, r#"busbar_deliveries_total{rule="all",target="file"}"#),
        Some(delivered as f64)
    );
    assert_eq!(
        sample(
            &m,
            r#"busbar_dead_letters_total{reason="SERVER_ERROR",rule="all",stage="target",target="file"}"#
        ),
        Some(dead as f64)
    );
    assert_eq!(total(&m, "busbar_dead_letters_total"), dead as f64, "{m}");
    assert!(
        sample(
            &m,
            r#"busbar_delivery_failures_total{reason="SERVER_ERROR",rule="all",target="file"}"#
        )
        .unwrap_or(0.0)
            > 0.0
    );
    finish(b, stdin);
    // Nothing changed on the way out.
    assert_eq!(account(&target, &dlq, n), (delivered, dead));
}

#[test]
fn disk_freed_mid_run_lets_retries_deliver_every_event_once() {
    let dir = temp_dir("outputs-freed");
    let fs = tmpfs_or_skip!(dir.join("mnt"), "64k");
    // Two pages left: the first batch stops partway through a line.
    let filler = fill(&fs, 8192);
    let (target, dlq) = (fs.0.join("out.ndjson"), dir.join("dlq.ndjson"));
    let (b, mut stdin) = start(
        &dir,
        &file_config(
            &target,
            "{maximum_retry_attempts: 185, maximum_event_age_seconds: 120}",
            &dlq,
        ),
    );
    // About 50 KB: fits once the filler is gone.
    let n = 200;
    stdin.write_all(events(n).as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for(&b, "writes failing", Duration::from_secs(30), |m| {
        total(m, "busbar_delivery_failures_total") >= 2.0
    });
    let m = b.metrics();
    let before = total(&m, "busbar_deliveries_total");
    assert!(
        before > 0.0 && before < n as f64,
        "{before} delivered on a full disk"
    );
    // Whatever is out while the disk is full is whole lines.
    assert_eq!(lines(&target).len() as f64, before);
    std::fs::remove_file(filler).unwrap();
    wait_for(&b, "every event delivered", Duration::from_secs(60), |m| {
        total(m, "busbar_deliveries_total") >= n as f64
    });
    let m = b.metrics();
    assert_eq!(account(&target, &dlq, n), (n, 0));
    assert_eq!(total(&m, "busbar_deliveries_total"), n as f64);
    assert_eq!(total(&m, "busbar_dead_letters_total"), 0.0);
    assert!(total(&m, "busbar_delivery_retries_total") > 0.0);
    finish(b, stdin);
}

#[test]
fn a_dead_letter_file_on_a_full_disk_holds_its_events_until_written() {
    let dir = temp_dir("outputs-dlq-full");
    // The target's disk is full from the start: every event is given up
    // on at once (no retries) and goes to the dead letter, whose disk has
    // two pages left, so its first write stops partway through a line.
    let full = tmpfs_or_skip!(dir.join("target"), "64k");
    fill(&full, 0);
    let fs = tmpfs_or_skip!(dir.join("dlq"), "256k");
    let filler = fill(&fs, 8192);
    let (target, dlq) = (full.0.join("out.ndjson"), fs.0.join("dlq.ndjson"));
    let (b, mut stdin) = start(
        &dir,
        &file_config(
            &target,
            "{maximum_retry_attempts: 0, maximum_event_age_seconds: 60}",
            &dlq,
        ),
    );
    let n = 100;
    stdin.write_all(events(n).as_bytes()).unwrap();
    stdin.flush().unwrap();
    wait_for(
        &b,
        "the dead letter blocked",
        Duration::from_secs(30),
        |m| sample(m, r#"busbar_dead_letter_blocked{dead_letter="dlq"}"#) == Some(1.0),
    );
    let (status, why) = readyz(&b);
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("dead letter cannot be written"), "{why}");
    // Held, not counted, not lost: in flight until written.
    std::thread::sleep(Duration::from_millis(500));
    let m = b.metrics();
    let delivered = total(&m, "busbar_deliveries_total");
    let dead = total(&m, "busbar_dead_letters_total");
    assert!(delivered + dead < n as f64, "{delivered} + {dead}");
    // (The in-flight budget is released per source batch.)
    let held = sample(&m, "busbar_in_flight_events").unwrap_or(0.0);
    assert!(held >= n as f64 - delivered - dead, "{held} in flight");
    assert!(
        sample(
            &m,
            r#"busbar_dead_letter_failures_total{dead_letter="dlq"}"#
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    // Whole lines only, on both files, while the disks are full; the
    // lines that were out whole are counted.
    assert_eq!(lines(&target).len() as f64, delivered);
    assert_eq!(lines(&dlq).len() as f64, dead);
    assert!(dead > 0.0 && dead < n as f64, "{dead} written of {n}");

    std::fs::remove_file(filler).unwrap();
    wait_for(
        &b,
        "every event accounted for",
        Duration::from_secs(30),
        |m| total(m, "busbar_deliveries_total") + total(m, "busbar_dead_letters_total") >= n as f64,
    );
    let (delivered, dead) = account(&target, &dlq, n);
    eprintln!("{n} sent: {delivered} delivered, {dead} dead-lettered");
    let m = b.metrics();
    assert_eq!(total(&m, "busbar_deliveries_total"), delivered as f64);
    assert_eq!(total(&m, "busbar_dead_letters_total"), dead as f64);
    assert_eq!(
        sample(&m, r#"busbar_dead_letter_blocked{dead_letter="dlq"}"#),
        Some(0.0)
    );
    assert_eq!(sample(&m, "busbar_in_flight_events"), Some(0.0));
    assert_eq!(readyz(&b).0, 200);
    finish(b, stdin);
}

// ---- Kafka ----------------------------------------------------------------------------------

fn topics_for(test: &str) -> String {
    format!("t{}-{test}", std::process::id())
}

/// An envelope of exactly `size` bytes with id `id`.
fn event_of_size(id: &str, size: usize) -> String {
    let head = format!(
        r#"{{"version":"0","id":"{id}","detail-type":"T","source":"load","account":"111122223333","time":"2026-11-23T10:00:00Z","region":"eu-west-1","resources":[],"detail":{{"pad":""#
    );
    let tail = r#""}}"#;
    let pad = size - head.len() - tail.len();
    format!("{head}{}{tail}", "x".repeat(pad))
}

#[test]
fn a_1_mib_event_reaches_a_kafka_target_whole() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let out = format!("{}.big", topics_for("mib"));
    support::kafka::create(&bootstrap, 1, &[&out]);
    let dir = temp_dir("outputs-mib");
    let dlq = dir.join("dlq.ndjson");
    let config = format!(
        r#"
sources: [{{id: in, kind: stdin}}]
rules:
  - name: all
    event_pattern: {{"source": ["load"]}}
    targets:
      - {{id: big, kind: kafka, topic: {out}, dead_letter: dlq}}
dead_letters:
  dlq: {{kind: file, path: {}}}
kafka:
  brokers: {bootstrap}
"#,
        dlq.display()
    );
    let (b, mut stdin) = start(&dir, &config);
    // limits.max_event_bytes is 1 MiB: the largest event accepted.
    let line = event_of_size("ev-mib", 1 << 20);
    stdin.write_all(line.as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    wait_for(
        &b,
        "the event delivered or dead-lettered",
        Duration::from_secs(60),
        |m| total(m, "busbar_deliveries_total") + total(m, "busbar_dead_letters_total") >= 1.0,
    );
    let m = b.metrics();
    assert_eq!(
        total(&m, "busbar_dead_letters_total"),
        0.0,
        "dead-lettered: {:?}",
        std::fs::read_to_string(&dlq).map(|s| s.chars().take(400).collect::<String>())
    );
    assert_eq!(
        sample(&m, r#"busbar_deliveries_total{rule="all",target="big"}"#),
        Some(1.0)
    );
    let got = support::kafka::consume(&bootstrap, &out, 1, 30);
    assert_eq!(got[0]["value"].as_str().map(str::len), Some(1 << 20));
    assert!(
        got[0]["value"].as_str() == Some(line.as_str()),
        "body changed"
    );
    assert_eq!(got[0]["headers"]["busbar-event-id"], "ev-mib");
    finish(b, stdin);
}

#[test]
fn an_oversized_kafka_dead_letter_keeps_its_body_and_holds_the_offset_until_written() {
    let bootstrap = need!(support::kafka(), "a Kafka broker (KAFKA_BOOTSTRAP)");
    need!(
        support::python(),
        "python with confluent-kafka (BUSBAR_TEST_PYTHON)"
    );
    let p = topics_for("dlq-big");
    let (input, out, dlq) = (format!("{p}.in"), format!("{p}.out"), format!("{p}.dlq"));
    let group = format!("{p}-group");
    // The dead-letter topic is created only later: until then its writes fail.
    support::kafka::create(&bootstrap, 1, &[&input, &out]);
    let dir = temp_dir("outputs-dlq-big");
    let config = format!(
        r#"
sources:
  - id: in
    kind: kafka
    topics: [{input}]
    group_id: {group}
    start: earliest
    settings: {{fetch.wait.max.ms: "10"}}
rules:
  - name: all
    event_pattern: {{"source": ["load"]}}
    targets:
      - {{id: out, kind: kafka, topic: {out}, key: source, dead_letter: dlq}}
dead_letters:
  dlq: {{kind: kafka, topic: {dlq}}}
kafka:
  brokers: {bootstrap}
  producer: {{topic.metadata.propagation.max.ms: "1000", topic.metadata.refresh.interval.ms: "1000"}}
"#
    );
    let (b, stdin) = start(&dir, &config);

    // ev-0, then ev-1 with a 2 MB header (too large for the target's
    // record: a non-retryable failure, so it is dead-lettered), then ev-2.
    let big = dir.join("big-header");
    std::fs::write(&big, vec![b'h'; 2_000_000]).unwrap();
    let header = format!("x-big=@{}", big.display());
    for (i, extra) in [(0, None), (1, Some(header.as_str())), (2, None)] {
        let mut args = vec![
            "produce",
            "--bootstrap",
            &bootstrap,
            "--topic",
            &input,
            "--one-per-batch",
            "-X",
            "message.max.bytes=10000000",
            "--header",
            "trace=abc",
        ];
        if let Some(h) = extra {
            args.extend(["--header", h]);
        }
        let line = format!("k{i}\t{}\n", event(i));
        let o = support::run_client("kafka_client.py", &args, line.as_bytes());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    wait_for(
        &b,
        "ev-1's dead letter blocked",
        Duration::from_secs(60),
        |m| {
            sample(m, r#"busbar_dead_letter_blocked{dead_letter="dlq"}"#) == Some(1.0)
                && sample(m, r#"busbar_deliveries_total{rule="all",target="out"}"#) == Some(2.0)
        },
    );
    let (status, why) = readyz(&b);
    assert_eq!(status, 503, "{why}");
    assert!(why.contains("dead letter cannot be written"), "{why}");
    // The partition commits up to ev-1 (offset 1) and not past it.
    let t = Instant::now();
    while support::kafka::committed(&bootstrap, &group, &input).get(&0) != Some(&1) {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "ev-0 never committed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        support::kafka::committed(&bootstrap, &group, &input).get(&0),
        Some(&1),
        "committed past a dead letter that was not written"
    );
    let m = b.metrics();
    assert_eq!(
        total(&m, "busbar_dead_letters_total"),
        0.0,
        "counted unwritten"
    );
    assert!(
        sample(
            &m,
            r#"busbar_dead_letter_failures_total{dead_letter="dlq"}"#
        )
        .unwrap_or(0.0)
            >= 1.0
    );

    support::kafka::create(&bootstrap, 1, &[&dlq]);
    wait_for(
        &b,
        "the dead letter written",
        Duration::from_secs(60),
        |m| total(m, "busbar_dead_letters_total") >= 1.0,
    );
    let t = Instant::now();
    while support::kafka::committed(&bootstrap, &group, &input).get(&0) != Some(&3) {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "not committed after the dead letter"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let m = b.metrics();
    assert_eq!(
        sample(
            &m,
            r#"busbar_dead_letters_total{reason="SDK_CLIENT_ERROR",rule="all",stage="target",target="out"}"#
        ),
        Some(1.0)
    );
    assert_eq!(total(&m, "busbar_dead_letters_total"), 1.0);
    assert_eq!(
        sample(&m, r#"busbar_dead_letter_blocked{dead_letter="dlq"}"#),
        Some(0.0)
    );
    assert_eq!(readyz(&b).0, 200);

    let got = support::kafka::consume(&bootstrap, &dlq, 1, 30);
    let d = &got[0];
    assert!(
        d["value"].as_str() == Some(event(1).as_str()),
        "body changed: {}",
        d["value"]
    );
    assert_eq!(d["key"], "k1");
    let h = &d["headers"];
    assert_eq!(h["ERROR_CODE"], "SDK_CLIENT_ERROR");
    assert_eq!(h["EVENT_ID"], "ev-1");
    assert_eq!(h["trace"], "abc");
    let cut = h["x-big"].as_str().unwrap().len();
    assert!(
        (1_000_000..2_000_000).contains(&cut),
        "x-big is {cut} bytes"
    );
    let note = h["TRUNCATED"].as_str().expect("a TRUNCATED header");
    assert!(
        note.contains(&format!("header `x-big` cut from 2000000 to {cut} bytes")),
        "{note}"
    );
    // Written once; the target got the two others, once each.
    let on_dlq = support::kafka::ids_on(&bootstrap, &dlq, 1, 5);
    assert_eq!(on_dlq, HashMap::from([("ev-1".to_string(), 1)]));
    let on_out = support::kafka::ids_on(&bootstrap, &out, 2, 5);
    assert_eq!(
        on_out,
        HashMap::from([("ev-0".to_string(), 1), ("ev-2".to_string(), 1)])
    );
    drop(stdin);
}
