//! Dead-letter destinations: where events go that could not be delivered
//! (stage `target`) or were not valid events at all (stage `source`).
//!
//! A Kafka destination gets the original bytes (the envelope, or the raw
//! input for stage `source`) with the reason as headers named as
//! EventBridge names its DLQ message attributes (`RULE_ARN`, `ERROR_CODE`,
//! `ERROR_MESSAGE`, `EXHAUSTED_RETRY_CONDITION`, `RETRY_ATTEMPTS`, plus
//! `RULE_NAME`, `TARGET_ID`, `EVENT_ID`, `STAGE`). Other destinations get
//! one JSON object per line with the same fields in snake case and the
//! event (`event` as JSON, or `input` as text / `input_base64` for input
//! that is not UTF-8).
//!
//! Writing a dead letter is retried until it succeeds: it is the last
//! place an event can go, and the source does not move past it meanwhile.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tokio::sync::mpsc;

use super::Context;
use crate::config::DeadLetterConfig;
use crate::pipeline::EventRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Input that is not a valid event.
    Source,
    /// An event a target gave up on.
    Target,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Source => "source",
            Stage::Target => "target",
        }
    }
}

/// One dead letter.
pub struct DeadLetter {
    pub event: EventRef,
    pub stage: Stage,
    /// Empty for stage `source`.
    pub rule: Arc<str>,
    pub rule_arn: Arc<str>,
    /// The target id, or for stage `source` the source id.
    pub target: Arc<str>,
    pub code: String,
    pub message: String,
    pub exhausted: Option<&'static str>,
    pub attempts: u32,
}

impl DeadLetter {
    /// The bytes the dead letter carries: the envelope, or the raw input.
    fn body(&self) -> &[u8] {
        match self.stage {
            Stage::Target => self.event.envelope(),
            Stage::Source => self.event.raw(),
        }
    }

    /// The JSON line written to non-Kafka destinations.
    pub fn to_json_line(&self, out: &mut Vec<u8>) {
        let mut o = serde_json::Map::new();
        let s = |v: &str| serde_json::Value::String(v.to_string());
        o.insert("stage".into(), s(self.stage.as_str()));
        match self.stage {
            Stage::Target => {
                o.insert("rule".into(), s(&self.rule));
                o.insert("rule_arn".into(), s(&self.rule_arn));
                o.insert("target".into(), s(&self.target));
            }
            Stage::Source => {
                o.insert("source".into(), s(&self.target));
            }
        }
        o.insert("error_code".into(), s(&self.code));
        o.insert("error_message".into(), s(&self.message));
        if let Some(x) = self.exhausted {
            o.insert("exhausted_retry_condition".into(), s(x));
        }
        if self.stage == Stage::Target {
            // EventBridge's RETRY_ATTEMPTS counts retries, not the first try.
            o.insert(
                "retry_attempts".into(),
                self.attempts.saturating_sub(1).into(),
            );
            o.insert(
                "event_id".into(),
                s(&String::from_utf8_lossy(self.event.id())),
            );
        }
        let body = self.body();
        let event = match self.stage {
            Stage::Target => serde_json::from_slice::<serde_json::Value>(body).ok(),
            Stage::Source => None,
        };
        match (event, std::str::from_utf8(body)) {
            (Some(v), _) => {
                o.insert("event".into(), v);
            }
            (None, Ok(text)) => {
                o.insert("input".into(), s(text));
            }
            (None, Err(_)) => {
                o.insert("input_base64".into(), s(&base64(body)));
            }
        }
        if serde_json::to_writer(&mut *out, &serde_json::Value::Object(o)).is_ok() {
            out.push(b'\n');
        }
    }
}

/// Standard base64 with padding (for the rare input that is not UTF-8).
fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= c.len() {
                s.push(T[((n >> shift) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[derive(Clone)]
pub struct DeadLetterSender {
    tx: mpsc::UnboundedSender<DeadLetter>,
    /// `busbar_dead_letters_total`, counted here because every dead letter
    /// passes through here: the targets' give-ups and the pipeline's own
    /// (input that is not an event, input a target could not be shaped for).
    counted: IntCounterVec,
}

impl DeadLetterSender {
    pub fn send(&self, dl: DeadLetter) {
        self.counted
            .with_label_values(&[dl.stage.as_str(), &dl.rule, &dl.target, &dl.code])
            .inc();
        if let Err(mpsc::error::SendError(dl)) = self.tx.send(dl) {
            tracing::error!(code = %dl.code, "dead-letter task ended; event dropped");
            dl.event.done();
        }
    }
}

/// Hand `dl` to its destination, or, where none is configured, drop it:
/// counted in `dropped` and logged, and the event counted down.
pub fn hand_over(dest: Option<&DeadLetterSender>, dl: DeadLetter, dropped: &IntCounterVec) {
    match dest {
        // The sender counts it (`busbar_dead_letters_total`).
        Some(d) => d.send(dl),
        None => {
            let stage = dl.stage.as_str();
            dropped
                .with_label_values(&[stage, &dl.rule, &dl.target, &dl.code])
                .inc();
            tracing::warn!(stage, rule = %dl.rule, target = %dl.target, code = %dl.code,
                message = %dl.message, "no dead-letter destination configured; event dropped");
            dl.event.done();
        }
    }
}

pub fn spawn(name: &str, d: &DeadLetterConfig, ctx: &Context) -> Result<DeadLetterSender, String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<DeadLetter>();
    let failures = ctx.metrics.dead_letter_failures.with_label_values(&[name]);
    let name = name.to_string();
    match d {
        DeadLetterConfig::Kafka { topic } => {
            let producer = ctx
                .producer
                .clone()
                .ok_or_else(|| format!("dead_letters.{name}: no Kafka producer"))?;
            let topic = topic.clone();
            tokio::spawn(async move {
                while let Some(dl) = rx.recv().await {
                    let mut wait = Duration::from_millis(100);
                    let mut with_body = true;
                    loop {
                        let r = producer
                            .send(
                                kafka_record(&topic, &dl, with_body),
                                Duration::from_secs(30),
                            )
                            .await;
                        let e = match r {
                            Ok(_) => break,
                            Err((e, _)) => e,
                        };
                        failures.inc();
                        if super::kafka::error_code(&e).retryable() {
                            tracing::warn!(dead_letter = %name, error = %e, "writing a dead letter failed; retrying");
                            tokio::time::sleep(wait).await;
                            wait = (wait * 2).min(Duration::from_secs(30));
                        } else if with_body {
                            // The record itself is refused (too large, for
                            // one): keep the reason, say the body is gone.
                            tracing::error!(dead_letter = %name, error = %e, "dead letter refused; writing it without its body");
                            with_body = false;
                        } else {
                            tracing::error!(dead_letter = %name, error = %e, code = %dl.code, "dead letter refused even without its body; dropped");
                            break;
                        }
                    }
                    dl.event.done();
                }
            });
        }
        other => {
            let mut sink: Box<dyn Write + Send> = match other {
                DeadLetterConfig::Stdout => Box::new(std::io::stdout()),
                DeadLetterConfig::Stderr => Box::new(std::io::stderr()),
                DeadLetterConfig::File { path } => Box::new(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .map_err(|e| {
                            format!("dead_letters.{name}: cannot open `{}`: {e}", path.display())
                        })?,
                ),
                DeadLetterConfig::Kafka { .. } => unreachable!("handled above"),
            };
            std::thread::Builder::new()
                .name(format!("busbar-dlq-{name}"))
                .spawn(move || write_loop(&mut rx, &mut *sink, &failures, &name))
                .map_err(|e| format!("cannot start a thread: {e}"))?;
        }
    }
    Ok(DeadLetterSender {
        tx,
        counted: ctx.metrics.dead_letters.clone(),
    })
}

fn write_loop(
    rx: &mut mpsc::UnboundedReceiver<DeadLetter>,
    sink: &mut dyn Write,
    failures: &IntCounter,
    name: &str,
) {
    let mut buf = Vec::new();
    while let Some(dl) = rx.blocking_recv() {
        buf.clear();
        dl.to_json_line(&mut buf);
        let mut wait = Duration::from_millis(100);
        while let Err(e) = sink.write_all(&buf).and_then(|_| sink.flush()) {
            failures.inc();
            tracing::warn!(dead_letter = %name, error = %e, "writing a dead letter failed; retrying");
            std::thread::sleep(wait);
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        dl.event.done();
    }
}

fn kafka_record<'a>(
    topic: &'a str,
    dl: &'a DeadLetter,
    with_body: bool,
) -> FutureRecord<'a, [u8], [u8]> {
    // EventBridge's RETRY_ATTEMPTS counts retries, not the first try.
    let attempts = dl.attempts.saturating_sub(1).to_string();
    let mut h = OwnedHeaders::new();
    for (name, value) in dl.event.routed.kafka_headers(dl.event.index as usize) {
        h = h.insert(Header {
            key: &String::from_utf8_lossy(name),
            value,
        });
    }
    let mut add = |k: &str, v: &[u8]| {
        h = std::mem::replace(&mut h, OwnedHeaders::new()).insert(Header {
            key: k,
            value: Some(v),
        });
    };
    add("STAGE", dl.stage.as_str().as_bytes());
    add("ERROR_CODE", dl.code.as_bytes());
    add("ERROR_MESSAGE", dl.message.as_bytes());
    match dl.stage {
        Stage::Target => {
            add("RULE_ARN", dl.rule_arn.as_bytes());
            add("RULE_NAME", dl.rule.as_bytes());
            add("TARGET_ID", dl.target.as_bytes());
            add("RETRY_ATTEMPTS", attempts.as_bytes());
            add("EVENT_ID", dl.event.id());
            if let Some(x) = dl.exhausted {
                add("EXHAUSTED_RETRY_CONDITION", x.as_bytes());
            }
        }
        Stage::Source => add("SOURCE", dl.target.as_bytes()),
    }
    if !with_body {
        add(
            "BODY_DROPPED",
            b"the broker refused the record with its body",
        );
    }
    let body: &[u8] = if with_body { dl.body() } else { b"" };
    let mut r = FutureRecord::to(topic).payload(body).headers(h);
    if let Some(k) = dl.event.routed.kafka_key(dl.event.index as usize) {
        r = r.key(k);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }
}
