//! Bounded retries: capped exponential backoff with full jitter, `Retry-After` honoured,
//! everything inside a caller-given deadline.

use std::time::{Duration, Instant, SystemTime};

/// How often and how patiently to retry one outbound operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    /// The backoff ceiling of the first retry; doubled for each further retry.
    pub base_delay: Duration,
    /// The backoff ceiling never exceeds this.
    pub max_delay: Duration,
    /// A single attempt never waits longer than this for its answer.
    pub attempt_timeout: Duration,
    /// Connecting never takes longer than this.
    pub connect_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Tuned for flow-facing calls: Amazon Connect gives a Lambda 8 s, so a few quick retries.
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(3),
            connect_timeout: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The backoff ceiling before retry number `retry` (1 for the first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Full jitter (uniform in `[0, ceiling]`), raised to `retry_after` when the server asked
    /// for a longer wait. `unit` is a random number in `[0, 1)`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let jitter = self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0));
        match retry_after {
            Some(wait) => jitter.max(wait),
            None => jitter,
        }
    }

    /// The delay before retry number `retry`, with a fresh random jitter.
    pub fn next_delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        self.delay(retry, retry_after, fastrand::f64())
    }
}

/// Amazon Connect waits 8 s at the most for a flow Lambda; a flow-facing function answers within
/// this, errors included, whatever its configured budget (`docs/telephony-integration-api.md`,
/// the deadline paragraph).
pub const FLOW_ANSWER_LIMIT: Duration = Duration::from_secs(7);

/// The moment by which an operation must have answered, retries included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Instant);

impl Deadline {
    pub fn after(budget: Duration) -> Self {
        Self(Instant::now() + budget)
    }

    pub fn at(instant: Instant) -> Self {
        Self(instant)
    }

    /// The deadline of one invocation: `budget` from now, but never later than the Lambda's own
    /// deadline less a margin to answer in (Amazon Connect waits 8 s at the most for a flow Lambda).
    pub fn for_invocation(lambda_deadline: SystemTime, budget: Duration) -> Self {
        const MARGIN: Duration = Duration::from_millis(300);
        let left = lambda_deadline.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO);
        Self::after(budget.min(left.saturating_sub(MARGIN)))
    }

    /// `self`, but no later than [`FLOW_ANSWER_LIMIT`] from now: the deadline of a flow-facing
    /// invocation, started when its handler starts.
    pub fn for_flow(self) -> Deadline {
        self.min(Deadline::after(FLOW_ANSWER_LIMIT))
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Deadline) -> Deadline {
        Deadline(self.0.min(other.0))
    }

    pub fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    pub fn instant(&self) -> Instant {
        self.0
    }

    /// Whether waiting `wait` and then trying again still leaves a useful slice of time.
    pub fn allows(&self, wait: Duration, minimum_attempt: Duration) -> bool {
        self.remaining() > wait + minimum_attempt
    }
}

/// `Retry-After` is either delta-seconds or an HTTP-date (RFC 9110 10.2.3).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_and_are_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            ..Default::default()
        };
        let ceilings: Vec<u128> = (1..=6).map(|r| p.ceiling(r).as_millis()).collect();
        assert_eq!(ceilings, vec![100, 200, 400, 700, 700, 700]);
        assert_eq!(p.ceiling(200), Duration::from_millis(700), "no overflow on absurd retry counts");
    }

    #[test]
    fn full_jitter_stays_within_zero_and_the_ceiling() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(3, None, 0.0), Duration::ZERO);
        assert_eq!(p.delay(3, None, 1.0), p.ceiling(3));
        for retry in 1..8 {
            for _ in 0..200 {
                let d = p.next_delay(retry, None);
                assert!(d <= p.ceiling(retry), "retry {retry}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let p = RetryPolicy::default();
        let wait = Duration::from_secs(1);
        assert_eq!(p.delay(1, Some(wait), 0.5), wait);
        assert!(p.delay(1, Some(Duration::ZERO), 1.0) == p.ceiling(1));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sat, 21 Nov 2026 01:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after("Sat, 21 Nov 2026 01:00:05 GMT", now), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Sat, 21 Nov 2026 00:59:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn deadlines_bound_waits() {
        let d = Deadline::after(Duration::from_millis(500));
        assert!(d.allows(Duration::from_millis(100), Duration::from_millis(100)));
        assert!(!d.allows(Duration::from_millis(450), Duration::from_millis(100)));
        let earlier = Deadline::after(Duration::from_millis(10));
        assert_eq!(d.min(earlier), earlier);
        let lambda = SystemTime::now() + Duration::from_secs(2);
        let remaining = Deadline::for_invocation(lambda, Duration::from_secs(6)).remaining();
        assert!(remaining <= Duration::from_millis(1700) && remaining > Duration::from_millis(1500), "{remaining:?}");
        let short =
            Deadline::for_invocation(SystemTime::now() + Duration::from_secs(60), Duration::from_secs(1)).remaining();
        assert!(short <= Duration::from_secs(1));
    }
}
