//! `busbar filter` used as grep is: the exit status, `-v`, `-q`, `-m`,
//! `--stats`, several files and unreadable ones, and `test-pattern` reading
//! its arguments from stdin and `file://` paths. Each test runs the real
//! binary.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use support::busbar;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("busbar-filter-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn temp(name: &str, content: &str) -> String {
    let p = dir().join(name);
    std::fs::write(&p, content).expect("temp file");
    p.to_str().expect("utf-8 path").to_string()
}

/// Six lines: three events with `a` 1, 2, 1, an invalid line, a blank one,
/// and one event without `a`.
const EVENTS: &str =
    "{\"a\":1,\"n\":1}\n{\"a\":2,\"n\":2}\n{\"a\":1} x\n\n{\"a\":1,\"n\":3}\n{\"b\":1}\n";
const A1: &str = r#"{"a":[1]}"#;

fn code(args: &[&str], stdin: &str) -> (Option<i32>, String, String) {
    let out = busbar(args, stdin.as_bytes());
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn exit_status_is_0_on_a_match_1_on_none_2_on_an_error() {
    let (c, out, _) = code(&["filter", "-p", A1], EVENTS);
    assert_eq!((c, out.lines().count()), (Some(0), 2));
    let (c, out, _) = code(&["filter", "-p", r#"{"a":[9]}"#], EVENTS);
    assert_eq!((c, out.as_str()), (Some(1), ""));
    // --count prints its zero and still says that nothing was selected.
    let (c, out, _) = code(&["filter", "-c", "-p", r#"{"a":[9]}"#], EVENTS);
    assert_eq!((c, out.as_str()), (Some(1), "0\n"));
    // Under --validate an invalid line is an error; the other lines are
    // still filtered.
    let (c, out, err) = code(&["filter", "--validate", "-p", A1], EVENTS);
    assert_eq!(c, Some(2), "{err}");
    assert_eq!(out, "{\"a\":1,\"n\":1}\n{\"a\":1,\"n\":3}\n");
    assert!(err.contains("line 3: invalid event at byte 8"), "{err}");
    // Without it the status does not depend on which lines were parsed:
    // this invalid line has the pattern's literals and is reported, yet
    // the run selected events and exits 0.
    let (c, _, err) = code(&["filter", "-p", A1], EVENTS);
    assert_eq!(c, Some(0));
    assert!(err.contains("line 3:"), "{err}");
    // --strict stops there with 2, after printing what came before.
    let (c, out, _) = code(&["filter", "--strict", "-p", A1], EVENTS);
    assert_eq!((c, out.as_str()), (Some(2), "{\"a\":1,\"n\":1}\n"));
    // A bad pattern is an error too.
    let (c, _, _) = code(&["filter", "-p", r#"{"a":1}"#], EVENTS);
    assert_eq!(c, Some(2));
}

#[test]
fn an_unreadable_file_is_reported_and_the_others_are_still_searched() {
    let good = temp("good.ndjson", "{\"a\":1}\n");
    let missing = dir().join("missing.ndjson");
    let missing = missing.to_str().expect("path");
    let a_dir = dir().to_str().expect("path").to_string();
    let (c, out, err) = code(&["filter", "-p", A1, missing, &a_dir, &good], "");
    assert_eq!(c, Some(2), "an error wins over a match without -q");
    assert_eq!(out, "{\"a\":1}\n");
    assert!(
        err.contains(&format!("cannot open `{missing}`")),
        "names the missing file: {err}"
    );
    assert!(
        err.contains(&format!("cannot read `{a_dir}`")),
        "names the directory: {err}"
    );
    // With -q a selected event exits 0 even after an error, as grep's.
    let (c, out, _) = code(&["filter", "-q", "-p", A1, missing, &good], "");
    assert_eq!((c, out.as_str()), (Some(0), ""));
    let (c, _, _) = code(&["filter", "-q", "-p", r#"{"a":[9]}"#, missing, &good], "");
    assert_eq!(c, Some(2));
}

#[test]
fn invert_match_prints_the_valid_events_that_match_no_rule() {
    let (c, out, err) = code(&["filter", "-v", "-p", A1], EVENTS);
    // The invalid line is not an event: reported, never printed, status 2.
    assert_eq!(out, "{\"a\":2,\"n\":2}\n{\"b\":1}\n");
    assert_eq!(c, Some(2));
    assert!(err.contains("line 3:"), "{err}");
    let valid: String =
        EVENTS
            .lines()
            .filter(|l| !l.ends_with(" x"))
            .fold(String::new(), |mut s, l| {
                s.push_str(l);
                s.push('\n');
                s
            });
    let (c, out, _) = code(&["filter", "--invert-match", "-p", A1], &valid);
    assert_eq!((c, out.lines().count()), (Some(0), 2));
    // Only the total with --count: no rule matched what -v selects.
    let rules = temp("rules-v.json", r#"{"one":{"a":[1]},"two":{"a":[2]}}"#);
    let (c, out, _) = code(&["filter", "-v", "-c", "--rules", &rules], &valid);
    assert_eq!((c, out.as_str()), (Some(0), "1\n"));
    // Every event matches: nothing selected.
    let (c, out, _) = code(
        &["filter", "-v", "-p", r#"{"n":[{"exists":true}]}"#],
        "{\"n\":1}\n{\"n\":2}\n",
    );
    assert_eq!((c, out.as_str()), (Some(1), ""));
}

#[test]
fn max_count_stops_each_file_after_n_selected_events() {
    let one = temp(
        "m1.ndjson",
        "{\"a\":1,\"f\":1,\"i\":1}\n{\"a\":1,\"f\":1,\"i\":2}\n{\"a\":1,\"f\":1,\"i\":3}\n",
    );
    let two = temp(
        "m2.ndjson",
        "{\"a\":2}\n{\"a\":1,\"f\":2,\"i\":1}\n{\"a\":1,\"f\":2,\"i\":2}\n",
    );
    let (c, out, _) = code(&["filter", "-m", "1", "-p", A1, &one, &two], "");
    assert_eq!(c, Some(0));
    assert_eq!(
        out,
        "{\"a\":1,\"f\":1,\"i\":1}\n{\"a\":1,\"f\":2,\"i\":1}\n"
    );
    let (_, out, _) = code(
        &["filter", "--max-count", "2", "-c", "-p", A1, &one, &two],
        "",
    );
    assert_eq!(out, "4\n");
    let (_, out, _) = code(&["filter", "-m", "1", "-v", "-p", A1, &one, &two], "");
    assert_eq!(out, "{\"a\":2}\n");
    // -m 0 reads nothing.
    let (c, out, _) = code(&["filter", "-m", "0", "-c", "-p", A1, &one], "");
    assert_eq!((c, out.as_str()), (Some(1), "0\n"));
    // Stopping early stops reading: --stats counts what was read.
    let (_, _, err) = code(&["filter", "-m", "1", "--stats", "-p", A1, &one], "");
    assert_eq!(stats(&err)["events read"], 1.0, "{err}");
}

#[test]
fn quiet_prints_nothing_and_stops_at_the_first_match_without_reading_the_rest() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["filter", "-q", "-p", A1])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("busbar runs");
    let mut input = child.stdin.take().expect("stdin");
    // 1 GiB of events after the match: far more than busbar would read in
    // this test's time if it did not stop.
    const TOTAL: usize = 1 << 30;
    let writer = std::thread::spawn(move || {
        let mut written = 0;
        let filler =
            "{\"a\":2,\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n".repeat(1000);
        if input.write_all(b"{\"a\":1}\n").is_err() {
            return written;
        }
        while written < TOTAL {
            match input.write_all(filler.as_bytes()) {
                Ok(()) => written += filler.len(),
                Err(_) => break,
            }
        }
        written
    });
    let out = child.wait_with_output().expect("busbar finishes");
    let written = writer.join().expect("writer");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(
        written < TOTAL / 8,
        "busbar kept reading after the match: {written} bytes written"
    );
    // No match: read to the end, exit 1.
    let (c, out, _) = code(&["filter", "--quiet", "-p", r#"{"a":[9]}"#], EVENTS);
    assert_eq!((c, out.as_str()), (Some(1), ""));
    // --silent is grep's other name for it.
    let (c, _, _) = code(&["filter", "--silent", "-p", A1], EVENTS);
    assert_eq!(c, Some(0));
}

#[test]
fn options_that_contradict_each_other_are_usage_errors() {
    for (args, a, b) in [
        (&["-q", "-c"][..], "--quiet", "--count"),
        (&["-q", "--print-rules"][..], "--quiet", "--print-rules"),
        (
            &["-v", "--print-rules"][..],
            "--invert-match",
            "--print-rules",
        ),
    ] {
        let mut all = vec!["filter", "-p", A1];
        all.extend_from_slice(args);
        let (c, out, err) = code(&all, EVENTS);
        assert_eq!((c, out.as_str()), (Some(2), ""), "{args:?}");
        assert!(err.contains(a) && err.contains(b), "{args:?}: {err}");
    }
}

/// `--max-event-bytes` takes `limits.max_event_bytes`'s range: 0 would turn
/// every event away, and a huge value made the read buffer's allocation
/// abort the process.
#[test]
fn max_event_bytes_outside_its_range_is_a_usage_error() {
    for n in ["0", "67108865", "99999999999999"] {
        let (c, out, err) = code(&["filter", "--max-event-bytes", n, "-p", A1], EVENTS);
        assert_eq!((c, out.as_str()), (Some(2), ""), "{n}: {err}");
        assert!(
            err.contains("--max-event-bytes") && err.contains("1..=67108864"),
            "{n}: {err}"
        );
    }
    // A limit of exactly one event's size: that event passes, the same
    // bytes ended by CRLF do not (the CR counts), with and without
    // --no-mmap. Then the top of the range.
    let event = format!("{{\"a\":1,\"p\":\"{}\"}}", "x".repeat(3));
    let bytes = event.len().to_string();
    let file = temp("limit-ends.ndjson", &format!("{event}\n{event}\r\n"));
    for args in [
        vec!["filter", "--max-event-bytes", &bytes, "-c", "-p", A1, &file],
        vec![
            "filter",
            "--max-event-bytes",
            &bytes,
            "--no-mmap",
            "-c",
            "-p",
            A1,
            &file,
        ],
    ] {
        let (c, out, err) = code(&args, "");
        // The CR before a newline is part of the line: one byte over.
        assert_eq!((c, out.as_str()), (Some(0), "1\n"), "{args:?}");
        assert!(err.contains("line 2: invalid event"), "{args:?}: {err}");
    }
    let (c, out, _) = code(
        &["filter", "--max-event-bytes", "67108864", "-c", "-p", A1],
        EVENTS,
    );
    assert_eq!((c, out.as_str()), (Some(0), "2\n"));
}

/// `--stats` lines `<number> <what>` as a map from what to number.
fn stats(stderr: &str) -> HashMap<String, f64> {
    stderr
        .lines()
        .filter_map(|l| {
            let (n, what) = l.split_once(' ')?;
            Some((what.to_string(), n.parse().ok()?))
        })
        .collect()
}

#[test]
fn stats_counts_match_the_input() {
    // 300 events: every third has a=1, every fifth a=2 (the others a=0),
    // plus 7 invalid lines and 4 blank ones.
    let mut input = String::new();
    for i in 0..300 {
        let a = if i % 3 == 0 {
            1
        } else if i % 5 == 0 {
            2
        } else {
            0
        };
        input.push_str(&format!("{{\"a\":{a},\"i\":{i}}}\n"));
        if i % 50 == 0 && i < 300 - 50 {
            input.push_str("{\"a\":1,\n\n");
        }
    }
    input.push_str("nope\n");
    input.push_str("[1]\n");
    let rules = temp(
        "stats-rules.json",
        r#"{"one":{"a":[1]},"two":{"a":[2]},"low":{"i":[{"numeric":["<",10]}]}}"#,
    );
    let out = busbar(
        &["filter", "--validate", "--stats", "-c", "--rules", &rules],
        input.as_bytes(),
    );
    let err = text(&out.stderr);
    let s = stats(&err);
    let ones = (0..300).filter(|i| i % 3 == 0).count() as f64;
    let twos = (0..300).filter(|i| i % 3 != 0 && i % 5 == 0).count() as f64;
    let low = 10.0;
    let low_only = (0..10).filter(|i| i % 3 != 0 && i % 5 != 0).count() as f64;
    assert_eq!(s["events read"], 300.0 + 5.0 + 2.0, "{err}");
    assert_eq!(s["blank lines"], 5.0, "{err}");
    assert_eq!(s["invalid lines"], 7.0, "{err}");
    assert_eq!(s["events matched"], ones + twos + low_only, "{err}");
    assert_eq!(s["events matched rule one"], ones, "{err}");
    assert_eq!(s["events matched rule two"], twos, "{err}");
    assert_eq!(s["events matched rule low"], low, "{err}");
    assert_eq!(s["bytes read"], input.len() as f64, "{err}");
    let secs = s["seconds reading and matching"];
    assert!(secs > 0.0 && s["seconds compiling"] > 0.0, "{err}");
    let rate = s["events/s"];
    let expected = 307.0 / secs;
    assert!((rate - expected).abs() <= expected * 0.01 + 1.0, "{err}");
    let mbs = s["MB/s"];
    let expected = input.len() as f64 / secs / 1e6;
    assert!((mbs - expected).abs() <= expected * 0.01 + 0.1, "{err}");
    // stdout is --count's, untouched by --stats.
    assert_eq!(
        text(&out.stdout),
        format!(
            "{}\n{ones}\tone\n{twos}\ttwo\n{low}\tlow\n",
            ones + twos + low_only
        )
    );
    assert_eq!(out.status.code(), Some(2), "invalid lines under --validate");

    // -v reports what it selected; with -q the run stops at the first one.
    let (_, _, err) = code(&["filter", "-v", "--stats", "-p", A1], EVENTS);
    let s = stats(&err);
    assert_eq!(s["events selected (valid, matching no rule)"], 2.0, "{err}");
    assert_eq!(s["events matched"], 2.0, "{err}");
    let (c, _, err) = code(&["filter", "-q", "--stats", "-p", A1], EVENTS);
    assert_eq!(c, Some(0));
    assert_eq!(stats(&err)["events read"], 1.0, "{err}");
}

#[test]
fn test_pattern_reads_stdin_and_file_urls() {
    let pattern = temp("tp-pattern.json", r#"{"a":[{"prefix":"x"}]}"#);
    let event = temp("tp-event.json", r#"{"a":"xy"}"#);
    let url = |p: &str| format!("file://{p}");
    for (p, e, stdin) in [
        (url(&pattern), url(&event), ""),
        (url(&pattern), "-".to_string(), r#"{"a":"xy"}"#),
        (
            "@-".to_string(),
            format!("@{event}"),
            r#"{"a":[{"prefix":"x"}]}"#,
        ),
        (
            "-".to_string(),
            r#"{"a":"xy"}"#.to_string(),
            r#"{"a":[{"prefix":"x"}]}"#,
        ),
    ] {
        let (c, out, err) = code(&["test-pattern", "--pattern", &p, "--event", &e], stdin);
        assert_eq!((c, out.as_str()), (Some(0), "true\n"), "{p} {e}: {err}");
    }
    let (c, out, _) = code(
        &["test-pattern", "--pattern", &url(&pattern), "--event", "-"],
        r#"{"a":"yx"}"#,
    );
    assert_eq!((c, out.as_str()), (Some(1), "false\n"));
    let (c, _, err) = code(&["test-pattern", "--pattern", "-", "--event", "@-"], "{}");
    assert_eq!(c, Some(2));
    assert!(
        err.contains("--pattern and --event cannot both be read from stdin"),
        "{err}"
    );
    let missing = dir().join("nope.json");
    let (c, _, err) = code(
        &[
            "test-pattern",
            "--pattern",
            &format!("file://{}", missing.display()),
            "--event",
            "{}",
        ],
        "",
    );
    assert_eq!(c, Some(2));
    assert!(
        err.contains(&format!(
            "cannot read --pattern file `{}`",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn filter_reads_its_pattern_from_stdin_when_the_events_are_files() {
    let events = temp("p-stdin.ndjson", EVENTS);
    let (c, out, _) = code(&["filter", "-p", "-", &events], A1);
    assert_eq!((c, out.lines().count()), (Some(0), 2));
    let (c, _, err) = code(&["filter", "-p", "-"], A1);
    assert_eq!(c, Some(2));
    assert!(
        err.contains("the events and --pattern cannot both be read from stdin"),
        "{err}"
    );
}

/// Without --validate, runs of lines that hold none of the rules' literals
/// are passed over by one search per read buffer and only counted: every
/// count, every selected line and the line number of every reported line
/// stay what a line-by-line search gives (here, what --validate gives for
/// the lines it shares with it), across reads of a pipe.
#[test]
fn lines_passed_over_by_the_buffer_search_are_still_counted() {
    let mut input = String::new();
    let mut want = Vec::new();
    let mut blank = 0;
    let mut events = 0;
    for i in 0..40_000 {
        let line = match i % 997 {
            // Matches, spelt plainly, with whitespace, or with escapes that
            // hide the literal.
            0 => format!(r#"{{"s":"MISSION","i":{i}}}"#),
            1 => format!(r#"{{ "i": {i}, "s": "MISSION" }}"#),
            2 => format!(r#"{{"i":{i},"s":"MISS\u0049ON"}}"#),
            // Near misses and escapes that hide nothing.
            3 => format!(r#"{{"s":"MISSIONS","i":{i}}}"#),
            4 => format!(r#"{{"s":"M\/ISSION","i":{i}}}"#),
            // Blank lines of every kind.
            5 => String::new(),
            6 => " \t\r".to_string(),
            // Invalid lines: without the literal (not reported without
            // --validate) and with it (reported either way).
            7 => "{\"s\":\"x\" nope".to_string(),
            8 => "{\"s\":\"MISSION\" nope".to_string(),
            _ => format!(r#"{{"s":"VALENCIA","t":"ST","i":{i}}}"#),
        };
        match i % 997 {
            0..=2 => want.push(line.clone()),
            5 | 6 => blank += 1,
            _ => {}
        }
        if !matches!(i % 997, 5 | 6) {
            events += 1;
        }
        input.push_str(&line);
        input.push('\n');
    }
    // A run with no match many times longer than one window of the search
    // (128 KiB), blank lines at every distance from the window's edges, and
    // one line longer than a window; then a match.
    for i in 0..12_000 {
        let line = match i % 13 {
            0 => " ".repeat(i % 5),
            _ if i == 6_000 => format!(r#"{{"pad":"{}"}}"#, "y".repeat(300_000)),
            _ => format!(r#"{{"s":"VALENCIA","t":"ST","j":{i}}}"#),
        };
        if i % 13 == 0 {
            blank += 1;
        } else {
            events += 1;
        }
        input.push_str(&line);
        input.push('\n');
    }
    let last = r#"{"s":"MISSION","j":"last"}"#;
    want.push(last.to_string());
    events += 1;
    input.push_str(last);
    input.push('\n');
    let p = r#"{"s":["MISSION"]}"#;
    let run = |extra: &[&str]| {
        let mut args = vec!["filter", "--stats", "-p", p];
        args.extend_from_slice(extra);
        let out = busbar(&args, input.as_bytes());
        (text(&out.stdout), text(&out.stderr))
    };
    let (out, err) = run(&[]);
    let (checked_out, checked_err) = run(&["--validate"]);
    assert_eq!(out, format!("{}\n", want.join("\n")), "{err}");
    assert_eq!(out, checked_out);
    let s = stats(&err);
    let checked = stats(&checked_err);
    for what in ["events read", "blank lines", "events matched", "bytes read"] {
        assert_eq!(s[what], checked[what], "{what}: {err}\n{checked_err}");
    }
    assert_eq!(s["events read"], events as f64, "{err}");
    assert_eq!(s["blank lines"], blank as f64, "{err}");
    // The invalid lines with the literal are reported at their line
    // numbers; those without it only under --validate.
    let reported = |err: &str, line: usize| err.contains(&format!("line {line}: invalid event"));
    for i in (0..40_000).filter(|i| i % 997 == 8) {
        assert!(reported(&err, i + 1), "line {}: {err}", i + 1);
    }
    for i in (0..40_000).filter(|i| i % 997 == 7) {
        assert!(!reported(&err, i + 1), "line {}: {err}", i + 1);
        assert!(
            reported(&checked_err, i + 1),
            "line {}: {checked_err}",
            i + 1
        );
    }
    // The same counts by --count, from a file read in one buffer.
    let f = temp("skip-count.ndjson", &input);
    let (c, count, _) = code(&["filter", "-c", "-p", p, &f], "");
    assert_eq!((c, count), (Some(0), format!("{}\n", want.len())));
    // The same lines and counts from the file mapped into memory (it is
    // over 1 MiB) and read with --no-mmap.
    assert!(input.len() > 1 << 20);
    for extra in [None, Some("--no-mmap")] {
        let mut args = vec!["filter", "--stats", "-p", p, &f];
        args.extend(extra);
        let file = busbar(&args, b"");
        let file_err = text(&file.stderr);
        assert_eq!(text(&file.stdout), out, "{extra:?}: {file_err}");
        let fs = stats(&file_err);
        for what in ["events read", "blank lines", "events matched", "bytes read"] {
            assert_eq!(fs[what], s[what], "{extra:?} {what}: {file_err}");
        }
    }
    // Without --stats, the lines passed over in a mapped file are counted
    // only where a line number is reported: the same numbers, also for an
    // unfinished last line.
    let numbers = |err: &str| -> Vec<String> {
        err.lines()
            .filter_map(|l| l.split_once(": line ").map(|(_, rest)| rest.to_string()))
            .collect()
    };
    let mut want_numbers = numbers(&err);
    assert_eq!(want_numbers.len(), 41, "{err}");
    let plain = busbar(&["filter", "-p", p, &f], b"");
    assert_eq!(text(&plain.stdout), out);
    assert_eq!(numbers(&text(&plain.stderr)), want_numbers);
    let unfinished = temp(
        "skip-unfinished.ndjson",
        &format!("{input}{{\"s\":\"MISSION\" nope"),
    );
    let plain = busbar(&["filter", "-c", "-p", p, &unfinished], b"");
    want_numbers.push("52002: invalid event at byte 15: expected ',' or '}' in an object".into());
    assert_eq!(numbers(&text(&plain.stderr)), want_numbers);
}

/// Blank lines hold JSON whitespace only: a line of form feeds is not
/// blank but an invalid event (reported under --validate, status 2).
#[test]
fn only_json_whitespace_makes_a_line_blank() {
    let input = "{\"a\":1}\n \t\r\n\x0c\n \x0c \n\n";
    let (c, out, err) = code(
        &["filter", "--validate", "--count", "--stats", "-p", A1],
        input,
    );
    let s = stats(&err);
    assert_eq!((c, out.trim()), (Some(2), "1"), "{err}");
    assert_eq!(s["blank lines"], 2.0, "{err}");
    assert_eq!(s["invalid lines"], 2.0, "{err}");
    assert!(err.contains("line 3: invalid event at byte 0"), "{err}");
    // Without --validate the line cannot match and is passed over, not
    // counted blank.
    let (c, _, err) = code(&["filter", "--count", "--stats", "-p", A1], input);
    assert_eq!((c, stats(&err)["blank lines"]), (Some(0), 2.0), "{err}");
}

/// A line several times the read buffer (4 MiB) is one invalid line,
/// reported once, with its length, in the same words whether the file is
/// mapped, read or piped, and whether a newline ends it or the input does;
/// the events around it are still read.
#[test]
fn a_line_longer_than_the_read_buffer_is_one_invalid_line() {
    let long = format!("{{\"a\":\"{}\"}}", "x".repeat(10 << 20));
    let want = format!(
        "line 2: invalid event at byte 1048576: event is {} bytes, over the limit of 1048576 \
         (setting --max-event-bytes)",
        long.len()
    );
    for (file, content, events) in [
        (
            "long-line.ndjson",
            format!("{{\"a\":1}}\n{long}\n{{\"a\":1}}\n"),
            "2",
        ),
        ("long-last-line.ndjson", format!("{{\"a\":1}}\n{long}"), "1"),
    ] {
        let path = temp(file, &content);
        let runs: [(&[&str], &str); 3] = [
            (&[path.as_str()], ""),
            (&["--no-mmap", path.as_str()], ""),
            (&[], content.as_str()),
        ];
        for (extra, stdin) in runs {
            let mut args = vec!["filter", "--count", "--stats", "-p", A1];
            args.extend_from_slice(extra);
            let (c, out, err) = code(&args, stdin);
            let s = stats(&err);
            assert_eq!(
                (c, out.trim()),
                (Some(0), events),
                "{file} {extra:?}: {err}"
            );
            let invalid = s
                .iter()
                .find_map(|(what, n)| what.starts_with("invalid lines").then_some(*n));
            assert_eq!(invalid, Some(1.0), "{file} {extra:?}: {err}");
            let read: f64 = events.parse::<f64>().unwrap() + 1.0;
            assert_eq!(s["events read"], read, "{file} {extra:?}: {err}");
            let reports: Vec<_> = err.lines().filter(|l| l.contains("line 2:")).collect();
            assert_eq!(reports.len(), 1, "{file} {extra:?}: {err}");
            assert!(reports[0].ends_with(&want), "{file} {extra:?}: {err}");
        }
        // --strict stops there, after reporting it.
        let (c, out, err) = code(&["filter", "--strict", "-p", A1, "--no-mmap", &path], "");
        assert_eq!(c, Some(2), "{file}: {err}");
        assert_eq!(out.lines().count(), 1, "{file}: {out}");
        assert!(err.trim_end().ends_with(&want), "{file}: {err}");
    }
}

/// A file is mapped into memory, not read; should it shrink while it is
/// searched, the run ends with status 2 and says why, instead of dying of
/// SIGBUS. The first megabyte of output fills the pipe, which is read only
/// once the file has been cut: busbar is then stopped in mid-file.
#[test]
fn a_mapped_file_that_shrinks_ends_the_run_with_status_2() {
    use std::io::Read;
    let line = format!("{{\"s\":\"MISSION\",\"pad\":\"{}\"}}\n", "x".repeat(80));
    let path = dir().join("shrinks.ndjson");
    std::fs::write(&path, line.repeat(80_000)).expect("temp file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_busbar"))
        .args(["filter", "-p", r#"{"s":["MISSION"]}"#])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("busbar starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("the first output");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_len(0))
        .expect("truncate");
    let mut rest = Vec::new();
    stdout
        .read_to_end(&mut rest)
        .expect("the rest of the output");
    let out = child.wait_with_output().expect("busbar exits");
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("shrank while it was being read"), "{err}");
    assert!(rest.len() + 1 < line.len() * 80_000);
}
