//! When to try a failed delivery again, and when to give up: the EventBridge
//! retry policy (semantics §4.3), the error codes a dead-letter record
//! carries (§4.4.2), and the per-target invocation rate limit.
//!
//! Everything here is a pure function of its inputs. The caller brings the
//! event's age, the server's `Retry-After`, the current time and a random
//! number, so the targets share one behaviour and the tests need neither a
//! clock nor a random source.
//!
//! # The policy
//!
//! EventBridge retries a retryable failure with exponential backoff and
//! jitter until either limit is reached: `MaximumRetryAttempts` (0–185,
//! default 185) retries or `MaximumEventAgeInSeconds` (60–86400, default one
//! day) of age. busbar uses *full jitter*: the n-th retry waits a uniformly
//! random time in `[0, min(max_backoff, initial_backoff · 2^(n-1))]`. Full
//! jitter spreads the retries of a burst of failures (a target that was down
//! for a moment) over the whole window instead of sending them back in
//! lockstep, at the price of sometimes retrying almost at once.
//!
//! The defaults, 100 ms initial and a 15 minute cap, are chosen so that the
//! two EventBridge limits mean about the same thing: after a dozen quick
//! retries the mean wait is half the cap, 7.5 minutes, so 185 retries take
//! roughly 22 hours, close to the 24 hour age limit. A shorter cap would
//! spend the 185 attempts in a few hours and make the age limit moot.
//!
//! A server's `Retry-After` is honoured as a lower bound (§4.3.3: "the more
//! conservative of header vs policy"). A hint that would only let the retry
//! start after the maximum age exhausts the event at once rather than
//! sleeping for nothing.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

/// The largest `MaximumRetryAttempts` EventBridge accepts.
pub const MAX_RETRY_ATTEMPTS: u32 = 185;
/// The smallest `MaximumEventAgeInSeconds` EventBridge accepts.
pub const MIN_EVENT_AGE: Duration = Duration::from_secs(60);
/// The largest `MaximumEventAgeInSeconds` EventBridge accepts (one day).
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(86_400);

/// A target's retry policy. [`RetryPolicy::validate`] before use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first failed delivery, `0..=185`; 0 dead-letters
    /// on the first retryable failure. Default 185.
    pub maximum_retry_attempts: u32,
    /// How old an event may get while it is retried, 60 s to 24 h. Default
    /// 24 h. Age counts from when busbar received the event.
    pub maximum_event_age: Duration,
    /// The backoff ceiling of the first retry; it doubles per retry. Default
    /// 100 ms: long enough not to hammer a target that just failed, short
    /// enough that a single lost connection costs little.
    pub initial_backoff: Duration,
    /// The backoff ceiling never grows beyond this. Default 15 minutes; see
    /// the [module docs](self) for why.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: MAX_RETRY_ATTEMPTS,
            maximum_event_age: MAX_EVENT_AGE,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15 * 60),
        }
    }
}

/// Why an event stopped being retried: the `EXHAUSTED_RETRY_CONDITION` of a
/// dead-letter record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExhaustedCondition {
    /// It failed `maximum_retry_attempts + 1` times.
    MaximumRetryAttempts,
    /// It reached `maximum_event_age`, or the server asked for a wait that
    /// would pass it.
    MaximumEventAgeInSeconds,
}

impl ExhaustedCondition {
    /// The EventBridge spelling: `MaximumRetryAttempts` or
    /// `MaximumEventAgeInSeconds`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MaximumRetryAttempts => "MaximumRetryAttempts",
            Self::MaximumEventAgeInSeconds => "MaximumEventAgeInSeconds",
        }
    }
}

impl fmt::Display for ExhaustedCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to do after a failed delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Wait this long, then try again.
    RetryIn(Duration),
    /// Give up: dead-letter the event (or drop it when the target has no
    /// dead-letter destination).
    Exhausted(ExhaustedCondition),
}

impl RetryPolicy {
    /// Checks every setting against EventBridge's ranges and reports all
    /// problems at once, one per line, each naming its setting
    /// (`retry.maximum_retry_attempts`, …). The caller prefixes the target.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.maximum_retry_attempts > MAX_RETRY_ATTEMPTS {
            problems.push(format!(
                "`retry.maximum_retry_attempts`: {} is above the limit of {MAX_RETRY_ATTEMPTS}",
                self.maximum_retry_attempts
            ));
        }
        if !(MIN_EVENT_AGE..=MAX_EVENT_AGE).contains(&self.maximum_event_age) {
            problems.push(format!(
                "`retry.maximum_event_age_seconds`: {} is outside {}-{}",
                self.maximum_event_age.as_secs(),
                MIN_EVENT_AGE.as_secs(),
                MAX_EVENT_AGE.as_secs()
            ));
        }
        if self.initial_backoff.is_zero() {
            problems.push("`retry.initial_backoff`: must be above zero".to_owned());
        }
        if self.max_backoff < self.initial_backoff {
            problems.push(format!(
                "`retry.max_backoff` ({:?}) is below `retry.initial_backoff` ({:?})",
                self.max_backoff, self.initial_backoff
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }

    /// After the `attempts`-th failed attempt (1 = the first delivery failed)
    /// of an event that is `age` old: retry, and when, or give up.
    ///
    /// - `attempts > maximum_retry_attempts` exhausts on
    ///   `MaximumRetryAttempts`; this is checked first, so with both limits
    ///   reached at once the record names the one the user set to stop
    ///   retries.
    /// - `age >= maximum_event_age` exhausts on `MaximumEventAgeInSeconds`.
    /// - Otherwise the wait is a full-jitter backoff drawn from `random`
    ///   (uniform over all `u64`), raised to `hint` (the server's
    ///   `Retry-After`) when that is longer. A hint that would start the
    ///   retry after the maximum age exhausts on `MaximumEventAgeInSeconds`;
    ///   a backoff that would is cut short, so the last retry starts when the
    ///   event is exactly `maximum_event_age` old.
    ///
    /// `attempts == 0` is treated as 1.
    pub fn decide(
        &self,
        attempts: u32,
        age: Duration,
        hint: Option<Duration>,
        random: u64,
    ) -> Decision {
        let retries_done = attempts.saturating_sub(1);
        if retries_done >= self.maximum_retry_attempts {
            return Decision::Exhausted(ExhaustedCondition::MaximumRetryAttempts);
        }
        let Some(remaining) = self
            .maximum_event_age
            .checked_sub(age)
            .filter(|d| !d.is_zero())
        else {
            return Decision::Exhausted(ExhaustedCondition::MaximumEventAgeInSeconds);
        };
        if hint.is_some_and(|hint| hint > remaining) {
            return Decision::Exhausted(ExhaustedCondition::MaximumEventAgeInSeconds);
        }
        let backoff = jitter(self.backoff_ceiling(retries_done), random);
        let wait = backoff.max(hint.unwrap_or(Duration::ZERO));
        Decision::RetryIn(wait.min(remaining))
    }

    /// `min(max_backoff, initial_backoff · 2^exponent)`, without overflow.
    fn backoff_ceiling(&self, exponent: u32) -> Duration {
        let cap = self.max_backoff.as_nanos();
        let ceiling = match 1u128.checked_shl(exponent) {
            Some(factor) => self
                .initial_backoff
                .as_nanos()
                .saturating_mul(factor)
                .min(cap),
            None => cap,
        };
        nanos_to_duration(ceiling)
    }
}

/// A uniformly random duration in `[0, ceiling]` from a uniformly random
/// `u64`: the high bits of `random · (ceiling + 1)`, which avoids the modulo
/// bias of `random % (ceiling + 1)`. Ceilings beyond `u64::MAX` nanoseconds
/// (584 years) are clamped there.
fn jitter(ceiling: Duration, random: u64) -> Duration {
    let ceiling = ceiling.as_nanos().min(u128::from(u64::MAX));
    // (2^64 - 1) · 2^64 < 2^128: no overflow.
    let nanos = (u128::from(random) * (ceiling + 1)) >> 64;
    nanos_to_duration(nanos)
}

fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / NANOS_PER_SEC) {
        // The remainder is below 10^9, so it fits in u32.
        Ok(secs) => Duration::new(secs, (nanos % NANOS_PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}

/// Parses an HTTP `Retry-After` value: delta-seconds (`120`) or an
/// HTTP-date, RFC 9110 §10.2.3: the IMF-fixdate (`Sun, 06 Nov 1994
/// 08:49:37 GMT`) servers send, and the two obsolete forms (RFC 850,
/// asctime) recipients are asked to accept, parsed by `httpdate` (hyper's).
///
/// - A date in the past, or now, gives [`Duration::ZERO`].
/// - A negative delta (`-1`) gives [`Duration::MAX`]: §4.3.3 says a negative
///   `Retry-After` stops retries, and a wait past any maximum age makes
///   [`RetryPolicy::decide`] exhaust the event, which is that.
/// - Huge deltas saturate rather than fail.
/// - Anything else is `None`, and the policy's own backoff applies: also a
///   date that does not exist (31 April, a weekday that is not the date's)
///   or one before 1970, which `httpdate` does not represent.
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let value = trim_ows(value);
    if let Some(delta) = parse_digits(value) {
        return Some(Duration::from_secs(delta));
    }
    if let Some(negative) = value.strip_prefix(b"-") {
        return parse_digits(negative).map(|_| Duration::MAX);
    }
    let at = httpdate::parse_http_date(std::str::from_utf8(value).ok()?).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Strips optional whitespace (space, tab) around a field value.
fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// `1*DIGIT` as a saturating `u64`.
fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// Whether an HTTP target's response status is retried: 429 and 5xx, as
/// EventBridge API destinations do (§4.3.3). Other 4xx would fail the same
/// way again; 1xx and 3xx mean the target does not speak the protocol we
/// expect. 2xx is success, not a failure, and also `false`.
pub fn http_status_retryable(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// A per-target invocation rate limit (EventBridge's
/// `InvocationRateLimitPerSecond`), as a token bucket.
///
/// Each call to [`RateLimiter::delay`] reserves one send and says how long to
/// wait before making it; when the bucket is empty the reservation borrows
/// from future refills, so concurrent senders queue up one interval apart
/// instead of all waking at the same moment. Waiting is how throttling
/// delays deliveries rather than dropping them (§4.3.4).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    /// Tokens at `updated`; negative when sends are reserved ahead.
    tokens: f64,
    updated: Option<Instant>,
}

impl RateLimiter {
    /// `per_second` sends per second on average, at most `burst` at once
    /// after a quiet spell. The bucket starts full. Errors (without a
    /// setting name; the caller adds it) for a rate that is not a positive
    /// finite number or a burst of 0.
    pub fn new(per_second: f64, burst: u32) -> Result<Self, String> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(format!(
                "rate {per_second} is not a positive number of sends per second"
            ));
        }
        if burst == 0 {
            return Err("burst must be at least 1".to_owned());
        }
        let burst = f64::from(burst);
        Ok(Self {
            per_second,
            burst,
            tokens: burst,
            updated: None,
        })
    }

    /// Reserves the next send and returns how long to wait before making it:
    /// [`Duration::ZERO`] when a token is available now. Call exactly once
    /// per send. `now` going backwards (instants taken on different tasks)
    /// is treated as no time passing.
    pub fn delay(&mut self, now: Instant) -> Duration {
        let elapsed = self.updated.map_or(Duration::ZERO, |updated| {
            now.saturating_duration_since(updated)
        });
        if self.updated.is_none_or(|updated| now > updated) {
            self.updated = Some(now);
        }
        self.tokens = (self.tokens + elapsed.as_secs_f64() * self.per_second).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(-self.tokens / self.per_second).unwrap_or(Duration::MAX)
        }
    }
}

/// Why a delivery failed: the `ERROR_CODE` of a dead-letter record and the
/// `reason` label of the failure metrics. A small closed set so that both
/// stay stable; the detail goes into `ERROR_MESSAGE`.
///
/// The strings are EventBridge's where it has one (§4.4.2 lists samples), so
/// DLQ consumers written for EventBridge keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryErrorCode {
    /// The target refused our credentials: HTTP 401/403, Kafka
    /// authorization failures. Fails until someone fixes the permissions.
    NoPermissions,
    /// The target does not exist: HTTP 404/410, a Kafka topic that is not
    /// there.
    NoResource,
    /// The target asked us to slow down: HTTP 429, Kafka quota throttling,
    /// a full producer queue.
    Throttling,
    /// No answer in time (the HTTP request timeout is 5 s, §4.3.3; a Kafka
    /// message timeout). The event may have arrived; at-least-once allows
    /// sending it again.
    Timeout,
    /// No connection: refused, reset, DNS failure, broker transport errors.
    ConnectionFailure,
    /// TLS failed: the server's certificate is not trusted (unknown issuer,
    /// expired, issued for another name), the server refused busbar's
    /// client certificate, or the two sides agreed on no protocol. busbar's
    /// own code (EventBridge has none): like `NO_PERMISSIONS`, it fails the
    /// same way until someone changes a certificate or the `tls:` settings.
    TlsError,
    /// The target rejected this event as invalid: any other HTTP status
    /// that is not success (4xx, and 1xx/3xx we do not follow), a Kafka
    /// record that is too large. The same bytes would fail the same way.
    /// Spelled as EventBridge spells a target's client error.
    ClientError,
    /// The target failed on its side: HTTP 5xx, a retriable Kafka broker
    /// error (leader not available, not enough replicas).
    ServerError,
    /// busbar's own: a connection's OAuth token endpoint gave no token
    /// (no answer, 408/429/5xx, an answer without a token) after its own
    /// retries. The request was not sent; a later attempt fetches again.
    AuthFailed,
}

impl DeliveryErrorCode {
    /// Every code, for registering metric label values up front.
    pub const ALL: [Self; 9] = [
        Self::NoPermissions,
        Self::NoResource,
        Self::Throttling,
        Self::Timeout,
        Self::ConnectionFailure,
        Self::TlsError,
        Self::ClientError,
        Self::ServerError,
        Self::AuthFailed,
    ];

    /// The stable `ERROR_CODE` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPermissions => "NO_PERMISSIONS",
            Self::NoResource => "NO_RESOURCE",
            Self::Throttling => "THROTTLING",
            Self::Timeout => "TIMEOUT",
            Self::ConnectionFailure => "CONNECTION_FAILURE",
            Self::TlsError => "TLS_ERROR",
            Self::ClientError => "SDK_CLIENT_ERROR",
            Self::ServerError => "SERVER_ERROR",
            Self::AuthFailed => "AUTH_FAILED",
        }
    }

    /// Whether a failure with this code is retried under the policy (§4.3.2:
    /// throttling, 5xx, timeouts, network). The others go to the dead-letter
    /// destination at once, since retrying can not help.
    pub fn retryable(self) -> bool {
        match self {
            Self::Throttling
            | Self::Timeout
            | Self::ConnectionFailure
            | Self::ServerError
            | Self::AuthFailed => true,
            Self::NoPermissions | Self::NoResource | Self::ClientError | Self::TlsError => false,
        }
    }

    /// The code for an HTTP response status; `None` for 2xx (success).
    /// Agrees with [`http_status_retryable`].
    pub fn from_http_status(status: u16) -> Option<Self> {
        Some(match status {
            200..=299 => return None,
            401 | 403 => Self::NoPermissions,
            404 | 410 => Self::NoResource,
            429 => Self::Throttling,
            500..=599 => Self::ServerError,
            _ => Self::ClientError,
        })
    }
}

impl fmt::Display for DeliveryErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
    }

    fn wait(decision: Decision) -> Duration {
        match decision {
            Decision::RetryIn(wait) => wait,
            Decision::Exhausted(condition) => panic!("exhausted on {condition}"),
        }
    }

    #[test]
    fn defaults_are_valid_and_ranges_are_named() {
        assert_eq!(policy().validate(), Ok(()));
        let bad = RetryPolicy {
            maximum_retry_attempts: 186,
            maximum_event_age: Duration::from_secs(59),
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        };
        let Err(message) = bad.validate() else {
            panic!("accepted {bad:?}")
        };
        assert!(
            message.contains("`retry.maximum_retry_attempts`: 186"),
            "{message}"
        );
        assert!(
            message.contains("`retry.maximum_event_age_seconds`: 59 is outside 60-86400"),
            "{message}"
        );
        assert!(message.contains("`retry.initial_backoff`"), "{message}");
        let too_old = RetryPolicy {
            maximum_event_age: Duration::from_secs(86_401),
            ..policy()
        };
        assert!(too_old.validate().is_err());
        let edges = RetryPolicy {
            maximum_retry_attempts: 0,
            maximum_event_age: Duration::from_secs(60),
            ..policy()
        };
        assert_eq!(edges.validate(), Ok(()));
    }

    #[test]
    fn backoff_stays_within_the_doubling_ceiling() {
        let p = policy();
        for attempts in 1..=20u32 {
            let ceiling = (p.initial_backoff * 2u32.pow(attempts - 1)).min(p.max_backoff);
            assert_eq!(
                wait(p.decide(attempts, Duration::ZERO, None, 0)),
                Duration::ZERO
            );
            assert_eq!(
                wait(p.decide(attempts, Duration::ZERO, None, u64::MAX)),
                ceiling
            );
            let mid = wait(p.decide(attempts, Duration::ZERO, None, u64::MAX / 2));
            assert!(mid.abs_diff(ceiling / 2) <= MS, "{attempts}: {mid:?}");
        }
    }

    #[test]
    fn backoff_is_capped_even_for_huge_attempt_counts() {
        let p = RetryPolicy {
            maximum_retry_attempts: u32::MAX,
            initial_backoff: Duration::MAX,
            max_backoff: Duration::MAX,
            ..policy()
        };
        // Capped by the remaining age instead of overflowing.
        assert_eq!(
            wait(p.decide(u32::MAX, Duration::ZERO, None, u64::MAX)),
            p.maximum_event_age
        );
        assert_eq!(
            wait(policy().decide(185, Duration::ZERO, None, u64::MAX)),
            policy().max_backoff
        );
    }

    #[test]
    fn attempts_exhaust() {
        let none = RetryPolicy {
            maximum_retry_attempts: 0,
            ..policy()
        };
        assert_eq!(
            none.decide(1, Duration::ZERO, None, 0),
            Decision::Exhausted(ExhaustedCondition::MaximumRetryAttempts)
        );
        let two = RetryPolicy {
            maximum_retry_attempts: 2,
            ..policy()
        };
        assert!(matches!(two.decide(1, MS, None, 0), Decision::RetryIn(_)));
        assert!(matches!(two.decide(2, MS, None, 0), Decision::RetryIn(_)));
        assert_eq!(
            two.decide(3, MS, None, 0),
            Decision::Exhausted(ExhaustedCondition::MaximumRetryAttempts)
        );
        // Both limits at once: the attempts limit is named.
        assert_eq!(
            two.decide(3, Duration::from_secs(90_000), None, 0),
            Decision::Exhausted(ExhaustedCondition::MaximumRetryAttempts)
        );
        // 0 is treated as the first failure.
        assert!(matches!(two.decide(0, MS, None, 0), Decision::RetryIn(_)));
    }

    #[test]
    fn age_exhausts_and_caps_the_wait() {
        let p = RetryPolicy {
            maximum_event_age: Duration::from_secs(60),
            ..policy()
        };
        assert_eq!(
            p.decide(1, Duration::from_secs(60), None, 0),
            Decision::Exhausted(ExhaustedCondition::MaximumEventAgeInSeconds)
        );
        assert_eq!(
            p.decide(1, Duration::from_secs(3600), None, 0),
            Decision::Exhausted(ExhaustedCondition::MaximumEventAgeInSeconds)
        );
        // A late retry with a 15 minute ceiling sleeps only until the limit.
        let age = Duration::from_secs(59);
        assert_eq!(
            wait(p.decide(30, age, None, u64::MAX)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn hint_is_a_lower_bound_unless_it_passes_the_age_limit() {
        let p = policy();
        let hint = Duration::from_secs(30);
        // Backoff of the first retry is at most 100 ms: the hint wins.
        assert_eq!(
            wait(p.decide(1, Duration::ZERO, Some(hint), u64::MAX)),
            hint
        );
        // A late retry's backoff can exceed the hint: the longer wins.
        assert_eq!(
            wait(p.decide(30, Duration::ZERO, Some(hint), u64::MAX)),
            p.max_backoff
        );
        assert_eq!(
            wait(p.decide(1, Duration::ZERO, Some(Duration::ZERO), 0)),
            Duration::ZERO
        );
        let age = p.maximum_event_age - Duration::from_secs(10);
        assert_eq!(
            wait(p.decide(1, age, Some(Duration::from_secs(10)), 0)),
            Duration::from_secs(10)
        );
        assert_eq!(
            p.decide(1, age, Some(Duration::from_secs(11)), 0),
            Decision::Exhausted(ExhaustedCondition::MaximumEventAgeInSeconds)
        );
        assert_eq!(
            p.decide(1, Duration::ZERO, Some(Duration::MAX), 0),
            Decision::Exhausted(ExhaustedCondition::MaximumEventAgeInSeconds)
        );
    }

    #[test]
    fn jitter_is_uniform_enough() {
        // 4096 evenly spread randoms land evenly in 4 quarters of [0, 1 s].
        let mut quarters = [0u32; 4];
        for i in 0..4096u64 {
            let random = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let d = jitter(Duration::from_secs(1), random);
            assert!(d <= Duration::from_secs(1));
            let q = (d.as_nanos() * 4 / 1_000_000_001) as usize;
            quarters[q] += 1;
        }
        for count in quarters {
            assert!((900..=1150).contains(&count), "{quarters:?}");
        }
    }

    #[test]
    fn condition_strings() {
        assert_eq!(
            ExhaustedCondition::MaximumRetryAttempts.as_str(),
            "MaximumRetryAttempts"
        );
        assert_eq!(
            ExhaustedCondition::MaximumEventAgeInSeconds.to_string(),
            "MaximumEventAgeInSeconds"
        );
    }

    #[test]
    fn retry_after_delta_seconds() {
        let now = SystemTime::UNIX_EPOCH;
        assert_eq!(
            parse_retry_after(b"120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(b" 0\t", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(b"99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_retry_after(b"-1", now), Some(Duration::MAX));
        for garbage in [
            &b""[..],
            b" ",
            b"1.5",
            b"+5",
            b"-",
            b"12s",
            b"soon",
            b"1 2",
            b"\xff",
        ] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn retry_after_http_date() {
        // 1994-11-06T08:49:37Z, RFC 9110's example.
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let value = b"Sun, 06 Nov 1994 08:49:37 GMT";
        let before = date - Duration::from_millis(2500);
        assert_eq!(
            parse_retry_after(value, before),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(parse_retry_after(value, date), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(value, date + Duration::from_secs(1)),
            Some(Duration::ZERO)
        );
        // Leap day, and the year 2000 rule.
        let leap = SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(
            parse_retry_after(
                b"Tue, 29 Feb 2000 00:00:00 GMT",
                leap - Duration::from_secs(5)
            ),
            Some(Duration::from_secs(5))
        );
        // The obsolete forms name the same instant.
        for obsolete in [
            &b"Sunday, 06-Nov-94 08:49:37 GMT"[..],
            b"Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(obsolete, before),
                Some(Duration::from_millis(2500)),
                "{obsolete:?}"
            );
        }
        for garbage in [
            &b"Sun, 06 Nov 1994 08:49:37 UTC"[..],
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"sun, 06 nov 1994 08:49:37 GMT",
            b"Sun, 29 Feb 1900 08:49:37 GMT",
            b"Sun, 31 Apr 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Xyz, 06 Nov 1994 08:49:37 GMT",
            b"Mon, 06 Nov 1994 08:49:37 GMT",
            b"Thu, 01 Jan 1920 00:00:00 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMT ;",
        ] {
            assert_eq!(parse_retry_after(garbage, date), None, "{garbage:?}");
        }
    }

    #[test]
    fn retryable_statuses() {
        for status in [429, 500, 502, 503, 504, 599] {
            assert!(http_status_retryable(status), "{status}");
        }
        for status in [100, 200, 204, 301, 304, 400, 401, 403, 404, 408, 413, 600] {
            assert!(!http_status_retryable(status), "{status}");
        }
        for status in 100..=599 {
            if let Some(code) = DeliveryErrorCode::from_http_status(status) {
                assert_eq!(code.retryable(), http_status_retryable(status), "{status}");
            }
        }
        assert_eq!(DeliveryErrorCode::from_http_status(201), None);
        assert_eq!(
            DeliveryErrorCode::from_http_status(403),
            Some(DeliveryErrorCode::NoPermissions)
        );
    }

    #[test]
    fn error_codes_are_distinct_and_upper_snake() {
        let mut seen = std::collections::HashSet::new();
        for code in DeliveryErrorCode::ALL {
            let s = code.as_str();
            assert!(
                s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'),
                "{s}"
            );
            assert!(seen.insert(s), "{s} twice");
        }
        assert_eq!(DeliveryErrorCode::Throttling.to_string(), "THROTTLING");
        assert!(DeliveryErrorCode::Timeout.retryable());
        assert!(!DeliveryErrorCode::NoResource.retryable());
        assert!(!DeliveryErrorCode::TlsError.retryable());
        assert_eq!(DeliveryErrorCode::TlsError.as_str(), "TLS_ERROR");
    }

    #[test]
    fn rate_limiter_rejects_nonsense() {
        assert!(RateLimiter::new(0.0, 1).is_err());
        assert!(RateLimiter::new(-1.0, 1).is_err());
        assert!(RateLimiter::new(f64::NAN, 1).is_err());
        assert!(RateLimiter::new(f64::INFINITY, 1).is_err());
        assert!(RateLimiter::new(1.0, 0).is_err());
    }

    #[test]
    fn rate_limiter_burst_then_steady() {
        let mut limiter = RateLimiter::new(10.0, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.delay(t0), Duration::ZERO);
        }
        // Reservations queue up 100 ms apart.
        let first = limiter.delay(t0);
        let second = limiter.delay(t0);
        assert!(first.abs_diff(Duration::from_millis(100)) < MS, "{first:?}");
        assert!(
            second.abs_diff(Duration::from_millis(200)) < MS,
            "{second:?}"
        );
        // After a long quiet spell, only `burst` go at once.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.delay(later), Duration::ZERO);
        }
        assert!(limiter.delay(later) > Duration::ZERO);
        // Time going backwards is no time passing.
        assert!(limiter.delay(t0) > Duration::ZERO);
    }

    #[test]
    fn rate_limiter_long_run_rate() {
        // A sender that always waits as told, for 100 simulated seconds at
        // 300/s (the EventBridge default) with a burst of 20.
        let mut limiter = RateLimiter::new(300.0, 20).unwrap();
        let start = Instant::now();
        let end = start + Duration::from_secs(100);
        let mut now = start;
        let mut sent = 0u64;
        loop {
            now += limiter.delay(now);
            if now > end {
                break;
            }
            sent += 1;
        }
        let expected = 300 * 100 + 20;
        assert!(
            sent.abs_diff(expected) <= 2,
            "{sent} sends, expected {expected}"
        );

        // Eight concurrent senders sharing one limiter get the same total.
        let mut limiter = RateLimiter::new(300.0, 20).unwrap();
        let mut senders = [start; 8];
        let mut sent = 0u64;
        while let Some(next) = senders.iter_mut().min() {
            let at = *next + limiter.delay(*next);
            if at > end {
                break;
            }
            *next = at;
            sent += 1;
        }
        assert!(
            sent.abs_diff(expected) <= 10,
            "{sent} sends, expected {expected}"
        );
    }
}
