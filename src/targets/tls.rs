//! TLS for `https://` targets: the files of a target's `tls:` keys read
//! into a rustls client configuration, and the test that tells a delivery
//! failure caused by TLS from any other connection failure.
//!
//! The files (`ca_file`, `client_cert_file`, `client_key_file`) and the
//! platform's root store are read when a configuration is compiled, so
//! `busbar validate` reports a missing or broken file under the key that
//! names it, and a reload reads them again. Each [`Tls`] carries a
//! fingerprint of everything that went into it: a reload that finds a
//! renewed certificate behind an unchanged configuration starts the target
//! with a new client rather than reusing the old one.
//!
//! Trust: without `ca_file`, the platform's root store (the distribution's
//! bundle, or what `SSL_CERT_FILE` / `SSL_CERT_DIR` point at); with it,
//! only the CAs in that file. Replacing rather than adding is the narrower
//! trust: a target that talks to a service behind a private CA should not
//! also accept any certificate a public CA issued for that name. There is
//! no switch to skip verification.

use std::collections::hash_map::DefaultHasher;
use std::error::Error as StdError;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

use crate::config::TlsConfig;

/// What an `https://` target's client is built with.
#[derive(Clone)]
pub struct Tls {
    config: ClientConfig,
    server_name: Option<ServerName<'static>>,
    fingerprint: u64,
}

impl Tls {
    /// The rustls configuration, without ALPN (the connector sets it).
    pub fn client_config(&self) -> ClientConfig {
        self.config.clone()
    }

    /// `tls.server_name`: SNI and the name the certificate must carry,
    /// instead of the URL's host.
    pub fn server_name(&self) -> Option<&ServerName<'static>> {
        self.server_name.as_ref()
    }

    /// A hash of every byte and setting the client was built from: equal
    /// fingerprints mean an equal client, so a running target task may be
    /// reused.
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .field("fingerprint", &format_args!("{:016x}", self.fingerprint))
            .finish()
    }
}

/// A `tls:` setting that could not be loaded: `key` is where (`tls.ca_file`,
/// or `url` for the platform's store), `message` names the file and what is
/// wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsProblem {
    pub key: &'static str,
    pub message: String,
}

impl fmt::Display for TlsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

/// The platform's roots and their fingerprint, or why there are none.
type Platform = Result<(Arc<RootCertStore>, u64), String>;

/// Loads the `tls:` settings of the targets of one configuration, reading
/// the platform's root store at most once for all of them.
#[derive(Default)]
pub struct Loader {
    platform: Option<Platform>,
}

impl Loader {
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Read the files of `tls` (absent: no `tls:` key) and build the client
    /// configuration of an `https://` target. Every problem is reported,
    /// not only the first.
    pub fn load(&mut self, tls: Option<&TlsConfig>) -> Result<Tls, Vec<TlsProblem>> {
        let empty = TlsConfig::default();
        let tls = tls.unwrap_or(&empty);
        let mut problems = Vec::new();
        let mut h = DefaultHasher::new();

        let roots = match &tls.ca_file {
            Some(path) => ca_roots(path, &mut h),
            None => self.platform().map(|(roots, fp)| {
                fp.hash(&mut h);
                roots
            }),
        };
        let roots = roots.map_err(|p| problems.push(p)).ok();

        let client = match (&tls.client_cert_file, &tls.client_key_file) {
            (Some(cert), Some(key)) => {
                let chain = read_pem_file("tls.client_cert_file", cert, &mut h)
                    .and_then(|b| certificates("tls.client_cert_file", cert, &b));
                let key_der = read_pem_file("tls.client_key_file", key, &mut h)
                    .and_then(|b| private_key(key, &b));
                match (chain, key_der) {
                    (Ok(c), Ok(k)) => Some((c, k, key)),
                    (c, k) => {
                        problems.extend(c.err());
                        problems.extend(k.err());
                        None
                    }
                }
            }
            // One without the other is a problem `Config::check` reports.
            _ => None,
        };

        let server_name = tls.server_name.as_deref().and_then(|name| {
            name.hash(&mut h);
            let bare = name
                .strip_prefix('[')
                .and_then(|n| n.strip_suffix(']'))
                .unwrap_or(name);
            match ServerName::try_from(bare.to_owned()) {
                Ok(n) => Some(n),
                Err(_) => {
                    problems.push(TlsProblem {
                        key: "tls.server_name",
                        message: format!("`{name}` is not a DNS name or an IP address"),
                    });
                    None
                }
            }
        });

        let Some(roots) = roots.filter(|_| problems.is_empty()) else {
            return Err(problems);
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| {
                vec![TlsProblem {
                    key: "tls",
                    message: format!("the TLS library refused its own defaults: {e}"),
                }]
            })?
            .with_root_certificates(roots);
        let config = match client {
            Some((chain, key_der, key_path)) => {
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    vec![TlsProblem {
                        key: "tls.client_key_file",
                        message: format!(
                            "`{}` is not a usable key for `tls.client_cert_file`: {e}",
                            key_path.display()
                        ),
                    }]
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Tls {
            config,
            server_name,
            fingerprint: h.finish(),
        })
    }

    /// The platform's roots and their fingerprint, read on first use.
    fn platform(&mut self) -> Result<(Arc<RootCertStore>, u64), TlsProblem> {
        self.platform
            .get_or_insert_with(platform_roots)
            .clone()
            .map_err(|message| TlsProblem {
                key: "url",
                message,
            })
    }
}

/// rustls with the `ring` provider, named rather than taken from the
/// process default, so that another crate turning on rustls's aws-lc-rs
/// feature cannot leave the choice ambiguous.
#[allow(
    deprecated,
    reason = "rustls 0.23.48 deprecates its ring provider for lacking post-quantum key \
              exchange (X25519MLKEM768); Cargo.toml says why busbar keeps it for now"
)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration of a plain `http://` target: the connector
/// type wants one, and it is never used (the URL's scheme does not change).
pub fn unused_for_http() -> Result<ClientConfig, String> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(RootCertStore::empty())
                .with_no_client_auth()
        })
        .map_err(|e| format!("the TLS library refused its own defaults: {e}"))
}

/// The platform's store as rustls-native-certs finds it. Certificates it
/// cannot parse are skipped (distribution bundles carry a few that webpki
/// rejects); a store with none left is an error, since every handshake
/// would fail with an unknown issuer.
fn platform_roots() -> Result<(Arc<RootCertStore>, u64), String> {
    let found = rustls_native_certs::load_native_certs();
    let mut h = DefaultHasher::new();
    for c in &found.certs {
        c.as_ref().hash(&mut h);
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        return Err(format!(
            "this machine has no trusted root certificates for https{}: install the \
             ca-certificates package, point SSL_CERT_FILE at a PEM bundle, or give the \
             target `tls.ca_file`",
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({why})")
            }
        ));
    }
    Ok((Arc::new(roots), h.finish()))
}

/// `tls.ca_file`: every certificate in it becomes a trust anchor.
fn ca_roots(path: &Path, h: &mut DefaultHasher) -> Result<Arc<RootCertStore>, TlsProblem> {
    const KEY: &str = "tls.ca_file";
    let bytes = read_pem_file(KEY, path, h)?;
    let mut roots = RootCertStore::empty();
    for (i, c) in certificates(KEY, path, &bytes)?.into_iter().enumerate() {
        roots.add(c).map_err(|e| TlsProblem {
            key: KEY,
            message: format!(
                "`{}`: certificate {} is not usable as a CA: {e}",
                path.display(),
                i + 1
            ),
        })?;
    }
    Ok(Arc::new(roots))
}

/// The whole file, hashed into the fingerprint.
fn read_pem_file(
    key: &'static str,
    path: &Path,
    h: &mut DefaultHasher,
) -> Result<Vec<u8>, TlsProblem> {
    let bytes = std::fs::read(path).map_err(|e| TlsProblem {
        key,
        message: format!("cannot read `{}`: {e}", path.display()),
    })?;
    bytes.hash(h);
    Ok(bytes)
}

/// Every `CERTIFICATE` block of a PEM file; at least one.
fn certificates(
    key: &'static str,
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsProblem> {
    let problem = |message: String| TlsProblem { key, message };
    let certs = CertificateDer::pem_slice_iter(bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| problem(format!("`{}` is not valid PEM: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(problem(format!(
            "`{}` holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)",
            path.display()
        )));
    }
    Ok(certs)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
fn private_key(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsProblem> {
    PrivateKeyDer::from_pem_slice(bytes).map_err(|e| TlsProblem {
        key: "tls.client_key_file",
        message: match e {
            rustls::pki_types::pem::Error::NoItemsFound => format!(
                "`{}` holds no PEM private key (no -----BEGIN PRIVATE KEY-----, \
                 RSA PRIVATE KEY or EC PRIVATE KEY block)",
                path.display()
            ),
            e => format!("`{}` is not valid PEM: {e}", path.display()),
        },
    })
}

/// The rustls error behind a failed request, if TLS is what failed: a
/// certificate the server or busbar rejected, an alert, a handshake that
/// could not agree. hyper-util's client error wraps the connector's error,
/// which wraps an `io::Error` around tokio-rustls's `io::Error` around the
/// `rustls::Error`; `io::Error::source` skips the error it wraps, so each
/// `io::Error` is opened with `get_ref` instead.
pub fn cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a rustls::Error> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => e.source(),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair};

    fn self_signed_pem(name: &str) -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec![name.to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("busbar-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    #[test]
    fn the_fingerprint_follows_the_file_contents_not_the_file_name() {
        let d = temp("fingerprint");
        let ca = d.join("ca.pem");
        let cfg = TlsConfig {
            ca_file: Some(ca.clone()),
            ..TlsConfig::default()
        };
        std::fs::write(&ca, self_signed_pem("a.test").0).expect("write");
        let first = Loader::new().load(Some(&cfg)).expect("loads").fingerprint();
        let again = Loader::new().load(Some(&cfg)).expect("loads").fingerprint();
        assert_eq!(first, again, "same bytes, same client");
        std::fs::write(&ca, self_signed_pem("a.test").0).expect("write");
        let renewed = Loader::new().load(Some(&cfg)).expect("loads").fingerprint();
        assert_ne!(first, renewed, "a renewed certificate is a change");
        let renamed = TlsConfig {
            server_name: Some("b.test".into()),
            ..cfg
        };
        let other = Loader::new().load(Some(&renamed)).expect("loads");
        assert_ne!(other.fingerprint(), renewed);
        assert!(other.server_name().is_some());
    }

    #[test]
    fn every_broken_file_is_reported_under_its_key() {
        let d = temp("broken");
        let junk = d.join("junk.txt");
        std::fs::write(&junk, "not PEM").expect("write");
        let (cert, _) = self_signed_pem("client.test");
        let (_, other_key) = self_signed_pem("other.test");
        let cert_file = d.join("client.pem");
        let key_file = d.join("other.key");
        std::fs::write(&cert_file, cert).expect("write");
        std::fs::write(&key_file, other_key).expect("write");

        let problems = Loader::new()
            .load(Some(&TlsConfig {
                ca_file: Some(d.join("absent.pem")),
                client_cert_file: Some(junk.clone()),
                client_key_file: Some(junk.clone()),
                server_name: Some("not a name".into()),
            }))
            .expect_err("broken");
        let keys: Vec<&str> = problems.iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "tls.ca_file",
                "tls.client_cert_file",
                "tls.client_key_file",
                "tls.server_name"
            ],
            "{problems:#?}"
        );
        assert!(problems[0].message.contains("absent.pem"));
        assert!(problems[1].message.contains("holds no PEM certificate"));
        assert!(problems[2].message.contains("holds no PEM private key"));

        // A key that is not the certificate's is named with both keys.
        let mismatch = Loader::new()
            .load(Some(&TlsConfig {
                client_cert_file: Some(cert_file),
                client_key_file: Some(key_file),
                ..TlsConfig::default()
            }))
            .expect_err("mismatched key");
        assert_eq!(mismatch.len(), 1, "{mismatch:#?}");
        assert_eq!(mismatch[0].key, "tls.client_key_file");
        assert!(
            mismatch[0]
                .message
                .contains("is not a usable key for `tls.client_cert_file`"),
            "{}",
            mismatch[0].message
        );
    }

    #[test]
    fn the_rustls_error_is_found_inside_nested_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        // As tokio-rustls and hyper-rustls wrap it.
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, tls);
        let outer = std::io::Error::other(inner);
        let found = cause(&outer).expect("found");
        assert!(found.to_string().contains("UnknownIssuer"), "{found}");
        let plain = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(cause(&plain).is_none());
    }
}
