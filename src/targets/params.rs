//! An `http` target's `http_parameters`, EventBridge's `HttpParameters` of
//! API destinations: values for the `*` wildcards of the URL's path, and
//! query-string and header parameters, each a literal or a JSONPath into
//! the event (`$.detail.orderId`). Compiled once with the target; rendered
//! per delivery when the target takes the delivery in, so a value the
//! event lacks dead-letters that event at once (`INPUT_PATH_NO_MATCH`)
//! instead of failing every retry.
//!
//! A value that is a JSON string is used as its decoded text; any other
//! JSON value (number, boolean, object, array) as its JSON text. Path and
//! query values are percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`),
//! header values are used as they are and must be valid header values.

use std::collections::BTreeMap;

use hyper::header::{HeaderName, HeaderValue};
use hyper::Uri;

use crate::transform::{RenderContext, Shaper};

/// What `http_parameters` says, as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpParametersConfig {
    /// One value per `*` of the URL, in order.
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A literal, or a path into the event.
enum Value {
    Literal(String),
    Path(String, Shaper),
}

impl Value {
    fn compile(target_id: &str, at: &str, v: &str) -> Result<Value, String> {
        if v == "$" || v.starts_with("$.") || v.starts_with("$[") {
            let s = Shaper::input_path(target_id, v).map_err(|e| format!("{at}: {e}"))?;
            Ok(Value::Path(v.to_string(), s))
        } else {
            Ok(Value::Literal(v.to_string()))
        }
    }

    /// The value's text for `event`.
    fn text(&self, at: &str, event: &[u8], scratch: &mut Vec<u8>) -> Result<String, Invalid> {
        match self {
            Value::Literal(s) => Ok(s.clone()),
            Value::Path(path, shaper) => {
                let ctx = RenderContext {
                    rule_name: "",
                    rule_arn: "",
                    ingestion_time: "",
                };
                shaper.render(event, &ctx, scratch).map_err(|e| Invalid {
                    code: e.code(),
                    message: format!("http_parameters.{at} `{path}`: {e}"),
                })?;
                if scratch.first() == Some(&b'"') {
                    if let Ok(s) = serde_json::from_slice::<String>(scratch) {
                        return Ok(s);
                    }
                }
                Ok(String::from_utf8_lossy(scratch).into_owned())
            }
        }
    }
}

/// A target's compiled `http_parameters` and URL template.
pub struct HttpParams {
    /// The URL split at each `*`: one more part than `path` has values.
    url_parts: Vec<String>,
    path: Vec<Value>,
    query: Vec<(String, Value)>,
    headers: Vec<(HeaderName, Value)>,
}

/// Why a delivery's request could not be made.
#[derive(Debug)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

/// The request parts of one delivery.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub uri: Uri,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl HttpParams {
    /// Compiles the parameters of the target `target_id` with URL `url`;
    /// `None` when the URL has no `*` and there are no parameters (the
    /// request is the same for every event). Errors name the key.
    pub fn compile(
        target_id: &str,
        url: &str,
        c: Option<&HttpParametersConfig>,
    ) -> Result<Option<HttpParams>, String> {
        let empty = HttpParametersConfig::default();
        let c = c.unwrap_or(&empty);
        // Only the path's wildcards count: the query string is built from
        // `query`.
        let path_end = url.find('?').unwrap_or(url.len());
        let wildcards = url[..path_end].matches('*').count();
        if wildcards != c.path.len() {
            return Err(format!(
                "http_parameters.path: the url has {wildcards} `*` wildcard(s) and \
                 http_parameters.path {} value(s); give one value per `*`, in order",
                c.path.len()
            ));
        }
        if wildcards == 0 && c.query.is_empty() && c.headers.is_empty() {
            return Ok(None);
        }
        let mut url_parts: Vec<String> = url[..path_end].split('*').map(String::from).collect();
        if let Some(last) = url_parts.last_mut() {
            last.push_str(&url[path_end..]);
        }
        let path = c
            .path
            .iter()
            .enumerate()
            .map(|(i, v)| Value::compile(target_id, &format!("http_parameters.path[{i}]"), v))
            .collect::<Result<_, _>>()?;
        let query = c
            .query
            .iter()
            .map(|(k, v)| {
                Value::compile(target_id, &format!("http_parameters.query.{k}"), v)
                    .map(|v| (k.clone(), v))
            })
            .collect::<Result<_, _>>()?;
        let headers = c
            .headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| format!("http_parameters.headers.{k}: not a valid header name"))?;
                if let Value::Literal(l) = Value::compile(target_id, "", v)? {
                    HeaderValue::from_str(&l).map_err(|_| {
                        format!("http_parameters.headers.{k}: not a valid header value")
                    })?;
                }
                Value::compile(target_id, &format!("http_parameters.headers.{k}"), v)
                    .map(|v| (name, v))
            })
            .collect::<Result<_, _>>()?;
        Ok(Some(HttpParams {
            url_parts,
            path,
            query,
            headers,
        }))
    }

    /// The URL and extra headers of the request for `event` (an envelope).
    pub fn render(&self, event: &[u8], scratch: &mut Vec<u8>) -> Result<Rendered, Invalid> {
        let mut url = String::with_capacity(self.url_parts.iter().map(String::len).sum::<usize>());
        for (i, part) in self.url_parts.iter().enumerate() {
            url.push_str(part);
            if let Some(v) = self.path.get(i) {
                let text = v.text(&format!("path[{i}]"), event, scratch)?;
                encode(&text, &mut url);
            }
        }
        for (i, (k, v)) in self.query.iter().enumerate() {
            let text = v.text(&format!("query.{k}"), event, scratch)?;
            url.push(if i == 0 && !url.contains('?') {
                '?'
            } else {
                '&'
            });
            encode(k, &mut url);
            url.push('=');
            encode(&text, &mut url);
        }
        let uri = url.parse::<Uri>().map_err(|e| Invalid {
            code: "INVALID_HTTP_PARAMETER",
            message: format!("the request URL made from http_parameters is not valid: {e}"),
        })?;
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, v) in &self.headers {
            let text = v.text(&format!("headers.{name}"), event, scratch)?;
            let value = HeaderValue::from_str(&text).map_err(|_| Invalid {
                code: "INVALID_HTTP_PARAMETER",
                message: format!(
                    "http_parameters.headers.{name}: the event's value is not a valid header \
                     value (control characters or non-visible bytes)"
                ),
            })?;
            headers.push((name.clone(), value));
        }
        Ok(Rendered { uri, headers })
    }
}

/// Percent-encodes `s` onto `out`: every byte but the unreserved ones.
fn encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &[u8] = br#"{"id":"e1","source":"shop","detail-type":"T","detail":{"orderId":"o/1 2","n":7,"tenant":"acme","deep":{"a":[1]}}}"#;

    fn config(
        path: &[&str],
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> HttpParametersConfig {
        let map = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        HttpParametersConfig {
            path: path.iter().map(|s| s.to_string()).collect(),
            query: map(query),
            headers: map(headers),
        }
    }

    #[test]
    fn path_query_and_headers_come_from_the_event_encoded() {
        let c = config(
            &["$.detail.orderId", "v2"],
            &[("src", "$.source"), ("n", "$.detail.n"), ("q x", "a&b")],
            &[("x-tenant", "$.detail.tenant"), ("x-fixed", "1")],
        );
        let p = HttpParams::compile("t", "http://h:8080/orders/*/items/*", Some(&c))
            .unwrap()
            .unwrap();
        let r = p.render(EVENT, &mut Vec::new()).unwrap();
        assert_eq!(
            r.uri.to_string(),
            "http://h:8080/orders/o%2F1%202/items/v2?n=7&q%20x=a%26b&src=shop"
        );
        let h: Vec<(String, String)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            h,
            [
                ("x-fixed".into(), "1".into()),
                ("x-tenant".into(), "acme".into())
            ]
        );
    }

    #[test]
    fn a_value_the_event_lacks_is_input_path_no_match_naming_the_parameter() {
        let c = config(&["$.detail.missing"], &[], &[]);
        let p = HttpParams::compile("t", "http://h/o/*", Some(&c))
            .unwrap()
            .unwrap();
        let e = p.render(EVENT, &mut Vec::new()).unwrap_err();
        assert_eq!(e.code, "INPUT_PATH_NO_MATCH");
        assert!(
            e.message
                .contains("http_parameters.path[0] `$.detail.missing`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn wildcards_and_values_must_pair_up_and_plain_urls_need_nothing() {
        assert!(HttpParams::compile("t", "http://h/o", None)
            .unwrap()
            .is_none());
        let e = HttpParams::compile("t", "http://h/o/*", None)
            .err()
            .unwrap();
        assert!(
            e.contains("1 `*` wildcard(s) and http_parameters.path 0"),
            "{e}"
        );
        let c = config(&[], &[], &[("bad header", "x")]);
        assert!(HttpParams::compile("t", "http://h/", Some(&c)).is_err());
        let c = config(&[], &[], &[("x-a", "line\nbreak")]);
        assert!(HttpParams::compile("t", "http://h/", Some(&c)).is_err());
        let c = config(&[], &[("a", "$.[")], &[]);
        assert!(HttpParams::compile("t", "http://h/", Some(&c)).is_err());
    }

    #[test]
    fn non_string_values_are_their_json_text() {
        let c = config(&[], &[("d", "$.detail.deep")], &[]);
        let p = HttpParams::compile("t", "http://h/x?k=1", Some(&c))
            .unwrap()
            .unwrap();
        let r = p.render(EVENT, &mut Vec::new()).unwrap();
        assert_eq!(
            r.uri.to_string(),
            "http://h/x?k=1&d=%7B%22a%22%3A%5B1%5D%7D"
        );
    }
}
