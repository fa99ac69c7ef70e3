//! Benchmark data: a deterministic citylots-like event stream and the rule
//! sets the `engine` benchmark (`benches/engine.rs`) measures with it.
//!
//! # The data
//!
//! [`citylots`] writes NDJSON: one GeoJSON feature per line, shaped like the
//! San Francisco city-lots file that aws/event-ruler's and timbray/quamina's
//! benchmarks read (213,068 lots, about 900 bytes each):
//!
//! ```text
//! {"type":"Feature","properties":{"MAPBLKLOT":"0001001","BLKLOT":"0001001","BLOCK_NUM":"0001",
//!  "LOT_NUM":"001","FROM_ST":"0","TO_ST":"0","STREET":"UNKNOWN","ST_TYPE":null,"ODD_EVEN":"E"},
//!  "geometry":{"type":"Polygon","coordinates":[[[-122.422003528252475,37.808480096967251,0.0],...]]}}
//! ```
//!
//! What is modelled: blocks `0001`..`7600` (a few with a letter suffix)
//! holding 4–48 lots each, every block on one to four streets drawn from a
//! weighted table of about 400 San Francisco street names plus the numbered
//! avenues and streets (spelt `"19TH"`); street types `ST`, `AVE`, `BLVD`, `WAY`, `DR`, …
//! or `null`; address ranges whose parity gives `ODD_EVEN`; condominium
//! groups and a few large towers whose units share the parent's `MAPBLKLOT`
//! and polygon; rare vacated-street parcels (`"VACSTWIL"`); polygons of 4 to
//! 30 positions with 15–17 significant digits, about one lot in a thousand a
//! `MultiPolygon` and a few in a thousand with a hole; a few shared survey
//! corners so that `numeric` `=` rules match. Events are compact (the real
//! file has a space after `:` and `,`); the mean size is about 900 bytes.
//! [`citylots_formatted`] writes the same events as other producers do
//! (Python's spacing, the real file's spacing, `\uXXXX` escapes, shuffled
//! keys, indented): see [`Format`].
//!
//! The stream is a pure function of the seed (splitmix64, integer
//! arithmetic only): the same `(count, seed)` gives the same bytes on every
//! platform, and `citylots(n, seed)` is a prefix of `citylots(m, seed)` for
//! `n < m`. Blocks are visited in a permuted order rather than sorted, so the
//! mix of lots is the same at 20,000 events as at 200,000.
//!
//! # The rule sets
//!
//! [`RuleKind`] names the fourteen kinds of event-ruler's citylots benchmark;
//! [`RuleKind::rules`] gives five EventBridge patterns for each, modelled on
//! event-ruler's and adapted to this data (numeric rules test
//! `geometry.coordinates`, every number of which is a leaf, instead of
//! citylots2's `firstCoordinates` objects). [`many_exact_rules`] gives `n`
//! distinct exact rules for the rule-count scaling benchmark.
//!
//! # quamina
//!
//! The benchmark compares with quamina-rs 0.7 where quamina can express a
//! kind ([`RuleKind::quamina_expressible`], [`RuleKind::quamina_pattern`]).
//! quamina-rs has `exists`, exact values, `prefix` and `suffix` (string
//! argument only), `wildcard` (and legacy `shellstyle`), `equals-ignore-case`,
//! `anything-but` with a string, a number or a homogeneous list of either,
//! `numeric`, `cidr` and `regexp` (I-Regexp with `~` as the escape). It has
//! no `$or`, no `{"prefix": {"equals-ignore-case": ..}}` / `{"suffix":
//! {"equals-ignore-case": ..}}` (those are converted to an equivalent
//! `regexp`, e.g. `[aA][cC].*`), and no `anything-but` over an operator
//! (`equals-ignore-case`, `prefix`, `suffix`, `wildcard`), which has no
//! equivalent: I-Regexp has no negation.

mod format;
mod gen;
mod streets;

pub use format::{reformat, reformat_all, Format};

use serde_json::{Map, Value};

/// How many rules the `exact-N` and `absent-N` sets of [`rule_set`] may
/// have: a hundred times the largest set the benchmarks use.
pub const RULE_SET_SIZES: std::ops::RangeInclusive<usize> = 1..=1_000_000;

/// How many events `busbar gen-citylots` writes at most: it makes them in
/// memory, about 2 GB per million once reformatted.
pub const GEN_EVENTS: std::ops::RangeInclusive<usize> = 1..=5_000_000;

/// `count` citylots-like events, NDJSON (each line ends with `\n`),
/// generated from `seed`. See the [module documentation](self).
pub fn citylots(count: usize, seed: u64) -> Vec<u8> {
    let mut g = gen::Generator::new(seed);
    let mut out = Vec::with_capacity(count.saturating_mul(960));
    for _ in 0..count {
        g.next_event(&mut out);
        out.push(b'\n');
    }
    out
}

/// [`citylots`] written in `format` (see [`Format`]): the same events,
/// decoding to the same values.
pub fn citylots_formatted(count: usize, seed: u64, format: Format) -> Vec<u8> {
    reformat_all(&citylots(count, seed), format, seed)
}

/// The fourteen rule-set kinds of event-ruler's citylots benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    Exact,
    Wildcard,
    Prefix,
    PrefixEqualsIgnoreCase,
    Suffix,
    SuffixEqualsIgnoreCase,
    EqualsIgnoreCase,
    Numeric,
    AnythingBut,
    AnythingButIgnoreCase,
    AnythingButPrefix,
    AnythingButSuffix,
    AnythingButWildcard,
    ComplexArrays,
}

const ALL: [RuleKind; 14] = [
    RuleKind::Exact,
    RuleKind::Wildcard,
    RuleKind::Prefix,
    RuleKind::PrefixEqualsIgnoreCase,
    RuleKind::Suffix,
    RuleKind::SuffixEqualsIgnoreCase,
    RuleKind::EqualsIgnoreCase,
    RuleKind::Numeric,
    RuleKind::AnythingBut,
    RuleKind::AnythingButIgnoreCase,
    RuleKind::AnythingButPrefix,
    RuleKind::AnythingButSuffix,
    RuleKind::AnythingButWildcard,
    RuleKind::ComplexArrays,
];

/// `{"properties":{"<field>":[<matcher>]}}`
fn props(field: &str, matcher: &str) -> String {
    format!(r#"{{"properties":{{"{field}":[{matcher}]}}}}"#)
}

/// `{"geometry":{"type":[<matcher>]}}`
fn geometry_type(matcher: &str) -> String {
    format!(r#"{{"geometry":{{"type":[{matcher}]}}}}"#)
}

impl RuleKind {
    /// Every kind, in event-ruler's order.
    pub fn all() -> &'static [RuleKind] {
        &ALL
    }

    /// Snake-case name, used in benchmark ids (`kind/<name>`) and rule names.
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::Exact => "exact",
            RuleKind::Wildcard => "wildcard",
            RuleKind::Prefix => "prefix",
            RuleKind::PrefixEqualsIgnoreCase => "prefix_equals_ignore_case",
            RuleKind::Suffix => "suffix",
            RuleKind::SuffixEqualsIgnoreCase => "suffix_equals_ignore_case",
            RuleKind::EqualsIgnoreCase => "equals_ignore_case",
            RuleKind::Numeric => "numeric",
            RuleKind::AnythingBut => "anything_but",
            RuleKind::AnythingButIgnoreCase => "anything_but_ignore_case",
            RuleKind::AnythingButPrefix => "anything_but_prefix",
            RuleKind::AnythingButSuffix => "anything_but_suffix",
            RuleKind::AnythingButWildcard => "anything_but_wildcard",
            RuleKind::ComplexArrays => "complex_arrays",
        }
    }

    /// Five `(rule name, EventBridge pattern JSON)` pairs. Names are
    /// `<kind name>-<1..=5>`.
    pub fn rules(self) -> Vec<(String, String)> {
        let texts: Vec<String> = match self {
            RuleKind::Exact => ["3745012", "2607117", "2607218", "1430022", "VACSTWIL"]
                .iter()
                .map(|v| props("MAPBLKLOT", &format!(r#""{v}""#)))
                .collect(),
            RuleKind::Wildcard => wildcard_values()
                .iter()
                .map(|v| props("MAPBLKLOT", &format!(r#"{{"wildcard":"{v}"}}"#)))
                .collect(),
            RuleKind::Prefix => ["AC", "BL", "DR", "FU", "RH"]
                .iter()
                .map(|v| props("STREET", &format!(r#"{{"prefix":"{v}"}}"#)))
                .collect(),
            RuleKind::PrefixEqualsIgnoreCase => ["Ac", "bL", "dR", "Fu", "rH"]
                .iter()
                .map(|v| {
                    props(
                        "STREET",
                        &format!(r#"{{"prefix":{{"equals-ignore-case":"{v}"}}}}"#),
                    )
                })
                .collect(),
            RuleKind::Suffix => ["ON", "KE", "MM", "ING", "GO"]
                .iter()
                .map(|v| props("STREET", &format!(r#"{{"suffix":"{v}"}}"#)))
                .collect(),
            RuleKind::SuffixEqualsIgnoreCase => ["oN", "Ke", "mM", "InG", "gO"]
                .iter()
                .map(|v| {
                    props(
                        "STREET",
                        &format!(r#"{{"suffix":{{"equals-ignore-case":"{v}"}}}}"#),
                    )
                })
                .collect(),
            RuleKind::EqualsIgnoreCase => vec![
                props("STREET", r#"{"equals-ignore-case":"jefferson"}"#),
                props("STREET", r#"{"equals-ignore-case":"bEaCh"}"#),
                props("STREET", r#"{"equals-ignore-case":"HyDe"}"#),
                props("STREET", r#"{"equals-ignore-case":"CHESTNUT"}"#),
                props("ST_TYPE", r#"{"equals-ignore-case":"st"}"#),
            ],
            RuleKind::Numeric => vec![
                r#"{"geometry":{"type":["Polygon"],"coordinates":[{"numeric":["=",-122.42916360922355]}]}}"#.to_string(),
                r#"{"geometry":{"type":["MultiPolygon"],"coordinates":[{"numeric":["=",0]}]}}"#.to_string(),
                r#"{"geometry":{"coordinates":[{"numeric":["<",-122.41600944012424]}]}}"#.to_string(),
                r#"{"geometry":{"coordinates":[{"numeric":[">",-122.41600944012424,"<",-122.3]}]}}"#.to_string(),
                r#"{"geometry":{"coordinates":[{"numeric":[">",-122.46471267081272,"<",-122.4063085128395]}]}}"#.to_string(),
            ],
            RuleKind::AnythingBut => vec![
                props("STREET", r#"{"anything-but":["FULTON"]}"#),
                props("STREET", r#"{"anything-but":["MASON"]}"#),
                props("ST_TYPE", r#"{"anything-but":["ST"]}"#),
                geometry_type(r#"{"anything-but":["Polygon"]}"#),
                props("FROM_ST", r#"{"anything-but":["441"]}"#),
            ],
            RuleKind::AnythingButIgnoreCase => vec![
                props("STREET", r#"{"anything-but":{"equals-ignore-case":["Fulton"]}}"#),
                props("STREET", r#"{"anything-but":{"equals-ignore-case":["Mason"]}}"#),
                props("ST_TYPE", r#"{"anything-but":{"equals-ignore-case":["st"]}}"#),
                geometry_type(r#"{"anything-but":{"equals-ignore-case":["polygon"]}}"#),
                props("FROM_ST", r#"{"anything-but":{"equals-ignore-case":["441"]}}"#),
            ],
            RuleKind::AnythingButPrefix => vec![
                props("STREET", r#"{"anything-but":{"prefix":"FULTO"}}"#),
                props("STREET", r#"{"anything-but":{"prefix":"MASO"}}"#),
                props("ST_TYPE", r#"{"anything-but":{"prefix":"S"}}"#),
                geometry_type(r#"{"anything-but":{"prefix":"Poly"}}"#),
                props("FROM_ST", r#"{"anything-but":{"prefix":"44"}}"#),
            ],
            RuleKind::AnythingButSuffix => vec![
                props("STREET", r#"{"anything-but":{"suffix":"ULTON"}}"#),
                props("STREET", r#"{"anything-but":{"suffix":"ASON"}}"#),
                props("ST_TYPE", r#"{"anything-but":{"suffix":"T"}}"#),
                geometry_type(r#"{"anything-but":{"suffix":"tiPolygon"}}"#),
                props("FROM_ST", r#"{"anything-but":{"suffix":"41"}}"#),
            ],
            RuleKind::AnythingButWildcard => wildcard_values()
                .iter()
                .map(|v| {
                    props(
                        "MAPBLKLOT",
                        &format!(r#"{{"anything-but":{{"wildcard":"{v}"}}}}"#),
                    )
                })
                .collect(),
            RuleKind::ComplexArrays => vec![
                r#"{"geometry":{"type":["Polygon"],"coordinates":[{"numeric":["=",-122.42916360922355]}]},"properties":{"ST_TYPE":["ST","AVE","BLVD"]}}"#.to_string(),
                r#"{"geometry":{"type":["MultiPolygon"],"coordinates":[{"numeric":[">",37.7,"<",37.8]}]},"properties":{"ODD_EVEN":["O"]}}"#.to_string(),
                r#"{"geometry":{"coordinates":[{"numeric":["<",-122.41600944012424]}]},"properties":{"ODD_EVEN":["E"]}}"#.to_string(),
                r#"{"geometry":{"type":["Polygon"],"coordinates":[{"numeric":[">",-122.41600944012424,"<",-122.3]}]},"properties":{"STREET":[{"prefix":"S"}]}}"#.to_string(),
                r#"{"geometry":{"coordinates":[{"numeric":[">",-122.46471267081272,"<",-122.4063085128395]},{"numeric":[">=",37.78,"<=",37.79]}]},"properties":{"ST_TYPE":["AVE"]}}"#.to_string(),
            ],
        };
        texts
            .into_iter()
            .enumerate()
            .map(|(i, t)| (format!("{}-{}", self.name(), i + 1), t))
            .collect()
    }

    /// Whether quamina-rs 0.7 can express every rule of this kind (possibly
    /// after [`quamina_pattern`](Self::quamina_pattern) rewrites it).
    ///
    /// | kind | quamina |
    /// |---|---|
    /// | exact, wildcard, prefix, suffix, equals-ignore-case, numeric, anything-but (string list), complex arrays | yes, same text |
    /// | prefix / suffix equals-ignore-case | yes, rewritten to `regexp` (`[aA][cC].*`, `.*[oO][nN]`) |
    /// | anything-but over equals-ignore-case, prefix, suffix, wildcard | no: quamina's `anything-but` takes only literals, and I-Regexp has no negation |
    pub fn quamina_expressible(self) -> bool {
        !matches!(
            self,
            RuleKind::AnythingButIgnoreCase
                | RuleKind::AnythingButPrefix
                | RuleKind::AnythingButSuffix
                | RuleKind::AnythingButWildcard
        )
    }

    /// The quamina-rs spelling of `rule_text` (one of this kind's patterns),
    /// or `None` when quamina cannot express it. Text that needs no rewrite
    /// is returned unchanged.
    pub fn quamina_pattern(self, rule_text: &str) -> Option<String> {
        if !self.quamina_expressible() {
            return None;
        }
        to_quamina(rule_text)
    }

    /// [`rules`](Self::rules) in quamina's spelling, or `None` when quamina
    /// cannot express the kind.
    pub fn quamina_rules(self) -> Option<Vec<(String, String)>> {
        self.rules()
            .into_iter()
            .map(|(name, text)| self.quamina_pattern(&text).map(|q| (name, q)))
            .collect()
    }
}

/// The `MAPBLKLOT` wildcards of the wildcard and anything-but-wildcard sets.
fn wildcard_values() -> [&'static str; 5] {
    ["143*", "2*0*1*7", "*218", "3*5*2", "VA*IL"]
}

/// `n` distinct exact rules, `exact-<i>`, each
/// `{"properties":{"MAPBLKLOT":["<block><lot>"]}}`. Rule `i` names block
/// `1 + (i·3001 mod 7600)` (a permutation of the 7,600 blocks, unrelated to
/// the order in which the generator visits them) and lot
/// `1 + ⌊i / 7600⌋`, so the first 7,600 rules name lot `001` of distinct
/// blocks, the next 7,600 lot `002`, and so on; every block of the data has
/// a lot `001`, so some of these values occur in [`citylots`] data, and no
/// event matches more than one rule.
pub fn many_exact_rules(n: usize) -> Vec<(String, String)> {
    (0..n as u64)
        .map(|i| {
            let block = 1 + (i * 3001) % 7600;
            let round = i / 7600;
            let lot = 1 + round % 999;
            let mut value = format!("{block:04}{lot:03}");
            // Past 7,600 × 999 rules, tell them apart with a suffix.
            if round >= 999 {
                value.push_str(&format!("-{}", round / 999));
            }
            (
                format!("exact-{i}"),
                props("MAPBLKLOT", &format!(r#""{value}""#)),
            )
        })
        .collect()
}

/// The scaling benchmark's rule sets: `many_exact_rules(10)`, then `n - 10`
/// more exact rules on the same field whose values never occur in the data
/// (`X0000011`, ...). Every size matches exactly the same events, so a
/// difference in speed between 10 and 10,000 rules is the cost of the rule
/// count alone, which is what "adding the 10,000th rule must not make
/// matching slower" is about.
pub fn scale_rules(n: usize) -> Vec<(String, String)> {
    let mut rules = many_exact_rules(n.min(10));
    rules.extend((rules.len()..n).map(|i| {
        (
            format!("absent-{i}"),
            props("MAPBLKLOT", &format!(r#""X{i:07}""#)),
        )
    }));
    rules
}

/// `n` exact rules on `MAPBLKLOT` whose values (`X0000000`, ...) occur in
/// no event: a rule set that reads nothing, whose speed end to end is
/// bounded by reading the file (the `wc -l` line beside it).
pub fn absent_rules(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("absent-{i}"),
                props("MAPBLKLOT", &format!(r#""X{i:07}""#)),
            )
        })
        .collect()
}

/// The `every` rule set: one rule, `{"type":["Feature"]}`, that every
/// citylots-like event matches. Each event is then selected, so validated
/// whole: the set measures the validating scan, the floor under rule sets
/// that select many events (see `benches/README.md`).
pub fn every_rule() -> Vec<(String, String)> {
    vec![("every".to_string(), r#"{"type":["Feature"]}"#.to_string())]
}

/// A benchmark rule set by name: a [`RuleKind`]'s name, `every`
/// ([`every_rule`]), `exact-N` ([`many_exact_rules`]) or `absent-N`
/// ([`absent_rules`]). With `quamina`,
/// in quamina-rs's spelling, `Ok(None)` when quamina cannot express it.
/// `Err` names the sets there are.
pub fn rule_set(name: &str, quamina: bool) -> Result<Option<Vec<(String, String)>>, String> {
    // `Some(n)` for `<prefix>N` with N in range, an error for any other N.
    let count = |prefix: &str| -> Result<Option<usize>, String> {
        let Some(n) = name.strip_prefix(prefix) else {
            return Ok(None);
        };
        match n.parse() {
            Ok(n) if RULE_SET_SIZES.contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "rule set `{name}`: N must be a whole number from {} to {}",
                RULE_SET_SIZES.start(),
                RULE_SET_SIZES.end()
            )),
        }
    };
    let rules = if name == "every" {
        every_rule()
    } else if let Some(n) = count("exact-")? {
        many_exact_rules(n)
    } else if let Some(n) = count("absent-")? {
        absent_rules(n)
    } else {
        let Some(kind) = RuleKind::all().iter().find(|k| k.name() == name) else {
            let names: Vec<&str> = RuleKind::all().iter().map(|k| k.name()).collect();
            return Err(format!(
                "unknown rule set `{name}`; one of: {}, every, exact-N, absent-N",
                names.join(", ")
            ));
        };
        return Ok(if quamina {
            kind.quamina_rules()
        } else {
            Some(kind.rules())
        });
    };
    if !quamina {
        return Ok(Some(rules));
    }
    Ok(rules
        .into_iter()
        .map(|(n, text)| to_quamina(&text).map(|q| (n, q)))
        .collect())
}

/// Rewrites an EventBridge pattern into quamina-rs's dialect; `None` when
/// some part has no quamina equivalent.
fn to_quamina(text: &str) -> Option<String> {
    let mut v: Value = serde_json::from_str(text).ok()?;
    let mut changed = false;
    match &mut v {
        Value::Object(o) => convert_object(o, &mut changed)?,
        _ => return None,
    }
    if changed {
        serde_json::to_string(&v).ok()
    } else {
        Some(text.to_string())
    }
}

fn convert_object(o: &mut Map<String, Value>, changed: &mut bool) -> Option<()> {
    for (key, value) in o.iter_mut() {
        if key.starts_with('$') {
            return None; // `$or`: quamina has no disjunction of fields
        }
        match value {
            Value::Object(inner) => convert_object(inner, changed)?,
            Value::Array(matchers) => {
                for m in matchers.iter_mut() {
                    convert_matcher(m, changed)?;
                }
            }
            _ => return None,
        }
    }
    Some(())
}

fn convert_matcher(m: &mut Value, changed: &mut bool) -> Option<()> {
    let Value::Object(o) = m else {
        return Some(()); // a literal
    };
    if o.len() != 1 {
        return None;
    }
    let (op, arg) = o.iter().next()?;
    let replacement = match (op.as_str(), arg) {
        ("prefix" | "suffix", Value::String(_)) => None,
        ("prefix" | "suffix", Value::Object(inner)) if inner.len() == 1 => {
            let s = inner.get("equals-ignore-case")?.as_str()?;
            let body = case_insensitive_regexp(s)?;
            let re = if op == "prefix" {
                format!("{body}.*")
            } else {
                format!(".*{body}")
            };
            Some(Value::Object(Map::from_iter([(
                "regexp".to_string(),
                Value::String(re),
            )])))
        }
        ("wildcard" | "equals-ignore-case" | "cidr", Value::String(_)) => None,
        ("exists", Value::Bool(_)) => None,
        ("numeric", Value::Array(_)) => None,
        ("anything-but", Value::String(_) | Value::Number(_)) => None,
        ("anything-but", Value::Array(list))
            if !list.is_empty()
                && (list.iter().all(Value::is_string) || list.iter().all(Value::is_number)) =>
        {
            None
        }
        _ => return None,
    };
    if let Some(r) = replacement {
        *m = r;
        *changed = true;
    }
    Some(())
}

/// An I-Regexp matching `s` ASCII-case-insensitively (`Ac` → `[aA][cC]`);
/// `None` for characters this simple rewrite does not handle.
fn case_insensitive_regexp(s: &str) -> Option<String> {
    let mut re = String::with_capacity(s.len() * 4);
    for c in s.chars() {
        if c.is_ascii_alphabetic() {
            re.push('[');
            re.push(c.to_ascii_lowercase());
            re.push(c.to_ascii_uppercase());
            re.push(']');
        } else if c.is_ascii_digit() || c == ' ' || c == '\'' || c == '-' || c == '_' {
            re.push(c);
        } else {
            return None;
        }
    }
    Some(re)
}

#[cfg(test)]
mod tests;
