//! Wildcard complexity, counted the way event-ruler (the library inside
//! EventBridge) counts it, so that busbar accepts and rejects the same rules.
//!
//! event-ruler's figure is not a property of the patterns alone: it is read
//! off the byte automaton that event-ruler builds for one field of a rule,
//! with all that automaton's sharing and its quirks. This module therefore
//! builds a small model of that automaton, from the field's `wildcard` and
//! `anything-but` `wildcard` matchers, and walks it:
//!
//! 1. **Building.** Each pattern text is wrapped in the JSON quotes event-ruler
//!    keeps around string values (`*a` is laid out as `"*a"`), then added one
//!    position at a time. An added text follows existing states as far as it
//!    may reuse them: a state reached only by fixed bytes is shared; a state
//!    after a `*` (an *open* state) is shared only when no second path to it
//!    can exist (the current state has no `*` move of its own, and the byte
//!    is not a letter with two cases). A `*` becomes a move on every byte to
//!    a fresh state that loops to itself on every byte; the byte after a `*`
//!    is reachable both from that loop and from the state before the `*`, as
//!    one shared move. The last byte carries the pattern's *match*.
//!    Matches of one `anything-but` set are one pattern and compare equal, as
//!    event-ruler's do; its texts are added in the order of Java's `HashSet`
//!    of the quoted texts ([`java_set_order`]), since sharing depends on order.
//! 2. **Walking.** A walk over the sets of moves that one input can have
//!    taken at once (a subset construction over moves, not states).
//!    A set scores, for each move in it, the number of distinct patterns
//!    whose matches lie ahead of that move, plus the same for each `*` move
//!    of its target state that is not in the set itself (input that reached
//!    `ab` also stands at `ab*`). The complexity is the highest score.
//!
//! A field's other matchers (exact, prefix, equals-ignore-case...) are left
//! out: they score nothing, and states they would share with a wildcard
//! change only which objects hold the same moves, not how many moves lead
//! to each wildcard match. A rule's complexity is the highest of its
//! automata; which fields share one (the same path of several `$or`
//! branches after the same earlier fields) the engine decides, as
//! event-ruler's name states do.
//!
//! The walk can visit exponentially many sets. It stops as soon as a set
//! reaches `cap` (the caller passes its limit plus one, as event-ruler's
//! evaluator stops at its own cap), and it has a work budget of its own: a
//! walk that would take more than [`WALK_BUDGET`] steps is an error, so no
//! pattern within the size limits can stall `validate` or a reload.

use std::collections::{HashMap, HashSet};

use crate::pattern::case::case_forms;
use crate::pattern::{Glob, GlobTok};

/// Most steps (one per move gathered into a candidate set) a walk may take:
/// about 0.2 s in a release build. A field of four `*<c>` + 400 × `x` + `*`
/// wildcards, the largest the fuzzer has made, walks 0.9 million to its
/// figure (12), and 0.22 million to the default cap; realistic rules take
/// thousands.
pub(crate) const WALK_BUDGET: u64 = 4_000_000;

/// The patterns of one field that carry complexity, in the field's order.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    Wildcard(&'a Glob),
    /// One `anything-but` `wildcard` set: one pattern, however many texts.
    AnythingBut(&'a [Glob]),
}

/// The walk ran out of [`WALK_BUDGET`] before it could say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverBudget;

/// The wildcard complexity of one automaton (one field's sources): at most
/// `cap` (the walk stops once a set scores `cap`). The walk's steps are
/// taken from `budget`.
pub(crate) fn field_complexity(
    sources: &[Source<'_>],
    cap: usize,
    budget: &mut u64,
) -> Result<usize, OverBudget> {
    let mut machine = Machine::new();
    let mut ids: HashMap<(bool, Vec<&str>), u32> = HashMap::new();
    for source in sources {
        match source {
            Source::Wildcard(g) => {
                let key = (false, vec![g.text.as_str()]);
                let next = ids.len() as u32;
                let pattern = *ids.entry(key).or_insert(next);
                machine.add(pattern, &quoted(&g.tokens));
            }
            Source::AnythingBut(globs) => {
                let order = java_set_order(globs);
                let mut texts: Vec<&str> = order.iter().map(|g| g.text.as_str()).collect();
                texts.sort_unstable();
                let next = ids.len() as u32;
                let pattern = *ids.entry((true, texts)).or_insert(next);
                for g in order {
                    machine.add(pattern, &quoted(&g.tokens));
                }
            }
        }
    }
    let (result, steps) = machine.walk(cap, *budget);
    *budget = budget.saturating_sub(steps);
    result
}

/// One element of an added text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sym {
    Byte(u8),
    Star,
}

/// `"` + tokens + `"`, as event-ruler stores a string value.
fn quoted(tokens: &[GlobTok]) -> Vec<Sym> {
    let mut syms = Vec::with_capacity(tokens.len() + 2);
    syms.push(Sym::Byte(b'"'));
    syms.extend(tokens.iter().map(|t| match t {
        GlobTok::Byte(b) => Sym::Byte(*b),
        GlobTok::Star => Sym::Star,
    }));
    syms.push(Sym::Byte(b'"'));
    syms
}

/// The globs of an `anything-but` set in the order a Java `HashSet` of
/// their quoted texts yields them: by bucket (the string's hash, spread and
/// masked by the table size the set has grown to), ties in insertion order;
/// a repeated text keeps its first place. Sets of 49 texts or more may
/// order a crowded bucket differently in Java (it becomes a tree there).
fn java_set_order(globs: &[Glob]) -> Vec<&Glob> {
    let mut seen = HashSet::new();
    let distinct: Vec<&Glob> = globs.iter().filter(|g| seen.insert(&g.text)).collect();
    let mut table = 16usize;
    while distinct.len() * 4 > table * 3 {
        table *= 2;
    }
    let bucket = |g: &Glob| {
        let h = java_hash(&format!("\"{}\"", g.text));
        ((h ^ (h >> 16)) as usize) & (table - 1)
    };
    let mut order = distinct;
    order.sort_by_key(|g| bucket(g));
    order
}

/// Java's `String.hashCode`: over UTF-16 code units, wrapping.
fn java_hash(s: &str) -> u32 {
    s.encode_utf16()
        .fold(0u32, |h, u| h.wrapping_mul(31).wrapping_add(u32::from(u)))
}

/// A move of the automaton. Its index is its identity: two moves with the
/// same target are still two moves, except matches of one pattern, which
/// event-ruler compares by pattern (and the shared next name state).
#[derive(Debug, Clone, Copy)]
struct Move {
    to: Option<u32>,
    pattern: Option<u32>,
}

#[derive(Debug, Default)]
struct State {
    /// The moves on one byte, sorted by byte.
    on: Vec<(u8, Vec<u32>)>,
    /// The moves on every byte (a `*`).
    any: Vec<u32>,
    /// Reached through a `*` (or a multi-byte alternative, which this model
    /// never builds): sharing it could add matches, see [`Machine::may_share`].
    open: bool,
    /// The move that is this state itself (event-ruler's states double as
    /// moves into themselves).
    itself: u32,
}

#[derive(Debug)]
struct Machine {
    states: Vec<State>,
    moves: Vec<Move>,
    /// The one match move of each pattern.
    matches: HashMap<u32, u32>,
    /// A pattern that is `*` alone matches at the start state; event-ruler
    /// counts it once on top of the walk. (Never with quoted texts.)
    start_match: bool,
}

const START: u32 = 0;

impl Machine {
    fn new() -> Machine {
        let mut m = Machine {
            states: Vec::new(),
            moves: Vec::new(),
            matches: HashMap::new(),
            start_match: false,
        };
        m.new_state(false);
        m
    }

    fn new_state(&mut self, open: bool) -> u32 {
        let s = self.states.len() as u32;
        let itself = self.new_move(Some(s), None);
        self.states.push(State {
            open,
            itself,
            ..State::default()
        });
        s
    }

    fn new_move(&mut self, to: Option<u32>, pattern: Option<u32>) -> u32 {
        self.moves.push(Move { to, pattern });
        self.moves.len() as u32 - 1
    }

    fn match_move(&mut self, pattern: u32) -> u32 {
        if let Some(&m) = self.matches.get(&pattern) {
            return m;
        }
        let m = self.new_move(None, Some(pattern));
        self.matches.insert(pattern, m);
        m
    }

    /// The moves from `s` on byte `b`: its own, and its `*` moves.
    fn on_byte(&self, s: u32, b: u8) -> impl Iterator<Item = u32> + '_ {
        let st = &self.states[s as usize];
        let own = match st.on.binary_search_by_key(&b, |e| e.0) {
            Ok(i) => st.on[i].1.as_slice(),
            Err(_) => &[],
        };
        own.iter().chain(st.any.iter()).copied()
    }

    fn moves_on(&self, s: u32, sym: Sym) -> Vec<u32> {
        match sym {
            Sym::Star => self.states[s as usize].any.clone(),
            Sym::Byte(b) => {
                let mut v: Vec<u32> = Vec::new();
                for m in self.on_byte(s, b) {
                    if !v.contains(&m) {
                        v.push(m);
                    }
                }
                v
            }
        }
    }

    fn add_move(&mut self, s: u32, sym: Sym, mv: u32) {
        let st = &mut self.states[s as usize];
        match sym {
            // Only ever a state's first `*` move in what this model builds.
            Sym::Star => {
                st.on.clear();
                st.any = vec![mv];
            }
            Sym::Byte(b) => match st.on.binary_search_by_key(&b, |e| e.0) {
                Ok(i) => {
                    if !st.on[i].1.contains(&mv) {
                        st.on[i].1.push(mv);
                    }
                }
                Err(i) => st.on.insert(i, (b, vec![mv])),
            },
        }
    }

    fn add_any(&mut self, s: u32, mv: u32) {
        let any = &mut self.states[s as usize].any;
        if !any.contains(&mv) {
            any.push(mv);
        }
    }

    fn remove_move(&mut self, s: u32, sym: Sym, mv: u32) {
        let st = &mut self.states[s as usize];
        match sym {
            Sym::Star => st.any.retain(|&m| m != mv),
            Sym::Byte(b) => {
                if let Ok(i) = st.on.binary_search_by_key(&b, |e| e.0) {
                    st.on[i].1.retain(|&m| m != mv);
                }
            }
        }
    }

    /// Adds one text whose last element carries `pattern`'s match.
    fn add(&mut self, pattern: u32, syms: &[Sym]) {
        let n = syms.len();
        if n == 1 && syms[0] == Sym::Star {
            self.start_match = true;
            return;
        }
        // Follow states that may be shared.
        let (mut s, mut prev, mut i) = (START, None, 0);
        while i + 1 < n {
            let next = self
                .moves_on(s, syms[i])
                .into_iter()
                .filter_map(|m| self.moves[m as usize].to)
                .find(|&t| self.may_share(s, t, syms, i));
            let Some(t) = next else { break };
            prev = Some(s);
            s = t;
            i += 1;
        }
        // Then go on through what exists while it is fixed, else build.
        while i + 1 < n {
            if i + 2 == n && syms[i + 1] == Sym::Star {
                break;
            }
            let Some(&mv) = self.moves_on(s, syms[i]).first() else {
                break;
            };
            match self.moves[mv as usize].to {
                Some(t) if self.states[t as usize].open => break,
                Some(t) => {
                    prev = Some(s);
                    s = t;
                }
                None => {
                    // A match ends here: give it a way on.
                    let t = self.new_state(self.states[s as usize].open);
                    let pattern = self.moves[mv as usize].pattern;
                    let with_next = self.new_move(Some(t), pattern);
                    self.add_move(s, syms[i], with_next);
                    self.remove_move(s, syms[i], mv);
                    prev = Some(s);
                    s = t;
                }
            }
            i += 1;
        }
        while i + 1 < n {
            let t = self.next_or_new(s, prev, syms, i, pattern);
            prev = Some(s);
            s = t;
            i += 1;
        }
        self.end(pattern, syms, s, prev);
    }

    /// May the text at `i` go on from `s` into the existing state `t`?
    fn may_share(&self, s: u32, t: u32, syms: &[Sym], i: usize) -> bool {
        if t == s {
            return false;
        }
        if !self.states[t as usize].open {
            return !(i + 2 == syms.len() && syms[i + 1] == Sym::Star);
        }
        !self.paths_converge(s, syms, i)
    }

    /// Could `s` reach the same place by two moves, one on `syms[i]`? Then
    /// sharing an open state would let other patterns match more. As
    /// event-ruler decides it: only at the first byte of a character, when
    /// `s` has a `*` move to another state, or the character has two cases.
    fn paths_converge(&self, s: u32, syms: &[Sym], i: usize) -> bool {
        let Sym::Byte(first) = syms[i] else {
            return false;
        };
        if (0x80..=0xbf).contains(&first) {
            return false;
        }
        let st = &self.states[s as usize];
        if !st.any.is_empty() && st.any != [st.itself] {
            return true;
        }
        let len = match first {
            0..=0x7f => 1,
            0xc0..=0xdf => 2,
            _ => 3,
        };
        let bytes: Vec<u8> = syms[i..]
            .iter()
            .take(len)
            .map(|s| match s {
                Sym::Byte(b) => *b,
                Sym::Star => b'*',
            })
            .collect();
        match String::from_utf8_lossy(&bytes).chars().next() {
            Some(c) if c != char::REPLACEMENT_CHARACTER => {
                let [lower, upper] = case_forms(c);
                lower != upper
            }
            _ => false,
        }
    }

    /// The state after `syms[i]` from `s`, built unless an existing fixed one
    /// may be reused.
    fn next_or_new(
        &mut self,
        s: u32,
        prev: Option<u32>,
        syms: &[Sym],
        i: usize,
        pattern: u32,
    ) -> u32 {
        let existing = self
            .moves_on(s, syms[i])
            .first()
            .and_then(|&m| self.moves[m as usize].to);
        let last_before_star = i + 2 == syms.len() && syms[i + 1] == Sym::Star;
        if let Some(t) = existing {
            if !self.states[t as usize].open && !last_before_star {
                return t;
            }
        }
        let t = self.new_state(self.states[s as usize].open);
        match syms[i] {
            Sym::Star => {
                let itself = self.states[t as usize].itself;
                self.add_any(t, itself);
                self.states[t as usize].open = true;
                self.add_any(s, itself);
            }
            Sym::Byte(_) => {
                let mut mv = self.states[t as usize].itself;
                if last_before_star {
                    // A text ending in `*` matches here already; its own
                    // next name state makes this match unlike any other.
                    mv = self.new_move(Some(t), Some(pattern));
                    self.states[t as usize].open = true;
                }
                self.add_move(s, syms[i], mv);
                if let (Some(p), true) = (prev, i > 0 && syms[i - 1] == Sym::Star) {
                    self.add_move(p, syms[i], mv);
                }
            }
        }
        t
    }

    /// Puts the match of `pattern` on the last element, from `s`.
    fn end(&mut self, pattern: u32, syms: &[Sym], s: u32, prev: Option<u32>) {
        let k = syms.len() - 1;
        let has = self
            .moves_on(s, syms[k])
            .iter()
            .any(|&m| self.moves[m as usize].pattern == Some(pattern));
        if has {
            return;
        }
        match syms[k] {
            Sym::Star => {
                // The state before carries the match (built above) and now
                // loops to itself through a second move of its own.
                let before = match prev {
                    Some(p) => self
                        .moves_on(p, syms[k - 1])
                        .into_iter()
                        .find(|&m| self.moves[m as usize].to == Some(s)),
                    None => None,
                };
                let (to, pat) = match before {
                    Some(m) => (self.moves[m as usize].to, self.moves[m as usize].pattern),
                    None => (Some(self.new_state(false)), Some(pattern)),
                };
                let looped = self.new_move(to, pat);
                if let Some(t) = to {
                    self.add_any(t, looped);
                    self.states[t as usize].open = true;
                }
            }
            Sym::Byte(_) => {
                let m = self.match_move(pattern);
                self.add_move(s, syms[k], m);
                if let (Some(p), true) = (prev, k > 0 && syms[k - 1] == Sym::Star) {
                    self.add_move(p, syms[k], m);
                }
            }
        }
    }

    /// How many distinct patterns have a match ahead of each move.
    fn ahead(&self) -> Vec<u32> {
        let patterns = self.moves.iter().filter_map(|m| m.pattern).max();
        let words = patterns.map_or(1, |p| p as usize / 64 + 1);
        // Adds what lies ahead of `m` to `acc`; a move back into `own`, the
        // state being summed, adds only its own match (the rest is `acc`).
        let add = |m: &Move, own: u32, state_ahead: &[u64], acc: &mut [u64]| {
            if let Some(p) = m.pattern {
                acc[p as usize / 64] |= 1 << (p % 64);
            }
            if let Some(t) = m.to.filter(|&t| t != own) {
                let row = &state_ahead[t as usize * words..(t as usize + 1) * words];
                acc.iter_mut().zip(row).for_each(|(a, r)| *a |= r);
            }
        };
        // Every move leads to a state created after its source, or back to
        // that source: states in reverse creation order find their
        // successors done.
        let mut state_ahead = vec![0u64; self.states.len() * words];
        let mut acc = vec![0u64; words];
        for s in (0..self.states.len()).rev() {
            acc.fill(0);
            let st = &self.states[s];
            for &m in st.on.iter().flat_map(|(_, v)| v).chain(st.any.iter()) {
                add(&self.moves[m as usize], s as u32, &state_ahead, &mut acc);
            }
            state_ahead[s * words..(s + 1) * words].copy_from_slice(&acc);
        }
        self.moves
            .iter()
            .map(|m| {
                acc.fill(0);
                add(m, u32::MAX, &state_ahead, &mut acc);
                acc.iter().map(|w| w.count_ones()).sum()
            })
            .collect()
    }

    /// [`Machine::walk`]'s figure alone.
    #[cfg(test)]
    fn complexity(&self, cap: usize, budget: u64) -> Result<usize, OverBudget> {
        self.walk(cap, budget).0
    }

    /// The walk of the module docs, stopped at `cap` or out of `budget`,
    /// and the steps it took. Depth first, where event-ruler goes breadth
    /// first: the highest score is the same, and a walk that reaches the
    /// cap only deep (after long literals) gets there without visiting
    /// every shallower set first.
    fn walk(&self, cap: usize, budget: u64) -> (Result<usize, OverBudget>, u64) {
        let extra = usize::from(self.start_match);
        let ahead = self.ahead();
        let mut walk = Walk {
            steps: 0,
            seen: Interner::default(),
            todo: Vec::new(),
            scratch: Vec::new(),
            pairs: Vec::new(),
            any: Vec::new(),
        };
        let mut best = 0usize;
        self.successors(&[START], &mut walk);
        let mut targets: Vec<u32> = Vec::new();
        while let Some(set) = walk.todo.pop() {
            if walk.steps > budget {
                return (Err(OverBudget), walk.steps);
            }
            let set = &walk.seen[set];
            let mut score = 0usize;
            for &m in set.iter() {
                score += ahead[m as usize] as usize;
                if let Some(t) = self.moves[m as usize].to {
                    for &a in &self.states[t as usize].any {
                        if set.binary_search(&a).is_err() {
                            score += ahead[a as usize] as usize;
                        }
                    }
                }
            }
            if score >= cap {
                return (Ok(cap + extra), walk.steps);
            }
            best = best.max(score);
            targets.clear();
            targets.extend(set.iter().filter_map(|&m| self.moves[m as usize].to));
            targets.sort_unstable();
            targets.dedup();
            self.successors(&targets, &mut walk);
        }
        (Ok(best + extra), walk.steps)
    }

    /// Queues the set of moves taken from `states` on each byte that any of
    /// them names, and on all other bytes, unless seen before.
    fn successors(&self, states: &[u32], walk: &mut Walk) {
        // (byte, move) for every named byte, grouped by byte; then each
        // group gets every state's `*` moves too.
        walk.pairs.clear();
        walk.any.clear();
        for &s in states {
            let st = &self.states[s as usize];
            for (b, moves) in &st.on {
                walk.pairs.extend(moves.iter().map(|&m| (*b, m)));
            }
            walk.any.extend_from_slice(&st.any);
        }
        walk.pairs.sort_unstable();
        // The set for bytes no state names goes first, so that the sets
        // that follow a named byte (where scores grow) are walked first.
        walk.scratch.clear();
        walk.scratch.extend_from_slice(&walk.any);
        walk.queue_scratch();
        let mut k = 0;
        while k < walk.pairs.len() {
            let b = walk.pairs[k].0;
            walk.scratch.clear();
            while k < walk.pairs.len() && walk.pairs[k].0 == b {
                walk.scratch.push(walk.pairs[k].1);
                k += 1;
            }
            walk.scratch.extend_from_slice(&walk.any);
            walk.queue_scratch();
        }
    }
}

/// A walk's scratch: the sets seen (interned, each once) and those still to
/// visit (their ids).
struct Walk {
    steps: u64,
    seen: Interner,
    todo: Vec<usize>,
    scratch: Vec<u32>,
    pairs: Vec<(u8, u32)>,
    any: Vec<u32>,
}

impl Walk {
    /// Queues the set in `scratch` (unsorted, maybe repeating) unless
    /// empty or seen before.
    fn queue_scratch(&mut self) {
        self.steps += self.scratch.len() as u64 + 1;
        self.scratch.sort_unstable();
        self.scratch.dedup();
        if !self.scratch.is_empty() {
            let (id, new) = self.seen.insert_full(&self.scratch);
            if new {
                self.todo.push(id);
            }
        }
    }
}

/// Sets of moves, each stored once and named by its index.
#[derive(Default)]
struct Interner {
    ids: HashMap<Box<[u32]>, usize, BuildFnv>,
    sets: Vec<Box<[u32]>>,
}

impl Interner {
    /// The id of `set`, and whether it is new.
    fn insert_full(&mut self, set: &[u32]) -> (usize, bool) {
        if let Some(&id) = self.ids.get(set) {
            return (id, false);
        }
        let id = self.sets.len();
        self.sets.push(set.into());
        self.ids.insert(set.into(), id);
        (id, true)
    }
}

impl std::ops::Index<usize> for Interner {
    type Output = [u32];
    fn index(&self, id: usize) -> &[u32] {
        &self.sets[id]
    }
}

type BuildFnv = std::hash::BuildHasherDefault<Fnv>;

/// FNV-1a: the walk hashes millions of short keys that no one outside
/// chooses the layout of (sets of move indices), where SipHash's
/// resistance buys nothing and costs half the walk.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0 ^ u64::from(v)).wrapping_mul(0x100_0000_01b3);
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (self.0 ^ v as u64).wrapping_mul(0x100_0000_01b3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pattern::wildcard::parse_wildcard;

    fn glob(s: &str) -> Glob {
        parse_wildcard(s).unwrap()
    }

    /// Texts added bare, as event-ruler's own machine-level tests add them
    /// (no JSON quotes), each its own pattern.
    fn bare(texts: &[&str]) -> usize {
        let mut m = Machine::new();
        for (i, t) in texts.iter().enumerate() {
            let syms: Vec<Sym> = glob(t)
                .tokens
                .iter()
                .map(|t| match t {
                    GlobTok::Byte(b) => Sym::Byte(*b),
                    GlobTok::Star => Sym::Star,
                })
                .collect();
            // Equal texts are one pattern, as equal event-ruler patterns are.
            let id = texts.iter().position(|x| x == t).unwrap_or(i) as u32;
            m.add(id, &syms);
        }
        m.complexity(usize::MAX, WALK_BUDGET).unwrap()
    }

    /// Every order of `texts` scores the same.
    fn bare_any_order(texts: &[&str]) -> usize {
        let mut scores = Vec::new();
        permute(&mut texts.to_vec(), 0, &mut |p| scores.push(bare(p)));
        scores.dedup();
        assert_eq!(scores.len(), 1, "{texts:?} scores by order: {scores:?}");
        scores[0]
    }

    fn permute<'a>(v: &mut Vec<&'a str>, k: usize, f: &mut dyn FnMut(&[&'a str])) {
        if k == v.len() {
            return f(v);
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }

    fn wildcards(texts: &[&str]) -> usize {
        let globs: Vec<Glob> = texts.iter().map(|t| glob(t)).collect();
        let sources: Vec<Source> = globs.iter().map(Source::Wildcard).collect();
        field_complexity(&sources, usize::MAX, &mut { WALK_BUDGET }).unwrap()
    }

    fn anything_but(texts: &[&str]) -> usize {
        let globs: Vec<Glob> = texts.iter().map(|t| glob(t)).collect();
        field_complexity(&[Source::AnythingBut(&globs)], usize::MAX, &mut {
            WALK_BUDGET
        })
        .unwrap()
    }

    /// event-ruler's machine-level figures (its evaluator's unit tests),
    /// each in every order of adding.
    #[test]
    fn bare_machines_score_as_event_ruler() {
        let cases: &[(usize, &[&str])] = &[
            (1, &["*"]),
            (3, &["*", "ab*c"]),
            (1, &["abc"]),
            (2, &["*ab"]),
            (3, &["*aa"]),
            (2, &["a*b"]),
            (2, &["aa*"]),
            (2, &["a*bc"]),
            (3, &["a*bb"]),
            (3, &["a*bcb"]),
            (4, &["a*bbb"]),
            (4, &["*ab*ad"]),
            (3, &["*ab*d"]),
            (4, &["*aba*"]),
            (5, &["a*b*bb"]),
            (4, &["a*b*cb"]),
            (3, &["a*b*cd"]),
            (4, &["a*b*b"]),
            (4, &["a*bb*"]),
            (3, &["ab*b*"]),
            (3, &["ab*c", "x*xx"]),
            (4, &["*abc", "*abcde"]),
            (4, &["a*bcd", "ab*cd"]),
            (4, &["a*bc", "a*bcde"]),
            (7, &["a*aaa", "aa*aa"]),
            (4, &["a*bc", "abc*d"]),
            (6, &["a*aaa", "aaa*a"]),
            (5, &["a*aax", "aaa*x"]),
            (4, &["a*bc", "abc*"]),
            (5, &["a*aa", "aaa*"]),
            (3, &["abc*", "abcde*"]),
            (6, &["ab*cd", "ab*wx", "ab*yz"]),
            (7, &["*ab*b*b*"]),
            (17, &["*a*a*a*a*a*a*a*a*"]),
            (2, &["ab*c", "ab*c"]),
            (
                10,
                &["F*eatureFeature", "Fe*atureFeature", "Fea*tureFeature"],
            ),
        ];
        for (want, texts) in cases {
            assert_eq!(bare_any_order(texts), *want, "{texts:?}");
        }
    }

    /// The set event-ruler's tests call a "Quamina exploder": 32 wildcards
    /// sharing prefixes on one key.
    const EXPLODER: [&str; 32] = [
        "aahed*", "aal*ii", "aargh*", "aarti*", "a*baca", "*abaci", "a*back", "ab*acs", "abaf*t",
        "*abaka", "ab*amp", "a*band", "*abase", "abash*", "abas*k", "ab*ate", "aba*ya", "abbas*",
        "abbed*", "ab*bes", "abbey*", "*abbot", "ab*cee", "abea*m", "abe*ar", "a*bele", "a*bers",
        "abet*s", "*abhor", "abi*de", "a*bies", "*abled",
    ];

    #[test]
    fn exploder_scores_45() {
        assert_eq!(bare(&EXPLODER), 45);
        assert_eq!(wildcards(&EXPLODER), 45);
    }

    /// event-ruler's corpus of rules (quoted, through its rule compiler).
    #[test]
    fn rules_score_as_event_ruler() {
        let lake = [
            "*kiwi*",
            "*BASE_QuxB*",
            "*Delta*",
            "*a/example-lake-abc98765432*",
        ];
        // One anything-but set is one pattern; four wildcards are four.
        assert_eq!(anything_but(&lake), 7);
        assert_eq!(wildcards(&lake), 12);
        for n in [1usize, 2, 10, 50, 100] {
            let multi = format!("{}*", "*a".repeat(n));
            assert_eq!(wildcards(&[&multi]), 2 * n + 1, "{multi}");
        }
        for m in [4usize, 8] {
            let set: Vec<String> = (0..m)
                .map(|i| {
                    format!(
                        "*{}{}*",
                        (b'a' + (i % 26) as u8) as char,
                        (b'a' + (i / 26) as u8) as char
                    )
                })
                .collect();
            let refs: Vec<&str> = set.iter().map(String::as_str).collect();
            assert_eq!(wildcards(&refs), 3 * m, "{set:?}");
        }
    }

    /// The boundary AWS documents, and the figures issue #19 names.
    #[test]
    fn rules_at_the_limit() {
        assert_eq!(wildcards(&["*aaaaaaaaa"]), 10);
        assert_eq!(wildcards(&["*aaaaaaaaaa"]), 11);
        assert_eq!(wildcards(&["*"]), 2);
        assert_eq!(wildcards(&["abc"]), 1);
        assert_eq!(wildcards(&["*:*:*:*:*"]), 9);
        assert!(wildcards(&["arn:aws:events:us-east-1:*:event-bus/*"]) <= 10);
        assert!(wildcards(&["/Users/*/dir/dir/dir/dir/dir/doc.txt"]) <= 10);
        assert!(wildcards(&["*:*:*:*:*:event-bus/*"]) > 10);
        let ab = [glob("*a*"), glob("*s"), glob("*ssl*sa*")];
        let star = glob("*");
        let sources = [Source::Wildcard(&star), Source::AnythingBut(&ab)];
        assert_eq!(
            field_complexity(&sources, usize::MAX, &mut { WALK_BUDGET }),
            Ok(9)
        );
        assert_eq!(anything_but(&["*u*e", "*ed*e", "*ed*e"]), 6);
        assert_eq!(anything_but(&["*u*e", "*ed*e"]), 6);
    }

    /// A cap ends the walk early; a walk past its budget is an error.
    #[test]
    fn caps_and_budget() {
        let big = "F*e*a*t*u*r*e*".repeat(300);
        assert_eq!(wildcards_capped(&[&big], 11), Ok(11));
        let mut m = Machine::new();
        m.add(0, &quoted(&glob("*a*b*c*d*").tokens));
        assert_eq!(m.complexity(usize::MAX, 10), Err(OverBudget));
        assert!(m.complexity(usize::MAX, WALK_BUDGET).is_ok());
    }

    /// The fuzzer's slowest rules: four long `*<c>x…x*` wildcards on one
    /// field. A subset walk is exponential in the number of such wildcards
    /// and linear in their length; these pin what it costs, in steps.
    #[test]
    fn long_wildcards_walk_within_bounds() {
        let globs: Vec<Glob> = (b'a'..=b'd')
            .map(|c| glob(&format!("*{}{}*", c as char, "x".repeat(400))))
            .collect();
        let machine = |n: usize| {
            let mut m = Machine::new();
            for (i, g) in globs.iter().take(n).enumerate() {
                m.add(i as u32, &quoted(&g.tokens));
            }
            m
        };
        let steps = |m: &Machine, cap: usize| {
            let mut lo = 0u64;
            let mut hi = WALK_BUDGET;
            // The least budget that lets the walk finish.
            while lo < hi {
                let mid = (lo + hi) / 2;
                if m.complexity(cap, mid).is_ok() {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            lo
        };
        let four = machine(4);
        assert_eq!(four.complexity(11, WALK_BUDGET), Ok(11));
        assert_eq!(four.complexity(usize::MAX, WALK_BUDGET), Ok(12));
        assert!(steps(&four, 11) < 300_000);
        assert!(steps(&four, usize::MAX) < 1_000_000);
        let three = machine(3);
        assert_eq!(three.complexity(11, WALK_BUDGET), Ok(9));
        assert!(steps(&three, 11) < 300_000);
    }

    fn wildcards_capped(texts: &[&str], cap: usize) -> Result<usize, OverBudget> {
        let globs: Vec<Glob> = texts.iter().map(|t| glob(t)).collect();
        let sources: Vec<Source> = globs.iter().map(Source::Wildcard).collect();
        field_complexity(&sources, cap, &mut { WALK_BUDGET })
    }

    #[test]
    fn java_hash_and_set_order() {
        assert_eq!(java_hash(""), 0);
        assert_eq!(java_hash("a"), 97);
        assert_eq!(java_hash("hello"), 99_162_322);
        // Past i32: wraps as Java's int does ("polygenelubricants" hashes
        // to i32::MIN).
        assert_eq!(java_hash("polygenelubricants"), 0x8000_0000);
        let globs = [glob("*a*"), glob("*s"), glob("*ssl*sa*"), glob("*s")];
        let order: Vec<&str> = java_set_order(&globs)
            .iter()
            .map(|g| g.text.as_str())
            .collect();
        assert_eq!(order, ["*a*", "*ssl*sa*", "*s"]);
    }
}
