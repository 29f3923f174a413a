//! Task integrations for [waypost]: HTTP calls, subprocesses and `tower` services as
//! steps.
//!
//! Each integration is a step built by a constructor, typed by what it takes and
//! returns, so it composes with `then`, `retry`, `catch` and `timeout` like any other
//! step, and its failures carry names that retry and catch match:
//!
//! - [`http`]: a request made from the step's input, its JSON answer decoded as the
//!   step's output; statuses are `Http.404`, `Http.429`, …, a `Retry-After` sets the
//!   next retry's delay, the body is read up to 16 MiB by default
//!   (`Http.ResponseTooLarge`), and secret headers stay out of every record and off
//!   redirects to other origins.
//! - [`command`]: a subprocess made from the step's input, its stdout (JSON or lines)
//!   the step's output (16 MiB at most by default: `Command.OutputTooLarge`); a non-zero
//!   exit is `Command.ExitCode.N`; its whole process group is killed when the step ends
//!   or is dropped, and by a watchdog when the worker's process dies.
//! - [`service`]: any `tower::Service` as a step, so tower middleware (concurrency
//!   limits, load shedding) wraps the call and waypost's retry and catch wrap the step.
//!
//! In a workflow graph each of them names what it calls (the Amazon States Language
//! `Resource` is `waypost:http:POST`, `waypost:command:<name>`,
//! `waypost:service:<name>`).
//!
//! Use it through the facade's `tasks` feature: `waypost::tasks`.
//!
//! [waypost]: https://docs.rs/waypost
#![doc(test(attr(deny(warnings))))]

pub mod command;
pub mod http;
pub mod service;

pub use command::{Command, CommandConfig, CommandStep};
pub use http::{HttpConfig, HttpRequest, HttpStep, Secret};
pub use service::ServiceStep;
