//! Proof that the hot path does not allocate in steady state: flatten + match
//! the benchmark data twice under a counting global allocator; the second
//! pass must allocate nothing (simd-json's `tests/alloc.rs` does the same).
//! Two rule sets: the benchmark's, and a thousand wildcards that the engine
//! matches by their literal pieces rather than a DFA; the events in every
//! formatting of [`Format`] (spaces, escapes, shuffled keys, indentation).
//! Then the CloudEvents writers of `http` and `kafka` targets, over buffers
//! they reuse.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use busbar::bench::{citylots, reformat, Format, RuleKind};
use busbar::engine::{Automaton, Limits, RuleSetBuilder};

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

/// Flatten + match every line twice (`find_checked` and `find`), counting
/// allocations in the second pass only; returns (matches, allocations).
fn second_pass_allocations(automaton: &Automaton, lines: &[&[u8]]) -> (usize, usize) {
    let mut cache = automaton.cache();
    let mut pass = |checked: bool| -> usize {
        let mut matched = 0;
        for l in lines {
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
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let second = pass(true) + pass(false);
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(first, second);
    (first, ALLOCS.load(Ordering::Relaxed))
}

/// One test, so that no other test allocates while this one counts.
#[test]
fn second_pass_allocates_nothing() {
    let data = citylots(1_000, 42);
    let mut events: Vec<Vec<u8>> = Vec::new();
    for &format in Format::all() {
        for (i, line) in data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .enumerate()
        {
            let mut event = Vec::new();
            reformat(line, format, i as u64, &mut event);
            events.push(event);
        }
    }
    let lines: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();

    // Every benchmark rule set at once.
    let mut b = RuleSetBuilder::new(Limits::default());
    for kind in RuleKind::all() {
        for (name, pattern) in kind.rules() {
            b.add(&format!("{}-{name}", kind.name()), &pattern)
                .expect("benchmark rules are valid");
        }
    }
    let automaton = b.build().expect("benchmark rules compile");
    let (matched, allocs) = second_pass_allocations(&automaton, &lines);
    assert!(matched > 0, "the benchmark rules match some events");
    assert_eq!(allocs, 0, "allocations in steady state, benchmark rules");

    // 1,000 wildcards of two or three stars on one field, which the engine
    // matches by their literal pieces, beside an exact rule on that field.
    let mut b = RuleSetBuilder::new(Limits::default());
    for i in 0..1000 {
        let glob = match i % 3 {
            0 => format!("*{:03}*{}*", i % 700, i % 10),
            1 => format!("0*{:03}*{}", i % 700, i % 10),
            _ => format!("*{}*{:02}*{}", i % 10, i % 100, i % 7),
        };
        let pattern = format!(r#"{{"properties":{{"MAPBLKLOT":[{{"wildcard":"{glob}"}}]}}}}"#);
        b.add(&format!("w{i}"), &pattern).expect("valid wildcard");
    }
    b.add("exact", r#"{"properties":{"MAPBLKLOT":["0001001"]}}"#)
        .expect("valid exact rule");
    let automaton = b.build().expect("the wildcards compile");
    assert_eq!(automaton.piece_globs(), 1000, "matched by their pieces");
    let (matched, allocs) = second_pass_allocations(&automaton, &lines);
    assert!(
        matched > 1000,
        "the wildcards match many events ({matched})"
    );
    assert_eq!(allocs, 0, "allocations in steady state, wildcard pieces");

    assert_eq!(
        cloudevents_second_pass_allocations(),
        0,
        "allocations in steady state, CloudEvents attributes and bodies"
    );
}

/// The CloudEvents writers over 1,000 envelopes, twice, into reused
/// buffers: reading the attributes, the structured body, the HTTP binary
/// headers and the Kafka headers of each; allocations of the second pass.
fn cloudevents_second_pass_allocations() -> usize {
    use busbar::handoff::Trace;
    use busbar::targets::cloudevents::{data, Attributes};
    let envelopes: Vec<String> = (0..1000)
        .map(|i| {
            format!(
                r#"{{"version":"0","id":"id-{i}","detail-type":"Order Placed","source":"shop.orders","account":"123456789012","time":"2026-11-23T10:00:{:02}Z","region":"eu-west-1","resources":["arn:aws:shop:order/{i}"],"detail":{{"n":{i},"s":"é"}}}}"#,
                i % 60
            )
        })
        .collect();
    let trace = Trace {
        parent: b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        state: Some(b"k=v"),
    };
    let (mut body, mut headers) = (Vec::new(), Vec::new());
    let mut pass = || {
        let mut written = 0;
        for (i, e) in envelopes.iter().enumerate() {
            let a = Attributes::read(e.as_bytes()).expect("valid envelope");
            let t = (i % 2 == 0).then_some(trace);
            body.clear();
            a.write_structured(data(&a, None, false), t, &mut body);
            headers.clear();
            a.write_http_headers(t, &mut headers, |_, r| written += r.len());
            a.kafka_headers(t, |_, v| written += v.len());
            written += body.len();
        }
        written
    };
    let first = pass();
    ALLOCS.store(0, Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let second = pass();
    COUNTING.store(false, Ordering::Relaxed);
    assert_eq!(first, second);
    ALLOCS.load(Ordering::Relaxed)
}
