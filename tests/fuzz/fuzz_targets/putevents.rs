//! A PutEvents request body through `prepare_put_events` (and
//! `test_event_pattern`), as the HTTP source calls them: no panics, one
//! outcome per entry, a response whose counts add up, and accepted
//! envelopes that the pipeline's validating `normalise` keeps as they are.
//! See `tests/fuzz/checks.rs`.
#![no_main]

// Each target uses part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_putevents(data));
