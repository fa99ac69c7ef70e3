//! librdkafka's log and error callbacks, deduplicated into one line per
//! change of the broker connection's state.
//!
//! With no broker reachable, librdkafka reports each failed connection
//! attempt twice (a `FAIL` log line and an error callback), adds "all
//! brokers are down", and retries every few hundred milliseconds; busbar's
//! consumer added a line of its own for each. A bridge whose broker was
//! down wrote about 4,300 lines a minute. Each client now owns a
//! [`BrokerLog`]: the first failure is logged at `warn`, a failure of
//! another kind (refused, then unresolvable, then an authentication error)
//! is logged as the change it is, the same failure again is at most one
//! `warn` a minute that says how many were left out, and the first sign of
//! a working connection (a delivery, a fetched record, an assignment) logs
//! one line that the brokers are back. Everything suppressed is still at
//! `debug`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;

use crate::throttle::{Say, Throttle};

/// How often a failure that goes on is logged again.
const REMIND: Duration = Duration::from_secs(60);

/// The broker-connection log of one client.
#[derive(Debug)]
pub struct BrokerLog {
    /// How lines name the client: `kafka producer`, `kafka source in`.
    who: String,
    /// The kind of the failure being reported, while there is one.
    kind: Mutex<Option<String>>,
    throttle: Throttle,
}

impl BrokerLog {
    pub fn new(who: impl Into<String>) -> Self {
        BrokerLog {
            who: who.into(),
            kind: Mutex::new(None),
            throttle: Throttle::new(REMIND),
        }
    }

    /// A failure of `kind` (an error code, or librdkafka's facility) with
    /// librdkafka's own words.
    pub fn failed(&self, kind: &str, reason: &str) {
        let changed = {
            let mut k = match self.kind.lock() {
                Ok(k) => k,
                Err(p) => p.into_inner(),
            };
            let changed = k.as_deref().is_some_and(|k| k != kind);
            if k.as_deref() != Some(kind) {
                *k = Some(kind.to_string());
            }
            changed
        };
        let say = if changed {
            // Another kind of failure: a change worth its own line, which
            // also starts the interval again.
            let _ = self.throttle.cleared();
            self.throttle.occurred(Instant::now());
            Say::First
        } else {
            self.throttle.occurred(Instant::now())
        };
        let who = &self.who;
        match say {
            Say::First => {
                tracing::warn!(client = %who, kind, reason, "kafka brokers unreachable or failing")
            }
            Say::Again { suppressed } => tracing::warn!(client = %who, kind, reason,
                failures_not_logged = suppressed, "kafka brokers still unreachable or failing"),
            Say::Quiet => tracing::debug!(client = %who, kind, reason, "kafka"),
        }
    }

    /// The connection works (a delivery, a record, an assignment): one line
    /// if it was failing, else one atomic load.
    pub fn ok(&self) {
        if let Some(failures) = self.throttle.cleared() {
            match self.kind.lock() {
                Ok(mut k) => *k = None,
                Err(p) => *p.into_inner() = None,
            }
            tracing::info!(client = %self.who, failures, "kafka brokers reachable again");
        }
    }

    /// librdkafka's log callback: errors and connection failures go through
    /// [`BrokerLog::failed`]; the rest keeps its level.
    pub fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => self.failed(fac, message),
            RDKafkaLogLevel::Warning if matches!(fac, "FAIL" | "ERROR" | "BROKERFAIL") => {
                self.failed(fac, message)
            }
            RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", client = %self.who, "{fac} {message}")
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", client = %self.who, "{fac} {message}")
            }
            RDKafkaLogLevel::Debug => {
                tracing::debug!(target: "librdkafka", client = %self.who, "{fac} {message}")
            }
        }
    }

    /// librdkafka's error callback (or a consumer's error).
    pub fn error(&self, error: &KafkaError, reason: &str) {
        let kind = match error.rdkafka_error_code() {
            Some(code) => format!("{code:?}"),
            None => "error".to_string(),
        };
        // A transport failure and "all brokers down" are the same outage,
        // and librdkafka's FAIL log line said it already.
        let kind = match kind.as_str() {
            "BrokerTransportFailure" | "AllBrokersDown" => "FAIL",
            k => k,
        };
        self.failed(kind, reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_change_of_kind_and_one_when_back() {
        let log = BrokerLog::new("test");
        for _ in 0..100 {
            log.failed(
                "FAIL",
                "Connect to ipv4#127.0.0.1:1 failed: Connection refused",
            );
        }
        assert_eq!(log.throttle.cleared(), Some(100));
        log.failed("FAIL", "refused");
        log.failed("Resolve", "Failed to resolve 'nowhere:9092'");
        assert_eq!(
            log.kind.lock().unwrap().as_deref(),
            Some("Resolve"),
            "a new kind is the current one"
        );
        log.ok();
        assert!(log.kind.lock().unwrap().is_none());
        assert_eq!(
            log.throttle.cleared(),
            None,
            "ok once, then nothing to clear"
        );
    }
}
