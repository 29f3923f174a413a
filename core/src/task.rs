//! The task runner: what every task step does around its work.
//!
//! A task state (a `#[step]` function, a [`step_fn`](crate::step_fn()) closure, or a
//! hand-written step doing its own work) runs through [`run_task`]: it replays the
//! step's checkpoint if there is one, otherwise runs the work inside a `tracing` span
//! with a [`StepContext`], turns a panic into an [`Error`], reports the step's events
//! and records its result. A sync step runs through [`run_sync_task`], which does the
//! same with the call on the host's CPU pool, so that no async thread ever blocks.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};

use futures::FutureExt as _;
use futures::channel::oneshot;
use tracing::{Instrument as _, Span};

use crate::context::{Context, Host, StepContext};
use crate::durable;
use crate::error::Error;
use crate::history::{EventDetails, EventKind};
use crate::step::{Payload, SyncStep};

/// Runs the work of a task step at the position `cx`: gives it its [`StepContext`], and
/// turns a panic into an [`Error`] naming the step and its address.
///
/// `#[step]` and [`step_fn`](crate::step_fn()) call this; call it from a hand-written
/// [`Step`](crate::Step) that does its own work. `work` runs on the calling task: give
/// blocking work to [`run_sync_task`] instead.
pub async fn run_task<I, O, F, Fut>(cx: &Context, name: &str, input: I, work: F) -> Result<O, Error>
where
    O: Payload,
    F: FnOnce(StepContext, I) -> Fut,
    Fut: Future<Output = Result<O, Error>>,
{
    run_in_span(cx, name, input, |scx, input, _| work(scx, input)).await
}

/// [`run_task`], whose `work` also gets the step's span, to enter it on another thread.
async fn run_in_span<I, O, F, Fut>(cx: &Context, name: &str, input: I, work: F) -> Result<O, Error>
where
    O: Payload,
    F: FnOnce(StepContext, I, Span) -> Fut,
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
    // A paused execution starts no new step.
    if let Some(recorder) = cx.recorder() {
        recorder.hold().await?;
    }
    // In flight until its result is recorded: an execution running a step is busy.
    let _busy = cx.busy();
    // Timed for its events and the debug log only: no clock read when neither listens.
    let started =
        (cx.keeps_events() || tracing::enabled!(tracing::Level::DEBUG)).then(|| cx.host().now());
    cx.emit(
        EventKind::StepStarted,
        address.as_str(),
        None,
        EventDetails::default(),
    );
    // Call `work` inside the guarded future, so that a panic in the call is caught too.
    let entered = span.clone();
    let result = match AssertUnwindSafe(async move { work(scx, input, entered).await })
        .catch_unwind()
        .instrument(span)
        .await
    {
        Ok(result) => result.map_err(|e| e.at(address.as_str())),
        Err(payload) => Err(Error::from_panic(name, address.as_str(), payload.as_ref())),
    };
    let took = started.and_then(|started| cx.millis_since(started));
    // Encoded before the events: an output that cannot be stored fails the step.
    let (record, result) = match key {
        Some((key, None)) => {
            let recorder = cx.recorder().expect("a key implies a recorder");
            let (records, result) =
                durable::result_record(recorder, cx, key, address.as_str(), result)?;
            (Some(records), result)
        }
        _ => (None, result),
    };
    match &result {
        Ok(_) => cx.emit(
            EventKind::StepSucceeded,
            address.as_str(),
            took,
            EventDetails::default(),
        ),
        Err(error) => cx.emit(
            EventKind::StepFailed,
            address.as_str(),
            took,
            EventDetails::error(error),
        ),
    }
    if let (Some(records), Some(recorder)) = (record, cx.recorder()) {
        recorder.record(records).await?;
    }
    result
}

/// The result a durable execution recorded at `key`, if any: for a hand-written step
/// that does its own bookkeeping (a child execution waits without counting as busy, so
/// it does not go through [`run_task`]).
///
/// # Errors
///
/// Inside the `Some`: the recorded error, or a checkpoint that does not decode.
pub fn replayed<O: Payload>(cx: &Context, key: &str) -> Option<Result<O, Error>> {
    let recorder = cx.recorder()?;
    let entry = recorder.replay(key)?;
    Some(durable::replayed_result(recorder, cx, key, &entry))
}

/// Records `result` as the result of the step at `address` (checkpoint `key`) and hands
/// it back; see [`replayed`]. Without a recorder, hands it back.
///
/// # Errors
///
/// `result`'s error, or a failure to record.
pub async fn record<O: Payload>(
    cx: &Context,
    key: String,
    address: &str,
    result: Result<O, Error>,
) -> Result<O, Error> {
    durable::record_result(cx, key, address, result).await
}

/// Runs a [`SyncStep`] as a task (see [`run_task`]) on the host's CPU pool
/// ([`Host::spawn_blocking`], rayon in `waypost-runtime`), never on an async thread:
/// while the function works, timers fire, leases are renewed and other branches run.
///
/// The step is cloned into the pool's job. A `#[step]` fn is a unit struct and
/// [`SyncStepFn`](crate::SyncStepFn) shares its closure, so the clone costs nothing; a
/// hand-written [`SyncStep`] should be as cheap to clone (hold its state in an `Arc`).
/// [`par_map`](crate::map::par_map) does not go through here: it already calls
/// [`SyncStep::call_sync`] on the pool, item after item.
///
/// A call on the pool cannot be cancelled. When the task is dropped before the call
/// returns — a [`timeout`](crate::StepExt::timeout) fired, a sibling branch of a
/// parallel failed, the execution was interrupted — the pool's thread runs the
/// function to its end (a thread cannot be killed) and its result is ignored: it is
/// neither checkpointed nor handed on.
///
/// # Examples
///
/// A hand-written sync step, whose state is shared so that it clones cheaply:
///
/// ```
/// use std::sync::Arc;
/// use waypost::prelude::*;
/// use waypost::{Context, task::run_sync_task};
///
/// #[derive(Clone)]
/// struct Scale {
///     factors: Arc<Vec<u64>>,
/// }
///
/// impl Step for Scale {
///     type Input = u64;
///     type Output = Vec<u64>;
///
///     fn name(&self) -> &str {
///         "scale"
///     }
///     fn run(&self, cx: &Context, x: u64) -> impl Future<Output = Result<Vec<u64>, Error>> + Send {
///         run_sync_task(self, cx, x)
///     }
/// }
///
/// impl SyncStep for Scale {
///     fn call_sync(&self, _cx: &StepContext, x: u64) -> Result<Vec<u64>, Error> {
///         Ok(self.factors.iter().map(|f| f * x).collect())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let wf = Workflow::new("scale", 1, Scale { factors: Arc::new(vec![1, 10]) });
/// assert_eq!(Runtime::new().run(&wf, 3).await.unwrap(), [3, 30]);
/// # }
/// ```
///
/// # Errors
///
/// The step's error, with its address; a `States.Panic` error when the function
/// panics; a runtime error when the host drops the job without running it.
pub async fn run_sync_task<S: SyncStep + Clone>(
    step: &S,
    cx: &Context,
    input: S::Input,
) -> Result<S::Output, Error> {
    let call = step.clone();
    run_in_span(cx, step.name(), input, move |scx, input, span| {
        on_pool(cx.host(), step.name(), span, scx, move |scx| {
            call.call_sync(scx, input)
        })
    })
    .await
}

/// What a job on the pool sends back: the function's result, or its panic.
type PoolResult<O> = std::thread::Result<Result<O, Error>>;

/// Calls `call` of the step `name` on the host's CPU pool, inside the step's `span`, and
/// waits for its result.
async fn on_pool<O, F>(
    host: &dyn Host,
    name: &str,
    span: Span,
    scx: StepContext,
    call: F,
) -> Result<O, Error>
where
    O: Send + 'static,
    F: FnOnce(&StepContext) -> Result<O, Error> + Send + 'static,
{
    let address = scx.address().clone();
    let (send, receive) = oneshot::channel::<PoolResult<O>>();
    host.spawn_blocking(Box::new(move || {
        let _entered = span.enter();
        // Caught here: a panic must not unwind through the pool (rayon aborts on it).
        let result = catch_unwind(AssertUnwindSafe(|| call(&scx)));
        // Fails only when the task was dropped (a timeout fired): nobody wants it.
        let _ = send.send(result);
    }));
    match receive.await {
        Ok(Ok(result)) => result,
        Ok(Err(panic)) => Err(Error::from_panic(name, address.as_str(), panic.as_ref())),
        Err(oneshot::Canceled) => Err(Error::runtime(format!(
            "step `{name}` at `{address}` did not run: the host dropped its job on the CPU pool"
        ))),
    }
}

#[cfg(test)]
mod tests;
