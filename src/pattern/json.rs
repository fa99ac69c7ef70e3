//! A small, strict, positioned JSON reader (RFC 8259), written for two users.
//!
//! - The pattern compiler ([`super::parse()`]) pulls [`Tok`]ens from a [`Lexer`]
//!   one at a time, exactly as event-ruler's `JsonRuleCompiler` pulls them
//!   from Jackson's streaming parser. That is why this is a pull lexer and not
//!   only a tree builder: EventBridge reports the *first* problem it meets in
//!   token order, so a pattern with a semantic error before a syntax error
//!   gets the semantic reason (`{"a":5,` → `"a" must be an object or an
//!   array`), and vice versa. The lexer reproduces Jackson's order and texts:
//!   a field name is read together with the start of its value, string
//!   contents are checked lazily (when asked for, or when the next token is
//!   read), and error messages use Jackson's wording (`Unrecognized token
//!   'this': was expecting (JSON String, Number, Array, Object or token
//!   'null', 'true' or 'false')`), without Jackson's `at [Source: …]` suffix.
//! - The naive reference matcher reads whole events with [`parse_document`],
//!   which builds a [`Json`] tree on top of the same lexer.
//!
//! Guarantees: never panics, never recurses (nesting is an explicit stack,
//! bounded by `max_depth`), rejects invalid UTF-8, raw control characters in
//! strings, bad escapes and unpaired surrogates (Rust strings cannot hold
//! them, unlike Java's), leading zeros, `NaN` and friends. Every error carries
//! the byte offset of the offending byte.

use std::fmt;

/// A JSON value and the byte offset of its first byte in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Json {
    pub kind: JsonKind,
    pub offset: usize,
}

/// The kinds of JSON values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum JsonKind {
    /// All members in document order, duplicate keys kept.
    Object(Vec<(String, Json)>),
    Array(Vec<Json>),
    /// The unescaped string.
    String(String),
    /// The number's text exactly as written.
    Number(String),
    True,
    False,
    Null,
}

/// A syntax error: Jackson's message text and the byte offset of the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub message: String,
    pub offset: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

impl std::error::Error for JsonError {}

/// What a [`Tok`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    StartObject,
    EndObject,
    StartArray,
    EndArray,
    /// An object member's name, already decoded.
    Name(String),
    /// A string value; its contents are decoded by [`Lexer::take_string`].
    /// `terminated` is false when the input ended inside the string (the
    /// error is reported when the contents are read, as Jackson does).
    String {
        terminated: bool,
    },
    /// A number; its text is [`Lexer::raw`].
    Number,
    True,
    False,
    Null,
}

/// One token and its byte span `start..end` in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tok {
    pub token: Token,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Object,
    Array,
}

impl Kind {
    fn desc(self) -> &'static str {
        match self {
            Kind::Object => "Object",
            Kind::Array => "Array",
        }
    }
}

/// An open object or array.
#[derive(Debug)]
pub(crate) struct Ctx {
    kind: Kind,
    start: usize,
    entries: usize,
}

/// Where a string is being decoded, for Jackson's message texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrCtx {
    Value,
    Name,
}

const VALID_VALUES: &str =
    "(JSON String, Number, Array, Object or token 'null', 'true' or 'false')";
/// Jackson cuts the token it quotes in "Unrecognized token" at this length.
const MAX_ERROR_TOKEN_LENGTH: usize = 256;

/// A pull lexer over one JSON document.
///
/// [`Lexer::next`] yields the tokens of the first value in `src` and then
/// `None`; it never looks past the end of that value (Jackson's behaviour for
/// patterns, semantics §1.1.14). [`Lexer::finish`] checks that only
/// whitespace follows.
pub(crate) struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    stack: Vec<Ctx>,
    max_depth: usize,
    /// A value token already read together with the preceding field name.
    pending: Option<Tok>,
    /// The last string value handed out, whose contents were not yet checked.
    unchecked: Option<Tok>,
    /// The root value is complete.
    done: bool,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src` that rejects nesting deeper than `max_depth`
    /// objects and arrays.
    pub(crate) fn new(src: &'a [u8], max_depth: usize) -> Self {
        Self::with_stack(src, max_depth, Vec::with_capacity(8))
    }

    /// A lexer whose nesting stack reuses `stack`'s memory (see
    /// [`into_stack`](Self::into_stack)).
    pub(crate) fn with_stack(src: &'a [u8], max_depth: usize, mut stack: Vec<Ctx>) -> Self {
        stack.clear();
        Lexer {
            src,
            pos: 0,
            stack,
            max_depth,
            pending: None,
            unchecked: None,
            done: false,
        }
    }

    /// The nesting stack's memory, for the next lexer.
    pub(crate) fn into_stack(self) -> Vec<Ctx> {
        self.stack
    }

    /// The next token, or `None` before a root value (empty input) or after it.
    pub(crate) fn next(&mut self) -> Result<Option<Tok>, JsonError> {
        if let Some(tok) = self.pending.take() {
            if matches!(tok.token, Token::String { .. }) {
                self.unchecked = Some(tok.clone());
            }
            return Ok(Some(tok));
        }
        self.check_unchecked()?;
        if self.done {
            return Ok(None);
        }
        let Some(mut b) = self.skip_ws()? else {
            return match self.stack.last() {
                None => Ok(None),
                Some(ctx) => Err(JsonError {
                    message: format!(
                        "Unexpected end-of-input: expected close marker for {} (start marker at {})",
                        ctx.kind.desc(),
                        self.location(ctx.start)
                    ),
                    offset: self.src.len(),
                }),
            };
        };
        if b == b'}' || b == b']' {
            return self.close(b).map(Some);
        }
        let mut in_object = false;
        if let Some(ctx) = self.stack.last() {
            in_object = ctx.kind == Kind::Object;
            if ctx.entries > 0 {
                let kind = ctx.kind;
                if b != b',' {
                    let comment =
                        format!("was expecting comma to separate {} entries", kind.desc());
                    return Err(self.unexpected(self.pos, &comment));
                }
                self.pos += 1;
                b = self.skip_ws()?.ok_or_else(|| self.eof_between(kind))?;
            }
        }
        if let Some(ctx) = self.stack.last_mut() {
            ctx.entries += 1;
        }
        if in_object {
            return self.name(b).map(Some);
        }
        let tok = self.value(b)?;
        if matches!(tok.token, Token::String { .. }) {
            self.unchecked = Some(tok.clone());
        }
        if self.stack.is_empty() && !matches!(tok.token, Token::StartObject | Token::StartArray) {
            self.done = true;
        }
        Ok(Some(tok))
    }

    /// Decode the contents of a string token (a value from [`Lexer::next`]).
    pub(crate) fn take_string(&mut self, tok: &Tok) -> Result<String, JsonError> {
        if self
            .unchecked
            .as_ref()
            .is_some_and(|t| t.start == tok.start)
        {
            self.unchecked = None;
        }
        match tok.token {
            Token::String { terminated } => {
                self.decode_string(tok.start, tok.end, terminated, StrCtx::Value)
            }
            _ => Ok(self.raw(tok).to_string()),
        }
    }

    /// The source text of a token (a number's literal text).
    pub(crate) fn raw(&self, tok: &Tok) -> &'a str {
        let src: &'a [u8] = self.src;
        src.get(tok.start..tok.end)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// Jackson's `getText()` of a non-string token, as quoted in messages
    /// like `Invalid member in numeric match: ]`.
    pub(crate) fn text(&self, tok: &Tok) -> String {
        match &tok.token {
            Token::StartObject => "{".to_string(),
            Token::EndObject => "}".to_string(),
            Token::StartArray => "[".to_string(),
            Token::EndArray => "]".to_string(),
            Token::Name(n) => n.clone(),
            Token::True => "true".to_string(),
            Token::False => "false".to_string(),
            Token::Null => "null".to_string(),
            Token::String { terminated } => self
                .decode_string(tok.start, tok.end, *terminated, StrCtx::Value)
                .unwrap_or_else(|_| self.raw(tok).to_string()),
            Token::Number => self.raw(tok).to_string(),
        }
    }

    /// After the root value: check the last string and that only whitespace
    /// remains.
    pub(crate) fn finish(&mut self) -> Result<(), JsonError> {
        self.check_unchecked()?;
        while let Some(&b) = self.src.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                return Err(JsonError {
                    message: "trailing data after the JSON value".to_string(),
                    offset: self.pos,
                });
            }
        }
        Ok(())
    }

    fn check_unchecked(&mut self) -> Result<(), JsonError> {
        if let Some(tok) = self.unchecked.take() {
            if let Token::String { terminated } = tok.token {
                self.decode_string(tok.start, tok.end, terminated, StrCtx::Value)?;
            }
        }
        Ok(())
    }

    /// Skip JSON whitespace; the next byte, or `None` at end of input.
    fn skip_ws(&mut self) -> Result<Option<u8>, JsonError> {
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'/' => {
                    return Err(self.unexpected(
                        self.pos,
                        "maybe a (non-standard) comment? (not recognized as one since Feature 'ALLOW_COMMENTS' not enabled for parser)",
                    ))
                }
                0..=0x1f => {
                    return Err(JsonError {
                        message: format!(
                            "Illegal character ({}): only regular white space (\\r, \\n, \\t) is allowed between tokens",
                            char_desc(char::from(b))
                        ),
                        offset: self.pos,
                    })
                }
                _ => return Ok(Some(b)),
            }
        }
        Ok(None)
    }

    /// `}` or `]` at `self.pos`.
    fn close(&mut self, b: u8) -> Result<Tok, JsonError> {
        let start = self.pos;
        let top = self.stack.last().map(|ctx| (ctx.kind, ctx.start));
        let (expected, desc, opened) = match top {
            Some((kind, opened)) => {
                let (want, token) = match kind {
                    Kind::Object => (b'}', Token::EndObject),
                    Kind::Array => (b']', Token::EndArray),
                };
                if b == want {
                    self.pos += 1;
                    self.stack.pop();
                    if self.stack.is_empty() {
                        self.done = true;
                    }
                    return Ok(Tok {
                        token,
                        start,
                        end: self.pos,
                    });
                }
                (want, kind.desc(), opened)
            }
            // Jackson's root context: it names the "other" closer.
            None => (if b == b'}' { b']' } else { b'}' }, "root", start),
        };
        Err(JsonError {
            message: format!(
                "Unexpected close marker '{}': expected '{}' (for {} starting at {})",
                char::from(b),
                char::from(expected),
                desc,
                self.location(opened)
            ),
            offset: start,
        })
    }

    /// A member name at `self.pos` (byte `b`), its colon, and the start of its
    /// value, which is kept in `pending` (Jackson reads them in one step).
    fn name(&mut self, b: u8) -> Result<Tok, JsonError> {
        if b != b'"' {
            return Err(self.unexpected(self.pos, "was expecting double-quote to start field name"));
        }
        let start = self.pos;
        let (end, terminated) = self.scan_string(start);
        let name = self.decode_string(start, end, terminated, StrCtx::Name)?;
        self.pos = end;
        let c = self
            .skip_ws()?
            .ok_or_else(|| self.eof_between(Kind::Object))?;
        if c != b':' {
            return Err(self.unexpected(
                self.pos,
                "was expecting a colon to separate field name and value",
            ));
        }
        self.pos += 1;
        let c = self
            .skip_ws()?
            .ok_or_else(|| self.eof_between(Kind::Object))?;
        let value = self.value(c)?;
        self.pending = Some(value);
        Ok(Tok {
            token: Token::Name(name),
            start,
            end,
        })
    }

    /// The value starting at `self.pos` (byte `b`).
    fn value(&mut self, b: u8) -> Result<Tok, JsonError> {
        let start = self.pos;
        match b {
            b'"' => {
                let (end, terminated) = self.scan_string(start);
                self.pos = end;
                Ok(Tok {
                    token: Token::String { terminated },
                    start,
                    end,
                })
            }
            b'{' | b'[' => {
                if self.stack.len() >= self.max_depth {
                    return Err(JsonError {
                        message: format!(
                            "Document nesting depth ({}) exceeds the maximum allowed ({})",
                            self.stack.len() + 1,
                            self.max_depth
                        ),
                        offset: start,
                    });
                }
                let (kind, token) = if b == b'{' {
                    (Kind::Object, Token::StartObject)
                } else {
                    (Kind::Array, Token::StartArray)
                };
                self.stack.push(Ctx {
                    kind,
                    start,
                    entries: 0,
                });
                self.pos += 1;
                Ok(Tok {
                    token,
                    start,
                    end: self.pos,
                })
            }
            b't' => self.literal(b"true", Token::True),
            b'f' => self.literal(b"false", Token::False),
            b'n' => self.literal(b"null", Token::Null),
            b'-' | b'0'..=b'9' => self.number(),
            b'}' => Err(self.unexpected(start, "expected a value")),
            _ => Err(self.odd_value(start)),
        }
    }

    /// Find the end of the string starting with the quote at `start`:
    /// (offset after the closing quote, true) or (end of input, false).
    /// Contents are checked later, by [`Lexer::decode_string`].
    fn scan_string(&self, start: usize) -> (usize, bool) {
        let mut i = start + 1;
        while i < self.src.len() {
            match memchr::memchr2(b'"', b'\\', &self.src[i..]) {
                None => break,
                Some(k) => {
                    if self.src[i + k] == b'"' {
                        return (i + k + 1, true);
                    }
                    i += k + 2;
                }
            }
        }
        (self.src.len(), false)
    }

    fn literal(&mut self, word: &[u8], token: Token) -> Result<Tok, JsonError> {
        let start = self.pos;
        let end = start + word.len();
        let matched = self.src.get(start..end) == Some(word);
        if !matched || self.char_at(end).is_some_and(is_ident_part) {
            return Err(self.invalid_token(start));
        }
        self.pos = end;
        Ok(Tok { token, start, end })
    }

    fn number(&mut self) -> Result<Tok, JsonError> {
        let src = self.src;
        let start = self.pos;
        let mut i = start;
        let digit_at = |i: usize| src.get(i).is_some_and(u8::is_ascii_digit);
        if src.get(i) == Some(&b'-') {
            i += 1;
            match src.get(i) {
                None => return Err(eof_number(i)),
                Some(c) if c.is_ascii_digit() => {}
                Some(b'I') if src.get(i..i + 8) == Some(b"Infinity") => {
                    return Err(JsonError {
                        message: "Non-standard token '-Infinity': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow".to_string(),
                        offset: start,
                    })
                }
                Some(_) => {
                    return Err(self.unexpected_in_number(
                        i,
                        "expected digit (0-9) to follow minus sign, for valid numeric value",
                    ))
                }
            }
        }
        if src.get(i) == Some(&b'0') {
            i += 1;
            if digit_at(i) {
                return Err(JsonError {
                    message: "Invalid numeric value: Leading zeroes not allowed".to_string(),
                    offset: i,
                });
            }
        } else {
            while digit_at(i) {
                i += 1;
            }
        }
        if src.get(i) == Some(&b'.') {
            i += 1;
            let frac = i;
            while digit_at(i) {
                i += 1;
            }
            if i == frac {
                return Err(if i >= src.len() {
                    eof_number(i)
                } else {
                    self.unexpected_in_number(i, "Decimal point not followed by a digit")
                });
            }
        }
        if matches!(src.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(src.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let exp = i;
            while digit_at(i) {
                i += 1;
            }
            if i == exp {
                return Err(if i >= src.len() {
                    eof_number(i)
                } else {
                    self.unexpected_in_number(i, "Exponent indicator not followed by a digit")
                });
            }
        }
        self.pos = i;
        if self.stack.is_empty() {
            if let Some(&c) = src.get(i) {
                if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                    return Err(self.unexpected(i, "Expected space separating root-level values"));
                }
            }
        }
        Ok(Tok {
            token: Token::Number,
            start,
            end: i,
        })
    }

    /// Jackson's `_handleOddValue`: a byte that cannot start a value.
    fn odd_value(&self, p: usize) -> JsonError {
        let Some(c) = self.char_at(p) else {
            return self.utf8_error(p);
        };
        match c {
            '+' => self.unexpected_in_number(
                p,
                "JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow",
            ),
            'N' | 'I' => {
                let word: &[u8] = if c == 'N' { b"NaN" } else { b"Infinity" };
                let end = p + word.len();
                if self.src.get(p..end) == Some(word) && !self.char_at(end).is_some_and(is_ident_part) {
                    JsonError {
                        message: format!(
                            "Non-standard token '{}': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow",
                            String::from_utf8_lossy(word)
                        ),
                        offset: p,
                    }
                } else {
                    self.invalid_token(p)
                }
            }
            c if is_ident_start(c) => self.invalid_token(p),
            _ => self.unexpected(p, &format!("expected a valid value {VALID_VALUES}")),
        }
    }

    /// `Unrecognized token '<run of identifier characters>': was expecting …`.
    fn invalid_token(&self, start: usize) -> JsonError {
        let mut token = String::new();
        let mut p = start;
        while let Some(c) = self.char_at(p) {
            if p > start && !is_ident_part(c) {
                break;
            }
            if token.len() >= MAX_ERROR_TOKEN_LENGTH {
                token.push_str("...");
                break;
            }
            token.push(c);
            p += c.len_utf8();
        }
        JsonError {
            message: format!("Unrecognized token '{token}': was expecting {VALID_VALUES}"),
            offset: start,
        }
    }

    /// Decode the string whose opening quote is at `start` and which the scan
    /// found to end at `end` (see [`Lexer::scan_string`]).
    fn decode_string(
        &self,
        start: usize,
        end: usize,
        terminated: bool,
        ctx: StrCtx,
    ) -> Result<String, JsonError> {
        let src = self.src;
        let content_end = if terminated {
            end.saturating_sub(1)
        } else {
            end
        }
        .min(src.len());
        let mut i = start + 1;
        let mut out = String::with_capacity(content_end.saturating_sub(i));
        while i < content_end {
            let run = i;
            while i < content_end && src[i] != b'\\' && src[i] >= 0x20 {
                i += 1;
            }
            if i > run {
                match std::str::from_utf8(&src[run..i]) {
                    Ok(s) => out.push_str(s),
                    Err(e) => return Err(self.utf8_error(run + e.valid_up_to())),
                }
            }
            if i >= content_end {
                break;
            }
            if src[i] < 0x20 {
                let what = match ctx {
                    StrCtx::Value => "string value",
                    StrCtx::Name => "name",
                };
                return Err(JsonError {
                    message: format!(
                        "Illegal unquoted character ({}): has to be escaped using backslash to be included in {what}",
                        char_desc(char::from(src[i]))
                    ),
                    offset: i,
                });
            }
            i = self.escape(i, &mut out)?;
        }
        if !terminated {
            return Err(JsonError {
                message: match ctx {
                    StrCtx::Value => {
                        "Unexpected end-of-input: was expecting closing quote for a string value"
                    }
                    StrCtx::Name => "Unexpected end-of-input in field name",
                }
                .to_string(),
                offset: src.len(),
            });
        }
        Ok(out)
    }

    /// The escape whose backslash is at `i`; returns the offset after it.
    fn escape(&self, i: usize, out: &mut String) -> Result<usize, JsonError> {
        let Some(&c) = self.src.get(i + 1) else {
            return Err(eof_escape(self.src.len()));
        };
        let ch = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4(i + 2)?;
                let next = i + 6;
                if (0xD800..0xDC00).contains(&hi) {
                    if self.src.get(next) == Some(&b'\\') && self.src.get(next + 1) == Some(&b'u') {
                        let lo = self.hex4(next + 2)?;
                        if (0xDC00..0xE000).contains(&lo) {
                            let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            if let Some(ch) = char::from_u32(code) {
                                out.push(ch);
                                return Ok(next + 6);
                            }
                        }
                    }
                    return Err(unpaired_surrogate(hi, i));
                }
                match char::from_u32(hi) {
                    Some(ch) => {
                        out.push(ch);
                        return Ok(next);
                    }
                    None => return Err(unpaired_surrogate(hi, i)),
                }
            }
            _ => {
                return Err(match self.char_at(i + 1) {
                    Some(ch) => JsonError {
                        message: format!("Unrecognized character escape {}", char_desc(ch)),
                        offset: i + 1,
                    },
                    None => self.utf8_error(i + 1),
                })
            }
        };
        out.push(ch);
        Ok(i + 2)
    }

    /// Four hex digits at `at`.
    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for p in at..at + 4 {
            let Some(&b) = self.src.get(p) else {
                return Err(eof_escape(self.src.len()));
            };
            match char::from(b).to_digit(16) {
                Some(d) => v = (v << 4) | d,
                None => {
                    return Err(
                        self.unexpected(p, "expected a hex-digit for character escape sequence")
                    )
                }
            }
        }
        Ok(v)
    }

    /// The character at byte `p`, if `p` starts a valid UTF-8 sequence.
    fn char_at(&self, p: usize) -> Option<char> {
        let b = *self.src.get(p)?;
        if b < 0x80 {
            return Some(char::from(b));
        }
        let len = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return None,
        };
        let bytes = self.src.get(p..p + len)?;
        std::str::from_utf8(bytes).ok()?.chars().next()
    }

    /// Jackson's `Unexpected character ('x' (code 120)): <comment>`.
    fn unexpected(&self, p: usize, comment: &str) -> JsonError {
        match self.char_at(p) {
            Some(c) => JsonError {
                message: format!("Unexpected character ({}): {comment}", char_desc(c)),
                offset: p,
            },
            None if p >= self.src.len() => JsonError {
                message: "Unexpected end-of-input".to_string(),
                offset: p,
            },
            None => self.utf8_error(p),
        }
    }

    fn unexpected_in_number(&self, p: usize, comment: &str) -> JsonError {
        match self.char_at(p) {
            Some(c) => JsonError {
                message: format!(
                    "Unexpected character ({}) in numeric value: {comment}",
                    char_desc(c)
                ),
                offset: p,
            },
            None if p >= self.src.len() => eof_number(p),
            None => self.utf8_error(p),
        }
    }

    /// The error for the invalid UTF-8 sequence starting at `p`.
    fn utf8_error(&self, p: usize) -> JsonError {
        let Some(&b) = self.src.get(p) else {
            return JsonError {
                message: "Unexpected end-of-input in a UTF-8 sequence".to_string(),
                offset: p,
            };
        };
        let continuation = match b {
            0xC2..=0xDF => 1,
            0xE0..=0xEF => 2,
            0xF0..=0xF4 => 3,
            _ => {
                return JsonError {
                    message: format!("Invalid UTF-8 start byte 0x{b:x}"),
                    offset: p,
                }
            }
        };
        for q in p + 1..=p + continuation {
            match self.src.get(q) {
                None => {
                    return JsonError {
                        message: "Unexpected end-of-input in a UTF-8 sequence".to_string(),
                        offset: q,
                    }
                }
                Some(&c) if c & 0xC0 != 0x80 => {
                    return JsonError {
                        message: format!("Invalid UTF-8 middle byte 0x{c:x}"),
                        offset: q,
                    }
                }
                Some(_) => {}
            }
        }
        // Well-formed shape but an overlong form, a surrogate or > U+10FFFF.
        let c = self.src.get(p + 1).copied().unwrap_or(0);
        JsonError {
            message: format!("Invalid UTF-8 middle byte 0x{c:x}"),
            offset: p + 1,
        }
    }

    fn eof_between(&self, kind: Kind) -> JsonError {
        JsonError {
            message: format!(
                "Unexpected end-of-input within/between {} entries",
                kind.desc()
            ),
            offset: self.src.len(),
        }
    }

    /// Jackson-style `[line: L, column: C]` (1-based, columns in characters).
    fn location(&self, p: usize) -> String {
        let before = &self.src[..p.min(self.src.len())];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = 1 + before[line_start..]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        format!("[line: {line}, column: {column}]")
    }
}

fn eof_number(p: usize) -> JsonError {
    JsonError {
        message: "Unexpected end-of-input in a Number value".to_string(),
        offset: p,
    }
}

fn eof_escape(p: usize) -> JsonError {
    JsonError {
        message: "Unexpected end-of-input in character escape sequence".to_string(),
        offset: p,
    }
}

fn unpaired_surrogate(unit: u32, p: usize) -> JsonError {
    JsonError {
        message: format!("Unpaired surrogate \\u{unit:04X} in string escape"),
        offset: p,
    }
}

/// Jackson's `_getCharDesc`.
fn char_desc(c: char) -> String {
    let code = u32::from(c);
    if c.is_control() {
        format!("(CTRL-CHAR, code {code})")
    } else if code > 255 {
        format!("'{c}' (code {code} / 0x{code:x})")
    } else {
        format!("'{c}' (code {code})")
    }
}

/// Approximates Java's `Character.isJavaIdentifierStart`.
fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '$'
}

/// Approximates Java's `Character.isJavaIdentifierPart`.
fn is_ident_part(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// A container being filled by [`parse_document`].
enum Frame {
    Object {
        offset: usize,
        members: Vec<(String, Json)>,
        key: Option<String>,
    },
    Array {
        offset: usize,
        items: Vec<Json>,
    },
}

/// Parse one JSON document into a [`Json`] tree.
///
/// Whitespace around the root value is fine. With `allow_trailing == false`
/// anything else after it is an error (`trailing data after the JSON value`);
/// with `true`, reading stops at the end of the root value. Objects and arrays
/// nested deeper than `max_depth` are an error naming the limit.
pub(crate) fn parse_document(
    text: &[u8],
    allow_trailing: bool,
    max_depth: usize,
) -> Result<Json, JsonError> {
    let mut lx = Lexer::new(text, max_depth);
    let mut stack: Vec<Frame> = Vec::new();
    let root = loop {
        let Some(tok) = lx.next()? else {
            return Err(JsonError {
                message: "No content to map due to end-of-input".to_string(),
                offset: text.len(),
            });
        };
        let kind = match tok.token {
            Token::StartObject => {
                stack.push(Frame::Object {
                    offset: tok.start,
                    members: Vec::new(),
                    key: None,
                });
                continue;
            }
            Token::StartArray => {
                stack.push(Frame::Array {
                    offset: tok.start,
                    items: Vec::new(),
                });
                continue;
            }
            Token::Name(name) => {
                if let Some(Frame::Object { key, .. }) = stack.last_mut() {
                    *key = Some(name);
                }
                continue;
            }
            Token::EndObject | Token::EndArray => match stack.pop() {
                Some(Frame::Object {
                    offset, members, ..
                }) => Json {
                    kind: JsonKind::Object(members),
                    offset,
                },
                Some(Frame::Array { offset, items }) => Json {
                    kind: JsonKind::Array(items),
                    offset,
                },
                None => {
                    return Err(JsonError {
                        message: "Unexpected close marker".to_string(),
                        offset: tok.start,
                    })
                }
            },
            Token::String { .. } => Json {
                kind: JsonKind::String(lx.take_string(&tok)?),
                offset: tok.start,
            },
            Token::Number => Json {
                kind: JsonKind::Number(lx.raw(&tok).to_string()),
                offset: tok.start,
            },
            Token::True => Json {
                kind: JsonKind::True,
                offset: tok.start,
            },
            Token::False => Json {
                kind: JsonKind::False,
                offset: tok.start,
            },
            Token::Null => Json {
                kind: JsonKind::Null,
                offset: tok.start,
            },
        };
        match stack.last_mut() {
            None => break kind,
            Some(Frame::Object { members, key, .. }) => {
                members.push((key.take().unwrap_or_default(), kind))
            }
            Some(Frame::Array { items, .. }) => items.push(kind),
        }
    };
    if !allow_trailing {
        lx.finish()?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> Json {
        match parse_document(s.as_bytes(), false, 100) {
            Ok(j) => j,
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn err(s: &[u8]) -> JsonError {
        match parse_document(s, false, 100) {
            Ok(j) => panic!("{s:?} parsed as {j:?}"),
            Err(e) => e,
        }
    }

    fn msg(s: &str) -> String {
        err(s.as_bytes()).message
    }

    fn tokens(s: &str) -> Vec<Token> {
        let mut lx = Lexer::new(s.as_bytes(), 100);
        let mut out = Vec::new();
        loop {
            match lx.next() {
                Ok(Some(t)) => out.push(t.token),
                Ok(None) => return out,
                Err(e) => panic!("{s:?}: {e}"),
            }
        }
    }

    #[test]
    fn values_and_offsets() {
        let j = doc(r#" {"a": [1, -2.5e3, "x\u00e9", true, false, null], "b": {}} "#);
        assert_eq!(j.offset, 1);
        let JsonKind::Object(members) = &j.kind else {
            panic!("not an object: {j:?}")
        };
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].0, "a");
        let JsonKind::Array(items) = &members[0].1.kind else {
            panic!("not an array")
        };
        assert_eq!(members[0].1.offset, 7);
        assert_eq!(
            items[0],
            Json {
                kind: JsonKind::Number("1".into()),
                offset: 8
            }
        );
        assert_eq!(items[1].kind, JsonKind::Number("-2.5e3".into()));
        assert_eq!(items[2].kind, JsonKind::String("xé".into()));
        assert_eq!(items[2].offset, 19);
        assert_eq!(items[3].kind, JsonKind::True);
        assert_eq!(items[4].kind, JsonKind::False);
        assert_eq!(items[5].kind, JsonKind::Null);
        assert_eq!(members[1].1.kind, JsonKind::Object(vec![]));
        assert_eq!(doc("[]").kind, JsonKind::Array(vec![]));
        assert_eq!(doc("7").kind, JsonKind::Number("7".into()));
        assert_eq!(doc(r#""s""#).kind, JsonKind::String("s".into()));
    }

    #[test]
    fn duplicate_keys_are_kept_in_order() {
        let j = doc(r#"{"a":1,"a":2}"#);
        let JsonKind::Object(m) = j.kind else {
            panic!()
        };
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].1.kind, JsonKind::Number("2".into()));
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(
            doc(r#""\"\\\/\b\f\n\r\t\u0041\ud83d\ude80""#).kind,
            JsonKind::String("\"\\/\u{8}\u{c}\n\r\tA🚀".into())
        );
        assert_eq!(doc(r#""\uD83D\uDE80""#).kind, JsonKind::String("🚀".into()));
        assert_eq!(
            msg(r#""\ud83d""#),
            "Unpaired surrogate \\uD83D in string escape"
        );
        assert_eq!(
            msg(r#""\ud83dx""#),
            "Unpaired surrogate \\uD83D in string escape"
        );
        assert_eq!(
            msg(r#""\ude80""#),
            "Unpaired surrogate \\uDE80 in string escape"
        );
        assert_eq!(
            msg(r#""\ud83d\u0041""#),
            "Unpaired surrogate \\uD83D in string escape"
        );
        assert_eq!(
            msg(r#""\q""#),
            "Unrecognized character escape 'q' (code 113)"
        );
        assert_eq!(err(br#""ab\q""#).offset, 4);
        assert_eq!(
            msg(r#""\u12g4""#),
            "Unexpected character ('g' (code 103)): expected a hex-digit for character escape sequence"
        );
        assert_eq!(
            msg(r#""\u12""#),
            "Unexpected character ('\"' (code 34)): expected a hex-digit for character escape sequence"
        );
        assert_eq!(
            msg("\"\\u12"),
            "Unexpected end-of-input in character escape sequence"
        );
        assert_eq!(
            msg("\"\\"),
            "Unexpected end-of-input in character escape sequence"
        );
    }

    #[test]
    fn string_errors() {
        assert_eq!(
            msg("\"a\nb\""),
            "Illegal unquoted character ((CTRL-CHAR, code 10)): has to be escaped using backslash to be included in string value"
        );
        assert_eq!(
            msg("{\"a\tb\":1}"),
            "Illegal unquoted character ((CTRL-CHAR, code 9)): has to be escaped using backslash to be included in name"
        );
        assert_eq!(
            msg("\"abc"),
            "Unexpected end-of-input: was expecting closing quote for a string value"
        );
        assert_eq!(msg("{\"abc"), "Unexpected end-of-input in field name");
        let e = err(b"\"a\xffb\"");
        assert_eq!(e.message, "Invalid UTF-8 start byte 0xff");
        assert_eq!(e.offset, 2);
        let e = err(b"[\"\xc3(\"]");
        assert_eq!(e.message, "Invalid UTF-8 middle byte 0x28");
        assert_eq!(e.offset, 3);
        assert_eq!(
            err(b"\"\xed\xa0\x80\"").message,
            "Invalid UTF-8 middle byte 0xa0"
        );
        assert_eq!(
            err(b"\"\xe2\x82\"").message,
            "Invalid UTF-8 middle byte 0x22"
        );
        assert_eq!(err(b"{\"a\":\xc3\xa9}").message, "Unrecognized token '\u{e9}': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')");
        assert_eq!(err(b"[\x80]").message, "Invalid UTF-8 start byte 0x80");
    }

    #[test]
    fn unrecognized_tokens() {
        let expecting =
            "was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')";
        assert_eq!(
            msg("this is not json"),
            format!("Unrecognized token 'this': {expecting}")
        );
        assert_eq!(
            msg("[tru]"),
            format!("Unrecognized token 'tru': {expecting}")
        );
        assert_eq!(
            msg("[trux]"),
            format!("Unrecognized token 'trux': {expecting}")
        );
        assert_eq!(
            msg("[truex]"),
            format!("Unrecognized token 'truex': {expecting}")
        );
        assert_eq!(
            msg("[nul"),
            format!("Unrecognized token 'nul': {expecting}")
        );
        assert_eq!(
            msg("[False]"),
            format!("Unrecognized token 'False': {expecting}")
        );
        assert_eq!(
            msg("[NaN]"),
            "Non-standard token 'NaN': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
        );
        assert_eq!(
            msg("[-Infinity]"),
            "Non-standard token '-Infinity': enable `JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS` to allow"
        );
        assert_eq!(
            msg("[.5]"),
            format!("Unexpected character ('.' (code 46)): expected a valid value {VALID_VALUES}")
        );
        assert_eq!(
            msg("['a']"),
            format!("Unexpected character (''' (code 39)): expected a valid value {VALID_VALUES}")
        );
        let long = "x".repeat(300);
        assert_eq!(
            msg(&long),
            format!("Unrecognized token '{}...': {expecting}", "x".repeat(256))
        );
    }

    #[test]
    fn number_errors() {
        assert_eq!(
            msg("[01]"),
            "Invalid numeric value: Leading zeroes not allowed"
        );
        assert_eq!(
            msg("[-01]"),
            "Invalid numeric value: Leading zeroes not allowed"
        );
        assert_eq!(
            msg("[1.]"),
            "Unexpected character (']' (code 93)) in numeric value: Decimal point not followed by a digit"
        );
        assert_eq!(
            msg("[1e]"),
            "Unexpected character (']' (code 93)) in numeric value: Exponent indicator not followed by a digit"
        );
        assert_eq!(
            msg("[-x]"),
            "Unexpected character ('x' (code 120)) in numeric value: expected digit (0-9) to follow minus sign, for valid numeric value"
        );
        assert_eq!(
            msg("[+1]"),
            "Unexpected character ('+' (code 43)) in numeric value: JSON spec does not allow numbers to have plus signs: enable `JsonReadFeature.ALLOW_LEADING_PLUS_SIGN_FOR_NUMBERS` to allow"
        );
        assert_eq!(msg("[-"), "Unexpected end-of-input in a Number value");
        assert_eq!(
            msg("[1x]"),
            "Unexpected character ('x' (code 120)): was expecting comma to separate Array entries"
        );
        assert_eq!(
            msg("1x"),
            "Unexpected character ('x' (code 120)): Expected space separating root-level values"
        );
        assert_eq!(doc("[0, -0, 0.5, 1E+2, 1e-2, 10]").offset, 0);
    }

    #[test]
    fn structure_errors() {
        assert_eq!(
            msg(r#"{"a":1 "b":2}"#),
            "Unexpected character ('\"' (code 34)): was expecting comma to separate Object entries"
        );
        assert_eq!(
            msg(r#"{"a":1,}"#),
            "Unexpected character ('}' (code 125)): was expecting double-quote to start field name"
        );
        assert_eq!(
            msg("[1,]"),
            format!("Unexpected character (']' (code 93)): expected a valid value {VALID_VALUES}")
        );
        assert_eq!(
            msg(r#"{"a":}"#),
            "Unexpected character ('}' (code 125)): expected a value"
        );
        assert_eq!(
            msg(r#"{"a" 1}"#),
            "Unexpected character ('1' (code 49)): was expecting a colon to separate field name and value"
        );
        assert_eq!(
            msg("{a:1}"),
            "Unexpected character ('a' (code 97)): was expecting double-quote to start field name"
        );
        assert_eq!(
            msg("[1}"),
            "Unexpected close marker '}': expected ']' (for Array starting at [line: 1, column: 1])"
        );
        assert_eq!(
            msg("{\"a\":\n [1}"),
            "Unexpected close marker '}': expected ']' (for Array starting at [line: 2, column: 2])"
        );
        assert_eq!(
            msg("{"),
            "Unexpected end-of-input: expected close marker for Object (start marker at [line: 1, column: 1])"
        );
        assert_eq!(
            msg(r#"{"a":"#),
            "Unexpected end-of-input within/between Object entries"
        );
        assert_eq!(
            msg(r#"{"a""#),
            "Unexpected end-of-input within/between Object entries"
        );
        assert_eq!(
            msg("[1,"),
            "Unexpected end-of-input within/between Array entries"
        );
        assert_eq!(msg(""), "No content to map due to end-of-input");
        assert_eq!(msg("   "), "No content to map due to end-of-input");
        assert_eq!(
            msg("[1,\u{1}2]"),
            "Illegal character ((CTRL-CHAR, code 1)): only regular white space (\\r, \\n, \\t) is allowed between tokens"
        );
        assert!(msg("[1 /* c */]")
            .starts_with("Unexpected character ('/' (code 47)): maybe a (non-standard) comment?"));
    }

    #[test]
    fn trailing_data() {
        let e = err(br#"{"a":1} x"#);
        assert_eq!(e.message, "trailing data after the JSON value");
        assert_eq!(e.offset, 8);
        assert!(parse_document(br#"{"a":1} x"#, true, 10).is_ok());
        assert!(parse_document(br#"{"a":1}{"#, true, 10).is_ok());
        assert!(parse_document(b"{\"a\":1} \n\t\r", false, 10).is_ok());
        assert_eq!(
            err(br#"{"a":1}}"#).message,
            "trailing data after the JSON value"
        );
    }

    #[test]
    fn depth_limit() {
        let ok = format!("{}{}", "[".repeat(5), "]".repeat(5));
        assert!(parse_document(ok.as_bytes(), false, 5).is_ok());
        let deep = format!("{}{}", "[".repeat(6), "]".repeat(6));
        let e = match parse_document(deep.as_bytes(), false, 5) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        };
        assert_eq!(
            e.message,
            "Document nesting depth (6) exceeds the maximum allowed (5)"
        );
        assert_eq!(e.offset, 5);
        // Very deep input is rejected without recursion.
        let huge = "[".repeat(1_000_000);
        assert!(parse_document(huge.as_bytes(), false, 1000).is_err());
    }

    #[test]
    fn lexer_reads_value_with_name_and_checks_strings_lazily() {
        assert_eq!(
            tokens(r#"{"a":[1,"x"],"b":{"c":null}}"#),
            vec![
                Token::StartObject,
                Token::Name("a".into()),
                Token::StartArray,
                Token::Number,
                Token::String { terminated: true },
                Token::EndArray,
                Token::Name("b".into()),
                Token::StartObject,
                Token::Name("c".into()),
                Token::Null,
                Token::EndObject,
                Token::EndObject,
            ]
        );
        // A bad value after a name fails when the *name* is read.
        let mut lx = Lexer::new(br#"{"a": tru}"#, 10);
        assert!(matches!(
            lx.next(),
            Ok(Some(Tok {
                token: Token::StartObject,
                ..
            }))
        ));
        assert!(lx.next().is_err());
        // A bad string is reported only when it is read or skipped.
        let mut lx = Lexer::new(br#"{"a": "\q", "b": 1}"#, 10);
        assert!(lx.next().is_ok()); // {
        assert!(lx.next().is_ok()); // "a"
        let s = match lx.next() {
            Ok(Some(t)) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(s.token, Token::String { terminated: true });
        assert_eq!(
            lx.text(&Tok {
                token: Token::EndArray,
                start: 0,
                end: 0
            }),
            "]"
        );
        let e = match lx.next() {
            Err(e) => e,
            Ok(t) => panic!("{t:?}"),
        };
        assert_eq!(e.message, "Unrecognized character escape 'q' (code 113)");
        // The lexer stops at the end of the root value.
        let mut lx = Lexer::new(br#"{} garbage"#, 10);
        assert!(lx.next().is_ok());
        assert!(lx.next().is_ok());
        assert!(matches!(lx.next(), Ok(None)));
    }

    #[test]
    fn never_panics_on_prefixes_of_valid_and_invalid_input() {
        let samples: [&[u8]; 6] = [
            br#"{"a":[1,-2.5e-3,"x\u00e9\ud83d\ude80",true,false,null,{"b":{}}]}"#,
            b"{\"\xff\":\"\\u12\"}",
            b"[[[[\"\\",
            b"{\"a\":\"\xe2\x82\xac\"} \x00",
            br#"[-0.0e+00, 1E5, "\/\b\f"]"#,
            b"\t\r\n {\"k\" : [ ] , \"l\" : { } }",
        ];
        for s in samples {
            for end in 0..=s.len() {
                for allow in [false, true] {
                    let _ = parse_document(&s[..end], allow, 3);
                }
            }
        }
    }
}
