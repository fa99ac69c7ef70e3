//! Every metric busbar exports: name, help, labels, registration. Nothing
//! else creates a metric; the pipeline gets typed handles from here.
//!
//! Names follow Prometheus conventions (`busbar_<thing>_<unit>`, counters end
//! in `_total`, durations in `_seconds`). Labels are small closed sets: a
//! source id, a rule name, a target id, a stable reason code; never raw error
//! text. Hot-path handles are resolved once per rule/target when a rule set
//! is built, and counts are added per batch, not per event.
//!
//! A counter is exported at zero from the start wherever its labels are
//! known then (reload results here; rules, targets and sources where the
//! rule set is built, error codes included), so that `increase()` and
//! `rate()` see the first event instead of a series appearing at 1.
//!
//! The `process_*` metrics come from [`ProcessCollector`] below rather than
//! the `prometheus` crate's own, which divides the CPU time by the clock
//! tick rate in integers: a process using 0.4 s of CPU a minute would show
//! a flat line for minutes, then a step of one second.

use prometheus::core::{Collector, Desc};
use prometheus::{
    proto, Counter, Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// The registry and every metric in it. One per process (tests make their own).
pub struct Metrics {
    registry: Registry,
    /// Lines, records or PutEvents entries taken in, per source.
    pub events_received: IntCounterVec,
    /// Input that is not a valid event, per source and reason code.
    pub parse_failures: IntCounterVec,
    /// Events that matched each rule.
    pub events_matched: IntCounterVec,
    /// Events that matched no enabled rule (done at once), per source.
    pub events_unmatched: IntCounterVec,
    /// Successful deliveries per rule and target.
    pub deliveries: IntCounterVec,
    /// Failed delivery attempts per rule, target and error code.
    pub delivery_failures: IntCounterVec,
    /// Retries scheduled per rule and target.
    pub delivery_retries: IntCounterVec,
    /// Events written to a dead-letter destination, counted once the write
    /// succeeded (the broker acknowledged it, the line is out): `stage` is `source`
    /// (input that is not an event; `rule` empty, `target` = source id) or
    /// `target` (delivery gave up); `reason` is the error code.
    pub dead_letters: IntCounterVec,
    /// Events dropped because no dead-letter destination was configured
    /// where one was needed (a configured choice, still counted).
    pub dropped: IntCounterVec,
    /// Failed writes to a dead-letter destination (retried until they succeed).
    pub dead_letter_failures: IntCounterVec,
    /// Per dead-letter destination: writers holding a dead letter they
    /// cannot write (normally 0; while above 0, `/readyz` is 503).
    pub dead_letter_blocked: IntGaugeVec,
    /// From accepting an event into the pipeline to its delivery, per target kind.
    pub delivery_latency: HistogramVec,
    /// Per assigned partition: high watermark minus the committed position,
    /// in messages.
    pub consumer_lag_messages: IntGaugeVec,
    /// Kafka source positions the broker no longer had (it lost its data,
    /// the topic was recreated), each followed by a reset to the source's
    /// `start`, per source, topic and reason.
    pub kafka_offset_resets: IntCounterVec,
    /// Kafka producers replaced because they were stuck or failed, per reason.
    pub kafka_producer_recreations: IntCounterVec,
    /// 1 while the Kafka producer is being recreated and has not delivered
    /// since (`/readyz` answers 503 meanwhile), else 0.
    pub kafka_producer_recovering: IntGauge,
    /// Events accepted and not yet delivered everywhere.
    pub in_flight_events: IntGauge,
    /// Bytes of those events.
    pub in_flight_bytes: IntGauge,
    /// Times a source had to wait (Kafka consumer stopped) or refuse
    /// (HTTP throttled) because the pipeline was full.
    pub backpressure: IntCounterVec,
    /// Per HTTP target: deliveries waiting in its backlog while the
    /// endpoint keeps failing (copies that no longer hold the in-flight
    /// budget, so the other targets and the sources keep flowing).
    pub target_backlog_events: IntGaugeVec,
    /// Bytes of those copies.
    pub target_backlog_bytes: IntGaugeVec,
    /// Enabled rules in the running rule set.
    pub rules_loaded: IntGauge,
    /// Configuration reloads by result (`ok`, `failed`).
    pub config_reloads: IntCounterVec,
    /// 1 when the last reload (or the start) applied the file, 0 when it
    /// failed and the previous rules kept running.
    pub config_last_reload_success: IntGauge,
    /// Unix time of the last reload (or start) that applied the file.
    pub config_last_reload_success_timestamp: Gauge,
    /// CRC-32 of the running configuration file's text, to tell replicas
    /// and rollouts apart (`crc32 FILE` or Python's `zlib.crc32`).
    pub config_hash: IntGauge,
    /// HTTP ingest requests by operation and status code.
    pub http_requests: IntCounterVec,
    /// HTTP ingest connections open now, per source.
    pub http_connections_open: IntGaugeVec,
    /// HTTP ingest connections busbar closed, per source and reason:
    /// `header_timeout`, `body_timeout`, `idle_timeout`, `over_capacity`
    /// (closed to make room for a new one at `max_connections`).
    pub http_connections_closed: IntCounterVec,
    /// Failed accepts on an HTTP ingest listener (out of file descriptors,
    /// a connection reset before it was accepted), per source.
    pub http_accept_errors: IntCounterVec,
    /// PutEvents entries rejected, per source and EventBridge `ErrorCode`.
    pub put_events_rejected: IntCounterVec,
    /// Bytes the write-ahead spool's segments take (0 without a spool).
    pub spool_used_bytes: IntGauge,
    /// `spool.max_bytes`.
    pub spool_limit_bytes: IntGauge,
    /// Spooled events not yet delivered or dead-lettered.
    pub spool_pending_records: IntGauge,
    /// Appends refused because the spool was at `spool.max_bytes`.
    pub spool_full_rejections: IntCounter,
    /// Damaged records skipped (or cut off) while opening the spool.
    pub spool_corrupt_records: IntCounter,
    /// How long each write + fdatasync of the spool took.
    pub spool_sync_duration: Histogram,
    /// Appends made durable by one sync: above 1 is group commit at work.
    pub spool_records_per_sync: Histogram,
    /// Always 1, with the version, git revision, target triple and cargo
    /// features as labels (what `busbar --version` prints).
    pub build_info: IntGaugeVec,
    /// Unix time the running rule set was loaded.
    pub rules_loaded_timestamp: Gauge,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| {
        unreachable!("metric {name} is malformed: {e}");
    });
    register(r, Box::new(c.clone()), name);
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    register(r, Box::new(g.clone()), name);
    g
}

fn plain_counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    register(r, Box::new(c.clone()), name);
    c
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| unreachable!("metric {name}: {e}"));
    register(r, Box::new(h.clone()), name);
    h
}

fn register(r: &Registry, c: Box<dyn prometheus::core::Collector>, name: &str) {
    if let Err(e) = r.register(c) {
        unreachable!("metric {name} registered twice: {e}");
    }
}

impl Metrics {
    pub fn new() -> Self {
        let r = Registry::new();
        let events_received = counter(
            &r,
            "busbar_events_received_total",
            "Events taken in (lines, Kafka records, PutEvents entries), per source.",
            &["source"],
        );
        let parse_failures = counter(
            &r,
            "busbar_parse_failures_total",
            "Input that is not a valid event, per source and reason.",
            &["source", "reason"],
        );
        let events_matched = counter(
            &r,
            "busbar_events_matched_total",
            "Events that matched the rule.",
            &["rule"],
        );
        let events_unmatched = counter(
            &r,
            "busbar_events_unmatched_total",
            "Events that matched no enabled rule, per source.",
            &["source"],
        );
        let deliveries = counter(
            &r,
            "busbar_deliveries_total",
            "Events delivered to a target.",
            &["rule", "target"],
        );
        let delivery_failures = counter(
            &r,
            "busbar_delivery_failures_total",
            "Failed delivery attempts, per error code.",
            &["rule", "target", "reason"],
        );
        let delivery_retries = counter(
            &r,
            "busbar_delivery_retries_total",
            "Delivery retries scheduled.",
            &["rule", "target"],
        );
        let dead_letters = counter(
            &r,
            "busbar_dead_letters_total",
            "Events written to a dead-letter destination, counted once written (stage source: invalid input; stage target: delivery gave up).",
            &["stage", "rule", "target", "reason"],
        );
        let dropped = counter(
            &r,
            "busbar_events_dropped_total",
            "Events dropped because no dead-letter destination is configured for them.",
            &["stage", "rule", "target", "reason"],
        );
        let dead_letter_failures = counter(
            &r,
            "busbar_dead_letter_failures_total",
            "Failed writes to a dead-letter destination (retried).",
            &["dead_letter"],
        );
        let dead_letter_blocked = IntGaugeVec::new(
            Opts::new(
                "busbar_dead_letter_blocked",
                "1 while a dead-letter destination holds an event it cannot write (retried; /readyz is 503 meanwhile).",
            ),
            &["dead_letter"],
        )
        .unwrap_or_else(|e| unreachable!("dead_letter_blocked: {e}"));
        register(
            &r,
            Box::new(dead_letter_blocked.clone()),
            "dead_letter_blocked",
        );
        let delivery_latency = HistogramVec::new(
            HistogramOpts::new(
                "busbar_delivery_latency_seconds",
                "From accepting an event to its delivery to a target.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ]),
            &["kind"],
        )
        .unwrap_or_else(|e| unreachable!("histogram: {e}"));
        register(&r, Box::new(delivery_latency.clone()), "latency");
        let consumer_lag_messages = IntGaugeVec::new(
            Opts::new(
                "busbar_consumer_lag_messages",
                "Messages between the committed position and the high watermark, per partition.",
            ),
            &["source", "topic", "partition"],
        )
        .unwrap_or_else(|e| unreachable!("lag: {e}"));
        register(&r, Box::new(consumer_lag_messages.clone()), "lag");
        let kafka_offset_resets = counter(
            &r,
            "busbar_kafka_offset_resets_total",
            "Kafka source positions the broker no longer had, reset to the source's start (reason: out_of_range, past_log_end, before_log_start, rewound).",
            &["source", "topic", "reason"],
        );
        let kafka_producer_recreations = counter(
            &r,
            "busbar_kafka_producer_recreations_total",
            "Kafka producers replaced (reason: fatal, unknown_producer_id, fenced, out_of_order_sequence, stalled).",
            &["reason"],
        );
        let kafka_producer_recovering = IntGauge::new(
            "busbar_kafka_producer_recovering",
            "1 while the Kafka producer is being recreated and has not delivered since, else 0.",
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(
            &r,
            Box::new(kafka_producer_recovering.clone()),
            "kafka_producer_recovering",
        );
        let in_flight_events = IntGauge::new(
            "busbar_in_flight_events",
            "Events accepted and not yet delivered to every target or dead-lettered.",
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(&r, Box::new(in_flight_events.clone()), "in_flight_events");
        let in_flight_bytes =
            IntGauge::new("busbar_in_flight_bytes", "Bytes of the events in flight.")
                .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(&r, Box::new(in_flight_bytes.clone()), "in_flight_bytes");
        let backpressure = counter(
            &r,
            "busbar_backpressure_total",
            "Times a source waited (Kafka) or refused (HTTP throttled) because the pipeline was full.",
            &["source"],
        );
        let target_backlog_events = IntGaugeVec::new(
            Opts::new(
                "busbar_target_backlog_events",
                "Deliveries waiting in the backlog of a failing target (limit: limits.max_backlog_events).",
            ),
            &["rule", "target"],
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(
            &r,
            Box::new(target_backlog_events.clone()),
            "target_backlog_events",
        );
        let target_backlog_bytes = IntGaugeVec::new(
            Opts::new(
                "busbar_target_backlog_bytes",
                "Bytes held by the backlog of a failing target (limit: limits.max_backlog_bytes).",
            ),
            &["rule", "target"],
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(
            &r,
            Box::new(target_backlog_bytes.clone()),
            "target_backlog_bytes",
        );
        let rules_loaded = IntGauge::new(
            "busbar_rules_loaded",
            "Enabled rules in the running rule set.",
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(&r, Box::new(rules_loaded.clone()), "rules_loaded");
        let config_reloads = counter(
            &r,
            "busbar_config_reloads_total",
            "Configuration reloads (SIGHUP or file change), by result.",
            &["result"],
        );
        for result in ["ok", "failed"] {
            config_reloads.with_label_values(&[result]);
        }
        let config_last_reload_success = gauge(
            &r,
            "busbar_config_last_reload_success",
            "1 when the last reload (or the start) applied the configuration, 0 when it failed and the previous one still runs.",
        );
        let config_last_reload_success_timestamp = Gauge::new(
            "busbar_config_last_reload_success_timestamp_seconds",
            "Unix time the running configuration was applied (start or reload).",
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(
            &r,
            Box::new(config_last_reload_success_timestamp.clone()),
            "config_ts",
        );
        let config_hash = gauge(
            &r,
            "busbar_config_hash",
            "CRC-32 of the running configuration file's text (before ${VAR} expansion).",
        );
        let http_requests = counter(
            &r,
            "busbar_http_requests_total",
            "HTTP ingest requests by operation and status code.",
            &["operation", "status"],
        );
        let http_connections_open = IntGaugeVec::new(
            Opts::new(
                "busbar_http_connections_open",
                "HTTP ingest connections open now, per source.",
            ),
            &["source"],
        )
        .unwrap_or_else(|e| unreachable!("connections_open: {e}"));
        register(
            &r,
            Box::new(http_connections_open.clone()),
            "http_connections_open",
        );
        let http_connections_closed = counter(
            &r,
            "busbar_http_connections_closed_total",
            "HTTP ingest connections busbar closed: header_timeout, body_timeout, idle_timeout, over_capacity.",
            &["source", "reason"],
        );
        let http_accept_errors = counter(
            &r,
            "busbar_http_accept_errors_total",
            "Failed accepts on an HTTP ingest listener (e.g. out of file descriptors).",
            &["source"],
        );
        let put_events_rejected = counter(
            &r,
            "busbar_put_events_rejected_entries_total",
            "PutEvents entries rejected, per source and EventBridge ErrorCode.",
            &["source", "reason"],
        );
        let spool_used_bytes = gauge(
            &r,
            "busbar_spool_used_bytes",
            "Bytes the write-ahead spool's segment files take, appends being written included.",
        );
        let spool_limit_bytes = gauge(
            &r,
            "busbar_spool_limit_bytes",
            "The spool's size limit (spool.max_bytes); 0 without a spool.",
        );
        let spool_pending_records = gauge(
            &r,
            "busbar_spool_pending_records",
            "Spool records (accepted HTTP ingest requests) with events not yet delivered or dead-lettered.",
        );
        let spool_full_rejections = plain_counter(
            &r,
            "busbar_spool_full_rejections_total",
            "Appends refused because the spool was full (spool.max_bytes).",
        );
        let spool_corrupt_records = plain_counter(
            &r,
            "busbar_spool_corrupt_records_total",
            "Damaged spool records (checksum mismatch) skipped or cut off when the spool was opened.",
        );
        let spool_sync_duration = histogram(
            &r,
            "busbar_spool_sync_duration_seconds",
            "Time of one spool write plus fdatasync.",
            vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ],
        );
        let spool_records_per_sync = histogram(
            &r,
            "busbar_spool_records_per_sync",
            "Records (accepted requests) made durable by one spool sync (group commit).",
            vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0],
        );
        let build_info = IntGaugeVec::new(
            Opts::new(
                "busbar_build_info",
                "Always 1; the version, git revision, target triple and cargo features are labels.",
            ),
            &["version", "revision", "target", "features"],
        )
        .unwrap_or_else(|e| unreachable!("build_info: {e}"));
        register(&r, Box::new(build_info.clone()), "build_info");
        build_info
            .with_label_values(&[
                crate::version::VERSION,
                crate::version::REVISION,
                crate::version::TARGET,
                crate::version::FEATURES,
            ])
            .set(1);
        let rules_loaded_timestamp = Gauge::new(
            "busbar_rules_loaded_timestamp_seconds",
            "Unix time the running rule set was loaded.",
        )
        .unwrap_or_else(|e| unreachable!("gauge: {e}"));
        register(&r, Box::new(rules_loaded_timestamp.clone()), "rules_ts");
        #[cfg(target_os = "linux")]
        register(&r, Box::new(ProcessCollector::new()), "process");
        Metrics {
            registry: r,
            events_received,
            parse_failures,
            events_matched,
            events_unmatched,
            deliveries,
            delivery_failures,
            delivery_retries,
            dead_letters,
            dropped,
            dead_letter_failures,
            dead_letter_blocked,
            delivery_latency,
            consumer_lag_messages,
            kafka_offset_resets,
            kafka_producer_recreations,
            kafka_producer_recovering,
            in_flight_events,
            in_flight_bytes,
            backpressure,
            target_backlog_events,
            target_backlog_bytes,
            rules_loaded,
            config_reloads,
            config_last_reload_success,
            config_last_reload_success_timestamp,
            config_hash,
            http_requests,
            http_connections_open,
            http_connections_closed,
            http_accept_errors,
            put_events_rejected,
            spool_used_bytes,
            spool_limit_bytes,
            spool_pending_records,
            spool_full_rejections,
            spool_corrupt_records,
            spool_sync_duration,
            spool_records_per_sync,
            build_info,
            rules_loaded_timestamp,
        }
    }

    /// A configuration was applied, at start or by a reload: success 1,
    /// its time and its checksum.
    pub fn config_applied(&self, crc32: u32) {
        self.config_last_reload_success.set(1);
        self.config_last_reload_success_timestamp.set(unix_now());
        self.config_hash.set(i64::from(crc32));
    }

    /// A reload failed; the previous configuration keeps running.
    pub fn config_reload_failed(&self) {
        self.config_reloads.with_label_values(&["failed"]).inc();
        self.config_last_reload_success.set(0);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 << 10);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "encoding metrics failed");
        }
        out
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The standard `process_*` metrics of the Prometheus client libraries
/// (CPU, memory, file descriptors, threads, start time), read from
/// `/proc/self` at each scrape. CPU seconds are user plus system clock
/// ticks divided by the tick rate as a float, so a scrape shows every
/// tick (10 ms at the usual 100 Hz).
#[cfg(target_os = "linux")]
struct ProcessCollector {
    cpu: Counter,
    open_fds: Gauge,
    max_fds: Gauge,
    virtual_bytes: Gauge,
    resident_bytes: Gauge,
    start_time: Gauge,
    threads: Gauge,
    descs: Vec<Desc>,
    /// Serialises scrapes: the counter only moves forward by the
    /// difference from the last reading.
    last_cpu: std::sync::Mutex<f64>,
}

#[cfg(target_os = "linux")]
impl ProcessCollector {
    fn new() -> Self {
        let g = |name: &str, help: &str| {
            Gauge::new(name, help).unwrap_or_else(|e| unreachable!("metric {name}: {e}"))
        };
        let cpu = Counter::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )
        .unwrap_or_else(|e| unreachable!("process_cpu_seconds_total: {e}"));
        let c = ProcessCollector {
            cpu,
            open_fds: g("process_open_fds", "Number of open file descriptors."),
            max_fds: g(
                "process_max_fds",
                "Maximum number of open file descriptors (the soft limit).",
            ),
            virtual_bytes: g(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            ),
            resident_bytes: g(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            start_time: g(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
            ),
            threads: g("process_threads", "Number of OS threads in the process."),
            descs: Vec::new(),
            last_cpu: std::sync::Mutex::new(0.0),
        };
        let descs = c.parts().iter().flat_map(|m| m.desc()).cloned().collect();
        let ticks = procfs::ticks_per_second() as f64;
        if let (Ok(boot), Ok(stat)) = (
            procfs::boot_time_secs(),
            procfs::process::Process::myself().and_then(|p| p.stat()),
        ) {
            c.start_time
                .set(boot as f64 + stat.starttime as f64 / ticks);
        }
        ProcessCollector { descs, ..c }
    }

    fn parts(&self) -> [&dyn Collector; 7] {
        [
            &self.cpu,
            &self.open_fds,
            &self.max_fds,
            &self.virtual_bytes,
            &self.resident_bytes,
            &self.start_time,
            &self.threads,
        ]
    }

    fn read(&self) {
        let Ok(me) = procfs::process::Process::myself() else {
            return;
        };
        if let Ok(n) = me.fd_count() {
            self.open_fds.set(n as f64);
        }
        if let Ok(limits) = me.limits() {
            if let procfs::process::LimitValue::Value(max) = limits.max_open_files.soft_limit {
                self.max_fds.set(max as f64);
            }
        }
        if let Ok(stat) = me.stat() {
            self.virtual_bytes.set(stat.vsize as f64);
            self.resident_bytes
                .set(stat.rss as f64 * procfs::page_size() as f64);
            self.threads.set(stat.num_threads as f64);
            let cpu = (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64;
            let mut last = match self.last_cpu.lock() {
                Ok(l) => l,
                Err(poisoned) => poisoned.into_inner(),
            };
            if cpu > *last {
                self.cpu.inc_by(cpu - *last);
                *last = cpu;
            }
        }
    }
}

#[cfg(target_os = "linux")]
impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        self.read();
        self.parts().iter().flat_map(|m| m.collect()).collect()
    }
}

/// Counter sums by their labels, read back for `GET /rules`.
pub type LabelSums = std::collections::HashMap<Vec<String>, u64>;

impl Metrics {
    /// `busbar_events_matched_total` by rule.
    pub fn matched_by_rule(&self) -> LabelSums {
        sums(&self.events_matched, &["rule"])
    }

    /// `busbar_deliveries_total` by (rule, target).
    pub fn delivered_by_target(&self) -> LabelSums {
        sums(&self.deliveries, &["rule", "target"])
    }

    /// `busbar_delivery_failures_total` by (rule, target), every reason.
    pub fn failed_by_target(&self) -> LabelSums {
        sums(&self.delivery_failures, &["rule", "target"])
    }

    /// `busbar_dead_letters_total{stage="target"}` by (rule, target).
    pub fn dead_lettered_by_target(&self) -> LabelSums {
        sums(&self.dead_letters, &["rule", "target"])
    }

    /// `busbar_events_dropped_total{stage="target"}` by (rule, target).
    pub fn dropped_by_target(&self) -> LabelSums {
        sums(&self.dropped, &["rule", "target"])
    }
}

/// Sum a counter family's series by the values of `keys`, without creating
/// a series (as `with_label_values` would). Series of the `source` stage
/// (whose `rule` is empty) sum under an empty rule name.
fn sums(c: &IntCounterVec, keys: &[&str]) -> LabelSums {
    let mut out = LabelSums::new();
    for mf in c.collect() {
        for m in mf.get_metric() {
            let labels = m.get_label();
            let key: Vec<String> = keys
                .iter()
                .map(|k| {
                    labels
                        .iter()
                        .find(|l| l.name() == *k)
                        .map_or(String::new(), |l| l.value().to_string())
                })
                .collect();
            *out.entry(key).or_default() += m.get_counter().get_value() as u64;
        }
    }
    out
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_family() {
        let m = Metrics::new();
        m.events_received.with_label_values(&["in"]).inc_by(3);
        m.dead_letters
            .with_label_values(&["target", "r", "t", "TIMEOUT"])
            .inc();
        let text = String::from_utf8(m.render()).unwrap();
        assert!(
            text.contains("busbar_events_received_total{source=\"in\"} 3"),
            "{text}"
        );
        assert!(text.contains(
            "busbar_dead_letters_total{reason=\"TIMEOUT\",rule=\"r\",stage=\"target\",target=\"t\"} 1"
        ));
        assert!(text.contains(&format!(
            "busbar_build_info{{features=\"{}\",revision=\"{}\",target=\"{}\",version=\"{}\"}} 1",
            crate::version::FEATURES,
            crate::version::REVISION,
            crate::version::TARGET,
            crate::version::VERSION
        )));
        assert!(text.contains("busbar_config_reloads_total{result=\"ok\"} 0"));
        assert!(text.contains("busbar_config_reloads_total{result=\"failed\"} 0"));
        assert!(text.contains("busbar_config_last_reload_success 0"));
        assert!(text.contains("busbar_in_flight_events 0"));
        assert!(text.contains("busbar_kafka_producer_recovering 0"));
        assert!(text.contains("busbar_spool_used_bytes 0"));
        assert!(text.contains("busbar_spool_full_rejections_total 0"));
        assert!(text.contains("busbar_spool_records_per_sync_count 0"));
    }

    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    #[test]
    fn reloads_set_success_time_and_hash() {
        let m = Metrics::new();
        m.config_applied(0xdead_beef);
        let text = String::from_utf8(m.render()).unwrap();
        assert_eq!(value(&text, "busbar_config_last_reload_success"), 1.0);
        assert_eq!(value(&text, "busbar_config_hash"), 3_735_928_559.0);
        assert!(value(&text, "busbar_config_last_reload_success_timestamp_seconds") > 1.7e9);
        m.config_reload_failed();
        let text = String::from_utf8(m.render()).unwrap();
        assert_eq!(value(&text, "busbar_config_last_reload_success"), 0.0);
        assert_eq!(
            value(&text, "busbar_config_reloads_total{result=\"failed\"}"),
            1.0
        );
        // The running configuration's hash stays.
        assert_eq!(value(&text, "busbar_config_hash"), 3_735_928_559.0);
    }

    /// The `prometheus` crate's collector truncated to whole seconds, so a
    /// tenth of a second of work showed as 0 (or as a step of 1).
    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_seconds_move_by_fractions() {
        let m = Metrics::new();
        let cpu = |m: &Metrics| {
            value(
                &String::from_utf8(m.render()).unwrap(),
                "process_cpu_seconds_total",
            )
        };
        let before = cpu(&m);
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let spent = cpu(&m) - before;
        assert!(spent > 0.0 && spent < 0.9, "{before} + {spent}");
        let text = String::from_utf8(m.render()).unwrap();
        for name in [
            "process_resident_memory_bytes",
            "process_virtual_memory_bytes",
            "process_open_fds",
            "process_max_fds",
            "process_threads",
        ] {
            assert!(value(&text, name) > 0.0, "{name}: {text}");
        }
        assert!(value(&text, "process_start_time_seconds") > 1.7e9);
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    }
}
