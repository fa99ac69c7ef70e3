//! Criterion benchmarks of the busbar engine on citylots-like data, compared
//! with quamina-rs, then a one-run summary table (markdown, stdout).
//!
//! Every group runs on the same events in each formatting of
//! [`Format`] (compact, python, spaced, escaped, shuffled; see
//! `busbar::bench::Format`); the scale and compile groups on compact only.
//!
//! Groups (every id ends with the data set, "citylots-like, N events, seed 42,
//! FORMAT"):
//! - `parse`: bare simd-json tape build of every event (the parse ceiling),
//!   busbar's validating scan with nothing to extract (the floor under rule
//!   sets that read whole events) and a bare `memchr` line count of the file
//!   (the I/O ceiling);
//! - `kind/<name>`: the five rules of one [`RuleKind`], busbar
//!   (`Automaton::find` per line, one `Cache`) and quamina-rs where it can
//!   express the kind;
//! - `scale/<n>`: `n` = 10, 1,000, 10,000 distinct exact rules on one field
//!   (`busbar::bench::scale_rules`: the same ten match at every size, the rest
//!   name values absent from the data);
//! - `compile/<n>`: adding and building those `n` rules.
//!
//! Environment: `BUSBAR_BENCH_EVENTS` (default 200,000), `BUSBAR_BENCH_QUICK=1`
//! (summary table only, 20,000 events unless `BUSBAR_BENCH_EVENTS` says
//! otherwise), `BUSBAR_BENCH_SUMMARY=0` (criterion groups only),
//! `BUSBAR_BENCH_SKIP_BUSBAR=1` / `BUSBAR_BENCH_SKIP_QUAMINA=1` (leave one
//! engine out), `BUSBAR_BENCH_ONLY=<text>` (summary rows whose id contains
//! the text, for working on one kind; the parse, scale and compile lines
//! are left out unless it matches them too), `BUSBAR_BENCH_FORMATS=compact,spaced`
//! (the formattings to measure, default every one-event-per-line
//! formatting). Under `cargo test --benches`
//! every benchmark runs once on 1,000 events. See `benches/README.md`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use busbar::bench::{citylots_formatted, scale_rules, Format, RuleKind};
use busbar::engine::{Automaton, Cache, Limits, RuleSetBuilder};
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use quamina::Quamina;

#[path = "shared/quamina.rs"]
mod quamina_setup;
#[path = "shared/simd_tape.rs"]
mod simd_tape;
use simd_tape::SimdTape;

const SEED: u64 = 42;
const DEFAULT_EVENTS: usize = 200_000;
const QUICK_EVENTS: usize = 20_000;
const TEST_EVENTS: usize = 1_000;
const SCALES: [usize; 3] = [10, 1_000, 10_000];

// ---------------------------------------------------------------- setup

struct Config {
    events: usize,
    quick: bool,
    test_mode: bool,
    summary: bool,
    busbar: bool,
    quamina: bool,
    /// `BUSBAR_BENCH_ONLY`: summary rows whose id contains this.
    only: Option<String>,
    /// `BUSBAR_BENCH_FORMATS`.
    formats: Vec<Format>,
}

impl Config {
    /// Whether the summary prints the row `id` (see `BUSBAR_BENCH_ONLY`).
    fn wants(&self, id: &str) -> bool {
        self.only.as_deref().is_none_or(|o| id.contains(o))
    }
}

fn env_flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

impl Config {
    fn from_env() -> Config {
        let args: Vec<String> = std::env::args().collect();
        // Criterion's own rule: without `--bench` (cargo test --benches) or
        // with `--test`, run every benchmark once as a test.
        let test_mode = !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--test");
        let listing = args.iter().any(|a| a == "--list");
        let quick = env_flag("BUSBAR_BENCH_QUICK");
        let default = if test_mode {
            TEST_EVENTS
        } else if quick {
            QUICK_EVENTS
        } else {
            DEFAULT_EVENTS
        };
        let events = std::env::var("BUSBAR_BENCH_EVENTS")
            .ok()
            .map(|v| {
                v.replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("BUSBAR_BENCH_EVENTS={v}: not a number"))
            })
            .unwrap_or(default);
        Config {
            events,
            quick,
            test_mode,
            summary: !listing && std::env::var("BUSBAR_BENCH_SUMMARY").map_or(true, |v| v != "0"),
            busbar: !env_flag("BUSBAR_BENCH_SKIP_BUSBAR"),
            quamina: !env_flag("BUSBAR_BENCH_SKIP_QUAMINA"),
            only: std::env::var("BUSBAR_BENCH_ONLY")
                .ok()
                .filter(|v| !v.is_empty()),
            formats: match std::env::var("BUSBAR_BENCH_FORMATS") {
                Ok(v) if !v.is_empty() => v
                    .split([',', ' '])
                    .filter(|n| !n.is_empty())
                    .map(|n| {
                        Format::from_name(n)
                            .filter(|f| Format::ndjson().contains(f))
                            .unwrap_or_else(|| panic!("BUSBAR_BENCH_FORMATS: unknown `{n}`"))
                    })
                    .collect(),
                _ => Format::ndjson().to_vec(),
            },
        }
    }
}

/// The generated file and the byte range of each line.
struct Data {
    name: String,
    format: Format,
    bytes: Vec<u8>,
    lines: Vec<(usize, usize)>,
}

impl Data {
    fn new(events: usize, format: Format) -> Data {
        let bytes = citylots_formatted(events, SEED, format);
        let mut lines = Vec::with_capacity(events);
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &bytes) {
            lines.push((start, end));
            start = end + 1;
        }
        assert_eq!(lines.len(), events);
        Data {
            name: format!(
                "citylots-like, {events} events, seed {SEED}, {}",
                format.name()
            ),
            format,
            bytes,
            lines,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.lines.iter().map(|&(s, e)| &self.bytes[s..e])
    }

    fn len(&self) -> usize {
        self.lines.len()
    }
}

// ---------------------------------------------------------------- engines

fn build_busbar(rules: &[(String, String)]) -> Result<Automaton, String> {
    let mut b = RuleSetBuilder::new(Limits::default());
    for (name, pattern) in rules {
        b.add(name, pattern)
            .map_err(|e| format!("busbar rejects {name} {pattern}: {e}"))?;
    }
    b.build().map_err(|e| format!("busbar build: {e}"))
}

/// Total matches (sum over events of the number of rules matched).
fn busbar_pass(a: &Automaton, cache: &mut Cache, data: &Data) -> usize {
    let mut n = 0;
    for line in data.iter() {
        n += a.find(line, cache).expect("busbar rejects an event").len();
    }
    n
}

fn quamina_pass(q: &Quamina<u32>, data: &Data) -> usize {
    let mut n = 0;
    for line in data.iter() {
        n += q
            .matches_for_event(line)
            .expect("quamina rejects an event")
            .len();
    }
    n
}

/// Reused state of the bare simd-json pass.
struct Simd(SimdTape);

impl Simd {
    fn new() -> Simd {
        Simd(SimdTape::new())
    }

    /// Builds the tape of every event; returns the total tape length so
    /// nothing is optimised away.
    fn pass(&mut self, data: &Data) -> usize {
        data.iter()
            .map(|line| self.0.tape_len(line).expect("simd-json rejects an event"))
            .sum()
    }
}

fn memchr_pass(data: &Data) -> usize {
    memchr::memchr_iter(b'\n', &data.bytes).count()
}

/// busbar's validating scan alone: `find_checked` with one rule on a field
/// no event has, so every event is validated and nothing is extracted (the
/// floor under every rule set that must read whole events).
struct Validate {
    automaton: Automaton,
    cache: Cache,
}

impl Validate {
    fn new() -> Validate {
        let automaton = build_busbar(&[("absent".into(), r#"{"absent":["x"]}"#.into())])
            .expect("the validate-only rule builds");
        let cache = automaton.cache();
        Validate { automaton, cache }
    }

    fn pass(&mut self, data: &Data) -> usize {
        let mut n = 0;
        for line in data.iter() {
            n += self
                .automaton
                .find_checked(line, &mut self.cache)
                .expect("busbar rejects an event")
                .len();
        }
        n
    }
}

/// Rule sets of the benchmark, with the quamina spelling where it has one.
struct RuleSet {
    id: String,
    rules: Vec<(String, String)>,
    quamina: Option<Vec<(String, String)>>,
}

fn rule_sets() -> Vec<RuleSet> {
    let mut sets: Vec<RuleSet> = RuleKind::all()
        .iter()
        .map(|&k| RuleSet {
            id: format!("kind/{}", k.name()),
            rules: k.rules(),
            quamina: k.quamina_rules(),
        })
        .collect();
    for n in SCALES {
        let rules = scale_rules(n);
        sets.push(RuleSet {
            id: format!("scale/{n}"),
            quamina: Some(rules.clone()),
            rules,
        });
    }
    sets
}

// ---------------------------------------------------------------- criterion

fn criterion_groups(c: &mut Criterion, cfg: &Config, data: &Data, sets: &[RuleSet]) {
    let bytes = data.bytes.len() as u64;

    let mut g = c.benchmark_group("parse");
    g.sampling_mode(SamplingMode::Flat)
        .throughput(Throughput::Bytes(bytes));
    let mut simd = Simd::new();
    g.bench_function(BenchmarkId::new("simd_json_tape", &data.name), |b| {
        b.iter(|| black_box(simd.pass(data)))
    });
    g.bench_function(BenchmarkId::new("memchr_lines", &data.name), |b| {
        b.iter(|| black_box(memchr_pass(data)))
    });
    let mut validate = Validate::new();
    g.bench_function(BenchmarkId::new("busbar_validate", &data.name), |b| {
        b.iter(|| black_box(validate.pass(data)))
    });
    g.finish();

    for set in sets {
        let mut g = c.benchmark_group(set.id.as_str());
        g.sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Bytes(bytes));
        if cfg.busbar {
            match build_busbar(&set.rules) {
                Ok(a) => {
                    let mut cache = a.cache();
                    g.bench_function(BenchmarkId::new("busbar", &data.name), |b| {
                        b.iter(|| black_box(busbar_pass(&a, &mut cache, data)))
                    });
                }
                Err(e) => eprintln!("{}: skipped busbar: {e}", set.id),
            }
        }
        if cfg.quamina {
            if let Some(qrules) = &set.quamina {
                match quamina_setup::build(qrules) {
                    Ok(q) => {
                        g.bench_function(BenchmarkId::new("quamina", &data.name), |b| {
                            b.iter(|| black_box(quamina_pass(&q, data)))
                        });
                    }
                    Err(e) => eprintln!("{}: skipped quamina: {e}", set.id),
                }
            }
        }
        g.finish();
    }

    if data.format != Format::Compact {
        return;
    }
    for n in SCALES {
        let rules = scale_rules(n);
        let mut g = c.benchmark_group(format!("compile/{n}"));
        // Rules per second: the throughput of compilation.
        g.sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Elements(n as u64));
        if cfg.busbar {
            g.bench_function(BenchmarkId::new("busbar", &data.name), |b| {
                b.iter(|| black_box(build_busbar(&rules).map(|a| a.rule_count())))
            });
        }
        if cfg.quamina {
            g.bench_function(BenchmarkId::new("quamina", &data.name), |b| {
                b.iter(|| black_box(quamina_setup::build(&rules).map(|q| q.pattern_count())))
            });
        }
        g.finish();
    }
}

// ---------------------------------------------------------------- summary

/// Best (shortest) time of `passes` runs of `f`, and its result.
fn best_of(passes: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut result = 0;
    for _ in 0..passes {
        let t = Instant::now();
        result = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, result)
}

struct Rate {
    events_per_s: f64,
    mb_per_s: f64,
}

fn rate(data: &Data, d: Duration) -> Rate {
    let s = d.as_secs_f64().max(1e-12);
    Rate {
        events_per_s: data.len() as f64 / s,
        mb_per_s: data.bytes.len() as f64 / s / 1e6,
    }
}

/// `12,345,678`
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Per-rule match counts of both engines, for the disagreement report.
fn per_rule_counts(
    a: &Automaton,
    q: &Quamina<u32>,
    data: &Data,
    n: usize,
) -> (Vec<usize>, Vec<usize>) {
    let mut cache = a.cache();
    let mut ours = vec![0; n];
    let mut theirs = vec![0; n];
    for line in data.iter() {
        for id in a.find(line, &mut cache).expect("busbar rejects an event") {
            ours[id.0 as usize] += 1;
        }
        for id in q.matches_for_event(line).expect("quamina rejects an event") {
            theirs[id as usize] += 1;
        }
    }
    (ours, theirs)
}

fn summary(cfg: &Config, data: &Data, sets: &[RuleSet]) {
    let passes = if cfg.test_mode { 1 } else { 5 };
    let mut warnings = Vec::new();
    let mut scale_rates: Vec<(usize, Option<f64>, Option<f64>)> = Vec::new();

    println!();
    if cfg.test_mode {
        println!("(test mode, `cargo test --benches`: one pass, probably a debug build; not a measurement)");
    }
    println!(
        "## busbar summary: {} ({:.1} MB, mean {:.0} B/event; best of {passes} passes; MB = 10^6 bytes)",
        data.name,
        data.bytes.len() as f64 / 1e6,
        data.bytes.len() as f64 / data.len().max(1) as f64,
    );
    println!();
    println!("| benchmark | busbar events/s | busbar MB/s | quamina events/s | quamina MB/s | busbar / quamina | matches busbar | matches quamina |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");

    let compact = data.format == Format::Compact;
    for set in sets
        .iter()
        .filter(|s| cfg.wants(&s.id) && (compact || !s.id.starts_with("scale/")))
    {
        let mut b_cells = ("—".to_string(), "—".to_string(), "—".to_string());
        let mut q_cells = ("—".to_string(), "—".to_string(), "—".to_string());
        let mut b_eps = None;
        let mut q_eps = None;
        let mut b_count = None;
        let mut q_count = None;
        let automaton = if cfg.busbar {
            match build_busbar(&set.rules) {
                Ok(a) => Some(a),
                Err(e) => {
                    b_cells.0 = "error".to_string();
                    warnings.push(format!("WARNING {} ({}): {e}", set.id, data.name));
                    None
                }
            }
        } else {
            None
        };
        let quamina = match (&set.quamina, cfg.quamina) {
            (Some(qrules), true) => match quamina_setup::build(qrules) {
                Ok(q) => Some(q),
                Err(e) => {
                    q_cells.0 = "error".to_string();
                    warnings.push(format!("WARNING {} ({}): {e}", set.id, data.name));
                    None
                }
            },
            (None, _) => {
                q_cells.0 = "n/a".to_string();
                None
            }
            (Some(_), false) => None,
        };
        // The two engines' passes alternate, so that a slow spell of the
        // machine (these are shared, noisy machines) falls on both rather
        // than on whichever happened to run during it; each keeps its best.
        let mut cache = automaton.as_ref().map(Automaton::cache);
        let (mut b_best, mut q_best) = (None::<(Duration, usize)>, None::<(Duration, usize)>);
        for _ in 0..passes {
            if let (Some(a), Some(cache)) = (&automaton, &mut cache) {
                let (d, n) = best_of(1, || busbar_pass(a, cache, data));
                b_best = Some(b_best.map_or((d, n), |b| (b.0.min(d), n)));
            }
            if let Some(q) = &quamina {
                let (d, n) = best_of(1, || quamina_pass(q, data));
                q_best = Some(q_best.map_or((d, n), |b| (b.0.min(d), n)));
            }
        }
        // The cells (events/s, MB/s, matches), events/s and matches of a
        // best pass.
        let measured = |(d, n): (Duration, usize)| {
            let r = rate(data, d);
            let cells = (
                thousands(r.events_per_s),
                format!("{:.0}", r.mb_per_s),
                thousands(n as f64),
            );
            (cells, r.events_per_s, n)
        };
        if let Some((cells, eps, n)) = b_best.map(measured) {
            (b_cells, b_eps, b_count) = (cells, Some(eps), Some(n));
        }
        if let Some((cells, eps, n)) = q_best.map(measured) {
            (q_cells, q_eps, q_count) = (cells, Some(eps), Some(n));
        }
        let ratio = match (b_eps, q_eps) {
            (Some(b), Some(q)) => format!("{:.2}×", b / q),
            _ => "—".to_string(),
        };
        let label = match set.id.strip_prefix("kind/") {
            Some("prefix_equals_ignore_case" | "suffix_equals_ignore_case") => {
                format!("{} (quamina: regexp)", set.id)
            }
            _ => set.id.clone(),
        };
        println!(
            "| {label} | {} | {} | {} | {} | {ratio} | {} | {} |",
            b_cells.0, b_cells.1, q_cells.0, q_cells.1, b_cells.2, q_cells.2
        );
        if let (Some(b), Some(q), Some(a), Some(qm)) = (b_count, q_count, &automaton, &quamina) {
            if b != q {
                let n = set.rules.len();
                let (ours, theirs) = per_rule_counts(a, qm, data, n);
                let detail: Vec<String> = (0..n)
                    .filter(|&i| ours[i] != theirs[i])
                    .take(10)
                    .map(|i| {
                        format!(
                            "{} busbar {} quamina {}",
                            set.rules[i].0, ours[i], theirs[i]
                        )
                    })
                    .collect();
                warnings.push(format!(
                    "WARNING {} ({}): busbar matched {b}, quamina {q}; differing rules: {}",
                    set.id,
                    data.name,
                    detail.join("; ")
                ));
            }
        }
        if let Some(n) = set.id.strip_prefix("scale/").and_then(|n| n.parse().ok()) {
            scale_rates.push((n, b_eps, q_eps));
        }
    }

    // Reference lines: one engine-free (or match-free) pass each.
    let reference = |id: &str, label: &str, pass: &mut dyn FnMut() -> usize| {
        if cfg.wants(id) {
            let (d, _) = best_of(passes, pass);
            let r = rate(data, d);
            println!(
                "| {id} ({label}) | {} | {:.0} | | | | | |",
                thousands(r.events_per_s),
                r.mb_per_s
            );
        }
    };
    let mut simd = Simd::new();
    reference("parse/simd_json_tape", "no matching", &mut || {
        simd.pass(data)
    });
    let mut validate = Validate::new();
    reference(
        "parse/busbar_validate",
        "validating scan, nothing extracted",
        &mut || validate.pass(data),
    );
    reference("parse/memchr_lines", "I/O ceiling", &mut || {
        memchr_pass(data)
    });

    // Rule-count scaling: events/s at 10 rules over events/s at 10,000.
    let at = |n: usize| scale_rates.iter().find(|s| s.0 == n);
    let fmt_ratio = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) if y > 0.0 => format!("{:.2}×", x / y),
        _ => "—".to_string(),
    };
    if let (Some(lo), Some(hi)) = (at(SCALES[0]), at(SCALES[2])) {
        println!(
            "| scale: events/s at {} rules ÷ at {} rules (1.00× = no slowdown) | {} | | {} | | | | |",
            SCALES[0],
            SCALES[2],
            fmt_ratio(lo.1, hi.1),
            fmt_ratio(lo.2, hi.2)
        );
    }

    // Compilation of the largest exact rule set.
    let n = SCALES[2];
    if !compact || !cfg.wants(&format!("compile/{n}")) {
        return print_warnings(&warnings, data);
    }
    let rules = scale_rules(n);
    let compile = |ok: bool, f: &dyn Fn() -> Result<usize, String>| -> String {
        if !ok {
            return "—".to_string();
        }
        let mut best = Duration::MAX;
        for _ in 0..passes {
            let t = Instant::now();
            match f() {
                Ok(_) => best = best.min(t.elapsed()),
                Err(e) => return format!("error: {e}"),
            }
        }
        format!("{:.1} ms", best.as_secs_f64() * 1e3)
    };
    let b = compile(cfg.busbar, &|| build_busbar(&rules).map(|a| a.rule_count()));
    let q = compile(cfg.quamina, &|| {
        quamina_setup::build(&rules).map(|q| q.pattern_count())
    });
    println!("| compile/{n}: add + build {n} exact rules | {b} | | {q} | | | | |");
    print_warnings(&warnings, data);
}

fn print_warnings(warnings: &[String], data: &Data) {
    println!();
    if warnings.is_empty() {
        println!(
            "busbar and quamina agree on every match count they both measure ({}).",
            data.name
        );
    }
    for w in warnings {
        println!("{w}");
    }
}

// ---------------------------------------------------------------- main

fn main() {
    let cfg = Config::from_env();
    let sets = rule_sets();
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for &format in &cfg.formats {
        let t = Instant::now();
        let data = Data::new(cfg.events, format);
        eprintln!(
            "data set: {} ({} bytes, generated in {:.2?})",
            data.name,
            data.bytes.len(),
            t.elapsed()
        );
        if !cfg.quick {
            criterion_groups(&mut c, &cfg, &data, &sets);
        }
        if cfg.summary {
            summary(&cfg, &data, &sets);
        }
    }
    if !cfg.quick {
        c.final_summary();
    }
}
