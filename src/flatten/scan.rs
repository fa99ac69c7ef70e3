//! The scanner itself: one pass, validating, materialising only leaves on
//! trie paths. Recursion depth is bounded by `max_depth`.

use super::numbers::{self, Unsure};
use super::trie::{Gate, NodeId, PathId, PathTrie};
use super::{EventError, EventErrorKind, ScanLimits};

/// A leaf value handed to the [`Sink`]. Strings are decoded (escapes
/// resolved); numbers are the raw JSON text, converted only by whoever needs
/// their value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf<'a> {
    Str(&'a [u8]),
    Num(&'a [u8]),
    True,
    False,
    Null,
}

/// One enclosing array of a leaf: which array instance (numbered in document
/// order within the event) and which element of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayPos {
    pub array: u32,
    pub index: u32,
}

/// Receives the leaves on the trie's paths, in document order.
pub trait Sink {
    /// `arrays` lists the enclosing arrays, outermost first.
    fn leaf(&mut self, path: PathId, value: Leaf<'_>, arrays: &[ArrayPos]);
}

/// Buffers reused across events so that scanning does not allocate once they
/// have grown to the largest event seen.
#[derive(Debug, Default)]
pub struct Scratch {
    stack: Vec<ArrayPos>,
    strbuf: Vec<u8>,
    keybuf: Vec<u8>,
    last_top_key: usize,
}

impl Scratch {
    /// Where the content of the last top-level key of the last event
    /// scanned without error starts (the byte after its opening quote); 0
    /// for an empty object. Lets a caller that located the top-level keys by
    /// structure alone (the pipeline's envelope skim) confirm that a key is
    /// the last member without reading the value in front of it.
    pub fn last_top_key(&self) -> usize {
        self.last_top_key
    }
}

/// Scans one event, calling `sink` for every leaf on a path of `trie`.
pub fn scan<S: Sink>(
    event: &[u8],
    trie: &PathTrie,
    limits: ScanLimits,
    scratch: &mut Scratch,
    sink: &mut S,
) -> Result<(), EventError> {
    if event.len() > limits.max_event_bytes {
        return Err(EventError::too_large(event.len(), limits.max_event_bytes));
    }
    debug_assert!(trie.is_finished(), "PathTrie::finish not called");
    scratch.stack.clear();
    let mut s = Scanner {
        failure: (EventErrorKind::UnexpectedEnd, 0),
        fast_unsure: 0,
        b: event,
        i: 0,
        trie,
        depth: 0,
        max_depth: limits.max_depth,
        next_array: 0,
        stack: &mut scratch.stack,
        strbuf: &mut scratch.strbuf,
        keybuf: &mut scratch.keybuf,
        last_top_key: 0,
    };
    let done = s.event(sink);
    scratch.last_top_key = s.last_top_key;
    done.map_err(|Stop| EventError::new(s.failure.0, s.failure.1))
}

/// Byte classes for the string fast loop: 0 = plain ASCII, anything else
/// needs a look (quote, backslash, control character, non-ASCII).
static STR_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if i < 0x20 {
            3
        } else if i == b'"' as usize {
            1
        } else if i == b'\\' as usize {
            2
        } else if i >= 0x80 {
            4
        } else {
            0
        };
        i += 1;
    }
    t
};

/// A failed scan: the kind and offset wait in [`Scanner::failure`]. Being
/// zero-sized, it keeps every `Result` the scanner returns in registers; a
/// `Result` carrying the whole `EventError` (a `String` inside) went through
/// memory on every string and value (callgrind).
struct Stop;

type Scan<T> = Result<T, Stop>;

struct Scanner<'a, 's> {
    failure: (EventErrorKind, usize),
    /// [`numbers::array_end`] gave up before this offset.
    fast_unsure: usize,
    b: &'a [u8],
    i: usize,
    trie: &'a PathTrie,
    depth: usize,
    max_depth: usize,
    next_array: u32,
    stack: &'s mut Vec<ArrayPos>,
    strbuf: &'s mut Vec<u8>,
    keybuf: &'s mut Vec<u8>,
    /// See [`Scratch::last_top_key`].
    last_top_key: usize,
}

/// A string token located by [`Scanner::string`]: content bytes `start..end`
/// of the input, `escaped` when it holds backslash escapes.
struct StrSpan {
    start: usize,
    end: usize,
    escaped: bool,
}

impl<'a> Scanner<'a, '_> {
    /// The whole event: one object and nothing after it.
    fn event<S: Sink>(&mut self, sink: &mut S) -> Scan<()> {
        self.ws();
        if self.peek() != Some(b'{') {
            return Err(self.err(EventErrorKind::NotAnObject));
        }
        self.object(0, sink)?;
        self.ws();
        if self.i != self.b.len() {
            return Err(self.err(EventErrorKind::TrailingData));
        }
        Ok(())
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Records why the scan fails here, at `self.i`.
    #[cold]
    fn err(&mut self, kind: EventErrorKind) -> Stop {
        self.failure = (kind, self.i);
        Stop
    }

    #[cold]
    fn syntax(&mut self, what: &'static str) -> Stop {
        if self.i >= self.b.len() {
            self.err(EventErrorKind::UnexpectedEnd)
        } else {
            self.err(EventErrorKind::Syntax(what))
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// At an opening bracket: one level deeper. Fails there, so that the
    /// error's offset is the bracket's whichever path reached it.
    #[inline]
    fn enter(&mut self) -> Scan<()> {
        self.depth += 1;
        if self.depth > self.max_depth {
            return Err(self.err(EventErrorKind::TooDeep {
                limit: self.max_depth,
            }));
        }
        Ok(())
    }

    /// An object whose keys may lead to rule paths. `node` is the trie node
    /// of the object's own path (0 for the top level).
    fn object<S: Sink>(&mut self, node: NodeId, sink: &mut S) -> Scan<()> {
        self.enter()?;
        self.i += 1;
        let base = if node == 0 {
            Some(0)
        } else {
            self.trie.step(node, b'.')
        };
        let gate = base.map(|base| self.trie.gate(base));
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if let Some(mut m) = compact_member(self.b, self.i) {
                let b = self.b;
                let mut at = self.i;
                loop {
                    if node == 0 {
                        self.last_top_key = at + 1;
                    }
                    let key = &b[at + 1..m.key_end];
                    let path = gate
                        .and_then(|gate| self.trie.walk_gated(gate, key))
                        .and_then(|n| self.trie.path_at(n));
                    if let Some(p) = path {
                        sink.leaf(p, Leaf::Str(&b[m.value_start..m.value_end]), self.stack);
                    }
                    // Members usually follow each other directly: `,"`
                    // (or `, "`) leads straight to the next one.
                    let Some(next) = next_member(b, m.value_end + 1) else {
                        break;
                    };
                    match compact_member(b, next) {
                        Some(n) => {
                            m = n;
                            at = next;
                        }
                        None => break,
                    }
                }
                self.i = m.value_end + 1;
            } else {
                self.member(gate, node, sink)?;
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.syntax("expected ',' or '}' in an object")),
            }
        }
    }

    /// One member of an object on a rule path, token by token: its key
    /// walked through the object's `gate` (`None`: off every path), its
    /// value handed on or skipped. Inlined: it is the body of the object
    /// loop.
    #[inline(always)]
    fn member<S: Sink>(&mut self, gate: Option<Gate>, node: NodeId, sink: &mut S) -> Scan<()> {
        let key = self.key_colon()?;
        if node == 0 {
            self.last_top_key = key.start;
        }
        let child = match gate {
            None => None,
            Some(gate) if key.escaped => {
                unescape(&self.b[key.start..key.end], self.keybuf);
                self.trie.walk(gate.node, self.keybuf)
            }
            Some(gate) => self.trie.walk_gated(gate, &self.b[key.start..key.end]),
        };
        match (child, self.peek()) {
            (Some(n), _) => self.value(n, sink),
            // Containers take the skipper; scalars, most of what an object
            // holds, are skipped here: a call to the skipper cost more than
            // the string it skipped (callgrind).
            (None, Some(b'{' | b'[')) => self.skip_value(),
            (None, _) => self.skip_scalar(),
        }
    }

    /// A value whose path ends at trie node `node`.
    fn value<S: Sink>(&mut self, node: NodeId, sink: &mut S) -> Scan<()> {
        let path = self.trie.path_at(node);
        match self.peek() {
            Some(b'{') => {
                if self.trie.step(node, b'.').is_some() {
                    self.object(node, sink)
                } else {
                    self.skip_value()
                }
            }
            Some(b'[') => {
                if path.is_none() && self.trie.step(node, b'.').is_none() {
                    return self.skip_value();
                }
                self.array(node, sink)
            }
            Some(b'"') => {
                let s = self.string()?;
                if let Some(p) = path {
                    if s.escaped {
                        unescape(&self.b[s.start..s.end], self.strbuf);
                        sink.leaf(p, Leaf::Str(self.strbuf), self.stack);
                    } else {
                        sink.leaf(p, Leaf::Str(&self.b[s.start..s.end]), self.stack);
                    }
                }
                Ok(())
            }
            Some(b't') => self.literal(b"true", path.map(|p| (p, Leaf::True)), sink),
            Some(b'f') => self.literal(b"false", path.map(|p| (p, Leaf::False)), sink),
            Some(b'n') => self.literal(b"null", path.map(|p| (p, Leaf::Null)), sink),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                self.number()?;
                if let Some(p) = path {
                    sink.leaf(p, Leaf::Num(&self.b[start..self.i]), self.stack);
                }
                Ok(())
            }
            _ => Err(self.syntax("expected a JSON value")),
        }
    }

    /// An array on a rule path. Arrays nested directly in arrays share the
    /// path, so they are handled in this loop rather than by recursion: an
    /// event of a thousand nested arrays costs no stack (objects can only
    /// nest as deep as the rules' paths).
    fn array<S: Sink>(&mut self, node: NodeId, sink: &mut S) -> Scan<()> {
        let base = self.stack.len();
        let path = self.trie.path_at(node);
        let mut opening = true;
        loop {
            if opening {
                // At '[': open an array.
                self.enter()?;
                self.i += 1;
                let id = self.next_array;
                self.next_array += 1;
                self.stack.push(ArrayPos {
                    array: id,
                    index: 0,
                });
                self.ws();
                opening = false;
                if self.peek() != Some(b']') {
                    if self.peek() == Some(b'[') {
                        opening = true;
                    } else {
                        self.element(node, path, sink)?;
                    }
                    if opening {
                        continue;
                    }
                }
            }
            // After an element (or at the ']' of an empty array).
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    if let Some(top) = self.stack.last_mut() {
                        top.index += 1;
                    }
                    self.ws();
                    if self.peek() == Some(b'[') {
                        opening = true;
                    } else {
                        self.element(node, path, sink)?;
                    }
                }
                Some(b']') => {
                    self.i += 1;
                    self.stack.pop();
                    self.depth -= 1;
                    if self.stack.len() == base {
                        return Ok(());
                    }
                }
                _ => return Err(self.syntax("expected ',' or ']' in an array")),
            }
        }
    }

    /// One array element on a rule path. Numbers go straight to the sink:
    /// on numeric rules over coordinates they are nearly every element, and
    /// the general dispatch in [`value`](Self::value) (path lookup, match on
    /// the first byte) was a fifth of the scan per number (callgrind).
    #[inline(always)]
    fn element<S: Sink>(&mut self, node: NodeId, path: Option<PathId>, sink: &mut S) -> Scan<()> {
        if let (Some(p), Some(b'-' | b'0'..=b'9')) = (path, self.peek()) {
            let start = self.i;
            self.number()?;
            sink.leaf(p, Leaf::Num(&self.b[start..self.i]), self.stack);
            return Ok(());
        }
        self.value(node, sink)
    }

    fn literal<S: Sink>(
        &mut self,
        word: &'static [u8],
        leaf: Option<(PathId, Leaf<'static>)>,
        sink: &mut S,
    ) -> Scan<()> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return Err(self.syntax("expected a JSON value"));
        }
        self.i += word.len();
        if let Some((p, v)) = leaf {
            sink.leaf(p, v, self.stack);
        }
        Ok(())
    }

    /// Validates a number token and moves past it.
    #[inline(always)]
    fn number(&mut self) -> Scan<()> {
        match number_end(self.b, self.i) {
            Ok(end) => {
                self.i = end;
                Ok(())
            }
            Err((at, what)) => {
                self.i = at;
                Err(self.syntax(what))
            }
        }
    }

    /// Validates a string token (at `"`) and moves past it.
    ///
    /// Inlined, for the common case of a plain ASCII string: keys and
    /// values are short (an envelope holds some forty of them) and a call
    /// with its register saves cost a third of the scan of one (callgrind).
    /// Escapes, non-ASCII bytes and errors take [`string_rest`](Self::string_rest).
    #[inline(always)]
    fn string(&mut self) -> Scan<StrSpan> {
        let start = self.i + 1;
        let j = plain_run(self.b, start);
        if self.b.get(j) == Some(&b'"') {
            self.i = j + 1;
            return Ok(StrSpan {
                start,
                end: j,
                escaped: false,
            });
        }
        self.string_rest(start, j)
    }

    /// The rest of a string from `j`, the first byte in it that is not
    /// plain ASCII (or the end of the input).
    #[inline(never)]
    fn string_rest(&mut self, start: usize, mut j: usize) -> Scan<StrSpan> {
        let b = self.b;
        let mut escaped = false;
        let mut non_ascii = false;
        loop {
            let Some(&c) = b.get(j) else {
                self.i = j;
                return Err(self.err(EventErrorKind::UnexpectedEnd));
            };
            match STR_CLASS[c as usize] {
                1 => break,
                2 => {
                    escaped = true;
                    j = self.escape(j)?;
                }
                3 => {
                    self.i = j;
                    return Err(self.syntax("raw control character in a string"));
                }
                _ => {
                    non_ascii = true;
                    j += 1;
                }
            }
            j = plain_run(b, j);
        }
        if non_ascii {
            if let Err(e) = std::str::from_utf8(&b[start..j]) {
                self.i = start + e.valid_up_to();
                return Err(self.err(EventErrorKind::InvalidUtf8));
            }
        }
        self.i = j + 1;
        Ok(StrSpan {
            start,
            end: j,
            escaped,
        })
    }

    /// Validates the escape at `j` (a backslash); returns the index after it.
    /// Surrogates must pair up, so that decoding can never fail later.
    fn escape(&mut self, j: usize) -> Scan<usize> {
        let b = self.b;
        match b.get(j + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(j + 2),
            Some(b'u') => {
                let Some(cp) = hex4(b, j + 2) else {
                    self.i = j;
                    return Err(self.syntax("invalid \\u escape"));
                };
                if (0xD800..0xDC00).contains(&cp) {
                    let low = (b.get(j + 6) == Some(&b'\\') && b.get(j + 7) == Some(&b'u'))
                        .then(|| hex4(b, j + 8))
                        .flatten();
                    match low {
                        Some(lo) if (0xDC00..0xE000).contains(&lo) => Ok(j + 12),
                        _ => {
                            self.i = j;
                            Err(self.syntax("unpaired UTF-16 surrogate in \\u escape"))
                        }
                    }
                } else if (0xDC00..0xE000).contains(&cp) {
                    self.i = j;
                    Err(self.syntax("unpaired UTF-16 surrogate in \\u escape"))
                } else {
                    Ok(j + 6)
                }
            }
            None => {
                self.i = j + 1;
                Err(self.err(EventErrorKind::UnexpectedEnd))
            }
            Some(_) => {
                self.i = j;
                Err(self.syntax("invalid escape in a string"))
            }
        }
    }

    /// Skips any value, validating it. Iterative, with the open containers
    /// kept as bits (1 = object): skipped subtrees such as citylots'
    /// coordinate arrays are most of an event's bytes, and a recursive call
    /// per element cost twice as much (measured).
    fn skip_value(&mut self) -> Scan<()> {
        match self.peek() {
            Some(b'[') if self.numbers_fast() => return Ok(()),
            Some(b'{' | b'[') => {}
            _ => return self.skip_scalar(),
        }
        const WORDS: usize = 16;
        let mut kinds = [0u64; WORDS];
        let mut open = 0usize;
        loop {
            // Expecting a value at self.i (whitespace already skipped).
            let c = self.peek();
            if c == Some(b'[') && self.numbers_fast() {
                // Skipped whole; on to the separator after it.
            } else {
                match c {
                    Some(c @ (b'{' | b'[')) => {
                        self.enter()?;
                        if open == WORDS * 64 {
                            // Deeper than the bit stack: finish this subtree
                            // recursively (only reachable with max_depth > 1024).
                            self.depth -= 1;
                            self.skip_value_recursive()?;
                        } else {
                            let (w, bit) = (open / 64, 1u64 << (open % 64));
                            if c == b'{' {
                                kinds[w] |= bit;
                            } else {
                                kinds[w] &= !bit;
                            }
                            open += 1;
                            self.i += 1;
                            self.ws();
                            let close = if c == b'{' { b'}' } else { b']' };
                            if self.peek() != Some(close) {
                                if c == b'[' {
                                    continue;
                                }
                                match compact_member(self.b, self.i) {
                                    // A whole `"key":"value"`: on to the
                                    // separator after it.
                                    Some(m) => self.i = m.value_end + 1,
                                    None => {
                                        self.key_colon()?;
                                        continue;
                                    }
                                }
                            }
                            // Empty container: fall through to closing below,
                            // without consuming the closer here.
                        }
                    }
                    _ => {
                        self.skip_scalar()?;
                        if open > 0 && kinds[(open - 1) / 64] & (1u64 << ((open - 1) % 64)) == 0 {
                            // Compact runs of numbers, the bulk of coordinate
                            // arrays: no whitespace or container bookkeeping.
                            match number_run(self.b, self.i) {
                                Ok(end) => self.i = end,
                                Err((at, what)) => {
                                    self.i = at;
                                    return Err(self.syntax(what));
                                }
                            }
                        }
                    }
                }
            }
            // After a value: separators and closers.
            loop {
                self.ws();
                if open == 0 {
                    return Ok(());
                }
                let top_is_object = kinds[(open - 1) / 64] & (1u64 << ((open - 1) % 64)) != 0;
                match (self.peek(), top_is_object) {
                    (Some(b','), obj) => {
                        self.i += 1;
                        self.ws();
                        if obj {
                            if let Some(m) = compact_member(self.b, self.i) {
                                self.i = m.value_end + 1;
                                continue;
                            }
                            self.key_colon()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.i += 1;
                        open -= 1;
                        self.depth -= 1;
                        if open == 0 {
                            return Ok(());
                        }
                    }
                    (_, true) => return Err(self.syntax("expected ',' or '}' in an object")),
                    (_, false) => return Err(self.syntax("expected ',' or ']' in an array")),
                }
            }
        }
    }

    /// Skips the array at `self.i` with the SIMD path of [`numbers`] when it
    /// is an array of numbers; false (nothing consumed) when that path is not
    /// sure, so the byte-by-byte path takes it and reports any error.
    #[inline]
    fn numbers_fast(&mut self) -> bool {
        // Only arrays that start like one of numbers, and not again inside
        // a region the fast path already gave up on (which would make nested
        // arrays cost once per level).
        let mut first = self.i + 1;
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(first) {
            first += 1;
        }
        if self.i < self.fast_unsure
            || !matches!(self.b.get(first), Some(b'[' | b'-' | b'0'..=b'9'))
        {
            return false;
        }
        let room = self.max_depth.saturating_sub(self.depth);
        match numbers::array_end(self.b, self.i, room) {
            Ok(end) => {
                self.i = end;
                true
            }
            Err(Unsure(at)) => {
                self.fast_unsure = at;
                false
            }
        }
    }

    /// An object key and its colon, then whitespace up to the value; the
    /// key's span.
    #[inline(always)]
    fn key_colon(&mut self) -> Scan<StrSpan> {
        if self.peek() != Some(b'"') {
            return Err(self.syntax("expected a string key"));
        }
        let key = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.syntax("expected ':' after an object key"));
        }
        self.i += 1;
        self.ws();
        Ok(key)
    }

    #[inline(always)]
    fn skip_scalar(&mut self) -> Scan<()> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.skip_word(b"true"),
            Some(b'f') => self.skip_word(b"false"),
            Some(b'n') => self.skip_word(b"null"),
            _ => Err(self.syntax("expected a JSON value")),
        }
    }

    /// The plain recursive skipper, for nesting deeper than the bit stack.
    fn skip_value_recursive(&mut self) -> Scan<()> {
        let (c, close) = match self.peek() {
            Some(b'{') => (b'{', b'}'),
            Some(b'[') => (b'[', b']'),
            _ => return self.skip_scalar(),
        };
        self.enter()?;
        self.i += 1;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if c == b'{' {
                self.key_colon()?;
            }
            self.skip_value_recursive()?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(x) if x == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ if c == b'{' => return Err(self.syntax("expected ',' or '}' in an object")),
                _ => return Err(self.syntax("expected ',' or ']' in an array")),
            }
        }
    }

    fn skip_word(&mut self, word: &[u8]) -> Scan<()> {
        if self.b.get(self.i..self.i + word.len()) != Some(word) {
            return Err(self.syntax("expected a JSON value"));
        }
        self.i += word.len();
        Ok(())
    }
}

/// End of the number token starting at `i`, or where and why it is invalid.
/// A free function over locals: the compiler keeps `i` in a register, which
/// it did not when it was a field behind `&mut self` (measured).
#[inline(always)]
fn number_end(b: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = digits(b, i + 1),
        _ => return Err((i, "invalid number")),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return Err((i, "invalid number: digit expected after '.'"));
        }
        i = digits(b, i);
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        if !matches!(b.get(i), Some(b'0'..=b'9')) {
            return Err((i, "invalid number: digit expected in exponent"));
        }
        i = digits(b, i);
    }
    Ok(i)
}

/// Skips `,<number>` repeats from `i` (just after a number in an array):
/// the compact coordinate lists that are most of a citylots event.
#[inline(always)]
fn number_run(b: &[u8], mut i: usize) -> Result<usize, (usize, &'static str)> {
    while b.get(i) == Some(&b',') && matches!(b.get(i + 1), Some(b'-' | b'0'..=b'9')) {
        i = number_end(b, i + 1)?;
    }
    Ok(i)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

#[inline]
fn word(b: &[u8], i: usize) -> Option<u64> {
    b.get(i..i + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

/// Index of the first non-digit at or after `i`. Eight bytes at a time: the
/// coordinates of citylots events are runs of 14-17 digits, and this loop
/// was the scanner's largest cost byte by byte (perf).
#[inline(always)]
fn digits(b: &[u8], mut i: usize) -> usize {
    while let Some(x) = word(b, i) {
        // A byte is a digit iff (c ^ 0x30) < 10. Adding 0x76 sets the high
        // bit for 10..0x7f; `| y` catches bytes that already had it. A carry
        // only reaches bytes above the first flagged one, which we ignore.
        let y = x ^ (0x30 * ONES);
        let flags = (y.wrapping_add(0x76 * ONES) | y) & HIGHS;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// A member `"key":"value"` located by [`compact_member`]: the key's
/// closing quote, and the value's content `value_start..value_end` (at its
/// closing quote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    key_end: usize,
    value_start: usize,
    value_end: usize,
}

/// Whether `c` is JSON whitespace.
#[inline(always)]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// Whether `text` is empty or JSON whitespace only (space, tab, line feed,
/// carriage return): a blank line, not an event. A form feed or vertical
/// tab is not JSON whitespace (`u8::is_ascii_whitespace` takes the form
/// feed), so a line of them is an invalid event.
pub fn is_blank(text: &[u8]) -> bool {
    text.iter().all(|&c| is_ws(c))
}

/// After a member ending at `b[i]` (the byte after its value): where the
/// next member starts when a `,` comes next, whitespace on either side.
#[inline(always)]
fn next_member(b: &[u8], mut i: usize) -> Option<usize> {
    while is_ws(*b.get(i)?) {
        i += 1;
    }
    if b[i] != b',' {
        return None;
    }
    i += 1;
    while is_ws(*b.get(i)?) {
        i += 1;
    }
    Some(i)
}

/// The member at `b[i]` when it is a string member, `"key":"value"` within
/// 32 bytes with whitespace or not around the colon (`"key": "value"` as
/// Python, the citylots file and most pretty-printers write it), both
/// strings plain (no escapes, control or non-ASCII bytes): then it is valid
/// as it stands, and both strings come from one pair of quote masks. Most members of an envelope's objects are such
/// (`"STREET":"UNKNOWN"`); scanning them token by token chained two string
/// scans, each waiting for the end of the one before (this took the
/// validating scan of a citylots event from 0.445 to 0.40 µs). `None` for
/// anything else, which the token-by-token path takes.
#[inline(always)]
fn compact_member(b: &[u8], i: usize) -> Option<Member> {
    let chunk = b.get(i..i + 32)?;
    let (quotes, specials) = quote_masks(chunk)?;
    // Bit 0 is the key's opening quote; the key ends at the next quote.
    if quotes & 1 == 0 {
        return None;
    }
    let k = (quotes & !1).trailing_zeros() as usize;
    if k >= 30 {
        return None;
    }
    // `:` and a quote opening the value right after the key (compact), or
    // the next quote, with `:` and whitespace only between.
    let v = if chunk[k + 1] == b':' && quotes >> (k + 2) & 1 != 0 {
        k + 2
    } else if chunk[k + 1] == b':' && chunk[k + 2] == b' ' && quotes >> (k + 3) & 1 != 0 {
        // `"key": "value"`, as Python and the citylots file write it.
        k + 3
    } else {
        let v = (quotes >> (k + 1)).trailing_zeros() as usize + k + 1;
        if v >= 32 {
            return None;
        }
        let between = &chunk[k + 1..v];
        let colon = between.iter().position(|&c| c == b':')?;
        if !between
            .iter()
            .enumerate()
            .all(|(j, &c)| j == colon || is_ws(c))
        {
            return None;
        }
        v
    };
    let e = (quotes >> (v + 1)).trailing_zeros() as usize + v + 1;
    // No special byte up to the value's closing quote (which must lie in
    // the chunk).
    if e >= 32 || specials & ((1u64 << e) - 1) != 0 {
        return None;
    }
    Some(Member {
        key_end: i + k,
        value_start: i + v + 1,
        value_end: i + e,
    })
}

/// Quote and special-byte (backslash, control, non-ASCII) masks of 32
/// bytes, bit `j` for `chunk[j]`. `None` where SSE2 is not available.
#[inline(always)]
fn quote_masks(chunk: &[u8]) -> Option<(u64, u64)> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        let (q0, s0) = x86::quotes_specials(&chunk[..16]);
        let (q1, s1) = x86::quotes_specials(&chunk[16..32]);
        Some(((q0 | q1 << 16) as u64, (s0 | s1 << 16) as u64))
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        let _ = chunk;
        None
    }
}

/// Index of the first byte at or after `i` that a string scan must look at:
/// a quote, a backslash, a control character or a non-ASCII byte.
#[inline(always)]
pub(crate) fn plain_run(b: &[u8], mut i: usize) -> usize {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    while let Some(chunk) = b.get(i..i + 16) {
        let flags = x86::specials(chunk);
        if flags != 0 {
            return i + flags.trailing_zeros() as usize;
        }
        i += 16;
    }
    while let Some(x) = word(b, i) {
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let flags = zero(x ^ (b'"' as u64 * ONES))
            | zero(x ^ (b'\\' as u64 * ONES))
            | (x.wrapping_sub(0x20 * ONES) & !x & HIGHS)
            | (x & HIGHS);
        if flags != 0 {
            // Borrows can only flag bytes above the first true hit.
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < b.len() && STR_CLASS[b[i] as usize] == 0 {
        i += 1;
    }
    i
}

/// SSE2, which every x86-64 CPU has: sixteen bytes per step of the string
/// scan, against eight for the word-at-a-time loop (which remains for the
/// last bytes and for other targets). `unsafe` for the unaligned load from a
/// slice whose length was checked.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::*;

    /// Compare masks of the 16 bytes of `chunk`: quotes, and bytes a plain
    /// string must not hold (`\\`, control characters, non-ASCII).
    #[inline(always)]
    fn classes(chunk: &[u8]) -> (__m128i, __m128i) {
        assert!(chunk.len() >= 16);
        // SAFETY: SSE2 is enabled for this target (the cfg above), and
        // `chunk` holds at least the 16 bytes `loadu` reads, unaligned.
        unsafe {
            let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
            // Signed: bytes from 0x80 are negative, so below 0x20 too.
            let low = _mm_cmplt_epi8(v, _mm_set1_epi8(0x20));
            (quote, _mm_or_si128(backslash, low))
        }
    }

    /// One bit per byte of `chunk` (16 bytes) that a string scan must look
    /// at: `"`, `\\`, a control character or a non-ASCII byte.
    #[inline(always)]
    pub(super) fn specials(chunk: &[u8]) -> u32 {
        let (quote, special) = classes(chunk);
        // SAFETY: SSE2 is enabled for this target.
        unsafe { _mm_movemask_epi8(_mm_or_si128(quote, special)) as u32 }
    }

    /// The two masks of [`classes`] as bits: quotes, specials.
    #[inline(always)]
    pub(super) fn quotes_specials(chunk: &[u8]) -> (u32, u32) {
        let (quote, special) = classes(chunk);
        // SAFETY: SSE2 is enabled for this target.
        unsafe {
            (
                _mm_movemask_epi8(quote) as u32,
                _mm_movemask_epi8(special) as u32,
            )
        }
    }
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

/// Decodes an escaped JSON string body already validated by
/// [`Scanner::string`] into `out` (cleared first).
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = raw.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let simple = match e {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => {
                // `u`: validated, so four hex digits (and a low surrogate
                // after a high one) are present.
                let hi = hex4(raw, i).unwrap_or(0xFFFD);
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    let lo = hex4(raw, i + 2).unwrap_or(0xDC00);
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
        };
        out.push(simple);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Vec<(PathId, String, Vec<ArrayPos>)>);

    impl Sink for Collect {
        fn leaf(&mut self, path: PathId, value: Leaf<'_>, arrays: &[ArrayPos]) {
            let v = match value {
                Leaf::Str(s) => format!("s:{}", String::from_utf8_lossy(s)),
                Leaf::Num(n) => format!("n:{}", String::from_utf8_lossy(n)),
                Leaf::True => "true".into(),
                Leaf::False => "false".into(),
                Leaf::Null => "null".into(),
            };
            self.0.push((path, v, arrays.to_vec()));
        }
    }

    const LIMITS: ScanLimits = ScanLimits {
        max_event_bytes: 1 << 20,
        max_depth: 64,
    };

    fn run(paths: &[&str], event: &str) -> Result<Vec<(String, String, usize)>, EventError> {
        let mut t = PathTrie::new();
        for p in paths {
            t.insert(p);
        }
        t.finish();
        let mut c = Collect::default();
        scan(
            event.as_bytes(),
            &t,
            LIMITS,
            &mut Scratch::default(),
            &mut c,
        )?;
        Ok(c.0
            .into_iter()
            .map(|(p, v, a)| (paths[p as usize].to_string(), v, a.len()))
            .collect())
    }

    #[test]
    fn reports_where_the_last_top_level_key_starts() {
        let mut t = PathTrie::new();
        t.insert("a.b");
        t.finish();
        let last = |event: &str| {
            let mut scratch = Scratch::default();
            scan(
                event.as_bytes(),
                &t,
                LIMITS,
                &mut scratch,
                &mut Collect::default(),
            )
            .map(|()| scratch.last_top_key())
        };
        // Nested keys (on a rule path or skipped) do not count.
        let e = r#"{"a":{"b":1,"z":{"y":2}},"detail":{"x":{"w":3}}}"#;
        assert_eq!(last(e).unwrap(), e.find("detail").unwrap());
        let e = r#"{"detail":{"k":1}, "a" : {"b":{"c":2}}}"#;
        assert_eq!(last(e).unwrap(), e.rfind("a\"").unwrap());
        assert_eq!(last("{}").unwrap(), 0);
        assert!(last(r#"{"a":1,"b":}"#).is_err());
    }

    #[test]
    fn extracts_only_mentioned_paths() {
        let got = run(
            &["a.b", "c"],
            r#"{"x":[1,{"y":"z"}],"a":{"b":"hi","q":2},"c":[1,[2.5e3,null]],"a.b":true}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("a.b".into(), "s:hi".into(), 0),
                ("c".into(), "n:1".into(), 1),
                ("c".into(), "n:2.5e3".into(), 2),
                ("c".into(), "null".into(), 2),
                ("a.b".into(), "true".into(), 0),
            ]
        );
    }

    /// Keys behind an object's gate (the one byte they may start with):
    /// the empty key passes it, others walk on only from that byte, in
    /// compact members and token by token (spaced, or with an object value).
    #[test]
    fn keys_pass_the_gate_only_by_their_first_byte() {
        let got = run(
            &["a.", "a.bc", "a.b.x"],
            r#"{"a":{"":1,"c":2,"bc":"y", "bc" : 3,"b":{"x":4},"cb":5,"d":{"x":6}}}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("a.".into(), "n:1".into(), 0),
                ("a.bc".into(), "s:y".into(), 0),
                ("a.bc".into(), "n:3".into(), 0),
                ("a.b.x".into(), "n:4".into(), 0),
            ]
        );
    }

    #[test]
    fn decodes_escapes_in_keys_and_values() {
        let got = run(&["é"], r#"{"\u00e9":"a\"\n\ud83d\ude80"}"#).unwrap();
        assert_eq!(got, vec![("é".into(), "s:a\"\n🚀".into(), 0)]);
    }

    #[test]
    fn array_positions_number_elements() {
        let mut t = PathTrie::new();
        t.insert("a.b");
        t.finish();
        let mut c = Collect::default();
        let ev = br#"{"a":[{"b":1},{"b":[2,3]}]}"#;
        scan(ev, &t, LIMITS, &mut Scratch::default(), &mut c).unwrap();
        let pos: Vec<Vec<(u32, u32)>> =
            c.0.iter()
                .map(|(_, _, a)| a.iter().map(|p| (p.array, p.index)).collect())
                .collect();
        assert_eq!(
            pos,
            vec![vec![(0, 0)], vec![(0, 1), (1, 0)], vec![(0, 1), (1, 1)]]
        );
    }

    #[test]
    fn rejects_bad_events_with_offsets() {
        let cases: &[(&str, usize, &str)] = &[
            ("[1]", 0, "not a JSON object"),
            ("{} x", 3, "trailing"),
            (r#"{"a":01}"#, 6, "','"),
            (r#"{"a":"x}"#, 8, "end"),
            (r#"{"a":tru}"#, 5, "value"),
            (r#"{"z":[1,]}"#, 8, "value"),
            (r#"{"z":"\ud800"}"#, 6, "surrogate"),
            (r#"{"z":"a	b"}"#, 7, "control"),
            (r#"{"a":1,}"#, 7, "key"),
            ("", 0, "not a JSON object"),
            (r#"{"z":1.}"#, 7, "digit"),
            (r#"{"z":-}"#, 6, "number"),
        ];
        for (ev, off, msg) in cases {
            let e = run(&["a"], ev).unwrap_err();
            assert_eq!(e.offset, *off, "{ev}: {e}");
            assert!(e.message.contains(msg), "{ev}: {e}");
        }
    }

    #[test]
    fn word_at_a_time_scans_agree_with_bytes() {
        let samples: &[&[u8]] = &[
            b"12345678901234567890,",
            b"1234567",
            b"123456789",
            b"0123456/",
            b"999999999999999999999999a",
            b"abc",
            b"plain text \" tail",
            b"0123456789abcdef\\x",
            b"\x01\x1f 12345678",
            b"caf\xc3\xa9 123456789",
            b"1234567890123456\x7f\x80",
        ];
        for s in samples {
            for start in 0..s.len() {
                let slow_d = start + s[start..].iter().take_while(|c| c.is_ascii_digit()).count();
                assert_eq!(digits(s, start), slow_d, "{s:?} @ {start}");
                let slow_p = start
                    + s[start..]
                        .iter()
                        .take_while(|c| STR_CLASS[**c as usize] == 0)
                        .count();
                assert_eq!(plain_run(s, start), slow_p, "{s:?} @ {start}");
            }
        }
    }

    #[test]
    fn compact_members_take_the_fast_path_and_errors_after_them_keep_their_offset() {
        let pad = "x".repeat(40);
        let ev = format!(r#"{{"a":"b","c":{{"d":"STREET","e":"ST"}},"p":"{pad}"}}"#);
        assert!(compact_member(ev.as_bytes(), 1).is_some());
        // Spaced as Python writes it, and other ways.
        for (m, value_start) in [
            (r#""ab": "cd""#, 7),
            (r#""ab" : "cd""#, 8),
            (r#""ab":  "cd""#, 8),
            (r#""ab" :"cd""#, 7),
        ] {
            let b = format!("{m}{pad}");
            let want = Member {
                key_end: 3,
                value_start,
                value_end: value_start + 2,
            };
            assert_eq!(compact_member(b.as_bytes(), 0), Some(want), "{m}");
        }
        for m in [r#""ab": :"cd""#, r#""ab":x"cd""#, r#""ab" "cd""#] {
            assert_eq!(
                compact_member(format!("{m}{pad}").as_bytes(), 0),
                None,
                "{m}"
            );
        }
        assert_eq!(
            run(&["a", "c.d", "c.e", "p"], &ev).unwrap(),
            vec![
                ("a".to_string(), "s:b".to_string(), 0),
                ("c.d".to_string(), "s:STREET".to_string(), 0),
                ("c.e".to_string(), "s:ST".to_string(), 0),
                ("p".to_string(), format!("s:{pad}"), 0),
            ]
        );
        // After a compact member: a stray byte, whitespace then a stray
        // byte, in an object on a path and in a skipped one.
        for (ev, at) in [
            (format!(r#"{{"a":"b"x,"p":"{pad}"}}"#), 8),
            (format!(r#"{{"a":"b" x,"p":"{pad}"}}"#), 9),
            (format!(r#"{{"z":{{"a":"b"x,"p":"{pad}"}}}}"#), 13),
            (format!(r#"{{"z":{{"q":1,"a":"b" x,"p":"{pad}"}}}}"#), 20),
            // At the end of a run of members taken one after the other.
            (format!(r#"{{"a":"b","c":"d","e":"f"x,"p":"{pad}"}}"#), 24),
            (format!(r#"{{"z":1,"a":"b","c":"d" x,"p":"{pad}"}}"#), 23),
        ] {
            let e = run(&["a"], &ev).unwrap_err();
            assert_eq!(e.offset, at, "{ev}: {e}");
            assert!(e.message.contains("expected ','"), "{ev}: {e}");
        }
        // A run that ends in a member the fast path does not take.
        let ev = format!(r#"{{"a":"b","c":"d",x,"p":"{pad}"}}"#);
        let e = run(&["c"], &ev).unwrap_err();
        assert_eq!(e.offset, 17, "{ev}: {e}");
        assert!(e.message.contains("string key"), "{ev}: {e}");
        let ev = format!(r#"{{"a":"b","c":"d","e":7,"f":"g","p":"{pad}"}}"#);
        assert_eq!(
            run(&["c", "e", "f"], &ev).unwrap(),
            vec![
                ("c".to_string(), "s:d".to_string(), 0),
                ("e".to_string(), "n:7".to_string(), 0),
                ("f".to_string(), "s:g".to_string(), 0),
            ]
        );
    }

    proptest::proptest! {
        /// A member the fast path takes is exactly a plain string key, `:`
        /// with whitespace around it or not, and a plain string value, and
        /// it takes every such member that fits in 32 bytes.
        #[test]
        fn compact_member_takes_exactly_plain_string_members(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    6 => b'a'..=b'z',
                    1 => proptest::sample::select(vec![b'"', b':', b',', b'\\', b' ', 0x1f, 0x80, 0xc3]),
                ],
                0..40,
            ),
        ) {
            let mut b = b"\"".to_vec();
            b.extend_from_slice(&s);
            b.resize(b.len().max(40), b'}');
            let plain = |x: &[u8]| x.iter().all(|&c| STR_CLASS[c as usize] == 0);
            let want = (|| {
                let k = 1 + b[1..].iter().position(|&c| c == b'"')?;
                let v = k + 1 + b.get(k + 1..)?.iter().position(|&c| c == b'"')?;
                let between = &b[k + 1..v];
                let colon = between.iter().filter(|&&c| c == b':').count() == 1
                    && between.iter().all(|&c| c == b':' || c == b' ');
                let e = v + 1 + b.get(v + 1..)?.iter().position(|&c| c == b'"')?;
                (plain(&b[1..k]) && colon && plain(&b[v + 1..e]) && e < 32)
                    .then_some(Member { key_end: k, value_start: v + 1, value_end: e })
            })();
            proptest::prop_assert_eq!(compact_member(&b, 0), want);
        }

        /// The string scan (SIMD, then words, then bytes) stops at the first
        /// byte a string must look at, wherever it lies and wherever the
        /// scan starts.
        #[test]
        fn plain_run_stops_at_the_first_special_byte(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => b'a'..=b'z',
                    1 => proptest::prop_oneof![
                        proptest::strategy::Just(b'"'),
                        proptest::strategy::Just(b'\\'),
                        proptest::strategy::Just(0x1f_u8),
                        proptest::strategy::Just(0x7f_u8),
                        proptest::strategy::Just(0x80_u8),
                        proptest::strategy::Just(0xff_u8),
                    ],
                ],
                0..80,
            ),
            start in 0usize..80,
        ) {
            let start = start.min(s.len());
            let slow = start + s[start..].iter().take_while(|c| STR_CLASS[**c as usize] == 0).count();
            proptest::prop_assert_eq!(plain_run(&s, start), slow);
        }
    }

    #[test]
    fn rejects_invalid_utf8_and_limits() {
        let t = PathTrie::new();
        let mut c = Collect::default();
        let e = scan(
            b"{\"a\":\"\xff\"}",
            &t,
            LIMITS,
            &mut Scratch::default(),
            &mut c,
        )
        .unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(e.message.contains("UTF-8"));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(70), "]".repeat(70));
        let e = scan(deep.as_bytes(), &t, LIMITS, &mut Scratch::default(), &mut c).unwrap_err();
        assert_eq!(e.kind, EventErrorKind::TooDeep { limit: 64 }, "{e}");
        assert_eq!(e.message, "nesting deeper than 64 levels");
        // Past the skipper's 1024-level bit stack: the recursive fallback.
        // Debug builds use big frames, so give it a big stack.
        std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let t = PathTrie::new();
                let mut c = Collect::default();
                let deeper = ScanLimits {
                    max_event_bytes: 1 << 20,
                    max_depth: 5000,
                };
                let ok = format!(
                    "{{\"a\":{}1{}}}",
                    "[{\"k\":".repeat(1500),
                    "}]".repeat(1500)
                );
                scan(ok.as_bytes(), &t, deeper, &mut Scratch::default(), &mut c).unwrap();
                let bad = format!(
                    "{{\"a\":{}1{}}}",
                    "[{\"k\":".repeat(1500),
                    "}}".repeat(1500)
                );
                assert!(scan(bad.as_bytes(), &t, deeper, &mut Scratch::default(), &mut c).is_err());
            })
            .unwrap()
            .join()
            .unwrap();
        let e = scan(deep.as_bytes(), &t, LIMITS, &mut Scratch::default(), &mut c).unwrap_err();
        assert_eq!(e.kind, EventErrorKind::TooDeep { limit: 64 }, "{e}");
        let small = ScanLimits {
            max_event_bytes: 4,
            max_depth: 8,
        };
        let e = scan(b"{\"a\":1}", &t, small, &mut Scratch::default(), &mut c).unwrap_err();
        assert_eq!(
            e.kind,
            EventErrorKind::TooLarge { given: 7, limit: 4 },
            "{e}"
        );
    }
}
