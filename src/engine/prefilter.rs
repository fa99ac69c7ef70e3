//! Reject events without parsing them: necessary literals.
//!
//! Most rules name bytes that any matching event must contain verbatim: an
//! exact string `"MISSION"` (quotes included), a prefix `"SAN `, a suffix
//! `ST"`, the longest literal run of a wildcard, or, at worst, the last key of
//! the field's path followed by a quote (`STREET"`). For every `$or` branch we
//! pick the field whose literals are most selective; the union over all
//! branches goes into one searcher (SIMD "Teddy" for up to 64 literals, an
//! Aho-Corasick DFA beyond). An event containing none of them cannot match and is rejected at
//! memory speed (ripgrep's trick, `PERFORMANCE.md` §1).
//!
//! JSON may spell any character as an escape (`\u0041`), which would hide a
//! literal; so any event containing a backslash (one `memchr`) goes down the
//! full path. A branch with no necessary literal
//! (only `exists:false` fields) disables the prefilter for the whole set.

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::pattern::{Field, GlobTok, Literal, Matcher, Pattern};

#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    search: Search,
    literals: usize,
}

/// The fastest searcher for the literal count. Most literals begin with a
/// quote, the most common byte of JSON, which defeats Aho-Corasick's
/// start-byte prefilter; Teddy's multi-byte fingerprints do not care (and
/// beat memmem's rare-byte heuristic on a single quoted literal, measured).
#[derive(Debug, Clone)]
enum Search {
    Teddy(packed::Searcher),
    Dfa(AhoCorasick),
}

/// Teddy handles up to 64 literals well; beyond that a DFA wins.
const TEDDY_MAX: usize = 64;

impl Prefilter {
    /// `None` when some branch of some rule has no necessary literal.
    pub(crate) fn build<'a>(patterns: impl Iterator<Item = &'a Pattern>) -> Option<Prefilter> {
        let mut lits: Vec<Vec<u8>> = Vec::new();
        for p in patterns {
            for sp in &p.subpatterns {
                let best = sp
                    .fields
                    .iter()
                    .filter_map(field_literals)
                    .max_by_key(|(score, _)| *score)?;
                lits.extend(best.1);
            }
        }
        lits.sort();
        lits.dedup();
        let search = match lits.len() {
            0 => return None,
            n if n <= TEDDY_MAX => {
                let mut b = packed::Config::new().builder();
                b.extend(&lits);
                match b.build() {
                    Some(t) => Search::Teddy(t),
                    None => Search::Dfa(dfa(&lits)?),
                }
            }
            _ => Search::Dfa(dfa(&lits)?),
        };
        Some(Prefilter {
            search,
            literals: lits.len(),
        })
    }

    /// False only when the event cannot match any rule.
    #[inline]
    pub(crate) fn may_match(&self, event: &[u8]) -> bool {
        // A backslash may hide any literal behind an escape.
        memchr::memchr(b'\\', event).is_some()
            || match &self.search {
                Search::Teddy(t) => t.find(event).is_some(),
                Search::Dfa(ac) => ac.is_match(event),
            }
    }

    pub(crate) fn literals(&self) -> usize {
        self.literals
    }
}

fn dfa(lits: &[Vec<u8>]) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .prefilter(false)
        .build(lits)
        .ok()
}

/// Bytes that JSON can write unescaped and that we can therefore search for.
fn plain(s: &[u8]) -> bool {
    !s.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20)
}

fn quoted(pre: bool, s: &[u8], post: bool) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len() + 2);
    if pre {
        v.push(b'"');
    }
    v.extend_from_slice(s);
    if post {
        v.push(b'"');
    }
    v
}

fn value_literal(m: &Matcher) -> Option<Vec<u8>> {
    match m {
        Matcher::Exact(Literal::String(s)) if plain(s.as_bytes()) => {
            Some(quoted(true, s.as_bytes(), true))
        }
        Matcher::Prefix(s) if !s.is_empty() && plain(s.as_bytes()) => {
            Some(quoted(true, s.as_bytes(), false))
        }
        Matcher::Suffix(s) if !s.is_empty() && plain(s.as_bytes()) => {
            Some(quoted(false, s.as_bytes(), true))
        }
        Matcher::Wildcard(g) => {
            // Literal runs between stars; the first is anchored by the opening
            // quote, the last by the closing one.
            let toks = &g.tokens;
            let mut best: Option<Vec<u8>> = None;
            let mut run: Vec<u8> = Vec::new();
            let mut start = 0;
            for (i, t) in toks
                .iter()
                .chain(std::iter::once(&GlobTok::Star))
                .enumerate()
            {
                match t {
                    GlobTok::Byte(b) => run.push(*b),
                    GlobTok::Star => {
                        if !run.is_empty() && plain(&run) {
                            let lit = quoted(start == 0, &run, i == toks.len());
                            if best.as_ref().is_none_or(|b| lit.len() >= b.len()) {
                                best = Some(lit);
                            }
                        }
                        run.clear();
                        start = i + 1;
                    }
                }
            }
            best
        }
        _ => None,
    }
}

/// The field's necessary literals with a selectivity score, or `None` when
/// the field can be satisfied without any (by absence).
fn field_literals(f: &Field) -> Option<(usize, Vec<Vec<u8>>)> {
    if f.matchers
        .iter()
        .any(|m| matches!(m, Matcher::Exists(false)))
    {
        return None;
    }
    let values: Option<Vec<Vec<u8>>> = f.matchers.iter().map(value_literal).collect();
    if let Some(v) = values {
        let min = v.iter().map(Vec::len).min().unwrap_or(0);
        return Some((1000 + min, v));
    }
    // The last path segment, then the quote closing the key: present in the
    // raw text whether the event nests objects or writes a dotted key.
    let last = f.path.rsplit('.').next().unwrap_or("");
    if last.is_empty() || !plain(last.as_bytes()) {
        return None;
    }
    Some((last.len(), vec![quoted(false, last.as_bytes(), true)]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{parse, PatternLimits};

    fn pf(patterns: &[&str]) -> Option<Prefilter> {
        let ps: Vec<Pattern> = patterns
            .iter()
            .map(|p| parse(p, &PatternLimits::default()).unwrap())
            .collect();
        Prefilter::build(ps.iter())
    }

    #[test]
    fn rejects_events_without_literals() {
        let p = pf(&[r#"{"a":["MISSION"]}"#, r#"{"b":[{"prefix":"SAN "}]}"#]).unwrap();
        assert!(p.may_match(br#"{"a":"MISSION"}"#));
        assert!(p.may_match(br#"{"b":"SAN JOSE"}"#));
        assert!(!p.may_match(br#"{"a":"MISSIONS","b":"XSAN "}"#));
        // an escape could hide a literal
        assert!(p.may_match(br#"{"a":"MISSIO\u004e"}"#));
    }

    #[test]
    fn falls_back_to_key_literals_and_gives_up_on_absence() {
        let p = pf(&[r#"{"x":{"yy":[{"numeric":[">",1]}]}}"#]).unwrap();
        assert!(p.may_match(br#"{"x":{"yy":5}}"#));
        assert!(p.may_match(br#"{"x.yy":5}"#));
        assert!(!p.may_match(br#"{"x":{"y":5}}"#));
        assert!(pf(&[r#"{"a":[{"exists":false}]}"#]).is_none());
    }

    #[test]
    fn wildcard_literals_are_anchored_by_quotes() {
        let p = pf(&[r#"{"a":[{"wildcard":"*/bin/*.jar"}]}"#]).unwrap();
        assert!(p.may_match(br#"{"a":"x/bin/y.jar"}"#));
        assert!(!p.may_match(br#"{"a":"x/bin/y.jars"}"#));
    }
}
