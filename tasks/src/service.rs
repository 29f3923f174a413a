//! `tower` services as steps.
//!
//! [`service`] turns any [`tower::Service`] whose request and response are payloads
//! into a step: each run clones the service, waits until it is ready and calls it. So
//! tower middleware composes with waypost's combinators, each for what it is good at:
//!
//! - **tower layers, around the service**, for protection inside this process that
//!   needs no record: a concurrency limit shared by every execution
//!   (`ConcurrencyLimitLayer`), a rate limit, load shedding (`LoadShedLayer`), a
//!   per-call timeout of an in-process client. They forget everything when the process
//!   dies, and their decisions are not in the history.
//! - **waypost's `retry`, `catch` and `timeout`, around the step**, for anything that
//!   must survive a crash and be recorded: attempts and their delays are checkpointed,
//!   a caught error is an event, a resumed execution goes on from where it was.
//!
//! A tower `Retry` layer would retry invisibly and restart its count after a crash:
//! prefer waypost's [`retry`](waypost_core::StepExt::retry) on the step.
//!
//! # Error names
//!
//! | the service's error | name |
//! | --- | --- |
//! | `tower::timeout::error::Elapsed` (a `TimeoutLayer`) | `Service.Timeout` |
//! | `tower::load_shed::error::Overloaded` (a `LoadShedLayer`) | `Service.Overloaded` |
//! | anything else | `Service.Failed`, its `source()` chain as causes |
//!
//! [`service_with_errors`] names errors your own way (falling back on
//! [`default_error`]).
//!
//! # Examples
//!
//! ```
//! use tower::ServiceBuilder;
//! use waypost::prelude::*;
//! use waypost::tasks::service;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let double = ServiceBuilder::new()
//!     .concurrency_limit(4)
//!     .service_fn(|x: u64| async move { Ok::<_, std::convert::Infallible>(x * 2) });
//! let wf = Workflow::new("double", 1, service::service("double", double));
//! assert_eq!(Runtime::new().run(&wf, 21).await.unwrap(), 42);
//! assert_eq!(
//!     waypost::export::asl(wf.graph())["States"]["double"]["Resource"],
//!     "waypost:service:double"
//! );
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;

use tower::{BoxError, Service, ServiceExt as _};
use waypost_core::graph::{Describe, NodeKind, RESOURCE};
use waypost_core::task::run_task;
use waypost_core::{Context, Error, Payload, Step};

/// `Service.Timeout`: a tower `Timeout` layer's `Elapsed`.
pub const TIMEOUT: &str = "Service.Timeout";
/// `Service.Overloaded`: a tower `LoadShed` layer's `Overloaded`.
pub const OVERLOADED: &str = "Service.Overloaded";
/// `Service.Failed`: any other error of the service.
pub const FAILED: &str = "Service.Failed";

/// A step that calls a `tower::Service`; returned by [`service`] and
/// [`service_with_errors`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct ServiceStep<S, Req, E> {
    name: String,
    service: S,
    errors: E,
    _types: PhantomData<fn(Req)>,
}

/// How [`service`] names a service's error: see [Error names](self#error-names).
///
/// # Examples
///
/// ```
/// use waypost::tasks::service::default_error;
///
/// let shed: tower::BoxError = Box::new(tower::load_shed::error::Overloaded::new());
/// assert_eq!(default_error(shed).name(), "Service.Overloaded");
/// let other: tower::BoxError = "no route".into();
/// assert_eq!(default_error(other).name(), "Service.Failed");
/// ```
#[allow(
    clippy::needless_pass_by_value,
    reason = "it is the mapping `service_with_errors` takes, which owns the error"
)]
pub fn default_error(error: BoxError) -> Error {
    let name = if error.is::<tower::timeout::error::Elapsed>() {
        TIMEOUT
    } else if error.is::<tower::load_shed::error::Overloaded>() {
        OVERLOADED
    } else {
        FAILED
    };
    let mut named = Error::new(name, error.to_string());
    // The causes, innermost last.
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(Error::new("Cause", cause.to_string()));
        source = cause.source();
    }
    if let Some(chain) = causes
        .into_iter()
        .rev()
        .reduce(|inner, outer| outer.caused_by(inner))
    {
        named = named.caused_by(chain);
    }
    named
}

/// A step named `name` that calls `service` with its input and returns its response;
/// errors are named by [`default_error`]. Its graph resource is
/// `waypost:service:<name>`.
pub fn service<S, Req>(
    name: impl Into<String>,
    service: S,
) -> ServiceStep<S, Req, fn(BoxError) -> Error>
where
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Response: Payload,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Req: Payload,
{
    service_with_errors(name, service, default_error)
}

/// [`service`], with the service's errors named by `errors`.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::tasks::service::{default_error, service_with_errors};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let picky = tower::service_fn(|x: u32| async move {
///     if x == 0 { Err("zero") } else { Ok(100 / x) }
/// });
/// let step = service_with_errors("divide", picky, |e: tower::BoxError| {
///     if e.to_string() == "zero" { Error::terminal("DivideByZero", "x is 0") } else { default_error(e) }
/// });
/// let error = Runtime::new().run(&Workflow::new("divide", 1, step), 0).await.unwrap_err();
/// assert_eq!(error.name(), "DivideByZero");
/// # }
/// ```
pub fn service_with_errors<S, Req, E>(
    name: impl Into<String>,
    service: S,
    errors: E,
) -> ServiceStep<S, Req, E>
where
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Response: Payload,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Req: Payload,
    E: Fn(BoxError) -> Error + Send + Sync + 'static,
{
    ServiceStep {
        name: name.into(),
        service,
        errors,
        _types: PhantomData,
    }
}

impl<S, Req, E> Step for ServiceStep<S, Req, E>
where
    S: Service<Req> + Clone + Send + Sync + 'static,
    S::Response: Payload,
    S::Error: Into<BoxError>,
    S::Future: Send,
    Req: Payload,
    E: Fn(BoxError) -> Error + Send + Sync + 'static,
{
    type Input = Req;
    type Output = S::Response;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: Req) -> Result<S::Response, Error> {
        let service = self.service.clone();
        run_task(cx, &self.name, input, |_, input| async move {
            service
                .oneshot(input)
                .await
                .map_err(|e| (self.errors)(e.into()))
        })
        .await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Task, &self.name)
            .detail(RESOURCE, format!("waypost:service:{}", self.name));
    }
}

impl<S, Req, E> fmt::Debug for ServiceStep<S, Req, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceStep")
            .field("name", &self.name)
            .field("service", &std::any::type_name::<S>())
            .finish()
    }
}
