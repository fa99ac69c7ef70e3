//! Skipping arrays of numbers 64 bytes at a time, validating them as it goes.
//!
//! The bulk of a citylots-like event is `"coordinates":[[[-122.42,37.80,0.0],
//! ...]]`, which most rule sets never look at. Skipping it byte by byte with
//! the scanner's validating grammar cost about 11 instructions per byte, more
//! than half of a full scan (callgrind, `equals_ignore_case` rules). Here the
//! bytes are classified with SIMD compares into one bit mask per class
//! (digit, `0`, `-`, `.`, `,`, `[`, `]`), and JSON's grammar for arrays of
//! numbers becomes a handful of mask operations per block, in the manner of
//! simdjson's stage 1 (Langdale & Lemire, "Parsing Gigabytes of JSON per
//! Second", 2019):
//!
//! - each class may only follow certain classes (`,` only after a digit or
//!   `]`, a digit never after `]`, `-` only where a value starts, ...); all of
//!   JSON's constraints between neighbouring bytes in such an array are of
//!   this form;
//! - a number starting with `0` must not go on with a digit;
//! - a run of digits after `.` must not end in another `.` (found with the
//!   carry of an addition, so runs may cross block boundaries);
//! - brackets are counted per block (popcount), bit by bit only in the block
//!   where the array may end or the depth limit may be reached;
//! - whitespace may stand between any two tokens, never inside a number:
//!   the class rules compare each byte with the last byte before it that is
//!   not whitespace (its class is spread over the run of whitespace by the
//!   carry of an addition), and a digit, `.` or `-` followed by whitespace
//!   must not be followed by a digit. Python writes `[-122.4, 37.8]`, the
//!   public citylots file `[ [ -122.4, 37.8 ] ]`; both take this path (with
//!   whitespace falling back to the byte-by-byte grammar, a spaced citylots
//!   event cost 2.5 times a compact one to validate, callgrind).
//!
//! This is a fast path with a fallback, never a second grammar: it answers
//! only "valid, and the array ends here" or "not sure". Anything outside
//! that small alphabet (exponents, strings, objects, literals, an
//! error) answers "not sure" and the scanner's byte-by-byte path, which
//! produces the error message and offset, takes the array from its start. A
//! property test checks that the two agree on every array the fast path
//! accepts.

/// One bit per byte of a 64-byte block, bit `i` for byte `i`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Masks {
    /// `0`-`9`
    digit: u64,
    /// `0`
    zero: u64,
    /// `-`
    minus: u64,
    /// `.`
    dot: u64,
    /// `,`
    comma: u64,
    /// `[`
    open: u64,
    /// `]`
    close: u64,
    /// JSON whitespace: space, tab, newline, carriage return
    ws: u64,
}

impl Masks {
    /// Bytes of none of the classes: the fast path gives up on them.
    #[inline(always)]
    fn other(&self) -> u64 {
        !(self.digit | self.minus | self.dot | self.comma | self.open | self.close | self.ws)
    }
}

/// The classes of the last byte before a block that is not whitespace,
/// one bit per class as [`Last::of`] packs them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Last(u8);

impl Last {
    const DIGIT: u8 = 1;
    const MINUS: u8 = 2;
    const DOT: u8 = 4;
    const COMMA: u8 = 8;
    const OPEN: u8 = 16;
    const CLOSE: u8 = 32;

    /// The classes of bit `bit` of `m`. Out of line: inlined into the
    /// block loop, it was compiled into a per-bit extraction of the masks
    /// that cost 350 instructions per block (callgrind).
    #[inline(never)]
    fn of(m: &Masks, bit: u32) -> Last {
        let classes = [
            (m.digit, Self::DIGIT),
            (m.minus, Self::MINUS),
            (m.dot, Self::DOT),
            (m.comma, Self::COMMA),
            (m.open, Self::OPEN),
            (m.close, Self::CLOSE),
        ];
        Last(
            classes
                .iter()
                .filter(|(mask, _)| mask >> bit & 1 != 0)
                .fold(0, |last, (_, class)| last | class),
        )
    }

    /// Bit 0 of a class mask: set when the byte had class `class`.
    #[inline(always)]
    fn bit(self, class: u8) -> u64 {
        u64::from(self.0 & class != 0)
    }
}

/// Why [`array_end`] did not give an answer: the offset from which the
/// caller should not try the fast path again (the first byte it could not
/// vouch for), so that nested arrays are not rescanned from each level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unsure(pub(super) usize);

/// Where the array of numbers opening at `b[start]` (a `[`) ends: the index
/// just after its closing `]`, when every byte up to there is valid JSON made
/// of numbers and nested arrays, nested at most `room` levels deep (the
/// opening bracket is level 1).
pub(super) fn array_end(b: &[u8], start: usize, room: usize) -> Result<usize, Unsure> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        x86::array_end(b, start, room)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        array_end_with(b, start, room, classify_portable)
    }
}

/// [`array_end`] over a given classifier, inlined into each instruction-set
/// version so that the mask arithmetic gets that set too (`popcnt` above
/// all, which baseline x86-64 lacks).
///
/// Each 64-byte block starts one byte before the 63 bytes it judges: bit 0
/// is the byte the previous block judged last (or the byte before the
/// array), so every rule between neighbours finds the byte before in the
/// block itself. Carrying the last bit of six class masks from block to
/// block instead kept more values live than there are registers, and the
/// spills cost a tenth of the loop (callgrind).
#[inline(always)]
fn array_end_with(
    b: &[u8],
    start: usize,
    room: usize,
    classify: impl Fn(&[u8]) -> Masks,
) -> Result<usize, Unsure> {
    debug_assert_eq!(b.get(start), Some(&b'['));
    // Bytes `at..at + 64`, padded with bytes of no class (which the fast
    // path gives up on unless the array ended before them) where they
    // leave the input; `at` may be one before it (`usize::MAX`).
    let padded = |at: usize| {
        let mut block = [0u8; 64];
        let (from, to) = if at == usize::MAX { (0, 1) } else { (at, 0) };
        let rest = b.get(from..).unwrap_or(&[]);
        let n = rest.len().min(64 - to);
        block[to..to + n].copy_from_slice(&rest[..n]);
        classify(&block)
    };
    // The first block: the byte before the array counts as a `,` (it may
    // open one), whatever it is.
    let mut base = start.wrapping_sub(1);
    let m = match b.get(base..base.wrapping_add(64)) {
        Some(block) if base != usize::MAX => classify(block),
        _ => padded(base),
    };
    let keep = !1u64;
    let m = Masks {
        digit: m.digit & keep,
        zero: m.zero & keep,
        minus: m.minus & keep,
        dot: m.dot & keep,
        comma: m.comma & keep | 1,
        open: m.open & keep,
        close: m.close & keep,
        ws: m.ws & keep,
    };
    let mut state = Blocks {
        room,
        depth: 0,
        zero_start_carry: 0,
        frac_carry: 0,
        last: Last(Last::COMMA),
    };
    if let Some(answer) = state.judge(&m, base) {
        return answer;
    }
    loop {
        base = base.wrapping_add(63);
        let m = match b.get(base..base + 64) {
            Some(block) => classify(block),
            None => padded(base),
        };
        if let Some(answer) = state.judge(&m, base) {
            return answer;
        }
    }
}

/// What [`array_end_with`] carries from one block to the next.
struct Blocks {
    room: usize,
    /// Relative depth before the current block.
    depth: usize,
    /// Bit 0 starts a number with `0` (judged with the byte before it).
    zero_start_carry: u64,
    /// Bit 0 is a digit inside a run of fraction digits.
    frac_carry: u64,
    /// The last byte judged that is not whitespace: it stands for bit 0
    /// of the next block when that is whitespace.
    last: Last,
}

impl Blocks {
    /// Judges bits 1..=63 of the block whose bit 0 is byte `base` (bit 0
    /// was judged with the block before): the answer when the array ends
    /// here or the fast path gives up, `None` to go on.
    #[inline(always)]
    fn judge(&mut self, m: &Masks, base: usize) -> Option<Result<usize, Unsure>> {
        let mut m = *m;
        // Whitespace right before each byte, and the whitespace the class
        // rules look through: bit 0, judged with the block before, stands
        // for the last byte before it that is not whitespace.
        let ws_before = m.ws << 1;
        if m.ws & 1 != 0 {
            let l = self.last;
            m.digit |= l.bit(Last::DIGIT);
            m.minus |= l.bit(Last::MINUS);
            m.dot |= l.bit(Last::DOT);
            m.comma |= l.bit(Last::COMMA);
            m.open |= l.bit(Last::OPEN);
            m.close |= l.bit(Last::CLOSE);
            m.ws &= !1;
        }
        let m = &m;
        let w = m.ws;
        // `x` (a class mask shifted to the byte after) carried over the
        // runs of whitespace: adding a run's first bit clears the run and
        // sets the bit after it.
        let spread = |x: u64| (x | w.wrapping_add(x & w)) & !w;
        let at = |bit: u32| base.wrapping_add(bit as usize);
        let judged = !1u64;
        // Find where the array ends in this block, if it does.
        let opens = (m.open & judged).count_ones() as usize;
        let closes = (m.close & judged).count_ones() as usize;
        let mut valid = judged;
        let mut end = None;
        if self.depth > closes && self.depth + opens <= self.room {
            self.depth = self.depth + opens - closes;
        } else {
            let mut brackets = (m.open | m.close) & judged;
            while brackets != 0 {
                let bit = brackets.trailing_zeros();
                brackets &= brackets - 1;
                if m.open >> bit & 1 == 1 {
                    self.depth += 1;
                    if self.depth > self.room {
                        return Some(Err(Unsure(at(bit))));
                    }
                } else {
                    // A `]` at depth 0 is caught by the class rules below
                    // (it cannot follow the byte before the array).
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        valid &= if bit == 63 {
                            u64::MAX
                        } else {
                            (1u64 << (bit + 1)) - 1
                        };
                        end = Some(at(bit) + 1);
                        break;
                    }
                }
            }
        }

        // Each byte's class against the class of the last byte before it
        // that is not whitespace; a number's bytes must touch. A block
        // without whitespace (all of compact JSON) skips the spreading.
        // Spreading is linear over classes (a run of whitespace has one
        // byte before it), so classes that the rules only ever ask about
        // together are spread together: three carries per block, not five.
        let (p_digit_close, p_open, value_start) = if w | ws_before == 0 {
            (
                (m.digit | m.close) << 1,
                m.open << 1,
                (m.open | m.comma) << 1,
            )
        } else {
            (
                spread((m.digit | m.close) << 1),
                spread(m.open << 1),
                spread((m.open | m.comma) << 1),
            )
        };
        // A digit goes on a number right before it, with no whitespace
        // between, or starts a value: never after `]` or across a space.
        let goes_on = (m.digit | m.dot | m.minus) << 1 & !ws_before;
        let mut bad = m.other()
            | ((m.open | m.minus) & !value_start)
            | (m.comma & !p_digit_close)
            | (m.close & !(p_digit_close | p_open))
            | (m.dot & (!(m.digit << 1) | ws_before))
            | (m.digit & !(goes_on | value_start));
        // No leading zeros: a number starting with `0` goes on with `.`, `,`
        // or `]`, never a digit.
        let zero_start = m.zero & (value_start | m.minus << 1) | self.zero_start_carry;
        bad |= m.digit & zero_start << 1;
        // One `.` per number: a run of fraction digits must not end in `.`.
        // Adding the run starts to the digit mask carries through each run
        // (clearing it) and sets the bit just after it.
        let frac_start = m.digit & m.dot << 1 | self.frac_carry;
        let sum = m.digit.wrapping_add(frac_start);
        bad |= sum & !m.digit & m.dot;
        if bad & valid != 0 {
            let bit = (bad & valid).trailing_zeros();
            return Some(Err(Unsure(at(bit))));
        }
        if end.is_some() {
            return end.map(Ok);
        }
        self.zero_start_carry = zero_start >> 63;
        self.frac_carry = (m.digit & !sum) >> 63;
        // Needed only when the next block's bit 0 (this one's bit 63) is
        // whitespace. Bit 0 is never whitespace here, so there is a last
        // byte that is not.
        if w >> 63 != 0 {
            self.last = Last::of(m, 63 - (!w).leading_zeros());
        }
        None
    }
}

/// Byte by byte: the reference for the SIMD version, and the path on targets
/// without it.
fn classify_portable(block: &[u8]) -> Masks {
    let mut m = Masks::default();
    for (i, &c) in block.iter().take(64).enumerate() {
        let bit = 1u64 << i;
        match c {
            b'0' => {
                m.digit |= bit;
                m.zero |= bit;
            }
            b'1'..=b'9' => m.digit |= bit,
            b'-' => m.minus |= bit,
            b'.' => m.dot |= bit,
            b',' => m.comma |= bit,
            b'[' => m.open |= bit,
            b']' => m.close |= bit,
            b' ' | b'\t' | b'\n' | b'\r' => m.ws |= bit,
            _ => {}
        }
    }
    m
}

/// x86-64: AVX-512BW or AVX2 where the CPU has it, with `popcnt` and BMI1
/// (`andn`, `blsr`, `tzcnt`: 5% fewer instructions for the mask arithmetic,
/// callgrind), detected once at run time; SSE2 otherwise, which every x86-64
/// CPU has.
///
/// `unsafe` is needed here (and in the string scan of `scan.rs` and the
/// prefilter's byte search, for the same kind of load), and nowhere else in
/// the crate: for unaligned 16- and 32-byte loads from slices whose length
/// was checked, and to call `#[target_feature]` functions, which Rust
/// requires even for a feature the target always has (SSE2) or that was
/// detected.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[allow(unsafe_code)]
mod x86 {
    use super::{array_end_with, classify_portable, Masks, Unsure};
    use std::arch::x86_64::*;

    pub(super) fn array_end(b: &[u8], start: usize, room: usize) -> Result<usize, Unsure> {
        // `is_x86_feature_detected!` caches its answer in an atomic.
        if is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the three features were just detected on this CPU.
            unsafe { array_end_avx512(b, start, room) }
        } else if is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the three features were just detected on this CPU.
            unsafe { array_end_avx2(b, start, room) }
        } else {
            // SAFETY: SSE2 is enabled for this target (the cfg above).
            unsafe { array_end_sse2(b, start, room) }
        }
    }

    #[target_feature(enable = "avx512bw,bmi1,popcnt")]
    fn array_end_avx512(b: &[u8], start: usize, room: usize) -> Result<usize, Unsure> {
        array_end_with(b, start, room, |block| match as_block(block) {
            Some(block) => classify_avx512(block),
            None => classify_portable(block),
        })
    }

    #[target_feature(enable = "avx2,bmi1,popcnt")]
    fn array_end_avx2(b: &[u8], start: usize, room: usize) -> Result<usize, Unsure> {
        array_end_with(b, start, room, |block| match as_block(block) {
            Some(block) => classify_avx2(block),
            None => classify_portable(block),
        })
    }

    #[target_feature(enable = "sse2")]
    fn array_end_sse2(b: &[u8], start: usize, room: usize) -> Result<usize, Unsure> {
        array_end_with(b, start, room, |block| match as_block(block) {
            Some(block) => classify_sse2(block),
            None => classify_portable(block),
        })
    }

    /// `x`, through an empty `asm!` the optimiser cannot see into. Unlike
    /// `std::hint::black_box`, which hands the value over in memory, it
    /// stays in a register: the store and reload cost a store-forwarding
    /// stall in every block (12% of this function's samples on spaced
    /// citylots arrays, perf).
    #[inline(always)]
    fn opaque(mut x: u64) -> u64 {
        // SAFETY: the template is empty; it reads and writes only the
        // register holding `x`, and touches no memory, stack or flags.
        unsafe {
            std::arch::asm!("/* {0} */", inout(reg) x, options(pure, nomem, nostack, preserves_flags));
        }
        x
    }

    #[inline(always)]
    fn as_block(block: &[u8]) -> Option<&[u8; 64]> {
        block.get(..64).and_then(|s| s.try_into().ok())
    }

    /// The SSE2 classifier, for tests that compare it with the others.
    #[cfg(test)]
    pub(super) fn sse2(block: &[u8; 64]) -> Masks {
        // SAFETY: SSE2 is enabled for this target.
        unsafe { classify_sse2(block) }
    }

    /// The AVX2 classifier where the CPU has AVX2.
    #[cfg(test)]
    pub(super) fn avx2(block: &[u8; 64]) -> Option<Masks> {
        // SAFETY: AVX2 was detected.
        is_x86_feature_detected!("avx2").then(|| unsafe { classify_avx2(block) })
    }

    /// The AVX-512 classifier where the CPU has AVX-512BW.
    #[cfg(test)]
    pub(super) fn avx512(block: &[u8; 64]) -> Option<Masks> {
        // SAFETY: AVX-512BW was detected.
        is_x86_feature_detected!("avx512bw").then(|| unsafe { classify_avx512(block) })
    }

    /// One 64-byte register and one compare into a mask register per class:
    /// a third of the AVX2 version's instructions, which need two halves and
    /// a `movemask` per compare.
    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn classify_avx512(block: &[u8; 64]) -> Masks {
        // SAFETY: `block` is 64 bytes; `loadu` has no alignment requirement.
        let v = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
        let digit0 = _mm512_set1_epi8(b'0' as i8);
        let eq = |c: u8| _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(c as i8));
        // Whitespace in one shuffle and one compare, as in `classify_avx2`:
        // each 16-byte lane of the table holds ' ' at byte 0, '\t' at 9,
        // '\n' at 10 and '\r' at 13 (little-endian words), 0 elsewhere.
        let ws_table = _mm512_set4_epi32(0x0000_0d00, 0x000a_0900, 0, i32::from(b' '));
        let ws = _mm512_cmpeq_epi8_mask(_mm512_shuffle_epi8(ws_table, v), v);
        Masks {
            digit: _mm512_cmplt_epu8_mask(_mm512_sub_epi8(v, digit0), _mm512_set1_epi8(10)),
            zero: eq(b'0'),
            minus: eq(b'-'),
            dot: eq(b'.'),
            comma: eq(b','),
            open: eq(b'['),
            close: eq(b']'),
            // Opaque to the optimiser, as in `classify_sse2`.
            ws: opaque(ws),
        }
    }

    #[inline]
    #[target_feature(enable = "sse2")]
    fn classify_sse2(block: &[u8; 64]) -> Masks {
        let digit0 = _mm_set1_epi8(b'0' as i8);
        let nine = _mm_set1_epi8(9);
        let minus = _mm_set1_epi8(b'-' as i8);
        let dot = _mm_set1_epi8(b'.' as i8);
        let comma = _mm_set1_epi8(b',' as i8);
        let open = _mm_set1_epi8(b'[' as i8);
        let close = _mm_set1_epi8(b']' as i8);
        let space = _mm_set1_epi8(b' ' as i8);
        let tab = _mm_set1_epi8(b'\t' as i8);
        let newline = _mm_set1_epi8(b'\n' as i8);
        let cr = _mm_set1_epi8(b'\r' as i8);
        let mut m = Masks::default();
        for k in 0..4 {
            // SAFETY: `block` is 64 bytes, so bytes 16k..16k+16 are in
            // bounds; `loadu` has no alignment requirement.
            let v = unsafe { _mm_loadu_si128(block.as_ptr().add(16 * k).cast::<__m128i>()) };
            let mask = |x: __m128i| (_mm_movemask_epi8(x) as u32 as u64) << (16 * k);
            let d = _mm_sub_epi8(v, digit0);
            m.digit |= mask(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d));
            m.zero |= mask(_mm_cmpeq_epi8(v, digit0));
            m.minus |= mask(_mm_cmpeq_epi8(v, minus));
            m.dot |= mask(_mm_cmpeq_epi8(v, dot));
            m.comma |= mask(_mm_cmpeq_epi8(v, comma));
            m.open |= mask(_mm_cmpeq_epi8(v, open));
            m.close |= mask(_mm_cmpeq_epi8(v, close));
            m.ws |= mask(_mm_cmpeq_epi8(v, space))
                | mask(_mm_cmpeq_epi8(v, tab))
                | mask(_mm_cmpeq_epi8(v, newline))
                | mask(_mm_cmpeq_epi8(v, cr));
        }
        // Opaque to the optimiser: the whitespace mask, as it flows into
        // the additions of `Blocks::judge`, was otherwise taken apart
        // bit by bit and put together again in every block (490
        // instructions per block instead of 140, callgrind).
        m.ws = opaque(m.ws);
        m
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    fn classify_avx2(block: &[u8; 64]) -> Masks {
        let digit0 = _mm256_set1_epi8(b'0' as i8);
        let nine = _mm256_set1_epi8(9);
        let minus = _mm256_set1_epi8(b'-' as i8);
        let dot = _mm256_set1_epi8(b'.' as i8);
        let comma = _mm256_set1_epi8(b',' as i8);
        let open = _mm256_set1_epi8(b'[' as i8);
        let close = _mm256_set1_epi8(b']' as i8);
        let ws_table = _mm256_setr_epi8(
            b' ' as i8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            b'\t' as i8,
            b'\n' as i8,
            0,
            0,
            b'\r' as i8,
            0,
            0,
            b' ' as i8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            b'\t' as i8,
            b'\n' as i8,
            0,
            0,
            b'\r' as i8,
            0,
            0,
        );
        let mut m = Masks::default();
        for k in 0..2 {
            // SAFETY: `block` is 64 bytes, so bytes 32k..32k+32 are in
            // bounds; `loadu` has no alignment requirement.
            let v = unsafe { _mm256_loadu_si256(block.as_ptr().add(32 * k).cast::<__m256i>()) };
            let mask = |x: __m256i| (_mm256_movemask_epi8(x) as u32 as u64) << (32 * k);
            let d = _mm256_sub_epi8(v, digit0);
            m.digit |= mask(_mm256_cmpeq_epi8(_mm256_min_epu8(d, nine), d));
            m.zero |= mask(_mm256_cmpeq_epi8(v, digit0));
            m.minus |= mask(_mm256_cmpeq_epi8(v, minus));
            m.dot |= mask(_mm256_cmpeq_epi8(v, dot));
            m.comma |= mask(_mm256_cmpeq_epi8(v, comma));
            m.open |= mask(_mm256_cmpeq_epi8(v, open));
            m.close |= mask(_mm256_cmpeq_epi8(v, close));
            // Whitespace in one compare, as simdjson finds it: each of the
            // four bytes is the only one of its low nibble in the table
            // (bytes from 0x80 look up 0, which they are not).
            m.ws |= mask(_mm256_cmpeq_epi8(_mm256_shuffle_epi8(ws_table, v), v));
        }
        // Opaque to the optimiser: the whitespace mask, as it flows into
        // the additions of `Blocks::judge`, was otherwise taken apart
        // bit by bit and put together again in every block (490
        // instructions per block instead of 140, callgrind).
        m.ws = opaque(m.ws);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every byte value in every position: SIMD and portable agree.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[test]
    fn classifiers_agree_with_portable() {
        for base in 0..=255u8 {
            let block: [u8; 64] =
                std::array::from_fn(|i| base.wrapping_add((i as u8).wrapping_mul(37)));
            let want = classify_portable(&block);
            assert_eq!(x86::sse2(&block), want, "base {base}");
            if let Some(avx2) = x86::avx2(&block) {
                assert_eq!(avx2, want, "base {base}");
            }
            if let Some(avx512) = x86::avx512(&block) {
                assert_eq!(avx512, want, "base {base}");
            }
        }
    }

    /// The portable classifier's version answers like the SIMD one.
    #[test]
    fn portable_path_agrees() {
        let a = "[[[-122.422003528252475,37.808480096967251,0.0],[-122.4,37.8,0]]],";
        for s in [a, "[01]", "[1.2.3]", "[[1]]"] {
            assert_eq!(
                array_end_with(s.as_bytes(), 0, 64, classify_portable),
                array_end(s.as_bytes(), 0, 64),
                "{s}"
            );
        }
    }

    fn ok(s: &str) -> Result<usize, Unsure> {
        array_end(s.as_bytes(), 0, 64)
    }

    #[test]
    fn accepts_coordinate_arrays() {
        let a = "[[[-122.422003528252475,37.808480096967251,0.0],[-122.4,37.8,0]]]";
        assert_eq!(ok(a), Ok(a.len()));
        assert_eq!(ok(&format!("{a},\"x\":1}}")), Ok(a.len()));
        assert_eq!(ok("[]"), Ok(2));
        assert_eq!(ok("[[],[[]]]"), Ok(9));
        assert_eq!(ok("[0,-0,10,0.5,-0.25]"), Ok(19));
        // Long enough to cross several blocks, numbers split at boundaries.
        let long = format!("[{}]", vec!["-122.41587761463546"; 40].join(","));
        assert_eq!(ok(&long), Ok(long.len()));
    }

    #[test]
    fn is_unsure_about_invalid_or_unusual_arrays() {
        for s in [
            "[01]",
            "[-01]",
            "[00]",
            "[1.]",
            "[.5]",
            "[1.2.3]",
            "[1..2]",
            "[-]",
            "[--1]",
            "[1-2]",
            "[1,]",
            "[,1]",
            "[1,,2]",
            "[[1]2]",
            "[1e5]",
            "[\"a\"]",
            "[1",
            "[[1]",
            "[true]",
            "[0.1.2]",
            "[1.5.]",
            "[1 2]",
            "[1. 5]",
            "[1 .5]",
            "[- 1]",
            "[0 1]",
            "[ , 1]",
            "[1 , ]",
            "[1\x0b]",
            "[1\x0c,2]",
        ] {
            assert!(ok(s).is_err(), "{s}: {:?}", ok(s));
        }
        // What follows the array is the caller's business.
        assert_eq!(ok("[1]]"), Ok(3));
        assert_eq!(ok("[1]["), Ok(3));
    }

    #[test]
    fn accepts_whitespace_between_tokens() {
        for s in [
            "[ [ [ -122.422003528252475, 37.808480096967251, 0.0 ], [ -122.4, 37.8, 0 ] ] ]",
            "[[[-122.4, 37.8, 0.0], [-122.4, 37.8, 0]]]",
            "[\n  [\n    1,\n    2\r\n  ]\t]",
            "[ ]",
            "[1 ,2]",
        ] {
            assert_eq!(ok(s), Ok(s.len()), "{s:?}");
        }
        // Whitespace runs across block boundaries, on either side of every
        // kind of token, and runs longer than a block, which leave a block
        // with only whitespace to judge: the token before them must still
        // be known after it.
        for pad in (0..70).chain([126, 127, 128, 189, 190, 191, 200]) {
            let sp = " ".repeat(pad);
            let s = format!("[{sp}[{sp}-1.5{sp},{sp}20{sp}]{sp},{sp}[]{sp}]");
            assert_eq!(ok(&s), Ok(s.len()), "{s:?}");
            for bad in [
                format!("[{sp}1 {sp}2]"),
                format!("[1.{sp} 5]"),
                format!("[-{sp} 5]"),
                format!("[[1]{sp} 2]"),
                format!("[1,{sp} ]"),
            ] {
                assert!(ok(&bad).is_err(), "{bad:?}");
            }
        }
    }

    #[test]
    fn respects_the_depth_room() {
        assert_eq!(array_end(b"[[1]]", 0, 2), Ok(5));
        assert_eq!(array_end(b"[[1]]", 0, 1), Err(Unsure(1)));
    }

    /// A byte-level reference for arrays of this alphabet: JSON's grammar.
    fn reference(s: &[u8], room: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut max = 0usize;
        for (i, &c) in s.iter().enumerate() {
            match c {
                b'[' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        serde_json::from_slice::<serde_json::Value>(&s[..=i]).ok()?;
                        return (max <= room).then_some(i + 1);
                    }
                }
                _ => {}
            }
        }
        None
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Whenever the fast path answers, JSON agrees (valid, same end);
        /// and it answers for every valid array of this alphabet without
        /// exponents.
        #[test]
        fn agrees_with_json(
            body in proptest::collection::vec(
                prop_oneof![
                    Just(b'['), Just(b']'), Just(b','), Just(b'-'), Just(b'.'),
                    Just(b'0'), Just(b'1'), Just(b'9'), Just(b'e'), Just(b' '),
                    Just(b'\n'), Just(b'\t'), Just(b'\x0b'),
                ],
                0..150,
            ),
            room in 1usize..6,
        ) {
            let mut s = vec![b'['];
            s.extend_from_slice(&body);
            let fast = array_end(&s, 0, room);
            let slow = reference(&s, room);
            if let Ok(end) = fast {
                prop_assert_eq!(Some(end), slow, "{}", String::from_utf8_lossy(&s));
            } else if !s[..slow.unwrap_or(0)].contains(&b'e') {
                prop_assert_eq!(slow, None, "{}", String::from_utf8_lossy(&s));
            }
        }

        /// Valid arrays of numbers, generated as values, at any offset.
        #[test]
        fn accepts_generated_number_arrays(
            v in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![
                        any::<i64>().prop_map(|n| n.to_string()),
                        (any::<i32>(), any::<u64>(), 1usize..20)
                            .prop_map(|(i, f, w)| format!("{i}.{:0w$}", f % 10u64.pow(w.min(19) as u32))),
                    ],
                    0..12,
                ),
                0..12,
            ),
            pad in 0usize..64,
        ) {
            let sep = [",", ", ", " , ", ",\n  "][pad % 4];
            let inner: Vec<String> = v.iter().map(|a| format!("[{}]", a.join(sep))).collect();
            let arr = format!("[{}]", inner.join(sep));
            let s = format!("{}{arr}}}", " ".repeat(pad));
            prop_assert_eq!(array_end(s.as_bytes(), pad, 8), Ok(pad + arr.len()), "{}", arr);
        }

        /// Valid arrays with one byte replaced, inserted or removed: where
        /// the fast path still answers, JSON agrees.
        #[test]
        fn mutated_arrays_agree_with_json(
            v in proptest::collection::vec(
                proptest::collection::vec((any::<i16>(), any::<u16>()), 1..8),
                1..10,
            ),
            at in any::<prop::sample::Index>(),
            op in 0u8..3,
            byte in prop_oneof![
                Just(b'['), Just(b']'), Just(b','), Just(b'-'), Just(b'.'),
                Just(b'0'), Just(b'7'), Just(b' '),
            ],
        ) {
            let inner: Vec<String> = v
                .iter()
                .map(|a| {
                    let nums: Vec<String> = a.iter().map(|(i, f)| format!("{i}.{f}")).collect();
                    format!("[ {} ]", nums.join(", "))
                })
                .collect();
            let mut s = format!("[{}]", inner.join(",")).into_bytes();
            let k = 1 + at.index(s.len() - 1);
            match op {
                0 => s[k] = byte,
                1 => s.insert(k, byte),
                _ => {
                    s.remove(k);
                }
            }
            if let Ok(end) = array_end(&s, 0, 8) {
                prop_assert_eq!(Some(end), reference(&s, 8), "{}", String::from_utf8_lossy(&s));
            }
        }
    }
}
