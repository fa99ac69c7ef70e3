//! HTTPS over loopback for the end-to-end tests of `https://` targets: a
//! certificate authority and certificates made at test time (rcgen), and a
//! TLS server (rustls, hyper) that offers HTTP/1.1 or also HTTP/2 by ALPN,
//! may require a client certificate, and counts what reached it: TCP
//! connections, completed handshakes, and requests with their HTTP version
//! and headers. Included with
//! `#[path = "support/tls_server.rs"] mod tls_server;`.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

#[allow(
    deprecated,
    reason = "the ring provider busbar uses, on the server side too"
)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A test certificate authority.
pub struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, as PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server certificate for `names` that expired in 2020.
    pub fn expired_server(&self, names: &[&str]) -> Leaf {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth, true)
    }

    /// A client certificate (mTLS).
    pub fn client(&self, name: &str) -> Leaf {
        self.leaf(&[name], ExtendedKeyUsagePurpose::ClientAuth, false)
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose, expired: bool) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        params.extended_key_usages = vec![usage];
        if expired {
            params.not_before = rcgen::date_time_ymd(2019, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Write `text` to `dir/name`; returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("PEM file written");
    p
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    connections: AtomicUsize,
    handshakes: AtomicUsize,
    requests: Mutex<Vec<Seen>>,
    answer: Option<String>,
}

pub struct TlsServer {
    pub addr: SocketAddr,
    state: Arc<State>,
}

/// How a [`TlsServer`] is set up.
#[derive(Default)]
pub struct Options {
    /// Offer `h2` before `http/1.1` by ALPN.
    pub h2: bool,
    /// Require a client certificate issued by this CA (PEM).
    pub client_ca: Option<String>,
    /// Answer every request with this JSON body (a token endpoint)
    /// instead of an empty one.
    pub answer: Option<String>,
    /// Speak TLS 1.2 only. A TLS 1.3 server judges the client's
    /// certificate after the client has finished its handshake, so a
    /// client without one may see its request's write fail (the server
    /// has closed) before it reads the server's alert; with TLS 1.2 the
    /// refusal is part of the handshake, on every attempt.
    pub tls12: bool,
}

impl TlsServer {
    /// Serve HTTPS with `leaf` on a free loopback port; every request is
    /// answered 200.
    pub fn start(leaf: &Leaf, opts: Options) -> TlsServer {
        let chain = vec![CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).expect("cert")];
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key");
        let versions: &[&rustls::SupportedProtocolVersion] = if opts.tls12 {
            &[&rustls::version::TLS12]
        } else {
            rustls::DEFAULT_VERSIONS
        };
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .expect("TLS versions");
        let builder = match &opts.client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                    roots.add(c.expect("CA PEM")).expect("CA root");
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .expect("client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).expect("server config");
        config.alpn_protocols = if opts.h2 {
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        } else {
            vec![b"http/1.1".to_vec()]
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("TLS server binds");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            answer: opts.answer.clone(),
            ..State::default()
        });
        let st = state.clone();
        // Lives as long as the test binary: tests are short.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    st.connections.fetch_add(1, Ordering::SeqCst);
                    let (acceptor, st) = (acceptor.clone(), st.clone());
                    tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        st.handshakes.fetch_add(1, Ordering::SeqCst);
                        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                        let io = TokioIo::new(tls);
                        let svc = hyper::service::service_fn(move |req| record(req, st.clone()));
                        if h2 {
                            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, svc)
                                .await;
                        } else {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, svc)
                                .await;
                        }
                    });
                }
            });
        });
        TlsServer { addr, state }
    }

    /// `https://ADDR/PATH` (the address is an IP: certificates name
    /// `127.0.0.1` or, for name checks, a name given as `server_name`).
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// TCP connections accepted (a failed handshake counts too).
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    pub fn handshakes(&self) -> usize {
        self.state.handshakes.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.requests.lock().expect("requests").clone()
    }

    /// Wait until at least `n` requests arrived; panics after `within`.
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Seen> {
        let t = Instant::now();
        loop {
            let r = self.requests();
            if r.len() >= n {
                return r;
            }
            if t.elapsed() > within {
                panic!("{} requests within {within:?}, wanted {n}: {r:#?}", r.len());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until at least `n` connections were accepted.
    pub fn wait_connections(&self, n: usize, within: Duration) {
        let t = Instant::now();
        while self.connections() < n {
            if t.elapsed() > within {
                panic!(
                    "{} connections within {within:?}, wanted {n}",
                    self.connections()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

async fn record(
    req: Request<hyper::body::Incoming>,
    st: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let version = format!("{:?}", req.version());
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    st.requests.lock().expect("requests").push(Seen {
        version,
        headers,
        body,
    });
    let mut resp = Response::new(Full::new(Bytes::from(
        st.answer.clone().unwrap_or_default(),
    )));
    if st.answer.is_some() {
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
    }
    Ok(resp)
}
