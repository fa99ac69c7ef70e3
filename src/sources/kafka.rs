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
//!
//! # A broker that no longer has the position
//!
//! A broker that restarts without its data (or a topic deleted and created
//! again) leaves the consumer at a position the partition does not have.
//! A Kafka broker answers a fetch there with `OFFSET_OUT_OF_RANGE`;
//! librdkafka then moves to `auto.offset.reset` (the source's `start`) and
//! says so only in a log line (facility `OFFSET`), which is where busbar
//! learns of it. Some brokers answer with an empty fetch instead (tansu
//! does), and the consumer would wait at its old position forever: the
//! statistics show that position past the partition's high watermark, and
//! busbar seeks to `start` itself. In both cases the partition's offset
//! tracking starts a new epoch ([`crate::offsets`]): events fetched before
//! are still delivered, but their acks no longer store positions, and the
//! first position of the new epoch is stored and committed at once, so the
//! old position is never committed to the new log. Each reset is logged
//! once and counted in `busbar_kafka_offset_resets_total`.
//!
//! A restarted broker also forgets the group: librdkafka reports the
//! assignment as *lost*. Lost partitions are not drained and nothing is
//! committed for them (the group generation they belonged to is gone; a
//! commit could only write an old position into the new broker); their
//! events in flight are still delivered. If the group formed again before
//! the topics were created again, librdkafka assigned nothing and does not
//! look again (the topic reappears within its metadata propagation grace,
//! so it sees no change): once the topics exist, busbar rejoins the group
//! once.
//!
//! While every broker is down the source pauses its partitions, and resumes
//! each once the broker's metadata lists its topic again. A broker that
//! came back empty would otherwise be asked for topics by ids it no longer
//! knows, and one that answers such a fetch with a zero topic id (tansu
//! 0.6 does) crashes librdkafka 2.12 (a null topic name in its leader
//! discovery); after the metadata refresh the fetches carry the new ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::{IntCounter, IntCounterVec, IntGaugeVec};
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{ClientContext, Message, Offset, Statistics, TopicPartitionList};
use tokio::sync::mpsc;

use super::Intake;
use crate::admin::Readiness;
use crate::config::StartPosition;
use crate::handoff::{AckAt, Batch, KafkaOrigin, RawEvent, SourceAck};
use crate::offsets::OffsetTracker;

type Key = (Arc<str>, i32);

/// The most messages of one partition the offset tracker remembers (16
/// bytes each) between the oldest not yet delivered and the newest taken.
const MAX_SPAN: usize = 1 << 20;

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
    /// `busbar_kafka_offset_resets_total`.
    pub resets: IntCounterVec,
    pub ready: Arc<Readiness>,
}

/// Why a partition's position was reset: the `reason` label of
/// `busbar_kafka_offset_resets_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResetReason {
    /// The broker answered `OFFSET_OUT_OF_RANGE` and librdkafka reset.
    OutOfRange,
    /// The position is past the partition's high watermark, and the broker
    /// answered empty fetches instead of an error.
    PastLogEnd,
    /// The position is before the partition's log start.
    BeforeLogStart,
    /// Messages came from behind the position without a rebalance: a reset
    /// that librdkafka made without the log line busbar looks for.
    Rewound,
}

impl ResetReason {
    fn as_str(self) -> &'static str {
        match self {
            ResetReason::OutOfRange => "out_of_range",
            ResetReason::PastLogEnd => "past_log_end",
            ResetReason::BeforeLogStart => "before_log_start",
            ResetReason::Rewound => "rewound",
        }
    }
}

/// A partition whose position the broker does not have, seen in the
/// statistics: the poll loop seeks it to `start`.
struct Misplaced {
    key: Key,
    reason: ResetReason,
    /// The consumer's position, and the partition's log start and end.
    position: i64,
    log_start: i64,
    log_end: i64,
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
    resets: IntCounterVec,
    start: StartPosition,
    /// Bumped whenever a partition's epoch changes (reset, revoke), so the
    /// poll loop notices between two messages.
    epochs_changed: AtomicU64,
    /// Partitions reset, or being reset, whose statistics have not shown a
    /// position inside the log since: each reset is acted on and logged once.
    resetting: Mutex<HashSet<Key>>,
    /// Partitions reset whose first position in the new epoch is still to
    /// be stored and committed.
    uncommitted: Mutex<HashSet<Key>>,
    /// To the poll loop: partitions to seek back into the log.
    misplaced: mpsc::UnboundedSender<Misplaced>,
    /// Partitions paused because every broker was down; resumed once the
    /// broker lists their topic again.
    paused: Mutex<HashSet<Key>>,
    /// When the group last lost the partitions, until an assignment after it
    /// is seen to hold partitions.
    lost_at: Mutex<Option<Instant>>,
    /// Whether the current outage was logged: only one that outlasts a
    /// look at the broker is (librdkafka also reports a stale "all brokers
    /// down" just after they came back).
    outage_logged: std::sync::atomic::AtomicBool,
    /// librdkafka's logs and errors about the brokers, one line per change.
    broker_log: crate::kafka_log::BrokerLog,
}

/// How long after a lost assignment an empty one counts as librdkafka's
/// blind spot rather than a rejoin still under way (a join takes seconds).
const REJOIN_AFTER: Duration = Duration::from_secs(10);

impl Shared {
    fn tracker(&self) -> std::sync::MutexGuard<'_, OffsetTracker<Key>> {
        lock(&self.tracker)
    }

    /// The broker no longer has `key`'s position and the consumer moved (or
    /// is moving) to `start`: begin a new epoch, so that nothing tracked
    /// before stores a position; have the new epoch's first position
    /// committed; log and count it once. `t` is the locked tracker.
    fn reset(&self, t: &mut OffsetTracker<Key>, key: &Key, reason: ResetReason, detail: &str) {
        let last = t.last(key);
        let outstanding = t.outstanding(key);
        t.reset(key);
        self.epochs_changed.fetch_add(1, Ordering::AcqRel);
        lock(&self.resetting).insert(key.clone());
        lock(&self.uncommitted).insert(key.clone());
        self.resets
            .with_label_values(&[self.id.as_ref(), key.0.as_ref(), reason.as_str()])
            .inc();
        tracing::warn!(
            source = %self.id,
            topic = %key.0,
            partition = key.1,
            reason = reason.as_str(),
            last_offset = last.unwrap_or(-1),
            in_flight = outstanding,
            start = self.start.as_str(),
            "kafka source: the broker no longer has this partition's position ({detail}); consuming from `start`; events in flight are still delivered, the old position is not committed"
        );
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

struct Ctx {
    shared: Arc<Shared>,
}

impl ClientContext for Ctx {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if matches!(level, RDKafkaLogLevel::Warning) && fac == "OFFSET" {
            if let Some(key) = offset_reset_partition(message) {
                // librdkafka has moved the position already.
                let mut t = self.shared.tracker();
                self.shared
                    .reset(&mut t, &key, ResetReason::OutOfRange, message);
                return;
            }
        }
        self.shared.broker_log.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.shared.broker_log.error(&error, reason);
    }

    fn stats(&self, s: Statistics) {
        for (topic, t) in &s.topics {
            for (p, part) in &t.partitions {
                if *p < 0 {
                    continue;
                }
                if part.consumer_lag >= 0 {
                    self.shared
                        .lag
                        .with_label_values(&[
                            self.shared.id.as_ref(),
                            topic.as_str(),
                            &p.to_string(),
                        ])
                        .set(part.consumer_lag);
                }
                self.check_position(topic, *p, part);
            }
        }
    }
}

impl Ctx {
    /// Whether a fetching partition's position lies outside its log: a
    /// broker that lost its data and answers empty fetches rather than
    /// `OFFSET_OUT_OF_RANGE` (librdkafka's fetch position never passes the
    /// high watermark it reports, so past it means the log shrank).
    fn check_position(&self, topic: &str, partition: i32, p: &rdkafka::statistics::Partition) {
        if p.fetch_state != "active" || p.next_offset < 0 || p.hi_offset < 0 {
            return;
        }
        let key: Key = (Arc::from(topic), partition);
        let reason = if p.next_offset > p.hi_offset {
            ResetReason::PastLogEnd
        } else if p.lo_offset >= 0 && p.next_offset < p.lo_offset {
            ResetReason::BeforeLogStart
        } else {
            // Inside the log: a reset of this partition is over.
            lock(&self.shared.resetting).remove(&key);
            return;
        };
        if !lock(&self.shared.resetting).insert(key.clone()) {
            return;
        }
        let _ = self.shared.misplaced.send(Misplaced {
            key,
            reason,
            position: p.next_offset,
            log_start: p.lo_offset,
            log_end: p.hi_offset,
        });
    }
}

/// The partition of librdkafka's offset-reset warning, `[thrd:NAME]: TOPIC
/// [PARTITION]: offset reset (at ...) to ...: REASON` (topic names have no
/// spaces).
fn offset_reset_partition(message: &str) -> Option<Key> {
    let message = match message.strip_prefix("[thrd:") {
        Some(rest) => rest.split_once("]: ")?.1,
        None => message,
    };
    let (head, rest) = message.split_once("]: ")?;
    if !rest.starts_with("offset reset") {
        return None;
    }
    let (topic, partition) = head.split_once(" [")?;
    Some((Arc::from(topic), partition.parse().ok()?))
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
            if let Ok(mut r) = self.shared.revoked.lock() {
                r.extend(ks.iter().cloned());
            }
            if c.assignment_lost() {
                self.lost(c, &ks);
                return;
            }
            tracing::info!(source = %self.shared.id, partitions = ks.len(), "partitions revoked; draining");
            self.shared.drain(&ks);
            let mut t = self.shared.tracker();
            self.shared.store_advanced(&mut t, c);
            self.shared.epochs_changed.fetch_add(1, Ordering::AcqRel);
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
                self.shared.broker_log.ok();
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

impl Ctx {
    /// The group lost these partitions (the broker forgot the member, for
    /// one after a restart): forget their tracking without draining or
    /// committing anything.
    fn lost(&self, c: &BaseConsumer<Self>, ks: &[Key]) {
        // librdkafka commits the stored positions of partitions it removes
        // from the assignment, lost ones too, and a broker that restarted
        // empty takes that commit from the member that rejoins: it would
        // start the new group at the old position. A logical offset stored
        // instead is not committed.
        let mut tpl = TopicPartitionList::new();
        for k in ks {
            let _ = tpl.add_partition_offset(&k.0, k.1, Offset::Invalid);
        }
        if let Err(e) = c.store_offsets(&tpl) {
            tracing::debug!(source = %self.shared.id, error = %e, "stored positions of lost partitions not cleared");
        }
        let mut t = self.shared.tracker();
        let in_flight: usize = ks.iter().map(|k| t.outstanding(k)).sum();
        self.shared.epochs_changed.fetch_add(1, Ordering::AcqRel);
        for k in ks {
            t.remove(k);
            let _ = self.shared.lag.remove_label_values(&[
                self.shared.id.as_ref(),
                k.0.as_ref(),
                &k.1.to_string(),
            ]);
        }
        *lock(&self.shared.lost_at) = Some(Instant::now());
        tracing::warn!(
            source = %self.shared.id,
            partitions = ks.len(),
            in_flight,
            "kafka source: the group lost its partitions (the broker no longer knows this member); nothing is committed for them; events in flight are still delivered, and consumed again by the partitions' next owner"
        );
    }
}

/// Tells the tracker when an event of one epoch of one partition is done,
/// and stores what advanced.
struct Ack {
    shared: Arc<Shared>,
    consumer: Arc<StreamConsumer<Ctx>>,
    epoch: u64,
}

impl SourceAck for Ack {
    fn redelivers(&self) -> bool {
        true
    }

    fn complete(&self, at: AckAt<'_>) {
        let (Some(topic), Some((partition, offset))) = (at.topic, at.kafka) else {
            return;
        };
        let key = (topic.clone(), partition);
        let mut t = self.shared.tracker();
        let before = t.committable(&key);
        if t.complete_in(&key, self.epoch, offset) {
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
    let (misplaced_tx, mut misplaced_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        tracker: Mutex::new(OffsetTracker::new()),
        revoked: Mutex::new(HashSet::new()),
        drain_timeout: s.drain_timeout,
        ready: s.ready.clone(),
        id: s.id.clone(),
        lag: s.lag.clone(),
        resets: s.resets.clone(),
        start: s.start,
        epochs_changed: AtomicU64::new(0),
        resetting: Mutex::new(HashSet::new()),
        uncommitted: Mutex::new(HashSet::new()),
        misplaced: misplaced_tx,
        paused: Mutex::new(HashSet::new()),
        lost_at: Mutex::new(None),
        outage_logged: std::sync::atomic::AtomicBool::new(false),
        broker_log: crate::kafka_log::BrokerLog::new(format!("kafka source {}", s.id)),
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
    // The ack of each partition's current epoch.
    let mut acks: HashMap<Key, (u64, Arc<dyn SourceAck>)> = HashMap::new();
    let mut lanes: HashMap<Key, (u64, u64)> = HashMap::new();
    // Open batches, each with the partition's epoch when it was opened.
    let mut open: BTreeMap<Key, (u64, Batch)> = BTreeMap::new();
    let mut shutdown = intake.shutdown.clone();
    let mut topic_names: HashMap<String, Arc<str>> = HashMap::new();
    // A message taken after a partition's epoch changed, kept for the next
    // round so that no batch holds messages from both sides of a reset.
    let mut carried = None;
    // Looks after an outage or a lost group (see `recover`).
    let mut recovery = tokio::time::interval(Duration::from_secs(1));
    recovery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let (batch_events, batch_bytes) = intake.batch_limits();
    'outer: loop {
        let first = match carried.take() {
            Some(m) => m,
            None => tokio::select! {
                m = consumer.recv() => m,
                Some(m) = misplaced_rx.recv() => {
                    reposition(&consumer, &shared, m).await;
                    continue;
                }
                _ = recovery.tick(), if shared.recovering() => {
                    recover(&consumer, &shared, &s.topics).await;
                    continue;
                }
                _ = shutdown.changed() => break,
            },
        };
        let epochs = shared.epochs_changed.load(Ordering::Acquire);
        let mut next = Some(first);
        let (mut taken, mut bytes) = (0, 0);
        while let Some(m) = next.take() {
            if shared.epochs_changed.load(Ordering::Acquire) != epochs {
                carried = Some(m);
                break;
            }
            match m {
                Ok(m) => {
                    shared.broker_log.ok();
                    bytes += add(&m, &mut open, &mut topic_names, s.source, &shared);
                    taken += 1;
                }
                Err(e) => {
                    if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
                        pause_for_outage(&consumer, &shared);
                    }
                    shared.broker_log.error(&e, &e.to_string())
                }
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
        for (key, (epoch, mut b)) in std::mem::take(&mut open) {
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
            b.ack = track(&shared, &consumer, &mut acks, &key, epoch, &b);
            // A failing target's backlog holds copies of old messages while
            // later ones flow past, and the tracker remembers every message
            // in between: wait here once that is `MAX_SPAN` messages.
            if shared.tracker().span(&key) > MAX_SPAN {
                s.backpressure.inc();
                while shared.tracker().span(&key) > MAX_SPAN && !*shutdown.borrow() {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        _ = shutdown.changed() => break 'outer,
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

impl Shared {
    /// Whether partitions wait for the broker, or the group may have to be
    /// joined again.
    fn recovering(&self) -> bool {
        !lock(&self.paused).is_empty() || lock(&self.lost_at).is_some()
    }
}

/// Every broker is down: pause the assigned partitions (see the module
/// docs for why), once per outage.
fn pause_for_outage(consumer: &StreamConsumer<Ctx>, shared: &Shared) {
    let Ok(assigned) = consumer.assignment() else {
        return;
    };
    let mut paused = lock(&shared.paused);
    let mut tpl = TopicPartitionList::new();
    for k in keys(&assigned) {
        if !paused.contains(&k) {
            tpl.add_partition(&k.0, k.1);
            paused.insert(k);
        }
    }
    if tpl.count() == 0 {
        return;
    }
    match consumer.pause(&tpl) {
        Ok(()) => {
            tracing::debug!(source = %shared.id, partitions = tpl.count(), "every broker is down; fetching paused")
        }
        Err(e) => {
            tracing::debug!(source = %shared.id, error = %e, "pause during an outage failed");
            for k in keys(&tpl) {
                paused.remove(&k);
            }
        }
    }
}

/// After an outage: resume the paused partitions whose topic the broker
/// lists again. After a lost group: if the group formed again with nothing
/// for this member while the topics did not exist yet, join it once more
/// now that they do.
async fn recover(consumer: &Arc<StreamConsumer<Ctx>>, shared: &Arc<Shared>, topics: &[String]) {
    let assigned: HashSet<Key> = consumer
        .assignment()
        .map(|a| keys(&a).into_iter().collect())
        .unwrap_or_default();
    let waiting: Vec<Key> = lock(&shared.paused)
        .iter()
        .filter(|k| assigned.contains(*k))
        .cloned()
        .collect();
    let rejoin = {
        let mut lost_at = lock(&shared.lost_at);
        if !assigned.is_empty() {
            *lost_at = None;
        }
        lost_at.is_some_and(|t| t.elapsed() >= REJOIN_AFTER)
    };
    if waiting.is_empty() && !rejoin {
        return;
    }
    let mut wanted: HashSet<String> = waiting.iter().map(|k| k.0.to_string()).collect();
    if rejoin {
        wanted.extend(topics.iter().cloned());
    }
    let c = consumer.clone();
    let listed = tokio::task::spawn_blocking(move || {
        wanted
            .into_iter()
            .filter(|t| {
                c.fetch_metadata(Some(t), Duration::from_secs(2))
                    .is_ok_and(|md| {
                        md.topics().iter().any(|mt| {
                            mt.name() == t && mt.error().is_none() && !mt.partitions().is_empty()
                        })
                    })
            })
            .collect::<HashSet<String>>()
    })
    .await
    .unwrap_or_default();
    let mut tpl = TopicPartitionList::new();
    for k in waiting.iter().filter(|k| listed.contains(k.0.as_ref())) {
        tpl.add_partition(&k.0, k.1);
    }
    if tpl.count() > 0 {
        match consumer.resume(&tpl) {
            Ok(()) => {
                let mut paused = lock(&shared.paused);
                for k in keys(&tpl) {
                    paused.remove(&k);
                }
            }
            Err(e) => {
                tracing::debug!(source = %shared.id, error = %e, "resume after an outage failed")
            }
        }
    }
    let still = lock(&shared.paused)
        .iter()
        .filter(|k| assigned.contains(*k))
        .count();
    let logged = &shared.outage_logged;
    if still > 0 && !logged.swap(true, Ordering::AcqRel) {
        tracing::warn!(source = %shared.id, partitions = still,
            "kafka source: every broker was down; fetching paused until the broker lists the topics again");
    } else if still == 0 && !waiting.is_empty() {
        if logged.swap(false, Ordering::AcqRel) {
            tracing::info!(source = %shared.id, partitions = waiting.len(),
                "kafka source: the broker lists the topics again; fetching resumed");
        } else {
            tracing::debug!(source = %shared.id, partitions = waiting.len(), "fetching resumed");
        }
    }
    if rejoin && topics.iter().any(|t| listed.contains(t)) {
        *lock(&shared.lost_at) = None;
        tracing::info!(source = %shared.id,
            "kafka source: the group formed again without partitions for this member while the topics did not exist; they do now: joining again");
        consumer.unsubscribe();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&names) {
            tracing::error!(source = %shared.id, error = %e, "subscribe again failed");
        }
    }
}

/// Track a batch's offsets in the partition's epoch it was fetched in, and
/// return the ack for it; `None` (delivered, not tracked) when the epoch
/// ended since. The first batch after a reset stores and commits its first
/// offset at once, replacing the old position.
fn track(
    shared: &Arc<Shared>,
    consumer: &Arc<StreamConsumer<Ctx>>,
    acks: &mut HashMap<Key, (u64, Arc<dyn SourceAck>)>,
    key: &Key,
    epoch: u64,
    b: &Batch,
) -> Option<Arc<dyn SourceAck>> {
    let mut t = shared.tracker();
    if t.epoch(key) != epoch {
        tracing::debug!(topic = %key.0, partition = key.1, events = b.len(),
            "messages fetched before an offset reset: delivered, not tracked for commits");
        return None;
    }
    let first = b
        .events
        .iter()
        .find_map(|e| e.kafka.as_ref().map(|k| k.offset))?;
    if t.last(key).is_some_and(|last| first <= last) {
        let detail = format!(
            "offset {first} fetched after {}",
            t.last(key).unwrap_or_default()
        );
        shared.reset(&mut t, key, ResetReason::Rewound, &detail);
    }
    for e in &b.events {
        if let Some(k) = &e.kafka {
            t.track(key, k.offset);
        }
    }
    let epoch = t.epoch(key);
    drop(t);
    if lock(&shared.uncommitted).remove(key) {
        commit_position(consumer, key, first);
    }
    let ack = match acks.get(key) {
        Some((e, ack)) if *e == epoch => ack.clone(),
        _ => {
            let ack: Arc<dyn SourceAck> = Arc::new(Ack {
                shared: shared.clone(),
                consumer: consumer.clone(),
                epoch,
            });
            acks.insert(key.clone(), (epoch, ack.clone()));
            ack
        }
    };
    Some(ack)
}

/// Store `offset` as partition `key`'s position and commit it now: the
/// first position after a reset, which replaces one the log no longer has
/// (librdkafka commits only positions past the last one it committed).
fn commit_position(c: &StreamConsumer<Ctx>, key: &Key, offset: i64) {
    let mut tpl = TopicPartitionList::new();
    if let Err(e) = tpl.add_partition_offset(&key.0, key.1, Offset::Offset(offset)) {
        tracing::debug!(topic = %key.0, partition = key.1, error = %e, "position not stored");
        return;
    }
    if let Err(e) = c.store_offsets(&tpl) {
        tracing::debug!(topic = %key.0, partition = key.1, error = %e, "position not stored (partition no longer assigned?)");
        return;
    }
    if let Err(e) = c.commit(&tpl, CommitMode::Async) {
        tracing::debug!(topic = %key.0, partition = key.1, error = %e, "position not committed");
    }
}

/// Seek a partition whose position lies outside its log to the source's
/// `start`, and start its tracking over there.
async fn reposition(consumer: &Arc<StreamConsumer<Ctx>>, shared: &Arc<Shared>, m: Misplaced) {
    let c = consumer.clone();
    let key = m.key.clone();
    let start = shared.start;
    let sought = tokio::task::spawn_blocking(move || {
        let timeout = Duration::from_secs(10);
        let (low, high) = c.fetch_watermarks(&key.0, key.1, timeout)?;
        let to = match start {
            StartPosition::Earliest => low,
            StartPosition::Latest => high,
        };
        c.seek(&key.0, key.1, Offset::Offset(to), timeout)?;
        Ok::<_, rdkafka::error::KafkaError>(to)
    })
    .await;
    let to = match sought {
        Ok(Ok(to)) => to,
        Ok(Err(e)) => {
            // Not assigned any more, or the broker is away: the next
            // statistics that still show it misplaced try again.
            tracing::debug!(source = %shared.id, topic = %m.key.0, partition = m.key.1, error = %e, "seek after a lost position failed");
            lock(&shared.resetting).remove(&m.key);
            return;
        }
        Err(_) => return,
    };
    let what = match m.reason {
        ResetReason::BeforeLogStart => "before the log start",
        _ => "past the log end; the broker answered empty fetches",
    };
    let detail = format!(
        "position {} is {what} (log {}..{}); sought to {to}",
        m.position, m.log_start, m.log_end
    );
    {
        let mut t = shared.tracker();
        shared.reset(&mut t, &m.key, m.reason, &detail);
    }
    lock(&shared.uncommitted).remove(&m.key);
    commit_position(consumer, &m.key, to);
}

fn add(
    m: &BorrowedMessage<'_>,
    open: &mut BTreeMap<Key, (u64, Batch)>,
    names: &mut HashMap<String, Arc<str>>,
    source: usize,
    shared: &Shared,
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
    let (_, b) = open.entry(key).or_insert_with_key(|key| {
        let mut b = Batch::new(source);
        b.topic = Some(topic);
        (shared.tracker().epoch(key), b)
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
    let (mut parent, mut state) = (None, None);
    if let Some(hs) = m.headers() {
        for h in hs.iter() {
            if h.key.eq_ignore_ascii_case("traceparent") {
                parent = h.value;
            } else if h.key.eq_ignore_ascii_case("tracestate") {
                state = h.value;
            }
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
    // The headers' bytes are in `buf` already: the trace refers to them.
    if let Some(t) = super::checked_trace(parent, state, m.topic()) {
        let find = |v: &[u8]| {
            b.headers[h0 as usize..h1 as usize]
                .iter()
                .filter_map(|(_, r)| r.clone())
                .find(|r| b.bytes(r) == v)
        };
        let (p, s) = (find(t.parent), t.state.and_then(find));
        if let Some(p) = p {
            b.trace_event(b.events.len() - 1, p, s);
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_reset_warnings_name_their_partition() {
        // librdkafka 2.12's wording (rdkafka_offset.c, rd_kafka_offset_reset).
        let line = "orders.v1 [3]: offset reset (at offset 187 (leader epoch 0), broker 1) to offset BEGINNING (leader epoch -1): fetch failed due to requested offset not available on the broker: Broker: Offset out of range";
        assert_eq!(
            offset_reset_partition(line),
            Some((Arc::from("orders.v1"), 3))
        );
        // As the log callback gets it (seen against librdkafka's mock
        // cluster), with the thread in front.
        let cached = "[thrd:main]: in [0]: offset reset (at offset 1000 (leader epoch 0), broker 1) to cached BEGINNING offset offset 0 (leader epoch -1): fetch failed due to requested offset not available on the broker: Broker: Offset out of range";
        assert_eq!(offset_reset_partition(cached), Some((Arc::from("in"), 0)));
        assert_eq!(
            offset_reset_partition("[thrd:main]: in [0]: Fetch backoff"),
            None
        );
        assert_eq!(
            offset_reset_partition("in [0]: Fetch backoff for 500ms"),
            None
        );
        assert_eq!(offset_reset_partition("no partition here"), None);
        assert_eq!(offset_reset_partition("in [x]: offset reset (at 1)"), None);
    }
}
