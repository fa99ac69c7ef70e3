//! The `stdin` source: NDJSON, one event per line (an EventBridge envelope
//! or any JSON object, which becomes an envelope's `detail`). Reads in
//! large blocks on its own thread, straight into the batch's buffer; a batch
//! is sent when it is full or when no more input is waiting, so a trickle of
//! lines is not held back. EOF ends the source; the service then drains and
//! exits 0.

use std::io::{ErrorKind, Read};
use std::sync::Arc;

use super::Intake;
use crate::handoff::BufPool;
use crate::handoff::{Batch, RawEvent};

/// Largest single read. Reads grow to it while batches fill up and stay
/// small for a trickle, so that a batch of one line does not hold a large
/// buffer.
const MAX_READ: usize = 128 << 10;
const MIN_READ: usize = 4 << 10;

/// Run until EOF (or shutdown); returns the number of lines read.
pub fn run(
    source: usize,
    mut input: impl Read,
    intake: Intake,
    max_event_bytes: usize,
    rt: tokio::runtime::Handle,
) -> std::io::Result<u64> {
    let lane = intake.new_lane();
    let mut seq = 0u64;
    let (batch_events, batch_bytes) = intake.batch_limits();
    // Batch buffers come back when their batch is delivered (a steady stream
    // reuses them instead of faulting in fresh pages per batch).
    let pool = Arc::new(BufPool::new(intake.batches_in_flight()));
    let new_batch = |capacity: usize| {
        let mut b = Batch::new(source);
        b.buf = pool.take_stale(capacity);
        b.recycle = Some(pool.clone());
        b
    };
    let send = |mut b: Batch, seq: &mut u64| -> bool {
        b.lane = lane;
        b.seq = *seq;
        *seq += 1;
        b.accepted_at = std::time::Instant::now();
        rt.block_on(intake.send(b)).is_ok()
    };
    let mut lines = Splitter::new(max_event_bytes);
    let mut read_size = MIN_READ;
    let mut batch = new_batch(read_size);
    loop {
        if *intake.shutdown.borrow() {
            break;
        }
        if lines.read(&mut input, &mut batch, read_size)? == 0 {
            lines.finish(&mut batch);
            break;
        }
        loop {
            let full = lines.split(&mut batch, batch_events, batch_bytes);
            // Everything read so far is complete lines: no more input is
            // waiting, so what there is goes now.
            let idle = lines.pending == lines.end && !batch.is_empty();
            if !full && !idle {
                break;
            }
            read_size = lines.end.next_power_of_two().clamp(MIN_READ, MAX_READ);
            let mut next = new_batch(lines.end.min(batch_bytes) + read_size);
            next.events.reserve(batch.len());
            lines.carry(&mut batch, &mut next);
            let done = std::mem::replace(&mut batch, next);
            if !send(done, &mut seq) {
                return Ok(lines.line_no);
            }
            if !full {
                break;
            }
        }
    }
    // Stopped at shutdown: the buffer may hold stale bytes after the end.
    batch.buf.truncate(lines.end);
    if !batch.is_empty() {
        send(batch, &mut seq);
    }
    Ok(lines.line_no)
}

/// Lines split in place in the batch's own buffer: input is read straight
/// into [`Batch::buf`] (no copy through a reader's buffer), complete lines
/// become events, and the start of an unfinished line waits at the end of
/// the buffer.
///
/// While a batch fills, its buffer may be longer than what was read into
/// it: a reused buffer keeps its old bytes past [`end`](Self::end), so that
/// reads overwrite them instead of zeroing fresh room first. The buffer is
/// cut to its lines when the batch is handed on ([`carry`](Self::carry),
/// [`finish`](Self::finish)).
///
/// A line keeps at most `limit + 3` bytes (one byte over the limit is
/// enough for the error to say "too large", two more for a `\r\n` after a
/// line of exactly the limit); the rest of it is dropped as it arrives, so a
/// line of any length, or input without newlines, never has to fit in
/// memory.
struct Splitter {
    limit: usize,
    line_no: u64,
    /// Where the unfinished line starts in the buffer.
    pending: usize,
    /// Up to where the buffer has been searched for newlines.
    scanned: usize,
    /// Where the bytes read end; the buffer's bytes after it are stale.
    end: usize,
    /// In a line over the limit: its head is kept, the rest up to its
    /// newline is dropped.
    discarding: bool,
}

impl Splitter {
    fn new(limit: usize) -> Self {
        Splitter {
            limit,
            line_no: 0,
            pending: 0,
            scanned: 0,
            end: 0,
            discarding: false,
        }
    }

    /// One read of up to `size` bytes appended to the buffer; 0 at EOF.
    fn read(
        &mut self,
        input: &mut impl Read,
        b: &mut Batch,
        size: usize,
    ) -> std::io::Result<usize> {
        let len = self.end;
        if b.buf.len() < len + size {
            // Only room no read has used yet is zeroed.
            b.buf.resize(len + size, 0);
        }
        let n = loop {
            match input.read(&mut b.buf[len..len + size]) {
                Ok(n) => break n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        self.end = len + n;
        if self.discarding {
            match memchr::memchr(b'\n', &b.buf[len..self.end]) {
                // The long line ends here: drop what came of it since its
                // head, so that the newline follows the head.
                Some(p) => {
                    b.buf.copy_within(len + p..self.end, len);
                    self.end -= p;
                    self.discarding = false;
                }
                None => self.end = len,
            }
        }
        Ok(n)
    }

    /// Turns complete lines into events until the batch is full (`true`).
    fn split(&mut self, b: &mut Batch, max_events: usize, max_bytes: usize) -> bool {
        while let Some(p) = memchr::memchr(b'\n', &b.buf[self.scanned..self.end]) {
            let nl = self.scanned + p;
            self.line(b, nl);
            self.pending = nl + 1;
            self.scanned = nl + 1;
            if b.len() >= max_events || self.pending >= max_bytes {
                return true;
            }
        }
        self.scanned = self.end;
        let room = self.limit.saturating_add(3);
        if !self.discarding && self.end - self.pending > room {
            self.end = self.pending + room;
            self.scanned = self.end;
            self.discarding = true;
        }
        false
    }

    /// At EOF: a last line without a newline is an event too. The buffer
    /// is cut to what was read.
    fn finish(&mut self, b: &mut Batch) {
        if self.pending < self.end {
            self.line(b, self.end);
            self.pending = self.end;
            self.scanned = self.pending;
        }
        b.buf.truncate(self.end);
        self.discarding = false;
    }

    /// Moves the unfinished line to the start of the next batch's buffer
    /// (over whatever stale bytes it holds), and cuts this batch's buffer
    /// to its complete lines.
    fn carry(&mut self, b: &mut Batch, next: &mut Batch) {
        let tail = self.end - self.pending;
        if next.buf.len() < tail {
            next.buf.resize(tail, 0);
        }
        next.buf[..tail].copy_from_slice(&b.buf[self.pending..self.end]);
        b.buf.truncate(self.pending);
        self.scanned -= self.pending;
        self.end = tail;
        self.pending = 0;
    }

    /// The line `pending..end` (its newline excluded): line-end whitespace
    /// trimmed, at most `limit + 1` bytes kept; blank lines are counted but
    /// are not events.
    fn line(&mut self, b: &mut Batch, end: usize) {
        self.line_no += 1;
        let start = self.pending;
        let end = start + super::line_event_len(&b.buf[start..end], self.limit);
        if end > start {
            b.events.push(RawEvent {
                range: start as u32..end as u32,
                position: self.line_no,
                kafka: None,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads at most `step` bytes per call, like a pipe.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.len().min(out.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// A batch whose buffer holds stale bytes from an earlier use (when
    /// `stale`), as a reused pool buffer does: newlines that must never
    /// turn into lines, and `#`, which no test input contains.
    fn fresh(stale: bool) -> Batch {
        let mut b = Batch::new(0);
        if stale {
            b.buf = b"{#}\n\n".repeat(100);
        }
        b
    }

    /// Every event of every batch, as (line number, bytes), driving the
    /// splitter as `run` does; no batch handed on holds a stale byte.
    fn split_all(
        input: &[u8],
        step: usize,
        read: usize,
        limit: usize,
        stale: bool,
    ) -> Vec<(u64, Vec<u8>)> {
        let mut s = Splitter::new(limit);
        let mut r = Trickle(input, step);
        let mut b = fresh(stale);
        let mut out = Vec::new();
        let mut take = |b: &Batch| {
            assert!(!b.buf.contains(&b'#'), "stale bytes handed on");
            for e in &b.events {
                out.push((e.position, b.bytes(&e.range).to_vec()));
            }
        };
        loop {
            if s.read(&mut r, &mut b, read).unwrap() == 0 {
                s.finish(&mut b);
                break;
            }
            loop {
                let full = s.split(&mut b, 3, 64);
                let idle = s.pending == s.end && !b.is_empty();
                if !full && !idle {
                    break;
                }
                let mut next = fresh(stale);
                s.carry(&mut b, &mut next);
                take(&std::mem::replace(&mut b, next));
                if !full {
                    break;
                }
            }
        }
        take(&b);
        out
    }

    /// What each line must become: cut to `limit + 3` bytes, line-end
    /// whitespace trimmed, cut to `limit + 1`; blank lines skipped.
    fn expected(input: &[u8], limit: usize) -> Vec<(u64, Vec<u8>)> {
        let mut lines: Vec<&[u8]> = input.split(|&c| c == b'\n').collect();
        if input.ends_with(b"\n") || input.is_empty() {
            lines.pop();
        }
        lines
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let l = &l[..l.len().min(limit + 3)];
                let end = l
                    .iter()
                    .rposition(|c| !matches!(c, b'\r' | b' ' | b'\t'))
                    .map_or(0, |p| p + 1);
                let l = &l[..end.min(limit + 1)];
                (!l.is_empty()).then(|| (i as u64 + 1, l.to_vec()))
            })
            .collect()
    }

    #[test]
    fn long_lines_are_cut_and_the_rest_discarded() {
        let long = "x".repeat(10_000);
        let input = format!("short\n{long}\n\n  \nexact{}\r\nlast", "y".repeat(95));
        for stale in [false, true] {
            let got = split_all(input.as_bytes(), 7, 64, 100, stale);
            let lens: Vec<(u64, usize)> = got.iter().map(|(n, l)| (*n, l.len())).collect();
            assert_eq!(lens, vec![(1, 5), (2, 101), (5, 100), (6, 4)]);
            assert_eq!(got, expected(input.as_bytes(), 100));
        }
    }

    proptest! {
        #[test]
        fn any_read_sizes_give_the_same_lines(
            parts in proptest::collection::vec(
                prop_oneof![
                    "[a-z{}\":,]{0,30}",
                    "[a-z]{0,200}",
                    Just(String::new()),
                    Just(" \r\t".to_string()),
                ],
                0..40,
            ),
            newline_at_end in any::<bool>(),
            step in 1usize..300,
            read in 1usize..300,
            limit in 1usize..80,
            stale in any::<bool>(),
        ) {
            let mut input = parts.join("\n");
            if newline_at_end {
                input.push('\n');
            }
            let got = split_all(input.as_bytes(), step, read, limit, stale);
            prop_assert_eq!(got, expected(input.as_bytes(), limit));
        }
    }
}
