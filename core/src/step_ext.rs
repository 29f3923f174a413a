//! Fluent combinators on every step: [`StepExt`].
//!
//! `StepExt` holds every method that builds a combinator from a step (`then`, `retry`,
//! `catch`, `timeout`, `boxed`); it is implemented for every [`Step`], so implementors
//! of `Step` write only what the step does.

use std::time::Duration;

use crate::at_most_once::AtMostOnce;
use crate::boxed::BoxStep;
use crate::catch::Catch;
use crate::codec::Codec;
use crate::codec::per_state::WithCodec;
use crate::error::Error;
use crate::heartbeat::HeartbeatTimeout;
use crate::retry::{Retry, RetryPolicy};
use crate::step::{Step, assert_step};
use crate::then::Then;
use crate::timeout::Timeout;

/// Fluent combinators on every [`Step`].
pub trait StepExt: Step {
    /// Runs `next` on this step's output: a sequence.
    ///
    /// Compiles only when `next` takes what `self` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    ///
    /// #[step]
    /// fn double(x: u32) -> u32 { x * 2 }
    /// #[step]
    /// fn describe(x: u32) -> String { format!("got {x}") }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("demo", 1, double.then(double).then(describe));
    /// assert_eq!(Runtime::new().run(&wf, 5).await.unwrap(), "got 20");
    /// # }
    /// ```
    fn then<B>(self, next: B) -> Then<Self, B>
    where
        Self: Sized,
        B: Step<Input = Self::Output>,
    {
        assert_step::<Self::Input, B::Output, _>(Then::new(self, next))
    }

    /// Retries this step by `policy` when it fails with a matching error.
    fn retry(self, policy: RetryPolicy) -> Retry<Self>
    where
        Self: Sized,
    {
        assert_step::<Self::Input, Self::Output, _>(Retry::new(self, policy))
    }

    /// On an error named in `errors`, runs `handler` with the original input and the
    /// error; the handler must return this step's output type.
    fn catch<H, N>(self, errors: N, handler: H) -> Catch<Self, H>
    where
        Self: Sized,
        H: Step<Input = (Self::Input, Error), Output = Self::Output>,
        N: IntoIterator,
        N::Item: Into<String>,
    {
        assert_step::<Self::Input, Self::Output, _>(Catch::new(self, errors, handler))
    }

    /// Fails this step with a `States.Timeout` error when it runs longer than `limit`.
    ///
    /// The step is cancelled when the limit passes — except the call of a sync step
    /// (a plain `fn`), which cannot be: it runs on to its end on its CPU pool thread and
    /// its result is ignored (see [`timeout`](crate::timeout)).
    fn timeout(self, limit: Duration) -> Timeout<Self>
    where
        Self: Sized,
    {
        assert_step::<Self::Input, Self::Output, _>(Timeout::new(self, limit))
    }

    /// Fails the step with `States.HeartbeatTimeout` (which retry and catch match) when
    /// it sends no [`heartbeat`](crate::StepContext::heartbeat) for `limit` — from its
    /// start, then from its last heartbeat — like ASL's `HeartbeatSeconds`. The step is
    /// cancelled then, as by a [`timeout`](Self::timeout). See
    /// [`heartbeat`](crate::heartbeat).
    fn heartbeat_timeout(self, limit: Duration) -> HeartbeatTimeout<Self>
    where
        Self: Sized,
    {
        assert_step::<Self::Input, Self::Output, _>(HeartbeatTimeout::new(self, limit))
    }

    /// Runs this task step at most once per attempt, also across a crash: its start is
    /// recorded before its body runs, and an attempt found started without a result
    /// fails with `States.StepInterrupted` instead of running again. The default is at
    /// least once. See [`at_most_once`](crate::at_most_once).
    fn at_most_once(self) -> AtMostOnce<Self>
    where
        Self: Sized,
    {
        assert_step::<Self::Input, Self::Output, _>(AtMostOnce::new(self))
    }

    /// Stores this state's output with `codec` instead of the workflow's: JSON for an
    /// output people read, the runtime's `RawBytes` for a large blob, or a [`Codec`] of
    /// your own. The codec's name is recorded beside the output, and a resumed execution
    /// whose state now has another codec fails with an error naming both rather than
    /// decode the output wrongly. States nested inside this one keep the workflow's
    /// codec. See [`per_state`](crate::codec::per_state).
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::JsonCodec;
    ///
    /// #[step]
    /// async fn total(x: u32) -> u32 { x + 1 }
    ///
    /// let wf = Workflow::new("total", 1, total.codec(JsonCodec));
    /// assert_eq!(wf.graph().nodes()[0].details, [("codec".to_string(), "json".to_string())]);
    /// ```
    fn codec(self, codec: impl Codec) -> WithCodec<Self>
    where
        Self: Sized,
    {
        assert_step::<Self::Input, Self::Output, _>(WithCodec::new(
            self,
            std::sync::Arc::new(codec),
        ))
    }

    /// Erases the type of this step (one allocation and a virtual call per run).
    fn boxed(self) -> BoxStep<Self::Input, Self::Output>
    where
        Self: Sized,
    {
        BoxStep::new(self)
    }
}

impl<S: Step + ?Sized> StepExt for S {}
