//! From a checked [`Config`] to what runs: [`Plan`] compiles everything that
//! can fail without touching the world (patterns into one automaton, input
//! shapers, key paths) and is what `busbar validate` runs; [`Routes`] adds
//! the running target and dead-letter tasks, reusing those of the previous
//! rule set whose settings did not change.

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::{IntCounter, IntCounterVec};

use crate::config::{
    Config, ConnectionConfig, KafkaKey, Problem, RuleState, SourceKind, TargetConfig, TargetKind,
};
use crate::engine::{Automaton, RuleSetBuilder};
use crate::envelope::Bus;
use crate::metrics::Metrics;
use crate::targets::{self, DeadLetter, DeadLetterSender, TargetBatch, TargetSender};
use crate::transform::{RenderContext, Shaper};

/// How a Kafka target picks each message's key.
pub enum KeyRule {
    None,
    EventId,
    SourceKey,
    Path(Shaper),
}

pub struct PlanTarget {
    pub config: TargetConfig,
    pub shaper: Shaper,
    pub key: KeyRule,
    /// An `https://` target's TLS settings, files read.
    pub tls: Option<targets::tls::Tls>,
}

pub struct PlanRule {
    pub name: Arc<str>,
    pub arn: Arc<str>,
    pub targets: Vec<PlanTarget>,
}

/// Everything compiled from one configuration, before any task starts.
pub struct Plan {
    pub config: Config,
    pub bus: Bus,
    pub automaton: Automaton,
    /// Enabled rules, indexed by the automaton's `RuleId`.
    pub rules: Vec<PlanRule>,
    pub disabled: usize,
    /// The TLS settings of connections whose OAuth token endpoint is
    /// `https://`, files read.
    pub connection_tls: HashMap<String, targets::tls::Tls>,
}

impl Plan {
    /// Compile; every problem is reported, not only the first.
    pub fn compile(mut config: Config) -> Result<Plan, Vec<Problem>> {
        let mut problems = config.resolve_secrets();
        problems.extend(config.check());
        let limits = config.engine_limits();
        let bus = Bus {
            name: config.bus.name.clone(),
            account: config.bus.account.clone(),
            region: config.bus.region.clone(),
        };
        let mut builder = RuleSetBuilder::new(limits);
        let mut disabled_check = RuleSetBuilder::new(limits);
        let mut rules = Vec::new();
        let mut disabled = 0;
        let mut tls_loader = targets::tls::Loader::new();
        for (i, r) in config.rules.iter().enumerate() {
            let at = format!("rules[{i}] ({})", r.name);
            let enabled = r.state == RuleState::Enabled;
            let added = if enabled {
                builder.add(&r.name, &r.event_pattern.0)
            } else {
                disabled += 1;
                disabled_check.add(&r.name, &r.event_pattern.0)
            };
            if let Err(e) = added {
                problems.push(Problem {
                    at: format!("{at}.event_pattern"),
                    message: e.to_string(),
                });
            }
            let mut targets = Vec::new();
            for (j, t) in r.targets.iter().enumerate() {
                let at = format!("{at}.targets[{j}] ({})", t.id);
                let shaper = if let Some(c) = &t.input {
                    Shaper::constant(&t.id, c)
                } else if let Some(p) = &t.input_path {
                    Shaper::input_path(&t.id, p)
                } else if let Some(x) = &t.input_transformer {
                    let map: Vec<(String, String)> = x
                        .input_paths_map
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    Shaper::transformer(&t.id, &map, &x.input_template)
                } else {
                    Ok(Shaper::envelope())
                };
                let shaper = match shaper {
                    Ok(s) => s,
                    Err(e) => {
                        problems.push(Problem {
                            at: at.clone(),
                            message: e.to_string(),
                        });
                        continue;
                    }
                };
                let key = match &t.kind {
                    crate::config::TargetKind::Kafka { key, .. } => match key {
                        KafkaKey::EventId => KeyRule::EventId,
                        KafkaKey::SourceKey => KeyRule::SourceKey,
                        KafkaKey::Path(p) => match Shaper::input_path(&t.id, p) {
                            Ok(s) => KeyRule::Path(s),
                            Err(e) => {
                                problems.push(Problem {
                                    at: format!("{at}.key"),
                                    message: e.to_string(),
                                });
                                continue;
                            }
                        },
                    },
                    crate::config::TargetKind::Http {
                        ordering: crate::config::HttpOrdering::Key(p),
                        ..
                    } => match Shaper::input_path(&t.id, p) {
                        Ok(s) => KeyRule::Path(s),
                        Err(e) => {
                            problems.push(Problem {
                                at: format!("{at}.ordering.key"),
                                message: e.to_string(),
                            });
                            continue;
                        }
                    },
                    _ => KeyRule::None,
                };
                let tls = match &t.kind {
                    crate::config::TargetKind::Http { url, tls, .. } if is_https(url) => {
                        match tls_loader.load(tls.as_deref()) {
                            Ok(tls) => Some(tls),
                            Err(ps) => {
                                problems.extend(ps.into_iter().map(|p| Problem {
                                    at: format!("{at}.{}", p.key),
                                    message: p.message,
                                }));
                                continue;
                            }
                        }
                    }
                    _ => None,
                };
                targets.push(PlanTarget {
                    config: t.clone(),
                    shaper,
                    key,
                    tls,
                });
            }
            if enabled {
                rules.push(PlanRule {
                    name: Arc::from(r.name.as_str()),
                    arn: Arc::from(bus.rule_arn(&r.name).as_str()),
                    targets,
                });
            }
        }
        let mut connection_tls = HashMap::new();
        for (name, c) in &config.connections {
            if c.https_token_url().is_none() {
                continue;
            }
            match tls_loader.load(c.tls.as_deref()) {
                Ok(tls) => {
                    connection_tls.insert(name.clone(), tls);
                }
                Err(ps) => problems.extend(ps.into_iter().map(|p| Problem {
                    at: match p.key {
                        "url" => {
                            format!("connections.{name}.auth.oauth_client_credentials.token_url")
                        }
                        key => format!("connections.{name}.{key}"),
                    },
                    message: p.message,
                })),
            }
        }
        let automaton = match builder.build() {
            Ok(a) => Some(a),
            Err(e) => {
                // The rule the compilation budget ran out at.
                let at = config
                    .rules
                    .iter()
                    .position(|r| r.name == e.rule())
                    .map_or("rules".to_string(), |i| {
                        format!("rules[{i}] ({}).event_pattern", e.rule())
                    });
                problems.push(Problem {
                    at,
                    message: e.to_string(),
                });
                None
            }
        };
        match automaton {
            Some(automaton) if problems.is_empty() => Ok(Plan {
                config,
                bus,
                automaton,
                rules,
                disabled,
                connection_tls,
            }),
            _ => Err(problems),
        }
    }
}

pub struct RouteRule {
    pub name: Arc<str>,
    pub arn: Arc<str>,
    /// Indices into [`Routes::targets`].
    pub targets: std::ops::Range<usize>,
    pub matched: IntCounter,
}

pub struct TargetSlot {
    pub rule: usize,
    pub id: Arc<str>,
    pub shaper: Shaper,
    pub key: KeyRule,
    pub dead_letter: Option<usize>,
    sender: TargetSender,
}

impl TargetSlot {
    pub fn send(&self, tb: TargetBatch) {
        self.sender.send(tb);
    }
}

pub struct SourceSlot {
    pub id: Arc<str>,
    /// `source` of envelopes wrapped around raw events.
    pub event_source: String,
    pub detail_type: String,
    /// What a position in this source's input is called in messages.
    pub position_name: &'static str,
    pub dead_letter: Option<usize>,
    pub received: IntCounter,
    pub unmatched: IntCounter,
    pub parse_failures: IntCounterVec,
}

/// The running rule set: the automaton and where each match goes.
pub struct Routes {
    /// Unique per `Routes` ever built in this process: what a worker's
    /// automaton cache is keyed by. Not the address, which the allocator
    /// hands to the next rule set once the old one is freed, so a cache
    /// built for the old automaton would be used with the new one.
    pub generation: u64,
    pub bus: Bus,
    /// Largest accepted event (`limits.max_event_bytes`), checked before
    /// anything parses it.
    pub max_event_bytes: usize,
    /// Deepest accepted nesting of the input (`limits.max_event_depth`),
    /// named when an event breaks it.
    pub max_event_depth: usize,
    pub automaton: Automaton,
    pub rules: Vec<RouteRule>,
    pub targets: Vec<TargetSlot>,
    pub sources: Vec<SourceSlot>,
    pub dead_letters: Vec<DeadLetterSender>,
    dropped: IntCounterVec,
    /// Running tasks by the settings they were started with, for reuse.
    registry: HashMap<String, TargetSender>,
    dl_registry: HashMap<String, DeadLetterSender>,
    /// Connections by name, with the settings and secrets they were built
    /// from: one that did not change keeps its OAuth token over a reload.
    /// The token endpoint's TLS settings count too (a renewed CA file).
    conn_registry: HashMap<
        String,
        (
            ConnectionConfig,
            Option<u64>,
            Arc<targets::auth::Connection>,
        ),
    >,
}

impl Routes {
    /// Start (or reuse from `prev`) every target and dead-letter task of `plan`.
    pub fn start(
        plan: Plan,
        ctx: &targets::Context,
        prev: Option<&Routes>,
    ) -> Result<Routes, String> {
        let m: &Metrics = &ctx.metrics;
        let config = &plan.config;
        let mut dl_index = HashMap::new();
        let mut dead_letters = Vec::new();
        let mut dl_registry = HashMap::new();
        for (name, d) in &config.dead_letters {
            let fp = format!("{name}|{d:?}");
            let sender = match prev.and_then(|p| p.dl_registry.get(&fp)) {
                Some(s) => s.clone(),
                None => targets::dead_letter::spawn(name, d, ctx)?,
            };
            dl_registry.insert(fp, sender.clone());
            dl_index.insert(name.clone(), dead_letters.len());
            dead_letters.push(sender);
        }
        let mut conn_registry = HashMap::new();
        for (name, c) in &config.connections {
            let tls = plan.connection_tls.get(name);
            let fp = tls.map(targets::tls::Tls::fingerprint);
            let reused = prev
                .and_then(|p| p.conn_registry.get(name))
                .filter(|(was, was_fp, _)| was == c && *was_fp == fp)
                .map(|(_, _, conn)| conn.clone());
            let conn = match reused {
                Some(conn) => conn,
                None => targets::connection(name, c, tls)?,
            };
            conn_registry.insert(name.clone(), (c.clone(), fp, conn));
        }
        let mut targets = Vec::new();
        let mut rules = Vec::new();
        let mut registry = HashMap::new();
        for r in plan.rules {
            let first = targets.len();
            for t in r.targets {
                let c = &t.config;
                let connection = match &c.kind {
                    TargetKind::Http {
                        connection: Some(name),
                        ..
                    } => conn_registry.get(name).map(|(_, _, conn)| conn.clone()),
                    _ => None,
                };
                // Everything the task was started with, including what its
                // dead-letter destination is (not only its name), the
                // contents of its TLS files (a renewed certificate under
                // the same file name is a change) and which connection
                // object it holds.
                let fp = format!(
                    "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{}",
                    r.name,
                    c.id,
                    c.kind,
                    c.retry,
                    c.dead_letter,
                    c.dead_letter
                        .as_ref()
                        .and_then(|d| config.dead_letters.get(d)),
                    t.tls.as_ref().map(targets::tls::Tls::fingerprint),
                    connection.as_ref().map(Arc::as_ptr),
                    // A CloudEvents target labels text data differently.
                    t.shaper.is_text(),
                );
                let dead_letter = c
                    .dead_letter
                    .as_ref()
                    .and_then(|d| dl_index.get(d).copied());
                let sender = match prev.and_then(|p| p.registry.get(&fp)) {
                    Some(s) => s.clone(),
                    None => {
                        let info = targets::TargetInfo::new(
                            r.name.clone(),
                            r.arn.clone(),
                            Arc::from(c.id.as_str()),
                            Arc::from(targets::endpoint(&c.kind).as_str()),
                            c.retry,
                            dead_letter.map(|d| dead_letters[d].clone()),
                            m,
                            ctx.abort.clone(),
                        );
                        targets::spawn(
                            &c.kind,
                            t.tls.as_ref(),
                            info,
                            ctx,
                            connection,
                            t.shaper.is_text(),
                        )?
                    }
                };
                registry.insert(fp, sender.clone());
                targets.push(TargetSlot {
                    rule: rules.len(),
                    id: Arc::from(c.id.as_str()),
                    shaper: t.shaper,
                    key: t.key,
                    dead_letter,
                    sender,
                });
            }
            rules.push(RouteRule {
                matched: m.events_matched.with_label_values(&[&r.name]),
                name: r.name,
                arn: r.arn,
                targets: first..targets.len(),
            });
        }
        // Every reason at zero, for each source, in the family its invalid
        // input goes to (dead letters, or drops without a destination).
        for s in &config.sources {
            let gave_up = if s.dead_letter.is_some() {
                &m.dead_letters
            } else {
                &m.dropped
            };
            for reason in super::PARSE_FAILURE_REASONS {
                m.parse_failures.with_label_values(&[&s.id, reason]);
                gave_up.with_label_values(&["source", "", &s.id, reason]);
            }
        }
        let sources = config
            .sources
            .iter()
            .map(|s| SourceSlot {
                id: Arc::from(s.id.as_str()),
                event_source: s
                    .source
                    .clone()
                    .unwrap_or_else(|| format!("busbar.{}", s.id)),
                detail_type: s.detail_type.clone(),
                // PutEvents batches name their positions themselves
                // (`Batch::built`); an HTTP source's other input is NDJSON.
                position_name: match s.kind {
                    SourceKind::Kafka { .. } => "record at offset",
                    SourceKind::Http { .. } | SourceKind::Stdin => "line",
                },
                dead_letter: s
                    .dead_letter
                    .as_ref()
                    .and_then(|d| dl_index.get(d).copied()),
                received: m.events_received.with_label_values(&[&s.id]),
                unmatched: m.events_unmatched.with_label_values(&[&s.id]),
                parse_failures: m.parse_failures.clone(),
            })
            .collect();
        m.rules_loaded.set(rules.len() as i64);
        m.rules_loaded_timestamp.set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0),
        );
        static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Ok(Routes {
            generation: GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            max_event_bytes: config.limits.max_event_bytes,
            max_event_depth: config.limits.max_event_depth,
            bus: plan.bus,
            automaton: plan.automaton,
            rules,
            targets,
            sources,
            dead_letters,
            dropped: m.dropped.clone(),
            registry,
            dl_registry,
            conn_registry,
        })
    }

    /// Hand a dead letter to destination `d`, or count it as dropped when
    /// none is configured (`usize::MAX`).
    pub fn dead_letter(&self, d: usize, dl: DeadLetter) {
        crate::targets::dead_letter::hand_over(self.dead_letters.get(d), dl, &self.dropped);
    }
}

/// Whether an `http` target's URL needs TLS (`Config::check` allowed only
/// `http` and `https`; schemes are case-insensitive).
fn is_https(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// The Kafka key of one delivery.
pub fn key_bytes<'a>(
    rule: &KeyRule,
    envelope: &[u8],
    id: &'a [u8],
    source_key: Option<&'a [u8]>,
    scratch: &'a mut Vec<u8>,
) -> Option<&'a [u8]> {
    match rule {
        KeyRule::None => None,
        KeyRule::EventId => Some(id),
        KeyRule::SourceKey => source_key,
        KeyRule::Path(shaper) => {
            let ctx = RenderContext {
                rule_name: "",
                rule_arn: "",
                ingestion_time: "",
            };
            shaper.render(envelope, &ctx, scratch).ok()?;
            // A JSON string without escapes is used as its text, anything
            // else as its JSON.
            let s: &[u8] = scratch;
            if s.len() >= 2 && s[0] == b'"' && s[s.len() - 1] == b'"' && !s.contains(&b'\\') {
                Some(&s[1..s.len() - 1])
            } else {
                Some(s)
            }
        }
    }
}
