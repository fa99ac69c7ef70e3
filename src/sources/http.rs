//! HTTP ingest for producers in the same pod.
//!
//! - `POST /` with `X-Amz-Target: AWSEvents.PutEvents` or
//!   `AWSEvents.TestEventPattern`: EventBridge's API over the AWS JSON 1.1
//!   protocol, so an AWS SDK or `aws --endpoint-url` works unchanged
//!   (the protocol itself lives in [`crate::ingest::putevents`]).
//! - `POST /events`: NDJSON, one event per line, answered with
//!   `{"Accepted":n}`. Lines are cut and trimmed as stdin's are
//!   ([`super::line_event_len`]), so an over-long line fails the same way.
//!
//! A reply is sent once the events are in the pipeline. When the in-flight
//! budget is spent the request is refused as a whole, with EventBridge's
//! `ThrottlingException` (SDKs retry it with backoff) or `429` with
//! `Retry-After` on `/events`: throttled, never dropped. The source is one
//! lane: requests reach each target in the order they were accepted.
//!
//! Connections are bounded so that slow or idle clients cannot take the
//! listener away from the others (slowloris):
//! - deadlines per phase: the request head (`header_timeout`, from the
//!   connection's start or a later request's first byte), the body
//!   (`body_timeout`, from the end of the head) and the wait between
//!   requests on a kept-alive connection (`idle_timeout`);
//! - at most `max_connections` open. At the cap, the oldest connection with
//!   no request in progress (idle, or still sending its head) is closed to
//!   make room, so a new client is served at once even while the cap is
//!   full of slow ones; a request in progress is never cut. When every
//!   connection is in a request, new ones wait in the listen backlog until
//!   one finishes: a short wait for the client rather than a reset.
//! - an accept that fails for lack of file descriptors (or memory) is
//!   retried after a pause (10 ms doubling to 1 s) instead of at once, and
//!   logged at most once per 10 s with the number of failures not logged.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Notify, OwnedSemaphorePermit, Semaphore};

use super::{durable, Intake};
use crate::engine::Limits;
use crate::envelope::Bus;
use crate::handoff::{Batch, Trace};
use crate::ingest::describe;
use crate::ingest::putevents::{self, ApiError, EntryOutcome, Operation, PutEventsLimits};
use crate::metrics::Metrics;
use crate::spool::{AppendError, Spool};

/// A request's `traceparent` and `tracestate` headers, as sent.
struct RequestTrace {
    parent: Option<HeaderValue>,
    state: Option<HeaderValue>,
}

impl RequestTrace {
    fn of(h: &hyper::HeaderMap) -> RequestTrace {
        RequestTrace {
            parent: h.get("traceparent").cloned(),
            state: h.get("tracestate").cloned(),
        }
    }

    fn checked(&self, source: &str) -> Option<Trace<'_>> {
        super::checked_trace(
            self.parent.as_ref().map(HeaderValue::as_bytes),
            self.state.as_ref().map(HeaderValue::as_bytes),
            source,
        )
    }
}

pub struct Settings {
    pub source: usize,
    /// `sources[i] (id)`: how messages name this source's settings.
    pub name: String,
    pub max_request_bytes: usize,
    /// `limits.max_event_bytes`, applied to each `/events` line.
    pub max_event_bytes: usize,
    pub connections: ConnLimits,
    pub bus: Bus,
    /// `bus.accept_other_buses`.
    pub other_buses: crate::config::OtherBuses,
    /// The loaded rules, for EventBridge's read-only calls.
    pub catalog: crate::inspect::SharedCatalog,
    pub put_limits: PutEventsLimits,
    pub engine_limits: Limits,
    pub metrics: HttpMetrics,
    /// The source's id, as spool records name it.
    pub id: String,
    /// Accepted requests are written here before they are answered.
    pub spool: Option<Spool>,
}

/// How many connections, and how long each phase of one may take.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
}

/// This source's metric handles, resolved once.
pub struct HttpMetrics {
    requests: IntCounterVec,
    backpressure: IntCounter,
    dropped: IntCounter,
    open: IntGauge,
    closed: [IntCounter; 4],
    accept_errors: IntCounter,
    rejected: IntCounterVec,
    source_id: String,
    /// Entries for another bus: one warning, then one per interval.
    other_bus_log: crate::throttle::Throttle,
}

impl HttpMetrics {
    pub fn new(m: &Metrics, source_id: &str) -> Self {
        HttpMetrics {
            requests: m.http_requests.clone(),
            backpressure: m.backpressure.with_label_values(&[source_id]),
            dropped: m
                .dropped
                .with_label_values(&["source", "", source_id, "OTHER_EVENT_BUS"]),
            open: m.http_connections_open.with_label_values(&[source_id]),
            closed: Closed::ALL.map(|c| {
                m.http_connections_closed
                    .with_label_values(&[source_id, c.label()])
            }),
            accept_errors: m.http_accept_errors.with_label_values(&[source_id]),
            rejected: m.put_events_rejected.clone(),
            source_id: source_id.to_string(),
            other_bus_log: crate::throttle::Throttle::default(),
        }
    }
}

/// Descriptors kept back for everything else the process opens (Kafka
/// sockets, files, the admin listener, HTTP target connections).
const RESERVED_FDS: u64 = 64;
/// The default cap's ceiling: a sidecar serves a few local producers, and
/// each connection may buffer a request head of up to ~400 KB.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The connection cap of one of `http_sources` HTTP sources: `configured`,
/// or by default half the open-file limit left after [`RESERVED_FDS`],
/// shared between the sources, at most [`DEFAULT_MAX_CONNECTIONS`] (the
/// other half is headroom, so that reaching the cap never means running out
/// of descriptors).
pub fn connection_cap(configured: Option<usize>, http_sources: usize) -> usize {
    configured.unwrap_or_else(|| default_cap(open_file_limit(), http_sources))
}

fn default_cap(open_files: Option<u64>, http_sources: usize) -> usize {
    // Without a readable limit, assume the usual soft limit of 1024.
    let free = open_files.unwrap_or(1024).saturating_sub(RESERVED_FDS) / 2;
    let each = free / http_sources.max(1) as u64;
    usize::try_from(each)
        .unwrap_or(usize::MAX)
        .clamp(1, DEFAULT_MAX_CONNECTIONS)
}

/// The soft limit on open files (`RLIMIT_NOFILE`), from /proc/self/limits;
/// `None` where that cannot be read, `u64::MAX` when unlimited.
pub fn open_file_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_file_limit(&text)
}

fn parse_open_file_limit(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    match line["Max open files".len()..].split_whitespace().next()? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    }
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
    let cap = s.connections.max_connections;
    if let Some(limit) = open_file_limit() {
        if (cap as u64).saturating_add(RESERVED_FDS) > limit {
            tracing::warn!(
                source = %s.name,
                max_connections = cap,
                open_file_limit = limit,
                "max_connections is close to or above the open-file limit; accepts will fail \
                 (and back off) when descriptors run out"
            );
        }
    }
    // One lane for the whole source: requests are numbered in the order
    // they are accepted into the pipeline, whichever connection they come
    // on (a lane per connection would grow the dispatcher's table with
    // every short-lived client).
    let lane = Arc::new((intake.new_lane(), Mutex::new(0u64)));
    let slots = Arc::new(Semaphore::new(cap));
    let registry = Arc::new(Registry::default());
    let mut shutdown = intake.shutdown.clone();
    let mut errors = AcceptErrors::default();
    loop {
        let Some(stream) = accept(&listener, &s, &mut errors, &mut shutdown).await else {
            break;
        };
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => match make_room(&slots, &registry, &mut shutdown).await {
                Some(p) => p,
                None => break,
            },
        };
        let _ = stream.set_nodelay(true);
        let state = registry.add();
        s.metrics.open.inc();
        let slot = Slot {
            _permit: permit,
            registry: registry.clone(),
            state: state.clone(),
            open: s.metrics.open.clone(),
        };
        let conn = Arc::new(Conn {
            s: s.clone(),
            intake: intake.clone(),
            lane: lane.clone(),
            state,
            registry: registry.clone(),
        });
        tokio::spawn(run_connection(stream, conn, slot));
    }
}

/// The next connection; `None` at shutdown. Failed accepts pause as
/// [`AcceptErrors`] says.
async fn accept(
    listener: &TcpListener,
    s: &Settings,
    errors: &mut AcceptErrors,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<TcpStream> {
    loop {
        let e = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    errors.accepted();
                    return Some(stream);
                }
                Err(e) => e,
            },
            _ = shutdown.changed() => return None,
        };
        s.metrics.accept_errors.inc();
        let pause = errors.failed(&s.name, &e);
        if !pause.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return None,
            }
        }
    }
}

/// Waits for a free connection slot at the cap, closing the oldest
/// connection with no request in progress to make one; `None` at shutdown.
async fn make_room(
    slots: &Arc<Semaphore>,
    registry: &Registry,
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<OwnedSemaphorePermit> {
    registry.pressure.store(true, Ordering::Release);
    let permit = loop {
        // When every connection is in a request, none is closed: wait for
        // one to end or to finish its request (`went_idle`).
        registry.evict_oldest_idle();
        tokio::select! {
            p = slots.clone().acquire_owned() => break p.ok(),
            _ = registry.went_idle.notified() => continue,
            _ = shutdown.changed() => break None,
        }
    };
    registry.pressure.store(false, Ordering::Release);
    permit
}

async fn run_connection(stream: TcpStream, conn: Arc<Conn>, slot: Slot) {
    let state = conn.state.clone();
    let s = conn.s.clone();
    let mut shutdown = conn.intake.shutdown.clone();
    let svc = hyper::service::service_fn(move |req| {
        let conn = conn.clone();
        async move { Ok::<_, Infallible>(conn.handle(req).await) }
    });
    let io = Deadlines::new(stream, state.clone(), &s.connections);
    let c = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), svc);
    tokio::pin!(c);
    tokio::select! {
        _ = c.as_mut() => {}
        _ = shutdown.changed() => {
            c.as_mut().graceful_shutdown();
            let _ = c.await;
        }
        _ = state.evict.notified() => {
            // Idle or in its head: closes at once; a request that started
            // meanwhile is finished first.
            c.as_mut().graceful_shutdown();
            let _ = c.await;
        }
    }
    if let Some(why) = state.closed_by() {
        s.metrics.closed[why as usize].inc();
    }
    drop(slot);
}

/// A connection's hold on the listener: its slot under the cap, its entry
/// in the registry and the open-connections gauge, all given back on drop.
struct Slot {
    _permit: OwnedSemaphorePermit,
    registry: Arc<Registry>,
    state: Arc<ConnState>,
    open: IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.registry.remove(self.state.id);
        self.open.dec();
    }
}

/// Where a connection is in its request cycle; it decides which deadline
/// applies and whether the connection may be closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request head: from the connection's start, or from the
    /// first byte of a later request.
    Head = 0,
    /// A request is being handled (its body read, its reply made).
    Request = 1,
    /// Kept alive between requests.
    Idle = 2,
}

/// Why busbar closed a connection: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    HeaderTimeout = 0,
    BodyTimeout = 1,
    IdleTimeout = 2,
    OverCapacity = 3,
}

impl Closed {
    const ALL: [Closed; 4] = [
        Closed::HeaderTimeout,
        Closed::BodyTimeout,
        Closed::IdleTimeout,
        Closed::OverCapacity,
    ];

    fn label(self) -> &'static str {
        match self {
            Closed::HeaderTimeout => "header_timeout",
            Closed::BodyTimeout => "body_timeout",
            Closed::IdleTimeout => "idle_timeout",
            Closed::OverCapacity => "over_capacity",
        }
    }
}

/// What a connection's reader, its request handler and the accept loop
/// share about it.
struct ConnState {
    id: u64,
    /// The [`Phase`] in the low two bits and a count of phase changes above
    /// them, so that a deadline armed for one phase is known to be stale
    /// once the phase has moved on, even back to the same phase.
    phase: AtomicU64,
    /// `1 + Closed` once busbar decided to close it; 0 before.
    closed: AtomicU8,
    evict: Notify,
    evicting: AtomicBool,
}

impl ConnState {
    fn new(id: u64) -> Self {
        ConnState {
            id,
            phase: AtomicU64::new(Phase::Head as u64),
            closed: AtomicU8::new(0),
            evict: Notify::new(),
            evicting: AtomicBool::new(false),
        }
    }

    fn word(&self) -> u64 {
        self.phase.load(Ordering::Acquire)
    }

    fn phase(&self) -> Phase {
        phase_of(self.word())
    }

    fn set(&self, p: Phase) {
        let w = self.word();
        self.phase
            .store(((w >> 2) + 1) << 2 | p as u64, Ordering::Release);
    }

    /// Records the first reason busbar had to close the connection.
    fn close_for(&self, why: Closed) {
        let _ = self
            .closed
            .compare_exchange(0, why as u8 + 1, Ordering::AcqRel, Ordering::Acquire);
    }

    fn closed_by(&self) -> Option<Closed> {
        match self.closed.load(Ordering::Acquire) {
            0 => None,
            n => Closed::ALL.get(usize::from(n) - 1).copied(),
        }
    }
}

fn phase_of(word: u64) -> Phase {
    match word & 3 {
        0 => Phase::Head,
        1 => Phase::Request,
        _ => Phase::Idle,
    }
}

/// The open connections of one source, oldest first.
#[derive(Default)]
struct Registry {
    conns: std::sync::Mutex<BTreeMap<u64, Arc<ConnState>>>,
    next_id: AtomicU64,
    /// The accept loop is waiting for a slot: handlers say when a request
    /// ends, since its connection may then be closed to make room.
    pressure: AtomicBool,
    went_idle: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<ConnState>>> {
        match self.conns.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn add(&self) -> Arc<ConnState> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(ConnState::new(id));
        self.lock().insert(id, state.clone());
        state
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the oldest connection that is not in a request (and not
    /// already closing) to close. Scans at most the open connections, and
    /// only while the cap is full.
    fn evict_oldest_idle(&self) -> bool {
        let conns = self.lock();
        let victim = conns
            .values()
            .find(|c| c.phase() != Phase::Request && !c.evicting.load(Ordering::Acquire));
        match victim {
            Some(c) => {
                c.evicting.store(true, Ordering::Release);
                c.close_for(Closed::OverCapacity);
                c.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The connection's socket, with the deadline of its current phase on its
/// reads: a read that would wait past the head or idle deadline fails with
/// `TimedOut`, and hyper closes the connection. (hyper's own
/// `header_read_timeout` starts when it begins waiting for a head, which on
/// a kept-alive connection is also the idle wait, so it cannot tell the two
/// apart.) The body deadline is the request handler's.
struct Deadlines {
    io: TcpStream,
    state: Arc<ConnState>,
    header: Duration,
    idle: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    /// The phase word the timer was set for.
    armed: Option<u64>,
}

impl Deadlines {
    fn new(io: TcpStream, state: Arc<ConnState>, limits: &ConnLimits) -> Self {
        Deadlines {
            io,
            state,
            header: limits.header_timeout,
            idle: limits.idle_timeout,
            timer: Box::pin(tokio::time::sleep(limits.header_timeout)),
            armed: None,
        }
    }

    /// Called when a read would wait: fails once the phase's deadline passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let word = self.state.word();
        let (after, why) = match phase_of(word) {
            Phase::Request => return Poll::Pending,
            Phase::Head => (self.header, Closed::HeaderTimeout),
            Phase::Idle => (self.idle, Closed::IdleTimeout),
        };
        if self.armed != Some(word) {
            self.armed = Some(word);
            self.timer
                .as_mut()
                .reset(tokio::time::Instant::now() + after);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.state.close_for(why);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, why.label())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Deadlines {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                // The first byte of a new request starts its head deadline.
                if buf.filled().len() > before && this.state.phase() == Phase::Idle {
                    this.state.set(Phase::Head);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_deadline(cx),
        }
    }
}

impl AsyncWrite for Deadlines {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Failed accepts: how long to pause before the next, and the log line.
#[derive(Default)]
struct AcceptErrors {
    pause: Duration,
    logged_at: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const MAX_PAUSE: Duration = Duration::from_secs(1);
    const LOG_EVERY: Duration = Duration::from_secs(10);

    /// Counts a failure; returns how long to wait before accepting again.
    fn failed(&mut self, source: &str, e: &io::Error) -> Duration {
        // A connection reset before it was accepted is gone: skip it. Any
        // other failure (no descriptors, no memory) lasts until something
        // is freed, and retrying at once spins: at the descriptor limit a
        // busy retry loop burned 180% CPU and logged 8 M lines in 30 s.
        let transient = matches!(
            e.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::Interrupted
        );
        if !transient {
            self.pause = (self.pause * 2).clamp(Self::FIRST_PAUSE, Self::MAX_PAUSE);
        }
        let now = Instant::now();
        if self
            .logged_at
            .is_none_or(|t| now.duration_since(t) >= Self::LOG_EVERY)
        {
            tracing::warn!(
                source,
                error = %e,
                retry_in_ms = if transient { 0 } else { self.pause.as_millis() as u64 },
                not_logged = self.suppressed,
                "accept failed (at most one line per 10 s; `not_logged` counts the failures since the last)"
            );
            self.logged_at = Some(now);
            self.suppressed = 0;
        } else {
            self.suppressed += 1;
        }
        if transient {
            Duration::ZERO
        } else {
            self.pause
        }
    }

    /// An accept succeeded: the next failure starts from the first pause.
    /// (The log interval is kept: failures that alternate with successes,
    /// as at the descriptor limit, still log once per interval.)
    fn accepted(&mut self) {
        self.pause = Duration::ZERO;
    }
}

/// Why a request's events were not taken.
enum Refused {
    /// The in-flight budget is spent.
    Full,
    /// The spool is at `spool.max_bytes` (the message says so).
    SpoolFull(String),
    /// The spool cannot be written (a disk error).
    SpoolFailed(String),
}

struct Conn {
    s: Arc<Settings>,
    intake: Intake,
    /// The source's lane and its next sequence number.
    lane: Arc<(u64, Mutex<u64>)>,
    state: Arc<ConnState>,
    registry: Arc<Registry>,
}

/// The `operation` label of an EventBridge call `describe` answers: a
/// small closed set (every write is `write`).
fn describe_label(name: &str) -> &'static str {
    match name {
        "ListRules" => "ListRules",
        "DescribeRule" => "DescribeRule",
        "ListTargetsByRule" => "ListTargetsByRule",
        "ListEventBuses" => "ListEventBuses",
        "DescribeEventBus" => "DescribeEventBus",
        _ => "write",
    }
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
        self.state.set(Phase::Request);
        let (op, resp) = self.route(req).await;
        self.s
            .metrics
            .requests
            .with_label_values(&[op, resp.status().as_str()])
            .inc();
        let mut resp = resp;
        if let Ok(v) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
            resp.headers_mut().insert("x-amzn-requestid", v);
        }
        self.state.set(Phase::Idle);
        if self.registry.pressure.load(Ordering::Acquire) {
            self.registry.went_idle.notify_one();
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
        let trace = RequestTrace::of(req.headers());
        let read = Limited::new(req.into_body(), self.s.max_request_bytes).collect();
        let body = match tokio::time::timeout(self.s.connections.body_timeout, read).await {
            Ok(Ok(b)) => b.to_bytes(),
            Err(_) => {
                // The connection closes after this reply: the rest of the
                // body is not read.
                self.state.close_for(Closed::BodyTimeout);
                let msg = format!(
                    "request body not received within {} s (setting {}.body_timeout_seconds)",
                    self.s.connections.body_timeout.as_secs_f64(),
                    self.s.name
                );
                return (
                    "body",
                    reply(
                        StatusCode::REQUEST_TIMEOUT,
                        "text/plain; charset=utf-8",
                        msg.into_bytes(),
                    ),
                );
            }
            Ok(Err(e)) => {
                let too_large = e
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some();
                let (status, msg) = if too_large {
                    (
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!(
                            "request body over {} bytes (setting {}.max_request_bytes)",
                            self.s.max_request_bytes, self.s.name
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
                Ok(Operation::PutEvents) => ("PutEvents", self.put_events(&body, &trace).await),
                Ok(Operation::TestEventPattern) => (
                    "TestEventPattern",
                    match putevents::test_event_pattern(&body, &self.s.engine_limits) {
                        Ok(r) => reply(StatusCode::OK, AMZ_JSON, putevents::test_result_body(r)),
                        Err(e) => api_error(&e),
                    },
                ),
                Ok(Operation::Other(name)) => {
                    let catalog = crate::inspect::current(&self.s.catalog);
                    match describe::answer(&name, &body, &catalog) {
                        Some(Ok(b)) => (describe_label(&name), reply(StatusCode::OK, AMZ_JSON, b)),
                        Some(Err(e)) => (describe_label(&name), api_error(&e)),
                        None => (
                            "other",
                            api_error(&ApiError {
                                status: 400,
                                type_name: "UnknownOperationException",
                                message: format!(
                                    "busbar implements PutEvents, TestEventPattern, ListRules, \
                                     DescribeRule, ListTargetsByRule, ListEventBuses and \
                                     DescribeEventBus, not {name}"
                                ),
                            }),
                        ),
                    }
                }
                Err(e) => ("other", api_error(&e)),
            },
            (Method::POST, "/events") => ("events", self.ndjson(&body, &trace).await),
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

    /// Send a batch in the source's lane, or say why not. With a spool,
    /// the batch is written to it (and synced) first: budget is taken
    /// before, so a batch that would be throttled is never written, and the
    /// lane is numbered after, so concurrent requests share one sync.
    async fn offer(&self, mut b: Batch) -> Result<(), Refused> {
        let Some(reserved) = self.intake.try_reserve(&b) else {
            self.s.metrics.backpressure.inc();
            return Err(Refused::Full);
        };
        let mut record = None;
        if let Some(spool) = &self.s.spool {
            let mut rec = Vec::new();
            durable::encode(&b, &self.s.id, &mut rec);
            match spool.append(&rec).await {
                Ok(id) => {
                    b.ack = Some(durable::SpoolAck::new(spool.clone(), id, b.len()));
                    record = Some(id);
                }
                Err(e @ AppendError::Full { .. }) => {
                    self.s.metrics.backpressure.inc();
                    return Err(Refused::SpoolFull(e.to_string()));
                }
                Err(e) => {
                    tracing::error!(source = %self.s.name, error = %e, "spool write failed; request refused");
                    return Err(Refused::SpoolFailed(e.to_string()));
                }
            }
        }
        // Numbered and handed over under one lock, so sequence numbers
        // reach the dispatcher without gaps and in order.
        let mut seq = self.lane.1.lock().await;
        b.lane = self.lane.0;
        b.seq = *seq;
        match self.intake.send_reserved(b, reserved).await {
            Ok(()) => {
                *seq += 1;
                Ok(())
            }
            Err(_) => {
                // Shutting down: the client is told, and sends it again.
                if let (Some(spool), Some(id)) = (&self.s.spool, record) {
                    spool.release(id);
                }
                Err(Refused::Full)
            }
        }
    }

    async fn put_events(&self, body: &[u8], trace: &RequestTrace) -> Response<Full<Bytes>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let other = |bus: &str| self.s.other_buses.accepts(bus);
        let prepared = match putevents::prepare_put_events_for(
            body,
            &self.s.bus,
            &other,
            &self.s.put_limits,
            now,
            &mut uuid::Uuid::new_v4,
        ) {
            Ok(p) => p,
            Err(e) => return api_error(&e),
        };
        let mut b = Batch::new(self.s.source);
        b.built = true;
        // Kept once for every entry that has no `TraceHeader` of its own.
        let request = trace
            .checked(&self.s.name)
            .map(|t| (b.keep(t.parent), t.state.map(|s| b.keep(s))));
        let mut xray = [0u8; 55];
        for (i, e) in prepared.entries.iter().enumerate() {
            if let EntryOutcome::Accepted {
                envelope,
                trace: own,
                ..
            } = e
            {
                b.push(envelope, i as u64);
                let event = b.len() - 1;
                // The entry's own `TraceHeader` (W3C, or X-Ray converted)
                // before the request's headers.
                let own = own.as_deref().map(str::as_bytes).and_then(|h| {
                    if Trace::valid_parent(h) {
                        Some(h)
                    } else if Trace::parent_from_xray(h, &mut xray) {
                        Some(&xray[..])
                    } else {
                        tracing::debug!(source = %self.s.name, "malformed TraceHeader not forwarded");
                        None
                    }
                });
                if let Some(parent) = own {
                    let parent = b.keep(parent);
                    b.trace_event(event, parent, None);
                } else if let Some((parent, state)) = &request {
                    b.trace_event(event, parent.clone(), state.clone());
                }
            }
        }
        if !b.is_empty() {
            match self.offer(b).await {
                Ok(()) => {}
                Err(Refused::Full) => return api_error(&putevents::throttled()),
                Err(Refused::SpoolFull(m)) => return api_error(&putevents::throttled_because(m)),
                Err(Refused::SpoolFailed(m)) => return api_error(&putevents::internal(m)),
            }
        }
        // Counted once the answer is final: a throttled request is sent
        // again whole.
        let m = &self.s.metrics;
        for e in &prepared.entries {
            match e {
                EntryOutcome::Accepted { .. } => {}
                EntryOutcome::Dropped { bus, .. } => {
                    m.dropped.inc();
                    self.other_bus_dropped(bus);
                }
                EntryOutcome::Failed { code, .. } => m
                    .rejected
                    .with_label_values(&[m.source_id.as_str(), code])
                    .inc(),
            }
        }
        reply(StatusCode::OK, AMZ_JSON, prepared.response_body())
    }

    /// AWS drops such entries without a word, and users do not find out
    /// why their events vanish: say so, naming the bus and the setting.
    fn other_bus_dropped(&self, bus: &str) {
        use crate::throttle::Say;
        let m = &self.s.metrics;
        match m.other_bus_log.occurred(std::time::Instant::now()) {
            Say::First => {
                tracing::warn!(source = %self.s.name, event_bus = %bus, this_bus = %self.s.bus.name,
                "PutEvents entry for another event bus dropped, as AWS drops it; set bus.accept_other_buses to take it (counted in busbar_events_dropped_total{{reason=\"OTHER_EVENT_BUS\"}})")
            }
            Say::Again { suppressed } => {
                tracing::warn!(source = %self.s.name, event_bus = %bus, this_bus = %self.s.bus.name,
                drops_not_logged = suppressed, "PutEvents entries for another event bus still dropped (bus.accept_other_buses)")
            }
            Say::Quiet => {}
        }
    }

    async fn ndjson(&self, body: &[u8], trace: &RequestTrace) -> Response<Full<Bytes>> {
        let mut b = Batch::new(self.s.source);
        for (n, line) in body.split(|c| *c == b'\n').enumerate() {
            let line = &line[..super::line_event_len(line, self.s.max_event_bytes)];
            if !line.is_empty() {
                b.push(line, n as u64 + 1);
            }
        }
        super::trace_from(&mut b, 0, trace.checked(&self.s.name));
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
        if count > 0 {
            let (status, message) = match self.offer(b).await {
                Ok(()) => (StatusCode::OK, String::new()),
                Err(Refused::Full) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "pipeline full; retry later".to_string(),
                ),
                Err(Refused::SpoolFull(m)) => (StatusCode::TOO_MANY_REQUESTS, m),
                Err(Refused::SpoolFailed(m)) => (StatusCode::SERVICE_UNAVAILABLE, m),
            };
            if status != StatusCode::OK {
                let body = serde_json::json!({ "message": message }).to_string();
                let mut r = reply(status, "application/json", body.into_bytes());
                r.headers_mut()
                    .insert(hyper::header::RETRY_AFTER, HeaderValue::from_static("1"));
                return r;
            }
        }
        reply(
            StatusCode::OK,
            "application/json",
            format!("{{\"Accepted\":{count}}}").into_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_read_from_proc_limits() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             96367                96367                processes \n\
                    Max open files            256                  4096                 files     \n";
        assert_eq!(parse_open_file_limit(text), Some(256));
        let unlimited = text.replace(
            "256                  4096",
            "unlimited            unlimited",
        );
        assert_eq!(parse_open_file_limit(&unlimited), Some(u64::MAX));
        assert_eq!(parse_open_file_limit("Max processes 1 1 processes"), None);
        // This process's own, where /proc is mounted.
        if std::path::Path::new("/proc/self/limits").exists() {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }

    #[test]
    fn the_default_cap_leaves_half_the_descriptors_to_the_rest() {
        assert_eq!(default_cap(Some(256), 1), 96);
        assert_eq!(default_cap(Some(1024), 1), 480);
        assert_eq!(default_cap(Some(1024), 2), 240);
        assert_eq!(default_cap(None, 1), 480);
        assert_eq!(default_cap(Some(u64::MAX), 1), DEFAULT_MAX_CONNECTIONS);
        assert_eq!(default_cap(Some(10), 1), 1);
        assert_eq!(connection_cap(Some(7), 3), 7);
    }

    #[test]
    fn failed_accepts_back_off_from_10_ms_to_1_s_and_start_over_after_a_success() {
        let mut e = AcceptErrors::default();
        let emfile = io::Error::from_raw_os_error(24);
        let pauses: Vec<u64> = (0..9)
            .map(|_| e.failed("t", &emfile).as_millis() as u64)
            .collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        // Only the first was logged; the others wait for the interval.
        assert_eq!(e.suppressed, 8);
        let reset = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(e.failed("t", &reset), Duration::ZERO);
        e.accepted();
        assert_eq!(e.failed("t", &emfile), AcceptErrors::FIRST_PAUSE);
    }

    #[test]
    fn a_phase_change_is_seen_even_back_to_the_same_phase() {
        let s = ConnState::new(0);
        assert_eq!(s.phase(), Phase::Head);
        let w0 = s.word();
        s.set(Phase::Request);
        s.set(Phase::Idle);
        let w1 = s.word();
        s.set(Phase::Head);
        s.set(Phase::Request);
        s.set(Phase::Idle);
        assert_eq!(s.phase(), Phase::Idle);
        assert_ne!(
            s.word(),
            w1,
            "a deadline armed for the first idle wait is stale"
        );
        assert_ne!(w0, w1);
        assert_eq!(s.closed_by(), None);
        s.close_for(Closed::IdleTimeout);
        s.close_for(Closed::OverCapacity);
        assert_eq!(
            s.closed_by(),
            Some(Closed::IdleTimeout),
            "the first reason counts"
        );
    }

    #[test]
    fn at_the_cap_the_oldest_connection_outside_a_request_is_closed() {
        let r = Registry::default();
        let a = r.add();
        let b = r.add();
        let c = r.add();
        a.set(Phase::Request);
        b.set(Phase::Request);
        b.set(Phase::Idle);
        assert!(r.evict_oldest_idle());
        assert_eq!(b.closed_by(), Some(Closed::OverCapacity));
        assert_eq!(a.closed_by(), None, "a request in progress is kept");
        assert!(r.evict_oldest_idle(), "then the one still sending its head");
        assert_eq!(c.closed_by(), Some(Closed::OverCapacity));
        assert!(!r.evict_oldest_idle(), "only a request is left");
        r.remove(b.id);
        r.remove(c.id);
        assert_eq!(r.lock().len(), 1);
    }
}
