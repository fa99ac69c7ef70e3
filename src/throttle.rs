//! Log lines about a condition that repeats: a target that keeps failing,
//! events addressed to another bus, a broker that stays unreachable.
//!
//! Each of those can happen thousands of times a second, and a line per
//! occurrence buries everything else in the log (a stdout target whose
//! reader had gone wrote 19,999 warnings; a bridge with no broker wrote 490
//! lines in 7 s). A [`Throttle`] lets the first occurrence through at once,
//! then at most one line per interval that says how many were left out, and
//! one line when the condition ends. It only decides; the caller writes the
//! line, with the fields that say what happened.
//!
//! The common case, nothing wrong, costs one relaxed atomic load
//! ([`Throttle::cleared`]): no lock, no clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a condition that persists is logged again, unless a caller
/// picks its own interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);

/// The log state of one condition (one target, one source, one client).
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    /// Set while the condition holds: lets [`Throttle::cleared`] skip the
    /// lock when it does not.
    active: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the last line was written, while the condition holds.
    last: Option<Instant>,
    /// Occurrences not logged since that line.
    suppressed: u64,
    /// Occurrences since the condition began.
    total: u64,
}

/// What the caller should log for one occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// The condition began: log it, in full.
    First,
    /// It goes on: log it again, with how many occurrences were not logged
    /// since the last line.
    Again { suppressed: u64 },
    /// Logged recently: say nothing (it is counted).
    Quiet,
}

impl Throttle {
    pub const fn new(every: Duration) -> Self {
        Throttle {
            every,
            active: AtomicBool::new(false),
            state: Mutex::new(State {
                last: None,
                suppressed: 0,
                total: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// One more occurrence, at `now`.
    pub fn occurred(&self, now: Instant) -> Say {
        let mut s = self.lock();
        s.total += 1;
        self.active.store(true, Ordering::Relaxed);
        match s.last {
            None => {
                s.last = Some(now);
                Say::First
            }
            Some(t) if now.saturating_duration_since(t) >= self.every => {
                s.last = Some(now);
                let suppressed = std::mem::take(&mut s.suppressed);
                Say::Again { suppressed }
            }
            Some(_) => {
                s.suppressed += 1;
                Say::Quiet
            }
        }
    }

    /// The condition ended (a delivery went through): `Some(occurrences
    /// since it began)` the first time after it held, for the one line that
    /// says so; `None` when it did not hold. One atomic load when it did not.
    pub fn cleared(&self) -> Option<u64> {
        if !self.active.load(Ordering::Relaxed) {
            return None;
        }
        let mut s = self.lock();
        if !self.active.swap(false, Ordering::Relaxed) {
            return None;
        }
        let total = s.total;
        *s = State::default();
        Some(total)
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(DEFAULT_INTERVAL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_then_one_line_per_interval_with_the_count_left_out() {
        let t = Throttle::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(t.occurred(t0), Say::First);
        for i in 1..=99 {
            assert_eq!(t.occurred(t0 + Duration::from_millis(i * 10)), Say::Quiet);
        }
        assert_eq!(
            t.occurred(t0 + Duration::from_secs(10)),
            Say::Again { suppressed: 99 }
        );
        assert_eq!(t.occurred(t0 + Duration::from_secs(11)), Say::Quiet);
        assert_eq!(
            t.occurred(t0 + Duration::from_secs(20)),
            Say::Again { suppressed: 1 }
        );
        assert_eq!(t.cleared(), Some(103));
        assert_eq!(t.cleared(), None, "one recovery line, not one per success");
        // A new episode starts over with a line of its own.
        assert_eq!(t.occurred(t0 + Duration::from_secs(21)), Say::First);
    }

    #[test]
    fn nothing_to_clear_when_nothing_happened() {
        let t = Throttle::default();
        assert_eq!(t.cleared(), None);
    }

    #[test]
    fn threads_share_one_line_per_interval() {
        let t = std::sync::Arc::new(Throttle::new(Duration::from_secs(3600)));
        let now = Instant::now();
        let lines: usize = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..1000).filter(|_| t.occurred(now) != Say::Quiet).count()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(lines, 1);
        assert_eq!(t.cleared(), Some(4000));
    }
}
