//! `stdout` and `file` outputs: NDJSON written in whole lines, for targets
//! and dead letters alike.
//!
//! Every writer of one place (stdout, stderr, one file) shares one [`Out`],
//! so `stdout` targets, a `stdout` dead letter and a file target and file
//! dead letter on the same path never cut each other's lines. A rule set
//! with a thousand stdout targets still has one writer thread and one
//! buffer per place: targets hand their batches to that place's thread,
//! which writes a batch with one `write` loop (a slow terminal or pipe is
//! the natural backpressure of a shell pipeline) under the target's retry
//! policy.
//!
//! # Whole lines
//!
//! A write can fail halfway (a full disk takes the part that fits, then
//! refuses the rest). A line cut in two is never counted as delivered, and
//! it must not merge with the next line written. So:
//!
//! - **A regular file is cut back** to the end of its last whole line
//!   (`File::set_len`) right after a failed or short write. The lines that
//!   were written whole count as delivered; a retry writes only the rest,
//!   so no line is written twice. If the cut itself fails, it is tried
//!   again before anything else is written to the file.
//! - **A stream (stdout, stderr, a pipe or device given as a path) cannot
//!   be cut back.** The part of a line that went out stays out. When the
//!   same writer retries, it writes the rest of that line, so the line
//!   comes out whole. When it gives up instead (or another writer comes
//!   first), the fragment is ended with a newline before anything else is
//!   written: a reader sees one broken line, which never merges with a
//!   record, and the event it belonged to is dead-lettered, not delivered.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use super::retry::{Decision, DeliveryErrorCode};
use super::{Failed, TargetBatch, TargetInfo};

/// What a sink thread receives: a batch and the target it is for.
pub type Job = (TargetBatch, Arc<TargetInfo>);

/// Where lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    Stdout,
    Stderr,
    File(&'a Path),
}

/// One shared output by identity: the standard streams, or a file by
/// device and inode, so two spellings of one path share one [`Out`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OutKey {
    Stdout,
    Stderr,
    Inode(u64, u64),
}

/// The running sinks by place (`None`: stdout), and the shared outputs
/// every target and dead letter writes through; one per process.
pub struct Sinks {
    running: Mutex<HashMap<Option<PathBuf>, mpsc::UnboundedSender<Job>>>,
    outs: Mutex<HashMap<OutKey, Weak<Mutex<Out>>>>,
    /// Set once a `stdout` target found its reader gone (`EPIPE`): `busbar
    /// run ... | head -1` then stops as on SIGTERM, as `filter` does.
    stdout_closed: tokio::sync::watch::Sender<bool>,
}

impl Default for Sinks {
    fn default() -> Self {
        Sinks {
            running: Mutex::default(),
            outs: Mutex::default(),
            stdout_closed: tokio::sync::watch::channel(false).0,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Sinks {
    /// Resolves once a `stdout` target's reader is gone; never otherwise.
    pub fn stdout_closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stdout_closed.subscribe();
        async move {
            if rx.wait_for(|closed| *closed).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The sink for `path` (`None`: stdout), started on first use.
    pub fn get(&self, path: Option<&Path>) -> Result<mpsc::UnboundedSender<Job>, String> {
        let mut running = lock(&self.running);
        let key = path.map(Path::to_path_buf);
        if let Some(tx) = running.get(&key).filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let writer = match path {
            None => self.writer(Place::Stdout),
            Some(p) => self.writer(Place::File(p)),
        }
        .map_err(|e| match path {
            None => format!("cannot write to stdout: {e}"),
            Some(p) => format!("cannot open `{}`: {e}", p.display()),
        })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let closed = path.is_none().then(|| self.stdout_closed.clone());
        let name = match path {
            None => "busbar-stdout".to_string(),
            Some(_) => format!("busbar-file-{}", running.len()),
        };
        std::thread::Builder::new()
            .name(name)
            .spawn(move || run(writer, rx, closed))
            .map_err(|e| format!("cannot start a writer thread: {e}"))?;
        running.insert(key, tx.clone());
        Ok(tx)
    }

    /// A writer of whole lines to `place`, sharing its [`Out`] with every
    /// other writer of the same place. A file is opened for append and
    /// created if missing.
    pub fn writer(&self, place: Place<'_>) -> io::Result<LineWriter> {
        let (key, open): (OutKey, Option<File>) = match place {
            Place::Stdout => (OutKey::Stdout, None),
            Place::Stderr => (OutKey::Stderr, None),
            Place::File(p) => {
                let f = OpenOptions::new().create(true).append(true).open(p)?;
                let m = f.metadata()?;
                (OutKey::Inode(m.dev(), m.ino()), Some(f))
            }
        };
        let mut outs = lock(&self.outs);
        outs.retain(|_, w| w.strong_count() > 0);
        let out = match outs.get(&key).and_then(Weak::upgrade) {
            Some(out) => out,
            None => {
                let out = Arc::new(Mutex::new(match (key, open) {
                    (OutKey::Stdout, _) => Out::stream(Std::Out)?,
                    (OutKey::Stderr, _) => Out::stream(Std::Err)?,
                    (_, Some(f)) => Out::file(f, place)?,
                    (OutKey::Inode(..), None) => {
                        unreachable!("a file place is opened above")
                    }
                }));
                outs.insert(key, Arc::downgrade(&out));
                out
            }
        };
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Ok(LineWriter {
            out,
            id: NEXT.fetch_add(1, Ordering::Relaxed),
        })
    }
}

/// A write that did not complete: `written` bytes from the start of the
/// buffer, all whole lines, are out; the rest is not (see the
/// [module docs](self) for what a stream keeps of a cut line).
#[derive(Debug)]
pub struct ShortWrite {
    pub written: usize,
    pub error: io::Error,
}

/// One writer's handle on a shared output. Each writer retries its own
/// lines; the handle's identity is what lets a stream finish the line this
/// writer started, and only that one.
pub struct LineWriter {
    out: Arc<Mutex<Out>>,
    id: u64,
}

impl LineWriter {
    /// Write `lines` (whole lines, each ending in `\n`). On `Err`, call
    /// again with `&lines[e.written..]` to retry, or [`give_up`](Self::give_up).
    pub fn write(&self, lines: &[u8]) -> Result<(), ShortWrite> {
        lock(&self.out).write(self.id, lines)
    }

    /// This writer will not retry the rest of its last short write.
    pub fn give_up(&self) {
        lock(&self.out).give_up(self.id);
    }

    /// The latency label of the place (`stdout`, `file`).
    pub fn kind(&self) -> &'static str {
        match lock(&self.out).dest {
            Dest::File(_) => "file",
            Dest::Stream { std: None, .. } => "file",
            Dest::Stream { .. } => "stdout",
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Std {
    Out,
    Err,
}

enum Dest {
    /// A regular file, opened for append: cut back after a short write.
    File(File),
    /// Cannot be cut back: stdout and stderr (`std` says which, so the
    /// process-wide lock of that stream is held while writing), or a path
    /// that is a pipe or a device.
    Stream { fd: File, std: Option<Std> },
}

/// One output place and what is known about its last line.
struct Out {
    dest: Dest,
    /// A file: the length to cut back to before anything else is written
    /// (the cut after a short write failed too).
    cut_to: Option<u64>,
    /// A stream: bytes of an unfinished line that are out, and the writer
    /// that wrote them.
    open_line: Option<(u64, usize)>,
    /// The place ends in a fragment that could not be removed: start the
    /// next write with a newline.
    end_line: bool,
    /// Tests: bytes the place takes before it reports a full disk.
    #[cfg(test)]
    room: Option<usize>,
}

impl Out {
    fn stream(std: Std) -> io::Result<Out> {
        // A duplicate of the descriptor, written without Rust's buffer, so
        // that a short write says exactly which bytes went out.
        let fd = match std {
            Std::Out => io::stdout().as_fd().try_clone_to_owned()?,
            Std::Err => io::stderr().as_fd().try_clone_to_owned()?,
        };
        Ok(Out {
            dest: Dest::Stream {
                fd: File::from(fd),
                std: Some(std),
            },
            cut_to: None,
            open_line: None,
            end_line: false,
            #[cfg(test)]
            room: None,
        })
    }

    fn file(f: File, place: Place<'_>) -> io::Result<Out> {
        let m = f.metadata()?;
        if !m.is_file() {
            return Ok(Out {
                dest: Dest::Stream { fd: f, std: None },
                cut_to: None,
                open_line: None,
                end_line: false,
                #[cfg(test)]
                room: None,
            });
        }
        // A file that ends in a partial line (another program's, or a crash
        // in the middle of a write): the first line busbar writes starts on
        // a line of its own. Reading needs a second handle: the writer is
        // append-only.
        let mut end_line = false;
        if m.len() > 0 {
            if let Place::File(p) = place {
                let mut last = [0u8; 1];
                if let Ok(r) = File::open(p) {
                    end_line =
                        r.read_at(&mut last, m.len() - 1).is_ok_and(|n| n == 1) && last[0] != b'\n';
                }
            }
        }
        Ok(Out {
            dest: Dest::File(f),
            cut_to: None,
            open_line: None,
            end_line,
            #[cfg(test)]
            room: None,
        })
    }

    fn write(&mut self, writer: u64, lines: &[u8]) -> Result<(), ShortWrite> {
        let short = |error| ShortWrite { written: 0, error };
        // What this writer already wrote of its first line (a stream only).
        let mut skip = 0;
        match self.open_line.take() {
            Some((w, n)) if w == writer => skip = n,
            Some(_) => self.end_line = true,
            None => {}
        }
        if let Some(len) = self.cut_to {
            if let Dest::File(f) = &self.dest {
                f.set_len(len).map_err(short)?;
            }
            self.cut_to = None;
        }
        if self.end_line {
            let (n, e) = self.raw_write(b"\n");
            if let Some(e) = e {
                // Nothing of it went out, or all of it did.
                self.end_line = n == 0;
                return Err(short(e));
            }
            self.end_line = false;
        }
        let (n, e) = self.raw_write(&lines[skip..]);
        let Some(error) = e else {
            return Ok(());
        };
        let out = skip + n;
        let whole = memchr::memrchr(b'\n', &lines[..out]).map_or(0, |i| i + 1);
        let cut = out - whole;
        if cut > 0 {
            match &mut self.dest {
                Dest::File(f) => {
                    // The append offset is the end of what this write put
                    // there; the fragment is its last `cut` bytes.
                    let end = f
                        .stream_position()
                        .or_else(|_| f.metadata().map(|m| m.len()));
                    match end {
                        Ok(end) => {
                            let len = end.saturating_sub(cut as u64);
                            if f.set_len(len).is_err() {
                                self.cut_to = Some(len);
                            }
                        }
                        Err(_) => self.end_line = true,
                    }
                }
                Dest::Stream { .. } => self.open_line = Some((writer, cut)),
            }
        }
        Err(ShortWrite {
            written: whole,
            error,
        })
    }

    fn give_up(&mut self, writer: u64) {
        if matches!(self.open_line, Some((w, _)) if w == writer) {
            self.open_line = None;
            self.end_line = true;
        }
    }

    /// Write as much of `buf` as the place takes: how much, and why it
    /// stopped short.
    fn raw_write(&mut self, buf: &[u8]) -> (usize, Option<io::Error>) {
        #[cfg(test)]
        if let Some(room) = self.room {
            let take = room.min(buf.len());
            self.room = None;
            let (n, e) = self.raw_write(&buf[..take]);
            self.room = Some(room - n);
            if e.is_some() || n == buf.len() {
                return (n, e);
            }
            return (n, Some(io::Error::from_raw_os_error(28)));
        }
        let (f, std) = match &mut self.dest {
            Dest::File(f) => (f, None),
            Dest::Stream { fd, std } => (fd, *std),
        };
        // Hold the process's own lock of the stream, so that no line
        // printed through `std::io` lands inside ours, and send out what
        // it buffered first.
        let _out_lock = matches!(std, Some(Std::Out)).then(|| {
            let mut l = io::stdout().lock();
            let _ = l.flush();
            l
        });
        let _err_lock = matches!(std, Some(Std::Err)).then(|| io::stderr().lock());
        let mut n = 0;
        while n < buf.len() {
            match f.write(&buf[n..]) {
                Ok(0) => return (n, Some(io::ErrorKind::WriteZero.into())),
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (n, Some(e)),
            }
        }
        (n, None)
    }
}

/// `closed`: for stdout, what to set when its reader is gone.
fn run(
    out: LineWriter,
    mut rx: mpsc::UnboundedReceiver<Job>,
    closed: Option<tokio::sync::watch::Sender<bool>>,
) {
    let kind = out.kind();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut ends = Vec::new();
    while let Some((tb, info)) = rx.blocking_recv() {
        buf.clear();
        ends.clear();
        for d in &tb.items {
            buf.extend_from_slice(tb.payload(d));
            buf.push(b'\n');
            ends.push(buf.len());
        }
        deliver(&out, kind, &tb, &info, &buf, &ends, closed.as_ref());
        // Do not keep a large batch's buffer around.
        if buf.capacity() > 4 << 20 {
            buf = Vec::with_capacity(1 << 16);
        }
    }
}

/// Write a batch's lines (`ends[i]`: where item `i`'s line ends in `buf`)
/// under the target's retry policy. Each line counts as delivered once it
/// is out whole; a retry writes only the lines not yet out; what the
/// policy gives up on is dead-lettered.
fn deliver(
    out: &LineWriter,
    kind: &'static str,
    tb: &TargetBatch,
    info: &TargetInfo,
    buf: &[u8],
    ends: &[usize],
    closed: Option<&tokio::sync::watch::Sender<bool>>,
) {
    let accepted_at = tb.routed.batch.accepted_at;
    let latency = info.latency(kind);
    let mut written = 0;
    let mut delivered = 0;
    let mut attempts = 0;
    loop {
        if info.abort.is_set() {
            // Shutdown's grace period is over: what is not out yet goes on
            // with SHUTDOWN.
            out.give_up();
            for d in &tb.items[delivered..] {
                info.give_up(tb.event(d), info.aborted(attempts));
            }
            return;
        }
        attempts += 1;
        let result = out.write(&buf[written..]);
        written += match &result {
            Ok(()) => buf.len() - written,
            Err(s) => s.written,
        };
        let now_out = ends[delivered..]
            .iter()
            .take_while(|&&end| end <= written)
            .count();
        let secs = accepted_at.elapsed().as_secs_f64();
        for d in &tb.items[delivered..delivered + now_out] {
            latency.observe(secs);
            tb.event(d).done();
        }
        if now_out > 0 {
            info.delivered(now_out as u64);
        }
        delivered += now_out;
        let Err(ShortWrite { error, .. }) = result else {
            return;
        };
        let code = match error.kind() {
            io::ErrorKind::PermissionDenied => DeliveryErrorCode::NoPermissions,
            // The reader of a pipe is gone (`busbar run ... | head`): it
            // will not come back, so do not hold the pipeline for a day.
            io::ErrorKind::NotFound | io::ErrorKind::BrokenPipe => DeliveryErrorCode::NoResource,
            // A full disk may recover; retrying is what the policy is for.
            _ => DeliveryErrorCode::ServerError,
        };
        let message = format!("write failed: {error}");
        match closed {
            // Not a failure to warn about (a shell pipeline that took what
            // it wanted): the service logs it once and stops; the events
            // not written are dead-lettered or counted as dropped.
            Some(closed) if error.kind() == io::ErrorKind::BrokenPipe => {
                info.count_failure(code.as_str());
                closed.send_replace(true);
            }
            _ => info.failed(code.as_str(), &message),
        }
        let exhausted = if !code.retryable() {
            None
        } else {
            match info
                .policy
                .decide(attempts, accepted_at.elapsed(), None, super::random_u64())
            {
                Decision::RetryIn(d) => {
                    info.retries.inc();
                    info.abort.sleep_blocking(d.min(Duration::from_secs(60)));
                    continue;
                }
                Decision::Exhausted(c) => Some(c.as_str()),
            }
        };
        out.give_up();
        for d in &tb.items[delivered..] {
            info.give_up(
                tb.event(d),
                Failed {
                    code: code.as_str(),
                    message: message.clone(),
                    exhausted,
                    attempts,
                },
            );
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("busbar-stream-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    const LINES: &[u8] = b"{\"a\":1}\n{\"b\":22}\n{\"c\":3}\n";

    #[test]
    fn a_file_is_cut_back_to_its_last_whole_line_and_the_retry_completes_it() {
        let p = dir("cut").join("out.ndjson");
        let sinks = Sinks::default();
        let w = sinks.writer(Place::File(&p)).unwrap();
        w.write(b"{\"before\":0}\n").unwrap();
        // A full disk: 8 bytes of line one and 2 of line two fit.
        lock(&w.out).room = Some(10);
        let e = w.write(LINES).unwrap_err();
        assert_eq!(e.written, 8);
        assert_eq!(e.error.raw_os_error(), Some(28));
        assert_eq!(std::fs::read(&p).unwrap(), b"{\"before\":0}\n{\"a\":1}\n");
        // Nothing fits: nothing written, nothing to cut.
        let e = w.write(&LINES[8..]).unwrap_err();
        assert_eq!(e.written, 0);
        // Space again: the retry writes only what is not out yet.
        lock(&w.out).room = None;
        w.write(&LINES[8..]).unwrap();
        let mut want = b"{\"before\":0}\n".to_vec();
        want.extend_from_slice(LINES);
        assert_eq!(std::fs::read(&p).unwrap(), want);
    }

    #[test]
    fn a_file_given_up_on_keeps_only_whole_lines() {
        let p = dir("give-up").join("out.ndjson");
        let sinks = Sinks::default();
        let w = sinks.writer(Place::File(&p)).unwrap();
        lock(&w.out).room = Some(12);
        let e = w.write(LINES).unwrap_err();
        w.give_up();
        lock(&w.out).room = None;
        w.write(b"{\"d\":4}\n").unwrap();
        let mut want = LINES[..e.written].to_vec();
        want.extend_from_slice(b"{\"d\":4}\n");
        assert_eq!(std::fs::read(&p).unwrap(), want);
    }

    fn stream(p: &Path) -> Arc<Mutex<Out>> {
        let fd = OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        Arc::new(Mutex::new(Out {
            dest: Dest::Stream { fd, std: None },
            cut_to: None,
            open_line: None,
            end_line: false,
            room: None,
        }))
    }

    #[test]
    fn a_stream_finishes_its_own_line_and_ends_one_given_up_on() {
        let p = dir("stream").join("pipe");
        let out = stream(&p);
        let (one, two) = (
            LineWriter {
                out: out.clone(),
                id: 1,
            },
            LineWriter {
                out: out.clone(),
                id: 2,
            },
        );
        // Writer 1 gets one line and 2 bytes of the next out, then retries.
        lock(&out).room = Some(10);
        let e = one.write(LINES).unwrap_err();
        assert_eq!(e.written, 8);
        lock(&out).room = None;
        one.write(&LINES[8..]).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), LINES);

        // Writer 1 cuts a line and gives up: writer 2 starts a new line.
        lock(&out).room = Some(3);
        one.write(b"{\"e\":5}\n").unwrap_err();
        one.give_up();
        lock(&out).room = None;
        two.write(b"{\"f\":6}\n").unwrap();
        // Writer 2 comes while writer 1's line is open: the same.
        lock(&out).room = Some(2);
        one.write(b"{\"g\":7}\n").unwrap_err();
        lock(&out).room = None;
        two.write(b"{\"h\":8}\n").unwrap();
        let mut want = LINES.to_vec();
        want.extend_from_slice(b"{\"e\n{\"f\":6}\n{\"\n{\"h\":8}\n");
        assert_eq!(std::fs::read(&p).unwrap(), want);
        // Writer 1's retry after that rewrites its whole line.
        one.write(b"{\"g\":7}\n").unwrap();
        assert!(std::fs::read(&p)
            .unwrap()
            .ends_with(b"{\"h\":8}\n{\"g\":7}\n"));
    }

    #[test]
    fn a_file_ending_in_a_fragment_gets_a_line_of_its_own_first() {
        let d = dir("fragment");
        let p = d.join("out.ndjson");
        std::fs::write(&p, b"{\"old\":1}\n{\"torn\":").unwrap();
        let sinks = Sinks::default();
        let w = sinks.writer(Place::File(&p)).unwrap();
        w.write(b"{\"new\":2}\n").unwrap();
        assert_eq!(
            std::fs::read(&p).unwrap(),
            b"{\"old\":1}\n{\"torn\":\n{\"new\":2}\n"
        );
        // Two spellings of one path share one output.
        let again = sinks
            .writer(Place::File(&d.join(".").join("out.ndjson")))
            .unwrap();
        assert!(Arc::ptr_eq(&w.out, &again.out));
    }
}
