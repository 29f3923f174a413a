//! Timeout: fail a step that runs too long, like ASL's `TimeoutSeconds`.
//!
//! When the limit passes first, the step's future is dropped (cancelled) and the state
//! fails with `States.Timeout`, which retry and catch can match.
//!
//! In a durable execution the deadline is recorded when the state first starts (a
//! checkpoint of its own): an execution resumed after a crash gets only the time that
//! was left, as Step Functions' `TimeoutSeconds` counts from the state's start, not
//! from the restart.
//!
//! A sync step (a plain `fn`) runs on the CPU pool, so its timeout fires on time too,
//! but its call cannot be cancelled: a thread cannot be killed, so the function runs on
//! to its end on its pool thread, and its result is ignored — neither checkpointed nor
//! handed on. A retry around the timeout may start the next attempt while the
//! abandoned call still runs.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use waypost::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let slow = step_fn("slow", |x: u32| async move {
//!     tokio::time::sleep(Duration::from_secs(60)).await;
//!     Ok::<_, Error>(x)
//! });
//! let wf = Workflow::new("impatient", 1, slow.timeout(Duration::from_secs(1)));
//! let err = Runtime::new().run(&wf, 1).await.unwrap_err();
//! assert!(err.is_timeout());
//! # }
//! ```

use std::time::Duration;

use futures::future::{Either, select};

use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::Describe;
use crate::history::{EventDetails, EventKind};
use crate::step::Step;

/// Step returned by [`StepExt::timeout`](crate::StepExt::timeout).
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Timeout<S> {
    inner: S,
    limit: Duration,
}

impl<S: Step> Timeout<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Self {
        Timeout { inner, limit }
    }
}

impl<S: Step> Step for Timeout<S> {
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        // A timeout that fired is recorded: the step it cut short left no checkpoint,
        // and a resumed execution must see the same timeout rather than run it again.
        let (inner_cx, layer) = cx.inside_timeout();
        let key = cx.recorder().map(|_| match layer {
            0 => format!("{}~timeout", cx.key(self.inner.name())),
            n => format!("{}~timeout{n}", cx.key(self.inner.name())),
        });
        if let (Some(recorder), Some(key)) = (cx.recorder(), &key)
            && let Some(entry) = recorder.replay(key)
        {
            return durable::replayed_result(recorder, cx, key, &entry);
        }
        // The deadline is recorded when the state first starts: a resumed execution gets
        // only the time that was left, not a fresh limit.
        let limit = match &key {
            Some(key) => {
                let deadline = durable::deadline(cx, format!("{key}~deadline"), self.limit).await?;
                Duration::from_millis(deadline.saturating_sub(durable::millis(cx.host().now())))
            }
            None => self.limit,
        };
        // The limit runs in memory: an execution inside a timeout is not only waiting.
        let _busy = cx.busy();
        let timer = cx.sleep(limit);
        let work = std::pin::pin!(self.inner.run(&inner_cx, input));
        match select(work, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(((), _)) => {
                let error = Error::timeout(format!(
                    "step `{}` did not finish within {:?}",
                    self.inner.name(),
                    self.limit
                ))
                .at(cx.address(self.inner.name()).as_str());
                // The step was dropped mid-flight and reports nothing itself.
                let took = u64::try_from(self.limit.as_millis()).unwrap_or(u64::MAX);
                let address = cx.address(self.inner.name());
                cx.emit(
                    EventKind::StepFailed,
                    address.as_str(),
                    Some(took),
                    EventDetails::error(&error),
                );
                match key {
                    Some(key) => {
                        durable::record_result(cx, key, address.as_str(), Err(error)).await
                    }
                    None => Err(error),
                }
            }
        }
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.decorated(&self.inner).timeout = Some(self.limit);
    }

    fn slots(&self) -> u32 {
        self.inner.slots()
    }
}
