//! The `busbar` subcommands: argument parsing and the small amount of glue
//! between files/stdin and the engine. No matching logic lives here.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use busbar::engine::{Automaton, Limits, RuleId, RuleSetBuilder};
use busbar::flatten::EventError;

mod tally;
mod tap;
use tally::Tally;

/// Exit status for bad usage or bad input (an invalid pattern, event or file).
const EXIT_INVALID: u8 = 2;
/// `filter`'s exit status when no event was selected, as grep's.
const EXIT_NONE_SELECTED: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "busbar",
    version = busbar::version::SHORT,
    long_version = busbar::version::LONG,
    about = "Route JSON events by Amazon EventBridge event patterns",
    long_about = "busbar matches JSON events against Amazon EventBridge event patterns, \
                  compiled ahead of time into one automaton."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    Run(RunArgs),
    Validate(ValidateArgs),
    Filter(FilterArgs),
    TestPattern(TestPatternArgs),
    GenCitylots(GenArgs),
    Tap(tap::TapArgs),
    Completions(CompletionsArgs),
}

/// Print a shell completion script for busbar's subcommands and options.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar completions bash > /etc/bash_completion.d/busbar
  busbar completions zsh > \"${fpath[1]}/_busbar\"
  busbar completions fish > ~/.config/fish/completions/busbar.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

fn completions(a: CompletionsArgs) -> Result<ExitCode, Failure> {
    let mut out = Vec::new();
    clap_complete::generate(
        a.shell,
        &mut <Cli as clap::CommandFactory>::command(),
        "busbar",
        &mut out,
    );
    io::stdout().lock().write_all(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Run the event router: sources → rules → targets, as configured.
///
/// Reads the YAML configuration (see config/README.md), compiles every rule
/// and starts the sources, targets and the admin listener (/metrics,
/// /healthz, /readyz). SIGHUP or a change of the file reloads rules and
/// targets; SIGTERM/SIGINT drain in-flight events, commit and exit 0. With
/// only a stdin source it exits once stdin ends and everything is delivered.
///
/// Environment overrides: BUSBAR_BROKERS, BUSBAR_GROUP_ID, BUSBAR_HTTP_ADDR,
/// BUSBAR_ADMIN_ADDR, BUSBAR_LOG (level or filter), BUSBAR_LOG_FORMAT
/// (text|json). Exit status: 0 done, 78 invalid configuration, 1 failure.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar run --config config/sidecar.yaml
  BUSBAR_BROKERS=kafka:9092 busbar run --config config/bridge.yaml --workers 4
  busbar run --config config/stdin.yaml < config/example-events.ndjson")]
pub struct RunArgs {
    /// The YAML configuration file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
    /// Matching workers, 1-1024 (default: `workers` in the file, else the CPU count).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=busbar::config::MAX_WORKERS as i64))]
    pub workers: Option<u16>,
}

/// Check a configuration file and report every problem in it.
///
/// Parses the YAML, applies the environment overrides, checks every
/// setting and compiles every rule's event pattern and input transformer
/// exactly as `busbar run` would, without binding anything. Prints each
/// problem on its own line (which rule, which key, what is wrong) and exits
/// 0 when there is none, 78 otherwise.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar validate --config config/sidecar.yaml
  BUSBAR_LOG_FORMAT=json busbar validate -c bridge.yaml")]
pub struct ValidateArgs {
    /// The YAML configuration file.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

fn validate(a: ValidateArgs) -> Result<ExitCode, Failure> {
    let env = busbar::config::EnvOverrides::from_process();
    match busbar::service::compile(&a.config, &env) {
        Ok(plan) => {
            println!(
                "{}: ok ({} rules enabled, {} disabled, {} sources)",
                a.config.display(),
                plan.rules.len(),
                plan.disabled,
                plan.config.sources.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(busbar::config::EXIT_CONFIG))
        }
    }
}

/// Colour only for a person at a terminal who has not asked for none
/// (<https://no-color.org>: `NO_COLOR` set to anything but empty).
fn use_colour(stderr_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

fn init_logging(level: &str, format: busbar::config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(use_colour(
            std::io::IsTerminal::is_terminal(&io::stderr()),
            std::env::var_os("NO_COLOR"),
        ))
        .with_writer(io::stderr);
    let _ = match format {
        busbar::config::LogFormat::Json => b.json().try_init(),
        busbar::config::LogFormat::Text => b.try_init(),
    };
}

fn run_service(a: RunArgs) -> Result<ExitCode, Failure> {
    let env = busbar::config::EnvOverrides::from_process();
    let plan = match busbar::service::compile(&a.config, &env) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::from(busbar::config::EXIT_CONFIG));
        }
    };
    init_logging(&plan.config.log.level, plan.config.log.format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("busbar-io")
        // HTTP ingest validates PutEvents `Detail`s on these threads.
        .thread_stack_size(busbar::flatten::SCAN_STACK_BYTES)
        .build()
        .map_err(|e| fail(format!("cannot start the runtime: {e}")))?;
    let opts = busbar::service::Options {
        config_path: a.config.clone(),
        workers: a.workers.map(usize::from),
    };
    let r = rt.block_on(busbar::service::run(plan, opts, env));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match r {
        Ok(report) if report.dropped_any() => Ok(ExitCode::from(busbar::service::EXIT_DROPPED)),
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(busbar::service::RunError(e)) => {
            tracing::error!(error = %e, "busbar stopped");
            eprintln!("busbar: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// Print the NDJSON events that match, like grep for JSON events.
///
/// Reads newline-delimited JSON events from the files given (or stdin, also as
/// `-`) and writes every line that matches byte-for-byte to stdout. Lines that
/// are not valid events are reported on stderr with their line number and
/// skipped. Blank lines are ignored.
///
/// Lines that cannot match (they lack every literal the rules need) are
/// rejected without being parsed, so an invalid line among them is not
/// reported; --validate parses every line. Runs of such lines are found by
/// one search over a read buffer, as ripgrep does, and only counted.
///
/// Exit status, as grep's: 0 when an event was selected (printed or counted),
/// 1 when none was, 2 on an error: a file that cannot be read (the other files
/// are still searched), or an invalid line under --validate, --strict or
/// --invert-match. With --quiet, a selected event exits 0 even after an error.
/// Without --validate, the invalid lines that happen to be reported do not
/// change the status, so it does not depend on which lines the prefilter
/// skipped.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar filter --pattern '{\"source\":[\"orders\"]}' events.ndjson
  busbar filter --rules config/example-rules.json --print-rules config/example-events.ndjson
  cat events.ndjson | busbar filter --rules rules.json --count --stats
  busbar filter --pattern @pattern.json --strict < events.ndjson
  busbar filter -q -p file://pattern.json events.ndjson && echo found
  busbar filter -v -m 10 -p '{\"detail-type\":[\"heartbeat\"]}' a.ndjson b.ndjson")]
pub struct FilterArgs {
    /// One event pattern: JSON text, @FILE or file://FILE to read it from a
    /// file, or `-` (also `@-`) to read it from stdin when the events come
    /// from files.
    #[arg(
        long,
        short = 'p',
        conflicts_with = "rules",
        required_unless_present = "rules"
    )]
    pattern: Option<String>,
    /// A JSON object of named patterns: {"rule-name": pattern, ...}.
    #[arg(long, short = 'r')]
    rules: Option<PathBuf>,
    /// Print only the number of selected events (and with --rules, then one
    /// `<count>\t<rule>` line per rule; with --invert-match only the number).
    #[arg(long, short = 'c')]
    count: bool,
    /// Prefix each output line with the comma-separated names of the rules it
    /// matched and a tab.
    #[arg(long)]
    print_rules: bool,
    /// Select the valid events that match no rule. Implies --validate: every
    /// line is parsed, and a line that is not a valid event is never printed
    /// (it is not an event), it is reported on stderr and makes the exit
    /// status 2.
    #[arg(long, short = 'v', conflicts_with = "print_rules")]
    invert_match: bool,
    /// Print nothing; stop at the first selected event and exit 0 (even when
    /// an earlier file could not be read), else exit 1, or 2 on an error.
    #[arg(
        long,
        short = 'q',
        visible_alias = "silent",
        conflicts_with_all = ["count", "print_rules"]
    )]
    quiet: bool,
    /// Stop reading a file after N selected events; each file gets its own N
    /// (with --count, the total counts at most N per file). 0 reads nothing.
    #[arg(long, short = 'm', value_name = "N")]
    max_count: Option<u64>,
    /// After the run, print on stderr the events read and matched (in total
    /// and per rule), the invalid lines found, the bytes read, the time spent
    /// and the throughput.
    #[arg(long)]
    stats: bool,
    /// Stop at the first invalid line with exit status 2 (implies --validate).
    #[arg(long)]
    strict: bool,
    /// Parse and validate every line, even those that cannot match; an
    /// invalid line makes the exit status 2 (the others are still filtered).
    #[arg(long)]
    validate: bool,
    /// Largest accepted event in bytes, 1 to 67108864 (64 MiB), the range
    /// of `limits.max_event_bytes` (EventBridge: 1 MiB; 262144 for 256 KiB).
    /// A line's bytes count, a CR before its newline included.
    #[arg(
        long,
        default_value_t = 1 << 20,
        value_parser = usize_in(busbar::config::EVENT_BYTES)
    )]
    max_event_bytes: usize,
    /// Read input files instead of mapping them into memory. Files of 1 MiB
    /// and more are mapped, which saves copying them; a mapped file that
    /// shrinks while it is searched ends the run with exit status 2.
    #[arg(long)]
    no_mmap: bool,
    /// Input files; none or `-` reads stdin.
    files: Vec<PathBuf>,
}

/// Test whether an event matches a pattern, like `aws events test-event-pattern`.
///
/// Prints `true` and exits 0 on a match, prints `false` and exits 1 otherwise.
/// An invalid pattern or event exits 2 with the EventBridge error text.
///
/// Each of --pattern and --event takes JSON text, `@FILE` or `file://FILE`
/// (as the AWS CLI spells it) to read a file, or `-` (also `@-`) to read
/// stdin; only one of them can come from stdin.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar test-pattern --pattern '{\"source\":[{\"prefix\":\"aws.\"}]}' --event '{\"source\":\"aws.ec2\"}'
  busbar test-pattern --pattern @rule.json --event @event.json
  busbar test-pattern --pattern file://rule.json --event - < event.json")]
pub struct TestPatternArgs {
    /// The event pattern: JSON text, @FILE, file://FILE, or `-` for stdin.
    #[arg(long)]
    pattern: String,
    /// The event: JSON text, @FILE, file://FILE, or `-` for stdin.
    #[arg(long)]
    event: String,
}

/// Write the deterministic citylots-like benchmark data set as NDJSON.
///
/// GeoJSON features shaped like the San Francisco city-lots data that
/// event-ruler's and quamina's benchmarks use; the same count and seed give
/// the same bytes everywhere. With --rules, print one of the benchmark's rule
/// sets instead, as a `filter --rules` file.
#[derive(Args, Debug)]
#[command(after_help = "Examples:
  busbar gen-citylots --count 200000 > citylots.ndjson
  busbar gen-citylots --rules prefix > prefix.json
  busbar filter --count --rules prefix.json citylots.ndjson")]
pub struct GenArgs {
    /// How many events, 1 to 5000000 (made in memory: about 2 GB per
    /// million).
    #[arg(
        long,
        default_value_t = 200_000,
        value_parser = usize_in(busbar::bench::GEN_EVENTS)
    )]
    count: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print this benchmark rule set (exact, prefix, ..., complex_arrays,
    /// every for one rule every event matches, exact-N for N distinct exact
    /// rules, or absent-N for N exact rules whose values never occur; N
    /// from 1 to 1000000) instead of events.
    #[arg(long)]
    rules: Option<String>,
    /// How to write the events: compact, python (`", "` and `": "`), spaced
    /// (spaces inside brackets too, as the public citylots file), escaped
    /// (some characters as `\uXXXX`), shuffled (keys in random order). The
    /// same events in every one.
    #[arg(long, default_value = "compact", value_parser = parse_format)]
    format: busbar::bench::Format,
}

fn parse_format(name: &str) -> Result<busbar::bench::Format, String> {
    busbar::bench::Format::ndjson()
        .iter()
        .copied()
        .find(|f| f.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = busbar::bench::Format::ndjson()
                .iter()
                .map(|f| f.name())
                .collect();
            format!("one of {}", names.join(", "))
        })
}

pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Run(a) => run_service(a),
        Command::Validate(a) => validate(a),
        Command::Filter(a) => filter(a),
        Command::TestPattern(a) => test_pattern(a),
        Command::GenCitylots(a) => gen(a),
        Command::Tap(a) => tap::run(a),
        Command::Completions(a) => completions(a),
    };
    match result {
        Ok(code) => code,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("busbar: {e}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// A command failure with a message meant for the user.
#[derive(Debug)]
struct Failure(String, Option<io::ErrorKind>);

impl Failure {
    fn is_broken_pipe(&self) -> bool {
        self.1 == Some(io::ErrorKind::BrokenPipe)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure(e.to_string(), Some(e.kind()))
    }
}

fn fail(msg: impl Into<String>) -> Failure {
    Failure(msg.into(), None)
}

/// Which argument, if any, has taken stdin: a pattern and the events (or a
/// pattern and an event) cannot both be read from it.
#[derive(Default)]
struct StdinClaim(Option<&'static str>);

impl StdinClaim {
    fn take(&mut self, who: &'static str) -> Result<(), Failure> {
        match self.0.replace(who) {
            Some(first) => Err(fail(format!(
                "{first} and {who} cannot both be read from stdin"
            ))),
            None => Ok(()),
        }
    }
}

/// `-` or `@-` reads stdin, `@FILE` or `file://FILE` (the AWS CLI's spelling,
/// `~/` expanded as it does) reads a file; anything else is the text itself.
fn text_arg(arg: &str, what: &'static str, stdin: &mut StdinClaim) -> Result<String, Failure> {
    if arg == "-" || arg == "@-" {
        stdin.take(what)?;
        let mut text = String::new();
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| fail(format!("cannot read {what} from stdin: {e}")))?;
        return Ok(text);
    }
    let path = match (arg.strip_prefix('@'), arg.strip_prefix("file://")) {
        (Some(path), _) => std::borrow::Cow::Borrowed(path),
        (None, Some(path)) => match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
            (Some(rest), Some(home)) => {
                std::borrow::Cow::Owned(PathBuf::from(home).join(rest).display().to_string())
            }
            _ => std::borrow::Cow::Borrowed(path),
        },
        (None, None) => return Ok(arg.to_string()),
    };
    std::fs::read_to_string(&*path)
        .map_err(|e| fail(format!("cannot read {what} file `{path}`: {e}")))
}

fn test_pattern(a: TestPatternArgs) -> Result<ExitCode, Failure> {
    let mut stdin = StdinClaim::default();
    let pattern = text_arg(&a.pattern, "--pattern", &mut stdin)?;
    let event = text_arg(&a.event, "--event", &mut stdin)?;
    let defaults = Limits::default();
    let mut b = RuleSetBuilder::new(Limits {
        pattern: defaults.pattern.for_test_pattern(),
        ..defaults
    });
    if let Err(e) = b.add("pattern", &pattern) {
        eprintln!("{e}");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let automaton = b.build().map_err(|e| fail(e.to_string()))?;
    let mut cache = automaton.cache();
    match automaton.is_match(event.as_bytes(), &mut cache) {
        Ok(true) => {
            println!("true");
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => {
            println!("false");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

/// `{"name": pattern, ...}` keeping every pattern's raw text and the file's
/// order, and rejecting duplicate names instead of silently keeping one.
/// Names and patterns are borrowed from the file's text where they can be
/// (a name with escapes is decoded): with 10,000 rules, copying each
/// pattern out and cloning each name cost 4% of `filter`'s start-up.
struct RulesFile<'a>(Vec<(RuleName<'a>, &'a RawValue)>);

/// A rule name as written, or decoded when it holds escapes.
#[derive(PartialEq, Eq, Hash, Clone)]
struct RuleName<'a>(std::borrow::Cow<'a, str>);

impl<'de> Deserialize<'de> for RuleName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RuleName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a rule name")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<RuleName<'de>, E> {
                Ok(RuleName(s.into()))
            }
            fn visit_str<E>(self, s: &str) -> Result<RuleName<'de>, E> {
                Ok(RuleName(s.to_string().into()))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for RulesFile<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RulesFile<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object mapping rule names to event patterns")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<RulesFile<'de>, A::Error> {
                let mut rules = Vec::new();
                // Names come from the user's own file: foldhash, not
                // SipHash (5% of reading 10,000 rules, callgrind).
                let mut names =
                    hashbrown::HashSet::with_hasher(foldhash::fast::RandomState::default());
                while let Some((k, v)) = m.next_entry::<RuleName<'de>, &'de RawValue>()? {
                    if !names.insert(k.clone()) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate rule name `{}`",
                            k.0
                        )));
                    }
                    rules.push((k, v));
                }
                Ok(RulesFile(rules))
            }
        }
        d.deserialize_map(V)
    }
}

fn build_rules(a: &FilterArgs, stdin: &mut StdinClaim) -> Result<Automaton, Failure> {
    let limits = Limits {
        max_event_bytes: a.max_event_bytes,
        ..Limits::default()
    };
    let mut b = RuleSetBuilder::new(limits);
    let mut errors = Vec::new();
    if let Some(p) = &a.pattern {
        let text = text_arg(p, "--pattern", stdin)?;
        if let Err(e) = b.add("pattern", &text) {
            errors.push(e.to_string());
        }
    } else if let Some(path) = &a.rules {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(format!("cannot read rules file `{}`: {e}", path.display())))?;
        let RulesFile(rules) = serde_json::from_str(&text)
            .map_err(|e| fail(format!("rules file `{}`: {e}", path.display())))?;
        b.reserve(rules.len());
        for (name, pattern) in rules {
            if let Err(e) = b.add(&name.0, pattern.get()) {
                errors.push(e.to_string());
            }
        }
    }
    if !errors.is_empty() {
        return Err(fail(errors.join("\n")));
    }
    b.build().map_err(|e| fail(e.to_string()))
}

fn filter(a: FilterArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let inputs: Vec<Option<PathBuf>> = if a.files.is_empty() {
        vec![None]
    } else {
        a.files
            .iter()
            .map(|p| (p.as_os_str() != "-").then(|| p.clone()))
            .collect()
    };
    let mut stdin = StdinClaim::default();
    if inputs.contains(&None) {
        stdin.take("the events")?;
    }
    let automaton = build_rules(&a, &mut stdin)?;
    let compiled = started.elapsed();
    let validate = a.validate || a.strict || a.invert_match;
    let stdout = io::stdout();
    let mut f = Filter {
        automaton: &automaton,
        cache: automaton.cache(),
        validate,
        strict: a.strict,
        invert: a.invert_match,
        count_rules: a.count || a.stats,
        tally: Tally::new(automaton.rule_count()),
        out: Selection {
            output: match (a.quiet, a.count, a.print_rules) {
                (true, _, _) => Output::Quiet,
                (_, true, _) => Output::Count,
                (_, _, true) => Output::PrintRules,
                _ => Output::Lines,
            },
            limit: a.max_count.unwrap_or(u64::MAX),
            in_file: 0,
            total: 0,
            buf: Vec::with_capacity(OUT_BUF),
            sink: stdout.lock(),
        },
        skip: Backoff::default(),
        mmap: !a.no_mmap,
        count_lines: a.stats,
    };
    // `-m 0` reads nothing, as grep's does.
    if f.out.limit > 0 {
        for input in inputs {
            if f.input(input, a.max_event_bytes)? == Flow::Stop {
                break;
            }
        }
    }
    if a.count {
        writeln!(f.out.buf, "{}", f.out.total)?;
        if a.rules.is_some() && !a.invert_match {
            let mut count = itoa::Buffer::new();
            for (i, &n) in f.tally.per_rule.iter().enumerate() {
                let name = automaton.rule_name(busbar::engine::RuleId(i as u32));
                let out = &mut f.out.buf;
                out.extend_from_slice(count.format(n).as_bytes());
                out.push(b'\t');
                out.extend_from_slice(name.as_bytes());
                out.push(b'\n');
            }
        }
    }
    f.out.flush()?;
    let tally = &f.tally;
    let selected = f.out.total;
    if a.stats {
        let names = a.rules.is_some().then_some(&automaton);
        let run = tally::Run {
            compile: compiled,
            search: started.elapsed() - compiled,
            selected: a.invert_match.then_some(selected),
            validated: validate,
        };
        eprint!("{}", tally.report(&run, names));
    }
    let failed = tally.unreadable > 0 || (validate && tally.invalid > 0);
    let code = match (a.quiet && selected > 0, failed, selected > 0) {
        (true, _, _) => ExitCode::SUCCESS,
        (_, true, _) => ExitCode::from(EXIT_INVALID),
        (_, _, true) => ExitCode::SUCCESS,
        _ => ExitCode::from(EXIT_NONE_SELECTED),
    };
    drop(f);
    // The process ends next, and its memory with it: freeing the compiled
    // rules one allocation at a time cost 4% of a run over 10,000 rules
    // (callgrind).
    std::mem::forget(automaton);
    Ok(code)
}

/// Read size: large reads keep syscalls rare (PERFORMANCE.md §5).
const READ_BUF: usize = 4 << 20;
/// Output is written in batches of about this size, one `write_all` each.
const OUT_BUF: usize = 1 << 20;
/// See [`Filter::skip_lines`]: small enough that a window stays in a
/// core's L2 cache between its search and its count.
const SKIP_WINDOW: usize = 128 << 10;

/// What the reading loop does next.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Flow {
    Continue,
    /// `--max-count` reached, or the file could not be read.
    NextFile,
    /// `--quiet` found its event, or `--strict` an invalid line.
    Stop,
}

/// What becomes of a selected event.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Output {
    Lines,
    PrintRules,
    Count,
    Quiet,
}

/// The selected events: printing them, and counting them against
/// `--max-count`. Apart from the matcher's scratch so that a match set
/// borrowed from it can be printed.
struct Selection<W: Write> {
    output: Output,
    /// `--max-count`, per file (`u64::MAX` when not given).
    limit: u64,
    in_file: u64,
    total: u64,
    buf: Vec<u8>,
    sink: W,
}

impl<W: Write> Selection<W> {
    fn select(&mut self, automaton: &Automaton, line: &[u8], ids: &[RuleId]) -> Flow {
        self.total += 1;
        self.in_file += 1;
        match self.output {
            Output::Lines => {}
            Output::PrintRules => {
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        self.buf.push(b',');
                    }
                    self.buf
                        .extend_from_slice(automaton.rule_name(*id).as_bytes());
                }
                self.buf.push(b'\t');
            }
            Output::Count => return self.after_select(),
            Output::Quiet => return Flow::Stop,
        }
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.after_select()
    }

    fn after_select(&self) -> Flow {
        if self.in_file == self.limit {
            Flow::NextFile
        } else {
            Flow::Continue
        }
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.sink.write_all(&self.buf)?;
        self.buf.clear();
        self.sink.flush()?;
        Ok(())
    }
}

struct Filter<'a, W: Write> {
    automaton: &'a Automaton,
    cache: busbar::engine::Cache,
    validate: bool,
    strict: bool,
    invert: bool,
    /// Count matches per rule (for --count and --stats).
    count_rules: bool,
    tally: Tally,
    out: Selection<W>,
    skip: Backoff,
    /// Map large files instead of reading them (not `--no-mmap`).
    mmap: bool,
    /// --stats: every line is counted, and every blank one. Without it,
    /// lines passed over in a mapped file are counted only where a line
    /// number is needed (see [`Uncounted`]), and blank ones not at all.
    count_lines: bool,
}

/// When to search a buffer for lines to pass over again. A search that
/// stops in the line it starts in (a hit in most events: rules whose
/// literals or probed values most events hold) cost a search of that
/// line's start for nothing, so the lines after it are taken one by one
/// for a while, doubling the while after each search that passed over
/// fewer than [`Backoff::FRUITFUL`] lines, up to [`Backoff::MAX`] lines.
/// (While every line passed over was counted, searches that passed over
/// fewer than 4 lines were cheaper taken as fruitless; without the count,
/// any line passed over pays: suffix 1.05-1.06×, exact 1.03-1.05×,
/// prefix_equals_ignore_case 1.03-1.05×, `every` 1.02×, equals_ignore_case
/// and anything_but unchanged; paired, best of 9.)
#[derive(Debug, Default)]
struct Backoff {
    /// Lines still to take one by one before the next search.
    left: u64,
    lines: u64,
}

impl Backoff {
    const MAX: u64 = 64;
    const FRUITFUL: u64 = 1;

    /// Whether to search before the next line.
    fn due(&self) -> bool {
        self.left == 0
    }

    /// A search passed over `skipped` lines (counted up to
    /// [`Backoff::FRUITFUL`]).
    fn searched(&mut self, skipped: u64) {
        self.lines = if skipped >= Self::FRUITFUL {
            0
        } else {
            (self.lines * 2).clamp(1, Self::MAX)
        };
        self.left = self.lines;
    }

    /// A line was taken one by one.
    fn took_one(&mut self) {
        self.left = self.left.saturating_sub(1);
    }
}

/// The start of a line longer than the read buffer, dropped while the rest
/// of it is read: `bytes` of it so far, over the event size limit `limit`.
/// It is reported once its end is found, with its whole length, as a
/// mapped file (which holds the whole line) reports it.
#[derive(Debug, Clone, Copy)]
struct Dropped {
    bytes: usize,
    limit: usize,
}

/// Lines of a mapped file passed over without being counted: from offset
/// `from` of the mapping, where the line count was `lines`. Counting the
/// newlines of the lines a search passed over was 10-30% of a run over
/// rules that few events match (`exact`, `exact-10000`, `absent-10`;
/// paired, best of 7), and only a line number in a message and --stats
/// need them, as ripgrep counts lines only for `--line-number`.
#[derive(Debug, Clone, Copy)]
struct Uncounted {
    from: usize,
    lines: u64,
}

impl Uncounted {
    /// The line count at `to`, the start of a line of `data`.
    fn at(&self, data: &[u8], to: usize) -> u64 {
        self.lines + memchr::memchr_iter(b'\n', &data[self.from..to]).count() as u64
    }
}

impl<W: Write> Filter<'_, W> {
    /// Filters one input (`None`: stdin). A file that cannot be opened or
    /// read is reported and counted, and the next one is searched, as grep
    /// does. A large regular file is mapped into memory, not read, unless
    /// `--no-mmap` (see [`busbar::mapped`]); where it cannot be mapped, it
    /// is read.
    fn input(&mut self, input: Option<PathBuf>, max_line: usize) -> Result<Flow, Failure> {
        self.out.in_file = 0;
        let mut lines = 0;
        let flow = match input {
            None => self.run("<stdin>", io::stdin().lock(), max_line, &mut lines),
            Some(p) => {
                let name = p.display().to_string();
                let file = match File::open(&p) {
                    Ok(f) => f,
                    Err(e) => {
                        eprintln!("busbar: cannot open `{name}`: {e}");
                        self.tally.unreadable += 1;
                        return Ok(Flow::NextFile);
                    }
                };
                match self.mmap.then(|| busbar::mapped::map(&file)) {
                    Some(Ok(Some(data))) => self.mapped(&name, &data, &mut lines),
                    _ => self.run(&name, file, max_line, &mut lines),
                }
            }
        };
        self.tally.lines += lines;
        flow
    }

    /// Filters one input read piece by piece, counting its lines in
    /// `line_no`.
    fn run(
        &mut self,
        name: &str,
        mut r: impl Read,
        max_line: usize,
        line_no: &mut u64,
    ) -> Result<Flow, Failure> {
        let mut buf = vec![0u8; READ_BUF.max(max_line + 1)];
        let mut filled = 0;
        // While a line longer than the buffer is being discarded: its
        // bytes so far.
        let mut dropping: Option<Dropped> = None;
        loop {
            let n = match r.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("busbar: cannot read `{name}`: {e}");
                    self.tally.unreadable += 1;
                    return Ok(Flow::NextFile);
                }
            };
            self.tally.bytes += n as u64;
            filled += n;
            let (start, flow) = self.lines(name, &buf[..filled], line_no, &mut dropping, false)?;
            if flow != Flow::Continue {
                return Ok(flow);
            }
            if n == 0 {
                return Ok(self.last_line(name, &buf[start..filled], line_no, dropping));
            }
            buf.copy_within(start..filled, 0);
            filled -= start;
            if filled == buf.len() {
                // A line longer than the buffer, which is larger than any
                // accepted event: dropped up to its newline, and reported
                // there, once, with its length, as a mapped file reports
                // it (a buffer that fills again while it is being dropped
                // holds more of the same line).
                let d = dropping.get_or_insert(Dropped {
                    bytes: 0,
                    limit: max_line,
                });
                d.bytes += filled;
                filled = 0;
            }
        }
    }

    /// Filters one input mapped into memory, counting its lines in
    /// `line_no`. Lines of any length reach the matcher, which turns away
    /// those over `--max-event-bytes`.
    fn mapped(&mut self, name: &str, data: &[u8], line_no: &mut u64) -> Result<Flow, Failure> {
        self.tally.bytes += data.len() as u64;
        let (start, flow) = self.lines(name, data, line_no, &mut None, true)?;
        if flow != Flow::Continue {
            return Ok(flow);
        }
        Ok(self.last_line(name, &data[start..], line_no, None))
    }

    /// Filters the lines of `buf` that end in a newline, passing over runs
    /// of lines that cannot match where it can (see [`Filter::skip_lines`]);
    /// returns how many bytes it took (where the unfinished last line
    /// starts) and what to do next. With `dropping`, the first line is the
    /// rest of one too long to keep, and is dropped. With `lazy` (`buf` is
    /// a whole mapped file, and no --stats), the lines passed over are
    /// counted only where a number is needed: in a message, and for an
    /// unfinished last line; `line_no` is stale at the end otherwise.
    fn lines(
        &mut self,
        name: &str,
        buf: &[u8],
        line_no: &mut u64,
        dropping: &mut Option<Dropped>,
        lazy: bool,
    ) -> Result<(usize, Flow), Failure> {
        let lazy = lazy && !self.count_lines;
        let lines_end = memchr::memrchr(b'\n', buf).map_or(0, |nl| nl + 1);
        let mut start = 0;
        // Where the last skip's window ended: see `skip_lines`.
        let mut window_end: usize = 0;
        // While set, `line_no` is stale: the lines from there are not
        // counted yet.
        let mut uncounted: Option<Uncounted> = None;
        let flow = loop {
            if start >= lines_end {
                break Flow::Continue;
            }
            if !self.validate && dropping.is_none() && self.skip.due() {
                if lazy && uncounted.is_none() {
                    uncounted = Some(Uncounted {
                        from: start,
                        lines: *line_no,
                    });
                }
                let (n, end) = self.skip_lines(
                    &buf[start..lines_end],
                    window_end.saturating_sub(start),
                    (!lazy).then_some(&mut *line_no),
                );
                window_end = start + end;
                start += n;
                if start == lines_end {
                    break Flow::Continue;
                }
            }
            // `buf[lines_end - 1]` is a newline.
            let nl = memchr::memchr(b'\n', &buf[start..lines_end]).unwrap_or(lines_end - start);
            let at = start;
            let line = &buf[at..at + nl];
            start += nl + 1;
            *line_no += 1;
            self.skip.took_one();
            if let Some(d) = dropping.take() {
                match self.too_long(name, *line_no, d, nl) {
                    Flow::Continue => continue,
                    flow => break flow,
                }
            }
            let number = || {
                if let Some(u) = uncounted.take() {
                    *line_no = u.at(buf, at) + 1;
                }
                *line_no
            };
            match self.line(name, number, line) {
                Flow::Continue => {}
                flow => break flow,
            }
            if self.out.buf.len() >= OUT_BUF {
                self.out.sink.write_all(&self.out.buf)?;
                self.out.buf.clear();
            }
        };
        if let Some(u) = uncounted {
            if start < buf.len() && flow == Flow::Continue {
                // An unfinished last line follows.
                *line_no = u.at(buf, start);
            }
        }
        Ok((start, flow))
    }

    /// The last line of an input when it does not end in a newline.
    fn last_line(
        &mut self,
        name: &str,
        rest: &[u8],
        line_no: &mut u64,
        dropping: Option<Dropped>,
    ) -> Flow {
        if rest.is_empty() && dropping.is_none() {
            return Flow::Continue;
        }
        *line_no += 1;
        let number = *line_no;
        let flow = match dropping {
            Some(d) => self.too_long(name, number, d, rest.len()),
            None => self.line(name, || number, rest),
        };
        match flow {
            Flow::Stop => Flow::Stop,
            _ => Flow::Continue,
        }
    }

    /// Passes over the whole lines at the start of `lines` that the
    /// automaton finds no literal in (without --validate, those are the
    /// lines `find` would reject unparsed, and reports nothing for),
    /// counting them as read in `line_no`, and blank ones, when it is
    /// given; returns the bytes passed. (Without `line_no`, the caller
    /// counts them later if it needs to: see [`Uncounted`].)
    ///
    /// `lines` ends with a newline. It is searched in windows of about
    /// [`SKIP_WINDOW`] bytes, each ending at a newline, and each window's
    /// newlines are counted while it is still in the cache: a search over
    /// all of a mapped file followed by a count over all of it read the
    /// file from memory twice (absent-10 on 180 MB, perf).
    ///
    /// `known` is where the window the last call stopped in ends (0 if
    /// none): the first window ends there too, rather than at a newline
    /// looked for afresh about [`SKIP_WINDOW`] bytes on. That search was
    /// the first to touch memory that far ahead, a cache miss after every
    /// selected event (rules that 5% of citylots-like events match,
    /// `exact-10000`, 9% of the run; perf). Returns the bytes passed and
    /// where the window it stopped in ends.
    fn skip_lines(
        &mut self,
        lines: &[u8],
        known: usize,
        line_no: Option<&mut u64>,
    ) -> (usize, usize) {
        let mut skipped = 0;
        let mut n = 0;
        let mut window_end = 0;
        while n < lines.len() {
            let rest = &lines[n..];
            let end = if n == 0 && known > 0 && known <= rest.len() {
                known
            } else {
                match memchr::memrchr(b'\n', &rest[..rest.len().min(SKIP_WINDOW)]) {
                    Some(nl) => nl + 1,
                    // One line longer than the window: up to its end.
                    None => memchr::memchr(b'\n', rest).map_or(rest.len(), |nl| nl + 1),
                }
            };
            window_end = n + end;
            // A window holds whole lines: a literal is never cut in two.
            debug_assert!(rest[..end].ends_with(b"\n"));
            let k = self.automaton.skip_lines(&rest[..end], &mut self.cache);
            let newlines = memchr::memchr_iter(b'\n', &rest[..k]);
            if line_no.is_some() {
                let mut from = 0;
                for nl in newlines {
                    // Events start with `{`: their first byte tells them
                    // from blank lines.
                    if busbar::flatten::is_blank(&rest[from..nl]) {
                        self.tally.blank += 1;
                    }
                    skipped += 1;
                    from = nl + 1;
                }
            } else if skipped < Backoff::FRUITFUL {
                // Only the backoff wants a count, and no more than this.
                skipped += newlines
                    .take((Backoff::FRUITFUL - skipped) as usize)
                    .count() as u64;
            }
            n += k;
            if k < end {
                break;
            }
        }
        if let Some(line_no) = line_no {
            *line_no += skipped;
        }
        self.skip.searched(skipped);
        (n, window_end)
    }

    // Only a selected event, an invalid line or a blank one costs more here
    // than the match itself: --max-count and --quiet are checked when an
    // event is selected, and the --stats counts of lines and bytes are kept
    // per input and per read.
    fn line(&mut self, name: &str, number: impl FnOnce() -> u64, line: &[u8]) -> Flow {
        if busbar::flatten::is_blank(line) {
            self.tally.blank += 1;
            return Flow::Continue;
        }
        let result = if self.validate {
            self.automaton.find_checked(line, &mut self.cache)
        } else {
            self.automaton.find(line, &mut self.cache)
        };
        match result {
            Ok([]) if self.invert => self.out.select(self.automaton, line, &[]),
            Ok([]) => Flow::Continue,
            Ok(ids) => {
                self.tally.matched += 1;
                if self.count_rules {
                    for id in ids {
                        self.tally.per_rule[id.0 as usize] += 1;
                    }
                }
                if self.invert {
                    Flow::Continue
                } else {
                    self.out.select(self.automaton, line, ids)
                }
            }
            Err(e) => self.invalid(name, number(), &e),
        }
    }

    /// Reports invalid line `line_no` and counts it.
    fn invalid(&mut self, name: &str, line_no: u64, e: &EventError) -> Flow {
        self.tally.invalid += 1;
        if matches!(e.kind, busbar::flatten::EventErrorKind::TooLarge { .. }) {
            eprintln!("busbar: {name}: line {line_no}: {e} (setting --max-event-bytes)");
        } else {
            eprintln!("busbar: {name}: line {line_no}: {e}");
        }
        if self.strict {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// Reports line `line_no`, too long for the read buffer: the `dropped`
    /// bytes already passed and the `rest` that ends it.
    fn too_long(&mut self, name: &str, line_no: u64, dropped: Dropped, rest: usize) -> Flow {
        let e = EventError::too_large(dropped.bytes + rest, dropped.limit);
        self.invalid(name, line_no, &e)
    }
}

/// The parser of a `usize` option that takes `range` (the range a
/// configuration check enforces for the same setting, where there is one):
/// a value outside it is a usage error that names the range.
fn usize_in(range: std::ops::RangeInclusive<usize>) -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(*range.start() as u64..=*range.end() as u64)
}

fn gen(a: GenArgs) -> Result<ExitCode, Failure> {
    if let Some(kind) = &a.rules {
        let rules = busbar::bench::rule_set(kind, false)
            .map_err(fail)?
            .unwrap_or_default();
        let mut out = String::from("{\n");
        for (i, (name, pattern)) in rules.iter().enumerate() {
            let sep = if i + 1 == rules.len() { "" } else { "," };
            out.push_str(&format!(
                "  {}: {pattern}{sep}\n",
                serde_json::to_string(name).unwrap_or_default()
            ));
        }
        out.push_str("}\n");
        io::stdout().lock().write_all(out.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let data = busbar::bench::citylots_formatted(a.count, a.seed, a.format);
    let mut out = io::stdout().lock();
    out.write_all(&data)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())), "empty means unset");
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
    }
}
