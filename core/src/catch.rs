//! Catch: handle named errors of a step with another step — ASL's `Catch` field.
//!
//! The handler receives the protected step's original input and the error, and returns
//! the protected step's output type, so the workflow goes on as if the step had
//! succeeded. Errors whose names are not listed pass through unchanged.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! #[step]
//! async fn charge(cents: u64) -> Result<String, Error> {
//!     Err(Error::new("PaymentDeclined", format!("{cents} cents declined")))
//! }
//! #[step]
//! async fn refund_note((cents, error): (u64, Error)) -> String {
//!     format!("not charged {cents}: {}", error.message())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("pay", 1, charge.catch(["PaymentDeclined"], refund_note));
//! assert_eq!(Runtime::new().run(&wf, 250).await.unwrap(), "not charged 250: 250 cents declined");
//! # }
//! ```

use crate::context::Context;
use crate::error::Error;
use crate::graph::{CatchSpec, Describe};
use crate::history::{EventDetails, EventKind};
use crate::step::Step;

/// Step returned by [`StepExt::catch`](crate::StepExt::catch).
///
/// The handler takes the slot after the protected step's slots.
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Catch<S, H> {
    inner: S,
    errors: Vec<String>,
    handler: H,
    inner_slots: u32,
}

impl<S, H> Catch<S, H>
where
    S: Step,
    H: Step<Input = (S::Input, Error), Output = S::Output>,
{
    pub(crate) fn new<N>(inner: S, errors: N, handler: H) -> Self
    where
        N: IntoIterator,
        N::Item: Into<String>,
    {
        let inner_slots = inner.slots();
        Catch {
            inner,
            errors: errors.into_iter().map(Into::into).collect(),
            handler,
            inner_slots,
        }
    }
}

impl<S, H> Step for Catch<S, H>
where
    S: Step,
    H: Step<Input = (S::Input, Error), Output = S::Output>,
{
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        let error = match self.inner.run(cx, input.clone()).await {
            Ok(output) => return Ok(output),
            Err(error) => error,
        };
        if !self.errors.iter().any(|name| error.matches(name)) {
            return Err(error);
        }
        let at = match error.address() {
            Some(at) => at.to_owned(),
            None => cx.address(self.inner.name()).to_string(),
        };
        cx.emit(
            EventKind::ErrorCaught,
            &at,
            None,
            EventDetails::error(&error),
        );
        self.handler
            .run(&cx.shifted(self.inner_slots), (input, error))
            .await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let handler = graph.detached(&self.handler, self.inner_slots);
        graph.decorated(&self.inner).catch.push(CatchSpec {
            errors: self.errors.clone(),
            handler,
        });
    }

    fn slots(&self) -> u32 {
        self.inner_slots + self.handler.slots()
    }
}
