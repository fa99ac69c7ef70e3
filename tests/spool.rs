//! The write-ahead spool end to end: HTTP ingest answers only once a
//! request is on disk, so what a client was told was accepted survives
//! `kill -9` and a shutdown that cuts deliveries short, and is delivered
//! by the next process; a full spool throttles with its reason. Every test
//! counts ids (a field of each event's detail, since PutEvents gives each
//! entry an id of busbar's making) at the target across both processes.

#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_server::{Reply, Server};
use serde_json::json;
use support::Busbar;

fn config(port: u16, url: &str, spool: &Path, extra: &str) -> String {
    format!(
        r#"
sources:
  - {{id: api, kind: http, listen: "127.0.0.1:{port}"}}
rules:
  - name: orders
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, url: "{url}", timeout_seconds: 1}}
spool:
  path: "{spool}"
{extra}watch_config: false
shutdown_grace_seconds: 1
"#,
        spool = spool.display()
    )
}

/// One PutEvents request for `ids`; `Ok(true)` when every entry was
/// accepted, `Ok(false)` when throttled, with the answer's text.
fn put(ingest: &str, ids: &[String], pad: usize) -> std::io::Result<(bool, String)> {
    put_with(ingest, ids, pad, &[])
}

/// [`put`] with more request headers.
fn put_with(
    ingest: &str,
    ids: &[String],
    pad: usize,
    headers: &[(&str, &str)],
) -> std::io::Result<(bool, String)> {
    let entries: Vec<_> = ids
        .iter()
        .map(|id| {
            json!({"Source": "shop", "DetailType": "Order",
                   "Detail": json!({"n": id, "pad": "x".repeat(pad)}).to_string()})
        })
        .collect();
    let body = json!({ "Entries": entries }).to_string();
    let mut all = vec![("X-Amz-Target", "AWSEvents.PutEvents")];
    all.extend_from_slice(headers);
    let (status, resp) = support::http(ingest, "POST", "/", &all, body.as_bytes())?;
    let text = String::from_utf8_lossy(&resp).into_owned();
    match status {
        200 if text.contains("\"FailedEntryCount\":0") => Ok((true, text)),
        400 if text.contains("ThrottlingException") => Ok((false, text)),
        _ => Err(std::io::Error::other(format!("{status}: {text}"))),
    }
}

/// The distinct ids the endpoint received, and how many requests it got.
fn received(server: &Server) -> (BTreeSet<String>, usize) {
    let r = server.requests();
    let ids = r
        .iter()
        .map(|r| r.json()["detail"]["n"].as_str().expect("n").to_string())
        .collect();
    (ids, r.len())
}

#[test]
fn kill_9_under_putevents_load_loses_no_acknowledged_event() {
    let dir = support::temp_dir("spool-kill9");
    let spool = dir.join("spool");
    // 10 ms a delivery: the target falls behind the load, so the spool
    // holds thousands of events when the process is killed.
    let server = Server::start(|_| Reply::Delay(Duration::from_millis(10)));
    let port = support::free_port();
    let ingest = format!("127.0.0.1:{port}");
    let cfg = config(port, &server.url("/hook"), &spool, "");
    let first = dir.join("first");
    std::fs::create_dir_all(&first).unwrap();
    let mut busbar = Busbar::start(&first, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));

    // Four clients, 10 entries a request, until the process dies.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let dead = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (acked, dead, ingest) = (acked.clone(), dead.clone(), ingest.clone());
            std::thread::spawn(move || {
                for r in 0.. {
                    if dead.load(Ordering::Acquire) {
                        return;
                    }
                    let ids: Vec<String> = (0..10).map(|i| format!("c{c}-{r:05}-{i}")).collect();
                    match put(&ingest, &ids, 0) {
                        Ok((true, _)) => acked.lock().unwrap().extend(ids),
                        Ok((false, _)) => std::thread::sleep(Duration::from_millis(20)),
                        Err(_) => return, // killed mid-request: not acknowledged
                    }
                }
            })
        })
        .collect();
    support::wait_until(Duration::from_secs(30), "2,000 events acknowledged", || {
        acked.lock().unwrap().len() >= 2_000
    });
    busbar.signal("KILL");
    busbar.wait(Duration::from_secs(10));
    dead.store(true, Ordering::Release);
    for c in clients {
        c.join().unwrap();
    }
    let acked: BTreeSet<String> = acked.lock().unwrap().iter().cloned().collect();
    let (before, _) = received(&server);
    assert!(
        before.len() < acked.len(),
        "the kill must leave events undelivered for the test to mean anything: {} of {}",
        before.len(),
        acked.len()
    );

    // The next process delivers every acknowledged event from the spool.
    let second = dir.join("second");
    std::fs::create_dir_all(&second).unwrap();
    let fast = Server::start(|_| Reply::Status(200, vec![]));
    let cfg = config(port, &fast.url("/hook"), &spool, "");
    let mut busbar = Busbar::start(&second, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));
    support::wait_until(
        Duration::from_secs(60),
        "every acknowledged id delivered",
        || {
            let (after, _) = received(&fast);
            let all: BTreeSet<&String> = before.iter().chain(after.iter()).collect();
            acked.iter().all(|id| all.contains(id))
        },
    );
    let (after, requests) = received(&fast);
    let status = busbar.stop();
    let stderr = busbar.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("spooled events from before the restart"),
        "{stderr}"
    );
    // Replay is at-least-once: what the first process delivered without
    // releasing it yet may come again, never more than once per process.
    let twice = after.intersection(&before).count();
    eprintln!(
        "acknowledged {}, delivered before the kill {}, after {} ({} requests), both {twice}",
        acked.len(),
        before.len(),
        after.len(),
        requests
    );
    assert_eq!(requests, after.len(), "one delivery per event per process");
    assert!(
        after.len() >= acked.len() - before.len(),
        "{} after, {} acked, {} before",
        after.len(),
        acked.len(),
        before.len()
    );
}

#[test]
fn sigterm_leaves_undelivered_events_in_the_spool_for_the_next_process() {
    let dir = support::temp_dir("spool-sigterm");
    let spool = dir.join("spool");
    let held = Server::start(|_| Reply::Held);
    let port = support::free_port();
    let ingest = format!("127.0.0.1:{port}");
    let first = dir.join("first");
    std::fs::create_dir_all(&first).unwrap();
    let dlq = dir.join("dlq.ndjson");
    let dl = format!(
        "dead_letters:\n  dlq: {{kind: file, path: \"{}\"}}\n",
        dlq.display()
    );
    let cfg = config(port, &held.url("/hook"), &spool, &dl).replace(
        "timeout_seconds: 1}",
        "timeout_seconds: 1, dead_letter: dlq}",
    );
    let mut busbar = Busbar::start(&first, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));
    let ids: Vec<String> = (0..50).map(|i| format!("ev-{i:03}")).collect();
    // The first request comes with trace context, which is spooled too.
    let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for (i, chunk) in ids.chunks(10).enumerate() {
        let trace: &[(&str, &str)] = if i == 0 {
            &[("traceparent", tp), ("tracestate", "k=v")]
        } else {
            &[]
        };
        assert!(put_with(&ingest, chunk, 0, trace).unwrap().0);
    }
    let status = busbar.stop();
    let stderr = busbar.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        std::fs::read_to_string(&dlq).unwrap_or_default().is_empty(),
        "spooled events are kept, not dead-lettered"
    );
    assert!(stderr.contains("left_for_redelivery=50"), "{stderr}");

    let second = dir.join("second");
    std::fs::create_dir_all(&second).unwrap();
    let fast = Server::start(|_| Reply::Status(200, vec![]));
    let cfg = config(port, &fast.url("/hook"), &spool, "");
    let mut busbar = Busbar::start(&second, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));
    support::wait_until(Duration::from_secs(30), "all 50 delivered", || {
        received(&fast).0.len() == 50
    });
    assert_eq!(received(&fast).1, 50, "once each");
    for r in fast.requests() {
        let n = r.json()["detail"]["n"].as_str().unwrap().to_string();
        let traced = ids[..10].contains(&n);
        assert_eq!(r.header("traceparent"), traced.then_some(tp), "{n}");
        assert_eq!(r.header("tracestate"), traced.then_some("k=v"), "{n}");
    }
    assert_eq!(busbar.stop().code(), Some(0), "{}", busbar.stderr());
}

#[test]
fn a_full_spool_throttles_with_its_reason_until_space_comes_back() {
    let dir = support::temp_dir("spool-full");
    let spool = dir.join("spool");
    let server = Server::start(|_| Reply::Held);
    let port = support::free_port();
    let ingest = format!("127.0.0.1:{port}");
    // 1 MiB of spool in 64 KiB segments; each request is ~50 KB.
    let cfg = config(port, &server.url("/hook"), &spool, "").replace(
        "spool:\n  path:",
        "spool:\n  max_bytes: 1048576\n  segment_bytes: 65536\n  path:",
    );
    let mut busbar = Busbar::start(&dir, &cfg, support::free_port(), &[]);
    busbar.wait_ready(Duration::from_secs(15));
    let mut acked = Vec::new();
    let mut refusal = None;
    for r in 0..100 {
        let ids: Vec<String> = (0..5).map(|i| format!("r{r:03}-{i}")).collect();
        match put(&ingest, &ids, 10_000).unwrap() {
            (true, _) => acked.extend(ids),
            (false, text) => {
                refusal = Some(text);
                break;
            }
        }
    }
    let refusal = refusal.expect("a 1 MiB spool fills with 5 MB of events");
    assert!(refusal.contains("spool.max_bytes"), "{refusal}");
    assert!(
        (50..=110).contains(&acked.len()),
        "~1 MiB of 10 KB events: {}",
        acked.len()
    );
    let m = busbar.metrics();
    assert!(m.contains("busbar_spool_"), "{m}");

    // The endpoint answers: the spool empties and takes events again.
    server.release();
    support::wait_until(Duration::from_secs(60), "spooled events delivered", || {
        received(&server).0.len() >= acked.len()
    });
    support::wait_until(Duration::from_secs(30), "space back", || {
        put(&ingest, &["late".to_string()], 10_000).unwrap().0
    });
    let (got, _) = received(&server);
    assert!(acked.iter().all(|id| got.contains(id)));
    assert_eq!(busbar.stop().code(), Some(0), "{}", busbar.stderr());
}
