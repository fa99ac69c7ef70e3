//! `AWSEvents.PutEvents` and `AWSEvents.TestEventPattern` over the AWS JSON
//! 1.1 protocol (§3.2–§3.4, §3.6, limits §2.1), so that the AWS CLI and SDKs
//! can talk to busbar with only `--endpoint-url` changed.
//!
//! Owns: which operation an `X-Amz-Target` names, request-level validation
//! (entry count, total entry size), per-entry validation with EventBridge's
//! exact codes and messages, building each accepted entry's envelope, the
//! response and error bodies. Pure functions of bytes: the HTTP server
//! frames requests, sends `X-Amzn-ErrorType: <type_name>` beside every error
//! body, and hands [`EntryOutcome::Accepted`] envelopes to the pipeline.
//!
//! Choices where AWS leaves room (each tested below):
//! - An empty body is `{}` (§3.4.2), so PutEvents answers "Entries must not
//!   be null" rather than a parse error.
//! - A body that is not JSON, or has a member of the wrong JSON type (a
//!   string `Time`, a number `Source`), is `SerializationException`, which is
//!   what AWS JSON services return for undeserialisable input and what SDKs
//!   surface as a plain service error; the message is serde's description.
//! - Missing, null or empty `Source`/`DetailType`/`Detail` all take the
//!   "is a required argument" row of §3.3.
//! - `Detail` nested deeper than [`PutEventsLimits::max_detail_depth`] is
//!   `MalformedDetail` (§2.1.6 has no recorded AWS text).
//! - A `Time` that is not a finite number of seconds within years 0–9999 is
//!   `InvalidArgument` "Parameter Time is not valid." (busbar's text; AWS's
//!   SDKs never send one).
//! - `EventBusName` omitted means this busbar's bus (on AWS it means
//!   `default`, §3.2.3; a sidecar serves one bus, so producers need not
//!   repeat its name). A name or ARN of another bus drops the entry, as AWS
//!   does, and says so with [`EntryOutcome::Dropped`].
//! - The total size limit is inclusive: exactly `max_request_entry_bytes`
//!   passes.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::engine::{Limits, RuleSetBuilder};
use crate::envelope::{strip_position, write_envelope_head, write_json_string, Bus};
use crate::flatten::{self, ArrayPos, Leaf, PathId, PathTrie, ScanLimits, Scratch, Sink};

/// An operation named by `X-Amz-Target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    PutEvents,
    TestEventPattern,
    /// Another EventBridge operation (§3.4.7) that this function set does
    /// not implement; the name without the `AWSEvents.` prefix.
    Other(String),
}

/// Every operation of the classic EventBridge API (§3.4.7).
const OPERATIONS: [&str; 57] = [
    "ActivateEventSource",
    "CancelReplay",
    "CreateApiDestination",
    "CreateArchive",
    "CreateConnection",
    "CreateEndpoint",
    "CreateEventBus",
    "CreatePartnerEventSource",
    "DeactivateEventSource",
    "DeauthorizeConnection",
    "DeleteApiDestination",
    "DeleteArchive",
    "DeleteConnection",
    "DeleteEndpoint",
    "DeleteEventBus",
    "DeletePartnerEventSource",
    "DeleteRule",
    "DescribeApiDestination",
    "DescribeArchive",
    "DescribeConnection",
    "DescribeEndpoint",
    "DescribeEventBus",
    "DescribeEventSource",
    "DescribePartnerEventSource",
    "DescribeReplay",
    "DescribeRule",
    "DisableRule",
    "EnableRule",
    "ListApiDestinations",
    "ListArchives",
    "ListConnections",
    "ListEndpoints",
    "ListEventBuses",
    "ListEventSources",
    "ListPartnerEventSourceAccounts",
    "ListPartnerEventSources",
    "ListReplays",
    "ListRuleNamesByTarget",
    "ListRules",
    "ListTagsForResource",
    "ListTargetsByRule",
    "PutEvents",
    "PutPartnerEvents",
    "PutPermission",
    "PutRule",
    "PutTargets",
    "RemovePermission",
    "RemoveTargets",
    "StartReplay",
    "TagResource",
    "TestEventPattern",
    "UntagResource",
    "UpdateApiDestination",
    "UpdateArchive",
    "UpdateConnection",
    "UpdateEndpoint",
    "UpdateEventBus",
];

/// The operation an `X-Amz-Target` header names (`AWSEvents.PutEvents`).
/// A missing header, another service's prefix or a name EventBridge does not
/// have is `UnknownOperationException` (§3.4.6).
pub fn operation(x_amz_target: Option<&[u8]>) -> Result<Operation, ApiError> {
    let name = x_amz_target
        .and_then(|t| std::str::from_utf8(t).ok())
        .and_then(|t| t.trim().strip_prefix("AWSEvents."))
        .ok_or_else(unknown_operation)?;
    match name {
        "PutEvents" => Ok(Operation::PutEvents),
        "TestEventPattern" => Ok(Operation::TestEventPattern),
        n if OPERATIONS.contains(&n) => Ok(Operation::Other(n.to_string())),
        _ => Err(unknown_operation()),
    }
}

/// A request-level error: HTTP status, `__type` (also sent as the
/// `X-Amzn-ErrorType` header) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub type_name: &'static str,
    pub message: String,
}

impl ApiError {
    fn client(type_name: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            type_name,
            message: message.into(),
        }
    }

    /// `{"__type":"<type_name>","message":"<message>"}` (§3.4.5).
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.type_name.len() + self.message.len());
        out.extend_from_slice(b"{\"__type\":");
        write_json_string(self.type_name, &mut out);
        out.extend_from_slice(b",\"message\":");
        write_json_string(&self.message, &mut out);
        out.push(b'}');
        out
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.type_name, self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

/// What the server answers when the pipeline cannot take more events.
pub fn throttled() -> ApiError {
    ApiError::client("ThrottlingException", "Rate exceeded")
}

/// Throttled for a reason the client should see (a full spool).
pub fn throttled_because(message: impl Into<String>) -> ApiError {
    ApiError::client("ThrottlingException", message)
}

/// The events could not be taken for a fault of the server's (the spool
/// cannot be written): EventBridge's `InternalException`, a 500 that SDKs
/// retry.
pub fn internal(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 500,
        type_name: "InternalException",
        message: message.into(),
    }
}

fn unknown_operation() -> ApiError {
    ApiError::client("UnknownOperationException", "")
}

fn serialization(e: &serde_json::Error) -> ApiError {
    ApiError::client("SerializationException", strip_position(&e.to_string()))
}

/// Coral's model-validation message: `N validation error(s) detected: …; …`.
fn validation(problems: &[String]) -> ApiError {
    let n = problems.len();
    ApiError::client(
        "ValidationException",
        format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            problems.join("; ")
        ),
    )
}

fn must_not_be_null(member: &str) -> String {
    format!("Value null at '{member}' failed to satisfy constraint: Member must not be null")
}

/// PutEvents limits (§2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutEventsLimits {
    /// Most entries per request (AWS: 10).
    pub max_entries: usize,
    /// Most total entry size per request, by the §2.1.3 formula
    /// (AWS: 1 MiB since 2026-01-29, 256 KiB before).
    pub max_request_entry_bytes: usize,
    /// Deepest nesting of objects and arrays in a `Detail`.
    pub max_detail_depth: usize,
}

impl Default for PutEventsLimits {
    fn default() -> Self {
        PutEventsLimits {
            max_entries: 10,
            max_request_entry_bytes: 1 << 20,
            max_detail_depth: 1000,
        }
    }
}

/// One request entry's fate, in request order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// Valid and addressed to this bus: `envelope` goes to the pipeline.
    Accepted {
        envelope: Vec<u8>,
        id: String,
        /// The entry's `TraceHeader`, as given.
        trace: Option<String>,
    },
    /// Valid but addressed to another bus (`bus`, as the entry named it):
    /// AWS answers with an EventId and drops the event (§3.2.5), so does
    /// busbar unless told to accept that bus; the caller counts it.
    Dropped { id: String, bus: String },
    /// Rejected with EventBridge's error code and message (§3.3).
    Failed { code: &'static str, message: String },
}

/// A validated PutEvents request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub entries: Vec<EntryOutcome>,
}

impl Prepared {
    /// Entries that carry an error code.
    pub fn failed_count(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, EntryOutcome::Failed { .. }))
            .count()
    }

    /// `{"FailedEntryCount":n,"Entries":[{"EventId":…}|{"ErrorCode":…,"ErrorMessage":…}]}`,
    /// one element per request entry, in order (§3.2.1–2).
    pub fn response_body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + 50 * self.entries.len());
        out.extend_from_slice(b"{\"FailedEntryCount\":");
        out.extend_from_slice(self.failed_count().to_string().as_bytes());
        out.extend_from_slice(b",\"Entries\":[");
        for (i, e) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            match e {
                EntryOutcome::Accepted { id, .. } | EntryOutcome::Dropped { id, .. } => {
                    out.extend_from_slice(b"{\"EventId\":");
                    write_json_string(id, &mut out);
                }
                EntryOutcome::Failed { code, message } => {
                    out.extend_from_slice(b"{\"ErrorCode\":");
                    write_json_string(code, &mut out);
                    out.extend_from_slice(b",\"ErrorMessage\":");
                    write_json_string(message, &mut out);
                }
            }
            out.push(b'}');
        }
        out.extend_from_slice(b"]}");
        out
    }
}

/// A request structure read from a JSON object only. serde's derive also
/// reads a struct from an array of its members' values in declaration
/// order (`[[null,"s",null,"t","{}"]]` would be a request with one entry);
/// the AWS JSON protocol has no such form, so an array is a member of the
/// wrong JSON type like any other.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData)).map(Object)
    }
}

#[derive(Deserialize)]
struct PutEventsRequest<'a> {
    #[serde(rename = "Entries", borrow, default)]
    entries: Option<Vec<Object<RequestEntry<'a>>>>,
}

/// One `PutEventsRequestEntry`; unknown members are ignored, as AWS does.
#[derive(Deserialize, Default)]
struct RequestEntry<'a> {
    #[serde(rename = "Time", borrow, default)]
    time: Option<&'a RawValue>,
    #[serde(rename = "Source", borrow, default)]
    source: Option<Cow<'a, str>>,
    #[serde(rename = "Resources", borrow, default)]
    resources: Option<Vec<Cow<'a, str>>>,
    #[serde(rename = "DetailType", borrow, default)]
    detail_type: Option<Cow<'a, str>>,
    #[serde(rename = "Detail", borrow, default)]
    detail: Option<Cow<'a, str>>,
    #[serde(rename = "EventBusName", borrow, default)]
    event_bus_name: Option<Cow<'a, str>>,
    #[serde(rename = "TraceHeader", borrow, default)]
    trace_header: Option<Cow<'a, str>>,
}

impl RequestEntry<'_> {
    /// The §2.1.3 size: 14 bytes for a `Time`, plus the UTF-8 bytes of
    /// Source, DetailType, Detail and every resource.
    fn size(&self) -> usize {
        let s = |v: &Option<Cow<str>>| v.as_deref().map_or(0, str::len);
        usize::from(self.time.is_some()) * 14
            + s(&self.source)
            + s(&self.detail_type)
            + s(&self.detail)
            + self
                .resources
                .iter()
                .flatten()
                .map(|r| r.len())
                .sum::<usize>()
    }

    /// Java-style `toString`, as AWS prints entries in the over-10 message.
    fn describe(&self) -> String {
        let s = |v: &Option<Cow<str>>| v.as_deref().unwrap_or("null").to_string();
        format!(
            "PutEventsRequestEntry(time={}, source={}, resources={}, detailType={}, detail={}, \
             eventBusName={}, traceHeader={}, kmsKeyIdentifier=null, internalMetadata=null)",
            self.time.map_or("null", |t| t.get()),
            s(&self.source),
            self.resources
                .as_ref()
                .map_or("null".to_string(), |r| format!("[{}]", r.join(", "))),
            s(&self.detail_type),
            s(&self.detail),
            s(&self.event_bus_name),
            s(&self.trace_header),
        )
    }
}

fn or_empty(body: &[u8]) -> &[u8] {
    if body
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        b"{}"
    } else {
        body
    }
}

/// Parses and validates a PutEvents body and builds each accepted entry's
/// envelope (§3.1): canonical key order, version `"0"`, a fresh id per
/// entry, `time` from `Time` (epoch seconds, sub-seconds dropped) or
/// `now_secs`, `resources` or `[]`, `detail` the parsed object.
///
/// Request-level problems (entry count, total size, undeserialisable body)
/// are the `Err`; per-entry problems are [`EntryOutcome::Failed`] and the
/// request still succeeds (§3.3.7).
pub fn prepare_put_events(
    body: &[u8],
    bus: &Bus,
    limits: &PutEventsLimits,
    now_secs: i64,
    new_id: &mut dyn FnMut() -> uuid::Uuid,
) -> Result<Prepared, ApiError> {
    prepare_put_events_for(body, bus, &|_| false, limits, now_secs, new_id)
}

/// [`prepare_put_events`], with entries for another bus accepted onto this
/// one where `other_bus(name or ARN)` says so (`bus.accept_other_buses`).
pub fn prepare_put_events_for(
    body: &[u8],
    bus: &Bus,
    other_bus: &dyn Fn(&str) -> bool,
    limits: &PutEventsLimits,
    now_secs: i64,
    new_id: &mut dyn FnMut() -> uuid::Uuid,
) -> Result<Prepared, ApiError> {
    let Object(req): Object<PutEventsRequest> =
        serde_json::from_slice(or_empty(body)).map_err(|e| serialization(&e))?;
    let entries: Vec<RequestEntry> = req
        .entries
        .ok_or_else(|| validation(&[must_not_be_null("entries")]))?
        .into_iter()
        .map(|Object(e)| e)
        .collect();
    // `Time` is kept raw for the over-10 message; its type is still a
    // deserialisation matter, as for every other member.
    for (i, e) in entries.iter().enumerate() {
        if let Some(t) = e.time {
            if serde_json::from_str::<f64>(t.get()).is_err() {
                return Err(ApiError::client(
                    "SerializationException",
                    format!(
                        "Entries[{i}].Time: expected a number of epoch seconds, found {}",
                        t.get()
                    ),
                ));
            }
        }
    }
    if entries.is_empty() {
        return Err(validation(&[
            "Value '[]' at 'entries' failed to satisfy constraint: \
             Member must have length greater than or equal to 1"
                .to_string(),
        ]));
    }
    if entries.len() > limits.max_entries {
        let listed: Vec<String> = entries.iter().map(RequestEntry::describe).collect();
        return Err(validation(&[format!(
            "Value '[{}]' at 'entries' failed to satisfy constraint: \
             Member must have length less than or equal to {}",
            listed.join(", "),
            limits.max_entries
        )]));
    }
    let total: usize = entries.iter().map(RequestEntry::size).sum();
    if total > limits.max_request_entry_bytes {
        return Err(ApiError::client(
            "ValidationException",
            "Total size of the entries in the request is over the limit.",
        ));
    }

    let arn = bus.arn();
    let mut scratch = Scratch::default();
    let trie = PathTrie::new();
    let outcomes = entries
        .iter()
        .map(|e| {
            let to = Destination {
                bus,
                bus_arn: &arn,
                other_bus,
            };
            prepare_entry(e, &to, limits, now_secs, new_id, &trie, &mut scratch)
        })
        .collect();
    Ok(Prepared { entries: outcomes })
}

/// A required string member: absent, null and empty are all "missing".
fn given<'a>(v: &'a Option<Cow<'_, str>>) -> Option<&'a str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn invalid_argument(param: &str, reason: &str) -> EntryOutcome {
    EntryOutcome::Failed {
        code: "InvalidArgument",
        message: format!("Parameter {param} is not valid. Reason: {reason}"),
    }
}

/// Smallest and largest second of years 0000–9999.
const TIME_RANGE: std::ops::RangeInclusive<f64> = -62_167_219_200.0..=253_402_300_799.0;

/// The bus entries go to, and which other buses' entries it takes.
struct Destination<'a> {
    bus: &'a Bus,
    bus_arn: &'a str,
    other_bus: &'a dyn Fn(&str) -> bool,
}

fn prepare_entry(
    e: &RequestEntry,
    to: &Destination<'_>,
    limits: &PutEventsLimits,
    now_secs: i64,
    new_id: &mut dyn FnMut() -> uuid::Uuid,
    trie: &PathTrie,
    scratch: &mut Scratch,
) -> EntryOutcome {
    // §3.3, in its precedence order.
    let Some(source) = given(&e.source) else {
        return invalid_argument("Source", "Source is a required argument.");
    };
    let Some(detail_type) = given(&e.detail_type) else {
        return invalid_argument("DetailType", "DetailType is a required argument.");
    };
    let Some(detail) = given(&e.detail) else {
        return invalid_argument("Detail", "Detail is a required argument.");
    };
    let detail = detail.trim_matches([' ', '\t', '\n', '\r']).as_bytes();
    let scan_limits = ScanLimits {
        max_event_bytes: usize::MAX,
        max_depth: limits.max_detail_depth,
    };
    if flatten::scan(detail, trie, scan_limits, scratch, &mut NoLeaves).is_err() {
        return EntryOutcome::Failed {
            code: "MalformedDetail",
            message: "Detail is malformed.".to_string(),
        };
    }
    if source.starts_with("aws.") {
        return EntryOutcome::Failed {
            code: "NotAuthorizedForSourceException",
            message: "Not authorized for the source.".to_string(),
        };
    }
    let time = match e.time {
        None => now_secs,
        Some(raw) => match serde_json::from_str::<f64>(raw.get()) {
            Ok(t) if TIME_RANGE.contains(&t) => t.floor() as i64,
            _ => {
                return EntryOutcome::Failed {
                    code: "InvalidArgument",
                    message: "Parameter Time is not valid.".to_string(),
                }
            }
        },
    };

    let id_uuid = new_id();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let id = id_uuid.hyphenated().encode_lower(&mut buf).to_string();
    let bus = to.bus;
    let bus_name = e.event_bus_name.as_deref().unwrap_or(&bus.name);
    if bus_name != bus.name && bus_name != to.bus_arn && !(to.other_bus)(bus_name) {
        return EntryOutcome::Dropped {
            id,
            bus: bus_name.to_string(),
        };
    }

    let resources = e.resources.as_deref().unwrap_or(&[]);
    let mut envelope = Vec::with_capacity(
        200 + source.len()
            + detail_type.len()
            + detail.len()
            + resources.iter().map(|r| r.len() + 3).sum::<usize>(),
    );
    write_envelope_head(&mut envelope, &id_uuid, detail_type, source, bus, time);
    envelope.push(b'[');
    for (i, r) in resources.iter().enumerate() {
        if i > 0 {
            envelope.push(b',');
        }
        write_json_string(r, &mut envelope);
    }
    envelope.extend_from_slice(b"],\"detail\":");
    envelope.extend_from_slice(detail);
    envelope.push(b'}');
    EntryOutcome::Accepted {
        envelope,
        id,
        trace: e.trace_header.as_deref().map(str::to_owned),
    }
}

/// Validation only: the empty trie asks for no leaves.
struct NoLeaves;

impl Sink for NoLeaves {
    fn leaf(&mut self, _: PathId, _: Leaf<'_>, _: &[ArrayPos]) {}
}

#[derive(Deserialize)]
struct TestEventPatternRequest<'a> {
    #[serde(rename = "EventPattern", borrow, default)]
    event_pattern: Option<Cow<'a, str>>,
    #[serde(rename = "Event", borrow, default)]
    event: Option<Cow<'a, str>>,
}

/// Longest `EventPattern` the API takes, in characters (S4 shape).
const MAX_EVENT_PATTERN_CHARS: usize = crate::pattern::MAX_TEST_PATTERN_CHARS;

/// The keys TestEventPattern insists the event has (§3.6.2).
const REQUIRED_EVENT_KEYS: [&str; 6] = ["id", "account", "source", "time", "region", "detail-type"];

/// `{"EventPattern": "...", "Event": "..."}` → whether the event matches
/// (the server answers `{"Result":true|false}`, see [`test_result_body`]).
///
/// The pattern is compiled exactly as rules are, by the engine's
/// [`RuleSetBuilder`] with `limits` (wildcard complexity included), except
/// that it may be as long as the API allows (4096 characters, as
/// `busbar test-pattern`), not only as long as a rule; it is judged before
/// the event (§3.6.3–4).
pub fn test_event_pattern(body: &[u8], limits: &Limits) -> Result<bool, ApiError> {
    let Object(req): Object<TestEventPatternRequest> =
        serde_json::from_slice(or_empty(body)).map_err(|e| serialization(&e))?;
    let mut problems = Vec::new();
    match &req.event_pattern {
        None => problems.push(must_not_be_null("eventPattern")),
        Some(p) if p.chars().count() > MAX_EVENT_PATTERN_CHARS => problems.push(format!(
            "Value '{p}' at 'eventPattern' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_EVENT_PATTERN_CHARS}"
        )),
        Some(_) => {}
    }
    if req.event.is_none() {
        problems.push(must_not_be_null("event"));
    }
    let (Some(pattern), Some(event), true) = (&req.event_pattern, &req.event, problems.is_empty())
    else {
        return Err(validation(&problems));
    };

    let mut b = RuleSetBuilder::new(Limits {
        pattern: limits.pattern.for_test_pattern(),
        ..*limits
    });
    b.add("pattern", pattern).map_err(|e| {
        ApiError::client(
            "InvalidEventPatternException",
            format!("Event pattern is not valid. Reason: {}", e.reason()),
        )
    })?;
    let automaton = b.build().map_err(|e| {
        ApiError::client(
            "InvalidEventPatternException",
            format!("Event pattern is not valid. Reason: {e}"),
        )
    })?;

    let invalid_event = || ApiError::client("ValidationException", "Parameter Event is not valid.");
    let keys: EventKeys = serde_json::from_str(event).map_err(|_| invalid_event())?;
    if keys.0 != (1 << REQUIRED_EVENT_KEYS.len()) - 1 {
        return Err(invalid_event());
    }
    let mut cache = automaton.cache();
    automaton
        .is_match(event.as_bytes(), &mut cache)
        .map_err(|_| invalid_event())
}

/// `{"Result":true}` or `{"Result":false}`.
pub fn test_result_body(result: bool) -> Vec<u8> {
    if result {
        b"{\"Result\":true}".to_vec()
    } else {
        b"{\"Result\":false}".to_vec()
    }
}

/// Which of [`REQUIRED_EVENT_KEYS`] a top-level object has, as bits;
/// anything but an object fails to deserialise.
struct EventKeys(u32);

impl<'de> Deserialize<'de> for EventKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = EventKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<EventKeys, A::Error> {
                let mut bits = 0;
                while let Some(k) = m.next_key::<Cow<'de, str>>()? {
                    if let Some(i) = REQUIRED_EVENT_KEYS.iter().position(|r| *r == k) {
                        bits |= 1 << i;
                    }
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
                Ok(EventKeys(bits))
            }
        }
        d.deserialize_map(V)
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

    const NOW: i64 = 1_640_995_200; // 2022-01-01T00:00:00Z

    fn ids() -> impl FnMut() -> uuid::Uuid {
        let mut n = 0u128;
        move || {
            n += 1;
            uuid::Uuid::from_u128(0x1111_1111_2222_4333_8444_0000_0000_0000 + n)
        }
    }

    fn prep_with(body: &str, limits: &PutEventsLimits) -> Result<Prepared, ApiError> {
        prepare_put_events(body.as_bytes(), &bus(), limits, NOW, &mut ids())
    }

    fn prep(body: &str) -> Result<Prepared, ApiError> {
        prep_with(body, &PutEventsLimits::default())
    }

    fn entry(fields: &str) -> String {
        format!(r#"{{"Entries":[{{{fields}}}]}}"#)
    }

    fn one(fields: &str) -> EntryOutcome {
        let p = prep(&entry(fields)).unwrap();
        assert_eq!(p.entries.len(), 1);
        p.entries.into_iter().next().unwrap()
    }

    fn failed(fields: &str) -> (&'static str, String) {
        match one(fields) {
            EntryOutcome::Failed { code, message } => (code, message),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    fn accepted(fields: &str) -> String {
        match one(fields) {
            EntryOutcome::Accepted { envelope, id, .. } => {
                let s = String::from_utf8(envelope).unwrap();
                assert!(s.contains(&format!(r#""id":"{id}""#)));
                s
            }
            other => panic!("expected acceptance, got {other:?}"),
        }
    }

    const OK: &str = r#""Source":"shop","DetailType":"Order Placed","Detail":"{\"a\":1}""#;

    #[test]
    fn operations() {
        assert_eq!(
            operation(Some(b"AWSEvents.PutEvents")),
            Ok(Operation::PutEvents)
        );
        assert_eq!(
            operation(Some(b"AWSEvents.TestEventPattern")),
            Ok(Operation::TestEventPattern)
        );
        assert_eq!(
            operation(Some(b"AWSEvents.PutRule")),
            Ok(Operation::Other("PutRule".into()))
        );
        for bad in [
            None,
            Some(&b""[..]),
            Some(b"AWSEvents.Nope"),
            Some(b"AmazonSQS.SendMessage"),
            Some(b"PutEvents"),
            Some(b"AWSEvents.\xff"),
        ] {
            let e = operation(bad).unwrap_err();
            assert_eq!((e.status, e.type_name), (400, "UnknownOperationException"));
        }
    }

    #[test]
    fn error_bodies() {
        let e = throttled();
        assert_eq!((e.status, e.type_name), (400, "ThrottlingException"));
        assert_eq!(
            e.body(),
            br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        );
        let e = ApiError::client("X", "say \"hi\"\n");
        assert_eq!(e.body(), br#"{"__type":"X","message":"say \"hi\"\n"}"#);
    }

    #[test]
    fn accepted_entry_envelope() {
        let s = accepted(
            r#""Time":1513968228.9,"Source":"shop","Resources":["arn:a","arn:\"b\""],"DetailType":"Order \"Placed\"","Detail":" {\"a\": [1, {\"b\": null}]} ","EventBusName":"default","TraceHeader":"t""#,
        );
        assert_eq!(
            s,
            r#"{"version":"0","id":"11111111-2222-4333-8444-000000000001","detail-type":"Order \"Placed\"","source":"shop","account":"123456789012","time":"2017-12-22T18:43:48Z","region":"eu-west-1","resources":["arn:a","arn:\"b\""],"detail":{"a": [1, {"b": null}]}}"#
        );
    }

    #[test]
    fn defaults_time_now_and_resources_empty() {
        assert_eq!(
            accepted(OK),
            r#"{"version":"0","id":"11111111-2222-4333-8444-000000000001","detail-type":"Order Placed","source":"shop","account":"123456789012","time":"2022-01-01T00:00:00Z","region":"eu-west-1","resources":[],"detail":{"a":1}}"#
        );
    }

    #[test]
    fn time_handling() {
        let time = |t: &str| {
            let s = accepted(&format!(r#"{OK},"Time":{t}"#));
            let at = s.find("\"time\":\"").unwrap() + 8;
            s[at..at + 20].to_string()
        };
        assert_eq!(time("1640995200"), "2022-01-01T00:00:00Z");
        assert_eq!(time("1640995200.999"), "2022-01-01T00:00:00Z");
        assert_eq!(time("1.6409952e9"), "2022-01-01T00:00:00Z");
        assert_eq!(time("0"), "1970-01-01T00:00:00Z");
        assert_eq!(time("-0.5"), "1969-12-31T23:59:59Z");
        assert_eq!(time("4102444800"), "2100-01-01T00:00:00Z");
        for bad in ["1e20", "-1e12", "253402300800"] {
            assert_eq!(
                failed(&format!(r#"{OK},"Time":{bad}"#)),
                (
                    "InvalidArgument",
                    "Parameter Time is not valid.".to_string()
                )
            );
        }
        // A string Time is not what the wire protocol sends (§3.4.4).
        let e = prep(&entry(&format!(r#"{OK},"Time":"2022-01-01""#))).unwrap_err();
        assert_eq!(e.type_name, "SerializationException");
    }

    #[test]
    fn envelope_key_order() {
        let s = accepted(OK);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let mut last = 0;
        for k in [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ] {
            let at = s.find(&format!("\"{k}\":")).unwrap();
            assert!(at > last || k == "version", "{k}");
            last = at;
            assert!(v.get(k).is_some());
        }
        assert_eq!(v.as_object().unwrap().len(), 9);
    }

    #[test]
    fn rule_missing_source() {
        let want = (
            "InvalidArgument",
            "Parameter Source is not valid. Reason: Source is a required argument.".to_string(),
        );
        assert_eq!(failed(""), want);
        assert_eq!(failed(r#""DetailType":"t","Detail":"{}""#), want);
        assert_eq!(
            failed(r#""Source":"","DetailType":"t","Detail":"{}""#),
            want
        );
        assert_eq!(
            failed(r#""Source":null,"DetailType":"t","Detail":"{}""#),
            want
        );
        // Precedence: Source first, even when everything else is wrong too.
        assert_eq!(failed(r#""Detail":"nope""#), want);
    }

    #[test]
    fn rule_missing_detail_type() {
        let want = (
            "InvalidArgument",
            "Parameter DetailType is not valid. Reason: DetailType is a required argument."
                .to_string(),
        );
        assert_eq!(failed(r#""Source":"s","Detail":"{}""#), want);
        assert_eq!(
            failed(r#""Source":"s","DetailType":"","Detail":"{}""#),
            want
        );
        assert_eq!(failed(r#""Source":"aws.s""#), want);
    }

    #[test]
    fn rule_missing_detail() {
        let want = (
            "InvalidArgument",
            "Parameter Detail is not valid. Reason: Detail is a required argument.".to_string(),
        );
        assert_eq!(failed(r#""Source":"s","DetailType":"t""#), want);
        assert_eq!(
            failed(r#""Source":"aws.s","DetailType":"t","Detail":"""#),
            want
        );
    }

    #[test]
    fn rule_malformed_detail() {
        let want = ("MalformedDetail", "Detail is malformed.".to_string());
        for d in [
            r#"NotJSON"#,
            r#"[]"#,
            r#"{{}"#,
            r#"\"NotJSON\""#,
            r#"{\"a\":1} x"#,
            r#"1"#,
        ] {
            assert_eq!(
                failed(&format!(r#""Source":"s","DetailType":"t","Detail":"{d}""#)),
                want,
                "{d}"
            );
        }
        // Precedence: a malformed detail wins over a reserved source.
        assert_eq!(
            failed(r#""Source":"aws.s","DetailType":"t","Detail":"[]""#),
            want
        );
    }

    #[test]
    fn detail_depth_limit() {
        let deep = |n: usize| format!(r#"{{\"a\":{}1{}}}"#, "[".repeat(n), "]".repeat(n));
        let limits = PutEventsLimits {
            max_detail_depth: 10,
            ..PutEventsLimits::default()
        };
        let body = |n| {
            entry(&format!(
                r#""Source":"s","DetailType":"t","Detail":"{}""#,
                deep(n)
            ))
        };
        let p = prep_with(&body(5), &limits).unwrap();
        assert!(matches!(p.entries[0], EntryOutcome::Accepted { .. }));
        let p = prep_with(&body(20), &limits).unwrap();
        assert!(matches!(
            p.entries[0],
            EntryOutcome::Failed {
                code: "MalformedDetail",
                ..
            }
        ));
    }

    #[test]
    fn rule_reserved_source() {
        assert_eq!(
            failed(r#""Source":"aws.ec2","DetailType":"t","Detail":"{}""#),
            (
                "NotAuthorizedForSourceException",
                "Not authorized for the source.".to_string()
            )
        );
        accepted(r#""Source":"awsome","DetailType":"t","Detail":"{}""#);
    }

    #[test]
    fn response_shape_mixed() {
        let body = format!(
            r#"{{"Entries":[{{{OK}}},{{"Source":"s"}},{{{OK},"EventBusName":"other"}},{{{OK},"EventBusName":"arn:aws:events:eu-west-1:123456789012:event-bus/default"}}]}}"#
        );
        let p = prep(&body).unwrap();
        assert_eq!(p.failed_count(), 1);
        assert!(matches!(p.entries[2], EntryOutcome::Dropped { .. }));
        assert!(matches!(p.entries[3], EntryOutcome::Accepted { .. }));
        assert_eq!(
            String::from_utf8(p.response_body()).unwrap(),
            r#"{"FailedEntryCount":1,"Entries":[{"EventId":"11111111-2222-4333-8444-000000000001"},{"ErrorCode":"InvalidArgument","ErrorMessage":"Parameter DetailType is not valid. Reason: DetailType is a required argument."},{"EventId":"11111111-2222-4333-8444-000000000002"},{"EventId":"11111111-2222-4333-8444-000000000003"}]}"#
        );
    }

    #[test]
    fn other_buses_are_taken_where_the_setting_names_them() {
        use crate::config::OtherBuses;
        let named = OtherBuses::Named(vec!["legacy".into()]);
        let run = |accept: &OtherBuses, name: &str| {
            prepare_put_events_for(
                entry(&format!(r#"{OK},"EventBusName":"{name}""#)).as_bytes(),
                &bus(),
                &|b| accept.accepts(b),
                &PutEventsLimits::default(),
                NOW,
                &mut ids(),
            )
            .unwrap()
            .entries
            .remove(0)
        };
        let arn = "arn:aws:events:eu-west-1:123456789012:event-bus/legacy";
        assert!(matches!(
            run(&named, "legacy"),
            EntryOutcome::Accepted { .. }
        ));
        assert!(matches!(run(&named, arn), EntryOutcome::Accepted { .. }));
        match run(&named, "other") {
            EntryOutcome::Dropped { bus, .. } => assert_eq!(bus, "other"),
            o => panic!("{o:?}"),
        }
        assert!(matches!(
            run(&OtherBuses::All(true), "other"),
            EntryOutcome::Accepted { .. }
        ));
        assert!(matches!(
            run(&OtherBuses::default(), "legacy"),
            EntryOutcome::Dropped { .. }
        ));
    }

    #[test]
    fn other_bus_drops() {
        let mut b = bus();
        b.name = "orders".into();
        let run = |fields: &str| {
            prepare_put_events(
                entry(fields).as_bytes(),
                &b,
                &PutEventsLimits::default(),
                NOW,
                &mut ids(),
            )
            .unwrap()
            .entries
            .remove(0)
        };
        // Omitted EventBusName means this bus.
        assert!(matches!(run(OK), EntryOutcome::Accepted { .. }));
        assert!(matches!(
            run(&format!(r#"{OK},"EventBusName":"orders""#)),
            EntryOutcome::Accepted { .. }
        ));
        assert!(matches!(
            run(&format!(
                r#"{OK},"EventBusName":"arn:aws:events:eu-west-1:123456789012:event-bus/orders""#
            )),
            EntryOutcome::Accepted { .. }
        ));
        assert!(matches!(
            run(&format!(
                r#"{OK},"EventBusName":"arn:aws:events:us-east-1:123456789012:event-bus/orders""#
            )),
            EntryOutcome::Dropped { .. }
        ));
        // Validation comes first: an invalid entry for another bus still fails.
        assert!(matches!(
            run(r#""EventBusName":"x""#),
            EntryOutcome::Failed { .. }
        ));
    }

    #[test]
    fn entry_count_limits() {
        let e = prep(r#"{"Entries":[]}"#).unwrap_err();
        assert_eq!((e.status, e.type_name), (400, "ValidationException"));
        assert_eq!(
            e.message,
            "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1"
        );
        let ten = vec![format!("{{{OK}}}"); 10].join(",");
        assert_eq!(
            prep(&format!(r#"{{"Entries":[{ten}]}}"#))
                .unwrap()
                .entries
                .len(),
            10
        );
        let e = prep(&format!(r#"{{"Entries":[{ten},{{"Source":"s"}}]}}"#)).unwrap_err();
        assert_eq!(e.type_name, "ValidationException");
        assert!(e.message.starts_with(
            "1 validation error detected: Value '[PutEventsRequestEntry(time=null, source=shop, resources=null, detailType=Order Placed, detail={\"a\":1}, eventBusName=null, traceHeader=null, kmsKeyIdentifier=null, internalMetadata=null), "
        ), "{}", e.message);
        assert!(e.message.ends_with(
            "PutEventsRequestEntry(time=null, source=s, resources=null, detailType=null, detail=null, eventBusName=null, traceHeader=null, kmsKeyIdentifier=null, internalMetadata=null)]' at 'entries' failed to satisfy constraint: Member must have length less than or equal to 10"
        ));
    }

    #[test]
    fn missing_or_bad_body() {
        for body in ["", "  ", "{}", r#"{"Entries":null}"#] {
            let e = prep(body).unwrap_err();
            assert_eq!(e.type_name, "ValidationException", "{body:?}");
            assert_eq!(
                e.message,
                "1 validation error detected: Value null at 'entries' failed to satisfy constraint: Member must not be null"
            );
        }
        for body in [
            "nope",
            "[1]",
            r#"{"Entries":{}}"#,
            r#"{"Entries":[{"Source":1}]}"#,
            r#"{"Entries":[{"Resources":"x"}]}"#,
            r#"{"Entries":[]} x"#,
        ] {
            let e = prep(body).unwrap_err();
            assert_eq!(
                (e.status, e.type_name),
                (400, "SerializationException"),
                "{body}"
            );
            assert!(!e.message.contains(" at line "));
        }
        // Unknown members are ignored.
        assert!(prep(&entry(&format!(r#"{OK},"Extra":[1]"#))).is_ok());
        assert!(prep(&format!(r#"{{"EndpointId":"e","Entries":[{{{OK}}}]}}"#)).is_ok());
    }

    #[test]
    fn requests_and_entries_are_objects_not_arrays() {
        // serde's derive would read each of these as the struct's members in
        // order (found by the `putevents` fuzz target).
        for body in [
            r#"{"Entries":[[null,"s",null,"t","{}"]]}"#,
            r#"[[{"Source":"s","DetailType":"t","Detail":"{}"}]]"#,
            "[]",
        ] {
            let e = prep(body).unwrap_err();
            assert_eq!(
                (e.status, e.type_name),
                (400, "SerializationException"),
                "{body}"
            );
            assert_eq!(e.message, "invalid type: sequence, expected an object");
        }
        let e = test_event_pattern(br#"["{}","{}"]"#, &Limits::default()).unwrap_err();
        assert_eq!(e.type_name, "SerializationException");
        // Objects still borrow and still name a wrong member's type.
        assert!(prep(&entry(OK)).is_ok());
        let e = prep(r#"{"Entries":[{"Source":1}]}"#).unwrap_err();
        assert_eq!(e.message, "invalid type: integer `1`, expected a string");
    }

    #[test]
    fn entry_size_formula() {
        // Source 1 + DetailType 1 + Detail 8 + resources 2 + 3 + Time 14 = 29.
        let fields = r#""Time":1,"Source":"s","DetailType":"t","Detail":"{\"a\":12}","Resources":["ab","cde"]"#;
        let text = format!("{{{fields}}}");
        let r = RequestEntry {
            time: None,
            ..serde_json::from_str(&text).unwrap()
        };
        assert_eq!(r.size(), 15);
        let body = entry(fields);
        let at = |n| PutEventsLimits {
            max_request_entry_bytes: n,
            ..PutEventsLimits::default()
        };
        assert!(prep_with(&body, &at(29)).is_ok());
        let e = prep_with(&body, &at(28)).unwrap_err();
        assert_eq!((e.status, e.type_name), (400, "ValidationException"));
        assert_eq!(
            e.message,
            "Total size of the entries in the request is over the limit."
        );
        // Sums over entries; counts UTF-8 bytes, not characters; escapes decoded.
        let two = r#"{"Entries":[{"Source":"é","DetailType":"t","Detail":"{}"},{"Source":"\u0041","DetailType":"t","Detail":"{}"}]}"#;
        assert!(prep_with(two, &at(9)).is_ok());
        assert!(prep_with(two, &at(8)).is_err());
        // Failing entries count too: the limit is on the request.
        assert!(prep_with(
            &entry(r#""Source":"aws.x","DetailType":"t","Detail":"{}""#),
            &at(7)
        )
        .is_err());
    }

    fn tep(pattern: &str, event: &str) -> Result<bool, ApiError> {
        let body = serde_json::json!({"EventPattern": pattern, "Event": event}).to_string();
        test_event_pattern(body.as_bytes(), &Limits::default())
    }

    const EVENT: &str = r#"{"id":"1","account":"123456789012","source":"shop","time":"2022-01-01T00:00:00Z","region":"eu-west-1","detail-type":"x","detail":{"n":5}}"#;

    #[test]
    fn test_event_pattern_matches() {
        assert_eq!(tep(r#"{"source":["shop"]}"#, EVENT), Ok(true));
        assert_eq!(tep(r#"{"source":["other"]}"#, EVENT), Ok(false));
        assert_eq!(
            tep(r#"{"detail":{"n":[{"numeric":[">",4]}]}}"#, EVENT),
            Ok(true)
        );
        // No resources and no detail: still a valid test event.
        let bare = r#"{"id":"1","account":"a","source":"s","time":"t","region":"r","detail-type":"x","extra":1}"#;
        assert_eq!(tep(r#"{"extra":[1]}"#, bare), Ok(true));
        assert_eq!(test_result_body(true), b"{\"Result\":true}");
        assert_eq!(test_result_body(false), b"{\"Result\":false}");
    }

    #[test]
    fn test_event_pattern_bad_pattern() {
        let e = tep(r#"{"source":"shop"}"#, EVENT).unwrap_err();
        assert_eq!(
            (e.status, e.type_name),
            (400, "InvalidEventPatternException")
        );
        assert!(e
            .message
            .starts_with("Event pattern is not valid. Reason: "));
        assert!(!e.message.contains('\n'));
        // Judged before the event.
        let e = tep("{", "not json").unwrap_err();
        assert_eq!(e.type_name, "InvalidEventPatternException");
        // The engine's complexity limit applies (§2.3, §3.6.4).
        let e = tep(r#"{"a":[{"wildcard":"*:*:*:*:*:event-bus/*"}]}"#, EVENT).unwrap_err();
        assert_eq!(e.type_name, "InvalidEventPatternException");
        assert!(e.message.contains("Rule is too complex"), "{}", e.message);
    }

    #[test]
    fn test_event_pattern_bad_event() {
        for ev in [
            "NotJSON",
            "[]",
            r#""s""#,
            r#"{"testEvent":"value"}"#,
            r#"{"id":"1","account":"a","source":"s","time":"t","region":"r"}"#,
        ] {
            let e = tep(r#"{"source":["s"]}"#, ev).unwrap_err();
            assert_eq!(
                (e.status, e.type_name, e.message.as_str()),
                (400, "ValidationException", "Parameter Event is not valid."),
                "{ev}"
            );
        }
    }

    #[test]
    fn test_event_pattern_request_validation() {
        let e = test_event_pattern(b"", &Limits::default()).unwrap_err();
        assert_eq!(e.type_name, "ValidationException");
        assert_eq!(
            e.message,
            "2 validation errors detected: Value null at 'eventPattern' failed to satisfy constraint: Member must not be null; Value null at 'event' failed to satisfy constraint: Member must not be null"
        );
        let e = test_event_pattern(br#"{"EventPattern":"{}"}"#, &Limits::default()).unwrap_err();
        assert_eq!(
            e.message,
            "1 validation error detected: Value null at 'event' failed to satisfy constraint: Member must not be null"
        );
        // Up to the API's 4096 characters, whatever the rules' quota (2048
        // by default, and here); one character more is a validation error.
        let frame = r#"{"source":[""]}"#.len();
        let accepted = format!(r#"{{"source":["{}"]}}"#, "x".repeat(3000 - frame));
        assert_eq!(accepted.chars().count(), 3000);
        assert_eq!(tep(&accepted, EVENT), Ok(false));
        let most = format!(r#"{{"source":["{}"]}}"#, "x".repeat(4096 - frame));
        assert_eq!(tep(&most, EVENT), Ok(false));
        let long = format!(r#"{{"source":["{}"]}}"#, "x".repeat(4097 - frame));
        let e = tep(&long, EVENT).unwrap_err();
        assert_eq!(e.type_name, "ValidationException");
        assert!(e
            .message
            .ends_with("Member must have length less than or equal to 4096"));
        let e = test_event_pattern(b"{", &Limits::default()).unwrap_err();
        assert_eq!(e.type_name, "SerializationException");
    }
}
