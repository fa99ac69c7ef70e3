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
        let n = reader.read_until(b'\n', &mut batch.buf)?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let mut end = batch.buf.len();
        while end > start && matches!(batch.buf[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
            end -= 1;
        }
        // Keep one byte over the limit so the error says "too large"
        // without holding an unbounded line in memory.
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
            let full = std::mem::replace(&mut batch, Batch::new(source));
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
