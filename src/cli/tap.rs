//! `busbar tap`: print, live, the events a rule of a running busbar
//! matches. The admin listener's `GET /tap?rule=NAME` does the sampling
//! and bounding (see the library's `tap` module); this reads its NDJSON
//! stream and writes each event on a line of its own to stdout.

use std::io::{self, Write};
use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Empty};
use hyper::header::HOST;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{fail, Failure};

/// Stream the events a rule matches, live, from a running busbar.
///
/// Connects to the admin listener of `busbar run` and prints each event the
/// rule matches, as NDJSON, from now on. Watching costs the pipeline
/// nothing it would wait for: when this reads more slowly than the rule
/// matches, the events that do not fit are left out and their count is
/// reported on stderr. Ends after --limit events (exit 0), when stdout's
/// reader goes away (exit 0), or when busbar stops (exit 1).
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar tap --rule orders
  busbar tap --rule orders --admin 10.0.0.7:9464 --limit 10 | jq .detail")]
pub struct TapArgs {
    /// The rule whose matches to print.
    #[arg(long)]
    pub rule: String,
    /// The admin listener (`admin.listen`); default: BUSBAR_ADMIN_ADDR, else
    /// 127.0.0.1:9464.
    #[arg(long)]
    pub admin: Option<String>,
    /// Stop after this many events.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

/// One line of the stream.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(default)]
    dropped: Option<u64>,
}

pub fn run(a: TapArgs) -> Result<ExitCode, Failure> {
    let admin = a
        .admin
        .clone()
        .or_else(|| std::env::var("BUSBAR_ADMIN_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:9464".to_string());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    rt.block_on(stream(&a, &admin))
}

async fn stream(a: &TapArgs, admin: &str) -> Result<ExitCode, Failure> {
    let unreachable = |e: &dyn std::fmt::Display| {
        fail(format!(
            "cannot reach busbar's admin listener at {admin} (--admin, admin.listen): {e}"
        ))
    };
    let tcp = tokio::net::TcpStream::connect(admin)
        .await
        .map_err(|e| unreachable(&e))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(conn);
    let mut path = String::from("/tap?");
    {
        let mut q = form_urlencoded::Serializer::new(&mut path);
        q.append_pair("rule", &a.rule);
        if let Some(n) = a.limit {
            q.append_pair("limit", &n.to_string());
        }
    }
    let req = Request::get(path)
        .header(HOST, admin)
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(format!("cannot build the request: {e}")))?;
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(&e))?;
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        return Err(fail(format!(
            "{admin} answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )));
    }
    let mut out = io::stdout().lock();
    let mut buf: Vec<u8> = Vec::new();
    let mut shown = 0u64;
    let mut dropped = 0u64;
    while let Some(frame) = resp.body_mut().frame().await {
        let Ok(frame) = frame else { break };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(nl) = memchr::memchr(b'\n', &buf) {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            let line = &line[..nl];
            if line.is_empty() {
                continue; // a heartbeat
            }
            let Ok(l) = serde_json::from_slice::<Line>(line) else {
                continue;
            };
            if let Some(ev) = l.event {
                // A reader that went away (`| head`) ends the tap quietly.
                if let Err(e) = writeln!(out, "{}", ev.get()).and_then(|()| out.flush()) {
                    return if e.kind() == io::ErrorKind::BrokenPipe {
                        Ok(ExitCode::SUCCESS)
                    } else {
                        Err(e.into())
                    };
                }
                shown += 1;
            }
            if let Some(n) = l.dropped {
                eprintln!(
                    "busbar tap: {} events of rule {} not shown: they came faster than this read them",
                    n - dropped,
                    a.rule
                );
                dropped = n;
            }
        }
    }
    if a.limit.is_some_and(|n| shown >= n) {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("busbar tap: the stream ended after {shown} events (busbar stopped?)");
    Ok(ExitCode::from(1))
}
