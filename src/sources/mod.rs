//! Sources: stdin, HTTP ingest (PutEvents and NDJSON) and Kafka consumer
//! groups. Each turns its input into [`Batch`]es of raw events, takes the
//! batch's share of the in-flight budget ([`Intake`]) and hands it to the
//! workers. Sources never match or produce.
//!
//! The in-flight budget is what bounds memory: when it is spent, stdin
//! stops reading, the Kafka consumer stops polling, and HTTP ingest answers
//! with throttling. It comes back as targets finish their deliveries.

pub mod durable;
pub mod http;
pub mod kafka;
pub mod stdin;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus::{IntCounter, IntGauge};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::handoff::Permits;
use crate::handoff::{Batch, Ledger, Trace};

/// Checks the trace context an event came with (a `traceparent` and
/// maybe a `tracestate`, as header values); `None` when there is none, or
/// when the `traceparent` is malformed (logged at debug with `from`, the
/// source's name: the event goes on without it). A `tracestate` that
/// cannot be forwarded is left out alone.
pub fn checked_trace<'a>(
    parent: Option<&'a [u8]>,
    state: Option<&'a [u8]>,
    from: &str,
) -> Option<Trace<'a>> {
    let parent = parent?;
    if !Trace::valid_parent(parent) {
        tracing::debug!(source = from, traceparent = %String::from_utf8_lossy(parent),
            "malformed traceparent not forwarded");
        return None;
    }
    let state = state.filter(|s| {
        let ok = Trace::valid_state(s);
        if !ok {
            tracing::debug!(source = from, "malformed tracestate not forwarded");
        }
        ok
    });
    Some(Trace { parent, state })
}

/// Records `trace` for every event of `b` from `first` on (the events of
/// one HTTP request share its headers), its text kept once.
pub fn trace_from(b: &mut Batch, first: usize, trace: Option<Trace<'_>>) {
    let Some(t) = trace else {
        return;
    };
    let parent = b.keep(t.parent);
    let state = t.state.map(|s| b.keep(s));
    for i in first..b.len() {
        b.trace_event(i, parent.clone(), state.clone());
    }
}

/// The door into the pipeline, shared by every source.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Batch>,
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_events: usize,
    max_bytes: usize,
    gauges: (IntGauge, IntGauge),
    lanes: Arc<AtomicU64>,
    ledger: Arc<Ledger>,
    /// Becomes `true` when the process starts shutting down: stop intake.
    pub shutdown: watch::Receiver<bool>,
}

/// A batch's share of the in-flight budget, taken ahead of sending it.
pub struct Reservation {
    e: tokio::sync::OwnedSemaphorePermit,
    y: tokio::sync::OwnedSemaphorePermit,
}

/// The pipeline is gone (shutdown).
#[derive(Debug)]
pub struct Closed;

impl Intake {
    pub fn new(
        tx: mpsc::Sender<Batch>,
        max_events: usize,
        max_bytes: usize,
        metrics: &crate::metrics::Metrics,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let max_events = max_events
            .min(Semaphore::MAX_PERMITS)
            .min(u32::MAX as usize);
        let max_bytes = max_bytes.min(Semaphore::MAX_PERMITS).min(u32::MAX as usize);
        Intake {
            tx,
            events: Arc::new(Semaphore::new(max_events)),
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_events,
            max_bytes,
            gauges: (
                metrics.in_flight_events.clone(),
                metrics.in_flight_bytes.clone(),
            ),
            lanes: Arc::new(AtomicU64::new(0)),
            ledger: Arc::new(Ledger::default()),
            shutdown,
        }
    }

    /// The most events and bytes one batch may hold: a batch never takes
    /// more than the whole in-flight budget, so the budget is a real bound.
    pub fn batch_limits(&self) -> (usize, usize) {
        (self.max_events.min(1024), self.max_bytes.min(1 << 20))
    }

    /// How many batches of at most [`batch_limits`](Self::batch_limits)
    /// the budget lets be in flight at once, plus the one being filled: the
    /// number of buffers worth keeping for reuse.
    pub fn batches_in_flight(&self) -> usize {
        let (events, bytes) = self.batch_limits();
        let by_events = self.max_events.div_ceil(events.max(1));
        let by_bytes = self.max_bytes.div_ceil(bytes.max(1));
        by_events.min(by_bytes) + 1
    }

    /// The whole budget: (events, bytes).
    pub fn budget(&self) -> (usize, usize) {
        (self.max_events, self.max_bytes)
    }

    /// A new ordering domain.
    pub fn new_lane(&self) -> u64 {
        self.lanes.fetch_add(1, Ordering::Relaxed)
    }

    fn amounts(&self, b: &Batch) -> (u32, u32) {
        (
            b.len().clamp(1, self.max_events) as u32,
            b.weight().clamp(1, self.max_bytes) as u32,
        )
    }

    fn permits(
        &self,
        b: &Batch,
        e: tokio::sync::OwnedSemaphorePermit,
        y: tokio::sync::OwnedSemaphorePermit,
    ) -> Permits {
        let counted = (b.len() as i64, b.buf.len() as i64);
        self.gauges.0.add(counted.0);
        self.gauges.1.add(counted.1);
        self.ledger.accept(b.len());
        Permits {
            events: e,
            bytes: y,
            gauges: self.gauges.clone(),
            counted,
            ledger: self.ledger.clone(),
        }
    }

    /// Wait for budget, then hand the batch to the workers.
    pub async fn send(&self, mut b: Batch) -> Result<(), Closed> {
        let (n, w) = self.amounts(&b);
        let e = self
            .events
            .clone()
            .acquire_many_owned(n)
            .await
            .map_err(|_| Closed)?;
        let y = self
            .bytes
            .clone()
            .acquire_many_owned(w)
            .await
            .map_err(|_| Closed)?;
        b.permits = Some(self.permits(&b, e, y));
        self.tx.send(b).await.map_err(|_| Closed)
    }

    /// Hand the batch over only if budget is free now; otherwise give it back.
    pub async fn try_send(&self, mut b: Batch) -> Result<(), Batch> {
        let (n, w) = self.amounts(&b);
        let Ok(e) = self.events.clone().try_acquire_many_owned(n) else {
            return Err(b);
        };
        let Ok(y) = self.bytes.clone().try_acquire_many_owned(w) else {
            return Err(b);
        };
        b.permits = Some(self.permits(&b, e, y));
        match self.tx.send(b).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(mut b)) => {
                if let Some(p) = b.permits.take() {
                    p.ledger.refuse(b.len());
                }
                Err(b)
            }
        }
    }

    /// Take a batch's share of the budget now, if it is free, without
    /// handing the batch over yet: for a source that must do something
    /// slow (write the spool) between knowing the batch fits and sending
    /// it. Dropping the reservation gives the budget back.
    pub fn try_reserve(&self, b: &Batch) -> Option<Reservation> {
        let (n, w) = self.amounts(b);
        let e = self.events.clone().try_acquire_many_owned(n).ok()?;
        let y = self.bytes.clone().try_acquire_many_owned(w).ok()?;
        Some(Reservation { e, y })
    }

    /// Hand over a batch whose budget [`try_reserve`](Self::try_reserve)
    /// took. The reservation must have been made for this batch.
    pub async fn send_reserved(&self, mut b: Batch, r: Reservation) -> Result<(), Closed> {
        b.permits = Some(self.permits(&b, r.e, r.y));
        match self.tx.send(b).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendError(mut b)) => {
                if let Some(p) = b.permits.take() {
                    p.ledger.refuse(b.len());
                }
                Err(Closed)
            }
        }
    }

    /// Whether a batch of this size would have to wait now.
    pub fn would_wait(&self, events: usize, bytes: usize) -> bool {
        self.events.available_permits() < events.min(self.max_events)
            || self.bytes.available_permits() < bytes.min(self.max_bytes)
    }

    /// Budget taken by batches still in the pipeline, in events (a batch
    /// holds its whole share until its last event is done).
    pub fn in_flight(&self) -> usize {
        self.max_events - self.events.available_permits()
    }

    /// The exact per-event accounting of everything this intake accepted.
    pub fn ledger(&self) -> &Arc<Ledger> {
        &self.ledger
    }
}

/// How much of a line (its newline excluded) is an event, for the sources
/// that read lines (stdin, `POST /events`), so that both treat a line alike:
/// line-end whitespace is dropped, and a line over `limit` bytes keeps
/// `limit + 1` of them, enough for the pipeline to refuse it as too large
/// (with the same message, metric and dead letter whichever source read
/// it) without holding all of it.
pub(crate) fn line_event_len(line: &[u8], limit: usize) -> usize {
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b'\n' | b'\r' | b' ' | b'\t'))
        .map_or(0, |p| p + 1);
    end.min(limit.saturating_add(1))
}

/// Counted when a source had to wait or refuse for lack of budget.
pub type BackpressureCounter = IntCounter;
