//! CloudEvents 1.0 for `http` and `kafka` targets (`format: cloudevents`,
//! `cloudevents-binary`): the attributes of one EventBridge envelope, and
//! the three ways they are written, structured JSON
//! (`application/cloudevents+json`), HTTP binary mode (`ce-*` headers,
//! percent-encoded as the HTTP binding says) and Kafka binary mode (`ce_*`
//! headers, UTF-8 as the Kafka binding says).
//!
//! Mapping (spec: <https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/spec.md>):
//! `id`←`id`, `source`←`source`, `type`←`detail-type`, `time`←`time`,
//! `subject`←the first of `resources` (absent when there are none),
//! `specversion` `1.0`, and two extension attributes, `account` and
//! `region` (extension names are lower-case letters and digits only, so
//! EventBridge's names fit as they are). A `traceparent` / `tracestate`
//! that came with the event is written as the distributed-tracing
//! extension.
//!
//! `data` is what the target would deliver without CloudEvents, with one
//! exception: with no `input*` setting it is the envelope's `detail` (the
//! other envelope fields are attributes already). With `input`,
//! `input_path` or `input_transformer` it is the shaped result, so a target
//! can pick or reshape the payload as on EventBridge; `datacontenttype` is
//! `application/json`, or `text/plain; charset=utf-8` for a plain-text
//! template.
//!
//! An envelope whose `id`, `source` or `detail-type` is empty cannot be a
//! CloudEvent (the spec requires them non-empty): such an event is
//! dead-lettered with [`UNMAPPABLE`]. A `time` that is not RFC 3339 (the
//! envelope only requires a string) is left out rather than sent for a
//! consumer to reject, since `time` is optional.
//!
//! Nothing here allocates except to decode a value that holds JSON escapes
//! (rare in ids, sources and types): attributes are spans of the envelope,
//! and writers append to the caller's buffer.

use std::ops::Range;

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::TargetFormat;
use crate::handoff::Trace;
use crate::transform::path::{decode, key_eq, Cursor};

/// The dead-letter code of an event that cannot be made a CloudEvent.
pub const UNMAPPABLE: &str = "CLOUDEVENTS_UNMAPPABLE";

/// `content-type` of a structured-mode request.
pub const STRUCTURED: &str = "application/cloudevents+json; charset=utf-8";
/// `datacontenttype` of JSON data.
pub const JSON: &str = "application/json";
/// `datacontenttype` of a plain-text template's result.
pub const TEXT: &str = "text/plain; charset=utf-8";

/// One CloudEvents attribute, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    SpecVersion,
    Id,
    Source,
    Type,
    Time,
    Subject,
    Account,
    Region,
    TraceParent,
    TraceState,
}

impl Attr {
    /// As many as there are attributes.
    pub const COUNT: usize = 10;

    pub fn name(self) -> &'static str {
        self.names().0
    }

    /// The HTTP binary-mode header.
    pub fn http_header(self) -> &'static str {
        self.names().1
    }

    /// The Kafka binary-mode header.
    pub fn kafka_header(self) -> &'static str {
        self.names().2
    }

    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Attr::SpecVersion => ("specversion", "ce-specversion", "ce_specversion"),
            Attr::Id => ("id", "ce-id", "ce_id"),
            Attr::Source => ("source", "ce-source", "ce_source"),
            Attr::Type => ("type", "ce-type", "ce_type"),
            Attr::Time => ("time", "ce-time", "ce_time"),
            Attr::Subject => ("subject", "ce-subject", "ce_subject"),
            Attr::Account => ("account", "ce-account", "ce_account"),
            Attr::Region => ("region", "ce-region", "ce_region"),
            Attr::TraceParent => ("traceparent", "ce-traceparent", "ce_traceparent"),
            Attr::TraceState => ("tracestate", "ce-tracestate", "ce_tracestate"),
        }
    }
}

/// An attribute's value: the contents of a JSON string of the envelope
/// (escapes kept), or text busbar holds (ASCII, no escapes needed in
/// headers).
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Json(&'a [u8]),
    Text(&'a [u8]),
}

/// What becomes `data`.
#[derive(Debug, Clone, Copy)]
pub enum Data<'a> {
    /// JSON text.
    Json(&'a [u8]),
    /// Text (a plain-text template's result).
    Text(&'a [u8]),
}

impl<'a> Data<'a> {
    pub fn content_type(&self) -> &'static str {
        match self {
            Data::Json(_) => JSON,
            Data::Text(_) => TEXT,
        }
    }

    pub fn bytes(&self) -> &'a [u8] {
        match *self {
            Data::Json(b) | Data::Text(b) => b,
        }
    }
}

/// The attributes of one envelope, as spans of it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attributes<'e> {
    id: &'e [u8],
    source: &'e [u8],
    kind: &'e [u8],
    time: Option<&'e [u8]>,
    subject: Option<&'e [u8]>,
    account: Option<&'e [u8]>,
    region: Option<&'e [u8]>,
    detail: Option<&'e [u8]>,
}

impl<'e> Attributes<'e> {
    /// Reads the top-level members of `envelope` (one pass, skipping
    /// `detail` without looking inside). Errors say what is missing.
    pub fn read(envelope: &'e [u8]) -> Result<Attributes<'e>, String> {
        let mut a = Attributes::default();
        let (mut id, mut source, mut kind) = (None, None, None);
        let mut cur = Cursor::new(envelope);
        cur.ws();
        let walked = cur.members(|k, cur| {
            let slot = if key_eq(k, "id") {
                &mut id
            } else if key_eq(k, "source") {
                &mut source
            } else if key_eq(k, "detail-type") {
                &mut kind
            } else if key_eq(k, "time") {
                &mut a.time
            } else if key_eq(k, "account") {
                &mut a.account
            } else if key_eq(k, "region") {
                &mut a.region
            } else if key_eq(k, "resources") {
                let start = cur.i;
                cur.skip_value()?;
                a.subject = first_string(&envelope[start..cur.i]);
                return Ok(false);
            } else if key_eq(k, "detail") {
                let start = cur.i;
                cur.skip_value()?;
                a.detail = Some(&envelope[start..cur.i]);
                return Ok(false);
            } else {
                cur.skip_value()?;
                return Ok(false);
            };
            if cur.peek() == Some(b'"') {
                *slot = Some(cur.string()?);
            } else {
                cur.skip_value()?;
            }
            Ok(false)
        });
        if let Err(at) = walked {
            return Err(format!("the envelope cannot be read at byte {at}"));
        }
        let need = |v: Option<&'e [u8]>, what: &str| match v {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(format!(
                "envelope field `{what}` is missing or empty; a CloudEvent needs it"
            )),
        };
        a.id = need(id, "id")?;
        a.source = need(source, "source")?;
        a.kind = need(kind, "detail-type")?;
        a.time = a.time.filter(|t| is_rfc3339(t));
        Ok(a)
    }

    /// The envelope's `detail` (JSON text), the data of a target without
    /// `input*` settings.
    pub fn detail(&self) -> Option<&'e [u8]> {
        self.detail
    }

    /// Every attribute that has a value, in [`Attr`] order.
    fn each<'t>(&self, trace: Option<Trace<'t>>, mut f: impl FnMut(Attr, Value<'_>))
    where
        'e: 't,
    {
        f(Attr::SpecVersion, Value::Text(b"1.0"));
        f(Attr::Id, Value::Json(self.id));
        f(Attr::Source, Value::Json(self.source));
        f(Attr::Type, Value::Json(self.kind));
        let optional = [
            (Attr::Time, self.time),
            (Attr::Subject, self.subject),
            (Attr::Account, self.account),
            (Attr::Region, self.region),
        ];
        for (attr, v) in optional {
            if let Some(v) = v {
                f(attr, Value::Json(v));
            }
        }
        if let Some(t) = trace {
            f(Attr::TraceParent, Value::Text(t.parent));
            if let Some(s) = t.state {
                f(Attr::TraceState, Value::Text(s));
            }
        }
    }

    /// Bytes the written attributes take at most, for sizing a buffer once
    /// (percent-encoding triples a byte at most).
    pub fn size_hint(&self, trace: Option<Trace<'_>>) -> usize {
        let mut n = 0;
        self.each(trace, |attr, v| {
            let len = match v {
                Value::Json(b) | Value::Text(b) => b.len(),
            };
            n += attr.name().len() + 6 + 3 * len;
        });
        n + 64
    }

    /// Appends the structured-mode JSON object.
    pub fn write_structured(&self, data: Data<'_>, trace: Option<Trace<'_>>, out: &mut Vec<u8>) {
        out.push(b'{');
        self.each(trace, |attr, v| {
            out.push(b'"');
            out.extend_from_slice(attr.name().as_bytes());
            out.extend_from_slice(b"\":");
            match v {
                Value::Json(raw) => {
                    out.push(b'"');
                    out.extend_from_slice(raw);
                    out.push(b'"');
                }
                Value::Text(t) => {
                    crate::envelope::write_json_string(&String::from_utf8_lossy(t), out)
                }
            }
            out.push(b',');
        });
        out.extend_from_slice(b"\"datacontenttype\":\"");
        out.extend_from_slice(data.content_type().as_bytes());
        out.extend_from_slice(b"\",\"data\":");
        match data {
            Data::Json(j) => out.extend_from_slice(j),
            Data::Text(t) => crate::envelope::write_json_string(&String::from_utf8_lossy(t), out),
        }
        out.push(b'}');
    }

    /// Appends each attribute's HTTP binary-mode header value
    /// (percent-encoded) to `out`, calling `f` with its range there.
    pub fn write_http_headers(
        &self,
        trace: Option<Trace<'_>>,
        out: &mut Vec<u8>,
        mut f: impl FnMut(Attr, Range<usize>),
    ) {
        self.each(trace, |attr, v| {
            let start = out.len();
            with_text(v, |t| percent_encode(t, out));
            f(attr, start..out.len());
        });
    }

    /// Calls `f` with each attribute's Kafka binary-mode header and value
    /// (UTF-8, not encoded).
    pub fn kafka_headers(&self, trace: Option<Trace<'_>>, mut f: impl FnMut(&'static str, &[u8])) {
        self.each(trace, |attr, v| with_text(v, |t| f(attr.kafka_header(), t)));
    }
}

/// The data of one delivery: `payload` is what the target shaped (`None`:
/// no `input*` setting, the data is the envelope's `detail`); `text`: the
/// shaper renders text.
pub fn data<'a>(a: &Attributes<'a>, payload: Option<&'a [u8]>, text: bool) -> Data<'a> {
    match payload {
        None => Data::Json(a.detail.unwrap_or(b"null")),
        Some(p) if text => Data::Text(p),
        Some(p) => Data::Json(p),
    }
}

/// Binary-mode `ce-*` headers of one HTTP request, as slices of one
/// buffer that also holds the body: one allocation per event, as for the
/// body alone.
#[derive(Debug, Clone)]
pub struct HttpBinary {
    buf: Bytes,
    at: [(u32, u32); Attr::COUNT],
    /// The attributes present, as bits of `1 << Attr as u16`.
    present: u16,
}

impl HttpBinary {
    /// Bytes the header values take.
    pub fn header_bytes(&self) -> usize {
        self.at.iter().map(|(s, e)| (e - s) as usize).sum()
    }

    /// Adds each header to `h`.
    pub fn apply(&self, h: &mut HeaderMap) {
        for (i, attr) in ATTRS.iter().enumerate() {
            if self.present & (1 << i) == 0 {
                continue;
            }
            let (s, e) = self.at[i];
            // Percent-encoded visible ASCII: always a valid value, and
            // `from_maybe_shared` keeps the slice instead of copying it.
            if let Ok(v) = HeaderValue::from_maybe_shared(self.buf.slice(s as usize..e as usize)) {
                h.insert(HeaderName::from_static(attr.http_header()), v);
            }
        }
    }
}

const ATTRS: [Attr; Attr::COUNT] = [
    Attr::SpecVersion,
    Attr::Id,
    Attr::Source,
    Attr::Type,
    Attr::Time,
    Attr::Subject,
    Attr::Account,
    Attr::Region,
    Attr::TraceParent,
    Attr::TraceState,
];

/// The body (and, in binary mode, the attribute headers) of one HTTP
/// delivery in `format`; `payload` and `text` as for [`data`]. Errors are
/// the message of an [`UNMAPPABLE`] dead letter.
pub fn http_body(
    format: TargetFormat,
    envelope: &[u8],
    payload: Option<&[u8]>,
    text: bool,
    trace: Option<Trace<'_>>,
) -> Result<(Bytes, Option<HttpBinary>), String> {
    let a = Attributes::read(envelope)?;
    let data = data(&a, payload, text);
    let mut buf = Vec::with_capacity(data.bytes().len() + a.size_hint(trace));
    if format != TargetFormat::CloudeventsBinary {
        a.write_structured(data, trace, &mut buf);
        return Ok((Bytes::from(buf), None));
    }
    buf.extend_from_slice(data.bytes());
    let body_len = buf.len();
    let mut at = [(0u32, 0u32); Attr::COUNT];
    let mut present = 0u16;
    a.write_http_headers(trace, &mut buf, |attr, r| {
        let i = attr as usize;
        at[i] = (r.start as u32, r.end as u32);
        present |= 1 << i;
    });
    let buf = Bytes::from(buf);
    Ok((buf.slice(..body_len), Some(HttpBinary { buf, at, present })))
}

/// Calls `f` with the decoded text of `v`.
fn with_text(v: Value<'_>, f: impl FnOnce(&[u8])) {
    match v {
        Value::Text(t) => f(t),
        Value::Json(raw) if memchr::memchr(b'\\', raw).is_none() => f(raw),
        // Escapes are rare in these fields; decoding them allocates.
        Value::Json(raw) => match decode(raw) {
            Some(s) => f(s.as_bytes()),
            None => f(raw),
        },
    }
}

/// The HTTP binding's encoding of header values (§3.1.3.2): printable
/// ASCII but space, `"` and `%` as is, every other byte of the UTF-8 text
/// as `%XX`.
fn percent_encode(t: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in t {
        if (0x21..=0x7e).contains(&b) && b != b'"' && b != b'%' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// The contents of the first element of a JSON array, when it is a string.
fn first_string(array: &[u8]) -> Option<&[u8]> {
    let mut cur = Cursor::new(array);
    if cur.peek() != Some(b'[') {
        return None;
    }
    cur.i += 1;
    cur.ws();
    if cur.peek() != Some(b'"') {
        return None;
    }
    cur.string().ok()
}

/// RFC 3339 `date-time` (`2026-11-23T10:00:00Z`, fractions and offsets
/// allowed), which CloudEvents requires of `time`.
fn is_rfc3339(t: &[u8]) -> bool {
    let digits = |r: Range<usize>| t.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let fixed = t.len() >= 20
        && digits(0..4)
        && t[4] == b'-'
        && digits(5..7)
        && t[7] == b'-'
        && digits(8..10)
        && matches!(t[10], b'T' | b't')
        && digits(11..13)
        && t[13] == b':'
        && digits(14..16)
        && t[16] == b':'
        && digits(17..19);
    if !fixed {
        return false;
    }
    let mut i = 19;
    if t[i] == b'.' {
        let n = t[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        i += 1 + n;
    }
    match t.get(i..) {
        Some(b"Z" | b"z") => true,
        Some(&[sign, h1, h2, b':', m1, m2])
            if matches!(sign, b'+' | b'-') && [h1, h2, m1, m2].iter().all(u8::is_ascii_digit) =>
        {
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENV: &str = r#"{"version":"0","id":"e-1","detail-type":"Order \"Placed\"","source":"shop.orders","account":"123456789012","time":"2026-11-23T10:00:00Z","region":"eu-west-1","resources":["arn:aws:x:1", "arn:2"],"detail":{"n":1,"s":"é"},"extra":true}"#;

    fn structured(
        env: &str,
        data: Option<Data<'_>>,
        trace: Option<Trace<'_>>,
    ) -> serde_json::Value {
        let a = Attributes::read(env.as_bytes()).unwrap();
        let data = data.unwrap_or(Data::Json(a.detail().unwrap()));
        let mut out = Vec::new();
        a.write_structured(data, trace, &mut out);
        assert!(out.len() <= a.size_hint(trace) + data.bytes().len());
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn an_envelope_maps_to_a_structured_event() {
        let v = structured(ENV, None, None);
        assert_eq!(
            v,
            serde_json::json!({
                "specversion": "1.0", "id": "e-1", "source": "shop.orders",
                "type": "Order \"Placed\"", "time": "2026-11-23T10:00:00Z",
                "subject": "arn:aws:x:1", "account": "123456789012", "region": "eu-west-1",
                "datacontenttype": "application/json", "data": {"n": 1, "s": "é"}
            })
        );
    }

    #[test]
    fn shaped_text_data_and_trace_context() {
        let trace = Trace {
            parent: b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            state: Some(b"congo=t61rcWkgMzE,x=\"q\""),
        };
        let env = ENV.replace(r#"["arn:aws:x:1", "arn:2"]"#, "[]");
        let v = structured(&env, Some(Data::Text(b"order \"7\" placed")), Some(trace));
        assert_eq!(v["data"], "order \"7\" placed");
        assert_eq!(v["datacontenttype"], TEXT);
        assert!(v.get("subject").is_none(), "no resources: no subject");
        assert_eq!(v["traceparent"], std::str::from_utf8(trace.parent).unwrap());
        assert_eq!(v["tracestate"], "congo=t61rcWkgMzE,x=\"q\"");
    }

    #[test]
    fn binary_headers_are_decoded_and_percent_encoded_for_http_only() {
        let a = Attributes::read(ENV.as_bytes()).unwrap();
        let mut out = Vec::new();
        let mut at = Vec::new();
        a.write_http_headers(None, &mut out, |attr, r| at.push((attr.http_header(), r)));
        let http: Vec<_> = at
            .into_iter()
            .map(|(h, r)| (h, String::from_utf8(out[r].to_vec()).unwrap()))
            .collect();
        assert!(http.contains(&("ce-type", "Order%20%22Placed%22".to_string())));
        assert!(http.contains(&("ce-specversion", "1.0".to_string())));
        assert!(http.contains(&("ce-subject", "arn:aws:x:1".to_string())));
        let mut kafka = Vec::new();
        a.kafka_headers(None, |h, v| {
            kafka.push((h, String::from_utf8(v.to_vec()).unwrap()))
        });
        assert!(kafka.contains(&("ce_type", "Order \"Placed\"".to_string())));
        assert!(kafka.contains(&("ce_account", "123456789012".to_string())));
        assert_eq!(kafka.len(), 8);
        let mut pe = Vec::new();
        percent_encode("a é%".as_bytes(), &mut pe);
        assert_eq!(pe, b"a%20%C3%A9%25");
    }

    #[test]
    fn what_a_cloudevent_cannot_carry() {
        let e = Attributes::read(ENV.replace(r#""e-1""#, r#""""#).as_bytes()).unwrap_err();
        assert!(e.contains("`id`"), "{e}");
        let e = Attributes::read(br#"{"id":"x","source":"s"}"#).unwrap_err();
        assert!(e.contains("`detail-type`"), "{e}");
        let odd = ENV.replace("2026-11-23T10:00:00Z", "yesterday");
        assert!(structured(&odd, None, None).get("time").is_none());
        for ok in [
            "2026-11-23T10:00:00.123Z",
            "2026-11-23T10:00:00+01:00",
            "2026-11-23t10:00:00z",
        ] {
            assert!(is_rfc3339(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "2026-11-23T10:00:00",
            "2026-11-23T10:00:00.Z",
            "2026-11-23 10:00:00Z",
            "x",
        ] {
            assert!(!is_rfc3339(bad.as_bytes()), "{bad}");
        }
    }
}
