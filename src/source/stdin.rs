//! The `stdin` source: NDJSON, one event per line (an EventBridge envelope
//! or any JSON object, which becomes an envelope's `detail`). Reads in
//! large blocks on its own thread; a batch is sent when it is full or when
//! no more input is waiting, so a trickle of lines is not held back. EOF
//! ends the source; the service then drains and exits 0.

use std::io::{BufRead, BufReader, Read};

use super::Intake;
use crate::pipeline::Batch;

/// Run until EOF (or shutdown); returns the number of lines read.
pub fn run(
    source: usize,
    input: impl Read,
    intake: Intake,
    max_event_bytes: usize,
    rt: tokio::runtime::Handle,
) -> std::io::Result<u64> {
    let mut reader = BufReader::with_capacity(4 << 20, input);
    let lane = intake.new_lane();
    let mut seq = 0u64;
    let mut line_no = 0u64;
    let mut batch = Batch::new(source);
    let (batch_events, batch_bytes) = intake.batch_limits();
    let send = |mut b: Batch, seq: &mut u64| -> bool {
        b.lane = lane;
        b.seq = *seq;
        *seq += 1;
        b.accepted_at = std::time::Instant::now();
        rt.block_on(intake.send(b)).is_ok()
    };
    loop {
        if *intake.shutdown.borrow() {
            break;
        }
        let start = batch.buf.len();
        if !read_line(&mut reader, &mut batch.buf, max_event_bytes)? {
            break;
        }
        line_no += 1;
        let mut end = batch.buf.len();
        while end > start && matches!(batch.buf[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
            end -= 1;
        }
        end = end.min(start + max_event_bytes + 1);
        batch.buf.truncate(end);
        if end == start {
            continue;
        }
        batch.events.push(crate::pipeline::RawEvent {
            range: start as u32..end as u32,
            position: line_no,
            kafka: None,
        });
        if batch.len() >= batch_events
            || batch.buf.len() >= batch_bytes
            || reader.buffer().is_empty()
        {
            // The next batch starts with room for as much as this one held
            // (a stream fills whole batches without growing a buffer line by
            // line; a trickle keeps small ones).
            let mut next = Batch::new(source);
            next.buf
                .reserve(batch.buf.len().next_power_of_two().min(batch_bytes + 4096));
            next.events.reserve(batch.len());
            let full = std::mem::replace(&mut batch, next);
            if !send(full, &mut seq) {
                return Ok(line_no);
            }
        }
    }
    if !batch.is_empty() {
        send(batch, &mut seq);
    }
    Ok(line_no)
}

/// Append the next line (with its newline) to `buf`, keeping at most
/// `limit + 1` bytes of it plus line-end whitespace and discarding the rest:
/// one byte over the limit is enough for the error to say "too large", and
/// a line of any length (or input without newlines) never has to fit in
/// memory. `false` at EOF with nothing read.
fn read_line(reader: &mut impl BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<bool> {
    let room = limit.saturating_add(3);
    let mut kept = 0usize;
    let mut any = false;
    loop {
        let avail = match reader.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            return Ok(any);
        }
        any = true;
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(p) => (p + 1, true),
            None => (avail.len(), false),
        };
        let copy = take.min(room - kept);
        buf.extend_from_slice(&avail[..copy]);
        kept += copy;
        reader.consume(take);
        if done {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::read_line;

    #[test]
    fn long_lines_are_cut_and_the_rest_discarded() {
        let long = "x".repeat(10_000);
        let input = format!("short\n{long}\nlast");
        let mut r = std::io::BufReader::with_capacity(64, input.as_bytes());
        let mut buf = Vec::new();
        assert!(read_line(&mut r, &mut buf, 100).unwrap());
        assert_eq!(buf, b"short\n");
        buf.clear();
        assert!(read_line(&mut r, &mut buf, 100).unwrap());
        assert_eq!(buf.len(), 103, "limit + 1 byte + room for a line end");
        buf.clear();
        assert!(read_line(&mut r, &mut buf, 100).unwrap());
        assert_eq!(buf, b"last");
        buf.clear();
        assert!(!read_line(&mut r, &mut buf, 100).unwrap());
    }
}
