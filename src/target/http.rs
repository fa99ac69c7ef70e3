//! `http` targets: one request per event (EventBridge API destinations),
//! with configurable headers, a per-target rate limit, a 5 s default
//! timeout, and retries on 429, 5xx, timeouts and connection failures that
//! honour `Retry-After`. Other statuses are not retried (§4.3.3).
//!
//! Deliveries of a target go one at a time, in lane order: a target that
//! is slow slows its lane down (and through the in-flight budget, the
//! source) rather than reordering events. A target that *fails* is another
//! matter: its deliveries wait in a [`Backlog`] of copies, so that one dead
//! endpoint does not hold the budget every other target and source needs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prometheus::Histogram;
use tokio::sync::mpsc;

use std::collections::VecDeque;

use prometheus::IntGauge;

use super::retry::{
    parse_retry_after, Decision, DeliveryErrorCode, ExhaustedCondition, RateLimiter,
};
use super::tls::{self, Tls};
use super::{AttemptError, Delivery, Failed, TargetBatch, TargetInfo};
use crate::pipeline::EventRef;

pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle keep-alive connections a target keeps open to its endpoint. Enough
/// for a burst of concurrent HTTP/1.1 requests to find a warm connection
/// (an HTTP/2 endpoint needs one); more would hold sockets, and on the
/// other side server slots, that a steady load never uses.
pub const MAX_IDLE_CONNECTIONS: usize = 32;

/// The client of one target: its own connection pool, HTTP/1.1 with
/// keep-alive, and for `https://` rustls with `tls` (absent: a plain
/// `http://` target) offering HTTP/2 and HTTP/1.1 by ALPN.
pub fn client(tls: Option<&Tls>) -> Result<Client, String> {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(Duration::from_secs(5)));
    // The https connector hands it `https://` URIs too.
    tcp.enforce_http(false);
    let config = match tls {
        Some(t) => t.client_config(),
        None => tls::unused_for_http()?,
    };
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_or_http();
    let builder = match tls.and_then(Tls::server_name) {
        Some(name) => builder.with_server_name_resolver(FixedServerNameResolver::new(name.clone())),
        None => builder,
    };
    let connector = builder.enable_http1().enable_http2().wrap_connector(tcp);
    Ok(
        hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
            .build(connector),
    )
}

pub struct Settings {
    pub url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub rate_limit_per_second: Option<f64>,
    pub timeout: Duration,
    /// `limits.max_backlog_events` and `_bytes`.
    pub backlog: (usize, usize),
    /// `busbar_target_backlog_events` and `_bytes` of this target.
    pub backlog_gauges: (IntGauge, IntGauge),
}

struct Prepared {
    uri: Uri,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

pub fn spawn(
    s: Settings,
    client: Client,
    rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) -> Result<(), String> {
    let bad = |what: &str| format!("target `{}`: {what}", info.id);
    let uri: Uri = s.url.parse().map_err(|e| bad(&format!("url: {e}")))?;
    let method =
        Method::from_bytes(s.method.as_bytes()).map_err(|e| bad(&format!("method: {e}")))?;
    let mut headers = Vec::new();
    let (mut has_type, mut has_agent) = (false, false);
    for (k, v) in &s.headers {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(&format!("header {k}: {e}")))?;
        let value = HeaderValue::from_str(v).map_err(|e| bad(&format!("header {k}: {e}")))?;
        has_type |= name == CONTENT_TYPE;
        has_agent |= name == USER_AGENT;
        headers.push((name, value));
    }
    if !has_type {
        headers.push((
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ));
    }
    if !has_agent {
        headers.push((
            USER_AGENT,
            HeaderValue::from_static(concat!("busbar/", env!("CARGO_PKG_VERSION"))),
        ));
    }
    let limiter = match s.rate_limit_per_second {
        Some(r) => Some(RateLimiter::new(r, r.ceil().max(1.0) as u32).map_err(|e| bad(&e))?),
        None => None,
    };
    let p = Arc::new(Prepared {
        uri,
        method,
        headers,
        timeout: s.timeout,
    });
    let backlog = Backlog::new(s.backlog, s.backlog_gauges);
    tokio::spawn(
        Task {
            info,
            client,
            p,
            limiter,
            latency,
            backlog,
            last_failure: None,
        }
        .run(rx),
    );
    Ok(())
}

/// A delivery waiting in the backlog: a copy of its event that no longer
/// holds its batch ([`EventRef::detach`]), and the body to send.
struct Waiting {
    event: EventRef,
    body: Bytes,
    accepted_at: Instant,
    attempts: u32,
    weight: usize,
}

/// The deliveries of a target whose endpoint keeps failing. While it is not
/// empty the target is *failing*: new deliveries join it at the back
/// without an attempt of their own, and only its head is tried (when its
/// backoff has passed), one attempt at a time, as a probe. A success tries
/// the next at once, so a recovered endpoint drains it in order; the
/// target is healthy again once it is empty. Events leave it delivered, or
/// dead-lettered when their attempts or their age run out.
///
/// Each entry is a copy, so a failing target holds its own bounded share
/// (`limits.max_backlog_events` / `_bytes`) instead of whole batches of the
/// shared in-flight budget: the other targets and the sources keep flowing.
/// When it is full the target stops taking deliveries, and only then do its
/// batches hold the shared budget again.
struct Backlog {
    queue: VecDeque<Waiting>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
    /// When the head may be tried again.
    due: Instant,
    gauges: (IntGauge, IntGauge),
}

impl Backlog {
    fn new((max_events, max_bytes): (usize, usize), gauges: (IntGauge, IntGauge)) -> Backlog {
        Backlog {
            queue: VecDeque::new(),
            bytes: 0,
            max_events: max_events.max(1),
            max_bytes: max_bytes.max(1),
            due: Instant::now(),
            gauges,
        }
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Room for one more entry: one always fits into an empty backlog,
    /// however large.
    fn has_room(&self) -> bool {
        self.queue.is_empty() || (self.queue.len() < self.max_events && self.bytes < self.max_bytes)
    }

    fn push(&mut self, w: Waiting) {
        self.bytes += w.weight;
        self.gauges.0.inc();
        self.gauges.1.add(w.weight as i64);
        self.queue.push_back(w);
    }

    fn take(&mut self, i: usize) -> Option<Waiting> {
        let w = self.queue.remove(i)?;
        self.bytes -= w.weight;
        self.gauges.0.dec();
        self.gauges.1.sub(w.weight as i64);
        Some(w)
    }
}

/// The last retryable failure of the target: what an event that runs out
/// of age in the backlog before its own attempt is dead-lettered with.
struct LastFailure {
    code: DeliveryErrorCode,
    message: String,
}

struct Task {
    info: Arc<TargetInfo>,
    client: Client,
    p: Arc<Prepared>,
    limiter: Option<RateLimiter>,
    latency: Histogram,
    backlog: Backlog,
    last_failure: Option<LastFailure>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<TargetBatch>) {
        // The batch being taken in, and its next item.
        let mut inbox: Option<(TargetBatch, usize)> = None;
        let mut open = true;
        loop {
            if self.info.abort.is_set() {
                return self.abort(inbox, rx).await;
            }
            if let Some((tb, next)) = &mut inbox {
                while *next < tb.items.len() && self.backlog.has_room() {
                    let d = &tb.items[*next];
                    if self.backlog.is_empty() {
                        let Some(()) = self.first_attempt(tb, d).await else {
                            break; // aborted: handled at the top
                        };
                    } else {
                        let w = waiting(tb, d, 0);
                        self.backlog.push(w);
                    }
                    *next += 1;
                }
                if *next == tb.items.len() {
                    inbox = None;
                }
                if self.info.abort.is_set() {
                    continue;
                }
            }
            if !open && inbox.is_none() && self.backlog.is_empty() {
                return;
            }
            let take = open && inbox.is_none() && self.backlog.has_room();
            let retry = !self.backlog.is_empty();
            tokio::select! {
                biased;
                _ = self.info.abort.wait() => {}
                _ = tokio::time::sleep_until(self.backlog.due.into()), if retry => {
                    self.retry_head().await;
                }
                tb = rx.recv(), if take => match tb {
                    Some(tb) => inbox = Some((tb, 0)),
                    None => open = false,
                },
            }
        }
    }

    /// One attempt, rate-limited; `None` when the abort cut it short.
    async fn attempt(&mut self, body: Bytes) -> Option<Result<(), AttemptError>> {
        let wait = self.limiter.as_mut().map(|l| l.delay(Instant::now()));
        let info = self.info.clone();
        let go = async {
            if let Some(w) = wait.filter(|w| !w.is_zero()) {
                tokio::time::sleep(w).await;
            }
            attempt(&self.client, &self.p, body).await
        };
        tokio::select! {
            r = go => Some(r),
            _ = info.abort.wait() => None,
        }
    }

    /// The first attempt of a delivery while the target is healthy: done,
    /// given up, or into the backlog to be retried.
    async fn first_attempt(&mut self, tb: &TargetBatch, d: &Delivery) -> Option<()> {
        let body = Bytes::copy_from_slice(tb.payload(d));
        let accepted = tb.routed.batch.accepted_at;
        let r = self.attempt(body.clone()).await?;
        match r {
            Ok(()) => self.delivered(&tb.event(d), accepted),
            Err(e) => match self.failed(e, 1, accepted) {
                Err(f) => self.info.give_up(tb.event(d), f),
                Ok(wait) => {
                    let mut w = waiting(tb, d, 1);
                    w.body = body;
                    self.backlog.due = Instant::now() + wait;
                    self.backlog.push(w);
                }
            },
        }
        Some(())
    }

    /// Try the backlog's head once.
    async fn retry_head(&mut self) {
        let Some(head) = self.backlog.queue.front() else {
            return;
        };
        let (body, accepted, attempts) = (head.body.clone(), head.accepted_at, head.attempts + 1);
        if attempts > 1 {
            self.info.retries.inc();
        }
        let Some(r) = self.attempt(body).await else {
            return;
        };
        let now = Instant::now();
        match r {
            Ok(()) => {
                if let Some(w) = self.backlog.take(0) {
                    self.delivered(&w.event, accepted);
                }
                self.last_failure = None;
                self.backlog.due = now;
            }
            Err(e) => {
                let decided = self.failed(e, attempts, accepted);
                match decided {
                    Ok(wait) => {
                        if let Some(h) = self.backlog.queue.front_mut() {
                            h.attempts = attempts;
                        }
                        self.backlog.due = now + wait;
                    }
                    Err(f) => {
                        if let Some(w) = self.backlog.take(0) {
                            self.info.give_up(w.event, f);
                        }
                        self.backlog.due = now;
                    }
                }
                self.expire(now);
            }
        }
    }

    /// Dead-letter every entry behind the head whose age ran out while it
    /// waited for its turn.
    fn expire(&mut self, now: Instant) {
        let max_age = self.info.policy.maximum_event_age;
        let Some(last) = &self.last_failure else {
            return;
        };
        let mut i = 1;
        while i < self.backlog.queue.len() {
            let age = now.saturating_duration_since(self.backlog.queue[i].accepted_at);
            if age < max_age {
                i += 1;
                continue;
            }
            if let Some(w) = self.backlog.take(i) {
                self.info.give_up(
                    w.event,
                    Failed {
                        code: last.code.as_str(),
                        message: format!(
                            "{} (the target kept failing while the event waited for its turn)",
                            last.message
                        ),
                        exhausted: Some(ExhaustedCondition::MaximumEventAgeInSeconds.as_str()),
                        attempts: w.attempts,
                    },
                );
            }
        }
    }

    fn delivered(&self, event: &EventRef, accepted: Instant) {
        self.latency.observe(accepted.elapsed().as_secs_f64());
        self.info.deliveries.inc();
        event.done();
    }

    /// Counts a failed attempt and decides: retry after the wait, or give up.
    fn failed(
        &mut self,
        e: AttemptError,
        attempts: u32,
        accepted: Instant,
    ) -> Result<Duration, Failed> {
        self.info.failed(e.code.as_str());
        let give_up = |exhausted: Option<ExhaustedCondition>, e: AttemptError| Failed {
            code: e.code.as_str(),
            message: e.message,
            exhausted: exhausted.map(ExhaustedCondition::as_str),
            attempts,
        };
        if !e.code.retryable() {
            return Err(give_up(None, e));
        }
        let decision = self.info.policy.decide(
            attempts,
            accepted.elapsed(),
            e.retry_after,
            super::random_u64(),
        );
        tracing::debug!(rule = %self.info.rule, target = %self.info.id, code = e.code.as_str(),
            message = %e.message, attempts, "delivery failed");
        match decision {
            Decision::RetryIn(d) => {
                self.last_failure = Some(LastFailure {
                    code: e.code,
                    message: e.message,
                });
                Ok(d)
            }
            Decision::Exhausted(c) => Err(give_up(Some(c), e)),
        }
    }

    /// The grace period ended: everything held (the backlog, the batch
    /// being taken in, and every batch still queued) is given up with
    /// [`SHUTDOWN`](super::SHUTDOWN).
    async fn abort(
        mut self,
        inbox: Option<(TargetBatch, usize)>,
        mut rx: mpsc::UnboundedReceiver<TargetBatch>,
    ) {
        while let Some(w) = self.backlog.take(0) {
            let f = self.info.aborted(w.attempts);
            self.info.give_up(w.event, f);
        }
        if let Some((tb, next)) = inbox {
            for d in &tb.items[next..] {
                self.info.give_up(tb.event(d), self.info.aborted(0));
            }
        }
        while let Some(tb) = rx.recv().await {
            for d in &tb.items {
                self.info.give_up(tb.event(d), self.info.aborted(0));
            }
        }
    }
}

/// A backlog entry for delivery `d`: a copy that lets its batch go.
fn waiting(tb: &TargetBatch, d: &Delivery, attempts: u32) -> Waiting {
    let event = tb.event(d).detach();
    let body = Bytes::copy_from_slice(tb.payload(d));
    Waiting {
        weight: body.len() + event.routed.weight(),
        accepted_at: tb.routed.batch.accepted_at,
        event,
        body,
        attempts,
    }
}

async fn attempt(client: &Client, p: &Prepared, body: Bytes) -> Result<(), AttemptError> {
    let mut req = Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone());
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(body)).map_err(|e| AttemptError {
        code: DeliveryErrorCode::ClientError,
        message: format!("cannot build the request: {e}"),
        retry_after: None,
    })?;
    let resp = match tokio::time::timeout(p.timeout, client.request(req)).await {
        Err(_) => {
            return Err(AttemptError {
                code: DeliveryErrorCode::Timeout,
                message: format!("no response within {:?}", p.timeout),
                retry_after: None,
            })
        }
        Ok(Err(e)) => {
            // A certificate or handshake problem fails the same way on
            // every attempt: dead-letter it at once, with rustls's reason.
            if let Some(tls) = tls::cause(&e) {
                return Err(AttemptError {
                    code: DeliveryErrorCode::TlsError,
                    message: format!(
                        "TLS with {}: {tls}",
                        p.uri.authority().map_or("the target", |a| a.as_str())
                    ),
                    retry_after: None,
                });
            }
            return Err(AttemptError {
                code: DeliveryErrorCode::ConnectionFailure,
                message: format!("request failed: {e}"),
                retry_after: None,
            });
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| parse_retry_after(v.as_bytes(), SystemTime::now()));
    // Read the body so the connection can be reused (bounded by the timeout).
    let _ = tokio::time::timeout(p.timeout, resp.into_body().collect()).await;
    match DeliveryErrorCode::from_http_status(status) {
        None => Ok(()),
        Some(code) => Err(AttemptError {
            code,
            message: format!("HTTP {status}"),
            retry_after,
        }),
    }
}
