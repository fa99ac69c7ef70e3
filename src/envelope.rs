//! The EventBridge envelope (§3.1): every event inside busbar is one.
//!
//! Owns the bus identity ([`Bus`], its ARNs), the RFC 3339 timestamps the
//! envelope carries ([`write_rfc3339`]), the writing of envelope heads for
//! code that builds events from parts (PutEvents, scheduled events), and
//! [`normalise`], which turns whatever line a source read into a full
//! envelope. Rules can then always match `source`, `detail-type`, `account`
//! … whether the producer sent an envelope or a bare object.
//!
//! Why normalise does not parse into a tree: a line that already is a
//! canonical envelope (every key present, in AWS's order) is copied
//! byte-for-byte, which is the common case for events that went through
//! busbar or EventBridge once. Everything else is rebuilt from the raw
//! top-level members: serde_json hands out each member's value as a
//! borrowed [`RawValue`], so the only buffer written is `out`; values are
//! never re-serialised, and keys with escapes are copied as written.
//!
//! serde_json skips values iteratively, so `detail` may nest as deep as it
//! likes here; the depth limit belongs to the scanner that matches events.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// The one event bus a busbar process serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bus {
    pub name: String,
    /// 12-digit account id written into every envelope.
    pub account: String,
    pub region: String,
}

impl Bus {
    /// `arn:aws:events:<region>:<account>:event-bus/<name>` (§3.1.6).
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:events:{}:{}:event-bus/{}",
            self.region, self.account, self.name
        )
    }

    /// A rule's ARN: `rule/<name>` on the `default` bus, `rule/<bus>/<name>`
    /// on any other (§3.1.6).
    pub fn rule_arn(&self, rule: &str) -> String {
        if self.name == "default" {
            format!(
                "arn:aws:events:{}:{}:rule/{}",
                self.region, self.account, rule
            )
        } else {
            format!(
                "arn:aws:events:{}:{}:rule/{}/{}",
                self.region, self.account, self.name, rule
            )
        }
    }
}

/// Appends `epoch_secs` as RFC 3339 UTC with second precision and a `Z`
/// suffix: `2022-01-01T00:00:00Z` (§3.1.3). The calendar is the `time`
/// crate's, whose range is the years -9999 to 9999: a time outside it is
/// written as that range's end (PutEvents' `Time` is checked to the years
/// 0000-9999 before it gets here). Negative years are written with a sign
/// and four digits (ISO 8601 expanded form).
pub fn write_rfc3339(epoch_secs: i64, out: &mut Vec<u8>) {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch_secs.clamp(MIN_SECS, MAX_SECS))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let year = t.year();
    if year < 0 {
        out.push(b'-');
    }
    push_digits(out, u64::from(year.unsigned_abs()), 4);
    out.push(b'-');
    push_digits(out, u64::from(u8::from(t.month())), 2);
    out.push(b'-');
    push_digits(out, u64::from(t.day()), 2);
    out.push(b'T');
    push_digits(out, u64::from(t.hour()), 2);
    out.push(b':');
    push_digits(out, u64::from(t.minute()), 2);
    out.push(b':');
    push_digits(out, u64::from(t.second()), 2);
    out.push(b'Z');
}

/// -9999-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the ends of `time`'s
/// range without its `large-dates` feature.
const MIN_SECS: i64 = -377_705_116_800;
const MAX_SECS: i64 = 253_402_300_799;

/// Zero-padded decimal, at least `width` digits.
pub(crate) fn push_digits(out: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        out.push(b'0');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Appends `s` as a JSON string literal, escaping what JSON requires
/// (quote, backslash, control characters) and nothing else.
pub fn write_json_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an envelope from `{` up to and including `"resources":`, with
/// version `"0"`, the given id, account and region of `bus`, and `time` as
/// RFC 3339. The caller writes the resources array, `,"detail":`, the detail
/// object and `}`. Returns the id's bytes (no quotes) inside `out`.
pub fn write_envelope_head(
    out: &mut Vec<u8>,
    id: &uuid::Uuid,
    detail_type: &str,
    source: &str,
    bus: &Bus,
    time_secs: i64,
) -> Range<usize> {
    out.extend_from_slice(b"{\"version\":\"0\",\"id\":");
    let id_range = write_uuid(id, out);
    out.extend_from_slice(b",\"detail-type\":");
    write_json_string(detail_type, out);
    out.extend_from_slice(b",\"source\":");
    write_json_string(source, out);
    out.extend_from_slice(b",\"account\":");
    write_json_string(&bus.account, out);
    out.extend_from_slice(b",\"time\":\"");
    write_rfc3339(time_secs, out);
    out.extend_from_slice(b"\",\"region\":");
    write_json_string(&bus.region, out);
    out.extend_from_slice(b",\"resources\":");
    id_range
}

/// Appends `"<uuid>"` (lower-case, hyphenated); returns the bytes inside the quotes.
fn write_uuid(id: &uuid::Uuid, out: &mut Vec<u8>) -> Range<usize> {
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    out.push(b'"');
    let start = out.len();
    out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
    let end = out.len();
    out.push(b'"');
    start..end
}

/// Where `source` and `detail-type` come from for lines that are not
/// envelopes (configured per source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDefaults<'a> {
    pub source: &'a str,
    pub detail_type: &'a str,
}

/// What [`normalise`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    /// The id string's bytes inside `out`, without the quotes (as written:
    /// an id sent with JSON escapes keeps them).
    pub id: Range<usize>,
    /// The line was not an envelope and became the `detail` of a new one.
    pub wrapped: bool,
}

/// Why a line could not be made an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeError {
    kind: ErrorKind,
    offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ErrorKind {
    /// serde_json's description, without its line/column suffix.
    InvalidJson(String),
    NotAnObject,
    DuplicateKey(&'static str),
    DetailNotObject,
    /// (field, what it must be)
    BadFieldType(&'static str, &'static str),
}

impl EnvelopeError {
    /// A stable `lower_snake` label for metrics and logs: `invalid_json`,
    /// `not_an_object`, `duplicate_key`, `detail_not_object`, `bad_field_type`.
    pub fn reason_code(&self) -> &'static str {
        match self.kind {
            ErrorKind::InvalidJson(_) => "invalid_json",
            ErrorKind::NotAnObject => "not_an_object",
            ErrorKind::DuplicateKey(_) => "duplicate_key",
            ErrorKind::DetailNotObject => "detail_not_object",
            ErrorKind::BadFieldType(..) => "bad_field_type",
        }
    }

    /// Byte offset into the line as given (leading whitespace included).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The envelope field at fault, if one is.
    pub fn field(&self) -> Option<&'static str> {
        match self.kind {
            ErrorKind::DuplicateKey(f) | ErrorKind::BadFieldType(f, _) => Some(f),
            ErrorKind::DetailNotObject => Some("detail"),
            ErrorKind::InvalidJson(_) | ErrorKind::NotAnObject => None,
        }
    }
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: ", self.offset)?;
        match &self.kind {
            ErrorKind::InvalidJson(m) => write!(f, "invalid JSON: {m}"),
            ErrorKind::NotAnObject => f.write_str("event is not a JSON object"),
            ErrorKind::DuplicateKey(k) => write!(f, "envelope key `{k}` appears twice"),
            ErrorKind::DetailNotObject => f.write_str("envelope field `detail` must be an object"),
            ErrorKind::BadFieldType(k, want) => write!(f, "envelope field `{k}` must be {want}"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

/// The envelope's keys in AWS's order (§3.1.1).
const KEYS: [&str; 9] = [
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
];
const VERSION: usize = 0;
const ID: usize = 1;
const DETAIL_TYPE: usize = 2;
const SOURCE: usize = 3;
const ACCOUNT: usize = 4;
const TIME: usize = 5;
const REGION: usize = 6;
const RESOURCES: usize = 7;
const DETAIL: usize = 8;

/// A line from stdin, Kafka or `POST /events` → a full envelope in `out`
/// (cleared first).
///
/// - A JSON object with top-level keys `detail-type`, `source` and `detail`
///   *is* an envelope: it is kept, missing `version` (`"0"`), `id` (from
///   `new_id`), `account`/`region` (from `bus`), `time` (`now_secs`) and
///   `resources` (`[]`) are filled in, and keys are put in canonical order
///   (the nine envelope keys, then any others in the order they came). An
///   envelope with all nine keys already first and in order is copied
///   unchanged. Envelope fields are type-checked: `detail` an object,
///   `resources` an array of strings, the others strings; an envelope key
///   given twice is rejected rather than silently resolved.
/// - Any other JSON object becomes the `detail` of a new envelope, verbatim,
///   with `source`/`detail-type` from `defaults`.
///
/// Surrounding whitespace (a trailing newline) is not copied.
pub fn normalise(
    line: &[u8],
    bus: &Bus,
    defaults: &RawDefaults,
    now_secs: i64,
    new_id: &mut dyn FnMut() -> uuid::Uuid,
    out: &mut Vec<u8>,
) -> Result<Normalised, EnvelopeError> {
    out.clear();
    let (lead, text) = trim(line);

    if text.first() != Some(&b'{') {
        // Tell "not JSON at all" from "JSON, but not an object".
        return Err(match serde_json::from_slice::<IgnoredAny>(text) {
            Err(e) => json_error(&e, text, lead),
            Ok(_) => EnvelopeError {
                kind: ErrorKind::NotAnObject,
                offset: lead,
            },
        });
    }

    let mut scan = Scan::default();
    walk(text, &mut scan, None).map_err(|e| json_error(&e, text, lead))?;

    let is_envelope = scan.vals[DETAIL_TYPE].is_some()
        && scan.vals[SOURCE].is_some()
        && scan.vals[DETAIL].is_some();
    if !is_envelope {
        return Ok(wrap(text, bus, defaults, now_secs, new_id, out));
    }

    if let Some((k, at)) = scan.dup {
        return Err(EnvelopeError {
            kind: ErrorKind::DuplicateKey(KEYS[k]),
            offset: lead + at,
        });
    }
    check_types(text, &scan).map_err(|mut e| {
        e.offset += lead;
        e
    })?;

    let raw = |k: usize| scan.vals[k].clone().map(|r| &text[r]);
    let fast = scan.in_order && scan.vals.iter().all(Option::is_some);
    if fast {
        out.extend_from_slice(text);
        let id = scan.vals[ID]
            .clone()
            .map_or(0..0, |r| r.start + 1..r.end - 1);
        return Ok(Normalised { id, wrapped: false });
    }

    out.extend_from_slice(b"{\"version\":");
    out.extend_from_slice(raw(VERSION).unwrap_or(b"\"0\""));
    out.extend_from_slice(b",\"id\":");
    let id_range = match raw(ID) {
        Some(v) => {
            let start = out.len() + 1;
            out.extend_from_slice(v);
            start..out.len() - 1
        }
        None => write_uuid(&new_id(), out),
    };
    for (k, name) in [
        (DETAIL_TYPE, &b",\"detail-type\":"[..]),
        (SOURCE, b",\"source\":"),
    ] {
        out.extend_from_slice(name);
        out.extend_from_slice(raw(k).unwrap_or(b"\"\""));
    }
    out.extend_from_slice(b",\"account\":");
    match raw(ACCOUNT) {
        Some(v) => out.extend_from_slice(v),
        None => write_json_string(&bus.account, out),
    }
    out.extend_from_slice(b",\"time\":");
    match raw(TIME) {
        Some(v) => out.extend_from_slice(v),
        None => {
            out.push(b'"');
            write_rfc3339(now_secs, out);
            out.push(b'"');
        }
    }
    out.extend_from_slice(b",\"region\":");
    match raw(REGION) {
        Some(v) => out.extend_from_slice(v),
        None => write_json_string(&bus.region, out),
    }
    out.extend_from_slice(b",\"resources\":");
    out.extend_from_slice(raw(RESOURCES).unwrap_or(b"[]"));
    out.extend_from_slice(b",\"detail\":");
    out.extend_from_slice(raw(DETAIL).unwrap_or(b"{}"));
    if scan.others {
        // Second pass over the same (already validated) text, appending the
        // non-envelope members in their order: rarer than the fast path, and
        // cheaper than keeping a list of their spans around.
        walk(text, &mut Scan::default(), Some(out)).map_err(|e| json_error(&e, text, lead))?;
    }
    out.push(b'}');
    Ok(Normalised {
        id: id_range,
        wrapped: false,
    })
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `s` without trailing whitespace.
pub fn trim_end(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|b| !is_ws(*b)).map_or(0, |p| p + 1);
    &s[..end]
}

/// How many whitespace bytes `s` starts with.
fn lead_ws(s: &[u8]) -> usize {
    s.iter().position(|b| !is_ws(*b)).unwrap_or(s.len())
}

/// `line` without surrounding whitespace, and where it starts.
fn trim(line: &[u8]) -> (usize, &[u8]) {
    let lead = lead_ws(line);
    (lead, trim_end(&line[lead..]))
}

/// In a wrapped envelope, how far in front of the `detail` value the key's
/// text starts (`detail":`).
const WRAPPED_DETAIL_FROM_END: usize = "detail\":".len() + 1;

/// A new envelope around `text` as its `detail`.
fn wrap(
    text: &[u8],
    bus: &Bus,
    defaults: &RawDefaults,
    now_secs: i64,
    new_id: &mut dyn FnMut() -> uuid::Uuid,
    out: &mut Vec<u8>,
) -> Normalised {
    let id = new_id();
    let id_range = write_envelope_head(
        out,
        &id,
        defaults.detail_type,
        defaults.source,
        bus,
        now_secs,
    );
    out.extend_from_slice(b"[],\"detail\":");
    out.extend_from_slice(text);
    out.push(b'}');
    debug_assert_eq!(
        &out[out.len() - text.len() - WRAPPED_DETAIL_FROM_END..][..8],
        b"detail\":"
    );
    Normalised {
        id: id_range,
        wrapped: true,
    }
}

/// What [`normalise_unchecked`] wrote, and the condition it stands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchecked {
    /// Ranges into the envelope: `out`, or `line[kept]`.
    pub norm: Normalised,
    /// The line already is a canonical envelope: these bytes of it, as
    /// they are (`out` is left empty; no copy). They may end in whitespace,
    /// which the caller drops with [`trim_end`] after validating them.
    pub kept: Option<Range<usize>>,
    /// Where in the envelope (`out`, or `line[kept]`) the `detail` key's
    /// text starts (after its quote). The result holds only if validating
    /// the envelope finds this to be the last
    /// top-level key ([`crate::flatten::Scratch::last_top_key`]): members
    /// after `detail` could repeat envelope keys, and finding the end of
    /// `detail` here would mean reading all of it twice.
    pub last_key: usize,
}

impl Unchecked {
    /// Whether this result stands, once the matcher's validating scan
    /// ([`crate::engine::Automaton::find_checked`]) has accepted the
    /// envelope with `cache`: `detail` must be its last top-level key.
    pub fn stands(&self, cache: &crate::engine::Cache) -> bool {
        cache.last_top_key() == self.last_key
    }
}

/// Like [`normalise`], but without validating the JSON: only the envelope
/// keys in front of `detail` are read, by structure. For the pipeline, which
/// validates every event fully while matching it (one pass instead of two).
///
/// `None` means "not decided here" (reordering needed, keys with escapes,
/// or text that does not look like one JSON object): call [`normalise`],
/// which validates and gives the precise error. A `Some` result is only
/// as valid as the input: the caller must validate `out` and check
/// [`Unchecked::last_key`] before trusting it, and otherwise call
/// [`normalise`].
pub fn normalise_unchecked(
    line: &[u8],
    bus: &Bus,
    defaults: &RawDefaults,
    now_secs: i64,
    new_id: &mut dyn FnMut() -> uuid::Uuid,
    out: &mut Vec<u8>,
) -> Option<Unchecked> {
    out.clear();
    // Only leading whitespace is trimmed here. Reading the line's last byte
    // now would be a cache miss in front of the scan that reads the line in
    // order (a quarter of this function's cycles, perf): a kept line's end
    // is trimmed by the caller once it has been validated.
    let lead = lead_ws(line);
    let text = &line[lead..];
    if text.first() != Some(&b'{') {
        return None;
    }
    let mut scan = Scan::default();
    if !skim_compact(text, &mut scan) {
        // Without the bytes `"detail-type"` (and without any escape that
        // could spell them otherwise) the line cannot be an envelope: wrap
        // it without reading its structure.
        let plainly_raw = memchr::memmem::find(text, b"\"detail-type\"").is_none()
            && memchr::memchr(b'\\', text).is_none();
        // Wrapped as `detail`, the text must be one object, not an object
        // followed by more members (`{"a":1},"source":"x"` would become
        // top-level keys of the envelope): `detail` must stay the last key.
        if !plainly_raw && !skim(text, &mut scan) {
            return None;
        }
    }
    let is_envelope = scan.vals[DETAIL_TYPE].is_some()
        && scan.vals[SOURCE].is_some()
        && scan.vals[DETAIL].is_some();
    if !is_envelope {
        let text = trim_end(text);
        let norm = wrap(text, bus, defaults, now_secs, new_id, out);
        let last_key = out.len() - text.len() - WRAPPED_DETAIL_FROM_END;
        return Some(Unchecked {
            norm,
            kept: None,
            last_key,
        });
    }
    if scan.dup.is_some() || !(scan.in_order && scan.vals.iter().all(Option::is_some)) {
        return None;
    }
    if check_types(text, &scan).is_err() {
        // Rare; the validating path tells a type error from invalid JSON.
        return None;
    }
    let id = scan.vals[ID]
        .clone()
        .map_or(0..0, |r| r.start + 1..r.end - 1);
    Some(Unchecked {
        norm: Normalised { id, wrapped: false },
        kept: Some(lead..line.len()),
        last_key: scan.detail_key,
    })
}

/// `"key":` for each envelope key, as a compact envelope spells it.
const COMPACT_KEYS: [&[u8]; 9] = [
    b"\"version\":",
    b"\"id\":",
    b"\"detail-type\":",
    b"\"source\":",
    b"\"account\":",
    b"\"time\":",
    b"\"region\":",
    b"\"resources\":",
    b"\"detail\":",
];

/// [`COMPACT_KEYS`] as little-endian 16-byte words, and the mask of each
/// key's bytes.
const COMPACT_WORDS: [(u128, u128); 9] = {
    let mut out = [(0, 0); 9];
    let mut k = 0;
    while k < out.len() {
        let key = COMPACT_KEYS[k];
        assert!(key.len() < 16);
        let mut w = [0u8; 16];
        let mut i = 0;
        while i < key.len() {
            w[i] = key[i];
            i += 1;
        }
        out[k] = (u128::from_le_bytes(w), (1u128 << (key.len() * 8)) - 1);
        k += 1;
    }
    out
};

/// [`skim`] for the envelope as AWS and busbar write it: the nine keys in
/// their order, no whitespace. Each key is compared where it must be, in
/// one go, instead of being searched for, read and looked up (the general
/// skim was an eighth of a `busbar run` worker's samples). Fills `scan` as
/// `skim` would and returns `true`, or returns `false` with `scan`
/// untouched, and the general skim decides.
fn skim_compact(text: &[u8], scan: &mut Scan) -> bool {
    let mut vals: [Option<Range<usize>>; 9] = Default::default();
    let mut i = 1;
    for (k, key) in COMPACT_KEYS.iter().enumerate() {
        // One 16-byte compare (every key fits), not a `memcmp` call.
        let found = match text.get(i..i + 16) {
            Some(w) => {
                let (want, mask) = COMPACT_WORDS[k];
                let w = u128::from_le_bytes(w.try_into().unwrap_or_default());
                (w ^ want) & mask == 0
            }
            None => text[i..].starts_with(key),
        };
        if !found {
            return false;
        }
        let vs = i + key.len();
        if k == DETAIL {
            if text.get(vs) != Some(&b'{') {
                return false;
            }
            vals[DETAIL] = Some(vs..text.len());
            *scan = Scan {
                vals,
                members: KEYS.len(),
                in_order: true,
                others: false,
                dup: None,
                detail_key: i + 1,
            };
            return true;
        }
        let end = match text.get(vs) {
            Some(b'"') if k != RESOURCES => skip_string(text, vs),
            Some(b'[') if k == RESOURCES => skip_value(text, vs),
            _ => None,
        };
        let Some(ve) = end else {
            return false;
        };
        if text.get(ve) != Some(&b',') {
            return false;
        }
        vals[k] = Some(vs..ve);
        i = ve + 1;
    }
    false
}

/// The top-level members of `text` (which starts with `{`) by structure
/// alone: strings are skipped to their closing quote, objects and arrays
/// by bracket depth, scalars to the next delimiter. Nothing is validated.
/// `false` for anything unexpected, and for keys with escapes.
fn skim(text: &[u8], scan: &mut Scan) -> bool {
    let n = text.len();
    let ws = |mut i: usize| {
        while i < n && is_ws(text[i]) {
            i += 1;
        }
        i
    };
    scan.in_order = true;
    let mut i = ws(1);
    if i < n && text[i] == b'}' {
        return ws(i + 1) == n;
    }
    loop {
        if i >= n || text[i] != b'"' {
            return false;
        }
        let ks = i + 1;
        let ke = string_end(text, ks);
        if text.get(ke) != Some(&b'"') {
            // Escaped keys (and the end of the text) are not decided here.
            return false;
        }
        i = ws(ke + 1);
        if i >= n || text[i] != b':' {
            return false;
        }
        let vs = ws(i + 1);
        let m = scan.members;
        if m == DETAIL && scan.in_order && &text[ks..ke] == b"detail" {
            // The ninth key of a canonical envelope: what follows is kept
            // as it is and not read here. The matcher validates it, and the
            // caller checks that its scan finds `detail` to be the last key
            // (members after it could repeat envelope keys).
            scan.members += 1;
            // Up to the end of the text: only its first byte is read here
            // (the end is not touched; see `normalise_unchecked`).
            scan.vals[DETAIL] = Some(vs..n);
            scan.detail_key = ks;
            return text.get(vs) == Some(&b'{');
        }
        let Some(ve) = skip_value(text, vs) else {
            return false;
        };
        scan.members += 1;
        let key = &text[ks..ke];
        // Canonical order first: the key expected at this position.
        let found = match KEYS.get(m) {
            Some(k) if k.as_bytes() == key => Some(m),
            _ => KEYS.iter().position(|k| k.as_bytes() == key),
        };
        match found {
            Some(k) => {
                if m != k {
                    scan.in_order = false;
                }
                if scan.vals[k].is_some() {
                    scan.dup.get_or_insert((k, vs));
                } else {
                    scan.vals[k] = Some(vs..ve);
                }
            }
            None => {
                if m < KEYS.len() {
                    scan.in_order = false;
                }
                scan.others = true;
            }
        }
        i = ws(ve);
        match text.get(i) {
            Some(b',') => i = ws(i + 1),
            Some(b'}') => return ws(i + 1) == n,
            _ => return false,
        }
    }
}

/// End of the JSON value starting at `i`, by structure only.
fn skip_value(text: &[u8], i: usize) -> Option<usize> {
    match *text.get(i)? {
        b'"' => skip_string(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < text.len() {
                match text[j] {
                    b'"' => {
                        j = skip_string(text, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let e = text[i..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']') || is_ws(*b))
                .map_or(text.len(), |p| i + p);
            (e > i).then_some(e)
        }
    }
}

/// End (after the closing quote) of the string starting at `i`.
fn skip_string(text: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        j = string_end(text, j);
        match text.get(j)? {
            b'"' => return Some(j + 1),
            _ => j += 2, // a backslash and the byte it escapes
        }
    }
}

/// The first `"` or `\\` at or after `j` (the text's length if none), with
/// the scanner's string search, sixteen bytes a step (the envelope skim was
/// a fifth of a `busbar run` worker's instructions byte by byte). The other
/// bytes that search stops at (controls, non-ASCII) are not checked here.
#[inline]
fn string_end(text: &[u8], mut j: usize) -> usize {
    loop {
        j = crate::flatten::plain_run(text, j);
        match text.get(j) {
            Some(b'"' | b'\\') | None => return j,
            Some(_) => j += 1,
        }
    }
}

/// What one pass over the top-level members found. Fixed size: no
/// allocation per line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Scan {
    /// Byte range in the text of each envelope key's value.
    vals: [Option<Range<usize>>; 9],
    /// Members seen so far.
    members: usize,
    /// Whether members so far follow the canonical order (the nine keys,
    /// then only other keys); [`walk`] starts it at true.
    in_order: bool,
    /// Some member is not an envelope key.
    others: bool,
    /// The first envelope key seen twice, and where.
    dup: Option<(usize, usize)>,
    /// Where the text of the key `detail` starts, when [`skim`] stopped at
    /// it.
    detail_key: usize,
}

/// One pass over the top-level object of `text` (which starts with `{`).
/// With `emit`, appends `,<key>:<value>` for every non-envelope member.
fn walk(text: &[u8], scan: &mut Scan, emit: Option<&mut Vec<u8>>) -> Result<(), serde_json::Error> {
    scan.in_order = true;
    let mut de = serde_json::Deserializer::from_slice(text);
    de.deserialize_map(TopVisitor { text, scan, emit })?;
    de.end()
}

struct TopVisitor<'de, 'a> {
    text: &'de [u8],
    scan: &'a mut Scan,
    emit: Option<&'a mut Vec<u8>>,
}

impl<'de> Visitor<'de> for TopVisitor<'de, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let TopVisitor {
            text,
            scan,
            mut emit,
        } = self;
        // End of the previous member (just after `{` for the first): the
        // key's raw text lies between it and the value.
        let mut prev_end = 1;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value: &'de RawValue = map.next_value()?;
            let start = offset_in(text, value.get());
            let range = start..start + value.get().len();
            let m = scan.members;
            scan.members += 1;
            match key {
                Some(k) => {
                    if m != k {
                        scan.in_order = false;
                    }
                    if scan.vals[k].is_some() {
                        scan.dup.get_or_insert((k, start));
                    } else {
                        scan.vals[k] = Some(range.clone());
                    }
                }
                None => {
                    if m < KEYS.len() {
                        scan.in_order = false;
                    }
                    scan.others = true;
                    if let Some(out) = emit.as_deref_mut() {
                        out.push(b',');
                        out.extend_from_slice(raw_key(&text[prev_end..start]));
                        out.push(b':');
                        out.extend_from_slice(&text[range.clone()]);
                    }
                }
            }
            prev_end = range.end;
        }
        Ok(())
    }
}

/// `text` is the whole input and `sub` a slice of it handed out by
/// serde_json (borrowed `RawValue`s always are): its offset. Address
/// arithmetic only; nothing is dereferenced.
fn offset_in(text: &[u8], sub: &str) -> usize {
    (sub.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize)
}

/// `  , "key" :  ` → `"key"`, escapes as written.
fn raw_key(between: &[u8]) -> &[u8] {
    let s = trim_ws(between);
    let s = s.strip_prefix(b",").unwrap_or(s);
    let s = trim_ws(s);
    let s = s.strip_suffix(b":").unwrap_or(s);
    trim_ws(s)
}

fn trim_ws(s: &[u8]) -> &[u8] {
    trim(s).1
}

/// Classifies a key without keeping it: `Some(i)` for `KEYS[i]`.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<usize>, E> {
        Ok(KEYS.iter().position(|k| *k == v))
    }
}

/// Type checks of an envelope's fields; offsets relative to `text`.
fn check_types(text: &[u8], scan: &Scan) -> Result<(), EnvelopeError> {
    for (k, val) in scan.vals.iter().enumerate() {
        let Some(r) = val else { continue };
        let v = &text[r.clone()];
        let bad = |want| EnvelopeError {
            kind: ErrorKind::BadFieldType(KEYS[k], want),
            offset: r.start,
        };
        match k {
            DETAIL => {
                if v.first() != Some(&b'{') {
                    return Err(EnvelopeError {
                        kind: ErrorKind::DetailNotObject,
                        offset: r.start,
                    });
                }
            }
            RESOURCES if v == b"[]" => {}
            RESOURCES => {
                let mut de = serde_json::Deserializer::from_slice(v);
                de.deserialize_seq(StringArray)
                    .map_err(|_| bad("an array of strings"))?;
            }
            _ => {
                if v.first() != Some(&b'"') {
                    return Err(bad("a string"));
                }
            }
        }
    }
    Ok(())
}

/// Accepts an array whose elements are all strings, keeping nothing.
struct StringArray;

impl<'de> Visitor<'de> for StringArray {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<AnyStr>()?.is_some() {}
        Ok(())
    }
}

struct AnyStr;

impl<'de> de::Deserialize<'de> for AnyStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<AnyStr, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AnyStr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<AnyStr, E> {
                Ok(AnyStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// serde_json reports line and column; the rest of busbar speaks bytes.
fn json_error(e: &serde_json::Error, text: &[u8], lead: usize) -> EnvelopeError {
    EnvelopeError {
        kind: ErrorKind::InvalidJson(strip_position(&e.to_string())),
        offset: lead + byte_offset(text, e.line(), e.column()),
    }
}

/// serde_json's 1-based (line, column) of the byte it stopped at → offset.
/// Its column counts bytes, and is the byte *after* the offending one is
/// consumed, so the offender sits at column - 1.
pub(crate) fn byte_offset(text: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        memchr::memchr_iter(b'\n', text)
            .nth(line - 2)
            .map_or(text.len(), |p| p + 1)
    };
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// `expected value at line 1 column 6` → `expected value`.
pub(crate) fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bus() -> Bus {
        Bus {
            name: "default".into(),
            account: "123456789012".into(),
            region: "eu-west-1".into(),
        }
    }

    const DEFAULTS: RawDefaults<'static> = RawDefaults {
        source: "busbar.stdin",
        detail_type: "Raw \"Event\"",
    };

    const ID: &str = "11111111-2222-4333-8444-555555555555";

    fn fixed_id() -> uuid::Uuid {
        uuid::Uuid::parse_str(ID).unwrap()
    }

    fn norm(line: &str) -> Result<(String, Normalised), EnvelopeError> {
        let mut out = b"garbage".to_vec();
        let mut calls = 0;
        let mut new_id = || {
            calls += 1;
            fixed_id()
        };
        let n = normalise(
            line.as_bytes(),
            &bus(),
            &DEFAULTS,
            1_640_995_200,
            &mut new_id,
            &mut out,
        )?;
        let s = String::from_utf8(out).unwrap();
        // Every output is valid JSON and the id range points at the id.
        serde_json::from_str::<IgnoredAny>(&s).unwrap();
        assert!(s.starts_with('{'));
        assert!(calls <= 1);
        Ok((s, n))
    }

    fn keys(s: &str) -> Vec<String> {
        // serde_json's preserve_order is off, so read keys in document order by hand.
        struct K(Vec<String>);
        impl<'de> de::Deserialize<'de> for K {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<K, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = K;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str("map")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<K, A::Error> {
                        let mut v = Vec::new();
                        while let Some((k, _)) = m.next_entry::<String, IgnoredAny>()? {
                            v.push(k);
                        }
                        Ok(K(v))
                    }
                }
                d.deserialize_map(V)
            }
        }
        serde_json::from_str::<K>(s).unwrap().0
    }

    const CANONICAL: &str = r#"{"version":"0","id":"6a7e8feb-b491-4cf7-a9f1-bf3703467718","detail-type":"Order Placed","source":"shop","account":"111122223333","time":"2017-12-22T18:43:48Z","region":"us-west-1","resources":["arn:x"],"detail":{"a":1}}"#;

    #[test]
    fn arns() {
        let mut b = bus();
        assert_eq!(
            b.arn(),
            "arn:aws:events:eu-west-1:123456789012:event-bus/default"
        );
        assert_eq!(
            b.rule_arn("r1"),
            "arn:aws:events:eu-west-1:123456789012:rule/r1"
        );
        b.name = "orders".into();
        assert_eq!(
            b.arn(),
            "arn:aws:events:eu-west-1:123456789012:event-bus/orders"
        );
        assert_eq!(
            b.rule_arn("r1"),
            "arn:aws:events:eu-west-1:123456789012:rule/orders/r1"
        );
    }

    fn rfc(secs: i64) -> String {
        let mut v = Vec::new();
        write_rfc3339(secs, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc(1_640_995_200), "2022-01-01T00:00:00Z");
        assert_eq!(rfc(1_513_968_228), "2017-12-22T18:43:48Z");
        assert_eq!(rfc(-1), "1969-12-31T23:59:59Z");
        // Leap years: 2000 (÷400) yes, 1900 and 2100 (÷100) no, 2024 yes.
        assert_eq!(rfc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc(951_868_800), "2000-03-01T00:00:00Z");
        assert_eq!(rfc(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(rfc(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc(-2_203_891_200), "1900-03-01T00:00:00Z");
        assert_eq!(rfc(1_704_067_199), "2023-12-31T23:59:59Z");
        // 2038 and beyond: no 32-bit overflow.
        assert_eq!(rfc(2_147_483_647), "2038-01-19T03:14:07Z");
        assert_eq!(rfc(2_147_483_648), "2038-01-19T03:14:08Z");
        assert_eq!(rfc(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(rfc(-62_167_219_200), "0000-01-01T00:00:00Z");
        assert_eq!(rfc(-62_167_219_201), "-0001-12-31T23:59:59Z");
        assert_eq!(rfc(MIN_SECS), "-9999-01-01T00:00:00Z");
        // Beyond the calendar's range: its ends, without a panic.
        assert_eq!(rfc(253_402_300_800), "9999-12-31T23:59:59Z");
        assert_eq!(rfc(i64::MAX), "9999-12-31T23:59:59Z");
        assert_eq!(rfc(i64::MIN), "-9999-01-01T00:00:00Z");
    }

    #[test]
    fn rfc3339_agrees_with_day_count() {
        // Walk every day of 1968..2404 and check the dates tick correctly.
        let mut prev = (1967, 12, 31);
        let start = -731; // 1968-01-01
        for d in start..start + 160_000 {
            let text = rfc(d * 86_400);
            let field = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap();
            let (y, m, dd) = (i64::from(field(0..4)), field(5..7), field(8..10));
            assert!(text.ends_with("T00:00:00Z"), "{text}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            let (py, pm, pd) = prev;
            let plen = {
                let pleap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
                [
                    31,
                    if pleap { 29 } else { 28 },
                    31,
                    30,
                    31,
                    30,
                    31,
                    31,
                    30,
                    31,
                    30,
                    31,
                ][pm as usize - 1]
            };
            let expect = if pd < plen {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, dd), expect, "day {d}");
            assert!(dd <= len[m as usize - 1]);
            prev = (y, m, dd);
        }
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut v = Vec::new();
        write_json_string("a\"b\\c\nd\u{1}é\u{7f}", &mut v);
        let mut want = r#""a\"b\\c\nd\u0001é"#.as_bytes().to_vec();
        want.extend_from_slice(&[0x7f, b'"']);
        assert_eq!(v, want);
        let s = String::from_utf8(v).unwrap();
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é\u{7f}");
    }

    #[test]
    fn fast_path_copies_bytes_unchanged() {
        for line in [
            CANONICAL.to_string(),
            // Whitespace inside, other keys after the nine, escapes: all kept.
            CANONICAL.replace(
                "\"detail\":{\"a\":1}}",
                "\"detail\" : { \"a\" : 1 } , \"x\\u0041\":[1]}",
            ),
        ] {
            let (s, n) = norm(&line).unwrap();
            assert_eq!(s, line);
            assert!(!n.wrapped);
            assert_eq!(&s[n.id.clone()], "6a7e8feb-b491-4cf7-a9f1-bf3703467718");
        }
        // Surrounding whitespace and the newline are trimmed.
        let (s, _) = norm(&format!("  {CANONICAL}\r\n")).unwrap();
        assert_eq!(s, CANONICAL);
    }

    #[test]
    fn missing_fields_are_filled() {
        let line = r#"{"detail-type":"Order Placed","source":"shop","detail":{"a":1}}"#;
        let (s, n) = norm(line).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"version":"0","id":"{ID}","detail-type":"Order Placed","source":"shop","account":"123456789012","time":"2022-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{{"a":1}}}}"#
            )
        );
        assert_eq!(&s[n.id], ID);
        assert!(!n.wrapped);
    }

    #[test]
    fn given_fields_are_kept_and_reordered() {
        let line = r#"{"extra":true,"detail":{"b":[1,2]},"source":"s","region":"r","id":"my-id","detail-type":"t","z\"q":null,"account":"a","time":"t0","version":"1","resources":["x"]}"#;
        let (s, n) = norm(line).unwrap();
        assert_eq!(
            s,
            r#"{"version":"1","id":"my-id","detail-type":"t","source":"s","account":"a","time":"t0","region":"r","resources":["x"],"detail":{"b":[1,2]},"extra":true,"z\"q":null}"#
        );
        assert_eq!(&s[n.id], "my-id");
        assert_eq!(
            keys(&s),
            [
                "version",
                "id",
                "detail-type",
                "source",
                "account",
                "time",
                "region",
                "resources",
                "detail",
                "extra",
                "z\"q"
            ]
        );
    }

    #[test]
    fn escaped_keys_are_recognised() {
        // `source` spelt with an escape is still the source key.
        let line = r#"{"detail-type":"t","sourc\u0065":"s","detail":{}, "k\n" : 1 }"#;
        let (s, _) = norm(line).unwrap();
        assert_eq!(
            s,
            format!(
                r#"{{"version":"0","id":"{ID}","detail-type":"t","source":"s","account":"123456789012","time":"2022-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{{}},"k\n":1}}"#
            )
        );
    }

    #[test]
    fn all_nine_out_of_order_is_rewritten() {
        let line = r#"{"id":"i","version":"0","detail-type":"t","source":"s","account":"a","time":"x","region":"r","resources":[],"detail":{}}"#;
        let (s, _) = norm(line).unwrap();
        assert_eq!(
            s,
            r#"{"version":"0","id":"i","detail-type":"t","source":"s","account":"a","time":"x","region":"r","resources":[],"detail":{}}"#
        );
        // An extra key among the nine breaks canonical order too.
        let line = CANONICAL.replace(r#""account""#, r#""x":1,"account""#);
        let (s, _) = norm(&line).unwrap();
        assert_ne!(s, line);
        assert!(s.ends_with(r#""detail":{"a":1},"x":1}"#));
    }

    #[test]
    fn other_objects_are_wrapped() {
        let line = "  {\"order\": 7, \"source\": 5}\n";
        let (s, n) = norm(line).unwrap();
        assert!(n.wrapped);
        assert_eq!(
            s,
            format!(
                r#"{{"version":"0","id":"{ID}","detail-type":"Raw \"Event\"","source":"busbar.stdin","account":"123456789012","time":"2022-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{{"order": 7, "source": 5}}}}"#
            )
        );
        assert_eq!(&s[n.id], ID);
        let (s, n) = norm("{}").unwrap();
        assert!(n.wrapped);
        assert!(s.ends_with(r#""detail":{}}"#));
        // Duplicate keys in a non-envelope are the producer's business.
        assert!(norm(r#"{"a":1,"a":2}"#).unwrap().1.wrapped);
    }

    #[test]
    fn deep_detail_is_fine() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let line = format!(r#"{{"detail-type":"t","source":"s","detail":{{"d":{deep}}}}}"#);
        norm(&line).unwrap();
    }

    fn err(line: &str) -> EnvelopeError {
        norm(line).unwrap_err()
    }

    #[test]
    fn invalid_json() {
        let e = err(r#"{"a":x}"#);
        assert_eq!(e.reason_code(), "invalid_json");
        assert_eq!(e.offset(), 5);
        assert_eq!(e.to_string(), "byte 5: invalid JSON: expected value");
        let e = err("\n  {\"a\":1,\n\"b\":}");
        assert_eq!(e.reason_code(), "invalid_json");
        assert_eq!(e.offset(), 15);
        assert_eq!(err("").reason_code(), "invalid_json");
        assert_eq!(err("[1,").reason_code(), "invalid_json");
        assert_eq!(err(r#"{"a":1} x"#).reason_code(), "invalid_json");
        assert_eq!(err(r#"{"a":1}{}"#).reason_code(), "invalid_json");
        assert_eq!(err("{\"a\":\"\u{1}\"}").reason_code(), "invalid_json");
        let e = normalise(
            b"{\"a\":\"\xff\"}",
            &bus(),
            &DEFAULTS,
            0,
            &mut fixed_id,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert_eq!(e.reason_code(), "invalid_json");
        // Broken inside an envelope's detail.
        assert_eq!(
            err(r#"{"detail-type":"t","source":"s","detail":{"a":[1,}}"#).reason_code(),
            "invalid_json"
        );
    }

    #[test]
    fn not_an_object() {
        for line in ["[1]", "  \"s\"", "1", "null"] {
            let e = err(line);
            assert_eq!(e.reason_code(), "not_an_object", "{line}");
        }
        assert_eq!(err("  7").offset(), 2);
        assert_eq!(err("  7").to_string(), "byte 2: event is not a JSON object");
    }

    #[test]
    fn detail_not_object() {
        for d in ["[]", "\"x\"", "null", "1"] {
            let e = err(&format!(
                r#"{{"detail-type":"t","source":"s","detail":{d}}}"#
            ));
            assert_eq!(e.reason_code(), "detail_not_object");
            assert_eq!(e.field(), Some("detail"));
            assert_eq!(e.offset(), 41);
        }
    }

    #[test]
    fn bad_field_types() {
        for (field, value, want) in [
            ("source", "1", "a string"),
            ("detail-type", "null", "a string"),
            ("id", "{}", "a string"),
            ("account", "123456789012", "a string"),
            ("time", "1640995200", "a string"),
            ("region", "[]", "a string"),
            ("version", "0", "a string"),
            ("resources", "\"arn\"", "an array of strings"),
            ("resources", "[\"a\",1]", "an array of strings"),
        ] {
            let mut m = vec![
                ("detail-type".to_string(), "\"t\"".to_string()),
                ("source".into(), "\"s\"".into()),
                ("detail".into(), "{}".into()),
            ];
            if let Some(e) = m.iter_mut().find(|(k, _)| k == field) {
                e.1 = value.into();
            } else {
                m.push((field.into(), value.into()));
            }
            let line = format!(
                "{{{}}}",
                m.iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let e = err(&line);
            assert_eq!(e.reason_code(), "bad_field_type", "{line}");
            assert_eq!(e.field(), Some(field));
            assert_eq!(&line[e.offset()..e.offset() + value.len()], value);
            assert_eq!(
                e.to_string(),
                format!(
                    "byte {}: envelope field `{field}` must be {want}",
                    e.offset()
                )
            );
        }
    }

    #[test]
    fn duplicate_envelope_key() {
        let line = r#"{"detail-type":"t","source":"s","detail":{},"source":"t"}"#;
        let e = err(line);
        assert_eq!(e.reason_code(), "duplicate_key");
        assert_eq!(e.field(), Some("source"));
        assert_eq!(&line[e.offset()..], "\"t\"}");
    }

    #[test]
    fn out_is_reused_without_growing() {
        let mut out = Vec::with_capacity(4096);
        let cap = out.capacity();
        for line in [
            CANONICAL,
            r#"{"a":1}"#,
            r#"{"detail-type":"t","source":"s","detail":{},"x":1}"#,
        ] {
            normalise(
                line.as_bytes(),
                &bus(),
                &DEFAULTS,
                0,
                &mut fixed_id,
                &mut out,
            )
            .unwrap();
        }
        assert_eq!(out.capacity(), cap);
    }

    /// Long values with escaped quotes and backslashes are skimmed to their
    /// real end: the canonical envelope is kept as it is.
    #[test]
    fn skim_finds_the_end_of_long_escaped_strings() {
        let line = r#"{"version":"0","id":"an id of more than sixteen bytes \"quoted\\\" \u00fc","detail-type":"Type – with non-ASCII after sixteen bytes","source":"s","account":"1","time":"t","region":"r","resources":["a resource name of more than sixteen"],"detail":{"k":"x"}}"#;
        let mut out = Vec::new();
        let u = normalise_unchecked(
            line.as_bytes(),
            &bus(),
            &DEFAULTS,
            7,
            &mut fixed_id,
            &mut out,
        )
        .expect("decided by the skim");
        assert_eq!(u.kept, Some(0..line.len()));
        assert_eq!(
            &line[u.norm.id.clone()],
            r#"an id of more than sixteen bytes \"quoted\\\" \u00fc"#
        );
        assert_eq!(&line[u.last_key..u.last_key + 9], r#"detail":{"#);
    }

    /// The compact skim finds what the general one finds, and leaves every
    /// other spelling to it untouched.
    #[test]
    fn compact_skim_agrees_with_the_general_skim() {
        let compact = [
            r#"{"version":"0","id":"e-1","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{"a":1}}"#,
            r#"{"version":"0","id":"a \"quoted\" id of more than sixteen bytes","detail-type":"Type – non-ASCII","source":"s","account":"1","time":"t","region":"r","resources":["arn:a","arn:b"],"detail":{}}"#,
        ];
        for line in compact {
            let (mut fast, mut slow) = (Scan::default(), Scan::default());
            assert!(skim_compact(line.as_bytes(), &mut fast), "{line}");
            assert!(skim(line.as_bytes(), &mut slow), "{line}");
            assert_eq!(fast, slow, "{line}");
        }
        let others = [
            r#"{ "version":"0","id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{}}"#,
            r#"{"version":"0","id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail": {}}"#,
            r#"{"id":"e","version":"0","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{}}"#,
            r#"{"version":0,"id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{}}"#,
            r#"{"version":"0","id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":"x","detail":{}}"#,
            r#"{"version":"0","id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":[]}"#,
            r#"{"version":"0","id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[]}"#,
            r#"{"version":"0","id":"e"#,
            r#"{"a":1}"#,
            "{",
        ];
        for line in others {
            let mut scan = Scan::default();
            assert!(!skim_compact(line.as_bytes(), &mut scan), "{line}");
            assert_eq!(scan, Scan::default(), "{line}");
        }
    }

    /// `normalise_unchecked` agrees with `normalise` wherever it decides:
    /// same bytes and id for valid input; for invalid input its envelope is
    /// rejected by the matcher's validation (which the pipeline runs).
    #[test]
    fn unchecked_agrees_with_checked_or_leaves_invalid_input_to_the_matcher() {
        let seeds = [
            r#"{"version":"0","id":"e-1","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":["a"],"detail":{"a":[1,{"b":"x\"}"}],"c":null}}"#,
            r#"{"order":7,"tags":["a","b"],"nested":{"x":{"y":[true,false,-1.5e3]}}}"#,
            r#"  {"detail-type":"T","source":"s","detail":{}}  "#,
            r#"{"version":"0","id":"e-1","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{},"extra":1}"#,
            r#"{"k\u0065y":1}"#,
            r#"{}"#,
            r#"{"a":1},"source":"aws.s3","detail":{"b":2}"#,
            r#"{"a":1},"detail":{"b":2}"#,
            r#"{"version":"0","id":"e","detail-type":"T","source":"s","account":"1","time":"t","region":"r","resources":[],"detail":{},"source":"x"}"#,
            // A canonical envelope between whitespace: kept, its end trimmed.
            " {\"version\":\"0\",\"id\":\"e\",\"detail-type\":\"T\",\"source\":\"s\",\"account\":\"1\",\"time\":\"t\",\"region\":\"r\",\"resources\":[],\"detail\":{\"x\":[1]}} \t\r ",
            // Strings longer than one 16-byte step of the string search,
            // with escapes and non-ASCII bytes past it.
            r#"{"version":"0","id":"an id of more than sixteen bytes \"quoted\\\" \u00fc","detail-type":"Type – with non-ASCII after sixteen bytes","source":"s","account":"1","time":"t","region":"r","resources":["a resource name of more than sixteen"],"detail":{"a key longer than sixteen bytes":"x"}}"#,
        ];
        let engine = crate::engine::RuleSetBuilder::new(crate::engine::Limits::default())
            .build()
            .unwrap();
        let mut cache = engine.cache();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for seed in seeds {
            let b = seed.as_bytes();
            cases.push(b.to_vec());
            for cut in 0..b.len() {
                cases.push(b[..cut].to_vec());
                let mut flip = b.to_vec();
                for x in [b'"', b'}', b']', b',', b'x', b'\\', b' ', b'{', b'['] {
                    flip[cut] = x;
                    cases.push(flip.clone());
                }
            }
        }
        let mut decided = 0;
        for case in &cases {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let fast = normalise_unchecked(case, &bus(), &DEFAULTS, 7, &mut fixed_id, &mut a);
            if let Some(r) = fast.as_ref().and_then(|f| f.kept.clone()) {
                assert!(a.is_empty());
                a = case[r].to_vec();
            }
            let slow = normalise(case, &bus(), &DEFAULTS, 7, &mut fixed_id, &mut b);
            let shown = String::from_utf8_lossy(case);
            // What the pipeline does with a `Some`: validate, then check
            // that `detail` is the last key.
            let stands = |f: &Unchecked, cache: &mut crate::engine::Cache| {
                engine.find_checked(&a, cache).is_ok() && f.stands(cache)
            };
            match (fast, slow) {
                (None, _) => {}
                (Some(f), Ok(s)) => {
                    if stands(&f, &mut cache) {
                        decided += 1;
                        // A kept line's end is trimmed once it is valid.
                        assert_eq!(trim_end(&a), b, "{shown}");
                        assert_eq!(f.norm, s, "{shown}");
                    }
                }
                (Some(f), Err(_)) => {
                    decided += 1;
                    assert!(!stands(&f, &mut cache), "passes unvalidated: {shown}");
                }
            }
        }
        assert!(decided > 100, "the fast path decides most cases: {decided}");
    }
}
