//! At-least-once bookkeeping for the Kafka source: which offset of each
//! partition may be committed.
//!
//! The pipeline hands a partition's messages out in offset order but they
//! complete (delivered to every target, or dead-lettered) in any order: one
//! slow HTTP target holds back an early message while later ones finish. If
//! the consumer committed the newest completed offset, a crash would lose the
//! slow one. So the commit position of a partition is the *lowest offset still
//! outstanding*; when nothing is outstanding it is the offset after the last
//! one tracked, which is what Kafka expects as a commit ("the next message to
//! read"). Offsets need not be contiguous — compaction and transaction markers
//! leave gaps — so the tracker remembers the offsets it was given instead of
//! counting.
//!
//! Cost: each partition keeps its not-yet-committable messages in a
//! `VecDeque<(offset, done)>` ordered by offset. Tracking pushes at the back;
//! completing the head (the usual case when targets keep up) pops it and every
//! completed entry behind it, so both are O(1) amortised; completing a message
//! behind a slow head is a binary search. The deque keeps its capacity, so in
//! steady state no message allocates. Memory is one entry per message between
//! the oldest outstanding one and the newest tracked one. The in-flight
//! budget does not bound that (a failing target's backlog holds copies of
//! old messages while later ones flow past), so the source stops taking
//! messages of a partition whose span reaches its limit.
//!
//! A partition's tracking can start over: when it is revoked, and when the
//! broker no longer has the position (an offset reset after a broker lost
//! its data or a topic was recreated). Offsets after such a reset name
//! other messages than the same offsets before it, so an ack of an event
//! fetched before the reset must not complete (or move the commit position
//! of) the message that now has its offset. Each start is an *epoch* of the
//! partition; [`OffsetTracker::complete_in`] ignores acks of older epochs.
//! Those events are still delivered; they just no longer count for commits.
//!
//! Nothing here knows about rdkafka or tokio: the source feeds it offsets and
//! asks [`OffsetTracker::drain_committable`] what to store.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The commit position of one partition. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct PartitionTracker {
    /// Messages from the oldest outstanding one to the newest tracked one,
    /// in increasing offset order; `true` once completed. Invariant: the
    /// front, if any, is not completed.
    pending: VecDeque<(i64, bool)>,
    /// The newest tracked offset.
    last: Option<i64>,
    /// Number of entries in `pending` not yet completed.
    outstanding: usize,
}

impl PartitionTracker {
    /// An empty tracker: nothing committable until the first message.
    pub fn new() -> Self {
        Self::default()
    }

    /// A message at `offset` entered the pipeline.
    ///
    /// Offsets must be strictly increasing. One that is not (a bug in the
    /// caller, which debug builds catch) is ignored: it is at or behind a
    /// position already tracked, so ignoring it can not move the commit
    /// position past an undelivered message that was tracked properly.
    pub fn track(&mut self, offset: i64) {
        debug_assert!(
            self.last.is_none_or(|last| offset > last),
            "offset {offset} tracked after {:?}",
            self.last
        );
        if self.last.is_some_and(|last| offset <= last) {
            return;
        }
        self.last = Some(offset);
        self.pending.push_back((offset, false));
        self.outstanding += 1;
    }

    /// The message at `offset` was delivered or dead-lettered.
    ///
    /// Returns `false`, changing nothing, for an offset that is not
    /// outstanding: never tracked, or completed before (a duplicate ack).
    pub fn complete(&mut self, offset: i64) -> bool {
        let index = match self.pending.front() {
            // The common case: targets finish in order.
            Some(&(head, _)) if head == offset => 0,
            Some(_) => match self.pending.binary_search_by_key(&offset, |&(o, _)| o) {
                Ok(index) => index,
                Err(_) => return false,
            },
            None => return false,
        };
        let Some(entry) = self.pending.get_mut(index) else {
            return false;
        };
        if entry.1 {
            return false;
        }
        entry.1 = true;
        self.outstanding -= 1;
        if index == 0 {
            while self.pending.front().is_some_and(|&(_, done)| done) {
                self.pending.pop_front();
            }
        }
        true
    }

    /// The Kafka commit position: the lowest outstanding offset, or the
    /// newest tracked offset + 1 when none is outstanding; `None` before the
    /// first message. Never moves backwards.
    pub fn committable(&self) -> Option<i64> {
        match self.pending.front() {
            Some(&(offset, _)) => Some(offset),
            None => self.last.map(|last| last.saturating_add(1)),
        }
    }

    /// Messages tracked and not yet completed.
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// The newest tracked offset; `None` before the first message.
    pub fn last(&self) -> Option<i64> {
        self.last
    }

    /// Messages remembered: from the oldest outstanding one to the newest
    /// tracked one, completed or not. What this tracker's memory grows with.
    pub fn span(&self) -> usize {
        self.pending.len()
    }
}

/// Commit positions of every partition this consumer owns, keyed by `K`
/// (for example `(Arc<str>, i32)`: topic and partition).
#[derive(Debug, Clone)]
pub struct OffsetTracker<K> {
    partitions: HashMap<K, Partition>,
    /// How many times each partition's tracking started over. Kept when a
    /// partition is forgotten, so an ack from before can never match again;
    /// one entry per partition ever seen, which the topics bound.
    epochs: HashMap<K, u64>,
}

#[derive(Debug, Clone, Default)]
struct Partition {
    tracker: PartitionTracker,
    /// The position last returned by `drain_committable`.
    reported: Option<i64>,
}

impl<K> Default for OffsetTracker<K> {
    fn default() -> Self {
        Self {
            partitions: HashMap::new(),
            epochs: HashMap::new(),
        }
    }
}

impl<K: Eq + Hash + Clone> OffsetTracker<K> {
    /// No partitions.
    pub fn new() -> Self {
        Self::default()
    }

    /// A message of partition `key` at `offset` entered the pipeline; see
    /// [`PartitionTracker::track`]. The key is cloned only the first time a
    /// partition is seen.
    pub fn track(&mut self, key: &K, offset: i64) {
        if let Some(partition) = self.partitions.get_mut(key) {
            partition.tracker.track(offset);
        } else {
            let mut partition = Partition::default();
            partition.tracker.track(offset);
            self.partitions.insert(key.clone(), partition);
        }
    }

    /// The message of partition `key` at `offset` was delivered or
    /// dead-lettered. `false` for an unknown partition or offset, or a
    /// duplicate: a late ack for a revoked partition lands here.
    pub fn complete(&mut self, key: &K, offset: i64) -> bool {
        self.partitions
            .get_mut(key)
            .is_some_and(|partition| partition.tracker.complete(offset))
    }

    /// [`complete`](Self::complete) for a message tracked in `epoch` of
    /// partition `key`: `false`, changing nothing, when the partition has
    /// started over since (revoked, or its offsets reset).
    pub fn complete_in(&mut self, key: &K, epoch: u64, offset: i64) -> bool {
        self.epoch(key) == epoch && self.complete(key, offset)
    }

    /// The current epoch of partition `key`: 0 until it first starts over.
    pub fn epoch(&self, key: &K) -> u64 {
        self.epochs.get(key).copied().unwrap_or(0)
    }

    /// The newest offset tracked for partition `key` in its current epoch.
    pub fn last(&self, key: &K) -> Option<i64> {
        self.partitions
            .get(key)
            .and_then(|partition| partition.tracker.last())
    }

    /// Start partition `key` over (the broker no longer has its position):
    /// forget what was tracked, without a position to commit (the old one
    /// names messages the broker no longer has), and begin a new epoch,
    /// which it returns. The next offset tracked may be lower than before.
    pub fn reset(&mut self, key: &K) -> u64 {
        self.partitions.remove(key);
        self.next_epoch(key)
    }

    fn next_epoch(&mut self, key: &K) -> u64 {
        match self.epochs.get_mut(key) {
            Some(epoch) => {
                *epoch += 1;
                *epoch
            }
            None => {
                self.epochs.insert(key.clone(), 1);
                1
            }
        }
    }

    /// The commit position of partition `key`; see
    /// [`PartitionTracker::committable`].
    pub fn committable(&self, key: &K) -> Option<i64> {
        self.partitions
            .get(key)
            .and_then(|partition| partition.tracker.committable())
    }

    /// The partitions whose commit position changed since the previous call,
    /// each with its new position. Each advance is reported once; a partition
    /// that did not move is skipped. Visits every partition, so call it per
    /// commit interval, not per message.
    pub fn drain_committable(&mut self) -> impl Iterator<Item = (K, i64)> + '_ {
        self.partitions.iter_mut().filter_map(|(key, partition)| {
            let position = partition.tracker.committable()?;
            if partition.reported == Some(position) {
                return None;
            }
            partition.reported = Some(position);
            Some((key.clone(), position))
        })
    }

    /// Forget partition `key` (revoked in a rebalance) and return its last
    /// commit position, for a final synchronous commit. Later acks for it
    /// are ignored (a new epoch begins); if it is assigned again it starts
    /// afresh from whatever the consumer reads next.
    pub fn remove(&mut self, key: &K) -> Option<i64> {
        let position = self
            .partitions
            .remove(key)
            .and_then(|partition| partition.tracker.committable());
        self.next_epoch(key);
        position
    }

    /// Outstanding messages of partition `key` (0 for an unknown one).
    pub fn outstanding(&self, key: &K) -> usize {
        self.partitions
            .get(key)
            .map_or(0, |partition| partition.tracker.outstanding())
    }

    /// Messages remembered for partition `key` (see [`PartitionTracker::span`]).
    pub fn span(&self, key: &K) -> usize {
        self.partitions
            .get(key)
            .map_or(0, |partition| partition.tracker.span())
    }

    /// Outstanding messages over all partitions. Visits every partition.
    pub fn total_outstanding(&self) -> usize {
        self.partitions
            .values()
            .map(|partition| partition.tracker.outstanding())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn empty_has_no_position() {
        let tracker = PartitionTracker::new();
        assert_eq!(tracker.committable(), None);
        assert_eq!(tracker.outstanding(), 0);
    }

    #[test]
    fn slow_head_holds_back_the_position() {
        let mut tracker = PartitionTracker::new();
        for offset in [10, 11, 15, 16] {
            tracker.track(offset);
        }
        assert_eq!(tracker.committable(), Some(10));
        assert!(tracker.complete(15));
        assert!(tracker.complete(11));
        assert_eq!(tracker.committable(), Some(10));
        assert!(tracker.complete(10));
        // 11 and 15 are done, so the position jumps over them and the gap.
        assert_eq!(tracker.committable(), Some(16));
        assert!(tracker.complete(16));
        assert_eq!(tracker.committable(), Some(17));
        assert_eq!(tracker.outstanding(), 0);
    }

    #[test]
    fn unknown_and_duplicate_acks_are_ignored() {
        let mut tracker = PartitionTracker::new();
        tracker.track(3);
        tracker.track(5);
        assert!(!tracker.complete(4));
        assert!(!tracker.complete(99));
        assert!(tracker.complete(5));
        assert!(!tracker.complete(5));
        assert!(tracker.complete(3));
        assert!(!tracker.complete(3));
        assert_eq!(tracker.committable(), Some(6));
    }

    #[test]
    fn steady_state_does_not_grow() {
        let mut tracker = PartitionTracker::new();
        for offset in 0..10_000 {
            tracker.track(offset);
            if offset >= 8 {
                assert!(tracker.complete(offset - 8));
            }
        }
        assert_eq!(tracker.outstanding(), 8);
        assert!(tracker.pending.capacity() < 64);
    }

    #[test]
    fn partitions_are_independent_and_remove_forgets() {
        let mut tracker = OffsetTracker::new();
        let (a, b) = (("orders", 0), ("orders", 1));
        tracker.track(&a, 0);
        tracker.track(&a, 1);
        tracker.track(&b, 7);
        assert!(tracker.complete(&a, 0));
        let mut drained: Vec<_> = tracker.drain_committable().collect();
        drained.sort();
        assert_eq!(drained, [(a, 1), (b, 7)]);
        assert_eq!(tracker.drain_committable().count(), 0);
        assert_eq!(tracker.total_outstanding(), 2);
        assert_eq!(tracker.epoch(&b), 0);
        assert_eq!(tracker.remove(&b), Some(7));
        assert_eq!(tracker.epoch(&b), 1);
        assert!(!tracker.complete(&b, 7));
        assert_eq!(tracker.outstanding(&b), 0);
        assert_eq!(tracker.committable(&b), None);
        assert_eq!(tracker.total_outstanding(), 1);
    }

    #[test]
    fn a_reset_forgets_the_position_and_ignores_older_acks() {
        let mut tracker = OffsetTracker::new();
        let p = ("orders", 0);
        for offset in [100, 101, 102] {
            tracker.track(&p, offset);
        }
        assert!(tracker.complete_in(&p, 0, 100));
        assert_eq!(tracker.drain_committable().collect::<Vec<_>>(), [(p, 101)]);
        // The broker came back empty: the partition starts over at 0.
        assert_eq!(tracker.reset(&p), 1);
        assert_eq!(tracker.committable(&p), None);
        assert_eq!(tracker.drain_committable().count(), 0);
        tracker.track(&p, 0);
        tracker.track(&p, 101);
        // The event fetched at 101 before the reset is delivered late: it
        // must not complete the new message at 101, nor move the position.
        assert!(!tracker.complete_in(&p, 0, 101));
        assert!(!tracker.complete_in(&p, 0, 102));
        assert_eq!(tracker.outstanding(&p), 2);
        assert!(tracker.complete_in(&p, 1, 0));
        assert_eq!(tracker.drain_committable().collect::<Vec<_>>(), [(p, 101)]);
        assert_eq!(tracker.last(&p), Some(101));
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Track the next offset of partition `p`, `gap` after the previous.
        Track {
            p: usize,
            gap: i64,
        },
        /// Complete an outstanding message of `p`, chosen by `pick`.
        Complete {
            p: usize,
            pick: usize,
        },
        /// Complete something that is not outstanding.
        Bogus {
            p: usize,
            offset: i64,
        },
        /// The broker lost `p`'s position: start over at `restart`, which
        /// may be below the offsets tracked so far.
        Reset {
            p: usize,
            restart: i64,
        },
        /// A late ack of a message tracked before a reset, chosen by `pick`.
        Stale {
            p: usize,
            pick: usize,
        },
        Drain,
    }

    const PARTITIONS: usize = 3;

    fn op() -> impl Strategy<Value = Op> {
        let p = 0..PARTITIONS;
        prop_oneof![
            4 => (p.clone(), 1i64..4).prop_map(|(p, gap)| Op::Track { p, gap }),
            4 => (p.clone(), any::<usize>()).prop_map(|(p, pick)| Op::Complete { p, pick }),
            1 => (p.clone(), -2i64..200).prop_map(|(p, offset)| Op::Bogus { p, offset }),
            1 => (p.clone(), 0i64..50).prop_map(|(p, restart)| Op::Reset { p, restart }),
            2 => (p, any::<usize>()).prop_map(|(p, pick)| Op::Stale { p, pick }),
            1 => Just(Op::Drain),
        ]
    }

    /// The obvious model: a set of outstanding offsets and the last one.
    #[derive(Default, Clone)]
    struct Model {
        outstanding: BTreeSet<i64>,
        last: Option<i64>,
        /// Where tracking starts after a reset.
        restart: Option<i64>,
        epoch: u64,
        /// Messages still outstanding when their epoch ended.
        stale: Vec<(u64, i64)>,
    }

    impl Model {
        fn committable(&self) -> Option<i64> {
            match self.outstanding.first() {
                Some(&lowest) => Some(lowest),
                None => self.last.map(|last| last + 1),
            }
        }
    }

    proptest! {
        #[test]
        fn matches_the_model(start in 0i64..1000, ops in prop::collection::vec(op(), 0..400)) {
            let mut tracker = OffsetTracker::new();
            let mut models = vec![Model::default(); PARTITIONS];
            let mut reported: Vec<Option<i64>> = vec![None; PARTITIONS];
            let mut previous: Vec<Option<i64>> = vec![None; PARTITIONS];
            for op in ops {
                match op {
                    Op::Track { p, gap } => {
                        let first = models[p].restart.unwrap_or(start);
                        let offset = models[p].last.map_or(first, |last| last + gap);
                        tracker.track(&p, offset);
                        models[p].last = Some(offset);
                        models[p].outstanding.insert(offset);
                    }
                    Op::Complete { p, pick } => {
                        let model = &mut models[p];
                        if model.outstanding.is_empty() {
                            continue;
                        }
                        let index = pick % model.outstanding.len();
                        let offset = model.outstanding.iter().nth(index).copied();
                        let Some(offset) = offset else { continue };
                        model.outstanding.remove(&offset);
                        prop_assert!(tracker.complete_in(&p, model.epoch, offset));
                    }
                    Op::Bogus { p, offset } => {
                        let known = models[p].outstanding.contains(&offset);
                        prop_assert_eq!(tracker.complete(&p, offset), known);
                        models[p].outstanding.remove(&offset);
                    }
                    Op::Reset { p, restart } => {
                        let model = &mut models[p];
                        let old = model.epoch;
                        model.stale.extend(model.outstanding.iter().map(|&o| (old, o)));
                        model.outstanding.clear();
                        model.last = None;
                        model.restart = Some(restart);
                        model.epoch = tracker.reset(&p);
                        prop_assert_eq!(model.epoch, old + 1);
                        reported[p] = None;
                        previous[p] = None;
                    }
                    Op::Stale { p, pick } => {
                        let model = &mut models[p];
                        if model.stale.is_empty() {
                            continue;
                        }
                        let (epoch, offset) = model.stale.swap_remove(pick % model.stale.len());
                        // Even where the new epoch tracks the same offset.
                        prop_assert!(!tracker.complete_in(&p, epoch, offset));
                    }
                    Op::Drain => {
                        let mut seen = [false; PARTITIONS];
                        for (p, position) in tracker.drain_committable() {
                            prop_assert!(!seen[p], "partition {} reported twice", p);
                            seen[p] = true;
                            prop_assert_eq!(Some(position), models[p].committable());
                            prop_assert_ne!(Some(position), reported[p]);
                            reported[p] = Some(position);
                        }
                        for p in 0..PARTITIONS {
                            // Whatever was not reported did not move.
                            prop_assert_eq!(reported[p], models[p].committable());
                        }
                    }
                }
                for (p, model) in models.iter().enumerate() {
                    let now = tracker.committable(&p);
                    prop_assert_eq!(now, model.committable());
                    prop_assert!(now >= previous[p], "position moved back");
                    previous[p] = now;
                    prop_assert_eq!(tracker.outstanding(&p), model.outstanding.len());
                    prop_assert_eq!(tracker.epoch(&p), model.epoch);
                    prop_assert_eq!(tracker.last(&p), model.last);
                }
                let total: usize = models.iter().map(|m| m.outstanding.len()).sum();
                prop_assert_eq!(tracker.total_outstanding(), total);
            }
        }
    }
}
