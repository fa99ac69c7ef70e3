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
//!
//! `QUAMINA_VALIDATE=serde_json` (or `simd-json`) also validates each event
//! quamina selects with that parser, and counts it only when it is valid
//! JSON: what `busbar filter` promises of the events it selects, which
//! quamina's loop alone does not check (it reads an event only up to the
//! last field its rules need). The comparison for rule sets that select
//! most events, where validating them is most of busbar's time.

use std::hint::black_box;
use std::time::Instant;

use busbar::bench::{citylots_formatted, rule_set, Format};
use quamina::Quamina;

#[path = "shared/simd_tape.rs"]
mod simd_tape;
use simd_tape::SimdTape;

#[path = "shared/quamina.rs"]
mod quamina_setup;
use quamina_setup::build;

/// What checks a selected event's JSON (`QUAMINA_VALIDATE`).
enum Validator {
    None,
    SerdeJson,
    SimdJson(SimdTape),
}

impl Validator {
    /// The validator `QUAMINA_VALIDATE` names (none when unset or empty).
    fn named(name: &str) -> Result<Self, String> {
        match name {
            "" => Ok(Self::None),
            "serde_json" => Ok(Self::SerdeJson),
            "simd-json" => Ok(Self::SimdJson(SimdTape::new())),
            other => Err(format!(
                "QUAMINA_VALIDATE={other}: expected serde_json or simd-json"
            )),
        }
    }

    /// Whether `line` is valid JSON (always, with no validator).
    fn valid(&mut self, line: &[u8]) -> bool {
        match self {
            Self::None => true,
            Self::SerdeJson => serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok(),
            Self::SimdJson(tape) => tape.tape_len(line).is_some(),
        }
    }
}

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

/// Events with at least one match (that `validator` finds valid).
fn pass(q: &Quamina<u32>, lines: &[&[u8]], validator: &mut Validator) -> usize {
    lines
        .iter()
        .filter(|l| {
            !q.matches_for_event(l)
                .expect("quamina rejects an event")
                .is_empty()
                && validator.valid(l)
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
            assert_eq!(
                pass(&q, &lines, &mut Validator::None),
                ours,
                "{kind} on {}",
                format.name()
            );
            for name in ["serde_json", "simd-json"] {
                let mut validator = Validator::named(name).unwrap();
                assert_eq!(pass(&q, &lines, &mut validator), ours, "{kind}, {name}");
                assert!(
                    !validator.valid(b"{\"a\":[1,}"),
                    "{name} takes invalid JSON"
                );
            }
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
    let name = std::env::var("QUAMINA_VALIDATE").unwrap_or_default();
    let mut validator = Validator::named(&name).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut best = u128::MAX;
    let mut matched = 0;
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        matched = black_box(pass(&q, &lines, &mut validator));
        best = best.min(start.elapsed().as_nanos());
    }
    println!("{matched} {best}");
}
