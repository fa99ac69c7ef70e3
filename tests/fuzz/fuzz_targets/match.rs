//! Events against the automaton, checked against the naive reference matcher.
//!
//! Input layout: the first line (up to the first `\n`) is a pattern, the rest
//! is an event. Two checks run on every input:
//!
//! 1. One rule. When the first line is a pattern `RuleSetBuilder` accepts and
//!    the rule set builds: `find_checked` does not panic and agrees with
//!    `naive::matches` (both `Ok` with the same answer, or both `Err`), and
//!    `find` returns exactly what `find_checked` returns whenever
//!    `find_checked` is `Ok`.
//! 2. A fixed automaton of hand-written rules covering every operator
//!    (`tests/fuzz/fixed_rules.txt`), matched against the whole input and against the event part
//!    as events: `find` agrees with `find_checked`, and per rule membership in
//!    `find_checked`'s answer agrees with `naive::matches` of that rule alone.
//!
//! Each event is matched twice with the same cache (once with a different
//! event in between) so that state leaking from one event into the next shows
//! up too.
#![no_main]

// Each target uses part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_match_input(data));
