//! `kafka` targets: one topic per target, on one idempotent producer shared
//! by every Kafka target and dead-letter destination of the process.
//!
//! A delivery counts as done only when the broker has acknowledged it
//! (librdkafka's delivery report), which is what lets the source commit
//! past it. Records keep the consumed record's headers and add
//! `busbar-rule` and `busbar-event-id`. A full local producer queue waits
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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use prometheus::Histogram;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use tokio::sync::mpsc;

use super::retry::DeliveryErrorCode;
use super::{with_retry, AttemptError, Delivery, TargetBatch, TargetInfo};

/// The process's producer.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<FutureProducer>,
    message_max_bytes: usize,
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
        let p: FutureProducer = c.create().map_err(|e| format!("kafka producer: {e}"))?;
        Ok(Producer {
            inner: Arc::new(p),
            message_max_bytes,
        })
    }

    /// The largest record the producer sends (`message.max.bytes`), as
    /// librdkafka counts it: key, value, headers and 36 bytes of framing.
    pub fn message_max_bytes(&self) -> usize {
        self.message_max_bytes
    }

    pub fn inner(&self) -> &FutureProducer {
        &self.inner
    }

    /// Wait for every outstanding record (shutdown).
    pub fn flush(&self, timeout: Duration) -> Result<(), String> {
        self.inner.flush(timeout).map_err(|e| e.to_string())
    }

    /// Whether the producer has reached a broker (readiness).
    pub fn connected(&self) -> bool {
        self.inner
            .client()
            .fetch_metadata(None, Duration::from_secs(2))
            .is_ok()
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

fn record<'a>(
    topic: &'a str,
    tb: &'a TargetBatch,
    d: &Delivery,
    rule: &str,
) -> FutureRecord<'a, [u8], [u8]> {
    let i = d.index as usize;
    let mut headers = OwnedHeaders::new();
    for (name, value) in tb.routed.kafka_headers(i) {
        headers = headers.insert(Header {
            key: &String::from_utf8_lossy(name),
            value,
        });
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
    let mut r = FutureRecord::to(topic)
        .payload(tb.payload(d))
        .headers(headers);
    if let Some(k) = tb.key(d) {
        r = r.key(k);
    }
    r
}

pub fn spawn(
    topic: String,
    producer: Producer,
    mut rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) {
    tokio::spawn(async move {
        while let Some(tb) = rx.recv().await {
            let tb = Arc::new(tb);
            let mut pending = Vec::with_capacity(tb.items.len());
            for (n, d) in tb.items.iter().enumerate() {
                let mut rec = record(&topic, &tb, d, &info.rule);
                loop {
                    if info.abort.is_set() {
                        // Shutdown's grace period is over: with_retry below
                        // hands it on with SHUTDOWN.
                        pending.push((n, Err(KafkaError::Canceled)));
                        break;
                    }
                    match producer.inner.send_result(rec) {
                        Ok(f) => {
                            pending.push((n, Ok(f)));
                            break;
                        }
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            // The local queue is full: wait for the broker.
                            rec = r;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err((e, _)) => {
                            pending.push((n, Err(e)));
                            break;
                        }
                    }
                }
            }
            // Await the broker's acknowledgements off the intake loop, so
            // the next batch is produced while these are in flight.
            let tb2 = tb.clone();
            let info2 = info.clone();
            let producer2 = producer.clone();
            let topic2 = topic.clone();
            let latency2 = latency.clone();
            tokio::spawn(async move {
                for (n, f) in pending {
                    let d = &tb2.items[n];
                    let first = match f {
                        // A record the broker has not acknowledged when the
                        // grace period ends is handed on with SHUTDOWN (the
                        // final flush may still write it: at least once).
                        Ok(f) => tokio::select! {
                            r = f => match r {
                                Ok(Ok(_)) => Ok(()),
                                Ok(Err((e, _))) => Err(e),
                                Err(_) => Err(KafkaError::Canceled),
                            },
                            _ = info2.abort.wait() => Err(KafkaError::Canceled),
                        },
                        Err(e) => Err(e),
                    };
                    let result = match first {
                        Ok(()) => Ok(()),
                        Err(e) => {
                            let mut first_error = Some(e);
                            with_retry(&info2, tb2.routed.batch.accepted_at, || {
                                let e = first_error.take();
                                let tb = tb2.clone();
                                let producer = producer2.clone();
                                let topic = topic2.clone();
                                let rule = info2.rule.clone();
                                async move {
                                    if let Some(e) = e {
                                        return Err(attempt_error(e));
                                    }
                                    let d = &tb.items[n];
                                    producer
                                        .inner
                                        .send(
                                            record(&topic, &tb, d, &rule),
                                            Duration::from_secs(30),
                                        )
                                        .await
                                        .map(|_| ())
                                        .map_err(|(e, _)| attempt_error(e))
                                }
                            })
                            .await
                            .map(|_| ())
                        }
                    };
                    match result {
                        Ok(()) => {
                            latency2.observe(tb2.routed.batch.accepted_at.elapsed().as_secs_f64());
                            info2.deliveries.inc();
                            tb2.event(d).done();
                        }
                        Err(f) => info2.give_up(tb2.event(d), f),
                    }
                }
            });
        }
    });
}

fn attempt_error(e: KafkaError) -> AttemptError {
    AttemptError {
        code: error_code(&e),
        message: e.to_string(),
        retry_after: None,
    }
}
