//! `InputTransformer`: an `InputPathsMap` and an `InputTemplate` compiled
//! into a list of literal and placeholder segments, and their rendering.
//!
//! Each placeholder is classified once, at compile time, by where it stands
//! in the template (see [`Mode`]); rendering is then a single pass that
//! copies literals and writes each value the way its mode says, with no
//! per-event decisions beyond the kind of the value found.

use super::error::{RenderError, ShapeError, ShapeErrorKind};
use super::path::{self, Cursor, JsonPath};
use super::RenderContext;
use std::ops::Range;

/// EventBridge's limit on `InputPathsMap` entries.
pub(crate) const MAX_PATHS: usize = 100;
/// EventBridge's limit on an `InputPathsMap` key, in chars.
pub(crate) const MAX_KEY_CHARS: usize = 256;
/// EventBridge's limit on `InputTemplate`, in chars.
pub(crate) const MAX_TEMPLATE_CHARS: usize = 8192;

const TEMPLATE: &str = "input_transformer.input_template";

/// The predefined placeholders and what they stand for.
const PREDEFINED: [(&str, Source); 5] = [
    ("aws.events.rule-arn", Source::RuleArn),
    ("aws.events.rule-name", Source::RuleName),
    ("aws.events.event.ingestion-time", Source::IngestionTime),
    ("aws.events.event", Source::Event),
    ("aws.events.event.json", Source::EventJson),
];

/// Envelope keys `<aws.events.event>` copies, in the order AWS renders them,
/// with the name it renders each under (§4.2.3: camelCase `detailType`).
const EVENT_KEYS: [(&str, &str); 8] = [
    ("id", "id"),
    ("account", "account"),
    ("detail-type", "detailType"),
    ("time", "time"),
    ("source", "source"),
    ("region", "region"),
    ("resources", "resources"),
    ("version", "version"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Index into [`InputTemplate::paths`].
    Path(usize),
    RuleArn,
    RuleName,
    IngestionTime,
    Event,
    EventJson,
}

/// Where a placeholder stands, which decides how a value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Outside any string literal of a JSON-shaped or quoted-string
    /// template: the value's JSON text (strings keep their quotes); a
    /// missing value is `""`.
    Value,
    /// Inside a string literal of a JSON-shaped template: string contents
    /// (still JSON-escaped, so the literal stays valid); objects and arrays
    /// as their JSON text, which usually breaks the JSON (AWS drops such
    /// events, §4.2.5); missing is nothing.
    JsonString,
    /// Inside a string literal of a quoted-string template: like
    /// `JsonString`, but objects and arrays lose the quotes and whitespace
    /// around their strings (`{acc_id:0a787ecb-4015,sf_id:baz}`).
    TextString,
    /// Anywhere in a plain-text template: strings decoded, without quotes;
    /// everything else as JSON text; missing is nothing.
    Plain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(Range<usize>),
    Value { source: Source, mode: Mode },
}

/// A compiled `InputTransformer`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputTemplate {
    text: Box<str>,
    segments: Box<[Segment]>,
    paths: Box<[JsonPath]>,
    /// JSON-shaped: the first non-blank char is `{` or `[`.
    json: bool,
    /// A JSON-shaped template with a value placeholder that touches other
    /// text (`-<n>`, `1<n>`): JSON for some values only, so every result is
    /// checked.
    recheck_always: bool,
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn is_placeholder_char(b: u8) -> bool {
    is_key_char(b) || b == b'.'
}

fn check_key(target: &str, key: &str, setting: &str) -> Result<(), ShapeError> {
    let err = |kind| Err(ShapeError::new(target, setting, kind));
    let chars = key.chars().count();
    if chars == 0 {
        return err(ShapeErrorKind::Empty);
    }
    if chars > MAX_KEY_CHARS {
        return err(ShapeErrorKind::TooLong {
            given: chars,
            limit: MAX_KEY_CHARS,
        });
    }
    if key.starts_with("AWS.")
        || key.starts_with("aws.")
        || PREDEFINED.iter().any(|(n, _)| *n == key)
    {
        return err(ShapeErrorKind::ReservedKey);
    }
    if let Some(position) = key.bytes().position(|b| !is_key_char(b)) {
        return err(ShapeErrorKind::InvalidKey { position });
    }
    Ok(())
}

/// Byte offset and message of a serde_json error over `text`.
pub(crate) fn json_error(text: &[u8], e: &serde_json::Error) -> (usize, String) {
    let mut line_start = 0;
    for _ in 1..e.line() {
        match memchr::memchr(b'\n', &text[line_start..]) {
            Some(p) => line_start += p + 1,
            None => break,
        }
    }
    // At the end of the input serde_json points at the last byte; the
    // problem is the end itself.
    let offset = if e.is_eof() {
        text.len()
    } else {
        (line_start + e.column().saturating_sub(1)).min(text.len())
    };
    let mut reason = e.to_string();
    if let Some(p) = reason.rfind(" at line ") {
        reason.truncate(p);
    }
    (offset, reason)
}

impl InputTemplate {
    /// A plain-text template (§4.2.7): its results are text, not JSON.
    pub fn is_text(&self) -> bool {
        let first = self.text.bytes().find(|c| !c.is_ascii_whitespace());
        !matches!(first, Some(b'{' | b'[' | b'"'))
    }

    pub(crate) fn compile(
        target: &str,
        paths_map: &[(String, String)],
        template: &str,
    ) -> Result<InputTemplate, ShapeError> {
        if paths_map.len() > MAX_PATHS {
            return Err(ShapeError::new(
                target,
                "input_transformer.input_paths_map",
                ShapeErrorKind::TooManyPaths {
                    given: paths_map.len(),
                    limit: MAX_PATHS,
                },
            ));
        }
        let mut paths = Vec::with_capacity(paths_map.len());
        for (n, (key, value)) in paths_map.iter().enumerate() {
            let setting = format!("input_transformer.input_paths_map.{key}");
            check_key(target, key, &setting)?;
            if paths_map[..n].iter().any(|(k, _)| k == key) {
                return Err(ShapeError::new(
                    target,
                    setting,
                    ShapeErrorKind::DuplicateKey,
                ));
            }
            paths.push(super::compile_path(target, &setting, value)?);
        }

        let chars = template.chars().count();
        if chars == 0 {
            return Err(ShapeError::new(target, TEMPLATE, ShapeErrorKind::Empty));
        }
        if chars > MAX_TEMPLATE_CHARS {
            return Err(ShapeError::new(
                target,
                TEMPLATE,
                ShapeErrorKind::TooLong {
                    given: chars,
                    limit: MAX_TEMPLATE_CHARS,
                },
            ));
        }

        let b = template.as_bytes();
        let first = b.iter().copied().find(|c| !c.is_ascii_whitespace());
        let json = matches!(first, Some(b'{' | b'['));
        let quoted = first == Some(b'"');
        // The template with every placeholder replaced by text of the same
        // length that any value could stand for: `0` as a JSON value, `x`s
        // inside a string. If this is not JSON, no event can make it JSON.
        // `strict` has `[]` instead of `0`: a value that cannot merge with
        // the text around it, as a number can (`-<n>` is JSON when `n` is
        // 5, not when it is `"x"` or -5). If only `probe` is JSON, some
        // values break the template and each result must be checked.
        let mut probe = Vec::with_capacity(if json { b.len() } else { 0 });
        let mut strict = Vec::with_capacity(if json { b.len() } else { 0 });
        let mut segments = Vec::new();
        let mut in_str = false;
        let mut lit = 0;
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' if json || quoted => in_str = !in_str,
                b'\\' if in_str => i += 1,
                b'<' => {
                    let end = i
                        + 1
                        + b[i + 1..]
                            .iter()
                            .take_while(|&&c| is_placeholder_char(c))
                            .count();
                    if end > i + 1 && b.get(end) == Some(&b'>') {
                        let name = template.get(i + 1..end).unwrap_or_default();
                        let source = PREDEFINED
                            .iter()
                            .find(|(n, _)| *n == name)
                            .map(|&(_, s)| s)
                            .or_else(|| {
                                paths_map
                                    .iter()
                                    .position(|(k, _)| k == name)
                                    .map(Source::Path)
                            })
                            .ok_or_else(|| {
                                ShapeError::new(
                                    target,
                                    TEMPLATE,
                                    ShapeErrorKind::InvalidPlaceholder { name: name.into() },
                                )
                            })?;
                        let mode = match (json, quoted, in_str) {
                            (false, false, _) => Mode::Plain,
                            (_, _, false) => Mode::Value,
                            (true, _, true) => Mode::JsonString,
                            (false, true, true) => Mode::TextString,
                        };
                        if matches!(source, Source::Event | Source::EventJson)
                            && matches!(mode, Mode::JsonString | Mode::TextString)
                        {
                            let name = if source == Source::Event {
                                "aws.events.event"
                            } else {
                                "aws.events.event.json"
                            };
                            return Err(ShapeError::new(
                                target,
                                TEMPLATE,
                                ShapeErrorKind::JsonPlaceholderInString { name, offset: i },
                            ));
                        }
                        if lit < i {
                            segments.push(Segment::Text(lit..i));
                        }
                        segments.push(Segment::Value { source, mode });
                        if json {
                            probe.extend_from_slice(&b[lit..i]);
                            strict.extend_from_slice(&b[lit..i]);
                            let len = end + 1 - i;
                            if in_str {
                                probe.resize(probe.len() + len, b'x');
                                strict.resize(strict.len() + len, b'x');
                            } else {
                                // A placeholder is at least 3 bytes (`<a>`).
                                probe.push(b'0');
                                probe.resize(probe.len() + len - 1, b' ');
                                strict.extend_from_slice(b"[]");
                                strict.resize(strict.len() + len - 2, b' ');
                            }
                        }
                        i = end + 1;
                        lit = i;
                        continue;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if lit < b.len() {
            segments.push(Segment::Text(lit..b.len()));
        }
        let mut recheck_always = false;
        if json {
            probe.extend_from_slice(&b[lit.min(b.len())..]);
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&probe) {
                let (offset, reason) = json_error(&probe, &e);
                return Err(ShapeError::new(
                    target,
                    TEMPLATE,
                    ShapeErrorKind::TemplateNotJson { offset, reason },
                ));
            }
            strict.extend_from_slice(&b[lit.min(b.len())..]);
            recheck_always = serde_json::from_slice::<serde::de::IgnoredAny>(&strict).is_err();
        }
        Ok(InputTemplate {
            text: template.into(),
            segments: segments.into(),
            paths: paths.into(),
            json,
            recheck_always,
        })
    }

    pub(crate) fn render(
        &self,
        event: &[u8],
        ctx: &RenderContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        out.clear();
        // Only a JSON text written inside a string literal, or a value
        // placeholder that touches other text, can break a template that
        // passed the compile-time probe, so only then is the result parsed
        // again.
        let mut recheck = self.recheck_always;
        let text = self.text.as_bytes();
        for segment in self.segments.iter() {
            match *segment {
                Segment::Text(ref r) => {
                    out.extend_from_slice(text.get(r.clone()).unwrap_or_default())
                }
                Segment::Value { source, mode } => match source {
                    Source::Path(n) => {
                        let value = match self.paths.get(n) {
                            Some(p) => p
                                .find(event)
                                .map_err(|offset| RenderError::InvalidEvent { offset })?,
                            None => None,
                        };
                        recheck |= write_value(value, mode, out);
                    }
                    Source::RuleArn => write_str(ctx.rule_arn, mode, out),
                    Source::RuleName => write_str(ctx.rule_name, mode, out),
                    Source::IngestionTime => write_str(ctx.ingestion_time, mode, out),
                    Source::Event => write_event(event, out)?,
                    Source::EventJson => out.extend_from_slice(event.trim_ascii()),
                },
            }
        }
        if self.json && recheck {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(out) {
                let (offset, reason) = json_error(out, &e);
                return Err(RenderError::InvalidJsonAfterTransform { offset, reason });
            }
        }
        Ok(())
    }
}

/// Writes a value found in the event (`None`: the path matched nothing).
/// Returns whether a JSON text went inside a string literal.
fn write_value(value: Option<&[u8]>, mode: Mode, out: &mut Vec<u8>) -> bool {
    let Some(raw) = value else {
        if mode == Mode::Value {
            out.extend_from_slice(b"\"\"");
        }
        return false;
    };
    match (raw.first(), mode) {
        (_, Mode::Value) => out.extend_from_slice(raw),
        (Some(b'"'), _) => {
            let inner = raw.get(1..raw.len() - 1).unwrap_or_default();
            match mode {
                Mode::Plain if memchr::memchr(b'\\', inner).is_some() => {
                    match path::decode(inner) {
                        Some(s) => out.extend_from_slice(s.as_bytes()),
                        None => out.extend_from_slice(inner),
                    }
                }
                _ => out.extend_from_slice(inner),
            }
        }
        (Some(b'{' | b'['), Mode::TextString) => strip_quotes(raw, out),
        (Some(b'{' | b'['), Mode::JsonString) => {
            out.extend_from_slice(raw);
            return true;
        }
        _ => out.extend_from_slice(raw),
    }
    false
}

/// Writes an object or array with its strings unquoted and the whitespace
/// between tokens removed, as AWS does for one inside a quoted-string
/// template. Escapes inside strings are kept, so the text stays valid
/// inside the template's string literal.
fn strip_quotes(raw: &[u8], out: &mut Vec<u8>) {
    let mut in_str = false;
    let mut escaped = false;
    for &c in raw {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
                continue;
            }
            out.push(c);
        } else if c == b'"' {
            in_str = true;
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
}

/// Writes one of the strings of the [`RenderContext`].
fn write_str(s: &str, mode: Mode, out: &mut Vec<u8>) {
    match mode {
        Mode::Plain => out.extend_from_slice(s.as_bytes()),
        Mode::Value => {
            out.push(b'"');
            escape_into(s, out);
            out.push(b'"');
        }
        Mode::JsonString | Mode::TextString => escape_into(s, out),
    }
}

/// JSON string escaping, without the quotes.
fn escape_into(s: &str, out: &mut Vec<u8>) {
    for &c in s.as_bytes() {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(c >> 4)]);
                out.push(HEX[usize::from(c & 0xf)]);
            }
            _ => out.push(c),
        }
    }
}

/// `<aws.events.event>`: the envelope without `detail`, keys renamed and
/// ordered as AWS renders them; keys the event lacks are left out.
fn write_event(event: &[u8], out: &mut Vec<u8>) -> Result<(), RenderError> {
    let mut slots: [Option<&[u8]>; EVENT_KEYS.len()] = [None; EVENT_KEYS.len()];
    let mut cur = Cursor::new(event);
    cur.ws();
    cur.members(|key, cur| {
        let start = cur.i;
        cur.skip_value()?;
        if let Some(n) = EVENT_KEYS.iter().position(|(k, _)| path::key_eq(key, k)) {
            if let Some(slot) = slots.get_mut(n) {
                if slot.is_none() {
                    *slot = cur.b.get(start..cur.i);
                }
            }
        }
        Ok(false)
    })
    .map_err(|offset| RenderError::InvalidEvent { offset })?;
    out.push(b'{');
    let mut first = true;
    for ((_, name), value) in EVENT_KEYS.iter().zip(slots) {
        let Some(value) = value else { continue };
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value);
    }
    out.push(b'}');
    Ok(())
}
