//! The EventBridge event-pattern language: pattern JSON text → typed AST.
//!
//! This module owns syntax and validation only. It knows nothing about how
//! rules are compiled or how events are read; the engine consumes [`Pattern`].
//!
//! A [`Pattern`] is already `$or`-expanded: it is a disjunction of
//! [`SubPattern`]s, each a conjunction of [`Field`]s, each a disjunction of
//! [`Matcher`]s on one dotted path. Rejected patterns produce a
//! [`PatternError`] whose [`reason`](PatternError::reason) is the exact text
//! EventBridge puts after `Event pattern is not valid. Reason: `.

pub mod case;
pub mod ip;
pub(crate) mod json;
pub mod number;
mod parse;
pub mod wildcard;

pub use ip::Ip;
pub use number::Number;
pub use parse::{parse, parse_with, Scratch};
pub use wildcard::{Glob, GlobTok};

use std::fmt;

/// Limits applied while parsing a pattern. Every limit is named in the error
/// that reports it, so a user knows which setting to raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternLimits {
    /// Longest accepted pattern text, in characters. EventBridge's default
    /// quota "Event pattern size" is 2048 (adjustable; the API maximum is 4096).
    pub max_pattern_chars: usize,
    /// Most `$or` expansions one pattern may produce (EventBridge: 1000).
    pub max_or_combinations: usize,
}

impl Default for PatternLimits {
    fn default() -> Self {
        PatternLimits {
            max_pattern_chars: 2048,
            max_or_combinations: 1000,
        }
    }
}

/// Longest pattern the TestEventPattern API takes, in characters: its
/// `EventPattern` member allows 4096, whatever the account's quota for rules.
pub const MAX_TEST_PATTERN_CHARS: usize = 4096;

impl PatternLimits {
    /// The limits of a pattern tried on its own (`busbar test-pattern`, the
    /// TestEventPattern operation): the API's 4096 characters rather than
    /// the 2048-character quota of rules, as EventBridge's TestEventPattern
    /// takes patterns longer than a rule may be.
    pub fn for_test_pattern(self) -> Self {
        PatternLimits {
            max_pattern_chars: MAX_TEST_PATTERN_CHARS,
            ..self
        }
    }
}

/// A parsed, validated pattern: a disjunction of `$or` expansions.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// Never empty. A pattern without `$or` has exactly one.
    pub subpatterns: Vec<SubPattern>,
}

/// One `$or` expansion: every field must match (AND).
#[derive(Debug, Clone, PartialEq)]
pub struct SubPattern {
    /// Never empty. Paths are distinct: a key repeated, also when spelled once
    /// dotted and once nested (`{"a.b":[..],"a":{"b":[..]}}`), keeps its last
    /// occurrence, as event-ruler does.
    pub fields: Vec<Field>,
}

/// One leaf of a pattern: a dotted path and the matchers that may satisfy it (OR).
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Object keys joined with `.`, exactly as EventBridge joins them
    /// (`{"detail":{"state.status":..}}` and `{"detail":{"state":{"status":..}}}`
    /// both give `detail.state.status`).
    pub path: String,
    /// Never empty.
    pub matchers: Vec<Matcher>,
}

/// One element of a pattern's matcher array.
#[derive(Debug, Clone, PartialEq)]
pub enum Matcher {
    /// A literal (also the `exactly` operator, which gives `Exact(Literal::String)`).
    Exact(Literal),
    Prefix(String),
    /// `{"prefix":{"equals-ignore-case":..}}`
    PrefixIgnoreCase(String),
    Suffix(String),
    /// `{"suffix":{"equals-ignore-case":..}}`
    SuffixIgnoreCase(String),
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    AnythingBut(AnythingBut),
    Numeric(NumericRange),
    /// A `cidr` operator, or an exact string that is an IP literal (§1.9.7,
    /// event-ruler canonicalises those into single-address ranges).
    Ip(IpRange),
    Exists(bool),
}

/// A literal value of a pattern or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// The decoded (unescaped) string.
    String(String),
    Number(Number),
    True,
    False,
    Null,
}

/// The six forms of `anything-but`. Each list is the set of excluded values;
/// an event leaf matches when no member excludes it.
#[derive(Debug, Clone, PartialEq)]
pub enum AnythingBut {
    Strings(Vec<String>),
    Numbers(Vec<Number>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    /// May be empty (event-ruler accepts `{"equals-ignore-case":[]}`: it excludes nothing).
    EqualsIgnoreCase(Vec<String>),
    Wildcard(Vec<Glob>),
}

/// A numeric interval over IEEE-754 doubles. Unbounded ends are ±infinity.
/// `{"numeric":["=",x]}` is `[x, x]` with both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumericRange {
    pub lo: f64,
    pub lo_inclusive: bool,
    pub hi: f64,
    pub hi_inclusive: bool,
}

/// A `cidr` network (or a single address): an inclusive range in one family.
/// How an address of the *other* family is judged (event-ruler compares
/// addresses as hex strings of different lengths) lives in [`ip`]:
/// use [`IpRange::v4_span`] / [`IpRange::v6_span`] / [`IpRange::contains`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// `true` for an IPv6 network; `lo`/`hi` then are 128-bit addresses,
    /// otherwise 32-bit IPv4 addresses held in a `u128`.
    pub v6: bool,
    pub lo: u128,
    pub hi: u128,
}

/// A rejected pattern. The reason is EventBridge's text; the path and byte
/// offset say where in the pattern the problem is; the rule name is filled in
/// by whoever knows it (the rule-set builder, the config loader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    reason: String,
    path: String,
    offset: usize,
    rule: Option<String>,
}

impl PatternError {
    pub fn new(reason: impl Into<String>, path: impl Into<String>, offset: usize) -> Self {
        PatternError {
            reason: reason.into(),
            path: path.into(),
            offset,
            rule: None,
        }
    }

    /// Attach the name of the rule this pattern belongs to.
    pub fn with_rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// EventBridge's reason text, e.g. `Only one key allowed in match expression`.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The dotted JSON path of the offending member (`""` for the whole pattern).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Byte offset into the pattern text where the problem was found.
    pub fn offset(&self) -> usize {
        self.offset
    }

    pub fn rule(&self) -> Option<&str> {
        self.rule.as_deref()
    }
}

impl fmt::Display for PatternError {
    /// First line is EventBridge's wire message; the second says where.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Event pattern is not valid. Reason: {}", self.reason)?;
        write!(f, "\n  at ")?;
        if let Some(rule) = &self.rule {
            write!(f, "rule `{rule}`, ")?;
        }
        if self.path.is_empty() {
            write!(f, "top level")?;
        } else {
            write!(f, "path `{}`", self.path)?;
        }
        write!(f, ", byte {}", self.offset)
    }
}

impl std::error::Error for PatternError {}
