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
//! that is not UTF-8), written in whole lines ([`super::stream`]).
//!
//! # Nothing is lost here
//!
//! A dead letter is the last place an event can go, so:
//!
//! - **It keeps the event.** A Kafka record over the producer's
//!   `message.max.bytes` (a consumed record's 2 MB header, say) is fitted
//!   ([`fit`]): the longest of the key, the consumed headers and the error
//!   message are cut to a common length, and a `TRUNCATED` header says
//!   what was cut. The body is cut only when it alone is over the limit,
//!   which `busbar validate` rules out for every event busbar accepts. A
//!   broker with a lower limit than the producer's that still refuses the
//!   record gets it fitted to the body plus 16 KiB of the rest.
//! - **It counts once written.** `busbar_dead_letters_total` counts a
//!   dead letter when the broker acknowledged it or its line is out whole.
//! - **It holds the event until then.** A write that fails is retried with
//!   backoff (100 ms doubling to 5 s) for as long as it takes. Meanwhile
//!   the event is not done (a Kafka source does not commit past it),
//!   `/readyz` answers 503, `busbar_dead_letter_blocked{dead_letter}` is 1,
//!   and the failure is logged once, then once a minute with a count.

use crate::throttle::{Say, Throttle};
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use prometheus::{IntCounter, IntCounterVec, IntGauge};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use tokio::sync::mpsc;

use super::stream::{LineWriter, Place};
use super::{Context, Producer};
use crate::admin::Readiness;
use crate::config::DeadLetterConfig;
use crate::handoff::EventRef;

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
                // Standard base64 with padding, for the rare input that is
                // not UTF-8.
                let b64 = base64::engine::general_purpose::STANDARD.encode(body);
                o.insert("input_base64".into(), serde_json::Value::String(b64));
            }
        }
        if serde_json::to_writer(&mut *out, &serde_json::Value::Object(o)).is_ok() {
            out.push(b'\n');
        }
    }
}

#[derive(Clone)]
pub struct DeadLetterSender {
    tx: mpsc::UnboundedSender<DeadLetter>,
}

impl DeadLetterSender {
    pub fn send(&self, dl: DeadLetter) {
        if let Err(mpsc::error::SendError(dl)) = self.tx.send(dl) {
            // The writer only ends when every sender is dropped: a bug.
            tracing::error!(code = %dl.code, "dead-letter task ended; event dropped");
            dl.event.done();
        }
    }
}

/// Hand `dl` to its destination, or, where none is configured, drop it:
/// counted in `dropped` and logged, and the event counted down.
pub fn hand_over(dest: Option<&DeadLetterSender>, dl: DeadLetter, dropped: &IntCounterVec) {
    match dest {
        // The writer counts it (`busbar_dead_letters_total`) once written.
        Some(d) => d.send(dl),
        None => {
            let stage = dl.stage.as_str();
            dropped
                .with_label_values(&[stage, &dl.rule, &dl.target, &dl.code])
                .inc();
            // Process-wide: a target that is down without a dead letter
            // drops every event, and one line per event buried the log.
            static DROPS: Throttle = Throttle::new(crate::throttle::DEFAULT_INTERVAL);
            match DROPS.occurred(std::time::Instant::now()) {
                Say::First => {
                    tracing::warn!(stage, rule = %dl.rule, target = %dl.target, code = %dl.code,
                    message = %dl.message, "no dead-letter destination configured; event dropped (counted in busbar_events_dropped_total)")
                }
                Say::Again { suppressed } => {
                    tracing::warn!(stage, rule = %dl.rule, target = %dl.target, code = %dl.code,
                    message = %dl.message, drops_not_logged = suppressed, "no dead-letter destination configured; events dropped")
                }
                Say::Quiet => {}
            }
            dl.event.done();
        }
    }
}

pub fn spawn(name: &str, d: &DeadLetterConfig, ctx: &Context) -> Result<DeadLetterSender, String> {
    let (tx, rx) = mpsc::unbounded_channel::<DeadLetter>();
    let ledger = Ledger {
        name: name.to_string(),
        written: ctx.metrics.dead_letters.clone(),
        failures: ctx.metrics.dead_letter_failures.with_label_values(&[name]),
        blocked: ctx.metrics.dead_letter_blocked.with_label_values(&[name]),
        ready: ctx.ready.clone(),
    };
    let place = match d {
        DeadLetterConfig::Kafka { topic } => {
            let producer = ctx
                .producer
                .clone()
                .ok_or_else(|| format!("dead_letters.{name}: no Kafka producer"))?;
            tokio::spawn(write_kafka(rx, producer, topic.clone(), ledger));
            return Ok(DeadLetterSender { tx });
        }
        DeadLetterConfig::Stdout => Place::Stdout,
        DeadLetterConfig::Stderr => Place::Stderr,
        DeadLetterConfig::File { path } => Place::File(path),
    };
    let out = ctx.sinks.writer(place).map_err(|e| match d {
        DeadLetterConfig::File { path } => {
            format!("dead_letters.{name}: cannot open `{}`: {e}", path.display())
        }
        _ => format!("dead_letters.{name}: {e}"),
    })?;
    std::thread::Builder::new()
        .name(format!("busbar-dlq-{name}"))
        .spawn(move || write_lines(rx, &out, &ledger))
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    Ok(DeadLetterSender { tx })
}

/// What every writer of one destination counts and reports.
struct Ledger {
    name: String,
    /// `busbar_dead_letters_total`: counted once written.
    written: IntCounterVec,
    failures: IntCounter,
    blocked: IntGauge,
    ready: Arc<Readiness>,
}

impl Ledger {
    fn written(&self, dl: &DeadLetter) {
        self.written
            .with_label_values(&[dl.stage.as_str(), &dl.rule, &dl.target, &dl.code])
            .inc();
    }
}

/// The first wait after a failed write; it doubles up to [`MAX_WAIT`].
const FIRST_WAIT: Duration = Duration::from_millis(100);
/// Short, because a dead letter that cannot be written holds its source
/// back: the write should go through soon after the cause is fixed.
const MAX_WAIT: Duration = Duration::from_secs(5);
/// A failing destination logs at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Held while a destination cannot write the dead letter at its head: not
/// ready, the gauge up, the failure logged once and then once a
/// [`LOG_EVERY`]. Dropped when the write goes through.
struct Stall<'a> {
    ledger: &'a Ledger,
    since: Instant,
    failures: u64,
    logged: Instant,
    logged_failures: u64,
    wait: Duration,
}

impl<'a> Stall<'a> {
    fn new(ledger: &'a Ledger) -> Self {
        ledger.blocked.inc();
        ledger
            .ready
            .dead_letters_blocked
            .fetch_add(1, Ordering::AcqRel);
        let now = Instant::now();
        Stall {
            ledger,
            since: now,
            failures: 0,
            logged: now,
            logged_failures: 0,
            wait: FIRST_WAIT,
        }
    }

    /// Count a failed write; how long to wait before the next.
    fn failed(&mut self, error: &dyn std::fmt::Display) -> Duration {
        self.failures += 1;
        self.ledger.failures.inc();
        if self.failures == 1 {
            tracing::error!(dead_letter = %self.ledger.name, error = %error,
                "cannot write a dead letter; holding the event and retrying (/readyz is 503 until it is written)");
            self.logged = Instant::now();
            self.logged_failures = 1;
        } else if self.logged.elapsed() >= LOG_EVERY {
            tracing::error!(dead_letter = %self.ledger.name, error = %error,
                failures = self.failures - self.logged_failures,
                failing_for_s = self.since.elapsed().as_secs(),
                "still cannot write a dead letter; retrying");
            self.logged = Instant::now();
            self.logged_failures = self.failures;
        }
        let wait = self.wait;
        self.wait = (self.wait * 2).min(MAX_WAIT);
        wait
    }
}

impl Drop for Stall<'_> {
    fn drop(&mut self) {
        self.ledger.blocked.dec();
        self.ledger
            .ready
            .dead_letters_blocked
            .fetch_sub(1, Ordering::AcqRel);
        tracing::info!(dead_letter = %self.ledger.name, failures = self.failures,
            after_ms = self.since.elapsed().as_millis() as u64, "dead letter written");
    }
}

/// Dead letters written together at most (lines), to keep a burst cheap.
const LINES_PER_WRITE: usize = 1024;

/// stdout, stderr and file destinations: the dead letters that are
/// waiting go out as one write of whole lines; each counts and is done
/// once its line is out.
fn write_lines(mut rx: mpsc::UnboundedReceiver<DeadLetter>, out: &LineWriter, ledger: &Ledger) {
    let mut batch = Vec::new();
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    while let Some(dl) = rx.blocking_recv() {
        batch.push(dl);
        while batch.len() < LINES_PER_WRITE {
            match rx.try_recv() {
                Ok(dl) => batch.push(dl),
                Err(_) => break,
            }
        }
        buf.clear();
        ends.clear();
        for dl in &batch {
            dl.to_json_line(&mut buf);
            ends.push(buf.len());
        }
        let mut written = 0;
        let mut done = 0;
        let mut stall = None;
        loop {
            let result = out.write(&buf[written..]);
            written += match &result {
                Ok(()) => buf.len() - written,
                Err(e) => e.written,
            };
            while done < batch.len() && ends[done] <= written {
                ledger.written(&batch[done]);
                batch[done].event.done();
                done += 1;
            }
            let Err(e) = result else { break };
            let wait = stall
                .get_or_insert_with(|| Stall::new(ledger))
                .failed(&e.error);
            std::thread::sleep(wait);
        }
        batch.clear();
        if buf.capacity() > 4 << 20 {
            buf = Vec::new();
        }
    }
}

/// Kafka destinations: one record at a time, in order, each fitted to the
/// producer's `message.max.bytes`.
async fn write_kafka(
    mut rx: mpsc::UnboundedReceiver<DeadLetter>,
    producer: Producer,
    topic: String,
    ledger: Ledger,
) {
    while let Some(dl) = rx.recv().await {
        let parts = Parts::of(&dl);
        let mut limit = producer.message_max_bytes();
        let mut stall = None;
        loop {
            let fitted = parts.fit(limit);
            let sent = producer
                .send(fitted.record(&topic), Duration::from_secs(30))
                .await;
            let error = match sent {
                Ok(_) => break,
                Err((e, _)) => e,
            };
            let wait = stall
                .get_or_insert_with(|| Stall::new(&ledger))
                .failed(&error);
            // A broker whose own limit is below the producer's: fit the
            // record to the body and a little more, at once.
            let minimal = parts.minimal_limit().min(limit);
            if too_large(&error) && minimal < limit {
                limit = minimal;
                continue;
            }
            tokio::time::sleep(wait).await;
        }
        drop(stall);
        ledger.written(&dl);
        dl.event.done();
    }
}

fn too_large(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(RDKafkaErrorCode::MessageSizeTooLarge)
            | Some(RDKafkaErrorCode::InvalidMessageSize)
            | Some(RDKafkaErrorCode::MessageBatchTooLarge)
    )
}

/// librdkafka counts at most 36 bytes of framing per record (v2) beside
/// the key, value and headers; this leaves a margin.
const RECORD_OVERHEAD: usize = 64;
/// Per header: the varint lengths of its name and value.
const HEADER_OVERHEAD: usize = 10;
/// The longest `TRUNCATED` note.
const NOTE_BYTES: usize = 512;
const NOTE_NAME: &str = "TRUNCATED";
/// What a record refused by the broker keeps beside its body and busbar's
/// own short headers.
const MINIMAL_EXTRAS: usize = 16 << 10;

/// One header of a Kafka dead letter.
struct Part<'a> {
    name: Cow<'a, str>,
    value: Option<Cow<'a, [u8]>>,
    kind: PartKind,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PartKind {
    /// The consumed record's: may be cut, or dropped when too many.
    Consumed,
    /// busbar's reason, short and never cut.
    Reason,
    /// busbar's reason that may be long (`ERROR_MESSAGE`): may be cut.
    LongReason,
}

/// A Kafka dead letter before it is fitted to a size limit.
struct Parts<'a> {
    key: Option<&'a [u8]>,
    headers: Vec<Part<'a>>,
    body: &'a [u8],
}

/// A Kafka dead letter that fits: prefixes of the parts, and the note of
/// what was cut.
struct Fitted<'a> {
    key: Option<&'a [u8]>,
    headers: Vec<(&'a str, Option<&'a [u8]>)>,
    body: &'a [u8],
    note: Option<String>,
}

impl<'a> Parts<'a> {
    fn of(dl: &'a DeadLetter) -> Parts<'a> {
        let mut headers: Vec<Part<'a>> = dl
            .event
            .routed
            .kafka_headers(dl.event.index as usize)
            .map(|(name, value)| Part {
                name: String::from_utf8_lossy(name),
                value: value.map(Cow::Borrowed),
                kind: PartKind::Consumed,
            })
            .collect();
        let mut add = |name: &'static str, value: Cow<'a, [u8]>, kind| {
            headers.push(Part {
                name: Cow::Borrowed(name),
                value: Some(value),
                kind,
            })
        };
        let b = |s: &'a str| Cow::Borrowed(s.as_bytes());
        add("STAGE", b(dl.stage.as_str()), PartKind::Reason);
        add("ERROR_CODE", b(&dl.code), PartKind::Reason);
        add("ERROR_MESSAGE", b(&dl.message), PartKind::LongReason);
        match dl.stage {
            Stage::Target => {
                add("RULE_ARN", b(&dl.rule_arn), PartKind::Reason);
                add("RULE_NAME", b(&dl.rule), PartKind::Reason);
                add("TARGET_ID", b(&dl.target), PartKind::Reason);
                // EventBridge's RETRY_ATTEMPTS counts retries, not the first try.
                let retries = dl.attempts.saturating_sub(1).to_string().into_bytes();
                add("RETRY_ATTEMPTS", Cow::Owned(retries), PartKind::Reason);
                add("EVENT_ID", Cow::Borrowed(dl.event.id()), PartKind::Reason);
                if let Some(x) = dl.exhausted {
                    add("EXHAUSTED_RETRY_CONDITION", b(x), PartKind::Reason);
                }
            }
            Stage::Source => add("SOURCE", b(&dl.target), PartKind::Reason),
        }
        Parts {
            key: dl.event.routed.kafka_key(dl.event.index as usize),
            headers,
            body: dl.body(),
        }
    }

    /// The record's size with every cuttable part cut to `cap` bytes,
    /// consumed headers kept or not, and a body of `body` bytes.
    fn size(&self, cap: usize, consumed: bool, body: usize) -> usize {
        let mut n = RECORD_OVERHEAD + body + self.key.map_or(0, |k| k.len().min(cap));
        for h in &self.headers {
            let value = h.value.as_ref().map_or(0, |v| v.len());
            n += HEADER_OVERHEAD
                + match h.kind {
                    PartKind::Consumed if !consumed => continue,
                    PartKind::Reason => h.name.len() + value,
                    PartKind::LongReason => h.name.len() + value.min(cap),
                    PartKind::Consumed => h.name.len().min(cap) + value.min(cap),
                };
        }
        n
    }

    /// The limit a record is fitted to after the broker refused it as too
    /// large: the body, busbar's short headers and [`MINIMAL_EXTRAS`].
    fn minimal_limit(&self) -> usize {
        self.size(0, false, self.body.len()) + NOTE_BYTES + MINIMAL_EXTRAS
    }

    /// The record cut to `limit` bytes as librdkafka counts them: the
    /// longest of the key, the consumed headers and the error message are
    /// cut to one common length, as long as it can be; consumed headers
    /// are dropped only when their names alone do not fit, and the body
    /// is cut only when it does not fit by itself.
    fn fit(&self, limit: usize) -> Fitted<'_> {
        let longest = self
            .headers
            .iter()
            .flat_map(|h| [h.name.len(), h.value.as_ref().map_or(0, |v| v.len())])
            .chain(self.key.map(<[u8]>::len))
            .max()
            .unwrap_or(0);
        if self.size(longest, true, self.body.len()) <= limit {
            return self.cut(longest, true, self.body.len(), None);
        }
        let room = limit.saturating_sub(NOTE_BYTES + NOTE_NAME.len() + HEADER_OVERHEAD);
        let body = self.body.len();
        let (consumed, body) = if self.size(0, true, body) <= room {
            (true, body)
        } else if self.size(0, false, body) <= room {
            (false, body)
        } else {
            (false, room.saturating_sub(self.size(0, false, 0)))
        };
        // The largest common length that fits (`size` grows with it).
        let (mut lo, mut hi) = (0, longest);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.size(mid, consumed, body) <= room {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let mut note = format!("record over message.max.bytes ({limit}):");
        let mut said = |what: String| {
            if note.len() < NOTE_BYTES {
                note.push(' ');
                note.push_str(&what);
                note.push(';');
            }
        };
        if body < self.body.len() {
            said(format!("body cut from {} to {body} bytes", self.body.len()));
        }
        if let Some(k) = self.key.filter(|k| k.len() > lo) {
            said(format!("key cut from {} to {lo} bytes", k.len()));
        }
        let dropped = self
            .headers
            .iter()
            .filter(|h| h.kind == PartKind::Consumed)
            .count();
        if !consumed && dropped > 0 {
            said(format!("{dropped} consumed headers dropped"));
        }
        for h in &self.headers {
            if h.kind == PartKind::Reason || (h.kind == PartKind::Consumed && !consumed) {
                continue;
            }
            let name = cut_str(&h.name, 64);
            if h.kind == PartKind::Consumed && h.name.len() > lo {
                said(format!(
                    "header name `{name}` cut from {} to {lo} bytes",
                    h.name.len()
                ));
            }
            if let Some(v) = h.value.as_ref().filter(|v| v.len() > lo) {
                said(format!(
                    "header `{name}` cut from {} to {lo} bytes",
                    v.len()
                ));
            }
        }
        note.pop();
        let note = cut_str(&note, NOTE_BYTES).to_string();
        self.cut(lo, consumed, body, Some(note))
    }

    fn cut(&self, cap: usize, consumed: bool, body: usize, note: Option<String>) -> Fitted<'_> {
        let headers = self
            .headers
            .iter()
            .filter(|h| consumed || h.kind != PartKind::Consumed)
            .map(|h| {
                let (name, value) = match h.kind {
                    PartKind::Reason => (&h.name[..], h.value.as_deref()),
                    PartKind::LongReason => {
                        (&h.name[..], h.value.as_deref().map(|v| cut_bytes(v, cap)))
                    }
                    PartKind::Consumed => (
                        cut_str(&h.name, cap),
                        h.value.as_deref().map(|v| &v[..v.len().min(cap)]),
                    ),
                };
                (name, value)
            })
            .collect();
        Fitted {
            key: self.key.map(|k| &k[..k.len().min(cap)]),
            headers,
            body: &self.body[..body],
            note,
        }
    }
}

/// `v` cut to at most `n` bytes; UTF-8 text stays UTF-8.
fn cut_bytes(v: &[u8], n: usize) -> &[u8] {
    match std::str::from_utf8(v) {
        Ok(s) => cut_str(s, n).as_bytes(),
        Err(_) => &v[..v.len().min(n)],
    }
}

/// `s` cut to at most `n` bytes, at a character boundary.
fn cut_str(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Fitted<'_> {
    fn record<'b>(&'b self, topic: &'b str) -> FutureRecord<'b, [u8], [u8]> {
        let mut h = OwnedHeaders::new_with_capacity(self.headers.len() + 1);
        for &(key, value) in &self.headers {
            h = h.insert(Header { key, value });
        }
        if let Some(note) = &self.note {
            h = h.insert(Header {
                key: NOTE_NAME,
                value: Some(note.as_bytes()),
            });
        }
        let mut r = FutureRecord::to(topic).payload(self.body).headers(h);
        if let Some(k) = self.key {
            r = r.key(k);
        }
        r
    }

    /// The size librdkafka checks against `message.max.bytes` (tests).
    #[cfg(test)]
    fn wire_size(&self) -> usize {
        36 + self.key.map_or(0, <[u8]>::len)
            + self.body.len()
            + self
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.map_or(0, <[u8]>::len) + 10)
                .sum::<usize>()
            + self
                .note
                .as_ref()
                .map_or(0, |n| NOTE_NAME.len() + n.len() + 10)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part<'a>(name: &'a str, value: &'a [u8], kind: PartKind) -> Part<'a> {
        Part {
            name: Cow::Borrowed(name),
            value: Some(Cow::Borrowed(value)),
            kind,
        }
    }

    /// A stage-target dead letter of a consumed record: its headers, then
    /// busbar's.
    fn parts<'a>(key: &'a [u8], consumed: Vec<Part<'a>>, body: &'a [u8]) -> Parts<'a> {
        let mut headers = consumed;
        headers.push(part("STAGE", b"target", PartKind::Reason));
        headers.push(part("ERROR_CODE", b"SDK_CLIENT_ERROR", PartKind::Reason));
        headers.push(part(
            "ERROR_MESSAGE",
            b"Message size too large",
            PartKind::LongReason,
        ));
        headers.push(part("EVENT_ID", b"ev-1", PartKind::Reason));
        Parts {
            key: Some(key),
            headers,
            body,
        }
    }

    fn header<'a>(f: &'a Fitted<'_>, name: &str) -> Option<&'a [u8]> {
        f.headers
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| *v)
    }

    const LIMIT: usize = (1 << 20) + (68 << 10);

    #[test]
    fn a_record_that_fits_is_left_alone() {
        let body = vec![b'x'; 1 << 20];
        let p = parts(b"k", vec![part("trace", b"abc", PartKind::Consumed)], &body);
        let f = p.fit(LIMIT);
        assert!(f.note.is_none());
        assert_eq!(f.body.len(), body.len());
        assert_eq!(header(&f, "trace"), Some(&b"abc"[..]));
        assert_eq!(f.headers.len(), 5);
    }

    #[test]
    fn an_oversized_header_is_cut_and_the_body_kept() {
        let big = vec![b'h'; 2_000_000];
        let body = br#"{"id":"ev-1","detail":{}}"#;
        let p = parts(
            b"key",
            vec![
                part("trace", b"abc", PartKind::Consumed),
                part("x-big", &big, PartKind::Consumed),
            ],
            body,
        );
        let f = p.fit(LIMIT);
        assert!(f.wire_size() <= LIMIT, "{} > {LIMIT}", f.wire_size());
        assert_eq!(f.body, body);
        let cut = header(&f, "x-big").unwrap();
        assert!(
            cut.len() > LIMIT - 4096 && cut.len() < big.len(),
            "{}",
            cut.len()
        );
        // Short parts keep their full length.
        assert_eq!(header(&f, "trace"), Some(&b"abc"[..]));
        assert_eq!(f.key, Some(&b"key"[..]));
        assert_eq!(header(&f, "ERROR_CODE"), Some(&b"SDK_CLIENT_ERROR"[..]));
        let note = f.note.as_deref().unwrap();
        assert!(
            note.contains(&format!("header `x-big` cut from 2000000 to {}", cut.len())),
            "{note}"
        );
        assert!(note.contains(&format!("({LIMIT})")), "{note}");
    }

    #[test]
    fn an_oversized_key_and_error_message_are_cut_to_one_length() {
        let key = vec![b'k'; 3_000_000];
        let message = "é".repeat(1_000_000);
        let body = vec![b'b'; 500_000];
        let mut p = parts(&key, Vec::new(), &body);
        for h in &mut p.headers {
            if h.name == "ERROR_MESSAGE" {
                h.value = Some(Cow::Borrowed(message.as_bytes()));
            }
        }
        let f = p.fit(LIMIT);
        assert!(f.wire_size() <= LIMIT);
        assert_eq!(f.body.len(), body.len());
        let m = header(&f, "ERROR_MESSAGE").unwrap();
        assert!(std::str::from_utf8(m).is_ok(), "cut inside a character");
        let k = f.key.unwrap().len();
        assert!(k.abs_diff(m.len()) <= 1, "{k} vs {}", m.len());
        assert!(f.note.as_deref().unwrap().contains("key cut from 3000000"));
    }

    #[test]
    fn too_many_consumed_headers_are_dropped_not_the_body() {
        let names: Vec<String> = (0..200_000).map(|i| format!("h{i}")).collect();
        let consumed = names
            .iter()
            .map(|n| part(n, b"v", PartKind::Consumed))
            .collect();
        let body = vec![b'b'; 1 << 20];
        let p = parts(b"k", consumed, &body);
        let f = p.fit(LIMIT);
        assert!(f.wire_size() <= LIMIT);
        assert_eq!(f.body.len(), body.len());
        assert_eq!(f.headers.len(), 4, "only busbar's headers stay");
        assert!(f
            .note
            .as_deref()
            .unwrap()
            .contains("200000 consumed headers dropped"));
    }

    #[test]
    fn a_body_over_the_limit_by_itself_is_cut() {
        let body = vec![b'b'; 3 << 20];
        let p = parts(b"k", vec![], &body);
        let f = p.fit(LIMIT);
        assert!(f.wire_size() <= LIMIT);
        assert!(f.body.len() > LIMIT - 4096);
        assert!(f.note.as_deref().unwrap().contains(&format!(
            "body cut from {} to {}",
            3 << 20,
            f.body.len()
        )));
    }

    #[test]
    fn the_minimal_fit_keeps_the_body_and_little_else() {
        let big = vec![b'h'; 2_000_000];
        let body = vec![b'b'; 100_000];
        let p = parts(b"k", vec![part("x-big", &big, PartKind::Consumed)], &body);
        let minimal = p.minimal_limit();
        assert!(minimal < body.len() + MINIMAL_EXTRAS + 1024, "{minimal}");
        let f = p.fit(minimal);
        assert!(f.wire_size() <= minimal);
        assert_eq!(f.body.len(), body.len());
        assert!(header(&f, "x-big").unwrap().len() >= MINIMAL_EXTRAS / 2);
    }
}
