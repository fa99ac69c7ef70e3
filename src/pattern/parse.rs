//! Pattern text → validated, `$or`-expanded [`Pattern`].
//!
//! This module owns every validation rule of semantics §1.1-§1.11 and the
//! exact reason texts EventBridge returns. It mirrors event-ruler's
//! `JsonRuleCompiler` step by step over the pull lexer of [`super::json`],
//! because which error a bad pattern gets depends on the order in which
//! tokens are read (the first problem met wins, syntax or semantics alike).
//!
//! Two passes:
//! 1. **Read**: tokens → a flat list of [`Op`]s (one per field, with its full
//!    dotted path, or one per `$or` with its branches), validating as it goes.
//! 2. **Expand**: count the `$or` combinations without building them, check
//!    the `max_or_combinations` limit, then replay event-ruler's expansion:
//!    a field is *put* into every sub-pattern built so far (so a later field
//!    with the same dotted path replaces an earlier one: "last wins", also
//!    across spellings like `{"a.b":…}` and `{"a":{"b":…}}`), and a `$or`
//!    replaces the sub-patterns with one copy per branch.
//!
//! Error locations: every [`PatternError`] carries the dotted path of the
//! field (or object) concerned and the byte offset of the offending token.

use super::ip::{ip_literal, parse_cidr};
use super::json::{Ctx, JsonError, Lexer, Tok, Token};
use super::number::Number;
use super::wildcard::{parse_wildcard, Glob};
use super::{
    AnythingBut, Field, Literal, Matcher, NumericRange, Pattern, PatternError, PatternLimits,
    SubPattern,
};

/// Deepest nesting of objects and arrays read in a pattern: Jackson's default
/// `StreamReadConstraints.maxNestingDepth`, which event-ruler inherits.
const MAX_DEPTH: usize = 1000;

/// Field names event-ruler forbids directly inside a `$or` branch
/// (`Constants.RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP`).
const RESERVED_IN_OR: [&str; 24] = [
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

const ONLY_ONE_KEY: &str = "Only one key allowed in match expression";
/// event-ruler's text for any extra token after a numeric or anything-but
/// expression (sic: also used for anything-but).
const TOO_MANY_ELEMENTS: &str = "Too many elements in numeric expression";

/// Parse and validate an event pattern.
///
/// Errors carry EventBridge's reason text (`PatternError::reason`), the dotted
/// path concerned and the byte offset of the offending token. A pattern longer
/// than `limits.max_pattern_chars` characters, or one expanding to more than
/// `limits.max_or_combinations` sub-patterns, is rejected with a reason that
/// names the limit (EventBridge's quotas; no busbar setting changes them).
pub fn parse(text: &str, limits: &PatternLimits) -> Result<Pattern, PatternError> {
    parse_with(text, limits, &mut Scratch::default())
}

/// The reader's working memory, kept between patterns by a caller that
/// reads many ([`crate::engine::RuleSetBuilder`]): the lexer's nesting
/// stack, the path and the object stack were five allocations a pattern,
/// 7% of compiling 10,000 exact rules (callgrind).
#[derive(Debug, Default)]
pub struct Scratch {
    lexer: Vec<Ctx>,
    path: Path,
    frames: Vec<Frame>,
    outs: Vec<Vec<Op>>,
    /// The root's op list, emptied by [`expand`].
    ops: Vec<Op>,
}

impl Clone for Scratch {
    /// Working memory only: a copy starts empty.
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

/// [`parse`], reusing `scratch`'s memory.
pub fn parse_with(
    text: &str,
    limits: &PatternLimits,
    scratch: &mut Scratch,
) -> Result<Pattern, PatternError> {
    let chars = text.chars().count();
    if chars > limits.max_pattern_chars {
        return Err(PatternError::new(
            format!(
                "Event pattern is too long: {chars} characters, limit {} (EventBridge's event pattern size quota)",
                limits.max_pattern_chars
            ),
            "",
            0,
        ));
    }
    let mut reader = Reader {
        lx: Lexer::with_stack(
            text.as_bytes(),
            MAX_DEPTH,
            std::mem::take(&mut scratch.lexer),
        ),
        len: text.len(),
    };
    let ops = match reader.lx.next() {
        Ok(Some(Tok {
            token: Token::StartObject,
            start,
            ..
        })) => {
            let ops = reader.root(start, scratch)?;
            scratch.lexer = reader.lx.into_stack();
            ops
        }
        // Like event-ruler, judge the first token only: `["a"`, `"abc` and
        // the empty string are all "not an object".
        Ok(Some(tok)) => return Err(PatternError::new("Filter is not an object", "", tok.start)),
        Ok(None) => return Err(PatternError::new("Filter is not an object", "", text.len())),
        Err(e) => return Err(json_error(e, "")),
    };
    let mut ops = ops;
    let pattern = expand(&mut ops, limits);
    ops.clear();
    scratch.ops = ops;
    pattern
}

/// One step of a read pattern, in document order.
#[derive(Debug)]
enum Op {
    /// A field: its full dotted path and its matchers.
    Field {
        path: String,
        matchers: Vec<Matcher>,
    },
    /// A `$or`: the path of the object holding it, the offset of its array,
    /// and each branch's ops.
    Or {
        path: String,
        offset: usize,
        branches: Vec<Vec<Op>>,
    },
}

/// An object or `$or` array being read by [`Reader::root`].
#[derive(Debug)]
enum Frame {
    Object {
        /// Offset of the `{`.
        offset: usize,
        /// Whether a member was seen (empty objects are refused).
        present: bool,
        /// Inside a `$or` branch, where reserved names are refused.
        in_or: bool,
        /// Whether this object pushed a step onto the path (a `$or` branch
        /// does not: its fields continue the parent's path).
        step: bool,
    },
    Or {
        /// Path of the object holding the `$or`.
        parent: String,
        /// Offset of the `[`.
        offset: usize,
        branches: Vec<Vec<Op>>,
    },
}

/// event-ruler's `Path`: object keys joined with `.`, kept joined, so that
/// naming the path (in every error a token may raise) costs nothing.
#[derive(Debug, Default)]
struct Path {
    joined: String,
    /// The length of `joined` before each step.
    ends: Vec<usize>,
}

impl Path {
    fn name(&self) -> &str {
        &self.joined
    }

    fn push(&mut self, step: &str) {
        self.ends.push(self.joined.len());
        if self.ends.len() > 1 {
            self.joined.push('.');
        }
        self.joined.push_str(step);
    }

    fn pop(&mut self) {
        if let Some(end) = self.ends.pop() {
            self.joined.truncate(end);
        }
    }

    /// The name of a member of the current object. Like event-ruler, an
    /// empty base adds no dot (so `{"": {"b": …}}` is path `b`).
    fn extended(&self, step: &str) -> String {
        if self.joined.is_empty() {
            return step.to_string();
        }
        let mut name = String::with_capacity(self.joined.len() + 1 + step.len());
        name.push_str(&self.joined);
        name.push('.');
        name.push_str(step);
        name
    }
}

fn json_error(e: JsonError, path: &str) -> PatternError {
    PatternError::new(e.message, path, e.offset)
}

fn fail<T>(reason: impl Into<String>, path: &str, offset: usize) -> Result<T, PatternError> {
    Err(PatternError::new(reason, path, offset))
}

/// The four `anything-but` forms that take a set of strings, plus the plain one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AbKind {
    Plain,
    EqualsIgnoreCase,
    Prefix,
    Suffix,
    Wildcard,
}

impl AbKind {
    /// event-ruler's complaint about a non-string member of this form.
    fn non_string(self) -> &'static str {
        match self {
            AbKind::EqualsIgnoreCase => {
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
            }
            AbKind::Wildcard => "wildcard match pattern must be a string",
            AbKind::Prefix | AbKind::Suffix => "prefix/suffix match pattern must be a string",
            AbKind::Plain => "Inside anything-but list, start|null|boolean is not supported.",
        }
    }
}

/// The token-by-token reader (event-ruler's `JsonRuleCompiler`).
struct Reader<'a> {
    lx: Lexer<'a>,
    len: usize,
}

impl Reader<'_> {
    fn next(&mut self, path: &str) -> Result<Tok, PatternError> {
        match self.lx.next() {
            Ok(Some(tok)) => Ok(tok),
            // The lexer only reports "no more tokens" outside the root value,
            // which the reader never asks for.
            Ok(None) => fail("Unexpected end-of-input", path, self.len),
            Err(e) => Err(json_error(e, path)),
        }
    }

    fn string(&mut self, tok: &Tok, path: &str) -> Result<String, PatternError> {
        self.lx.take_string(tok).map_err(|e| json_error(e, path))
    }

    fn end_object(&mut self, path: &str, reason: &str) -> Result<(), PatternError> {
        let tok = self.next(path)?;
        if tok.token == Token::EndObject {
            Ok(())
        } else {
            fail(reason, path, tok.start)
        }
    }

    /// The root object, whose `{` (at `offset`) was just read: its fields
    /// and `$or`s as [`Op`]s.
    ///
    /// Iterative, with an explicit stack, so that nesting up to the lexer's
    /// depth limit cannot overflow the call stack.
    /// Reads the root object, in `scratch`'s memory (taken back only when
    /// the pattern is read: an error leaves it to the next pattern to
    /// allocate).
    fn root(&mut self, offset: usize, scratch: &mut Scratch) -> Result<Vec<Op>, PatternError> {
        let mut path = std::mem::take(&mut scratch.path);
        path.joined.clear();
        path.ends.clear();
        let mut stack = std::mem::take(&mut scratch.frames);
        stack.clear();
        stack.push(Frame::Object {
            offset,
            present: false,
            in_or: false,
            step: false,
        });
        // The op list being filled: the root's, or a `$or` branch's.
        let mut outs = std::mem::take(&mut scratch.outs);
        outs.clear();
        outs.push(std::mem::take(&mut scratch.ops));
        while let Some(frame) = stack.last_mut() {
            match frame {
                Frame::Object {
                    offset,
                    present,
                    in_or,
                    step,
                } => {
                    let (offset, in_or, step) = (*offset, *in_or, *step);
                    let tok = self.next(path.name())?;
                    let name = match tok.token {
                        Token::EndObject => {
                            if !*present {
                                return fail("Empty objects are not allowed", path.name(), offset);
                            }
                            stack.pop();
                            if step {
                                path.pop();
                            }
                            if let Some(Frame::Or { branches, .. }) = stack.last_mut() {
                                // The end of a `$or` branch.
                                branches.push(outs.pop().unwrap_or_default());
                            }
                            continue;
                        }
                        Token::Name(name) => name,
                        _ => return fail("Unexpected token in object", path.name(), tok.start),
                    };
                    *present = true;
                    if name == "$or" {
                        let parent = path.name().to_string();
                        let array = self.next(&parent)?;
                        if array.token != Token::StartArray {
                            return fail(
                                "It must be an Array followed with $or.",
                                &parent,
                                array.start,
                            );
                        }
                        stack.push(Frame::Or {
                            parent,
                            offset: array.start,
                            branches: Vec::new(),
                        });
                        continue;
                    }
                    let field = path.extended(&name);
                    if in_or && RESERVED_IN_OR.contains(&name.as_str()) {
                        return fail(
                            format!("{name} is Ruler reserved fieldName which cannot be used inside $or."),
                            &field,
                            tok.start,
                        );
                    }
                    let value = self.next(&field)?;
                    match value.token {
                        Token::StartObject => {
                            path.push(&name);
                            stack.push(Frame::Object {
                                offset: value.start,
                                present: false,
                                in_or,
                                step: true,
                            });
                        }
                        Token::StartArray => {
                            let matchers = self.matchers(&field, value.start)?;
                            if let Some(out) = outs.last_mut() {
                                out.push(Op::Field {
                                    path: field,
                                    matchers,
                                });
                            }
                        }
                        _ => {
                            return fail(
                                format!("\"{name}\" must be an object or an array"),
                                &field,
                                value.start,
                            )
                        }
                    }
                }
                Frame::Or {
                    parent,
                    offset,
                    branches,
                } => {
                    let tok = self.next(parent)?;
                    match tok.token {
                        Token::EndArray => {
                            if branches.len() < 2 {
                                return fail(
                                    "There must have at least 2 Objects in $or relationship.",
                                    parent,
                                    *offset,
                                );
                            }
                            let op = Op::Or {
                                path: std::mem::take(parent),
                                offset: *offset,
                                branches: std::mem::take(branches),
                            };
                            stack.pop();
                            if let Some(out) = outs.last_mut() {
                                out.push(op);
                            }
                        }
                        Token::StartObject => {
                            outs.push(Vec::new());
                            stack.push(Frame::Object {
                                offset: tok.start,
                                present: false,
                                in_or: true,
                                step: false,
                            });
                        }
                        _ => {
                            return fail(
                                "Only JSON object is allowed in array of $or relationship.",
                                parent,
                                tok.start,
                            )
                        }
                    }
                }
            }
        }
        let ops = outs.pop().unwrap_or_default();
        scratch.path = path;
        scratch.frames = stack;
        scratch.outs = outs;
        Ok(ops)
    }

    /// The matcher array of the field `path`, whose `[` (at `offset`) was
    /// just read.
    fn matchers(&mut self, path: &str, offset: usize) -> Result<Vec<Matcher>, PatternError> {
        // Most fields hold one value, and the list is kept in the pattern
        // for the rule's lifetime: room for one, not the four a first push
        // makes (10,000 exact rules: 2.6 → 0.6 MB, 500 fewer page faults).
        let mut values = Vec::with_capacity(1);
        loop {
            let tok = self.next(path)?;
            let matcher = match tok.token {
                Token::EndArray => break,
                Token::StartObject => self.expression(path)?,
                Token::String { .. } => {
                    let s = self.string(&tok, path)?;
                    match ip_literal(&s) {
                        Some(range) => Matcher::Ip(range),
                        None => Matcher::Exact(Literal::String(s)),
                    }
                }
                Token::Number => {
                    Matcher::Exact(Literal::Number(Number::from_text(self.lx.raw(&tok))))
                }
                Token::True => Matcher::Exact(Literal::True),
                Token::False => Matcher::Exact(Literal::False),
                Token::Null => Matcher::Exact(Literal::Null),
                _ => {
                    return fail(
                        "Match value must be String, number, true, false, or null",
                        path,
                        tok.start,
                    )
                }
            };
            values.push(matcher);
        }
        if values.is_empty() {
            return fail("Empty arrays are not allowed", path, offset);
        }
        Ok(values)
    }

    /// A match expression (operator object) whose `{` was just read.
    fn expression(&mut self, path: &str) -> Result<Matcher, PatternError> {
        let tok = self.next(path)?;
        let Token::Name(op) = tok.token else {
            return fail("Match expression name not found", path, tok.start);
        };
        match op.as_str() {
            "exactly" => {
                let s = self.string_operand(path, "exact match pattern must be a string")?;
                self.end_object(path, ONLY_ONE_KEY)?;
                Ok(Matcher::Exact(Literal::String(s)))
            }
            "prefix" | "suffix" => {
                let value = self.next(path)?;
                if value.token == Token::StartObject {
                    return self.affix_ignore_case(&op, path);
                }
                if !matches!(value.token, Token::String { .. }) {
                    return fail(
                        format!("{op} match pattern must be a string"),
                        path,
                        value.start,
                    );
                }
                let s = self.string(&value, path)?;
                self.end_object(path, ONLY_ONE_KEY)?;
                Ok(if op == "prefix" {
                    Matcher::Prefix(s)
                } else {
                    Matcher::Suffix(s)
                })
            }
            "numeric" => {
                let value = self.next(path)?;
                if value.token != Token::StartArray {
                    return fail("Value of numeric must be an array.", path, value.start);
                }
                let range = self.numeric(path)?;
                self.end_object(path, TOO_MANY_ELEMENTS)?;
                Ok(Matcher::Numeric(range))
            }
            "anything-but" => self.anything_but(path),
            "exists" => {
                let value = self.next(path)?;
                let exists = match value.token {
                    Token::True => true,
                    Token::False => false,
                    _ => {
                        return fail(
                            "exists match pattern must be either true or false.",
                            path,
                            value.start,
                        )
                    }
                };
                self.end_object(path, ONLY_ONE_KEY)?;
                Ok(Matcher::Exists(exists))
            }
            "cidr" => {
                // (sic) event-ruler's text for a non-string cidr names prefix.
                let value = self.next(path)?;
                if !matches!(value.token, Token::String { .. }) {
                    return fail("prefix match pattern must be a string", path, value.start);
                }
                let s = self.string(&value, path)?;
                let range = parse_cidr(&s).or_else(|reason| fail(reason, path, value.start))?;
                self.end_object(path, ONLY_ONE_KEY)?;
                Ok(Matcher::Ip(range))
            }
            "equals-ignore-case" => {
                let s =
                    self.string_operand(path, "equals-ignore-case match pattern must be a string")?;
                self.end_object(path, ONLY_ONE_KEY)?;
                Ok(Matcher::EqualsIgnoreCase(s))
            }
            "wildcard" => {
                let value = self.next(path)?;
                if !matches!(value.token, Token::String { .. }) {
                    return fail("wildcard match pattern must be a string", path, value.start);
                }
                let s = self.string(&value, path)?;
                let glob = parse_wildcard(&s).or_else(|reason| fail(reason, path, value.start))?;
                self.end_object(path, ONLY_ONE_KEY)?;
                Ok(Matcher::Wildcard(glob))
            }
            _ => fail(format!("Unrecognized match type {op}"), path, tok.start),
        }
    }

    /// The next token, which must be a string (else `reason`), decoded.
    fn string_operand(&mut self, path: &str, reason: &str) -> Result<String, PatternError> {
        let value = self.next(path)?;
        if !matches!(value.token, Token::String { .. }) {
            return fail(reason, path, value.start);
        }
        self.string(&value, path)
    }

    /// `{"prefix"|"suffix": {"equals-ignore-case": "…"}}` after the inner `{`.
    fn affix_ignore_case(&mut self, op: &str, path: &str) -> Result<Matcher, PatternError> {
        let tok = self.next(path)?;
        let Token::Name(inner) = tok.token else {
            let what = if op == "prefix" { "Prefix" } else { "Suffix" };
            return fail(format!("{what} expression name not found"), path, tok.start);
        };
        if inner != "equals-ignore-case" {
            return fail(
                format!("Unsupported {op} pattern: {inner}"),
                path,
                tok.start,
            );
        }
        let s = self.string_operand(path, "equals-ignore-case match pattern must be a string")?;
        self.end_object(path, ONLY_ONE_KEY)?;
        self.end_object(path, ONLY_ONE_KEY)?;
        Ok(if op == "prefix" {
            Matcher::PrefixIgnoreCase(s)
        } else {
            Matcher::SuffixIgnoreCase(s)
        })
    }

    /// A pattern number used for comparison: it must be exactly representable.
    fn comparable(&self, tok: &Tok, path: &str) -> Result<f64, PatternError> {
        let text = self.lx.raw(tok);
        match Number::from_text(text).value {
            Some(x) => Ok(x),
            None => fail(format!("Cannot compare number : {text}"), path, tok.start),
        }
    }

    /// The contents of a `numeric` array whose `[` was just read.
    fn numeric(&mut self, path: &str) -> Result<NumericRange, PatternError> {
        let tok = self.next(path)?;
        if !matches!(tok.token, Token::String { .. }) {
            let text = self.lx.text(&tok);
            return fail(
                format!("Invalid member in numeric match: {text}"),
                path,
                tok.start,
            );
        }
        let op = self.string(&tok, path)?;
        let value = self.next(path)?;
        let numeric = value.token == Token::Number;
        match op.as_str() {
            "=" => {
                if !numeric {
                    return fail("Value of equals must be numeric", path, value.start);
                }
                let end = self.next(path)?;
                if end.token != Token::EndArray {
                    return fail(TOO_MANY_ELEMENTS, path, end.start);
                }
                let x = self.comparable(&value, path)?;
                Ok(NumericRange {
                    lo: x,
                    lo_inclusive: true,
                    hi: x,
                    hi_inclusive: true,
                })
            }
            ">" | ">=" => {
                if !numeric {
                    return fail(format!("Value of {op} must be numeric"), path, value.start);
                }
                let next = self.next(path)?;
                if next.token == Token::EndArray {
                    let x = self.comparable(&value, path)?;
                    return Ok(NumericRange {
                        lo: x,
                        lo_inclusive: op == ">=",
                        hi: f64::INFINITY,
                        hi_inclusive: false,
                    });
                }
                self.numeric_top(path, &value, op == ">", next)
            }
            "<" | "<=" => {
                if !numeric {
                    return fail(format!("Value of {op} must be numeric"), path, value.start);
                }
                let end = self.next(path)?;
                if end.token != Token::EndArray {
                    return fail(TOO_MANY_ELEMENTS, path, end.start);
                }
                let x = self.comparable(&value, path)?;
                Ok(NumericRange {
                    lo: f64::NEG_INFINITY,
                    lo_inclusive: false,
                    hi: x,
                    hi_inclusive: op == "<=",
                })
            }
            _ => fail(
                format!("Unrecognized numeric range operator: {op}"),
                path,
                tok.start,
            ),
        }
    }

    /// The `"<"|"<=", top]` half of a two-sided numeric range; `tok` is the
    /// token after the bottom value.
    fn numeric_top(
        &mut self,
        path: &str,
        bottom: &Tok,
        open_bottom: bool,
        tok: Tok,
    ) -> Result<NumericRange, PatternError> {
        if !matches!(tok.token, Token::String { .. }) {
            let text = self.lx.text(&tok);
            return fail(
                format!("Bad value in numeric range: {text}"),
                path,
                tok.start,
            );
        }
        let op = self.string(&tok, path)?;
        let open_top = match op.as_str() {
            "<" => true,
            "<=" => false,
            _ => return fail(format!("Bad numeric range operator: {op}"), path, tok.start),
        };
        let top = self.next(path)?;
        if top.token != Token::Number {
            return fail(format!("Value of {op} must be numeric"), path, top.start);
        }
        let end = self.next(path)?;
        if end.token != Token::EndArray {
            return fail(
                "Too many terms in numeric range expression",
                path,
                end.start,
            );
        }
        let lo = self.comparable(bottom, path)?;
        let hi = self.comparable(&top, path)?;
        if lo >= hi {
            return fail("Bottom must be less than top", path, bottom.start);
        }
        Ok(NumericRange {
            lo,
            lo_inclusive: !open_bottom,
            hi,
            hi_inclusive: !open_top,
        })
    }

    /// An `anything-but` expression, after its name.
    fn anything_but(&mut self, path: &str) -> Result<Matcher, PatternError> {
        let mut kind = AbKind::Plain;
        let mut value = self.next(path)?;
        if value.token == Token::StartObject {
            let tok = self.next(path)?;
            let Token::Name(op) = tok.token else {
                return fail("Anything-But expression name not found", path, tok.start);
            };
            kind = match op.as_str() {
                "equals-ignore-case" => AbKind::EqualsIgnoreCase,
                "prefix" => AbKind::Prefix,
                "suffix" => AbKind::Suffix,
                "wildcard" => AbKind::Wildcard,
                _ => {
                    return fail(
                        format!("Unsupported anything-but pattern: {op}"),
                        path,
                        tok.start,
                    )
                }
            };
            value = self.next(path)?;
        }
        if !matches!(
            value.token,
            Token::StartArray | Token::String { .. } | Token::Number
        ) {
            return fail(
                "Value of anything-but must be an array or single string/number value.",
                path,
                value.start,
            );
        }
        let excluded = if value.token == Token::StartArray {
            if kind == AbKind::Plain {
                self.anything_but_list(path, value.start)?
            } else {
                let mut members = Vec::new();
                loop {
                    let tok = self.next(path)?;
                    match tok.token {
                        Token::EndArray => break,
                        Token::String { .. } => {
                            let s = self.set_member(kind, &tok, path)?;
                            members.push((s, tok.start));
                        }
                        _ => return fail(kind.non_string(), path, tok.start),
                    }
                }
                set_form(kind, members, path, value.start)?
            }
        } else {
            match (kind, &value.token) {
                (AbKind::Plain, Token::String { .. }) => {
                    AnythingBut::Strings(vec![self.string(&value, path)?])
                }
                (AbKind::Plain, _) => {
                    let x = self.comparable(&value, path)?;
                    AnythingBut::Numbers(vec![Number {
                        text: self.lx.raw(&value).to_string(),
                        value: Some(x),
                    }])
                }
                (_, Token::String { .. }) => {
                    let s = self.set_member(kind, &value, path)?;
                    set_form(kind, vec![(s, value.start)], path, value.start)?
                }
                _ => return fail(kind.non_string(), path, value.start),
            }
        };
        self.end_object(path, TOO_MANY_ELEMENTS)?;
        if kind != AbKind::Plain {
            self.end_object(path, TOO_MANY_ELEMENTS)?;
        }
        Ok(Matcher::AnythingBut(excluded))
    }

    /// One string of a prefix/suffix/equals-ignore-case/wildcard set.
    fn set_member(&mut self, kind: AbKind, tok: &Tok, path: &str) -> Result<String, PatternError> {
        let s = self.string(tok, path)?;
        if matches!(kind, AbKind::Prefix | AbKind::Suffix) && s.is_empty() {
            return fail("Null prefix/suffix not allowed", path, tok.start);
        }
        Ok(s)
    }

    /// `{"anything-but": [...]}` after the `[` (at `offset`).
    fn anything_but_list(
        &mut self,
        path: &str,
        offset: usize,
    ) -> Result<AnythingBut, PatternError> {
        let mut strings: Vec<String> = Vec::new();
        let mut numbers: Vec<Number> = Vec::new();
        loop {
            let tok = self.next(path)?;
            match tok.token {
                Token::EndArray => break,
                Token::String { .. } => {
                    let s = self.string(&tok, path)?;
                    if !strings.contains(&s) {
                        strings.push(s);
                    }
                }
                Token::Number => {
                    let x = self.comparable(&tok, path)?;
                    if !numbers.iter().any(|n| n.value == Some(x)) {
                        numbers.push(Number {
                            text: self.lx.raw(&tok).to_string(),
                            value: Some(x),
                        });
                    }
                }
                _ => {
                    return fail(
                        "Inside anything but list, start|null|boolean is not supported.",
                        path,
                        tok.start,
                    )
                }
            }
        }
        match (strings.is_empty(), numbers.is_empty()) {
            (false, true) => Ok(AnythingBut::Strings(strings)),
            (true, false) => Ok(AnythingBut::Numbers(numbers)),
            _ => fail(
                "Inside anything but list, either all values are number or string, mixed type is not supported",
                path,
                offset,
            ),
        }
    }
}

/// Build a set form of `anything-but` from its members (string, offset).
fn set_form(
    kind: AbKind,
    members: Vec<(String, usize)>,
    path: &str,
    offset: usize,
) -> Result<AnythingBut, PatternError> {
    let mut strings: Vec<String> = Vec::with_capacity(members.len());
    let mut globs: Vec<Glob> = Vec::new();
    for (s, at) in members {
        if strings.contains(&s) {
            continue; // event-ruler keeps a set
        }
        if kind == AbKind::Wildcard {
            globs.push(parse_wildcard(&s).or_else(|reason| fail(reason, path, at))?);
        }
        strings.push(s);
    }
    match kind {
        AbKind::EqualsIgnoreCase => Ok(AnythingBut::EqualsIgnoreCase(strings)),
        AbKind::Wildcard => Ok(AnythingBut::Wildcard(globs)),
        AbKind::Prefix | AbKind::Suffix if strings.is_empty() => {
            // event-ruler throws a NullPointerException here; say what is wrong.
            let which = if kind == AbKind::Prefix {
                "prefix"
            } else {
                "suffix"
            };
            fail(
                format!("Inside anything-but/{which} list, list must not be empty"),
                path,
                offset,
            )
        }
        AbKind::Prefix => Ok(AnythingBut::Prefix(strings)),
        AbKind::Suffix => Ok(AnythingBut::Suffix(strings)),
        AbKind::Plain => Ok(AnythingBut::Strings(strings)),
    }
}

/// How many sub-patterns `ops` yields when applied to `k` existing ones
/// (saturating; `k == 0` means none yet). Linear in the size of `ops`.
fn count(ops: &[Op], mut k: usize) -> usize {
    for op in ops {
        match op {
            Op::Field { .. } => k = k.max(1),
            Op::Or { branches, .. } => {
                let base = k.max(1);
                k = branches
                    .iter()
                    .fold(0usize, |acc, b| acc.saturating_add(count(b, base)));
            }
        }
    }
    k
}

/// The first `$or` in document order: its parent path and offset.
fn first_or(ops: &[Op]) -> Option<(&str, usize)> {
    ops.iter().find_map(|op| match op {
        Op::Or { path, offset, .. } => Some((path.as_str(), *offset)),
        Op::Field { .. } => None,
    })
}

/// Replay event-ruler's expansion of `ops` into `rules`.
fn apply(ops: &[Op], rules: &mut Vec<Vec<Field>>) {
    for op in ops {
        match op {
            Op::Field { path, matchers } => {
                if rules.is_empty() {
                    rules.push(Vec::new());
                }
                for rule in rules.iter_mut() {
                    match rule.iter_mut().find(|f| f.path == *path) {
                        Some(field) => field.matchers = matchers.clone(),
                        None => rule.push(Field {
                            path: path.clone(),
                            matchers: matchers.clone(),
                        }),
                    }
                }
            }
            Op::Or { branches, .. } => {
                let current = std::mem::take(rules);
                for branch in branches {
                    let mut copy = current.clone();
                    if copy.is_empty() {
                        copy.push(Vec::new());
                    }
                    apply(branch, &mut copy);
                    rules.append(&mut copy);
                }
            }
        }
    }
}

/// Moves the fields out of `ops` (the caller keeps its memory).
fn expand(ops: &mut Vec<Op>, limits: &PatternLimits) -> Result<Pattern, PatternError> {
    let n = count(ops, 0);
    if n > limits.max_or_combinations {
        let (path, offset) = first_or(ops).unwrap_or(("", 0));
        return fail(
            format!(
                "Rule is too complex - too many $or combinations ({n}, limit {})",
                limits.max_or_combinations
            ),
            path,
            offset,
        );
    }
    let mut rules = Vec::new();
    if ops.iter().any(|op| matches!(op, Op::Or { .. })) {
        apply(ops, &mut rules);
    } else if !ops.is_empty() {
        // One sub-pattern, kept for the rule's lifetime: room for one, not
        // the four a first push makes.
        rules.reserve_exact(1);
        // `apply` of fields alone, moving them where it would copy.
        let mut fields: Vec<Field> = Vec::with_capacity(ops.len());
        for op in ops.drain(..) {
            if let Op::Field { path, matchers } = op {
                match fields.iter_mut().find(|f| f.path == path) {
                    Some(field) => field.matchers = matchers,
                    None => fields.push(Field { path, matchers }),
                }
            }
        }
        rules.push(fields);
    }
    Ok(Pattern {
        subpatterns: rules
            .into_iter()
            .map(|fields| SubPattern { fields })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{GlobTok, IpRange};

    fn limits() -> PatternLimits {
        PatternLimits::default()
    }

    #[test]
    fn a_reused_scratch_reads_as_a_fresh_one() {
        // Each read after one that failed part-way, after `$or`s nested in
        // objects and arrays, and after deep paths: the same answers as
        // with fresh memory.
        let texts = [
            r#"{"a":{"b":{"c":["x"]}},"d":[1]}"#,
            r#"{"$or":[{"a":["x"]},{"b":{"$or":[{"c":[1]},{"d":[2]}]}}]}"#,
            r#"{"a":{"b":["x"]}"#,
            r#"{"a":["x"]}"#,
            r#"{"a":{"$or":[{"b":["x"]},{"c":"#,
            r#"{"e":{"f":[{"prefix":"p"}]}}"#,
            r#"{"a":{}}"#,
            r#"{"a.b":["x"],"a":{"b":["y"]}}"#,
            r#"{"$or":[{"a":["x"]},{"a":["y"]}],"z":[true]}"#,
        ];
        let mut scratch = Scratch::default();
        for _ in 0..2 {
            for t in texts {
                assert_eq!(
                    parse_with(t, &limits(), &mut scratch),
                    parse(t, &limits()),
                    "{t}"
                );
            }
        }
    }

    fn ok(s: &str) -> Pattern {
        match parse(s, &limits()) {
            Ok(p) => p,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn err(s: &str) -> PatternError {
        match parse(s, &limits()) {
            Ok(p) => panic!("{s} accepted: {p:?}"),
            Err(e) => e,
        }
    }

    fn reason(s: &str) -> String {
        err(s).reason().to_string()
    }

    /// The fields of a pattern without `$or`, as (path, matchers).
    fn fields(s: &str) -> Vec<(String, Vec<Matcher>)> {
        let p = ok(s);
        assert_eq!(p.subpatterns.len(), 1, "{s}");
        p.subpatterns[0]
            .fields
            .iter()
            .map(|f| (f.path.clone(), f.matchers.clone()))
            .collect()
    }

    /// The matchers of the only field of `s`.
    fn matchers(s: &str) -> Vec<Matcher> {
        let f = fields(s);
        assert_eq!(f.len(), 1, "{s}");
        f[0].1.clone()
    }

    fn one(s: &str) -> Matcher {
        let m = matchers(s);
        assert_eq!(m.len(), 1, "{s}");
        m[0].clone()
    }

    fn string(s: &str) -> Matcher {
        Matcher::Exact(Literal::String(s.to_string()))
    }

    fn num(text: &str, value: Option<f64>) -> Matcher {
        Matcher::Exact(Literal::Number(Number {
            text: text.to_string(),
            value,
        }))
    }

    const UNRECOGNIZED_THIS: &str = "Unrecognized token 'this': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')";

    // §1.1.1
    #[test]
    fn top_level_must_be_an_object() {
        for s in [
            r#"["a"]"#, r#""abc""#, "5", "null", "true", "", "   ", r#"["a""#, r#""abc"#,
        ] {
            assert_eq!(reason(s), "Filter is not an object", "{s:?}");
        }
        assert_eq!(err(r#"  ["a"]"#).offset(), 2);
        assert_eq!(err(r#"  ["a"]"#).path(), "");
        assert_eq!(reason("this is not json"), UNRECOGNIZED_THIS);
        assert_eq!(err("this is not json").offset(), 0);
        assert_eq!(reason(r#"{"a": this}"#), UNRECOGNIZED_THIS);
        assert_eq!(err(r#"{"a": this}"#).offset(), 6);
    }

    // §1.1.2
    #[test]
    fn member_values_must_be_objects_or_arrays() {
        assert_eq!(
            reason(r#"{"int": 42}"#),
            r#""int" must be an object or an array"#
        );
        assert_eq!(
            reason(r#"{"string":"my-value"}"#),
            r#""string" must be an object or an array"#
        );
        assert_eq!(
            reason(r#"{"a":{"b":null}}"#),
            r#""b" must be an object or an array"#
        );
        let e = err(r#"{"a": {"b": true}}"#);
        assert_eq!(e.path(), "a.b");
        assert_eq!(e.offset(), 12);
    }

    // §1.1.3
    #[test]
    fn empty_objects_rejected() {
        assert_eq!(reason("{}"), "Empty objects are not allowed");
        assert_eq!(reason(" { } "), "Empty objects are not allowed");
        let e = err(r#"{"a":{}}"#);
        assert_eq!(e.reason(), "Empty objects are not allowed");
        assert_eq!(e.path(), "a");
        assert_eq!(e.offset(), 5);
        assert_eq!(
            reason(r#"{"$or":[{"a":["x"]},{}]}"#),
            "Empty objects are not allowed"
        );
        assert_eq!(
            reason(r#"{"a":{"b":{"c":{}}}}"#),
            "Empty objects are not allowed"
        );
    }

    // §1.1.4
    #[test]
    fn empty_arrays_rejected() {
        let e = err(r#"{"a": []}"#);
        assert_eq!(e.reason(), "Empty arrays are not allowed");
        assert_eq!(e.path(), "a");
        assert_eq!(e.offset(), 6);
    }

    // §1.1.5
    #[test]
    fn matcher_values() {
        assert_eq!(
            matchers(r#"{"a":["x", 5, true, false, null, ""]}"#),
            vec![
                string("x"),
                num("5", Some(5.0)),
                Matcher::Exact(Literal::True),
                Matcher::Exact(Literal::False),
                Matcher::Exact(Literal::Null),
                string(""),
            ]
        );
        assert_eq!(
            reason(r#"{"a":[["x"]]}"#),
            "Match value must be String, number, true, false, or null"
        );
        assert_eq!(err(r#"{"a":["x",["y"]]}"#).offset(), 10);
        // Strings are decoded.
        assert_eq!(one(r#"{"a":["\u00e9\n"]}"#), string("é\n"));
        assert_eq!(one(r#"{"a":["🚀 "]}"#), string("🚀 "));
    }

    // §1.1.6
    #[test]
    fn operator_objects() {
        assert_eq!(
            reason(r#"{"a":[{"prefix":"x","suffix":"y"}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(err(r#"{"a":[{"prefix":"x","suffix":"y"}]}"#).offset(), 20);
        assert_eq!(reason(r#"{"a":[{}]}"#), "Match expression name not found");
        assert_eq!(
            reason(r#"{"a":[{"NUMERIC":[">",1]}]}"#),
            "Unrecognized match type NUMERIC"
        );
        assert_eq!(
            reason(r#"{"a":[{"EXISTS":true}]}"#),
            "Unrecognized match type EXISTS"
        );
        assert_eq!(
            reason(r#"{"a":[{"PREFIX":"x"}]}"#),
            "Unrecognized match type PREFIX"
        );
        assert_eq!(
            reason(r#"{"a":[{"regex":"x"}]}"#),
            "Unrecognized match type regex"
        );
    }

    // §1.1.7
    #[test]
    fn exactly_operator() {
        assert_eq!(one(r#"{"a":[{"exactly":"x"}]}"#), string("x"));
        // No IP canonicalisation for `exactly`.
        assert_eq!(one(r#"{"a":[{"exactly":"10.0.0.1"}]}"#), string("10.0.0.1"));
        assert_eq!(
            reason(r#"{"a":[{"exactly":5}]}"#),
            "exact match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a":[{"exactly":"x","y":1}]}"#),
            "Only one key allowed in match expression"
        );
    }

    // §1.1.8, §1.1.9, §1.1.11
    #[test]
    fn fields_and_mixed_matchers() {
        assert_eq!(
            matchers(r#"{"my_key":[{"exists":true},{"prefix":"IGNORED"},{"suffix":"IGNORED"}]}"#),
            vec![
                Matcher::Exists(true),
                Matcher::Prefix("IGNORED".into()),
                Matcher::Suffix("IGNORED".into()),
            ]
        );
        assert_eq!(fields(r#"{"id":["1"]}"#)[0].0, "id");
        assert_eq!(fields(r#"{"MY_KEY":["my-value"]}"#)[0].0, "MY_KEY");
        let f = fields(r#"{"source":["aws.ec2"],"detail":{"state":["running"]}}"#);
        assert_eq!(
            f.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
            vec!["source", "detail.state"]
        );
    }

    #[test]
    fn paths_join_keys_with_dots_and_an_empty_base_adds_none() {
        let path = |s: &str| fields(s).remove(0).0;
        assert_eq!(path(r#"{"a":{"b":{"c":["x"]}}}"#), "a.b.c");
        assert_eq!(path(r#"{"":{"b":["x"]}}"#), "b");
        assert_eq!(path(r#"{"a":{"":{"b":["x"]}}}"#), "a..b");
        assert_eq!(path(r#"{"":{"":{"b":["x"]}}}"#), "..b");
        // Leaving an object drops its step, and only its step.
        assert_eq!(
            fields(r#"{"a":{"b":{"c":["x"]},"d":["y"]},"e":["z"]}"#)
                .into_iter()
                .map(|(p, _)| p)
                .collect::<Vec<_>>(),
            ["a.b.c", "a.d", "e"]
        );
        // Errors name the path they were met at.
        assert_eq!(err(r#"{"a":{"bb":{}}}"#).path(), "a.bb");
        assert_eq!(err(r#"{"a":{"b":["x"]},"c":{"d":[]}}"#).path(), "c.d");
        assert_eq!(err(r#"{"a":{"b":["x"],"c":7}}"#).path(), "a.c");
    }

    // §1.1.10
    #[test]
    fn duplicate_keys_last_wins() {
        assert_eq!(
            fields(r#"{"a":[{"prefix":"us-"}],"a":[{"anything-but":"us-east"}]}"#),
            vec![(
                "a".to_string(),
                vec![Matcher::AnythingBut(AnythingBut::Strings(vec![
                    "us-east".into()
                ]))]
            )]
        );
        // The same dotted path spelled two ways is one field too (event-ruler
        // keys its map by the joined path).
        assert_eq!(
            fields(r#"{"a.b":["x"],"a":{"b":["y"]}}"#),
            vec![("a.b".to_string(), vec![string("y")])]
        );
        // Replacement keeps the field's first position.
        assert_eq!(
            fields(r#"{"a":["1"],"b":["2"],"a":["3"]}"#),
            vec![
                ("a".to_string(), vec![string("3")]),
                ("b".to_string(), vec![string("2")])
            ]
        );
    }

    // §1.1.12
    #[test]
    fn dotted_keys_are_joined() {
        assert_eq!(
            fields(r#"{"detail":{"state.status":["running"]}}"#),
            fields(r#"{"detail":{"state":{"status":["running"]}}}"#)
        );
        assert_eq!(fields(r#"{"a.b":["x"]}"#)[0].0, "a.b");
        // event-ruler's Path: an empty key contributes no dot at the front.
        assert_eq!(fields(r#"{"":{"b":["x"]}}"#)[0].0, "b");
        assert_eq!(fields(r#"{"a":{"":["x"]}}"#)[0].0, "a.");
    }

    // §1.1.14
    #[test]
    fn trailing_bytes_after_the_root_are_ignored() {
        assert_eq!(matchers(r#"{"a":["x"]} xyz"#), vec![string("x")]);
        assert_eq!(matchers(r#"{"a":["x"]}}"#), vec![string("x")]);
    }

    // §1.1.15
    #[test]
    fn pattern_length_limit() {
        let long = format!(r#"{{"a":["{}"]}}"#, "x".repeat(2040));
        assert_eq!(long.chars().count(), 2050);
        assert_eq!(
            reason(&long),
            "Event pattern is too long: 2050 characters, limit 2048 (EventBridge's event pattern size quota)"
        );
        let fits = format!(r#"{{"a":["{}"]}}"#, "x".repeat(2038));
        assert!(parse(&fits, &limits()).is_ok());
        // Characters, not bytes.
        let wide = format!(r#"{{"a":["{}"]}}"#, "é".repeat(2038));
        assert!(parse(&wide, &limits()).is_ok());
        let raised = PatternLimits {
            max_pattern_chars: 4096,
            ..limits()
        };
        assert!(parse(&long, &raised).is_ok());
    }

    // §1.3
    #[test]
    fn number_literals_keep_text_and_representable_value() {
        assert_eq!(one(r#"{"a":[300]}"#), num("300", Some(300.0)));
        assert_eq!(one(r#"{"a":[3.0e2]}"#), num("3.0e2", Some(300.0)));
        assert_eq!(one(r#"{"a":[-0]}"#), num("-0", Some(-0.0)));
        assert_eq!(
            one(r#"{"a":[12345678901234567890]}"#),
            num("12345678901234567890", None)
        );
        assert_eq!(
            one(r#"{"a":[123456789012]}"#),
            num("123456789012", Some(123456789012.0))
        );
        assert_eq!(
            reason(r#"{"a":[01]}"#),
            "Invalid numeric value: Leading zeroes not allowed"
        );
    }

    // §1.5.1-1.5.5
    #[test]
    fn prefix_suffix_equals_ignore_case() {
        assert_eq!(
            one(r#"{"a":[{"prefix":"ab"}]}"#),
            Matcher::Prefix("ab".into())
        );
        assert_eq!(one(r#"{"a":[{"prefix":""}]}"#), Matcher::Prefix("".into()));
        assert_eq!(
            one(r#"{"a":[{"suffix":".png"}]}"#),
            Matcher::Suffix(".png".into())
        );
        assert_eq!(
            one(r#"{"a":[{"equals-ignore-case":"ABC"}]}"#),
            Matcher::EqualsIgnoreCase("ABC".into())
        );
        for v in ["123", r#"["x"]"#, "null", "{}"] {
            let p = format!(r#"{{"a":[{{"prefix":{v}}}]}}"#);
            if v == "{}" {
                assert_eq!(reason(&p), "Prefix expression name not found");
            } else {
                assert_eq!(reason(&p), "prefix match pattern must be a string", "{p}");
            }
        }
        for v in ["123", r#"[".png"]"#] {
            let p = format!(r#"{{"a":[{{"suffix":{v}}}]}}"#);
            assert_eq!(reason(&p), "suffix match pattern must be a string");
        }
        assert_eq!(
            reason(r#"{"a":[{"suffix":{}}]}"#),
            "Suffix expression name not found"
        );
        for v in ["5", r#"["x"]"#, r#"{"a":1}"#, "true"] {
            let p = format!(r#"{{"a":[{{"equals-ignore-case":{v}}}]}}"#);
            assert_eq!(
                reason(&p),
                "equals-ignore-case match pattern must be a string"
            );
        }
    }

    // §1.5.6
    #[test]
    fn prefix_and_suffix_ignoring_case() {
        assert_eq!(
            one(r#"{"a":[{"prefix":{"equals-ignore-case":"EventB"}}]}"#),
            Matcher::PrefixIgnoreCase("EventB".into())
        );
        assert_eq!(
            one(r#"{"a":[{"suffix":{"equals-ignore-case":".png"}}]}"#),
            Matcher::SuffixIgnoreCase(".png".into())
        );
        assert_eq!(
            reason(r#"{"a":[{"prefix":{"wildcard":"x*"}}]}"#),
            "Unsupported prefix pattern: wildcard"
        );
        assert_eq!(
            reason(r#"{"a":[{"suffix":{"foo":"x"}}]}"#),
            "Unsupported suffix pattern: foo"
        );
        assert_eq!(
            reason(r#"{"a":[{"prefix":{"equals-ignore-case":"x","b":"y"}}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            reason(r#"{"a":[{"prefix":{"equals-ignore-case":"x"},"b":"y"}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            reason(r#"{"a":[{"prefix":{"equals-ignore-case":5}}]}"#),
            "equals-ignore-case match pattern must be a string"
        );
    }

    // §1.6
    #[test]
    fn wildcard_operator() {
        let Matcher::Wildcard(g) = one(r#"{"a":[{"wildcard":"a\\*b*"}]}"#) else {
            panic!("not a wildcard")
        };
        assert_eq!(g.text, r"a\*b*");
        assert_eq!(
            g.tokens,
            vec![
                GlobTok::Byte(b'a'),
                GlobTok::Byte(b'*'),
                GlobTok::Byte(b'b'),
                GlobTok::Star
            ]
        );
        let e = err(r#"{"a":[{"wildcard":"arn:aws:events:us-east-1:**:event-bus/*"}]}"#);
        assert_eq!(e.reason(), "Consecutive wildcard characters at pos 26");
        assert_eq!(e.path(), "a");
        assert_eq!(e.offset(), 18);
        assert_eq!(
            reason(r#"{"a":[{"wildcard":"a\\b"}]}"#),
            "Invalid escape character at pos 2"
        );
        assert!(parse(r#"{"a":[{"wildcard":"\\**"}]}"#, &limits()).is_ok());
        for v in ["123", r#"["x"]"#] {
            let p = format!(r#"{{"a":[{{"wildcard":{v}}}]}}"#);
            assert_eq!(reason(&p), "wildcard match pattern must be a string");
        }
        assert_eq!(
            reason(r#"{"a":[{"wildcard":"x","y":1}]}"#),
            "Only one key allowed in match expression"
        );
    }

    // §1.7 forms
    #[test]
    fn anything_but_forms() {
        use AnythingBut as A;
        let ab = |s: &str| match one(s) {
            Matcher::AnythingBut(a) => a,
            m => panic!("{s}: {m:?}"),
        };
        assert_eq!(
            ab(r#"{"a":[{"anything-but":"x"}]}"#),
            A::Strings(vec!["x".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":5}]}"#),
            A::Numbers(vec![Number {
                text: "5".into(),
                value: Some(5.0)
            }])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":["stopped","overloaded","stopped"]}]}"#),
            A::Strings(vec!["stopped".into(), "overloaded".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":[100,200,1e2]}]}"#),
            A::Numbers(vec![
                Number {
                    text: "100".into(),
                    value: Some(100.0)
                },
                Number {
                    text: "200".into(),
                    value: Some(200.0)
                },
            ])
        );
        // Strings that look like addresses stay strings here.
        assert_eq!(
            ab(r#"{"a":[{"anything-but":"10.0.0.1"}]}"#),
            A::Strings(vec!["10.0.0.1".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":{"prefix":"init"}}]}"#),
            A::Prefix(vec!["init".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":{"prefix":["init","post"]}}]}"#),
            A::Prefix(vec!["init".into(), "post".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":{"suffix":".txt"}}]}"#),
            A::Suffix(vec![".txt".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":{"equals-ignore-case":["a","B"]}}]}"#),
            A::EqualsIgnoreCase(vec!["a".into(), "B".into()])
        );
        assert_eq!(
            ab(r#"{"a":[{"anything-but":{"equals-ignore-case":[]}}]}"#),
            A::EqualsIgnoreCase(vec![])
        );
        let A::Wildcard(globs) = ab(r#"{"a":[{"anything-but":{"wildcard":["*/init/*",""]}}]}"#)
        else {
            panic!("not wildcard")
        };
        assert_eq!(globs.len(), 2);
        assert_eq!(globs[0].text, "*/init/*");
        assert!(globs[1].tokens.is_empty());
        assert_eq!(
            ab(r#"{"a":[{"anything-but":{"wildcard":[]}}]}"#),
            A::Wildcard(vec![])
        );
        // Combined with exists in one array (§1.7.11).
        assert_eq!(
            matchers(r#"{"a":[{"anything-but":["roses"]},{"exists":false}]}"#),
            vec![
                Matcher::AnythingBut(A::Strings(vec!["roses".into()])),
                Matcher::Exists(false)
            ]
        );
    }

    // §1.7 errors
    #[test]
    fn anything_but_errors() {
        let mixed = "Inside anything but list, either all values are number or string, mixed type is not supported";
        assert_eq!(reason(r#"{"a":[{"anything-but":["a",1]}]}"#), mixed);
        assert_eq!(reason(r#"{"a":[{"anything-but":[]}]}"#), mixed);
        let e = err(r#"{"a":[{"anything-but":[]}]}"#);
        assert_eq!((e.path(), e.offset()), ("a", 22));
        for v in ["null", "true", "{}", "[]"] {
            let p = format!(r#"{{"a":[{{"anything-but":["x",{v}]}}]}}"#);
            assert_eq!(
                reason(&p),
                "Inside anything but list, start|null|boolean is not supported.",
                "{p}"
            );
        }
        for v in [
            "null",
            "true",
            r#"{"prefix":{"equals-ignore-case":"x"}}"#,
            r#"{"suffix":{"equals-ignore-case":"x"}}"#,
            r#"{"prefix":null}"#,
        ] {
            let p = format!(r#"{{"a":[{{"anything-but":{v}}}]}}"#);
            assert_eq!(
                reason(&p),
                "Value of anything-but must be an array or single string/number value.",
                "{p}"
            );
        }
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"prefix":""}}]}"#),
            "Null prefix/suffix not allowed"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"suffix":["x",""]}}]}"#),
            "Null prefix/suffix not allowed"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"prefix":5}}]}"#),
            "prefix/suffix match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"suffix":["x",5]}}]}"#),
            "prefix/suffix match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"equals-ignore-case":["x",5]}}]}"#),
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"equals-ignore-case":5}}]}"#),
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"wildcard":5}}]}"#),
            "wildcard match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"wildcard":["a*",null]}}]}"#),
            "wildcard match pattern must be a string"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"wildcard":"a**"}}]}"#),
            "Consecutive wildcard characters at pos 2"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"wildcard":["ok","a\\q"]}}]}"#),
            "Invalid escape character at pos 2"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"regex":"x"}}]}"#),
            "Unsupported anything-but pattern: regex"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{}}]}"#),
            "Anything-But expression name not found"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"prefix":"a","suffix":"b"}}]}"#),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":"x","prefix":"y"}]}"#),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"prefix":"x"},"y":1}]}"#),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"prefix":[]}}]}"#),
            "Inside anything-but/prefix list, list must not be empty"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":{"suffix":[]}}]}"#),
            "Inside anything-but/suffix list, list must not be empty"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":1e400}]}"#),
            "Cannot compare number : 1e400"
        );
        assert_eq!(
            reason(r#"{"a":[{"anything-but":[1,12345678901234567890]}]}"#),
            "Cannot compare number : 12345678901234567890"
        );
    }

    fn range(s: &str) -> NumericRange {
        match one(s) {
            Matcher::Numeric(r) => r,
            m => panic!("{s}: {m:?}"),
        }
    }

    fn numeric(expr: &str) -> String {
        format!(r#"{{"a":[{{"numeric":{expr}}}]}}"#)
    }

    // §1.8
    #[test]
    fn numeric_ranges() {
        let inf = f64::INFINITY;
        let r = |lo, lo_inclusive, hi, hi_inclusive| NumericRange {
            lo,
            lo_inclusive,
            hi,
            hi_inclusive,
        };
        assert_eq!(
            range(&numeric(r#"["=",301.8]"#)),
            r(301.8, true, 301.8, true)
        );
        assert_eq!(
            range(&numeric(r#"["=",3.018e2]"#)),
            r(301.8, true, 301.8, true)
        );
        assert_eq!(range(&numeric(r#"[">",100]"#)), r(100.0, false, inf, false));
        assert_eq!(range(&numeric(r#"[">=",100]"#)), r(100.0, true, inf, false));
        assert_eq!(range(&numeric(r#"["<",10]"#)), r(-inf, false, 10.0, false));
        assert_eq!(range(&numeric(r#"["<=",10]"#)), r(-inf, false, 10.0, true));
        assert_eq!(
            range(&numeric(r#"[">",0,"<=",5]"#)),
            r(0.0, false, 5.0, true)
        );
        assert_eq!(
            range(&numeric(r#"[">=",0,"<",5]"#)),
            r(0.0, true, 5.0, false)
        );
        assert_eq!(range(&numeric(r#"[">",5e9]"#)), r(5e9, false, inf, false));
        assert_eq!(
            range(&numeric(r#"["<",1e300]"#)),
            r(-inf, false, 1e300, false)
        );
        assert_eq!(
            range(&numeric(r#"["<=",1.7976931348623157e308]"#)),
            r(-inf, false, f64::MAX, true)
        );
        // Numeric and string matchers can share a field (§1.8.6).
        assert_eq!(
            matchers(r#"{"a":[{"numeric":[">",10]},"abc"]}"#),
            vec![Matcher::Numeric(r(10.0, false, inf, false)), string("abc")]
        );
    }

    // §1.8.4-1.8.5
    #[test]
    fn numeric_errors() {
        let cases = [
            ("10", "Value of numeric must be an array."),
            (r#"{"a":1}"#, "Value of numeric must be an array."),
            (r#"[">",0,">",0]"#, "Bad numeric range operator: >"),
            (r#"[">",0,"="]"#, "Bad numeric range operator: ="),
            (r#"[">",0,"<"]"#, "Value of < must be numeric"),
            (r#"[">",0,"<=","1"]"#, "Value of <= must be numeric"),
            ("[]", "Invalid member in numeric match: ]"),
            ("[1]", "Invalid member in numeric match: 1"),
            ("[null]", "Invalid member in numeric match: null"),
            ("[[1]]", "Invalid member in numeric match: ["),
            (r#"["==",1]"#, "Unrecognized numeric range operator: =="),
            (r#"["=","1"]"#, "Value of equals must be numeric"),
            (r#"["="]"#, "Value of equals must be numeric"),
            (r#"[">=","x"]"#, "Value of >= must be numeric"),
            (r#"[">","x"]"#, "Value of > must be numeric"),
            (r#"["<","x"]"#, "Value of < must be numeric"),
            (r#"["<=",true]"#, "Value of <= must be numeric"),
            (
                r#"["=",1,"<",2]"#,
                "Too many elements in numeric expression",
            ),
            (
                r#"["<",5,">",1]"#,
                "Too many elements in numeric expression",
            ),
            (r#"["<=",5,6]"#, "Too many elements in numeric expression"),
            (
                r#"[">",1,"<=",5,"x"]"#,
                "Too many terms in numeric range expression",
            ),
            (r#"[">",1,5,6]"#, "Bad value in numeric range: 5"),
            (r#"[">",1,true]"#, "Bad value in numeric range: true"),
            (r#"[">=",5,"<",5]"#, "Bottom must be less than top"),
            (r#"[">",6,"<",5]"#, "Bottom must be less than top"),
            (r#"[">=",0,"<=",-0]"#, "Bottom must be less than top"),
            (
                r#"["=",12345678901234567890]"#,
                "Cannot compare number : 12345678901234567890",
            ),
            (
                r#"["<",0.30000000000000001]"#,
                "Cannot compare number : 0.30000000000000001",
            ),
            (r#"[">",1e400]"#, "Cannot compare number : 1e400"),
            (r#"[">",1,"<",1E400]"#, "Cannot compare number : 1E400"),
        ];
        for (expr, want) in cases {
            assert_eq!(reason(&numeric(expr)), want, "{expr}");
        }
        assert_eq!(
            reason(r#"{"a":[{"numeric":[">",1],"x":1}]}"#),
            "Too many elements in numeric expression"
        );
        // Structural problems are found before the numbers are judged, as in
        // event-ruler (the bound is converted after the array is read).
        assert_eq!(
            reason(&numeric(r#"["=",1e400,2]"#)),
            "Too many elements in numeric expression"
        );
        let e = err(&numeric(r#"[">",1,"<",1e400]"#));
        assert_eq!((e.path(), e.offset()), ("a", 28));
    }

    // §1.9
    #[test]
    fn cidr_and_ip_literals() {
        assert_eq!(
            one(r#"{"a":[{"cidr":"10.0.0.0/24"}]}"#),
            Matcher::Ip(IpRange {
                v6: false,
                lo: 0x0a00_0000,
                hi: 0x0a00_00ff
            })
        );
        assert_eq!(
            one(r#"{"a":[{"cidr":"10.0.0.77/24"}]}"#),
            one(r#"{"a":[{"cidr":"10.0.0.0/24"}]}"#)
        );
        let cases = [
            (r#""10.0.0.0/32""#, "IPv4 mask bits must be < 32"),
            (r#""::1/128""#, "IPv6 mask bits must be < 128"),
            (r#""::ffff:0a00:95b7/64""#, "IPv4 mask bits must be < 32"),
            (r#""10.0.0.0""#, "Malformed CIDR, one '/' required"),
            (
                r#""10.0.0.0/x""#,
                "Malformed CIDR, mask bits must be an integer",
            ),
            (
                r#""10.0.0.0/-1""#,
                "Malformed CIDR, mask bits must not be negative",
            ),
            (r#""xx.11.xx/8""#, "Nonstandard IP address: xx.11.xx"),
            (
                r#""xxxx:db8:1234:1a00::/64""#,
                "Nonstandard IP address: xxxx:db8:1234:1a00::",
            ),
            ("5", "prefix match pattern must be a string"),
            (r#"["10.0.0.0/8"]"#, "prefix match pattern must be a string"),
        ];
        for (v, want) in cases {
            let p = format!(r#"{{"a":[{{"cidr":{v}}}]}}"#);
            assert_eq!(reason(&p), want, "{p}");
        }
        let e = err(r#"{"a": [{"cidr": "10.0.0.0/32"}]}"#);
        assert_eq!((e.path(), e.offset()), ("a", 16));
        assert_eq!(
            reason(r#"{"a":[{"cidr":"10.0.0.0/8","b":1}]}"#),
            "Only one key allowed in match expression"
        );
        // §1.9.7: exact strings that are address literals become ranges.
        assert_eq!(
            one(r#"{"a":["10.0.0.1"]}"#),
            Matcher::Ip(IpRange {
                v6: false,
                lo: 0x0a00_0001,
                hi: 0x0a00_0001
            })
        );
        assert_eq!(
            one(r#"{"a":["2001:db8::1"]}"#),
            Matcher::Ip(IpRange {
                v6: true,
                lo: 0x2001_0db8 << 96 | 1,
                hi: 0x2001_0db8 << 96 | 1
            })
        );
        assert_eq!(one(r#"{"a":["08:23"]}"#), string("08:23"));
        assert_eq!(one(r#"{"a":["10.0.0.256"]}"#), string("10.0.0.256"));
    }

    // §1.10
    #[test]
    fn exists_operator() {
        assert_eq!(one(r#"{"a":[{"exists":true}]}"#), Matcher::Exists(true));
        assert_eq!(one(r#"{"a":[{"exists":false}]}"#), Matcher::Exists(false));
        for v in [r#""true""#, "1", "null", "[true]"] {
            let p = format!(r#"{{"a":[{{"exists":{v}}}]}}"#);
            assert_eq!(
                reason(&p),
                "exists match pattern must be either true or false."
            );
        }
        assert_eq!(
            reason(r#"{"a":[{"exists":true,"b":1}]}"#),
            "Only one key allowed in match expression"
        );
    }

    fn shape(p: &Pattern) -> Vec<Vec<String>> {
        p.subpatterns
            .iter()
            .map(|s| {
                s.fields
                    .iter()
                    .map(|f| {
                        let values: Vec<String> = f
                            .matchers
                            .iter()
                            .map(|m| match m {
                                Matcher::Exact(Literal::String(s)) => s.clone(),
                                m => format!("{m:?}"),
                            })
                            .collect();
                        format!("{}={}", f.path, values.join("|"))
                    })
                    .collect()
            })
            .collect()
    }

    // §1.11.1
    #[test]
    fn or_expands_into_subpatterns() {
        let p = ok(r#"{"source":["s"],"$or":[{"m":["1"]},{"t":["2"],"n":["3"]},{"c":["4"]}]}"#);
        assert_eq!(
            shape(&p),
            vec![
                vec!["source=s", "m=1"],
                vec!["source=s", "t=2", "n=3"],
                vec!["source=s", "c=4"],
            ]
        );
        // Inside a nested object, paths continue from the parent.
        let p = ok(
            r#"{"detail":{"$or":[{"c-count":[{"numeric":[">",0,"<=",5]}]},{"d-count":[{"numeric":["<",10]}]},{"x-limit":[{"numeric":["=",3.018e2]}]}]}}"#,
        );
        assert_eq!(p.subpatterns.len(), 3);
        assert_eq!(p.subpatterns[0].fields[0].path, "detail.c-count");
        assert_eq!(p.subpatterns[2].fields[0].path, "detail.x-limit");
        // Two `$or`s multiply; nested `$or`s add up within their branch.
        let p = ok(
            r#"{"$or":[{"a":["1"]},{"a":["2"]}],"x":{"$or":[{"b":["1"]},{"b":["2"]},{"b":["3"]}]}}"#,
        );
        assert_eq!(p.subpatterns.len(), 6);
        assert_eq!(shape(&p)[5], vec!["a=2", "x.b=3"]);
        let p = ok(r#"{"$or":[{"a":["1"],"$or":[{"b":["1"]},{"b":["2"]}]},{"c":["1"]}]}"#);
        assert_eq!(
            shape(&p),
            vec![vec!["a=1", "b=1"], vec!["a=1", "b=2"], vec!["c=1"]]
        );
        // A field after a `$or` goes into every branch; a later duplicate path
        // replaces the earlier one in each sub-pattern.
        let p = ok(r#"{"$or":[{"a":["1"]},{"b":["2"]}],"a":["3"]}"#);
        assert_eq!(shape(&p), vec![vec!["a=3"], vec!["b=2", "a=3"]]);
        let p = ok(r#"{"a":["3"],"$or":[{"a":["1"]},{"b":["2"]}]}"#);
        assert_eq!(shape(&p), vec![vec!["a=1"], vec!["a=3", "b=2"]]);
    }

    // §1.11.2-1.11.3
    #[test]
    fn or_errors() {
        let at_least_two = "There must have at least 2 Objects in $or relationship.";
        assert_eq!(reason(r#"{"$or":[]}"#), at_least_two);
        assert_eq!(reason(r#"{"$or":[{"a":["x"]}]}"#), at_least_two);
        let e = err(r#"{"d":{"$or":[{"a":["x"]}]}}"#);
        assert_eq!((e.path(), e.offset()), ("d", 12));
        assert_eq!(
            reason(r#"{"$or":[{"a":["x"]},"b"]}"#),
            "Only JSON object is allowed in array of $or relationship."
        );
        assert_eq!(
            reason(r#"{"$or":[{"a":["x"]},[{"b":["y"]}]]}"#),
            "Only JSON object is allowed in array of $or relationship."
        );
        assert_eq!(
            reason(r#"{"$or":{"a":["x"]}}"#),
            "It must be an Array followed with $or."
        );
        assert_eq!(
            reason(r#"{"$or":"x"}"#),
            "It must be an Array followed with $or."
        );
        assert_eq!(
            reason(r#"{"$or":[{"a":["x"]},{}]}"#),
            "Empty objects are not allowed"
        );
    }

    // §1.11.4
    #[test]
    fn reserved_names_inside_or() {
        for name in RESERVED_IN_OR {
            let p = format!(r#"{{"$or":[{{"{name}":["x"]}},{{"b":["y"]}}]}}"#);
            assert_eq!(
                reason(&p),
                format!("{name} is Ruler reserved fieldName which cannot be used inside $or."),
                "{p}"
            );
        }
        // Also deeper inside a branch, and checked before the value's type.
        assert_eq!(
            reason(r#"{"$or":[{"a":{"numeric":5}},{"b":["y"]}]}"#),
            "numeric is Ruler reserved fieldName which cannot be used inside $or."
        );
        let e = err(r#"{"$or":[{"a":{"prefix":["x"]}},{"b":["y"]}]}"#);
        assert_eq!((e.path(), e.offset()), ("a.prefix", 14));
        // Outside `$or` the same names are ordinary keys.
        assert_eq!(fields(r#"{"prefix":["x"]}"#)[0].0, "prefix");
    }

    // §1.11.5
    #[test]
    fn or_combination_limit() {
        // 10 × 10 × 10 = 1000 is fine, one more factor is not.
        let ten = format!(
            "[{}]",
            (0..10)
                .map(|i| format!(r#"{{"k":["{i}"]}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        let three = format!(r#"{{"a":{{"$or":{ten}}},"b":{{"$or":{ten}}},"c":{{"$or":{ten}}}}}"#);
        let three = three.as_str();
        assert_eq!(ok(three).subpatterns.len(), 1000);
        let four = format!(
            r#"{{"a":{{"$or":{ten}}},"b":{{"$or":{ten}}},"c":{{"$or":{ten}}},"d":{{"$or":[{{"k":["1"]}},{{"k":["2"]}}]}}}}"#
        );
        let e = err(&four);
        assert_eq!(
            e.reason(),
            "Rule is too complex - too many $or combinations (2000, limit 1000)"
        );
        assert_eq!((e.path(), e.offset()), ("a", 12));
        let small = PatternLimits {
            max_or_combinations: 2,
            ..limits()
        };
        match parse(r#"{"$or":[{"a":["1"]},{"a":["2"]},{"a":["3"]}]}"#, &small) {
            Err(e) => assert_eq!(
                e.reason(),
                "Rule is too complex - too many $or combinations (3, limit 2)"
            ),
            Ok(p) => panic!("accepted {p:?}"),
        }
        // The count never overflows and nothing is built before the check.
        let huge = format!(
            "{{{}}}",
            (0..64)
                .map(|i| format!(r#""f{i}":{{"$or":[{{"k":["1"]}},{{"k":["2"]}}]}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        let raised = PatternLimits {
            max_pattern_chars: 1 << 20,
            ..limits()
        };
        match parse(&huge, &raised) {
            Err(e) => assert!(e.reason().starts_with(
                "Rule is too complex - too many $or combinations (18446744073709551615"
            )),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn first_problem_in_token_order_wins() {
        // A semantic error before a syntax error...
        assert_eq!(reason(r#"{"a":5,"#), r#""a" must be an object or an array"#);
        assert_eq!(reason(r#"{"a":[], x"#), "Empty arrays are not allowed");
        // ...and a syntax error before a semantic one.
        assert_eq!(
            reason(r#"{"a":["x"],"b":tru,"c":5}"#),
            "Unrecognized token 'tru': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        );
        // A field name is read together with its value (Jackson): the bad
        // value is reported before the reserved name.
        assert_eq!(
            reason(r#"{"$or":[{"prefix":tru},{"b":["y"]}]}"#),
            "Unrecognized token 'tru': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')"
        );
        // String contents are checked when read: a bad escape in a value that
        // is rejected for its type is never looked at.
        assert_eq!(
            reason(r#"{"a":"\q"}"#),
            r#""a" must be an object or an array"#
        );
        assert_eq!(
            reason(r#"{"a":["\q"]}"#),
            "Unrecognized character escape 'q' (code 113)"
        );
        assert_eq!(
            reason(r#"{"a":["x"]"#),
            "Unexpected end-of-input: expected close marker for Object (start marker at [line: 1, column: 1])"
        );
        assert_eq!(
            reason(r#"{"a":["x"],}"#),
            "Unexpected character ('}' (code 125)): was expecting double-quote to start field name"
        );
    }

    #[test]
    fn error_locations() {
        let e = err(r#"{"detail": {"state": [{"prefix": 5}]}}"#);
        assert_eq!(e.reason(), "prefix match pattern must be a string");
        assert_eq!(e.path(), "detail.state");
        assert_eq!(e.offset(), 33);
        assert_eq!(
            e.to_string(),
            "Event pattern is not valid. Reason: prefix match pattern must be a string\n  at path `detail.state`, byte 33"
        );
        let e = err("{\"a\":\n[\"x\", tru]}");
        assert_eq!(e.offset(), 12);
        assert_eq!(e.path(), "a");
        let e = err(r#"{"a":["x"],"b":{"c":[{"exists":"yes"}]}}"#);
        assert_eq!((e.path(), e.offset()), ("b.c", 31));
    }

    #[test]
    fn never_panics_on_mutated_patterns() {
        let samples = [
            r#"{"a":["x",1,true,null],"b":{"c":[{"prefix":"p"},{"suffix":{"equals-ignore-case":"s"}}]}}"#,
            r#"{"$or":[{"n":[{"numeric":[">",0,"<=",5]}]},{"w":[{"wildcard":"a\\*b*"}]}]}"#,
            r#"{"x":[{"anything-but":{"prefix":["a","b"]}},{"anything-but":[1,2]},{"cidr":"10.0.0.0/8"}]}"#,
            r#"{"y":[{"exists":false},{"exactly":"e"},"2001:db8::1","\u00e9\ud83d\ude80"]}"#,
        ];
        let replacements: &[u8] = b"\"\\{}[],: 0-x.e*/";
        for sample in samples {
            let bytes = sample.as_bytes();
            for i in 0..bytes.len() {
                if let Some(prefix) = sample.get(..i) {
                    let _ = parse(prefix, &limits());
                }
                for &r in replacements {
                    let mut m = bytes.to_vec();
                    m[i] = r;
                    if let Ok(text) = std::str::from_utf8(&m) {
                        let _ = parse(text, &limits());
                    }
                    m.insert(i, r);
                    if let Ok(text) = std::str::from_utf8(&m) {
                        let _ = parse(text, &limits());
                    }
                }
            }
        }
    }

    #[test]
    fn deeply_nested_or_is_handled() {
        // Each level: {"$or":[ <next level> ,{"y":["1"]}]}
        let levels = 450;
        let mut text = r#"{"x":["1"]}"#.to_string();
        for _ in 0..levels {
            text = format!(r#"{{"$or":[{text},{{"y":["1"]}}]}}"#);
        }
        let raised = PatternLimits {
            max_pattern_chars: 1 << 20,
            max_or_combinations: 1000,
        };
        let p = match parse(&text, &raised) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.subpatterns.len(), levels + 1);
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("{}[\"x\"]{}", r#"{"a":"#.repeat(1200), "}".repeat(1200));
        let raised = PatternLimits {
            max_pattern_chars: 1 << 20,
            ..limits()
        };
        match parse(&deep, &raised) {
            Err(e) => assert_eq!(
                e.reason(),
                "Document nesting depth (1001) exceeds the maximum allowed (1000)"
            ),
            Ok(_) => panic!("accepted"),
        }
        let fine = format!("{}[\"x\"]{}", r#"{"a":"#.repeat(900), "}".repeat(900));
        let p = match parse(&fine, &raised) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(p.subpatterns[0].fields[0].path.len(), 900 * 2 - 1);
    }
}
