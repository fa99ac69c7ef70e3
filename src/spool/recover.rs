//! Opening a spool directory: the lock, and reading every segment back into
//! the records not yet released and the per-segment bookkeeping the
//! writer continues from.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use super::format::{self, Kind, TailKind};
use super::{RecordId, Segment, SpoolMetrics};

/// The lock file's name in the spool directory.
const LOCK_FILE: &str = "LOCK";

/// What the directory holds.
pub(super) struct Recovered {
    /// The directory, opened to sync it after creating a segment.
    pub dir: File,
    /// Holds the exclusive lock while it is open.
    pub lock: File,
    pub segments: BTreeMap<u64, Segment>,
    pub disk_bytes: u64,
    pub next_segment: u64,
    /// Unreleased data records in append order.
    pub records: Vec<(RecordId, Vec<u8>)>,
}

pub(super) fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.seg"))
}

/// The sequence number of a segment file name, `None` for other files.
fn segment_number(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(super) fn recover(path: &Path, m: &SpoolMetrics) -> Result<Recovered, String> {
    let at = path.display();
    fs::create_dir_all(path)
        .map_err(|e| format!("cannot create the spool directory `{at}` (spool.path): {e}"))?;
    let lock = take_lock(path)?;
    let dir = File::open(path)
        .map_err(|e| format!("cannot open the spool directory `{at}` (spool.path): {e}"))?;
    let mut numbers = Vec::new();
    let entries =
        fs::read_dir(path).map_err(|e| format!("cannot list the spool directory `{at}`: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list the spool directory `{at}`: {e}"))?;
        if let Some(n) = entry.file_name().to_str().and_then(segment_number) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();

    let mut live: BTreeMap<RecordId, Vec<u8>> = BTreeMap::new();
    let mut segments: BTreeMap<u64, Segment> = BTreeMap::new();
    for &n in &numbers {
        let seg = read_segment(path, n, m, &mut live, &segments)?;
        segments.insert(n, seg);
    }
    // Markers always follow the records they release, so applying them in
    // file order above left exactly the unreleased records.
    for id in live.keys() {
        if let Some(s) = segments.get_mut(&id.segment) {
            s.live.insert(id.offset);
        }
    }
    let disk_bytes = segments.values().map(|s| s.bytes).sum();
    if disk_bytes > 0 {
        // The directory's entries are synced once here so that a segment
        // deleted or truncated below cannot come back after a crash.
        dir.sync_all()
            .map_err(|e| format!("cannot sync the spool directory `{at}`: {e}"))?;
    }
    Ok(Recovered {
        dir,
        lock,
        segments,
        disk_bytes,
        next_segment: numbers.last().map_or(1, |n| n + 1),
        records: live.into_iter().collect(),
    })
}

/// `flock` rather than a PID file: the kernel drops it when the process
/// dies, so a `kill -9` leaves no stale lock to clean up.
fn take_lock(path: &Path) -> Result<File, String> {
    let lock_path = path.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open the spool lock `{}`: {e}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "the spool directory `{}` is in use by another busbar process (it holds the lock on \
             `{}`); give each process its own spool.path",
            path.display(),
            lock_path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!(
            "cannot lock the spool directory `{}` (on `{}`): {e}; spool.path must be on a \
             local file system that supports flock",
            path.display(),
            lock_path.display()
        )),
    }
}

/// Reads segment `n`: data records go into `live`, release markers take
/// theirs out of it, and a bad tail is cut off the file.
fn read_segment(
    dir: &Path,
    n: u64,
    m: &SpoolMetrics,
    live: &mut BTreeMap<RecordId, Vec<u8>>,
    segments: &BTreeMap<u64, Segment>,
) -> Result<Segment, String> {
    let file = segment_path(dir, n);
    let shown = file.display();
    let bytes = fs::read(&file).map_err(|e| {
        format!(
            "cannot read spool segment `{shown}`: {e}; move the file out of spool.path to start \
             without its events"
        )
    })?;
    let scan = format::scan(&bytes);
    for &(offset, len) in &scan.skipped {
        m.corrupt.inc();
        tracing::error!(
            file = %shown,
            offset,
            bytes = len,
            "spool: a damaged record (checksum mismatch) was skipped; its event is lost"
        );
    }
    let mut seg = Segment::default();
    for r in &scan.records {
        match r.kind {
            Kind::Data => {
                let id = RecordId {
                    segment: n,
                    offset: r.offset,
                };
                live.insert(id, r.payload.to_vec());
            }
            Kind::Release => {
                let Some(ids) = format::decode_release(r.payload) else {
                    m.corrupt.inc();
                    tracing::error!(
                        file = %shown,
                        offset = r.offset,
                        "spool: a release marker of a length that names no whole record was skipped"
                    );
                    continue;
                };
                for id in ids {
                    live.remove(&id);
                    if id.segment != n && segments.contains_key(&id.segment) {
                        seg.refs.insert(id.segment);
                    }
                }
            }
        }
    }
    let mut size = bytes.len() as u64;
    if let Some((offset, kind)) = scan.tail {
        let cut = size - offset;
        match kind {
            TailKind::Corrupt => {
                m.corrupt.inc();
                tracing::error!(
                    file = %shown,
                    offset,
                    bytes = cut,
                    "spool: damaged bytes at the end of a segment were cut off"
                );
            }
            TailKind::Torn => tracing::warn!(
                file = %shown,
                offset,
                bytes = cut,
                "spool: a record cut short by a crash was dropped (it was never acknowledged)"
            ),
            TailKind::Zeros => tracing::warn!(
                file = %shown,
                offset,
                bytes = cut,
                "spool: a zero-filled tail was cut off"
            ),
        }
        truncate(&file, offset)?;
        size = offset;
    }
    seg.bytes = size;
    Ok(seg)
}

/// Cuts `file` to `len` bytes and syncs it: later segments must never
/// follow a half record.
fn truncate(file: &Path, len: u64) -> Result<(), String> {
    let cut = |f: File| {
        f.set_len(len)?;
        f.sync_all()
    };
    OpenOptions::new()
        .write(true)
        .open(file)
        .and_then(cut)
        .map_err(|e| {
            format!(
                "cannot cut spool segment `{}` back to its last whole record ({len} bytes): {e}",
                file.display()
            )
        })
}
