//! busbar: a self-hosted event router that matches events against Amazon
//! EventBridge event patterns.
//!
//! # Layout
//!
//! - [`pattern`]: the pattern language, JSON text → typed, `$or`-expanded AST.
//! - [`engine`]: AST set → one immutable automaton (`Send + Sync`), searched
//!   with a per-worker [`engine::Cache`]; also the naive reference matcher
//!   that tests use as an oracle.
//! - [`flatten`]: event bytes → the (path, value) leaves the automaton asks
//!   for, skipping every field no rule mentions.
//! - [`config`]: the YAML service configuration, `${VAR}` expansion of its
//!   text, environment overrides, secret values (`{file: …}`, `{env: …}`) and the checks `busbar
//!   validate` reports all at once.
//! - [`envelope`]: every event inside busbar is an EventBridge envelope;
//!   lines that are not become the `detail` of one.
//! - [`transform`]: a target's `Input` / `InputPath` / `InputTransformer`,
//!   compiled once into a [`transform::Shaper`] that renders each event's
//!   body into a reused buffer.
//! - [`handoff`]: what passes between sources, the pipeline and the
//!   targets (batches, routed events, acknowledgements and the accounting
//!   behind at-least-once). Sources and targets import it, never the
//!   pipeline, so dependencies run one way: pipeline → targets → handoff.
//! - [`pipeline`]: workers that normalise, match and shape batches, and the
//!   dispatcher that keeps each lane's order towards the targets.
//! - [`sources`]: stdin, HTTP ingest ([`ingest`] holds the PutEvents
//!   protocol) and Kafka consumer groups ([`offsets`] decides what may be
//!   committed). [`kafka_log`] turns librdkafka's log and error callbacks
//!   into one line per change of the broker connection's state.
//! - [`targets`]: Kafka, stdout/file and HTTP(S) targets with retry policy
//!   and dead-letter destinations; `targets::tls` reads an `https://`
//!   target's certificates into its rustls client, and `targets::auth`
//!   holds the connections (auth headers, OAuth tokens, invocation
//!   parameters) HTTP targets send with; `targets::cloudevents` writes an
//!   event as a CloudEvent for `format: cloudevents`.
//! - [`spool`]: the write-ahead spool, accepted events on local disk
//!   (checksummed segment files, group-committed fsync) until delivered.
//! - [`throttle`]: the first line, then one per interval, for conditions
//!   that repeat (a failing target, a broker that stays down).
//! - [`inspect`]: the loaded rules and targets as the admin listener's
//!   `GET /rules` and the EventBridge read-only calls describe them;
//!   [`tap`] copies the events a rule matches to `busbar tap` clients.
//! - [`metrics`] defines every metric; [`admin`] serves them with the
//!   health probes; [`service`] is the `busbar run` lifecycle.
//! - [`mapped`]: input files mapped into memory for `busbar filter`.
//! - [`version`]: the build's version, git revision, target and features.
//! - [`bench`]: the deterministic citylots-like data set and the rule sets
//!   the benchmarks use.
//! - `cli` (binary only): the `busbar` subcommands; `cli::tally` keeps
//!   `filter`'s counts and writes its `--stats` report.
// `deny`, not `forbid`: three SIMD modules opt out, each saying why
// (`flatten::numbers`, the string scan of `flatten::scan` and the byte
// search of `engine::prefilter`: unaligned loads, detected CPU features),
// and `mapped` (a file mapped into memory, a signal handler).
#![deny(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod admin;
pub mod bench;
pub mod config;
pub mod engine;
pub mod envelope;
pub mod flatten;
pub mod handoff;
pub mod ingest;
pub mod inspect;
pub mod kafka_log;
pub mod mapped;
pub mod metrics;
pub mod offsets;
pub mod pattern;
pub mod pipeline;
pub mod service;
pub mod sources;
pub mod spool;
pub mod tap;
pub mod targets;
pub mod throttle;
pub mod transform;
pub mod version;
