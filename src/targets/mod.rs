//! Targets: where matched events go (Kafka topics, stdout, files, HTTP
//! endpoints), with the retry policy and the dead-letter hand-off.
//!
//! Each target runs as one task fed in lane order by the dispatcher; it
//! delivers a batch's items in order, retries retryable failures under the
//! target's [`RetryPolicy`](retry::RetryPolicy), and hands an event it gives
//! up on to the target's dead-letter destination, or counts it as dropped
//! when none is configured. Every finished delivery counts its event down
//! ([`EventRef::done`](crate::handoff::EventRef::done)), which is what lets
//! the Kafka source commit.
//!
//! HTTP and Kafka targets send an event as EventBridge does, or as a
//! CloudEvent ([`cloudevents`]), and forward the W3C trace context the
//! event came with ([`Trace`](crate::handoff::Trace)).
//!
//! A slow target does not grow memory: its queue holds batches that still
//! hold their in-flight permits, so the sources stop taking input instead.
//! An HTTP target whose endpoint fails moves its deliveries into a bounded
//! backlog of copies instead (see `http`), so that it stops nobody else.

pub mod auth;
pub mod cause;
pub mod cloudevents;
pub mod dead_letter;
mod http;
mod kafka;
pub mod params;
pub mod retry;
mod stream;
pub mod tls;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounter, IntCounterVec};
use tokio::sync::{mpsc, watch};

use crate::admin::Readiness;
use crate::config::{RetryConfig, TargetKind};
use crate::handoff::{EventRef, Routed};
use crate::metrics::Metrics;
use retry::{Decision, DeliveryErrorCode, RetryPolicy};

pub use dead_letter::{DeadLetter, DeadLetterSender, Stage};
pub use kafka::{Producer, Supervision, Trouble};

/// One event for one target, as the worker shaped it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Event index in the routed batch.
    pub index: u32,
    /// The rendered input in [`TargetBatch::rendered`]; `None`: the envelope.
    pub payload: Option<std::ops::Range<u32>>,
    /// The Kafka key in [`TargetBatch::rendered`].
    pub key: Option<std::ops::Range<u32>>,
}

/// A routed batch's deliveries for one target, in lane order.
pub struct TargetBatch {
    pub routed: Arc<Routed>,
    pub rendered: Vec<u8>,
    pub items: Vec<Delivery>,
}

impl TargetBatch {
    pub fn payload(&self, d: &Delivery) -> &[u8] {
        match &d.payload {
            Some(r) => &self.rendered[r.start as usize..r.end as usize],
            None => self.routed.envelope(d.index as usize),
        }
    }

    pub fn key(&self, d: &Delivery) -> Option<&[u8]> {
        d.key
            .as_ref()
            .map(|r| &self.rendered[r.start as usize..r.end as usize])
    }

    pub fn event(&self, d: &Delivery) -> EventRef {
        EventRef {
            routed: self.routed.clone(),
            index: d.index,
        }
    }
}

/// Where a target's batches go: its own task, or a shared stream sink.
#[derive(Clone)]
enum Tx {
    Own(mpsc::UnboundedSender<TargetBatch>),
    Sink(mpsc::UnboundedSender<stream::Job>),
}

/// The handle the pipeline holds to a running target.
#[derive(Clone)]
pub struct TargetSender {
    tx: Tx,
    info: Arc<TargetInfo>,
}

impl TargetSender {
    pub fn send(&self, tb: TargetBatch) {
        let unsent = match &self.tx {
            Tx::Own(tx) => tx.send(tb).err().map(|e| e.0),
            Tx::Sink(tx) => tx.send((tb, self.info.clone())).err().map(|e| (e.0).0),
        };
        if let Some(tb) = unsent {
            // The task is gone (it only ends when every sender is dropped,
            // so this is a bug); never lose the events silently.
            tracing::error!(rule = %self.info.rule, target = %self.info.id, "target task ended; dead-lettering its events");
            for d in &tb.items {
                self.info.give_up(
                    tb.event(d),
                    Failed {
                        code: "INTERNAL_FAILURE",
                        message: "target task ended".into(),
                        exhausted: None,
                        attempts: 0,
                    },
                );
            }
        }
    }
}

/// The error code of a delivery given up because the process stopped.
pub const SHUTDOWN: &str = "SHUTDOWN";

/// The end of shutdown's grace period, as the targets see it. Once it is
/// set, targets stop trying: every delivery they still hold (retrying,
/// waiting for an answer, or queued) is handed to the target's dead-letter
/// destination with error code [`SHUTDOWN`], or counted as dropped where
/// there is none; a delivery of an event that came from Kafka is only let
/// go, since its offset is then not committed and the record is consumed
/// again after the restart.
#[derive(Clone)]
pub struct Abort {
    rx: watch::Receiver<bool>,
    counts: Arc<AbortCounts>,
}

/// What the targets did with the deliveries they held when shutdown's grace
/// period ended (one count per event and target).
#[derive(Debug, Default)]
pub struct AbortCounts {
    pub dead_lettered: AtomicU64,
    pub redelivered: AtomicU64,
    pub dropped: AtomicU64,
}

/// The switch that sets an [`Abort`].
pub struct AbortSwitch(watch::Sender<bool>);

impl AbortSwitch {
    pub fn set(&self) {
        self.0.send_replace(true);
    }
}

impl Abort {
    pub fn new() -> (AbortSwitch, Abort) {
        let (tx, rx) = watch::channel(false);
        (
            AbortSwitch(tx),
            Abort {
                rx,
                counts: Arc::default(),
            },
        )
    }

    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the abort is set; never, if its switch is dropped
    /// unset (nothing can set it any more).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        if rx.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sleep for `d` on a thread, waking early when the abort is set.
    pub fn sleep_blocking(&self, d: Duration) {
        let until = Instant::now() + d;
        while !self.is_set() {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    pub fn counts(&self) -> &AbortCounts {
        &self.counts
    }
}

/// What every target task knows about itself.
pub struct TargetInfo {
    pub rule: Arc<str>,
    pub rule_arn: Arc<str>,
    pub id: Arc<str>,
    pub policy: RetryPolicy,
    pub dead_letter: Option<DeadLetterSender>,
    pub deliveries: IntCounter,
    pub retries: IntCounter,
    pub abort: Abort,
    /// Where deliveries go, as logs show it: a URL without credentials or
    /// query, `topic T`, `stdout`, a file's path.
    pub endpoint: Arc<str>,
    /// Failure lines: the first at once, then one per interval, and one
    /// when a delivery goes through again.
    log: crate::throttle::Throttle,
    failures: IntCounterVec,
    dropped: IntCounterVec,
    latency: prometheus::HistogramVec,
}

impl TargetInfo {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        rule: Arc<str>,
        rule_arn: Arc<str>,
        id: Arc<str>,
        endpoint: Arc<str>,
        retry: RetryConfig,
        dead_letter: Option<DeadLetterSender>,
        m: &Metrics,
        abort: Abort,
    ) -> Arc<TargetInfo> {
        // Every error code at zero from the start, in the family this
        // target's gave-up events go to (dead letters, or drops without a
        // destination): an alert on `increase()` then sees the first one.
        let gave_up = if dead_letter.is_some() {
            &m.dead_letters
        } else {
            &m.dropped
        };
        for code in DeliveryErrorCode::ALL {
            m.delivery_failures
                .with_label_values(&[&rule, &id, code.as_str()]);
            gave_up.with_label_values(&[Stage::Target.as_str(), &rule, &id, code.as_str()]);
        }
        gave_up.with_label_values(&[Stage::Target.as_str(), &rule, &id, SHUTDOWN]);
        Arc::new(TargetInfo {
            abort,
            endpoint,
            log: crate::throttle::Throttle::default(),
            deliveries: m.deliveries.with_label_values(&[&rule, &id]),
            retries: m.delivery_retries.with_label_values(&[&rule, &id]),
            failures: m.delivery_failures.clone(),
            dropped: m.dropped.clone(),
            latency: m.delivery_latency.clone(),
            policy: RetryPolicy {
                maximum_retry_attempts: retry.maximum_retry_attempts,
                maximum_event_age: Duration::from_secs(retry.maximum_event_age_seconds),
                ..RetryPolicy::default()
            },
            rule,
            rule_arn,
            id,
            dead_letter,
        })
    }

    fn latency(&self, kind: &str) -> Histogram {
        self.latency.with_label_values(&[kind])
    }

    /// A failed attempt: counted, and logged at warn when the target
    /// starts failing, then at most once per interval with the number of
    /// failures not logged (a target that is down fails every event).
    fn failed(&self, code: &str, message: &str) {
        self.count_failure(code);
        use crate::throttle::Say;
        match self.log.occurred(Instant::now()) {
            Say::First => tracing::warn!(rule = %self.rule, target = %self.id,
                endpoint = %self.endpoint, code, cause = message, "delivery failed"),
            Say::Again { suppressed } => tracing::warn!(rule = %self.rule, target = %self.id,
                endpoint = %self.endpoint, code, cause = message, failures_not_logged = suppressed,
                "deliveries still failing"),
            Say::Quiet => {}
        }
    }

    /// A failed attempt counted, not logged.
    fn count_failure(&self, code: &str) {
        self.failures
            .with_label_values(&[&self.rule, &self.id, code])
            .inc();
    }

    /// `n` deliveries went through: one line if the target was failing.
    /// One atomic load otherwise.
    fn delivered(&self, n: u64) {
        self.deliveries.inc_by(n);
        if let Some(failures) = self.log.cleared() {
            tracing::warn!(rule = %self.rule, target = %self.id, endpoint = %self.endpoint,
                failures, "target recovered: deliveries go through again");
        }
    }

    /// The event could not be delivered: dead-letter it, or drop and count.
    pub fn give_up(&self, event: EventRef, f: Failed) {
        if f.code == SHUTDOWN {
            return self.shut_down(event, f);
        }
        let dl = self.dead_letter(event, f);
        dead_letter::hand_over(self.dead_letter.as_ref(), dl, &self.dropped);
    }

    fn dead_letter(&self, event: EventRef, f: Failed) -> DeadLetter {
        DeadLetter {
            event,
            stage: Stage::Target,
            rule: self.rule.clone(),
            rule_arn: self.rule_arn.clone(),
            target: self.id.clone(),
            code: f.code.to_string(),
            message: f.message,
            exhausted: f.exhausted,
            attempts: f.attempts,
        }
    }

    /// A delivery given up at the end of the grace period (see [`Abort`]).
    /// Counted, not logged one by one: shutdown logs the totals.
    fn shut_down(&self, event: EventRef, f: Failed) {
        let counts = self.abort.counts();
        if event.redelivered_if_unacknowledged() {
            event.abandon();
            counts.redelivered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match &self.dead_letter {
            Some(d) => {
                counts.dead_lettered.fetch_add(1, Ordering::Relaxed);
                d.send(self.dead_letter(event, f));
            }
            None => {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped
                    .with_label_values(&[Stage::Target.as_str(), &self.rule, &self.id, SHUTDOWN])
                    .inc();
                event.done();
            }
        }
    }

    /// The failure of a delivery cut short by the [`Abort`].
    pub fn aborted(&self, attempts: u32) -> Failed {
        Failed {
            code: SHUTDOWN,
            message: "busbar stopped before the event was delivered (the shutdown grace period \
                      ended; setting shutdown_grace_seconds)"
                .into(),
            exhausted: None,
            attempts,
        }
    }
}

/// A delivery that will not be retried any more.
#[derive(Debug)]
pub struct Failed {
    pub code: &'static str,
    pub message: String,
    /// `MaximumRetryAttempts` / `MaximumEventAgeInSeconds`, or `None` for a
    /// failure that is not retryable.
    pub exhausted: Option<&'static str>,
    pub attempts: u32,
}

/// One failed attempt.
#[derive(Debug)]
pub struct AttemptError {
    pub code: DeliveryErrorCode,
    pub message: String,
    /// The target's own word on when to try again (HTTP `Retry-After`).
    pub retry_after: Option<Duration>,
}

/// Run `attempt` under the target's retry policy until it succeeds or the
/// policy gives up.
pub async fn with_retry<F, Fut>(
    info: &TargetInfo,
    accepted_at: Instant,
    mut attempt: F,
) -> Result<u32, Failed>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), AttemptError>>,
{
    let mut attempts = 0u32;
    loop {
        if info.abort.is_set() {
            return Err(info.aborted(attempts));
        }
        attempts += 1;
        let e = tokio::select! {
            r = attempt() => match r {
                Ok(()) => return Ok(attempts),
                Err(e) => e,
            },
            _ = info.abort.wait() => return Err(info.aborted(attempts)),
        };
        info.failed(e.code.as_str(), &e.message);
        if !e.code.retryable() {
            return Err(Failed {
                code: e.code.as_str(),
                message: e.message,
                exhausted: None,
                attempts,
            });
        }
        match info
            .policy
            .decide(attempts, accepted_at.elapsed(), e.retry_after, random_u64())
        {
            Decision::RetryIn(d) => {
                info.retries.inc();
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = info.abort.wait() => return Err(info.aborted(attempts)),
                }
            }
            Decision::Exhausted(c) => {
                return Err(Failed {
                    code: e.code.as_str(),
                    message: e.message,
                    exhausted: Some(c.as_str()),
                    attempts,
                })
            }
        }
    }
}

/// Jitter source: cheap, not cryptographic (fastrand's per-thread wyrand).
fn random_u64() -> u64 {
    fastrand::u64(..)
}

/// Shared clients and handles targets are started with.
pub struct Context {
    pub metrics: Arc<Metrics>,
    pub abort: Abort,
    pub producer: Option<Producer>,
    /// Dead letters that cannot be written make the process unready.
    pub ready: Arc<Readiness>,
    /// Shared stdout/file writers.
    pub sinks: stream::Sinks,
    /// Each HTTP target's backlog limits: `limits.max_backlog_events` and
    /// `limits.max_backlog_bytes`.
    pub backlog: (usize, usize),
}

impl Context {
    pub fn new(
        metrics: Arc<Metrics>,
        producer: Option<Producer>,
        ready: Arc<Readiness>,
        abort: Abort,
    ) -> Self {
        Context {
            metrics,
            abort,
            producer,
            ready,
            sinks: stream::Sinks::default(),
            backlog: {
                let l = crate::config::LimitsConfig::default();
                (l.max_backlog_events, l.max_backlog_bytes)
            },
        }
    }
}

/// What every request busbar sends says it is.
pub const USER_AGENT: &str = concat!("busbar/", env!("CARGO_PKG_VERSION"));

/// Where a target delivers, as logs name it: never a URL's credentials or
/// query (they may carry secrets).
pub fn endpoint(kind: &TargetKind) -> String {
    match kind {
        TargetKind::Kafka { topic, .. } => format!("topic {topic}"),
        TargetKind::Stdout => "stdout".to_string(),
        TargetKind::File { path } => path.display().to_string(),
        TargetKind::Http { url, .. } => cause::redacted_url(url),
    }
}

/// A connection for the `http` targets that name it. Its OAuth token
/// endpoint gets a client of its own, with a few idle connections: with
/// `tls` (an `https://` endpoint: the connection's `tls:`, files read by
/// `pipeline::Plan`, or the platform's roots) or plain http.
pub fn connection(
    name: &str,
    c: &crate::config::ConnectionConfig,
    tls: Option<&tls::Tls>,
) -> Result<Arc<auth::Connection>, String> {
    let client = http::client(tls, 4).map_err(|e| format!("connection `{name}`: {e}"))?;
    auth::Connection::new(name, c, Arc::new(client)).map(Arc::new)
}

/// Start the task of one target (or attach it to its shared sink), with
/// the connection its configuration names. `tls`: what an `https://`
/// target's client is built with (`pipeline::Plan` loads it); `text`:
/// its shaper renders text, not JSON (`transform::Shaper::is_text`).
pub fn spawn(
    kind: &TargetKind,
    tls: Option<&tls::Tls>,
    info: Arc<TargetInfo>,
    ctx: &Context,
    connection: Option<Arc<auth::Connection>>,
    text: bool,
) -> Result<TargetSender, String> {
    let tx = match kind {
        TargetKind::Stdout => Tx::Sink(ctx.sinks.get(None)?),
        TargetKind::File { path } => Tx::Sink(
            ctx.sinks
                .get(Some(path))
                .map_err(|e| format!("target `{}`: {e}", info.id))?,
        ),
        TargetKind::Http {
            url,
            method,
            headers,
            rate_limit_per_second,
            timeout_seconds,
            max_concurrency,
            ordering: _,
            http_parameters,
            tls: _,
            connection: _,
            format,
        } => {
            let (tx, rx) = mpsc::unbounded_channel();
            // Its own client, so its own bounded pool and TLS settings.
            let client = http::client(tls, *max_concurrency)
                .map_err(|e| format!("target `{}`: {e}", info.id))?;
            http::spawn(
                http::Settings {
                    url: url.clone(),
                    method: method.clone(),
                    headers: headers.clone(),
                    rate_limit_per_second: *rate_limit_per_second,
                    timeout: Duration::from_secs_f64(*timeout_seconds),
                    backlog: ctx.backlog,
                    max_concurrency: *max_concurrency,
                    params: params::HttpParams::compile(&info.id, url, http_parameters.as_deref())
                        .map_err(|e| format!("target `{}`: {e}", info.id))?,
                    connection,
                    format: *format,
                    text,
                    backlog_gauges: (
                        ctx.metrics
                            .target_backlog_events
                            .with_label_values(&[&info.rule, &info.id]),
                        ctx.metrics
                            .target_backlog_bytes
                            .with_label_values(&[&info.rule, &info.id]),
                    ),
                },
                client,
                rx,
                info.clone(),
                info.latency("http"),
            )?;
            Tx::Own(tx)
        }
        TargetKind::Kafka { topic, format, .. } => {
            let producer = ctx
                .producer
                .clone()
                .ok_or_else(|| "kafka target without a Kafka producer".to_string())?;
            let (tx, rx) = mpsc::unbounded_channel();
            let cloud = (*format != crate::config::TargetFormat::Eventbridge).then_some(text);
            kafka::spawn(
                topic.clone(),
                cloud,
                producer,
                rx,
                info.clone(),
                info.latency("kafka"),
            );
            Tx::Own(tx)
        }
    };
    Ok(TargetSender { tx, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_abort_waits_for_its_switch_and_never_fires_once_it_is_gone() {
        let (switch, abort) = Abort::new();
        let waited = tokio::time::timeout(Duration::from_millis(20), abort.wait()).await;
        assert!(waited.is_err() && !abort.is_set());
        switch.set();
        abort.wait().await;
        assert!(abort.is_set());

        let (switch, abort) = Abort::new();
        drop(switch);
        let waited = tokio::time::timeout(Duration::from_millis(20), abort.wait()).await;
        assert!(waited.is_err(), "a dropped switch is not an abort");
        assert!(!abort.is_set());
    }
}
