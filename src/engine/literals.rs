//! A path's many exact strings → one hash table.
//!
//! Exact string matchers (and anything-but's plain strings, and wildcards
//! with no `*`) are globs with no star: a DFA holds them as a trie, one
//! state per distinct prefix. With thousands of them on one path (10,000
//! rules on `MAPBLKLOT`, each naming one value) that trie is tens of
//! thousands of states: its construction was a fifth of compiling such a
//! rule set and most of its memory, and its table, larger than a core's L2
//! cache, cost a cache miss on most bytes of every value looked up. A
//! path with at least [`MIN`] of them keeps them here instead, found by
//! one hash of the whole value and one comparison; the path's other globs
//! (prefixes, wildcards) stay in its DFA. Below [`MIN`] the DFA is as
//! small as the table and rejects most values at their first byte.

use std::hash::BuildHasher;

use super::dfa::{Action, Exceeded, Outcomes, Over};
use crate::pattern::GlobTok;

/// Fewest star-free globs on a path for which they are kept here.
pub(crate) const MIN: usize = 64;

/// Bytes an entry costs beyond its text: its span (8), its hash-table
/// slot (5, twice over while the table doubles) and its list offsets (8).
const ENTRY_OVERHEAD: usize = 32;

/// Distinct strings, each with the fields it satisfies and the anything-but
/// matchers it excludes. Entry ids start at 1; 0 is "no entry", whose
/// lists are empty, so that a miss needs no branch of its own.
#[derive(Debug, Clone)]
pub(crate) struct Literals {
    /// Every distinct string, end to end.
    text: Vec<u8>,
    /// Per entry id: its string's start and end in `text`.
    spans: Vec<(u32, u32)>,
    /// What each entry id stands for.
    outcomes: Outcomes,
    /// Entry ids by their string's hash.
    index: hashbrown::HashTable<u32>,
    /// Seeded per process, as the DFA's state sets are: patterns may come
    /// from clients (`TestEventPattern`).
    hasher: foldhash::fast::RandomState,
}

impl Literals {
    /// The table of `globs`, all star-free, held to the limits a DFA is:
    /// fewer than `states` entries (a DFA of the same strings would have
    /// more states than they are), and `bytes` of memory. [`Over::glob`]
    /// is an index into `globs`.
    pub(crate) fn build(
        globs: &[(Vec<GlobTok>, Action)],
        states: usize,
        bytes: usize,
    ) -> Result<Literals, Over> {
        let hasher = foldhash::fast::RandomState::default();
        let mut text = Vec::new();
        let mut spans = vec![(0, 0)];
        let mut index = hashbrown::HashTable::with_capacity(globs.len());
        // (entry, glob): the actions, grouped by entry below.
        let mut owners: Vec<(u32, u32)> = Vec::with_capacity(globs.len());
        let mut used = 0usize;
        for (g, (toks, _)) in globs.iter().enumerate() {
            // Written at the end of `text`, and taken back if it is there
            // already.
            let start = text.len();
            text.extend(toks.iter().filter_map(|t| match t {
                GlobTok::Byte(b) => Some(*b),
                GlobTok::Star => None,
            }));
            let s = &text[start..];
            let h = hasher.hash_one(s);
            let span = |&(a, b): &(u32, u32)| &text[a as usize..b as usize];
            let found = index
                .find(h, |&e: &u32| span(&spans[e as usize]) == s)
                .copied();
            let e = match found {
                Some(e) => {
                    text.truncate(start);
                    e
                }
                None => {
                    let e = spans.len() as u32;
                    used = used.saturating_add(text.len() - start + ENTRY_OVERHEAD);
                    // With the dead and start states, a DFA of these
                    // strings has more states than they are.
                    let exceeded = if e as usize >= states {
                        Some(Exceeded::States)
                    } else if used > bytes {
                        Some(Exceeded::Bytes)
                    } else {
                        None
                    };
                    if let Some(exceeded) = exceeded {
                        return Err(Over { exceeded, glob: g });
                    }
                    spans.push((start as u32, text.len() as u32));
                    let (spans, text) = (&spans, &text);
                    index.insert_unique(h, e, |&e| {
                        let (a, b) = spans[e as usize];
                        hasher.hash_one(&text[a as usize..b as usize])
                    });
                    e
                }
            };
            owners.push((e, g as u32));
        }
        // Stable: an entry's fields stay in the order of their globs, as
        // a DFA state lists them.
        owners.sort_by_key(|&(e, _)| e);
        let entries = spans.len();
        let mut outcomes = Outcomes::with_capacity(entries);
        let mut owners = owners.iter().peekable();
        for e in 0..entries as u32 {
            let mine = std::iter::from_fn(|| owners.next_if(|&&(owner, _)| owner == e));
            outcomes.push(mine.map(|&(_, g)| globs[g as usize].1));
        }
        Ok(Literals {
            text,
            spans,
            outcomes,
            index,
            hasher,
        })
    }

    /// The entry whose string is `value`, or 0.
    #[inline]
    pub(crate) fn find(&self, value: &[u8]) -> u32 {
        let h = self.hasher.hash_one(value);
        self.index
            .find(h, |&e| {
                let (a, b) = self.spans[e as usize];
                &self.text[a as usize..b as usize] == value
            })
            .copied()
            .unwrap_or(0)
    }

    #[inline]
    pub(crate) fn fields(&self, e: u32) -> &[u32] {
        self.outcomes.fields(e)
    }

    #[inline]
    pub(crate) fn excluded(&self, e: u32) -> &[u32] {
        self.outcomes.excluded(e)
    }

    /// Heap bytes the table keeps.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.text.capacity()
            + std::mem::size_of_val(self.spans.as_slice())
            + self.outcomes.heap_bytes()
            + self.index.capacity() * (std::mem::size_of::<u32>() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dfa::{literal_glob, Budget, Dfa};

    fn globs(strings: &[(&[u8], Action)]) -> Vec<(Vec<GlobTok>, Action)> {
        strings
            .iter()
            .map(|(s, a)| (literal_glob(s, false), *a))
            .collect()
    }

    fn both(strings: &[(&[u8], Action)], values: &[&[u8]]) {
        let globs = globs(strings);
        let t = Literals::build(&globs, usize::MAX, usize::MAX).unwrap();
        let d = Dfa::build(&globs, Budget::states(1 << 20)).unwrap();
        for v in values {
            let (e, q) = (t.find(v), d.run(v));
            assert_eq!(
                t.fields(e),
                d.fields(q),
                "fields of {:?}",
                String::from_utf8_lossy(v)
            );
            assert_eq!(
                t.excluded(e),
                d.excluded(q),
                "excluded by {:?}",
                String::from_utf8_lossy(v)
            );
        }
    }

    #[test]
    fn answers_as_the_dfa_of_the_same_strings() {
        let owned: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("{:07}", i * 7919 % 100_000).into_bytes())
            .collect();
        let mut strings: Vec<(&[u8], Action)> = owned
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_slice(), Action::Field(i as u32)))
            .collect();
        // A string named twice, by a field and by an anything-but; the
        // empty string; a prefix of another string.
        strings.push((owned[5].as_slice(), Action::Field(1000)));
        strings.push((owned[5].as_slice(), Action::Exclude(3)));
        strings.push((b"", Action::Field(1001)));
        strings.push((&owned[7][..3], Action::Exclude(4)));
        let mut values: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        values.extend([
            &b""[..],
            &owned[7][..3],
            &owned[7][..4],
            b"0000000x",
            b"x",
            b"\xff\xfe",
        ]);
        both(&strings, &values);
    }

    #[test]
    fn a_miss_satisfies_and_excludes_nothing() {
        let t = Literals::build(&globs(&[(b"a", Action::Field(0))]), 10, 1 << 20).unwrap();
        assert_eq!(t.find(b"b"), 0);
        assert!(t.fields(0).is_empty() && t.excluded(0).is_empty());
        assert_eq!(t.fields(t.find(b"a")), &[0]);
    }

    #[test]
    fn is_held_to_the_limits_of_a_dfa() {
        let owned: Vec<Vec<u8>> = (0..100).map(|i| format!("v{i}").into_bytes()).collect();
        let strings: Vec<(&[u8], Action)> = owned
            .iter()
            .map(|s| (s.as_slice(), Action::Field(0)))
            .collect();
        let e = Literals::build(&globs(&strings), 50, usize::MAX).unwrap_err();
        assert_eq!(e.exceeded, Exceeded::States);
        assert_eq!(e.glob, 49);
        let e =
            Literals::build(&globs(&strings), usize::MAX, 10 * (ENTRY_OVERHEAD + 3)).unwrap_err();
        assert_eq!(e.exceeded, Exceeded::Bytes);
        // The same string again takes no entry.
        let again: Vec<(&[u8], Action)> =
            (0..100).map(|_| (&b"same"[..], Action::Field(0))).collect();
        assert!(Literals::build(&globs(&again), 2, usize::MAX).is_ok());
    }
}
