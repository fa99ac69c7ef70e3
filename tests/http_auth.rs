//! `connections:` on the real binary over loopback: `http` targets that
//! send an API key (from a Secret file), Basic credentials (a password from
//! an environment variable) and invocation parameters, and OAuth client
//! credentials against a local token endpoint that counts its requests:
//! one token for many deliveries, a new one after `expires_in`, one
//! refresh after the endpoint answers 401, one token request shared by 20
//! concurrent deliveries, a failing token endpoint (`AUTH_FAILED`, retried)
//! and refused credentials (`NO_PERMISSIONS`, dead-lettered). Secrets never
//! reach the logs, dead letters or `validate` output.

#[path = "support/http_server.rs"]
mod http_server;
mod support;
#[path = "support/tls_server.rs"]
mod tls_server;

use std::path::Path;
use std::time::{Duration, Instant};

use http_server::{Recorded, Reply, Server};
use serde_json::{json, Value};
use support::{sample, Busbar};

/// A busbar with an `http` source `api`, the given `connections:` and
/// rules, a `file` dead letter `dlq` in `dir/dlq.ndjson`, logging at debug.
struct Run {
    busbar: Busbar,
    ingest: String,
}

fn start(dir: &Path, connections: &str, rules: &str, envs: &[(&str, &str)]) -> Run {
    let extra = format!("connections:\n{connections}\nlog: {{level: debug}}");
    let (busbar, ingest) = support::start_ingest(dir, rules, &extra, envs);
    Run { busbar, ingest }
}

impl Run {
    /// POST `n` events (`detail.n` = 0..n) to `/events` in one request.
    fn send(&self, n: usize) {
        let body = (0..n)
            .map(|i| {
                json!({"source": "shop", "detail-type": "Order", "detail": {"n": i}}).to_string()
            })
            .collect::<Vec<_>>()
            .join("\n");
        let (status, resp) =
            support::http(&self.ingest, "POST", "/events", &[], body.as_bytes()).expect("ingest");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&resp));
    }

    fn metric(&self, series: &str) -> Option<f64> {
        sample(&self.busbar.metrics(), series)
    }

    fn wait_metric(&self, series: &str, want: f64, within: Duration) {
        let t = Instant::now();
        loop {
            let m = self.busbar.metrics();
            if sample(&m, series) == Some(want) {
                return;
            }
            if t.elapsed() > within {
                panic!(
                    "{series} never reached {want} within {within:?}:\n{m}\nstderr:\n{}",
                    self.busbar.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn dead_letters(&self, n: usize, within: Duration) -> Vec<Value> {
        let path = self.busbar.dir.join("dlq.ndjson");
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("dead letter is JSON"))
                .collect();
            if lines.len() >= n {
                return lines;
            }
            if t.elapsed() > within {
                panic!(
                    "{} dead letters within {within:?}, wanted {n}: {text}\nstderr:\n{}",
                    lines.len(),
                    self.busbar.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Neither the logs nor the dead letters hold any of `secrets`.
    fn assert_never_shown(&self, secrets: &[&str]) {
        let dlq = std::fs::read_to_string(self.busbar.dir.join("dlq.ndjson")).unwrap_or_default();
        let seen = format!(
            "{}{}{dlq}{}",
            self.busbar.stderr(),
            self.busbar.stdout(),
            self.busbar.metrics()
        );
        for s in secrets {
            assert!(!seen.contains(s), "`{s}` was shown:\n{seen}");
        }
    }
}

fn rule(target_keys: &str) -> String {
    format!(
        r#"
  - name: orders
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, dead_letter: dlq, {target_keys}}}"#
    )
}

/// A token endpoint whose n-th answer is the token `tok-n` with this
/// lifetime, after `delay`.
fn token_endpoint(expires_in: u64, delay: Duration) -> Server {
    Server::start(move |n| {
        Reply::Json(
            200,
            format!(
                r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":{expires_in}}}"#
            ),
            delay,
        )
    })
}

fn oauth_connection(token_url: &str, extra: &str) -> String {
    format!(
        r#"  partner:
    auth:
      oauth_client_credentials:
        token_url: "{token_url}"
        client_id: busbar
        client_secret: {{env: BUSBAR_TEST_CLIENT_SECRET}}
        scope: "orders:write"
        {extra}"#
    )
}

const CLIENT_SECRET: &str = "cl1ent-S3CRET-7f3a9";

fn bearer(r: &Recorded) -> &str {
    r.header("authorization").unwrap_or("")
}

#[test]
fn api_key_from_a_file_basic_from_the_environment_and_invocation_parameters_are_sent() {
    let dir = support::temp_dir("auth-static");
    let key_file = dir.join("api-key");
    // As a mounted Secret written with a trailing newline.
    std::fs::write(&key_file, "K3Y-from-file-51c2\n").unwrap();
    let keyed = Server::start(|_| Reply::Status(200, vec![]));
    let basic = Server::start(|_| Reply::Status(200, vec![]));
    let connections = format!(
        r#"  keyed:
    auth: {{api_key: {{header: x-api-key, value: {{file: "{key}"}}}}}}
    invocation_http_parameters:
      headers: {{x-source: busbar, x-tenant: from-connection}}
      query_string: {{src: bus bar, token: {{env: BUSBAR_TEST_QUERY_SECRET}}}}
      body: {{tenant: t-1}}
  basic:
    auth: {{basic: {{username: u1, password: {{env: BUSBAR_TEST_BASIC_PASSWORD}}}}}}"#,
        key = key_file.display()
    );
    let rules = format!(
        r#"
  - name: orders
    event_pattern: {{"source": ["shop"]}}
    targets:
      - id: keyed
        kind: http
        url: "{keyed}"
        connection: keyed
        headers: {{x-tenant: from-target}}
        dead_letter: dlq
      - {{id: basic, kind: http, url: "{basic}", connection: basic, dead_letter: dlq}}"#,
        keyed = keyed.url("/hook?keep=1&src=target"),
        basic = basic.url("/basic"),
    );
    let run = start(
        &dir,
        &connections,
        &rules,
        &[
            ("BUSBAR_TEST_BASIC_PASSWORD", "pa55-from-env-88e1"),
            ("BUSBAR_TEST_QUERY_SECRET", "q-s3cret"),
        ],
    );
    run.send(2);
    let got = keyed.wait_for(2, Duration::from_secs(10));
    for r in &got {
        assert_eq!(r.header("x-api-key"), Some("K3Y-from-file-51c2"));
        assert_eq!(r.header("x-source"), Some("busbar"));
        // The connection's header wins over the target's.
        assert_eq!(r.header("x-tenant"), Some("from-connection"));
        assert_eq!(r.headers.iter().filter(|(k, _)| k == "x-tenant").count(), 1);
        assert_eq!(r.path, "/hook?keep=1&src=bus+bar&token=q-s3cret");
        let body = r.json();
        assert_eq!(body["tenant"], "t-1");
        assert_eq!(body["source"], "shop");
    }
    let got = basic.wait_for(2, Duration::from_secs(10));
    // base64("u1:pa55-from-env-88e1")
    for r in &got {
        assert_eq!(
            r.header("authorization"),
            Some("Basic dTE6cGE1NS1mcm9tLWVudi04OGUx")
        );
        assert!(r.json().get("tenant").is_none());
    }
    run.wait_metric(
        "busbar_deliveries_total{rule=\"orders\",target=\"basic\"}",
        2.0,
        Duration::from_secs(5),
    );
    run.assert_never_shown(&["K3Y-from-file", "pa55-from-env", "q-s3cret"]);
}

#[test]
fn one_oauth_token_serves_many_deliveries_until_it_expires() {
    let dir = support::temp_dir("auth-oauth-expiry");
    let tokens = token_endpoint(2, Duration::ZERO);
    let hook = Server::start(|_| Reply::Status(200, vec![]));
    let run = start(
        &dir,
        &oauth_connection(&tokens.url("/oauth2/token"), ""),
        &rule(&format!("url: \"{}\", connection: partner", hook.url("/h"))),
        &[("BUSBAR_TEST_CLIENT_SECRET", CLIENT_SECRET)],
    );
    // Readiness did not wait for a token.
    assert_eq!(tokens.count(), 0);
    for _ in 0..3 {
        run.send(4);
    }
    let got = hook.wait_for(12, Duration::from_secs(10));
    assert!(got.iter().all(|r| bearer(r) == "Bearer tok-0"), "{got:#?}");
    assert_eq!(tokens.count(), 1);

    // The token lives 2 s and is replaced 0.2 s before that.
    std::thread::sleep(Duration::from_millis(2000));
    run.send(1);
    let got = hook.wait_for(13, Duration::from_secs(10));
    assert_eq!(bearer(&got[12]), "Bearer tok-1");
    assert_eq!(tokens.count(), 2);

    let t = &tokens.requests()[0];
    assert_eq!(t.method, "POST");
    assert_eq!(t.path, "/oauth2/token");
    assert_eq!(
        t.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8_lossy(&t.body),
        "grant_type=client_credentials&scope=orders%3Awrite"
    );
    // base64("busbar:cl1ent-S3CRET-7f3a9")
    assert_eq!(
        t.header("authorization"),
        Some("Basic YnVzYmFyOmNsMWVudC1TM0NSRVQtN2YzYTk=")
    );
    // Token requests and deliveries alike say who sends them.
    assert_eq!(t.header("user-agent"), Some(USER_AGENT));
    assert!(got
        .iter()
        .all(|r| r.header("user-agent") == Some(USER_AGENT)));
    run.assert_never_shown(&[CLIENT_SECRET, "tok-0", "tok-1"]);
}

const USER_AGENT: &str = concat!("busbar/", env!("CARGO_PKG_VERSION"));

#[test]
fn an_https_token_endpoint_is_trusted_through_the_connection_ca_file() {
    use tls_server::{write, Ca, Options, TlsServer};
    let dir = support::temp_dir("auth-oauth-https");
    let ca = Ca::new("busbar token CA");
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    let tokens = TlsServer::start(
        &ca.server(&["127.0.0.1"]),
        Options {
            answer: Some(r#"{"access_token":"tok-tls","expires_in":3600}"#.into()),
            ..Options::default()
        },
    );
    let hook = Server::start(|_| Reply::Status(200, vec![]));
    let run = start(
        &dir,
        &format!(
            "{}\n    tls: {{ca_file: \"{}\"}}",
            oauth_connection(&tokens.url("/oauth2/token"), ""),
            ca_file.display()
        ),
        &rule(&format!("url: \"{}\", connection: partner", hook.url("/h"))),
        &[("BUSBAR_TEST_CLIENT_SECRET", CLIENT_SECRET)],
    );
    run.send(3);
    let got = hook.wait_for(3, Duration::from_secs(10));
    assert!(
        got.iter().all(|r| bearer(r) == "Bearer tok-tls"),
        "{got:#?}"
    );
    let t = tokens.requests();
    assert_eq!(t.len(), 1, "one token for the three deliveries");
    assert_eq!(t[0].header("user-agent"), Some(USER_AGENT));
    assert_eq!(
        t[0].header("authorization"),
        Some("Basic YnVzYmFyOmNsMWVudC1TM0NSRVQtN2YzYTk=")
    );
    run.assert_never_shown(&[CLIENT_SECRET, "tok-tls"]);
}

#[test]
fn an_https_token_endpoint_outside_the_trusted_roots_fails_the_delivery() {
    use tls_server::{Ca, Options, TlsServer};
    let dir = support::temp_dir("auth-oauth-https-untrusted");
    // No `tls:`: the platform's roots, which do not hold this CA.
    let ca = Ca::new("busbar unknown CA");
    let tokens = TlsServer::start(
        &ca.server(&["127.0.0.1"]),
        Options {
            answer: Some(r#"{"access_token":"tok-tls","expires_in":3600}"#.into()),
            ..Options::default()
        },
    );
    let hook = Server::start(|_| Reply::Status(200, vec![]));
    let run = start(
        &dir,
        &oauth_connection(&tokens.url("/t"), ""),
        &rule(&format!(
            "url: \"{}\", connection: partner, retry: {{maximum_retry_attempts: 0}}",
            hook.url("/h")
        )),
        &[("BUSBAR_TEST_CLIENT_SECRET", CLIENT_SECRET)],
    );
    run.send(1);
    let dl = run.dead_letters(1, Duration::from_secs(30));
    assert_eq!(dl[0]["error_code"], "AUTH_FAILED", "{}", dl[0]);
    let why = dl[0]["error_message"].as_str().unwrap();
    assert!(
        why.contains("certificate") || why.contains("UnknownIssuer"),
        "{why}"
    );
    assert_eq!(hook.count(), 0);
    assert!(
        tokens.requests().is_empty(),
        "no request over an untrusted connection"
    );
}

#[test]
fn a_token_the_endpoint_refuses_is_replaced_once_and_the_delivery_succeeds() {
    let dir = support::temp_dir("auth-oauth-401");
    let tokens = token_endpoint(3600, Duration::ZERO);
    // The first request is refused as if its token had been revoked.
    let hook = Server::start(|n| match n {
        0 => Reply::Status(401, vec![]),
        _ => Reply::Status(200, vec![]),
    });
    let run = start(
        &dir,
        &oauth_connection(&tokens.url("/token"), ""),
        // No retries: the second request is the refresh, not the policy.
        &rule(&format!(
            "url: \"{}\", connection: partner, retry: {{maximum_retry_attempts: 0}}",
            hook.url("/h")
        )),
        &[("BUSBAR_TEST_CLIENT_SECRET", CLIENT_SECRET)],
    );
    run.send(1);
    run.wait_metric(
        "busbar_deliveries_total{rule=\"orders\",target=\"hook\"}",
        1.0,
        Duration::from_secs(10),
    );
    let got = hook.requests();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(bearer(&got[0]), "Bearer tok-0");
    assert_eq!(bearer(&got[1]), "Bearer tok-1");
    assert_eq!(tokens.count(), 2);
    // Later deliveries use the new token without fetching again.
    run.send(3);
    let got = hook.wait_for(5, Duration::from_secs(10));
    assert!(got[2..].iter().all(|r| bearer(r) == "Bearer tok-1"));
    assert_eq!(tokens.count(), 2);
    let dlq = std::fs::read_to_string(dir.join("dlq.ndjson")).unwrap_or_default();
    assert_eq!(dlq, "");
}

#[test]
fn twenty_concurrent_deliveries_share_one_token_request() {
    let dir = support::temp_dir("auth-oauth-shared");
    let tokens = token_endpoint(3600, Duration::from_millis(500));
    let hook = Server::start(|_| Reply::Delay(Duration::from_millis(200)));
    let run = start(
        &dir,
        &oauth_connection(&tokens.url("/token"), ""),
        &rule(&format!(
            "url: \"{}\", connection: partner, max_concurrency: 32",
            hook.url("/h")
        )),
        &[("BUSBAR_TEST_CLIENT_SECRET", CLIENT_SECRET)],
    );
    run.send(20);
    let got = hook.wait_for(20, Duration::from_secs(10));
    assert_eq!(tokens.count(), 1);
    assert!(got.iter().all(|r| bearer(r) == "Bearer tok-0"));
    // They waited for the token together, then went out together.
    assert!(hook.peak_concurrency() >= 10, "{}", hook.peak_concurrency());
}

#[test]
fn a_failing_token_endpoint_is_retried_and_counts_as_auth_failed() {
    let dir = support::temp_dir("auth-oauth-down");
    // Three failures: one delivery attempt's worth.
    let tokens = Server::start(|n| match n {
        0..=2 => Reply::Status(503, vec![]),
        n => Reply::Json(
            200,
            format!(r#"{{"access_token":"tok-{n}","expires_in":3600}}"#),
            Duration::ZERO,
        ),
    });
    let hook = Server::start(|_| Reply::Status(200, vec![]));
    let run = start(
        &dir,
        &oauth_connection(&tokens.url("/token"), ""),
        &rule(&format!("url: \"{}\", connection: partner", hook.url("/h"))),
        &[("BUSBAR_TEST_CLIENT_SECRET", CLIENT_SECRET)],
    );
    run.send(1);
    run.wait_metric(
        "busbar_deliveries_total{rule=\"orders\",target=\"hook\"}",
        1.0,
        Duration::from_secs(15),
    );
    assert_eq!(
        run.metric(
            "busbar_delivery_failures_total{reason=\"AUTH_FAILED\",rule=\"orders\",target=\"hook\"}"
        ),
        Some(1.0)
    );
    assert_eq!(tokens.count(), 4);
    let got = hook.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(bearer(&got[0]), "Bearer tok-3");
}

#[test]
fn refused_client_credentials_dead_letter_with_no_permissions() {
    let dir = support::temp_dir("auth-oauth-refused");
    let tokens =
        Server::start(|_| Reply::Json(401, r#"{"error":"invalid_client"}"#.into(), Duration::ZERO));
    let hook = Server::start(|_| Reply::Status(200, vec![]));
    let run = start(
        &dir,
        &oauth_connection(&tokens.url("/token"), ""),
        &rule(&format!("url: \"{}\", connection: partner", hook.url("/h"))),
        &[("BUSBAR_TEST_CLIENT_SECRET", "wrong-S3CRET-b4d")],
    );
    run.send(2);
    let dl = run.dead_letters(2, Duration::from_secs(10));
    for d in &dl {
        assert_eq!(d["error_code"], "NO_PERMISSIONS", "{d}");
        let m = d["error_message"].as_str().unwrap_or("");
        assert!(
            m.contains("connection `partner`")
                && m.contains("refused the client credentials")
                && m.contains("HTTP 401 (invalid_client)"),
            "{d}"
        );
    }
    // Not retried: at most one token request per delivery, none sent on.
    assert!((1..=2).contains(&tokens.count()), "{}", tokens.count());
    assert_eq!(hook.count(), 0);
    assert_eq!(
        run.metric(
            "busbar_dead_letters_total{reason=\"NO_PERMISSIONS\",rule=\"orders\",stage=\"target\",target=\"hook\"}"
        ),
        Some(2.0)
    );
    run.assert_never_shown(&["wrong-S3CRET-b4d"]);
}

#[test]
fn validate_names_missing_secrets_and_never_prints_a_secret_value() {
    let dir = support::temp_dir("auth-validate");
    let bad_header = dir.join("bad-header");
    std::fs::write(&bad_header, "line1-DISTINCT-9\nline2\n").unwrap();
    let missing = dir.join("no-such-secret");
    let config = |connections: &str, target_connection: &str| {
        format!(
            r#"
sources: [{{id: in, kind: stdin}}]
connections:
{connections}
rules:
  - name: r
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: hook, kind: http, url: "http://127.0.0.1:9/h", connection: {target_connection}}}
"#
        )
    };
    let bad = config(
        &format!(
            r#"  keyed:
    auth: {{api_key: {{header: x-api-key, value: "plain-DISTINCT-1"}}}}
    invocation_http_parameters:
      headers: {{x-bad: {{file: "{bad}"}}}}
      query_string: {{k: "plain-DISTINCT-2"}}
  basic:
    auth: {{basic: {{username: u, password: {{file: "{missing}"}}}}}}
  oauth:
    auth:
      oauth_client_credentials:
        token_url: "http://127.0.0.1:9/token"
        client_id: busbar
        client_secret: {{env: BUSBAR_TEST_SURELY_UNSET_SECRET}}
        http_method: DELETE
        timeout_seconds: 0"#,
            bad = bad_header.display(),
            missing = missing.display()
        ),
        "nowhere",
    );
    let path = dir.join("bad.yaml");
    std::fs::write(&path, bad).unwrap();
    let out = support::busbar(&["validate", "--config", path.to_str().unwrap()], b"");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(78), "{all}");
    for want in [
        format!(
            "`connections.basic.auth.basic.password`: cannot read the secret file `{}`",
            missing.display()
        ),
        "`connections.oauth.auth.oauth_client_credentials.client_secret`: the environment variable `BUSBAR_TEST_SURELY_UNSET_SECRET` is not set".into(),
        "`connections.keyed.invocation_http_parameters.headers.x-bad`: is not a valid HTTP header value".into(),
        "`connections.oauth.auth.oauth_client_credentials.http_method`: `DELETE`: expected GET, POST or PUT".into(),
        "`connections.oauth.auth.oauth_client_credentials.timeout_seconds`: 0 is not a number of seconds in 0.001-60".into(),
        "`rules[0] (r).targets[0] (hook).connection`: `nowhere` is not defined under `connections`".into(),
    ] {
        assert!(all.contains(&want), "missing {want:?} in:\n{all}");
    }
    assert!(!all.contains("DISTINCT"), "a secret was printed:\n{all}");

    // A good file: `ok`, and still no secret in the output.
    let good = config(
        r#"  keyed:
    auth: {api_key: {header: x-api-key, value: "plain-DISTINCT-1"}}"#,
        "keyed",
    );
    std::fs::write(&path, good).unwrap();
    let out = support::busbar(&["validate", "--config", path.to_str().unwrap()], b"");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("DISTINCT"), "{all}");
}

#[test]
fn a_rotated_secret_file_is_read_again_on_reload() {
    let dir = support::temp_dir("auth-rotate");
    let key_file = dir.join("api-key");
    std::fs::write(&key_file, "first-key\n").unwrap();
    let hook = Server::start(|_| Reply::Status(200, vec![]));
    let run = start(
        &dir,
        &format!(
            "  keyed:\n    auth: {{api_key: {{header: x-api-key, value: {{file: \"{}\"}}}}}}",
            key_file.display()
        ),
        &rule(&format!("url: \"{}\", connection: keyed", hook.url("/h"))),
        &[],
    );
    run.send(1);
    let got = hook.wait_for(1, Duration::from_secs(10));
    assert_eq!(got[0].header("x-api-key"), Some("first-key"));
    // Kubernetes swaps the mounted file; SIGHUP reloads.
    std::fs::write(&key_file, "second-key\n").unwrap();
    run.busbar.signal("HUP");
    run.wait_metric(
        "busbar_config_reloads_total{result=\"ok\"}",
        1.0,
        Duration::from_secs(10),
    );
    run.send(1);
    let got = hook.wait_for(2, Duration::from_secs(10));
    assert_eq!(got[1].header("x-api-key"), Some("second-key"));
}
