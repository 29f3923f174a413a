//! [`WaitStrategy`]: how long a [`wait_for_condition`](super::wait_for_condition) waits
//! between polls, and how many polls it makes.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::retry::Jitter;

/// How the delay between polls grows.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Growth {
    /// The same delay after every poll.
    Fixed(Duration),
    /// `initial * rate^(poll - 1)`, capped at `max_delay`.
    Exponential {
        initial: Duration,
        rate: f64,
        max_delay: Option<Duration>,
    },
}

/// The delays between the polls of a
/// [`wait_for_condition`](super::wait_for_condition) state and how many polls it makes:
/// a fixed delay or an exponential backoff (with a cap and jitter), and a maximum number
/// of polls. Options are data: build one with [`fixed`](Self::fixed) or
/// [`exponential`](Self::exponential) and refine it.
///
/// The delay after poll `n` (1 for the first) is the fixed delay, or `initial *
/// rate^(n - 1)` capped at `max_delay`; with [`Jitter::Full`], a random delay between
/// zero and that. The delay is drawn once: the deadline it gives is recorded, so a
/// resumed execution never draws it again.
///
/// The default is the durable execution SDKs' (Lambda durable functions): exponential
/// from 5 s, ×1.5 per poll, at most 300 s, full jitter, at most 60 polls.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::prelude::*;
///
/// let every_second = WaitStrategy::fixed(Duration::from_secs(1)).max_attempts(10);
/// assert_eq!(every_second.delay_after(7), Duration::from_secs(1));
/// assert_eq!(every_second.attempt_limit(), 10);
///
/// let backoff = WaitStrategy::exponential(Duration::from_secs(2))
///     .rate(3.0)
///     .max_delay(Duration::from_secs(30));
/// assert_eq!(backoff.delay_after(1), Duration::from_secs(2));
/// assert_eq!(backoff.delay_after(2), Duration::from_secs(6));
/// assert_eq!(backoff.delay_after(3), Duration::from_secs(18));
/// assert_eq!(backoff.delay_after(4), Duration::from_secs(30), "capped");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WaitStrategy {
    growth: Growth,
    jitter: Jitter,
    max_attempts: u32,
}

impl Default for WaitStrategy {
    /// Exponential from 5 s, ×1.5 per poll, at most 300 s, full jitter, at most 60
    /// polls (the durable execution SDKs' default).
    fn default() -> Self {
        WaitStrategy::exponential(Duration::from_secs(5))
            .rate(1.5)
            .max_delay(Duration::from_secs(300))
            .jitter(Jitter::Full)
            .max_attempts(60)
    }
}

impl WaitStrategy {
    /// The same `delay` after every poll; no jitter, at most 60 polls until changed.
    pub fn fixed(delay: Duration) -> Self {
        WaitStrategy {
            growth: Growth::Fixed(delay),
            jitter: Jitter::None,
            max_attempts: 60,
        }
    }

    /// `initial` after the first poll, doubling after each (see [`rate`](Self::rate)),
    /// with no cap (see [`max_delay`](Self::max_delay)); no jitter, at most 60 polls
    /// until changed.
    pub fn exponential(initial: Duration) -> Self {
        WaitStrategy {
            growth: Growth::Exponential {
                initial,
                rate: 2.0,
                max_delay: None,
            },
            jitter: Jitter::None,
            max_attempts: 60,
        }
    }

    /// The factor the delay grows by after each poll (at least 1, finite); default 2.0.
    /// No effect on a [`fixed`](Self::fixed) strategy.
    pub fn rate(self, rate: f64) -> Self {
        match self.growth {
            Growth::Exponential {
                initial, max_delay, ..
            } => WaitStrategy {
                growth: Growth::Exponential {
                    initial,
                    rate,
                    max_delay,
                },
                ..self
            },
            Growth::Fixed(_) => self,
        }
    }

    /// The longest delay, before jitter; default none. No effect on a
    /// [`fixed`](Self::fixed) strategy.
    pub fn max_delay(self, cap: Duration) -> Self {
        match self.growth {
            Growth::Exponential { initial, rate, .. } => WaitStrategy {
                growth: Growth::Exponential {
                    initial,
                    rate,
                    max_delay: Some(cap),
                },
                ..self
            },
            Growth::Fixed(_) => self,
        }
    }

    /// How delays are randomized: [`Jitter::Full`] waits a random time between zero
    /// and the computed delay, so that many executions polling together spread out.
    /// Default [`Jitter::None`] (for [`fixed`](Self::fixed) and
    /// [`exponential`](Self::exponential)).
    pub fn jitter(self, jitter: Jitter) -> Self {
        WaitStrategy { jitter, ..self }
    }

    /// The most polls, the first included (at least 1); default 60. When the last
    /// one does not say done, the state fails with `States.ConditionNotMet`.
    pub fn max_attempts(self, polls: u32) -> Self {
        WaitStrategy {
            max_attempts: polls,
            ..self
        }
    }

    /// The most polls, the first included.
    pub fn attempt_limit(&self) -> u32 {
        self.max_attempts
    }

    /// How delays are randomized.
    pub fn jitter_kind(&self) -> Jitter {
        self.jitter
    }

    /// The delay after poll `poll` (1 for the first), before jitter.
    pub fn delay_after(&self, poll: u32) -> Duration {
        match self.growth {
            Growth::Fixed(delay) => delay,
            Growth::Exponential {
                initial,
                rate,
                max_delay,
            } => {
                let exponent = poll.saturating_sub(1).min(i32::MAX as u32) as i32;
                let secs = initial.as_secs_f64() * rate.max(0.0).powi(exponent);
                let cap = max_delay.map_or(f64::MAX, |d| d.as_secs_f64());
                Duration::try_from_secs_f64(secs.min(cap)).unwrap_or(Duration::MAX)
            }
        }
    }

    /// The delay after poll `poll` with jitter applied: for [`Jitter::Full`], a fresh
    /// random draw between zero and [`delay_after`](Self::delay_after).
    pub fn jittered_delay_after(&self, poll: u32) -> Duration {
        self.delay_with_draw(poll, fastrand::f64())
    }

    /// The delay after poll `poll` for a jitter draw `draw` in `[0, 1)`.
    pub(crate) fn delay_with_draw(&self, poll: u32, draw: f64) -> Duration {
        let delay = self.delay_after(poll);
        match self.jitter {
            Jitter::None => delay,
            Jitter::Full => delay.mul_f64(draw.clamp(0.0, 1.0)),
        }
    }

    /// What is wrong with the strategy, if anything: no polls at all, or a rate that is
    /// not a finite number of at least 1.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.max_attempts == 0 {
            return Some("has max_attempts 0; expected at least 1 poll".to_owned());
        }
        if let Growth::Exponential { rate, .. } = self.growth
            && !(rate.is_finite() && rate >= 1.0)
        {
            return Some(format!(
                "has a backoff rate of {rate}; expected a finite number of at least 1"
            ));
        }
        None
    }

    /// The fixed delay, if the strategy is fixed.
    pub(crate) fn fixed_delay(&self) -> Option<Duration> {
        match self.growth {
            Growth::Fixed(delay) => Some(delay),
            Growth::Exponential { .. } => None,
        }
    }
}

/// The strategy in words, as graphs and exports show it: `every 5s` or `exponential
/// from 5s, ×1.5, at most 300s`, then `, full jitter` when it has jitter.
impl fmt::Display for WaitStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.growth {
            Growth::Fixed(delay) => write!(f, "every {delay:?}")?,
            Growth::Exponential {
                initial,
                rate,
                max_delay,
            } => {
                write!(f, "exponential from {initial:?}, ×{rate}")?;
                if let Some(cap) = max_delay {
                    write!(f, ", at most {cap:?}")?;
                }
            }
        }
        if self.jitter == Jitter::Full {
            f.write_str(", full jitter")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_strategy_waits_the_same_after_every_poll() {
        let strategy = WaitStrategy::fixed(Duration::from_millis(250));
        for poll in [1, 2, 10, u32::MAX] {
            assert_eq!(strategy.delay_after(poll), Duration::from_millis(250));
            assert_eq!(
                strategy.jittered_delay_after(poll),
                Duration::from_millis(250)
            );
        }
        // Rate and cap belong to exponential strategies only.
        let same = strategy.rate(3.0).max_delay(Duration::from_millis(1));
        assert_eq!(same.delay_after(4), Duration::from_millis(250));
        assert_eq!(strategy.to_string(), "every 250ms");
    }

    #[test]
    fn an_exponential_strategy_grows_by_its_rate_up_to_its_cap() {
        let strategy = WaitStrategy::exponential(Duration::from_millis(100))
            .rate(2.0)
            .max_delay(Duration::from_millis(700));
        let delays: Vec<u128> = (1..=6)
            .map(|poll| strategy.delay_after(poll).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 700, 700, 700]);
        // No overflow however many polls.
        assert_eq!(strategy.delay_after(u32::MAX), Duration::from_millis(700));
        let uncapped = WaitStrategy::exponential(Duration::from_secs(1)).rate(10.0);
        assert_eq!(uncapped.delay_after(4), Duration::from_secs(1000));
        assert_eq!(uncapped.delay_after(1000), Duration::MAX);
        assert_eq!(
            strategy.to_string(),
            "exponential from 100ms, ×2, at most 700ms"
        );
    }

    #[test]
    fn full_jitter_draws_between_zero_and_the_delay() {
        let strategy = WaitStrategy::exponential(Duration::from_secs(1))
            .rate(2.0)
            .max_delay(Duration::from_secs(4))
            .jitter(Jitter::Full);
        assert_eq!(strategy.delay_with_draw(1, 0.0), Duration::ZERO);
        assert_eq!(strategy.delay_with_draw(2, 0.5), Duration::from_secs(1));
        assert_eq!(strategy.delay_with_draw(9, 0.25), Duration::from_secs(1));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let delay = strategy.jittered_delay_after(3);
            assert!(delay <= Duration::from_secs(4), "{delay:?}");
            seen.insert(delay);
        }
        assert!(seen.len() > 100, "the delays are drawn, not fixed");
        assert!(strategy.to_string().ends_with(", full jitter"));
    }

    #[test]
    fn the_default_is_the_durable_sdks_and_bad_settings_are_named() {
        let strategy = WaitStrategy::default();
        assert_eq!(strategy.attempt_limit(), 60);
        assert_eq!(strategy.jitter_kind(), Jitter::Full);
        assert_eq!(strategy.delay_after(1), Duration::from_secs(5));
        assert_eq!(strategy.delay_after(2), Duration::from_millis(7500));
        assert_eq!(strategy.delay_after(30), Duration::from_secs(300));
        assert_eq!(strategy.problem(), None);

        let none = WaitStrategy::fixed(Duration::ZERO).max_attempts(0);
        assert!(none.problem().unwrap().contains("max_attempts 0"));
        for rate in [0.5, f64::NAN, f64::INFINITY] {
            let bad = WaitStrategy::exponential(Duration::from_secs(1)).rate(rate);
            assert!(bad.problem().unwrap().contains("backoff rate"), "{rate}");
        }
    }
}
