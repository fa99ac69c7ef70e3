//! `stdout` and `file` targets: NDJSON, one line per delivery.
//!
//! Every target that writes to the same place shares one writer thread
//! (stdout is one sink, each file path one more): a rule set with a
//! thousand stdout targets has one thread and one buffer, not a thousand,
//! and lines of different targets never interleave. The thread writes a
//! batch with one `write_all` (a slow terminal or pipe is the natural
//! backpressure of a shell pipeline) and applies the target's retry policy.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

use super::retry::{Decision, DeliveryErrorCode};
use super::{Failed, TargetBatch, TargetInfo};

/// What a sink thread receives: a batch and the target it is for.
pub type Job = (TargetBatch, Arc<TargetInfo>);

/// The running sinks by place (`None`: stdout), shared by every rule set.
#[derive(Default)]
pub struct Sinks {
    running: Mutex<HashMap<Option<PathBuf>, mpsc::UnboundedSender<Job>>>,
}

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

impl Sinks {
    /// The sink for `path` (`None`: stdout), started on first use.
    pub fn get(&self, path: Option<&Path>) -> Result<mpsc::UnboundedSender<Job>, String> {
        let mut running = match self.running.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let key = path.map(Path::to_path_buf);
        if let Some(tx) = running.get(&key).filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let sink = match path {
            None => Sink::Stdout,
            Some(p) => Sink::File(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("cannot open `{}`: {e}", p.display()))?,
            ),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let name = match path {
            None => "busbar-stdout".to_string(),
            Some(_) => format!("busbar-file-{}", running.len()),
        };
        std::thread::Builder::new()
            .name(name)
            .spawn(move || run(sink, rx))
            .map_err(|e| format!("cannot start a writer thread: {e}"))?;
        running.insert(key, tx.clone());
        Ok(tx)
    }
}

fn run(mut sink: Sink, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut buf = Vec::with_capacity(1 << 16);
    while let Some((tb, info)) = rx.blocking_recv() {
        buf.clear();
        for d in &tb.items {
            buf.extend_from_slice(tb.payload(d));
            buf.push(b'\n');
        }
        match write_with_retry(&mut sink, &buf, &info, tb.routed.batch.accepted_at) {
            Ok(()) => {
                let secs = tb.routed.batch.accepted_at.elapsed().as_secs_f64();
                let latency = info.latency(match sink {
                    Sink::Stdout => "stdout",
                    Sink::File(_) => "file",
                });
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
        // Do not keep a large batch's buffer around.
        if buf.capacity() > 4 << 20 {
            buf = Vec::with_capacity(1 << 16);
        }
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
        if info.abort.is_set() {
            return Err(info.aborted(attempts));
        }
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
            // A full disk may recover; retrying is what the policy is for.
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
                info.abort.sleep_blocking(d.min(Duration::from_secs(60)));
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
