//! `stdout` and `file` targets: NDJSON, one line per delivery.
//!
//! Each runs on its own thread with blocking writes (a terminal or a pipe
//! that is slow is the usual backpressure of a shell pipeline), writes a
//! whole batch with one `write_all`, and for stdout holds the process-wide
//! lock while doing so, so lines of two targets never interleave.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Histogram;
use tokio::sync::mpsc;

use super::retry::{Decision, DeliveryErrorCode};
use super::{Failed, TargetBatch, TargetInfo};

enum Sink {
    Stdout,
    File(File),
}

impl Sink {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = io::stdout().lock();
                out.write_all(buf)?;
                out.flush()
            }
            Sink::File(f) => f.write_all(buf),
        }
    }
}

pub fn spawn_stdout(
    rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) {
    run(Sink::Stdout, rx, info, latency);
}

pub fn spawn_file(
    path: &Path,
    rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) -> Result<(), String> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            format!(
                "target `{}`: cannot open `{}`: {e}",
                info.id,
                path.display()
            )
        })?;
    run(Sink::File(f), rx, info, latency);
    Ok(())
}

fn run(
    mut sink: Sink,
    mut rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) {
    let name = format!("busbar-target-{}", info.id);
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let mut buf = Vec::with_capacity(1 << 20);
        while let Some(tb) = rx.blocking_recv() {
            buf.clear();
            for d in &tb.items {
                buf.extend_from_slice(tb.payload(d));
                buf.push(b'\n');
            }
            match write_with_retry(&mut sink, &buf, &info, tb.routed.batch.accepted_at) {
                Ok(()) => {
                    let secs = tb.routed.batch.accepted_at.elapsed().as_secs_f64();
                    for d in &tb.items {
                        latency.observe(secs);
                        tb.event(d).done();
                    }
                    info.deliveries.inc_by(tb.items.len() as u64);
                }
                Err(f) => {
                    for d in &tb.items {
                        info.give_up(
                            tb.event(d),
                            Failed {
                                code: f.code,
                                message: f.message.clone(),
                                exhausted: f.exhausted,
                                attempts: f.attempts,
                            },
                        );
                    }
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start a target thread");
    }
}

fn write_with_retry(
    sink: &mut Sink,
    buf: &[u8],
    info: &TargetInfo,
    accepted_at: std::time::Instant,
) -> Result<(), Failed> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let e = match sink.write_all(buf) {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let code = match e.kind() {
            io::ErrorKind::PermissionDenied => DeliveryErrorCode::NoPermissions,
            // The reader of a pipe is gone (`busbar run ... | head`): it
            // will not come back, so do not hold the pipeline for a day.
            io::ErrorKind::NotFound | io::ErrorKind::BrokenPipe => DeliveryErrorCode::NoResource,
            // A closed pipe (the reader went away) or a full disk may
            // recover; retrying is what the policy is for.
            _ => DeliveryErrorCode::ServerError,
        };
        info.failed(code.as_str());
        let message = format!("write failed: {e}");
        if !code.retryable() {
            return Err(Failed {
                code: code.as_str(),
                message,
                exhausted: None,
                attempts,
            });
        }
        match info
            .policy
            .decide(attempts, accepted_at.elapsed(), None, super::random_u64())
        {
            Decision::RetryIn(d) => {
                info.retries.inc();
                std::thread::sleep(d.min(Duration::from_secs(60)));
            }
            Decision::Exhausted(c) => {
                return Err(Failed {
                    code: code.as_str(),
                    message,
                    exhausted: Some(c.as_str()),
                    attempts,
                })
            }
        }
    }
}
