//! `busbar run` delivering to `https://` targets over real loopback TLS: a
//! CA and certificates made at test time, servers that offer HTTP/2 or not
//! and may require a client certificate (tests/support/tls_server.rs), and
//! the tests check what arrived, what was dead-lettered with `TLS_ERROR`
//! and that nothing was retried; plus `busbar validate` on broken `tls:`
//! files and a reload that picks up a replaced CA file.

mod support;
#[path = "support/tls_server.rs"]
mod tls_server;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{sample, Busbar};
use tls_server::{write, Ca, Options, TlsServer};

const USER_AGENT: &str = concat!("busbar/", env!("CARGO_PKG_VERSION"));

struct Run {
    busbar: Busbar,
    ingest: String,
}

/// A busbar with an `http` source, the given rules (YAML list items,
/// indented by two spaces) and a `file` dead letter `dlq`.
fn start(dir: &Path, rules: &str) -> Run {
    let (busbar, ingest) = support::start_ingest(dir, rules, "", &[]);
    Run { busbar, ingest }
}

impl Run {
    fn send(&self, id: &str) {
        let line = json!({"id": id, "source": "shop", "detail-type": "Order", "detail": {"n": 1}});
        let (status, resp) = support::http(
            &self.ingest,
            "POST",
            "/events",
            &[],
            line.to_string().as_bytes(),
        )
        .expect("ingest");
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

    /// Wait for `n` dead-letter lines.
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
}

/// One rule per target, each matching every event from `shop`, so a sent
/// event reaches every target once.
fn rule(name: &str, target: &str) -> String {
    format!(
        "  - name: {name}\n    event_pattern: {{\"source\": [\"shop\"]}}\n    targets:\n{target}"
    )
}

const ID1: &str = "9a1c0d52-0d2e-4a53-9f6f-3c1b1f0e0001";
const ID2: &str = "9a1c0d52-0d2e-4a53-9f6f-3c1b1f0e0002";

#[test]
fn https_targets_trust_their_ca_file_keep_connections_and_negotiate_http2() {
    let dir = support::temp_dir("https-ok");
    let ca = Ca::new("busbar test CA");
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    let leaf = ca.server(&["127.0.0.1"]);
    let h1 = TlsServer::start(&leaf, Options::default());
    let h2 = TlsServer::start(
        &leaf,
        Options {
            h2: true,
            ..Options::default()
        },
    );
    let rules = [
        rule(
            "to-h1",
            &format!(
                "      - {{id: h1, kind: http, url: \"{}\", tls: {{ca_file: \"{}\"}}}}\n",
                h1.url("/hook"),
                ca_file.display()
            ),
        ),
        rule(
            "to-h2",
            &format!(
                "      - {{id: h2, kind: http, url: \"{}\", tls: {{ca_file: \"{}\"}}, \
                 headers: {{User-Agent: shop-hooks/2}}}}\n",
                h2.url("/hook"),
                ca_file.display()
            ),
        ),
    ]
    .join("");
    let run = start(&dir, &rules);
    run.send(ID1);
    run.wait_metric(
        "busbar_deliveries_total{rule=\"to-h1\",target=\"h1\"}",
        1.0,
        Duration::from_secs(10),
    );
    run.send(ID2);
    let got = h1.wait_for(2, Duration::from_secs(10));
    for r in &got {
        assert_eq!(r.version, "HTTP/1.1");
        assert_eq!(r.header("user-agent"), Some(USER_AGENT));
        let body: Value = serde_json::from_slice(&r.body).expect("JSON body");
        assert_eq!(body["source"], "shop");
    }
    // Keep-alive: the second delivery reused the first one's connection.
    assert_eq!((h1.connections(), h1.handshakes()), (1, 1));

    let got = h2.wait_for(2, Duration::from_secs(10));
    for r in &got {
        assert_eq!(r.version, "HTTP/2.0", "ALPN offered h2");
        // The target's own User-Agent header wins over busbar's.
        assert_eq!(r.header("user-agent"), Some("shop-hooks/2"));
    }
    assert_eq!(
        h2.connections(),
        1,
        "both requests on one HTTP/2 connection"
    );
    let dl = std::fs::read_to_string(dir.join("dlq.ndjson")).unwrap_or_default();
    assert_eq!(dl, "", "nothing dead-lettered");
}

#[test]
fn certificate_problems_are_dead_lettered_as_tls_errors_without_retries() {
    let dir = support::temp_dir("https-bad");
    let ca = Ca::new("busbar test CA");
    let ca_file = write(&dir, "ca.pem", &ca.pem());
    let client = ca.client("busbar");
    let cert_file = write(&dir, "client.pem", &client.cert_pem);
    let key_file = write(&dir, "client.key", &client.key_pem);
    let ip = ca.server(&["127.0.0.1"]);
    let named = ca.server(&["hook.internal"]);
    let mtls = || Options {
        client_ca: Some(ca.pem()),
        ..Options::default()
    };
    // Each failing case on its own server, so its connections can be
    // counted: a handshake that fails must not be tried again.
    let unknown_issuer = TlsServer::start(&ip, Options::default());
    let wrong_name = TlsServer::start(&named, Options::default());
    let expired = TlsServer::start(&ca.expired_server(&["127.0.0.1"]), Options::default());
    // TLS 1.2: see `Options::tls12` (with 1.3, one run in several saw a
    // reset on the first attempt and retried once).
    let no_client_cert = TlsServer::start(
        &ip,
        Options {
            tls12: true,
            ..mtls()
        },
    );
    // And the same setups, fixed.
    let renamed = TlsServer::start(&named, Options::default());
    let with_client_cert = TlsServer::start(&ip, mtls());

    let ca_tls = format!("ca_file: \"{}\"", ca_file.display());
    let targets = [
        ("unknown-issuer", unknown_issuer.url("/"), String::new()),
        ("wrong-name", wrong_name.url("/"), ca_tls.clone()),
        ("expired", expired.url("/"), ca_tls.clone()),
        ("no-client-cert", no_client_cert.url("/"), ca_tls.clone()),
        (
            "renamed",
            renamed.url("/"),
            format!("{ca_tls}, server_name: hook.internal"),
        ),
        (
            "client-cert",
            with_client_cert.url("/"),
            format!(
                "{ca_tls}, client_cert_file: \"{}\", client_key_file: \"{}\"",
                cert_file.display(),
                key_file.display()
            ),
        ),
    ];
    let rules: String = targets
        .iter()
        .map(|(id, url, tls)| {
            let tls = if tls.is_empty() {
                String::new()
            } else {
                format!(", tls: {{{tls}}}")
            };
            rule(
                &format!("to-{id}"),
                &format!(
                    "      - {{id: {id}, kind: http, url: \"{url}\"{tls}, dead_letter: dlq, \
                     retry: {{maximum_retry_attempts: 5}}}}\n"
                ),
            )
        })
        .collect();
    let run = start(&dir, &rules);
    run.send(ID1);

    let mut dl = run.dead_letters(4, Duration::from_secs(15));
    renamed.wait_for(1, Duration::from_secs(10));
    let seen = with_client_cert.wait_for(1, Duration::from_secs(10));
    assert_eq!(seen[0].header("user-agent"), Some(USER_AGENT));
    // Time for a retry to show, were there one.
    std::thread::sleep(Duration::from_millis(700));
    let dl_after = run.dead_letters(4, Duration::from_secs(1));
    assert_eq!(dl_after.len(), 4, "{dl_after:#?}");

    dl.sort_by_key(|d| d["target"].as_str().unwrap_or_default().to_string());
    let by: Vec<&str> = dl.iter().map(|d| d["target"].as_str().unwrap()).collect();
    assert_eq!(
        by,
        ["expired", "no-client-cert", "unknown-issuer", "wrong-name"]
    );
    let want_in_message = [
        ("expired", "xpired"),
        ("no-client-cert", "CertificateRequired"),
        ("unknown-issuer", "UnknownIssuer"),
        ("wrong-name", "not valid for name"),
    ];
    for (d, (id, text)) in dl.iter().zip(want_in_message) {
        assert_eq!(d["error_code"], "TLS_ERROR", "{d:#}");
        let message = d["error_message"].as_str().unwrap_or_default();
        assert!(message.contains(text), "{id}: {message:?} lacks {text:?}");
        assert!(message.starts_with("TLS with 127.0.0.1:"), "{message}");
        assert_eq!(d["exhausted_retry_condition"], Value::Null, "{d:#}");
        assert_eq!(d["retry_attempts"], 0, "{d:#}");
        assert_eq!(d["event_id"], ID1);
        assert_eq!(
            run.metric(&format!(
                "busbar_delivery_failures_total{{reason=\"TLS_ERROR\",rule=\"to-{id}\",target=\"{id}\"}}"
            )),
            Some(1.0),
            "{id}"
        );
    }
    for (name, server) in [
        ("unknown-issuer", &unknown_issuer),
        ("wrong-name", &wrong_name),
        ("expired", &expired),
        ("no-client-cert", &no_client_cert),
    ] {
        assert_eq!(server.connections(), 1, "{name}: tried once, not retried");
        assert!(server.requests().is_empty(), "{name}");
    }
    // The client-certificate failure shows on the server's side too: the
    // handshake never completed there.
    assert_eq!(no_client_cert.handshakes(), 0);
    assert_eq!(with_client_cert.handshakes(), 1);
}

#[test]
fn a_replaced_ca_file_is_read_again_on_reload() {
    let dir = support::temp_dir("https-reload");
    let old = Ca::new("old CA");
    let new = Ca::new("new CA");
    let ca_file = write(&dir, "ca.pem", &old.pem());
    let server = TlsServer::start(&new.server(&["127.0.0.1"]), Options::default());
    let rules = rule(
        "to-hook",
        &format!(
            "      - {{id: hook, kind: http, url: \"{}\", tls: {{ca_file: \"{}\"}}, \
             dead_letter: dlq}}\n",
            server.url("/"),
            ca_file.display()
        ),
    );
    let run = start(&dir, &rules);
    run.send(ID1);
    let dl = run.dead_letters(1, Duration::from_secs(10));
    assert_eq!(dl[0]["error_code"], "TLS_ERROR");

    // Same configuration, new file contents: the reload builds a new client.
    write(&dir, "ca.pem", &new.pem());
    run.busbar.signal("HUP");
    run.wait_metric(
        "busbar_config_reloads_total{result=\"ok\"}",
        1.0,
        Duration::from_secs(10),
    );
    run.send(ID2);
    run.wait_metric(
        "busbar_deliveries_total{rule=\"to-hook\",target=\"hook\"}",
        1.0,
        Duration::from_secs(10),
    );
    assert_eq!(server.requests().len(), 1);
    assert_eq!(run.dead_letters(1, Duration::from_secs(1)).len(), 1);
}

#[test]
fn validate_names_the_tls_key_and_the_file_at_fault() {
    let dir = support::temp_dir("https-validate");
    let ca = Ca::new("busbar test CA");
    let client = ca.client("busbar");
    let good_ca = write(&dir, "ca.pem", &ca.pem());
    let cert = write(&dir, "client.pem", &client.cert_pem);
    let not_pem = write(&dir, "notes.txt", "this is not a certificate\n");
    let missing = dir.join("missing.pem");
    let config = format!(
        r#"
sources: [{{id: in, kind: stdin}}]
rules:
  - name: r
    event_pattern: {{"source": ["shop"]}}
    targets:
      - {{id: missing, kind: http, url: "https://127.0.0.1:1/", tls: {{ca_file: "{missing}"}}}}
      - {{id: not-pem, kind: http, url: "https://127.0.0.1:1/", tls: {{ca_file: "{not_pem}"}}}}
      - {{id: half, kind: http, url: "https://127.0.0.1:1/", tls: {{ca_file: "{good_ca}", client_cert_file: "{cert}"}}}}
      - {{id: key-not-pem, kind: http, url: "https://127.0.0.1:1/", tls: {{client_cert_file: "{cert}", client_key_file: "{not_pem}"}}}}
      - {{id: plain, kind: http, url: "http://127.0.0.1:1/", tls: {{ca_file: "{good_ca}"}}}}
"#,
        missing = missing.display(),
        not_pem = not_pem.display(),
        good_ca = good_ca.display(),
        cert = cert.display(),
    );
    let path = write(&dir, "busbar.yaml", &config);
    let out = support::busbar(&["validate", "--config", path.to_str().unwrap()], b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{err}");
    let at = "rules[0] (r).targets";
    for want in [
        format!(
            "config: `{at}[0] (missing).tls.ca_file`: cannot read `{}`",
            missing.display()
        ),
        format!(
            "config: `{at}[1] (not-pem).tls.ca_file`: `{}` holds no PEM certificate",
            not_pem.display()
        ),
        format!(
            "config: `{at}[2] (half).tls.client_key_file`: is missing: `client_cert_file` \
             needs the key that goes with it"
        ),
        format!(
            "config: `{at}[3] (key-not-pem).tls.client_key_file`: `{}` holds no PEM private key",
            not_pem.display()
        ),
        format!("config: `{at}[4] (plain).tls`: applies to https:// URLs only"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }

    // Fixed, the same targets pass.
    let key = write(&dir, "client.key", &client.key_pem);
    let fixed = config
        .replace(
            &missing.display().to_string(),
            &good_ca.display().to_string(),
        )
        .replace(
            &format!("ca_file: \"{}\"", not_pem.display()),
            &format!("ca_file: \"{}\"", good_ca.display()),
        )
        .replace(
            &format!("client_cert_file: \"{}\"}}", cert.display()),
            &format!(
                "client_cert_file: \"{}\", client_key_file: \"{}\"}}",
                cert.display(),
                key.display()
            ),
        )
        .replace(
            &format!("client_key_file: \"{}\"", not_pem.display()),
            &format!("client_key_file: \"{}\"", key.display()),
        )
        .replace(
            "url: \"http://127.0.0.1:1/\"",
            "url: \"https://127.0.0.1:1/\"",
        );
    let path = write(&dir, "fixed.yaml", &fixed);
    let out = support::busbar(&["validate", "--config", path.to_str().unwrap()], b"");
    assert!(
        out.status.success(),
        "{}\n{fixed}",
        String::from_utf8_lossy(&out.stderr)
    );
}
