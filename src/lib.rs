//! Typed, durable workflows for Rust, in the style of AWS Step Functions.
//!
//! A workflow is a tree of *states*. Each state is a typed Rust function (a *step*) or
//! a combinator over other states — sequence, choice, parallel, map, retry, catch,
//! timeout, wait, pass, succeed, fail. The compiler rejects a workflow whose types do
//! not line up; the runtime runs it on tokio (async I/O) and rayon (CPU work).
//!
//! # Getting started
//!
//! ```
//! use std::time::Duration;
//! use waypost::prelude::*;
//!
//! #[step]
//! async fn parse(line: String) -> Result<u32, Error> {
//!     Ok(line.trim().parse()?)       // a ParseIntError becomes an Error named "std::ParseIntError"
//! }
//!
//! #[step]
//! fn square(x: u32) -> u64 {        // a plain fn: fit for `par_map` on rayon
//!     u64::from(x) * u64::from(x)
//! }
//!
//! #[step]
//! async fn report(squares: Vec<u64>) -> String {
//!     format!("sum of squares: {}", squares.iter().sum::<u64>())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let workflow = Workflow::new(
//!     "squares",
//!     1,
//!     map(parse.retry(RetryPolicy::builder().max_attempts(2).interval(Duration::ZERO).build()))
//!         .then(par_map(square))
//!         .then(report),
//! );
//! let lines = vec!["1".to_string(), " 2".to_string(), "3 ".to_string()];
//! let out = Runtime::new().run(&workflow, lines).await.unwrap();
//! assert_eq!(out, "sum of squares: 14");
//! # }
//! ```
//!
//! # Crate map
//!
//! - `waypost-core`: [`Step`], [`StepExt`], the combinator modules ([`choice`](mod@choice),
//!   [`parallel`](mod@parallel), [`map`](mod@map), [`retry`], [`catch`], [`timeout`](mod@timeout),
//!   [`wait`](mod@wait), [`pass`](mod@pass), [`succeed`](mod@succeed),
//!   [`fail`](mod@fail)), [`Error`], [`Workflow`] and its [`Graph`].
//! - `waypost-runtime`: [`Runtime`], which runs workflows on tokio and rayon.
//! - `waypost-macros`: the [`step`](macro@step) attribute (feature `macros`, on by
//!   default).
//! - `waypost-postgres`: `waypost::postgres::PostgresStore`, executions in PostgreSQL
//!   for workers on many machines (feature `postgres`).
//! - `waypost-console`: `waypost::console::Console`, the web console served from your
//!   program, which decodes your workflows' data and redrives them (feature `console`);
//!   `waypost console --store …` serves it over any store.
//! - `waypost-tasks`: `waypost::tasks`, HTTP calls, subprocesses and tower services as
//!   steps (feature `tasks`).
//! - `waypost-bench`: `waypost::bench`, benchmark your own map step — throughput, item
//!   latency and overhead against a raw baseline over a sweep (feature `bench`).
#![doc(test(attr(deny(warnings))))]

#[doc(inline)]
pub use waypost_core::*;
#[doc(inline)]
pub use waypost_runtime::*;

/// The PostgreSQL store (feature `postgres`): see [`PostgresStore`](postgres::PostgresStore).
#[cfg(feature = "postgres")]
pub use waypost_postgres as postgres;

/// The web console (feature `console`): see [`Console`](console::Console).
#[cfg(feature = "console")]
pub use waypost_console as console;

/// Task integrations (feature `tasks`): HTTP calls, subprocesses and tower services as
/// steps; see [`tasks::http`], [`tasks::command`] and [`tasks::service`].
#[cfg(feature = "tasks")]
pub use waypost_tasks as tasks;

/// Benchmark your own map step (feature `bench`): see
/// [`MapBench`](bench::MapBench).
#[cfg(feature = "bench")]
pub use waypost_bench as bench;

/// Turns a function into a step named after it.
///
/// `#[step]` on `fn name(input: I) -> O` (or `async fn`, or returning
/// `Result<O, E>` where `E` converts into [`Error`]) defines a unit struct `name` that
/// implements [`Step<Input = I, Output = O>`](Step); a plain `fn` also implements
/// [`SyncStep`], so it can run in [`par_map`]. The original function stays callable as
/// `name::call(input)`. `#[step(name = "...")]` sets another step name. A first argument
/// `cx: &StepContext` receives the [`StepContext`].
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step(name = "add-tax")]
/// fn add_tax(cents: u64) -> u64 { cents * 120 / 100 }
///
/// assert_eq!(add_tax.name(), "add-tax");
/// assert_eq!(add_tax::call(100), 120);
/// ```
#[cfg(feature = "macros")]
pub use waypost_macros::step;

/// The names most workflows use: `use waypost::prelude::*;`.
pub mod prelude {
    pub use crate::retry::Jitter;
    #[cfg(feature = "macros")]
    pub use crate::step;
    pub use crate::{
        BoxStep, CallbackToken, Error, ExecutionStatus, ItemReader, NamedError, RetryPolicy,
        RunError, Runtime, Step, StepContext, StepExt, SyncStep, ToleratedFailures, Workflow,
        child, choice, fail, fail_caught, fail_with, map, new_execution_id, par_map, parallel,
        pass, read_items, step_fn, succeed, sync_step_fn, vec_items, wait, wait_for_callback,
        wait_until, wait_until_input,
    };
    pub use crate::{Check, WaitStrategy, wait_for_condition};
}

/// The README's examples, compiled and run as doctests so that they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc(hidden)]
pub mod __private {
    pub use waypost_core::private::*;
}
