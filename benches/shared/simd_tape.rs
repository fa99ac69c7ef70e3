//! simd-json building its tape of one event, with buffers reused from
//! event to event: the parse ceiling `benches/engine.rs` prints beside
//! busbar, and one of the validators `benches/quamina_file.rs` can put
//! after quamina. Included by both (`#[path]`).

use simd_json::{Buffers, Tape};

pub struct SimdTape {
    copy: Vec<u8>,
    buffers: Buffers,
    tape: Tape<'static>,
}

impl SimdTape {
    pub fn new() -> SimdTape {
        SimdTape {
            copy: Vec::with_capacity(4096),
            buffers: Buffers::new(4096),
            tape: Tape::null(),
        }
    }

    /// The length of `event`'s tape, or `None` when simd-json finds it
    /// invalid. It parses in place, so from a padded copy.
    pub fn tape_len(&mut self, event: &[u8]) -> Option<usize> {
        self.copy.clear();
        self.copy.extend_from_slice(event);
        self.copy.resize(event.len() + simd_json::INPUT_PADDING, 0);
        let mut tape = std::mem::replace(&mut self.tape, Tape::null()).reset();
        let len =
            simd_json::fill_tape_padded(&mut self.copy, event.len(), &mut self.buffers, &mut tape)
                .ok()
                .map(|()| tape.0.len());
        self.tape = tape.reset();
        len
    }
}
