//! Sequence: run one step, then the next on its output.
//!
//! Amazon States Language has no sequence state: states name their `Next`. In waypost a
//! sequence is `a.then(b)`, and it compiles only when `b` takes what `a` returns.

use std::fmt;

use crate::context::Context;
use crate::error::Error;
use crate::graph::Describe;
use crate::step::Step;

/// Step returned by [`StepExt::then`](crate::StepExt::then).
///
/// A sequence takes no slot of its own: its parts take consecutive slots of the
/// enclosing sequence, so `a.then(b).then(c)` addresses `0.a`, `1.b`, `2.c`.
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Then<A, B> {
    first: A,
    second: B,
    first_slots: u32,
}

impl<A: Step, B: Step<Input = A::Output>> Then<A, B> {
    pub(crate) fn new(first: A, second: B) -> Self {
        let first_slots = first.slots();
        Then {
            first,
            second,
            first_slots,
        }
    }
}

impl<A, B> Step for Then<A, B>
where
    A: Step,
    B: Step<Input = A::Output>,
{
    type Input = A::Input;
    type Output = B::Output;

    fn name(&self) -> &str {
        "then"
    }

    async fn run(&self, cx: &Context, input: A::Input) -> Result<B::Output, Error> {
        let middle = self.first.run(cx, input).await?;
        self.second.run(&cx.shifted(self.first_slots), middle).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.step(&self.first);
        graph.step(&self.second);
    }

    fn slots(&self) -> u32 {
        self.first_slots + self.second.slots()
    }
}

impl<A: fmt::Debug, B: fmt::Debug> fmt::Debug for Then<A, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Then")
            .field("first", &self.first)
            .field("second", &self.second)
            .finish()
    }
}
