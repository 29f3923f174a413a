//! The task runner: what every task step does around its work.
//!
//! A task state (a `#[step]` function, a [`step_fn`](crate::step_fn()) closure, or a
//! hand-written step doing its own work) runs through [`run_task`]: it replays the
//! step's checkpoint if there is one, otherwise runs the work inside a `tracing` span
//! with a [`StepContext`], turns a panic into an [`Error`], reports the step's events
//! and records its result.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use tracing::Instrument as _;

use crate::context::{Context, StepContext};
use crate::durable;
use crate::error::Error;
use crate::history::EventKind;
use crate::step::{Payload, SyncStep};

/// Runs the work of a task step at the position `cx`: gives it its [`StepContext`], and
/// turns a panic into an [`Error`] naming the step and its address.
///
/// `#[step]` and [`step_fn`](crate::step_fn()) call this; call it from a hand-written
/// [`Step`](crate::Step) that does
/// its own work.
pub async fn run_task<I, O, F, Fut>(cx: &Context, name: &str, input: I, work: F) -> Result<O, Error>
where
    O: Payload,
    F: FnOnce(StepContext, I) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    let scx = StepContext::new(cx, name);
    let address = scx.address().clone();
    let key = cx.recorder().map(|recorder| {
        let key = scx.key();
        let replayed = recorder.replay(&key);
        (key, replayed)
    });
    if let Some((key, Some(entry))) = &key {
        let recorder = cx.recorder().expect("a key implies a recorder");
        return durable::replayed_result(recorder, cx, key, entry);
    }
    let span = tracing::info_span!(
        "step",
        execution_id = %cx.execution_id(),
        address = %address,
        name,
        attempt = cx.attempt()
    );
    let started = cx.host().now();
    cx.emit(EventKind::StepStarted, address.as_str(), None, None);
    // Call `work` inside the guarded future: a sync step does all its work in the call.
    let result = match AssertUnwindSafe(async move { work(scx, input).await })
        .catch_unwind()
        .instrument(span)
        .await
    {
        Ok(result) => result.map_err(|e| e.at(address.as_str())),
        Err(payload) => Err(Error::from_panic(name, address.as_str(), payload.as_ref())),
    };
    let took = cx.millis_since(started);
    match &result {
        Ok(_) => cx.emit(EventKind::StepSucceeded, address.as_str(), took, None),
        Err(error) => cx.emit(
            EventKind::StepFailed,
            address.as_str(),
            took,
            Some(error.to_string()),
        ),
    }
    match key {
        Some((key, None)) => durable::record_result(cx, key, result).await,
        _ => result,
    }
}

/// Runs a [`SyncStep`] as a task on the calling task (see [`run_task`]).
pub async fn run_sync_task<S: SyncStep>(
    step: &S,
    cx: &Context,
    input: S::Input,
) -> Result<S::Output, Error> {
    run_task(cx, step.name(), input, move |scx, input| {
        std::future::ready(step.call_sync(&scx, input))
    })
    .await
}
