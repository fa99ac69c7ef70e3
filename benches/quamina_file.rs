//! quamina-rs 0.7's in-memory matching loop over an NDJSON file: the
//! comparison the end-to-end `busbar filter` figures of
//! `benches/filter-formats.sh` are set beside.
//!
//! The file is read into memory and split into lines before the clock
//! starts, and quamina's rules are built before it too, so the time is
//! matching alone (`Quamina::matches_for_event` per line): the most
//! favourable figure for quamina, against busbar's process start, compile
//! and read included.
//!
//! Usage: `cargo bench --bench quamina_file -- RULE_SET FILE`, where
//! RULE_SET is a benchmark rule set's name (`busbar gen-citylots --rules`
//! takes the same names). Prints one line: `matched-events nanoseconds`,
//! the best of `QUAMINA_RUNS` passes (default 5), or `n/a` when quamina
//! cannot express the rule set. Under `cargo test --benches` it checks
//! itself on 1,000 generated events instead: quamina and busbar's
//! automaton select the same events.

use std::hint::black_box;
use std::time::Instant;

use busbar::bench::{citylots_formatted, rule_set, Format};
use quamina::Quamina;

#[path = "shared/quamina.rs"]
mod quamina_setup;
use quamina_setup::build;

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

/// Events with at least one match.
fn pass(q: &Quamina<u32>, lines: &[&[u8]]) -> usize {
    lines
        .iter()
        .filter(|l| {
            !q.matches_for_event(l)
                .expect("quamina rejects an event")
                .is_empty()
        })
        .count()
}

fn self_check() {
    use busbar::engine::{Automaton, Limits, RuleSetBuilder};
    for format in Format::ndjson() {
        let data = citylots_formatted(1_000, 42, *format);
        let lines = lines(&data);
        for kind in ["exact", "prefix", "anything_but", "equals_ignore_case"] {
            let q = build(&rule_set(kind, true).unwrap().unwrap()).unwrap();
            let mut b = RuleSetBuilder::new(Limits::default());
            for (name, text) in rule_set(kind, false).unwrap().unwrap() {
                b.add(&name, &text).unwrap();
            }
            let automaton: Automaton = b.build().unwrap();
            let mut cache = automaton.cache();
            let ours = lines
                .iter()
                .filter(|l| !automaton.find(l, &mut cache).unwrap().is_empty())
                .count();
            assert_eq!(pass(&q, &lines), ours, "{kind} on {}", format.name());
        }
    }
    println!("quamina_file: quamina and busbar agree on 1,000 events of every formatting");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if !std::env::args().any(|a| a == "--bench") {
        return self_check();
    }
    let [set, file] = &args[..] else {
        eprintln!("usage: cargo bench --bench quamina_file -- RULE_SET FILE");
        std::process::exit(2);
    };
    let rules = rule_set(set, true).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let Some(rules) = rules else {
        println!("n/a");
        return;
    };
    let bytes = std::fs::read(file).unwrap_or_else(|e| {
        eprintln!("{file}: {e}");
        std::process::exit(2)
    });
    let lines = lines(&bytes);
    let q = build(&rules).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let runs: usize = std::env::var("QUAMINA_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let mut best = u128::MAX;
    let mut matched = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        matched = black_box(pass(&q, &lines));
        best = best.min(start.elapsed().as_nanos());
    }
    println!("{matched} {best}");
}
