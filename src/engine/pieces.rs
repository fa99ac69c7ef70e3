//! Wildcards searched by their literal pieces, for the sets a byte DFA
//! cannot hold.
//!
//! A wildcard `h*m1*m2*t` matches a value that starts with `h`, ends with
//! `t`, and holds `m1` then `m2` in between, without overlaps; the leftmost
//! occurrence of each middle piece is always the best choice, so one
//! forward pass of substring searches decides it. Every piece must occur in
//! a matching value, so each glob is filed under one *key* piece, the one
//! the fewest other globs share (then the longest), and one Aho-Corasick
//! pass over the value finds every key that occurs. Only the globs filed
//! under those keys are confirmed, each at most once per value, so the cost
//! per value is one search plus the candidates it turns up, whatever the
//! number of rules.
//!
//! # Why not the DFA, or a lazy one
//!
//! The subset construction over such globs must remember how far each one
//! got, which is exponential in the number of globs on a path: ten rules
//! `*abc*def*` took 32 s and 0.9 GB, fifty 2.2 GB, a thousand exhausted
//! memory. A lazy DFA (states built on demand into a bounded per-worker
//! cache) only moves that cost to matching: values that mix pieces of many
//! rules keep visiting new states, each built from thousands of positions
//! once the cache thrashes, so the cost per byte grows with the rule count.
//! Here construction is linear in the pieces' bytes (1,000 rules of two or
//! three `*` on one field: see `benches/README.md`, "Compiling many
//! wildcards") and a value costs one Aho-Corasick pass plus its candidates.
//!
//! The engine keeps the DFA wherever it stays small (one attempt within a
//! small budget, `mod.rs`), since a DFA step per byte beats a search plus
//! confirmations; only the globs with a literal after a `*` move here when
//! the attempt runs out, while exact and prefix globs stay in the DFA.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use memchr::memmem::Finder;

use super::dfa::{Action, Exceeded, Over};
use crate::pattern::GlobTok;

/// Whether a glob has a literal byte after a `*`, the shape that makes a
/// DFA remember progress: what [`Pieces`] can take over. Exact and prefix
/// globs (and `*` alone) stay in the DFA, whose size they keep linear.
pub(crate) fn literal_after_star(tokens: &[GlobTok]) -> bool {
    tokens
        .iter()
        .skip_while(|t| **t != GlobTok::Star)
        .any(|t| matches!(t, GlobTok::Byte(_)))
}

/// The wildcards of one path (and direction) that a DFA would blow up on.
#[derive(Debug, Clone)]
pub(crate) struct Pieces {
    /// One pattern per distinct key piece; standard semantics, searched
    /// with overlaps so that keys inside other keys are seen.
    keys: AhoCorasick,
    /// Globs filed under key `k`: `key_globs[key_at[k]..key_at[k + 1]]`.
    key_at: Vec<u32>,
    key_globs: Vec<u32>,
    globs: Vec<PieceGlob>,
    /// Where this matcher's keys start in [`PieceScratch::seen`].
    base: usize,
}

#[derive(Debug, Clone)]
struct PieceGlob {
    /// The literal before the first `*`: the value starts with it.
    head: Box<[u8]>,
    /// The literal after the last `*`: the value ends with it.
    tail: Box<[u8]>,
    /// The literals between stars, in order.
    middle: Box<[Finder<'static>]>,
    /// The shortest value that can match: all pieces back to back.
    min_len: usize,
    action: Action,
}

impl PieceGlob {
    /// `tokens` hold at least one star ([`literal_after_star`]).
    fn new(tokens: &[GlobTok], action: Action) -> PieceGlob {
        let pieces = split(tokens);
        debug_assert!(pieces.len() >= 2, "a glob without a star is exact");
        let last = pieces.len().saturating_sub(1).max(1);
        let piece = |i: usize| pieces.get(i).map_or(&[][..], Vec::as_slice);
        PieceGlob {
            head: piece(0).into(),
            tail: piece(last).into(),
            middle: pieces
                .get(1..last)
                .unwrap_or_default()
                .iter()
                .filter(|m| !m.is_empty())
                .map(|m| Finder::new(m).into_owned())
                .collect(),
            min_len: pieces.iter().map(Vec::len).sum(),
            action,
        }
    }

    /// Whether the whole value matches; see the module docs.
    #[inline]
    fn matches(&self, s: &[u8]) -> bool {
        if s.len() < self.min_len || !s.starts_with(&self.head) || !s.ends_with(&self.tail) {
            return false;
        }
        let mut rest = &s[self.head.len()..s.len() - self.tail.len()];
        for f in self.middle.iter() {
            match f.find(rest) {
                Some(at) => rest = &rest[at + f.needle().len()..],
                None => return false,
            }
        }
        true
    }

    fn heap_bytes(&self) -> usize {
        // A finder keeps its needle and a few hundred bytes of tables.
        self.head.len()
            + self.tail.len()
            + self
                .middle
                .iter()
                .map(|f| f.needle().len() + std::mem::size_of::<Finder<'static>>())
                .sum::<usize>()
    }
}

/// The literals between the stars of a glob: one more than it has stars.
fn split(tokens: &[GlobTok]) -> Vec<Vec<u8>> {
    let mut pieces = vec![Vec::new()];
    for t in tokens {
        match t {
            GlobTok::Byte(b) => {
                if let Some(p) = pieces.last_mut() {
                    p.push(*b);
                }
            }
            GlobTok::Star => pieces.push(Vec::new()),
        }
    }
    pieces
}

/// Per-worker scratch of every [`Pieces`] of an automaton: which keys the
/// value being matched has already turned up (an epoch per key, so that
/// nothing is cleared per value).
#[derive(Debug, Default)]
pub(crate) struct PieceScratch {
    seen: Vec<u32>,
    epoch: u32,
}

impl PieceScratch {
    /// Scratch for an automaton whose piece matchers hold `keys` keys.
    pub(crate) fn new(keys: usize) -> PieceScratch {
        PieceScratch {
            seen: vec![0; keys],
            epoch: 0,
        }
    }

    fn begin(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.seen.fill(0);
            self.epoch = 1;
        }
        self.epoch
    }
}

/// The most bytes an Aho-Corasick DFA over the keys may take before the
/// (slower, smaller) contiguous NFA is used instead.
const KEY_DFA_BYTES: usize = 16 << 20;

impl Pieces {
    /// Files `globs` (each with a [`literal_after_star`]) under their keys.
    /// Their keys take ids `base..base + keys()` in [`PieceScratch`]. Fails
    /// when the matcher would take more than `bytes`; the returned size is
    /// what it keeps.
    pub(crate) fn build(
        globs: &[(Vec<GlobTok>, Action)],
        base: usize,
        bytes: usize,
    ) -> Result<(Pieces, usize), Over> {
        let over = || Over {
            exceeded: Exceeded::Bytes,
            glob: globs.len().saturating_sub(1),
        };
        let split: Vec<Vec<Vec<u8>>> = globs.iter().map(|(t, _)| split(t)).collect();
        // How many globs hold each piece: a piece many share is a poor key
        // (`arn:aws:...:` of a hundred ARN wildcards), a rare one is a good
        // one (their `:stack/<name>/`).
        let mut shared: std::collections::HashMap<&[u8], u32> = Default::default();
        for pieces in &split {
            let mut distinct: Vec<&[u8]> = pieces
                .iter()
                .filter(|p| !p.is_empty())
                .map(Vec::as_slice)
                .collect();
            distinct.sort_unstable();
            distinct.dedup();
            for p in distinct {
                *shared.entry(p).or_default() += 1;
            }
        }
        let mut key_ids: std::collections::HashMap<&[u8], u32> = Default::default();
        let mut keys: Vec<&[u8]> = Vec::new();
        let mut filed: Vec<(u32, u32)> = Vec::with_capacity(globs.len());
        for (g, pieces) in split.iter().enumerate() {
            let key = pieces
                .iter()
                .filter(|p| !p.is_empty())
                .min_by_key(|p| (shared[p.as_slice()], std::cmp::Reverse(p.len())))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let id = *key_ids.entry(key).or_insert_with(|| {
                keys.push(key);
                keys.len() as u32 - 1
            });
            filed.push((id, g as u32));
        }
        filed.sort_unstable();
        let mut key_at = vec![0u32; keys.len() + 1];
        for &(k, _) in &filed {
            key_at[k as usize + 1] += 1;
        }
        for k in 0..keys.len() {
            key_at[k + 1] += key_at[k];
        }
        let key_globs: Vec<u32> = filed.iter().map(|&(_, g)| g).collect();

        // A DFA over the keys has one row per trie node, at most one per key
        // byte, of one column per byte class (a class per byte the keys
        // name, one for the rest), rounded up to a power of two: use it
        // where that is small.
        let key_bytes: usize = keys.iter().map(|k| k.len()).sum();
        let mut named = [false; 256];
        for k in &keys {
            for &b in k.iter() {
                named[b as usize] = true;
            }
        }
        let classes = named.iter().filter(|n| **n).count() + 1;
        let dfa_bound = (key_bytes + 1).saturating_mul(classes.next_power_of_two() * 4);
        let kind = if dfa_bound <= KEY_DFA_BYTES.min(bytes / 2) {
            AhoCorasickKind::DFA
        } else {
            AhoCorasickKind::ContiguousNFA
        };
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(kind))
            .build(&keys)
            .map_err(|_| over())?;
        let pieces = Pieces {
            keys: searcher,
            key_at,
            key_globs,
            globs: globs
                .iter()
                .map(|(t, action)| PieceGlob::new(t, *action))
                .collect(),
            base,
        };
        let size = pieces.heap_bytes();
        if size > bytes {
            return Err(over());
        }
        Ok((pieces, size))
    }

    /// How many keys this matcher holds in [`PieceScratch`].
    pub(crate) fn keys(&self) -> usize {
        self.key_at.len() - 1
    }

    /// How many globs it holds.
    pub(crate) fn globs(&self) -> usize {
        self.globs.len()
    }

    fn heap_bytes(&self) -> usize {
        self.keys.memory_usage()
            + std::mem::size_of_val(self.key_at.as_slice())
            + std::mem::size_of_val(self.key_globs.as_slice())
            + self
                .globs
                .iter()
                .map(|g| std::mem::size_of::<PieceGlob>() + g.heap_bytes())
                .sum::<usize>()
    }

    /// Appends the fields of the globs `s` matches to `hits`, and the
    /// anything-but matchers they exclude to `excl`. Allocates nothing once
    /// the vectors have grown. Kept out of line: inlined into the matcher's
    /// leaf handler, where most paths have no pieces, it slowed the others
    /// down.
    #[inline(never)]
    pub(crate) fn find_into(
        &self,
        s: &[u8],
        scratch: &mut PieceScratch,
        hits: &mut Vec<u32>,
        excl: &mut Vec<u32>,
    ) {
        self.find(s, scratch, |a| {
            match a {
                Action::Field(f) => hits.push(f),
                Action::Exclude(x) => excl.push(x),
            }
            false
        });
    }

    /// Calls `hit` with the action of every glob that `s` matches, until it
    /// returns true. Allocates nothing.
    #[inline]
    fn find(&self, s: &[u8], scratch: &mut PieceScratch, mut hit: impl FnMut(Action) -> bool) {
        let epoch = scratch.begin();
        let seen = &mut scratch.seen[self.base..self.base + self.keys()];
        for m in self.keys.find_overlapping_iter(s) {
            let k = m.pattern().as_usize();
            if seen[k] == epoch {
                continue;
            }
            seen[k] = epoch;
            let filed = &self.key_globs[self.key_at[k] as usize..self.key_at[k + 1] as usize];
            for &g in filed {
                let g = &self.globs[g as usize];
                if g.matches(s) && hit(g.action) {
                    return;
                }
            }
        }
    }

    /// Whether `s` satisfies some field here (anything-but exclusions do
    /// not count): the prefilter's probe. Out of line, as
    /// [`find_into`](Self::find_into).
    #[inline(never)]
    pub(crate) fn any_field(&self, s: &[u8], scratch: &mut PieceScratch) -> bool {
        let mut any = false;
        self.find(s, scratch, |a| {
            any = matches!(a, Action::Field(_));
            any
        });
        any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::wildcard::{glob_matches, parse_wildcard};

    fn build(globs: &[&str]) -> Pieces {
        let globs: Vec<_> = globs
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let toks = parse_wildcard(g).unwrap().tokens;
                assert!(literal_after_star(&toks), "{g}");
                (toks, Action::Field(i as u32))
            })
            .collect();
        Pieces::build(&globs, 0, usize::MAX).unwrap().0
    }

    fn hits(p: &Pieces, s: &str) -> Vec<u32> {
        let mut scratch = PieceScratch::new(p.keys());
        let mut out = Vec::new();
        p.find(s.as_bytes(), &mut scratch, |a| {
            if let Action::Field(f) = a {
                out.push(f);
            }
            false
        });
        out.sort_unstable();
        out
    }

    #[test]
    fn which_globs_move_here() {
        let shape = |g: &str| literal_after_star(&parse_wildcard(g).unwrap().tokens);
        assert!(shape("*a"));
        assert!(shape("a*b"));
        assert!(shape("*a*"));
        assert!(shape("a*b*c"));
        assert!(!shape("abc"));
        assert!(!shape("ab*"));
        assert!(!shape("*"));
        assert!(!shape(""));
    }

    /// The edge cases of confirming a candidate: pieces that must not
    /// overlap, head and tail that share bytes, repeated keys.
    #[test]
    fn pieces_agree_with_the_reference_matcher() {
        let globs = [
            "*ab*ba",
            "ab*ba",
            "a*a",
            "*aa*aa*",
            "x*y*z",
            "*k17x*q4z*",
            "*foo*bar*baz",
            "*ab",
            "a*b*c",
            "*é*🚀",
            "\\**\\*",
            "*a*b*a*b*",
        ];
        let p = build(&globs);
        let parsed: Vec<_> = globs.iter().map(|g| parse_wildcard(g).unwrap()).collect();
        let values = [
            "",
            "a",
            "aa",
            "aaa",
            "aba",
            "abba",
            "abxba",
            "ab",
            "ba",
            "aaaa",
            "aaaaa",
            "aaXaa",
            "xyz",
            "xzy",
            "x_y_z_",
            "k17xq4z",
            "--k17x--q4z--",
            "q4zk17x",
            "foobarbaz",
            "foo-bar-baz",
            "foobaz",
            "barfoobaz",
            "abc",
            "aXbYc",
            "acb",
            "é🚀",
            "xé-🚀",
            "**",
            "*x*",
            "abab",
            "aabb",
            "ababab",
            "cab",
        ];
        for v in values {
            let want: Vec<u32> = parsed
                .iter()
                .enumerate()
                .filter(|(_, g)| glob_matches(g, v.as_bytes()))
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(hits(&p, v), want, "value {v:?}");
        }
    }

    /// Keys are the rarest pieces: a head every glob shares is not one.
    #[test]
    fn keys_avoid_shared_pieces() {
        let globs: Vec<String> = (0..100)
            .map(|i| format!("arn:aws:cloudformation:us-east-1:*:stack/s{i}/*"))
            .collect();
        let refs: Vec<&str> = globs.iter().map(String::as_str).collect();
        let p = build(&refs);
        assert_eq!(p.keys(), 100);
        assert_eq!(
            hits(&p, "arn:aws:cloudformation:us-east-1:1:stack/s42/x"),
            [42]
        );
        assert!(hits(&p, "arn:aws:cloudformation:us-east-2:1:stack/s42/x").is_empty());
    }

    #[test]
    fn anything_but_and_many_values_share_one_scratch() {
        let globs = vec![
            (parse_wildcard("*x*").unwrap().tokens, Action::Exclude(3)),
            (parse_wildcard("*y").unwrap().tokens, Action::Field(1)),
        ];
        let (p, size) = Pieces::build(&globs, 2, usize::MAX).unwrap();
        assert!(size > 0);
        let mut scratch = PieceScratch::new(2 + p.keys());
        for _ in 0..3 {
            let mut got = Vec::new();
            p.find(b"xy", &mut scratch, |a| {
                got.push(a);
                false
            });
            got.sort_by_key(|a| format!("{a:?}"));
            assert_eq!(got, [Action::Exclude(3), Action::Field(1)]);
            assert!(p.any_field(b"ay", &mut scratch));
            assert!(!p.any_field(b"xa", &mut scratch));
        }
        assert!(Pieces::build(&globs, 0, 10).is_err());
    }
}
