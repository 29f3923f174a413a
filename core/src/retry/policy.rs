//! [`RetryPolicy`]: which errors to retry, how often, and how long to wait between.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use typed_builder::TypedBuilder;

use crate::error::{Error, names};
use crate::graph::RetrySpec;

/// How retry delays are randomized (ASL's `JitterStrategy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Jitter {
    /// Exactly the computed delay.
    #[default]
    None,
    /// A random delay between zero and the computed delay, so that many executions
    /// failing together do not retry together.
    Full,
}

/// When and how a [`Retry`](super::Retry) tries a step again — the fields of an ASL
/// `Retrier`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::prelude::*;
///
/// let policy = RetryPolicy::builder()
///     .errors(["Transient", "States.Timeout"])
///     .max_attempts(5)
///     .interval(Duration::from_millis(200))
///     .backoff_rate(2.0)
///     .max_delay(Duration::from_secs(1))
///     .build();
///
/// // The delay before attempt n + 1: interval * backoff_rate^(n - 1), capped.
/// assert_eq!(policy.delay_after(1), Duration::from_millis(200));
/// assert_eq!(policy.delay_after(3), Duration::from_millis(800));
/// assert_eq!(policy.delay_after(4), Duration::from_secs(1));
/// ```
#[derive(Clone, Debug, PartialEq, TypedBuilder, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Error names to retry (ASL `ErrorEquals`); default `["States.ALL"]`. Terminal
    /// errors are never retried.
    #[builder(
        default = vec![names::ALL.to_owned()],
        setter(
            fn transform<E: Into<String>, L: IntoIterator<Item = E>>(errors: L) -> Vec<String> {
                errors.into_iter().map(Into::into).collect()
            }
        )
    )]
    errors: Vec<String>,
    /// Attempts in all, the first included (ASL's `MaxAttempts` + 1); default 3. 1 means
    /// no retry.
    #[builder(default = 3)]
    max_attempts: u32,
    /// Delay before the first retry (ASL `IntervalSeconds`); default 1 s.
    #[builder(default = Duration::from_secs(1))]
    interval: Duration,
    /// Factor applied to the delay after each retry (ASL `BackoffRate`); default 2.0.
    #[builder(default = 2.0)]
    backoff_rate: f64,
    /// Upper bound of any delay (ASL `MaxDelaySeconds`); default none.
    #[builder(default, setter(strip_option))]
    max_delay: Option<Duration>,
    /// Randomization of delays (ASL `JitterStrategy`); default none.
    #[builder(default)]
    jitter: Jitter,
}

impl RetryPolicy {
    /// The retry that AWS's durable execution SDKs (Lambda durable functions) give
    /// every step unless told otherwise: every error but terminal ones, 6 attempts in
    /// all, 5 s before the first retry, doubling, full jitter.
    ///
    /// waypost keeps Step Functions' rule instead: **a step does not retry unless it is
    /// asked to** (`.retry(policy)`), because a retry repeats side effects and only the
    /// workflow's author knows which errors are worth another attempt. Give a step this
    /// preset to behave as it would in those SDKs.
    ///
    /// ```
    /// use std::time::Duration;
    /// use waypost::prelude::*;
    ///
    /// let policy = RetryPolicy::durable_sdk_default();
    /// assert_eq!(policy.max_attempts(), 6);
    /// assert_eq!(policy.delay_after(1), Duration::from_secs(5));
    /// assert_eq!(policy.delay_after(3), Duration::from_secs(20));
    /// assert_eq!(policy.jitter(), Jitter::Full);
    /// assert!(policy.should_retry(&Error::new("Flaky", "try again"), 5));
    /// assert!(!policy.should_retry(&Error::new("Flaky", "try again"), 6));
    /// assert!(!policy.should_retry(&Error::terminal("Invalid", "never"), 1));
    /// ```
    pub fn durable_sdk_default() -> RetryPolicy {
        RetryPolicy::builder()
            .max_attempts(6)
            .interval(Duration::from_secs(5))
            .backoff_rate(2.0)
            .jitter(Jitter::Full)
            .build()
    }

    /// Whether `error` should be retried after `attempt` attempts.
    pub fn should_retry(&self, error: &Error, attempt: u32) -> bool {
        attempt < self.max_attempts
            && !error.is_terminal()
            && self.errors.iter().any(|name| error.matches(name))
    }

    /// The delay after attempt `attempt` (1-based) failed, before jitter.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(i32::MAX as u32) as i32;
        let secs = self.interval.as_secs_f64() * self.backoff_rate.max(0.0).powi(exponent);
        let cap = self.max_delay.map_or(f64::MAX, |d| d.as_secs_f64());
        Duration::try_from_secs_f64(secs.min(cap)).unwrap_or(Duration::MAX)
    }

    /// The delay after attempt `attempt` failed, with jitter applied.
    pub fn jittered_delay_after(&self, attempt: u32) -> Duration {
        let delay = self.delay_after(attempt);
        match self.jitter {
            Jitter::None => delay,
            Jitter::Full => delay.mul_f64(fastrand::f64()),
        }
    }

    /// The delay after attempt `attempt` failed with `error`: the error's
    /// [`retry_after`](Error::retry_after) hint when it has one (capped by
    /// `max_delay`, without jitter), else [`jittered_delay_after`](Self::jittered_delay_after).
    pub fn delay_for(&self, error: &Error, attempt: u32) -> Duration {
        match error.retry_after() {
            Some(hint) => self.max_delay.map_or(hint, |cap| hint.min(cap)),
            None => self.jittered_delay_after(attempt),
        }
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The error names this policy retries.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// How delays are randomized.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    pub(crate) fn spec(&self) -> RetrySpec {
        RetrySpec {
            errors: self.errors.clone(),
            max_attempts: self.max_attempts,
            interval: self.interval,
            backoff_rate: self.backoff_rate,
            max_delay: self.max_delay,
            jitter: self.jitter == Jitter::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_hint_replaces_the_computed_delay_up_to_max_delay() {
        let policy = RetryPolicy::builder()
            .interval(Duration::from_millis(100))
            .jitter(Jitter::Full)
            .build();
        let plain = Error::new("Http.503", "busy");
        assert!(policy.delay_for(&plain, 1) <= Duration::from_millis(100));
        let hinted = plain.clone().with_retry_after(Duration::from_secs(7));
        // No jitter on a hint: the server said when.
        assert_eq!(policy.delay_for(&hinted, 1), Duration::from_secs(7));
        assert_eq!(policy.delay_for(&hinted, 5), Duration::from_secs(7));
        let capped = RetryPolicy::builder()
            .max_delay(Duration::from_secs(2))
            .build();
        assert_eq!(capped.delay_for(&hinted, 1), Duration::from_secs(2));
    }
}
