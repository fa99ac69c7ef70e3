//! Rule set → one immutable automaton; a per-worker [`Cache`]; match sets of
//! [`RuleId`]s.
//!
//! # How a rule set is compiled
//!
//! Every rule is parsed and `$or`-expanded into *sub-rules* (conjunctions of
//! fields). Every field (a path and an OR of matchers) gets a dense id and a
//! bit in its sub-rule's 64-bit mask. Then, per path, all matchers of all
//! rules are merged into one [`PathMatcher`]:
//!
//! - string operators become globs in up to four byte DFAs (forward,
//!   reversed for suffixes, and the same two for the case-insensitive
//!   forms, whose globs accept each pattern character's lower- or
//!   upper-case bytes), see [`dfa`]; where many wildcards with literals
//!   after a `*` would blow the forward DFA up, those wildcards are
//!   searched by their literal pieces instead, see [`pieces`]; a path
//!   with many exact strings keeps them in a hash table, see [`literals`];
//! - numbers, and IP addresses of each family, become ordered segments, see
//!   [`ranges`]; an event number is placed from a cheap approximation unless
//!   it lies next to a boundary ([`approx`]);
//! - literals `true`/`false`/`null`, `exists`, and the anything-but matchers
//!   (which match unless a DFA or segment excludes them) are id lists.
//!
//! The paths themselves form the byte trie the [`crate::flatten`] scanner
//! follows, so a value is looked at only if some rule names its path.
//!
//! # What compiling may cost
//!
//! Every automaton is built within a budget checked as it grows: at most
//! [`Limits::max_automaton_states`] states, and 256 construction steps per
//! allowed state (so a build also ends in bounded time), and all string
//! matchers of the rule set together within [`Limits::max_automaton_bytes`],
//! counting the construction's scratch while it runs. A rule set over the
//! budget is a [`BuildError`] naming the setting, the path and the rule
//! being added when it ran out. The forward DFA of a path that holds
//! wildcards with a literal after a `*` is first tried within a small
//! budget of its own ([`ATTEMPT_STEPS`], [`ATTEMPT_BYTES`]); when that runs
//! out, those wildcards move to [`pieces`] and the DFA is rebuilt without
//! them, under the full budget.
//!
//! # How an event is matched
//!
//! 1. The [prefilter](prefilter) rejects, without parsing, events in which no
//!    rule's necessary literal occurs in a place it could match (`find` only;
//!    `find_checked` parses every event).
//! 2. The scanner hands each leaf on a rule path to the path's matcher, which
//!    yields field ids; each sets a bit in its sub-rule's P mask (positive)
//!    or O mask (an occurrence of an `exists:false` field). Only touched
//!    sub-rules are visited, so cost follows the matches, not the rule count.
//! 3. A touched sub-rule with at most one field inside arrays is decided from
//!    its masks; otherwise [`consistency`] searches its recorded leaves.
//!
//! The [`Automaton`] is immutable, `Send + Sync`, and shared by `Arc`; all
//! per-event state lives in a [`Cache`], one per worker, which stops
//! allocating once it has seen the largest event.

mod approx;
mod complexity;
mod consistency;
mod dfa;
mod literals;
pub mod naive;
mod pieces;
mod prefilter;
mod ranges;

use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::flatten::{self, ArrayPos, EventError, Leaf, PathTrie, ScanLimits, Scratch, Sink};
use crate::pattern::ip::{parse_event_ip, Ip};
use crate::pattern::number::{is_exact, parse_f64};
use crate::pattern::{self, AnythingBut, Literal, Matcher, Pattern, PatternError, PatternLimits};

use consistency::Entry;
use dfa::{case_glob, literal_glob, suffix_glob, Action, Budget, CaseForm, Dfa, Exceeded, Over};
use literals::Literals;
use pieces::{literal_after_star, PieceScratch, Pieces};
use prefilter::Prefilter;
use ranges::{Bound, Item, Segments};

/// Index of a rule in the order it was added to the [`RuleSetBuilder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RuleId(pub u32);

/// Every limit of compilation and matching, each named in the error that reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub pattern: PatternLimits,
    /// Highest wildcard complexity a field of a rule may have, counted as
    /// event-ruler counts it (§2.3, [`complexity`]; EventBridge rejects
    /// rules above 10).
    pub wildcard_complexity: usize,
    /// Most states of one compiled string automaton (one path, one
    /// direction); its construction may also take at most
    /// [`STEPS_PER_STATE`] steps per state allowed here.
    pub max_automaton_states: usize,
    /// Most bytes all string matchers of a rule set may take together,
    /// counted while they are built (construction scratch included).
    pub max_automaton_bytes: usize,
    /// Largest accepted event, bytes (EventBridge: 1 MiB; 256 KiB in older regions).
    pub max_event_bytes: usize,
    /// Deepest accepted nesting of objects and arrays in an event.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pattern: PatternLimits::default(),
            wildcard_complexity: 10,
            max_automaton_states: 1 << 20,
            max_automaton_bytes: 256 << 20,
            max_event_bytes: 1 << 20,
            max_depth: 1000,
        }
    }
}

impl Limits {
    fn scan(&self) -> ScanLimits {
        ScanLimits {
            max_event_bytes: self.max_event_bytes,
            max_depth: self.max_depth,
        }
    }
}

/// EventBridge's reason for a wildcard pattern over the complexity limit.
pub const RULE_TOO_COMPLEX: &str = "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character";

/// Most fields one `$or` branch may have: they are bits of a `u64`.
pub const MAX_FIELDS_PER_BRANCH: usize = 64;

/// Construction steps one automaton may take per state that
/// [`Limits::max_automaton_states`] allows: filling a row of the widest
/// table costs 256, so a build that fits the state budget is not stopped by
/// this one unless its states are unusually large (thousands of live
/// positions each).
pub const STEPS_PER_STATE: u64 = 256;

/// The first attempt at a forward DFA over wildcards with literals after a
/// `*` stops after this many steps, and falls back to [`pieces`]. A DFA
/// that fits is faster to match (one step per byte); one that does not is
/// found out in 20 to 50 ms (release build; at four times as many steps it
/// took 100 to 350 ms, most of the compile time of 1,000 wildcards: see
/// `benches/README.md`, "Compiling many wildcards").
pub const ATTEMPT_STEPS: u64 = 1 << 20;

/// ... and after this many bytes of tables and scratch.
pub const ATTEMPT_BYTES: usize = 32 << 20;

/// Steps all the attempts of one rule set may spend (each failed attempt
/// is charged its whole budget): with many paths of many wildcards, the
/// later paths go to [`pieces`] directly instead of each paying for a
/// failed attempt.
pub const ATTEMPTS_STEPS: u64 = 4 * ATTEMPT_STEPS;

/// A rule set that could not be compiled as a whole: its string matchers
/// ran out of the compilation budget (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildError {
    rule: String,
    path: String,
    exceeded: Exceeded,
    limit: u64,
}

impl BuildError {
    /// The rule being compiled when the budget ran out: the latest rule
    /// (in the order added) involved in the state or matcher over it.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// The dotted path whose matchers ran out.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The configuration setting that bounds what ran out.
    pub fn setting(&self) -> &'static str {
        match self.exceeded {
            Exceeded::States | Exceeded::Steps => "limits.max_automaton_states",
            Exceeded::Bytes => "limits.max_automaton_bytes",
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rule, path, limit, setting) = (&self.rule, &self.path, self.limit, self.setting());
        write!(f, "rule set too large at rule `{rule}`: ")?;
        match self.exceeded {
            Exceeded::States => write!(
                f,
                "the string automaton of path `{path}` needs more than {limit} states \
                 (setting {setting})"
            )?,
            Exceeded::Steps => write!(
                f,
                "building the string automaton of path `{path}` takes more than {limit} steps \
                 ({STEPS_PER_STATE} per state of setting {setting})"
            )?,
            Exceeded::Bytes => write!(
                f,
                "the rule set's string matchers need more than {limit} bytes by path `{path}` \
                 (setting {setting})"
            )?,
        }
        write!(
            f,
            "; use fewer or simpler wildcard, prefix or exact rules on this path, or raise the setting"
        )
    }
}

impl std::error::Error for BuildError {}

/// Collects validated rules; [`build`](RuleSetBuilder::build) compiles them.
/// Rule sets are rebuilt, never mutated: build a new automaton and swap it in.
#[derive(Debug, Clone)]
pub struct RuleSetBuilder {
    limits: Limits,
    rules: Vec<(String, Pattern)>,
    scratch: pattern::Scratch,
}

impl RuleSetBuilder {
    pub fn new(limits: Limits) -> Self {
        RuleSetBuilder {
            limits,
            rules: Vec::new(),
            scratch: pattern::Scratch::default(),
        }
    }

    /// Parses, validates and adds one rule. The error names the rule.
    pub fn add(&mut self, name: &str, pattern: &str) -> Result<RuleId, PatternError> {
        let p = pattern::parse_with(pattern, &self.limits.pattern, &mut self.scratch)
            .map_err(|e| e.with_rule(name))?;
        self.add_parsed(name, p)
    }

    /// Adds an already parsed pattern, applying the engine's own limits
    /// (wildcard complexity, fields per branch).
    pub fn add_parsed(&mut self, name: &str, pattern: Pattern) -> Result<RuleId, PatternError> {
        check_limits(&pattern, &self.limits).map_err(|e| e.with_rule(name))?;
        self.rules.push((name.to_string(), pattern));
        Ok(RuleId(self.rules.len() as u32 - 1))
    }

    /// Makes room for `additional` more rules: a caller that knows how
    /// many it will add spares the list its regrowth (10,000 rules: each
    /// doubling touched fresh memory, 290 page faults in all).
    pub fn reserve(&mut self, additional: usize) {
        self.rules.reserve(additional);
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn build(self) -> Result<Automaton, BuildError> {
        Compiler::default().compile(self.rules, self.limits)
    }
}

/// The engine's checks on a parsed pattern (§2.3 and the mask width).
pub fn check_limits(p: &Pattern, limits: &Limits) -> Result<(), PatternError> {
    for sp in &p.subpatterns {
        if sp.fields.len() > MAX_FIELDS_PER_BRANCH {
            return Err(PatternError::new(
                format!(
                    "Pattern has {} fields in one $or branch; busbar allows at most {}",
                    sp.fields.len(),
                    MAX_FIELDS_PER_BRANCH
                ),
                "",
                0,
            ));
        }
    }
    check_complexity(p, limits)
}

/// Wildcard complexity (§2.3), per automaton as event-ruler builds them: a
/// rule's fields in path order, each `$or` branch from the start, and the
/// same path after the same earlier fields (path and matchers alike) in
/// one automaton, as event-ruler's shared name states put them. All the
/// walks of one rule share one budget; an automaton met again is not
/// walked again.
fn check_complexity(p: &Pattern, limits: &Limits) -> Result<(), PatternError> {
    // Only wildcards have a complexity; most rules have none, and the
    // bookkeeping below was a tenth of compiling 10,000 exact rules
    // (callgrind).
    let wildcard = |m: &Matcher| {
        matches!(
            m,
            Matcher::Wildcard(_) | Matcher::AnythingBut(AnythingBut::Wildcard(_))
        )
    };
    if !p
        .subpatterns
        .iter()
        .flat_map(|sp| &sp.fields)
        .any(|f| f.matchers.iter().any(wildcard))
    {
        return Ok(());
    }
    let mut fields: HashMap<String, u32> = HashMap::new();
    let mut prefixes: HashMap<(u32, u32), u32> = HashMap::new();
    let mut groups: HashMap<(u32, &str), usize> = HashMap::new();
    let mut automata: Vec<(&str, Vec<complexity::Source>)> = Vec::new();
    for sp in &p.subpatterns {
        let mut order: Vec<&pattern::Field> = sp.fields.iter().collect();
        order.sort_by(|a, b| a.path.cmp(&b.path));
        let mut prefix = 0u32;
        for f in order {
            let sources = f.matchers.iter().filter_map(|m| match m {
                Matcher::Wildcard(g) => Some(complexity::Source::Wildcard(g)),
                Matcher::AnythingBut(AnythingBut::Wildcard(gs)) => {
                    Some(complexity::Source::AnythingBut(gs))
                }
                _ => None,
            });
            let mut sources = sources.peekable();
            if sources.peek().is_some() {
                let next = automata.len();
                let g = *groups.entry((prefix, f.path.as_str())).or_insert(next);
                if g == next {
                    automata.push((f.path.as_str(), Vec::new()));
                }
                automata[g].1.extend(sources);
            }
            let n = fields.len() as u32;
            let field = *fields
                .entry(format!("{}\0{:?}", f.path, f.matchers))
                .or_insert(n);
            let n = prefixes.len() as u32 + 1;
            prefix = *prefixes.entry((prefix, field)).or_insert(n);
        }
    }
    let limit = limits.wildcard_complexity;
    let mut budget = complexity::WALK_BUDGET;
    let mut walked: HashSet<String> = HashSet::new();
    for (path, sources) in &automata {
        if !walked.insert(format!("{sources:?}")) {
            continue;
        }
        match complexity::field_complexity(sources, limit.saturating_add(1), &mut budget) {
            Ok(c) if c <= limit => {}
            Ok(_) => return Err(PatternError::new(RULE_TOO_COMPLEX, *path, 0)),
            Err(complexity::OverBudget) => {
                return Err(PatternError::new(
                    format!(
                        "{RULE_TOO_COMPLEX} (its wildcard complexity could not be \
                         measured within {} steps)",
                        complexity::WALK_BUDGET
                    ),
                    *path,
                    0,
                ))
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
struct FieldInfo {
    subrule: u32,
    bit: u64,
}

#[derive(Debug, Clone, Copy)]
struct SubRule {
    rule: u32,
    /// Fields that need a positive match.
    req: u64,
    /// Fields that may also be satisfied by absence (`exists:false`).
    negok: u64,
}

/// The segment of `seg` that the number `text` falls in: from its first
/// digits where that decides it, from a close approximation where that does,
/// exactly otherwise ([`approx`]). `None` for a number that is text (not
/// exactly a double, [`is_exact`]), which no numeric segment holds; that is
/// asked only when the segment has something to give, so numbers that land
/// in empty segments (most coordinates under selective rules) skip it.
#[inline]
fn number_segment(seg: &Segments<f64>, text: &[u8]) -> Option<usize> {
    let i = approx::coarse(text)
        .and_then(|(v, err)| seg.segment_within(v, err))
        .or_else(|| approx::approx(text).and_then(|v| seg.segment_near(v)))
        .or_else(|| parse_f64(text).map(|v| seg.segment(norm(v))))?;
    let empty = seg.fields(i).is_empty() && seg.excluded(i).is_empty();
    (empty || is_exact(text)).then_some(i)
}

impl PathMatcher {
    /// Numbers on this path can only hit numeric segments: no exact
    /// numbers kept as text, no anything-but, no exists, no absence.
    #[inline]
    fn numbers_only(&self) -> bool {
        self.number_text.is_empty() && self.no_any_value_fields()
    }

    /// How string leaves on this path are judged (see [`StringLeaves`]).
    fn string_leaves(&self) -> StringLeaves {
        if self.v4.is_some() || self.v6.is_some() {
            StringLeaves::General
        } else if self.no_any_value_fields() {
            StringLeaves::Automata
        } else {
            StringLeaves::AutomataAndAny
        }
    }

    /// No field on this path that a value of any type can satisfy or
    /// settle (anything-but, exists, absence).
    #[inline]
    fn no_any_value_fields(&self) -> bool {
        self.ab_number.is_empty()
            && self.ab_string.is_empty()
            && self.exists.is_empty()
            && self.absent.is_empty()
    }

    /// Whether string `s` satisfies a field through the string automata (the
    /// prefilter's probe; anything-but and IP fields are not judged here).
    /// Inlined into the probe: as a call it cost the probed events 30
    /// instructions each (callgrind, `scale/10000`).
    #[inline]
    fn string_matches(&self, s: &[u8], pieces: &mut PieceScratch) -> bool {
        let hit = |d: &Option<Dfa>, rev: bool, v: &[u8]| {
            d.as_ref().is_some_and(|d| {
                let q = if rev { d.run_rev(v) } else { d.run(v) };
                !d.fields(q).is_empty()
            })
        };
        self.exact
            .as_ref()
            .is_some_and(|t| !t.fields(t.find(s)).is_empty())
            || hit(&self.fwd, false, s)
            || hit(&self.rev, true, s)
            || hit(&self.ci_fwd, false, s)
            || hit(&self.ci_rev, true, s)
            || self.pieces.as_ref().is_some_and(|p| p.any_field(s, pieces))
    }
}

/// Everything one path's matchers compile into.
#[derive(Debug, Default)]
struct PathMatcher {
    /// The path's star-free globs, where it has at least
    /// [`literals::MIN`] of them.
    exact: Option<Literals>,
    fwd: Option<Dfa>,
    /// The forward wildcards that would have blown `fwd` up.
    pieces: Option<Pieces>,
    rev: Option<Dfa>,
    /// The case-insensitive forms, forwards and (suffixes) reversed.
    ci_fwd: Option<Dfa>,
    ci_rev: Option<Dfa>,
    numbers: Option<Segments<f64>>,
    /// Exact numbers a double cannot hold: compared by their text (§1.3.4).
    number_text: HashMap<Box<[u8]>, Vec<u32>>,
    v4: Option<Segments<u32>>,
    v6: Option<Segments<u128>>,
    on_true: Vec<u32>,
    on_false: Vec<u32>,
    on_null: Vec<u32>,
    exists: Vec<u32>,
    /// Anything-but matchers that only strings can exclude.
    ab_string: Vec<u32>,
    /// Anything-but matchers that only numbers can exclude.
    ab_number: Vec<u32>,
    /// Fields with `exists:false` on this path.
    absent: Vec<u32>,
}

/// How [`MatchSink`] judges a string leaf on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringLeaves {
    /// The string automata and pieces alone.
    Automata,
    /// Those, and fields any value can settle: anything-but (unless an
    /// automaton's state excludes the string), exists, absence.
    AutomataAndAny,
    /// With IP ranges too: the general path, through hit lists.
    General,
}

#[derive(Default)]
struct PathBuild {
    /// The dotted path, for errors.
    name: String,
    fwd: Vec<(Vec<pattern::GlobTok>, Action)>,
    rev: Vec<(Vec<pattern::GlobTok>, Action)>,
    ci_fwd: Vec<(Vec<dfa::Tok>, Action)>,
    ci_rev: Vec<(Vec<dfa::Tok>, Action)>,
    numbers: Vec<Item<f64>>,
    v4: Vec<Item<u32>>,
    v6: Vec<Item<u128>>,
    m: PathMatcher,
}

impl PathBuild {
    /// A wildcard whose only star leads (`*.png`) is a suffix: it runs
    /// reversed as a prefix, where a thousand of them stay a trie, instead
    /// of keeping every one live in every state of the forward DFA.
    fn push_wildcard(&mut self, tokens: &[pattern::GlobTok], action: Action) {
        match tokens.split_first() {
            Some((pattern::GlobTok::Star, rest)) if !rest.contains(&pattern::GlobTok::Star) => {
                let mut reversed: Vec<pattern::GlobTok> = rest.iter().rev().copied().collect();
                reversed.push(pattern::GlobTok::Star);
                self.rev.push((reversed, action));
            }
            _ => self.fwd.push((tokens.to_vec(), action)),
        }
    }
}

/// The compiled rule set. See the module docs.
#[derive(Debug)]
pub struct Automaton {
    names: Vec<String>,
    patterns: Vec<Pattern>,
    subrules: Vec<SubRule>,
    fields: Vec<FieldInfo>,
    ab_field: Vec<u32>,
    trie: PathTrie,
    paths: Vec<PathMatcher>,
    /// [`PathMatcher::string_leaves`] of each path, apart from the large
    /// matchers: the one thing a string leaf reads before its automata.
    string_leaves: Vec<StringLeaves>,
    /// Sub-rules that can match with no leaf at all (only `exists:false`).
    always: Vec<u32>,
    prefilter: Option<Prefilter>,
    /// Keys of all [`Pieces`] together: the size of a cache's scratch.
    piece_keys: usize,
    limits: Limits,
}

/// Construction steps one automaton may take under `limits`.
fn steps_for(limits: &Limits) -> u64 {
    (limits.max_automaton_states as u64).saturating_mul(STEPS_PER_STATE)
}

/// What the rule set's string matchers may still spend while they are
/// built, path after path.
struct Spend<'a> {
    limits: &'a Limits,
    bytes_left: &'a mut usize,
    /// Keys of the [`Pieces`] built so far: the next one's first key id.
    piece_keys: &'a mut usize,
    /// What is left of [`ATTEMPTS_STEPS`].
    attempt_steps: &'a mut u64,
}

/// One direction's string matchers: the DFA, and the wildcards moved out of
/// it.
type Strings = (Option<Dfa>, Option<Pieces>);

impl Spend<'_> {
    fn budget(&self) -> Budget {
        Budget {
            states: self.limits.max_automaton_states,
            bytes: *self.bytes_left,
            steps: steps_for(self.limits),
        }
    }

    fn dfa<T: dfa::Token>(
        &mut self,
        globs: &[(Vec<T>, Action)],
        budget: Budget,
    ) -> Result<Dfa, (Over, Action)> {
        let d = Dfa::build(globs, budget).map_err(|o| (o, globs[o.glob].1))?;
        *self.bytes_left = self.bytes_left.saturating_sub(d.heap_bytes());
        Ok(d)
    }

    /// Takes the star-free globs out of one path's forward globs into a
    /// [`Literals`] table, where there are at least [`literals::MIN`].
    fn exact_strings(
        &mut self,
        globs: &mut Vec<(Vec<pattern::GlobTok>, Action)>,
    ) -> Result<Option<Literals>, (Over, Action)> {
        let star_free = |t: &[pattern::GlobTok]| !t.contains(&pattern::GlobTok::Star);
        if globs.iter().filter(|(t, _)| star_free(t)).count() < literals::MIN {
            return Ok(None);
        }
        let (exact, rest): (Vec<_>, Vec<_>) = std::mem::take(globs)
            .into_iter()
            .partition(|(t, _)| star_free(t));
        *globs = rest;
        let t = Literals::build(&exact, self.limits.max_automaton_states, *self.bytes_left)
            .map_err(|o| (o, exact[o.glob].1))?;
        *self.bytes_left = self.bytes_left.saturating_sub(t.heap_bytes());
        Ok(Some(t))
    }

    /// Compiles one path's case-insensitive globs of one direction: no
    /// wildcards among them, so nothing to move to [`Pieces`].
    fn case_strings(
        &mut self,
        globs: &[(Vec<dfa::Tok>, Action)],
    ) -> Result<Option<Dfa>, (Over, Action)> {
        if globs.is_empty() {
            return Ok(None);
        }
        let full = self.budget();
        self.dfa(globs, full).map(Some)
    }

    /// Compiles one path's globs of one direction (see the module docs);
    /// an error carries the glob's action, which names its rule.
    fn strings(
        &mut self,
        globs: &[(Vec<pattern::GlobTok>, Action)],
    ) -> Result<Strings, (Over, Action)> {
        if globs.is_empty() {
            return Ok((None, None));
        }
        let full = self.budget();
        if !globs.iter().any(|(t, _)| literal_after_star(t)) {
            return Ok((Some(self.dfa(globs, full)?), None));
        }
        let attempt = Budget {
            states: full.states,
            bytes: full.bytes.min(ATTEMPT_BYTES),
            steps: full.steps.min(ATTEMPT_STEPS).min(*self.attempt_steps),
        };
        if attempt.steps > 0 {
            if let Ok(d) = self.dfa(globs, attempt) {
                return Ok((Some(d), None));
            }
            *self.attempt_steps -= attempt.steps;
        }
        let (moved, kept): (Vec<_>, Vec<_>) = globs
            .iter()
            .cloned()
            .partition(|(t, _)| literal_after_star(t));
        let dfa = if kept.is_empty() {
            None
        } else {
            Some(self.dfa(&kept, full)?)
        };
        let (p, size) = Pieces::build(&moved, *self.piece_keys, *self.bytes_left)
            .map_err(|o| (o, moved[o.glob].1))?;
        *self.bytes_left -= size;
        *self.piece_keys += p.keys();
        Ok((dfa, Some(p)))
    }
}

#[derive(Default)]
struct Compiler {
    subrules: Vec<SubRule>,
    fields: Vec<FieldInfo>,
    ab_field: Vec<u32>,
    trie: PathTrie,
    builds: Vec<PathBuild>,
}

fn point<K: Copy>(v: K) -> (Bound<K>, Bound<K>) {
    let b = Bound {
        value: Some(v),
        inclusive: true,
    };
    (b, b)
}

/// -0 and 0 are one number (§1.3.3).
#[inline]
fn norm(v: f64) -> f64 {
    v + 0.0
}

impl Compiler {
    fn compile(
        mut self,
        rules: Vec<(String, Pattern)>,
        limits: Limits,
    ) -> Result<Automaton, BuildError> {
        let mut names = Vec::with_capacity(rules.len());
        let mut patterns = Vec::with_capacity(rules.len());
        // At least one sub-rule and one field a rule: grown by doubling
        // instead, 10,000 rules touched fresh memory 170 times more.
        self.subrules.reserve(rules.len());
        self.fields.reserve(rules.len());
        let mut always = Vec::new();
        let mut last_path: Option<usize> = None;
        for (rule, (name, pattern)) in rules.into_iter().enumerate() {
            for sp in &pattern.subpatterns {
                let sr = self.subrules.len() as u32;
                let mut req = 0u64;
                let mut negok = 0u64;
                for (i, field) in sp.fields.iter().enumerate() {
                    let bit = 1u64 << i;
                    let f = self.fields.len() as u32;
                    self.fields.push(FieldInfo { subrule: sr, bit });
                    // Rules on the path the last field named (10,000 exact
                    // rules on `MAPBLKLOT`) skip the trie: a byte-by-byte
                    // walk, 4% of compiling them (callgrind).
                    let path = match last_path {
                        Some(p) if self.builds[p].name == field.path => p,
                        _ => self.trie.insert(&field.path) as usize,
                    };
                    last_path = Some(path);
                    if path == self.builds.len() {
                        self.builds.push(PathBuild {
                            name: field.path.clone(),
                            ..PathBuild::default()
                        });
                    }
                    let mut absent_ok = false;
                    for m in &field.matchers {
                        absent_ok |= matches!(m, Matcher::Exists(false));
                        self.add_matcher(path, f, m);
                    }
                    if absent_ok {
                        negok |= bit;
                    } else {
                        req |= bit;
                    }
                }
                if req == 0 {
                    always.push(sr);
                }
                self.subrules.push(SubRule {
                    rule: rule as u32,
                    req,
                    negok,
                });
            }
            names.push(name);
            patterns.push(pattern);
        }
        let mut bytes_left = limits.max_automaton_bytes;
        let mut piece_keys = 0;
        let mut attempt_steps = ATTEMPTS_STEPS;
        let mut paths = Vec::with_capacity(self.builds.len());
        for b in std::mem::take(&mut self.builds) {
            let mut budget = Spend {
                limits: &limits,
                bytes_left: &mut bytes_left,
                piece_keys: &mut piece_keys,
                attempt_steps: &mut attempt_steps,
            };
            let err = |(over, action): (Over, Action)| {
                self.build_error(over, action, &b.name, &names, &limits)
            };
            let mut m = b.m;
            let mut fwd = b.fwd;
            m.exact = budget.exact_strings(&mut fwd).map_err(err)?;
            (m.fwd, m.pieces) = budget.strings(&fwd).map_err(err)?;
            (m.rev, _) = budget.strings(&b.rev).map_err(err)?;
            m.ci_fwd = budget.case_strings(&b.ci_fwd).map_err(err)?;
            m.ci_rev = budget.case_strings(&b.ci_rev).map_err(err)?;
            m.numbers = (!b.numbers.is_empty()).then(|| Segments::build(&b.numbers));
            m.v4 = (!b.v4.is_empty()).then(|| Segments::build(&b.v4));
            m.v6 = (!b.v6.is_empty()).then(|| Segments::build(&b.v6));
            paths.push(m);
        }
        self.trie.finish();
        let trie = &self.trie;
        // The last path looked up, as for the trie above.
        let mut last: Option<(&str, u32)> = None;
        let prefilter = Prefilter::build(patterns.iter(), |path| match last {
            Some((p, id)) if p == path => id,
            _ => {
                let id = trie
                    .walk(0, path.as_bytes())
                    .and_then(|n| trie.path_at(n))
                    .unwrap_or(u32::MAX);
                last = Some((path, id));
                id
            }
        });
        let string_leaves = paths.iter().map(PathMatcher::string_leaves).collect();
        Ok(Automaton {
            names,
            patterns,
            subrules: self.subrules,
            fields: self.fields,
            ab_field: self.ab_field,
            trie: self.trie,
            paths,
            string_leaves,
            always,
            prefilter,
            piece_keys,
            limits,
        })
    }

    /// The error for a budget that ran out at `action`'s glob on `path`.
    fn build_error(
        &self,
        over: Over,
        action: Action,
        path: &str,
        names: &[String],
        limits: &Limits,
    ) -> BuildError {
        let field = match action {
            Action::Field(f) => f,
            Action::Exclude(ab) => self.ab_field[ab as usize],
        };
        let subrule = self.fields[field as usize].subrule;
        let rule = self.subrules[subrule as usize].rule;
        let limit = match over.exceeded {
            Exceeded::States => limits.max_automaton_states as u64,
            Exceeded::Steps => steps_for(limits),
            Exceeded::Bytes => limits.max_automaton_bytes as u64,
        };
        BuildError {
            rule: names[rule as usize].clone(),
            path: path.to_string(),
            exceeded: over.exceeded,
            limit,
        }
    }

    fn add_matcher(&mut self, path: usize, f: u32, m: &Matcher) {
        let b = &mut self.builds[path];
        let field = Action::Field(f);
        match m {
            Matcher::Exact(Literal::String(s)) => {
                b.fwd.push((literal_glob(s.as_bytes(), false), field))
            }
            Matcher::Exact(Literal::Number(n)) => match n.value {
                Some(v) => {
                    let (lo, hi) = point(norm(v));
                    b.numbers.push(Item::Field { lo, hi, field: f });
                }
                None => {
                    b.m.number_text
                        .entry(n.text.as_bytes().into())
                        .or_default()
                        .push(f)
                }
            },
            Matcher::Exact(Literal::True) => b.m.on_true.push(f),
            Matcher::Exact(Literal::False) => b.m.on_false.push(f),
            Matcher::Exact(Literal::Null) => b.m.on_null.push(f),
            Matcher::Prefix(s) => b.fwd.push((literal_glob(s.as_bytes(), true), field)),
            Matcher::PrefixIgnoreCase(s) => b.ci_fwd.push((case_glob(s, CaseForm::Prefix), field)),
            Matcher::Suffix(s) => b.rev.push((suffix_glob(s.as_bytes()), field)),
            Matcher::SuffixIgnoreCase(s) => b.ci_rev.push((case_glob(s, CaseForm::Suffix), field)),
            Matcher::EqualsIgnoreCase(s) => b.ci_fwd.push((case_glob(s, CaseForm::Equals), field)),
            Matcher::Wildcard(g) => b.push_wildcard(&g.tokens, field),
            Matcher::Numeric(r) => {
                let lo = Bound {
                    value: (r.lo != f64::NEG_INFINITY).then_some(norm(r.lo)),
                    inclusive: r.lo_inclusive,
                };
                let hi = Bound {
                    value: (r.hi != f64::INFINITY).then_some(norm(r.hi)),
                    inclusive: r.hi_inclusive,
                };
                b.numbers.push(Item::Field { lo, hi, field: f });
            }
            Matcher::Ip(r) => {
                if let Some((lo, hi)) = r.v4_span() {
                    let (l, _) = point(lo);
                    let (_, h) = point(hi);
                    b.v4.push(Item::Field {
                        lo: l,
                        hi: h,
                        field: f,
                    });
                }
                if let Some((lo, hi)) = r.v6_span() {
                    let (l, _) = point(lo);
                    let (_, h) = point(hi);
                    b.v6.push(Item::Field {
                        lo: l,
                        hi: h,
                        field: f,
                    });
                }
            }
            Matcher::Exists(true) => b.m.exists.push(f),
            Matcher::Exists(false) => b.m.absent.push(f),
            Matcher::AnythingBut(ab) => {
                let id = self.ab_field.len() as u32;
                self.ab_field.push(f);
                let ex = Action::Exclude(id);
                match ab {
                    AnythingBut::Numbers(ns) => {
                        for n in ns {
                            let v = n.value.or_else(|| parse_f64(n.text.as_bytes()));
                            if let Some(v) = v {
                                b.numbers.push(Item::Exclude {
                                    at: norm(v),
                                    ab: id,
                                });
                            }
                        }
                        b.m.ab_number.push(id);
                    }
                    AnythingBut::Strings(ss) => {
                        b.fwd
                            .extend(ss.iter().map(|s| (literal_glob(s.as_bytes(), false), ex)));
                        b.m.ab_string.push(id);
                    }
                    AnythingBut::Prefix(ss) => {
                        b.fwd
                            .extend(ss.iter().map(|s| (literal_glob(s.as_bytes(), true), ex)));
                        b.m.ab_string.push(id);
                    }
                    AnythingBut::Suffix(ss) => {
                        b.rev
                            .extend(ss.iter().map(|s| (suffix_glob(s.as_bytes()), ex)));
                        b.m.ab_string.push(id);
                    }
                    AnythingBut::EqualsIgnoreCase(ss) => {
                        b.ci_fwd
                            .extend(ss.iter().map(|s| (case_glob(s, CaseForm::Equals), ex)));
                        b.m.ab_string.push(id);
                    }
                    AnythingBut::Wildcard(gs) => {
                        for g in gs {
                            b.push_wildcard(&g.tokens, ex);
                        }
                        b.m.ab_string.push(id);
                    }
                }
            }
        }
    }
}

/// Per-sub-rule state for the event being matched.
#[derive(Debug, Clone, Copy, Default)]
struct SrState {
    epoch: u32,
    p: u64,
    o: u64,
    /// Fields with a leaf inside some array. Consistency can only fail when
    /// two fields do: one field alone in arrays pins nothing another field
    /// could conflict with.
    array_bits: u64,
}

/// Per-worker scratch for searching an [`Automaton`]. Create one per thread
/// with [`Automaton::cache`]; it must only be used with that automaton.
#[derive(Debug)]
pub struct Cache {
    scratch: Scratch,
    state: State,
}

impl Cache {
    /// Where the last top-level key of the event last validated by
    /// [`Automaton::find_checked`] starts: see [`Scratch::last_top_key`].
    /// Meaningless after a [`find`](Automaton::find) the prefilter answered.
    pub fn last_top_key(&self) -> usize {
        self.scratch.last_top_key()
    }
}

#[derive(Debug, Default)]
struct State {
    epoch: u32,
    sr: Vec<SrState>,
    touched: Vec<u32>,
    entries: Vec<Entry>,
    mem: Vec<ArrayPos>,
    hits: Vec<u32>,
    excl: Vec<u32>,
    pieces: PieceScratch,
    rule_epoch: Vec<u32>,
    out: Vec<RuleId>,
    dp_entries: Vec<Entry>,
    dp_pool: Vec<Vec<(u64, u64)>>,
    /// The prefilter's copy of an event with its escapes decoded.
    decoded: Vec<u8>,
    bypass: Bypass,
}

/// When [`Automaton::find`] leaves the prefilter out. A prefilter that
/// lets every event through only adds its search to the scan that follows
/// (rules that nearly every event matches, such as anything-but: 4% of
/// `filter`'s time, perf). After [`Bypass::AFTER`] events in a row that it
/// let through, it is left out for as many events, doubling up to
/// [`Bypass::MAX`] while it keeps letting them all through; one event it
/// turns away starts the count again. Where it turns away one event in
/// twenty or more it is rarely left out, and then for few events: a scan
/// costs some twenty searches.
#[derive(Debug, Default)]
struct Bypass {
    /// Events let through in a row.
    streak: u32,
    /// How long the last bypass lasted.
    span: u32,
    /// Events still to leave the prefilter out for.
    left: u32,
}

impl Bypass {
    const AFTER: u32 = 64;
    const MAX: u32 = 1024;

    /// Whether to search this event (false: leave the prefilter out).
    #[inline]
    fn searching(&mut self) -> bool {
        if self.left == 0 {
            return true;
        }
        self.left -= 1;
        false
    }

    /// The prefilter let the event through (`pass`) or turned it away.
    #[inline]
    fn searched(&mut self, pass: bool) {
        if !pass {
            self.streak = 0;
            self.span = 0;
            return;
        }
        self.streak += 1;
        if self.streak >= Self::AFTER {
            self.streak = 0;
            self.span = (self.span * 2).clamp(Self::AFTER, Self::MAX);
            self.left = self.span;
        }
    }
}

impl Automaton {
    /// A fresh per-worker cache for this automaton.
    pub fn cache(&self) -> Cache {
        Cache {
            scratch: Scratch::default(),
            state: State {
                epoch: 0,
                sr: vec![SrState::default(); self.subrules.len()],
                rule_epoch: vec![0; self.names.len()],
                pieces: PieceScratch::new(self.piece_keys),
                ..State::default()
            },
        }
    }

    /// The rules `event` matches, in rule-id order.
    ///
    /// Events that contain none of the rule set's necessary literals are
    /// answered "no match", most often without being parsed (see
    /// `Bypass` for when they are), so an invalid event that could not
    /// match anyway is not reported here; use
    /// [`find_checked`](Self::find_checked) to validate every event.
    pub fn find<'c>(&self, event: &[u8], cache: &'c mut Cache) -> Result<&'c [RuleId], EventError> {
        let Some(pf) = &self.prefilter else {
            return self.find_checked(event, cache);
        };
        if cache.state.bypass.searching() {
            let judge = Self::judge(&self.paths, &mut cache.state.pieces);
            let pass = pf.may_match(event, judge, &mut cache.state.decoded);
            cache.state.bypass.searched(pass);
            if !pass {
                cache.state.out.clear();
                return Ok(&cache.state.out);
            }
            return self.find_checked(event, cache);
        }
        // Left out for now: the answer is the same, except that an invalid
        // event the prefilter would have turned away is not reported.
        if let Err(e) = self.find_checked(event, cache) {
            let judge = Self::judge(&self.paths, &mut cache.state.pieces);
            if pf.may_match(event, judge, &mut cache.state.decoded) {
                return Err(e);
            }
            cache.state.out.clear();
        }
        Ok(&cache.state.out)
    }

    /// How many bytes of whole lines at the start of `lines` (events one
    /// per line, each ended by `\n`) [`find`](Self::find) would answer "no
    /// match" for without parsing: a reader of NDJSON may pass over them
    /// (counting their newlines) instead of calling `find` per line. 0 when
    /// the rule set has no literals to search a buffer for.
    pub fn skip_lines(&self, lines: &[u8], cache: &mut Cache) -> usize {
        let Some(pf) = &self.prefilter else {
            return 0;
        };
        let judge = Self::judge(&self.paths, &mut cache.state.pieces);
        pf.skip_lines(lines, judge, &mut cache.state.decoded)
    }

    /// The prefilter's judge of a key probe: whether string `text` may
    /// satisfy some field of path `path` (by that path's string automata).
    fn judge<'a>(
        paths: &'a [PathMatcher],
        pieces: &'a mut PieceScratch,
    ) -> impl FnMut(u32, &[u8]) -> bool + 'a {
        |path: u32, text: &[u8]| {
            paths
                .get(path as usize)
                .is_none_or(|pm| pm.string_matches(text, pieces))
        }
    }

    /// Like [`find`](Self::find), but every event is fully validated.
    pub fn find_checked<'c>(
        &self,
        event: &[u8],
        cache: &'c mut Cache,
    ) -> Result<&'c [RuleId], EventError> {
        let st = &mut cache.state;
        if st.epoch == u32::MAX {
            st.epoch = 0;
            st.sr.iter_mut().for_each(|s| s.epoch = 0);
            st.rule_epoch.iter_mut().for_each(|e| *e = 0);
        }
        st.epoch += 1;
        st.touched.clear();
        st.entries.clear();
        st.mem.clear();
        st.out.clear();
        let mut sink = MatchSink { a: self, st };
        flatten::scan(
            event,
            &self.trie,
            self.limits.scan(),
            &mut cache.scratch,
            &mut sink,
        )?;
        self.decide(&mut cache.state);
        Ok(&cache.state.out)
    }

    /// Whether `event` matches any rule (validating it fully).
    pub fn is_match(&self, event: &[u8], cache: &mut Cache) -> Result<bool, EventError> {
        Ok(!self.find_checked(event, cache)?.is_empty())
    }

    pub fn rule_name(&self, id: RuleId) -> &str {
        &self.names[id.0 as usize]
    }

    pub fn rule_pattern(&self, id: RuleId) -> &Pattern {
        &self.patterns[id.0 as usize]
    }

    pub fn rule_count(&self) -> usize {
        self.names.len()
    }

    /// How many paths keep their exact strings in a hash table rather
    /// than in a DFA (see [`literals`]), for diagnostics and tests.
    pub fn literal_tables(&self) -> usize {
        self.paths.iter().filter(|p| p.exact.is_some()).count()
    }

    /// How many wildcards are matched by their literal pieces rather than
    /// by a DFA (see [`pieces`]), for diagnostics and tests.
    pub fn piece_globs(&self) -> usize {
        self.paths
            .iter()
            .filter_map(|p| p.pieces.as_ref())
            .map(|p| p.globs())
            .sum()
    }

    /// Whether the literal prefilter is active (and how many literals it holds).
    pub fn prefilter_literals(&self) -> Option<usize> {
        self.prefilter.as_ref().map(Prefilter::literals)
    }

    fn decide(&self, st: &mut State) {
        let epoch = st.epoch;
        for i in 0..st.touched.len() {
            let sr = st.touched[i];
            if self.sub_rule_matches(sr, st) {
                let rule = self.subrules[sr as usize].rule as usize;
                if st.rule_epoch[rule] != epoch {
                    st.rule_epoch[rule] = epoch;
                    st.out.push(RuleId(rule as u32));
                }
            }
        }
        for &sr in &self.always {
            // Untouched: no leaf of any of its fields, so absence holds.
            if st.sr[sr as usize].epoch != epoch {
                let rule = self.subrules[sr as usize].rule as usize;
                if st.rule_epoch[rule] != epoch {
                    st.rule_epoch[rule] = epoch;
                    st.out.push(RuleId(rule as u32));
                }
            }
        }
        st.out.sort_unstable();
    }

    fn sub_rule_matches(&self, sr: u32, st: &mut State) -> bool {
        let info = self.subrules[sr as usize];
        let s = st.sr[sr as usize];
        // The union of all positives bounds what any consistent choice can do.
        if info.req & !s.p != 0 {
            return false;
        }
        if s.array_bits.count_ones() <= 1 {
            return consistency::goal(s.p, s.o, info.req, info.negok);
        }
        st.dp_entries.clear();
        st.dp_entries
            .extend(st.entries.iter().filter(|e| e.subrule == sr).copied());
        consistency::satisfiable(
            &st.dp_entries,
            &st.mem,
            info.req,
            info.negok,
            &mut st.dp_pool,
        )
    }
}

struct MatchSink<'a> {
    a: &'a Automaton,
    st: &'a mut State,
}

impl MatchSink<'_> {
    /// Keeps a leaf's array positions for the consistency check; their
    /// (start, length) in `mem`.
    #[inline]
    fn positions(&mut self, arrays: &[ArrayPos]) -> (u32, u32) {
        if arrays.is_empty() {
            return (0, 0);
        }
        let mem = &mut self.st.mem;
        let start = mem.len() as u32;
        // Element by element: two or three positions, and
        // `extend_from_slice` called `memcpy` for each leaf.
        mem.reserve(arrays.len());
        for &pos in arrays {
            mem.push(pos);
        }
        (start, arrays.len() as u32)
    }

    /// Records `fields`, those an automaton's state or a literal table's
    /// entry satisfies, with the leaf's array positions (stored once per
    /// leaf, on the first hit).
    #[inline(always)]
    fn automaton_hits(
        &mut self,
        fields: &[u32],
        arrays: &[ArrayPos],
        mem: &mut Option<(u32, u32)>,
    ) {
        if fields.is_empty() {
            return;
        }
        let m = *mem.get_or_insert_with(|| self.positions(arrays));
        for &f in fields {
            self.record(f, true, m, !arrays.is_empty());
        }
    }

    /// A string leaf on a path without IP ranges. The fields it satisfies
    /// are recorded straight from the automata's tables (7% fewer
    /// instructions per leaf on equals-ignore-case than building hit lists,
    /// callgrind), and (`ANY`: the path has such fields) the anything-but
    /// fields from the path's list unless an automaton's state excludes
    /// them, with no exclusion list to build either.
    #[inline(always)]
    fn string_leaf<const ANY: bool>(&mut self, pm: &PathMatcher, s: &[u8], arrays: &[ArrayPos]) {
        let a = self.a;
        let in_array = !arrays.is_empty();
        let mut mem = None;
        let mut excluded: [&[u32]; 5] = [&[]; 5];
        // Written out for each automaton: as a loop over them, the leaf
        // cost anything_but 4% more instructions (callgrind).
        if let Some(t) = &pm.exact {
            let e = t.find(s);
            self.automaton_hits(t.fields(e), arrays, &mut mem);
            if ANY {
                excluded[4] = t.excluded(e);
            }
        }
        if let Some(d) = &pm.fwd {
            let q = d.run(s);
            self.automaton_hits(d.fields(q), arrays, &mut mem);
            if ANY {
                excluded[0] = d.excluded(q);
            }
        }
        if let Some(d) = &pm.rev {
            let q = d.run_rev(s);
            self.automaton_hits(d.fields(q), arrays, &mut mem);
            if ANY {
                excluded[1] = d.excluded(q);
            }
        }
        if let Some(d) = &pm.ci_fwd {
            let q = d.run(s);
            self.automaton_hits(d.fields(q), arrays, &mut mem);
            if ANY {
                excluded[2] = d.excluded(q);
            }
        }
        if let Some(d) = &pm.ci_rev {
            let q = d.run_rev(s);
            self.automaton_hits(d.fields(q), arrays, &mut mem);
            if ANY {
                excluded[3] = d.excluded(q);
            }
        }
        let mut pieces_exclude = false;
        if let Some(p) = &pm.pieces {
            let st = &mut *self.st;
            st.hits.clear();
            st.excl.clear();
            p.find_into(s, &mut st.pieces, &mut st.hits, &mut st.excl);
            for i in 0..self.st.hits.len() {
                let f = self.st.hits[i];
                let m = *mem.get_or_insert_with(|| self.positions(arrays));
                self.record(f, true, m, in_array);
            }
            pieces_exclude = !self.st.excl.is_empty();
        }
        if !ANY {
            return;
        }
        // Most strings are excluded by nothing.
        let some_excluded = pieces_exclude || excluded.iter().any(|e| !e.is_empty());
        for &ab in &pm.ab_string {
            if some_excluded
                && (excluded.iter().any(|e| e.contains(&ab))
                    || (pieces_exclude && self.st.excl.contains(&ab)))
            {
                continue;
            }
            let m = *mem.get_or_insert_with(|| self.positions(arrays));
            self.record(a.ab_field[ab as usize], true, m, in_array);
        }
        // A string is never a number: numeric anything-but holds.
        for &ab in &pm.ab_number {
            let m = *mem.get_or_insert_with(|| self.positions(arrays));
            self.record(a.ab_field[ab as usize], true, m, in_array);
        }
        for &f in &pm.exists {
            let m = *mem.get_or_insert_with(|| self.positions(arrays));
            self.record(f, true, m, in_array);
        }
        if !pm.absent.is_empty() {
            let m = *mem.get_or_insert_with(|| self.positions(arrays));
            for &f in &pm.absent {
                self.record(f, false, m, in_array);
            }
        }
    }

    #[inline]
    fn record(&mut self, field: u32, positive: bool, mem: (u32, u32), in_array: bool) {
        let info = self.a.fields[field as usize];
        let (p, o) = if positive {
            (info.bit, 0)
        } else {
            (0, info.bit)
        };
        let s = &mut self.st.sr[info.subrule as usize];
        if s.epoch != self.st.epoch {
            *s = SrState {
                epoch: self.st.epoch,
                ..SrState::default()
            };
            self.st.touched.push(info.subrule);
        }
        s.p |= p;
        s.o |= o;
        if in_array {
            s.array_bits |= p | o;
        }
        self.st.entries.push(Entry {
            subrule: info.subrule,
            p,
            o,
            mem_start: mem.0,
            mem_len: mem.1,
        });
    }
}

impl Sink for MatchSink<'_> {
    fn leaf(&mut self, path: flatten::PathId, value: Leaf<'_>, arrays: &[ArrayPos]) {
        let a = self.a;
        let pm = &a.paths[path as usize];
        if let Leaf::Num(t) = value {
            if pm.numbers_only() {
                // Numeric ranges alone on this path (coordinates under
                // `numeric` rules): the segment's fields are the hits, with
                // no list to build.
                let Some(seg) = &pm.numbers else { return };
                let Some(i) = number_segment(seg, t) else {
                    return;
                };
                let fields = seg.fields(i);
                if fields.is_empty() {
                    return;
                }
                let mem = self.positions(arrays);
                for &f in fields {
                    self.record(f, true, mem, !arrays.is_empty());
                }
                return;
            }
        }
        if let Leaf::Str(s) = value {
            match a.string_leaves[path as usize] {
                StringLeaves::Automata => return self.string_leaf::<false>(pm, s, arrays),
                StringLeaves::AutomataAndAny => return self.string_leaf::<true>(pm, s, arrays),
                StringLeaves::General => {}
            }
        }
        let st = &mut *self.st;
        st.hits.clear();
        st.excl.clear();
        match value {
            Leaf::Str(s) => {
                if let Some(t) = &pm.exact {
                    let e = t.find(s);
                    st.hits.extend_from_slice(t.fields(e));
                    st.excl.extend_from_slice(t.excluded(e));
                }
                if let Some(d) = &pm.fwd {
                    let q = d.run(s);
                    st.hits.extend_from_slice(d.fields(q));
                    st.excl.extend_from_slice(d.excluded(q));
                }
                if let Some(d) = &pm.rev {
                    let q = d.run_rev(s);
                    st.hits.extend_from_slice(d.fields(q));
                    st.excl.extend_from_slice(d.excluded(q));
                }
                for (d, rev) in [(&pm.ci_fwd, false), (&pm.ci_rev, true)] {
                    if let Some(d) = d {
                        let q = if rev { d.run_rev(s) } else { d.run(s) };
                        st.hits.extend_from_slice(d.fields(q));
                        st.excl.extend_from_slice(d.excluded(q));
                    }
                }
                if let Some(p) = &pm.pieces {
                    p.find_into(s, &mut st.pieces, &mut st.hits, &mut st.excl);
                }
                if pm.v4.is_some() || pm.v6.is_some() {
                    match parse_event_ip(s) {
                        Some(Ip::V4(x)) => {
                            if let Some(seg) = &pm.v4 {
                                st.hits.extend_from_slice(seg.fields(seg.segment(x)));
                            }
                        }
                        Some(Ip::V6(x)) => {
                            if let Some(seg) = &pm.v6 {
                                st.hits.extend_from_slice(seg.fields(seg.segment(x)));
                            }
                        }
                        None => {}
                    }
                }
                for &ab in &pm.ab_string {
                    if !st.excl.contains(&ab) {
                        st.hits.push(a.ab_field[ab as usize]);
                    }
                }
                st.hits
                    .extend(pm.ab_number.iter().map(|&ab| a.ab_field[ab as usize]));
            }
            Leaf::Num(t) => {
                if let Some(seg) = &pm.numbers {
                    if let Some(i) = number_segment(seg, t) {
                        st.hits.extend_from_slice(seg.fields(i));
                        st.excl.extend_from_slice(seg.excluded(i));
                    }
                }
                if !pm.number_text.is_empty() {
                    if let Some(fs) = pm.number_text.get(t) {
                        st.hits.extend_from_slice(fs);
                    }
                }
                for &ab in &pm.ab_number {
                    if !st.excl.contains(&ab) {
                        st.hits.push(a.ab_field[ab as usize]);
                    }
                }
                st.hits
                    .extend(pm.ab_string.iter().map(|&ab| a.ab_field[ab as usize]));
            }
            Leaf::True | Leaf::False | Leaf::Null => {
                let lits = match value {
                    Leaf::True => &pm.on_true,
                    Leaf::False => &pm.on_false,
                    _ => &pm.on_null,
                };
                st.hits.extend_from_slice(lits);
                st.hits
                    .extend(pm.ab_string.iter().map(|&ab| a.ab_field[ab as usize]));
                st.hits
                    .extend(pm.ab_number.iter().map(|&ab| a.ab_field[ab as usize]));
            }
        }
        st.hits.extend_from_slice(&pm.exists);
        if st.hits.is_empty() && pm.absent.is_empty() {
            return;
        }
        let mem = self.positions(arrays);
        let in_array = !arrays.is_empty();
        for i in 0..self.st.hits.len() {
            let f = self.st.hits[i];
            self.record(f, true, mem, in_array);
        }
        for &f in &pm.absent {
            self.record(f, false, mem, in_array);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rules: &[&str]) -> Automaton {
        let mut b = RuleSetBuilder::new(Limits::default());
        for (i, r) in rules.iter().enumerate() {
            b.add(&format!("r{i}"), r).unwrap();
        }
        b.build().unwrap()
    }

    fn ids(a: &Automaton, ev: &str) -> Vec<u32> {
        let mut c = a.cache();
        let checked: Vec<u32> = a
            .find_checked(ev.as_bytes(), &mut c)
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect();
        let fast: Vec<u32> = a
            .find(ev.as_bytes(), &mut c)
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(checked, fast, "prefilter changed the answer for {ev}");
        checked
    }

    #[test]
    fn one_pass_answers_many_rules() {
        let a = set(&[
            r#"{"source":["a"]}"#,
            r#"{"source":[{"prefix":"a"}],"n":[{"numeric":[">",1]}]}"#,
            r#"{"source":[{"anything-but":"a"}]}"#,
            r#"{"x":[{"exists":false}]}"#,
            r#"{"source":[{"equals-ignore-case":"A"}]}"#,
            r#"{"ip":[{"cidr":"10.0.0.0/24"}]}"#,
            r#"{"$or":[{"n":[5]},{"source":[{"suffix":"z"}]}]}"#,
        ]);
        assert_eq!(ids(&a, r#"{"source":"a","n":2}"#), vec![0, 1, 3, 4]);
        assert_eq!(ids(&a, r#"{"source":"b","n":5.0,"x":1}"#), vec![2, 6]);
        assert_eq!(
            ids(&a, r#"{"source":"az","ip":"10.0.0.7"}"#),
            vec![2, 3, 5, 6]
        );
    }

    #[test]
    fn exact_values_without_a_rare_byte_are_judged_by_their_key_probe() {
        // Digits only: the prefilter probes `MAPBLKLOT"` (see
        // `prefilter::tests`), within events and over buffers of lines.
        let a = set(&[
            r#"{"p":{"MAPBLKLOT":["3745012","2607117"]}}"#,
            r#"{"MAPBLKLOT":["1430022"]}"#,
        ]);
        let mut c = a.cache();
        let hits = |c: &mut Cache, ev: &str| a.find(ev.as_bytes(), c).map(<[RuleId]>::len);
        assert_eq!(
            hits(&mut c, r#"{"p":{"BLKLOT":"3745012","MAPBLKLOT":"1"}}"#),
            Ok(0)
        );
        assert_eq!(hits(&mut c, r#"{"p":{"MAPBLKLOT":"37450123"}}"#), Ok(0));
        assert_eq!(hits(&mut c, r#"{"p":{"MAPBLKLOT" : "2607117"}}"#), Ok(1));
        assert_eq!(hits(&mut c, r#"{"MAPBLKLOT":["1","1430022"]}"#), Ok(1));
        assert_eq!(hits(&mut c, r#"{"MAPBLKLOT":"\u0031430022"}"#), Ok(1));
        // A buffer: passed over up to the line whose value matches, or
        // whose backslash may hide one.
        let no = "{\"p\":{\"BLKLOT\":\"3745012\",\"MAPBLKLOT\":\"0000001\"}}\n";
        let yes = "{\"MAPBLKLOT\":\"1430022\"}\n";
        let escaped = "{\"MAPBLKLOT\":\"\\u0031430022\"}\n";
        for stop in [yes, escaped] {
            let buf = format!("{}{stop}{no}", no.repeat(3));
            assert_eq!(a.skip_lines(buf.as_bytes(), &mut c), 3 * no.len());
        }
        let buf = no.repeat(5);
        assert_eq!(a.skip_lines(buf.as_bytes(), &mut c), buf.len());
    }

    /// A prefilter that lets every event through is left out for a while,
    /// and `find` answers as it did with it: the same matches, and no error
    /// for an invalid event the prefilter would have turned away.
    #[test]
    fn find_leaves_out_a_prefilter_that_turns_nothing_away() {
        let a = set(&[r#"{"s":[{"anything-but":"x"}]}"#]);
        assert!(a.prefilter.is_some());
        let mut c = a.cache();
        let both = |c: &mut Cache, ev: &str| {
            let fast = a.find(ev.as_bytes(), c).map(<[RuleId]>::to_vec);
            (fast, c.state.bypass.left)
        };
        for _ in 0..Bypass::AFTER - 1 {
            assert_eq!(both(&mut c, r#"{"s":"y"}"#), (Ok(vec![RuleId(0)]), 0));
        }
        // The last of a run of passes: left out for the next `AFTER` events.
        assert_eq!(
            both(&mut c, r#"{"s":"y"}"#),
            (Ok(vec![RuleId(0)]), Bypass::AFTER)
        );
        let left = Bypass::AFTER - 1;
        assert_eq!(both(&mut c, r#"{"s":"x"}"#), (Ok(vec![]), left));
        assert_eq!(both(&mut c, r#"{"t":"y"} x"#), (Ok(vec![]), left - 1));
        let bad = both(&mut c, r#"{"s":"y"} x"#);
        assert!(bad.0.is_err(), "{bad:?}");
        assert_eq!(bad.1, left - 2);
        assert_eq!(
            both(&mut c, r#"{"s":"y"}"#),
            (Ok(vec![RuleId(0)]), left - 3)
        );
        // Searched again once the span is over; the next span is twice as
        // long, and an event turned away ends the doubling.
        while c.state.bypass.left > 0 {
            a.find(br#"{"s":"y"}"#, &mut c).unwrap();
        }
        for _ in 0..Bypass::AFTER {
            a.find(br#"{"s":"y"}"#, &mut c).unwrap();
        }
        assert_eq!(c.state.bypass.left, 2 * Bypass::AFTER);
        while c.state.bypass.left > 0 {
            a.find(br#"{"s":"y"}"#, &mut c).unwrap();
        }
        assert_eq!(both(&mut c, r#"{"t":"y"} x"#), (Ok(vec![]), 0));
        for _ in 0..Bypass::AFTER {
            a.find(br#"{"s":"y"}"#, &mut c).unwrap();
        }
        assert_eq!(c.state.bypass.left, Bypass::AFTER);
    }

    #[test]
    fn prefilter_probes_values_with_the_path_automata() {
        let mut rules: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"p":{{"MAPBLKLOT":["{i:07}"]}}}}"#))
            .collect();
        rules.push(r#"{"q":{"n":[{"numeric":[">",5]}]}}"#.to_string());
        rules.push(r#"{"s":[{"equals-ignore-case":"Mission"}]}"#.to_string());
        rules.push(r#"{"w":[{"wildcard":"a*b*c"}]}"#.to_string());
        let refs: Vec<&str> = rules.iter().map(String::as_str).collect();
        let a = set(&refs);
        let probe = |ev: &str| {
            let mut c = a.cache();
            let paths = &a.paths;
            let pieces = &mut c.state.pieces;
            a.prefilter.as_ref().expect("prefilter").may_match(
                ev.as_bytes(),
                |p, t| paths[p as usize].string_matches(t, pieces),
                &mut Vec::new(),
            )
        };
        assert!(probe(r#"{"p":{"BLKLOT":"x","MAPBLKLOT":"0000150"}}"#));
        assert!(probe(r#"{"p.MAPBLKLOT" : ["zz"]}"#));
        assert!(!probe(
            r#"{"p":{"BLKLOT":"0000150","MAPBLKLOT":"0000250"}}"#
        ));
        assert!(!probe(r#"{"p":{"XMAPBLKLOT":"0000150"}}"#));
        assert!(probe(r#"{"q":{"n":1}}"#));
        assert!(!probe(r#"{"q":{"m":1}}"#));
        assert!(probe(r#"{"s":"MISSION"}"#));
        assert!(!probe(r#"{"s":"MISSIONS"}"#));
        // `ſ` is neither form of `s`: the pattern is folded, never the event.
        assert!(!probe("{\"s\":\"MIS\u{17f}ION\"}"));
        assert!(probe(r#"{"w":"aXbYc"}"#));
        assert!(!probe(r#"{"w":"aXbY"}"#));
        // Escapes: decoded where they hide nothing the search needs, passed
        // on to the full path where they might.
        assert!(probe(r#"{"s":"M\u0049SSION"}"#));
        assert!(probe(r#"{"\u0073":"MISSION"}"#));
        assert!(!probe(r#"{"s":"M\u0049SSIONS"}"#));
        assert!(!probe(r#"{"t":"M\u0049SSION","s":"\/"}"#));
        assert!(!probe(r#"{"p":{"MAPBLKLOT":"000\u00310\/"}}"#));
        assert!(probe(r#"{"p":{"MAPBLKL\u004fT":"0000150"}}"#));
        assert!(probe(r#"{"w":"a\ud83d\ude80bc"}"#));
        assert!(!probe(r#"{"w":"a\ud83d\ude80b"}"#));
        assert!(probe(r#"{"x":"\n","s":"MISSIONS"}"#));
        assert!(probe(r#"{"x":"\u0022","s":"MISSIONS"}"#));
        assert!(probe(r#"{"x":"\ud83d","s":"MISSIONS"}"#));
        // Decoded, `aX` cannot match `a*b*c`.
        assert!(!probe(r#"{"w":"a\u0058"}"#));
        for ev in [
            r#"{"p":{"MAPBLKLOT":"0000150"}}"#,
            r#"{"s":"mIsSiOn","w":"abc"}"#,
            r#"{"w":"abd"}"#,
        ] {
            ids(&a, ev);
        }
    }

    #[test]
    fn array_consistency() {
        let a = set(&[
            r#"{"a":{"b":["x"],"c":["y"]}}"#,
            r#"{"a":{"b":["x"],"c":[{"exists":false}]}}"#,
        ]);
        assert_eq!(
            ids(&a, r#"{"a":[{"b":"x","c":"n"},{"b":"n","c":"y"}]}"#),
            Vec::<u32>::new()
        );
        assert_eq!(
            ids(&a, r#"{"a":[{"b":"n","c":"n"},{"b":"x","c":"y"}]}"#),
            vec![0]
        );
        assert_eq!(ids(&a, r#"{"a":[{"b":"x"},{"b":"y","c":1}]}"#), vec![1]);
    }

    #[test]
    fn ten_thousand_element_arrays_stay_consistent() {
        let a = set(&[r#"{"a":{"b":["x"],"c":["y"]}}"#]);
        let elems = |last: &str| {
            let mut v: Vec<String> = (0..10_000)
                .map(|i| {
                    if i % 2 == 0 {
                        r#"{"b":"x","c":"n"}"#.to_string()
                    } else {
                        r#"{"b":"n","c":"y"}"#.to_string()
                    }
                })
                .collect();
            v.push(last.to_string());
            format!(r#"{{"a":[{}]}}"#, v.join(","))
        };
        assert_eq!(ids(&a, &elems(r#"{"b":"n"}"#)), Vec::<u32>::new());
        assert_eq!(ids(&a, &elems(r#"{"b":"x","c":"y"}"#)), vec![0]);
    }

    #[test]
    fn errors_name_the_rule() {
        let mut b = RuleSetBuilder::new(Limits::default());
        let e = b.add("orders", r#"{"a":[{"prefix":1}]}"#).unwrap_err();
        assert_eq!(e.rule(), Some("orders"));
        let e = b
            .add("wild", r#"{"a":[{"wildcard":"*:*:*:*:*:event-bus/*"}]}"#)
            .unwrap_err();
        assert_eq!(e.reason(), RULE_TOO_COMPLEX);
        assert_eq!(e.path(), "a");
    }

    /// Complexity is counted per automaton as event-ruler builds them: the
    /// same path of several `$or` branches shares one when the fields
    /// before it (in path order) are the same, and not otherwise.
    #[test]
    fn complexity_follows_event_rulers_automata() {
        let add = |p: &str| {
            RuleSetBuilder::new(Limits::default())
                .add("r", p)
                .map(|_| ())
        };
        let star = |t: &str| format!(r#"{{"wildcard":"*{t}*"}}"#);
        // Three `*xy*` on one field: 9; a fourth: 12.
        let three = [star("ab"), star("cd"), star("ef")].join(",");
        assert!(add(&format!(r#"{{"a":[{three}]}}"#)).is_ok());
        let four = format!("{three},{}", star("gh"));
        assert!(add(&format!(r#"{{"a":[{four}]}}"#)).is_err());
        // Split across branches that meet `a` first: one automaton, 12.
        let branches = ["ab", "cd", "ef", "gh"]
            .map(|t| format!(r#"{{"a":[{}]}}"#, star(t)))
            .join(",");
        let e = add(&format!(r#"{{"$or":[{branches}]}}"#)).unwrap_err();
        assert_eq!((e.reason(), e.path()), (RULE_TOO_COMPLEX, "a"));
        // After an earlier field that differs by branch: one each, 3.
        let branches = ["ab", "cd", "ef", "gh"]
            .iter()
            .enumerate()
            .map(|(i, t)| format!(r#"{{"a":["{i}"],"b":[{}]}}"#, star(t)))
            .collect::<Vec<_>>()
            .join(",");
        assert!(add(&format!(r#"{{"$or":[{branches}]}}"#)).is_ok());
        // After the same earlier field: one automaton again.
        let branches = ["ab", "cd", "ef", "gh"]
            .map(|t| format!(r#"{{"a":["x"],"b":[{}]}}"#, star(t)))
            .join(",");
        assert!(add(&format!(r#"{{"$or":[{branches}]}}"#)).is_err());
        // A later field (`z`) does not separate them.
        let branches = ["ab", "cd", "ef", "gh"]
            .iter()
            .enumerate()
            .map(|(i, t)| format!(r#"{{"b":[{}],"z":["{i}"]}}"#, star(t)))
            .collect::<Vec<_>>()
            .join(",");
        assert!(add(&format!(r#"{{"$or":[{branches}]}}"#)).is_err());
    }

    /// `n` wildcard rules on path `a` with two or three stars each and
    /// distinct literals, in the shapes of the issue that blew the DFA up.
    pub(crate) fn infix_rules(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let g = match i % 3 {
                    0 => format!("*k{i}x*q{i}z*"),
                    1 => format!("a{i}*b{i}*c"),
                    _ => format!("*foo{i}*bar*baz{i}"),
                };
                format!(r#"{{"a":[{{"wildcard":"{g}"}}]}}"#)
            })
            .collect()
    }

    #[test]
    fn a_thousand_infix_wildcards_on_one_path_match_by_pieces() {
        let rules = infix_rules(1000);
        let mut all: Vec<&str> = rules.iter().map(String::as_str).collect();
        // Exact, prefix and anything-but rules on the same path stay in
        // the DFA beside the pieces.
        let extra = [
            r#"{"a":["k3xq3z"]}"#,
            r#"{"a":[{"prefix":"a1"}]}"#,
            r#"{"a":[{"anything-but":{"wildcard":"*q3z*"}}]}"#,
            r#"{"a":[{"suffix":"baz5"}]}"#,
        ];
        all.extend(extra);
        let a = set(&all);
        assert_eq!(
            a.piece_globs(),
            1001,
            "the infix wildcards and the anything-but one"
        );
        let parsed: Vec<Pattern> = all
            .iter()
            .map(|r| pattern::parse(r, &PatternLimits::default()).unwrap())
            .collect();
        let values = [
            "k3xq3z",
            "--k3x--q3z--",
            "q3zk3x",
            "a1b1c",
            "a1-b1-c",
            "a1b1",
            "a10b10c",
            "a1b10c",
            "foo5barbaz5",
            "xfoo5-bar-baz5",
            "foo5baz5",
            "foo5barbaz50",
            "k999xq999z",
            "",
            "k3xq3zk6xq6z",
            "k0xq0z",
        ];
        let mut c = a.cache();
        for v in values {
            let ev = format!(r#"{{"a":{}}}"#, serde_json::to_string(v).unwrap());
            let want: Vec<u32> = parsed
                .iter()
                .enumerate()
                .filter(|(_, p)| naive::matches(p, ev.as_bytes(), &Limits::default()).unwrap())
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(ids(&a, &ev), want, "{ev}");
            // Values in arrays, and the cache reused.
            let arr = format!(r#"{{"a":["zz",{}]}}"#, serde_json::to_string(v).unwrap());
            let got: Vec<u32> = a
                .find(arr.as_bytes(), &mut c)
                .unwrap()
                .iter()
                .map(|r| r.0)
                .collect();
            let want: Vec<u32> = parsed
                .iter()
                .enumerate()
                .filter(|(_, p)| naive::matches(p, arr.as_bytes(), &Limits::default()).unwrap())
                .map(|(i, _)| i as u32)
                .collect();
            assert_eq!(got, want, "{arr}");
        }
    }

    /// A few wildcards that fit keep the DFA.
    #[test]
    fn small_wildcard_sets_keep_the_dfa() {
        let a = set(&[
            r#"{"a":[{"wildcard":"2*0*1*7"}]}"#,
            r#"{"a":[{"wildcard":"*abc*def*"}]}"#,
            r#"{"a":[{"wildcard":"*x*y*"}]}"#,
        ]);
        assert_eq!(a.piece_globs(), 0);
        assert_eq!(ids(&a, r#"{"a":"2-0-1-abcdef-7"}"#), vec![0, 1]);
    }

    fn build_with(limits: Limits, rules: &[String]) -> Result<Automaton, BuildError> {
        let mut b = RuleSetBuilder::new(limits);
        for (i, r) in rules.iter().enumerate() {
            b.add(&format!("r{i}"), r).unwrap();
        }
        b.build()
    }

    fn over_budget(limits: Limits, rules: &[String]) -> BuildError {
        match build_with(limits, rules) {
            Ok(_) => panic!("{} rules fit {limits:?}", rules.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn a_rule_set_over_the_budget_names_the_setting_and_the_rule() {
        let exact: Vec<String> = (0..200)
            .map(|i| format!(r#"{{"x":{{"y":["value-{i:04}"]}}}}"#))
            .collect();
        let states = Limits {
            max_automaton_states: 100,
            ..Limits::default()
        };
        let e = over_budget(states, &exact);
        assert_eq!(e.setting(), "limits.max_automaton_states");
        assert_eq!(e.path(), "x.y");
        assert_eq!(
            e.to_string(),
            format!(
                "rule set too large at rule `{}`: the string automaton of path `x.y` needs more \
                 than 100 states (setting limits.max_automaton_states); use fewer or simpler \
                 wildcard, prefix or exact rules on this path, or raise the setting",
                e.rule()
            )
        );
        // The trie reaches 100 states within the first few dozen rules.
        let at: usize = e.rule()[1..].parse().unwrap();
        assert!((10..100).contains(&at), "{e}");

        let bytes = Limits {
            max_automaton_bytes: 64 << 10,
            ..Limits::default()
        };
        let e = over_budget(bytes, &infix_rules(1000));
        assert_eq!(e.setting(), "limits.max_automaton_bytes");
        assert!(
            e.to_string().contains(
                "need more than 65536 bytes by path `a` (setting limits.max_automaton_bytes)"
            ),
            "{e}"
        );

        // Few states but thousands of live positions each: steps run out.
        let steps = Limits {
            max_automaton_states: 2000,
            ..Limits::default()
        };
        let wide: Vec<String> = (0..1000)
            .map(|i| format!(r#"{{"a":[{{"prefix":"{}"}}]}}"#, "z".repeat(i + 1)))
            .collect();
        let e = over_budget(steps, &wide);
        assert_eq!(e.setting(), "limits.max_automaton_states");
        assert!(
            e.to_string().contains("takes more than 512000 steps (256 per state of setting limits.max_automaton_states)"),
            "{e}"
        );
        assert!(build_with(Limits::default(), &wide).is_ok());
    }

    #[test]
    fn automaton_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Automaton>();
    }
}
