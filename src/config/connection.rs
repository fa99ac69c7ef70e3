//! `connections:`, EventBridge's `Connection` resource: how an `http`
//! target authenticates (an API key header, Basic, or OAuth client
//! credentials) and the headers, query string and body parameters added to
//! every request it sends. Targets name one with `connection:`.
//!
//! Every value that can be a secret is a [`SecretValue`]; the secrets are
//! read by [`resolve`] (at start and at every reload) and the shapes are
//! checked by [`check`], neither of which ever prints a value.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::secret::SecretValue;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    pub auth: AuthConfig,
    /// Added to every request of the targets that use the connection; on
    /// a clash they win over the target's own headers and URL query.
    #[serde(default)]
    pub invocation_http_parameters: HttpParameters,
    /// How an `https://` OAuth token endpoint is trusted (and busbar shows
    /// itself to it); absent: the platform's root store. The targets that
    /// use the connection have `tls` of their own.
    #[serde(default)]
    pub tls: Option<Box<super::TlsConfig>>,
}

impl ConnectionConfig {
    /// The OAuth token endpoint, when the connection has one and it is
    /// `https://`: then its client needs TLS settings.
    pub fn https_token_url(&self) -> Option<&str> {
        match &self.auth {
            AuthConfig::OauthClientCredentials(o)
                if o.token_url
                    .get(..8)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https://")) =>
            {
                Some(&o.token_url)
            }
            _ => None,
        }
    }
}

/// One of EventBridge's authorization types, written as a map with one
/// key (`{api_key: {...}}`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawAuth")]
pub enum AuthConfig {
    /// `header: value` on every request.
    ApiKey { header: String, value: SecretValue },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: String,
        password: SecretValue,
    },
    /// A bearer token from the token endpoint (RFC 6749 §4.4).
    OauthClientCredentials(OAuthConfig),
}

/// YAML has no externally tagged enums without tags (`!api_key`): the
/// three keys as options, exactly one of which must be there.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAuth {
    api_key: Option<RawApiKey>,
    basic: Option<RawBasic>,
    oauth_client_credentials: Option<OAuthConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApiKey {
    header: String,
    value: SecretValue,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasic {
    username: String,
    password: SecretValue,
}

impl TryFrom<RawAuth> for AuthConfig {
    type Error = String;
    fn try_from(r: RawAuth) -> Result<Self, String> {
        match (r.api_key, r.basic, r.oauth_client_credentials) {
            (Some(k), None, None) => Ok(AuthConfig::ApiKey {
                header: k.header,
                value: k.value,
            }),
            (None, Some(b), None) => Ok(AuthConfig::Basic {
                username: b.username,
                password: b.password,
            }),
            (None, None, Some(o)) => Ok(AuthConfig::OauthClientCredentials(o)),
            _ => Err(
                "expected exactly one of `api_key`, `basic` or `oauth_client_credentials`".into(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// EventBridge's `AuthorizationEndpoint`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretValue,
    #[serde(default)]
    pub scope: Option<String>,
    /// GET, POST or PUT (EventBridge's `HttpMethod`).
    #[serde(default = "default_token_method")]
    pub http_method: String,
    /// Extra headers, query string and form parameters of the token
    /// request (EventBridge's `OAuthHttpParameters`).
    #[serde(default)]
    pub oauth_http_parameters: HttpParameters,
    /// How long one token request may take.
    #[serde(default = "default_token_timeout")]
    pub timeout_seconds: f64,
}

fn default_token_method() -> String {
    "POST".into()
}
fn default_token_timeout() -> f64 {
    5.0
}

/// EventBridge's `ConnectionHttpParameters`; every value may be a secret.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpParameters {
    #[serde(default)]
    pub headers: BTreeMap<String, SecretValue>,
    #[serde(default)]
    pub query_string: BTreeMap<String, SecretValue>,
    #[serde(default)]
    pub body: BTreeMap<String, SecretValue>,
}

impl HttpParameters {
    fn secrets_mut(&mut self, at: &str) -> Vec<(String, &mut SecretValue)> {
        let mut v = Vec::new();
        for (section, map) in [
            ("headers", &mut self.headers),
            ("query_string", &mut self.query_string),
            ("body", &mut self.body),
        ] {
            for (k, s) in map.iter_mut() {
                v.push((format!("{at}.{section}.{k}"), s));
            }
        }
        v
    }
}

impl ConnectionConfig {
    /// Every secret of the connection with its dotted key.
    fn secrets_mut(&mut self, at: &str) -> Vec<(String, &mut SecretValue)> {
        let mut v = match &mut self.auth {
            AuthConfig::ApiKey { value, .. } => vec![(format!("{at}.auth.api_key.value"), value)],
            AuthConfig::Basic { password, .. } => {
                vec![(format!("{at}.auth.basic.password"), password)]
            }
            AuthConfig::OauthClientCredentials(o) => {
                let at = format!("{at}.auth.oauth_client_credentials");
                let mut v = vec![(format!("{at}.client_secret"), &mut o.client_secret)];
                v.extend(
                    o.oauth_http_parameters
                        .secrets_mut(&format!("{at}.oauth_http_parameters")),
                );
                v
            }
        };
        v.extend(
            self.invocation_http_parameters
                .secrets_mut(&format!("{at}.invocation_http_parameters")),
        );
        v
    }
}

/// Read every secret of every connection; each one that cannot be read is
/// a problem naming its key and its file or variable.
pub fn resolve(
    connections: &mut BTreeMap<String, ConnectionConfig>,
    push: &mut impl FnMut(String, String),
) {
    for (name, c) in connections.iter_mut() {
        for (at, s) in c.secrets_mut(&format!("connections.{name}")) {
            if let Err(e) = s.resolve() {
                push(at, e);
            }
        }
    }
}

/// The range of `oauth_client_credentials.timeout_seconds`.
pub const TOKEN_TIMEOUT_SECONDS: std::ops::RangeInclusive<f64> = 0.001..=60.0;

/// Headers the HTTP client owns: a connection that set them would break
/// the request's framing.
const FRAMING_HEADERS: &[&str] = &["host", "content-length", "transfer-encoding", "connection"];

/// The shape of every connection (names, URLs, methods, header names and
/// values). A header value is checked only once its secret is resolved,
/// and no message quotes a value.
pub fn check(
    connections: &BTreeMap<String, ConnectionConfig>,
    push: &mut impl FnMut(String, String),
) {
    for (name, c) in connections {
        let at = format!("connections.{name}");
        if !super::valid_name(name) {
            push(
                at.clone(),
                "a connection name must be 1-64 characters of [.-_A-Za-z0-9]".into(),
            );
        }
        // The header the auth type sets, to find an invocation header that
        // would replace it.
        let auth_header = match &c.auth {
            AuthConfig::ApiKey { header, value } => {
                let hat = format!("{at}.auth.api_key");
                match hyper::header::HeaderName::from_bytes(header.as_bytes()) {
                    Ok(h) if FRAMING_HEADERS.contains(&h.as_str()) => push(
                        format!("{hat}.header"),
                        format!("`{header}` is set by the HTTP client itself"),
                    ),
                    Ok(_) => {}
                    Err(_) => push(
                        format!("{hat}.header"),
                        format!("`{header}` is not a valid HTTP header name"),
                    ),
                }
                header_value(&mut *push, format!("{hat}.value"), value);
                header.to_ascii_lowercase()
            }
            AuthConfig::Basic { username, .. } => {
                // The password travels base64-encoded: any value fits.
                if username.is_empty() || username.contains(':') {
                    push(
                        format!("{at}.auth.basic.username"),
                        "must be non-empty and without `:` (RFC 7617)".into(),
                    );
                }
                "authorization".into()
            }
            AuthConfig::OauthClientCredentials(o) => {
                check_oauth(o, &format!("{at}.auth.oauth_client_credentials"), push);
                "authorization".into()
            }
        };
        if let Some(tls) = &c.tls {
            let scheme = match &c.auth {
                AuthConfig::OauthClientCredentials(o) => o
                    .token_url
                    .parse::<hyper::Uri>()
                    .ok()
                    .and_then(|u| u.scheme_str().map(str::to_owned)),
                _ => {
                    push(
                        format!("{at}.tls"),
                        "applies to the token endpoint of `oauth_client_credentials` only; \
                         the targets that use the connection have `tls` of their own"
                            .into(),
                    );
                    None
                }
            };
            let scheme = scheme.as_deref().map(|s| match s {
                "http" => "http",
                _ => "https",
            });
            super::check_tls(tls, scheme, &format!("{at}.tls"), "token_url", push);
        }
        let iat = format!("{at}.invocation_http_parameters");
        check_headers(&c.invocation_http_parameters, &iat, push);
        if c.invocation_http_parameters
            .headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case(&auth_header))
        {
            push(
                format!("{iat}.headers.{auth_header}"),
                format!("clashes with the `{auth_header}` header that `{at}.auth` sets"),
            );
        }
    }
}

fn check_oauth(o: &OAuthConfig, at: &str, push: &mut impl FnMut(String, String)) {
    match o.token_url.parse::<hyper::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => {}
        _ => push(
            format!("{at}.token_url"),
            format!(
                "`{}` is not an absolute http:// or https:// URL",
                o.token_url
            ),
        ),
    }
    if o.client_id.is_empty() || o.client_id.contains(':') {
        push(
            format!("{at}.client_id"),
            "must be non-empty and without `:` (it is sent with Basic authentication)".into(),
        );
    }
    if !matches!(o.http_method.as_str(), "GET" | "POST" | "PUT") {
        push(
            format!("{at}.http_method"),
            format!("`{}`: expected GET, POST or PUT", o.http_method),
        );
    }
    if !TOKEN_TIMEOUT_SECONDS.contains(&o.timeout_seconds) {
        push(
            format!("{at}.timeout_seconds"),
            format!(
                "{} is not a number of seconds in {}-{}",
                o.timeout_seconds,
                TOKEN_TIMEOUT_SECONDS.start(),
                TOKEN_TIMEOUT_SECONDS.end()
            ),
        );
    }
    let pat = format!("{at}.oauth_http_parameters");
    check_headers(&o.oauth_http_parameters, &pat, push);
    if o.oauth_http_parameters
        .headers
        .keys()
        .any(|k| k.eq_ignore_ascii_case("authorization"))
    {
        push(
            format!("{pat}.headers.authorization"),
            "clashes with the Basic authentication that carries the client credentials".into(),
        );
    }
}

fn check_headers(p: &HttpParameters, at: &str, push: &mut impl FnMut(String, String)) {
    for (k, v) in &p.headers {
        let hat = format!("{at}.headers.{k}");
        match hyper::header::HeaderName::from_bytes(k.as_bytes()) {
            Ok(h) if FRAMING_HEADERS.contains(&h.as_str()) => {
                push(hat, "is set by the HTTP client itself".into())
            }
            Ok(_) => header_value(&mut *push, hat, v),
            Err(_) => push(hat, "is not a valid HTTP header name".into()),
        }
    }
    for (k, _) in p.query_string.iter().chain(&p.body) {
        if k.is_empty() {
            push(at.to_string(), "a parameter name must not be empty".into());
        }
    }
}

/// A resolved value that cannot be a header value (a newline, say) is
/// reported without quoting it.
fn header_value(push: &mut impl FnMut(String, String), at: String, v: &SecretValue) {
    if let Some(s) = v.value() {
        if hyper::header::HeaderValue::from_str(s.expose()).is_err() {
            push(
                at,
                "is not a valid HTTP header value (control characters or non-ASCII)".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ConnectionConfig, String> {
        yaml_serde::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn each_auth_type_parses_with_its_defaults() {
        let c = parse("auth: {api_key: {header: x-api-key, value: k}}").unwrap();
        assert!(matches!(c.auth, AuthConfig::ApiKey { ref header, .. } if header == "x-api-key"));
        assert_eq!(c.invocation_http_parameters, HttpParameters::default());
        let c = parse("auth: {basic: {username: u, password: {env: P}}}").unwrap();
        assert!(matches!(c.auth, AuthConfig::Basic { .. }));
        let c = parse(
            "auth: {oauth_client_credentials: {token_url: 'http://id/t', client_id: c, \
             client_secret: {file: /s}}}\ninvocation_http_parameters: {body: {k: v}}",
        )
        .unwrap();
        let AuthConfig::OauthClientCredentials(o) = &c.auth else {
            panic!("{c:?}")
        };
        assert_eq!((o.http_method.as_str(), o.timeout_seconds), ("POST", 5.0));
        assert_eq!(o.scope, None);
        assert_eq!(c.invocation_http_parameters.body.len(), 1);
    }

    #[test]
    fn auth_needs_exactly_one_known_type() {
        for bad in [
            "auth: {}",
            "auth: {basic: {username: u, password: p}, api_key: {header: h, value: v}}",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.contains("expected exactly one of `api_key`"),
                "{bad}: {e}"
            );
        }
        let e = parse("auth: {bearer: {token: t}}").unwrap_err();
        assert!(e.contains("unknown field `bearer`"), "{e}");
        let e = parse("auth: {basic: {username: u, password: p, realm: r}}").unwrap_err();
        assert!(e.contains("unknown field `realm`"), "{e}");
    }

    #[test]
    fn shape_problems_name_the_key_and_never_a_value() {
        let mut m = BTreeMap::new();
        m.insert(
            "bad name!".to_string(),
            parse(
                "auth: {basic: {username: 'a:b', password: \"pw-DISTINCT\\n\"}}\n\
                 invocation_http_parameters: {headers: {Authorization: x, host: h, 'bad header': v, \
                 x-k: \"v-DISTINCT\\n\"}}",
            )
            .unwrap(),
        );
        let mut p = Vec::new();
        check(&m, &mut |at, msg| p.push(format!("{at}: {msg}")));
        let all = p.join("\n");
        for want in [
            "connections.bad name!: a connection name must be 1-64 characters",
            "connections.bad name!.auth.basic.username: must be non-empty and without `:`",
            "invocation_http_parameters.headers.x-k: is not a valid HTTP header value",
            "invocation_http_parameters.headers.host: is set by the HTTP client itself",
            "invocation_http_parameters.headers.bad header: is not a valid HTTP header name",
            "invocation_http_parameters.headers.authorization: clashes with the `authorization` header",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        assert!(!all.contains("DISTINCT"), "{all}");
    }

    #[test]
    fn tls_belongs_to_an_https_token_endpoint() {
        let mut m = BTreeMap::new();
        let oauth = |url: &str| {
            format!(
                "auth: {{oauth_client_credentials: {{token_url: '{url}', client_id: c, \
                 client_secret: s}}}}\ntls: {{ca_file: /ca.pem}}"
            )
        };
        m.insert("ok".to_string(), parse(&oauth("https://id/t")).unwrap());
        m.insert("plain".to_string(), parse(&oauth("http://id/t")).unwrap());
        m.insert(
            "key".to_string(),
            parse("auth: {api_key: {header: x, value: v}}\ntls: {ca_file: /ca.pem}").unwrap(),
        );
        assert_eq!(m["ok"].https_token_url(), Some("https://id/t"));
        assert_eq!(m["plain"].https_token_url(), None);
        let mut p = Vec::new();
        check(&m, &mut |at, msg| p.push(format!("{at}: {msg}")));
        assert_eq!(
            p,
            [
                "connections.key.tls: applies to the token endpoint of \
                 `oauth_client_credentials` only; the targets that use the connection have \
                 `tls` of their own",
                "connections.plain.tls: applies to https:// URLs only, and `token_url` is http://",
            ]
        );
    }
}
