//! [`BoxStep`]: a step whose type is erased, to keep steps of different types together.

use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::context::Context;
use crate::error::Error;
use crate::graph::Describe;
use crate::step::{Payload, Step};

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
/// Returned by [`StepExt::boxed`](crate::StepExt::boxed). Useful to store steps of different types together,
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
