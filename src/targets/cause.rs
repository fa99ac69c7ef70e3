//! What went wrong with a request or a connection, said so that a person
//! can act on it: `connection refused to 127.0.0.1:9000`, not hyper's
//! `client error (Connect)`.
//!
//! hyper-util's client error says only which phase failed; the reason is
//! further down its source chain (hyper-util's connect error, then the
//! `io::Error` of the socket, or hyper's own error for a connection that
//! broke mid-request). This walks that chain. The same text is logged and
//! becomes the dead letter's `ERROR_MESSAGE`.

use std::error::Error;
use std::io;

/// The message of a failed HTTP request to `authority` (`host:port`).
pub fn describe(e: &(dyn Error + 'static), authority: &str) -> String {
    let chain = chain(e);
    if let Some(io) = innermost_io(e) {
        let said = match io.kind() {
            io::ErrorKind::ConnectionRefused => Some(format!("connection refused to {authority}")),
            io::ErrorKind::TimedOut => Some(format!("connection to {authority} timed out")),
            io::ErrorKind::ConnectionReset => Some(format!("connection reset by {authority}")),
            io::ErrorKind::ConnectionAborted => Some(format!("connection to {authority} aborted")),
            io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => {
                Some(format!("{authority} is unreachable: {}", plain(io)))
            }
            io::ErrorKind::AddrNotAvailable => {
                Some(format!("cannot connect to {authority}: {}", plain(io)))
            }
            _ => None,
        };
        if let Some(s) = said {
            return s;
        }
    }
    // Resolution failures and everything else: each distinct level of the
    // chain after hyper-util's phase name, innermost last.
    let rest: Vec<&str> = chain
        .iter()
        .skip(usize::from(chain.len() > 1))
        .map(String::as_str)
        .collect();
    let what = if is_dns(&chain) {
        format!("cannot resolve the host of {authority}")
    } else {
        format!("request to {authority} failed")
    };
    if rest.is_empty() {
        what
    } else {
        format!("{what}: {}", rest.join(": "))
    }
}

/// Each level's message, without repeats (hyper-util often prints its
/// source's text inside its own).
fn chain(e: &(dyn Error + 'static)) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = match err.downcast_ref::<io::Error>() {
            Some(io) => plain(io),
            None => err.to_string(),
        };
        if !text.is_empty() && !out.iter().any(|o| o.contains(&text)) {
            out.push(text);
        }
        cur = err.source();
    }
    out
}

fn innermost_io<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a io::Error> {
    let mut found = None;
    let mut cur: Option<&(dyn Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            found = Some(io);
        }
        cur = err.source();
    }
    found
}

fn is_dns(chain: &[String]) -> bool {
    chain
        .iter()
        .any(|m| m.starts_with("dns error") || m.contains("failed to lookup address information"))
}

/// An `io::Error`'s text without ` (os error N)`: the number helps nobody
/// reading a log line.
fn plain(e: &io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(at) if s.ends_with(')') => s[..at].to_string(),
        _ => s,
    }
}

/// `host:port` of a request's URI (the port only where it has one), never
/// the credentials an authority may carry.
pub fn host_port(u: &hyper::Uri) -> String {
    match (u.host(), u.port_u16()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => "the target".to_string(),
    }
}

/// A URL as logs may show it: scheme, host, port and path, without the
/// credentials or query a configured URL may carry.
pub fn redacted_url(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(u) => {
            let host = u.host().unwrap_or("");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{host}{port}{}",
                u.scheme_str().unwrap_or("http"),
                u.path()
            )
        }
        Err(_) => url.split(['?', '#']).next().unwrap_or(url).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Wrap {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl Error for Wrap {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.1)
        }
    }

    #[test]
    fn a_refused_connection_names_the_address() {
        let io = io::Error::from_raw_os_error(111);
        let e = Wrap(
            "client error (Connect)",
            Box::new(Wrap("tcp connect error", Box::new(io))),
        );
        assert_eq!(
            describe(&e, "127.0.0.1:9000"),
            "connection refused to 127.0.0.1:9000"
        );
    }

    #[test]
    fn other_failures_keep_each_level_of_the_chain() {
        let e = Wrap(
            "client error (SendRequest)",
            Box::new(io::Error::other(
                "connection closed before message completed",
            )),
        );
        assert_eq!(
            describe(&e, "h:80"),
            "request to h:80 failed: connection closed before message completed"
        );
        let dns = Wrap(
            "client error (Connect)",
            Box::new(Wrap(
                "dns error",
                Box::new(io::Error::other(
                    "failed to lookup address information: Name or service not known",
                )),
            )),
        );
        assert_eq!(
            describe(&dns, "nowhere.invalid:80"),
            "cannot resolve the host of nowhere.invalid:80: dns error: failed to lookup \
             address information: Name or service not known"
        );
    }

    #[test]
    fn urls_lose_credentials_and_queries() {
        assert_eq!(
            redacted_url("https://user:secret@example.com:8443/hook?token=x"),
            "https://example.com:8443/hook"
        );
        assert_eq!(
            redacted_url("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000/"
        );
    }
}
