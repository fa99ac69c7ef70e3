//! Pattern text → `parse`, `RuleSetBuilder::add` and `build`.
//!
//! Invariants:
//! - none of them panics (libFuzzer reports a panic as a crash);
//! - `parse` is deterministic;
//! - when `parse` accepts the text, `add` accepts it too, unless the engine's
//!   own limits reject it (wildcard complexity, fields per `$or` branch);
//!   when `parse` rejects it, `add` rejects it with the same reason;
//! - a built automaton agrees with the naive matcher on a few fixed events
//!   (cheap; the `match` target does this properly).
//!
//! Input that is not UTF-8 is skipped: the API only takes `&str`.
#![no_main]

// Each target uses part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_pattern(data));
