//! The pipeline between sources and targets: workers that normalise,
//! match and shape each batch, and a dispatcher that hands the results to
//! the targets in lane order.
//!
//! ```text
//! sources ──Batch──▶ workers (N threads: normalise, match, shape)
//!                        │ Routed + per-target batches, out of order
//!                        ▼
//!                    dispatcher (restores each lane's order) ──▶ target tasks
//! ```
//!
//! A lane is an ordering domain (one Kafka partition, stdin, one HTTP
//! connection's requests): batches of a lane are numbered by the source and
//! released to the targets in that order, so each target sees a partition's
//! events in order while matching runs on every core.
//!
//! The rule set ([`Routes`]) is immutable and swapped whole on reload;
//! each batch is routed with the `Routes` it started on, so in-flight events
//! finish on the rules they started with.

mod plan;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use tokio::sync::mpsc;

pub use crate::handoff::{
    AckAt, Batch, EnvelopeMeta, EventRef, KafkaOrigin, Ledger, LedgerCounts, RawEvent, Routed,
    SourceAck, Tally,
};
pub use plan::{Plan, RouteRule, Routes, SourceSlot, TargetSlot};

use crate::engine::Cache;
use crate::envelope::{self, RawDefaults};
use crate::targets::{DeadLetter, Delivery, Stage, TargetBatch};

/// What a worker hands the dispatcher for one batch.
pub struct RoutedBatch {
    pub lane: u64,
    pub seq: u64,
    pub routes: Arc<Routes>,
    pub targets: Vec<(usize, TargetBatch)>,
    pub dead_letters: Vec<(usize, DeadLetter)>,
    /// Copies of matched envelopes for `busbar tap`, by rule index: empty
    /// (no allocation) unless a rule of the batch is watched.
    pub tapped: Vec<(usize, bytes::Bytes)>,
}

/// The running rule set, swapped whole on reload.
pub type SharedRoutes = Arc<RwLock<Arc<Routes>>>;

/// Start `n` worker threads that take batches from `rx` until every sender
/// is dropped, and the dispatcher task; returns the dispatcher's handle,
/// which finishes once every routed batch has been handed to its targets.
/// Fails (rather than panics) when the system refuses a thread, as a
/// process or container thread limit does.
pub fn start(
    n: usize,
    rx: mpsc::Receiver<Batch>,
    routes: SharedRoutes,
    taps: Arc<crate::tap::Taps>,
) -> Result<
    (
        Vec<std::thread::JoinHandle<()>>,
        tokio::task::JoinHandle<()>,
    ),
    String,
> {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let rx = Arc::new(Mutex::new(rx));
    let workers = (0..n.max(1))
        .map(|i| {
            let rx = rx.clone();
            let routes = routes.clone();
            let out = out_tx.clone();
            let taps = taps.clone();
            std::thread::Builder::new()
                .name(format!("busbar-worker-{i}"))
                // Matching recurses with the event's nesting.
                .stack_size(crate::flatten::SCAN_STACK_BYTES)
                .spawn(move || worker(rx, routes, out, &taps))
                .map_err(|e| {
                    format!(
                        "cannot start worker thread {} of {n} (setting workers): {e}",
                        i + 1
                    )
                })
        })
        .collect::<Result<Vec<_>, String>>()?;
    drop(out_tx);
    let dispatcher = tokio::spawn(dispatch(out_rx, taps));
    Ok((workers, dispatcher))
}

fn worker(
    rx: Arc<Mutex<mpsc::Receiver<Batch>>>,
    routes: SharedRoutes,
    out: mpsc::UnboundedSender<RoutedBatch>,
    taps: &crate::tap::Taps,
) {
    let mut scratch = Scratch::default();
    loop {
        let batch = {
            let mut guard = match rx.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            match guard.blocking_recv() {
                Some(b) => b,
                None => return,
            }
        };
        let current = match routes.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let (lane, seq) = (batch.lane, batch.seq);
        let keep = current.clone();
        let routed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            route(batch, current, &mut scratch, taps)
        }))
        .unwrap_or_else(|_| {
            // A bug, not bad input (that is dead-lettered). Keep the lane
            // moving: the batch's events are not acknowledged, so a Kafka
            // source does not commit past them and they come again after a
            // restart.
            tracing::error!(
                lane,
                seq,
                "routing a batch panicked; its events are not acknowledged"
            );
            scratch = Scratch::default();
            RoutedBatch {
                lane,
                seq,
                routes: keep,
                targets: Vec::new(),
                dead_letters: Vec::new(),
                tapped: Vec::new(),
            }
        });
        if out.send(routed).is_err() {
            return;
        }
    }
}

/// Per-worker reusable state: the matcher's cache (tied to one automaton)
/// and buffers.
#[derive(Default)]
struct Scratch {
    /// The automaton cache, with the [`Routes::generation`] it was built for.
    cache: Option<(u64, Cache)>,
    envelope: Vec<u8>,
    render: Vec<u8>,
    matches: Vec<crate::engine::RuleId>,
    /// Envelope buffers of this worker's routed batches, back once the
    /// batches are delivered.
    pool: Arc<crate::handoff::BufPool>,
}

/// Normalise, match and shape one batch.
fn route(
    batch: Batch,
    routes: Arc<Routes>,
    s: &mut Scratch,
    taps: &crate::tap::Taps,
) -> RoutedBatch {
    // Once per batch: with no `busbar tap` attached, taps cost nothing more.
    let watched = if taps.any() {
        taps.watched(routes.rules.iter().map(|r| &*r.name))
    } else {
        Vec::new()
    };
    let mut tapped = Vec::new();
    let key = routes.generation;
    let cache = match &mut s.cache {
        Some((k, c)) if *k == key => c,
        slot => &mut slot.insert((key, routes.automaton.cache())).1,
    };
    let source = &routes.sources[batch.source];
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut ingestion_time = Vec::with_capacity(20);
    envelope::write_rfc3339(now, &mut ingestion_time);
    let ingestion_time = String::from_utf8_lossy(&ingestion_time).into_owned();
    let defaults = RawDefaults {
        source: &source.event_source,
        detail_type: &source.detail_type,
    };
    let n = batch.len();
    // Envelopes of matched events only; a stream that mostly matches grows
    // it once, and the pool keeps the grown buffer.
    let mut envelopes = s.pool.take(batch.buf.len() / 4);
    let mut meta = Vec::with_capacity(n);
    let mut counts = vec![0u32; n];
    let mut per_target: BTreeMap<usize, (Vec<u8>, Vec<Delivery>)> = BTreeMap::new();
    let mut failures: Vec<Failure> = Vec::new();
    let mut matched = vec![0u64; routes.rules.len()];
    let mut unmatched = 0u64;
    let mut new_id = uuid::Uuid::new_v4;
    let (position_name, slack) = if batch.built {
        ("PutEvents entry", crate::config::ENVELOPE_HEADROOM)
    } else {
        (source.position_name, 0)
    };
    // Input that is not an event: counted, and dead-lettered with its position.
    let invalid =
        |failures: &mut Vec<Failure>, i: usize, code: &str, why: &dyn std::fmt::Display| {
            debug_assert!(PARSE_FAILURE_REASONS.contains(&code), "{code}");
            source
                .parse_failures
                .with_label_values(&[&source.id, code])
                .inc();
            failures.push(Failure::source(
                i,
                code.to_string(),
                format!("{position_name} {}: {why}", batch.events[i].position),
            ));
        };

    #[allow(clippy::needless_range_loop)] // `i` indexes the batch, counts and meta alike
    for i in 0..n {
        let raw = batch.event(i);
        if raw.len() > routes.max_event_bytes + slack {
            meta.push(EnvelopeMeta::default());
            // stdin keeps one byte over the limit of an over-long line.
            let cut = raw.len() == routes.max_event_bytes + 1;
            let why = format!(
                "event is {}{} bytes, over the limit of {} (setting limits.max_event_bytes)",
                if cut { "more than " } else { "" },
                if cut {
                    routes.max_event_bytes
                } else {
                    raw.len()
                },
                routes.max_event_bytes
            );
            invalid(&mut failures, i, "too_large", &why);
            continue;
        }
        // Most input needs only its envelope keys read here: the matcher
        // validates the whole envelope as it flattens it, so each event is
        // parsed once. The rest is validated now, precisely.
        let bus = &routes.bus;
        s.matches.clear();
        let mut norm = None;
        if let Some(u) =
            envelope::normalise_unchecked(raw, bus, &defaults, now, &mut new_id, &mut s.envelope)
        {
            let env = match &u.kept {
                Some(r) => &raw[r.clone()],
                None => &s.envelope[..],
            };
            match routes.automaton.find_checked(env, cache) {
                Ok(ids) => s.matches.extend_from_slice(ids),
                Err(e) => {
                    meta.push(EnvelopeMeta::default());
                    // Say what is wrong with the input itself where it is
                    // not valid JSON (offsets into the input, not the
                    // envelope); otherwise it broke a matching limit.
                    match envelope::normalise(raw, bus, &defaults, now, &mut new_id, &mut s.render)
                    {
                        Err(e2) => {
                            let why = envelope_error(raw, &e2, routes.max_event_depth);
                            invalid(&mut failures, i, e2.reason_code(), &why)
                        }
                        Ok(n) => {
                            let why = input_error(raw, n.wrapped, &e, routes.max_event_depth);
                            invalid(&mut failures, i, matcher_code(&e), &why)
                        }
                    }
                    continue;
                }
            }
            if u.stands(cache) {
                // Valid, so read to its end: trailing whitespace goes now.
                norm = Some((u.norm, envelope::trim_end(env)));
            } else {
                s.matches.clear();
            }
        }
        let (norm, env) = match norm {
            Some(n) => n,
            None => {
                match envelope::normalise(raw, bus, &defaults, now, &mut new_id, &mut s.envelope) {
                    Ok(n) => match routes.automaton.find(&s.envelope, cache) {
                        Ok(ids) => {
                            s.matches.extend_from_slice(ids);
                            (n, &s.envelope[..])
                        }
                        Err(e) => {
                            meta.push(EnvelopeMeta::default());
                            let why = input_error(raw, n.wrapped, &e, routes.max_event_depth);
                            invalid(&mut failures, i, matcher_code(&e), &why);
                            continue;
                        }
                    },
                    Err(e) => {
                        meta.push(EnvelopeMeta::default());
                        let why = envelope_error(raw, &e, routes.max_event_depth);
                        invalid(&mut failures, i, e.reason_code(), &why);
                        continue;
                    }
                }
            }
        };
        if s.matches.is_empty() {
            // Nothing will refer to its envelope: not kept.
            meta.push(EnvelopeMeta::default());
            unmatched += 1;
            continue;
        }
        let start = envelopes.len() as u32;
        envelopes.extend_from_slice(env);
        meta.push(EnvelopeMeta {
            range: start..envelopes.len() as u32,
            id: start + norm.id.start as u32..start + norm.id.end as u32,
        });
        let env = &envelopes[start as usize..];
        for rid in &s.matches {
            let rule = &routes.rules[rid.0 as usize];
            matched[rid.0 as usize] += 1;
            if watched.get(rid.0 as usize) == Some(&true) {
                tapped.push((rid.0 as usize, bytes::Bytes::copy_from_slice(env)));
            }
            for t in rule.targets.clone() {
                let slot = &routes.targets[t];
                let ctx = crate::transform::RenderContext {
                    rule_name: &rule.name,
                    rule_arn: &rule.arn,
                    ingestion_time: &ingestion_time,
                };
                let entry = per_target.entry(t).or_default();
                let payload = if matches!(slot.shaper, crate::transform::Shaper::Envelope) {
                    None
                } else {
                    match slot.shaper.render(env, &ctx, &mut s.render) {
                        Ok(()) => {
                            let st = entry.0.len() as u32;
                            entry.0.extend_from_slice(&s.render);
                            Some(st..entry.0.len() as u32)
                        }
                        Err(e) => {
                            failures.push(Failure::target(
                                i,
                                t,
                                e.code().to_string(),
                                e.to_string(),
                            ));
                            counts[i] += 1;
                            continue;
                        }
                    }
                };
                let id = &env[norm.id.clone()];
                let source_key = batch.events[i]
                    .kafka
                    .as_ref()
                    .and_then(|k| k.key.as_ref())
                    .map(|r| batch.bytes(r));
                let key = plan::key_bytes(&slot.key, env, id, source_key, &mut s.render).map(|k| {
                    let st = entry.0.len() as u32;
                    entry.0.extend_from_slice(k);
                    st..entry.0.len() as u32
                });
                entry.1.push(Delivery {
                    index: i as u32,
                    payload,
                    key,
                });
                counts[i] += 1;
            }
        }
    }
    for f in &failures {
        if f.target.is_none() {
            counts[f.event] += 1;
        }
    }

    // Per-batch counting.
    source.received.inc_by(n as u64);
    if unmatched > 0 {
        source.unmatched.inc_by(unmatched);
    }
    for (r, c) in matched.iter().enumerate() {
        if *c > 0 {
            routes.rules[r].matched.inc_by(*c);
        }
    }

    let lane = batch.lane;
    let seq = batch.seq;
    let mut routed = Routed::new(batch, envelopes, meta);
    routed.recycle = Some(s.pool.clone());
    let routed = Arc::new(routed);
    let targets = per_target
        .into_iter()
        .map(|(t, (rendered, items))| {
            (
                t,
                TargetBatch {
                    routed: routed.clone(),
                    rendered,
                    items,
                },
            )
        })
        .collect();
    let dead_letters = failures
        .into_iter()
        .map(|f| f.into_dead_letter(&routes, &routed))
        .collect();
    // Nothing can complete before the dispatcher releases these pieces.
    routed.start(&counts);
    RoutedBatch {
        lane,
        seq,
        routes,
        targets,
        dead_letters,
        tapped,
    }
}

/// The reason code of input the envelope pass let through and the matcher
/// refused: a limit it broke, or JSON only the matcher reads closely enough
/// to refuse (the envelope pass does not decode `\u` escapes, so an unpaired
/// surrogate is found by the matcher).
/// Every `reason` of `busbar_parse_failures_total` (and of the source
/// stage's dead letters), exported at zero per source from the start.
pub const PARSE_FAILURE_REASONS: [&str; 7] = [
    "too_large",
    "event_limit",
    "invalid_json",
    "not_an_object",
    "duplicate_key",
    "detail_not_object",
    "bad_field_type",
];

fn matcher_code(e: &crate::flatten::EventError) -> &'static str {
    use crate::flatten::EventErrorKind;
    match e.kind {
        EventErrorKind::TooLarge { .. } | EventErrorKind::TooDeep { .. } => "event_limit",
        _ => "invalid_json",
    }
}

/// What is wrong with input whose envelope the matcher refused, said of the
/// input as it was sent: the byte offset into the line or record (not into
/// the envelope busbar built around it) and, for a limit, the setting. The
/// input is scanned again on its own for that, which costs only here.
fn input_error(
    raw: &[u8],
    wrapped: bool,
    matcher: &crate::flatten::EventError,
    max_event_depth: usize,
) -> String {
    use crate::flatten::EventErrorKind;
    // A wrapped input becomes the envelope's `detail`, one level down; an
    // input that is an envelope already has that level.
    let max_depth = max_event_depth + usize::from(!wrapped);
    let e = match rescan(raw, max_depth) {
        Err(e) => e,
        // Not expected: the envelope failed where the input did not.
        Ok(()) => return matcher.to_string(),
    };
    match e.kind {
        EventErrorKind::TooDeep { .. } if wrapped => format!(
            "invalid event at byte {}: nesting deeper than {max_event_depth} levels \
             (setting limits.max_event_depth)",
            e.offset
        ),
        EventErrorKind::TooDeep { .. } => format!(
            "invalid event at byte {}: nesting deeper than {max_depth} levels \
             (setting limits.max_event_depth {max_event_depth}, plus the envelope's own level)",
            e.offset
        ),
        _ => e.to_string(),
    }
}

/// busbar's validating scan of the input on its own, nothing extracted:
/// what error messages say of input the fast paths refused.
fn rescan(raw: &[u8], max_depth: usize) -> Result<(), crate::flatten::EventError> {
    use crate::flatten::{self, PathTrie, ScanLimits};
    struct NoLeaves;
    impl flatten::Sink for NoLeaves {
        fn leaf(&mut self, _: flatten::PathId, _: flatten::Leaf<'_>, _: &[flatten::ArrayPos]) {}
    }
    let mut trie = PathTrie::new();
    trie.finish();
    let limits = ScanLimits {
        max_event_bytes: usize::MAX,
        max_depth,
    };
    flatten::scan(
        raw,
        &trie,
        limits,
        &mut flatten::Scratch::default(),
        &mut NoLeaves,
    )
}

/// What is wrong with input that could not be made an envelope. For input
/// that is not JSON, busbar's own scanner says it (as `busbar filter` does):
/// serde_json, which reads envelopes, names the last byte it read (the
/// byte before a control character, the last byte at the end of input),
/// not the byte at fault.
fn envelope_error(raw: &[u8], e: &envelope::EnvelopeError, max_event_depth: usize) -> String {
    if e.reason_code() != "invalid_json" {
        return e.to_string();
    }
    if crate::flatten::is_blank(raw) {
        // An empty Kafka record, or one of whitespace only.
        return format!(
            "invalid event at byte {}: no JSON value (the input is empty or only whitespace)",
            raw.len()
        );
    }
    match rescan(raw, max_event_depth + 1) {
        Err(own) if !matches!(own.kind, crate::flatten::EventErrorKind::TooDeep { .. }) => {
            own.to_string()
        }
        _ => e.to_string(),
    }
}

struct Failure {
    event: usize,
    target: Option<usize>,
    code: String,
    message: String,
}

impl Failure {
    fn source(event: usize, code: String, message: String) -> Self {
        Failure {
            event,
            target: None,
            code,
            message,
        }
    }
    fn target(event: usize, target: usize, code: String, message: String) -> Self {
        Failure {
            event,
            target: Some(target),
            code,
            message,
        }
    }

    /// (destination index or usize::MAX for "none configured", the record).
    fn into_dead_letter(self, routes: &Routes, routed: &Arc<Routed>) -> (usize, DeadLetter) {
        let event = EventRef {
            routed: routed.clone(),
            index: self.event as u32,
        };
        match self.target {
            None => {
                let s = &routes.sources[routed.batch.source];
                (
                    s.dead_letter.unwrap_or(usize::MAX),
                    DeadLetter {
                        event,
                        stage: Stage::Source,
                        rule: Arc::from(""),
                        rule_arn: Arc::from(""),
                        target: s.id.clone(),
                        code: self.code,
                        message: self.message,
                        exhausted: None,
                        attempts: 0,
                    },
                )
            }
            Some(t) => {
                let slot = &routes.targets[t];
                let rule = &routes.rules[slot.rule];
                (
                    slot.dead_letter.unwrap_or(usize::MAX),
                    DeadLetter {
                        event,
                        stage: Stage::Target,
                        rule: rule.name.clone(),
                        rule_arn: rule.arn.clone(),
                        target: slot.id.clone(),
                        code: self.code,
                        message: self.message,
                        exhausted: None,
                        attempts: 0,
                    },
                )
            }
        }
    }
}

/// Release routed batches to their targets in lane order.
async fn dispatch(mut rx: mpsc::UnboundedReceiver<RoutedBatch>, taps: Arc<crate::tap::Taps>) {
    let mut lanes: HashMap<u64, (u64, BTreeMap<u64, RoutedBatch>)> = HashMap::new();
    while let Some(rb) = rx.recv().await {
        let lane = lanes.entry(rb.lane).or_insert((0, BTreeMap::new()));
        if rb.seq < lane.0 {
            // Cannot happen with sources numbering each lane from 0; never hold it back.
            release(rb, &taps);
            continue;
        }
        lane.1.insert(rb.seq, rb);
        while let Some(next) = lane.1.remove(&lane.0) {
            lane.0 += 1;
            release(next, &taps);
        }
    }
    // Senders are gone: release whatever is left, in order per lane.
    for (_, (_, rest)) in lanes {
        for (_, rb) in rest {
            release(rb, &taps);
        }
    }
}

fn release(rb: RoutedBatch, taps: &crate::tap::Taps) {
    // In lane order, as the targets see them.
    for (r, copy) in rb.tapped {
        taps.offer(&rb.routes.rules[r].name, copy);
    }
    for (t, tb) in rb.targets {
        rb.routes.targets[t].send(tb);
    }
    for (d, dl) in rb.dead_letters {
        rb.routes.dead_letter(d, dl);
    }
}
