//! Reject events without parsing them: necessary literals, verified in place.
//!
//! Most rules name bytes that any matching event must contain verbatim: an
//! exact string `"MISSION"` (quotes included), a prefix `"SAN `, a suffix
//! `ST"`, the longest literal run of a wildcard, or, at worst, the last key of
//! the field's path followed by a quote (`STREET"`). For every `$or` branch we
//! pick the field whose literals are most selective; the union over all
//! branches goes into one searcher (SIMD "Teddy" for up to 64 literals, an
//! Aho-Corasick DFA beyond), and `equals-ignore-case` literals into an ASCII
//! case-insensitive one. An event containing none of them cannot match and is
//! rejected at memory speed (ripgrep's trick, `PERFORMANCE.md` §1).
//!
//! A hit is then *verified* where it lies: the string token around it must be
//! a key whose last dotted segment is one the literals came from, or a value
//! of such a key (or an array element, which cannot be checked cheaply and is
//! accepted). On citylots, `"DR` (a prefix on `STREET`) also occurs as the
//! `ST_TYPE` value `"DR"`, and exact `MAPBLKLOT` values recur as `BLKLOT`;
//! verification rejects those events without parsing them.
//!
//! Soundness: JSON may spell any character as an escape (`\u0041`), which
//! would hide a literal; an event containing a backslash (one `memchr`) always
//! takes the full path. Without backslashes every quote delimits a string, so
//! the token around a true hit is found exactly. Case-insensitive literals
//! are only necessary in ASCII events (`K`, the Kelvin sign, folds to `k`), so
//! a non-ASCII event passes when such literals exist. A branch with no
//! necessary literal (only `exists:false` fields) disables the prefilter.

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};
use memchr::{memchr, memrchr};

use super::fold;
use crate::pattern::{Field, GlobTok, Literal, Matcher, Pattern};

#[derive(Debug, Clone)]
pub(crate) struct Prefilter {
    mode: Mode,
    literals: usize,
}

#[derive(Debug, Clone)]
enum Mode {
    /// Up to [`TEDDY_MAX`] case-sensitive literals: search the values
    /// themselves, verify each hit's key.
    Direct {
        search: Search,
        /// Last path segments of the fields the literals came from.
        segments: Vec<Vec<u8>>,
    },
    /// Many literals, or case-insensitive ones: search the few keys
    /// (`MAPBLKLOT"`), then test only the value after each against that
    /// key's literals. Cost no longer grows with the number of rules.
    Probe {
        keys: Search,
        /// Indexed by the key literal's pattern id.
        segs: Vec<SegProbe>,
    },
}

#[derive(Debug, Clone)]
struct SegProbe {
    name: Vec<u8>,
    /// A field on this key has no value literal: any value may match.
    any: bool,
    exact: Option<AhoCorasick>,
    folded: Option<AhoCorasick>,
}

/// The fastest searcher for the literal count. Most literals begin with a
/// quote, the most common byte of JSON, which defeats Aho-Corasick's
/// start-byte prefilter; Teddy's multi-byte fingerprints do not care.
#[derive(Debug, Clone)]
enum Search {
    Teddy(packed::Searcher),
    Dfa(AhoCorasick),
}

/// Teddy handles up to 64 literals well; beyond that a DFA wins.
const TEDDY_MAX: usize = 64;

impl Search {
    fn build(lits: &[Vec<u8>]) -> Option<Search> {
        if lits.len() <= TEDDY_MAX {
            let mut b = packed::Config::new().builder();
            b.extend(lits);
            if let Some(t) = b.build() {
                return Some(Search::Teddy(t));
            }
        }
        dfa(lits, false).map(Search::Dfa)
    }

    /// (start, pattern id) of the leftmost hit at or after `from`.
    #[inline]
    fn find_from(&self, h: &[u8], from: usize) -> Option<(usize, usize)> {
        match self {
            Search::Teddy(t) => t.find_in(h, aho_corasick::Span::from(from..h.len())),
            Search::Dfa(ac) => ac.find(Input::new(h).span(from..h.len())),
        }
        .map(|m| (m.start(), m.pattern().as_usize()))
    }
}

fn dfa(lits: &[Vec<u8>], ascii_case_insensitive: bool) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .ascii_case_insensitive(ascii_case_insensitive)
        .build(lits)
        .ok()
}

/// A necessary literal and whether it is to be found ignoring ASCII case.
type Lit = (Vec<u8>, bool);

/// What one `$or` branch contributes: its chosen field's last path segment
/// and that field's value literals (empty: only the key is necessary).
type Choice = (Vec<u8>, Vec<Lit>);

impl Prefilter {
    /// `None` when some branch of some rule has no necessary literal.
    pub(crate) fn build<'a>(patterns: impl Iterator<Item = &'a Pattern>) -> Option<Prefilter> {
        let mut choices: Vec<Choice> = Vec::new();
        for p in patterns {
            for sp in &p.subpatterns {
                let (_, lits, seg) = sp
                    .fields
                    .iter()
                    .filter_map(field_literals)
                    .max_by_key(|(score, _, _)| *score)?;
                choices.push((seg, lits));
            }
        }
        if choices.is_empty() {
            return None;
        }
        let values = choices.iter().map(|c| c.1.len()).sum::<usize>();
        let direct =
            values + choices.len() <= TEDDY_MAX && choices.iter().all(|c| c.1.iter().all(|l| !l.1));
        if direct {
            let mut lits: Vec<Vec<u8>> = Vec::new();
            for (seg, values) in &choices {
                if values.is_empty() {
                    lits.push(quoted(false, seg, true));
                }
                lits.extend(values.iter().map(|l| l.0.clone()));
            }
            lits.sort();
            lits.dedup();
            let mut segments: Vec<Vec<u8>> = choices.into_iter().map(|c| c.0).collect();
            segments.sort();
            segments.dedup();
            return Some(Prefilter {
                literals: lits.len(),
                mode: Mode::Direct {
                    search: Search::build(&lits)?,
                    segments,
                },
            });
        }
        // One probe per key segment.
        let mut names: Vec<Vec<u8>> = choices.iter().map(|c| c.0.clone()).collect();
        names.sort();
        names.dedup();
        if names.iter().any(|n| n.is_empty() || !plain(n)) {
            return None;
        }
        let mut segs = Vec::with_capacity(names.len());
        let mut literals = 0;
        for name in &names {
            let mut any = false;
            let mut exact: Vec<Vec<u8>> = Vec::new();
            let mut folded: Vec<Vec<u8>> = Vec::new();
            for (_, lits) in choices.iter().filter(|c| &c.0 == name) {
                any |= lits.is_empty();
                for (l, ci) in lits {
                    if *ci {
                        folded.push(l.clone());
                    } else {
                        exact.push(l.clone());
                    }
                }
            }
            for v in [&mut exact, &mut folded] {
                v.sort();
                v.dedup();
            }
            literals += exact.len() + folded.len();
            segs.push(SegProbe {
                name: name.clone(),
                any,
                exact: if exact.is_empty() {
                    None
                } else {
                    Some(dfa(&exact, false)?)
                },
                folded: if folded.is_empty() {
                    None
                } else {
                    Some(dfa(&folded, true)?)
                },
            });
        }
        let keys: Vec<Vec<u8>> = names.iter().map(|n| quoted(false, n, true)).collect();
        Some(Prefilter {
            literals: literals + keys.len(),
            mode: Mode::Probe {
                keys: Search::build(&keys)?,
                segs,
            },
        })
    }

    /// False only when the event cannot match any rule.
    #[inline]
    pub(crate) fn may_match(&self, event: &[u8]) -> bool {
        if memchr(b'\\', event).is_some() {
            return true;
        }
        match &self.mode {
            Mode::Direct { search, segments } => {
                let mut from = 0;
                while let Some((at, _)) = search.find_from(event, from) {
                    if verify(event, at, segments) {
                        return true;
                    }
                    from = at + 1;
                }
                false
            }
            Mode::Probe { keys, segs } => {
                let mut from = 0;
                while let Some((at, id)) = keys.find_from(event, from) {
                    from = at + 1;
                    let seg = &segs[id];
                    if probe(event, at, seg) {
                        return true;
                    }
                }
                false
            }
        }
    }

    pub(crate) fn literals(&self) -> usize {
        self.literals
    }
}

/// A key literal `seg"` was found at `at`: whether it ends a key of that
/// segment whose value may satisfy one of the segment's literals.
fn probe(e: &[u8], at: usize, seg: &SegProbe) -> bool {
    // The segment must start the key or follow a dot.
    if at == 0 || !matches!(e[at - 1], b'"' | b'.') {
        return false;
    }
    let close = at + seg.name.len();
    let Some(colon) = e[close + 1..]
        .iter()
        .position(|b| !is_ws(*b))
        .map(|i| close + 1 + i)
    else {
        return false;
    };
    if e[colon] != b':' {
        return false;
    }
    let Some(v) = e[colon + 1..]
        .iter()
        .position(|b| !is_ws(*b))
        .map(|i| colon + 1 + i)
    else {
        return false;
    };
    match e[v] {
        // Elements are not examined one by one.
        b'[' => true,
        b'"' => {
            if seg.any {
                return true;
            }
            let Some(end) = memchr(b'"', &e[v + 1..]).map(|i| v + 2 + i) else {
                return false;
            };
            let token = &e[v..end];
            seg.exact.as_ref().is_some_and(|ac| ac.is_match(token))
                || seg
                    .folded
                    .as_ref()
                    .is_some_and(|ac| !token.is_ascii() || ac.is_match(token))
        }
        // Numbers, literals: only a field without value literals can match.
        _ => seg.any,
    }
}

/// Whether the hit at `at` lies in a key with a relevant last segment, or in
/// a value (or array element) of such a key. See the module docs.
fn verify(e: &[u8], at: usize, segments: &[Vec<u8>]) -> bool {
    let open = if e[at] == b'"' {
        at
    } else {
        match memrchr(b'"', &e[..at]) {
            Some(o) => o,
            None => return false,
        }
    };
    let close = match memchr(b'"', &e[open + 1..]) {
        Some(c) => open + 1 + c,
        None => return false,
    };
    if close < at {
        // Not inside a string: no string matcher can match here.
        return false;
    }
    let next = e[close + 1..]
        .iter()
        .position(|b| !is_ws(*b))
        .map(|i| close + 1 + i);
    if next.is_some_and(|i| e[i] == b':') {
        return relevant(&e[open + 1..close], segments);
    }
    let Some(prev) = e[..open].iter().rposition(|b| !is_ws(*b)) else {
        return false;
    };
    match e[prev] {
        b':' => {
            let Some(q) = e[..prev].iter().rposition(|b| !is_ws(*b)) else {
                return false;
            };
            if e[q] != b'"' {
                return false;
            }
            match memrchr(b'"', &e[..q]) {
                Some(ks) => relevant(&e[ks + 1..q], segments),
                None => false,
            }
        }
        b'[' | b',' => true,
        _ => false,
    }
}

fn relevant(key: &[u8], segments: &[Vec<u8>]) -> bool {
    segments
        .iter()
        .any(|s| key.ends_with(s) && (key.len() == s.len() || key[key.len() - s.len() - 1] == b'.'))
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
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

fn value_literal(m: &Matcher) -> Option<Lit> {
    let cs = |v: Vec<u8>| Some((v, false));
    let ci = |s: &str, pre: bool, post: bool| {
        let f = fold(s);
        (!f.is_empty() && plain(&f)).then(|| (quoted(pre, &f, post), true))
    };
    match m {
        Matcher::Exact(Literal::String(s)) if plain(s.as_bytes()) => {
            cs(quoted(true, s.as_bytes(), true))
        }
        Matcher::Prefix(s) if !s.is_empty() && plain(s.as_bytes()) => {
            cs(quoted(true, s.as_bytes(), false))
        }
        Matcher::Suffix(s) if !s.is_empty() && plain(s.as_bytes()) => {
            cs(quoted(false, s.as_bytes(), true))
        }
        Matcher::EqualsIgnoreCase(s) => ci(s, true, true),
        Matcher::PrefixIgnoreCase(s) => ci(s, true, false),
        Matcher::SuffixIgnoreCase(s) => ci(s, false, true),
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
            best.map(|b| (b, false))
        }
        _ => None,
    }
}

/// The field's necessary literals with a selectivity score and the path's
/// last segment, or `None` when the field can be satisfied without any (by
/// absence).
fn field_literals(f: &Field) -> Option<(usize, Vec<Lit>, Vec<u8>)> {
    if f.matchers
        .iter()
        .any(|m| matches!(m, Matcher::Exists(false)))
    {
        return None;
    }
    // The last path segment: present in the raw text whether the event nests
    // objects or writes a dotted key.
    let last = f.path.rsplit('.').next().unwrap_or("").as_bytes().to_vec();
    let values: Option<Vec<Lit>> = f.matchers.iter().map(value_literal).collect();
    if let Some(v) = values {
        let min = v.iter().map(|l| l.0.len()).min().unwrap_or(0);
        return Some((1000 + min, v, last));
    }
    if last.is_empty() || !plain(&last) {
        return None;
    }
    // No value literal: the key itself (`seg"`) is what is necessary.
    Some((last.len(), Vec::new(), last))
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
    fn hits_are_verified_against_their_key() {
        let p = pf(&[
            r#"{"p":{"STREET":[{"prefix":"DR"}]}}"#,
            r#"{"MAPBLKLOT":["3745012"]}"#,
        ])
        .unwrap();
        // the literal occurs, but under another key
        assert!(!p.may_match(br#"{"p":{"STREET":"X","ST_TYPE":"DR"}}"#));
        assert!(!p.may_match(br#"{"BLKLOT":"3745012","MAPBLKLOT":"1"}"#));
        assert!(!p.may_match(br#"{"p":{"x":{"DRIVE":1}}}"#));
        // under the right key, nested, dotted, spaced or in an array
        assert!(p.may_match(br#"{"p":{"STREET":"DRUMM"}}"#));
        assert!(p.may_match(br#"{"p.STREET" :  "DRUMM"}"#));
        assert!(p.may_match(br#"{"MAPBLKLOT":["1","3745012"]}"#));
        assert!(p.may_match(br#"{"BLKLOT":"3745012","x":{"MAPBLKLOT":"3745012"}}"#));
    }

    #[test]
    fn many_literals_probe_the_keys() {
        let rules: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"p":{{"MAPBLKLOT":["{i:07}"]}}}}"#))
            .chain([r#"{"q":{"n":[{"numeric":[">",5]}]}}"#.to_string()])
            .collect();
        let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
        let p = pf(&refs).unwrap();
        assert!(matches!(p.mode, Mode::Probe { .. }));
        assert!(p.may_match(br#"{"p":{"BLKLOT":"x","MAPBLKLOT":"0000150"}}"#));
        assert!(p.may_match(br#"{"p.MAPBLKLOT" : ["zz"]}"#));
        assert!(!p.may_match(br#"{"p":{"BLKLOT":"0000150","MAPBLKLOT":"0000250"}}"#));
        assert!(!p.may_match(br#"{"p":{"XMAPBLKLOT":"0000150"}}"#));
        // a numeric field: any value of its key
        assert!(p.may_match(br#"{"q":{"n":1}}"#));
        assert!(!p.may_match(br#"{"q":{"m":1}}"#));
    }

    #[test]
    fn case_insensitive_literals() {
        let p = pf(&[r#"{"s":[{"equals-ignore-case":"Mission"}]}"#]).unwrap();
        assert!(p.may_match(br#"{"s":"MISSION"}"#));
        assert!(!p.may_match(br#"{"s":"MISSIONS"}"#));
        // the long s folds to s: non-ASCII events are not judged by ASCII literals
        assert!(p.may_match("{\"s\":\"MIS\u{17f}ION\"}".as_bytes()));
    }

    #[test]
    fn wildcard_literals_are_anchored_by_quotes() {
        let p = pf(&[r#"{"a":[{"wildcard":"*/bin/*.jar"}]}"#]).unwrap();
        assert!(p.may_match(br#"{"a":"x/bin/y.jar"}"#));
        assert!(!p.may_match(br#"{"a":"x/bin/y.jars"}"#));
    }
}
