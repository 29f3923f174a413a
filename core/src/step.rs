//! The [`Step`] trait: what every step is.
//!
//! A step is a typed unit of work: a `#[step]` function, a closure given to
//! [`step_fn`](crate::step_fn()) or [`sync_step_fn`](crate::sync_step_fn()), or a
//! combinator over other steps. Each has an [`Input`](Step::Input) and an
//! [`Output`](Step::Output) type, so the compiler rejects a workflow whose steps do not
//! fit together. The fluent methods that combine steps are on
//! [`StepExt`](crate::StepExt).

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::context::{Context, StepContext};
use crate::error::Error;
use crate::graph::{Describe, NodeKind};

/// A type a step can take or return: it is stored in checkpoints, so it must be
/// serializable, and combinators such as retry and parallel clone it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a step's input or output",
    note = "inputs and outputs are stored in checkpoints: derive `Clone`, `Serialize` and `Deserialize` for `{Self}`"
)]
pub trait Payload: Serialize + DeserializeOwned + Clone + Send + 'static {}

#[diagnostic::do_not_recommend]
impl<T> Payload for T where T: Serialize + DeserializeOwned + Clone + Send + 'static {}

/// A state of a workflow: takes an `Input`, returns an `Output` or an [`Error`].
///
/// Write steps with `#[step]` or [`step_fn`](crate::step_fn()); implement this trait by hand only for a
/// new kind of combinator.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a waypost step",
    label = "not a step",
    note = "a step is a `#[step]` function, a `step_fn(..)` closure, or a combinator such as `a.then(b)`, `choice()`, `parallel(..)` or `map(..)`"
)]
pub trait Step: Send + Sync + 'static {
    /// What the step takes.
    type Input: Payload;
    /// What the step returns on success.
    type Output: Payload;

    /// The name of the step: the function's name for `#[step]`, the kind of state for a
    /// combinator.
    fn name(&self) -> &str;

    /// Runs the step at the position `cx`.
    fn run(
        &self,
        cx: &Context,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send;

    /// Adds the states of this step to a workflow graph. The default describes one task
    /// state named [`name`](Step::name).
    fn describe(&self, graph: &mut Describe<'_>) {
        graph.leaf(NodeKind::Task, self.name());
    }

    /// How many slots of its parent's sequence this step takes: 1 for a state; a
    /// sequence (`a.then(b)`) takes the slots of its parts, so that every state in a
    /// chain gets its own slot however the chain was nested.
    fn slots(&self) -> u32 {
        1
    }
}

/// A step whose work is a plain blocking function. It runs on the runtime's CPU pool
/// (rayon), never on an async thread: on its own through
/// [`run_sync_task`](crate::task::run_sync_task), item after item in
/// [`par_map`](crate::map::par_map). `#[step]` on a non-`async` fn and
/// [`sync_step_fn`](crate::sync_step_fn()) implement it.
///
/// A call on the pool cannot be cancelled: when a [`timeout`](crate::StepExt::timeout)
/// fires first (or the execution is interrupted), the state fails at once, but the
/// function runs on to its end on its pool thread and its result is ignored.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a synchronous step",
    label = "`par_map` needs a step made from a plain `fn`",
    note = "use `#[step]` on a non-async fn or `sync_step_fn(..)`; for async steps use `map(..)`"
)]
pub trait SyncStep: Step {
    /// Runs the step's function on the calling thread (a thread of the CPU pool, when
    /// called by waypost).
    fn call_sync(&self, cx: &StepContext, input: Self::Input) -> Result<Self::Output, Error>;
}

/// Checks at compile time that `step` is a `Step<Input = I, Output = O>`, so a type error
/// points at the combinator that introduced it.
pub fn assert_step<I, O, S>(step: S) -> S
where
    S: Step<Input = I, Output = O>,
{
    step
}
