//! One line through the pipeline's envelope fast path and through the
//! validating `normalise`: wherever the fast path's result would be trusted
//! (it passes the matcher's validation and `detail` is the last key), both
//! must agree. See `tests/fuzz/checks.rs`.
#![no_main]

// Each target uses part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_envelope(data));
