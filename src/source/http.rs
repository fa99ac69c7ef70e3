//! HTTP ingest for producers in the same pod.
//!
//! - `POST /` with `X-Amz-Target: AWSEvents.PutEvents` or
//!   `AWSEvents.TestEventPattern`: EventBridge's API over the AWS JSON 1.1
//!   protocol, so an AWS SDK or `aws --endpoint-url` works unchanged
//!   (the protocol itself lives in [`crate::ingest::putevents`]).
//! - `POST /events`: NDJSON, one event per line, answered with
//!   `{"Accepted":n}`.
//!
//! A reply is sent once the events are in the pipeline. When the in-flight
//! budget is spent the request is refused as a whole, with EventBridge's
//! `ThrottlingException` (SDKs retry it with backoff) or `429` with
//! `Retry-After` on `/events`: throttled, never dropped. The source is one
//! lane: requests reach each target in the order they were accepted.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::IntCounterVec;
use tokio::net::TcpListener;
use tokio::sync::Mutex;

use super::Intake;
use crate::engine::Limits;
use crate::envelope::Bus;
use crate::ingest::putevents::{self, ApiError, EntryOutcome, Operation, PutEventsLimits};
use crate::pipeline::Batch;

pub struct Settings {
    pub source: usize,
    pub max_request_bytes: usize,
    pub bus: Bus,
    pub put_limits: PutEventsLimits,
    pub engine_limits: Limits,
    pub requests: IntCounterVec,
    pub backpressure: prometheus::IntCounter,
    pub dropped: prometheus::IntCounter,
}

/// Bind first (so a bad address fails start-up), then serve until shutdown.
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    TcpListener::bind(addr).await
}

pub async fn serve(listener: TcpListener, s: Settings, intake: Intake) {
    let s = Arc::new(s);
    // One lane for the whole source: requests are numbered in the order
    // they are accepted into the pipeline, whichever connection they come
    // on (a lane per connection would grow the dispatcher's table with
    // every short-lived client).
    let lane = Arc::new((intake.new_lane(), Mutex::new(0u64)));
    let mut shutdown = intake.shutdown.clone();
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = Arc::new(Conn {
            s: s.clone(),
            intake: intake.clone(),
            lane: lane.clone(),
        });
        let mut shutdown = intake.shutdown.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let conn = conn.clone();
                async move { Ok::<_, Infallible>(conn.handle(req).await) }
            });
            let c = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(c);
            tokio::select! {
                _ = c.as_mut() => {}
                _ = shutdown.changed() => {
                    c.as_mut().graceful_shutdown();
                    let _ = c.await;
                }
            }
        });
    }
}

struct Conn {
    s: Arc<Settings>,
    intake: Intake,
    /// The source's lane and its next sequence number.
    lane: Arc<(u64, Mutex<u64>)>,
}

fn reply(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

const AMZ_JSON: &str = "application/x-amz-json-1.1";

fn api_error(e: &ApiError) -> Response<Full<Bytes>> {
    let mut r = reply(
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        AMZ_JSON,
        e.body(),
    );
    if let Ok(v) = HeaderValue::from_str(e.type_name) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

impl Conn {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (op, resp) = self.route(req).await;
        self.s
            .requests
            .with_label_values(&[op, resp.status().as_str()])
            .inc();
        let mut resp = resp;
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        resp
    }

    async fn route(&self, req: Request<Incoming>) -> (&'static str, Response<Full<Bytes>>) {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        let target = req
            .headers()
            .get("x-amz-target")
            .map(|v| v.as_bytes().to_vec());
        let body = match Limited::new(req.into_body(), self.s.max_request_bytes)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let too_large = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let (status, msg) = if too_large {
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "request body over {} bytes (setting max_request_bytes)",
                            self.s.max_request_bytes
                        ),
                    )
                } else {
                    (
                        StatusCode::BAD_REQUEST,
                        format!("cannot read the request body: {e}"),
                    )
                };
                return (
                    "body",
                    reply(status, "text/plain; charset=utf-8", msg.into_bytes()),
                );
            }
        };
        match (method, path.as_str()) {
            (Method::POST, "/") => match putevents::operation(target.as_deref()) {
                Ok(Operation::PutEvents) => ("PutEvents", self.put_events(&body).await),
                Ok(Operation::TestEventPattern) => (
                    "TestEventPattern",
                    match putevents::test_event_pattern(&body, &self.s.engine_limits) {
                        Ok(r) => reply(StatusCode::OK, AMZ_JSON, putevents::test_result_body(r)),
                        Err(e) => api_error(&e),
                    },
                ),
                Ok(Operation::Other(name)) => (
                    "other",
                    api_error(&ApiError {
                        status: 400,
                        type_name: "UnknownOperationException",
                        message: format!(
                            "busbar implements PutEvents and TestEventPattern, not {name}"
                        ),
                    }),
                ),
                Err(e) => ("other", api_error(&e)),
            },
            (Method::POST, "/events") => ("events", self.ndjson(&body).await),
            (_, "/events") | (_, "/") => (
                "other",
                reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain; charset=utf-8",
                    b"use POST\n".to_vec(),
                ),
            ),
            _ => (
                "other",
                reply(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    b"not found: POST / (PutEvents) or POST /events (NDJSON)\n".to_vec(),
                ),
            ),
        }
    }

    /// Send a batch in this connection's lane, or say it was throttled.
    async fn offer(&self, mut b: Batch) -> bool {
        // Numbered and handed over under one lock, so sequence numbers
        // reach the dispatcher without gaps and in order.
        let mut seq = self.lane.1.lock().await;
        b.lane = self.lane.0;
        b.seq = *seq;
        match self.intake.try_send(b).await {
            Ok(()) => {
                *seq += 1;
                true
            }
            Err(_) => {
                self.s.backpressure.inc();
                false
            }
        }
    }

    async fn put_events(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let prepared = match putevents::prepare_put_events(
            body,
            &self.s.bus,
            &self.s.put_limits,
            now,
            &mut uuid::Uuid::new_v4,
        ) {
            Ok(p) => p,
            Err(e) => return api_error(&e),
        };
        let mut b = Batch::new(self.s.source);
        for (i, e) in prepared.entries.iter().enumerate() {
            match e {
                EntryOutcome::Accepted { envelope, .. } => b.push(envelope, i as u64),
                EntryOutcome::Dropped { .. } => self.s.dropped.inc(),
                EntryOutcome::Failed { .. } => {}
            }
        }
        if !b.is_empty() && !self.offer(b).await {
            return api_error(&putevents::throttled());
        }
        reply(StatusCode::OK, AMZ_JSON, prepared.response_body())
    }

    async fn ndjson(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let mut b = Batch::new(self.s.source);
        for (n, line) in body.split(|c| *c == b'\n').enumerate() {
            let line = line.trim_ascii();
            if !line.is_empty() {
                b.push(line, n as u64 + 1);
            }
        }
        let count = b.len();
        let (max_events, max_bytes) = self.intake.budget();
        if count > max_events || b.weight() > max_bytes {
            // It could never fit: throttling would make the client retry forever.
            return reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "application/json",
                format!(
                    "{{\"message\":\"{count} events ({} bytes) is more than the pipeline holds at once (limits.max_in_flight_events {max_events}, limits.max_in_flight_bytes {max_bytes}); send smaller requests\"}}",
                    b.weight()
                )
                .into_bytes(),
            );
        }
        if count > 0 && !self.offer(b).await {
            let mut r = reply(
                StatusCode::TOO_MANY_REQUESTS,
                "application/json",
                b"{\"message\":\"pipeline full; retry later\"}".to_vec(),
            );
            r.headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
            return r;
        }
        reply(
            StatusCode::OK,
            "application/json",
            format!("{{\"Accepted\":{count}}}").into_bytes(),
        )
    }
}
