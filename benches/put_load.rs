//! A PutEvents load generator for `benches/spool.sh`: `--connections`
//! kept-alive HTTP/1.1 connections, each sending one request after another
//! (`--entries` entries of about `--detail-bytes` bytes of `Detail` each)
//! for `--seconds`, timing every request from its first byte sent to its
//! answer read. Throttled requests (`ThrottlingException`) are counted and
//! sent again after 10 ms, as an SDK would (with less backoff).
//!
//! ```sh
//! cargo build --release --bench put_load
//! target/release/deps/put_load-* --addr 127.0.0.1:8088 --connections 16 \
//!     --entries 10 --seconds 20 [--detail-bytes 400] [--spaced]
//! ```
//!
//! `--spaced` writes the request as Python's `json.dumps` does (a space
//! after `:` and `,`) instead of compact. Prints one JSON line: requests,
//! entries accepted, entries/s, MB/s of request bodies, and the request
//! latency p50/p99/p999/max in ms. Run by `cargo bench` or `cargo test
//! --benches` without `--addr`, it prints how to use it and exits 0.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;

struct Args {
    addr: String,
    connections: usize,
    entries: usize,
    seconds: f64,
    detail_bytes: usize,
    spaced: bool,
}

fn args() -> Option<Args> {
    let mut a = Args {
        addr: String::new(),
        connections: 16,
        entries: 10,
        seconds: 20.0,
        detail_bytes: 400,
        spaced: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_default();
        match k.as_str() {
            "--addr" => a.addr = v(),
            "--connections" => a.connections = v().parse().ok()?,
            "--entries" => a.entries = v().parse().ok()?,
            "--seconds" => a.seconds = v().parse().ok()?,
            "--detail-bytes" => a.detail_bytes = v().parse().ok()?,
            "--spaced" => a.spaced = true,
            _ => {}
        }
    }
    (!a.addr.is_empty()).then_some(a)
}

/// One request body: `entries` order events with a unique-looking detail.
fn body(a: &Args, conn: usize) -> Vec<u8> {
    let (colon, comma) = if a.spaced { (": ", ", ") } else { (":", ",") };
    let pad = "x".repeat(a.detail_bytes.saturating_sub(60));
    let entries: Vec<String> = (0..a.entries)
        .map(|i| {
            let detail = format!(
                "{{\\\"order\\\"{colon}\\\"o-{conn}-{i}\\\"{comma}\\\"total\\\"{colon}{}{comma}\\\"note\\\"{colon}\\\"{pad}\\\"}}",
                i * 7
            );
            format!(
                "{{\"Source\"{colon}\"shop\"{comma}\"DetailType\"{colon}\"Order Placed\"{comma}\"Detail\"{colon}\"{detail}\"}}"
            )
        })
        .collect();
    format!("{{\"Entries\"{colon}[{}]}}", entries.join(comma)).into_bytes()
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    requests: u64,
    entries: u64,
    throttled: u64,
    failed: u64,
    bytes: u64,
}

async fn connection(a: &Args, conn: usize, until: Instant) -> Result<Tally, String> {
    let stream = tokio::net::TcpStream::connect(&a.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", a.addr))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut send, conn_task) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn_task);
    let body = Bytes::from(body(a, conn));
    let mut t = Tally::default();
    while Instant::now() < until {
        let req = Request::post("/")
            .header("host", &a.addr)
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "AWSEvents.PutEvents")
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())?;
        let start = Instant::now();
        let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let answer = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let took = start.elapsed();
        t.requests += 1;
        if status == 200 && answer.windows(20).any(|w| w == b"\"FailedEntryCount\":0") {
            t.latencies_us
                .push(took.as_micros().min(u32::MAX as u128) as u32);
            t.entries += a.entries as u64;
            t.bytes += body.len() as u64;
        } else if answer.windows(19).any(|w| w == b"ThrottlingException") {
            t.throttled += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
        } else {
            t.failed += 1;
        }
    }
    Ok(t)
}

fn main() {
    let Some(a) = args() else {
        println!(
            "put_load: PutEvents load for benches/spool.sh; usage: --addr HOST:PORT \
             [--connections 16] [--entries 10] [--seconds 20] [--detail-bytes 400] [--spaced]"
        );
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let a = std::sync::Arc::new(a);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(a.seconds);
    let tallies: Vec<Result<Tally, String>> = rt.block_on(async {
        let tasks: Vec<_> = (0..a.connections)
            .map(|c| {
                let a = a.clone();
                tokio::spawn(async move { connection(&a, c, until).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap_or_else(|e| Err(e.to_string())));
        }
        out
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = Tally::default();
    for t in tallies {
        match t {
            Ok(t) => {
                all.latencies_us.extend(t.latencies_us);
                all.requests += t.requests;
                all.entries += t.entries;
                all.throttled += t.throttled;
                all.failed += t.failed;
                all.bytes += t.bytes;
            }
            Err(e) => {
                eprintln!("put_load: a connection failed: {e}");
                all.failed += 1;
            }
        }
    }
    all.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let v = &all.latencies_us;
        if v.is_empty() {
            return 0.0;
        }
        let i = ((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1000.0
    };
    println!(
        "{{\"connections\":{},\"entries_per_request\":{},\"spaced\":{},\"seconds\":{elapsed:.2},\
         \"requests\":{},\"entries\":{},\"throttled\":{},\"failed\":{},\"entries_per_s\":{:.0},\
         \"mb_per_s\":{:.2},\"p50_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3}}}",
        a.connections,
        a.entries,
        a.spaced,
        all.requests,
        all.entries,
        all.throttled,
        all.failed,
        all.entries as f64 / elapsed,
        all.bytes as f64 / elapsed / 1e6,
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
    );
}
