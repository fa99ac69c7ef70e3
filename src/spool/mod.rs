//! The write-ahead spool: accepted events on local disk until they are
//! delivered or dead-lettered, so that an acknowledged event survives a
//! crash (`kill -9`, power loss) and is delivered after the restart.
//!
//! The spool is a directory of segment files named by a zero-padded
//! sequence number (`00000000000000000001.seg`), appended to in order and
//! rolled at `segment_bytes`. Each record carries a checksum
//! ([`format`] has the layout). Appending returns once the record is
//! written and `fdatasync`'d; one writer thread does all the I/O and
//! commits every append that arrived during the previous sync with one
//! sync (group commit), so a thousand concurrent appends cost a few syncs,
//! not a thousand. Releasing a record appends a release marker, without
//! waiting for it to reach the disk: a crash before that replays the record
//! (at-least-once). A segment whose records are all released is deleted,
//! which is what gives space back; `max_bytes` bounds the segments' bytes
//! and a full spool refuses appends ([`AppendError::Full`]), which HTTP
//! ingest answers with throttling.
//!
//! A release marker in one segment may be all that keeps a record of an
//! older segment from being replayed, so a segment is deleted only once
//! every older segment its markers name is gone. Since records are
//! released within seconds of their append, this pins at most the segment
//! after a long-lived record, not the whole spool behind it.
//!
//! Opening the spool takes an exclusive `flock` on `LOCK` in the directory
//! (the kernel drops it with the process, so a killed process leaves no
//! stale lock) and reads every segment: a torn record at the end (a crash
//! mid-write) or a zero-filled tail is cut off, a damaged record elsewhere
//! is skipped, logged with its file and offset and counted in
//! `busbar_spool_corrupt_records_total`. Appends then go to a new segment.

mod format;
mod recover;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Where the spool lives and how large it may grow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolSettings {
    /// The directory; created if missing.
    pub path: PathBuf,
    /// Most bytes all segments together may take; appends past it are
    /// refused with [`AppendError::Full`]. Release markers are written
    /// even at the limit, so the spool may pass it by their few bytes.
    pub max_bytes: u64,
    /// A segment is closed and a new one started once the next record
    /// would take it past this size.
    pub segment_bytes: u64,
}

impl SpoolSettings {
    /// The settings of a configuration's `spool` section.
    pub fn from_config(c: &crate::config::SpoolConfig) -> Self {
        SpoolSettings {
            path: c.path.clone(),
            max_bytes: c.max_bytes,
            segment_bytes: c.segment_bytes,
        }
    }
}

/// Where a record is: its segment and its byte offset in it. Ordered as
/// the records were appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId {
    segment: u64,
    offset: u64,
}

impl RecordId {
    /// The sequence number of the segment file holding the record.
    pub fn segment(&self) -> u64 {
        self.segment
    }

    /// The record's byte offset in its segment file.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.segment, self.offset)
    }
}

/// The records [`Spool::open`] found not yet released, in append order,
/// with their ids (which [`Spool::release`] takes like any other).
pub type Unreleased = Vec<(RecordId, Vec<u8>)>;

/// Why an append was refused. Nothing of a refused record stays in the spool.
#[derive(Debug)]
pub enum AppendError {
    /// The record would take the spool past `spool.max_bytes`.
    Full { used: u64, limit: u64 },
    /// Writing or syncing failed (the message names the file and the
    /// system's error, such as a full disk).
    Io(String),
    /// [`Spool::close`] was called.
    Closed,
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppendError::Full { used, limit } => write!(
                f,
                "the spool is full: {used} bytes are held by events not yet delivered or \
                 dead-lettered, and this event would pass spool.max_bytes ({limit}); retry \
                 later (space returns as events are delivered), or raise spool.max_bytes"
            ),
            AppendError::Io(m) => write!(f, "the spool cannot take the event: {m}"),
            AppendError::Closed => write!(
                f,
                "the spool is closed because busbar is shutting down; retry against a running \
                 instance"
            ),
        }
    }
}

impl std::error::Error for AppendError {}

/// A handle on an open spool; clones share it. The writer thread stops
/// when [`Spool::close`] is called or the last handle is dropped.
#[derive(Clone)]
pub struct Spool {
    handle: Arc<Handle>,
}

/// Owned by the handles only (the writer thread holds [`Shared`]), so that
/// dropping the last handle can tell the writer to stop.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// Release markers wait at most this long for an append to share a sync
/// with.
const RELEASE_DELAY: Duration = Duration::from_secs(1);

/// The state the callers and the writer thread share.
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer thread.
    wake: Condvar,
    limit: u64,
    metrics: SpoolMetrics,
    #[cfg(test)]
    faults: tests::Faults,
}

/// The spool's handles on its metrics (defined in [`crate::metrics`]).
#[derive(Clone)]
struct SpoolMetrics {
    used: prometheus::IntGauge,
    pending: prometheus::IntGauge,
    rejected_full: prometheus::IntCounter,
    corrupt: prometheus::IntCounter,
    sync_seconds: prometheus::Histogram,
    records_per_sync: prometheus::Histogram,
}

struct State {
    /// Appends not yet taken by the writer, in arrival order.
    queue: Vec<Request>,
    /// Released ids whose markers are not written yet.
    releases: Vec<RecordId>,
    /// When the oldest of `releases` was released.
    releases_since: Option<Instant>,
    segments: BTreeMap<u64, Segment>,
    /// The segment appends go to; never deleted.
    active: u64,
    /// The bytes of every segment in `segments`.
    disk_bytes: u64,
    /// Bytes of appends queued or being written, counted against the limit
    /// before they reach a segment so concurrent appends cannot pass it.
    reserved: u64,
    /// Data records not yet released.
    pending: u64,
    /// Set by close or by dropping the last handle: appends are refused.
    closed: bool,
    /// The writer thread has finished.
    exited: bool,
    close_waiters: Vec<oneshot::Sender<()>>,
    /// A segment may have become deletable.
    check_deletions: bool,
}

struct Request {
    frame: Vec<u8>,
    done: oneshot::Sender<Result<RecordId, AppendError>>,
}

#[derive(Debug, Default)]
struct Segment {
    bytes: u64,
    /// Offsets of the data records not yet released.
    live: HashSet<u64>,
    /// Older segments that release markers in this one name.
    refs: BTreeSet<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent counters (every
        // update is a few field writes), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set_used(&self, st: &State) {
        self.metrics
            .used
            .set(i64::try_from(st.disk_bytes + st.reserved).unwrap_or(i64::MAX));
    }

    fn set_pending(&self, st: &State) {
        self.metrics
            .pending
            .set(i64::try_from(st.pending).unwrap_or(i64::MAX));
    }

    /// Checks the limit, reserves the bytes and queues the record.
    fn submit(
        &self,
        payload: &[u8],
    ) -> Result<oneshot::Receiver<Result<RecordId, AppendError>>, AppendError> {
        if u32::try_from(payload.len()).is_err() {
            return Err(AppendError::Io(format!(
                "an event of {} bytes is larger than a spool record can be (4 GiB)",
                payload.len()
            )));
        }
        // Checksumming before taking the lock keeps the lock short.
        let mut frame = Vec::new();
        format::encode(format::Kind::Data, payload, &mut frame);
        let need = frame.len() as u64;
        let (done, rx) = oneshot::channel();
        {
            let mut st = self.lock();
            if st.closed {
                return Err(AppendError::Closed);
            }
            let used = st.disk_bytes + st.reserved;
            if used.saturating_add(need) > self.limit {
                self.metrics.rejected_full.inc();
                return Err(AppendError::Full {
                    used,
                    limit: self.limit,
                });
            }
            st.reserved += need;
            st.queue.push(Request { frame, done });
            self.set_used(&st);
        }
        self.wake.notify_one();
        Ok(rx)
    }
}

impl Spool {
    /// Creates the directory if needed, takes an exclusive lock on it (a
    /// second process on the same spool gets a clear error), reads every
    /// segment, and returns the spool plus every record not yet released,
    /// in append order (records after a torn or corrupt tail are cut off;
    /// the tail of the last segment is truncated to the last whole record).
    pub fn open(
        s: &SpoolSettings,
        metrics: &crate::metrics::Metrics,
    ) -> Result<(Spool, Unreleased), String> {
        if s.max_bytes == 0 || s.segment_bytes == 0 {
            return Err(format!(
                "spool at `{}`: spool.max_bytes ({}) and spool.segment_bytes ({}) must be above 0",
                s.path.display(),
                s.max_bytes,
                s.segment_bytes
            ));
        }
        let m = SpoolMetrics {
            used: metrics.spool_used_bytes.clone(),
            pending: metrics.spool_pending_records.clone(),
            rejected_full: metrics.spool_full_rejections.clone(),
            corrupt: metrics.spool_corrupt_records.clone(),
            sync_seconds: metrics.spool_sync_duration.clone(),
            records_per_sync: metrics.spool_records_per_sync.clone(),
        };
        let found = recover::recover(&s.path, &m)?;
        if found.disk_bytes > s.max_bytes {
            tracing::warn!(
                path = %s.path.display(),
                used = found.disk_bytes,
                limit = s.max_bytes,
                "the spool holds more than spool.max_bytes; appends are refused until \
                 delivered events free space"
            );
        }
        let pending = found.records.len() as u64;
        let state = State {
            queue: Vec::new(),
            releases: Vec::new(),
            releases_since: None,
            segments: found.segments,
            active: 0,
            disk_bytes: found.disk_bytes,
            reserved: 0,
            pending,
            closed: false,
            exited: false,
            close_waiters: Vec::new(),
            check_deletions: true,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Condvar::new(),
            limit: s.max_bytes,
            metrics: m,
            #[cfg(test)]
            faults: tests::Faults::default(),
        });
        let mut w = writer::Writer::new(
            s.path.clone(),
            found.dir,
            found.lock,
            found.next_segment,
            s.segment_bytes,
        );
        w.roll(&shared).map_err(|e| {
            format!(
                "spool at `{}`: cannot start a segment: {e}",
                s.path.display()
            )
        })?;
        w.delete_released(&shared);
        {
            let st = shared.lock();
            shared.set_used(&st);
            shared.set_pending(&st);
        }
        metrics
            .spool_limit_bytes
            .set(i64::try_from(s.max_bytes).unwrap_or(i64::MAX));
        let for_writer = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("busbar-spool".into())
            .spawn(move || writer::run(for_writer, w))
            .map_err(|e| format!("spool: cannot start its writer thread: {e}"))?;
        tracing::info!(
            path = %s.path.display(),
            records = pending,
            bytes = found.disk_bytes,
            "spool opened"
        );
        Ok((
            Spool {
                handle: Arc::new(Handle { shared }),
            },
            found.records,
        ))
    }

    /// Appends one record and returns once it is written and fdatasync'd.
    /// Group commit: appends that arrive while a sync is in progress are
    /// written and synced together by one call (a dedicated writer thread,
    /// not the tokio runtime, does the I/O). Err(Full) when the live bytes
    /// plus this record would pass max_bytes.
    pub async fn append(&self, payload: &[u8]) -> Result<RecordId, AppendError> {
        let rx = self.handle.shared.submit(payload)?;
        // The writer answers every request it takes; a dropped sender
        // means it stopped.
        rx.await.unwrap_or(Err(AppendError::Closed))
    }

    /// The record is done (delivered or dead-lettered): it leaves the
    /// spool. Not synchronous: a release marker is written with the next
    /// group commit or within 1 s; a crash before that replays the record
    /// (at-least-once). A segment whose records are all released (and that
    /// is not the one being appended to) is deleted and its bytes stop
    /// counting. Releasing an id twice, or one the spool does not hold,
    /// does nothing.
    pub fn release(&self, id: RecordId) {
        let shared = &self.handle.shared;
        let mut st = shared.lock();
        let active = st.active;
        let Some(seg) = st.segments.get_mut(&id.segment) else {
            return;
        };
        if !seg.live.remove(&id.offset) {
            return;
        }
        let emptied = seg.live.is_empty() && id.segment != active;
        st.pending -= 1;
        shared.set_pending(&st);
        st.releases.push(id);
        // The first marker waiting must wake the writer, which sleeps
        // without a deadline while nothing is due.
        let first = st.releases_since.is_none();
        st.releases_since.get_or_insert_with(Instant::now);
        st.check_deletions |= emptied;
        drop(st);
        if emptied || first {
            shared.wake.notify_one();
        }
    }

    /// Bytes the segments take, plus appends being written.
    pub fn used_bytes(&self) -> u64 {
        let st = self.handle.shared.lock();
        st.disk_bytes + st.reserved
    }

    /// `spool.max_bytes`.
    pub fn limit_bytes(&self) -> u64 {
        self.handle.shared.limit
    }

    /// Records appended (or recovered) and not yet released.
    pub fn pending_records(&self) -> u64 {
        self.handle.shared.lock().pending
    }

    /// Writes outstanding release markers and syncs; later appends get
    /// Closed. Appends already accepted are written first. Releases after
    /// this are not written: those records are replayed at the next open.
    /// The directory lock is dropped when this returns.
    pub async fn close(&self) {
        let shared = &self.handle.shared;
        let rx = {
            let mut st = shared.lock();
            if st.exited {
                return;
            }
            st.closed = true;
            let (tx, rx) = oneshot::channel();
            st.close_waiters.push(tx);
            rx
        };
        shared.wake.notify_one();
        // An error means the writer is gone, which is what we wait for.
        let _ = rx.await;
    }
}
