//! `kafka` targets: one topic per target, on one idempotent producer shared
//! by every Kafka target and dead-letter destination of the process.
//!
//! A delivery counts as done only when the broker has acknowledged it
//! (librdkafka's delivery report), which is what lets the source commit
//! past it. Records keep the consumed record's headers and add
//! `busbar-rule` and `busbar-event-id`; the trace context is the event's
//! own, checked, and `format: cloudevents` adds the binding's `ce_*`
//! headers with the event's data as the value. A full local producer queue waits
//! (backpressure) instead of failing. Failures after librdkafka's own
//! retries (`message.timeout.ms`) go through the target's retry policy.
//!
//! The producer's `message.max.bytes` defaults to room for the largest
//! event busbar accepts in its envelope plus 64 KiB of key and headers
//! ([`crate::config::KafkaConfig::message_max_bytes`]): librdkafka's own
//! default (1,000,000 bytes) refused a valid 1 MiB event, which was then
//! dead-lettered. A broker enforces its own limit (`max.message.bytes` of
//! the topic; Kafka's default is 1 MiB + 12 bytes), which must be raised
//! alike for records that large.
//!
//! # Order
//!
//! A target hands its batches to librdkafka in lane order, and one task
//! awaits their delivery reports in that same order. When a record fails,
//! the target stops sending new records, takes every record sent so far,
//! and sends the failed ones again, in their order, before it goes on.
//! Without that pause the records sent after a failed one would land
//! before its retry, and a key's records would change order whenever a
//! broker restarts. (A record that failed while later ones of the same
//! partition were written cannot be put back before them; librdkafka's
//! idempotence makes that rare: it retries in order itself.)
//!
//! # A producer that is stuck
//!
//! An idempotent producer has state on the broker: its producer id and a
//! sequence number per partition. A broker that restarts without its data
//! has forgotten them. librdkafka then gets `UNKNOWN_PRODUCER_ID`, and
//! either raises a fatal error or keeps asking the broker to bump an epoch
//! it does not know; either way nothing is delivered again (measured: 22
//! minutes, without a log line, until busbar was restarted). Fencing and
//! sequence errors end alike. So [`Producer`] is a handle on a replaceable
//! librdkafka client: a supervisor thread replaces the client when a
//! delivery reports such an error, when librdkafka raises a fatal error,
//! or when records have waited with no delivery at all for
//! `kafka.producer_stall_seconds`. The old client's records are purged,
//! which fails them back to their targets, and the targets send them again
//! on the new client in their order; those failures are the producer's, not
//! the records', so they do not use up the retry policy. While that goes on
//! `/readyz` answers 503 and `busbar_kafka_producer_recovering` is 1; each
//! change of state is logged once, not per record.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounterVec, IntGauge};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders, ToBytes};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer as _, PurgeConfig};
use rdkafka::ClientContext;
use tokio::sync::{mpsc, watch};

use super::retry::{Decision, DeliveryErrorCode};
use super::{cloudevents, random_u64, Abort, Delivery, Failed, TargetBatch, TargetInfo};
use crate::admin::Readiness;

/// One librdkafka producer client, with busbar's context.
pub type Client = FutureProducer<ClientHealth>;

/// A delivery's outcome, as librdkafka reports it.
pub type DeliveryResult = rdkafka::producer::future_producer::OwnedDeliveryResult;

/// The process's producer: a handle on the current client, which the
/// supervisor ([`Producer::supervise`]) replaces when it is stuck.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
}

struct Shared {
    /// `message.max.bytes` as set on every client.
    message_max_bytes: usize,
    config: ClientConfig,
    /// The current client and its generation (1 for the first).
    client: RwLock<(u64, Arc<Client>)>,
    health: Arc<Health>,
    /// The current generation, for targets waiting on a replacement.
    generation: watch::Sender<u64>,
    /// Set once a supervisor runs: how long a target waits for it to
    /// replace a client that reported trouble.
    stall: OnceLock<Duration>,
}

/// What went wrong with a client, as opposed to with a record: the
/// `reason` of `busbar_kafka_producer_recreations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    /// librdkafka raised a fatal error (`_FATAL`): the client never
    /// produces again.
    Fatal,
    /// The broker does not know the producer id (it lost its state).
    UnknownProducerId,
    /// Another producer with the same id took over, or the epoch is stale.
    Fenced,
    /// The broker's sequence numbers and the client's disagree.
    OutOfOrderSequence,
    /// Records waited `kafka.producer_stall_seconds` with no delivery.
    Stalled,
}

impl Trouble {
    /// Every reason, for exporting each at zero from the start.
    pub const ALL: [Trouble; 5] = [
        Trouble::Fatal,
        Trouble::UnknownProducerId,
        Trouble::Fenced,
        Trouble::OutOfOrderSequence,
        Trouble::Stalled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Trouble::Fatal => "fatal",
            Trouble::UnknownProducerId => "unknown_producer_id",
            Trouble::Fenced => "fenced",
            Trouble::OutOfOrderSequence => "out_of_order_sequence",
            Trouble::Stalled => "stalled",
        }
    }

    /// The trouble a failed delivery shows about the client itself.
    pub fn of(e: &KafkaError) -> Option<Trouble> {
        match e.rdkafka_error_code()? {
            RDKafkaErrorCode::Fatal => Some(Trouble::Fatal),
            RDKafkaErrorCode::UnknownProducerId => Some(Trouble::UnknownProducerId),
            RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch => {
                Some(Trouble::Fenced)
            }
            RDKafkaErrorCode::OutOfOrderSequenceNumber
            | RDKafkaErrorCode::InvalidProducerIdMapping => Some(Trouble::OutOfOrderSequence),
            _ => None,
        }
    }
}

/// Whether a record failed because its client was purged (replaced): it
/// goes again on the new client.
fn purged(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::PurgeQueue) | Some(RDKafkaErrorCode::PurgeInflight)
    )
}

/// What the clients, the targets and the supervisor know about the
/// producer's health.
struct Health {
    started: Instant,
    /// Milliseconds since `started` of the last delivery, or of the last
    /// moment nothing was outstanding (an idle producer is not stalled).
    progress_ms: AtomicU64,
    /// The newest generation that delivered a record.
    delivered: AtomicU64,
    /// The first trouble reported about a generation, with its detail.
    trouble: Mutex<Option<(u64, Trouble, String)>>,
    /// librdkafka's logs and errors about the brokers, one line per change.
    broker_log: crate::kafka_log::BrokerLog,
}

impl Health {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn report(&self, generation: u64, trouble: Trouble, detail: String) {
        let mut t = match self.trouble.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        if t.as_ref().is_none_or(|(g, _, _)| *g < generation) {
            *t = Some((generation, trouble, detail));
        }
    }

    /// The trouble reported about `generation`, if any.
    fn trouble_of(&self, generation: u64) -> Option<(Trouble, String)> {
        let t = match self.trouble.lock() {
            Ok(t) => t,
            Err(p) => p.into_inner(),
        };
        t.as_ref()
            .filter(|(g, _, _)| *g == generation)
            .map(|(_, trouble, detail)| (*trouble, detail.clone()))
    }
}

/// The context of each client: it hears librdkafka's global errors, where
/// a fatal one arrives.
pub struct ClientHealth {
    health: Arc<Health>,
    generation: u64,
}

impl ClientContext for ClientHealth {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        self.health.broker_log.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            self.health
                .report(self.generation, Trouble::Fatal, reason.to_string());
        } else {
            self.health.broker_log.error(&error, reason);
        }
    }
}

/// What the supervisor needs beside the producer.
pub struct Supervision {
    /// `kafka.producer_stall_seconds`.
    pub stall: Duration,
    pub ready: Arc<Readiness>,
    pub recovering: IntGauge,
    pub recreations: IntCounterVec,
}

impl Producer {
    /// `settings` are applied in order (common, then producer-only), after
    /// busbar's own defaults and before the settings busbar insists on.
    /// `message_max_bytes` is the effective `message.max.bytes`: the one
    /// the settings give, if any, else busbar's default.
    pub fn new(
        brokers: &str,
        settings: &[&BTreeMap<String, String>],
        message_max_bytes: usize,
    ) -> Result<Self, String> {
        let mut c = ClientConfig::new();
        c.set("message.max.bytes", message_max_bytes.to_string());
        // Low latency by default; throughput comes from batching under load.
        c.set("linger.ms", "5");
        c.set("compression.type", "lz4");
        // librdkafka would queue up to 1 GiB; the in-flight budget already
        // bounds what busbar hands it, so keep its own queue near that.
        c.set("queue.buffering.max.kbytes", "65536");
        for s in settings {
            for (k, v) in s.iter() {
                c.set(k, v);
            }
        }
        c.set("bootstrap.servers", brokers);
        c.set("enable.idempotence", "true");
        let health = Arc::new(Health {
            started: Instant::now(),
            progress_ms: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            trouble: Mutex::new(None),
            broker_log: crate::kafka_log::BrokerLog::new("kafka producer"),
        });
        let client = create(&c, &health, 1)?;
        Ok(Producer {
            shared: Arc::new(Shared {
                message_max_bytes,
                config: c,
                client: RwLock::new((1, Arc::new(client))),
                health,
                generation: watch::channel(1).0,
                stall: OnceLock::new(),
            }),
        })
    }

    /// The largest record the producer sends (`message.max.bytes`), as
    /// librdkafka counts it: key, value, headers and 36 bytes of framing.
    pub fn message_max_bytes(&self) -> usize {
        self.shared.message_max_bytes
    }

    /// The current client and its generation.
    fn client(&self) -> (u64, Arc<Client>) {
        let slot = match self.shared.client.read() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        (slot.0, slot.1.clone())
    }

    /// The current client. Prefer [`Producer::send`], which tells the
    /// supervisor how the delivery went.
    pub fn inner(&self) -> Arc<Client> {
        self.client().1
    }

    /// Produce one record and wait for its delivery report (waiting up to
    /// `queue_timeout` while librdkafka's queue is full).
    pub async fn send<K, P>(
        &self,
        record: FutureRecord<'_, K, P>,
        queue_timeout: Duration,
    ) -> DeliveryResult
    where
        K: ToBytes + ?Sized,
        P: ToBytes + ?Sized,
    {
        let (generation, client) = self.client();
        let r = client.send(record, queue_timeout).await;
        match &r {
            Ok(_) => self.delivered(generation),
            Err((e, _)) => self.failed(generation, e),
        }
        r
    }

    /// A record sent on `generation` was delivered.
    fn delivered(&self, generation: u64) {
        let h = &self.shared.health;
        h.progress_ms.store(h.now_ms(), Ordering::Relaxed);
        h.delivered.fetch_max(generation, Ordering::Relaxed);
        h.broker_log.ok();
    }

    /// A record sent on `generation` failed: tell the supervisor when the
    /// failure is the client's.
    fn failed(&self, generation: u64, e: &KafkaError) {
        if let Some(trouble) = Trouble::of(e) {
            self.shared
                .health
                .report(generation, trouble, e.to_string());
        }
    }

    /// Wait until the client of `generation` has been replaced; `false`
    /// when no supervisor runs or it did not replace it within its stall
    /// time (the failure then counts against the retry policy as any).
    async fn replaced_after(&self, generation: u64) -> bool {
        let Some(&stall) = self.shared.stall.get() else {
            return false;
        };
        let mut rx = self.shared.generation.subscribe();
        tokio::time::timeout(stall, rx.wait_for(|g| *g > generation))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Wait for every outstanding record (shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.inner().flush(timeout).map_err(|e| e.to_string())
    }

    /// Whether the producer has reached a broker (readiness).
    pub fn connected(&self) -> bool {
        let ok = self
            .inner()
            .client()
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok();
        if ok {
            self.shared.health.broker_log.ok();
        }
        ok
    }

    /// Start the supervisor thread, which replaces a stuck client (see the
    /// [module docs](self)). It ends when the last handle is dropped.
    pub fn supervise(&self, s: Supervision) -> Result<(), String> {
        if self.shared.stall.set(s.stall).is_err() {
            return Err("the kafka producer is supervised already".into());
        }
        let shared = Arc::downgrade(&self.shared);
        std::thread::Builder::new()
            .name("busbar-producer".into())
            .spawn(move || supervise(shared, s))
            .map(|_| ())
            .map_err(|e| format!("cannot start a thread: {e}"))
    }
}

fn create(config: &ClientConfig, health: &Arc<Health>, generation: u64) -> Result<Client, String> {
    config
        .create_with_context(ClientHealth {
            health: health.clone(),
            generation,
        })
        .map_err(|e| format!("kafka producer: {e}"))
}

/// The supervisor's loop: watch the current client, replace it when it is
/// in trouble, and say when the replacement delivers.
fn supervise(shared: Weak<Shared>, s: Supervision) {
    // Ten looks per stall period, between 50 ms and 1 s apart: a reported
    // error is acted on within a second, a stall within 10% of its time.
    let tick = (s.stall / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let stall_ms = s.stall.as_millis() as u64;
    // Since when, and how often, the producer has been replaced without a
    // delivery since.
    let mut recovering: Option<(Instant, u32)> = None;
    // Replaced clients, dropped here once nothing else holds them: a drop
    // waits for librdkafka's threads, which no runtime thread should do.
    let mut retired: Vec<Arc<Client>> = Vec::new();
    loop {
        std::thread::sleep(tick);
        retired.retain(|c| Arc::strong_count(c) > 1);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let h = &shared.health;
        let (generation, client) = {
            let slot = match shared.client.read() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            (slot.0, slot.1.clone())
        };
        let now = h.now_ms();
        let outstanding = client.in_flight_count();
        if outstanding == 0 {
            h.progress_ms.store(now, Ordering::Relaxed);
        }
        if let Some((since, replaced)) = recovering {
            if h.delivered.load(Ordering::Relaxed) >= generation {
                tracing::info!(
                    after_s = since.elapsed().as_secs_f64(),
                    replaced,
                    "kafka producer delivers again"
                );
                s.ready.producer_recovering.store(false, Ordering::Release);
                s.recovering.set(0);
                recovering = None;
            }
        }
        let waited = now.saturating_sub(h.progress_ms.load(Ordering::Relaxed));
        let trouble = h
            .trouble_of(generation)
            .or_else(|| {
                client
                    .client()
                    .fatal_error()
                    .map(|(code, why)| (Trouble::Fatal, format!("{code}: {why}")))
            })
            .or_else(|| {
                (outstanding > 0 && waited > stall_ms).then(|| {
                    (
                        Trouble::Stalled,
                        format!(
                            "{outstanding} records waited {:.1} s with no delivery",
                            waited as f64 / 1000.0
                        ),
                    )
                })
            });
        let Some((trouble, detail)) = trouble else {
            continue;
        };
        let fresh = match create(&shared.config, &shared.health, generation + 1) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                // Creating a client fails only on bad settings, which the
                // first creation would have refused; try again next tick.
                tracing::error!(error = %e, "cannot create a new kafka producer");
                continue;
            }
        };
        let old = {
            let mut slot = match shared.client.write() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            std::mem::replace(&mut *slot, (generation + 1, fresh)).1
        };
        shared.generation.send_replace(generation + 1);
        // A full stall period for the new client before it counts as stuck.
        h.progress_ms.store(now, Ordering::Relaxed);
        s.recreations.with_label_values(&[trouble.as_str()]).inc();
        match &mut recovering {
            None => {
                tracing::warn!(
                    reason = trouble.as_str(),
                    detail = %detail,
                    outstanding,
                    "kafka producer is stuck: replacing it; its records are sent again on the new one"
                );
                s.ready.producer_recovering.store(true, Ordering::Release);
                s.recovering.set(1);
                recovering = Some((Instant::now(), 1));
            }
            Some((_, replaced)) => {
                *replaced += 1;
                tracing::debug!(reason = trouble.as_str(), detail = %detail, outstanding,
                    "kafka producer replaced again (no delivery yet)");
            }
        }
        // Fail the old client's records back to their targets now.
        old.purge(PurgeConfig::default().queue().inflight());
        drop(client);
        retired.push(old);
    }
}

/// The delivery error code of a Kafka error.
pub fn error_code(e: &KafkaError) -> DeliveryErrorCode {
    match e.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
        | Some(RDKafkaErrorCode::InvalidMessage)
        | Some(RDKafkaErrorCode::InvalidRecord)
        | Some(RDKafkaErrorCode::InvalidMessageSize) => DeliveryErrorCode::ClientError,
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) | Some(RDKafkaErrorCode::UnknownTopic) => {
            DeliveryErrorCode::NoResource
        }
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
        | Some(RDKafkaErrorCode::ClusterAuthorizationFailed)
        | Some(RDKafkaErrorCode::SaslAuthenticationFailed) => DeliveryErrorCode::NoPermissions,
        Some(RDKafkaErrorCode::MessageTimedOut) | Some(RDKafkaErrorCode::RequestTimedOut) => {
            DeliveryErrorCode::Timeout
        }
        Some(RDKafkaErrorCode::QueueFull) | Some(RDKafkaErrorCode::ThrottlingQuotaExceeded) => {
            DeliveryErrorCode::Throttling
        }
        Some(RDKafkaErrorCode::BrokerTransportFailure)
        | Some(RDKafkaErrorCode::AllBrokersDown)
        | Some(RDKafkaErrorCode::NetworkException) => DeliveryErrorCode::ConnectionFailure,
        _ => DeliveryErrorCode::ServerError,
    }
}

/// The record of delivery `d`. `cloud`: the target writes CloudEvents
/// (binary mode), `Some(text)` with whether its shaper renders text.
///
/// The consumed record's headers are kept, except the trace context (the
/// event's own, checked, goes instead: a malformed `traceparent` is not
/// passed on) and, for CloudEvents, its `ce_*` and `content-type` headers,
/// which would contradict this event's.
fn record<'a>(
    topic: &'a str,
    tb: &'a TargetBatch,
    d: &Delivery,
    rule: &str,
    cloud: Option<bool>,
) -> FutureRecord<'a, [u8], [u8]> {
    let i = d.index as usize;
    // `send_loop` dead-letters events that cannot be CloudEvents before
    // they get here; one that still cannot goes as it is.
    let ce = cloud.and_then(|text| {
        let a = cloudevents::Attributes::read(tb.routed.envelope(i)).ok()?;
        let shaped = d.payload.as_ref().map(|_| tb.payload(d));
        Some((a, cloudevents::data(&a, shaped, text)))
    });
    let trace = tb.routed.trace(i);
    let mut headers = OwnedHeaders::new();
    for (name, value) in tb.routed.kafka_headers(i) {
        let replaced = name.eq_ignore_ascii_case(b"traceparent")
            || name.eq_ignore_ascii_case(b"tracestate")
            || (ce.is_some()
                && (name.starts_with(b"ce_") || name.eq_ignore_ascii_case(b"content-type")));
        if replaced {
            continue;
        }
        headers = headers.insert(Header {
            key: &String::from_utf8_lossy(name),
            value,
        });
    }
    if let Some(t) = trace {
        headers = headers.insert(Header {
            key: "traceparent",
            value: Some(t.parent),
        });
        if let Some(s) = t.state {
            headers = headers.insert(Header {
                key: "tracestate",
                value: Some(s),
            });
        }
    }
    headers = headers
        .insert(Header {
            key: "busbar-rule",
            value: Some(rule.as_bytes()),
        })
        .insert(Header {
            key: "busbar-event-id",
            value: Some(tb.routed.id(i)),
        });
    let payload = match ce {
        Some((a, data)) => {
            // `insert` takes the headers by value.
            let mut slot = Some(headers);
            a.kafka_headers(trace, |key, v| {
                slot = slot.take().map(|h| {
                    h.insert(Header {
                        key,
                        value: Some(v),
                    })
                });
            });
            headers = slot.unwrap_or_default().insert(Header {
                key: "content-type",
                value: Some(data.content_type().as_bytes()),
            });
            data.bytes()
        }
        None => tb.payload(d),
    };
    let mut r = FutureRecord::to(topic).payload(payload).headers(headers);
    if let Some(k) = tb.key(d) {
        r = r.key(k);
    }
    r
}

/// A record of a target batch, with what it has been through.
struct Pending {
    tb: Arc<TargetBatch>,
    /// Its item in `tb.items`.
    item: usize,
    /// The client generation it went to last.
    generation: u64,
    /// Failed attempts counted against the retry policy.
    attempts: u32,
}

/// One record handed to librdkafka (or refused by it), awaiting its report.
struct Sent {
    p: Pending,
    report: Result<DeliveryFuture, KafkaError>,
}

impl Sent {
    /// The delivery report. One the broker has not given when shutdown's
    /// grace period ends counts as cancelled (and goes on with SHUTDOWN; the
    /// final flush may still write the record: at least once).
    async fn outcome(self, abort: &Abort) -> (Pending, Result<(), KafkaError>) {
        let result = match self.report {
            Ok(f) => tokio::select! {
                r = f => match r {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err((e, _))) => Err(e),
                    Err(_) => Err(KafkaError::Canceled),
                },
                _ = abort.wait() => Err(KafkaError::Canceled),
            },
            Err(e) => Err(e),
        };
        (self.p, result)
    }
}

/// One Kafka target: the task that sends and the task that awaits.
struct Target {
    topic: String,
    /// CloudEvents binary mode, with whether the shaper renders text.
    cloud: Option<bool>,
    producer: Producer,
    info: Arc<TargetInfo>,
    latency: Histogram,
    /// Held by the sending task while it hands a batch over, and by the
    /// awaiting task while it repairs a failure: new records wait until
    /// the failed ones have gone again.
    turn: tokio::sync::Mutex<()>,
}

pub fn spawn(
    topic: String,
    cloud: Option<bool>,
    producer: Producer,
    rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) {
    let t = Arc::new(Target {
        topic,
        cloud,
        producer,
        info,
        latency,
        turn: tokio::sync::Mutex::new(()),
    });
    let (sent_tx, sent_rx) = mpsc::unbounded_channel();
    tokio::spawn(t.clone().send_loop(rx, sent_tx));
    tokio::spawn(t.await_loop(sent_rx));
}

impl Target {
    /// Hand each batch to librdkafka in order; the reports are awaited by
    /// [`Target::await_loop`], so the next batch goes out while these are
    /// in flight.
    async fn send_loop(
        self: Arc<Self>,
        mut rx: mpsc::UnboundedReceiver<TargetBatch>,
        sent_tx: mpsc::UnboundedSender<Vec<Sent>>,
    ) {
        while let Some(tb) = rx.recv().await {
            let tb = Arc::new(tb);
            let _turn = self.turn.lock().await;
            let mut sent = Vec::with_capacity(tb.items.len());
            let mut client = self.producer.client();
            for item in 0..tb.items.len() {
                if self.unmappable(&tb, item) {
                    continue;
                }
                let p = Pending {
                    tb: tb.clone(),
                    item,
                    generation: 0,
                    attempts: 0,
                };
                sent.push(self.send(p, &mut client).await);
            }
            if sent_tx.send(sent).is_err() {
                return;
            }
        }
    }

    /// For a CloudEvents target: an event that cannot be one is given up
    /// (`cloudevents::UNMAPPABLE`) instead of sent.
    fn unmappable(&self, tb: &TargetBatch, item: usize) -> bool {
        if self.cloud.is_none() {
            return false;
        }
        let d = &tb.items[item];
        let Err(message) = cloudevents::Attributes::read(tb.routed.envelope(d.index as usize))
        else {
            return false;
        };
        self.info.failed(cloudevents::UNMAPPABLE, &message);
        self.info.give_up(
            tb.event(d),
            Failed {
                code: cloudevents::UNMAPPABLE,
                message,
                exhausted: None,
                attempts: 0,
            },
        );
        true
    }

    /// Hand one record to `client`, the current client as of the batch
    /// (looked up again while the queue is full: the client may be stuck
    /// and replaced).
    async fn send(&self, mut p: Pending, client: &mut (u64, Arc<Client>)) -> Sent {
        let (generation, client) = client;
        let tb = p.tb.clone();
        let mut rec = record(
            &self.topic,
            &tb,
            &tb.items[p.item],
            &self.info.rule,
            self.cloud,
        );
        let report = loop {
            if self.info.abort.is_set() {
                break Err(KafkaError::Canceled);
            }
            match client.send_result(rec) {
                Ok(f) => break Ok(f),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    // The local queue is full: wait for the broker, or for
                    // a new client if this one is stuck.
                    rec = r;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    (*generation, *client) = self.producer.client();
                }
                Err((e, _)) => break Err(e),
            }
        };
        p.generation = *generation;
        Sent { p, report }
    }

    /// Await every report in the order the records were sent.
    async fn await_loop(self: Arc<Self>, mut sent_rx: mpsc::UnboundedReceiver<Vec<Sent>>) {
        while let Some(batch) = sent_rx.recv().await {
            let mut queue: VecDeque<Sent> = batch.into();
            while let Some(s) = queue.pop_front() {
                let (p, result) = s.outcome(&self.info.abort).await;
                let Err(e) = result else {
                    self.delivered(&p);
                    continue;
                };
                // Hold new records back, then take every record sent so far.
                let _turn = self.turn.lock().await;
                while let Ok(more) = sent_rx.try_recv() {
                    queue.extend(more);
                }
                let mut failed = vec![(p, e)];
                for s in std::mem::take(&mut queue) {
                    let (p, result) = s.outcome(&self.info.abort).await;
                    match result {
                        Ok(()) => self.delivered(&p),
                        Err(e) => failed.push((p, e)),
                    }
                }
                self.repair(failed).await;
            }
        }
    }

    fn delivered(&self, p: &Pending) {
        let tb = &p.tb;
        self.producer.delivered(p.generation);
        self.latency
            .observe(tb.routed.batch.accepted_at.elapsed().as_secs_f64());
        self.info.delivered(1);
        tb.event(&tb.items[p.item]).done();
    }

    /// Send failed records again, in order, until each is delivered or
    /// given up under the retry policy.
    async fn repair(&self, mut failed: Vec<(Pending, KafkaError)>) {
        while !failed.is_empty() {
            // In order; `Some` while the failure is the client's and waits
            // for its replacement rather than counting as an attempt.
            let mut again: Vec<(Pending, Option<KafkaError>)> = Vec::with_capacity(failed.len());
            let mut wait = Duration::ZERO;
            let mut stuck = None;
            for (mut p, e) in failed.drain(..) {
                if self.info.abort.is_set() {
                    self.shut_down(&p);
                    continue;
                }
                let clients = Trouble::of(&e).is_some() || purged(&e);
                if clients {
                    // The client's trouble, logged once by the supervisor.
                    self.info.count_failure(error_code(&e).as_str());
                } else {
                    self.info.failed(error_code(&e).as_str(), &e.to_string());
                }
                self.producer.failed(p.generation, &e);
                if clients {
                    stuck = stuck.max(Some(p.generation));
                    again.push((p, Some(e)));
                } else if self.count_attempt(&mut p, e, &mut wait) {
                    again.push((p, None));
                }
            }
            if let Some(generation) = stuck {
                let replaced = tokio::select! {
                    r = self.producer.replaced_after(generation) => r,
                    _ = self.info.abort.wait() => false,
                };
                if !replaced {
                    // Nobody replaces the client: an ordinary failure.
                    let mut kept = Vec::with_capacity(again.len());
                    for (mut p, e) in again {
                        let keep = match e {
                            Some(e) => self.count_attempt(&mut p, e, &mut wait),
                            None => true,
                        };
                        if keep {
                            kept.push((p, None));
                        }
                    }
                    again = kept;
                }
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = self.info.abort.wait() => {}
                }
            }
            if self.info.abort.is_set() {
                for (p, _) in &again {
                    self.shut_down(p);
                }
                return;
            }
            let mut sent = Vec::with_capacity(again.len());
            let mut client = self.producer.client();
            for (p, _) in again {
                sent.push(self.send(p, &mut client).await);
            }
            for s in sent {
                let (p, result) = s.outcome(&self.info.abort).await;
                match result {
                    Ok(()) => self.delivered(&p),
                    Err(e) => failed.push((p, e)),
                }
            }
        }
    }

    /// Shutdown's grace period is over: hand `p` on with SHUTDOWN.
    fn shut_down(&self, p: &Pending) {
        let tb = &p.tb;
        self.info
            .give_up(tb.event(&tb.items[p.item]), self.info.aborted(p.attempts));
    }

    /// Count a failed attempt of `p` against the retry policy: `true` to
    /// try again (after at least the wait it raises `wait` to), `false`
    /// when the event was given up (dead-lettered or dropped).
    fn count_attempt(&self, p: &mut Pending, e: KafkaError, wait: &mut Duration) -> bool {
        p.attempts += 1;
        let code = error_code(&e);
        let exhausted = if code.retryable() {
            let age = p.tb.routed.batch.accepted_at.elapsed();
            match self.info.policy.decide(p.attempts, age, None, random_u64()) {
                Decision::RetryIn(d) => {
                    self.info.retries.inc();
                    tracing::debug!(rule = %self.info.rule, target = %self.info.id, code = code.as_str(),
                        message = %e, wait_ms = d.as_millis() as u64, "delivery failed; retrying");
                    *wait = (*wait).max(d);
                    return true;
                }
                Decision::Exhausted(c) => Some(c.as_str()),
            }
        } else {
            None
        };
        let tb = &p.tb;
        self.info.give_up(
            tb.event(&tb.items[p.item]),
            Failed {
                code: code.as_str(),
                message: e.to_string(),
                exhausted,
                attempts: p.attempts,
            },
        );
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What config/README.md promises of the librdkafka build, whichever
    /// OpenSSL it links (vendored by default).
    #[test]
    fn librdkafka_is_built_with_tls_sasl_and_zstd() {
        let native = rdkafka::ClientConfig::new().create_native_config().unwrap();
        let features = native.get("builtin.features").unwrap();
        for f in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_oauthbearer",
            "zstd",
        ] {
            assert!(features.split(',').any(|x| x == f), "{f}: {features}");
        }
    }

    #[test]
    fn producer_state_errors_are_the_clients_not_the_records() {
        let e = |code| KafkaError::MessageProduction(code);
        assert_eq!(
            Trouble::of(&e(RDKafkaErrorCode::UnknownProducerId)),
            Some(Trouble::UnknownProducerId)
        );
        assert_eq!(
            Trouble::of(&e(RDKafkaErrorCode::Fatal)),
            Some(Trouble::Fatal)
        );
        assert_eq!(
            Trouble::of(&e(RDKafkaErrorCode::ProducerFenced)),
            Some(Trouble::Fenced)
        );
        assert_eq!(
            Trouble::of(&e(RDKafkaErrorCode::OutOfOrderSequenceNumber)),
            Some(Trouble::OutOfOrderSequence)
        );
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::UnknownTopicOrPartition,
            RDKafkaErrorCode::PurgeQueue,
        ] {
            assert_eq!(Trouble::of(&e(code)), None, "{code:?}");
        }
        assert!(purged(&e(RDKafkaErrorCode::PurgeInflight)));
        assert!(!purged(&e(RDKafkaErrorCode::MessageTimedOut)));
    }

    #[test]
    fn a_client_in_trouble_is_replaced_and_its_records_go_again() {
        // No broker: records wait in the client's queue. A reported
        // trouble makes the supervisor replace the client, which purges
        // them back (PurgeQueue), and bumps the generation.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let p = Producer::new("127.0.0.1:9", &[], 1 << 20).unwrap();
            let m = crate::metrics::Metrics::new();
            let ready = Readiness::new(false, true);
            p.supervise(Supervision {
                stall: Duration::from_secs(5),
                ready: ready.clone(),
                recovering: m.kafka_producer_recovering.clone(),
                recreations: m.kafka_producer_recreations.clone(),
            })
            .unwrap();
            let (generation, client) = p.client();
            assert_eq!(generation, 1);
            let waiting = client
                .send_result(FutureRecord::<[u8], [u8]>::to("t").payload(b"x"))
                .map_err(|(e, _)| e)
                .unwrap();
            drop(client);
            p.failed(
                1,
                &KafkaError::MessageProduction(RDKafkaErrorCode::UnknownProducerId),
            );
            assert!(p.replaced_after(1).await, "not replaced");
            assert_eq!(p.client().0, 2);
            let (e, _) = waiting.await.unwrap().unwrap_err();
            assert!(purged(&e), "{e}");
            assert!(ready.producer_recovering.load(Ordering::Acquire));
            let text = String::from_utf8(m.render()).unwrap();
            assert!(text.contains(
                "busbar_kafka_producer_recreations_total{reason=\"unknown_producer_id\"} 1"
            ));
            assert!(text.contains("busbar_kafka_producer_recovering 1"));
            // A delivery on the new client ends the recovery.
            p.delivered(2);
            let t = Instant::now();
            while ready.producer_recovering.load(Ordering::Acquire) {
                assert!(t.elapsed() < Duration::from_secs(5), "still recovering");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(m.kafka_producer_recovering.get(), 0);
        });
    }

    #[test]
    fn records_waiting_without_a_delivery_count_as_a_stall() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let p = Producer::new("127.0.0.1:9", &[], 1 << 20).unwrap();
            let m = crate::metrics::Metrics::new();
            p.supervise(Supervision {
                stall: Duration::from_secs(1),
                ready: Readiness::new(false, true),
                recovering: m.kafka_producer_recovering.clone(),
                recreations: m.kafka_producer_recreations.clone(),
            })
            .unwrap();
            let waiting = p
                .inner()
                .send_result(FutureRecord::<[u8], [u8]>::to("t").payload(b"x"))
                .map_err(|(e, _)| e)
                .unwrap();
            let (e, _) = tokio::time::timeout(Duration::from_secs(10), waiting)
                .await
                .expect("purged within the stall time")
                .unwrap()
                .unwrap_err();
            assert!(purged(&e), "{e}");
            assert_eq!(
                m.kafka_producer_recreations
                    .with_label_values(&["stalled"])
                    .get(),
                1
            );
        });
    }
}
