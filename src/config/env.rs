//! Environment overrides for the few settings that change per pod: a
//! Kubernetes Deployment sets them in `env:` while the rules stay in a
//! shared ConfigMap. Read once into a value so tests need not touch the
//! process environment.

use super::{Config, LogFormat, SourceKind};

/// The overrides, each `None` when its variable is unset or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    /// `BUSBAR_BROKERS` → `kafka.brokers`.
    pub brokers: Option<String>,
    /// `BUSBAR_GROUP_ID` → `group_id` of every Kafka source.
    pub group_id: Option<String>,
    /// `BUSBAR_HTTP_ADDR` → `listen` of every HTTP source.
    pub http_addr: Option<String>,
    /// `BUSBAR_ADMIN_ADDR` → `admin.listen`.
    pub admin_addr: Option<String>,
    /// `BUSBAR_LOG` → `log.level` (a level or a tracing filter directive).
    pub log: Option<String>,
    /// `BUSBAR_LOG_FORMAT` → `log.format` (`text` or `json`).
    pub log_format: Option<String>,
    /// `BUSBAR_SPOOL_PATH` → `spool.path`; turns the spool on with its
    /// default sizes when the file has no `spool` section.
    pub spool_path: Option<String>,
}

impl EnvOverrides {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        EnvOverrides {
            brokers: get("BUSBAR_BROKERS"),
            group_id: get("BUSBAR_GROUP_ID"),
            http_addr: get("BUSBAR_HTTP_ADDR"),
            admin_addr: get("BUSBAR_ADMIN_ADDR"),
            log: get("BUSBAR_LOG"),
            log_format: get("BUSBAR_LOG_FORMAT"),
            spool_path: get("BUSBAR_SPOOL_PATH"),
        }
    }
}

/// Apply the overrides. A `BUSBAR_LOG_FORMAT` that is neither `text` nor
/// `json` is left for [`Config::check`]-style reporting by the caller
/// (`log_format_problem`).
pub fn apply_env(c: &mut Config, env: &EnvOverrides) {
    if let Some(b) = &env.brokers {
        c.kafka.brokers = b.clone();
    }
    if let Some(a) = &env.admin_addr {
        c.admin.listen = a.clone();
    }
    if let Some(l) = &env.log {
        c.log.level = l.clone();
    }
    if let Some(p) = &env.spool_path {
        match &mut c.spool {
            Some(s) => s.path = p.into(),
            None => {
                c.spool = Some(super::SpoolConfig {
                    path: p.into(),
                    max_bytes: super::default_spool_max_bytes(),
                    segment_bytes: super::default_spool_segment_bytes(),
                })
            }
        }
    }
    match env.log_format.as_deref() {
        Some("json") => c.log.format = LogFormat::Json,
        Some("text") => c.log.format = LogFormat::Text,
        _ => {}
    }
    for s in &mut c.sources {
        match &mut s.kind {
            SourceKind::Kafka { group_id, .. } => {
                if let Some(g) = &env.group_id {
                    *group_id = g.clone();
                }
            }
            SourceKind::Http { listen, .. } => {
                if let Some(a) = &env.http_addr {
                    *listen = a.clone();
                }
            }
            SourceKind::Stdin => {}
        }
    }
}

impl EnvOverrides {
    /// The problem with `BUSBAR_LOG_FORMAT`, if it holds something else than
    /// `text` or `json`.
    pub fn problems(&self) -> Vec<super::Problem> {
        match self.log_format.as_deref() {
            None | Some("text") | Some("json") => Vec::new(),
            Some(other) => vec![super::Problem {
                at: "BUSBAR_LOG_FORMAT".into(),
                message: format!("`{other}`: expected `text` or `json`"),
            }],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_to_their_settings() {
        let text = "
sources:
  - {id: h, kind: http}
  - {id: k, kind: kafka, topics: [a]}
";
        let mut c = Config::from_yaml(text, "t").unwrap();
        let env = EnvOverrides::from_lookup(|k| {
            Some(
                match k {
                    "BUSBAR_BROKERS" => "b1:9092,b2:9092",
                    "BUSBAR_GROUP_ID" => "g2",
                    "BUSBAR_HTTP_ADDR" => "0.0.0.0:8080",
                    "BUSBAR_ADMIN_ADDR" => "0.0.0.0:9000",
                    "BUSBAR_LOG" => "debug",
                    "BUSBAR_LOG_FORMAT" => "json",
                    "BUSBAR_SPOOL_PATH" => "/data/spool",
                    _ => return None,
                }
                .to_string(),
            )
        });
        apply_env(&mut c, &env);
        assert_eq!(c.kafka.brokers, "b1:9092,b2:9092");
        assert_eq!(c.admin.listen, "0.0.0.0:9000");
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.log.format, LogFormat::Json);
        let spool = c.spool.as_ref().unwrap();
        assert_eq!(spool.path, std::path::Path::new("/data/spool"));
        assert_eq!(spool.max_bytes, 1 << 30);
        assert!(
            matches!(&c.sources[0].kind, SourceKind::Http { listen, .. } if listen == "0.0.0.0:8080")
        );
        assert!(
            matches!(&c.sources[1].kind, SourceKind::Kafka { group_id, .. } if group_id == "g2")
        );
        assert!(env.problems().is_empty());
    }

    #[test]
    fn empty_variables_are_ignored_and_bad_format_reported() {
        let env = EnvOverrides::from_lookup(|k| match k {
            "BUSBAR_BROKERS" => Some(" ".into()),
            "BUSBAR_LOG_FORMAT" => Some("xml".into()),
            _ => None,
        });
        assert_eq!(env.brokers, None);
        assert_eq!(env.problems().len(), 1);
        assert!(env.problems()[0].to_string().contains("BUSBAR_LOG_FORMAT"));
    }
}
