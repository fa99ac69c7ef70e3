//! The same events written as different producers write JSON.
//!
//! The generator writes compact JSON; real producers do not. Python's
//! `json.dumps` puts a space after every `,` and `:`, the public citylots
//! file has spaces inside brackets too (`{ "type": "Feature", ... }`), Java
//! and Python encoders escape characters as `\uXXXX`, and maps are written in
//! whatever order they iterate. [`Format`] names each of these, and
//! [`reformat`] rewrites one compact event into it. Every formatting decodes
//! to the same JSON value as the compact event (key order aside), so a rule
//! set matches the same events in every one; the benchmarks and the tests
//! check that.

use super::gen::SplitMix64;

/// A way of writing the generated events. All but [`Format::Pretty`] keep
/// each event on one line (NDJSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// As generated: no whitespace between tokens.
    Compact,
    /// Python's `json.dumps` default: `", "` and `": "`.
    Python,
    /// Spaces everywhere, as the public citylots file:
    /// `{ "a": [ 1, 2 ], "b": { "c": "d" } }`.
    Spaced,
    /// Compact, with about one string in 64 (keys and values alike) holding
    /// one character written as a `\u00XX` escape (hex digits in either
    /// case), so that about a third of the events hold an escape.
    Escaped,
    /// Compact, with the members of every object in a random order.
    Shuffled,
    /// Newlines and two-space indentation (not one event per line: for
    /// in-process use only).
    Pretty,
}

const ALL: [Format; 6] = [
    Format::Compact,
    Format::Python,
    Format::Spaced,
    Format::Escaped,
    Format::Shuffled,
    Format::Pretty,
];

impl Format {
    /// Every formatting.
    pub fn all() -> &'static [Format] {
        &ALL
    }

    /// The formattings that keep one event per line.
    pub fn ndjson() -> &'static [Format] {
        &ALL[..5]
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Compact => "compact",
            Format::Python => "python",
            Format::Spaced => "spaced",
            Format::Escaped => "escaped",
            Format::Shuffled => "shuffled",
            Format::Pretty => "pretty",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        ALL.iter().copied().find(|f| f.name() == name)
    }
}

/// Rewrites `event`, one compact JSON value (no whitespace between tokens,
/// as [`super::citylots`] writes), in `format`, appending to `out`. `seed`
/// draws the escapes and the key orders; other formattings do not use it.
pub fn reformat(event: &[u8], format: Format, seed: u64, out: &mut Vec<u8>) {
    let mut rng = SplitMix64::new(seed);
    let mut w = Writer {
        b: event,
        format,
        rng: &mut rng,
        out,
    };
    let end = w.value(0, 0);
    debug_assert_eq!(end, event.len(), "reformat: one compact JSON value");
}

/// `data` (compact NDJSON) with every line rewritten in `format`, drawn
/// from `seed`; [`Format::Pretty`] events are separated by a blank line.
pub fn reformat_all(data: &[u8], format: Format, seed: u64) -> Vec<u8> {
    if format == Format::Compact {
        return data.to_vec();
    }
    let mut seeds = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(data.len() + data.len() / 4);
    for line in data.split(|&c| c == b'\n').filter(|l| !l.is_empty()) {
        reformat(line, format, seeds.next_u64(), &mut out);
        out.push(b'\n');
        if format == Format::Pretty {
            out.push(b'\n');
        }
    }
    out
}

struct Writer<'a, 'o> {
    b: &'a [u8],
    format: Format,
    rng: &'o mut SplitMix64,
    out: &'o mut Vec<u8>,
}

/// Where the compact value starting at `b[i]` ends.
fn skip(b: &[u8], mut i: usize) -> usize {
    match b[i] {
        b'"' => string_end(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']') {
                i += 1;
            }
            i
        }
    }
}

/// The index after the string opening at `b[i]`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while b[i] != b'"' {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i + 1
}

impl Writer<'_, '_> {
    /// Writes the value at `self.b[i]`, nested `level` deep; returns where it
    /// ends.
    fn value(&mut self, i: usize, level: usize) -> usize {
        match self.b[i] {
            b'{' => self.object(i, level),
            b'[' => self.array(i, level),
            b'"' => {
                let end = string_end(self.b, i);
                self.string(i, end);
                end
            }
            _ => {
                let end = skip(self.b, i);
                self.out.extend_from_slice(&self.b[i..end]);
                end
            }
        }
    }

    fn object(&mut self, i: usize, level: usize) -> usize {
        // Members as (key start, value start, value end).
        let mut members = Vec::new();
        let mut j = i + 1;
        while self.b[j] != b'}' {
            let key_end = string_end(self.b, j);
            let v = key_end + 1;
            let end = skip(self.b, v);
            members.push((j, v, end));
            j = if self.b[end] == b',' { end + 1 } else { end };
        }
        if self.format == Format::Shuffled {
            for k in (1..members.len()).rev() {
                let r = self.rng.below(k as u64 + 1) as usize;
                members.swap(k, r);
            }
        }
        self.out.push(b'{');
        for (n, &(k, v, _)) in members.iter().enumerate() {
            self.separator(n, level + 1);
            let key_end = string_end(self.b, k);
            self.string(k, key_end);
            self.out
                .extend_from_slice(if self.format.compact() { b":" } else { b": " });
            self.value(v, level + 1);
        }
        self.close(b'}', members.is_empty(), level);
        j + 1
    }

    fn array(&mut self, i: usize, level: usize) -> usize {
        self.out.push(b'[');
        let mut j = i + 1;
        let mut n = 0;
        while self.b[j] != b']' {
            self.separator(n, level + 1);
            j = self.value(j, level + 1);
            if self.b[j] == b',' {
                j += 1;
            }
            n += 1;
        }
        self.close(b']', n == 0, level);
        j + 1
    }

    /// What goes before the `n`th element of a container.
    fn separator(&mut self, n: usize, level: usize) {
        if n > 0 {
            self.out.push(b',');
        }
        match self.format {
            Format::Python if n > 0 => self.out.push(b' '),
            Format::Spaced => self.out.push(b' '),
            Format::Pretty => self.newline(level),
            _ => {}
        }
    }

    fn close(&mut self, c: u8, empty: bool, level: usize) {
        match self.format {
            Format::Spaced if !empty => self.out.push(b' '),
            Format::Pretty if !empty => self.newline(level),
            _ => {}
        }
        self.out.push(c);
    }

    fn newline(&mut self, level: usize) {
        self.out.push(b'\n');
        self.out.extend(std::iter::repeat_n(b' ', 2 * level));
    }

    /// The string token `self.b[i..end]` (quotes included).
    fn string(&mut self, i: usize, end: usize) {
        let s = &self.b[i..end];
        let len = s.len() - 2;
        if self.format != Format::Escaped || len == 0 || !self.rng.chance(1, 64) {
            self.out.extend_from_slice(s);
            return;
        }
        // One plain ASCII character (not inside an escape) becomes `\u00XX`.
        let at = 1 + self.rng.below(len as u64) as usize;
        let plain = s[1..at].iter().all(|&c| c != b'\\') && s[at] < 0x80 && s[at] != b'\\';
        if !plain {
            self.out.extend_from_slice(s);
            return;
        }
        let upper = self.rng.chance(1, 2);
        self.out.extend_from_slice(&s[..at]);
        let hex = if upper {
            format!("\\u{:04X}", s[at])
        } else {
            format!("\\u{:04x}", s[at])
        };
        self.out.extend_from_slice(hex.as_bytes());
        self.out.extend_from_slice(&s[at + 1..]);
    }
}

impl Format {
    fn compact(self) -> bool {
        matches!(self, Format::Compact | Format::Escaped | Format::Shuffled)
    }
}
