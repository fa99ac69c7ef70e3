//! The two halves of `benches/http_target.sh`:
//!
//! - `serve`: a webhook endpoint that answers every request `200 ok` after
//!   `--delay-ms` (HTTP/1.1, keep-alive), as a slow SaaS API would;
//! - `load`: the ceiling busbar's `http` target is compared with: a plain
//!   hyper client (one pooled client, `--concurrency` tasks) sending
//!   `--requests` POSTs of `--body-bytes` to `--url`, nothing else.
//!
//! ```sh
//! cargo build --release --bench http_endpoint
//! target/release/deps/http_endpoint-* serve --listen 127.0.0.1:9999 --delay-ms 20
//! target/release/deps/http_endpoint-* load --url http://127.0.0.1:9999/ \
//!     --concurrency 32 --requests 20000 [--body-bytes 400]
//! ```
//!
//! `load` prints one JSON line: requests, seconds, requests/s, and its own
//! CPU seconds per 1,000 requests. Run by `cargo bench` or `cargo test
//! --benches` without a mode, it prints how to use it and exits 0.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, in clock ticks (100 a second on Linux).
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1;
            let f: Vec<&str> = after.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

async fn serve(listen: String, delay: Duration) {
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("bind {listen}: {e}"));
    let served = Arc::new(AtomicU64::new(0));
    loop {
        let Ok((io, _)) = listener.accept().await else {
            continue;
        };
        let _ = io.set_nodelay(true);
        let served = served.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let served = served.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    tokio::time::sleep(delay).await;
                    served.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
    }
}

async fn load(url: String, concurrency: usize, requests: u64, body_bytes: usize) {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: hyper_util::client::legacy::Client<_, Full<Bytes>> =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
    let body = Bytes::from(format!("{{\"pad\":\"{}\"}}", "x".repeat(body_bytes)));
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, body, next, failed, url) = (
                client.clone(),
                body.clone(),
                next.clone(),
                failed.clone(),
                url.clone(),
            );
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let req = Request::post(&url)
                        .header("content-type", "application/json")
                        .body(Full::new(body.clone()))
                        .expect("request");
                    match client.request(req).await {
                        Ok(resp) if resp.status().is_success() => {
                            let _ = resp.into_body().collect().await;
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    println!(
        "{{\"concurrency\":{concurrency},\"requests\":{requests},\"failed\":{},\"seconds\":{secs:.2},\
         \"requests_per_s\":{:.0},\"cpu_ms_per_1000\":{:.1}}}",
        failed.load(Ordering::Relaxed),
        requests as f64 / secs,
        cpu * 1e6 / requests as f64,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    match args.first().map(String::as_str) {
        Some("serve") => {
            let listen = flag(&args, "--listen").unwrap_or_else(|| "127.0.0.1:9999".into());
            let delay = flag(&args, "--delay-ms")
                .and_then(|d| d.parse().ok())
                .unwrap_or(20);
            rt.block_on(serve(listen, Duration::from_millis(delay)));
        }
        Some("load") => {
            let url = flag(&args, "--url").unwrap_or_else(|| "http://127.0.0.1:9999/".into());
            let n = |name: &str, default: u64| {
                flag(&args, name)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(default)
            };
            rt.block_on(load(
                url,
                n("--concurrency", 32) as usize,
                n("--requests", 20_000),
                n("--body-bytes", 400) as usize,
            ));
        }
        _ => println!(
            "http_endpoint: for benches/http_target.sh; `serve --listen ADDR --delay-ms 20` or \
             `load --url URL --concurrency N --requests N [--body-bytes 400]`"
        ),
    }
}
