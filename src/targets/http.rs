//! `http` targets: one request per event (EventBridge API destinations),
//! with configurable headers, a per-target rate limit, a 5 s default
//! timeout, and retries on 429, 5xx, timeouts and connection failures that
//! honour `Retry-After`. Other statuses are not retried (§4.3.3).
//!
//! Up to `max_concurrency` requests are in flight, each a task of its own,
//! started in the order the events were taken in; with an ordering key,
//! one at a time per key value. A target that is slow slows its sources
//! through the in-flight budget. A target that *fails* is another matter:
//! its deliveries wait in a [`Backlog`] of copies, so that one dead
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
use tokio::task::JoinSet;

use std::collections::{HashMap, HashSet, VecDeque};

use prometheus::IntGauge;

use super::cloudevents;
use super::params::{HttpParams, Rendered};
use super::retry::{
    parse_retry_after, Decision, DeliveryErrorCode, ExhaustedCondition, RateLimiter,
};
use super::tls::{self, Tls};
use super::{AttemptError, Delivery, Failed, TargetBatch, TargetInfo};
use crate::config::TargetFormat;
use crate::handoff::EventRef;

pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The client of one target: its own connection pool, HTTP/1.1 with
/// keep-alive, and for `https://` rustls with `tls` (absent: a plain
/// `http://` target) offering HTTP/2 and HTTP/1.1 by ALPN.
///
/// The pool keeps at most `max_idle` idle connections: the target's
/// `max_concurrency`, since that many HTTP/1.1 requests in flight need that
/// many connections, and keeping fewer would close and reopen (with a TLS
/// handshake each) the difference on every burst. An HTTP/2 endpoint needs
/// one.
pub fn client(tls: Option<&Tls>, max_idle: usize) -> Result<Client, String> {
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
            .pool_max_idle_per_host(max_idle.max(1))
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
    /// Requests in flight at once.
    pub max_concurrency: usize,
    /// `http_parameters` and the URL's wildcards, when the request depends
    /// on the event.
    pub params: Option<HttpParams>,
    /// The connection named by `connection:` (auth and parameters).
    pub connection: Option<Arc<super::auth::Connection>>,
    /// `format`: EventBridge's body, or a CloudEvent.
    pub format: TargetFormat,
    /// The target's shaper renders text (CloudEvents label it so).
    pub text: bool,
}

struct Prepared {
    uri: Uri,
    params: Option<HttpParams>,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
    connection: Option<Arc<super::auth::Connection>>,
    format: TargetFormat,
    text: bool,
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
        let t = match s.format {
            TargetFormat::Eventbridge => "application/json; charset=utf-8",
            TargetFormat::Cloudevents => cloudevents::STRUCTURED,
            TargetFormat::CloudeventsBinary if s.text => cloudevents::TEXT,
            TargetFormat::CloudeventsBinary => cloudevents::JSON,
        };
        headers.push((CONTENT_TYPE, HeaderValue::from_static(t)));
    }
    if !has_agent {
        headers.push((USER_AGENT, HeaderValue::from_static(super::USER_AGENT)));
    }
    let limiter = match s.rate_limit_per_second {
        Some(r) => Some(RateLimiter::new(r, r.ceil().max(1.0) as u32).map_err(|e| bad(&e))?),
        None => None,
    };
    let p = Arc::new(Prepared {
        uri,
        params: s.params,
        method,
        headers,
        timeout: s.timeout,
        connection: s.connection,
        format: s.format,
        text: s.text,
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
            max_concurrency: s.max_concurrency.max(1),
            ready: VecDeque::new(),
            in_flight: JoinSet::new(),
            flying: HashMap::new(),
            busy: HashSet::new(),
            probe: None,
        }
        .run(rx),
    );
    Ok(())
}

/// One delivery the target holds: the event, the body to send, its
/// ordering key and its attempts so far. Taken in, it refers to its batch;
/// in the backlog it is a copy that lets the batch go ([`Item::detach`]).
struct Item {
    event: EventRef,
    body: Bytes,
    /// The value at `ordering.key` (none: not ordered with anything).
    key: Option<Bytes>,
    /// The URL and headers made from `http_parameters`, when there are any.
    request: Option<Arc<Rendered>>,
    /// Headers from the event itself: CloudEvents binary-mode attributes
    /// and the trace context it came with.
    from_event: FromEvent,
    accepted_at: Instant,
    attempts: u32,
    /// Bytes held as a copy; 0 while it refers to its batch.
    weight: usize,
}

impl Item {
    /// The delivery `d`, or why its request cannot be made.
    fn of(tb: &TargetBatch, d: &Delivery, p: &Prepared) -> Result<Item, Failed> {
        let event = tb.event(d);
        let request = match &p.params {
            None => None,
            Some(params) => match params.render(event.envelope(), &mut Vec::new()) {
                Ok(r) => Some(Arc::new(r)),
                Err(e) => {
                    return Err(Failed {
                        code: e.code,
                        message: e.message,
                        exhausted: None,
                        attempts: 0,
                    })
                }
            },
        };
        let trace = event.trace();
        let (body, ce) = match p.format {
            TargetFormat::Eventbridge => (Bytes::copy_from_slice(tb.payload(d)), None),
            f => {
                let shaped = d.payload.as_ref().map(|_| tb.payload(d));
                cloudevents::http_body(f, event.envelope(), shaped, p.text, trace).map_err(
                    |message| Failed {
                        code: cloudevents::UNMAPPABLE,
                        message,
                        exhausted: None,
                        attempts: 0,
                    },
                )?
            }
        };
        let from_event = FromEvent {
            ce,
            trace: trace.and_then(|t| {
                let parent = HeaderValue::from_bytes(t.parent).ok()?;
                Some((
                    parent,
                    t.state.and_then(|s| HeaderValue::from_bytes(s).ok()),
                ))
            }),
        };
        Ok(Item {
            event,
            from_event,
            body,
            key: tb.key(d).map(Bytes::copy_from_slice),
            request,
            accepted_at: tb.routed.batch.accepted_at,
            attempts: 0,
            weight: 0,
        })
    }

    /// A copy that no longer holds its batch ([`EventRef::detach`]).
    fn detach(mut self) -> Item {
        if self.weight == 0 {
            self.event = self.event.detach();
            self.weight = self.body.len()
                + self.from_event.weight()
                + self.key.as_ref().map_or(0, |k| k.len())
                + self.event.routed.weight();
        }
        self
    }
}

/// The headers a delivery takes from its event.
#[derive(Debug, Clone, Default)]
struct FromEvent {
    ce: Option<cloudevents::HttpBinary>,
    /// `traceparent` and `tracestate`.
    trace: Option<(HeaderValue, Option<HeaderValue>)>,
}

impl FromEvent {
    /// Bytes held besides the body.
    fn weight(&self) -> usize {
        let ce = self
            .ce
            .as_ref()
            .map_or(0, cloudevents::HttpBinary::header_bytes);
        let trace = self
            .trace
            .as_ref()
            .map_or(0, |(p, s)| p.len() + s.as_ref().map_or(0, HeaderValue::len));
        ce + trace
    }

    fn apply(&self, h: &mut hyper::HeaderMap) {
        if let Some(ce) = &self.ce {
            ce.apply(h);
        }
        if let Some((parent, state)) = &self.trace {
            h.insert(TRACEPARENT, parent.clone());
            if let Some(s) = state {
                h.insert(TRACESTATE, s.clone());
            }
        }
    }
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// The deliveries of a target whose endpoint keeps failing. While it is not
/// empty the target is *failing*: new deliveries join it at the back
/// without an attempt of their own, and only its head is tried (when its
/// backoff has passed), one attempt at a time, as a probe. A successful
/// probe hands the whole backlog back to be delivered, oldest first, at
/// full concurrency. Events leave it delivered, or dead-lettered when their
/// attempts or their age run out.
///
/// Each entry is a copy, so a failing target holds its own bounded share
/// (`limits.max_backlog_events` / `_bytes`) instead of whole batches of the
/// shared in-flight budget: the other targets and the sources keep flowing.
/// When it is full the target stops taking deliveries, and only then do its
/// batches hold the shared budget again.
struct Backlog {
    queue: VecDeque<Item>,
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

    fn count_in(&mut self, w: &Item) {
        self.bytes += w.weight;
        self.gauges.0.inc();
        self.gauges.1.add(w.weight as i64);
    }

    fn push_back(&mut self, w: Item) {
        self.count_in(&w);
        self.queue.push_back(w);
    }

    fn push_front(&mut self, w: Item) {
        self.count_in(&w);
        self.queue.push_front(w);
    }

    fn take(&mut self, i: usize) -> Option<Item> {
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

type Attempt = Result<(), AttemptError>;

/// One target's deliveries: up to `max_concurrency` requests in flight,
/// one at a time per ordering key, and the [`Backlog`] while the endpoint
/// fails.
struct Task {
    info: Arc<TargetInfo>,
    client: Client,
    p: Arc<Prepared>,
    limiter: Option<RateLimiter>,
    latency: Histogram,
    backlog: Backlog,
    last_failure: Option<LastFailure>,
    max_concurrency: usize,
    /// Taken in and not started, in the order taken (with the backlog
    /// handed back first after a successful probe).
    ready: VecDeque<Item>,
    in_flight: JoinSet<Attempt>,
    /// The deliveries of `in_flight`, by task.
    flying: HashMap<tokio::task::Id, Item>,
    /// Ordering keys with a delivery in flight.
    busy: HashSet<Bytes>,
    /// The task trying the backlog's head, while one does.
    probe: Option<tokio::task::Id>,
}

impl Task {
    /// Failing: deliveries wait in the backlog, and only a probe is sent.
    fn failing(&self) -> bool {
        !self.backlog.is_empty() || self.probe.is_some()
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<TargetBatch>) {
        let mut open = true;
        loop {
            if self.info.abort.is_set() {
                return self.abort(rx).await;
            }
            if self.failing() {
                while !self.ready.is_empty() && self.backlog.has_room() {
                    if let Some(it) = self.ready.pop_front() {
                        self.backlog.push_back(it.detach());
                    }
                }
            } else {
                self.start_ready();
            }
            if !open && self.ready.is_empty() && self.flying.is_empty() && !self.failing() {
                return;
            }
            let take = open && self.ready.len() < self.max_concurrency;
            let retry = self.probe.is_none() && !self.backlog.is_empty();
            tokio::select! {
                biased;
                _ = self.info.abort.wait() => {}
                Some(done) = self.in_flight.join_next_with_id(), if !self.flying.is_empty() => {
                    self.finished(done);
                }
                _ = tokio::time::sleep_until(self.backlog.due.into()), if retry => {
                    if let Some(head) = self.backlog.take(0) {
                        let id = self.launch(head);
                        self.probe = Some(id);
                    }
                }
                tb = rx.recv(), if take => match tb {
                    Some(tb) => self.take_in(&tb),
                    None => open = false,
                },
            }
        }
    }

    /// A batch's deliveries join the ready ones; one whose request cannot
    /// be made (a parameter the event lacks) is given up at once.
    fn take_in(&mut self, tb: &TargetBatch) {
        for d in &tb.items {
            match Item::of(tb, d, &self.p) {
                Ok(it) => self.ready.push_back(it),
                Err(f) => {
                    self.info.failed(f.code, &f.message);
                    self.info.give_up(tb.event(d), f);
                }
            }
        }
    }

    /// Start the oldest ready deliveries whose key is free, up to
    /// `max_concurrency` in flight.
    fn start_ready(&mut self) {
        while self.flying.len() < self.max_concurrency {
            let free = |it: &Item| it.key.as_ref().is_none_or(|k| !self.busy.contains(k));
            let Some(at) = self.ready.iter().position(free) else {
                return;
            };
            if let Some(it) = self.ready.remove(at) {
                self.launch(it);
            }
        }
    }

    /// One attempt, rate-limited, as a task of its own.
    fn launch(&mut self, it: Item) -> tokio::task::Id {
        if let Some(k) = &it.key {
            self.busy.insert(k.clone());
        }
        if it.attempts > 0 {
            self.info.retries.inc();
        }
        let wait = self.limiter.as_mut().map(|l| l.delay(Instant::now()));
        let (client, p, body) = (self.client.clone(), self.p.clone(), it.body.clone());
        let request = it.request.clone();
        let from_event = it.from_event.clone();
        let id = self
            .in_flight
            .spawn(async move {
                if let Some(w) = wait.filter(|w| !w.is_zero()) {
                    tokio::time::sleep(w).await;
                }
                attempt(&client, &p, request.as_deref(), &from_event, body).await
            })
            .id();
        self.flying.insert(id, it);
        id
    }

    /// An attempt ended: delivered, given up, or into the backlog.
    fn finished(&mut self, done: Result<(tokio::task::Id, Attempt), tokio::task::JoinError>) {
        let (id, result) = match done {
            Ok((id, r)) => (id, r),
            Err(e) => (
                e.id(),
                Err(AttemptError {
                    code: DeliveryErrorCode::ConnectionFailure,
                    message: format!("the delivery task failed: {e}"),
                    retry_after: None,
                }),
            ),
        };
        let Some(mut it) = self.flying.remove(&id) else {
            return;
        };
        if let Some(k) = &it.key {
            self.busy.remove(k);
        }
        let was_probe = self.probe == Some(id);
        if was_probe {
            self.probe = None;
        }
        let now = Instant::now();
        let attempts = it.attempts + 1;
        match result {
            Ok(()) => {
                self.delivered(&it.event, it.accepted_at);
                if was_probe {
                    // The endpoint is back: the backlog goes first.
                    self.last_failure = None;
                    let mut back = VecDeque::with_capacity(self.backlog.queue.len());
                    while let Some(w) = self.backlog.take(0) {
                        back.push_back(w);
                    }
                    back.append(&mut self.ready);
                    self.ready = back;
                }
            }
            Err(e) => match self.failed(e, attempts, it.accepted_at) {
                Err(f) => {
                    self.info.give_up(it.event, f);
                    if was_probe {
                        self.backlog.due = now;
                    }
                }
                Ok(wait) => {
                    it.attempts = attempts;
                    let it = it.detach();
                    if was_probe {
                        self.backlog.push_front(it);
                        self.backlog.due = now + wait;
                    } else {
                        if self.backlog.is_empty() && self.probe.is_none() {
                            self.backlog.due = now + wait;
                        }
                        self.backlog.push_back(it);
                    }
                    self.expire(now);
                }
            },
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
        self.info.delivered(1);
        event.done();
    }

    /// Counts a failed attempt and decides: retry after the wait, or give up.
    fn failed(
        &mut self,
        e: AttemptError,
        attempts: u32,
        accepted: Instant,
    ) -> Result<Duration, Failed> {
        self.info.failed(e.code.as_str(), &e.message);
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

    /// The grace period ended: everything held (requests in flight, the
    /// deliveries taken in, the backlog, and every batch still queued) is
    /// given up with [`SHUTDOWN`](super::SHUTDOWN).
    async fn abort(mut self, mut rx: mpsc::UnboundedReceiver<TargetBatch>) {
        self.in_flight.abort_all();
        let held = self
            .flying
            .drain()
            .map(|(_, it)| it)
            .chain(self.ready.drain(..))
            .collect::<Vec<_>>();
        for it in held {
            let f = self.info.aborted(it.attempts);
            self.info.give_up(it.event, f);
        }
        while let Some(w) = self.backlog.take(0) {
            let f = self.info.aborted(w.attempts);
            self.info.give_up(w.event, f);
        }
        while let Some(tb) = rx.recv().await {
            for d in &tb.items {
                self.info.give_up(tb.event(d), self.info.aborted(0));
            }
        }
    }
}

/// One delivery attempt, through the target's connection if it has one:
/// an OAuth token the endpoint refuses (401/407) is replaced, and the
/// request sent once more with the new one (`super::auth`). `request`:
/// the URL and headers made from `http_parameters`, if any.
async fn attempt(
    client: &Client,
    p: &Prepared,
    request: Option<&Rendered>,
    from_event: &FromEvent,
    body: Bytes,
) -> Result<(), AttemptError> {
    let Some(conn) = &p.connection else {
        return send(client, p, request, from_event, body, None).await;
    };
    let auth = conn.authorize().await?;
    let sent = send(client, p, request, from_event, body.clone(), Some(&auth)).await;
    if !conn.refused(&auth) {
        return sent;
    }
    let auth = conn.authorize().await?;
    send(client, p, request, from_event, body, Some(&auth)).await
}

async fn send(
    client: &Client,
    p: &Prepared,
    request: Option<&Rendered>,
    from_event: &FromEvent,
    body: Bytes,
    auth: Option<&super::auth::Authorized>,
) -> Result<(), AttemptError> {
    let uri = request.map_or(&p.uri, |r| &r.uri);
    let (uri, body) = match auth {
        Some(a) => a.shape(uri, body)?,
        None => (uri.clone(), body),
    };
    let mut req = Request::builder().method(p.method.clone()).uri(uri);
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    for (k, v) in request.map_or(&[][..], |r| &r.headers[..]) {
        req = req.header(k, v);
    }
    if let Some(h) = req.headers_mut() {
        from_event.apply(h);
        if let Some(a) = auth {
            a.headers(h);
        }
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
                    message: format!("TLS with {}: {tls}", super::cause::host_port(&p.uri)),
                    retry_after: None,
                });
            }
            return Err(AttemptError {
                code: DeliveryErrorCode::ConnectionFailure,
                message: super::cause::describe(&e, &super::cause::host_port(&p.uri)),
                retry_after: None,
            });
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    if let Some(a) = auth {
        a.answered(status);
    }
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
