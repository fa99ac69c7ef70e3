//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the
//! process is alive) and `/readyz` (ready to take traffic: rules compiled,
//! the Kafka consumer has its assignment and the producer reached a broker
//! where those are configured; 503 while draining, while a dead letter
//! cannot be written, and while a stuck or failed Kafka producer is being
//! replaced). Kubernetes probes and scrapes point here.
//!
//! Operators look here too: `GET /rules` lists the loaded rules (state,
//! pattern, targets) with their match and delivery counts, and `GET
//! /tap?rule=NAME` streams copies of what a rule matches as NDJSON for
//! `busbar tap` ([`crate::tap`]). It never touches the pipeline: it reads
//! the catalog, the counters and the tap channels.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::inspect::SharedCatalog;
use crate::metrics::Metrics;
use crate::tap::{Subscription, Taps};

/// What the admin listener shows of the running rules.
#[derive(Clone)]
pub struct Introspection {
    pub catalog: SharedCatalog,
    pub taps: Arc<Taps>,
}

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

type Body = BoxBody<Bytes, Infallible>;

fn text(status: StatusCode, body: impl Into<Bytes>, ct: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    r
}

pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<Readiness>,
    look: Introspection,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, most likely: an immediate retry would
            // spin until one frees up.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let metrics = metrics.clone();
        let ready = ready.clone();
        let look = look.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let metrics = metrics.clone();
                let ready = ready.clone();
                let look = look.clone();
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
                        "/rules" => text(
                            StatusCode::OK,
                            rules_json(&look, &metrics),
                            "application/json",
                        ),
                        "/tap" => tap(&look, req.uri().query().unwrap_or("")),
                        _ => text(
                            StatusCode::NOT_FOUND,
                            "not found: /metrics, /healthz, /readyz, /rules, /tap?rule=NAME\n",
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

/// `GET /rules`: every loaded rule, its state, pattern and targets, with
/// the counts of `/metrics` beside them.
fn rules_json(look: &Introspection, m: &Metrics) -> Vec<u8> {
    use serde_json::{json, Value};
    let c = crate::inspect::current(&look.catalog);
    let (matched, delivered, failed, dead, dropped) = (
        m.matched_by_rule(),
        m.delivered_by_target(),
        m.failed_by_target(),
        m.dead_lettered_by_target(),
        m.dropped_by_target(),
    );
    let get = |sums: &crate::metrics::LabelSums, key: &[&str]| {
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        sums.get(&key).copied().unwrap_or(0)
    };
    let rules: Vec<Value> = c
        .rules
        .iter()
        .map(|r| {
            let targets: Vec<Value> = r
                .targets
                .iter()
                .map(|t| {
                    let k = [r.name.as_str(), t.id.as_str()];
                    json!({
                        "id": t.id,
                        "kind": t.kind,
                        "endpoint": t.endpoint,
                        "dead_letter": t.dead_letter.as_ref().map(|d| &d.0),
                        "delivered": get(&delivered, &k),
                        "failed_attempts": get(&failed, &k),
                        "dead_lettered": get(&dead, &k),
                        "dropped": get(&dropped, &k),
                    })
                })
                .collect();
            let pattern = serde_json::from_str::<Value>(&r.event_pattern)
                .unwrap_or_else(|_| Value::String(r.event_pattern.clone()));
            json!({
                "name": r.name,
                "arn": r.arn,
                "state": r.state(),
                "description": r.description,
                "event_pattern": pattern,
                "matched": get(&matched, &[r.name.as_str()]),
                "taps": look.taps.watching(&r.name),
                "targets": targets,
            })
        })
        .collect();
    let mut out = serde_json::to_vec_pretty(&json!({
        "bus": {"name": c.bus_name, "arn": c.bus_arn},
        "rules": rules,
    }))
    .unwrap_or_default();
    out.push(b'\n');
    out
}

/// `GET /tap?rule=NAME[&limit=N]`: copies of what the rule matches, as
/// NDJSON, until the client goes or `limit` events were sent.
fn tap(look: &Introspection, query: &str) -> Response<Body> {
    let mut rule = None;
    let mut limit = u64::MAX;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "rule" => rule = Some(v.into_owned()),
            "limit" => match v.parse::<u64>() {
                Ok(n) if n > 0 => limit = n,
                _ => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        format!("limit `{v}` is not a positive whole number\n"),
                        "text/plain",
                    )
                }
            },
            _ => {}
        }
    }
    let Some(rule) = rule else {
        return text(
            StatusCode::BAD_REQUEST,
            "name the rule: /tap?rule=NAME\n",
            "text/plain",
        );
    };
    let catalog = crate::inspect::current(&look.catalog);
    match catalog.rule(&rule) {
        None => {
            return text(
                StatusCode::NOT_FOUND,
                format!("no rule `{rule}` is loaded (GET /rules lists them)\n"),
                "text/plain",
            )
        }
        Some(r) if !r.enabled => {
            return text(
                StatusCode::CONFLICT,
                format!("rule `{rule}` is DISABLED: it matches nothing\n"),
                "text/plain",
            )
        }
        Some(_) => {}
    }
    let sub = look.taps.attach(&rule, crate::tap::CHANNEL_EVENTS);
    let mut head = Vec::with_capacity(rule.len() + 16);
    head.extend_from_slice(b"{\"rule\":");
    crate::envelope::write_json_string(&rule, &mut head);
    head.extend_from_slice(b",\"event\":");
    let body = TapBody {
        sub,
        head,
        left: limit,
        reported: 0,
        heartbeat: Box::pin(tokio::time::sleep(HEARTBEAT)),
    };
    let mut r = Response::new(BoxBody::new(body));
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    r
}

/// An empty line this often while nothing matches: writing is how a
/// client that went away is noticed (and its tap detached).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// The streamed body of `GET /tap`: `{"rule":R,"event":E}` lines, a
/// `{"dropped":N}` line (the total so far) whenever copies were dropped
/// because the client read too slowly, and empty lines as heartbeats.
struct TapBody {
    sub: Subscription,
    head: Vec<u8>,
    left: u64,
    reported: u64,
    heartbeat: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::body::Body for TapBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let dropped = this.sub.dropped.load(Ordering::Relaxed);
        if dropped > this.reported {
            this.reported = dropped;
            let line = format!("{{\"dropped\":{dropped}}}\n");
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))));
        }
        match this.sub.rx.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                this.left -= 1;
                let mut line = Vec::with_capacity(this.head.len() + event.len() + 2);
                line.extend_from_slice(&this.head);
                line.extend_from_slice(&event);
                line.extend_from_slice(b"}\n");
                this.heartbeat
                    .as_mut()
                    .reset(tokio::time::Instant::now() + HEARTBEAT);
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.heartbeat.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.heartbeat
                        .as_mut()
                        .reset(tokio::time::Instant::now() + HEARTBEAT);
                    Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"\n")))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The next frame of a body, if one is ready.
    fn next(body: &mut TapBody) -> Option<String> {
        use hyper::body::Body as _;
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        match Pin::new(body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(f))) => {
                Some(String::from_utf8(f.into_data().unwrap().to_vec()).unwrap())
            }
            Poll::Ready(None) => Some("<end>".into()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_tap_stream_says_what_it_dropped_and_ends_at_its_limit() {
        let taps = Arc::new(Taps::default());
        let sub = taps.attach("r", 2);
        let mut body = TapBody {
            sub,
            head: b"{\"rule\":\"r\",\"event\":".to_vec(),
            left: 3,
            reported: 0,
            heartbeat: Box::pin(tokio::time::sleep(HEARTBEAT)),
        };
        for i in 0..5 {
            taps.offer("r", Bytes::from(format!("{{\"n\":{i}}}")));
        }
        assert_eq!(next(&mut body).unwrap(), "{\"dropped\":3}\n");
        assert_eq!(
            next(&mut body).unwrap(),
            "{\"rule\":\"r\",\"event\":{\"n\":0}}\n"
        );
        assert_eq!(
            next(&mut body).unwrap(),
            "{\"rule\":\"r\",\"event\":{\"n\":1}}\n"
        );
        assert_eq!(next(&mut body), None, "nothing more yet");
        taps.offer("r", Bytes::from_static(b"{}"));
        assert_eq!(next(&mut body).unwrap(), "{\"rule\":\"r\",\"event\":{}}\n");
        assert_eq!(next(&mut body).unwrap(), "<end>", "the limit of 3");
        drop(body);
        assert!(!taps.any(), "the stream's end detaches it");
    }

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
