//! The conformance corpus: every case of `tests/data/*.txt`, run through every
//! way busbar matches, each test reporting all of its failures at once.
//!
//! - `automaton`: one rule in a [`RuleSetBuilder`], `build`, then `is_match`,
//!   `find_checked` and `find` (which may skip parsing events that cannot match).
//! - `naive`: [`busbar::pattern::parse`] then [`busbar::engine::naive::matches`].
//! - `cli_test_pattern`: `busbar test-pattern --pattern P --event E` (except
//!   the rules' pattern size quota, which test-pattern does not apply).
//! - `cli_filter`: `busbar filter --validate --pattern P`, the case's events on stdin.
//! - `all_rules_in_one_automaton`: every valid pattern of the corpus as its own
//!   rule of a single automaton; per event, the matching rules must be exactly
//!   those the naive matcher accepts (catches cross-rule interference). The
//!   wildcards on `a` are too many for one DFA together, so this also covers
//!   the engine's matching of wildcards by their literal pieces.
//! - `coverage`: the corpus has at least 300 cases and a group for every
//!   numbered rule of semantics §1.1–§1.13 and §2.3.
//!
//! # Corpus format
//!
//! Line based, so raw pattern text (duplicate keys, invalid JSON) is written
//! as-is. Blank lines are ignored; a line starting with `#` (but not `## `) is
//! a comment.
//!
//! ```text
//! ## 1.5.1 prefix includes equality     a group: section number, description
//! P {"a":[{"prefix":"ab"}]}             a pattern, raw text to end of line
//! Y {"a":"abc"}                         an event that must match
//! N {"a":"xabc"}                        an event that must not match
//! B {"a":"abc"} trailing                an event that must be rejected as invalid
//! P {"a":[{"prefix":123}]}
//! X prefix match pattern must be a string   the pattern must be rejected, with this reason
//! ```
//!
//! A group may hold several patterns; `Y`/`N`/`B`/`X` lines belong to the
//! pattern above them. The text after the two-character tag is used byte for
//! byte (no trimming), so an event may carry surrounding whitespace.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use busbar::engine::{naive, Limits, RuleId, RuleSetBuilder};
use busbar::pattern::{parse, Pattern, PatternLimits};

/// The reason EventBridge gives for a rule over the wildcard complexity limit
/// (§1.6.5). It is an engine limit, so the pattern parser alone accepts such
/// patterns; the naive path skips these rejections for that reason.
const TOO_COMPLEX: &str = busbar::engine::RULE_TOO_COMPLEX;

/// Every numbered rule of semantics §1.1–§1.13 and §2.3; each needs a group.
const SECTIONS: &[(&str, u32)] = &[
    ("1.1", 15),
    ("1.2", 4),
    ("1.3", 7),
    ("1.4", 6),
    ("1.5", 7),
    ("1.6", 6),
    ("1.7", 12),
    ("1.8", 7),
    ("1.9", 7),
    ("1.10", 7),
    ("1.11", 5),
    ("1.12", 2),
    ("1.13", 5),
    ("2.3", 4),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `Y`: must match.
    Yes,
    /// `N`: must not match.
    No,
    /// `B`: must be rejected as an invalid event.
    Bad,
}

#[derive(Debug, Clone)]
struct Event {
    kind: Kind,
    text: String,
    line: usize,
}

#[derive(Debug, Clone)]
enum Expect {
    /// `X`: the pattern must be rejected with this reason.
    Reject {
        reason: String,
        line: usize,
    },
    Events(Vec<Event>),
}

#[derive(Debug, Clone)]
struct Case {
    file: String,
    /// Line of the `P`.
    line: usize,
    section: String,
    description: String,
    pattern: String,
    expect: Expect,
}

impl Case {
    fn at(&self, line: usize) -> String {
        format!("tests/data/{}:{}", self.file, line)
    }

    fn rule_name(&self) -> String {
        let stem = self.file.trim_end_matches(".txt");
        format!("case-{stem}-{}", self.line)
    }
}

fn data_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

/// Reads every corpus file, in name order. A malformed line panics with its
/// location: the corpus itself is wrong.
fn load() -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(data_dir())
        .expect("tests/data exists")
        .map(|entry| entry.expect("readable dir entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in tests/data");
    let mut cases = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("UTF-8 file name")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("corpus file is UTF-8 text");
        parse_file(&name, &text, &mut cases);
    }
    cases
}

fn parse_file(name: &str, text: &str, cases: &mut Vec<Case>) {
    let mut group: Option<(String, String)> = None;
    let mut current: Option<Case> = None;
    let finish = |case: Option<Case>, cases: &mut Vec<Case>| {
        if let Some(case) = case {
            if let Expect::Events(events) = &case.expect {
                assert!(
                    !events.is_empty(),
                    "{}: pattern without events or X",
                    case.at(case.line)
                );
            }
            cases.push(case);
        }
    };
    for (index, raw) in text.split('\n').enumerate() {
        let line = index + 1;
        let at = format!("tests/data/{name}:{line}");
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(rest) = raw.strip_prefix("## ") {
            finish(current.take(), cases);
            let (section, description) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(
                !section.is_empty()
                    && section.split('.').all(|p| p.parse::<u32>().is_ok())
                    && !description.trim().is_empty(),
                "{at}: a group is `## <section> <description>`"
            );
            group = Some((section.to_string(), description.trim().to_string()));
            continue;
        }
        if raw.starts_with('#') {
            continue;
        }
        let (tag, body) = match raw.split_at_checked(2) {
            Some((tag, body)) if tag.ends_with(' ') => (&tag[..1], body),
            _ => panic!("{at}: unknown line: {raw}"),
        };
        match tag {
            "P" => {
                finish(current.take(), cases);
                let (section, description) = group
                    .clone()
                    .unwrap_or_else(|| panic!("{at}: pattern outside a group"));
                current = Some(Case {
                    file: name.to_string(),
                    line,
                    section,
                    description,
                    pattern: body.to_string(),
                    expect: Expect::Events(Vec::new()),
                });
            }
            "X" => {
                let case = current
                    .as_mut()
                    .unwrap_or_else(|| panic!("{at}: X without a pattern"));
                match &case.expect {
                    Expect::Events(events) if events.is_empty() => {}
                    _ => panic!("{at}: X must follow its P directly, once"),
                }
                assert!(!body.trim().is_empty(), "{at}: X needs a reason");
                case.expect = Expect::Reject {
                    reason: body.to_string(),
                    line,
                };
            }
            "Y" | "N" | "B" => {
                let case = current
                    .as_mut()
                    .unwrap_or_else(|| panic!("{at}: event without a pattern"));
                let Expect::Events(events) = &mut case.expect else {
                    panic!("{at}: events after X");
                };
                let kind = match tag {
                    "Y" => Kind::Yes,
                    "N" => Kind::No,
                    _ => Kind::Bad,
                };
                assert!(
                    !body.contains('\n'),
                    "{at}: an event is one line (the filter CLI reads lines)"
                );
                events.push(Event {
                    kind,
                    text: body.to_string(),
                    line,
                });
            }
            _ => panic!("{at}: unknown line: {raw}"),
        }
    }
    finish(current.take(), cases);
}

fn expected_word(kind: Kind) -> &'static str {
    match kind {
        Kind::Yes => "match",
        Kind::No => "no match",
        Kind::Bad => "an invalid-event error",
    }
}

/// Collected failures, reported together by [`report`].
#[derive(Default)]
struct Failures(Mutex<Vec<String>>);

impl Failures {
    fn push(&self, at: String, message: String) {
        self.0
            .lock()
            .expect("no panics while holding the lock")
            .push(format!("{at}: {message}"));
    }

    fn report(self, what: &str, checked: usize) {
        let mut failures = self.0.into_inner().expect("lock not poisoned");
        failures.sort_by_key(|a| natural_key(a));
        assert!(
            failures.is_empty(),
            "{what}: {} of {checked} checks failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// Sorts `file:12` before `file:100`.
fn natural_key(s: &str) -> (String, usize) {
    let (loc, _) = s.split_once(": ").unwrap_or((s, ""));
    let (file, line) = loc.rsplit_once(':').unwrap_or((loc, "0"));
    (file.to_string(), line.parse().unwrap_or(0))
}

fn short(text: &str) -> String {
    if text.chars().count() > 120 {
        let head: String = text.chars().take(117).collect();
        format!("{head}...")
    } else {
        text.to_string()
    }
}

#[test]
fn automaton() {
    let failures = Failures::default();
    let mut checked = 0;
    for case in load() {
        let mut builder = RuleSetBuilder::new(Limits::default());
        let added = builder.add("case", &case.pattern);
        match (&case.expect, added) {
            (Expect::Reject { reason, line }, Err(e)) => {
                checked += 1;
                if e.reason() != reason {
                    failures.push(
                        case.at(*line),
                        format!("rejected with `{}`, expected `{reason}`", e.reason()),
                    );
                }
                let first = e.to_string().lines().next().unwrap_or("").to_string();
                let wanted = format!("Event pattern is not valid. Reason: {reason}");
                if e.reason() == reason && first != wanted {
                    failures.push(
                        case.at(*line),
                        format!("error displays as `{first}`, expected `{wanted}`"),
                    );
                }
            }
            (Expect::Reject { reason, line }, Ok(_)) => {
                checked += 1;
                failures.push(
                    case.at(*line),
                    format!("accepted, expected rejection `{reason}`"),
                );
            }
            (Expect::Events(events), Err(e)) => {
                checked += events.len();
                failures.push(
                    case.at(case.line),
                    format!(
                        "pattern rejected: `{}` ({} events not run)",
                        e.reason(),
                        events.len()
                    ),
                );
            }
            (Expect::Events(events), Ok(_)) => {
                let automaton = match builder.build() {
                    Ok(automaton) => automaton,
                    Err(e) => {
                        checked += events.len();
                        failures.push(case.at(case.line), format!("build failed: {e}"));
                        continue;
                    }
                };
                let mut cache = automaton.cache();
                for event in events {
                    checked += 1;
                    let at = case.at(event.line);
                    let bytes = event.text.as_bytes();
                    let is_match = automaton.is_match(bytes, &mut cache);
                    let checked_ids = automaton
                        .find_checked(bytes, &mut cache)
                        .map(|ids| ids.to_vec());
                    let fast_ids = automaton.find(bytes, &mut cache).map(|ids| ids.to_vec());
                    match (&is_match, &checked_ids) {
                        (Ok(m), Ok(ids)) if *m != (ids == &[RuleId(0)]) => failures.push(
                            at.clone(),
                            format!("is_match says {m} but find_checked says {ids:?}"),
                        ),
                        (Ok(_), Err(_)) | (Err(_), Ok(_)) => failures.push(
                            at.clone(),
                            "is_match and find_checked disagree on validity".to_string(),
                        ),
                        _ => {}
                    }
                    // `find` may skip parsing an event that cannot match, so
                    // an invalid event may get "no match" instead of an error.
                    let fast_ok = match (&checked_ids, &fast_ids) {
                        (Ok(a), Ok(b)) => a == b,
                        (Err(_), Err(_)) => true,
                        (Err(_), Ok(b)) => b.is_empty(),
                        (Ok(_), Err(_)) => false,
                    };
                    if !fast_ok {
                        failures.push(
                            at.clone(),
                            format!(
                                "find gives {fast_ids:?} but find_checked gives {checked_ids:?}"
                            ),
                        );
                    }
                    let got = match is_match {
                        Ok(true) => Kind::Yes,
                        Ok(false) => Kind::No,
                        Err(_) => Kind::Bad,
                    };
                    if got != event.kind {
                        failures.push(
                            at,
                            format!(
                                "expected {}, got {}: {}",
                                expected_word(event.kind),
                                expected_word(got),
                                short(&event.text)
                            ),
                        );
                    }
                }
            }
        }
    }
    failures.report("automaton", checked);
}

#[test]
fn naive() {
    let failures = Failures::default();
    let mut checked = 0;
    let mut skipped = 0;
    let limits = Limits::default();
    for case in load() {
        let parsed = parse(&case.pattern, &PatternLimits::default());
        match (&case.expect, parsed) {
            (Expect::Reject { reason, line }, Err(e)) => {
                checked += 1;
                if e.reason() != reason {
                    failures.push(
                        case.at(*line),
                        format!("rejected with `{}`, expected `{reason}`", e.reason()),
                    );
                }
            }
            (Expect::Reject { reason, .. }, Ok(_)) if reason == TOO_COMPLEX => {
                // Complexity is an engine limit, not pattern syntax.
                skipped += 1;
            }
            (Expect::Reject { reason, line }, Ok(_)) => {
                checked += 1;
                failures.push(
                    case.at(*line),
                    format!("accepted, expected rejection `{reason}`"),
                );
            }
            (Expect::Events(events), Err(e)) => {
                checked += events.len();
                failures.push(
                    case.at(case.line),
                    format!(
                        "pattern rejected: `{}` ({} events not run)",
                        e.reason(),
                        events.len()
                    ),
                );
            }
            (Expect::Events(events), Ok(pattern)) => {
                for event in events {
                    checked += 1;
                    let got = match naive::matches(&pattern, event.text.as_bytes(), &limits) {
                        Ok(true) => Kind::Yes,
                        Ok(false) => Kind::No,
                        Err(_) => Kind::Bad,
                    };
                    if got != event.kind {
                        failures.push(
                            case.at(event.line),
                            format!(
                                "expected {}, got {}: {}",
                                expected_word(event.kind),
                                expected_word(got),
                                short(&event.text)
                            ),
                        );
                    }
                }
            }
        }
    }
    assert!(
        skipped <= 10,
        "too many skipped complexity cases: {skipped}"
    );
    failures.report("naive matcher", checked);
}

fn busbar() -> Command {
    Command::new(env!("CARGO_BIN_EXE_busbar"))
}

fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the busbar binary starts");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let input = stdin.to_vec();
    // Write from another thread so a child that fills its stdout first
    // cannot deadlock us.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let output = child.wait_with_output().expect("busbar runs to completion");
    let _ = writer.join();
    output
}

/// A crash (panic exit code 101, or a signal) is always a failure.
fn crashed(output: &Output) -> Option<String> {
    match output.status.code() {
        None => Some(format!("killed by a signal ({})", output.status)),
        Some(101) => Some(format!(
            "panicked: {}",
            short(&String::from_utf8_lossy(&output.stderr))
        )),
        Some(_) => None,
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// Runs `work` over `items` on a few threads (the CLI tests spawn one
/// process per check).
fn parallel<T: Sync>(items: &[T], work: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(4)
        .min(16);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                work(item);
            });
        }
    });
}

#[test]
fn cli_test_pattern() {
    let cases = load();
    // One job per check: (case, Some(event)) or (case, None) for an X.
    let mut jobs: Vec<(&Case, Option<&Event>)> = Vec::new();
    for case in &cases {
        match &case.expect {
            // Skipped: the rules' size quota (2048 characters) does not
            // bind test-pattern, which takes up to TestEventPattern's 4096
            // (tests/cli.rs checks that limit).
            Expect::Reject { reason, .. }
                if reason.starts_with("Event pattern is too long:")
                    && case.pattern.chars().count() <= 4096 => {}
            Expect::Reject { .. } => jobs.push((case, None)),
            Expect::Events(events) => jobs.extend(events.iter().map(|e| (case, Some(e)))),
        }
    }
    let failures = Failures::default();
    parallel(&jobs, |&(case, event)| {
        let event_text = event.map_or("{}", |e| e.text.as_str());
        let output = busbar()
            .arg("test-pattern")
            .arg(format!("--pattern={}", case.pattern))
            .arg(format!("--event={event_text}"))
            .stdin(Stdio::null())
            .output()
            .expect("the busbar binary starts");
        let at = match (&case.expect, event) {
            (Expect::Reject { line, .. }, _) => case.at(*line),
            (_, Some(e)) => case.at(e.line),
            _ => case.at(case.line),
        };
        if let Some(why) = crashed(&output) {
            failures.push(at, why);
            return;
        }
        let code = output.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_string();
        match (&case.expect, event) {
            (Expect::Reject { reason, .. }, _) => {
                let wanted = format!("Event pattern is not valid. Reason: {reason}");
                let got = first_line(&output.stderr);
                if code != 2 || got != wanted {
                    failures.push(
                        at,
                        format!("expected exit 2 and `{wanted}`, got exit {code} and `{got}`"),
                    );
                }
            }
            (_, Some(event)) => {
                let ok = match event.kind {
                    Kind::Yes => code == 0 && stdout == "true",
                    Kind::No => code == 1 && stdout == "false",
                    Kind::Bad => code == 2,
                };
                if !ok {
                    failures.push(
                        at,
                        format!(
                            "expected {}, got exit {code}, stdout `{}`, stderr `{}`: {}",
                            expected_word(event.kind),
                            short(&stdout),
                            short(&first_line(&output.stderr)),
                            short(&event.text)
                        ),
                    );
                }
            }
            _ => {}
        }
    });
    failures.report("busbar test-pattern", jobs.len());
}

#[test]
fn cli_filter() {
    let cases = load();
    let failures = Failures::default();
    parallel(&cases, |case| {
        let mut command = busbar();
        command
            .arg("filter")
            .arg("--validate")
            .arg(format!("--pattern={}", case.pattern));
        match &case.expect {
            Expect::Reject { reason, line } => {
                let output = run_with_stdin(command, b"{}\n");
                let at = case.at(*line);
                if let Some(why) = crashed(&output) {
                    failures.push(at, why);
                    return;
                }
                // `filter` may prefix its messages (`busbar: `); the reason
                // must still end the first line.
                let wanted = format!("Event pattern is not valid. Reason: {reason}");
                let got = first_line(&output.stderr);
                let code = output.status.code().unwrap_or(-1);
                if code != 2 || !got.ends_with(&wanted) || !output.stdout.is_empty() {
                    failures.push(
                        at,
                        format!(
                            "expected exit 2, no output and `{wanted}`, got exit {code}, {} stdout bytes and `{got}`",
                            output.stdout.len()
                        ),
                    );
                }
            }
            Expect::Events(events) => {
                let mut stdin = String::new();
                let mut wanted = String::new();
                for event in events {
                    stdin.push_str(&event.text);
                    stdin.push('\n');
                    if event.kind == Kind::Yes {
                        wanted.push_str(&event.text);
                        wanted.push('\n');
                    }
                }
                let output = run_with_stdin(command, stdin.as_bytes());
                let at = case.at(case.line);
                if let Some(why) = crashed(&output) {
                    failures.push(at, why);
                    return;
                }
                if output.stdout != wanted.as_bytes() {
                    failures.push(
                        at.clone(),
                        format!(
                            "stdout differs:\n--- expected\n{}--- got\n{}---",
                            short_lines(&wanted),
                            short_lines(&String::from_utf8_lossy(&output.stdout))
                        ),
                    );
                }
                let stderr = String::from_utf8_lossy(&output.stderr);
                for (index, event) in events.iter().enumerate() {
                    let tag = format!("line {}:", index + 1);
                    let reported = stderr.contains(&tag);
                    if event.kind == Kind::Bad && !reported {
                        failures.push(
                            case.at(event.line),
                            format!("invalid event not reported as `{tag}` on stderr"),
                        );
                    }
                    if event.kind != Kind::Bad && reported {
                        failures.push(
                            case.at(event.line),
                            format!("valid event reported as `{tag}` on stderr"),
                        );
                    }
                }
            }
        }
    });
    failures.report("busbar filter --validate", cases.len());
}

fn short_lines(text: &str) -> String {
    text.lines().map(|l| format!("{}\n", short(l))).collect()
}

#[test]
fn all_rules_in_one_automaton() {
    let limits = Limits::default();
    let cases = load();
    let mut rules: Vec<(String, Pattern)> = Vec::new();
    let mut builder = RuleSetBuilder::new(limits);
    let failures = Failures::default();
    for case in &cases {
        let Expect::Events(_) = case.expect else {
            continue;
        };
        // Cases whose pattern is (wrongly) rejected are reported by the
        // single-rule tests; here they are left out.
        let Ok(pattern) = parse(&case.pattern, &limits.pattern) else {
            continue;
        };
        let name = case.rule_name();
        match builder.add(&name, &case.pattern) {
            Ok(id) => {
                assert_eq!(id, RuleId(rules.len() as u32), "rule ids follow add order");
                rules.push((name, pattern));
            }
            Err(e) => failures.push(
                case.at(case.line),
                format!("add rejected it: `{}`", e.reason()),
            ),
        }
    }
    let automaton = builder.build().expect("the whole corpus builds");
    assert_eq!(automaton.rule_count(), rules.len());
    // Together, the wildcards on `a` are too many for one DFA: this test
    // covers their matching by literal pieces too.
    assert!(
        automaton.piece_globs() > 0,
        "no wildcard is matched by pieces"
    );
    for (index, (name, _)) in rules.iter().enumerate() {
        assert_eq!(automaton.rule_name(RuleId(index as u32)), name);
    }
    // Every distinct event of the corpus, at its first occurrence.
    let mut seen = BTreeSet::new();
    let mut events: Vec<(String, &Event)> = Vec::new();
    for case in &cases {
        if let Expect::Events(list) = &case.expect {
            for event in list {
                if seen.insert(event.text.clone()) {
                    events.push((case.at(event.line), event));
                }
            }
        }
    }
    let mut cache = automaton.cache();
    let mut checked = 0;
    for (at, event) in &events {
        checked += 1;
        let bytes = event.text.as_bytes();
        let found = automaton
            .find_checked(bytes, &mut cache)
            .map(|ids| ids.to_vec());
        let fast = automaton.find(bytes, &mut cache).map(|ids| ids.to_vec());
        let fast_ok = match (&found, &fast) {
            (Ok(a), Ok(b)) => a == b,
            (Err(_), Err(_)) => true,
            (Err(_), Ok(b)) => b.is_empty(),
            (Ok(_), Err(_)) => false,
        };
        if !fast_ok {
            failures.push(
                at.clone(),
                format!("find gives {fast:?} but find_checked gives {found:?}"),
            );
        }
        let mut wanted = Vec::new();
        let mut invalid = false;
        for (index, (_, pattern)) in rules.iter().enumerate() {
            match naive::matches(pattern, bytes, &limits) {
                Ok(true) => wanted.push(RuleId(index as u32)),
                Ok(false) => {}
                Err(_) => {
                    invalid = true;
                    break;
                }
            }
        }
        match found {
            Err(_) if invalid => {}
            Err(e) => failures.push(
                at.clone(),
                format!("automaton rejects the event ({e}), naive accepts it"),
            ),
            Ok(_) if invalid => failures.push(
                at.clone(),
                "automaton accepts the event, naive rejects it".to_string(),
            ),
            Ok(mut got) => {
                got.sort();
                got.dedup();
                if got != wanted {
                    let name = |id: &RuleId| rules[id.0 as usize].0.clone();
                    let extra: Vec<String> = got
                        .iter()
                        .filter(|id| !wanted.contains(id))
                        .map(name)
                        .collect();
                    let missing: Vec<String> = wanted
                        .iter()
                        .filter(|id| !got.contains(id))
                        .map(name)
                        .collect();
                    failures.push(
                        at.clone(),
                        format!(
                            "matching rules differ from naive: extra {extra:?}, missing {missing:?}: {}",
                            short(&event.text)
                        ),
                    );
                }
            }
        }
    }
    failures.report(
        &format!(
            "{} rules in one automaton over {} events",
            rules.len(),
            events.len()
        ),
        checked,
    );
}

#[test]
fn coverage() {
    let cases = load();
    let mut count = 0;
    let mut sections = BTreeSet::new();
    for case in &cases {
        sections.insert(case.section.clone());
        count += match &case.expect {
            Expect::Reject { .. } => 1,
            Expect::Events(events) => events.len(),
        };
        assert!(
            !case.description.is_empty(),
            "{}: group without a description",
            case.at(case.line)
        );
    }
    assert!(
        count >= 300,
        "only {count} Y/N/X/B cases; want at least 300"
    );
    let mut missing = Vec::new();
    let mut known = BTreeSet::new();
    for (section, rules) in SECTIONS {
        for rule in 1..=*rules {
            let id = format!("{section}.{rule}");
            if !sections.contains(&id) {
                missing.push(id.clone());
            }
            known.insert(id);
        }
    }
    assert!(missing.is_empty(), "sections without a group: {missing:?}");
    let unknown: Vec<&String> = sections.iter().filter(|s| !known.contains(*s)).collect();
    assert!(
        unknown.is_empty(),
        "groups name sections that are not numbered rules: {unknown:?}"
    );
}
