//! At-most-once steps: a step whose body must never run twice for one attempt, even
//! across a crash ([`StepExt::at_most_once`](crate::StepExt::at_most_once)).
//!
//! By default a step is *at least once*: one interrupted before its result was recorded
//! runs again when the execution resumes (give its side effects an idempotency key).
//! An at-most-once step records that it started — durably, before its body runs — and
//! a resumed execution that finds the start but no result does not run the body again:
//! the attempt fails with `States.StepInterrupted`. A retry around it may try again as a
//! new attempt (its own start record), and catch may handle it. A redrive runs it again
//! (the redrive is the caller's decision).
//!
//! The start record costs one more commit per attempt (shared with other executions by
//! group commit).
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::MemoryStore;
//!
//! #[step]
//! async fn charge(cents: u64) -> u64 { cents }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("pay", 1, charge.at_most_once());
//! let runtime = Runtime::builder().store(MemoryStore::new()).build();
//! assert_eq!(runtime.start(&wf, "pay-1", 500).await.unwrap(), 500);
//! # }
//! ```

use crate::context::Context;
use crate::durable;
use crate::error::{Error, names};
use crate::graph::Describe;
use crate::history::{EventDetails, EventKind};
use crate::step::Step;
use crate::store::CheckpointKind;

/// Step returned by [`StepExt::at_most_once`](crate::StepExt::at_most_once).
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct AtMostOnce<S> {
    inner: S,
}

impl<S: Step> AtMostOnce<S> {
    pub(crate) fn new(inner: S) -> Self {
        AtMostOnce { inner }
    }
}

impl<S: Step> Step for AtMostOnce<S> {
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        let Some(recorder) = cx.recorder() else {
            return self.inner.run(cx, input).await;
        };
        let name = self.inner.name();
        let key = cx.key(name);
        // A recorded result replays as usual.
        if recorder.replay(&key).is_some() {
            return self.inner.run(cx, input).await;
        }
        // The start is recorded as a deadline-like time (8 bytes, ms since the Unix
        // epoch), so that a redrive sets it aside and the step runs again.
        let started = format!("{key}~started");
        if let Some(at) = durable::recorded_deadline(cx, &started)? {
            let address = cx.address(name);
            let error = Error::new(
                names::STEP_INTERRUPTED,
                format!(
                    "step `{name}` started at {} and was interrupted before its result was \
                     recorded; it runs at most once, so it did not run again",
                    crate::text::timestamp(at)
                ),
            )
            .at(address.as_str());
            cx.emit(
                EventKind::StepFailed,
                address.as_str(),
                None,
                EventDetails::error(&error),
            );
            return durable::record_result(cx, key, address.as_str(), Err(error)).await;
        }
        let now = durable::millis(cx.host().now());
        recorder
            .record(vec![(
                started,
                CheckpointKind::Deadline,
                now.to_le_bytes().to_vec(),
            )])
            .await?;
        self.inner.run(cx, input).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.decorated(&self.inner).detail("at_most_once", true);
    }

    fn slots(&self) -> u32 {
        self.inner.slots()
    }
}
