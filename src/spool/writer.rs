//! The spool's writer thread: the only code that writes, syncs, creates
//! and deletes segment files. It takes every append queued since its last
//! sync, writes them with the release markers due in one `write` and one
//! `fdatasync` (group commit), then answers each append. A plain thread,
//! not a tokio task, because a sync blocks for milliseconds.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use super::format::{self, Kind};
use super::recover::segment_path;
use super::{AppendError, RecordId, Request, Segment, Shared, RELEASE_DELAY};

/// Ids per release marker: 16 KiB of payload, well inside the smallest
/// segment `validate` allows.
const IDS_PER_MARKER: usize = 1024;

/// The segment appends go to.
struct Active {
    number: u64,
    file: File,
    len: u64,
}

pub(super) struct Writer {
    path: PathBuf,
    dir: File,
    /// Held for the lock only; dropped with the writer.
    _lock: File,
    /// `None` after a failed write could not be cut back: the next record
    /// starts a new segment rather than follow a half record.
    active: Option<Active>,
    next_segment: u64,
    segment_bytes: u64,
    /// The bytes of the current run of records, reused.
    buf: Vec<u8>,
}

/// A record in the current run, written to the active segment at `id`.
struct Item {
    id: RecordId,
    len: u64,
    waiting: Waiting,
}

/// Who waits for a record.
enum Waiting {
    /// An append, for its id.
    Append(oneshot::Sender<Result<RecordId, AppendError>>),
    /// Nobody: a release marker, with the ids it names.
    Marker(Vec<RecordId>),
}

/// What the writer is to do next.
struct Work {
    appends: Vec<Request>,
    releases: Vec<RecordId>,
    /// No append can come any more: finish after this.
    last: bool,
}

pub(super) fn run(shared: Arc<Shared>, mut w: Writer) {
    loop {
        let work = next_work(&shared);
        if !work.appends.is_empty() || !work.releases.is_empty() {
            w.commit(&shared, work.appends, work.releases);
        }
        w.delete_released(&shared);
        if work.last {
            break;
        }
    }
    // Dropping the writer closes the files and so releases the lock.
    drop(w);
    let waiters = {
        let mut st = shared.lock();
        st.exited = true;
        std::mem::take(&mut st.close_waiters)
    };
    for tx in waiters {
        let _ = tx.send(());
    }
}

/// Waits for appends, a close, a segment to delete, or release markers
/// that have waited [`RELEASE_DELAY`], and takes them.
fn next_work(shared: &Shared) -> Work {
    let mut st = shared.lock();
    loop {
        let due = st
            .releases_since
            .map(|t| t + RELEASE_DELAY)
            .filter(|_| !st.releases.is_empty());
        let now = Instant::now();
        if !st.queue.is_empty() || st.closed || st.check_deletions || due.is_some_and(|d| d <= now)
        {
            break;
        }
        st = match due {
            Some(d) => {
                shared
                    .wake
                    .wait_timeout(st, d - now)
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .0
            }
            None => shared
                .wake
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        };
    }
    let appends = std::mem::take(&mut st.queue);
    let mut releases = Vec::new();
    // Markers ride with appends; alone they wait for their delay, or for a
    // close that flushes them.
    let due = st
        .releases_since
        .is_some_and(|t| t + RELEASE_DELAY <= Instant::now());
    if !appends.is_empty() || st.closed || due {
        releases = std::mem::take(&mut st.releases);
        st.releases_since = None;
        // A marker for a deleted segment is not needed.
        releases.retain(|id| st.segments.contains_key(&id.segment));
    }
    Work {
        appends,
        releases,
        last: st.closed,
    }
}

impl Writer {
    pub(super) fn new(
        path: PathBuf,
        dir: File,
        lock: File,
        next_segment: u64,
        segment_bytes: u64,
    ) -> Self {
        Writer {
            path,
            dir,
            _lock: lock,
            active: None,
            next_segment,
            segment_bytes,
            buf: Vec::new(),
        }
    }

    /// Starts a new segment and makes it the active one. The directory is
    /// synced so that the new file's name survives a crash before any
    /// record in it is acknowledged.
    pub(super) fn roll(&mut self, shared: &Shared) -> io::Result<()> {
        let number = self.next_segment;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(segment_path(&self.path, number))?;
        self.next_segment += 1;
        self.dir.sync_all()?;
        self.active = Some(Active {
            number,
            file,
            len: 0,
        });
        let mut st = shared.lock();
        st.segments.insert(number, Segment::default());
        st.active = number;
        // The segment before may hold no live record any more.
        st.check_deletions = true;
        Ok(())
    }

    /// Writes `appends` and markers for `releases`, in runs: each run goes
    /// to one segment with one write and one sync, and a run ends where a
    /// record would take the segment past `segment_bytes`.
    fn commit(&mut self, shared: &Shared, appends: Vec<Request>, releases: Vec<RecordId>) {
        let data = appends
            .into_iter()
            .map(|r| (r.frame, Waiting::Append(r.done)));
        let markers = releases.chunks(IDS_PER_MARKER).map(|ids| {
            let mut frame = Vec::new();
            format::encode(Kind::Release, &format::encode_release(ids), &mut frame);
            (frame, Waiting::Marker(ids.to_vec()))
        });
        let mut run: Vec<Item> = Vec::new();
        let mut failed: Option<String> = None;
        for (frame, waiting) in data.chain(markers) {
            let len = frame.len() as u64;
            if failed.is_none() && self.needs_roll(len) {
                if let Err(e) = self.flush(shared, &mut run) {
                    failed = Some(e);
                } else if let Err(e) = self.roll(shared) {
                    failed = Some(format!(
                        "cannot create a segment in `{}`: {e}",
                        self.path.display()
                    ));
                }
            }
            let (Some(a), None) = (&self.active, &failed) else {
                let why = failed.as_deref().unwrap_or("no segment to write to");
                fail(shared, waiting, len, why);
                continue;
            };
            let id = RecordId {
                segment: a.number,
                offset: a.len + self.buf.len() as u64,
            };
            self.buf.extend_from_slice(&frame);
            run.push(Item { id, len, waiting });
        }
        if failed.is_none() {
            let _ = self.flush(shared, &mut run);
        }
    }

    /// Whether a record of `len` bytes starts a new segment: there is no
    /// usable one, or it would take a non-empty one past `segment_bytes`
    /// (a record larger than that goes in a segment of its own).
    fn needs_roll(&self, len: u64) -> bool {
        self.active.as_ref().is_none_or(|a| {
            let at = a.len + self.buf.len() as u64;
            at > 0 && at + len > self.segment_bytes
        })
    }

    /// Writes and syncs the current run, then answers its appends. On a
    /// failure the segment is cut back to where the run began, so no later
    /// record follows a half one.
    fn flush(&mut self, shared: &Shared, run: &mut Vec<Item>) -> Result<(), String> {
        if run.is_empty() {
            return Ok(());
        }
        let Some(a) = self.active.as_mut() else {
            return Ok(());
        };
        let start = a.len;
        let t = Instant::now();
        let written =
            write_at(shared, &a.file, &self.buf, start).and_then(|()| sync(shared, &a.file));
        let result = match written {
            Ok(()) => {
                shared
                    .metrics
                    .sync_seconds
                    .observe(t.elapsed().as_secs_f64());
                a.len += self.buf.len() as u64;
                let number = a.number;
                self.committed(shared, number, run);
                Ok(())
            }
            Err(e) => {
                let why = format!(
                    "writing {} bytes to `{}` failed: {e}",
                    self.buf.len(),
                    segment_path(&self.path, a.number).display()
                );
                tracing::error!(error = %why, "spool: write failed; the appends in it are refused");
                if let Err(te) = truncate(shared, &a.file, start) {
                    tracing::error!(
                        file = %segment_path(&self.path, a.number).display(),
                        error = %te,
                        "spool: cannot cut the segment back after a failed write; continuing in a new segment"
                    );
                    let number = a.number;
                    self.active = None;
                    self.abandon(shared, number, run);
                }
                for item in run.drain(..) {
                    fail(shared, item.waiting, item.len, &why);
                }
                Err(why)
            }
        };
        self.buf.clear();
        run.clear();
        result
    }

    /// Bookkeeping for a segment left with the bytes of a failed run at its
    /// end: they count against the limit until the segment is deleted, and
    /// release markers name the run's records, so that any whole one among
    /// them is not replayed although its append was refused.
    fn abandon(&self, shared: &Shared, number: u64, run: &[Item]) {
        let mut st = shared.lock();
        let bytes = self.buf.len() as u64;
        if let Some(s) = st.segments.get_mut(&number) {
            s.bytes += bytes;
        }
        st.disk_bytes += bytes;
        st.check_deletions = true;
        let ids = run
            .iter()
            .filter(|i| matches!(i.waiting, Waiting::Append(_)))
            .map(|i| i.id);
        st.releases.extend(ids);
        st.releases_since.get_or_insert_with(Instant::now);
        shared.set_used(&st);
    }

    /// Accounts a synced run in segment `number` and answers its appends.
    fn committed(&self, shared: &Shared, number: u64, run: &mut Vec<Item>) {
        let mut answers = Vec::new();
        {
            let mut st = shared.lock();
            let mut bytes = 0;
            let mut data = 0u64;
            for item in run.iter() {
                bytes += item.len;
                match &item.waiting {
                    Waiting::Append(_) => {
                        st.reserved -= item.len;
                        data += 1;
                        if let Some(s) = st.segments.get_mut(&number) {
                            s.live.insert(item.id.offset);
                        }
                    }
                    Waiting::Marker(ids) => {
                        let older: Vec<u64> = ids
                            .iter()
                            .map(|id| id.segment)
                            .filter(|s| *s != number && st.segments.contains_key(s))
                            .collect();
                        if let Some(s) = st.segments.get_mut(&number) {
                            s.refs.extend(older);
                        }
                    }
                }
            }
            if let Some(s) = st.segments.get_mut(&number) {
                s.bytes += bytes;
            }
            st.disk_bytes += bytes;
            st.pending += data;
            shared.set_used(&st);
            shared.set_pending(&st);
            if data > 0 {
                shared.metrics.records_per_sync.observe(data as f64);
            }
        }
        for item in run.drain(..) {
            if let Waiting::Append(done) = item.waiting {
                answers.push((done, item.id));
            }
        }
        // Answered after the bookkeeping, so a release of the id that
        // follows at once finds it.
        for (done, id) in answers {
            let _ = done.send(Ok(id));
        }
    }

    /// Deletes every segment, except the active one, that holds no live
    /// record and whose markers name no older segment still present, in
    /// rounds with a directory sync between them: a segment whose markers
    /// release records of an older one is deleted only after that one's
    /// deletion is on disk.
    pub(super) fn delete_released(&mut self, shared: &Shared) {
        loop {
            let doomed: Vec<(u64, u64)> = {
                let mut st = shared.lock();
                if !st.check_deletions {
                    return;
                }
                let active = st.active;
                let doomed: Vec<(u64, u64)> = st
                    .segments
                    .iter()
                    .filter(|(n, s)| {
                        **n != active
                            && s.live.is_empty()
                            && s.refs.iter().all(|r| !st.segments.contains_key(r))
                    })
                    .map(|(n, s)| (*n, s.bytes))
                    .collect();
                for (n, bytes) in &doomed {
                    st.segments.remove(n);
                    st.disk_bytes -= bytes;
                }
                st.check_deletions = !doomed.is_empty();
                shared.set_used(&st);
                doomed
            };
            if doomed.is_empty() {
                return;
            }
            for (n, bytes) in doomed {
                let file = segment_path(&self.path, n);
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        // Kept and counted, so that segments whose markers
                        // name it wait for it; retried at the next check.
                        tracing::error!(file = %file.display(), error = %e, "spool: cannot delete a released segment");
                        let mut st = shared.lock();
                        st.segments.insert(
                            n,
                            Segment {
                                bytes,
                                ..Segment::default()
                            },
                        );
                        st.disk_bytes += bytes;
                        // Not checked again until something else changes,
                        // so a lasting error does not spin this thread.
                        st.check_deletions = false;
                        shared.set_used(&st);
                        return;
                    }
                }
            }
            if let Err(e) = self.dir.sync_all() {
                tracing::error!(dir = %self.path.display(), error = %e, "spool: cannot sync the directory after deleting segments");
                return;
            }
        }
    }
}

/// Refuses one record that was not written: an append gets the error and
/// its reserved bytes back; a marker's ids are queued again.
fn fail(shared: &Shared, waiting: Waiting, len: u64, why: &str) {
    let mut st = shared.lock();
    match waiting {
        Waiting::Append(done) => {
            st.reserved -= len;
            shared.set_used(&st);
            drop(st);
            let _ = done.send(Err(AppendError::Io(why.to_string())));
        }
        Waiting::Marker(ids) => {
            st.releases.extend(ids);
            st.releases_since.get_or_insert_with(Instant::now);
        }
    }
}

fn write_at(shared: &Shared, file: &File, buf: &[u8], at: u64) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = shared.faults.write(file, buf, at) {
        return Err(e);
    }
    let _ = shared;
    file.write_all_at(buf, at)
}

fn sync(shared: &Shared, file: &File) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = shared.faults.sync() {
        return Err(e);
    }
    let _ = shared;
    file.sync_data()
}

fn truncate(shared: &Shared, file: &File, len: u64) -> io::Result<()> {
    #[cfg(test)]
    if let Some(e) = shared.faults.truncate() {
        return Err(e);
    }
    let _ = shared;
    file.set_len(len)
}
