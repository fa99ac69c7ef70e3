//! A scripted HTTP/1.1 server for the end-to-end tests of `http` targets:
//! std `TcpListener`, one thread per connection, keep-alive, every request
//! recorded (method, path, headers, body, arrival time) before it is
//! answered as the script says. Included with
//! `#[path = "support/http_server.rs"] mod http_server;`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as in the request line.
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "request body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// What to do with the n-th request (0-based, over all connections).
#[derive(Debug, Clone)]
pub enum Reply {
    /// Answer with this status and these extra headers.
    Status(u16, Vec<(&'static str, String)>),
    /// Say nothing for this long, then close the connection.
    Silent(Duration),
    /// Say nothing until [`Server::release`], then answer 200.
    Held,
    /// Answer 200 after this long (a slow endpoint).
    Delay(Duration),
    /// Answer with this status and JSON body after this long (a token
    /// endpoint).
    Json(u16, String, Duration),
}

struct State {
    requests: Mutex<Vec<Recorded>>,
    /// Requests read and not yet answered, and the most there ever were.
    active: AtomicUsize,
    peak: AtomicUsize,
    released: Mutex<bool>,
    cv: Condvar,
    script: Box<dyn Fn(usize) -> Reply + Send + Sync>,
}

pub struct Server {
    pub addr: String,
    state: Arc<State>,
}

impl Server {
    /// Listen on a free loopback port and answer as `script` says.
    pub fn start(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("mock server binds");
        let addr = listener.local_addr().expect("local addr").to_string();
        let state = Arc::new(State {
            requests: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            released: Mutex::new(false),
            cv: Condvar::new(),
            script: Box::new(script),
        });
        let st = state.clone();
        // The accept thread lives as long as the test binary: tests are short.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || serve(conn, &st));
            }
        });
        Server { addr, state }
    }

    /// `http://ADDR/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    /// Wait until at least `n` requests arrived; panics after `within`.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Recorded> {
        let t = Instant::now();
        loop {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            if t.elapsed() > within {
                panic!("{} requests within {within:?}, wanted {n}: {r:#?}", r.len());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The most requests that were ever waiting for their answer at once.
    pub fn peak_concurrency(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// Let every [`Reply::Held`] request (and later ones) be answered.
    pub fn release(&self) {
        *self.state.released.lock().unwrap() = true;
        self.state.cv.notify_all();
    }
}

fn serve(conn: TcpStream, st: &State) {
    let mut w = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(conn);
    loop {
        let Some(req) = read_request(&mut r) else {
            return;
        };
        let now = st.active.fetch_add(1, Ordering::SeqCst) + 1;
        st.peak.fetch_max(now, Ordering::SeqCst);
        let _answered = Answered(&st.active);
        let reply = {
            let mut all = st.requests.lock().unwrap();
            all.push(req);
            (st.script)(all.len() - 1)
        };
        let mut body = "ok".to_string();
        let (status, extra) = match reply {
            Reply::Status(s, h) => (s, h),
            Reply::Json(s, b, d) => {
                std::thread::sleep(d);
                body = b;
                (s, vec![("Content-Type", "application/json".to_string())])
            }
            Reply::Silent(d) => {
                std::thread::sleep(d);
                return;
            }
            Reply::Held => {
                let mut released = st.released.lock().unwrap();
                while !*released {
                    released = st.cv.wait(released).unwrap();
                }
                (200, Vec::new())
            }
            Reply::Delay(d) => {
                std::thread::sleep(d);
                (200, Vec::new())
            }
        };
        let mut head = format!(
            "HTTP/1.1 {status} Scripted\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        head.push_str(&body);
        if w.write_all(head.as_bytes())
            .and_then(|_| w.flush())
            .is_err()
        {
            return;
        }
    }
}

/// Counts a request as answered (or abandoned) when dropped.
struct Answered<'a>(&'a AtomicUsize);

impl Drop for Answered<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One request with a `Content-Length` body (what hyper sends for a full
/// body); `None` at EOF or on anything unexpected.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Recorded> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let at = Instant::now();
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0usize);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Recorded {
        method,
        path,
        headers,
        body,
        at,
    })
}
