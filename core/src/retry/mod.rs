//! Retry: try a failed step again, after a growing delay — ASL's `Retry` field.
//!
//! A [`RetryPolicy`] says which error names to retry, how many attempts in all, the
//! first delay, the backoff rate, a cap on the delay and jitter. A step's context
//! carries the attempt number (1 for the first), which is part of its idempotency key.
//! Terminal errors ([`Error::terminal`]) are never retried; when the attempts run out,
//! the last error goes on to the enclosing catch or fails the execution. An error that
//! carries a delay hint ([`Error::with_retry_after`], an HTTP `Retry-After`) is retried
//! after that delay instead of the policy's (capped by the policy's `max_delay`).
//!
//! # Examples
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//! use waypost::prelude::*;
//!
//! static CALLS: AtomicU32 = AtomicU32::new(0);
//!
//! #[step]
//! async fn flaky(x: u32) -> Result<u32, Error> {
//!     if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
//!         return Err(Error::new("Transient", "try again"));
//!     }
//!     Ok(x + 1)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let policy = RetryPolicy::builder()
//!     .errors(["Transient"])
//!     .max_attempts(3)
//!     .interval(Duration::from_millis(1))
//!     .build();
//! let wf = Workflow::new("retrying", 1, flaky.retry(policy));
//! assert_eq!(Runtime::new().run(&wf, 41).await.unwrap(), 42);
//! assert_eq!(CALLS.load(Ordering::SeqCst), 3);
//! # }
//! ```

mod policy;

pub use policy::{Jitter, RetryPolicy};

use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::Describe;
use crate::history::{EventDetails, EventKind};
use crate::step::Step;

/// Step returned by [`StepExt::retry`](crate::StepExt::retry).
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Retry<S> {
    inner: S,
    policy: RetryPolicy,
}

impl<S: Step> Retry<S> {
    pub(crate) fn new(inner: S, policy: RetryPolicy) -> Self {
        Retry { inner, policy }
    }
}

impl<S: Step> Step for Retry<S> {
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        let mut attempt = 1;
        loop {
            let error = match self
                .inner
                .run(&cx.with_attempt(attempt), input.clone())
                .await
            {
                Ok(output) => return Ok(output),
                Err(error) => error,
            };
            if !self.policy.should_retry(&error, attempt) {
                return Err(error);
            }
            // The delay's deadline is recorded with the failed attempt, so a resumed
            // execution neither restarts the delay nor draws new jitter.
            let attempt_cx = cx.with_attempt(attempt);
            let key = format!("{}~delay", attempt_cx.key(self.inner.name()));
            let delay = self.policy.delay_for(&error, attempt);
            let address = cx.address(self.inner.name());
            attempt_cx.emit(
                EventKind::RetryScheduled,
                address.as_str(),
                None,
                EventDetails {
                    delay_ms: Some(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
                    ..EventDetails::error(&error)
                },
            );
            durable::durable_sleep(cx, key, delay).await?;
            attempt += 1;
        }
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.decorated(&self.inner).retry.push(self.policy.spec());
    }

    fn slots(&self) -> u32 {
        self.inner.slots()
    }
}
