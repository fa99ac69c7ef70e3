//! An `InputTransformer` (paths map and template) compiled and rendered
//! against an event, as the pipeline does: compile errors are errors, never
//! panics; rendering never panics; a JSON-shaped template that renders
//! renders JSON. Input layout and invariants: `tests/fuzz/checks.rs`.
#![no_main]

// Each target uses part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check_transform(data));
