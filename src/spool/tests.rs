//! The spool against a real directory: round trips, crash shapes (torn,
//! damaged and zero-filled segments), limits, the lock, group commit, and
//! write failures injected through [`Faults`].

use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::format::{frame_len, HEADER};
use super::*;
use crate::metrics::Metrics;

/// Failures the writer thread meets in tests: each counter is how many of
/// the next operations fail.
#[derive(Default)]
pub(super) struct Faults {
    /// Writes that put half their bytes on disk and then fail with ENOSPC.
    writes: AtomicU32,
    /// Truncations that fail.
    truncates: AtomicU32,
    /// Syncs that fail (after the write went through).
    syncs: AtomicU32,
    /// Milliseconds each sync sleeps first (a slow disk).
    sync_delay_ms: AtomicU32,
}

fn take(n: &AtomicU32) -> bool {
    n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1))
        .is_ok()
}

impl Faults {
    pub(super) fn write(&self, file: &fs::File, buf: &[u8], at: u64) -> Option<io::Error> {
        if !take(&self.writes) {
            return None;
        }
        let _ = file.write_all_at(&buf[..buf.len() / 2], at);
        Some(io::Error::new(
            io::ErrorKind::StorageFull,
            "No space left on device (injected)",
        ))
    }

    pub(super) fn truncate(&self) -> Option<io::Error> {
        take(&self.truncates).then(|| io::Error::other("injected truncate failure"))
    }

    pub(super) fn sync(&self) -> Option<io::Error> {
        let ms = self.sync_delay_ms.load(Ordering::SeqCst);
        if ms > 0 {
            std::thread::sleep(Duration::from_millis(ms.into()));
        }
        take(&self.syncs).then(|| io::Error::other("Input/output error (injected)"))
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("busbar-spool-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    d
}

fn settings(dir: &Path, max_bytes: u64, segment_bytes: u64) -> SpoolSettings {
    SpoolSettings {
        path: dir.to_path_buf(),
        max_bytes,
        segment_bytes,
    }
}

fn open(s: &SpoolSettings) -> (Spool, Vec<(RecordId, Vec<u8>)>, Metrics) {
    let m = Metrics::new();
    let (spool, records) = Spool::open(s, &m).unwrap();
    (spool, records, m)
}

/// The payloads of recovered records.
fn payloads(records: &[(RecordId, Vec<u8>)]) -> Vec<Vec<u8>> {
    records.iter().map(|(_, p)| p.clone()).collect()
}

fn event(i: usize) -> Vec<u8> {
    format!("{{\"id\":{i},\"detail\":\"{}\"}}", "x".repeat(i % 7)).into_bytes()
}

/// The segment files, by number.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn records_round_trip_through_a_reopen() {
    let dir = temp_dir("round-trip");
    let s = settings(&dir.join("nested"), 1 << 20, 64 << 10);
    let (spool, records, _m) = open(&s);
    assert!(records.is_empty());
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(spool.append(&event(i)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(spool.pending_records(), 3);
    let want: u64 = (0..3).map(|i| frame_len(event(i).len()) as u64).sum();
    assert_eq!(spool.used_bytes(), want);
    spool.close().await;
    assert!(matches!(
        spool.append(b"late").await,
        Err(AppendError::Closed)
    ));
    spool.close().await;

    let (spool, records, m) = open(&s);
    assert_eq!(records.iter().map(|(id, _)| *id).collect::<Vec<_>>(), ids);
    assert_eq!(payloads(&records), (0..3).map(event).collect::<Vec<_>>());
    assert_eq!(spool.pending_records(), 3);
    assert_eq!(m.spool_pending_records.get(), 3);
    assert_eq!(m.spool_limit_bytes.get(), 1 << 20);
    assert_eq!(m.spool_corrupt_records.get(), 0);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reopen_returns_exactly_the_unreleased_records_in_order() {
    let dir = temp_dir("unreleased");
    let s = settings(&dir, 1 << 20, 256);
    let (spool, _, _m) = open(&s);
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(spool.append(&event(i)).await.unwrap());
    }
    for (i, id) in ids.iter().enumerate() {
        if i % 3 != 1 {
            spool.release(*id);
        }
    }
    // A second release, and one of an id the spool never held, do nothing.
    spool.release(ids[0]);
    spool.release(RecordId {
        segment: 999,
        offset: 0,
    });
    assert_eq!(spool.pending_records(), 13);
    spool.close().await;

    let (spool, records, _m) = open(&s);
    let kept: Vec<usize> = (0..40).filter(|i| i % 3 == 1).collect();
    assert_eq!(
        records.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        kept.iter().map(|i| ids[*i]).collect::<Vec<_>>()
    );
    assert_eq!(
        payloads(&records),
        kept.iter().map(|i| event(*i)).collect::<Vec<_>>()
    );
    // Recovered records are live: releasing them by their old id counts.
    for (id, _) in &records {
        spool.release(*id);
    }
    assert_eq!(spool.pending_records(), 0);
    spool.close().await;
    let (spool, records, _m) = open(&s);
    assert!(records.is_empty(), "{records:?}");
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn released_segments_are_deleted_and_their_bytes_stop_counting() {
    let dir = temp_dir("delete");
    let s = settings(&dir, 1 << 20, 200);
    let (spool, _, m) = open(&s);
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(spool.append(&[b'a' + (i % 26) as u8; 50]).await.unwrap());
    }
    let segments: BTreeSet<u64> = ids.iter().map(|id| id.segment()).collect();
    assert!(segments.len() >= 9, "{segments:?}");
    let files_before = segment_files(&dir).len();
    let used_before = spool.used_bytes();
    // Release everything but the last 5 records.
    for id in &ids[..25] {
        spool.release(*id);
    }
    let keep: BTreeSet<u64> = ids[25..].iter().map(|id| id.segment()).collect();
    wait_until("released segments deleted", || {
        segment_files(&dir).len() <= keep.len() + 1
    })
    .await;
    assert!(segment_files(&dir).len() < files_before);
    assert!(
        spool.used_bytes() < used_before / 2,
        "{}",
        spool.used_bytes()
    );
    assert_eq!(m.spool_used_bytes.get() as u64, spool.used_bytes());
    assert_eq!(m.spool_pending_records.get(), 5);
    spool.close().await;

    let (spool, records, _m) = open(&s);
    assert_eq!(
        records.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        ids[25..]
    );
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_segment_holding_markers_for_an_older_one_waits_for_it() {
    let dir = temp_dir("pinned");
    let s = settings(&dir, 1 << 20, 200);
    let (spool, _, _m) = open(&s);
    let p = [b'p'; 50];
    let x = spool.append(&p).await.unwrap();
    let y1 = spool.append(&p).await.unwrap();
    let y2 = spool.append(&p).await.unwrap();
    let z = spool.append(&p).await.unwrap();
    let (a, b) = (x.segment(), z.segment());
    assert!(y2.segment() == a && b > a);
    spool.release(y1);
    spool.release(y2);
    // Their marker rides with this append into segment `b`.
    let w = spool.append(&p).await.unwrap();
    assert_eq!(w.segment(), b);
    spool.release(z);
    spool.release(w);
    let v = spool.append(&p).await.unwrap();
    assert!(v.segment() > b);
    // `b` holds no live record, but its marker is all that releases y1
    // and y2 while `a` (holding x) is there.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(recover::segment_path(&dir, b).exists());
    spool.close().await;
    let (spool, records, _m) = open(&s);
    assert_eq!(
        records.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [x, v]
    );
    spool.release(x);
    wait_until("both segments deleted", || {
        !recover::segment_path(&dir, a).exists() && !recover::segment_path(&dir, b).exists()
    })
    .await;
    spool.close().await;
    let (spool, records, _m) = open(&s);
    assert_eq!(records.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [v]);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_torn_last_record_is_cut_at_every_offset_and_appending_goes_on() {
    let dir = temp_dir("torn");
    let s = settings(&dir, 1 << 20, 64 << 10);
    let (spool, _, _m) = open(&s);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(spool.append(&event(i + 10)).await.unwrap());
    }
    spool.close().await;
    let file = recover::segment_path(&dir, ids[2].segment());
    let original = fs::read(&file).unwrap();
    let last = ids[2].offset() as usize;
    assert_eq!(original.len(), last + frame_len(event(12).len()));

    for cut in last..original.len() {
        for f in segment_files(&dir) {
            fs::remove_file(f).unwrap();
        }
        fs::write(&file, &original[..cut]).unwrap();
        let (spool, records, m) = open(&s);
        assert_eq!(payloads(&records), [event(10), event(11)], "cut at {cut}");
        assert_eq!(m.spool_corrupt_records.get(), 0, "cut at {cut}");
        assert_eq!(fs::metadata(&file).unwrap().len(), last as u64);
        spool.append(b"after").await.unwrap();
        spool.close().await;
        let (spool, records, _m) = open(&s);
        assert_eq!(
            payloads(&records),
            [event(10), event(11), b"after".to_vec()],
            "cut at {cut}"
        );
        spool.close().await;
    }
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_damaged_record_in_an_older_segment_is_skipped_and_counted() {
    let dir = temp_dir("flip");
    let s = settings(&dir, 1 << 20, 120);
    let (spool, _, _m) = open(&s);
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(spool.append(&event(i)).await.unwrap());
    }
    spool.close().await;
    let first = ids[0].segment();
    let in_first: Vec<usize> = (0..12).filter(|i| ids[*i].segment() == first).collect();
    assert!(in_first.len() >= 3, "{ids:?}");
    let middle = in_first[1];
    let file = recover::segment_path(&dir, first);
    let original = fs::read(&file).unwrap();

    // A flip in the payload, and one in the length field.
    for at in [
        ids[middle].offset() as usize + HEADER + 3,
        ids[middle].offset() as usize + 5,
    ] {
        let mut damaged = original.clone();
        damaged[at] ^= 0x10;
        fs::write(&file, &damaged).unwrap();
        let (spool, records, m) = open(&s);
        let want: Vec<Vec<u8>> = (0..12).filter(|i| *i != middle).map(event).collect();
        assert_eq!(payloads(&records), want, "flip at {at}");
        assert_eq!(m.spool_corrupt_records.get(), 1, "flip at {at}");
        spool.close().await;
    }
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_zero_filled_tail_is_cut_off() {
    let dir = temp_dir("zeros");
    let s = settings(&dir, 1 << 20, 64 << 10);
    let (spool, _, _m) = open(&s);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(spool.append(&event(i)).await.unwrap());
    }
    spool.close().await;
    let file = recover::segment_path(&dir, ids[0].segment());
    let mut bytes = fs::read(&file).unwrap();
    let end = bytes.len() as u64;
    // Preallocated blocks past the end.
    bytes.extend_from_slice(&[0; 4096]);
    fs::write(&file, &bytes).unwrap();
    let (spool, records, m) = open(&s);
    assert_eq!(payloads(&records), (0..3).map(event).collect::<Vec<_>>());
    assert_eq!(m.spool_corrupt_records.get(), 0);
    assert_eq!(fs::metadata(&file).unwrap().len(), end);
    spool.close().await;
    // The last record's blocks zeroed (a power loss before they were written).
    let last = ids[2].offset() as usize;
    bytes.truncate(end as usize);
    bytes[last..].fill(0);
    fs::write(&file, &bytes).unwrap();
    let (spool, records, m) = open(&s);
    assert_eq!(payloads(&records), [event(0), event(1)]);
    assert_eq!(m.spool_corrupt_records.get(), 0);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_empty_directory_opens_empty() {
    let dir = temp_dir("empty");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("README"), "not a segment").unwrap();
    let (spool, records, m) = open(&settings(&dir, 1 << 20, 64 << 10));
    assert!(records.is_empty());
    assert_eq!(spool.used_bytes(), 0);
    assert_eq!(m.spool_used_bytes.get(), 0);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_full_spool_refuses_with_the_numbers_and_space_returns() {
    let dir = temp_dir("full");
    let s = settings(&dir, 2048, 512);
    let (spool, _, m) = open(&s);
    let payload = [b'f'; 188];
    let frame = frame_len(payload.len()) as u64;
    let mut ids = Vec::new();
    let err = loop {
        match spool.append(&payload).await {
            Ok(id) => ids.push(id),
            Err(e) => break e,
        }
    };
    assert_eq!(ids.len() as u64, 2048 / frame);
    let used = ids.len() as u64 * frame;
    assert!(
        matches!(err, AppendError::Full { used: u, limit: 2048 } if u == used),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(&format!("{used} bytes")), "{text}");
    assert!(text.contains("spool.max_bytes (2048)"), "{text}");
    assert_eq!(m.spool_full_rejections.get(), 1);

    for id in &ids {
        spool.release(*id);
    }
    wait_until("space to return", || spool.used_bytes() + frame <= 2048).await;
    spool.append(&payload).await.unwrap();
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_fails_while_the_first_is_open() {
    let dir = temp_dir("lock");
    let s = settings(&dir, 1 << 20, 64 << 10);
    let (spool, _, _m) = open(&s);
    let err = Spool::open(&s, &Metrics::new()).err().unwrap();
    assert!(err.contains("in use by another busbar process"), "{err}");
    assert!(err.contains(&dir.display().to_string()), "{err}");
    spool.close().await;
    let (spool, _, _m) = open(&s);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_syncs() {
    let dir = temp_dir("group");
    let (spool, _, m) = open(&settings(&dir, 1 << 20, 1 << 20));
    // A 20 ms disk makes the grouping independent of this machine's speed.
    spool
        .handle
        .shared
        .faults
        .sync_delay_ms
        .store(20, Ordering::SeqCst);
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let spool = spool.clone();
            tokio::spawn(async move { spool.append(&event(i)).await.unwrap() })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids.len(), 64);
    let per_sync = &m.spool_records_per_sync;
    assert_eq!(per_sync.get_sample_sum(), 64.0);
    assert!(
        per_sync.get_sample_count() < 64 / 4,
        "{} syncs for 64 appends",
        per_sync.get_sample_count()
    );
    assert_eq!(
        m.spool_sync_duration.get_sample_count(),
        per_sync.get_sample_count()
    );
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_record_larger_than_a_segment_gets_one_of_its_own() {
    let dir = temp_dir("big");
    let s = settings(&dir, 1 << 20, 256);
    let (spool, _, _m) = open(&s);
    let small = spool.append(b"small").await.unwrap();
    let big = spool.append(&[b'B'; 1000]).await.unwrap();
    let after = spool.append(b"after").await.unwrap();
    assert!(small.segment() < big.segment() && big.segment() < after.segment());
    assert_eq!(big.offset(), 0);
    assert_eq!(
        fs::metadata(recover::segment_path(&dir, big.segment()))
            .unwrap()
            .len(),
        frame_len(1000) as u64
    );
    spool.close().await;
    let (spool, records, _m) = open(&s);
    assert_eq!(
        payloads(&records),
        [b"small".to_vec(), vec![b'B'; 1000], b"after".to_vec()]
    );
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_failed_write_leaves_no_half_record_behind() {
    let dir = temp_dir("enospc");
    let s = settings(&dir, 1 << 20, 64 << 10);
    let (spool, _, m) = open(&s);
    let faults = &spool.handle.shared.faults;
    let first = spool.append(b"first").await.unwrap();
    faults.writes.store(1, Ordering::SeqCst);
    let err = spool.append(&event(1)).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AppendError::Io(_)), "{err:?}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(text.contains(&dir.display().to_string()), "{text}");
    let used = spool.used_bytes();
    let second = spool.append(b"second").await.unwrap();
    // The second record follows the first directly: the half record was cut.
    assert_eq!(second.segment(), first.segment());
    assert_eq!(second.offset(), frame_len(5) as u64);
    assert_eq!(spool.used_bytes(), used + frame_len(6) as u64);

    // A failed write that cannot be cut back: the next record goes to a
    // new segment.
    faults.writes.store(1, Ordering::SeqCst);
    faults.truncates.store(1, Ordering::SeqCst);
    assert!(spool.append(&event(2)).await.is_err());
    let third = spool.append(b"third").await.unwrap();
    assert!(third.segment() > first.segment());
    assert_eq!(spool.pending_records(), 3);

    // A sync that fails after the whole record was written, in a segment
    // that cannot be cut back: the record is whole on disk, yet its append
    // was refused, so it must not come back.
    faults.syncs.store(1, Ordering::SeqCst);
    faults.truncates.store(1, Ordering::SeqCst);
    let refused = spool.append(b"refused").await.unwrap_err();
    assert!(
        refused.to_string().contains("Input/output error"),
        "{refused}"
    );
    let fourth = spool.append(b"fourth").await.unwrap();
    assert!(fourth.segment() > third.segment());
    assert_eq!(spool.pending_records(), 4);
    spool.close().await;
    drop(m);

    let (spool, records, m) = open(&s);
    assert_eq!(
        payloads(&records),
        [
            b"first".to_vec(),
            b"second".to_vec(),
            b"third".to_vec(),
            b"fourth".to_vec()
        ]
    );
    // The half record left in the first segment reads as a torn tail.
    assert_eq!(m.spool_corrupt_records.get(), 0);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn release_markers_are_written_within_a_second_without_appends() {
    let dir = temp_dir("marker-delay");
    let s = settings(&dir, 1 << 20, 64 << 10);
    let (spool, _, _m) = open(&s);
    let a = spool.append(b"a").await.unwrap();
    let b = spool.append(b"b").await.unwrap();
    spool.release(a);
    let file = recover::segment_path(&dir, a.segment());
    let before = fs::metadata(&file).unwrap().len();
    wait_until("the marker to be written", || {
        fs::metadata(&file).unwrap().len() > before
    })
    .await;
    // The marker is on disk before the last handle goes.
    drop(spool);
    let (spool, records, _m) = loop {
        match Spool::open(&s, &Metrics::new()) {
            Ok((spool, records)) => break (spool, records, ()),
            // The writer thread drops the lock just after the last handle.
            Err(e) if e.contains("in use") => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(records, [(b, b"b".to_vec())]);
    spool.close().await;
    let _ = fs::remove_dir_all(&dir);
}

/// Appends per second and MB/s for 1 KiB records with 1, 8 and 64
/// concurrent appenders, on the disk of `BUSBAR_SPOOL_BENCH_DIR` (default:
/// the temp directory). Run with
/// `cargo test --release --lib spool::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let base = std::env::var_os("BUSBAR_SPOOL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("busbar-spool-bench-{}", std::process::id()));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let payload = vec![b'x'; 1024];
    for appenders in [1usize, 8, 64] {
        let dir = base.join(appenders.to_string());
        let _ = fs::remove_dir_all(&dir);
        let m = Metrics::new();
        let (spool, _) = Spool::open(&settings(&dir, 1 << 40, 16 << 20), &m).unwrap();
        let run_for = Duration::from_secs(3);
        let t = Instant::now();
        let count: u64 = rt.block_on(async {
            let tasks: Vec<_> = (0..appenders)
                .map(|_| {
                    let spool = spool.clone();
                    let payload = payload.clone();
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while t.elapsed() < run_for {
                            let id = spool.append(&payload).await.unwrap();
                            spool.release(id);
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await.unwrap();
            }
            spool.close().await;
            total
        });
        let secs = t.elapsed().as_secs_f64();
        let syncs = m.spool_records_per_sync.get_sample_count();
        let sync_s = m.spool_sync_duration.get_sample_sum() / syncs.max(1) as f64;
        println!(
            "{appenders:>3} appenders: {:>8.0} appends/s {:>7.2} MB/s  {:>6.1} records/sync  {:.2} ms/sync",
            count as f64 / secs,
            count as f64 * 1024.0 / secs / 1e6,
            count as f64 / syncs.max(1) as f64,
            sync_s * 1e3,
        );
        let _ = fs::remove_dir_all(&dir);
    }
    let _ = fs::remove_dir_all(&base);
}
