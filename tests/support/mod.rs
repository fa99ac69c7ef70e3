//! Helpers shared by the end-to-end tests of `busbar run`: start the real
//! binary on a configuration, talk HTTP to it over loopback, scrape its
//! metrics, and drive the outside clients (Python confluent-kafka and boto3
//! from `.ci/venv`, see tests/clients/README.md).
#![allow(dead_code)]

pub mod kafka;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound and released; fine for tests).
/// A port nothing listens on now, never one this process handed out
/// before: the probe's port is free again once it returns, so two calls
/// (an admin and an HTTP port) could otherwise get the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// A fresh directory for one test.
pub fn temp_dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("busbar-e2e-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

pub struct Busbar {
    pub child: Child,
    pub admin: String,
    pub dir: PathBuf,
}

impl Busbar {
    /// Start `busbar run` on `config` (written to `dir/busbar.yaml`).
    pub fn start(dir: &Path, config: &str, admin_port: u16, envs: &[(&str, &str)]) -> Busbar {
        Self::start_with(dir, config, admin_port, envs, None)
    }

    /// Like [`start`](Self::start), with the open-file limit
    /// (`RLIMIT_NOFILE`) of the process set to `nofile` by the shell's
    /// `ulimit` before it becomes busbar (same pid).
    pub fn start_with(
        dir: &Path,
        config: &str,
        admin_port: u16,
        envs: &[(&str, &str)],
        nofile: Option<u64>,
    ) -> Busbar {
        let path = dir.join("busbar.yaml");
        std::fs::write(&path, config).expect("config written");
        let bin = env!("CARGO_BIN_EXE_busbar");
        let mut cmd = match nofile {
            None => Command::new(bin),
            Some(n) => {
                let mut c = Command::new("sh");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
                c
            }
        };
        cmd.args(["run", "--config"])
            .arg(&path)
            .env("BUSBAR_ADMIN_ADDR", format!("127.0.0.1:{admin_port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("busbar starts");
        Busbar {
            child,
            admin: format!("127.0.0.1:{admin_port}"),
            dir: dir.to_path_buf(),
        }
    }

    /// Wait until `/readyz` answers 200.
    pub fn wait_ready(&mut self, within: Duration) {
        let t = Instant::now();
        let mut last = String::new();
        while t.elapsed() < within {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("busbar exited early ({st}); stderr:\n{}", self.stderr());
            }
            match http(&self.admin, "GET", "/readyz", &[], b"") {
                Ok((200, _)) => return,
                Ok((s, b)) => last = format!("{s} {}", String::from_utf8_lossy(&b)),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "busbar not ready within {within:?} (last /readyz: {last}); stderr:\n{}",
            self.stderr()
        );
    }

    pub fn metrics(&self) -> String {
        let (status, body) = http(&self.admin, "GET", "/metrics", &[], b"").expect("scrape");
        assert_eq!(status, 200);
        String::from_utf8_lossy(&body).into_owned()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(st.success());
    }

    /// SIGTERM and wait for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        self.wait(Duration::from_secs(30))
    }

    pub fn wait(&mut self, within: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().expect("wait") {
                return st;
            }
            if t.elapsed() > within {
                let _ = self.child.kill();
                panic!(
                    "busbar did not exit within {within:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Busbar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `ok` every 50 ms until it holds; panics naming `what` after `within`.
pub fn wait_until(within: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(t.elapsed() < within, "not within {within:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of one sample in a Prometheus exposition, by its full series
/// text (`name{labels}` with labels in the order Prometheus prints them).
pub fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, Vec<u8>)> {
    let (status, _, body) = http_full(addr, method, path, headers, body)?;
    Ok((status, body))
}

pub fn http_full(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp)?;
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&resp[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let mut body = resp[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    Ok((status, head, body))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(std::str::from_utf8(&b[..nl]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + n]);
        b = &b[nl + 2 + n + 2..];
    }
    out
}

/// The Python with confluent-kafka and boto3, if the environment has one
/// (`.ci/run` sets `BUSBAR_TEST_PYTHON`; a developer can too).
pub fn python() -> Option<String> {
    std::env::var("BUSBAR_TEST_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .or_else(|| {
            let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/venv/bin/python");
            p.exists().then(|| p.display().to_string())
        })
}

/// Whether the tests must have the real components (in CI they must).
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

pub fn client_script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
        .display()
        .to_string()
}

/// Run a Python client script; returns its output.
pub fn run_client(script: &str, args: &[&str], stdin: &[u8]) -> Output {
    let py = python().expect("python with the client packages");
    let mut child = Command::new(py)
        .arg(client_script(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let w = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("client finishes");
    let _ = w.join();
    out
}

/// The broker address, if one runs (`.ci/run` starts it).
pub fn kafka() -> Option<String> {
    std::env::var("KAFKA_BOOTSTRAP")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Skip (locally) or fail (in CI) when a real component is missing.
#[macro_export]
macro_rules! need {
    ($opt:expr, $what:expr) => {
        match $opt {
            Some(v) => v,
            None => {
                if support::required() {
                    panic!(
                        "{} is required in CI (run the tests through .ci/run)",
                        $what
                    );
                }
                eprintln!("skipped: no {} (run the tests through .ci/run)", $what);
                return;
            }
        }
    };
}

/// Run `busbar ARGS` to its end with `stdin` as its input (written from
/// another thread, so a large input cannot deadlock against its output).
pub fn busbar(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("busbar runs");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().expect("busbar finishes");
    writer.join().expect("writer");
    out
}

/// `busbar run` with one HTTP ingest source (`api`: source `shop`,
/// detail-type `Order`), `rules` (YAML list items), a `file` dead letter
/// `dlq` at `dir/dlq.ndjson`, no config watch, a 2 s shutdown grace and
/// `extra` top-level YAML; returns it ready, with the ingest address.
pub fn start_ingest(
    dir: &Path,
    rules: &str,
    extra: &str,
    envs: &[(&str, &str)],
) -> (Busbar, String) {
    let port = free_port();
    let config = format!(
        r#"
bus: {{name: default, account: "123456789012", region: eu-west-1}}
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:{port}", source: shop, detail_type: Order}}
rules:
{rules}
dead_letters:
  dlq: {{kind: file, path: "{dlq}"}}
watch_config: false
shutdown_grace_seconds: 2
{extra}
"#,
        dlq = dir.join("dlq.ndjson").display()
    );
    let mut busbar = Busbar::start(dir, &config, free_port(), envs);
    busbar.wait_ready(Duration::from_secs(15));
    (busbar, format!("127.0.0.1:{port}"))
}
