//! Reject events without parsing them: necessary literals, verified in place.
//!
//! Most rules name bytes that any matching event must contain verbatim: an
//! exact string `"MISSION"` (quotes included), a prefix `"SAN `, a suffix
//! `ST"`, the longest literal run of a wildcard, or, at worst, the last key of
//! the field's path followed by a quote (`STREET"`). For every `$or` branch we
//! pick the field whose literals are most selective; the union over all
//! branches goes into one searcher (SIMD "Teddy" for up to 64 literals, an
//! Aho-Corasick DFA beyond, a SIMD byte search for a rare byte that a few
//! key probes share). An event containing none of them cannot match and is
//! rejected at memory speed (ripgrep's trick, `PERFORMANCE.md` §1).
//! Case-insensitive and very short literals are not searched for: their
//! fields' keys are, and the value after each is judged by the path's own
//! automata (`Mode::Probe`). So are literals that share no rare byte when
//! their keys do: a needle search for the keys' byte is three times faster
//! than Teddy over the values (see [`Prefilter::build`]).
//!
//! A hit is then *verified* where it lies: the string token around it must be
//! a key whose last dotted segment is one the literals came from, or a value
//! of such a key (or an array element, which cannot be checked cheaply and is
//! accepted). On citylots, `"DR` (a prefix on `STREET`) also occurs as the
//! `ST_TYPE` value `"DR"`, and exact `MAPBLKLOT` values recur as `BLKLOT`;
//! verification rejects those events without parsing them.
//!
//! Soundness: JSON may spell any character as an escape (`\u0041`), which
//! would hide a literal. Without backslashes every quote delimits a string,
//! so the token around a true hit is found exactly (with one, hits may be
//! misjudged, which only matters for a rejection). So an event containing a
//! backslash (one `memchr`, run only when the search found nothing) is
//! searched again in a copy with its escapes decoded, when they are all
//! `\uXXXX` of a character that needs no escape, or `\/`, as producers write
//! non-ASCII text, HTML-sensitive characters or slashes: the copy is an
//! escape-free event with the same strings, so the search over it is exact
//! (escaped events otherwise took the full path: a third of the events of
//! the `escaped` benchmark data, which cost the exact rule set 1.7 times its
//! instructions on compact data). Any other escape (`\"`, `\\`, `\n`, ...)
//! sends the event to the full path. The buffer skip
//! ([`Prefilter::skip_lines`]) first passes over the escapes that provably
//! hide nothing (see `direct_stop` and `probe_stop`), and decodes only the
//! lines where one may. A branch with no necessary literal (only
//! `exists:false` fields) disables the prefilter.

use aho_corasick::packed;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Input, MatchKind};
use memchr::{memchr, memchr2, memchr3, memrchr};

use crate::flatten::plain_run;
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
        /// The bytes the literals hold: an escape that stands for none of
        /// them cannot hide a literal.
        bytes: ByteSet,
        /// The longest literal's length: how far around an escape a
        /// literal it hides may reach.
        longest: usize,
    },
    /// Many literals, or string operators without literals: search the few
    /// keys (`MAPBLKLOT"`), then run the real string automaton of every path
    /// ending in that key over the value after each. Cost no longer grows
    /// with the number of rules.
    Probe {
        keys: Search,
        /// Indexed by the key literal's pattern id.
        segs: Vec<SegProbe>,
        /// The bytes the keys hold, with the quote and the dot that may
        /// come before a key's last segment: an escape that stands for
        /// none of them cannot hide a key.
        bytes: ByteSet,
    },
}

#[derive(Debug, Clone)]
struct SegProbe {
    name: Vec<u8>,
    /// A field on this key has no string matcher: any value may match.
    any: bool,
    /// Paths ending in this key whose string automata judge the value.
    paths: Vec<u32>,
}

/// The fastest searcher for the literals. Most literals begin with a
/// quote, the most common byte of JSON, which defeats Aho-Corasick's
/// start-byte prefilter; Teddy's multi-byte fingerprints do not care. Key
/// probes (`STREET"`, `ST_TYPE"`) usually share a byte that is rare in
/// JSON (`S`): then one pass over the event looks for it and for the
/// backslash, and each occurrence is compared with the keys that hold it
/// (callgrind, citylots events `equals_ignore_case` rejects: 2,413
/// instructions each with Teddy and a backslash pass, 1,336 with this pass
/// by `memchr2`, 1,187 with 64-byte AVX2 masks). (For one or two
/// literals, `memmem` passes in document order were tried: no faster on
/// `equals_ignore_case`'s two key probes, measured 2026-12-03.) Values
/// that share such a byte (`"X0000001"`, `"X0000002"`, ...) are searched
/// by it too, up to [`VALUE_NEEDLE_MAX`] of them: events that hold none of
/// them cost 1,159 instructions instead of 1,851 (a third with escapes,
/// `absent-10`, callgrind); no benchmark rule set of another kind has one.
#[derive(Debug, Clone)]
enum Search {
    Teddy(packed::Searcher),
    Dfa(AhoCorasick),
    Needle(Needle),
}

/// See [`Search`]: one byte every literal holds, and where.
#[derive(Debug, Clone)]
struct Needle {
    byte: u8,
    lits: Vec<NeedleLit>,
    /// The CPU has AVX2 and BMI1 (detected when the needle is built): the
    /// search runs 64 bytes a step (`x86::needle_avx2`).
    #[cfg_attr(
        not(all(target_arch = "x86_64", target_feature = "sse2")),
        allow(dead_code)
    )]
    avx2: bool,
}

#[derive(Debug, Clone)]
struct NeedleLit {
    id: usize,
    /// Where the needle first occurs in the literal: a literal starting at
    /// `s` puts the needle at `s + offset`, and every needle position is
    /// visited.
    offset: usize,
    /// The literal's first eight bytes (fewer: zero-padded) as a
    /// little-endian word, and the mask of the bytes it has: most
    /// occurrences of the needle are rejected by one load and compare
    /// instead of a call to `bcmp`.
    head: u64,
    mask: u64,
    lit: Vec<u8>,
}

impl NeedleLit {
    #[inline(always)]
    fn at(&self, h: &[u8], start: usize) -> bool {
        match h.get(start..start + 8) {
            Some(w) => {
                let w = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
                w & self.mask == self.head
                    && (self.lit.len() <= 8 || h[start + 8..].starts_with(&self.lit[8..]))
            }
            None => h[start..].starts_with(&self.lit),
        }
    }
}

/// What a search over a whole event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A hit the caller accepted.
    Hit,
    /// A backslash (at this index), before any accepted hit: the event
    /// must take the full path (see the module docs).
    Backslash(usize),
    /// Nothing; `escape_free` when the search also saw every byte and
    /// found no backslash.
    Nothing { escape_free: bool },
}

/// Shortest literal worth searching for directly; shorter ones (`7"` from
/// the wildcard `2*0*1*7`) hit too often, and probing the key is faster.
const DIRECT_MIN: usize = 4;

/// Teddy handles up to 64 literals well; beyond that a DFA wins.
const TEDDY_MAX: usize = 64;

/// Most literals a needle search compares at each occurrence.
const NEEDLE_MAX: usize = 4;

/// Most value literals a needle search compares at each occurrence: values
/// that share a rare byte are expected to be absent from most events (and
/// [`Prefilter::skip_lines`] searches whole buffers for them), so
/// occurrences of the needle are rare and comparing many literals at each
/// costs little.
const VALUE_NEEDLE_MAX: usize = TEDDY_MAX;

/// How rare a byte is in JSON events, lower is rarer: a guess good enough
/// to pick a needle (structure, digits and lower-case letters are common).
fn commonness(b: u8) -> u32 {
    match b {
        b'"' | b',' | b':' | b' ' | b'.' | b'-' | b'[' | b']' | b'{' | b'}' => 9,
        b'0'..=b'9' => 8,
        b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' => 6,
        b'a'..=b'z' => 4,
        b'A' | b'E' | b'I' | b'O' | b'N' => 3,
        b'A'..=b'Z' => 2,
        _ => 1,
    }
}

impl Search {
    fn build(lits: &[Vec<u8>], keys: bool) -> Option<Search> {
        let max = if keys { NEEDLE_MAX } else { VALUE_NEEDLE_MAX };
        if let Some(n) = Needle::build(lits, max) {
            return Some(Search::Needle(n));
        }
        if lits.len() <= TEDDY_MAX {
            let mut b = packed::Config::new().builder();
            b.extend(lits);
            if let Some(t) = b.build() {
                return Some(Search::Teddy(t));
            }
        }
        dfa(lits).map(Search::Dfa)
    }

    /// Where the first occurrence of a literal in `h` starts.
    fn first(&self, h: &[u8]) -> Option<usize> {
        match self {
            Search::Teddy(t) => t.find(h).map(|m| m.start()),
            Search::Dfa(ac) => ac.find(h).map(|m| m.start()),
            Search::Needle(n) => n
                .lits
                .iter()
                .filter_map(|l| memchr::memmem::find(h, &l.lit))
                .min(),
        }
    }

    /// Calls `hit(start, literal id)` for occurrences of the literals in `h`
    /// until it returns true.
    #[inline]
    fn any_hit(&self, h: &[u8], hit: impl FnMut(usize, usize) -> bool) -> Found {
        match self {
            Search::Needle(n) => n.any_hit(h, hit),
            Search::Teddy(_) | Search::Dfa(_) => self.leftmost_hits(h, hit),
        }
    }

    /// [`any_hit`](Self::any_hit) by Teddy or Aho-Corasick: leftmost
    /// matches, the next search starting a byte after the last one's start
    /// (so that overlapping occurrences are seen too).
    #[inline]
    fn leftmost_hits(&self, h: &[u8], mut hit: impl FnMut(usize, usize) -> bool) -> Found {
        let mut from = 0;
        loop {
            let m = match self {
                Search::Teddy(t) => t.find_in(h, aho_corasick::Span::from(from..h.len())),
                Search::Dfa(ac) => ac.find(Input::new(h).span(from..h.len())),
                // Not reached: `any_hit` sends the needle to its own search.
                Search::Needle(_) => None,
            };
            let Some(m) = m else {
                return Found::Nothing { escape_free: false };
            };
            if hit(m.start(), m.pattern().as_usize()) {
                return Found::Hit;
            }
            from = m.start() + 1;
        }
    }
}

impl Needle {
    /// [`Search::any_hit`] by the needle: each occurrence of it (or of a
    /// backslash, which ends the search) is compared with every literal at
    /// that literal's offset of it.
    #[inline]
    fn any_hit(&self, h: &[u8], hit: impl FnMut(usize, usize) -> bool) -> Found {
        x86::any_hit(self, h, hit)
    }

    /// [`any_hit`](Self::any_hit) over `memchr2`'s iterator: for CPUs
    /// without AVX2, and for events shorter than one 64-byte step.
    fn any_hit_memchr(&self, h: &[u8], mut hit: impl FnMut(usize, usize) -> bool) -> Found {
        for at in memchr::memchr2_iter(self.byte, b'\\', h) {
            if let Some(found) = self.occurrence(h, at, &mut hit) {
                return found;
            }
        }
        Found::Nothing { escape_free: true }
    }

    /// The needle or a backslash at `h[at]`: what it ends the search with,
    /// if anything.
    #[inline(always)]
    fn occurrence(
        &self,
        h: &[u8],
        at: usize,
        hit: &mut impl FnMut(usize, usize) -> bool,
    ) -> Option<Found> {
        if h[at] == b'\\' {
            return Some(Found::Backslash(at));
        }
        for l in &self.lits {
            let Some(start) = at.checked_sub(l.offset) else {
                continue;
            };
            if l.at(h, start) && hit(start, l.id) {
                return Some(Found::Hit);
            }
        }
        None
    }

    /// A rare byte every literal holds, when there is one and there are at
    /// most `max` literals.
    fn build(lits: &[Vec<u8>], max: usize) -> Option<Needle> {
        if lits.is_empty() || lits.len() > max {
            return None;
        }
        let byte = (0..=255u8)
            .filter(|&b| b != b'"' && b != b'\\' && commonness(b) <= 2)
            .filter(|&b| lits.iter().all(|l| l.contains(&b)))
            .min_by_key(|&b| commonness(b))?;
        let lits = lits
            .iter()
            .enumerate()
            .map(|(id, l)| {
                let mut head = [0u8; 8];
                let n = l.len().min(8);
                head[..n].copy_from_slice(&l[..n]);
                NeedleLit {
                    id,
                    offset: l.iter().position(|&c| c == byte).unwrap_or(0),
                    head: u64::from_le_bytes(head),
                    mask: if n == 8 {
                        u64::MAX
                    } else {
                        (1u64 << (8 * n)) - 1
                    },
                    lit: l.clone(),
                }
            })
            .collect();
        Some(Needle {
            byte,
            lits,
            avx2: x86::has_avx2(),
        })
    }
}

/// The needle search 64 bytes a step with AVX2. Through `memchr2`'s
/// iterator each occurrence of the needle cost a call, a CPU-feature
/// dispatch and a restart of the search (267 of the 1,100 instructions the
/// prefilter spends on a matching citylots event, callgrind); here one
/// 64-bit mask per step holds every occurrence and backslash, taken bit by
/// bit.
///
/// `unsafe`, as in `flatten::numbers`, for the unaligned loads from slices
/// whose length was checked and for calling a `#[target_feature]` function
/// whose features were detected.
#[allow(unsafe_code)]
mod x86 {
    use super::{Found, Needle};

    /// [`Needle::any_hit`]: with AVX2 where the needle found it.
    #[inline(always)]
    pub(super) fn any_hit(n: &Needle, h: &[u8], hit: impl FnMut(usize, usize) -> bool) -> Found {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        if n.avx2 {
            // SAFETY: AVX2 and BMI1 were detected when the needle was built.
            return unsafe { needle_avx2(n, h, hit) };
        }
        n.any_hit_memchr(h, hit)
    }

    /// Whether the CPU has what [`needle_avx2`] needs.
    pub(super) fn has_avx2() -> bool {
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        {
            is_x86_feature_detected!("avx2") && is_x86_feature_detected!("bmi1")
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
        {
            false
        }
    }

    /// [`Needle::any_hit`] with AVX2; the caller checked [`has_avx2`].
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[target_feature(enable = "avx2,bmi1")]
    fn needle_avx2(n: &Needle, h: &[u8], mut hit: impl FnMut(usize, usize) -> bool) -> Found {
        use std::arch::x86_64::*;
        if h.len() < 64 {
            return n.any_hit_memchr(h, hit);
        }
        let needle = _mm256_set1_epi8(n.byte as i8);
        let backslash = _mm256_set1_epi8(b'\\' as i8);
        // Bit `j` for byte `at + j` that is the needle or a backslash.
        let mask = |at: usize| -> u64 {
            let block = &h[at..at + 64];
            let half = |k: usize| {
                // SAFETY: `block` holds 64 bytes, so 32k..32k+32 is in
                // bounds; `loadu` has no alignment requirement.
                let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * k).cast()) };
                let m = _mm256_or_si256(
                    _mm256_cmpeq_epi8(v, needle),
                    _mm256_cmpeq_epi8(v, backslash),
                );
                _mm256_movemask_epi8(m) as u32 as u64
            };
            half(0) | half(1) << 32
        };
        let mut at = 0;
        loop {
            let (base, mut m) = if at + 64 <= h.len() {
                (at, mask(at))
            } else if at < h.len() {
                // The last 64 bytes, less those already seen.
                let base = h.len() - 64;
                (base, mask(base) >> (at - base) << (at - base))
            } else {
                return Found::Nothing { escape_free: true };
            };
            while m != 0 {
                let i = base + m.trailing_zeros() as usize;
                m &= m - 1;
                if let Some(found) = n.occurrence(h, i, &mut hit) {
                    return found;
                }
            }
            at = base + 64;
        }
    }
}

fn dfa(lits: &[Vec<u8>]) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(AhoCorasickKind::DFA))
        .build(lits)
        .ok()
}

/// A necessary literal, and whether it is case-insensitive (then never
/// searched for, see `value_literal`).
type Lit = (Vec<u8>, bool);

/// What one `$or` branch contributes: its chosen field's last path segment
/// and that field's value literals (empty: only the key is necessary).
type Choice<'a> = (&'a [u8], Vec<Lit>);

impl Prefilter {
    /// `None` when some branch of some rule has no necessary literal.
    /// `path_id` maps a field's dotted path to the automaton's path id.
    pub(crate) fn build<'a>(
        patterns: impl Iterator<Item = &'a Pattern>,
        mut path_id: impl FnMut(&'a str) -> u32,
    ) -> Option<Prefilter> {
        // Keys are borrowed from the patterns' paths.
        let mut choices: Vec<Choice<'a>> = Vec::new();
        let mut probes: Vec<(&'a [u8], Option<u32>)> = Vec::new();
        // Short literals (`7"` from a wildcard `2*0*1*7`) hit too often to
        // search for directly; the key probe judges those values exactly.
        // Once the literals are too many or too short to search for, they
        // are no longer kept (10,000 rules: a tenth of building this, most
        // of it freeing them again).
        let mut direct = true;
        let mut values = 0;
        for p in patterns {
            for sp in &p.subpatterns {
                let (lits, seg) = match sp.fields.as_slice() {
                    // The literals of a lone field on a plain key are not
                    // needed once they are no longer kept: its key is the
                    // branch's, as `field_literals` would choose (10,000
                    // rules: 20,000 allocations).
                    [f] if !direct && key_always_necessary(f) => {
                        (Vec::new(), last_segment(&f.path))
                    }
                    fields => {
                        let (_, lits, seg) = fields
                            .iter()
                            .filter_map(field_literals)
                            .max_by_key(|(score, _, _)| *score)?;
                        (lits, seg)
                    }
                };
                // For the probe: a field of string operators only is judged
                // by its path's automaton; anything else by its key alone.
                let string_field = sp
                    .fields
                    .iter()
                    .find(|f| string_only(f) && last_segment(&f.path) == seg);
                probes.push((seg, string_field.map(|f| path_id(&f.path))));
                if direct {
                    values += lits.len();
                    direct = values + choices.len() < TEDDY_MAX
                        && !lits.is_empty()
                        && lits.iter().all(|l| !l.1 && l.0.len() >= DIRECT_MIN);
                    if direct {
                        choices.push((seg, lits));
                    } else {
                        choices = Vec::new();
                    }
                }
            }
        }
        if probes.is_empty() {
            return None;
        }
        if direct {
            let mut lits: Vec<Vec<u8>> = choices
                .iter()
                .flat_map(|c| c.1.iter().map(|l| l.0.clone()))
                .collect();
            lits.sort();
            lits.dedup();
            let mut segments: Vec<&[u8]> = choices.iter().map(|c| c.0).collect();
            segments.sort_unstable();
            segments.dedup();
            let segments: Vec<Vec<u8>> = segments.into_iter().map(<[u8]>::to_vec).collect();
            let search = Search::build(&lits, false)?;
            // Values that share no rare byte (`"3745012"`, `"2607117"`)
            // are searched by Teddy, at 1.16 instructions a byte; probing
            // their keys (`MAPBLKLOT"`) for a rare byte costs 0.4 and a
            // probe per event, and judges the values just as exactly when
            // every field probed is judged by its string automata
            // (citylots-like events, `exact` rules, `busbar filter`: 1,504
            // instructions each directly, 986 by probes; callgrind).
            if !matches!(search, Search::Needle(_)) {
                if let Some(probing) = Self::probing(&probes) {
                    if let Mode::Probe {
                        keys: Search::Needle(_),
                        segs,
                        ..
                    } = &probing.mode
                    {
                        if segs.iter().all(|s| !s.any) {
                            return Some(probing);
                        }
                    }
                }
            }
            return Some(Prefilter {
                literals: lits.len(),
                mode: Mode::Direct {
                    search,
                    segments,
                    bytes: ByteSet::of(&lits),
                    longest: lits.iter().map(Vec::len).max().unwrap_or(0),
                },
            });
        }
        Self::probing(&probes)
    }

    /// The probe mode for the chosen fields' keys: each key's last path
    /// segment, and the path automaton that judges its values (`None`: any
    /// value may match).
    fn probing(probes: &[(&[u8], Option<u32>)]) -> Option<Prefilter> {
        // Grouped by sorting, not by a pass over every probe for each name:
        // that was quadratic, 0.7 s of compiling 10,000 rules on as many
        // keys (perf).
        let mut sorted = probes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.iter().any(|(n, _)| n.is_empty() || !plain(n)) {
            return None;
        }
        let mut segs: Vec<SegProbe> = Vec::new();
        for (name, path) in sorted {
            if segs.last().is_none_or(|seg| seg.name != name) {
                segs.push(SegProbe {
                    name: name.to_vec(),
                    any: false,
                    paths: Vec::new(),
                });
            }
            // `None` sorts first, and the paths in order after it.
            if let Some(seg) = segs.last_mut() {
                match path {
                    None => seg.any = true,
                    Some(p) => seg.paths.push(p),
                }
            }
        }
        let keys: Vec<Vec<u8>> = segs.iter().map(|s| quoted(false, &s.name, true)).collect();
        let mut bytes = ByteSet::of(&keys);
        bytes.add(b'"');
        bytes.add(b'.');
        Some(Prefilter {
            literals: keys.len(),
            mode: Mode::Probe {
                keys: Search::build(&keys, true)?,
                segs,
                bytes,
            },
        })
    }

    /// False only when the event cannot match any rule. `judge(path, s)`
    /// says whether string `s` satisfies some field of `path`. `decoded` is
    /// scratch for events with escapes (see the module docs).
    #[inline]
    pub(crate) fn may_match(
        &self,
        event: &[u8],
        mut judge: impl FnMut(u32, &[u8]) -> bool,
        decoded: &mut Vec<u8>,
    ) -> bool {
        // Only a rejection needs the event free of escapes (which could
        // hide a literal or a key); a hit is passed on either way, and
        // checking last spares the events that go on to be scanned a pass
        // over their bytes. Hits and probes read raw bytes and cannot fail
        // on escapes, only misjudge them.
        match self.search(event, &mut judge) {
            Found::Hit => true,
            Found::Nothing { escape_free: true } => false,
            Found::Nothing { escape_free: false } if memchr(b'\\', event).is_none() => false,
            Found::Nothing { .. } | Found::Backslash(_) => {
                if !decode_escapes(event, decoded) {
                    return true;
                }
                // No backslash is left in the copy.
                !matches!(self.search(decoded, &mut judge), Found::Nothing { .. })
            }
        }
    }

    /// One search of `event`: its literals, verified or probed.
    #[inline(always)]
    fn search(&self, event: &[u8], judge: &mut impl FnMut(u32, &[u8]) -> bool) -> Found {
        match &self.mode {
            Mode::Direct {
                search, segments, ..
            } => search.any_hit(event, |at, _| verify(event, at, segments)),
            // A value with an escape is judged in the decoded copy: the
            // search goes on to its backslash.
            Mode::Probe { keys, segs, .. } => keys.any_hit(event, |at, id| {
                matches!(probe(event, at, &segs[id], judge), Probed::Accept)
            }),
        }
    }

    pub(crate) fn literals(&self) -> usize {
        self.literals
    }

    /// How many bytes of whole lines at the start of `buf` (NDJSON) hold no
    /// line that may match: the offset after the last newline before the
    /// first hit in `buf` that [`may_match`](Self::may_match) would accept
    /// (a literal, or a key whose value `judge` accepts), or the first line
    /// with an escape that may hide one and whose decoded copy (made in
    /// `decoded`) is not rejected. Searching a buffer once instead of each
    /// line spares a call, a setup and a search per line (ripgrep searches
    /// buffers, not lines). Each line skipped holds no accepted hit, and
    /// either its escapes cannot hide one (in the direct mode: they stand
    /// for none of the literals' bytes, or the text around them, decoded,
    /// holds no literal; in the probe mode: they stand for none of the
    /// keys' bytes, or lie in strings that, decoded, are no probed key, and
    /// in no probed value) or its decoded copy holds no accepted hit
    /// either, so no rule can match it (literals hold no newline and no backslash:
    /// `plain`). A hit or probe that runs past the end of its line only
    /// ever stops the skip early, never late.
    pub(crate) fn skip_lines(
        &self,
        buf: &[u8],
        mut judge: impl FnMut(u32, &[u8]) -> bool,
        decoded: &mut Vec<u8>,
    ) -> usize {
        // The needle's search stops at the first hit or backslash by
        // itself, and takes the whole buffer. The others first look for a
        // backslash, so they search windows of whole lines (no literal
        // spans a newline), growing: a caller that calls again after each
        // stop then reads each byte about once, however far apart hits
        // and backslashes are.
        let whole = matches!(
            self.mode,
            Mode::Direct {
                search: Search::Needle(_),
                ..
            } | Mode::Probe {
                keys: Search::Needle(_),
                ..
            }
        );
        let mut done = 0;
        let mut size = 4 << 10;
        while done < buf.len() {
            let want = (done + size).min(buf.len());
            let end = if whole {
                buf.len()
            } else {
                match memrchr(b'\n', &buf[done..want]) {
                    Some(nl) => done + nl + 1,
                    None => memchr(b'\n', &buf[want..]).map_or(buf.len(), |nl| want + nl + 1),
                }
            };
            let w = &buf[done..end];
            // Within the window: a line whose escape stopped the search is
            // judged where it lies, by its decoded copy as `find` judges
            // it, and the search goes on after it when that rejects it. (Ending
            // the skip there instead sent a third of the events of the
            // `escaped` benchmark data, and the lines after each, down the
            // per-line path: `absent-10`, 942 instructions an event against
            // 578 on compact data, callgrind.)
            let mut from = 0;
            while from < w.len() {
                let rest = &w[from..];
                let stop = match &self.mode {
                    Mode::Direct {
                        search,
                        bytes,
                        longest,
                        ..
                    } => direct_stop(search, bytes, *longest, rest, decoded),
                    Mode::Probe { keys, segs, bytes } => {
                        probe_stop(keys, segs, bytes, rest, &mut judge, decoded)
                    }
                };
                let line_start = |at: usize| memrchr(b'\n', &w[..at]).map_or(0, |nl| nl + 1);
                match stop {
                    Stop::End => break,
                    Stop::Literal(at) => return done + line_start(from + at),
                    Stop::Escape(at) => {
                        let start = line_start(from + at);
                        // Searched in its decoded copy, as `may_match`
                        // does when the raw search finds nothing (here the
                        // raw search up to the escape found nothing; a hit
                        // after it would only let an event that cannot
                        // match go on to be parsed). The decoding finds
                        // the line's end.
                        let Some(len) = decode_line(&w[start..], decoded) else {
                            return done + start;
                        };
                        if !matches!(self.search(decoded, &mut judge), Found::Nothing { .. }) {
                            return done + start;
                        }
                        from = start + len + 1;
                    }
                }
            }
            done = end;
            size = (size * 2).min(1 << 20);
        }
        done
    }
}

/// Where in the window `w` the direct mode's skip must stop: its first
/// literal, or its first escape that may hide one.
fn direct_stop(
    search: &Search,
    bytes: &ByteSet,
    longest: usize,
    w: &[u8],
    scratch: &mut Vec<u8>,
) -> Stop {
    // Past the escapes that cannot hide a literal: a literal in the
    // decoded text that holds none of their characters lies whole between
    // them, where the raw search sees it. An escape that stands for a
    // byte of some literal is passed too when the text around it, decoded,
    // holds no literal: one that it hid would lie within `longest - 1`
    // decoded bytes of it, each at most 6 bytes raw (`\u0030`). (With the
    // whole line decoded and searched at each such escape instead, the
    // `escaped` benchmark file's `absent-10` rules, whose digits are
    // escaped in one event in eleven, cost 764 instructions an event; 742
    // this way; 573 on compact data; callgrind.)
    let mut from = 0;
    loop {
        let rest = &w[from..];
        let found = match search {
            Search::Needle(needle) => needle.first_or_escape(rest),
            _ => {
                let escape = memchr(b'\\', rest);
                match search.first(&rest[..escape.unwrap_or(rest.len())]) {
                    Some(at) => Stop::Literal(at),
                    None => escape.map_or(Stop::End, Stop::Escape),
                }
            }
        };
        match found {
            Stop::End => return Stop::End,
            Stop::Literal(at) => return Stop::Literal(from + at),
            Stop::Escape(at) => {
                let at = from + at;
                match bytes.escape_len_without(w, at) {
                    Some(len) => from = at + len,
                    None => match hides_nothing(search, longest, w, at, scratch) {
                        Some(len) => from = at + len,
                        None => return Stop::Escape(at),
                    },
                }
            }
        }
    }
}

/// The length of the escape at `w[at]` (a backslash) when the line's text
/// around it, decoded, holds no literal; `None` when it does or when that
/// text does not decode (see [`direct_stop`]).
fn hides_nothing(
    search: &Search,
    longest: usize,
    w: &[u8],
    at: usize,
    scratch: &mut Vec<u8>,
) -> Option<usize> {
    let len = match w.get(at + 1)? {
        b'u' if w.get(at + 6..at + 8) == Some(b"\\u")
            && matches!(hex4(w, at + 2), Some(0xD800..=0xDBFF)) =>
        {
            12
        }
        b'u' => 6,
        _ => 2,
    };
    let reach = 6 * longest.saturating_sub(1);
    // The window, within the escape's line. A start inside an earlier
    // escape leaves its hex digits as text: they are whole characters
    // before any the literal could hold, and only add hits.
    let lo = at.saturating_sub(reach);
    let lo = memrchr(b'\n', &w[lo..at]).map_or(lo, |nl| lo + nl + 1);
    let hi = (at + len + reach).min(w.len());
    let hi = memchr(b'\n', &w[at..hi]).map_or(hi, |nl| at + nl);
    if !decode_escapes(&w[lo..hi], scratch) {
        return None;
    }
    // (`Search::first` would build a `memmem` searcher per needle literal.)
    let hit = match search {
        Search::Needle(needle) => !matches!(needle.first_or_escape(scratch), Stop::End),
        _ => search.first(scratch).is_some(),
    };
    (!hit).then_some(len)
}

/// Where in the window `w` the probe mode's skip must stop: its first
/// accepted key probe, or its first escape that may hide a key or stands in
/// a probed value. The needle's search passes over an escape that stands
/// for none of the keys' bytes (`\u00e9`), since a key it hid would hold
/// its character, and over the rest of a string that holds an escape when
/// that string, decoded, is no key that is probed (`"typ\u0065"`). A
/// probed value that holds an escape is reported by [`probe`] as escaped,
/// so its line is still decoded and searched whole. (Stopping at every
/// escape sent each line of the `escaped` benchmark data that holds one, a
/// third, to be decoded and searched again: `exact-10000`, 57 ms against
/// 49 on compact data.) The other searches do not see backslashes, so they
/// search only up to the first.
fn probe_stop(
    keys: &Search,
    segs: &[SegProbe],
    bytes: &ByteSet,
    w: &[u8],
    judge: &mut impl FnMut(u32, &[u8]) -> bool,
    scratch: &mut Vec<u8>,
) -> Stop {
    if !matches!(keys, Search::Needle(_)) {
        let end = memchr(b'\\', w);
        let mut first = None;
        let found = keys.any_hit(&w[..end.unwrap_or(w.len())], |at, id| {
            let accepted = matches!(probe(w, at, &segs[id], judge), Probed::Accept);
            if accepted {
                first = Some(at);
            }
            accepted
        });
        return match (found, first) {
            (Found::Hit, Some(at)) => Stop::Literal(at),
            _ => end.map_or(Stop::End, Stop::Escape),
        };
    }
    let mut from = 0;
    loop {
        let mut stop = None;
        let found = keys.any_hit(&w[from..], |at, id| {
            let at = from + at;
            match probe(w, at, &segs[id], judge) {
                Probed::Accept => stop = Some(Stop::Literal(at)),
                Probed::Escaped => stop = Some(Stop::Escape(at)),
                Probed::Reject => {}
            }
            stop.is_some()
        });
        match found {
            Found::Hit => return stop.unwrap_or(Stop::Literal(from)),
            Found::Backslash(at) => {
                let at = from + at;
                match bytes.escape_len_without(w, at) {
                    Some(len) => from = at + len,
                    None => match no_key_left(segs, w, at, scratch) {
                        Some(len) => from = at + len,
                        None => return Stop::Escape(at),
                    },
                }
            }
            Found::Nothing { .. } => return Stop::End,
        }
    }
}

/// How far past `w[at]`, a backslash the search of [`probe_stop`] met,
/// the string holding it ends (its closing quote included), when that
/// string, decoded, cannot be a probed key: its text ends in no probed
/// segment that starts it or follows a dot. `None` when it may be, or
/// when the string cannot be told apart or decoded. Every backslash
/// before `at` on its line was passed, as standing for no key byte (the
/// quote is one) or inside a string whose escapes all decode (an escaped
/// quote does not), so none was an escaped quote, and the last quote
/// before `at` opens the string (unless a backslash precedes that quote:
/// `"x\\"`).
fn no_key_left(segs: &[SegProbe], w: &[u8], at: usize, scratch: &mut Vec<u8>) -> Option<usize> {
    let open = memrchr(b'"', &w[..at])?;
    if open > 0 && w[open - 1] == b'\\' || memchr(b'\n', &w[open..at]).is_some() {
        return None;
    }
    let mut i = at;
    let close = loop {
        let k = i + memchr3(b'"', b'\\', b'\n', w.get(i..)?)?;
        match w[k] {
            b'"' => break k,
            // The escaped byte is never a quote that closes the string.
            b'\\' => i = k + 2,
            _ => return None,
        }
    };
    if !decode_escapes(&w[open + 1..close], scratch) {
        return None;
    }
    let key = scratch.as_slice();
    let hides = segs.iter().any(|seg| {
        key.strip_suffix(seg.name.as_slice())
            .is_some_and(|before| before.is_empty() || before.ends_with(b"."))
    });
    (!hides).then_some(close + 1 - at)
}

/// Where a search of a window for [`Prefilter::skip_lines`] stopped.
enum Stop {
    /// No literal (or accepted key probe) starts before this index, and
    /// one may start at or after it.
    Literal(usize),
    /// A backslash, with no literal before it.
    Escape(usize),
    /// Neither.
    End,
}

impl Needle {
    /// Where the first literal or backslash of `w` is: one pass for both,
    /// where the literals' own search and a separate pass for backslashes
    /// were two (the bytes of a citylots-like file whose literals never
    /// occur: 1.16 instructions each by Teddy and 0.04 by the backslash
    /// pass, 0.35 by this needle, callgrind).
    fn first_or_escape(&self, w: &[u8]) -> Stop {
        // The needle occurrences are visited in order, so a literal found
        // at `start` has no other literal starting before it by more than
        // the needle's largest offset in a literal.
        let back = self.lits.iter().map(|l| l.offset).max().unwrap_or(0);
        let mut first = w.len();
        match self.any_hit(w, |start, _| {
            first = start.saturating_sub(back);
            true
        }) {
            Found::Hit => Stop::Literal(first),
            // No literal starts before the backslash: literals hold none,
            // and one that ended before it would have been found first.
            Found::Backslash(at) => Stop::Escape(at),
            Found::Nothing { .. } => Stop::End,
        }
    }
}

/// A set of bytes: those the literals of a direct search hold.
#[derive(Debug, Clone)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn of(lits: &[Vec<u8>]) -> ByteSet {
        let mut set = [0u64; 4];
        for &b in lits.iter().flatten() {
            set[usize::from(b >> 6)] |= 1 << (b & 63);
        }
        ByteSet(set)
    }

    fn add(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn has(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] >> (b & 63) & 1 != 0
    }

    /// The length of the escape at `w[at]` (a backslash) when the
    /// character it stands for cannot be part of a literal: an ASCII
    /// character none of them holds, or any other when none holds a
    /// non-ASCII byte. `None` when it may be, or is not a valid escape.
    fn escape_len_without(&self, w: &[u8], at: usize) -> Option<usize> {
        let (len, unit) = match *w.get(at + 1)? {
            b'u' => {
                let hex = w.get(at + 2..at + 6)?;
                let mut unit = 0u32;
                for &h in hex {
                    unit = unit << 4 | char::from(h).to_digit(16)?;
                }
                (6, unit)
            }
            b'b' => (2, 0x08),
            b'f' => (2, 0x0c),
            b'n' => (2, u32::from(b'\n')),
            b'r' => (2, u32::from(b'\r')),
            b't' => (2, u32::from(b'\t')),
            c @ (b'"' | b'\\' | b'/') => (2, u32::from(c)),
            _ => return None,
        };
        let hides = match u8::try_from(unit) {
            Ok(b) if b < 0x80 => self.has(b),
            // Bytes 0x80-0xff: the set's last two words.
            _ => (self.0[2] | self.0[3]) != 0,
        };
        (!hides).then_some(len)
    }
}

/// A key literal `seg"` was found at `at`: whether it ends a key of that
/// segment whose value may satisfy one of the rules' fields on it.
/// Inlined into the search loop (which gets its SIMD instruction set too):
/// a call per probe cost more than the checks around the judgement.
#[inline(always)]
fn probe(
    e: &[u8],
    at: usize,
    seg: &SegProbe,
    judge: &mut impl FnMut(u32, &[u8]) -> bool,
) -> Probed {
    let accept = |yes: bool| if yes { Probed::Accept } else { Probed::Reject };
    // The segment must start the key or follow a dot.
    if at == 0 || !matches!(e[at - 1], b'"' | b'.') {
        return Probed::Reject;
    }
    let close = at + seg.name.len();
    let Some(colon) = next_non_ws(e, close + 1) else {
        return Probed::Reject;
    };
    if e[colon] != b':' {
        return Probed::Reject;
    }
    let Some(v) = next_non_ws(e, colon + 1) else {
        return Probed::Reject;
    };
    match e[v] {
        // Elements are not examined one by one.
        b'[' => Probed::Accept,
        b'"' => {
            if seg.any {
                return Probed::Accept;
            }
            // The closing quote: the inlined plain-string scan finds it in
            // most values without a call into `memchr`.
            let run = plain_run(e, v + 1);
            let end = match e.get(run) {
                Some(b'"') => run,
                Some(b'\\') => return Probed::Escaped,
                _ => match memchr2(b'"', b'\\', &e[run..]) {
                    Some(i) if e[run + i] == b'"' => run + i,
                    Some(_) => return Probed::Escaped,
                    None => return Probed::Reject,
                },
            };
            // No backslash in the value: the raw text is the decoded string.
            let text = &e[v + 1..end];
            // A loop, not `Iterator::any`, which was not inlined and cost a
            // call per value judged.
            for &p in &seg.paths {
                if judge(p, text) {
                    return Probed::Accept;
                }
            }
            Probed::Reject
        }
        // Numbers, literals: only a field without string operators can match.
        _ => accept(seg.any),
    }
}

/// What [`probe`] found after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probed {
    /// Its value may satisfy a field on the key.
    Accept,
    /// It may not (or it is not the key of an object member).
    Reject,
    /// Its value holds an escape: only its decoded text can be judged.
    Escaped,
}

/// Copies `e` into `out` with every escape decoded, when each is `\/` or a
/// `\uXXXX` (or surrogate pair) of a character JSON may write as it is
/// (not `"`, `\\` or a control character); false, with `out` unspecified,
/// when some escape is not.
fn decode_escapes(e: &[u8], out: &mut Vec<u8>) -> bool {
    decode_until(e, out, |rest| memchr(b'\\', rest)).is_some()
}

/// [`decode_escapes`] of the first line of `e` (up to its first newline, or
/// all of it), with that line's length; one pass over the line finds both
/// its escapes and its end (a search for its end and then one for its
/// escapes was a fifth of `suffix` rules over the `escaped` benchmark data,
/// perf).
fn decode_line(e: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    decode_until(e, out, |rest| memchr2(b'\\', b'\n', rest))
}

/// Decodes `e` into `out` up to the first newline that `next` (the search
/// for the next backslash, or for a backslash or a newline) finds, or to
/// its end; returns how many bytes of `e` that was.
fn decode_until(
    e: &[u8],
    out: &mut Vec<u8>,
    next: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    out.clear();
    let mut from = 0;
    while let Some(k) = next(&e[from..]) {
        let at = from + k;
        out.extend_from_slice(&e[from..at]);
        if e[at] == b'\n' {
            return Some(at);
        }
        match e.get(at + 1) {
            Some(b'/') => {
                out.push(b'/');
                from = at + 2;
            }
            Some(b'u') => {
                let hi = hex4(e, at + 2)?;
                let (cp, len) = match hi {
                    0xD800..=0xDBFF => {
                        let lo = (e.get(at + 6..at + 8) == Some(b"\\u"))
                            .then(|| hex4(e, at + 8))
                            .flatten();
                        match lo {
                            Some(lo @ 0xDC00..=0xDFFF) => {
                                (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), 12)
                            }
                            _ => return None,
                        }
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => (hi, 6),
                };
                match char::from_u32(cp) {
                    Some(c) if cp >= 0x20 && c != '"' && c != '\\' => {
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => return None,
                }
                from = at + len;
            }
            _ => return None,
        }
    }
    out.extend_from_slice(&e[from..]);
    Some(e.len())
}

/// The four hex digits at `e[at..]`.
fn hex4(e: &[u8], at: usize) -> Option<u32> {
    let digits = e.get(at..at + 4)?;
    let mut v = 0;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

fn last_segment(path: &str) -> &[u8] {
    let b = path.as_bytes();
    memrchr(b'.', b).map_or(b, |dot| &b[dot + 1..])
}

/// A field every matcher of which only strings can satisfy and a path's
/// string automata decide (IP literals aside: they are ranges).
fn string_only(f: &Field) -> bool {
    f.matchers.iter().all(|m| {
        matches!(
            m,
            Matcher::Exact(Literal::String(_))
                | Matcher::Prefix(_)
                | Matcher::Suffix(_)
                | Matcher::PrefixIgnoreCase(_)
                | Matcher::SuffixIgnoreCase(_)
                | Matcher::EqualsIgnoreCase(_)
                | Matcher::Wildcard(_)
        )
    })
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
    if next_non_ws(e, close + 1).is_some_and(|i| e[i] == b':') {
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

/// Index of the first byte at or after `from` that is not JSON whitespace.
#[inline]
fn next_non_ws(e: &[u8], from: usize) -> Option<usize> {
    // Compact JSON, the common case, has no whitespace to skip.
    match e.get(from) {
        Some(&b) if !is_ws(b) => return Some(from),
        None => return None,
        _ => {}
    }
    e.get(from..)?
        .iter()
        .position(|b| !is_ws(*b))
        .map(|i| from + i)
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
    // Never searched for (an event may spell each character in either of
    // two forms, `ß` or `SS`); its length only ranks the field.
    let ci = |s: &str, pre: bool, post: bool| {
        let f = s.as_bytes();
        (!f.is_empty() && plain(f)).then(|| (quoted(pre, f, post), true))
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

/// Whether [`field_literals`] of `f` is `Some` whatever its matchers'
/// literals: no `exists:false`, and a plain key to fall back on.
fn key_always_necessary(f: &Field) -> bool {
    let last = last_segment(&f.path);
    !last.is_empty()
        && plain(last)
        && !f
            .matchers
            .iter()
            .any(|m| matches!(m, Matcher::Exists(false)))
}

/// The field's necessary literals with a selectivity score and the path's
/// last segment, or `None` when the field can be satisfied without any (by
/// absence).
fn field_literals(f: &Field) -> Option<(usize, Vec<Lit>, &[u8])> {
    if f.matchers
        .iter()
        .any(|m| matches!(m, Matcher::Exists(false)))
    {
        return None;
    }
    // The last path segment: present in the raw text whether the event nests
    // objects or writes a dotted key.
    let last = last_segment(&f.path);
    let values: Option<Vec<Lit>> = f.matchers.iter().map(value_literal).collect();
    if let Some(v) = values {
        let min = v.iter().map(|l| l.0.len()).min().unwrap_or(0);
        return Some((1000 + min, v, last));
    }
    if last.is_empty() || !plain(last) {
        return None;
    }
    // No value literal: the key itself (`seg"`) is what is necessary.
    Some((last.len(), Vec::new(), last))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::{parse, PatternLimits};
    use proptest::prelude::*;

    #[test]
    fn probes_are_grouped_by_key_with_sorted_paths() {
        let probes: [(&[u8], Option<u32>); 5] = [
            (b"b", Some(2)),
            (b"a", Some(3)),
            (b"b", None),
            (b"a", Some(1)),
            (b"a", Some(3)),
        ];
        let Some(Prefilter {
            mode: Mode::Probe { segs, .. },
            literals,
        }) = Prefilter::probing(&probes)
        else {
            panic!("two plain keys are probed");
        };
        assert_eq!(literals, 2);
        let got: Vec<(&[u8], bool, &[u32])> = segs
            .iter()
            .map(|s| (s.name.as_slice(), s.any, s.paths.as_slice()))
            .collect();
        assert_eq!(
            got,
            [(&b"a"[..], false, &[1, 3][..]), (&b"b"[..], true, &[2][..])]
        );
        // A key that cannot be probed (empty, or not plain) leaves the
        // probe mode out.
        let empty: [(&[u8], Option<u32>); 2] = [(b"a", Some(1)), (b"", None)];
        assert!(Prefilter::probing(&empty).is_none());
    }

    #[test]
    fn decode_line_stops_at_the_first_newline() {
        let mut out = Vec::new();
        let two = br#"{"a\u0062":"x\/y"}
{"c":"\u00e9"}"#;
        assert_eq!(decode_line(two, &mut out), Some(18));
        assert_eq!(out, br#"{"ab":"x/y"}"#);
        // The last line, with no newline after it; a surrogate pair.
        assert_eq!(decode_line(br#"{"c":"\ud83d\ude80"}"#, &mut out), Some(20));
        assert_eq!(out, "{\"c\":\"\u{1f680}\"}".as_bytes());
        // An escape it does not decode, even after the newline, is only
        // read where it is on the line.
        assert_eq!(decode_line(b"{\"a\":\"\\n\"}", &mut out), None);
        assert_eq!(decode_line(b"{}\n\"\\n\"", &mut out), Some(2));
        assert_eq!(out, b"{}");
        // No escape: the line as it is.
        assert_eq!(decode_line(b"\n{}", &mut out), Some(0));
        assert!(out.is_empty());
        assert!(decode_escapes(br#"{"a":"\u0041"}"#, &mut out));
        assert_eq!(out, br#"{"a":"A"}"#);
    }

    impl Prefilter {
        /// Probes judged conservatively: probe-mode rejections are tested
        /// through the automaton in `engine::tests`.
        fn may_match_str(&self, e: &[u8]) -> bool {
            self.may_match(e, |_, _| true, &mut Vec::new())
        }
    }

    fn pf(patterns: &[&str]) -> Option<Prefilter> {
        let ps: Vec<Pattern> = patterns
            .iter()
            .map(|p| parse(p, &PatternLimits::default()).unwrap())
            .collect();
        let paths: Vec<String> = ps
            .iter()
            .flat_map(|p| {
                p.subpatterns
                    .iter()
                    .flat_map(|sp| sp.fields.iter().map(|f| f.path.clone()))
            })
            .collect();
        Prefilter::build(ps.iter(), |path| {
            paths.iter().position(|p| p == path).unwrap_or(0) as u32
        })
    }

    #[test]
    fn rejects_events_without_literals() {
        let p = pf(&[r#"{"a":["MISSION"]}"#, r#"{"b":[{"prefix":"SAN "}]}"#]).unwrap();
        assert!(p.may_match_str(br#"{"a":"MISSION"}"#));
        assert!(p.may_match_str(br#"{"b":"SAN JOSE"}"#));
        assert!(!p.may_match_str(br#"{"a":"MISSIONS","b":"XSAN "}"#));
        // an escape could hide a literal
        assert!(p.may_match_str(br#"{"a":"MISSIO\u004e"}"#));
    }

    #[test]
    fn falls_back_to_key_literals_and_gives_up_on_absence() {
        let p = pf(&[r#"{"x":{"yy":[{"numeric":[">",1]}]}}"#]).unwrap();
        assert!(p.may_match_str(br#"{"x":{"yy":5}}"#));
        assert!(p.may_match_str(br#"{"x.yy":5}"#));
        assert!(!p.may_match_str(br#"{"x":{"y":5}}"#));
        assert!(pf(&[r#"{"a":[{"exists":false}]}"#]).is_none());
    }

    #[test]
    fn hits_are_verified_against_their_key() {
        let p = pf(&[
            r#"{"p":{"STREET":[{"prefix":"DRU"}]}}"#,
            r#"{"MAPBLKLOT":["U745012"]}"#,
        ])
        .unwrap();
        // The values share a rare byte (`U`), searched for directly.
        assert!(matches!(p.mode, Mode::Direct { .. }));
        // the literal occurs, but under another key
        assert!(!p.may_match_str(br#"{"p":{"STREET":"X","ST_TYPE":"DRU"}}"#));
        assert!(!p.may_match_str(br#"{"BLKLOT":"U745012","MAPBLKLOT":"1"}"#));
        assert!(!p.may_match_str(br#"{"p":{"x":{"DRUIDS":1}}}"#));
        // under the right key, nested, dotted, spaced or in an array
        assert!(p.may_match_str(br#"{"p":{"STREET":"DRUMM"}}"#));
        assert!(p.may_match_str(br#"{"p.STREET" :  "DRUMM"}"#));
        assert!(p.may_match_str(br#"{"MAPBLKLOT":["1","U745012"]}"#));
        assert!(p.may_match_str(br#"{"BLKLOT":"U745012","x":{"MAPBLKLOT":"U745012"}}"#));
    }

    #[test]
    fn values_without_a_rare_byte_are_judged_by_probing_their_key() {
        let p = pf(&[
            r#"{"p":{"MAPBLKLOT":["3745012","2607117"]}}"#,
            r#"{"MAPBLKLOT":["1430022"]}"#,
        ])
        .unwrap();
        assert!(matches!(
            p.mode,
            Mode::Probe {
                keys: Search::Needle(_),
                ..
            }
        ));
        // (What the probes judge is tested with the path automata, in
        // `engine::tests`.) Keys without a rare byte either: the values
        // are searched for directly.
        let q = pf(&[r#"{"street":["3745012","2607117"]}"#]).unwrap();
        assert!(matches!(
            q.mode,
            Mode::Direct {
                search: Search::Teddy(_),
                ..
            }
        ));
    }

    /// Key probes sharing a rare byte search for it in one pass: every
    /// occurrence is compared with the keys at their own offset of it,
    /// near the end of the event too, and a backslash passes the event.
    #[test]
    fn key_probes_search_for_a_shared_rare_byte() {
        let p = pf(&[
            r#"{"p":{"STREET":[{"equals-ignore-case":"x"}]}}"#,
            r#"{"p":{"ST_TYPE":[{"equals-ignore-case":"st"}]}}"#,
        ])
        .unwrap();
        let Mode::Probe { keys, .. } = &p.mode else {
            panic!("expected key probes")
        };
        let Search::Needle(n) = keys else {
            panic!("expected a needle search")
        };
        assert_eq!(n.byte, b'S');
        assert!(p.may_match_str(br#"{"p":{"FROM_ST":"1","ST_TYPE":"AVE"}}"#));
        assert!(p.may_match_str(br#"{"p":{"SS":1,"STREET":"X"}}"#));
        assert!(!p.may_match_str(br#"{"p":{"FROM_ST":"ST","TO_ST":"STREE"}}"#));
        assert!(!p.may_match_str(br#"{"STREET_":1,"ST_TYP":2}"#));
        // A backslash could hide a key, before or after a near miss.
        assert!(p.may_match_str(br#"{"p":{"ST\u0052EET":"x"}}"#));
        assert!(p.may_match_str(br#"{"p":{"FROM_ST":"a\n"}}"#));
        // The same past the first 64 bytes (the SIMD search's first step),
        // and in the last, overlapping one.
        let pad = |e: &str, n: usize| format!(r#"{{"pad":"{}",{}"#, "x".repeat(n), &e[1..]);
        for n in [40, 60, 100, 200] {
            let yes = pad(r#"{"p":{"FROM_ST":"1","ST_TYPE":"AVE"}}"#, n);
            assert!(p.may_match_str(yes.as_bytes()), "{yes}");
            let no = pad(r#"{"p":{"FROM_ST":"ST","TO_ST":"STREE"}}"#, n);
            assert!(!p.may_match_str(no.as_bytes()), "{no}");
            let escaped = pad(r#"{"p":{"FROM_ST":"ST","TO_ST":"a\n"}}"#, n);
            assert!(p.may_match_str(escaped.as_bytes()), "{escaped}");
        }
        // The needle need not open the key.
        let p = pf(&[r#"{"aQb":[1]}"#, r#"{"cdQ":[2]}"#]).unwrap();
        let Mode::Probe { keys, .. } = &p.mode else {
            panic!("expected key probes")
        };
        assert!(matches!(keys, Search::Needle(n) if n.byte == b'Q'));
        assert!(p.may_match_str(br#"{"x":{"cdQ":2}}"#));
        assert!(p.may_match_str(br#"{"aQb":1}"#));
        assert!(!p.may_match_str(br#"{"aQ":1,"dQb":2,"Q":3}"#));
        // Keys among the last eight bytes (no whole word to load there).
        let p = pf(&[r#"{"Q":[1]}"#, r#"{"xQ":[2]}"#]).unwrap();
        assert!(p.may_match_str(br#"{"Q":1}"#));
        assert!(p.may_match_str(br#"{"a.xQ":2}"#));
        assert!(!p.may_match_str(br#"{"yQ":1}"#));
    }

    /// Every occurrence `hit` saw, in order, and how the search ended.
    fn needle_trace(
        n: &Needle,
        h: &[u8],
        stop_after: usize,
        search: impl Fn(&Needle, &[u8], &mut dyn FnMut(usize, usize) -> bool) -> Found,
    ) -> (Vec<(usize, usize)>, Found) {
        let mut seen = Vec::new();
        let found = search(n, h, &mut |start, id| {
            seen.push((start, id));
            seen.len() > stop_after
        });
        (seen, found)
    }

    proptest! {
        /// The 64-byte SIMD search (where the CPU has it) sees the same
        /// occurrences in the same order as `memchr2`'s iterator, and ends
        /// the same way: events of any length around the step, the needle
        /// and backslashes at block edges and in the overlapping last block.
        #[test]
        fn needle_searches_agree(
            h in prop::collection::vec(
                prop_oneof![
                    12 => Just(b'x'),
                    3 => prop::sample::select(b"SQT_\":".to_vec()),
                    1 => Just(b'\\'),
                ],
                0..300,
            ),
            stop_after in 0usize..6,
        ) {
            let n = Needle::build(&[b"ST_\"".to_vec(), b"TS".to_vec(), b"S".to_vec()], NEEDLE_MAX).unwrap();
            prop_assert_eq!(n.byte, b'S');
            let fast = needle_trace(&n, &h, stop_after, |n, h, hit| n.any_hit(h, hit));
            let plain = needle_trace(&n, &h, stop_after, |n, h, hit| n.any_hit_memchr(h, hit));
            prop_assert_eq!(fast, plain);
        }
    }

    /// Keys without a shared rare byte keep the literal searcher.
    #[test]
    fn keys_without_a_rare_shared_byte_use_teddy() {
        let p = pf(&[r#"{"street":[1]}"#, r#"{"type":[2]}"#]).unwrap();
        let Mode::Probe { keys, .. } = &p.mode else {
            panic!("expected key probes")
        };
        assert!(matches!(keys, Search::Teddy(_)));
        assert!(p.may_match_str(br#"{"type":2}"#));
        assert!(!p.may_match_str(br#"{"types":2}"#));
    }

    #[test]
    fn wildcard_literals_are_anchored_by_quotes() {
        let p = pf(&[r#"{"a":[{"wildcard":"*/bin/*.jar"}]}"#]).unwrap();
        assert!(p.may_match_str(br#"{"a":"x/bin/y.jar"}"#));
        assert!(!p.may_match_str(br#"{"a":"x/bin/y.jars"}"#));
    }
}
