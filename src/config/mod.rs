//! The service configuration (`busbar run --config FILE`): one YAML file,
//! parsed in two stages as ripgrep does with its flags. Stage one is serde
//! with unknown keys rejected ([`Config::from_yaml`]); stage two,
//! [`Config::check`], reports every semantic problem at once (which rule,
//! which key, what is wrong) so `busbar validate` can list them all. Building
//! the runtime objects (automaton, shapers, clients) happens in
//! `pipeline::Plan`, which adds the problems only compilation can find.
//!
//! Field-by-field documentation with examples is in `config/README.md`.
//! This module never touches tokio, rdkafka or hyper.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::Deserialize;

pub mod connection;
mod env;
pub mod expand;
pub mod secret;
pub use connection::ConnectionConfig;
pub use env::{apply_env, EnvOverrides};
pub use secret::{Secret, SecretValue};

/// Exit status of `busbar validate` (and `run`) for a bad configuration:
/// `EX_CONFIG` from sysexits.h.
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub bus: BusConfig,
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Named dead-letter destinations that targets and sources refer to.
    #[serde(default)]
    pub dead_letters: BTreeMap<String, DeadLetterConfig>,
    /// Named connections (auth and invocation parameters) that `http`
    /// targets refer to.
    #[serde(default)]
    pub connections: BTreeMap<String, ConnectionConfig>,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Matching workers; default: the number of CPUs.
    #[serde(default)]
    pub workers: Option<usize>,
    /// SIGTERM/SIGINT: how long draining may take before busbar exits anyway.
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
    /// Re-read the file when it changes (polled each second; applied once
    /// it has been unchanged for a second), besides on SIGHUP.
    #[serde(default = "default_true")]
    pub watch_config: bool,
    #[serde(default)]
    pub log: LogConfig,
    /// The write-ahead spool; absent, there is none.
    #[serde(default)]
    pub spool: Option<SpoolConfig>,
    /// Not a setting: what [`Config::load`] learnt reading the file.
    #[serde(skip)]
    pub origin: Origin,
}

/// What reading the file found besides the settings.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// CRC-32 of the file's text as written (before `${VAR}` expansion, so
    /// that the figure reveals nothing of the environment's values): the
    /// `busbar_config_hash` gauge, to tell which replicas run which file.
    pub crc32: u32,
    /// The values `${VAR}` references took, to keep them out of messages.
    pub redactor: expand::Redactor,
}

fn default_grace() -> u64 {
    30
}
fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusConfig {
    #[serde(default = "default_bus_name")]
    pub name: String,
    #[serde(default = "default_account")]
    pub account: String,
    #[serde(default = "default_region")]
    pub region: String,
    /// PutEvents entries that name another bus: dropped (AWS's behaviour),
    /// or accepted onto this one.
    #[serde(default)]
    pub accept_other_buses: OtherBuses,
}

/// `bus.accept_other_buses`: `false` (drop, with a rate-limited warning),
/// `true` (accept every bus name), or a list of bus names to accept.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OtherBuses {
    All(bool),
    Named(Vec<String>),
}

impl Default for OtherBuses {
    fn default() -> Self {
        OtherBuses::All(false)
    }
}

impl OtherBuses {
    /// Whether an entry for `bus` (a name, or an event bus ARN) is taken.
    pub fn accepts(&self, bus: &str) -> bool {
        let name = match bus.split_once(":event-bus/") {
            Some((arn, name)) if arn.starts_with("arn:") => name,
            _ => bus,
        };
        match self {
            OtherBuses::All(all) => *all,
            OtherBuses::Named(names) => names.iter().any(|n| n == name),
        }
    }
}

fn default_bus_name() -> String {
    "default".into()
}
fn default_account() -> String {
    "000000000000".into()
}
fn default_region() -> String {
    "us-east-1".into()
}

impl Default for BusConfig {
    fn default() -> Self {
        BusConfig {
            name: default_bus_name(),
            account: default_account(),
            region: default_region(),
            accept_other_buses: OtherBuses::default(),
        }
    }
}

/// Where events come from. Every source turns its input into EventBridge
/// envelopes: lines that already are envelopes are kept, other JSON objects
/// become the `detail` of a new envelope with this source's `source` and
/// `detail_type`.
// serde's `deny_unknown_fields` does not work next to `flatten`; the
// `Deserialize` impl below checks the keys against the kind instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self")]
pub struct SourceConfig {
    pub id: String,
    #[serde(flatten)]
    pub kind: SourceKind,
    /// `source` of envelopes wrapped around raw events (default `busbar.<id>`).
    #[serde(default)]
    pub source: Option<String>,
    /// `detail-type` of envelopes wrapped around raw events.
    #[serde(default = "default_detail_type")]
    pub detail_type: String,
    /// Dead-letter destination for input that is not a valid event.
    #[serde(default)]
    pub dead_letter: Option<String>,
}

fn default_detail_type() -> String {
    "Event".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceKind {
    /// NDJSON on standard input; EOF drains and exits.
    Stdin,
    /// PutEvents (AWS JSON 1.1 on `POST /`) and NDJSON on `POST /events`.
    Http {
        #[serde(default = "default_http_listen")]
        listen: String,
        /// Largest request body accepted, bytes.
        #[serde(default = "default_max_request_bytes")]
        max_request_bytes: usize,
        /// Most connections open at once; default: derived from the
        /// process's open-file limit (`sources::http::connection_cap`).
        #[serde(default)]
        max_connections: Option<usize>,
        /// From a connection's start, or the first byte of a later
        /// request, to the end of the request head.
        #[serde(default = "default_header_timeout")]
        header_timeout_seconds: f64,
        /// From the end of the request head to the end of its body.
        #[serde(default = "default_body_timeout")]
        body_timeout_seconds: f64,
        /// A kept-alive connection with no request in it.
        #[serde(default = "default_idle_timeout")]
        idle_timeout_seconds: f64,
    },
    /// A consumer group over one or more topics.
    Kafka {
        topics: Vec<String>,
        #[serde(default = "default_group")]
        group_id: String,
        /// Where a group with no committed offset starts.
        #[serde(default)]
        start: StartPosition,
        /// librdkafka properties for this consumer only.
        #[serde(default)]
        settings: BTreeMap<String, String>,
    },
}

fn default_http_listen() -> String {
    "127.0.0.1:8787".into()
}
fn default_max_request_bytes() -> usize {
    // PutEvents: up to 10 entries of together 1 MiB, plus JSON framing.
    2 << 20
}
fn default_header_timeout() -> f64 {
    10.0
}
fn default_body_timeout() -> f64 {
    30.0
}
fn default_idle_timeout() -> f64 {
    60.0
}
fn default_group() -> String {
    "busbar".into()
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StartPosition {
    #[default]
    Earliest,
    Latest,
}

impl StartPosition {
    pub fn as_str(self) -> &'static str {
        match self {
            StartPosition::Earliest => "earliest",
            StartPosition::Latest => "latest",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub state: RuleState,
    /// The EventBridge event pattern: a JSON string, or the same as YAML.
    pub event_pattern: PatternText,
    #[serde(default)]
    pub targets: Vec<TargetConfig>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
pub enum RuleState {
    #[default]
    #[serde(rename = "ENABLED")]
    Enabled,
    #[serde(rename = "DISABLED")]
    Disabled,
}

/// An event pattern's JSON text. Written either as a string holding JSON
/// (byte offsets in errors then point into that string) or as YAML, which is
/// turned into JSON text first.
#[derive(Debug, Clone)]
pub struct PatternText(pub String);

impl<'de> Deserialize<'de> for PatternText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(PatternText(match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        }))
    }
}

// serde's `deny_unknown_fields` does not work next to `flatten`; the
// `Deserialize` impl below checks the keys against the kind instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(remote = "Self")]
pub struct TargetConfig {
    pub id: String,
    #[serde(flatten)]
    pub kind: TargetKind,
    /// A constant JSON text delivered instead of the event.
    #[serde(default)]
    pub input: Option<String>,
    /// A JSONPath into the envelope; the part it selects is delivered.
    #[serde(default)]
    pub input_path: Option<String>,
    #[serde(default)]
    pub input_transformer: Option<InputTransformerConfig>,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Where events go that this target could not take (name in `dead_letters`).
    #[serde(default)]
    pub dead_letter: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputTransformerConfig {
    #[serde(default)]
    pub input_paths_map: BTreeMap<String, String>,
    pub input_template: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_attempts")]
    pub maximum_retry_attempts: u32,
    #[serde(default = "default_age")]
    pub maximum_event_age_seconds: u64,
}

fn default_attempts() -> u32 {
    185
}
fn default_age() -> u64 {
    86_400
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            maximum_retry_attempts: default_attempts(),
            maximum_event_age_seconds: default_age(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum TargetKind {
    Kafka {
        topic: String,
        /// Message key: `id` (the event id), `source` (the consumed record's
        /// key, when the event came from Kafka), or a JSONPath into the envelope.
        #[serde(default)]
        key: KafkaKey,
        /// `eventbridge` (the shaped body as the value), or `cloudevents`
        /// (binary mode: `ce_*` headers, the event's data as the value).
        #[serde(default)]
        format: TargetFormat,
    },
    Stdout,
    File {
        path: PathBuf,
    },
    Http {
        url: String,
        #[serde(default = "default_method")]
        method: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// Invocations per second at most (token bucket); none: unlimited.
        #[serde(default)]
        rate_limit_per_second: Option<f64>,
        #[serde(default = "default_http_timeout")]
        timeout_seconds: f64,
        /// Requests in flight at once.
        #[serde(default = "default_max_concurrency")]
        max_concurrency: usize,
        #[serde(default)]
        ordering: HttpOrdering,
        /// Path, query and header parameters, literal or from the event.
        #[serde(default)]
        http_parameters: Option<Box<crate::targets::params::HttpParametersConfig>>,
        /// How an `https://` URL's server is trusted, and how busbar shows
        /// itself to it; absent: the platform's root store.
        #[serde(default)]
        tls: Option<Box<TlsConfig>>,
        /// Auth and invocation parameters (a name in `connections`).
        #[serde(default)]
        connection: Option<String>,
        /// `eventbridge` (the shaped body), `cloudevents` (structured
        /// mode) or `cloudevents-binary`.
        #[serde(default)]
        format: TargetFormat,
    },
}

/// How an `http` or `kafka` target writes each event: as EventBridge
/// delivers it (the envelope, or what `input*` shaped from it), or as a
/// CloudEvent (`targets::cloudevents` says how attributes are mapped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TargetFormat {
    #[default]
    Eventbridge,
    /// HTTP: structured mode (`application/cloudevents+json`). Kafka:
    /// binary mode, the one mode the Kafka binding requires of every
    /// receiver.
    Cloudevents,
    /// Binary mode: the data as the body, attributes as `ce-*` headers
    /// (HTTP) or `ce_*` headers (Kafka).
    CloudeventsBinary,
}

/// Which deliveries of an `http` target must go one after another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HttpOrdering {
    /// None (EventBridge's behaviour): up to `max_concurrency` at once.
    #[default]
    None,
    /// Events with the same value at this path (`$.detail.customer`) go one
    /// after another, in the order they were taken in; others in parallel.
    Key(String),
}

impl<'de> Deserialize<'de> for HttpOrdering {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Key { key: String },
        }
        match Raw::deserialize(d) {
            Ok(Raw::Word(w)) if w == "none" => Ok(HttpOrdering::None),
            Ok(Raw::Key { key }) => Ok(HttpOrdering::Key(key)),
            _ => Err(serde::de::Error::custom(
                "expected `none` or `{key: $.path}` (a JSONPath into the event, such as $.detail.customer)",
            )),
        }
    }
}

fn default_max_concurrency() -> usize {
    32
}

/// An `http` target's `tls:` keys. The files are read when the
/// configuration is compiled (at start, on reload, and by `validate`), not
/// here: this stage only checks the keys' shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM bundle of the CAs the server's certificate must chain to. It
    /// replaces the platform's root store for this target (trust this CA,
    /// and only it), rather than adding to it.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain busbar presents (mTLS), leaf first.
    #[serde(default)]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key_file: Option<PathBuf>,
    /// The name sent as SNI and that the certificate must carry, instead of
    /// the URL's host (a DNS name or an IP address).
    #[serde(default)]
    pub server_name: Option<String>,
}

fn default_method() -> String {
    "POST".into()
}
fn default_http_timeout() -> f64 {
    5.0
}

impl TargetKind {
    pub fn name(&self) -> &'static str {
        match self {
            TargetKind::Kafka { .. } => "kafka",
            TargetKind::Stdout => "stdout",
            TargetKind::File { .. } => "file",
            TargetKind::Http { .. } => "http",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KafkaKey {
    #[default]
    EventId,
    SourceKey,
    Path(String),
}

impl<'de> Deserialize<'de> for KafkaKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.as_str() {
            "id" => Ok(KafkaKey::EventId),
            "source" => Ok(KafkaKey::SourceKey),
            p if p.starts_with('$') => Ok(KafkaKey::Path(s)),
            other => Err(serde::de::Error::custom(format!(
                "key `{other}`: expected `id`, `source` or a JSONPath starting with `$`"
            ))),
        }
    }
}

/// A dead-letter destination. Kafka dead letters carry the reason as
/// headers on the original bytes; the others write one JSON object per
/// dead letter with the reason fields and the event.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DeadLetterConfig {
    Kafka { topic: String },
    Stdout,
    Stderr,
    File { path: PathBuf },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    #[serde(default = "default_admin_listen")]
    pub listen: String,
}

fn default_admin_listen() -> String {
    "127.0.0.1:9464".into()
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: default_admin_listen(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    #[serde(default = "default_brokers")]
    pub brokers: String,
    /// librdkafka properties for every client (TLS, SASL, ...), passed through.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// librdkafka properties for consumers only.
    #[serde(default)]
    pub consumer: BTreeMap<String, String>,
    /// librdkafka properties for the producer only.
    #[serde(default)]
    pub producer: BTreeMap<String, String>,
    /// Seconds the producer may hold records without any delivery before
    /// busbar replaces it (and retries the records on the new one).
    #[serde(default = "default_producer_stall_seconds")]
    pub producer_stall_seconds: u64,
}

fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}

/// librdkafka's range for `message.max.bytes`.
pub const MESSAGE_MAX_BYTES: std::ops::RangeInclusive<usize> = 1000..=1_000_000_000;
/// Room beside the largest event in its envelope for a Kafka record's key
/// and headers, in busbar's default `message.max.bytes`.
pub const KAFKA_KEY_AND_HEADERS_ROOM: usize = 64 << 10;

impl KafkaConfig {
    /// The producer's `message.max.bytes`: the value `kafka.producer` (else
    /// `kafka.settings`) sets, or room for the largest event in its
    /// envelope plus [`KAFKA_KEY_AND_HEADERS_ROOM`]. A value set must be a
    /// number in librdkafka's range that fits that largest event: `Err`
    /// gives the setting and what is wrong with it.
    pub fn message_max_bytes(&self, limits: &LimitsConfig) -> Result<usize, (String, String)> {
        let largest = limits.max_event_bytes.saturating_add(ENVELOPE_HEADROOM);
        let set = [
            ("kafka.producer", &self.producer),
            ("kafka.settings", &self.settings),
        ]
        .into_iter()
        .find_map(|(at, m)| Some((at, m.get("message.max.bytes")?)));
        let Some((at, value)) = set else {
            let n = largest.saturating_add(KAFKA_KEY_AND_HEADERS_ROOM);
            if n > *MESSAGE_MAX_BYTES.end() {
                return Err((
                    "limits.max_event_bytes".into(),
                    format!(
                        "{} with its envelope and key and headers is over the largest Kafka record \
                         librdkafka can produce (message.max.bytes at most {})",
                        limits.max_event_bytes,
                        MESSAGE_MAX_BYTES.end()
                    ),
                ));
            }
            return Ok(n);
        };
        let at = format!("{at}.message.max.bytes");
        let n: usize = value.trim().parse().map_err(|_| {
            (
                at.clone(),
                format!("`{value}` is not a whole number of bytes"),
            )
        })?;
        if !MESSAGE_MAX_BYTES.contains(&n) {
            return Err((
                at,
                format!(
                    "{n} is outside {}-{} (librdkafka's range)",
                    MESSAGE_MAX_BYTES.start(),
                    MESSAGE_MAX_BYTES.end()
                ),
            ));
        }
        if n < largest {
            return Err((
                at,
                format!(
                    "{n} is below limits.max_event_bytes ({}) plus {ENVELOPE_HEADROOM} bytes of \
                     envelope: an event busbar accepts would not fit a Kafka record",
                    limits.max_event_bytes
                ),
            ));
        }
        Ok(n)
    }
}

/// A healthy producer delivers within milliseconds; a minute without any
/// delivery while records wait is a stuck one, or a broker that is down
/// (where a new producer costs nothing). It stays below librdkafka's
/// `message.timeout.ms` (300 s), after which records fail anyway.
fn default_producer_stall_seconds() -> u64 {
    60
}

/// The range `validate` accepts for `kafka.producer_stall_seconds`: below
/// 5 s a slow broker would look stuck; above an hour a stuck producer
/// would hold events for longer than anyone waits.
pub const PRODUCER_STALL_SECONDS: std::ops::RangeInclusive<u64> = 5..=3600;

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: default_brokers(),
            settings: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            producer_stall_seconds: default_producer_stall_seconds(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default = "default_event_bytes")]
    pub max_event_bytes: usize,
    #[serde(default = "default_depth")]
    pub max_event_depth: usize,
    #[serde(default = "default_targets")]
    pub max_targets_per_rule: usize,
    #[serde(default = "default_wildcard")]
    pub wildcard_complexity: usize,
    /// Most states of one path's string automaton; see `engine::Limits`.
    #[serde(default = "default_automaton_states")]
    pub max_automaton_states: usize,
    /// Most bytes the rule set's string matchers may take, construction
    /// included.
    #[serde(default = "default_automaton_bytes")]
    pub max_automaton_bytes: usize,
    /// Events accepted but not yet delivered everywhere; a full pipeline
    /// stops Kafka consumption and throttles HTTP ingest.
    #[serde(default = "default_in_flight_events")]
    pub max_in_flight_events: usize,
    #[serde(default = "default_in_flight_bytes")]
    pub max_in_flight_bytes: usize,
    /// Per HTTP target: deliveries a failing target holds as copies of
    /// their own, apart from the in-flight budget, while other targets go on.
    #[serde(default = "default_backlog_events")]
    pub max_backlog_events: usize,
    #[serde(default = "default_backlog_bytes")]
    pub max_backlog_bytes: usize,
}

fn default_event_bytes() -> usize {
    1 << 20
}
fn default_depth() -> usize {
    1000
}
fn default_targets() -> usize {
    5
}
fn default_wildcard() -> usize {
    10
}
fn default_automaton_states() -> usize {
    crate::engine::Limits::default().max_automaton_states
}
fn default_automaton_bytes() -> usize {
    crate::engine::Limits::default().max_automaton_bytes
}

/// The ranges `validate` accepts for the compilation budget: below them
/// ordinary rule sets fail, above them a rule set could take more memory
/// (or, through the steps states allow, time) than any host has.
pub const AUTOMATON_STATES_RANGE: std::ops::RangeInclusive<usize> = 1_000..=(1 << 24);
pub const AUTOMATON_BYTES_RANGE: std::ops::RangeInclusive<usize> = (1 << 20)..=(16 << 30);
fn default_in_flight_events() -> usize {
    10_000
}
fn default_in_flight_bytes() -> usize {
    64 << 20
}
fn default_backlog_events() -> usize {
    10_000
}
fn default_backlog_bytes() -> usize {
    64 << 20
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_event_bytes: default_event_bytes(),
            max_event_depth: default_depth(),
            max_targets_per_rule: default_targets(),
            wildcard_complexity: default_wildcard(),
            max_automaton_states: default_automaton_states(),
            max_automaton_bytes: default_automaton_bytes(),
            max_in_flight_events: default_in_flight_events(),
            max_in_flight_bytes: default_in_flight_bytes(),
            max_backlog_events: default_backlog_events(),
            max_backlog_bytes: default_backlog_bytes(),
        }
    }
}

/// The write-ahead spool (`crate::spool`): accepted events on local disk
/// until they are delivered or dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpoolConfig {
    /// The spool's directory, created if missing; one busbar process each.
    pub path: PathBuf,
    /// Most bytes the spool may take; a full spool throttles ingest.
    #[serde(default = "default_spool_max_bytes")]
    pub max_bytes: u64,
    /// Size at which a segment file is closed and a new one started.
    #[serde(default = "default_spool_segment_bytes")]
    pub segment_bytes: u64,
}

fn default_spool_max_bytes() -> u64 {
    1 << 30
}
fn default_spool_segment_bytes() -> u64 {
    16 << 20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default)]
    pub format: LogFormat,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: default_level(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One thing wrong with a configuration: where (a dotted key such as
/// `rules[2] (orders).targets[0].topic`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config: `{}`: {}", self.at, self.message)
    }
}

/// Every problem found; `Display` lists one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    fn one(at: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem {
                at: at.into(),
                message: message.into(),
            }],
        }
    }
}

/// Deserialize `T` (a struct with a flattened `kind` enum) from a mapping
/// whose keys must be `common` or those of its kind. The mapping is held as
/// a YAML value, which (unlike a JSON one) keeps `.nan` and `.inf`, so that
/// such a number reaches [`Config::check`] and is reported with its range.
fn strict<'de, D, T>(
    d: D,
    common: &[&str],
    kinds: &[(&str, &[&str])],
    de: impl FnOnce(yaml_serde::Value) -> Result<T, yaml_serde::Error>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let v = yaml_serde::Value::deserialize(d)?;
    if let yaml_serde::Value::Mapping(m) = &v {
        let kind = m.get("kind").and_then(|k| k.as_str());
        let own: &[&str] = kinds
            .iter()
            .find(|(k, _)| Some(*k) == kind)
            .map(|(_, f)| *f)
            .unwrap_or(&[]);
        for key in m.keys() {
            let Some(key) = key.as_str() else {
                return Err(D::Error::custom(format!("key {key:?} is not a string")));
            };
            if key != "kind" && !common.contains(&key) && !own.contains(&key) {
                let mut expected: Vec<&str> = common.iter().chain(own).copied().collect();
                expected.push("kind");
                return Err(D::Error::custom(format!(
                    "unknown field `{key}`{}, expected one of {}",
                    kind.map(|k| format!(" for kind `{k}`")).unwrap_or_default(),
                    expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
    }
    de(v).map_err(D::Error::custom)
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        strict(
            d,
            &["id", "source", "detail_type", "dead_letter"],
            &[
                ("stdin", &[]),
                (
                    "http",
                    &[
                        "listen",
                        "max_request_bytes",
                        "max_connections",
                        "header_timeout_seconds",
                        "body_timeout_seconds",
                        "idle_timeout_seconds",
                    ],
                ),
                ("kafka", &["topics", "group_id", "start", "settings"]),
            ],
            SourceConfig::deserialize,
        )
    }
}

impl<'de> Deserialize<'de> for TargetConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        strict(
            d,
            &[
                "id",
                "input",
                "input_path",
                "input_transformer",
                "retry",
                "dead_letter",
            ],
            &[
                ("kafka", &["topic", "key", "format"]),
                ("stdout", &[]),
                ("file", &["path"]),
                (
                    "http",
                    &[
                        "url",
                        "method",
                        "headers",
                        "rate_limit_per_second",
                        "timeout_seconds",
                        "max_concurrency",
                        "ordering",
                        "http_parameters",
                        "tls",
                        "connection",
                        "format",
                    ],
                ),
            ],
            TargetConfig::deserialize,
        )
    }
}

/// EventBridge's name rule for rules and target ids: `[\.\-_A-Za-z0-9]+`, 1-64.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

impl Config {
    /// Stage one: YAML → structs; unknown keys, wrong types and missing
    /// required keys are errors (serde reports the first, with its line).
    pub fn from_yaml(text: &str, file: &str) -> Result<Config, ConfigError> {
        yaml_serde::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("{file}:{}:{}", l.line(), l.column()))
                .unwrap_or_else(|| file.to_string());
            ConfigError::one(at, e.to_string())
        })
    }

    /// Read, expand `${VAR}` references, parse and apply the environment
    /// overrides. Problems never quote a value taken from the environment.
    pub fn load(path: &std::path::Path, env: &EnvOverrides) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::one(&file, format!("cannot read the file: {e}")))?;
        let (expanded, redactor) = expand::expand(&text, &file, |name| std::env::var(name).ok())
            .map_err(|problems| ConfigError { problems })?;
        let mut config = Config::from_yaml(&expanded, &file).map_err(|e| ConfigError {
            problems: e
                .problems
                .iter()
                .map(|p| Problem {
                    at: redactor.redact(&p.at),
                    message: redactor.redact(&p.message),
                })
                .collect(),
        })?;
        config.origin = Origin {
            crc32: crc32fast::hash(text.as_bytes()),
            redactor,
        };
        apply_env(&mut config, env);
        Ok(config)
    }

    /// The engine limits this configuration asks for.
    pub fn engine_limits(&self) -> crate::engine::Limits {
        crate::engine::Limits {
            wildcard_complexity: self.limits.wildcard_complexity,
            // The limit applies to the input; the envelope busbar wraps
            // around a raw event adds its keys (a few hundred bytes).
            max_event_bytes: self
                .limits
                .max_event_bytes
                .saturating_add(ENVELOPE_HEADROOM),
            max_depth: self.limits.max_event_depth + 1,
            max_automaton_states: self.limits.max_automaton_states,
            max_automaton_bytes: self.limits.max_automaton_bytes,
            ..crate::engine::Limits::default()
        }
    }

    /// Read every secret (files and environment variables); run at start
    /// and at every reload, so that a rotated Secret is picked up. Each one
    /// that cannot be read is a problem naming its key and its source.
    pub fn resolve_secrets(&mut self) -> Vec<Problem> {
        let mut p = Vec::new();
        connection::resolve(&mut self.connections, &mut |at, message| {
            p.push(Problem { at, message })
        });
        p
    }

    /// Stage two: every semantic problem that needs no compilation.
    pub fn check(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut push = |at: String, message: String| p.push(Problem { at, message });

        if !self.bus.account.bytes().all(|b| b.is_ascii_digit()) || self.bus.account.len() != 12 {
            push(
                "bus.account".into(),
                format!("`{}` is not a 12-digit AWS account id", self.bus.account),
            );
        }
        if self.bus.name.is_empty()
            || self.bus.name.len() > 256
            || !self
                .bus
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'))
        {
            push(
                "bus.name".into(),
                format!(
                    "`{}` must be 1-256 characters of [/.-_A-Za-z0-9]",
                    self.bus.name
                ),
            );
        }
        if self.bus.region.is_empty() {
            push("bus.region".into(), "must not be empty".into());
        }
        if let OtherBuses::Named(names) = &self.bus.accept_other_buses {
            for (i, n) in names.iter().enumerate() {
                if n.is_empty()
                    || n.len() > 256
                    || !n.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_')
                    })
                {
                    push(
                        format!("bus.accept_other_buses[{i}]"),
                        format!("`{n}` must be 1-256 characters of [/.-_A-Za-z0-9]"),
                    );
                }
            }
        }

        if self.sources.is_empty() {
            push(
                "sources".into(),
                "at least one source is needed (stdin, http or kafka)".into(),
            );
        }
        let mut source_ids = HashSet::new();
        let mut stdin_seen = false;
        // Every address busbar binds, to find two listeners on one port.
        let mut listeners: Vec<(String, SocketAddr)> = Vec::new();
        for (i, s) in self.sources.iter().enumerate() {
            let at = format!("sources[{i}] ({})", s.id);
            if !valid_name(&s.id) {
                push(
                    format!("{at}.id"),
                    "must be 1-64 characters of [.-_A-Za-z0-9]".into(),
                );
            }
            if !source_ids.insert(s.id.as_str()) {
                push(
                    format!("{at}.id"),
                    format!("duplicate source id `{}`", s.id),
                );
            }
            if let Some(dl) = &s.dead_letter {
                if !self.dead_letters.contains_key(dl) {
                    push(
                        format!("{at}.dead_letter"),
                        format!("`{dl}` is not defined under `dead_letters`"),
                    );
                }
            }
            match &s.kind {
                SourceKind::Stdin => {
                    if stdin_seen {
                        push(at.clone(), "only one stdin source is possible".into());
                    }
                    stdin_seen = true;
                }
                SourceKind::Http {
                    listen,
                    max_request_bytes,
                    max_connections,
                    header_timeout_seconds,
                    body_timeout_seconds,
                    idle_timeout_seconds,
                } => {
                    match listen.parse::<SocketAddr>() {
                        Ok(a) => listeners.push((format!("{at}.listen"), a)),
                        Err(_) => push(
                            format!("{at}.listen"),
                            format!("`{listen}` is not an address such as 127.0.0.1:8787"),
                        ),
                    }
                    in_range(
                        &mut push,
                        format!("{at}.max_request_bytes"),
                        *max_request_bytes,
                        REQUEST_BYTES,
                    );
                    if let Some(n) = max_connections {
                        in_range(&mut push, format!("{at}.max_connections"), *n, CONNECTIONS);
                    }
                    for (key, v) in [
                        ("header_timeout_seconds", header_timeout_seconds),
                        ("body_timeout_seconds", body_timeout_seconds),
                        ("idle_timeout_seconds", idle_timeout_seconds),
                    ] {
                        seconds_in_range(
                            &mut push,
                            format!("{at}.{key}"),
                            *v,
                            HTTP_TIMEOUT_SECONDS,
                        );
                    }
                }
                SourceKind::Kafka {
                    topics,
                    group_id,
                    settings,
                    ..
                } => {
                    for key in settings.keys() {
                        if MANAGED_KAFKA_KEYS.contains(&key.as_str()) {
                            push(
                                format!("{at}.settings.{key}"),
                                "busbar sets this itself (group_id and start are settings of the source; delivery guarantees depend on the rest); remove it".into(),
                            );
                        }
                    }
                    if topics.is_empty() {
                        push(format!("{at}.topics"), "name at least one topic".into());
                    }
                    if group_id.is_empty() {
                        push(format!("{at}.group_id"), "must not be empty".into());
                    }
                }
            }
        }

        let mut rule_names = HashSet::new();
        for (i, r) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}] ({})", r.name);
            if !valid_name(&r.name) {
                push(
                    format!("{at}.name"),
                    "must be 1-64 characters of [.-_A-Za-z0-9]".into(),
                );
            }
            if !rule_names.insert(r.name.as_str()) {
                push(
                    format!("{at}.name"),
                    format!("duplicate rule name `{}`", r.name),
                );
            }
            if let Some(d) = &r.description {
                if d.chars().count() > 512 {
                    push(
                        format!("{at}.description"),
                        "must be at most 512 characters".into(),
                    );
                }
            }
            if r.targets.len() > self.limits.max_targets_per_rule {
                push(
                    format!("{at}.targets"),
                    format!(
                        "The requested resource exceeds the maximum number allowed. \
                         ({} targets, limit {} from limits.max_targets_per_rule)",
                        r.targets.len(),
                        self.limits.max_targets_per_rule
                    ),
                );
            }
            let mut target_ids = HashSet::new();
            for (j, t) in r.targets.iter().enumerate() {
                let at = format!("{at}.targets[{j}] ({})", t.id);
                self.check_target(t, &at, &mut target_ids, &mut push);
            }
        }

        connection::check(&self.connections, &mut push);

        for (name, d) in &self.dead_letters {
            let at = format!("dead_letters.{name}");
            match d {
                DeadLetterConfig::Kafka { topic } if topic.is_empty() => {
                    push(format!("{at}.topic"), "must not be empty".into())
                }
                DeadLetterConfig::File { path } if path.as_os_str().is_empty() => {
                    push(format!("{at}.path"), "must not be empty".into())
                }
                _ => {}
            }
        }

        match self.admin.listen.parse::<SocketAddr>() {
            Ok(a) => listeners.insert(0, ("admin.listen".into(), a)),
            Err(_) => push(
                "admin.listen".into(),
                format!(
                    "`{}` is not an address such as 127.0.0.1:9464",
                    self.admin.listen
                ),
            ),
        }
        for (j, (key, a)) in listeners.iter().enumerate() {
            if let Some((other, _)) = listeners[..j].iter().find(|(_, b)| same_port(a, b)) {
                push(
                    key.clone(),
                    format!(
                        "`{a}` is the address of `{other}` too: each listener needs its own port"
                    ),
                );
            }
        }
        if self.uses_kafka() && self.kafka.brokers.trim().is_empty() {
            push(
                "kafka.brokers".into(),
                "must name at least one broker (or set BUSBAR_BROKERS)".into(),
            );
        }
        in_range(
            &mut push,
            "kafka.producer_stall_seconds".into(),
            self.kafka.producer_stall_seconds,
            PRODUCER_STALL_SECONDS,
        );
        for (section, map) in [
            ("kafka.settings", &self.kafka.settings),
            ("kafka.consumer", &self.kafka.consumer),
            ("kafka.producer", &self.kafka.producer),
        ] {
            for key in map.keys() {
                if MANAGED_KAFKA_KEYS.contains(&key.as_str()) {
                    push(
                        format!("{section}.{key}"),
                        "busbar sets this itself (its delivery guarantees depend on it); remove it"
                            .into(),
                    );
                }
            }
        }
        if self.uses_producer() {
            if let Err((at, message)) = self.kafka.message_max_bytes(&self.limits) {
                push(at, message);
            }
        }
        if let Some(w) = self.workers {
            in_range(&mut push, "workers".into(), w, 1..=MAX_WORKERS);
        }
        in_range(
            &mut push,
            "shutdown_grace_seconds".into(),
            self.shutdown_grace_seconds,
            GRACE_SECONDS,
        );
        let l = &self.limits;
        for (key, value, range) in [
            ("limits.max_event_bytes", l.max_event_bytes, EVENT_BYTES),
            ("limits.max_event_depth", l.max_event_depth, EVENT_DEPTH),
            (
                "limits.max_targets_per_rule",
                l.max_targets_per_rule,
                TARGETS_PER_RULE,
            ),
            (
                "limits.wildcard_complexity",
                l.wildcard_complexity,
                WILDCARD_COMPLEXITY,
            ),
            (
                "limits.max_in_flight_events",
                l.max_in_flight_events,
                IN_FLIGHT_EVENTS,
            ),
            (
                "limits.max_in_flight_bytes",
                l.max_in_flight_bytes,
                IN_FLIGHT_BYTES,
            ),
            (
                "limits.max_backlog_events",
                l.max_backlog_events,
                BACKLOG_EVENTS,
            ),
            (
                "limits.max_backlog_bytes",
                l.max_backlog_bytes,
                BACKLOG_BYTES,
            ),
        ] {
            in_range(&mut push, key.into(), value, range);
        }
        for (key, value, range) in [
            (
                "limits.max_automaton_states",
                l.max_automaton_states,
                AUTOMATON_STATES_RANGE,
            ),
            (
                "limits.max_automaton_bytes",
                l.max_automaton_bytes,
                AUTOMATON_BYTES_RANGE,
            ),
        ] {
            if !range.contains(&value) {
                push(
                    key.into(),
                    format!("{value} is outside {}-{}", range.start(), range.end()),
                );
            }
        }
        if l.max_in_flight_bytes < l.max_event_bytes {
            push(
                "limits.max_in_flight_bytes".into(),
                format!(
                    "{} is below limits.max_event_bytes ({}): one largest event must fit",
                    l.max_in_flight_bytes, l.max_event_bytes
                ),
            );
        }
        if let Some(sp) = &self.spool {
            if sp.path.as_os_str().is_empty() {
                push("spool.path".into(), "must not be empty".into());
            }
            in_range(
                &mut push,
                "spool.max_bytes".into(),
                sp.max_bytes,
                SPOOL_MAX_BYTES,
            );
            in_range(
                &mut push,
                "spool.segment_bytes".into(),
                sp.segment_bytes,
                SPOOL_SEGMENT_BYTES,
            );
            if sp.segment_bytes > sp.max_bytes {
                push(
                    "spool.segment_bytes".into(),
                    format!(
                        "{} is above spool.max_bytes ({}): one segment must fit in the spool",
                        sp.segment_bytes, sp.max_bytes
                    ),
                );
            }
        }
        if tracing_level_ok(&self.log.level).is_err() {
            push(
                "log.level".into(),
                format!(
                    "`{}` is not a level (error, warn, info, debug, trace) or a filter directive",
                    self.log.level
                ),
            );
        }
        p
    }

    fn check_target(
        &self,
        t: &TargetConfig,
        at: &str,
        ids: &mut HashSet<String>,
        push: &mut impl FnMut(String, String),
    ) {
        if t.id.is_empty() || t.id.len() > 64 {
            push(
                format!("{at}.id"),
                format!(
                    "1 validation error detected: Value '{}' at 'targets.1.member.id' failed to \
                     satisfy constraint: Member must have length less than or equal to 64",
                    t.id
                ),
            );
        } else if !valid_name(&t.id) {
            push(
                format!("{at}.id"),
                format!(
                    "1 validation error detected: Value '{}' at 'targets.1.member.id' failed to \
                     satisfy constraint: Member must satisfy regular expression pattern: \
                     [\\.\\-_A-Za-z0-9]+",
                    t.id
                ),
            );
        }
        if !ids.insert(t.id.clone()) {
            push(
                format!("{at}.id"),
                format!("duplicate target id `{}` in this rule", t.id),
            );
        }
        let inputs = [
            t.input.is_some(),
            t.input_path.is_some(),
            t.input_transformer.is_some(),
        ];
        if inputs.iter().filter(|b| **b).count() > 1 {
            push(
                at.to_string(),
                format!(
                    "Only one of Input, InputPath, or InputTransformer must be provided for target {}.",
                    t.id
                ),
            );
        }
        let r = &t.retry;
        if r.maximum_retry_attempts > 185 {
            push(
                format!("{at}.retry.maximum_retry_attempts"),
                format!("{} is outside 0-185", r.maximum_retry_attempts),
            );
        }
        if !(60..=86_400).contains(&r.maximum_event_age_seconds) {
            push(
                format!("{at}.retry.maximum_event_age_seconds"),
                format!("{} is outside 60-86400", r.maximum_event_age_seconds),
            );
        }
        if let Some(dl) = &t.dead_letter {
            if !self.dead_letters.contains_key(dl) {
                push(
                    format!("{at}.dead_letter"),
                    format!("`{dl}` is not defined under `dead_letters`"),
                );
            }
        }
        match &t.kind {
            TargetKind::Kafka { topic, .. } => {
                if topic.is_empty() {
                    push(format!("{at}.topic"), "must not be empty".into());
                }
            }
            TargetKind::Stdout => {}
            TargetKind::File { path } => {
                if path.as_os_str().is_empty() {
                    push(format!("{at}.path"), "must not be empty".into());
                }
            }
            TargetKind::Http {
                url,
                method,
                headers,
                rate_limit_per_second,
                timeout_seconds,
                max_concurrency,
                ordering: _,
                http_parameters,
                tls,
                connection,
                format,
            } => {
                if *format != TargetFormat::Eventbridge {
                    if let Some(k) = headers
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case("content-type"))
                    {
                        push(
                            format!("{at}.headers.{k}"),
                            "is set by the CloudEvents format (`format`); remove one of them"
                                .into(),
                        );
                    }
                }
                if let Some(c) = connection {
                    if !self.connections.contains_key(c) {
                        push(
                            format!("{at}.connection"),
                            format!("`{c}` is not defined under `connections`"),
                        );
                    }
                }
                if let Err(e) = crate::targets::params::HttpParams::compile(
                    &t.id,
                    url,
                    http_parameters.as_deref(),
                ) {
                    push(at.to_string(), e);
                }
                in_range(
                    push,
                    format!("{at}.max_concurrency"),
                    *max_concurrency,
                    CONCURRENCY,
                );
                let scheme = match url.parse::<hyper::Uri>() {
                    Ok(u) if u.host().is_some() => u.scheme_str().map(str::to_owned),
                    _ => None,
                };
                match scheme.as_deref() {
                    Some("http" | "https") => {}
                    _ => push(
                        format!("{at}.url"),
                        format!("`{url}` is not an absolute http:// or https:// URL"),
                    ),
                }
                if let Some(tls) = tls {
                    check_tls(tls, scheme.as_deref(), &format!("{at}.tls"), "url", push);
                }
                if !matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
                    push(
                        format!("{at}.method"),
                        format!("`{method}`: expected POST, PUT or PATCH"),
                    );
                }
                for (k, v) in headers {
                    if hyper::header::HeaderName::from_bytes(k.as_bytes()).is_err()
                        || hyper::header::HeaderValue::from_str(v).is_err()
                    {
                        push(
                            format!("{at}.headers.{k}"),
                            "is not a valid HTTP header".into(),
                        );
                    }
                }
                if let Some(r) = rate_limit_per_second {
                    if !RATE_PER_SECOND.contains(r) {
                        push(
                            format!("{at}.rate_limit_per_second"),
                            format!(
                                "{r} is not a rate in {}-{} per second",
                                RATE_PER_SECOND.start(),
                                RATE_PER_SECOND.end()
                            ),
                        );
                    }
                }
                if !(timeout_seconds.is_finite()
                    && *timeout_seconds > 0.0
                    && *timeout_seconds <= 3600.0)
                {
                    push(
                        format!("{at}.timeout_seconds"),
                        format!("{timeout_seconds} must be a number of seconds in (0, 3600]"),
                    );
                }
            }
        }
    }

    /// Whether any target or dead letter produces to Kafka.
    pub fn uses_producer(&self) -> bool {
        self.rules.iter().any(|r| {
            r.targets
                .iter()
                .any(|t| matches!(t.kind, TargetKind::Kafka { .. }))
        }) || self
            .dead_letters
            .values()
            .any(|d| matches!(d, DeadLetterConfig::Kafka { .. }))
    }

    /// Whether any source, target or dead letter talks to Kafka.
    pub fn uses_kafka(&self) -> bool {
        self.sources
            .iter()
            .any(|s| matches!(s.kind, SourceKind::Kafka { .. }))
            || self.rules.iter().any(|r| {
                r.targets
                    .iter()
                    .any(|t| matches!(t.kind, TargetKind::Kafka { .. }))
            })
            || self
                .dead_letters
                .values()
                .any(|d| matches!(d, DeadLetterConfig::Kafka { .. }))
    }
}

/// The shape of an `http` target's `tls:`; the files themselves are read
/// and checked when the configuration is compiled.
fn check_tls(
    tls: &TlsConfig,
    scheme: Option<&str>,
    at: &str,
    url_key: &str,
    push: &mut impl FnMut(String, String),
) {
    if scheme == Some("http") {
        push(
            at.to_string(),
            format!("applies to https:// URLs only, and `{url_key}` is http://"),
        );
    }
    match (&tls.client_cert_file, &tls.client_key_file) {
        (Some(_), None) => push(
            format!("{at}.client_key_file"),
            "is missing: `client_cert_file` needs the key that goes with it".into(),
        ),
        (None, Some(_)) => push(
            format!("{at}.client_cert_file"),
            "is missing: `client_key_file` needs the certificate that goes with it".into(),
        ),
        _ => {}
    }
    for (key, path) in [
        ("ca_file", &tls.ca_file),
        ("client_cert_file", &tls.client_cert_file),
        ("client_key_file", &tls.client_key_file),
    ] {
        if path.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
            push(format!("{at}.{key}"), "must not be empty".into());
        }
    }
    if tls.server_name.as_deref() == Some("") {
        push(format!("{at}.server_name"), "must not be empty".into());
    }
}

// The range of every numeric setting: `check` states it in the error for a
// value outside it, and config/README.md documents it. Each bound is one
// the process can run with, not only one that parses.

/// `workers` (and `run --workers`): threads, each reserving
/// [`crate::flatten::SCAN_STACK_BYTES`] of address space; more than the
/// cores gain nothing, and 1,024 covers the largest machines.
pub const MAX_WORKERS: usize = 1024;
/// `shutdown_grace_seconds`: up to an hour; a drain that needs longer is a
/// stuck target, and Kubernetes' `terminationGracePeriodSeconds` must
/// cover it.
const GRACE_SECONDS: RangeInclusive<u64> = 0..=3600;
/// `max_request_bytes`: a request is read whole into memory before any of
/// it is looked at.
const REQUEST_BYTES: RangeInclusive<usize> = 1..=256 << 20;
/// `max_connections`: up to Linux's default ceiling on open files
/// (`fs.nr_open`).
const CONNECTIONS: RangeInclusive<usize> = 1..=1 << 20;
/// The HTTP source's timeouts, in seconds: a millisecond to an hour.
const HTTP_TIMEOUT_SECONDS: RangeInclusive<f64> = 0.001..=3600.0;
/// `limits.max_event_bytes`: an event is held whole in memory at every
/// stage, and a batch addresses its bytes with 32-bit offsets. Also the
/// range of `busbar filter --max-event-bytes`, whose read buffer holds the
/// longest line it accepts.
pub const EVENT_BYTES: RangeInclusive<usize> = 1..=64 << 20;
/// `limits.max_event_depth`: as deep as the threads that match events have
/// stack for ([`crate::flatten::MAX_DEPTH`]).
const EVENT_DEPTH: RangeInclusive<usize> = 1..=crate::flatten::MAX_DEPTH;
/// `limits.max_targets_per_rule` (EventBridge: 5).
const TARGETS_PER_RULE: RangeInclusive<usize> = 1..=100;
/// `limits.wildcard_complexity` (EventBridge: 10).
const WILDCARD_COMPLEXITY: RangeInclusive<usize> = 1..=100;
/// `limits.max_in_flight_events`.
const IN_FLIGHT_EVENTS: RangeInclusive<usize> = 1..=1_000_000;
/// `limits.max_in_flight_bytes`: the budget is a semaphore of 32-bit
/// permits.
const IN_FLIGHT_BYTES: RangeInclusive<usize> = 1..=u32::MAX as usize;
/// `limits.max_backlog_events`, per HTTP target.
const BACKLOG_EVENTS: RangeInclusive<usize> = 1..=10_000_000;
/// `limits.max_backlog_bytes`, per HTTP target: up to 16 GiB.
const BACKLOG_BYTES: RangeInclusive<usize> = 1..=16 << 30;
/// An HTTP target's `max_concurrency`: requests in flight at once.
const CONCURRENCY: RangeInclusive<usize> = 1..=4096;
/// An HTTP target's `rate_limit_per_second`: one call in ~17 minutes to a
/// million a second.
const RATE_PER_SECOND: RangeInclusive<f64> = 0.001..=1_000_000.0;

/// `spool.max_bytes`: below 1 MiB a few large PutEvents requests fill it;
/// 1 TiB is beyond any volume a sidecar is given.
const SPOOL_MAX_BYTES: RangeInclusive<u64> = 1 << 20..=1 << 40;
/// `spool.segment_bytes`: smaller segments mean a file per few records;
/// larger ones give space back late, as a segment is deleted whole.
const SPOOL_SEGMENT_BYTES: RangeInclusive<u64> = 64 << 10..=1 << 30;

/// Reports `value` when it is outside `range`, with the range.
fn in_range<T: PartialOrd + fmt::Display>(
    push: &mut impl FnMut(String, String),
    at: String,
    value: T,
    range: RangeInclusive<T>,
) {
    if !range.contains(&value) {
        push(
            at,
            format!("{value} is outside {}-{}", range.start(), range.end()),
        );
    }
}

/// Reports a duration that is not a finite number of seconds in `range`.
fn seconds_in_range(
    push: &mut impl FnMut(String, String),
    at: String,
    value: f64,
    range: RangeInclusive<f64>,
) {
    // `contains` is false for NaN; infinities are outside any finite range.
    if !range.contains(&value) {
        push(
            at,
            format!(
                "{value} is not a number of seconds in {}-{}",
                range.start(),
                range.end()
            ),
        );
    }
}

/// Whether two listeners would ask for the same port: the same address, or
/// one of them on every address (`0.0.0.0`, `[::]`). Port 0 picks a free
/// port each time, so it never collides.
fn same_port(a: &SocketAddr, b: &SocketAddr) -> bool {
    a.port() != 0
        && a.port() == b.port()
        && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// Bytes an envelope may add around a raw event of the largest accepted size.
pub const ENVELOPE_HEADROOM: usize = 4096;

/// librdkafka properties busbar owns: at-least-once depends on them.
pub const MANAGED_KAFKA_KEYS: &[&str] = &[
    "bootstrap.servers",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "enable.idempotence",
    "auto.offset.reset",
];

/// Accepts what `tracing_subscriber::EnvFilter` accepts.
pub fn tracing_level_ok(level: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(level)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "
sources:
  - id: in
    kind: stdin
rules:
  - name: r1
    event_pattern: '{\"source\": [\"a\"]}'
    targets:
      - id: out
        kind: stdout
";

    #[test]
    fn minimal_config_parses_with_defaults() {
        let c = Config::from_yaml(MINIMAL, "t.yaml").unwrap();
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.bus.name, "default");
        assert_eq!(c.limits.max_targets_per_rule, 5);
        assert_eq!(c.rules[0].targets[0].retry.maximum_retry_attempts, 185);
        assert_eq!(c.rules[0].event_pattern.0, "{\"source\": [\"a\"]}");
        assert_eq!(c.rules[0].state, RuleState::Enabled);
    }

    #[test]
    fn yaml_pattern_becomes_json_text() {
        let text = MINIMAL.replace(
            "event_pattern: '{\"source\": [\"a\"]}'",
            "event_pattern: {source: [{prefix: \"\"}], detail: {n: [{numeric: [\">\", 5]}]}}",
        );
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        let v: serde_json::Value = serde_json::from_str(&c.rules[0].event_pattern.0).unwrap();
        assert_eq!(v["source"][0]["prefix"], "");
        assert_eq!(v["detail"]["n"][0]["numeric"][1], 5);
    }

    #[test]
    fn unknown_key_is_rejected_with_its_location() {
        let text = MINIMAL.replace("kind: stdout", "kind: stdout\n        colour: red");
        let e = Config::from_yaml(&text, "t.yaml").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("unknown field `colour`"), "{s}");
        assert!(s.contains("t.yaml:"), "{s}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let text = "
bus: {account: '12'}
sources:
  - id: in
    kind: http
    listen: nowhere
    dead_letter: missing
rules:
  - name: bad name
    event_pattern: '{}'
    targets:
      - {id: a, kind: stdout, input: '1', input_path: '$.detail'}
      - {id: a, kind: kafka, topic: t, retry: {maximum_retry_attempts: 200, maximum_event_age_seconds: 10}}
      - {id: 'x!', kind: http, url: 'ftp://x', method: GET}
kafka:
  producer: {enable.idempotence: 'false'}
";
        let c = Config::from_yaml(text, "t.yaml").unwrap();
        let problems = c.check();
        let all = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        for needle in [
            "`bus.account`",
            "sources[0] (in).listen",
            "`missing` is not defined",
            "rules[0] (bad name).name",
            "Only one of Input, InputPath, or InputTransformer must be provided for target a.",
            "duplicate target id `a`",
            "maximum_retry_attempts`: 200 is outside 0-185",
            "maximum_event_age_seconds`: 10 is outside 60-86400",
            "Member must satisfy regular expression pattern",
            "`ftp://x` is not an absolute http:// or https:// URL",
            "`GET`: expected POST, PUT or PATCH",
            "kafka.producer.enable.idempotence",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn formats_parse_per_kind_and_cloudevents_own_the_content_type() {
        let text = r#"
sources: [{id: in, kind: stdin}]
rules:
  - name: r
    event_pattern: '{}'
    targets:
      - {id: s, kind: http, url: 'http://h/', format: cloudevents}
      - {id: b, kind: http, url: 'http://h/', format: cloudevents-binary, headers: {Content-Type: text/xml}}
      - {id: k, kind: kafka, topic: t, format: cloudevents}
      - {id: e, kind: http, url: 'http://h/'}
"#;
        let c = Config::from_yaml(text, "t.yaml").unwrap();
        let formats: Vec<TargetFormat> = c.rules[0]
            .targets
            .iter()
            .map(|t| match &t.kind {
                TargetKind::Http { format, .. } | TargetKind::Kafka { format, .. } => *format,
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            formats,
            [
                TargetFormat::Cloudevents,
                TargetFormat::CloudeventsBinary,
                TargetFormat::Cloudevents,
                TargetFormat::Eventbridge,
            ]
        );
        let all: Vec<String> = c.check().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            all,
            [
                "config: `rules[0] (r).targets[1] (b).headers.Content-Type`: is set by the \
              CloudEvents format (`format`); remove one of them"
            ]
        );
        let bad = text.replace("format: cloudevents}", "format: xml}");
        let e = Config::from_yaml(&bad, "t.yaml").unwrap_err().to_string();
        assert!(e.contains("unknown variant `xml`"), "{e}");
    }

    #[test]
    fn https_urls_are_accepted_and_tls_keys_are_checked_for_shape() {
        let text = r#"
sources: [{id: in, kind: stdin}]
rules:
  - name: r
    event_pattern: '{}'
    targets:
      - {id: ok, kind: http, url: 'https://hooks.example.com/x', tls: {ca_file: /ca.pem, server_name: hooks.internal}}
      - {id: key-only, kind: http, url: 'https://h/', tls: {client_key_file: /k.pem}}
      - {id: plain, kind: http, url: 'http://h/', tls: {ca_file: ''}}
"#;
        let c = Config::from_yaml(text, "t.yaml").unwrap();
        let all: Vec<String> = c.check().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            all,
            [
                "config: `rules[0] (r).targets[1] (key-only).tls.client_cert_file`: is missing: \
                 `client_key_file` needs the certificate that goes with it",
                "config: `rules[0] (r).targets[2] (plain).tls`: applies to https:// URLs only, \
                 and `url` is http://",
                "config: `rules[0] (r).targets[2] (plain).tls.ca_file`: must not be empty",
            ]
        );
        let unknown =
            "sources: [{id: in, kind: stdin}]\nrules:\n  - name: r\n    event_pattern: '{}'\n    \
                       targets: [{id: t, kind: http, url: 'https://h/', tls: {insecure: true}}]\n";
        let e = Config::from_yaml(unknown, "t.yaml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `insecure`"), "{e}");
    }

    #[test]
    fn too_many_targets_uses_the_eventbridge_text() {
        let mut text = String::from(
            "sources: [{id: in, kind: stdin}]\nrules:\n  - name: r\n    event_pattern: '{}'\n    targets:\n",
        );
        for i in 0..6 {
            text.push_str(&format!("      - {{id: t{i}, kind: stdout}}\n"));
        }
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        let p = c.check();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0]
            .message
            .starts_with("The requested resource exceeds the maximum number allowed."));
    }

    #[test]
    fn compilation_budget_is_passed_on_and_range_checked() {
        let c = Config::from_yaml(MINIMAL, "t.yaml").unwrap();
        assert_eq!(c.engine_limits().max_automaton_states, 1 << 20);
        assert_eq!(c.engine_limits().max_automaton_bytes, 256 << 20);
        let text = format!(
            "{MINIMAL}limits: {{max_automaton_states: 5000, max_automaton_bytes: 4194304}}\n"
        );
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(c.engine_limits().max_automaton_states, 5000);
        assert_eq!(c.engine_limits().max_automaton_bytes, 4 << 20);
        let text = format!(
            "{MINIMAL}limits: {{max_automaton_states: 0, max_automaton_bytes: 17179869185}}\n"
        );
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        let p: Vec<String> = c.check().iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p[0].contains("limits.max_automaton_states")
                && p[0].contains("0 is outside 1000-16777216"),
            "{p:?}"
        );
        assert!(
            p[1].contains("limits.max_automaton_bytes")
                && p[1].contains("17179869185 is outside 1048576-17179869184"),
            "{p:?}"
        );
    }

    #[test]
    fn message_max_bytes_defaults_to_the_largest_event_and_is_checked() {
        let kafka = MINIMAL.replace("kind: stdout", "kind: kafka\n        topic: t");
        let c = Config::from_yaml(&kafka, "t.yaml").unwrap();
        assert!(c.check().is_empty(), "{:?}", c.check());
        // 1 MiB, its envelope and 64 KiB of key and headers.
        assert_eq!(
            c.kafka.message_max_bytes(&c.limits),
            Ok((1 << 20) + ENVELOPE_HEADROOM + (64 << 10))
        );
        for (setting, needle) in [
            (
                "producer: {message.max.bytes: 'lots'}",
                "`lots` is not a whole number",
            ),
            (
                "producer: {message.max.bytes: '999'}",
                "999 is outside 1000-1000000000",
            ),
            (
                "settings: {message.max.bytes: '1000000'}",
                "1000000 is below limits.max_event_bytes (1048576)",
            ),
        ] {
            let text = format!("{kafka}kafka:\n  {setting}\n");
            let c = Config::from_yaml(&text, "t.yaml").unwrap();
            let all = c.check().iter().map(|p| p.to_string()).collect::<Vec<_>>();
            let section = if setting.starts_with("producer") {
                "producer"
            } else {
                "settings"
            };
            assert!(
                all.iter().any(|p| p.contains(needle)
                    && p.contains(&format!("`kafka.{section}.message.max.bytes`"))),
                "{setting}: {all:?}"
            );
        }
        // The producer's own setting wins over the common one.
        let text = format!(
            "{kafka}kafka:\n  settings: {{message.max.bytes: '5'}}\n  producer: {{message.max.bytes: '3000000'}}\n"
        );
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        assert_eq!(c.kafka.message_max_bytes(&c.limits), Ok(3_000_000));
        // Not checked where nothing produces to Kafka.
        let text = format!("{MINIMAL}kafka:\n  producer: {{message.max.bytes: '999'}}\n");
        assert!(Config::from_yaml(&text, "t.yaml")
            .unwrap()
            .check()
            .is_empty());
    }

    #[test]
    fn kafka_key_forms() {
        let text = MINIMAL.replace(
            "kind: stdout",
            "kind: kafka\n        topic: t\n        key: $.detail.orderId",
        );
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        match &c.rules[0].targets[0].kind {
            TargetKind::Kafka { key, .. } => {
                assert_eq!(*key, KafkaKey::Path("$.detail.orderId".into()))
            }
            other => panic!("{other:?}"),
        }
        let bad = MINIMAL.replace(
            "kind: stdout",
            "kind: kafka\n        topic: t\n        key: name",
        );
        let e = Config::from_yaml(&bad, "t.yaml").unwrap_err().to_string();
        assert!(e.contains("expected `id`, `source` or a JSONPath"), "{e}");
    }

    #[test]
    fn numbers_outside_their_range_name_setting_value_and_range() {
        let text = MINIMAL.replace(
            "kind: stdin",
            "kind: http\n    listen: 127.0.0.1:9464\n    header_timeout_seconds: .inf\n    \
             body_timeout_seconds: .nan\n    idle_timeout_seconds: -1\n    max_connections: 2000000",
        ) + "workers: 0\nlimits: {max_event_depth: 4097}\n";
        let c = Config::from_yaml(&text, "t.yaml").unwrap();
        let all: Vec<String> = c.check().iter().map(|p| p.to_string()).collect();
        for want in [
            "config: `sources[0] (in).header_timeout_seconds`: inf is not a number of seconds in 0.001-3600",
            "config: `sources[0] (in).body_timeout_seconds`: NaN is not a number of seconds in 0.001-3600",
            "config: `sources[0] (in).idle_timeout_seconds`: -1 is not a number of seconds in 0.001-3600",
            "config: `sources[0] (in).max_connections`: 2000000 is outside 1-1048576",
            "config: `sources[0] (in).listen`: `127.0.0.1:9464` is the address of `admin.listen` too: each listener needs its own port",
            "config: `workers`: 0 is outside 1-1024",
            "config: `limits.max_event_depth`: 4097 is outside 1-4096",
        ] {
            assert!(all.iter().any(|p| p == want), "missing {want:?} in {all:#?}");
        }
    }

    #[test]
    fn listeners_collide_on_one_port_unless_it_is_zero() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(same_port(&a("127.0.0.1:80"), &a("127.0.0.1:80")));
        assert!(same_port(&a("0.0.0.0:80"), &a("127.0.0.1:80")));
        assert!(same_port(&a("127.0.0.1:80"), &a("[::]:80")));
        assert!(!same_port(&a("127.0.0.1:80"), &a("127.0.0.2:80")));
        assert!(!same_port(&a("127.0.0.1:80"), &a("127.0.0.1:81")));
        assert!(!same_port(&a("127.0.0.1:0"), &a("127.0.0.1:0")));
    }

    #[test]
    fn producer_stall_seconds_has_a_range() {
        let c = Config::from_yaml(MINIMAL, "t.yaml").unwrap();
        assert_eq!(c.kafka.producer_stall_seconds, 60);
        for (value, ok) in [(4, false), (5, true), (3600, true), (3601, false)] {
            let text = format!("{MINIMAL}kafka:\n  producer_stall_seconds: {value}\n");
            let c = Config::from_yaml(&text, "t.yaml").unwrap();
            let p = c.check();
            if ok {
                assert!(p.is_empty(), "{value}: {p:?}");
            } else {
                assert_eq!(p.len(), 1, "{value}: {p:?}");
                assert_eq!(p[0].at, "kafka.producer_stall_seconds");
                assert_eq!(p[0].message, format!("{value} is outside 5-3600"));
            }
        }
    }

    #[test]
    fn spool_section_is_optional_defaulted_and_range_checked() {
        let c = Config::from_yaml(MINIMAL, "t.yaml").unwrap();
        assert_eq!(c.spool, None);
        let c = Config::from_yaml(
            &format!("{MINIMAL}spool: {{path: /var/spool/busbar}}\n"),
            "t",
        )
        .unwrap();
        assert!(c.check().is_empty(), "{:?}", c.check());
        assert_eq!(
            c.spool,
            Some(SpoolConfig {
                path: "/var/spool/busbar".into(),
                max_bytes: 1 << 30,
                segment_bytes: 16 << 20,
            })
        );
        let e = Config::from_yaml(&format!("{MINIMAL}spool: {{max_bytes: 2000000}}\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `path`"), "{e}");

        let text =
            format!("{MINIMAL}spool: {{path: '', max_bytes: 1000, segment_bytes: 2000000000}}\n");
        let all: Vec<String> = Config::from_yaml(&text, "t")
            .unwrap()
            .check()
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            all,
            [
                "config: `spool.path`: must not be empty",
                "config: `spool.max_bytes`: 1000 is outside 1048576-1099511627776",
                "config: `spool.segment_bytes`: 2000000000 is outside 65536-1073741824",
                "config: `spool.segment_bytes`: 2000000000 is above spool.max_bytes (1000): one segment must fit in the spool",
            ]
        );
        let text =
            format!("{MINIMAL}spool: {{path: /s, max_bytes: 1048576, segment_bytes: 2097152}}\n");
        let p = Config::from_yaml(&text, "t").unwrap().check();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].message.contains("above spool.max_bytes"), "{p:?}");
    }
}
