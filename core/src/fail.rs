//! Fail: ends a branch with a named error, like the ASL `Fail` state: a fixed one
//! ([`fail`], ASL `Error` and `Cause`), one made from the input ([`fail_with`], ASL
//! `ErrorPath` and `CausePath`), or the error a catch caught ([`fail_caught`]).
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

/// A fail state whose error `error` makes from its input, like ASL's `ErrorPath` and
/// `CausePath`: the error's name, message and causes, raised at this state.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let reject = fail_with::<String, String>(|sku: &String| {
///     Error::new("UnknownSku", format!("no product `{sku}`"))
/// });
/// let err = Runtime::new().run(&Workflow::new("shop", 1, reject), "x-1".into()).await.unwrap_err();
/// assert_eq!(err.name(), "UnknownSku");
/// assert_eq!(err.message(), "no product `x-1`");
/// # }
/// ```
pub fn fail_with<I, O>(error: impl Fn(&I) -> Error + Send + Sync + 'static) -> FailWith<I, O>
where
    I: Payload,
    O: Payload,
{
    FailWith {
        error: Box::new(error),
        _types: PhantomData,
    }
}

/// A fail state for the end of a catch handler: its input is what the handler got (the
/// protected step's input and the error), and it fails the branch with the error that
/// was caught — after the handler's other steps ran (release, notify), the execution
/// still reports why it failed.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// async fn charge(cents: u64) -> Result<String, Error> {
///     Err(Error::new("PaymentDeclined", format!("{cents} cents declined")))
/// }
/// #[step]
/// async fn release((cents, error): (u64, Error)) -> (u64, Error) {
///     (cents, error) // inventory released; the error goes on
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let wf = Workflow::new(
///     "pay",
///     1,
///     charge.catch(["PaymentDeclined"], release.then(fail_caught())),
/// );
/// let err = Runtime::new().run(&wf, 250).await.unwrap_err();
/// assert_eq!(err.name(), "PaymentDeclined");
/// assert_eq!(err.message(), "250 cents declined");
/// # }
/// ```
pub fn fail_caught<T: Payload, O: Payload>() -> FailWith<(T, Error), O> {
    fail_with(|(_, error): &(T, Error)| error.clone())
}

/// Step returned by [`fail_with`] and [`fail_caught`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct FailWith<I, O> {
    error: Box<dyn Fn(&I) -> Error + Send + Sync>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I: Payload, O: Payload> Step for FailWith<I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        "fail"
    }

    fn run(&self, cx: &Context, input: I) -> impl Future<Output = Result<O, Error>> + Send {
        let made = (self.error)(&input);
        let mut error = Error::with_kind(ErrorKind::Fail, made.name().to_owned(), made.message());
        if let Some(cause) = made.source() {
            error = error.caused_by(cause.clone());
        }
        std::future::ready(Err(error.at(cx.address("fail").as_str())))
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Fail, "fail")
            .detail("error_path", "from the input");
    }
}

impl<I, O> fmt::Debug for FailWith<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FailWith")
            .field("error", &std::any::type_name_of_val(&self.error))
            .finish()
    }
}
