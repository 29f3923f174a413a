//! Succeed: marks the successful end of a branch, like the ASL `Succeed` state.
//!
//! In a typed tree every branch hands its output to what follows the branch, so a
//! succeed state passes its input through unchanged; it exists to make the end of a
//! branch explicit in graphs (`choice().when("already paid", .., succeed())`).
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! #[step]
//! fn bill(cents: u64) -> u64 { cents + 100 }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let billing = choice()
//!     .when("free", |c: &u64| *c == 0, succeed())
//!     .otherwise(bill);
//! let wf = Workflow::new("billing", 1, billing);
//! assert_eq!(Runtime::new().run(&wf, 0).await.unwrap(), 0);
//! assert_eq!(Runtime::new().run(&wf, 5).await.unwrap(), 105);
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use crate::context::Context;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::step::{Payload, Step};

/// A succeed state that passes its input through.
pub fn succeed<T: Payload>() -> Succeed<T> {
    Succeed { _type: PhantomData }
}

/// Step returned by [`succeed`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Succeed<T> {
    _type: PhantomData<fn(T) -> T>,
}

impl<T: Payload> Step for Succeed<T> {
    type Input = T;
    type Output = T;

    fn name(&self) -> &str {
        "succeed"
    }

    fn run(&self, _cx: &Context, input: T) -> impl Future<Output = Result<T, Error>> + Send {
        std::future::ready(Ok(input))
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph.leaf(NodeKind::Succeed, "succeed");
    }
}

impl<T> fmt::Debug for Succeed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Succeed")
    }
}
