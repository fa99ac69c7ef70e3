//! Input shaping: what one target receives for a matched event, the way
//! EventBridge's target `Input`, `InputPath` and `InputTransformer` shape it
//! (semantics §4.1–§4.2).
//!
//! A target's settings are compiled once, when the config is loaded, into an
//! immutable [`Shaper`] (`Send + Sync`, shared by every worker); every error
//! a setting can have is found then, as a [`ShapeError`] naming the target
//! and the setting. [`Shaper::render`] then writes the body for one event
//! into a caller-owned buffer that the caller reuses, so rendering the
//! envelope or a constant allocates nothing once the buffer has grown, and
//! paths and templates allocate only in the rare cases listed below. The
//! event given to `render` is always a complete EventBridge envelope (§3.1)
//! that the pipeline has already validated as JSON; this module reads it
//! without building a tree (see `path.rs`) and never matches rules.
//!
//! # Choices where EventBridge's behaviour is not pinned down ([VERIFY])
//!
//! - **`InputPath` that matches nothing** (§4.1.3): accepted when the target
//!   is built (as AWS does), and the event is then not delivered:
//!   [`RenderError::InputPathNoMatch`], code `INPUT_PATH_NO_MATCH`, which
//!   the pipeline dead-letters. An empty or `null` body would look like a
//!   real value to the target.
//! - **Template whitespace** (§4.2.4) is preserved byte for byte, and values
//!   are copied as the JSON text they have in the event (number spelling
//!   such as `1.0` and whitespace inside objects included), not
//!   re-serialised. `InputPath` results likewise.
//! - **Plain-text templates** (§4.2.7, first non-blank char neither `{`,
//!   `[` nor `"`) are delivered as text: strings are written decoded and
//!   without quotes (`<instance> is in state <status>` →
//!   `i-0123 is in state RUNNING`), other values as their JSON text, a
//!   missing value as nothing. Quotes in plain text are not tracked, and
//!   `<aws.events.event>` / `<aws.events.event.json>` are allowed there.
//! - **JSON-shaped templates that can never be JSON** (a placeholder used as
//!   an object key, which the AWS docs forbid, or a syntax error) are
//!   rejected when the target is built (`ShapeErrorKind::TemplateNotJson`):
//!   every event would otherwise be dead-lettered. The check fills each
//!   placeholder with a same-length stand-in (`0` as a value, `x`s inside a
//!   string), so the reported offset is the template's own.
//! - **Invalid JSON after substitution** (§4.2.5: an object or array placed
//!   inside a string literal of a JSON-shaped template, or a value
//!   placeholder that touches other text, as in `-<n>`, given anything but
//!   a number that fits) is a
//!   [`RenderError::InvalidJsonAfterTransform`] with the byte offset in the
//!   rendered text; AWS drops such events silently, busbar dead-letters
//!   them. Objects and arrays inside a string literal are written as their
//!   JSON text in JSON-shaped templates (which is why AWS's output breaks)
//!   and with their quotes stripped in quoted-string templates (§4.2.4:
//!   `{acc_id:0a787ecb-4015,sf_id:baz}`, `[ACTIVE,INACTIVE]`).
//! - **Strings inside a string literal** keep the JSON escapes they have in
//!   the event, so the literal stays valid JSON; the rule name, rule ARN and
//!   ingestion time are JSON-escaped there and quoted in value positions.
//! - **Placeholders**: `<` followed by one or more of `[A-Za-z0-9_.-]` and
//!   `>` is a placeholder, wherever it stands (inside string literals too);
//!   it must be a key of the paths map or predefined. Any other `<` is text
//!   (`a < b`, `<>`, `<a b>`).
//! - **`<aws.events.event>`** renders the keys observed on AWS (§4.2.3):
//!   `id, account, detailType, time, source, region, resources, version`,
//!   in that order; keys absent from the event are left out.
//! - **JSONPath**: dot names end at any of `.[]*?@()'",:\` or whitespace;
//!   bracket names are quoted with `'` or `"` and take no escapes. Keys in
//!   the event are compared after decoding their escapes. With duplicate
//!   keys in the event, the first one wins.
//!
//! Allocation while rendering: none for [`Shaper::Envelope`],
//! [`Shaper::Constant`] and [`Shaper::Path`]; for templates, one `String`
//! per escaped string written into a plain-text template (or escaped key met
//! on a path), and the parser's scratch when a result has to be re-checked
//! as JSON.

mod error;
pub(crate) mod path;
mod template;

pub use error::{RenderError, ShapeError, ShapeErrorKind};
pub use template::InputTemplate;

use path::JsonPath;

/// EventBridge's limit on `Input`, in chars.
pub const MAX_INPUT_CHARS: usize = 8192;
/// EventBridge's limit on `InputPath` and on each `InputPathsMap` value, in
/// chars.
pub const MAX_PATH_CHARS: usize = 256;

/// How one target's body is made from a matched event. Compiled once per
/// target when the config is loaded; immutable, `Send + Sync`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shaper {
    /// No input setting: the envelope as is.
    Envelope,
    /// `Input`: a constant JSON text, delivered verbatim.
    Constant(ConstantInput),
    /// `InputPath`: the JSON text of one value of the envelope.
    Path(InputPath),
    /// `InputTransformer`: a template filled from the envelope.
    Template(Box<InputTemplate>),
}

/// A compiled `Input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConstantInput {
    text: Box<str>,
}

/// A compiled `InputPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputPath {
    path: JsonPath,
}

/// What a template can say about the rule and the event besides the event
/// itself (the predefined placeholders).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderContext<'a> {
    /// `<aws.events.rule-name>`.
    pub rule_name: &'a str,
    /// `<aws.events.rule-arn>`.
    pub rule_arn: &'a str,
    /// `<aws.events.event.ingestion-time>`: RFC 3339, e.g.
    /// `2026-11-23T10:00:00Z`.
    pub ingestion_time: &'a str,
}

/// Compiles one JSONPath setting, checking its length first.
fn compile_path(target: &str, setting: &str, path: &str) -> Result<JsonPath, ShapeError> {
    let chars = path.chars().count();
    if chars > MAX_PATH_CHARS {
        return Err(ShapeError::new(
            target,
            setting,
            ShapeErrorKind::TooLong {
                given: chars,
                limit: MAX_PATH_CHARS,
            },
        ));
    }
    JsonPath::parse(path).map_err(|e| {
        ShapeError::new(
            target,
            setting,
            ShapeErrorKind::InvalidPath {
                path: path.into(),
                position: e.position,
                reason: e.reason,
            },
        )
    })
}

impl Shaper {
    /// No input setting: deliver the envelope as is.
    pub fn envelope() -> Shaper {
        Shaper::Envelope
    }

    /// `Input`: valid JSON text of at most [`MAX_INPUT_CHARS`] chars,
    /// delivered verbatim.
    pub fn constant(target_id: &str, input: &str) -> Result<Shaper, ShapeError> {
        let chars = input.chars().count();
        if chars > MAX_INPUT_CHARS {
            return Err(ShapeError::new(
                target_id,
                "input",
                ShapeErrorKind::TooLong {
                    given: chars,
                    limit: MAX_INPUT_CHARS,
                },
            ));
        }
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(input) {
            let (offset, reason) = template::json_error(input.as_bytes(), &e);
            return Err(ShapeError::new(
                target_id,
                "input",
                ShapeErrorKind::InvalidJson {
                    reason: format!("{reason} at byte {offset}"),
                },
            ));
        }
        Ok(Shaper::Constant(ConstantInput { text: input.into() }))
    }

    /// `InputPath`: a JSONPath of the supported subset, at most
    /// [`MAX_PATH_CHARS`] chars.
    pub fn input_path(target_id: &str, path: &str) -> Result<Shaper, ShapeError> {
        let path = compile_path(target_id, "input_path", path)?;
        Ok(Shaper::Path(InputPath { path }))
    }

    /// `InputTransformer`: `paths_map` is `InputPathsMap` in config order,
    /// `template` is `InputTemplate`.
    pub fn transformer(
        target_id: &str,
        paths_map: &[(String, String)],
        template: &str,
    ) -> Result<Shaper, ShapeError> {
        let t = InputTemplate::compile(target_id, paths_map, template)?;
        Ok(Shaper::Template(Box::new(t)))
    }

    /// Whether what it renders is text rather than JSON (a plain-text
    /// template, §4.2.7); every other shaper renders JSON.
    pub fn is_text(&self) -> bool {
        matches!(self, Shaper::Template(t) if t.is_text())
    }

    /// Renders the body for `event` (a complete, valid envelope) into `out`,
    /// which is cleared first.
    pub fn render(
        &self,
        event: &[u8],
        ctx: &RenderContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), RenderError> {
        match self {
            Shaper::Envelope => {
                out.clear();
                out.extend_from_slice(event);
                Ok(())
            }
            Shaper::Constant(c) => {
                out.clear();
                out.extend_from_slice(c.text.as_bytes());
                Ok(())
            }
            Shaper::Path(p) => {
                out.clear();
                match p.path.find(event) {
                    Ok(Some(value)) => {
                        out.extend_from_slice(value);
                        Ok(())
                    }
                    Ok(None) => Err(RenderError::InputPathNoMatch {
                        path: p.path.as_str().into(),
                    }),
                    Err(offset) => Err(RenderError::InvalidEvent { offset }),
                }
            }
            Shaper::Template(t) => t.render(event, ctx, out),
        }
    }
}

#[cfg(test)]
mod tests;
