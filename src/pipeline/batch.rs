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
use std::sync::atomic::{AtomicU32, Ordering};
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

/// Told when every delivery of an event is done (delivered or dead-lettered).
pub trait SourceAck: Send + Sync {
    fn complete(&self, batch: &Batch, event: usize);
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
    pub accepted_at: Instant,
    pub ack: Option<Arc<dyn SourceAck>>,
    pub permits: Option<Permits>,
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
            accepted_at: Instant::now(),
            ack: None,
            permits: None,
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
}

impl Drop for Permits {
    fn drop(&mut self) {
        self.gauges.0.sub(self.counted.0);
        self.gauges.1.sub(self.counted.1);
    }
}

/// One event after normalisation.
#[derive(Debug, Clone, Default)]
pub struct EnvelopeMeta {
    /// The envelope in [`Routed::envelopes`]; empty when the input was invalid.
    pub range: Range<u32>,
    /// The event id inside the envelope (no quotes).
    pub id: Range<u32>,
}

/// A batch after matching: its envelopes, and per event the deliveries
/// (targets and dead letters) still outstanding.
pub struct Routed {
    pub batch: Batch,
    pub envelopes: Vec<u8>,
    pub meta: Vec<EnvelopeMeta>,
    pending: Vec<AtomicU32>,
}

impl Routed {
    pub fn new(batch: Batch, envelopes: Vec<u8>, meta: Vec<EnvelopeMeta>) -> Self {
        let pending = (0..meta.len()).map(|_| AtomicU32::new(0)).collect();
        Routed {
            batch,
            envelopes,
            meta,
            pending,
        }
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
        self.pending[i].store(n, Ordering::Release);
    }

    /// Set the counts of every event; events with none are complete at once.
    pub fn start(&self, counts: &[u32]) {
        for (i, n) in counts.iter().enumerate() {
            self.set_pending(i, *n);
        }
        for (i, n) in counts.iter().enumerate() {
            if *n == 0 {
                self.complete(i);
            }
        }
    }

    /// One delivery of event `i` finished (delivered or dead-lettered).
    pub fn done(&self, i: usize) {
        if self.pending[i].fetch_sub(1, Ordering::AcqRel) == 1 {
            self.complete(i);
        }
    }

    fn complete(&self, i: usize) {
        if let Some(ack) = &self.batch.ack {
            ack.complete(&self.batch, i);
        }
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
    pub fn envelope(&self) -> &[u8] {
        self.routed.envelope(self.index as usize)
    }
    pub fn id(&self) -> &[u8] {
        self.routed.id(self.index as usize)
    }
    pub fn raw(&self) -> &[u8] {
        self.routed.batch.event(self.index as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Log(Mutex<Vec<usize>>);
    impl SourceAck for Log {
        fn complete(&self, _: &Batch, event: usize) {
            self.0.lock().unwrap().push(event);
        }
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
