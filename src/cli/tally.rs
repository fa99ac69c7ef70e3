//! What `busbar filter` counts while it reads, and the `--stats` report made
//! from it (on stderr, one figure a line, as ripgrep's `--stats`).
//!
//! The counters are kept where they cost nothing per line: lines per input,
//! bytes per read, and the rest only on the rare lines they count (blank,
//! matched, invalid), so a run without `--stats` pays for none of it.

use std::fmt::Write as _;
use std::time::Duration;

use busbar::engine::{Automaton, RuleId};

/// The counts of one `filter` run, over every input.
pub(super) struct Tally {
    /// Lines read, blank ones included, and the blank ones: exact with
    /// --stats, which is all that reads them (without it, lines passed over
    /// in a mapped file go uncounted: see `Filter::count_lines`).
    pub lines: u64,
    pub blank: u64,
    /// Events that matched at least one rule.
    pub matched: u64,
    /// Matches per rule, indexed by `RuleId`; kept only for --count and
    /// --stats.
    pub per_rule: Vec<u64>,
    /// Lines that were found not to be valid events (every one under
    /// --validate; otherwise only those the prefilter let through).
    pub invalid: u64,
    pub bytes: u64,
    /// Inputs that could not be opened or read.
    pub unreadable: u64,
}

/// What the report needs beyond the counts.
pub(super) struct Run {
    pub compile: Duration,
    /// From the end of compiling to the end of the output.
    pub search: Duration,
    /// With --invert-match, the events it selected.
    pub selected: Option<u64>,
    /// Every line was parsed, so `invalid` counts every invalid line.
    pub validated: bool,
}

impl Tally {
    pub fn new(rules: usize) -> Tally {
        Tally {
            lines: 0,
            blank: 0,
            matched: 0,
            per_rule: vec![0; rules],
            invalid: 0,
            bytes: 0,
            unreadable: 0,
        }
    }

    /// Non-blank lines: the events read, invalid ones included.
    pub fn events(&self) -> u64 {
        self.lines - self.blank
    }

    /// The `--stats` text; `rules` names each rule's count (given for a
    /// --rules file, not for a single --pattern).
    pub fn report(&self, run: &Run, rules: Option<&Automaton>) -> String {
        let mut s = String::from("\n");
        let _ = writeln!(s, "{} events read", self.events());
        let _ = writeln!(s, "{} events matched", self.matched);
        if let Some(a) = rules {
            for (i, n) in self.per_rule.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{n} events matched rule {}",
                    a.rule_name(RuleId(i as u32))
                );
            }
        }
        if let Some(n) = run.selected {
            let _ = writeln!(s, "{n} events selected (valid, matching no rule)");
        }
        if run.validated {
            let _ = writeln!(s, "{} invalid lines", self.invalid);
        } else {
            let _ = writeln!(
                s,
                "{} invalid lines found (lines that could not match were not checked; --validate checks every line)",
                self.invalid
            );
        }
        let _ = writeln!(s, "{} blank lines", self.blank);
        let _ = writeln!(s, "{} bytes read", self.bytes);
        if self.unreadable > 0 {
            let _ = writeln!(s, "{} inputs could not be read", self.unreadable);
        }
        let secs = run.search.as_secs_f64();
        let _ = writeln!(s, "{:.6} seconds compiling", run.compile.as_secs_f64());
        let _ = writeln!(s, "{secs:.6} seconds reading and matching");
        // A run too short to time has no meaningful rate.
        let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
        let _ = writeln!(s, "{:.0} events/s", per_sec(self.events() as f64));
        let _ = writeln!(s, "{:.1} MB/s", per_sec(self.bytes as f64) / 1e6);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_the_counts_and_a_zero_time_gives_zero() {
        let t = Tally {
            lines: 12,
            blank: 2,
            matched: 4,
            per_rule: vec![],
            invalid: 1,
            bytes: 3_000_000,
            unreadable: 0,
        };
        let mut run = Run {
            compile: Duration::from_millis(1),
            search: Duration::from_secs(2),
            selected: None,
            validated: true,
        };
        let r = t.report(&run, None);
        assert!(
            r.contains("\n10 events read\n4 events matched\n1 invalid lines\n"),
            "{r}"
        );
        assert!(r.contains("\n5 events/s\n1.5 MB/s\n"), "{r}");
        run.search = Duration::ZERO;
        assert!(t.report(&run, None).contains("\n0 events/s\n0.0 MB/s\n"));
    }
}
