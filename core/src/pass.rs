//! Pass: a pure transformation of the input, like the ASL `Pass` state.
//!
//! A pass state does no I/O and is not checkpointed on its own: it is recomputed on
//! resume from the checkpoint before it, which is why it must be pure.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("sum", 1, pass("sum", |(a, b): (u32, u32)| a + b));
//! assert_eq!(Runtime::new().run(&wf, (2, 3)).await.unwrap(), 5);
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::context::Context;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::step::{Payload, Step};

/// A pass state named `name` that turns its input into its output with `f`.
pub fn pass<F, I, O>(name: impl Into<Cow<'static, str>>, f: F) -> Pass<F, I, O>
where
    F: Fn(I) -> O + Send + Sync + 'static,
    I: Payload,
    O: Payload,
{
    Pass {
        name: name.into(),
        f,
        _types: PhantomData,
    }
}

/// Step returned by [`pass`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Pass<F, I, O> {
    name: Cow<'static, str>,
    f: F,
    _types: PhantomData<fn(I) -> O>,
}

impl<F, I, O> Step for Pass<F, I, O>
where
    F: Fn(I) -> O + Send + Sync + 'static,
    I: Payload,
    O: Payload,
{
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }

    fn run(&self, cx: &Context, input: I) -> impl Future<Output = Result<O, Error>> + Send {
        // A pure function can still panic (an index out of bounds): that is the state's
        // error, not the runtime's.
        let result = catch_unwind(AssertUnwindSafe(|| (self.f)(input))).map_err(|payload| {
            Error::from_panic(
                &self.name,
                cx.address(&self.name).as_str(),
                payload.as_ref(),
            )
        });
        std::future::ready(result)
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.leaf(NodeKind::Pass, &self.name);
    }
}

impl<F, I, O> fmt::Debug for Pass<F, I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pass")
            .field("name", &self.name)
            .field("f", &std::any::type_name::<F>())
            .finish()
    }
}
