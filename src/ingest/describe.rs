//! EventBridge's read-only calls over the AWS JSON 1.1 protocol, answered
//! from the loaded configuration ([`Catalog`]), so that `aws events
//! list-rules --endpoint-url …`, boto3 and the other SDKs can look at what
//! busbar runs: `ListRules`, `DescribeRule`, `ListTargetsByRule`,
//! `ListEventBuses`, `DescribeEventBus`.
//!
//! Responses use AWS's member names and shapes (`EventPattern` is JSON
//! text, `NextToken` pages); a rule or bus that does not exist is
//! `ResourceNotFoundException`. Calls that would change rules, targets or
//! buses answer `OperationDisabledException`: busbar's rules are
//! configured by file.
//!
//! Choices where AWS leaves room: `NextToken` is the position of the next
//! item as decimal text (AWS's is opaque; an unknown one is a
//! `ValidationException`); `Limit` defaults to and is capped at 100.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::putevents::ApiError;
use crate::inspect::{Catalog, RuleView, TargetView};

const MAX_LIMIT: usize = 100;

/// The answer to `operation` (without `AWSEvents.`), or `None` when it is
/// not one of the calls this module answers.
pub fn answer(operation: &str, body: &[u8], c: &Catalog) -> Option<Result<Vec<u8>, ApiError>> {
    let r = match operation {
        "ListRules" => list_rules(body, c),
        "DescribeRule" => describe_rule(body, c),
        "ListTargetsByRule" => list_targets(body, c),
        "ListEventBuses" => list_buses(body, c),
        "DescribeEventBus" => describe_bus(body, c),
        op if is_write(op) => Err(client(
            "OperationDisabledException",
            format!(
                "{op} is not available: busbar's rules, targets and event bus are configured \
                 by file (its YAML configuration, reloaded on SIGHUP or when the file changes); \
                 ListRules, DescribeRule, ListTargetsByRule, ListEventBuses and \
                 DescribeEventBus show what is loaded"
            ),
        )),
        _ => return None,
    };
    Some(r.map(|v| v.to_string().into_bytes()))
}

/// Calls that create, change or remove something.
fn is_write(op: &str) -> bool {
    [
        "Put",
        "Create",
        "Delete",
        "Update",
        "Enable",
        "Disable",
        "Remove",
        "Tag",
        "Untag",
        "Activate",
        "Deactivate",
        "Start",
        "Cancel",
        "Deauthorize",
    ]
    .iter()
    .any(|p| op.starts_with(p))
        && !matches!(op, "PutEvents" | "PutPartnerEvents")
}

fn client(type_name: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        type_name,
        message: message.into(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Request {
    #[serde(rename = "Name")]
    name: Option<String>,
    #[serde(rename = "Rule")]
    rule: Option<String>,
    #[serde(rename = "NamePrefix")]
    name_prefix: Option<String>,
    #[serde(rename = "EventBusName")]
    event_bus_name: Option<String>,
    #[serde(rename = "NextToken")]
    next_token: Option<String>,
    #[serde(rename = "Limit")]
    limit: Option<i64>,
}

fn request(body: &[u8]) -> Result<Request, ApiError> {
    let body = if crate::flatten::is_blank(body) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| client("SerializationException", e.to_string()))
}

/// Checks the bus an operation names (none: this one).
fn on_bus(r: &Request, c: &Catalog) -> Result<(), ApiError> {
    match &r.event_bus_name {
        Some(b) if !c.is_bus(b) => Err(client(
            "ResourceNotFoundException",
            format!("Event bus {b} does not exist."),
        )),
        _ => Ok(()),
    }
}

/// One page of `items` from `NextToken`, at most `Limit` long, and the
/// token of the next page.
fn page<'a, T>(items: &'a [T], r: &Request) -> Result<(&'a [T], Option<String>), ApiError> {
    let limit = match r.limit {
        None => MAX_LIMIT,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(client(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{n}' at 'limit' failed to satisfy \
                     constraint: Member must have value between 1 and {MAX_LIMIT}"
                ),
            ))
        }
    };
    let start = match &r.next_token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|&s| s <= items.len())
            .ok_or_else(|| client("ValidationException", "The NextToken is not valid."))?,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((&items[start..end], next))
}

fn with_token(mut v: Map<String, Value>, next: Option<String>) -> Value {
    if let Some(t) = next {
        v.insert("NextToken".into(), Value::String(t));
    }
    Value::Object(v)
}

fn rule_json(r: &RuleView, c: &Catalog) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Name".into(), json!(r.name));
    m.insert("Arn".into(), json!(r.arn));
    m.insert("EventPattern".into(), json!(r.event_pattern));
    m.insert("State".into(), json!(r.state()));
    if let Some(d) = &r.description {
        m.insert("Description".into(), json!(d));
    }
    m.insert("EventBusName".into(), json!(c.bus_name));
    m
}

fn target_json(t: &TargetView) -> Value {
    let mut m = Map::new();
    m.insert("Id".into(), json!(t.id));
    m.insert("Arn".into(), json!(t.arn));
    if let Some(i) = &t.input {
        m.insert("Input".into(), json!(i));
    }
    if let Some(p) = &t.input_path {
        m.insert("InputPath".into(), json!(p));
    }
    if let Some((paths, template)) = &t.input_transformer {
        m.insert(
            "InputTransformer".into(),
            json!({"InputPathsMap": paths, "InputTemplate": template}),
        );
    }
    m.insert(
        "RetryPolicy".into(),
        json!({
            "MaximumRetryAttempts": t.maximum_retry_attempts,
            "MaximumEventAgeInSeconds": t.maximum_event_age_seconds,
        }),
    );
    if let Some((_, arn)) = &t.dead_letter {
        m.insert("DeadLetterConfig".into(), json!({ "Arn": arn }));
    }
    Value::Object(m)
}

fn list_rules(body: &[u8], c: &Catalog) -> Result<Value, ApiError> {
    let r = request(body)?;
    on_bus(&r, c)?;
    let prefix = r.name_prefix.as_deref().unwrap_or("");
    let rules: Vec<&RuleView> = c
        .rules
        .iter()
        .filter(|x| x.name.starts_with(prefix))
        .collect();
    let (items, next) = page(&rules, &r)?;
    let mut out = Map::new();
    out.insert(
        "Rules".into(),
        Value::Array(
            items
                .iter()
                .map(|x| Value::Object(rule_json(x, c)))
                .collect(),
        ),
    );
    Ok(with_token(out, next))
}

fn named_rule<'a>(
    name: Option<&str>,
    r: &Request,
    c: &'a Catalog,
) -> Result<&'a RuleView, ApiError> {
    on_bus(r, c)?;
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Err(client(
            "ValidationException",
            "1 validation error detected: Value null at 'name' failed to satisfy constraint: \
             Member must not be null",
        ));
    };
    c.rule(name).ok_or_else(|| {
        client(
            "ResourceNotFoundException",
            format!("Rule {name} does not exist on EventBus {}.", c.bus_name),
        )
    })
}

fn describe_rule(body: &[u8], c: &Catalog) -> Result<Value, ApiError> {
    let r = request(body)?;
    let rule = named_rule(r.name.as_deref(), &r, c)?;
    let mut m = rule_json(rule, c);
    m.insert("CreatedBy".into(), json!(c.account));
    Ok(Value::Object(m))
}

fn list_targets(body: &[u8], c: &Catalog) -> Result<Value, ApiError> {
    let r = request(body)?;
    let rule = named_rule(r.rule.as_deref(), &r, c)?;
    let (items, next) = page(&rule.targets, &r)?;
    let mut out = Map::new();
    out.insert(
        "Targets".into(),
        Value::Array(items.iter().map(target_json).collect()),
    );
    Ok(with_token(out, next))
}

fn bus_json(c: &Catalog) -> Value {
    json!({"Name": c.bus_name, "Arn": c.bus_arn})
}

fn list_buses(body: &[u8], c: &Catalog) -> Result<Value, ApiError> {
    let r = request(body)?;
    let prefix = r.name_prefix.as_deref().unwrap_or("");
    let buses: Vec<Value> = if c.bus_name.starts_with(prefix) {
        vec![bus_json(c)]
    } else {
        Vec::new()
    };
    let (items, next) = page(&buses, &r)?;
    let mut out = Map::new();
    out.insert("EventBuses".into(), Value::Array(items.to_vec()));
    Ok(with_token(out, next))
}

fn describe_bus(body: &[u8], c: &Catalog) -> Result<Value, ApiError> {
    let r = request(body)?;
    match r.name.as_deref() {
        // Omitted means the default bus; a sidecar serves one bus, so it
        // means this one (as PutEvents without EventBusName does).
        None | Some("") => Ok(bus_json(c)),
        Some(n) if c.is_bus(n) => Ok(bus_json(c)),
        Some(n) => Err(client(
            "ResourceNotFoundException",
            format!("Event bus {n} does not exist."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn catalog() -> Catalog {
        let yaml = r#"
bus: {name: default, account: "123456789012", region: eu-west-1}
sources: [{id: in, kind: stdin}]
rules:
  - name: orders
    description: every order
    event_pattern: {"source": ["shop"]}
    targets:
      - {id: t1, kind: kafka, topic: out, input_path: $.detail, dead_letter: dlq}
      - id: t2
        kind: http
        url: "https://u:p@hooks.example.com/in?k=v"
        input_transformer: {input_paths_map: {n: $.detail.n}, input_template: '{"n": <n>}'}
  - name: other
    state: DISABLED
    event_pattern: '{"detail-type": ["x"]}'
dead_letters:
  dlq: {kind: stderr}
"#;
        let c: Config = yaml_serde::from_str(yaml).unwrap();
        Catalog::of(&c)
    }

    fn call(op: &str, body: &str) -> Result<Value, ApiError> {
        answer(op, body.as_bytes(), &catalog())
            .expect("answered")
            .map(|b| serde_json::from_slice(&b).unwrap())
    }

    #[test]
    fn list_rules_in_aws_shape_with_prefix_and_paging() {
        let v = call("ListRules", "{}").unwrap();
        assert_eq!(
            v["Rules"][0],
            json!({
                "Name": "orders",
                "Arn": "arn:aws:events:eu-west-1:123456789012:rule/orders",
                "EventPattern": "{\"source\":[\"shop\"]}",
                "State": "ENABLED",
                "Description": "every order",
                "EventBusName": "default",
            })
        );
        assert_eq!(v["Rules"][1]["State"], "DISABLED");
        assert_eq!(v["Rules"][1]["EventPattern"], "{\"detail-type\": [\"x\"]}");
        assert!(v.get("NextToken").is_none());
        let v = call("ListRules", r#"{"NamePrefix":"oth"}"#).unwrap();
        assert_eq!(v["Rules"].as_array().unwrap().len(), 1);
        let p1 = call("ListRules", r#"{"Limit":1}"#).unwrap();
        assert_eq!(p1["Rules"][0]["Name"], "orders");
        let token = p1["NextToken"].as_str().unwrap();
        let p2 = call(
            "ListRules",
            &format!(r#"{{"Limit":1,"NextToken":"{token}"}}"#),
        )
        .unwrap();
        assert_eq!(p2["Rules"][0]["Name"], "other");
        assert!(p2.get("NextToken").is_none());
        let e = call("ListRules", r#"{"NextToken":"x"}"#).unwrap_err();
        assert_eq!(e.type_name, "ValidationException");
        let e = call("ListRules", r#"{"EventBusName":"nope"}"#).unwrap_err();
        assert_eq!(e.type_name, "ResourceNotFoundException");
    }

    #[test]
    fn targets_show_inputs_retry_and_dead_letters_never_credentials() {
        let v = call("ListTargetsByRule", r#"{"Rule":"orders"}"#).unwrap();
        let t = &v["Targets"];
        assert_eq!(t[0]["Id"], "t1");
        assert_eq!(
            t[0]["Arn"],
            "arn:busbar:kafka:eu-west-1:123456789012:topic/out"
        );
        assert_eq!(t[0]["InputPath"], "$.detail");
        assert_eq!(
            t[0]["DeadLetterConfig"]["Arn"],
            "arn:busbar:dead-letter:eu-west-1:123456789012:dead-letter/dlq"
        );
        assert_eq!(t[0]["RetryPolicy"]["MaximumRetryAttempts"], 185);
        assert_eq!(
            t[1]["InputTransformer"],
            json!({"InputPathsMap": {"n": "$.detail.n"}, "InputTemplate": "{\"n\": <n>}"})
        );
        assert_eq!(
            t[1]["Arn"],
            "arn:busbar:http:eu-west-1:123456789012:endpoint/https://hooks.example.com/in"
        );
        let e = call("ListTargetsByRule", r#"{"Rule":"missing"}"#).unwrap_err();
        assert_eq!(
            (e.type_name, e.message.as_str()),
            (
                "ResourceNotFoundException",
                "Rule missing does not exist on EventBus default."
            )
        );
    }

    #[test]
    fn describe_calls_and_buses() {
        let v = call("DescribeRule", r#"{"Name":"orders"}"#).unwrap();
        assert_eq!(v["CreatedBy"], "123456789012");
        assert_eq!(v["State"], "ENABLED");
        let bus = json!({"Name": "default", "Arn": "arn:aws:events:eu-west-1:123456789012:event-bus/default"});
        assert_eq!(call("DescribeEventBus", "").unwrap(), bus);
        assert_eq!(call("ListEventBuses", "{}").unwrap()["EventBuses"][0], bus);
        assert_eq!(
            call("ListEventBuses", r#"{"NamePrefix":"x"}"#).unwrap()["EventBuses"],
            json!([])
        );
        assert_eq!(
            call("DescribeEventBus", r#"{"Name":"x"}"#)
                .unwrap_err()
                .type_name,
            "ResourceNotFoundException"
        );
    }

    #[test]
    fn writes_say_rules_are_configured_by_file() {
        for op in [
            "PutRule",
            "DeleteRule",
            "PutTargets",
            "RemoveTargets",
            "EnableRule",
        ] {
            let e = call(op, "{}").unwrap_err();
            assert_eq!(e.type_name, "OperationDisabledException", "{op}");
            assert!(e.message.contains("configured by file"), "{}", e.message);
        }
        assert!(answer("ListArchives", b"{}", &catalog()).is_none());
        assert!(answer("PutEvents", b"{}", &catalog()).is_none());
    }
}
