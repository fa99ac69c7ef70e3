//! Connections at run time (EventBridge's `Connection` resource): the
//! authorization header and the invocation parameters an `http` target adds
//! to each request, and the OAuth client-credentials token they share.
//!
//! One [`Connection`] serves every target that names it, so its OAuth
//! token is fetched once for all of them. The token is cached until
//! shortly before `expires_in` ([`refresh_margin`]); deliveries that find
//! it stale share one request to the token endpoint (the others wait for
//! its outcome instead of sending their own); an endpoint that answers 401
//! or 407 (as EventBridge does) makes the token stale, and the `http`
//! target sends that request once more with a fresh one. Nothing here runs
//! before the first delivery, so readiness never waits for a token
//! endpoint.
//!
//! The token endpoint is called as RFC 6749 §4.4 describes and as
//! EventBridge does: the client id and secret in a Basic `Authorization`
//! header, `grant_type=client_credentials` (and `scope`, and the
//! connection's `oauth_http_parameters.body`) form-encoded in the body (in
//! the query string for GET). A token endpoint that fails (no answer,
//! 408/429/5xx, an answer without a token) is tried [`TOKEN_ATTEMPTS`]
//! times with a doubling pause; after that the delivery fails with the
//! retryable `AUTH_FAILED` and the target's retry policy takes over. Any
//! other 4xx means the credentials are wrong: `NO_PERMISSIONS`, not
//! retried.
//!
//! No value read from a secret, nor the token, ever goes into an error
//! message or a log line.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT,
};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::Connect;
use serde::Deserialize;

use super::retry::DeliveryErrorCode;
use super::AttemptError;
use crate::config::connection::{AuthConfig, ConnectionConfig, HttpParameters, OAuthConfig};
use crate::config::{Secret, SecretValue};

/// Token requests per delivery before it fails with `AUTH_FAILED`.
pub const TOKEN_ATTEMPTS: u32 = 3;
/// The pause after the first failed token request; it doubles.
const TOKEN_BACKOFF: Duration = Duration::from_millis(100);
/// The largest token endpoint answer read.
const MAX_TOKEN_ANSWER: usize = 64 << 10;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A token endpoint's answer.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// What sends the token request: the client the `http` targets use, so
/// that the token endpoint is reached the way the targets are (implemented
/// for every hyper-util client, whatever its connector).
pub trait Transport: Send + Sync {
    fn send(&self, req: Request<Full<Bytes>>) -> BoxFuture<'_, Result<Answer, String>>;
}

impl<C> Transport for hyper_util::client::legacy::Client<C, Full<Bytes>>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    fn send(&self, req: Request<Full<Bytes>>) -> BoxFuture<'_, Result<Answer, String>> {
        Box::pin(async move {
            let resp = self.request(req).await.map_err(|e| error_chain(&e))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_TOKEN_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok(Answer { status, body })
        })
    }
}

/// An error with its sources: hyper-util's own says only "client error".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        next = cause.source();
    }
    s
}

/// A connection, built from its configuration with the secrets resolved.
pub struct Connection {
    name: Arc<str>,
    auth: Auth,
    /// `invocation_http_parameters.headers`.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// `invocation_http_parameters.query_string`: the names, and the pairs
    /// form-encoded.
    query_keys: Vec<String>,
    query: String,
    /// `invocation_http_parameters.body`.
    body: Vec<(String, Secret)>,
}

enum Auth {
    /// API key and Basic: one header that never changes.
    Header(HeaderName, HeaderValue),
    OAuth(Box<OAuth>),
}

fn secret<'a>(s: &'a SecretValue, what: &str) -> Result<&'a Secret, String> {
    s.value().ok_or_else(|| format!("{what} was not read"))
}

/// A header value that HPACK never indexes and `Debug` hides.
fn sensitive(v: &str, what: &str) -> Result<HeaderValue, String> {
    let mut h =
        HeaderValue::from_str(v).map_err(|_| format!("{what} is not a valid HTTP header value"))?;
    h.set_sensitive(true);
    Ok(h)
}

fn basic(user: &str, password: &Secret) -> Result<HeaderValue, String> {
    let pair = format!("{user}:{}", password.expose());
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    sensitive(&format!("Basic {encoded}"), "the Basic credentials")
}

fn headers(p: &HttpParameters, at: &str) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    p.headers
        .iter()
        .map(|(k, v)| {
            let what = format!("{at}.headers.{k}");
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("{what} is not a valid HTTP header name"))?;
            Ok((name, sensitive(secret(v, &what)?.expose(), &what)?))
        })
        .collect()
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        f.append_pair(k, v);
    }
    f.finish()
}

impl Connection {
    pub fn new(
        name: &str,
        c: &ConnectionConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Connection, String> {
        let inner = || -> Result<Connection, String> {
            let auth = match &c.auth {
                AuthConfig::ApiKey { header, value } => Auth::Header(
                    HeaderName::from_bytes(header.as_bytes())
                        .map_err(|_| format!("`{header}` is not a valid HTTP header name"))?,
                    sensitive(secret(value, "the API key")?.expose(), "the API key")?,
                ),
                AuthConfig::Basic { username, password } => Auth::Header(
                    AUTHORIZATION,
                    basic(username, secret(password, "the password")?)?,
                ),
                AuthConfig::OauthClientCredentials(o) => {
                    Auth::OAuth(Box::new(OAuth::new(o, transport)?))
                }
            };
            let p = &c.invocation_http_parameters;
            let query = p
                .query_string
                .iter()
                .map(|(k, v)| Ok((k.as_str(), secret(v, "a query string parameter")?.expose())))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Connection {
                name: Arc::from(name),
                auth,
                headers: headers(p, "invocation_http_parameters")?,
                query_keys: p.query_string.keys().cloned().collect(),
                query: form(&query),
                body: p
                    .body
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), secret(v, "a body parameter")?.clone())))
                    .collect::<Result<_, String>>()?,
            })
        };
        inner().map_err(|e| format!("connection `{name}`: {e}"))
    }

    /// What the next request carries: for OAuth, a fresh token (fetched
    /// if the cached one is stale).
    pub async fn authorize(self: &Arc<Self>) -> Result<Authorized, AttemptError> {
        let (header, token) = match &self.auth {
            Auth::Header(name, value) => (Some((name.clone(), value.clone())), None),
            Auth::OAuth(o) => {
                let t = o.token(&self.name).await?;
                (Some((AUTHORIZATION, t.header)), Some(t.id))
            }
        };
        Ok(Authorized {
            conn: self.clone(),
            header,
            token,
            status: AtomicU16::new(0),
        })
    }

    /// After a request: whether the endpoint refused its OAuth token (401
    /// or 407). The token is then dropped, once however many requests it
    /// was refused for, so that the next [`authorize`](Self::authorize)
    /// fetches a new one.
    pub fn refused(&self, a: &Authorized) -> bool {
        let (Auth::OAuth(o), Some(id)) = (&self.auth, a.token) else {
            return false;
        };
        if !matches!(a.status.load(Ordering::Acquire), 401 | 407) {
            return false;
        }
        let mut c = o.lock();
        if c.token.as_ref().is_some_and(|t| t.id == id) {
            c.token = None;
        }
        tracing::debug!(connection = %self.name, "the endpoint refused the OAuth token; fetching a new one");
        true
    }
}

/// One request's authorization and invocation parameters.
pub struct Authorized {
    conn: Arc<Connection>,
    header: Option<(HeaderName, HeaderValue)>,
    /// The OAuth token's id in its cache.
    token: Option<u64>,
    /// The endpoint's status, for [`Connection::refused`].
    status: AtomicU16,
}

impl Authorized {
    /// The URL with the connection's query string, and the body with its
    /// body parameters: both win over what the target has under the same
    /// name (EventBridge: "the parameters added for the connection take
    /// precedence").
    pub fn shape(&self, uri: &Uri, body: Bytes) -> Result<(Uri, Bytes), AttemptError> {
        let c = &self.conn;
        let uri = if c.query.is_empty() {
            uri.clone()
        } else {
            with_query(uri, &c.query_keys, &c.query).map_err(|e| AttemptError {
                code: DeliveryErrorCode::ClientError,
                message: format!("connection `{}`: the query string: {e}", c.name),
                retry_after: None,
            })?
        };
        let body = if c.body.is_empty() {
            body
        } else {
            with_body_parameters(&body, &c.body).ok_or_else(|| AttemptError {
                code: DeliveryErrorCode::ClientError,
                message: format!(
                    "connection `{}` adds body parameters, which need a JSON object body; \
                     this delivery's body is not one",
                    c.name
                ),
                retry_after: None,
            })?
        };
        Ok((uri, body))
    }

    /// Set the auth header and the connection's headers, replacing the
    /// target's own of the same name.
    pub fn headers(&self, h: &mut HeaderMap) {
        for (k, v) in self.header.iter().chain(&self.conn.headers) {
            h.insert(k.clone(), v.clone());
        }
    }

    /// The endpoint's status for this request.
    pub fn answered(&self, status: u16) {
        self.status.store(status, Ordering::Release);
    }
}

/// `uri` with `query` (form-encoded pairs named `keys`) appended, and the
/// pairs of its own query with those names left out. The rest of its own
/// query is kept byte for byte.
fn with_query(uri: &Uri, keys: &[String], query: &str) -> Result<Uri, String> {
    let mut pq = uri.path().to_string();
    pq.push('?');
    for piece in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let raw_key = piece.split('=').next().unwrap_or("");
        let key = form_urlencoded::parse(raw_key.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default();
        if !keys.contains(&key) {
            pq.push_str(piece);
            pq.push('&');
        }
    }
    pq.push_str(query);
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(pq.parse().map_err(|e| format!("{e}"))?);
    Uri::from_parts(parts).map_err(|e| format!("{e}"))
}

/// A JSON object body with `params` as string members; members of the
/// same name are replaced, the others keep their order and their exact
/// text (numbers beyond f64 included). `None`: the body is not a JSON
/// object.
fn with_body_parameters(body: &[u8], params: &[(String, Secret)]) -> Option<Bytes> {
    struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);
    impl<'de> Deserialize<'de> for Members {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Members;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Members, A::Error> {
                    let mut v = Vec::new();
                    while let Some(entry) = m.next_entry()? {
                        v.push(entry);
                    }
                    Ok(Members(v))
                }
            }
            d.deserialize_map(V)
        }
    }
    let Members(members) = serde_json::from_slice(body).ok()?;
    let mut out = Vec::with_capacity(body.len() + 64 * params.len());
    out.push(b'{');
    let kept = members
        .iter()
        .filter(|(k, _)| !params.iter().any(|(p, _)| p == k));
    for (i, (k, v)) in kept.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, k).ok()?;
        out.push(b':');
        out.extend_from_slice(v.get().as_bytes());
    }
    for (k, v) in params {
        if out.len() > 1 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, k).ok()?;
        out.push(b':');
        serde_json::to_writer(&mut out, v.expose()).ok()?;
    }
    out.push(b'}');
    Some(out.into())
}

/// How long before its `expires_in` a token is replaced: 30 s, or a tenth
/// of its lifetime when that is less (a 60 s token would otherwise be
/// fetched again after 30 s; a 2 s one at once).
pub fn refresh_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(Duration::from_secs(30))
}

#[derive(Clone)]
struct Token {
    header: HeaderValue,
    /// Which fetch it came from, so that a 401 drops only the token it was
    /// answered to.
    id: u64,
    /// None: no `expires_in`; used until the endpoint refuses it.
    fresh_until: Option<Instant>,
}

impl Token {
    fn fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_none_or(|t| now < t)
    }
}

struct FailedFetch {
    code: DeliveryErrorCode,
    message: String,
}

#[derive(Default)]
struct Cache {
    token: Option<Token>,
    /// Fetches ended so far.
    fetches: u64,
    /// How the last fetch failed, for those that waited for it.
    failure: Option<FailedFetch>,
}

struct OAuth {
    /// `token_url` with the query string (and, for GET, the form).
    url: Uri,
    method: Method,
    /// Basic client credentials, `Accept` and `oauth_http_parameters.headers`.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// The form, for POST and PUT.
    form: Option<Bytes>,
    timeout: Duration,
    transport: Arc<dyn Transport>,
    cache: Mutex<Cache>,
    /// Held by the one delivery that fetches a token.
    fetching: tokio::sync::Mutex<()>,
}

enum Fetch {
    /// Worth trying again.
    Failed(String),
    /// The endpoint refused the credentials (4xx).
    Refused(String),
}

impl OAuth {
    fn new(o: &OAuthConfig, transport: Arc<dyn Transport>) -> Result<OAuth, String> {
        let p = &o.oauth_http_parameters;
        let at = "oauth_http_parameters";
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if !p.body.contains_key("grant_type") {
            pairs.push(("grant_type", "client_credentials"));
        }
        if let Some(scope) = &o.scope {
            pairs.push(("scope", scope));
        }
        for (k, v) in &p.body {
            pairs.push((k, secret(v, &format!("{at}.body.{k}"))?.expose()));
        }
        let method = Method::from_bytes(o.http_method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", o.http_method))?;
        let mut query: Vec<(&str, &str)> = Vec::new();
        for (k, v) in &p.query_string {
            query.push((k, secret(v, &format!("{at}.query_string.{k}"))?.expose()));
        }
        let form_in_query = method == Method::GET;
        if form_in_query {
            query.append(&mut pairs);
        }
        let base: Uri = o
            .token_url
            .parse()
            .map_err(|_| format!("`{}` is not a URL", o.token_url))?;
        let url = if query.is_empty() {
            base
        } else {
            let keys: Vec<String> = query.iter().map(|(k, _)| k.to_string()).collect();
            with_query(&base, &keys, &form(&query))?
        };
        let mut headers = vec![
            (
                AUTHORIZATION,
                basic(&o.client_id, secret(&o.client_secret, "the client secret")?)?,
            ),
            (ACCEPT, HeaderValue::from_static("application/json")),
        ];
        headers.extend(self::headers(p, at)?);
        if !headers.iter().any(|(k, _)| *k == USER_AGENT) {
            headers.push((USER_AGENT, HeaderValue::from_static(super::USER_AGENT)));
        }
        Ok(OAuth {
            url,
            method,
            headers,
            form: (!form_in_query).then(|| Bytes::from(form(&pairs))),
            timeout: Duration::from_secs_f64(o.timeout_seconds),
            transport,
            cache: Mutex::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The cache holds no invariant a panic could break halfway.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh token: the cached one, the outcome of a fetch that ended
    /// while this call waited for its turn, or a fetch of its own.
    async fn token(&self, connection: &str) -> Result<Token, AttemptError> {
        let seen = {
            let c = self.lock();
            if let Some(t) = c.token.as_ref().filter(|t| t.fresh(Instant::now())) {
                return Ok(t.clone());
            }
            c.fetches
        };
        let _turn = self.fetching.lock().await;
        {
            let c = self.lock();
            if let Some(t) = c.token.as_ref().filter(|t| t.fresh(Instant::now())) {
                return Ok(t.clone());
            }
            if c.fetches != seen {
                if let Some(f) = &c.failure {
                    return Err(AttemptError {
                        code: f.code,
                        message: f.message.clone(),
                        retry_after: None,
                    });
                }
            }
        }
        let outcome = self.fetch(connection).await;
        let mut c = self.lock();
        c.fetches += 1;
        match outcome {
            Ok(mut t) => {
                t.id = c.fetches;
                c.token = Some(t.clone());
                c.failure = None;
                Ok(t)
            }
            Err(e) => {
                c.token = None;
                c.failure = Some(FailedFetch {
                    code: e.code,
                    message: e.message.clone(),
                });
                Err(e)
            }
        }
    }

    /// Up to [`TOKEN_ATTEMPTS`] token requests.
    async fn fetch(&self, connection: &str) -> Result<Token, AttemptError> {
        let mut pause = TOKEN_BACKOFF;
        let mut last = String::new();
        for n in 1..=TOKEN_ATTEMPTS {
            match self.request().await {
                Ok(t) => {
                    tracing::debug!(connection, "fetched an OAuth token");
                    return Ok(t);
                }
                Err(Fetch::Refused(why)) => {
                    tracing::warn!(connection, error = %why, "the token endpoint refused the client credentials");
                    return Err(AttemptError {
                        code: DeliveryErrorCode::NoPermissions,
                        message: format!(
                            "connection `{connection}`: the OAuth token endpoint refused the \
                             client credentials: {why}"
                        ),
                        retry_after: None,
                    });
                }
                Err(Fetch::Failed(why)) => last = why,
            }
            if n < TOKEN_ATTEMPTS {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        tracing::warn!(connection, error = %last, attempts = TOKEN_ATTEMPTS, "no OAuth token");
        Err(AttemptError {
            code: DeliveryErrorCode::AuthFailed,
            message: format!(
                "connection `{connection}`: no OAuth token after {TOKEN_ATTEMPTS} requests: {last}"
            ),
            retry_after: None,
        })
    }

    async fn request(&self) -> Result<Token, Fetch> {
        let mut req = Request::builder()
            .method(self.method.clone())
            .uri(self.url.clone());
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        let body = match &self.form {
            Some(f) => {
                req = req.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
                f.clone()
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| Fetch::Failed(format!("cannot build the request: {e}")))?;
        let started = Instant::now();
        let answer = match tokio::time::timeout(self.timeout, self.transport.send(req)).await {
            Err(_) => {
                return Err(Fetch::Failed(format!(
                    "no answer within {:?}",
                    self.timeout
                )))
            }
            Ok(Err(e)) => return Err(Fetch::Failed(e)),
            Ok(Ok(a)) => a,
        };
        match answer.status {
            200..=299 => parse_token(&answer.body, started).map_err(Fetch::Failed),
            s @ (408 | 429 | 500..=599) => Err(Fetch::Failed(format!(
                "HTTP {s}{}",
                oauth_error(&answer.body)
            ))),
            s => Err(Fetch::Refused(format!(
                "HTTP {s}{}",
                oauth_error(&answer.body)
            ))),
        }
    }
}

/// The RFC 6749 §5.1 answer. The token is never quoted in an error.
fn parse_token(body: &[u8], requested: Instant) -> Result<Token, String> {
    #[derive(Deserialize)]
    struct Answer {
        access_token: String,
        #[serde(default)]
        expires_in: Option<serde_json::Value>,
    }
    let a: Answer = serde_json::from_slice(body)
        .map_err(|_| "the answer is not a JSON object with an `access_token` string".to_string())?;
    let lifetime = match &a.expires_in {
        None | Some(serde_json::Value::Null) => None,
        // Some endpoints send it as a string.
        Some(v) => Some(
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(Duration::from_secs)
                .ok_or_else(|| "`expires_in` is not a whole number of seconds".to_string())?,
        ),
    };
    Ok(Token {
        header: sensitive(&format!("Bearer {}", a.access_token), "the access token")?,
        id: 0,
        fresh_until: lifetime.map(|l| requested + l - refresh_margin(l)),
    })
}

/// ` (invalid_client)`: the RFC 6749 §5.2 error code of an answer, which is
/// a short ASCII word; nothing else of the answer is quoted.
fn oauth_error(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct E {
        error: String,
    }
    match serde_json::from_slice::<E>(body) {
        Ok(e)
            if e.error.len() <= 64
                && e.error
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
        {
            format!(" ({})", e.error)
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(pairs: &[(&str, &str)]) -> Vec<(String, Secret)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Secret::new(*v)))
            .collect()
    }

    #[test]
    fn body_parameters_join_a_json_object_and_win_over_its_members() {
        let body = br#"{"b": 12345678901234567890123, "a": {"x": [1]}, "tenant": "old"}"#;
        let out = with_body_parameters(body, &secrets(&[("tenant", "t-1"), ("k", "v\"")]))
            .expect("an object");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#"{"b":12345678901234567890123,"a":{"x": [1]},"tenant":"t-1","k":"v\""}"#
        );
        assert_eq!(
            &with_body_parameters(b" {} ", &secrets(&[("k", "v")])).unwrap()[..],
            br#"{"k":"v"}"#
        );
        for not_object in [&b"[1]"[..], b"\"s\"", b"plain text", b"{\"a\":"] {
            assert!(with_body_parameters(not_object, &secrets(&[("k", "v")])).is_none());
        }
    }

    #[test]
    fn query_parameters_are_appended_and_replace_their_namesakes() {
        let keys = vec!["api key".to_string(), "t".to_string()];
        let q = form(&[("api key", "a&b"), ("t", "1")]);
        let u: Uri = "http://h:1/p/x?keep=%20x&t=old&t2=y".parse().unwrap();
        assert_eq!(
            with_query(&u, &keys, &q).unwrap().to_string(),
            "http://h:1/p/x?keep=%20x&t2=y&api+key=a%26b&t=1"
        );
        let u: Uri = "http://h/".parse().unwrap();
        assert_eq!(
            with_query(&u, &keys, &q).unwrap().to_string(),
            "http://h/?api+key=a%26b&t=1"
        );
    }

    #[test]
    fn the_refresh_margin_is_30_s_or_a_tenth_of_the_lifetime() {
        assert_eq!(
            refresh_margin(Duration::from_secs(3600)),
            Duration::from_secs(30)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(60)),
            Duration::from_secs(6)
        );
        assert_eq!(
            refresh_margin(Duration::from_secs(2)),
            Duration::from_millis(200)
        );
    }

    #[test]
    fn a_token_answer_is_parsed_and_errors_never_quote_it() {
        let now = Instant::now();
        let t = parse_token(br#"{"access_token":"tok","expires_in":"100"}"#, now).unwrap();
        assert_eq!(t.fresh_until, Some(now + Duration::from_secs(90)));
        assert_eq!(t.header.to_str().unwrap(), "Bearer tok");
        assert!(t.header.is_sensitive());
        let t = parse_token(br#"{"access_token":"tok","token_type":"bearer"}"#, now).unwrap();
        assert_eq!(t.fresh_until, None);
        let e = parse_token(br#"{"access_token":"tok-secret","expires_in":-1}"#, now)
            .err()
            .unwrap();
        assert!(!e.contains("tok-secret"), "{e}");
        assert_eq!(
            oauth_error(br#"{"error":"invalid_client"}"#),
            " (invalid_client)"
        );
        assert_eq!(oauth_error(br#"{"error":"has space"}"#), "");
    }
}
