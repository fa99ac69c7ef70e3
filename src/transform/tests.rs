//! Semantics §4.1–§4.2, row by row, on the §4 shared fixture event.

use super::*;

const DETAIL: &str = r#"{"command":"update-account","payload":{"acc_id":"0a787ecb-4015","sf_id":"baz"},"listsingle":["HIGH"],"listmulti":["ACTIVE","INACTIVE"],"valid":true}"#;
const RULE_ARN: &str = "arn:aws:events:us-east-1:123456789012:rule/my-bus/my-rule";

fn event() -> String {
    format!(
        r#"{{"version":"0","id":"2f4c5a9e-1b7d-4c3e-9a8f-6d5e4c3b2a10","detail-type":"core.update-account-command","source":"core.update-account-command","account":"123456789012","time":"2022-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":{DETAIL}}}"#
    )
}

fn ctx() -> RenderContext<'static> {
    RenderContext {
        rule_name: "my-rule",
        rule_arn: RULE_ARN,
        ingestion_time: "2026-11-23T10:00:00Z",
    }
}

/// The paths map of the AWS-validated test the §4.2.4 rows come from.
fn paths(missing_command: bool) -> Vec<(String, String)> {
    [
        ("detail-type", "$.detail-type"),
        ("timestamp", "$.time"),
        (
            "command",
            if missing_command {
                "$.detail.notthere"
            } else {
                "$.detail.command"
            },
        ),
        ("userId", "$.detail.payload.acc_id"),
        ("payload", "$.detail.payload"),
        ("listsingle", "$.detail.listsingle"),
        ("listmulti", "$.detail.listmulti"),
        ("valid", "$.detail.valid"),
        ("instance", "$.detail.instance"),
        ("state", "$.detail.state"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn shape(shaper: &Shaper, event: &str) -> Result<String, RenderError> {
    let mut out = b"left over from the previous event".to_vec();
    shaper.render(event.as_bytes(), &ctx(), &mut out)?;
    Ok(String::from_utf8(out).unwrap())
}

fn transform_with(paths: &[(String, String)], template: &str) -> Result<String, RenderError> {
    let shaper = Shaper::transformer("t1", paths, template).unwrap();
    shape(&shaper, &event())
}

fn transform(template: &str) -> String {
    transform_with(&paths(false), template).unwrap()
}

fn transform_missing(template: &str) -> String {
    transform_with(&paths(true), template).unwrap()
}

fn is_json(s: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(s).is_ok()
}

fn shape_err(r: Result<Shaper, ShapeError>) -> ShapeError {
    r.unwrap_err()
}

#[test]
fn shapers_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Shaper>();
}

// §4.1 Input selection.

#[test]
fn s4_1_1_no_setting_delivers_the_envelope() {
    assert_eq!(shape(&Shaper::envelope(), &event()).unwrap(), event());
}

#[test]
fn s4_1_2_input_is_delivered_verbatim() {
    let input = "{ \"fixed\" : [1, 2.50] }";
    let s = Shaper::constant("t1", input).unwrap();
    assert_eq!(shape(&s, &event()).unwrap(), input);
    let s = Shaper::constant("t1", "\"just a string\"").unwrap();
    assert_eq!(shape(&s, &event()).unwrap(), "\"just a string\"");
}

#[test]
fn s4_1_3_input_path_delivers_the_value_as_json() {
    let path = |p: &str| shape(&Shaper::input_path("t1", p).unwrap(), &event());
    assert_eq!(path("$.detail").unwrap(), DETAIL);
    assert_eq!(
        path("$.detail.payload").unwrap(),
        r#"{"acc_id":"0a787ecb-4015","sf_id":"baz"}"#
    );
    assert_eq!(path("$.detail.payload.sf_id").unwrap(), r#""baz""#);
    assert_eq!(path("$['detail']['payload']['sf_id']").unwrap(), r#""baz""#);
    assert_eq!(path("$.detail.listmulti[1]").unwrap(), r#""INACTIVE""#);
    assert_eq!(
        path("$.detail-type").unwrap(),
        r#""core.update-account-command""#
    );
    assert_eq!(path("$.detail.valid").unwrap(), "true");
    assert_eq!(path("$").unwrap(), event());
}

#[test]
fn s4_1_3_input_path_matching_nothing_is_accepted_then_not_delivered() {
    let s = Shaper::input_path("t1", "$.detail.notthere").unwrap();
    let e = shape(&s, &event()).unwrap_err();
    assert_eq!(e.code(), "INPUT_PATH_NO_MATCH");
    assert_eq!(
        e.to_string(),
        "input path `$.detail.notthere` matches nothing in the event"
    );
    let s = Shaper::input_path("t1", "$.resources[0]").unwrap();
    assert_eq!(
        shape(&s, &event()).unwrap_err().code(),
        "INPUT_PATH_NO_MATCH"
    );
}

#[test]
fn s4_1_5_each_target_is_shaped_independently() {
    let detail = Shaper::input_path("a", "$.detail").unwrap();
    let whole = Shaper::envelope();
    assert_eq!(shape(&detail, &event()).unwrap(), DETAIL);
    assert_eq!(shape(&whole, &event()).unwrap(), event());
}

#[test]
fn unreadable_event_is_reported() {
    let s = Shaper::input_path("t1", "$.detail.command").unwrap();
    let e = shape(&s, r#"{"detail": {"command": "x"#).unwrap_err();
    assert_eq!(e.code(), "INVALID_EVENT");
}

// §4.2.4 value rendering, one test per table row.

#[test]
fn s4_2_4_quoted_string_template() {
    assert_eq!(
        transform(
            r#""Event of <detail-type> type, at time <timestamp>, info extracted from detail <command>""#
        ),
        r#""Event of core.update-account-command type, at time 2022-01-01T00:00:00Z, info extracted from detail update-account""#
    );
}

#[test]
fn s4_2_4_quoted_string_template_missing_value_is_empty() {
    assert_eq!(
        transform_missing(
            r#""Event of <detail-type> type, at time <timestamp>, info extracted from detail <command>""#
        ),
        r#""Event of core.update-account-command type, at time 2022-01-01T00:00:00Z, info extracted from detail ""#
    );
}

#[test]
fn s4_2_4_unquoted_string_placeholder_is_a_json_string() {
    let out =
        transform(r#"{"detailType": <detail-type>, "time": <timestamp>, "command": <command>}"#);
    assert_eq!(
        out,
        r#"{"detailType": "core.update-account-command", "time": "2022-01-01T00:00:00Z", "command": "update-account"}"#
    );
    assert!(is_json(&out));
}

#[test]
fn s4_2_4_unquoted_missing_value_is_an_empty_string() {
    let out = transform_missing(
        r#"{"detailType": <detail-type>, "time": <timestamp>, "command": <command>}"#,
    );
    assert_eq!(
        out,
        r#"{"detailType": "core.update-account-command", "time": "2022-01-01T00:00:00Z", "command": ""}"#
    );
}

#[test]
fn s4_2_4_quoted_and_unquoted_string_placeholders_agree() {
    assert_eq!(
        transform(r#"{"id" : <userId>}"#),
        r#"{"id" : "0a787ecb-4015"}"#
    );
    assert_eq!(
        transform(r#"{"id" : "<userId>"}"#),
        r#"{"id" : "0a787ecb-4015"}"#
    );
}

#[test]
fn s4_2_4_object_as_value_and_string_inside_a_longer_string() {
    assert_eq!(
        transform(r#"{"method":"PUT","path":"users-service/users/<userId>","bod":<payload>}"#),
        r#"{"method":"PUT","path":"users-service/users/0a787ecb-4015","bod":{"acc_id":"0a787ecb-4015","sf_id":"baz"}}"#
    );
}

#[test]
fn s4_2_4_placeholder_in_an_array() {
    assert_eq!(
        transform(r#"{"bod":[<userId>,"hardcoded"]}"#),
        r#"{"bod":["0a787ecb-4015","hardcoded"]}"#
    );
}

#[test]
fn s4_2_4_array_as_value() {
    assert_eq!(
        transform(r#"{"singlelistitem": <listsingle>}"#),
        r#"{"singlelistitem": ["HIGH"]}"#
    );
}

#[test]
fn s4_2_4_arrays_inside_a_quoted_string_lose_their_quotes() {
    assert_eq!(
        transform(r#""<listsingle> single list item""#),
        r#""[HIGH] single list item""#
    );
    assert_eq!(
        transform(r#""<listmulti> multiple list items""#),
        r#""[ACTIVE,INACTIVE] multiple list items""#
    );
}

#[test]
fn s4_2_4_objects_inside_a_quoted_string_lose_their_quotes() {
    assert_eq!(
        transform(r#""Payload of <payload> with path users-service/users/<userId> and <userId>""#),
        r#""Payload of {acc_id:0a787ecb-4015,sf_id:baz} with path users-service/users/0a787ecb-4015 and 0a787ecb-4015""#
    );
}

#[test]
fn s4_2_4_boolean_inside_a_quoted_string() {
    assert_eq!(
        transform(r#""Command is <valid>!""#),
        r#""Command is true!""#
    );
}

#[test]
fn s4_2_4_placeholder_may_repeat() {
    assert_eq!(
        transform(r#"{"multi_replacement":"users/<userId>/second/<userId>"}"#),
        r#"{"multi_replacement":"users/0a787ecb-4015/second/0a787ecb-4015"}"#
    );
}

#[test]
fn s4_2_4_quoted_string_template_need_not_look_like_json_inside() {
    assert_eq!(
        transform(r#""{[/Check with special starting characters for event of <detail-type> type""#),
        r#""{[/Check with special starting characters for event of core.update-account-command type""#
    );
}

#[test]
fn s4_2_4_predefined_string_placeholders() {
    assert_eq!(
        transform(
            r#""Message containing all pre defined variables <aws.events.rule-arn> <aws.events.rule-name> <aws.events.event.ingestion-time>""#
        ),
        format!(
            r#""Message containing all pre defined variables {RULE_ARN} my-rule 2026-11-23T10:00:00Z""#
        )
    );
    // As JSON values they are quoted.
    assert_eq!(
        transform(r#"{"rule": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>}"#),
        r#"{"rule": "my-rule", "at": "2026-11-23T10:00:00Z"}"#
    );
}

#[test]
fn s4_2_4_predefined_event_placeholders() {
    let out = transform(
        r#"{"originalEvent": <aws.events.event>, "originalEventJson": <aws.events.event.json>}"#,
    );
    assert_eq!(
        out,
        format!(
            r#"{{"originalEvent": {{"id":"2f4c5a9e-1b7d-4c3e-9a8f-6d5e4c3b2a10","account":"123456789012","detailType":"core.update-account-command","time":"2022-01-01T00:00:00Z","source":"core.update-account-command","region":"us-east-1","resources":[],"version":"0"}}, "originalEventJson": {}}}"#,
            event()
        )
    );
    assert!(is_json(&out));
}

#[test]
fn predefined_strings_are_escaped_as_json() {
    let shaper = Shaper::transformer(
        "t1",
        &[],
        r#"{"a": <aws.events.rule-name>, "b": "x<aws.events.rule-name>"}"#,
    )
    .unwrap();
    let ctx = RenderContext {
        rule_name: "we\"ird\\\n",
        ..ctx()
    };
    let mut out = Vec::new();
    shaper.render(event().as_bytes(), &ctx, &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["a"], "we\"ird\\\n");
    assert_eq!(v["b"], "xwe\"ird\\\n");
}

// §4.2.5 JSON-shaped templates that are not JSON after substitution.

#[test]
fn s4_2_5_object_inside_a_string_is_not_delivered() {
    let e = transform_with(&paths(false), r#"{"payload": "<payload>"}"#).unwrap_err();
    assert_eq!(e.code(), "INVALID_JSON_AFTER_TRANSFORM");
    // The rendered text is `{"payload": "{"acc_id":…`; the parser stops at
    // the `a` after the string `"{"`.
    match &e {
        RenderError::InvalidJsonAfterTransform { offset, .. } => assert_eq!(*offset, 15),
        other => panic!("{other:?}"),
    }
    assert!(e
        .to_string()
        .starts_with("input template rendered invalid JSON at byte 15: "));
}

#[test]
fn s4_2_5_array_inside_a_string_is_not_delivered() {
    let e = transform_with(&paths(false), r#"{"singlelistitem": "<listsingle>"}"#).unwrap_err();
    assert_eq!(e.code(), "INVALID_JSON_AFTER_TRANSFORM");
}

#[test]
fn s4_2_5_object_inside_a_longer_string_is_not_delivered() {
    let e = transform_with(
        &paths(false),
        r#"{"not_valid":"users-service/users/<payload>", "bod": <payload>}"#,
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_JSON_AFTER_TRANSFORM");
}

#[test]
fn s4_2_5_array_without_strings_inside_a_string_stays_json() {
    let p = vec![("n".to_string(), "$.detail.nums".to_string())];
    let s = Shaper::transformer("t1", &p, r#"{"a": "nums <n>"}"#).unwrap();
    assert_eq!(
        shape(&s, r#"{"detail": {"nums": [1, 2]}}"#).unwrap(),
        r#"{"a": "nums [1, 2]"}"#
    );
}

#[test]
fn s4_2_5_a_value_placeholder_touching_a_number_is_checked() {
    // `-<n>` and `1<n>` are JSON for some values only: accepted when the
    // target is built, and each result is checked (found by the `transform`
    // fuzz target: `-<payload>` rendered `-{"acc_id":…}` and delivered it).
    for template in [
        r#"{"d": -<payload>}"#,
        r#"{"d": 1<payload>}"#,
        r#"[-<valid>]"#,
        r#"[1.<userId>]"#,
    ] {
        let e = transform_with(&paths(false), template).unwrap_err();
        assert_eq!(e.code(), "INVALID_JSON_AFTER_TRANSFORM", "{template}");
    }
    let p = vec![("n".to_string(), "$.detail.n".to_string())];
    let s = Shaper::transformer("t1", &p, r#"{"a": -<n>, "b": 1<n>}"#).unwrap();
    assert_eq!(
        shape(&s, r#"{"detail": {"n": 5}}"#).unwrap(),
        r#"{"a": -5, "b": 15}"#
    );
    let e = shape(&s, r#"{"detail": {"n": -5}}"#).unwrap_err();
    assert_eq!(e.code(), "INVALID_JSON_AFTER_TRANSFORM");
    // A missing value renders `""`, which no number takes either.
    let e = transform_with(&paths(false), r#"{"d": -<instance>}"#).unwrap_err();
    assert_eq!(e.code(), "INVALID_JSON_AFTER_TRANSFORM");
}

// §4.2.6 extracted values are not escaped; template escapes stay.

#[test]
fn s4_2_6_escaped_quotes_in_the_template_are_kept() {
    let s = Shaper::transformer(
        "t1",
        &paths(false),
        r#""instance \"<instance>\" is in <state>""#,
    )
    .unwrap();
    let ev = r#"{"detail": {"instance": "i-0123456789", "state": "RUNNING"}}"#;
    assert_eq!(
        shape(&s, ev).unwrap(),
        r#""instance \"i-0123456789\" is in RUNNING""#
    );
}

#[test]
fn escaped_event_strings_stay_valid_inside_string_literals() {
    let s = Shaper::transformer(
        "t1",
        &paths(false),
        r#"{"msg": "state=<state>", "raw": <state>}"#,
    )
    .unwrap();
    let ev = r#"{"detail": {"state": "say \"hi\"\n"}}"#;
    let out = shape(&s, ev).unwrap();
    assert_eq!(
        out,
        r#"{"msg": "state=say \"hi\"\n", "raw": "say \"hi\"\n"}"#
    );
    assert!(is_json(&out));
}

// §4.2.7 plain-text templates.

#[test]
fn s4_2_7_plain_text_template() {
    let s = Shaper::transformer("t1", &paths(false), "<instance> is in state <state>").unwrap();
    let ev = r#"{"detail": {"instance": "i-0123456789", "state": "RUN\"NING"}}"#;
    assert_eq!(shape(&s, ev).unwrap(), "i-0123456789 is in state RUN\"NING");
    let s = Shaper::transformer("t1", &paths(false), "  <payload> / <valid> / <command>!").unwrap();
    assert_eq!(
        shape(&s, &event()).unwrap(),
        r#"  {"acc_id":"0a787ecb-4015","sf_id":"baz"} / true / update-account!"#
    );
    let s = Shaper::transformer("t1", &paths(true), "cmd=<command>.").unwrap();
    assert_eq!(shape(&s, &event()).unwrap(), "cmd=.");
}

#[test]
fn template_whitespace_is_preserved() {
    assert_eq!(
        transform("\n  {\n    \"id\" :\t<userId> ,\n    \"v\": [ <valid> ]\n  }\n"),
        "\n  {\n    \"id\" :\t\"0a787ecb-4015\" ,\n    \"v\": [ true ]\n  }\n"
    );
}

#[test]
fn other_angle_brackets_are_text() {
    assert_eq!(
        transform(r#""a < b, <> and <a b> stay""#),
        r#""a < b, <> and <a b> stay""#
    );
    assert_eq!(transform("if a < b then <valid>"), "if a < b then true");
    assert_eq!(
        transform(r#"{"cmp": "1<2", "v": <valid>}"#),
        r#"{"cmp": "1<2", "v": true}"#
    );
}

#[test]
fn rendering_reuses_the_buffer() {
    let s = Shaper::transformer("t1", &paths(false), r#"{"id": <userId>}"#).unwrap();
    let mut out = Vec::with_capacity(256);
    s.render(event().as_bytes(), &ctx(), &mut out).unwrap();
    s.render(event().as_bytes(), &ctx(), &mut out).unwrap();
    assert_eq!(out, br#"{"id": "0a787ecb-4015"}"#);
    assert_eq!(out.capacity(), 256);
}

// Construction errors.

#[test]
fn input_must_be_json_and_short() {
    let e = shape_err(Shaper::constant("t1", "{\"a\": "));
    assert_eq!(e.setting(), "input");
    assert!(
        matches!(e.kind(), ShapeErrorKind::InvalidJson { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("target t1: `input`: not valid JSON text: "),
        "{e}"
    );
    assert!(matches!(
        shape_err(Shaper::constant("t1", "")).kind(),
        ShapeErrorKind::InvalidJson { .. }
    ));
    assert!(matches!(
        shape_err(Shaper::constant("t1", "not json")).kind(),
        ShapeErrorKind::InvalidJson { .. }
    ));
    let long = format!("\"{}\"", "é".repeat(MAX_INPUT_CHARS - 1));
    let e = shape_err(Shaper::constant("t1", &long));
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::TooLong {
            given: 8193,
            limit: 8192
        }
    );
    assert_eq!(
        e.to_string(),
        "target t1: `input`: 8193 characters, at most 8192 allowed"
    );
    assert!(Shaper::constant("t1", &format!("\"{}\"", "é".repeat(MAX_INPUT_CHARS - 2))).is_ok());
}

#[test]
fn input_path_must_be_short_and_in_the_subset() {
    let e = shape_err(Shaper::input_path("t1", &format!("$.{}", "a".repeat(255))));
    assert_eq!(e.setting(), "input_path");
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::TooLong {
            given: 257,
            limit: 256
        }
    );
    assert!(Shaper::input_path("t1", &format!("$.{}", "a".repeat(254))).is_ok());
    let e = shape_err(Shaper::input_path("t1", "$.detail[*]"));
    assert_eq!(
        e.to_string(),
        "target t1: `input_path`: JSONPath `$.detail[*]`: wildcards are not supported at byte 9"
    );
    for bad in [
        "",
        "detail",
        "$..detail",
        "$.detail[?(@.a)]",
        "$.a[0:1]",
        "$.a[-1]",
        "$.a.*",
    ] {
        let e = shape_err(Shaper::input_path("t1", bad));
        assert!(
            matches!(e.kind(), ShapeErrorKind::InvalidPath { .. }),
            "{bad}: {e:?}"
        );
    }
}

fn map(entries: &[(&str, &str)]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn paths_map_limits() {
    let many: Vec<_> = (0..101)
        .map(|n| (format!("k{n}"), "$.id".to_string()))
        .collect();
    let e = shape_err(Shaper::transformer("t1", &many, "\"x\""));
    assert_eq!(e.setting(), "input_transformer.input_paths_map");
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::TooManyPaths {
            given: 101,
            limit: 100
        }
    );
    assert!(Shaper::transformer("t1", &many[..100], "\"x\"").is_ok());
}

#[test]
fn paths_map_keys() {
    let err = |key: &str| shape_err(Shaper::transformer("t1", &map(&[(key, "$.id")]), "\"x\""));
    let e = err("");
    assert_eq!(
        (e.setting(), e.kind()),
        ("input_transformer.input_paths_map.", &ShapeErrorKind::Empty)
    );
    let long = "k".repeat(257);
    let e = err(&long);
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::TooLong {
            given: 257,
            limit: 256
        }
    );
    assert!(Shaper::transformer("t1", &map(&[(&long[1..], "$.id")]), "\"x\"").is_ok());
    for reserved in [
        "aws.events.rule-arn",
        "aws.events.event",
        "aws.mine",
        "AWS.mine",
    ] {
        assert_eq!(
            err(reserved).kind(),
            &ShapeErrorKind::ReservedKey,
            "{reserved}"
        );
    }
    let e = err("a.b");
    assert_eq!(e.setting(), "input_transformer.input_paths_map.a.b");
    assert_eq!(e.kind(), &ShapeErrorKind::InvalidKey { position: 1 });
    assert_eq!(
        err("ünï").kind(),
        &ShapeErrorKind::InvalidKey { position: 0 }
    );
    let e = shape_err(Shaper::transformer(
        "t1",
        &map(&[("a", "$.id"), ("a", "$.time")]),
        "\"x\"",
    ));
    assert_eq!(e.setting(), "input_transformer.input_paths_map.a");
    assert_eq!(e.kind(), &ShapeErrorKind::DuplicateKey);
    assert!(Shaper::transformer("t1", &map(&[("A-z_09", "$.id")]), "\"<A-z_09>\"").is_ok());
}

#[test]
fn paths_map_values() {
    let e = shape_err(Shaper::transformer(
        "t1",
        &map(&[("a", "$.detail..x")]),
        "\"x\"",
    ));
    assert_eq!(e.setting(), "input_transformer.input_paths_map.a");
    assert_eq!(
        e.to_string(),
        "target t1: `input_transformer.input_paths_map.a`: JSONPath `$.detail..x`: \
         recursive descent `..` is not supported at byte 8"
    );
    let long = format!("$.{}", "a".repeat(255));
    let e = shape_err(Shaper::transformer("t1", &map(&[("a", &long)]), "\"x\""));
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::TooLong {
            given: 257,
            limit: 256
        }
    );
    // A path that names nothing is fine (§4.2.1).
    assert!(Shaper::transformer("t1", &map(&[("a", "$.no.such.thing[3]")]), "\"<a>\"").is_ok());
}

#[test]
fn template_length() {
    let e = shape_err(Shaper::transformer("t1", &[], ""));
    assert_eq!(
        (e.setting(), e.kind()),
        ("input_transformer.input_template", &ShapeErrorKind::Empty)
    );
    let e = shape_err(Shaper::transformer(
        "t1",
        &[],
        &format!("\"{}\"", "x".repeat(8191)),
    ));
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::TooLong {
            given: 8193,
            limit: 8192
        }
    );
    assert!(Shaper::transformer("t1", &[], &format!("\"{}\"", "x".repeat(8190))).is_ok());
}

#[test]
fn unknown_placeholder_is_the_aws_validation_exception() {
    let e = shape_err(Shaper::transformer(
        "t1",
        &map(&[("a", "$.id")]),
        r#"{"a": <a>, "b": <b>}"#,
    ));
    assert_eq!(
        e.to_string(),
        "InputTemplate for target t1 contains invalid placeholder b."
    );
    assert_eq!(e.target(), "t1");
    assert_eq!(e.setting(), "input_transformer.input_template");
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::InvalidPlaceholder { name: "b".into() }
    );
    let e = shape_err(Shaper::transformer("t2", &[], "\"<aws.events.rule-id>\""));
    assert_eq!(
        e.to_string(),
        "InputTemplate for target t2 contains invalid placeholder aws.events.rule-id."
    );
    let e = shape_err(Shaper::transformer("t2", &[], "plain <x>"));
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::InvalidPlaceholder { name: "x".into() }
    );
}

#[test]
fn json_placeholders_only_as_json_values() {
    let e = shape_err(Shaper::transformer(
        "t1",
        &[],
        r#"{"e": "<aws.events.event>"}"#,
    ));
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::JsonPlaceholderInString {
            name: "aws.events.event",
            offset: 7
        }
    );
    assert_eq!(
        e.to_string(),
        "target t1: `input_transformer.input_template`: <aws.events.event> at byte 7 is inside \
         a string; it may only stand as a JSON value"
    );
    let e = shape_err(Shaper::transformer(
        "t1",
        &[],
        r#""event <aws.events.event.json>""#,
    ));
    assert_eq!(
        e.kind(),
        &ShapeErrorKind::JsonPlaceholderInString {
            name: "aws.events.event.json",
            offset: 7
        }
    );
    // As values, in arrays, and in plain text they are fine.
    assert!(
        Shaper::transformer("t1", &[], "[<aws.events.event>, <aws.events.event.json>]").is_ok()
    );
    assert!(Shaper::transformer("t1", &[], "event: <aws.events.event.json>").is_ok());
}

#[test]
fn json_shaped_template_that_can_never_be_json() {
    let p = map(&[("k", "$.source")]);
    let e = shape_err(Shaper::transformer("t1", &p, "{<k>: 1}"));
    assert_eq!(e.setting(), "input_transformer.input_template");
    assert!(
        matches!(e.kind(), ShapeErrorKind::TemplateNotJson { offset: 1, .. }),
        "{e:?}"
    );
    let e = shape_err(Shaper::transformer("t1", &p, r#"{"a": <k>"#));
    assert!(
        matches!(e.kind(), ShapeErrorKind::TemplateNotJson { offset: 9, .. }),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("placeholders may not be object keys"),
        "{e}"
    );
    let e = shape_err(Shaper::transformer("t1", &p, "{instance} is <k>"));
    assert!(
        matches!(e.kind(), ShapeErrorKind::TemplateNotJson { .. }),
        "{e:?}"
    );
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(
        RenderError::InvalidJsonAfterTransform {
            offset: 0,
            reason: String::new()
        }
        .code(),
        "INVALID_JSON_AFTER_TRANSFORM"
    );
    assert_eq!(
        RenderError::InputPathNoMatch { path: "$.x".into() }.code(),
        "INPUT_PATH_NO_MATCH"
    );
    assert_eq!(
        RenderError::InvalidEvent { offset: 3 }.code(),
        "INVALID_EVENT"
    );
}

#[test]
fn truncated_events_never_panic() {
    let all = Shaper::transformer(
        "t1",
        &paths(false),
        r#"{"a": <payload>, "b": "<userId> <listmulti>", "e": <aws.events.event>, "j": <aws.events.event.json>}"#,
    )
    .unwrap();
    let text = Shaper::transformer("t1", &paths(false), r#""<payload> <listmulti>""#).unwrap();
    let plain = Shaper::transformer("t1", &paths(false), "<payload> <command>").unwrap();
    let path = Shaper::input_path("t1", "$.detail.listmulti[1]").unwrap();
    let ev = event();
    let mut out = Vec::new();
    for end in 0..=ev.len() {
        for s in [&all, &text, &plain, &path] {
            // Any result will do; what matters is that none panics.
            let _ = s.render(&ev.as_bytes()[..end], &ctx(), &mut out);
        }
    }
}
