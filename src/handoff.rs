//! The units that move through the pipeline, and the accounting that makes
//! at-least-once hold: a [`Batch`] of raw input from one lane (a Kafka
//! partition, stdin, one HTTP request), then a [`Routed`] batch of
//! envelopes with, per event, the number of deliveries still outstanding.
//! When that number reaches zero the source is told ([`SourceAck`]), which
//! is how the Kafka source learns that an offset may be committed.
//!
//! Memory is bounded by permits: a batch holds its share of the in-flight
//! event and byte budgets until the last piece referring to it is dropped,
//! so the budget is released exactly when the memory is.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;

/// Where a Kafka record came from, and what a Kafka target may keep of it.
#[derive(Debug, Clone)]
pub struct KafkaOrigin {
    pub partition: i32,
    pub offset: i64,
    /// The record key, as a range of [`Batch::buf`].
    pub key: Option<Range<u32>>,
    /// The record headers: (name, value) ranges of [`Batch::buf`].
    pub headers: Range<u32>,
}

/// One input event as the source saw it.
#[derive(Debug, Clone)]
pub struct RawEvent {
    /// The event's bytes in [`Batch::buf`].
    pub range: Range<u32>,
    /// Line number (stdin, `POST /events`) or entry index, for error messages.
    pub position: u64,
    pub kafka: Option<KafkaOrigin>,
}

/// Where an acknowledged event came from, as its source needs to know it.
#[derive(Debug, Clone, Copy)]
pub struct AckAt<'a> {
    /// The event's index in its batch.
    pub event: usize,
    /// The Kafka topic of the batch.
    pub topic: Option<&'a Arc<str>>,
    /// The Kafka (partition, offset) of the event.
    pub kafka: Option<(i32, i64)>,
}

/// Told when every delivery of an event is done (delivered or dead-lettered).
pub trait SourceAck: Send + Sync {
    fn complete(&self, at: AckAt<'_>);

    /// Whether the source delivers an event again when it is never
    /// acknowledged (a Kafka record whose offset is not committed, a spooled
    /// request replayed after a restart): such an event may be let go at
    /// shutdown instead of dead-lettered.
    fn redelivers(&self) -> bool {
        false
    }
}

/// Raw input of one lane, in lane order.
pub struct Batch {
    /// Index of the source in the configuration.
    pub source: usize,
    /// Ordering domain: events of one lane reach each target in order.
    pub lane: u64,
    pub seq: u64,
    /// The Kafka topic, for batches of one partition.
    pub topic: Option<Arc<str>>,
    pub buf: Vec<u8>,
    pub events: Vec<RawEvent>,
    /// Header (name, value) ranges referenced by [`KafkaOrigin::headers`].
    pub headers: Vec<(Range<u32>, Option<Range<u32>>)>,
    /// The trace context of the events that came with one, in event order;
    /// empty (no allocation) when none did.
    pub traces: Vec<Traced>,
    pub accepted_at: Instant,
    /// The events are envelopes busbar built itself from validated
    /// PutEvents entries: the size limit was applied to the entries (their
    /// §2.1.3 size), so the envelope's own keys may take it over by up to
    /// `config::ENVELOPE_HEADROOM`, and positions are entry indexes.
    pub built: bool,
    pub ack: Option<Arc<dyn SourceAck>>,
    pub permits: Option<Permits>,
    /// Where [`buf`](Self::buf) goes back when the batch is done.
    pub recycle: Option<Arc<BufPool>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if let Some(pool) = &self.recycle {
            pool.give(std::mem::take(&mut self.buf));
        }
    }
}

/// Byte buffers handed back when a batch is done, so that a steady stream
/// reuses a few megabytes instead of faulting in fresh pages for every batch
/// (page faults and the allocator's trimming were ~5% of `busbar run`'s
/// samples, most of them on the one reader thread). Holds at most
/// `keep` buffers (at most [`BufPool::MAX_KEEP`]), so what it keeps is
/// bounded.
#[derive(Debug)]
pub struct BufPool {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
    keep: usize,
}

impl Default for BufPool {
    fn default() -> Self {
        BufPool::new(Self::KEEP)
    }
}

impl BufPool {
    /// Buffers kept for reuse by default.
    pub const KEEP: usize = 4;
    /// The most any pool keeps.
    pub const MAX_KEEP: usize = 32;
    /// Larger buffers (a batch around one huge event) are not kept.
    const MAX_CAPACITY: usize = 8 << 20;

    /// A pool that keeps up to `keep` buffers: as many as the batches a
    /// source may have in flight at once, so that a steady stream never
    /// frees a buffer only to fault in a new one for the next batch (with 4
    /// kept and 10 batches in flight, the stdin reader's page faults were
    /// three quarters of `busbar run`'s).
    pub fn new(keep: usize) -> Self {
        BufPool {
            free: std::sync::Mutex::new(Vec::new()),
            keep: keep.clamp(1, Self::MAX_KEEP),
        }
    }

    /// An empty buffer with room for at least `capacity` bytes.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let mut buf = self.take_stale(capacity);
        buf.clear();
        buf
    }

    /// A buffer with room for at least `capacity` bytes that still holds
    /// what its last user left in it: for a reader that overwrites it in
    /// place and keeps its own end, so that the bytes it reads into need not
    /// be zeroed first (zeroing every read was 2.5% of `busbar run`).
    pub fn take_stale(&self, capacity: usize) -> Vec<u8> {
        let reused = match self.free.lock() {
            Ok(mut f) => f.pop(),
            Err(p) => p.into_inner().pop(),
        };
        let mut buf = reused.unwrap_or_default();
        buf.reserve(capacity.saturating_sub(buf.len()));
        buf
    }

    /// Hands a buffer back. Its contents stay until it is taken again
    /// ([`take`](Self::take) clears it, [`take_stale`](Self::take_stale)
    /// does not).
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > Self::MAX_CAPACITY {
            return;
        }
        let mut free = match self.free.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        if free.len() < self.keep {
            free.push(buf);
        }
    }
}

impl Batch {
    pub fn new(source: usize) -> Self {
        Batch {
            source,
            lane: 0,
            seq: 0,
            topic: None,
            buf: Vec::new(),
            events: Vec::new(),
            headers: Vec::new(),
            traces: Vec::new(),
            accepted_at: Instant::now(),
            built: false,
            ack: None,
            permits: None,
            recycle: None,
        }
    }

    /// Append one event's bytes.
    pub fn push(&mut self, bytes: &[u8], position: u64) {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(bytes);
        self.events.push(RawEvent {
            range: start..self.buf.len() as u32,
            position,
            kafka: None,
        });
    }

    /// Append bytes that are not an event (trace context a source took
    /// from a request header); returns where they are.
    pub fn keep(&mut self, bytes: &[u8]) -> Range<u32> {
        let start = self.buf.len() as u32;
        self.buf.extend_from_slice(bytes);
        start..self.buf.len() as u32
    }

    /// Record that event `event` came with trace context: `parent` and
    /// `state` are ranges of [`buf`](Self::buf) holding a `traceparent`
    /// and `tracestate` already checked with [`Trace::valid_parent`] and
    /// [`Trace::valid_state`]. Events are recorded in order.
    pub fn trace_event(&mut self, event: usize, parent: Range<u32>, state: Option<Range<u32>>) {
        self.traces.push(Traced {
            event: event as u32,
            parent,
            state,
        });
    }

    /// The trace context event `i` came with.
    pub fn trace(&self, i: usize) -> Option<Trace<'_>> {
        if self.traces.is_empty() {
            return None;
        }
        let at = self
            .traces
            .binary_search_by_key(&(i as u32), |t| t.event)
            .ok()?;
        let t = &self.traces[at];
        Some(Trace {
            parent: self.bytes(&t.parent),
            state: t.state.as_ref().map(|r| self.bytes(r)),
        })
    }

    pub fn bytes(&self, r: &Range<u32>) -> &[u8] {
        &self.buf[r.start as usize..r.end as usize]
    }

    pub fn event(&self, i: usize) -> &[u8] {
        self.bytes(&self.events[i].range)
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Bytes this batch counts against the in-flight byte budget.
    pub fn weight(&self) -> usize {
        self.buf.len().max(1)
    }
}

/// The in-flight budget a batch holds, and the gauges that show it.
pub struct Permits {
    pub events: OwnedSemaphorePermit,
    pub bytes: OwnedSemaphorePermit,
    pub gauges: (prometheus::IntGauge, prometheus::IntGauge),
    pub counted: (i64, i64),
    /// Where the batch's events are accounted for.
    pub ledger: Arc<Ledger>,
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.gauges.0.sub(self.counted.0);
        self.gauges.1.sub(self.counted.1);
        self.ledger
            .released
            .fetch_add(self.counted.0 as u64, Ordering::AcqRel);
    }
}

/// Event counts of one process, exact and per event (not per batch), which
/// is what shutdown waits on and reports: every event the sources accepted
/// ends up finished (each of its deliveries delivered, dead-lettered or
/// counted as dropped), abandoned (left for its Kafka source to deliver
/// again after a restart: not acknowledged, so its offset is not
/// committed), or lost (its batch was released without either: a bug, or
/// a process that stopped before a dead letter was written).
#[derive(Debug, Default)]
pub struct Ledger {
    /// Events handed to the pipeline.
    accepted: AtomicU64,
    /// Of those, events whose source took them back (the pipeline was
    /// full; an HTTP client is told to retry): neither accepted nor lost.
    refused: AtomicU64,
    /// Events whose batches were released (nothing refers to them any more).
    released: AtomicU64,
    finished: AtomicU64,
    abandoned: AtomicU64,
    /// Events whose batch may be released while one of their deliveries
    /// lives on in a copy ([`Routed::detach`]): held, not lost.
    detached: AtomicU64,
}

/// A reading of the [`Ledger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LedgerCounts {
    pub accepted: u64,
    pub finished: u64,
    pub abandoned: u64,
    /// Events whose batches are still held somewhere in the pipeline.
    pub held: u64,
}

impl LedgerCounts {
    /// Events with deliveries outstanding.
    pub fn outstanding(&self) -> u64 {
        self.accepted
            .saturating_sub(self.finished)
            .saturating_sub(self.abandoned)
    }

    /// Events released with deliveries outstanding: nothing can finish
    /// them any more.
    pub fn lost(&self) -> u64 {
        self.outstanding().saturating_sub(self.held)
    }
}

impl Ledger {
    pub fn accept(&self, events: usize) {
        self.accepted.fetch_add(events as u64, Ordering::AcqRel);
    }

    /// Events [`accept`](Self::accept)ed a moment ago were handed back to
    /// their source instead (their batch is released too).
    pub fn refuse(&self, events: usize) {
        self.refused.fetch_add(events as u64, Ordering::AcqRel);
    }

    pub fn counts(&self) -> LedgerCounts {
        // Read in the order the counters grow (an event is accepted, then
        // finished, then released), so a reading never shows more finished
        // or released than accepted.
        let refused = self.refused.load(Ordering::Acquire);
        // Read before `released`: a copy is made before its batch goes, so
        // an event never looks released and not yet detached.
        let detached = self.detached.load(Ordering::Acquire);
        let released = self.released.load(Ordering::Acquire);
        let finished = self.finished.load(Ordering::Acquire);
        let abandoned = self.abandoned.load(Ordering::Acquire);
        let accepted = self.accepted.load(Ordering::Acquire);
        let (accepted, released) = (
            accepted.saturating_sub(refused),
            released.saturating_sub(refused),
        );
        LedgerCounts {
            accepted,
            finished,
            abandoned,
            held: accepted.saturating_sub(released) + detached,
        }
    }
}

/// Where the W3C trace context of one event lies in [`Batch::buf`].
#[derive(Debug, Clone)]
pub struct Traced {
    pub event: u32,
    pub parent: Range<u32>,
    pub state: Option<Range<u32>>,
}

/// The W3C trace context (<https://www.w3.org/TR/trace-context/>) an event
/// came with: an HTTP ingest request's `traceparent` / `tracestate`
/// headers, a PutEvents entry's `TraceHeader`, or a Kafka record's
/// headers. Targets forward it; a malformed one is never recorded (the
/// sources check it with [`valid_parent`](Self::valid_parent) and drop it,
/// not the event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace<'a> {
    pub parent: &'a [u8],
    pub state: Option<&'a [u8]>,
}

impl Trace<'_> {
    /// The longest `tracestate` kept (the W3C limit is 32 members; 512
    /// bytes is what it asks every vendor to propagate at least).
    pub const MAX_STATE: usize = 512;

    /// A `traceparent` of version `00` (`00-<32 hex>-<16 hex>-<2 hex>`,
    /// lower case, ids not all zero), or of a later version that starts
    /// the same and goes on after a `-`. Version `ff` is invalid.
    pub fn valid_parent(v: &[u8]) -> bool {
        let hex = |r: Range<usize>| {
            v.get(r)
                .is_some_and(|h| h.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        };
        let zero = |r: Range<usize>| v[r].iter().all(|&c| c == b'0');
        let shape = v.len() >= 55
            && hex(0..2)
            && v[2] == b'-'
            && hex(3..35)
            && v[35] == b'-'
            && hex(36..52)
            && v[52] == b'-'
            && hex(53..55);
        if !shape || &v[..2] == b"ff" || zero(3..35) || zero(36..52) {
            return false;
        }
        match &v[..2] {
            b"00" => v.len() == 55,
            _ => v.len() == 55 || v[55] == b'-',
        }
    }

    /// A `tracestate` that may be forwarded: at most [`MAX_STATE`] bytes
    /// of visible ASCII and spaces (it goes into headers as it is).
    ///
    /// [`MAX_STATE`]: Self::MAX_STATE
    pub fn valid_state(v: &[u8]) -> bool {
        v.len() <= Self::MAX_STATE && v.iter().all(|c| (0x20..=0x7e).contains(c))
    }

    /// An AWS X-Ray trace header (`Root=1-<8 hex>-<24 hex>;Parent=<16
    /// hex>;Sampled=<0|1>`, what EventBridge's `TraceHeader` carries) as
    /// the `traceparent` of the same trace, the mapping OpenTelemetry's
    /// X-Ray propagator uses.
    pub fn parent_from_xray(header: &[u8], out: &mut [u8; 55]) -> bool {
        let (mut root, mut parent, mut sampled) = (None, None, b'0');
        for part in header.split(|&c| c == b';') {
            let part = part.trim_ascii();
            if let Some(r) = part.strip_prefix(b"Root=") {
                root = Some(r);
            } else if let Some(p) = part.strip_prefix(b"Parent=") {
                parent = Some(p);
            } else if let Some(s) = part.strip_prefix(b"Sampled=") {
                sampled = if s == b"1" { b'1' } else { b'0' };
            }
        }
        let (Some(root), Some(parent)) = (root, parent) else {
            return false;
        };
        if root.len() != 35 || &root[..2] != b"1-" || root[10] != b'-' || parent.len() != 16 {
            return false;
        }
        out[..3].copy_from_slice(b"00-");
        out[3..11].copy_from_slice(&root[2..10]);
        out[11..35].copy_from_slice(&root[11..35]);
        out[35] = b'-';
        out[36..52].copy_from_slice(parent);
        out[52..].copy_from_slice(&[b'-', b'0', sampled]);
        out.make_ascii_lowercase();
        Self::valid_parent(out)
    }
}

/// One event after normalisation.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeMeta {
    /// The envelope in [`Routed::envelopes`]; empty when the input was
    /// invalid or matched no rule (nothing refers to it then).
    pub range: Range<u32>,
    /// The event id inside the envelope (no quotes).
    pub id: Range<u32>,
}

/// Set in an event's pending count once one of its deliveries was
/// abandoned at shutdown: when the count reaches zero the source is not
/// told, so a Kafka source does not commit past the event.
const ABANDONED: u32 = 1 << 31;

/// The bookkeeping of a routed batch, apart from its bytes: per event the
/// deliveries still outstanding, and whom to tell when none are left. It
/// outlives the batch when a delivery is [detached](Routed::detach), so a
/// target that keeps failing can hold copies of its own events without
/// holding whole batches (and their share of the in-flight budget).
pub struct Tally {
    pending: Vec<AtomicU32>,
    ack: Option<Arc<dyn SourceAck>>,
    ledger: Option<Arc<Ledger>>,
    topic: Option<Arc<str>>,
    /// Per event, its Kafka (partition, offset); empty when none came from
    /// Kafka.
    kafka: Vec<Option<(i32, i64)>>,
}

impl Tally {
    fn of(batch: &Batch, n: usize) -> Tally {
        let kafka = if batch.events.iter().any(|e| e.kafka.is_some()) {
            batch
                .events
                .iter()
                .map(|e| e.kafka.as_ref().map(|k| (k.partition, k.offset)))
                .collect()
        } else {
            Vec::new()
        };
        Tally {
            pending: (0..n).map(|_| AtomicU32::new(0)).collect(),
            ack: batch.ack.clone(),
            ledger: batch.permits.as_ref().map(|p| p.ledger.clone()),
            topic: batch.topic.clone(),
            kafka,
        }
    }

    fn set_pending(&self, i: usize, n: u32) {
        self.pending[i].store(n, Ordering::Release);
    }

    fn done(&self, i: usize) {
        let before = self.pending[i].fetch_sub(1, Ordering::AcqRel);
        if before & !ABANDONED == 1 {
            if before & ABANDONED == 0 {
                self.complete(i);
            } else {
                self.count(|l| &l.abandoned);
            }
        }
    }

    fn abandon(&self, i: usize) {
        let before = self.pending[i]
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some((n & !ABANDONED).saturating_sub(1) | ABANDONED)
            })
            .unwrap_or(ABANDONED);
        if before & !ABANDONED == 1 {
            self.count(|l| &l.abandoned);
        }
    }

    fn complete(&self, i: usize) {
        if let Some(ack) = &self.ack {
            ack.complete(AckAt {
                event: i,
                topic: self.topic.as_ref(),
                kafka: self.kafka.get(i).copied().flatten(),
            });
        }
        self.count(|l| &l.finished);
    }

    fn count(&self, counter: impl Fn(&Ledger) -> &AtomicU64) {
        if let Some(l) = &self.ledger {
            counter(l).fetch_add(1, Ordering::AcqRel);
        }
    }

    fn redelivers(&self) -> bool {
        self.ack.as_ref().is_some_and(|a| a.redelivers())
    }

    fn count_down_detached(&self) {
        if let Some(l) = &self.ledger {
            l.detached.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// A batch after matching: its envelopes, and per event the deliveries
/// (targets and dead letters) still outstanding.
pub struct Routed {
    pub batch: Batch,
    pub envelopes: Vec<u8>,
    pub meta: Vec<EnvelopeMeta>,
    tally: Arc<Tally>,
    /// For a [detached](Self::detach) copy: the index of its one event in
    /// the tally it shares with the batch it was copied from.
    tally_at: Option<u32>,
    /// Where [`envelopes`](Self::envelopes) goes back when done.
    pub recycle: Option<Arc<BufPool>>,
}

impl Drop for Routed {
    fn drop(&mut self) {
        if let Some(pool) = &self.recycle {
            pool.give(std::mem::take(&mut self.envelopes));
        }
        if self.tally_at.is_some() {
            self.tally.count_down_detached();
        }
    }
}

impl Routed {
    pub fn new(batch: Batch, envelopes: Vec<u8>, meta: Vec<EnvelopeMeta>) -> Self {
        let tally = Arc::new(Tally::of(&batch, meta.len()));
        Routed {
            batch,
            envelopes,
            meta,
            tally,
            tally_at: None,
            recycle: None,
        }
    }

    fn at(&self, i: usize) -> usize {
        self.tally_at.map_or(i, |t| t as usize)
    }

    pub fn envelope(&self, i: usize) -> &[u8] {
        let r = &self.meta[i].range;
        &self.envelopes[r.start as usize..r.end as usize]
    }

    pub fn id(&self, i: usize) -> &[u8] {
        let r = &self.meta[i].id;
        &self.envelopes[r.start as usize..r.end as usize]
    }

    /// Set before any delivery of the event starts.
    pub fn set_pending(&self, i: usize, n: u32) {
        self.tally.set_pending(self.at(i), n);
    }

    /// Set the counts of every event; events with none are complete at once.
    pub fn start(&self, counts: &[u32]) {
        for (i, n) in counts.iter().enumerate() {
            self.set_pending(i, *n);
        }
        for (i, n) in counts.iter().enumerate() {
            if *n == 0 {
                self.tally.complete(self.at(i));
            }
        }
    }

    /// One delivery of event `i` finished (delivered or dead-lettered).
    pub fn done(&self, i: usize) {
        self.tally.done(self.at(i));
    }

    /// One delivery of event `i` was given up at shutdown without a dead
    /// letter, because its source delivers it again after a restart (a
    /// Kafka record whose offset is then not committed).
    pub fn abandon(&self, i: usize) {
        self.tally.abandon(self.at(i));
    }

    /// Whether event `i` came from a source that delivers it again when it
    /// is not acknowledged (Kafka: its offset is not committed).
    pub fn redelivered_if_unacknowledged(&self, _i: usize) -> bool {
        self.tally.redelivers()
    }

    /// A copy of event `i` that stands on its own: its envelope, id, Kafka
    /// origin, key and headers, sharing the original's tally, so that
    /// finishing the copy's delivery counts the original event down. The
    /// original batch (and its share of the in-flight budget) can then be
    /// released while the copy waits. Bytes held: the envelope, key and
    /// headers ([`weight`](Self::weight)).
    pub fn detach(&self, i: usize) -> Routed {
        let mut batch = Batch::new(self.batch.source);
        let from = &self.batch.events[i];
        batch.lane = self.batch.lane;
        batch.seq = self.batch.seq;
        batch.topic = self.batch.topic.clone();
        batch.accepted_at = self.batch.accepted_at;
        batch.built = self.batch.built;
        let kafka = from.kafka.as_ref().map(|k| {
            let mut copy = |r: &Range<u32>| {
                let start = batch.buf.len() as u32;
                batch.buf.extend_from_slice(self.batch.bytes(r));
                start..batch.buf.len() as u32
            };
            let key = k.key.as_ref().map(&mut copy);
            let first = batch.headers.len() as u32;
            for (n, v) in &self.batch.headers[k.headers.start as usize..k.headers.end as usize] {
                let n = copy(n);
                let v = v.as_ref().map(&mut copy);
                batch.headers.push((n, v));
            }
            KafkaOrigin {
                partition: k.partition,
                offset: k.offset,
                key,
                headers: first..batch.headers.len() as u32,
            }
        });
        batch.events.push(RawEvent {
            range: 0..0,
            position: from.position,
            kafka,
        });
        if let Some(t) = self.batch.trace(i) {
            let parent = batch.keep(t.parent);
            let state = t.state.map(|s| batch.keep(s));
            batch.trace_event(0, parent, state);
        }
        let m = &self.meta[i];
        let envelopes = self.envelope(i).to_vec();
        let meta = vec![EnvelopeMeta {
            range: 0..envelopes.len() as u32,
            id: m.id.start - m.range.start..m.id.end - m.range.start,
        }];
        if let Some(l) = &self.tally.ledger {
            l.detached.fetch_add(1, Ordering::AcqRel);
        }
        Routed {
            batch,
            envelopes,
            meta,
            tally: self.tally.clone(),
            tally_at: Some(self.at(i) as u32),
            recycle: None,
        }
    }

    /// Bytes a detached copy holds.
    pub fn weight(&self) -> usize {
        self.envelopes.len() + self.batch.buf.len()
    }

    /// The trace context event `i` came with.
    pub fn trace(&self, i: usize) -> Option<Trace<'_>> {
        self.batch.trace(i)
    }

    /// The Kafka record key and headers of event `i`, if it came from Kafka.
    pub fn kafka_key(&self, i: usize) -> Option<&[u8]> {
        let k = self.batch.events[i].kafka.as_ref()?;
        k.key.as_ref().map(|r| self.batch.bytes(r))
    }

    pub fn kafka_headers(&self, i: usize) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        let range = self.batch.events[i]
            .kafka
            .as_ref()
            .map(|k| k.headers.start as usize..k.headers.end as usize)
            .unwrap_or(0..0);
        self.batch.headers[range]
            .iter()
            .map(|(n, v)| (self.batch.bytes(n), v.as_ref().map(|v| self.batch.bytes(v))))
    }
}

/// A reference to one event of a routed batch; completing it counts down.
#[derive(Clone)]
pub struct EventRef {
    pub routed: Arc<Routed>,
    pub index: u32,
}

impl EventRef {
    pub fn done(&self) {
        self.routed.done(self.index as usize);
    }
    /// See [`Routed::abandon`].
    pub fn abandon(&self) {
        self.routed.abandon(self.index as usize);
    }
    /// See [`Routed::redelivered_if_unacknowledged`].
    pub fn redelivered_if_unacknowledged(&self) -> bool {
        self.routed
            .redelivered_if_unacknowledged(self.index as usize)
    }
    pub fn envelope(&self) -> &[u8] {
        self.routed.envelope(self.index as usize)
    }
    pub fn id(&self) -> &[u8] {
        self.routed.id(self.index as usize)
    }
    pub fn raw(&self) -> &[u8] {
        self.routed.batch.event(self.index as usize)
    }
    /// See [`Routed::trace`].
    pub fn trace(&self) -> Option<Trace<'_>> {
        self.routed.trace(self.index as usize)
    }
    /// See [`Routed::detach`].
    pub fn detach(&self) -> EventRef {
        EventRef {
            routed: Arc::new(self.routed.detach(self.index as usize)),
            index: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Log(Mutex<Vec<usize>>);
    impl SourceAck for Log {
        fn complete(&self, at: AckAt<'_>) {
            self.0.lock().unwrap().push(at.event);
        }
    }

    #[test]
    fn done_batches_hand_their_buffers_back_and_the_pool_stays_bounded() {
        let pool = Arc::new(BufPool::default());
        let mut b = Batch::new(0);
        b.buf = pool.take(1 << 16);
        b.recycle = Some(pool.clone());
        b.push(b"{}", 1);
        let ptr = b.buf.as_ptr();
        let mut r = Routed::new(b, pool.take(1 << 16), vec![EnvelopeMeta::default()]);
        r.recycle = Some(pool.clone());
        drop(r);
        assert_eq!(pool.free.lock().unwrap().len(), 2, "batch and envelopes");
        let reused: Vec<Vec<u8>> = (0..2).map(|_| pool.take(10)).collect();
        assert!(reused
            .iter()
            .all(|v| v.is_empty() && v.capacity() >= 1 << 16));
        assert!(reused.iter().any(|v| v.as_ptr() == ptr), "the same memory");
        for _ in 0..10 {
            pool.give(Vec::with_capacity(100));
        }
        pool.give(Vec::with_capacity(BufPool::MAX_CAPACITY + 1));
        assert_eq!(pool.free.lock().unwrap().len(), BufPool::KEEP);
        assert!(pool
            .free
            .lock()
            .unwrap()
            .iter()
            .all(|v| v.capacity() <= BufPool::MAX_CAPACITY));
    }

    #[test]
    fn trace_context_is_checked_and_travels_with_its_event() {
        let good = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert!(Trace::valid_parent(good));
        assert!(Trace::valid_parent(
            b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-later"
        ));
        for bad in [
            &b"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"[..],
            b"00-00000000000000000000000000000000-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            b"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
            b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            b"",
        ] {
            assert!(
                !Trace::valid_parent(bad),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(Trace::valid_state(b"congo=t61rcWkgMzE"));
        assert!(!Trace::valid_state(b"a=\x01"));
        assert!(!Trace::valid_state(&[b'a'; 513]));
        let mut out = [0u8; 55];
        assert!(Trace::parent_from_xray(
            b"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            &mut out
        ));
        assert_eq!(
            &out,
            b"00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        assert!(!Trace::parent_from_xray(b"Root=1-5759e988", &mut out));

        let mut b = Batch::new(0);
        for i in 0..3 {
            b.push(b"{}", i);
        }
        let p = b.keep(good);
        let s = b.keep(b"k=v");
        b.trace_event(1, p, Some(s));
        assert_eq!(b.trace(0), None);
        assert_eq!(b.trace(1).map(|t| t.parent), Some(&good[..]));
        let r = Routed::new(
            b,
            b"{}".to_vec(),
            vec![
                EnvelopeMeta {
                    range: 0..2,
                    id: 0..0
                };
                3
            ],
        );
        let copy = r.detach(1);
        assert_eq!(
            copy.trace(0),
            Some(Trace {
                parent: good,
                state: Some(b"k=v")
            })
        );
        assert_eq!(r.detach(2).trace(0), None);
    }

    #[test]
    fn an_event_completes_when_its_last_delivery_is_done() {
        let log = Arc::new(Log(Mutex::new(Vec::new())));
        let mut b = Batch::new(0);
        for i in 0..3 {
            b.push(b"{}", i);
        }
        b.ack = Some(log.clone());
        let r = Routed::new(b, Vec::new(), vec![EnvelopeMeta::default(); 3]);
        r.start(&[2, 0, 1]);
        assert_eq!(*log.0.lock().unwrap(), vec![1]);
        r.done(0);
        assert_eq!(*log.0.lock().unwrap(), vec![1]);
        r.done(2);
        r.done(0);
        assert_eq!(*log.0.lock().unwrap(), vec![1, 2, 0]);
    }
}
