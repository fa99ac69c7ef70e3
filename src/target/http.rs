//! `http` targets: one request per event (EventBridge API destinations),
//! with configurable headers, a per-target rate limit, a 5 s default
//! timeout, and retries on 429, 5xx, timeouts and connection failures that
//! honour `Retry-After`. Other statuses are not retried (§4.3.3).
//!
//! Deliveries of a target go one at a time, in lane order: a target that
//! is slow slows its lane down (and through the in-flight budget, the
//! source) rather than reordering events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use prometheus::Histogram;
use tokio::sync::mpsc;

use super::retry::{parse_retry_after, DeliveryErrorCode, RateLimiter};
use super::{with_retry, AttemptError, TargetBatch, TargetInfo};

pub type Client = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

pub fn client() -> Client {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

pub struct Settings {
    pub url: String,
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub rate_limit_per_second: Option<f64>,
    pub timeout: Duration,
}

struct Prepared {
    uri: Uri,
    method: Method,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Duration,
}

pub fn spawn(
    s: Settings,
    client: Client,
    mut rx: mpsc::UnboundedReceiver<TargetBatch>,
    info: Arc<TargetInfo>,
    latency: Histogram,
) -> Result<(), String> {
    let bad = |what: &str| format!("target `{}`: {what}", info.id);
    let uri: Uri = s.url.parse().map_err(|e| bad(&format!("url: {e}")))?;
    let method =
        Method::from_bytes(s.method.as_bytes()).map_err(|e| bad(&format!("method: {e}")))?;
    let mut headers = Vec::new();
    let mut has_type = false;
    for (k, v) in &s.headers {
        let name =
            HeaderName::from_bytes(k.as_bytes()).map_err(|e| bad(&format!("header {k}: {e}")))?;
        let value = HeaderValue::from_str(v).map_err(|e| bad(&format!("header {k}: {e}")))?;
        has_type |= name == CONTENT_TYPE;
        headers.push((name, value));
    }
    if !has_type {
        headers.push((
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        ));
    }
    let mut limiter = match s.rate_limit_per_second {
        Some(r) => Some(RateLimiter::new(r, r.ceil().max(1.0) as u32).map_err(|e| bad(&e))?),
        None => None,
    };
    let p = Arc::new(Prepared {
        uri,
        method,
        headers,
        timeout: s.timeout,
    });
    tokio::spawn(async move {
        while let Some(tb) = rx.recv().await {
            for d in &tb.items {
                let body = Bytes::copy_from_slice(tb.payload(d));
                let accepted = tb.routed.batch.accepted_at;
                let result = with_retry(&info, accepted, || {
                    let wait = limiter.as_mut().map(|l| l.delay(Instant::now()));
                    let p = p.clone();
                    let client = client.clone();
                    let body = body.clone();
                    async move {
                        if let Some(w) = wait.filter(|w| !w.is_zero()) {
                            tokio::time::sleep(w).await;
                        }
                        attempt(&client, &p, body).await
                    }
                })
                .await;
                match result {
                    Ok(_) => {
                        latency.observe(accepted.elapsed().as_secs_f64());
                        info.deliveries.inc();
                        tb.event(d).done();
                    }
                    Err(f) => info.give_up(tb.event(d), f),
                }
            }
        }
    });
    Ok(())
}

async fn attempt(client: &Client, p: &Prepared, body: Bytes) -> Result<(), AttemptError> {
    let mut req = Request::builder()
        .method(p.method.clone())
        .uri(p.uri.clone());
    for (k, v) in &p.headers {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(body)).map_err(|e| AttemptError {
        code: DeliveryErrorCode::ClientError,
        message: format!("cannot build the request: {e}"),
        retry_after: None,
    })?;
    let resp = match tokio::time::timeout(p.timeout, client.request(req)).await {
        Err(_) => {
            return Err(AttemptError {
                code: DeliveryErrorCode::Timeout,
                message: format!("no response within {:?}", p.timeout),
                retry_after: None,
            })
        }
        Ok(Err(e)) => {
            return Err(AttemptError {
                code: DeliveryErrorCode::ConnectionFailure,
                message: format!("request failed: {e}"),
                retry_after: None,
            })
        }
        Ok(Ok(r)) => r,
    };
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| parse_retry_after(v.as_bytes(), SystemTime::now()));
    // Read the body so the connection can be reused (bounded by the timeout).
    let _ = tokio::time::timeout(p.timeout, resp.into_body().collect()).await;
    match DeliveryErrorCode::from_http_status(status) {
        None => Ok(()),
        Some(code) => Err(AttemptError {
            code,
            message: format!("HTTP {status}"),
            retry_after,
        }),
    }
}
