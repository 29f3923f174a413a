//! The [`Step`] trait, its fluent extension [`StepExt`], and steps made from closures.
//!
//! A step is a typed unit of work: a `#[step]` function, a closure given to
//! [`step_fn`] or [`sync_step_fn`], or a combinator over other steps. Each has an
//! [`Input`](Step::Input) and an [`Output`](Step::Output) type, so the compiler rejects a
//! workflow whose steps do not fit together.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument as _;

use crate::catch::Catch;
use crate::context::{Context, StepContext};
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::retry::{Retry, RetryPolicy};
use crate::then::Then;
use crate::timeout::Timeout;

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
/// Write steps with `#[step]` or [`step_fn`]; implement this trait by hand only for a
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

/// A step whose work is a plain blocking function, so it can run on the CPU pool
/// (see [`par_map`](crate::map::par_map)). `#[step]` on a non-`async` fn implements it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a synchronous step",
    label = "`par_map` needs a step made from a plain `fn`",
    note = "use `#[step]` on a non-async fn or `sync_step_fn(..)`; for async steps use `map(..)`"
)]
pub trait SyncStep: Step {
    /// Runs the step's function on the calling thread.
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
    fn timeout(self, limit: Duration) -> Timeout<Self>
    where
        Self: Sized,
    {
        assert_step::<Self::Input, Self::Output, _>(Timeout::new(self, limit))
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

/// The dyn-compatible form of [`Step`], implemented for every step.
trait DynStep<I, O>: Send + Sync {
    fn name(&self) -> &str;
    fn run_boxed<'a>(&'a self, cx: &'a Context, input: I) -> BoxFuture<'a, Result<O, Error>>;
    fn describe(&self, graph: &mut Describe<'_>);
    fn slots(&self) -> u32;
}

impl<S: Step> DynStep<S::Input, S::Output> for S {
    fn name(&self) -> &str {
        Step::name(self)
    }
    fn run_boxed<'a>(
        &'a self,
        cx: &'a Context,
        input: S::Input,
    ) -> BoxFuture<'a, Result<S::Output, Error>> {
        Box::pin(self.run(cx, input))
    }
    fn describe(&self, graph: &mut Describe<'_>) {
        Step::describe(self, graph);
    }
    fn slots(&self) -> u32 {
        Step::slots(self)
    }
}

/// A type-erased step from `I` to `O`; cloning shares the step.
///
/// Returned by [`StepExt::boxed`]. Useful to store steps of different types together,
/// as [`parallel`](crate::parallel::parallel) over a `Vec` does.
pub struct BoxStep<I, O> {
    inner: Arc<dyn DynStep<I, O>>,
}

impl<I: Payload, O: Payload> BoxStep<I, O> {
    /// Boxes `step`.
    pub fn new<S: Step<Input = I, Output = O>>(step: S) -> Self {
        BoxStep {
            inner: Arc::new(step),
        }
    }
}

impl<I, O> Clone for BoxStep<I, O> {
    fn clone(&self) -> Self {
        BoxStep {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<I, O> fmt::Debug for BoxStep<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoxStep").field(&self.inner.name()).finish()
    }
}

impl<I: Payload, O: Payload> Step for BoxStep<I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn run(&self, cx: &Context, input: I) -> Result<O, Error> {
        self.inner.run_boxed(cx, input).await
    }
    fn describe(&self, graph: &mut Describe<'_>) {
        self.inner.describe(graph);
    }
    fn slots(&self) -> u32 {
        self.inner.slots()
    }
}

/// Runs the work of a task step at the position `cx`: gives it its [`StepContext`], and
/// turns a panic into an [`Error`] naming the step and its address.
///
/// `#[step]` and [`step_fn`] call this; call it from a hand-written [`Step`] that does
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
    cx.emit(
        EventKind::StepStarted,
        address.as_str(),
        None,
        EventDetails::default(),
    );
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

/// A step made from an async closure; returned by [`step_fn`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct StepFn<F, I, O> {
    name: String,
    f: F,
    _types: PhantomData<fn(I) -> O>,
}

/// A step named `name` that runs the async closure `f`.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let greet = step_fn("greet", |name: String| async move {
///     Ok::<_, Error>(format!("hello, {name}"))
/// });
/// let wf = Workflow::new("greet", 1, greet);
/// assert_eq!(Runtime::new().run(&wf, "ada".to_string()).await.unwrap(), "hello, ada");
/// # }
/// ```
pub fn step_fn<F, I, O, Fut>(name: impl Into<String>, f: F) -> StepFn<F, I, O>
where
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, Error>> + Send + 'static,
    I: Payload,
    O: Payload,
{
    StepFn {
        name: name.into(),
        f,
        _types: PhantomData,
    }
}

impl<F, I, O, Fut> Step for StepFn<F, I, O>
where
    F: Fn(I) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<O, Error>> + Send + 'static,
    I: Payload,
    O: Payload,
{
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }
    fn run(&self, cx: &Context, input: I) -> impl Future<Output = Result<O, Error>> + Send {
        run_task(cx, &self.name, input, |_, input| (self.f)(input))
    }
}

impl<F, I, O> fmt::Debug for StepFn<F, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepFn")
            .field("name", &self.name)
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}

/// A step made from a blocking closure; returned by [`sync_step_fn`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct SyncStepFn<F, I, O> {
    name: String,
    f: F,
    _types: PhantomData<fn(I) -> O>,
}

/// A step named `name` that runs the blocking closure `f`; usable in
/// [`par_map`](crate::map::par_map).
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let square = sync_step_fn("square", |x: u64| Ok::<_, Error>(x * x));
/// let wf = Workflow::new("squares", 1, par_map(square));
/// assert_eq!(Runtime::new().run(&wf, vec![1, 2, 3]).await.unwrap(), vec![1, 4, 9]);
/// # }
/// ```
pub fn sync_step_fn<F, I, O>(name: impl Into<String>, f: F) -> SyncStepFn<F, I, O>
where
    F: Fn(I) -> Result<O, Error> + Send + Sync + 'static,
    I: Payload,
    O: Payload,
{
    SyncStepFn {
        name: name.into(),
        f,
        _types: PhantomData,
    }
}

impl<F, I, O> Step for SyncStepFn<F, I, O>
where
    F: Fn(I) -> Result<O, Error> + Send + Sync + 'static,
    I: Payload,
    O: Payload,
{
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }
    fn run(&self, cx: &Context, input: I) -> impl Future<Output = Result<O, Error>> + Send {
        run_sync_task(self, cx, input)
    }
}

impl<F, I, O> SyncStep for SyncStepFn<F, I, O>
where
    F: Fn(I) -> Result<O, Error> + Send + Sync + 'static,
    I: Payload,
    O: Payload,
{
    fn call_sync(&self, _cx: &StepContext, input: I) -> Result<O, Error> {
        (self.f)(input)
    }
}

impl<F, I, O> fmt::Debug for SyncStepFn<F, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncStepFn")
            .field("name", &self.name)
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}
