//! Durable acceptance for HTTP ingest: each accepted request is one spool
//! record ([`crate::spool`]), written and synced before the client is
//! answered, and released once every event in it is delivered or
//! dead-lettered. At start the records left by the previous process (a
//! crash, `kill -9`, or a shutdown that ended with deliveries outstanding)
//! are handed to the pipeline again, on a lane of their own.
//!
//! A record holds the request's events as the source took them in (raw
//! lines, or the envelopes built from PutEvents entries), so a replayed
//! event is matched against the rules loaded at the restart. It also holds
//! the wall-clock time it was accepted, so a replayed event's retry age
//! goes on from where it was instead of starting over.
//!
//! Record layout (little-endian), version 1:
//! `u8 version, u8 flags (bit 0: built), u64 accepted_unix_ms,
//! u16 id_len, id (the source id), u32 count`, then per event
//! `u64 position, u32 len, bytes`.
//!
//! Version 2 is version 1 followed by the trace context the events came
//! with: `u32 traced`, then per traced event `u32 event, u16 parent_len,
//! parent, u16 state_len, state` (`state_len` `0xffff`: no `tracestate`).
//! A request without trace context is written as version 1, which a
//! busbar from before trace context reads too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::Intake;
use crate::handoff::{AckAt, Batch, SourceAck};
use crate::spool::{RecordId, Spool};

const VERSION: u8 = 1;
/// With trace context.
const TRACED: u8 = 2;
const NO_STATE: u16 = u16::MAX;
const BUILT: u8 = 1;

/// Appends the record of batch `b` (of the source named `source_id`) to `out`.
pub fn encode(b: &Batch, source_id: &str, out: &mut Vec<u8>) {
    let accepted_ms = SystemTime::now()
        .checked_sub(b.accepted_at.elapsed())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64);
    let id = &source_id.as_bytes()[..source_id.len().min(u16::MAX as usize)];
    out.reserve(b.buf.len() + b.len() * 12 + id.len() + 16);
    out.push(if b.traces.is_empty() { VERSION } else { TRACED });
    out.push(if b.built { BUILT } else { 0 });
    out.extend_from_slice(&accepted_ms.to_le_bytes());
    out.extend_from_slice(&(id.len() as u16).to_le_bytes());
    out.extend_from_slice(id);
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    for (i, e) in b.events.iter().enumerate() {
        let bytes = b.event(i);
        out.extend_from_slice(&e.position.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    if b.traces.is_empty() {
        return;
    }
    out.extend_from_slice(&(b.traces.len() as u32).to_le_bytes());
    for t in &b.traces {
        out.extend_from_slice(&t.event.to_le_bytes());
        // Both were checked when taken in: a `traceparent` is tens of
        // bytes, a `tracestate` at most `Trace::MAX_STATE`.
        let parent = b.bytes(&t.parent);
        out.extend_from_slice(&(parent.len() as u16).to_le_bytes());
        out.extend_from_slice(parent);
        match &t.state {
            Some(r) => {
                let state = b.bytes(r);
                out.extend_from_slice(&(state.len() as u16).to_le_bytes());
                out.extend_from_slice(state);
            }
            None => out.extend_from_slice(&NO_STATE.to_le_bytes()),
        }
    }
}

/// A record read back.
pub struct Decoded {
    pub source_id: String,
    pub accepted_unix_ms: u64,
    /// The events, in a batch of source index 0 (the caller sets it).
    pub batch: Batch,
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoded")
            .field("source_id", &self.source_id)
            .field("accepted_unix_ms", &self.accepted_unix_ms)
            .field("events", &self.batch.len())
            .finish()
    }
}

/// Reads a record written by [`encode`]. The spool checked its checksum, so
/// an error here means a record of another version or a bug; it says which
/// byte is wrong.
pub fn decode(rec: &[u8]) -> Result<Decoded, String> {
    struct Reader<'a> {
        rec: &'a [u8],
        at: usize,
    }
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
            let end = self.at.checked_add(n).filter(|e| *e <= self.rec.len());
            let end = end.ok_or_else(|| {
                format!(
                    "record of {} bytes ends at byte {} where {n} more were expected",
                    self.rec.len(),
                    self.at
                )
            })?;
            let s = &self.rec[self.at..end];
            self.at = end;
            Ok(s)
        }
        fn int<const N: usize>(&mut self) -> Result<[u8; N], String> {
            let mut a = [0u8; N];
            a.copy_from_slice(self.take(N)?);
            Ok(a)
        }
    }
    let mut r = Reader { rec, at: 0 };
    let [version] = r.int::<1>()?;
    if version != VERSION && version != TRACED {
        return Err(format!(
            "record version {version} at byte 0; this busbar reads versions {VERSION} and {TRACED}"
        ));
    }
    let [flags] = r.int::<1>()?;
    let accepted_unix_ms = u64::from_le_bytes(r.int()?);
    let id_len = u16::from_le_bytes(r.int()?) as usize;
    let source_id = String::from_utf8_lossy(r.take(id_len)?).into_owned();
    let count = u32::from_le_bytes(r.int()?) as usize;
    let mut batch = Batch::new(0);
    batch.built = flags & BUILT != 0;
    batch.buf.reserve(rec.len());
    for _ in 0..count {
        let position = u64::from_le_bytes(r.int()?);
        let len = u32::from_le_bytes(r.int()?) as usize;
        batch.push(r.take(len)?, position);
    }
    if version == TRACED {
        let traced = u32::from_le_bytes(r.int()?);
        for _ in 0..traced {
            let event = u32::from_le_bytes(r.int()?) as usize;
            let len = u16::from_le_bytes(r.int()?) as usize;
            let parent = batch.keep(r.take(len)?);
            let state = match u16::from_le_bytes(r.int()?) {
                NO_STATE => None,
                len => Some(batch.keep(r.take(len as usize)?)),
            };
            if event >= count {
                return Err(format!(
                    "trace context of event {event} at byte {}, of {count} events",
                    r.at
                ));
            }
            batch.trace_event(event, parent, state);
        }
    }
    if r.at != rec.len() {
        return Err(format!(
            "{} bytes left over at byte {} after {count} events",
            rec.len() - r.at,
            r.at
        ));
    }
    Ok(Decoded {
        source_id,
        accepted_unix_ms,
        batch,
    })
}

/// Releases a batch's record once every one of its events is finished. An
/// event given up at shutdown is not acknowledged, so its record stays and
/// is replayed after the restart.
pub struct SpoolAck {
    spool: Spool,
    id: RecordId,
    left: AtomicUsize,
}

impl SpoolAck {
    pub fn new(spool: Spool, id: RecordId, events: usize) -> Arc<SpoolAck> {
        Arc::new(SpoolAck {
            spool,
            id,
            left: AtomicUsize::new(events),
        })
    }
}

impl SourceAck for SpoolAck {
    fn complete(&self, _: AckAt<'_>) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.spool.release(self.id);
        }
    }

    fn redelivers(&self) -> bool {
        true
    }
}

/// Hands the records left by the previous process to the pipeline, in the
/// order they were appended, each as a batch of its own lane: the source
/// whose id it names (or, when the configuration no longer has that
/// source, `fallback`), with its original acceptance time. A record that
/// cannot be read is logged and released. Returns the events replayed.
pub async fn replay(
    spool: Spool,
    records: Vec<(RecordId, Vec<u8>)>,
    intake: Intake,
    sources: Vec<(String, usize)>,
    fallback: usize,
) -> u64 {
    let lane = intake.new_lane();
    let mut events = 0u64;
    for (seq, (id, rec)) in records.into_iter().enumerate() {
        let mut d = match decode(&rec) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(record = %id, error = %e, "spool record cannot be read; released without delivery");
                spool.release(id);
                continue;
            }
        };
        let source = match sources.iter().find(|(s, _)| *s == d.source_id) {
            Some((_, i)) => *i,
            None => {
                tracing::warn!(record = %id, source = %d.source_id,
                    "spooled events of a source the configuration no longer has: replayed through sources[{fallback}]");
                fallback
            }
        };
        let age = SystemTime::now()
            .duration_since(UNIX_EPOCH + Duration::from_millis(d.accepted_unix_ms))
            .unwrap_or_default();
        let b = &mut d.batch;
        b.source = source;
        b.lane = lane;
        b.seq = seq as u64;
        b.accepted_at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        if b.is_empty() {
            spool.release(id);
            continue;
        }
        b.ack = Some(SpoolAck::new(spool.clone(), id, b.len()));
        events += b.len() as u64;
        if intake.send(d.batch).await.is_err() {
            break;
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_survives_its_record() {
        let mut b = Batch::new(3);
        b.push(br#"{"a":1}"#, 7);
        b.push(b"", 8);
        b.push("é\n".as_bytes(), 1 << 40);
        b.built = true;
        let mut rec = Vec::new();
        encode(&b, "api", &mut rec);
        let d = decode(&rec).unwrap();
        assert_eq!(d.source_id, "api");
        assert!(d.batch.built);
        assert_eq!(d.batch.len(), 3);
        for i in 0..3 {
            assert_eq!(d.batch.event(i), b.event(i));
            assert_eq!(d.batch.events[i].position, b.events[i].position);
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(now_ms - d.accepted_unix_ms < 10_000);
    }

    #[test]
    fn trace_context_survives_the_record_and_plain_records_stay_version_1() {
        let tp = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut b = Batch::new(0);
        b.push(b"{}", 1);
        let mut rec = Vec::new();
        encode(&b, "api", &mut rec);
        assert_eq!(rec[0], VERSION);
        for i in 2..4 {
            b.push(b"{}", i);
        }
        let (p, s) = (b.keep(tp), b.keep(b"k=v"));
        b.trace_event(0, p.clone(), Some(s));
        b.trace_event(2, p, None);
        rec.clear();
        encode(&b, "api", &mut rec);
        assert_eq!(rec[0], TRACED);
        let d = decode(&rec).unwrap();
        assert_eq!(d.batch.len(), 3);
        for i in 0..3 {
            assert_eq!(d.batch.event(i), b"{}");
            assert_eq!(d.batch.trace(i), b.trace(i), "event {i}");
        }
        for cut in 0..rec.len() {
            assert!(decode(&rec[..cut]).is_err());
        }
    }

    #[test]
    fn a_damaged_record_is_an_error_naming_the_byte() {
        let mut b = Batch::new(0);
        b.push(b"{}", 1);
        let mut rec = Vec::new();
        encode(&b, "api", &mut rec);
        for cut in 0..rec.len() {
            let e = decode(&rec[..cut]).unwrap_err();
            assert!(e.contains("byte"), "{e}");
        }
        let mut longer = rec.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().contains("left over"));
        rec[0] = 9;
        assert!(decode(&rec).unwrap_err().contains("version 9"));
    }
}
