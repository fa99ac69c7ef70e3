//! What a running busbar says about its rules: the loaded configuration's
//! bus, rules and targets as one immutable [`Catalog`], swapped whole on
//! reload like the rule set itself. The admin listener's `GET /rules` and
//! the EventBridge read-only calls of the ingest endpoint (`ListRules`,
//! `DescribeRule`, ...) both answer from it, so they agree with each other
//! and with what routes events.
//!
//! Targets have no AWS resource behind them, but AWS's shapes require an
//! ARN: busbar names each with an `arn:busbar:` pseudo-ARN that says what
//! it is (`arn:busbar:kafka:<region>:<account>:topic/<topic>`).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::config::{Config, RuleState, TargetKind};

/// The running catalog, replaced whole on reload.
pub type SharedCatalog = Arc<RwLock<Arc<Catalog>>>;

/// Read the current catalog.
pub fn current(c: &SharedCatalog) -> Arc<Catalog> {
    match c.read() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

/// Replace the catalog (after a reload).
pub fn replace(c: &SharedCatalog, new: Catalog) {
    match c.write() {
        Ok(mut g) => *g = Arc::new(new),
        Err(p) => *p.into_inner() = Arc::new(new),
    }
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub bus_name: String,
    pub bus_arn: String,
    pub account: String,
    pub region: String,
    /// In configuration order, disabled rules included.
    pub rules: Vec<RuleView>,
}

#[derive(Debug, Clone)]
pub struct RuleView {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub enabled: bool,
    /// The event pattern as JSON text, as the configuration gave it.
    pub event_pattern: String,
    pub targets: Vec<TargetView>,
}

#[derive(Debug, Clone)]
pub struct TargetView {
    pub id: String,
    /// `kafka`, `stdout`, `file`, `http`.
    pub kind: &'static str,
    pub arn: String,
    /// As logs name it: a URL without credentials or query, `topic T`, ...
    pub endpoint: String,
    pub input: Option<String>,
    pub input_path: Option<String>,
    /// `InputPathsMap` and `InputTemplate`.
    pub input_transformer: Option<(BTreeMap<String, String>, String)>,
    pub maximum_retry_attempts: u32,
    pub maximum_event_age_seconds: u64,
    /// The dead-letter destination's name and pseudo-ARN.
    pub dead_letter: Option<(String, String)>,
}

impl Catalog {
    /// The catalog of a checked configuration.
    pub fn of(config: &Config) -> Catalog {
        let bus = crate::envelope::Bus {
            name: config.bus.name.clone(),
            account: config.bus.account.clone(),
            region: config.bus.region.clone(),
        };
        let bus_arn = bus.arn();
        let pseudo = |service: &str, resource: &str| {
            format!(
                "arn:busbar:{service}:{}:{}:{resource}",
                bus.region, bus.account
            )
        };
        let rules = config
            .rules
            .iter()
            .map(|r| RuleView {
                name: r.name.clone(),
                arn: bus.rule_arn(&r.name),
                description: r.description.clone(),
                enabled: r.state == RuleState::Enabled,
                event_pattern: r.event_pattern.0.clone(),
                targets: r
                    .targets
                    .iter()
                    .map(|t| {
                        let endpoint = crate::targets::endpoint(&t.kind);
                        let (kind, arn) = match &t.kind {
                            TargetKind::Kafka { topic, .. } => {
                                ("kafka", pseudo("kafka", &format!("topic/{topic}")))
                            }
                            TargetKind::Stdout => ("stdout", pseudo("stdout", "stdout")),
                            TargetKind::File { path } => {
                                ("file", pseudo("file", &format!("file/{}", path.display())))
                            }
                            TargetKind::Http { .. } => {
                                ("http", pseudo("http", &format!("endpoint/{endpoint}")))
                            }
                        };
                        TargetView {
                            id: t.id.clone(),
                            kind,
                            arn,
                            endpoint,
                            input: t.input.clone(),
                            input_path: t.input_path.clone(),
                            input_transformer: t
                                .input_transformer
                                .as_ref()
                                .map(|x| (x.input_paths_map.clone(), x.input_template.clone())),
                            maximum_retry_attempts: t.retry.maximum_retry_attempts,
                            maximum_event_age_seconds: t.retry.maximum_event_age_seconds,
                            dead_letter: t.dead_letter.as_ref().map(|d| {
                                (
                                    d.clone(),
                                    pseudo("dead-letter", &format!("dead-letter/{d}")),
                                )
                            }),
                        }
                    })
                    .collect(),
            })
            .collect();
        Catalog {
            bus_name: bus.name.clone(),
            bus_arn,
            account: bus.account.clone(),
            region: bus.region.clone(),
            rules,
        }
    }

    pub fn rule(&self, name: &str) -> Option<&RuleView> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// Whether `name` (a name or an ARN) is this catalog's bus.
    pub fn is_bus(&self, name: &str) -> bool {
        name == self.bus_name || name == self.bus_arn
    }
}

impl RuleView {
    pub fn state(&self) -> &'static str {
        if self.enabled {
            "ENABLED"
        } else {
            "DISABLED"
        }
    }
}
