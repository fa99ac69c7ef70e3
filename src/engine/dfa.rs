//! Glob sets → one deterministic byte automaton.
//!
//! Every string operator of a path reduces to a glob over bytes: exact `abc`,
//! prefix `abc*`, wildcard as written; suffixes run reversed (`cba*` over the
//! reversed value). The case-insensitive forms are globs with alternatives
//! ([`Tok::Fork`], [`Tok::Jump`]): each character of the pattern accepts
//! its lower- or its upper-case bytes ([`case_glob`]), so they run over the
//! event's bytes as they are, never over a folded copy.
//! All globs of one path and direction are compiled together by subset
//! construction into a DFA over byte classes, so matching a value costs one
//! table lookup per byte whatever the number of rules; each state lists the
//! fields it satisfies and the anything-but matchers it excludes.
//!
//! Only the start state sees every glob; after the first byte the live set is
//! the handful of globs sharing that prefix, which keeps construction near
//! linear for tens of thousands of exact or prefix rules. A glob with a
//! literal after a `*` stays live in every state from that `*` on, and the
//! DFA must remember how far each such glob got: many of them on one path
//! make the state count exponential. The engine therefore builds within a
//! [`Budget`] checked as each state is added (states, bytes of tables and
//! construction scratch, steps), and moves such globs to
//! [`pieces`](super::pieces) when a first, small attempt runs out of it.

use std::hash::BuildHasher;

use crate::pattern::case::case_forms;
use crate::pattern::GlobTok;

/// One element of a glob with alternatives: a wildcard's tokens, plus the
/// two jumps that spell "this text or that one" for the case-insensitive
/// forms. Jumps move forward only, so the closure over them ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Byte(u8),
    Star,
    /// Goes on both at the next token and `n` tokens ahead (the start of
    /// the second alternative).
    Fork(u32),
    /// Goes on `n` tokens ahead (from the end of the first alternative to
    /// what follows the second).
    Jump(u32),
}

/// What [`Dfa::build`] reads a glob's tokens as.
pub(crate) trait Token: Copy {
    fn tok(self) -> Tok;
}

impl Token for Tok {
    #[inline]
    fn tok(self) -> Tok {
        self
    }
}

impl Token for GlobTok {
    #[inline]
    fn tok(self) -> Tok {
        match self {
            GlobTok::Byte(b) => Tok::Byte(b),
            GlobTok::Star => Tok::Star,
        }
    }
}

/// State 0 matches nothing and never leaves itself.
pub(crate) const DEAD: u32 = 0;

/// What reaching the end of a glob means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// The field (matcher disjunction) with this id is satisfied.
    Field(u32),
    /// The anything-but matcher with this id is excluded by this value.
    Exclude(u32),
}

/// What building one automaton may spend; see [`Dfa::build`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Budget {
    /// Most states of the automaton.
    pub states: usize,
    /// Most bytes its tables and the construction's scratch may hold at once.
    pub bytes: usize,
    /// Most construction steps (one per position copied into a candidate
    /// state): bounds the time a build takes even where states are few but
    /// large.
    pub steps: u64,
}

impl Budget {
    /// A budget of `states` states and nothing else.
    #[cfg(test)]
    pub(crate) fn states(states: usize) -> Budget {
        Budget {
            states,
            bytes: usize::MAX,
            steps: u64::MAX,
        }
    }
}

/// Which part of a [`Budget`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Exceeded {
    States,
    Bytes,
    Steps,
}

/// A build stopped by its budget, with the glob (an index into the build's
/// input) whose positions were being added: the latest one involved, since
/// globs come in rule order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Over {
    pub exceeded: Exceeded,
    pub glob: usize,
}

/// Bytes a state costs beyond its transitions and positions: its span (16)
/// and hash-table slot (5), each up to twice over while the tables double,
/// come to about 40. The figure is the one from when each set had an
/// allocation of its own, kept so that a budget admits the rule sets it
/// did.
const STATE_OVERHEAD: usize = 128;

#[derive(Debug, Clone)]
pub(crate) struct Dfa {
    classes: [u8; 256],
    stride: usize,
    trans: Vec<u32>,
    /// What reaching each state means.
    outcomes: Outcomes,
    start: u32,
}

/// Per id (a DFA state, a literal table's entry): the fields it satisfies
/// and the anything-but matchers it excludes, each list a range of one
/// array.
#[derive(Debug, Clone)]
pub(crate) struct Outcomes {
    field_at: Vec<u32>,
    fields: Vec<u32>,
    excl_at: Vec<u32>,
    excls: Vec<u32>,
}

impl Outcomes {
    pub(crate) fn with_capacity(ids: usize) -> Outcomes {
        let mut field_at = Vec::with_capacity(ids + 1);
        let mut excl_at = Vec::with_capacity(ids + 1);
        field_at.push(0);
        excl_at.push(0);
        Outcomes {
            field_at,
            fields: Vec::new(),
            excl_at,
            excls: Vec::new(),
        }
    }

    /// The next id's outcomes, in order.
    pub(crate) fn push(&mut self, actions: impl IntoIterator<Item = Action>) {
        for action in actions {
            match action {
                Action::Field(f) => self.fields.push(f),
                Action::Exclude(a) => self.excls.push(a),
            }
        }
        self.field_at.push(self.fields.len() as u32);
        self.excl_at.push(self.excls.len() as u32);
    }

    #[inline]
    pub(crate) fn fields(&self, id: u32) -> &[u32] {
        &self.fields[self.field_at[id as usize] as usize..self.field_at[id as usize + 1] as usize]
    }

    #[inline]
    pub(crate) fn excluded(&self, id: u32) -> &[u32] {
        &self.excls[self.excl_at[id as usize] as usize..self.excl_at[id as usize + 1] as usize]
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(self.field_at.as_slice())
            + std::mem::size_of_val(self.fields.as_slice())
            + std::mem::size_of_val(self.excl_at.as_slice())
            + std::mem::size_of_val(self.excls.as_slice())
    }

    /// How many ids there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.field_at.len() - 1
    }
}

type NState = (u32, u32);

/// The state sets of a build: each one's positions in `arena`, by state id,
/// and a table from a set's hash to its id. Hashed with foldhash rather
/// than SipHash (a third of compiling 10,000 exact rules, callgrind),
/// seeded per process as SipHash is, since patterns may come from clients
/// (`TestEventPattern`).
#[derive(Default)]
struct Sets {
    arena: Vec<NState>,
    spans: Vec<(usize, usize)>,
    /// Each set's hash, so that the table grows without hashing sets again.
    hashes: Vec<u64>,
    ids: hashbrown::HashTable<u32>,
}

impl Sets {
    fn get(&self, id: u32) -> &[NState] {
        let (at, len) = self.spans[id as usize];
        &self.arena[at..at + len]
    }

    fn find(&self, set: &[NState], hash: u64) -> Option<u32> {
        self.ids.find(hash, |&id| self.get(id) == set).copied()
    }

    /// Adds `set`, whose hash is `hash`, as the next id.
    fn push(&mut self, set: &[NState], hash: u64) {
        let id = self.spans.len() as u32;
        self.spans.push((self.arena.len(), set.len()));
        self.arena.extend_from_slice(set);
        self.hashes.push(hash);
        let hashes = &self.hashes;
        self.ids.insert_unique(hash, id, |&id| hashes[id as usize]);
    }
}

impl Dfa {
    /// Subset construction of `globs` within `budget`, which is checked
    /// as every state is added, so that a rule set over it stops at the
    /// budget instead of exhausting memory.
    pub(crate) fn build<T: Token>(globs: &[(Vec<T>, Action)], budget: Budget) -> Result<Dfa, Over> {
        // Byte classes: every byte some glob names gets its own class; all
        // other bytes share class 0 (when fewer than 256 are named).
        let mut named = [false; 256];
        for (g, _) in globs {
            for t in g {
                if let Tok::Byte(b) = t.tok() {
                    named[b as usize] = true;
                }
            }
        }
        let count = named.iter().filter(|n| **n).count();
        let offset = usize::from(count < 256);
        let mut classes = [0u8; 256];
        let mut reps: Vec<u8> = Vec::new();
        if offset == 1 {
            reps.push(named.iter().position(|n| !n).unwrap_or(0) as u8);
        }
        for b in 0..256usize {
            if named[b] {
                classes[b] = reps.len() as u8;
                reps.push(b as u8);
            }
        }
        let stride = reps.len();

        let tok = |g: u32, p: u32| globs[g as usize].0.get(p as usize).map(|t| t.tok());
        // Positions on a fork or jump are left out of the sets: they step on
        // no byte, and keeping them would tell equal states apart.
        let closure = |set: &mut Vec<NState>| {
            let mut k = 0;
            let mut jumps = false;
            while k < set.len() {
                let (g, p) = set[k];
                match tok(g, p) {
                    Some(Tok::Star) => set.push((g, p + 1)),
                    Some(Tok::Fork(n)) => {
                        set.push((g, p + 1));
                        set.push((g, p + n));
                        jumps = true;
                    }
                    Some(Tok::Jump(n)) => {
                        set.push((g, p + n));
                        jumps = true;
                    }
                    _ => {}
                }
                k += 1;
            }
            if jumps {
                set.retain(|&(g, p)| !matches!(tok(g, p), Some(Tok::Fork(_) | Tok::Jump(_))));
            }
            set.sort_unstable();
            set.dedup();
        };

        // Every set is stored once, end to end in one arena, and found again
        // by a hash table of state ids: no allocation per state (a shared
        // `Rc<[NState]>` per state and a map keyed by it were a fifth of
        // compiling 10,000 exact rules, most of it malloc; callgrind).
        let hasher = foldhash::fast::RandomState::default();
        let hash = |set: &[NState]| hasher.hash_one(set);
        let mut store = Sets::default();
        let mut used = 0usize;
        let mut steps = 0u64;
        // The latest glob of a set: sets are sorted by glob.
        let last_glob = |set: &[NState]| set.last().map_or(0, |&(g, _)| g as usize);
        let mut add = |set: &[NState], h: u64, store: &mut Sets| -> Result<u32, Over> {
            let id = store.spans.len();
            // Its row of transitions counts twice: the table grows by
            // doubling.
            used = used
                .saturating_add(stride * 8 + STATE_OVERHEAD)
                .saturating_add(std::mem::size_of_val(set));
            let exceeded = if id >= budget.states {
                Some(Exceeded::States)
            } else if used > budget.bytes {
                Some(Exceeded::Bytes)
            } else {
                None
            };
            if let Some(exceeded) = exceeded {
                return Err(Over {
                    exceeded,
                    glob: last_glob(set),
                });
            }
            store.push(set, h);
            Ok(id as u32)
        };
        add(&[], hash(&[]), &mut store)?;
        let mut start: Vec<NState> = (0..globs.len() as u32).map(|g| (g, 0)).collect();
        closure(&mut start);
        add(&start, hash(&start), &mut store)?;

        let mut trans: Vec<u32> = vec![DEAD; stride];
        let mut buckets: Vec<Vec<NState>> = vec![Vec::new(); stride];
        let mut stars: Vec<NState> = Vec::new();
        let mut set: Vec<NState> = Vec::new();
        // The classes some position of the set steps on, in order: without
        // a star, every other class goes to DEAD, and is neither cleared
        // nor visited (most classes of most states of exact and prefix
        // rules).
        let mut touched: Vec<usize> = Vec::new();
        let all: Vec<usize> = (0..stride).collect();
        let mut s = 1;
        while s < store.spans.len() {
            for &c in &touched {
                buckets[c].clear();
            }
            touched.clear();
            stars.clear();
            set.clear();
            set.extend_from_slice(store.get(s as u32));
            for &(g, p) in set.iter() {
                match tok(g, p) {
                    Some(Tok::Byte(b)) => {
                        let c = classes[b as usize] as usize;
                        if buckets[c].is_empty() {
                            touched.push(c);
                        }
                        buckets[c].push((g, p + 1));
                    }
                    Some(Tok::Star) => stars.push((g, p)),
                    // Jumps never stay in a set (`closure`).
                    Some(Tok::Fork(_) | Tok::Jump(_)) | None => {}
                }
            }
            let row = trans.len();
            trans.resize(row + stride, DEAD);
            if stars.is_empty() {
                touched.sort_unstable();
            } else {
                // Every class steps on the stars; all are cleared next.
                touched.clear();
                touched.extend_from_slice(&all);
            }
            for &c in &touched {
                let next = &mut buckets[c];
                next.extend_from_slice(&stars);
                closure(next);
                steps += next.len() as u64;
                if steps > budget.steps {
                    return Err(Over {
                        exceeded: Exceeded::Steps,
                        glob: last_glob(&set),
                    });
                }
                let h = hash(next);
                trans[row + c] = match store.find(next, h) {
                    Some(id) => id,
                    None => add(next, h, &mut store)?,
                };
            }
            s += 1;
        }

        let states = store.spans.len();
        let mut outcomes = Outcomes::with_capacity(states);
        for id in 0..states {
            outcomes.push(store.get(id as u32).iter().filter_map(|&(g, p)| {
                let (toks, action) = &globs[g as usize];
                (p as usize == toks.len()).then_some(*action)
            }));
        }
        drop(store);
        let (classes, stride, trans) = merge_classes(classes, stride, trans);
        Ok(Dfa {
            classes,
            stride,
            trans,
            outcomes,
            start: 1,
        })
    }

    #[inline]
    fn next(&self, s: u32, b: u8) -> u32 {
        self.trans[s as usize * self.stride + self.classes[b as usize] as usize]
    }

    /// Runs the value forwards; returns the final state.
    #[inline]
    pub(crate) fn run(&self, value: &[u8]) -> u32 {
        let mut s = self.start;
        for &b in value {
            s = self.next(s, b);
            if s == DEAD {
                break;
            }
        }
        s
    }

    /// Runs the value backwards (for suffix globs, stored reversed).
    #[inline]
    pub(crate) fn run_rev(&self, value: &[u8]) -> u32 {
        let mut s = self.start;
        for &b in value.iter().rev() {
            s = self.next(s, b);
            if s == DEAD {
                break;
            }
        }
        s
    }

    #[inline]
    pub(crate) fn fields(&self, s: u32) -> &[u32] {
        self.outcomes.fields(s)
    }

    #[inline]
    pub(crate) fn excluded(&self, s: u32) -> &[u32] {
        self.outcomes.excluded(s)
    }

    /// Heap bytes the automaton keeps.
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(self.trans.as_slice()) + self.outcomes.heap_bytes()
    }

    #[cfg(test)]
    pub(crate) fn states(&self) -> usize {
        self.outcomes.len()
    }
}

/// Tokens of an exact string (`exact = true`) or a prefix (`abc*`).
pub(crate) fn literal_glob(bytes: &[u8], prefix: bool) -> Vec<GlobTok> {
    let mut t: Vec<GlobTok> = bytes.iter().map(|&b| GlobTok::Byte(b)).collect();
    if prefix {
        t.push(GlobTok::Star);
    }
    t
}

/// Tokens of a suffix, reversed for [`Dfa::run_rev`].
pub(crate) fn suffix_glob(bytes: &[u8]) -> Vec<GlobTok> {
    let mut t: Vec<GlobTok> = bytes.iter().rev().map(|&b| GlobTok::Byte(b)).collect();
    t.push(GlobTok::Star);
    t
}

/// Which case-insensitive operator a [`case_glob`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CaseForm {
    Equals,
    Prefix,
    Suffix,
}

/// Tokens of a case-insensitive pattern ([`crate::pattern::case`]): for
/// each character, its lower- or its upper-case bytes. A prefix ends with
/// a star; a suffix does too and is reversed, characters and bytes, for
/// [`Dfa::run_rev`].
pub(crate) fn case_glob(s: &str, form: CaseForm) -> Vec<Tok> {
    let reversed = form == CaseForm::Suffix;
    let mut chars: Vec<char> = s.chars().collect();
    if reversed {
        chars.reverse();
    }
    let mut t = Vec::with_capacity(s.len() + 1);
    let push = |t: &mut Vec<Tok>, text: &str| {
        let bytes = text.bytes().map(Tok::Byte);
        if reversed {
            t.extend(bytes.rev());
        } else {
            t.extend(bytes);
        }
    };
    for c in chars {
        let [lower, upper] = case_forms(c);
        if lower == upper {
            push(&mut t, &lower);
        } else {
            // Fork, lower, Jump, upper: the fork skips over the lower form
            // and its jump, the jump over the upper form.
            t.push(Tok::Fork(lower.len() as u32 + 2));
            push(&mut t, &lower);
            t.push(Tok::Jump(upper.len() as u32 + 1));
            push(&mut t, &upper);
        }
    }
    if form != CaseForm::Equals {
        t.push(Tok::Star);
    }
    t
}

/// Byte classes whose transitions agree in every state become one, so that
/// rows are no wider than the automaton needs: an upper- and a lower-case
/// letter that every case-insensitive glob accepts alike take one column,
/// not two.
fn merge_classes(
    classes: [u8; 256],
    stride: usize,
    mut trans: Vec<u32>,
) -> ([u8; 256], usize, Vec<u32>) {
    use std::hash::{BuildHasher, Hash, Hasher};
    let states = trans.len() / stride;
    // Columns are compared in place (a copy of each would double the
    // table while it is built): by hash first, then entry by entry. A
    // fixed foldhash, not SipHash (3% of compiling 10,000 exact rules,
    // callgrind): colliding columns only cost a comparison, and there are
    // at most 256 of them.
    let t = &trans;
    let column = |c: usize| (0..states).map(move |s| t[s * stride + c]);
    let seed = foldhash::fast::FixedState::default();
    let hashes: Vec<u64> = (0..stride)
        .map(|c| {
            let mut h = seed.build_hasher();
            column(c).for_each(|q| q.hash(&mut h));
            h.finish()
        })
        .collect();
    let mut kept: Vec<usize> = Vec::with_capacity(stride);
    let mut renumber = vec![0u8; stride];
    for c in 0..stride {
        let same = kept
            .iter()
            .position(|&k| hashes[k] == hashes[c] && column(k).eq(column(c)));
        renumber[c] = match same {
            Some(j) => j as u8,
            None => {
                kept.push(c);
                (kept.len() - 1) as u8
            }
        };
    }
    if kept.len() == stride {
        return (classes, stride, trans);
    }
    // In place: entry (s, j) moves to s * kept + j, never after where it
    // is read from (s * stride + kept[j], as kept[j] >= j).
    let width = kept.len();
    for s in 0..states {
        for (j, &c) in kept.iter().enumerate() {
            trans[s * width + j] = trans[s * stride + c];
        }
    }
    trans.truncate(states * width);
    trans.shrink_to_fit();
    (classes.map(|c| renumber[c as usize]), width, trans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::wildcard::parse_wildcard;

    fn glob(s: &str) -> Vec<GlobTok> {
        parse_wildcard(s).unwrap().tokens
    }

    fn case_dfa(globs: &[(&str, CaseForm, u32)]) -> Dfa {
        let globs: Vec<_> = globs
            .iter()
            .map(|&(s, form, f)| (case_glob(s, form), Action::Field(f)))
            .collect();
        Dfa::build(&globs, Budget::states(1000)).unwrap()
    }

    /// Each character of the pattern accepts its lower or its upper form,
    /// exactly, over the raw bytes of the value.
    #[test]
    fn case_globs_accept_each_characters_two_forms() {
        let d = case_dfa(&[
            ("hyde", CaseForm::Equals, 1),
            ("zz", CaseForm::Prefix, 2),
            ("straße", CaseForm::Equals, 3),
            ("ǅ", CaseForm::Equals, 4),
        ]);
        let on = |v: &str| d.fields(d.run(v.as_bytes())).to_vec();
        for (value, field) in [
            ("HyDe", 1),
            ("hyde", 1),
            ("ZZ TOP", 2),
            ("zZ", 2),
            ("straße", 3),
            ("STRASSE", 3),
            ("StraSSe", 3),
            ("ǆ", 4),
            ("Ǆ", 4),
        ] {
            assert_eq!(on(value), [field], "{value}");
        }
        for value in ["HYDEX", "@YDE", "strasse", "STRASE", "ǅ", "DŽ", "z"] {
            assert!(on(value).is_empty(), "{value}");
        }
        let d = case_dfa(&[("ŉ.PNG", CaseForm::Suffix, 5)]);
        let on = |v: &str| d.fields(d.run_rev(v.as_bytes())).to_vec();
        assert_eq!(on("x\u{2bc}N.png"), [5]);
        assert_eq!(on("ŉ.Png"), [5]);
        assert!(on("\u{2bc}n.png").is_empty());
    }

    /// An upper- and a lower-case letter that step alike share a class, so
    /// a case-insensitive automaton is no wider than a case-sensitive one.
    #[test]
    fn classes_that_step_alike_are_merged() {
        let ci = case_dfa(&[("hyde", CaseForm::Equals, 1)]);
        let cs = Dfa::build(
            &[(literal_glob(b"hyde", false), Action::Field(1))],
            Budget::states(100),
        )
        .unwrap();
        assert_eq!(ci.stride, cs.stride);
        assert_eq!(ci.states(), cs.states());
    }

    #[test]
    fn mixed_globs_share_one_automaton() {
        let globs = vec![
            (literal_glob(b"abc", false), Action::Field(1)),
            (literal_glob(b"ab", true), Action::Field(2)),
            (glob("a*c"), Action::Field(3)),
            (literal_glob(b"abc", false), Action::Exclude(7)),
        ];
        let d = Dfa::build(&globs, Budget::states(1000)).unwrap();
        let s = d.run(b"abc");
        let mut f = d.fields(s).to_vec();
        f.sort();
        assert_eq!(f, vec![1, 2, 3]);
        assert_eq!(d.excluded(s), &[7]);
        let s = d.run(b"abxc");
        let mut f = d.fields(s).to_vec();
        f.sort();
        assert_eq!(f, vec![2, 3]);
        assert!(d.excluded(s).is_empty());
        assert_eq!(d.run(b"b"), DEAD);
        let s = d.run(b"");
        assert!(d.fields(s).is_empty());
    }

    #[test]
    fn suffixes_run_reversed() {
        let d = Dfa::build(
            &[(suffix_glob(b".png"), Action::Field(0))],
            Budget::states(100),
        )
        .unwrap();
        assert_eq!(d.fields(d.run_rev(b"x.png")), &[0]);
        assert!(d.fields(d.run_rev(b"x.PNG")).is_empty());
    }

    #[test]
    fn state_cap_is_enforced() {
        let globs: Vec<_> = (0..50)
            .map(|i| {
                (
                    literal_glob(format!("value-{i}").as_bytes(), false),
                    Action::Field(i),
                )
            })
            .collect();
        let over = Dfa::build(&globs, Budget::states(10)).unwrap_err();
        assert_eq!(over.exceeded, Exceeded::States);
        assert!(Dfa::build(&globs, Budget::states(1000)).unwrap().states() < 200);
    }

    /// Infix wildcards that blow the subset construction up stop at each
    /// part of the budget, naming the latest glob involved.
    #[test]
    fn budget_stops_a_blow_up_as_it_happens() {
        let globs: Vec<_> = (0..12u32)
            .map(|i| (glob(&format!("*{i}x*y{i}*")), Action::Field(i)))
            .collect();
        let bytes = Budget {
            bytes: 1 << 20,
            ..Budget::states(usize::MAX)
        };
        let over = Dfa::build(&globs, bytes).unwrap_err();
        assert_eq!(over.exceeded, Exceeded::Bytes);
        assert!(over.glob < globs.len());
        let steps = Budget {
            steps: 100_000,
            ..Budget::states(usize::MAX)
        };
        assert_eq!(
            Dfa::build(&globs, steps).unwrap_err().exceeded,
            Exceeded::Steps
        );
        let over = Dfa::build(&globs, Budget::states(5000)).unwrap_err();
        assert_eq!(over.exceeded, Exceeded::States);
        // Two of them are small, and right.
        let d = Dfa::build(&globs[..2], Budget::states(1000)).unwrap();
        assert_eq!(d.fields(d.run(b"a0xb1xy1y0")), [0, 1]);
        assert!(d.fields(d.run(b"y0 0x")).is_empty());
    }
}
