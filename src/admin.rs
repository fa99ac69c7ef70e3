//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the
//! process is alive) and `/readyz` (ready to take traffic: rules compiled,
//! the Kafka consumer has its assignment and the producer reached a broker
//! where those are configured; 503 while draining, while a dead letter
//! cannot be written, and while a stuck or failed Kafka producer is being
//! replaced). Kubernetes probes and scrapes point here; it never touches
//! the pipeline.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// The readiness latch: each condition set by the part that owns it.
#[derive(Debug, Default)]
pub struct Readiness {
    pub rules_compiled: AtomicBool,
    /// `None`-like: starts `true` when no Kafka source is configured.
    pub consumer_assigned: AtomicBool,
    pub producer_connected: AtomicBool,
    /// Not a latch: set while a stuck or failed Kafka producer is replaced
    /// and until the new one delivers.
    pub producer_recovering: AtomicBool,
    pub draining: AtomicBool,
    /// Dead-letter writers holding an event they cannot write (a full
    /// disk, a topic the broker refuses): the events behind it wait, so
    /// traffic should go elsewhere. `busbar_dead_letter_blocked` says which.
    pub dead_letters_blocked: AtomicUsize,
}

impl Readiness {
    pub fn new(needs_consumer: bool, needs_producer: bool) -> Arc<Self> {
        Arc::new(Readiness {
            rules_compiled: AtomicBool::new(false),
            consumer_assigned: AtomicBool::new(!needs_consumer),
            producer_connected: AtomicBool::new(!needs_producer),
            producer_recovering: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            dead_letters_blocked: AtomicUsize::new(0),
        })
    }

    /// `Ok` when ready, else what is missing.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Acquire) {
            return Err("draining");
        }
        if !self.rules_compiled.load(Ordering::Acquire) {
            return Err("rules not compiled");
        }
        if !self.consumer_assigned.load(Ordering::Acquire) {
            return Err("kafka consumer has no assignment yet");
        }
        if !self.producer_connected.load(Ordering::Acquire) {
            return Err("kafka producer has not reached a broker");
        }
        if self.dead_letters_blocked.load(Ordering::Acquire) > 0 {
            return Err(
                "a dead letter cannot be written; its event is held and retried \
                        (busbar_dead_letter_blocked)",
            );
        }
        if self.producer_recovering.load(Ordering::Acquire) {
            return Err("kafka producer is being recreated");
        }
        Ok(())
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>, ct: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, ready: Arc<Readiness>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, most likely: an immediate retry would
            // spin until one frees up.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let ready = ready.clone();
                async move {
                    Ok::<_, Infallible>(match req.uri().path() {
                        "/metrics" => text(
                            StatusCode::OK,
                            metrics.render(),
                            "text/plain; version=0.0.4; charset=utf-8",
                        ),
                        "/healthz" | "/livez" => text(StatusCode::OK, "ok\n", "text/plain"),
                        "/readyz" => match ready.check() {
                            Ok(()) => text(StatusCode::OK, "ready\n", "text/plain"),
                            Err(why) => text(
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("not ready: {why}\n"),
                                "text/plain",
                            ),
                        },
                        _ => text(
                            StatusCode::NOT_FOUND,
                            "not found: /metrics, /healthz, /readyz\n",
                            "text/plain",
                        ),
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_needs_every_condition_and_drops_when_draining() {
        let r = Readiness::new(true, false);
        assert_eq!(r.check(), Err("rules not compiled"));
        r.rules_compiled.store(true, Ordering::Release);
        assert_eq!(r.check(), Err("kafka consumer has no assignment yet"));
        r.consumer_assigned.store(true, Ordering::Release);
        assert_eq!(r.check(), Ok(()));
        r.producer_recovering.store(true, Ordering::Release);
        assert_eq!(r.check(), Err("kafka producer is being recreated"));
        r.producer_recovering.store(false, Ordering::Release);
        assert_eq!(r.check(), Ok(()));
        r.dead_letters_blocked.fetch_add(1, Ordering::AcqRel);
        assert!(r
            .check()
            .unwrap_err()
            .starts_with("a dead letter cannot be written"));
        r.draining.store(true, Ordering::Release);
        assert_eq!(r.check(), Err("draining"));
        r.draining.store(false, Ordering::Release);
        r.dead_letters_blocked.fetch_sub(1, Ordering::AcqRel);
        assert_eq!(r.check(), Ok(()));
    }
}
