//! Proof that the hot path does not allocate in steady state: flatten + match
//! the benchmark data twice under a counting global allocator; the second
//! pass must allocate nothing (simd-json's `tests/alloc.rs` does the same).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use busbar::bench::{citylots, RuleKind};
use busbar::engine::{Limits, RuleSetBuilder};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; the counter
// is a relaxed atomic and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn second_pass_allocates_nothing() {
    let data = citylots(3_000, 42);
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let mut b = RuleSetBuilder::new(Limits::default());
    for kind in RuleKind::all() {
        for (name, pattern) in kind.rules() {
            b.add(&format!("{}-{name}", kind.name()), &pattern)
                .expect("benchmark rules are valid");
        }
    }
    let automaton = b.build().expect("benchmark rules compile");
    let mut cache = automaton.cache();
    let mut pass = |checked: bool| -> usize {
        let mut matched = 0;
        for l in &lines {
            let r = if checked {
                automaton.find_checked(l, &mut cache)
            } else {
                automaton.find(l, &mut cache)
            };
            matched += r.expect("benchmark events are valid").len();
        }
        matched
    };
    let first = pass(true) + pass(false);
    assert!(first > 0, "the benchmark rules match some events");
    COUNTING.store(true, Ordering::Relaxed);
    let second = pass(true) + pass(false);
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(first, second);
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed),
        0,
        "allocations in steady state"
    );
}
