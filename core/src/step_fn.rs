//! Steps made from closures: [`step_fn`] (async) and [`sync_step_fn`] (blocking).

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::context::{Context, StepContext};
use crate::error::Error;
use crate::step::{Payload, Step, SyncStep};
use crate::task::{run_sync_task, run_task};

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
    name: Arc<str>,
    // Shared, so that each run clones the step into the CPU pool's job cheaply.
    f: Arc<F>,
    _types: PhantomData<fn(I) -> O>,
}

impl<F, I, O> Clone for SyncStepFn<F, I, O> {
    fn clone(&self) -> Self {
        SyncStepFn {
            name: Arc::clone(&self.name),
            f: Arc::clone(&self.f),
            _types: PhantomData,
        }
    }
}

/// A step named `name` that runs the blocking closure `f` on the runtime's CPU pool;
/// usable in [`par_map`](crate::map::par_map). See [`SyncStep`] for what a timeout does
/// to it.
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
        name: Arc::from(name.into()),
        f: Arc::new(f),
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
