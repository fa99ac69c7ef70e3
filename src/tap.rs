//! `busbar tap`: copies of the events a rule matches, for whoever watches.
//!
//! While a rule is watched, the workers copy the envelopes it matches into
//! their routed batch, and the dispatcher offers them to [`Taps`] as it
//! releases the batch, so a watcher sees a lane's events in order (two
//! workers finish batches in either order). The admin listener's `GET
//! /tap?rule=NAME` attaches a [`Subscription`] and streams it as NDJSON.
//! Watching must never slow routing, so:
//!
//! - With nobody attached, a worker does one relaxed atomic load per batch
//!   ([`Taps::any`]) and nothing else: no lock, no copy, no allocation.
//! - Each subscription is a bounded channel filled with `try_send`: when the
//!   watcher reads slower than the rule matches, the copies that do not fit
//!   are dropped and counted (what arrives is a sample), never waited for.
//! - A subscription ends when its stream is dropped (the client went away,
//!   or its limit was reached); from then on nothing is copied for it.
//!
//! Attached taps survive a reload: they name rules, not rule ids.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Copies held for a slow watcher before more are dropped.
pub const CHANNEL_EVENTS: usize = 256;

/// Every attached tap of the process.
#[derive(Default)]
pub struct Taps {
    /// Subscriptions attached: what the hot path looks at.
    active: AtomicUsize,
    subs: Mutex<Vec<Sub>>,
    next_id: AtomicU64,
}

struct Sub {
    id: u64,
    rule: Arc<str>,
    tx: mpsc::Sender<Bytes>,
    dropped: Arc<AtomicU64>,
}

/// One watcher's stream of copies. Dropping it detaches it.
pub struct Subscription {
    pub rx: mpsc::Receiver<Bytes>,
    /// Copies dropped because the stream was full.
    pub dropped: Arc<AtomicU64>,
    taps: Arc<Taps>,
    id: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.taps.detach(self.id);
    }
}

impl Taps {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Sub>> {
        match self.subs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Whether anyone watches: the only cost of taps on the hot path.
    #[inline]
    pub fn any(&self) -> bool {
        self.active.load(Ordering::Relaxed) != 0
    }

    /// Watch `rule`'s matches, `capacity` copies deep.
    pub fn attach(self: &Arc<Self>, rule: &str, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subs = self.lock();
        subs.push(Sub {
            id,
            rule: Arc::from(rule),
            tx,
            dropped: dropped.clone(),
        });
        self.active.store(subs.len(), Ordering::Relaxed);
        Subscription {
            rx,
            dropped,
            taps: self.clone(),
            id,
        }
    }

    fn detach(&self, id: u64) {
        let mut subs = self.lock();
        subs.retain(|s| s.id != id);
        self.active.store(subs.len(), Ordering::Relaxed);
    }

    /// Watchers of `rule` now.
    pub fn watching(&self, rule: &str) -> usize {
        self.lock().iter().filter(|s| &*s.rule == rule).count()
    }

    /// Which of `rules` someone watches (a worker asks once per batch, and
    /// only when [`Taps::any`]).
    pub fn watched<'a>(&self, rules: impl Iterator<Item = &'a str>) -> Vec<bool> {
        let subs = self.lock();
        rules.map(|r| subs.iter().any(|s| &*s.rule == r)).collect()
    }

    /// A copy of an envelope `rule` matched, for each of its watchers that
    /// has room; counted as dropped for the others.
    pub fn offer(&self, rule: &str, envelope: Bytes) {
        let subs = self.lock();
        for s in subs.iter().filter(|s| &*s.rule == rule) {
            if s.tx.try_send(envelope.clone()).is_err() {
                s.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_go_to_the_rules_watchers_and_overflow_is_counted() {
        let taps = Arc::new(Taps::default());
        assert!(!taps.any());
        let mut a = taps.attach("a", 2);
        let mut b = taps.attach("b", 8);
        assert!(taps.any());
        assert_eq!(
            taps.watched(["a", "c", "b"].into_iter()),
            [true, false, true]
        );
        for i in 0..5 {
            taps.offer("a", Bytes::from(format!("{{\"n\":{i}}}")));
        }
        taps.offer("b", Bytes::from_static(b"{}"));
        taps.offer("c", Bytes::from_static(b"{}"));
        assert_eq!(a.rx.try_recv().unwrap(), Bytes::from_static(b"{\"n\":0}"));
        assert_eq!(a.rx.try_recv().unwrap(), Bytes::from_static(b"{\"n\":1}"));
        assert!(a.rx.try_recv().is_err());
        assert_eq!(a.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(b.rx.try_recv().unwrap(), Bytes::from_static(b"{}"));
        assert_eq!(taps.watching("a"), 1);
        drop(a);
        drop(b);
        assert!(!taps.any(), "detached on drop");
        assert_eq!(taps.watching("a"), 0);
    }
}
