//! Event bytes → the (path, value) leaves that some rule can use.
//!
//! This is an on-demand scanner, not a tree builder: it walks the event once,
//! follows a byte trie of the dotted paths the rule set mentions
//! ([`PathTrie`]), and hands every leaf on such a path to a [`Sink`] as a span
//! of the input (or of a scratch buffer when the string had escapes). Values
//! under keys no rule mentions are *skipped*: their syntax is checked, nothing
//! is materialised, no number is converted. On citylots-like events most of
//! the bytes are a coordinates array no string rule needs; skipping it is
//! where the speed comes from (see `PERFORMANCE.md` §2 and the `parse` line of
//! the benchmark, where a full simd-json tape build of the same bytes is the
//! reference).
//!
//! Every event is validated while it is scanned, skipped parts included:
//! strict JSON grammar, UTF-8 in strings, no raw control characters, nesting
//! depth and size limits, a JSON object at the top, nothing after it. Errors
//! carry the byte offset. Skipped arrays of numbers (the coordinates) are
//! validated 64 bytes at a time with SIMD class masks ([`numbers`]); anything
//! that path is not sure of goes through the byte-by-byte grammar, which is
//! also what reports errors.
//!
//! Array positions: every leaf comes with the stack of (array instance, element
//! index) pairs that enclose it, which the engine needs for EventBridge's
//! array-consistency rule.

mod numbers;
mod scan;
mod trie;

pub(crate) use scan::plain_run;
pub use scan::{is_blank, scan, ArrayPos, Leaf, Scratch, Sink};
pub use trie::{PathId, PathTrie};

use std::fmt;

/// Why an event was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventErrorKind {
    /// The event is larger than `max_event_bytes`.
    TooLarge { given: usize, limit: usize },
    /// Objects/arrays nest deeper than `max_depth`.
    TooDeep { limit: usize },
    /// The top-level value is not a JSON object.
    NotAnObject,
    /// Bytes follow the top-level object.
    TrailingData,
    /// A string holds bytes that are not UTF-8.
    InvalidUtf8,
    /// The input ended inside a value.
    UnexpectedEnd,
    /// Any other grammar violation; the static text says what was expected.
    Syntax(&'static str),
}

/// An event that could not be read, with the byte offset of the problem.
///
/// The message names no setting: the scanner serves `busbar run`
/// (`limits.max_event_depth`), `busbar filter` (`--max-event-bytes`) and
/// PutEvents alike, so the caller that knows which setting set a limit adds
/// its name, telling a limit from bad syntax by [`kind`](Self::kind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventError {
    pub offset: usize,
    pub message: String,
    pub kind: EventErrorKind,
}

impl EventError {
    /// An event of `given` bytes, over the limit of `limit`: reported at
    /// byte `limit`, the first one past it, wherever the event was read.
    pub fn too_large(given: usize, limit: usize) -> Self {
        Self::new(EventErrorKind::TooLarge { given, limit }, limit)
    }

    pub(crate) fn new(kind: EventErrorKind, offset: usize) -> Self {
        let message = match kind {
            EventErrorKind::TooLarge { given, limit } => {
                format!("event is {given} bytes, over the limit of {limit}")
            }
            EventErrorKind::TooDeep { limit } => {
                format!("nesting deeper than {limit} levels")
            }
            EventErrorKind::NotAnObject => "event is not a JSON object".to_string(),
            EventErrorKind::TrailingData => "trailing data after the JSON object".to_string(),
            EventErrorKind::InvalidUtf8 => "invalid UTF-8 in a string".to_string(),
            EventErrorKind::UnexpectedEnd => "unexpected end of input".to_string(),
            EventErrorKind::Syntax(what) => what.to_string(),
        };
        EventError {
            offset,
            message,
            kind,
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid event at byte {}: {}", self.offset, self.message)
    }
}

impl std::error::Error for EventError {}

/// The deepest nesting any configuration may ask the scanner to accept: the
/// upper end of `limits.max_event_depth` (plus one level for the envelope
/// busbar wraps around a raw event). Four times the common default of JSON
/// parsers (1,000), far beyond any event seen in practice, and small enough
/// that [`SCAN_STACK_BYTES`] is a modest reservation.
pub const MAX_DEPTH: usize = 4096;

/// Stack a thread needs to scan an event nested [`MAX_DEPTH`] + 1 levels
/// deep, whatever the rules. The scanner recurses once per level along a
/// rule's path (at most as deep as the event) and once per level it skips
/// past the skipper's 1,024-level iterative stack. Measured per level with
/// a 1,000-component rule path and skipped nesting to 5,000 levels: about
/// 160 and 96 bytes in an optimised build, 11 KiB and 2.9 KiB in an
/// unoptimised one (the tests run those), i.e. at most ~0.7 MiB and ~45 MiB
/// at the maximum depth. Both reservations leave room to spare; the pages
/// are only touched by an event that deep. Threads that scan events (the
/// pipeline's workers, the HTTP ingest runtime) are started with it.
pub const SCAN_STACK_BYTES: usize = if cfg!(debug_assertions) {
    64 << 20
} else {
    8 << 20
};

/// Limits the scanner enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanLimits {
    pub max_event_bytes: usize,
    pub max_depth: usize,
}
