//! `busbar run`: the process lifecycle, in the order it happens.
//!
//! 1. The configuration is compiled ([`Plan`]) before anything is bound.
//! 2. Clients (the Kafka producer), targets and dead-letter destinations
//!    start; the admin listener and the sources bind.
//! 3. It runs until SIGTERM/SIGINT, or until every source has ended (stdin
//!    at EOF). SIGHUP and a changed configuration file reload the rules:
//!    validate, compile, swap; a bad file leaves the old rules running.
//! 4. Shutdown: readiness drops, intake stops, in-flight events drain
//!    within the grace period (at EOF: until every event is done), what is
//!    left is dead-lettered with SHUTDOWN, producers flush, Kafka commits;
//!    exit 0, or 3 when events were dropped.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};

use crate::admin::{self, Readiness};
use crate::config::{Config, DeadLetterConfig, EnvOverrides, SourceKind, TargetKind};
use crate::engine::Limits;
use crate::ingest::putevents::PutEventsLimits;
use crate::metrics::Metrics;
use crate::pipeline::{self, Ledger, LedgerCounts, Plan, Routes, SharedRoutes};
use crate::sources::{self, Intake};
use crate::targets::{self, Producer};

/// Options from the command line.
pub struct Options {
    pub config_path: PathBuf,
    pub workers: Option<usize>,
}

/// Why `run` failed after the configuration was compiled: a port in use,
/// a client that cannot be created, a source that stopped with an error.
#[derive(Debug)]
pub struct RunError(pub String);

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Load, apply the environment and compile a configuration file.
pub fn compile(path: &Path, env: &EnvOverrides) -> Result<Plan, String> {
    let config = Config::load(path, env).map_err(|e| e.to_string())?;
    let redactor = config.origin.redactor.clone();
    let mut env_problems = env.problems();
    match Plan::compile(config) {
        Ok(p) if env_problems.is_empty() => Ok(p),
        Ok(_) => Err(redactor.redact(&join(&env_problems))),
        Err(mut problems) => {
            problems.append(&mut env_problems);
            Err(redactor.redact(&join(&problems)))
        }
    }
}

fn join(p: &[crate::config::Problem]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A listener's local address, or the configured one if the system
/// cannot say.
fn bound(l: &tokio::net::TcpListener, configured: &str) -> String {
    l.local_addr()
        .map_or_else(|_| configured.to_string(), |a| a.to_string())
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Run the service until a signal or the end of every source.
pub async fn run(plan: Plan, opts: Options, env: EnvOverrides) -> Result<Report, RunError> {
    let config = plan.config.clone();
    let metrics = Arc::new(Metrics::new());
    metrics.config_applied(config.origin.crc32);
    let needs_consumer = config
        .sources
        .iter()
        .any(|s| matches!(s.kind, SourceKind::Kafka { .. }));
    let needs_producer = config.rules.iter().any(|r| {
        r.targets
            .iter()
            .any(|t| matches!(t.kind, TargetKind::Kafka { .. }))
    }) || config
        .dead_letters
        .values()
        .any(|d| matches!(d, DeadLetterConfig::Kafka { .. }));
    let ready = Readiness::new(needs_consumer, needs_producer);

    let producer = if needs_producer {
        Some(
            Producer::new(
                &config.kafka.brokers,
                &[&config.kafka.settings, &config.kafka.producer],
                config
                    .kafka
                    .message_max_bytes(&config.limits)
                    .map_err(|(at, e)| RunError(format!("{at}: {e}")))?,
            )
            .map_err(RunError)?,
        )
    } else {
        None
    };
    if let Some(p) = &producer {
        for t in targets::Trouble::ALL {
            metrics
                .kafka_producer_recreations
                .with_label_values(&[t.as_str()]);
        }
        p.supervise(targets::Supervision {
            stall: Duration::from_secs(config.kafka.producer_stall_seconds),
            ready: ready.clone(),
            recovering: metrics.kafka_producer_recovering.clone(),
            recreations: metrics.kafka_producer_recreations.clone(),
        })
        .map_err(RunError)?;
    }
    let (abort_switch, abort) = targets::Abort::new();
    let mut ctx = targets::Context::new(
        metrics.clone(),
        producer.clone(),
        ready.clone(),
        abort.clone(),
    );
    ctx.backlog = (
        config.limits.max_backlog_events,
        config.limits.max_backlog_bytes,
    );
    let routes = Routes::start(plan, &ctx, None).map_err(RunError)?;
    let routes: SharedRoutes = Arc::new(RwLock::new(Arc::new(routes)));
    let catalog: crate::inspect::SharedCatalog =
        Arc::new(RwLock::new(Arc::new(crate::inspect::Catalog::of(&config))));
    let taps = Arc::new(crate::tap::Taps::default());
    let stdout_closed = ctx.sinks.stdout_closed();

    let admin_listener = tokio::net::TcpListener::bind(&config.admin.listen)
        .await
        .map_err(|e| RunError(format!("admin.listen `{}`: {e}", config.admin.listen)))?;
    // The bound address, not the configured one: with port 0 the log is
    // the only place that tells which port was taken.
    tracing::info!(addr = %bound(&admin_listener, &config.admin.listen), "admin listening (/metrics, /healthz, /readyz, /rules, /tap)");
    tokio::spawn(admin::serve(
        admin_listener,
        metrics.clone(),
        ready.clone(),
        admin::Introspection {
            catalog: catalog.clone(),
            taps: taps.clone(),
        },
    ));

    if let Some(p) = producer.clone() {
        let ready = ready.clone();
        tokio::task::spawn_blocking(move || {
            while !p.connected() {
                std::thread::sleep(Duration::from_millis(500));
            }
            ready.producer_connected.store(true, Ordering::Release);
        });
    }

    let workers = opts.workers.or(config.workers).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(crate::config::MAX_WORKERS)
    });
    let (batch_tx, batch_rx) = mpsc::channel(workers * 2);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let intake = Intake::new(
        batch_tx,
        config.limits.max_in_flight_events,
        config.limits.max_in_flight_bytes,
        &metrics,
        shutdown_rx,
    );
    let (worker_threads, dispatcher) =
        pipeline::start(workers, batch_rx, routes.clone(), taps.clone()).map_err(RunError)?;
    tracing::info!(workers, rules = config.rules.len(), "pipeline started");

    // The spool, and what the previous process left in it: handed to the
    // pipeline on a lane of its own, alongside new input (waiting for it
    // would keep ingest closed for as long as a target stays down).
    let spool = match &config.spool {
        Some(c) => {
            let settings = crate::spool::SpoolSettings::from_config(c);
            let m = metrics.clone();
            let (spool, left) =
                tokio::task::spawn_blocking(move || crate::spool::Spool::open(&settings, &m))
                    .await
                    .map_err(|e| RunError(format!("opening the spool: {e}")))?
                    .map_err(|e| RunError(format!("spool.path `{}`: {e}", c.path.display())))?;
            let http_sources: Vec<(String, usize)> = config
                .sources
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s.kind, SourceKind::Http { .. }))
                .map(|(i, s)| (s.id.clone(), i))
                .collect();
            tracing::info!(path = %c.path.display(), records = left.len(),
                used_bytes = spool.used_bytes(), limit_bytes = spool.limit_bytes(), "spool open");
            if !left.is_empty() {
                let fallback = http_sources.first().map_or(0, |(_, i)| *i);
                let (spool, intake) = (spool.clone(), intake.clone());
                tokio::spawn(async move {
                    let records = left.len();
                    let events =
                        sources::durable::replay(spool, left, intake, http_sources, fallback).await;
                    tracing::info!(
                        records,
                        events,
                        "spooled events from before the restart handed to the pipeline"
                    );
                });
            }
            Some(spool)
        }
        None => None,
    };

    // Sources. Each reports its end on `ended`.
    let (ended_tx, mut ended_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let mut finite = 0usize;
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    for (i, s) in config.sources.iter().enumerate() {
        match &s.kind {
            SourceKind::Stdin => {
                finite += 1;
                let intake = intake.clone();
                let rt = tokio::runtime::Handle::current();
                let ended = ended_tx.clone();
                let max = config.limits.max_event_bytes;
                std::thread::Builder::new()
                    .name("busbar-stdin".into())
                    .spawn(move || {
                        let r = sources::stdin::run(i, std::io::stdin(), intake, max, rt)
                            .map(|_| ())
                            .map_err(|e| format!("stdin: {e}"));
                        let _ = ended.send(r);
                    })
                    .map_err(|e| RunError(e.to_string()))?;
            }
            SourceKind::Http {
                listen,
                max_request_bytes,
                max_connections,
                header_timeout_seconds,
                body_timeout_seconds,
                idle_timeout_seconds,
            } => {
                let l = sources::http::bind(listen).await.map_err(|e| {
                    RunError(format!("sources[{i}] ({}).listen `{listen}`: {e}", s.id))
                })?;
                let http_sources = config
                    .sources
                    .iter()
                    .filter(|s| matches!(s.kind, SourceKind::Http { .. }))
                    .count();
                let max_connections = sources::http::connection_cap(*max_connections, http_sources);
                tracing::info!(source = %s.id, addr = %bound(&l, listen), max_connections, "http ingest listening (PutEvents on POST /, NDJSON on POST /events)");
                let settings = sources::http::Settings {
                    source: i,
                    name: format!("sources[{i}] ({})", s.id),
                    max_request_bytes: *max_request_bytes,
                    max_event_bytes: config.limits.max_event_bytes,
                    // Ranges checked by `Config::check`.
                    connections: sources::http::ConnLimits {
                        max_connections,
                        header_timeout: Duration::from_secs_f64(*header_timeout_seconds),
                        body_timeout: Duration::from_secs_f64(*body_timeout_seconds),
                        idle_timeout: Duration::from_secs_f64(*idle_timeout_seconds),
                    },
                    bus: crate::envelope::Bus {
                        name: config.bus.name.clone(),
                        account: config.bus.account.clone(),
                        region: config.bus.region.clone(),
                    },
                    other_buses: config.bus.accept_other_buses.clone(),
                    catalog: catalog.clone(),
                    put_limits: PutEventsLimits {
                        max_request_entry_bytes: config.limits.max_event_bytes,
                        max_detail_depth: config.limits.max_event_depth,
                        ..PutEventsLimits::default()
                    },
                    engine_limits: Limits {
                        wildcard_complexity: config.limits.wildcard_complexity,
                        ..Limits::default()
                    },
                    metrics: sources::http::HttpMetrics::new(&metrics, &s.id),
                    id: s.id.clone(),
                    spool: spool.clone(),
                };
                tokio::spawn(sources::http::serve(l, settings, intake.clone()));
            }
            SourceKind::Kafka {
                topics,
                group_id,
                start,
                settings,
            } => {
                let k = sources::kafka::Settings {
                    source: i,
                    id: Arc::from(s.id.as_str()),
                    topics: topics.clone(),
                    group_id: group_id.clone(),
                    start: *start,
                    brokers: config.kafka.brokers.clone(),
                    settings: vec![
                        config.kafka.settings.clone(),
                        config.kafka.consumer.clone(),
                        settings.clone(),
                    ],
                    drain_timeout: grace,
                    lag: metrics.consumer_lag_messages.clone(),
                    backpressure: metrics.backpressure.with_label_values(&[&s.id]),
                    resets: metrics.kafka_offset_resets.clone(),
                    ready: ready.clone(),
                };
                let intake = intake.clone();
                let ended = ended_tx.clone();
                tokio::spawn(async move {
                    let r = sources::kafka::run(k, intake).await;
                    let _ = ended.send(r);
                });
            }
        }
    }
    let all_finite = finite == config.sources.len();
    // Rules compiled and every listener bound: ready (Kafka conditions aside).
    ready.rules_compiled.store(true, Ordering::Release);
    drop(ended_tx);

    // Reloads: SIGHUP and file changes.
    let reload = {
        let routes = routes.clone();
        let metrics = metrics.clone();
        let catalog = catalog.clone();
        let path = opts.config_path.clone();
        let watch_file = config.watch_config;
        let old_config = config.clone();
        async move {
            let mut hup =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for SIGHUP");
                        return;
                    }
                };
            let mut seen = mtime(&path);
            // A changed file is loaded once it has kept the same mtime for a
            // tick: a tick that lands while an editor is writing it must not
            // load half a file (which may well parse, with rules missing).
            let mut settling = None;
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = hup.recv() => {}
                    _ = tick.tick() => {
                        if !watch_file { continue; }
                        let now = mtime(&path);
                        if now == seen { settling = None; continue; }
                        if settling != Some(now) { settling = Some(now); continue; }
                        seen = now;
                        settling = None;
                    }
                }
                // Compiling may take seconds (a large rule set): off the
                // runtime threads that serve ingest, so intake never stalls.
                let (p, e) = (path.clone(), env.clone());
                let compiled = tokio::task::spawn_blocking(move || compile(&p, &e))
                    .await
                    .unwrap_or_else(|e| Err(format!("compiling the rules failed: {e}")));
                reload_once(compiled, &ctx, &routes, &catalog, &metrics, &old_config);
            }
        }
    };
    let reload_task = tokio::spawn(reload);

    // Wait for a signal, or for every (finite) source to end.
    let mut signals = Signals::new()?;
    let stop = tokio::select! {
        name = signals.next() => Stop::Signal(name),
        _ = stdout_closed => Stop::OutputClosed,
        s = sources_end(&mut ended_rx, all_finite, config.sources.len()) => s,
    };

    // Shutdown: intake stops, in-flight events drain.
    ready.draining.store(true, Ordering::Release);
    let _ = shutdown_tx.send(true);
    reload_task.abort();
    let ledger = intake.ledger().clone();
    drop(intake);
    let end_of_input = matches!(stop, Stop::EndOfInput);
    let failure = match stop {
        Stop::Signal(name) => {
            tracing::info!(signal = name, grace_seconds = grace.as_secs(), "draining");
            None
        }
        Stop::OutputClosed => {
            tracing::info!(grace_seconds = grace.as_secs(), "stdout's reader is gone (broken pipe): stopping as on SIGTERM; events not written go to the target's dead letter or are counted as dropped");
            None
        }
        Stop::EndOfInput => {
            tracing::info!("end of input: delivering every event before exiting (each target's retry policy bounds how long)");
            None
        }
        Stop::SourceFailed(e) => {
            tracing::error!(error = %e, "source failed; draining");
            Some(e)
        }
    };
    let deadline = drain(end_of_input, &ledger, &mut signals, grace, &abort_switch).await;
    // Kafka sources drain their partitions and commit before they end.
    if needs_consumer {
        let wait_sources = async {
            while let Some(r) = ended_rx.recv().await {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "source ended with an error");
                }
            }
        };
        let until = deadline.unwrap_or_else(tokio::time::Instant::now) + Duration::from_secs(5);
        let _ = tokio::time::timeout_at(until, wait_sources).await;
    }
    if let Some(p) = &producer {
        let p = p.clone();
        let _ = tokio::task::spawn_blocking(move || p.flush(Duration::from_secs(10))).await;
    }
    if let Some(spool) = &spool {
        // Release markers of what finished reach the disk: a restart
        // replays only what is left.
        spool.close().await;
    }
    let report = Report::new(ledger.counts(), abort.counts());
    report.log();
    drop(routes);
    dispatcher.abort();
    drop(worker_threads);
    match failure {
        Some(e) => Err(RunError(e)),
        None => Ok(report),
    }
}

/// Wait until every accepted event is finished: at the end of input for as
/// long as that takes (the targets' retry policies bound it), after a
/// signal within `grace`, after which what is left is given up (see
/// [`give_up_in_flight`]). Returns the grace period's deadline, if one ran.
async fn drain(
    end_of_input: bool,
    ledger: &Ledger,
    signals: &mut Signals,
    grace: Duration,
    abort: &targets::AbortSwitch,
) -> Option<tokio::time::Instant> {
    let deadline = if end_of_input {
        // No grace cut-off: wait for every event, unless a signal comes.
        tokio::select! {
            _ = settled(ledger) => None,
            name = signals.next() => {
                tracing::info!(signal = name, grace_seconds = grace.as_secs(), "draining within the grace period");
                Some(tokio::time::Instant::now() + grace)
            }
        }
    } else {
        Some(tokio::time::Instant::now() + grace)
    };
    if let Some(deadline) = deadline {
        if tokio::time::timeout_at(deadline, settled(ledger))
            .await
            .is_err()
        {
            give_up_in_flight(ledger, abort).await;
        }
    }
    deadline
}

/// Why the service stops.
enum Stop {
    Signal(&'static str),
    /// Every source ended (stdin at EOF).
    EndOfInput,
    /// A `stdout` target's reader is gone (`busbar run ... | head`).
    OutputClosed,
    SourceFailed(String),
}

/// SIGTERM and SIGINT, whichever comes first.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Self, RunError> {
        use tokio::signal::unix::{signal, SignalKind};
        let handler =
            |kind, name| signal(kind).map_err(|e| RunError(format!("{name} handler: {e}")));
        Ok(Signals {
            term: handler(SignalKind::terminate(), "SIGTERM")?,
            int: handler(SignalKind::interrupt(), "SIGINT")?,
        })
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// Resolves when every source has ended (only possible when all of them
/// are finite), or when one fails. Sources that run until stopped (HTTP,
/// Kafka) never report an end; once every reporter is gone only a signal
/// stops the process.
async fn sources_end(
    ended_rx: &mut mpsc::UnboundedReceiver<Result<(), String>>,
    all_finite: bool,
    sources: usize,
) -> Stop {
    let mut ended = 0usize;
    loop {
        match ended_rx.recv().await {
            Some(Ok(())) => {
                ended += 1;
                if all_finite && ended == sources {
                    return Stop::EndOfInput;
                }
            }
            Some(Err(e)) => return Stop::SourceFailed(e),
            None if all_finite => return Stop::EndOfInput,
            None => std::future::pending::<()>().await,
        }
    }
}

/// Resolves once no accepted event has a delivery outstanding, or nothing
/// can finish one any more (every batch released).
async fn settled(ledger: &Ledger) {
    loop {
        let c = ledger.counts();
        if c.outstanding() == 0 || c.held == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How long the dead letters written at the end of the grace period may
/// take (file destinations take milliseconds; a Kafka destination whose
/// broker is gone does not come back in time, and its events are counted
/// as lost).
const DEAD_LETTER_WINDOW: Duration = Duration::from_secs(5);

/// The grace period is over with deliveries outstanding: targets hand them
/// to their dead-letter destinations with `SHUTDOWN` (see
/// [`target::Abort`]), which get a short window to write them.
async fn give_up_in_flight(ledger: &Ledger, abort: &targets::AbortSwitch) {
    let c = ledger.counts();
    tracing::warn!(
        events = c.outstanding(),
        "grace period over with events in flight: dead-lettering them with SHUTDOWN (Kafka records are left uncommitted instead)"
    );
    abort.set();
    let _ = tokio::time::timeout(DEAD_LETTER_WINDOW, settled(ledger)).await;
}

/// Exit status of `busbar run` when events were dropped or lost at
/// shutdown (in flight when the grace period ended, with no dead-letter
/// destination, or one that could not be written in time).
pub const EXIT_DROPPED: u8 = 3;

/// What became of the events of one run, logged at exit.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub counts: LedgerCounts,
    /// Deliveries cut short at the end of the grace period: dead-lettered
    /// with `SHUTDOWN`, left to Kafka, or dropped.
    pub shutdown_dead_lettered: u64,
    pub shutdown_redelivered: u64,
    pub shutdown_dropped: u64,
}

impl Report {
    fn new(counts: LedgerCounts, abort: &targets::AbortCounts) -> Self {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Acquire);
        Report {
            counts,
            shutdown_dead_lettered: get(&abort.dead_lettered),
            shutdown_redelivered: get(&abort.redelivered),
            shutdown_dropped: get(&abort.dropped),
        }
    }

    /// Events whose deliveries neither finished nor were left to Kafka:
    /// their dead letters were not written before the process stopped.
    pub fn lost(&self) -> u64 {
        self.counts.outstanding()
    }

    /// Whether anything was dropped or lost at shutdown.
    pub fn dropped_any(&self) -> bool {
        self.shutdown_dropped > 0 || self.lost() > 0
    }

    fn log(&self) {
        let c = &self.counts;
        if self.dropped_any() {
            tracing::warn!(
                accepted = c.accepted,
                finished = c.finished,
                left_for_redelivery = c.abandoned,
                dead_lettered_shutdown = self.shutdown_dead_lettered,
                dropped_shutdown = self.shutdown_dropped,
                lost = self.lost(),
                "stopped with events dropped (exit status {EXIT_DROPPED})"
            );
        } else {
            tracing::info!(
                accepted = c.accepted,
                finished = c.finished,
                left_for_redelivery = c.abandoned,
                dead_lettered_shutdown = self.shutdown_dead_lettered,
                "stopped"
            );
        }
        if c.abandoned > 0 {
            tracing::info!(
                events = c.abandoned,
                "events left in flight were not acknowledged: Kafka records are not committed, so the consumer group delivers them again after the restart, and spooled events stay in the spool, replayed at the next start"
            );
        }
    }
}

fn reload_once(
    compiled: Result<Plan, String>,
    ctx: &targets::Context,
    routes: &SharedRoutes,
    catalog: &crate::inspect::SharedCatalog,
    metrics: &Metrics,
    running: &Config,
) {
    let mut plan = match compiled {
        Ok(p) => p,
        Err(e) => {
            metrics.config_reload_failed();
            tracing::error!(error = %e, "reload failed; the running rules stay");
            return;
        }
    };
    let crc32 = plan.config.origin.crc32;
    let c = &plan.config;
    if format!("{:?}{:?}{:?}{:?}", c.sources, c.kafka, c.admin, c.bus)
        != format!(
            "{:?}{:?}{:?}{:?}",
            running.sources, running.kafka, running.admin, running.bus
        )
    {
        tracing::warn!("sources, kafka, admin or bus settings changed: they apply on restart; rules, targets and dead letters reload now");
    }
    // Batches name their source by position in the running configuration,
    // and the listeners and clients were started from it: keep it.
    plan.config.sources = running.sources.clone();
    plan.config.bus = running.bus.clone();
    plan.bus = crate::envelope::Bus {
        name: running.bus.name.clone(),
        account: running.bus.account.clone(),
        region: running.bus.region.clone(),
    };
    for r in &mut plan.rules {
        r.arn = Arc::from(plan.bus.rule_arn(&r.name).as_str());
    }
    let prev = match routes.read() {
        Ok(r) => r.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let described = crate::inspect::Catalog::of(&plan.config);
    match Routes::start(plan, ctx, Some(&prev)) {
        Ok(new) => {
            crate::inspect::replace(catalog, described);
            let n = new.rules.len();
            match routes.write() {
                Ok(mut w) => *w = Arc::new(new),
                Err(p) => *p.into_inner() = Arc::new(new),
            }
            metrics.config_reloads.with_label_values(&["ok"]).inc();
            metrics.config_applied(crc32);
            tracing::info!(rules = n, "configuration reloaded");
        }
        Err(e) => {
            metrics.config_reload_failed();
            tracing::error!(error = %e, "reload failed; the running rules stay");
        }
    }
}
