//! The two error types of input shaping: [`ShapeError`] when a target's
//! `input*` settings are rejected at config load, [`RenderError`] when one
//! event cannot be shaped for one target (the event is dead-lettered with
//! [`RenderError::code`]).

use std::fmt;

/// A target's input setting that cannot be compiled. It names the target,
/// the setting (`input`, `input_path`,
/// `input_transformer.input_paths_map.<key>`,
/// `input_transformer.input_template`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError {
    target: Box<str>,
    setting: Box<str>,
    kind: ShapeErrorKind,
}

/// What is wrong with a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeErrorKind {
    /// The setting is longer than EventBridge allows (lengths in chars).
    TooLong { given: usize, limit: usize },
    /// The setting is empty where EventBridge needs at least one char.
    Empty,
    /// `input` is not JSON text.
    InvalidJson { reason: String },
    /// A JSONPath outside the supported subset.
    InvalidPath {
        path: String,
        position: usize,
        reason: &'static str,
    },
    /// More `input_paths_map` entries than EventBridge allows.
    TooManyPaths { given: usize, limit: usize },
    /// An `input_paths_map` key with a char outside `[A-Za-z0-9_-]`.
    InvalidKey { position: usize },
    /// An `input_paths_map` key that is reserved (`AWS.`/`aws.` prefix or
    /// a predefined name).
    ReservedKey,
    /// An `input_paths_map` key given twice.
    DuplicateKey,
    /// A `<name>` in the template that is neither a key nor predefined;
    /// EventBridge's ValidationException.
    InvalidPlaceholder { name: String },
    /// `<aws.events.event>` / `<aws.events.event.json>` inside a string
    /// literal of the template.
    JsonPlaceholderInString { name: &'static str, offset: usize },
    /// A template that starts with `{` or `[` but cannot become JSON,
    /// whatever the placeholders render to (for example a placeholder used
    /// as an object key).
    TemplateNotJson { offset: usize, reason: String },
}

impl ShapeError {
    pub(crate) fn new(target: &str, setting: impl Into<Box<str>>, kind: ShapeErrorKind) -> Self {
        ShapeError {
            target: target.into(),
            setting: setting.into(),
            kind,
        }
    }

    /// The target id.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The setting at fault, e.g. `input_transformer.input_template`.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is wrong.
    pub fn kind(&self) -> &ShapeErrorKind {
        &self.kind
    }
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ShapeErrorKind::*;
        if let InvalidPlaceholder { name } = &self.kind {
            // EventBridge's exact ValidationException text.
            return write!(
                f,
                "InputTemplate for target {} contains invalid placeholder {}.",
                self.target, name
            );
        }
        write!(f, "target {}: `{}`: ", self.target, self.setting)?;
        match &self.kind {
            TooLong { given, limit } => {
                write!(f, "{given} characters, at most {limit} allowed")
            }
            Empty => f.write_str("must not be empty"),
            InvalidJson { reason } => write!(f, "not valid JSON text: {reason}"),
            InvalidPath {
                path,
                position,
                reason,
            } => write!(f, "JSONPath `{path}`: {reason} at byte {position}"),
            TooManyPaths { given, limit } => {
                write!(f, "{given} entries, at most {limit} allowed")
            }
            InvalidKey { position } => write!(
                f,
                "key may only hold A-Z, a-z, 0-9, `_` and `-` (bad character at byte {position})"
            ),
            ReservedKey => f.write_str(
                "key is reserved: it starts with `AWS.`/`aws.` or is a predefined placeholder",
            ),
            DuplicateKey => f.write_str("key given more than once"),
            InvalidPlaceholder { .. } => Ok(()),
            JsonPlaceholderInString { name, offset } => write!(
                f,
                "<{name}> at byte {offset} is inside a string; it may only stand as a JSON value"
            ),
            TemplateNotJson { offset, reason } => write!(
                f,
                "starts like JSON but is not JSON with its placeholders filled in \
                 ({reason}, at byte {offset}); placeholders may not be object keys"
            ),
        }
    }
}

impl std::error::Error for ShapeError {}

/// Why one event could not be shaped for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RenderError {
    /// A JSON-shaped template rendered to text that is not JSON (EventBridge
    /// drops such events silently; busbar dead-letters them). `offset` is
    /// the byte offset into the rendered text.
    InvalidJsonAfterTransform { offset: usize, reason: String },
    /// The target's `InputPath` names nothing in the event.
    InputPathNoMatch { path: String },
    /// The event bytes could not be read at `offset` (the pipeline
    /// validates events first, so this means a bug upstream).
    InvalidEvent { offset: usize },
}

impl RenderError {
    /// A stable code for the dead-letter `ERROR_CODE` attribute.
    pub fn code(&self) -> &'static str {
        match self {
            RenderError::InvalidJsonAfterTransform { .. } => "INVALID_JSON_AFTER_TRANSFORM",
            RenderError::InputPathNoMatch { .. } => "INPUT_PATH_NO_MATCH",
            RenderError::InvalidEvent { .. } => "INVALID_EVENT",
        }
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::InvalidJsonAfterTransform { offset, reason } => write!(
                f,
                "input template rendered invalid JSON at byte {offset}: {reason}"
            ),
            RenderError::InputPathNoMatch { path } => {
                write!(f, "input path `{path}` matches nothing in the event")
            }
            RenderError::InvalidEvent { offset } => {
                write!(f, "event is not valid JSON at byte {offset}")
            }
        }
    }
}

impl std::error::Error for RenderError {}
