//! Fail: ends a branch with a named error, like the ASL `Fail` state.
//!
//! Its output type is whatever the surrounding steps need, since it never produces one;
//! the error can be retried or caught like any other.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! #[step]
//! fn accept(age: u32) -> String { format!("welcome, {age}") }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let gate = choice()
//!     .when("minor", |age: &u32| *age < 18, fail("TooYoung", "must be 18 or older"))
//!     .otherwise(accept);
//! let err = Runtime::new().run(&Workflow::new("gate", 1, gate), 12).await.unwrap_err();
//! assert_eq!(err.name(), "TooYoung");
//! assert_eq!(err.message(), "must be 18 or older");
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;

use crate::context::Context;
use crate::error::{Error, ErrorKind};
use crate::graph::{Describe, NodeKind};
use crate::step::{Payload, Step};

/// A fail state that always returns the error `name` with `message`.
pub fn fail<I: Payload, O: Payload>(
    name: impl Into<Cow<'static, str>>,
    message: impl Into<String>,
) -> Fail<I, O> {
    Fail {
        error: name.into(),
        message: message.into(),
        _types: PhantomData,
    }
}

/// Step returned by [`fail`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Fail<I, O> {
    error: Cow<'static, str>,
    message: String,
    _types: PhantomData<fn(I) -> O>,
}

impl<I: Payload, O: Payload> Step for Fail<I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        "fail"
    }

    fn run(&self, cx: &Context, _input: I) -> impl Future<Output = Result<O, Error>> + Send {
        let error = Error::with_kind(ErrorKind::Fail, self.error.clone(), self.message.clone())
            .at(cx.address("fail").as_str());
        std::future::ready(Err(error))
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Fail, "fail")
            .detail("error", &self.error)
            .detail("cause", &self.message);
    }
}

impl<I, O> fmt::Debug for Fail<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fail")
            .field("error", &self.error)
            .field("message", &self.message)
            .finish()
    }
}
