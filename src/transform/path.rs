//! The JSONPath subset EventBridge accepts in `InputPath` and in
//! `InputPathsMap` values, and the lookup of one such path in event bytes.
//!
//! Accepted: `$`, then any sequence of `.name`, `['name']` / `["name"]` and
//! `[N]`. Dot names may contain `-` (`$.detail-type`). Everything else a full
//! JSONPath has (wildcards, filters, recursive descent, slices, unions,
//! negative indices) is rejected when the target is built, with the byte
//! position of the first character that does not fit.
//!
//! The lookup walks the event bytes with a small skipping cursor instead of
//! building a tree: it descends into the one member or element each step
//! names, skips siblings without decoding them and stops as soon as the value
//! is found, so a lookup allocates nothing (except to decode a key that holds
//! `\` escapes) and reads only the prefix of the event up to the value. The
//! event is assumed to be valid JSON (the pipeline has validated it while
//! flattening); the cursor still reports, rather than panics on, bytes it
//! cannot read.

use std::fmt;

/// One step of a compiled path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(Box<str>),
    Index(usize),
}

/// A compiled JSONPath of the accepted subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JsonPath {
    text: Box<str>,
    steps: Box<[Step]>,
}

/// Why a path was rejected, with the byte position in the path text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathSyntaxError {
    pub(crate) position: usize,
    pub(crate) reason: &'static str,
}

impl fmt::Display for PathSyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.position)
    }
}

/// Characters that end a dot-notation name. The rest of JSONPath's syntax
/// lives in them, so a name never swallows an operator we do not support.
fn ends_dot_name(b: u8) -> bool {
    matches!(
        b,
        b'.' | b'[' | b']' | b'*' | b'?' | b'@' | b'(' | b')' | b'\'' | b'"' | b',' | b':' | b'\\'
    ) || b.is_ascii_whitespace()
}

impl JsonPath {
    /// Parses `text`; the caller checks the length limit first.
    pub(crate) fn parse(text: &str) -> Result<JsonPath, PathSyntaxError> {
        let b = text.as_bytes();
        let err = |position, reason| Err(PathSyntaxError { position, reason });
        if b.first() != Some(&b'$') {
            return err(0, "a path must start with `$`");
        }
        let mut steps = Vec::new();
        let mut i = 1;
        while i < b.len() {
            match b[i] {
                b'.' => {
                    i += 1;
                    match b.get(i) {
                        None => return err(i, "a name must follow `.`"),
                        Some(b'.') => return err(i - 1, "recursive descent `..` is not supported"),
                        Some(b'*') => return err(i, "wildcards are not supported"),
                        Some(&c) if ends_dot_name(c) => return err(i, "a name must follow `.`"),
                        Some(_) => {}
                    }
                    let start = i;
                    while i < b.len() && !ends_dot_name(b[i]) {
                        i += 1;
                    }
                    // `start..i` ends before an ASCII byte or at the end, so
                    // it is a char boundary.
                    let name = text.get(start..i).unwrap_or_default();
                    steps.push(Step::Key(name.into()));
                }
                b'[' => {
                    i += 1;
                    match b.get(i) {
                        Some(&q @ (b'\'' | b'"')) => {
                            let start = i + 1;
                            let Some(len) = b[start..].iter().position(|&c| c == q) else {
                                return err(i, "unterminated quoted name");
                            };
                            let end = start + len;
                            if let Some(p) = b[start..end].iter().position(|&c| c == b'\\') {
                                return err(start + p, "escapes in quoted names are not supported");
                            }
                            let name = text.get(start..end).unwrap_or_default();
                            i = end + 1;
                            if b.get(i) != Some(&b']') {
                                return err(i, "expected `]` after a quoted name");
                            }
                            i += 1;
                            steps.push(Step::Key(name.into()));
                        }
                        Some(c) if c.is_ascii_digit() => {
                            let start = i;
                            while i < b.len() && b[i].is_ascii_digit() {
                                i += 1;
                            }
                            if b.get(i) != Some(&b']') {
                                return err(
                                    i,
                                    "expected `]` after an index (slices and unions are not supported)",
                                );
                            }
                            let Some(n) = text.get(start..i).and_then(|s| s.parse().ok()) else {
                                return err(start, "index too large");
                            };
                            i += 1;
                            steps.push(Step::Index(n));
                        }
                        Some(b'*') => return err(i, "wildcards are not supported"),
                        Some(b'?') => return err(i, "filters are not supported"),
                        Some(b'-') => return err(i, "negative indices are not supported"),
                        Some(b':') => return err(i, "slices are not supported"),
                        _ => return err(i, "expected a quoted name or an index after `[`"),
                    }
                }
                _ => return err(i, "expected `.` or `[`"),
            }
        }
        Ok(JsonPath {
            text: text.into(),
            steps: steps.into(),
        })
    }

    /// The path as written.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The JSON text of the value the path names in `event`, `Ok(None)` when
    /// it names nothing, `Err(offset)` when the event cannot be read there.
    pub(crate) fn find<'e>(&self, event: &'e [u8]) -> Result<Option<&'e [u8]>, usize> {
        let mut cur = Cursor { b: event, i: 0 };
        cur.ws();
        for step in self.steps.iter() {
            let found = match step {
                Step::Key(k) => cur.enter_member(k)?,
                Step::Index(n) => cur.enter_element(*n)?,
            };
            if !found {
                return Ok(None);
            }
        }
        let start = cur.i;
        cur.skip_value()?;
        Ok(event.get(start..cur.i))
    }
}

/// A read position in JSON bytes that can skip values without decoding them.
pub(crate) struct Cursor<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Cursor { b, i: 0 }
    }

    pub(crate) fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), usize> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.i)
        }
    }

    /// At `"`: moves past the closing quote and returns the raw contents.
    pub(crate) fn string(&mut self) -> Result<&'a [u8], usize> {
        let open = self.i;
        self.expect(b'"')?;
        let start = self.i;
        loop {
            let Some(off) = memchr::memchr2(b'"', b'\\', &self.b[self.i..]) else {
                return Err(open);
            };
            self.i += off;
            if self.b[self.i] == b'\\' {
                self.i += 2;
                if self.i > self.b.len() {
                    return Err(open);
                }
            } else {
                let inner = &self.b[start..self.i];
                self.i += 1;
                return Ok(inner);
            }
        }
    }

    /// Moves past one value of any kind.
    pub(crate) fn skip_value(&mut self) -> Result<(), usize> {
        match self.peek() {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                Err(self.i)
            }
            Some(_) => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.i += 1;
                }
                if self.i == start {
                    Err(start)
                } else {
                    Ok(())
                }
            }
            None => Err(self.i),
        }
    }

    /// At any value: if it is an object, reads its members one by one,
    /// calling `f(key, cursor at value)` for each; `f` must move past the
    /// value and returns `true` to stop early (the cursor then stays where
    /// `f` left it). Returns whether `f` stopped the walk.
    pub(crate) fn members(
        &mut self,
        mut f: impl FnMut(&'a [u8], &mut Self) -> Result<bool, usize>,
    ) -> Result<bool, usize> {
        if self.peek() != Some(b'{') {
            return Ok(false);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(false);
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.expect(b':')?;
            self.ws();
            if f(key, self)? {
                return Ok(true);
            }
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(false);
                }
                _ => return Err(self.i),
            }
        }
    }

    /// At any value: if it is an object with member `key`, moves to that
    /// member's value and returns `true`.
    fn enter_member(&mut self, key: &str) -> Result<bool, usize> {
        self.members(|k, cur| {
            if key_eq(k, key) {
                Ok(true)
            } else {
                cur.skip_value().map(|()| false)
            }
        })
    }

    /// At any value: if it is an array with element `n`, moves to that
    /// element and returns `true`.
    fn enter_element(&mut self, n: usize) -> Result<bool, usize> {
        if self.peek() != Some(b'[') {
            return Ok(false);
        }
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            return Ok(false);
        }
        for _ in 0..n {
            self.skip_value()?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => return Ok(false),
                _ => return Err(self.i),
            }
        }
        Ok(true)
    }
}

/// Whether the raw contents of a JSON string decode to `key`.
pub(crate) fn key_eq(raw: &[u8], key: &str) -> bool {
    if memchr::memchr(b'\\', raw).is_none() {
        return raw == key.as_bytes();
    }
    // Escaped keys are rare in events; decoding them costs one allocation.
    decode(raw).is_some_and(|s| s == key)
}

/// Decodes the raw contents of a JSON string (without its quotes).
pub(crate) fn decode(raw: &[u8]) -> Option<String> {
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'e>(path: &str, event: &'e str) -> Option<&'e str> {
        let p = JsonPath::parse(path).unwrap();
        p.find(event.as_bytes())
            .unwrap()
            .map(|b| std::str::from_utf8(b).unwrap())
    }

    fn reject(path: &str) -> (usize, &'static str) {
        let e = JsonPath::parse(path).unwrap_err();
        (e.position, e.reason)
    }

    #[test]
    fn parses_the_subset() {
        let p = JsonPath::parse("$.detail-type").unwrap();
        assert_eq!(&*p.steps, &[Step::Key("detail-type".into())]);
        let p = JsonPath::parse("$['a']['b-c'][0].d[12][\"e f\"]").unwrap();
        assert_eq!(
            &*p.steps,
            &[
                Step::Key("a".into()),
                Step::Key("b-c".into()),
                Step::Index(0),
                Step::Key("d".into()),
                Step::Index(12),
                Step::Key("e f".into()),
            ]
        );
        assert!(JsonPath::parse("$").unwrap().steps.is_empty());
        assert_eq!(JsonPath::parse("$.a").unwrap().as_str(), "$.a");
    }

    #[test]
    fn rejects_the_rest_with_a_position() {
        assert_eq!(reject(""), (0, "a path must start with `$`"));
        assert_eq!(reject("detail"), (0, "a path must start with `$`"));
        assert_eq!(reject("$.a.*"), (4, "wildcards are not supported"));
        assert_eq!(reject("$.a[*]"), (4, "wildcards are not supported"));
        assert_eq!(
            reject("$..a"),
            (1, "recursive descent `..` is not supported")
        );
        assert_eq!(reject("$.a[?(@.b)]"), (4, "filters are not supported"));
        assert_eq!(reject("$.a[-1]"), (4, "negative indices are not supported"));
        assert_eq!(reject("$.a[:2]"), (4, "slices are not supported"));
        assert_eq!(reject("$.a[0:2]").0, 5);
        assert_eq!(reject("$.a[0,1]").0, 5);
        assert_eq!(reject("$.a."), (4, "a name must follow `.`"));
        assert_eq!(reject("$.a['b"), (4, "unterminated quoted name"));
        assert_eq!(reject("$.a['b'"), (7, "expected `]` after a quoted name"));
        assert_eq!(reject("$a"), (1, "expected `.` or `[`"));
        assert_eq!(reject("$.a b"), (3, "expected `.` or `[`"));
        assert_eq!(reject("$[99999999999999999999999]"), (2, "index too large"));
        assert_eq!(reject("$['a\\'b']").0, 4);
    }

    #[test]
    fn finds_values() {
        let ev =
            r#" {"a" : {"b-c": [10, {"d": "x"}, [1]], "s": "q\"}"}, "e\u0066": true, "n": null} "#;
        assert_eq!(find("$", ev), Some(ev.trim()));
        assert_eq!(find("$.a['b-c'][1].d", ev), Some(r#""x""#));
        assert_eq!(find("$.a.b-c[2]", ev), Some("[1]"));
        assert_eq!(find("$.a.b-c[0]", ev), Some("10"));
        assert_eq!(find("$.a.s", ev), Some(r#""q\"}""#));
        assert_eq!(find("$.ef", ev), Some("true"));
        assert_eq!(find("$.n", ev), Some("null"));
        assert_eq!(find("$.a.b-c[3]", ev), None);
        assert_eq!(find("$.a.x", ev), None);
        assert_eq!(find("$.a.b-c.d", ev), None);
        assert_eq!(find("$.a.s[0]", ev), None);
        assert_eq!(find("$.n.x", ev), None);
        assert_eq!(find("$.e[0]", r#"{"e": []}"#), None);
        assert_eq!(find("$.e.x", r#"{"e": {}}"#), None);
    }

    #[test]
    fn reports_unreadable_events() {
        let p = JsonPath::parse("$.a.b").unwrap();
        assert!(p.find(br#"{"a": {"b": "x"#).is_err());
        assert!(p.find(br#"{"a" "#).is_err());
    }
}
