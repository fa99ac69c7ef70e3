//! HTTP ingest against clients that hold connections without finishing
//! requests, on the real binary over loopback: the head, body and idle
//! deadlines; the connection cap that closes the oldest idle connection to
//! make room (never one in a request); and, at the open-file limit, accept
//! failures that back off instead of spinning. The slowloris tests run
//! busbar under `ulimit -n 256` and send request heads at one byte per second
//! on 1,100 connections, as the report that motivated them did.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{sample, Busbar};

struct Run {
    busbar: Busbar,
    ingest: String,
}

/// An http source `api` (`source_keys` are added to it) whose events all go
/// to the file `out.ndjson`.
fn config(dir: &Path, port: u16, source_keys: &str) -> String {
    format!(
        r#"
sources:
  - id: api
    kind: http
    listen: "127.0.0.1:{port}"
{source_keys}
rules:
  - name: all
    event_pattern: {{"source": [{{"prefix": ""}}]}}
    targets:
      - {{id: out, kind: file, path: "{out}"}}
watch_config: false
shutdown_grace_seconds: 5
"#,
        out = dir.join("out.ndjson").display()
    )
}

fn start(test: &str, source_keys: &str, nofile: Option<u64>) -> Run {
    let dir = support::temp_dir(test);
    let port = support::free_port();
    let mut busbar = Busbar::start_with(
        &dir,
        &config(&dir, port, source_keys),
        support::free_port(),
        &[],
        nofile,
    );
    busbar.wait_ready(Duration::from_secs(15));
    Run {
        busbar,
        ingest: format!("127.0.0.1:{port}"),
    }
}

impl Run {
    fn addr(&self) -> SocketAddr {
        self.ingest.parse().expect("address")
    }

    /// A `POST /events` of one line and a PutEvents of one entry, each on
    /// a new connection: both must be answered 200 within `within`.
    fn real_clients_are_served(&self, within: Duration) {
        let t = Instant::now();
        let (status, body) = support::http(&self.ingest, "POST", "/events", &[], b"{\"real\":1}\n")
            .expect("/events");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let put = r#"{"Entries":[{"Source":"real","DetailType":"t","Detail":"{\"real\":2}"}]}"#;
        let (status, body) = support::http(
            &self.ingest,
            "POST",
            "/",
            &[("X-Amz-Target", "AWSEvents.PutEvents")],
            put.as_bytes(),
        )
        .expect("PutEvents");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        assert!(
            String::from_utf8_lossy(&body).contains("\"FailedEntryCount\":0"),
            "{}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            t.elapsed() < within,
            "real clients waited {:?} (limit {within:?})",
            t.elapsed()
        );
    }

    fn metric(&self, series: &str) -> f64 {
        let m = self.busbar.metrics();
        sample(&m, series).unwrap_or_else(|| panic!("no {series} in:\n{m}"))
    }

    fn closed(&self, reason: &str) -> f64 {
        self.metric(&format!(
            "busbar_http_connections_closed_total{{reason=\"{reason}\",source=\"api\"}}"
        ))
    }

    /// CPU seconds busbar has used (user + system).
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.busbar.child.id()))
            .expect("/proc/PID/stat");
        // Fields after the command name, which is in parentheses: utime and
        // stime are the 12th and 13th of them.
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
        ticks / clock_ticks()
    }
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Whether the server has closed this connection (EOF or reset), without
/// waiting.
fn is_closed(s: &TcpStream) -> bool {
    s.set_nonblocking(true).expect("nonblocking");
    let mut b = [0u8; 64];
    let mut r = s;
    let closed = match r.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == ErrorKind::WouldBlock => false,
        Err(_) => true,
    };
    s.set_nonblocking(false).expect("blocking");
    closed
}

/// Waits up to `within` for the server to close `s`; how long it took.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut b = [0u8; 1024];
    loop {
        match s.read(&mut b) {
            Ok(0) => return Some(t.elapsed()),
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(_) => return Some(t.elapsed()),
        }
    }
}

/// Reads one HTTP/1.1 response (head and `Content-Length` body) from a
/// kept-alive connection: (status, body).
fn read_response(s: &mut TcpStream) -> (u16, String) {
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut b).expect("response");
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    while buf.len() < head_end + len {
        let n = s.read(&mut b).expect("body");
        assert!(n > 0, "connection closed inside a response");
        buf.extend_from_slice(&b[..n]);
    }
    (
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned(),
    )
}

const REQUEST: &[u8] =
    b"POST /events HTTP/1.1\r\nHost: busbar\r\nContent-Length: 8\r\n\r\n{\"k\":1}\n";

/// Slowloris: `n` connections that each send one more byte of a request
/// head every second, from a thread of their own, until dropped.
struct Slowloris {
    conns: Vec<TcpStream>,
    stop: Arc<AtomicBool>,
    sender: Option<std::thread::JoinHandle<Vec<TcpStream>>>,
}

impl Slowloris {
    fn open(addr: SocketAddr, n: usize) -> Slowloris {
        let mut conns = Vec::with_capacity(n);
        for _ in 0..n {
            // Connections past the listen backlog are not answered: count
            // what the kernel accepted for busbar.
            if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                s.set_write_timeout(Some(Duration::from_millis(100)))
                    .expect("timeout");
                conns.push(s);
            }
        }
        Slowloris {
            conns,
            stop: Arc::new(AtomicBool::new(false)),
            sender: None,
        }
    }

    fn start_trickle(&mut self) {
        let mut conns = std::mem::take(&mut self.conns);
        let stop = self.stop.clone();
        self.sender = Some(std::thread::spawn(move || {
            let mut at = 0;
            while !stop.load(Ordering::Relaxed) {
                for s in &mut conns {
                    let _ = s.write(&REQUEST[at % REQUEST.len()..][..1]);
                }
                at += 1;
                for _ in 0..10 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            conns
        }));
    }

    fn stop(mut self) -> Vec<TcpStream> {
        self.stop.store(true, Ordering::Relaxed);
        self.sender
            .take()
            .map(|t| t.join().expect("trickle thread"))
            .unwrap_or(self.conns)
    }
}

/// Every connection of `conns` is closed by the server within `within`.
fn all_closed(conns: &[TcpStream], within: Duration) -> usize {
    let t = Instant::now();
    loop {
        let open = conns.iter().filter(|s| !is_closed(s)).count();
        if open == 0 || t.elapsed() > within {
            return open;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn slowloris_at_the_default_cap_leaves_room_for_real_clients() {
    // ulimit 256: the default cap is (256 - 64) / 2 = 96 connections.
    let run = start(
        "conn-slowloris",
        "    header_timeout_seconds: 2\n",
        Some(256),
    );
    let cpu_before = run.cpu_seconds();
    let t = Instant::now();
    let mut slow = Slowloris::open(run.addr(), 1100);
    let opened = slow.conns.len();
    assert!(opened > 500, "only {opened} connections opened");
    slow.start_trickle();

    // With every slot taken by a slow client, new ones are still served at
    // once: the oldest slow connection makes room.
    std::thread::sleep(Duration::from_millis(500));
    run.real_clients_are_served(Duration::from_secs(3));
    std::thread::sleep(Duration::from_secs(1));
    run.real_clients_are_served(Duration::from_secs(3));

    // None of the slow connections outlives its head deadline (2 s) by
    // much: those in a slot time out, the rest were closed to make room.
    let conns = slow.stop();
    let open = all_closed(&conns, Duration::from_secs(6));
    assert_eq!(open, 0, "{open} of {opened} slow connections still open");
    let elapsed = t.elapsed().as_secs_f64();
    let cpu = run.cpu_seconds() - cpu_before;
    assert!(
        cpu < 0.3 * elapsed,
        "busbar used {cpu:.2} s of CPU in {elapsed:.1} s"
    );

    let header = run.closed("header_timeout");
    let room = run.closed("over_capacity");
    eprintln!(
        "{opened} slow connections: {header} closed on the head deadline, {room} to make room; \
         busbar CPU {cpu:.2} s in {elapsed:.1} s"
    );
    assert!(header >= 1.0, "header_timeout {header}");
    assert!(
        header + room >= opened as f64,
        "{opened} slow connections, closed: {header} on the head deadline, {room} for room"
    );
    assert_eq!(run.closed("body_timeout"), 0.0);
    assert_eq!(
        run.metric("busbar_http_accept_errors_total{source=\"api\"}"),
        0.0
    );
    let t = Instant::now();
    while run.metric("busbar_http_connections_open{source=\"api\"}") != 0.0 {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "connections left open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Both real clients' events arrived (two of each kind).
    delivered_lines(&run.busbar.dir.join("out.ndjson"), 4);
    let stderr = run.busbar.stderr();
    assert!(
        stderr.lines().count() < 100,
        "{} log lines",
        stderr.lines().count()
    );
}

#[test]
fn at_the_open_file_limit_accepts_back_off_and_log_a_few_lines() {
    // A cap above what 256 descriptors allow: accepts fail with EMFILE
    // until the head deadline closes slow connections.
    let run = start(
        "conn-emfile",
        "    header_timeout_seconds: 1\n    max_connections: 5000\n",
        Some(256),
    );
    let cpu_before = run.cpu_seconds();
    let t = Instant::now();
    let mut slow = Slowloris::open(run.addr(), 1100);
    let opened = slow.conns.len();
    assert!(opened > 500, "only {opened} connections opened");
    slow.start_trickle();
    std::thread::sleep(Duration::from_secs(3));
    let conns = slow.stop();
    let open = all_closed(&conns, Duration::from_secs(20));
    assert_eq!(open, 0, "{open} of {opened} slow connections still open");
    // Descriptors are free again: real clients are served.
    run.real_clients_are_served(Duration::from_secs(3));

    let elapsed = t.elapsed().as_secs_f64();
    let cpu = run.cpu_seconds() - cpu_before;
    assert!(
        cpu < 0.3 * elapsed,
        "busbar used {cpu:.2} s of CPU in {elapsed:.1} s"
    );
    let errors = run.metric("busbar_http_accept_errors_total{source=\"api\"}");
    eprintln!(
        "{opened} slow connections: {errors} failed accepts; busbar CPU {cpu:.2} s in {elapsed:.1} s"
    );
    assert!(errors >= 1.0, "the descriptor limit was never reached");
    assert!(run.closed("header_timeout") >= opened as f64 - 1.0);
    let stderr = run.busbar.stderr();
    let accept_lines = stderr
        .lines()
        .filter(|l| l.contains("accept failed"))
        .count();
    assert!(accept_lines >= 1, "{stderr}");
    // One line per 10 s at most: this test lasts well under 30 s.
    assert!(accept_lines <= 3, "{accept_lines} lines:\n{stderr}");
    assert!(stderr.contains("Too many open files"), "{stderr}");
    assert!(
        stderr.lines().count() < 100,
        "{} log lines",
        stderr.lines().count()
    );
}

#[test]
fn head_idle_and_body_deadlines_close_only_what_they_should() {
    let run = start(
        "conn-deadlines",
        "    header_timeout_seconds: 1\n    idle_timeout_seconds: 3\n    body_timeout_seconds: 1\n",
        None,
    );

    // A head sent in part: closed once the head deadline (1 s) passes.
    let mut head = TcpStream::connect(run.addr()).expect("connect");
    head.write_all(b"POST /events HTTP/1.1\r\nHost")
        .expect("write");
    let took = closed_within(&mut head, Duration::from_secs(5)).expect("closed");
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_millis(2500),
        "head deadline after {took:?}"
    );

    // A kept-alive connection outlives the head deadline between requests
    // (idle 3 s), takes another request, and is closed after 3 s idle.
    let mut idle = TcpStream::connect(run.addr()).expect("connect");
    idle.write_all(REQUEST).expect("write");
    assert_eq!(read_response(&mut idle).0, 200);
    std::thread::sleep(Duration::from_secs(2));
    assert!(!is_closed(&idle), "closed before the idle deadline");
    idle.write_all(REQUEST).expect("write");
    assert_eq!(read_response(&mut idle).0, 200);
    let took = closed_within(&mut idle, Duration::from_secs(6)).expect("closed");
    assert!(
        took >= Duration::from_millis(2500) && took < Duration::from_millis(4500),
        "idle deadline after {took:?}"
    );

    // A body that stops coming: 408 after the body deadline (1 s), naming
    // the setting, and the connection closes.
    let mut body = TcpStream::connect(run.addr()).expect("connect");
    body.write_all(b"POST /events HTTP/1.1\r\nHost: b\r\nContent-Length: 100\r\n\r\n{\"k\":")
        .expect("write");
    let t = Instant::now();
    let (status, text) = read_response(&mut body);
    assert_eq!(status, 408, "{text}");
    assert!(
        text.contains("setting sources[0] (api).body_timeout_seconds"),
        "{text}"
    );
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert!(closed_within(&mut body, Duration::from_secs(3)).is_some());

    assert_eq!(run.closed("header_timeout"), 1.0);
    assert_eq!(run.closed("idle_timeout"), 1.0);
    assert_eq!(run.closed("body_timeout"), 1.0);
    assert_eq!(run.closed("over_capacity"), 0.0);
    let m = run.busbar.metrics();
    assert_eq!(
        sample(
            &m,
            "busbar_http_requests_total{operation=\"body\",status=\"408\"}"
        ),
        Some(1.0),
        "{m}"
    );
    // The two complete requests were delivered.
    delivered_lines(&run.busbar.dir.join("out.ndjson"), 2);
}

#[test]
fn at_the_cap_an_idle_connection_makes_room_and_a_request_in_progress_is_kept() {
    let run = start(
        "conn-cap",
        "    max_connections: 2\n    body_timeout_seconds: 10\n    idle_timeout_seconds: 30\n",
        None,
    );
    // Slot 1: a request whose body is still coming.
    let mut busy = TcpStream::connect(run.addr()).expect("connect");
    busy.write_all(b"POST /events HTTP/1.1\r\nHost: b\r\nContent-Length: 8\r\n\r\n{\"k\"")
        .expect("write");
    // Slot 2: a kept-alive connection between requests.
    let mut idle = TcpStream::connect(run.addr()).expect("connect");
    idle.write_all(REQUEST).expect("write");
    assert_eq!(read_response(&mut idle).0, 200);
    std::thread::sleep(Duration::from_millis(200));

    // A third client: the idle connection makes room, at once.
    run.real_clients_are_served(Duration::from_secs(2));
    assert!(closed_within(&mut idle, Duration::from_secs(2)).is_some());
    assert!(!is_closed(&busy), "the request in progress was cut");
    busy.write_all(b":1}\n").expect("write");
    assert_eq!(read_response(&mut busy).0, 200);

    assert!(run.closed("over_capacity") >= 1.0);
    delivered_lines(&run.busbar.dir.join("out.ndjson"), 4);
}

/// Wait until the file target holds exactly `n` lines: a 200 means the
/// events were accepted, and the file is written a moment later.
fn delivered_lines(path: &std::path::Path, n: usize) {
    let t = Instant::now();
    loop {
        let out = std::fs::read_to_string(path).unwrap_or_default();
        let lines = out.lines().count();
        if lines == n && t.elapsed() > Duration::from_millis(200) {
            return;
        }
        assert!(
            lines <= n && t.elapsed() < Duration::from_secs(5),
            "{lines} lines, wanted {n}:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
