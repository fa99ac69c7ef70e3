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
pub fn read(bootstrap: &str, topic: &str, n: usize, timeout_s: u32) -> (bool, Vec<Value>, String) {
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

/// Commit `offsets` (partition, offset) of `topic` for `group`, without
/// joining it; with `create`, create the topic with that many partitions
/// first, in the same client process.
pub fn commit(
    bootstrap: &str,
    group: &str,
    topic: &str,
    create: Option<u32>,
    offsets: &[(i32, i64)],
) {
    let offsets: Vec<String> = offsets.iter().map(|(p, o)| format!("{p}:{o}")).collect();
    let partitions = create.map(|n| n.to_string());
    let mut args = vec![
        "commit",
        "--bootstrap",
        bootstrap,
        "--topic",
        topic,
        "--group",
        group,
    ];
    if let Some(n) = &partitions {
        args.extend(["--create", n.as_str()]);
    }
    args.extend(offsets.iter().map(String::as_str));
    client(&args, b"");
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

/// A tansu broker of one test's own, on its own port, which the test may
/// restart (the shared broker of `KAFKA_BOOTSTRAP` must not be). Its
/// `memory://` storage starts empty after every start: a broker that lost
/// its data.
pub struct OwnBroker {
    bin: std::path::PathBuf,
    child: std::process::Child,
    log: std::path::PathBuf,
    starts: u32,
    pub bootstrap: String,
}

impl OwnBroker {
    /// The tansu binary: `BUSBAR_TEST_TANSU`, else `tansu` in cargo's bin
    /// directory (`CARGO_INSTALL_ROOT`, `CARGO_HOME` or `~/.cargo`, where
    /// `.ci/run` installs it); `None` when it is absent.
    pub fn binary() -> Option<std::path::PathBuf> {
        if let Some(p) = std::env::var_os("BUSBAR_TEST_TANSU").filter(|p| !p.is_empty()) {
            return Some(p.into());
        }
        let home = std::env::var_os("CARGO_INSTALL_ROOT")
            .or_else(|| std::env::var_os("CARGO_HOME"))
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo"))
            })?;
        let p = home.join("bin/tansu");
        p.exists().then_some(p)
    }

    /// Start `bin` on a free port; its log goes to `dir/tansu-N.log`.
    pub fn start(bin: &std::path::Path, dir: &std::path::Path) -> OwnBroker {
        let port = super::free_port();
        let bootstrap = format!("127.0.0.1:{port}");
        let log = dir.to_path_buf();
        let child = Self::spawn(bin, &bootstrap, &log, 1);
        let mut b = OwnBroker {
            bin: bin.to_path_buf(),
            child,
            log,
            starts: 1,
            bootstrap,
        };
        b.wait_up();
        b
    }

    fn spawn(
        bin: &std::path::Path,
        bootstrap: &str,
        dir: &std::path::Path,
        n: u32,
    ) -> std::process::Child {
        let url = format!("tcp://{bootstrap}");
        let log = std::fs::File::create(dir.join(format!("tansu-{n}.log"))).expect("tansu log");
        std::process::Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            // Never debug: gigabytes of log a minute.
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("tansu log"))
            .stderr(log)
            .spawn()
            .expect("tansu starts")
    }

    /// Wait until the broker answers a metadata request (30 s at most).
    fn wait_up(&mut self) {
        let t = std::time::Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "tansu exited ({st}): {}",
                    std::fs::read_to_string(self.log.join(format!("tansu-{}.log", self.starts)))
                        .unwrap_or_default()
                );
            }
            let out = super::run_client(
                "kafka_client.py",
                &["ping", "--bootstrap", &self.bootstrap, "--timeout", "1"],
                b"",
            );
            if out.status.success() {
                return;
            }
            assert!(
                t.elapsed() < std::time::Duration::from_secs(30),
                "tansu did not answer on {} within 30 s",
                self.bootstrap
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }

    /// Kill the broker (SIGKILL, as a crash) and start it again on the same
    /// port after `down`: it comes back without topics, records, groups or
    /// producer ids.
    pub fn restart(&mut self, down: std::time::Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(down);
        self.starts += 1;
        let t = std::time::Instant::now();
        loop {
            // The port is free at once (the listener is gone); retry a
            // moment if the new process lost a race for it anyway.
            self.child = Self::spawn(&self.bin, &self.bootstrap, &self.log, self.starts);
            std::thread::sleep(std::time::Duration::from_millis(300));
            match self.child.try_wait() {
                Ok(None) => break,
                _ if t.elapsed() < std::time::Duration::from_secs(10) => continue,
                _ => panic!("tansu did not start again on {}", self.bootstrap),
            }
        }
        self.wait_up();
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
