//! The record format of a spool segment, and the scan that recovers records
//! from a segment's bytes. Pure: bytes in, records out; the callers do the
//! I/O, logging and counting.
//!
//! A record is a 12-byte header and its payload:
//!
//! | bytes | field |
//! |---|---|
//! | 0-1 | magic `FB 5B` |
//! | 2 | kind: 1 data, 2 release marker |
//! | 3 | reserved, 0 |
//! | 4-7 | payload length, u32 little-endian |
//! | 8-11 | CRC-32 (IEEE) of bytes 2-7 and the payload, little-endian |
//!
//! The magic is not zero, so a zero-filled tail (preallocated blocks, or a
//! file extended by a crash before its data reached the disk) never reads
//! as a record; and `FB` never occurs in UTF-8, so JSON payloads never hold
//! the magic and the scan that looks for the next record after a damaged
//! one does not stop inside them.
//! A release marker's payload is a list of the 16-byte record ids it
//! releases (segment, then offset, both u64 little-endian).

use super::RecordId;

pub(super) const MAGIC: [u8; 2] = [0xFB, 0x5B];
pub(super) const HEADER: usize = 12;
/// One released id in a release marker's payload.
pub(super) const ID_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Data = 1,
    Release = 2,
}

/// Bytes a record with `payload_len` bytes of payload takes in a segment.
pub(super) fn frame_len(payload_len: usize) -> usize {
    HEADER + payload_len
}

/// Appends one record to `out`. The caller has checked that the payload
/// length fits in a u32.
pub(super) fn encode(kind: Kind, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let fields = header_fields(kind as u8, len);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&fields);
    crc.update(payload);
    out.reserve(frame_len(payload.len()));
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&fields);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

fn header_fields(kind: u8, len: u32) -> [u8; 6] {
    let l = len.to_le_bytes();
    [kind, 0, l[0], l[1], l[2], l[3]]
}

/// The payload of a release marker naming `ids`.
pub(super) fn encode_release(ids: &[RecordId]) -> Vec<u8> {
    let mut p = Vec::with_capacity(ids.len() * ID_BYTES);
    for id in ids {
        p.extend_from_slice(&id.segment.to_le_bytes());
        p.extend_from_slice(&id.offset.to_le_bytes());
    }
    p
}

/// The ids a release marker's payload names; `None` if its length is not a
/// whole number of ids.
pub(super) fn decode_release(payload: &[u8]) -> Option<Vec<RecordId>> {
    if !payload.len().is_multiple_of(ID_BYTES) {
        return None;
    }
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    Some(
        payload
            .chunks_exact(ID_BYTES)
            .map(|c| RecordId {
                segment: word(&c[..8]),
                offset: word(&c[8..]),
            })
            .collect(),
    )
}

/// A whole, checksummed record found at `offset`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Found<'a> {
    pub offset: u64,
    pub kind: Kind,
    pub payload: &'a [u8],
}

/// Why the bytes at the end of a segment are not records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TailKind {
    /// Only zero bytes.
    Zeros,
    /// The beginning of a record whose end is missing: a crash mid-write.
    Torn,
    /// Bytes that are neither: damage.
    Corrupt,
}

/// What a segment's bytes hold.
#[derive(Debug, Default)]
pub(super) struct Scan<'a> {
    /// The valid records, in order.
    pub records: Vec<Found<'a>>,
    /// Damaged stretches (offset, length) followed by a valid record: each
    /// is one corrupt record skipped.
    pub skipped: Vec<(u64, u64)>,
    /// Where the last valid record ends, when bytes that are no record
    /// follow it, and what they look like.
    pub tail: Option<(u64, TailKind)>,
}

enum Bad {
    /// The header or the payload runs past the end of the bytes.
    Short,
    /// Wrong magic, kind or reserved byte, or a checksum mismatch.
    Invalid,
}

fn parse_at(buf: &[u8], at: usize) -> Result<(Kind, &[u8]), Bad> {
    let rest = &buf[at..];
    if rest.len() < HEADER {
        return Err(Bad::Short);
    }
    if rest[..2] != MAGIC || rest[3] != 0 {
        return Err(Bad::Invalid);
    }
    let kind = match rest[2] {
        1 => Kind::Data,
        2 => Kind::Release,
        _ => return Err(Bad::Invalid),
    };
    let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
    let stored = u32::from_le_bytes([rest[8], rest[9], rest[10], rest[11]]);
    let Some(payload) = rest.get(HEADER..HEADER + len) else {
        return Err(Bad::Short);
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(&rest[2..8]);
    crc.update(payload);
    if crc.finalize() != stored {
        return Err(Bad::Invalid);
    }
    Ok((kind, payload))
}

/// The first offset after `from` where a valid record starts.
fn resync(buf: &[u8], from: usize) -> Option<usize> {
    let finder = memchr::memmem::Finder::new(&MAGIC);
    let mut at = from;
    while at < buf.len() {
        let hit = at + finder.find(&buf[at..])?;
        if parse_at(buf, hit).is_ok() {
            return Some(hit);
        }
        at = hit + 1;
    }
    None
}

/// Every valid record of a segment. After an invalid one the scan looks for
/// the next valid record: found, the bytes between are one corrupt record
/// skipped; not found, they are the tail.
pub(super) fn scan(buf: &[u8]) -> Scan<'_> {
    let mut out = Scan::default();
    let mut at = 0;
    while at < buf.len() {
        match parse_at(buf, at) {
            Ok((kind, payload)) => {
                out.records.push(Found {
                    offset: at as u64,
                    kind,
                    payload,
                });
                at += HEADER + payload.len();
            }
            Err(bad) => match resync(buf, at + 1) {
                Some(next) => {
                    out.skipped.push((at as u64, (next - at) as u64));
                    at = next;
                }
                None => {
                    let rest = &buf[at..];
                    let kind = if rest.iter().all(|b| *b == 0) {
                        TailKind::Zeros
                    } else if matches!(bad, Bad::Short)
                        && rest[..rest.len().min(2)] == MAGIC[..rest.len().min(2)]
                    {
                        TailKind::Torn
                    } else {
                        TailKind::Corrupt
                    };
                    out.tail = Some((at as u64, kind));
                    break;
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut b = Vec::new();
        for p in payloads {
            encode(Kind::Data, p, &mut b);
        }
        b
    }

    #[test]
    fn records_round_trip_and_release_ids_decode() {
        let ids = [
            RecordId {
                segment: 1,
                offset: 0,
            },
            RecordId {
                segment: u64::MAX,
                offset: 7,
            },
        ];
        let mut b = frames(&[b"a", b""]);
        encode(Kind::Release, &encode_release(&ids), &mut b);
        let s = scan(&b);
        assert!(s.skipped.is_empty() && s.tail.is_none(), "{s:?}");
        assert_eq!(s.records.len(), 3);
        assert_eq!(s.records[1].offset, 13);
        assert_eq!(s.records[1].payload, b"");
        assert_eq!(s.records[2].kind, Kind::Release);
        assert_eq!(decode_release(s.records[2].payload).unwrap(), ids);
        assert_eq!(decode_release(&[0; 15]), None);
    }

    #[test]
    fn a_cut_record_is_a_torn_tail_and_zeros_are_a_zero_tail() {
        let whole = frames(&[b"first", b"second"]);
        let last = frame_len(5);
        for cut in last..whole.len() {
            let s = scan(&whole[..cut]);
            assert_eq!(s.records.len(), 1, "cut at {cut}");
            let want = if cut == last {
                None
            } else {
                Some((last as u64, TailKind::Torn))
            };
            assert_eq!(s.tail, want, "cut at {cut}");
        }
        let mut zeroed = whole.clone();
        zeroed[last..].fill(0);
        zeroed.extend_from_slice(&[0; 4096]);
        assert_eq!(scan(&zeroed).tail, Some((last as u64, TailKind::Zeros)));
    }

    #[test]
    fn a_damaged_record_in_the_middle_is_skipped_wherever_the_flip_is() {
        let whole = frames(&[b"one", b"two", b"three"]);
        let (start, end) = (frame_len(3), 2 * frame_len(3));
        for i in start..end {
            let mut b = whole.clone();
            b[i] ^= 0x40;
            let s = scan(&b);
            let got: Vec<&[u8]> = s.records.iter().map(|r| r.payload).collect();
            assert_eq!(got, [&b"one"[..], b"three"], "flip at {i}");
            assert_eq!(s.skipped, [(start as u64, (end - start) as u64)]);
            assert_eq!(s.tail, None);
        }
    }

    proptest! {
        #[test]
        fn scanning_any_bytes_never_panics_and_stays_in_bounds(
            b in proptest::collection::vec(any::<u8>(), 0..512)
        ) {
            let s = scan(&b);
            for r in &s.records {
                prop_assert!(r.offset as usize + HEADER + r.payload.len() <= b.len());
            }
        }

        #[test]
        fn valid_records_then_garbage_keep_every_record(
            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8),
            garbage in proptest::collection::vec(1u8..=255, 1..64),
        ) {
            let refs: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
            let mut b = frames(&refs);
            let end = b.len();
            b.extend_from_slice(&garbage);
            let s = scan(&b);
            // Garbage may itself hold a valid record only by a CRC
            // collision; the records before it are always found.
            prop_assert!(s.records.len() >= payloads.len());
            for (r, p) in s.records.iter().zip(&payloads) {
                prop_assert_eq!(r.payload, p.as_slice());
            }
            prop_assert!(s.tail.map(|(at, _)| at as usize >= end).unwrap_or(true));
        }
    }
}
