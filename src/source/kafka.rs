//! The `kafka` source: a consumer group over one or more topics.
//!
//! At-least-once: offsets are stored (and auto-committed by librdkafka)
//! only up to the lowest message of each partition that is not yet
//! delivered to every matching target or dead-lettered
//! ([`crate::offsets`]); messages that match nothing count as done at once.
//! On revoke (cooperative rebalancing by default) and on shutdown the
//! source stops fetching, waits for the partitions' in-flight events up to
//! the drain timeout, stores the final positions and commits synchronously
//! before letting the partitions go. Each partition is one lane, so each
//! target sees a partition's events in order.
//!
//! When the in-flight budget is spent the source stops consuming until it
//! comes back; librdkafka's own prefetch is bounded by
//! `queued.max.messages.kbytes` (default lowered to 16 MiB), so fetching
//! stops too (see `run` for why partitions are not `pause`d).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntGaugeVec};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientContext, Message, Statistics, TopicPartitionList};

use super::Intake;
use crate::admin::Readiness;
use crate::config::StartPosition;
use crate::offsets::OffsetTracker;
use crate::pipeline::{Batch, KafkaOrigin, RawEvent, SourceAck};

type Key = (Arc<str>, i32);

pub struct Settings {
    pub source: usize,
    pub id: Arc<str>,
    pub topics: Vec<String>,
    pub group_id: String,
    pub start: StartPosition,
    pub brokers: String,
    /// librdkafka properties, applied in order (common, consumer, source).
    pub settings: Vec<BTreeMap<String, String>>,
    pub drain_timeout: Duration,
    pub lag: IntGaugeVec,
    pub backpressure: IntCounter,
    pub ready: Arc<Readiness>,
}

/// State shared by the poll loop, librdkafka's callbacks and the acks.
struct Shared {
    tracker: Mutex<OffsetTracker<Key>>,
    /// Partitions revoked since they were last assigned: messages of theirs
    /// fetched before the revoke are left to the new owner.
    revoked: Mutex<std::collections::HashSet<Key>>,
    drain_timeout: Duration,
    ready: Arc<Readiness>,
    id: Arc<str>,
    lag: IntGaugeVec,
}

impl Shared {
    fn tracker(&self) -> std::sync::MutexGuard<'_, OffsetTracker<Key>> {
        match self.tracker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Store the advanced positions (librdkafka stores `offset + 1`).
    fn store_advanced<C: Consumer<Ctx>>(&self, t: &mut OffsetTracker<Key>, c: &C) {
        for ((topic, partition), pos) in t.drain_committable() {
            if pos > 0 {
                if let Err(e) = c.store_offset(&topic, partition, pos - 1) {
                    tracing::debug!(%topic, partition, error = %e, "offset not stored (partition no longer assigned?)");
                }
            }
        }
    }

    /// Wait until `keys` have nothing in flight, or the drain timeout.
    /// Called from librdkafka's rebalance callback, which runs inside
    /// `recv()` on a runtime worker: tell the runtime, so the targets that
    /// finish those events keep running on the other threads (with one
    /// worker thread they could not run at all).
    fn drain(&self, keys: &[Key]) -> bool {
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| self.drain_blocking(keys))
            }
            _ => self.drain_blocking(keys),
        }
    }

    fn drain_blocking(&self, keys: &[Key]) -> bool {
        let deadline = Instant::now() + self.drain_timeout;
        loop {
            let left: usize = {
                let t = self.tracker();
                keys.iter().map(|k| t.outstanding(k)).sum()
            };
            if left == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                tracing::warn!(source = %self.id, left, "drain timeout: partitions released with events in flight (they will be delivered again)");
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

struct Ctx {
    shared: Arc<Shared>,
}

impl ClientContext for Ctx {
    fn stats(&self, s: Statistics) {
        for (topic, t) in &s.topics {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.consumer_lag >= 0 {
                    self.shared
                        .lag
                        .with_label_values(&[
                            self.shared.id.as_ref(),
                            topic.as_str(),
                            &p.to_string(),
                        ])
                        .set(part.consumer_lag);
                }
            }
        }
    }
}

fn keys(tpl: &TopicPartitionList) -> Vec<Key> {
    tpl.elements()
        .iter()
        .map(|e| (Arc::from(e.topic()), e.partition()))
        .collect()
}

impl ConsumerContext for Ctx {
    fn pre_rebalance(&self, c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = r {
            let ks = keys(tpl);
            tracing::info!(source = %self.shared.id, partitions = ks.len(), "partitions revoked; draining");
            if let Ok(mut r) = self.shared.revoked.lock() {
                r.extend(ks.iter().cloned());
            }
            self.shared.drain(&ks);
            let mut t = self.shared.tracker();
            self.shared.store_advanced(&mut t, c);
            for k in &ks {
                if let Some(pos) = t.remove(k) {
                    if pos > 0 {
                        let _ = c.store_offset(&k.0, k.1, pos - 1);
                    }
                }
                let _ = self.shared.lag.remove_label_values(&[
                    self.shared.id.as_ref(),
                    k.0.as_ref(),
                    &k.1.to_string(),
                ]);
            }
            drop(t);
            if let Err(e) = c.commit_consumer_state(CommitMode::Sync) {
                tracing::debug!(error = %e, "commit on revoke");
            }
        }
    }

    fn post_rebalance(&self, _c: &BaseConsumer<Self>, r: &Rebalance<'_>) {
        match r {
            Rebalance::Assign(tpl) => {
                tracing::info!(source = %self.shared.id, partitions = tpl.count(), "partitions assigned");
                if let Ok(mut r) = self.shared.revoked.lock() {
                    for k in keys(tpl) {
                        r.remove(&k);
                    }
                }
                self.shared
                    .ready
                    .consumer_assigned
                    .store(true, std::sync::atomic::Ordering::Release);
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => {
                tracing::warn!(source = %self.shared.id, error = %e, "rebalance error")
            }
        }
    }
}

/// Tells the tracker when an event is done, and stores what advanced.
struct Ack {
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer<Ctx>>,
}

impl SourceAck for Ack {
    fn complete(&self, batch: &Batch, event: usize) {
        let (Some(topic), Some(k)) = (&batch.topic, &batch.events[event].kafka) else {
            return;
        };
        let key = (topic.clone(), k.partition);
        let mut t = self.shared.tracker();
        let before = t.committable(&key);
        if t.complete(&key, k.offset) {
            let after = t.committable(&key);
            if after != before {
                if let Some(pos) = after.filter(|p| *p > 0) {
                    if let Err(e) = self.consumer.store_offset(&key.0, key.1, pos - 1) {
                        tracing::debug!(topic = %key.0, partition = key.1, error = %e, "offset not stored (partition no longer assigned?)");
                    }
                }
            }
        }
    }
}

pub fn consumer_config(s: &Settings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("partition.assignment.strategy", "cooperative-sticky");
    c.set("queued.max.messages.kbytes", "16384");
    c.set("statistics.interval.ms", "5000");
    c.set("session.timeout.ms", "45000");
    // busbar stops polling while its in-flight budget is spent (a slow or
    // dead target): stay in the group for an hour of that rather than
    // librdkafka's 5 minutes, after which the partitions would move.
    c.set("max.poll.interval.ms", "3600000");
    // Commit the stored positions every second (librdkafka: 5 s): after a
    // crash, at most about a second of deliveries is repeated.
    c.set("auto.commit.interval.ms", "1000");
    for m in &s.settings {
        for (k, v) in m {
            c.set(k, v);
        }
    }
    c.set("bootstrap.servers", &s.brokers);
    c.set("group.id", &s.group_id);
    c.set("enable.auto.offset.store", "false");
    c.set("enable.auto.commit", "true");
    c.set("auto.offset.reset", s.start.as_str());
    c
}

/// Consume until shutdown; then drain, commit and leave the group.
pub async fn run(s: Settings, intake: Intake) -> Result<(), String> {
    let shared = Arc::new(Shared {
        tracker: Mutex::new(OffsetTracker::new()),
        revoked: Mutex::new(std::collections::HashSet::new()),
        drain_timeout: s.drain_timeout,
        ready: s.ready.clone(),
        id: s.id.clone(),
        lag: s.lag.clone(),
    });
    let consumer: StreamConsumer<Ctx> = consumer_config(&s)
        .create_with_context(Ctx {
            shared: shared.clone(),
        })
        .map_err(|e| format!("source `{}`: kafka consumer: {e}", s.id))?;
    let consumer = Arc::new(consumer);
    let topics: Vec<&str> = s.topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| format!("source `{}`: subscribe: {e}", s.id))?;
    let ack: Arc<dyn SourceAck> = Arc::new(Ack {
        shared: shared.clone(),
        consumer: consumer.clone(),
    });
    let mut lanes: HashMap<Key, (u64, u64)> = HashMap::new();
    let mut open: BTreeMap<Key, Batch> = BTreeMap::new();
    let mut shutdown = intake.shutdown.clone();
    let mut topic_names: HashMap<String, Arc<str>> = HashMap::new();

    let (batch_events, batch_bytes) = intake.batch_limits();
    'outer: loop {
        let first = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.changed() => break,
        };
        let mut next = Some(first);
        let (mut taken, mut bytes) = (0, 0);
        while let Some(m) = next.take() {
            match m {
                Ok(m) => {
                    bytes += add(&m, &mut open, &mut topic_names, s.source);
                    taken += 1;
                }
                Err(e) => tracing::warn!(source = %s.id, error = %e, "kafka consumer error"),
            }
            // Every open batch stays within one batch's share of the budget.
            if taken >= batch_events || bytes >= batch_bytes {
                break;
            }
            // Take what is already fetched without waiting.
            next = tokio::time::timeout(Duration::ZERO, consumer.recv())
                .await
                .ok();
        }
        // Hand every open batch over, in partition order.
        for (key, mut b) in std::mem::take(&mut open) {
            // Fetched before a revoke that happened while taking more
            // messages: the partition's new owner consumes them from the
            // committed offset; tracking them here would only leave stale
            // entries (and duplicates).
            if shared.revoked.lock().is_ok_and(|r| r.contains(&key)) {
                tracing::debug!(topic = %key.0, partition = key.1, events = b.len(), "dropping messages of a revoked partition");
                continue;
            }
            let lane = lanes
                .entry(key.clone())
                .or_insert_with(|| (intake.new_lane(), 0));
            b.lane = lane.0;
            b.seq = lane.1;
            lane.1 += 1;
            b.ack = Some(ack.clone());
            {
                let mut t = shared.tracker();
                for e in &b.events {
                    if let Some(k) = &e.kafka {
                        t.track(&key, k.offset);
                    }
                }
            }
            if intake.would_wait(b.len(), b.weight()) {
                // Stop consuming until budget comes back. librdkafka's
                // prefetch fills its bounded queue and then stops fetching.
                // The partitions are deliberately not `pause`d: a pause
                // drops the prefetched messages and a resume fetches again
                // from the next unconsumed offset, which a broker that only
                // serves whole batches from their start (tansu's memory
                // engine) answers with the batch after it: the rest of the
                // batch would never be seen.
                s.backpressure.inc();
                let sent = tokio::select! {
                    r = intake.send(b) => r.is_ok(),
                    _ = shutdown.changed() => false,
                };
                if !sent {
                    break 'outer;
                }
            } else if intake.send(b).await.is_err() {
                break 'outer;
            }
        }
    }

    // Shutdown: stop fetching, drain what is in flight, commit, leave.
    let all: Vec<Key> = consumer.assignment().map(|a| keys(&a)).unwrap_or_default();
    let c2 = consumer.clone();
    let sh2 = shared.clone();
    let _ = tokio::task::spawn_blocking(move || {
        sh2.drain(&all);
        let mut t = sh2.tracker();
        sh2.store_advanced(&mut t, &*c2);
        drop(t);
        if let Err(e) = c2.commit_consumer_state(CommitMode::Sync) {
            tracing::debug!(error = %e, "final commit");
        }
        c2.unsubscribe();
    })
    .await;
    Ok(())
}

fn add(
    m: &BorrowedMessage<'_>,
    open: &mut BTreeMap<Key, Batch>,
    names: &mut HashMap<String, Arc<str>>,
    source: usize,
) -> usize {
    let topic = match names.get(m.topic()) {
        Some(t) => t.clone(),
        None => {
            let t: Arc<str> = Arc::from(m.topic());
            names.insert(m.topic().to_string(), t.clone());
            t
        }
    };
    let key = (topic.clone(), m.partition());
    let b = open.entry(key).or_insert_with(|| {
        let mut b = Batch::new(source);
        b.topic = Some(topic);
        b
    });
    let start = b.buf.len() as u32;
    b.buf.extend_from_slice(m.payload().unwrap_or(b""));
    let end = b.buf.len() as u32;
    let k = m.key().map(|k| {
        let s = b.buf.len() as u32;
        b.buf.extend_from_slice(k);
        s..b.buf.len() as u32
    });
    let h0 = b.headers.len() as u32;
    if let Some(hs) = m.headers() {
        for h in hs.iter() {
            let ns = b.buf.len() as u32;
            b.buf.extend_from_slice(h.key.as_bytes());
            let name = ns..b.buf.len() as u32;
            let value = h.value.map(|v| {
                let vs = b.buf.len() as u32;
                b.buf.extend_from_slice(v);
                vs..b.buf.len() as u32
            });
            b.headers.push((name, value));
        }
    }
    let h1 = b.headers.len() as u32;
    let added = b.buf.len() - start as usize;
    b.events.push(RawEvent {
        range: start..end,
        position: m.offset() as u64,
        kafka: Some(KafkaOrigin {
            partition: m.partition(),
            offset: m.offset(),
            key: k,
            headers: h0..h1,
        }),
    });
    added
}
