//! The `#[step]` attribute of [waypost](https://docs.rs/waypost): turns a Rust function
//! into a typed step.
//!
//! Use it through the facade, `use waypost::prelude::*;` (feature `macros`, on by
//! default); this crate's expansion names everything through `::waypost::__private`, so
//! it works only in a crate that depends on `waypost`.
//!
//! # What `#[step]` generates
//!
//! For a function `name`, `#[step]` generates:
//!
//! - a unit struct `name` with the function's visibility, doc comment and `#[cfg]`s
//!   (`Clone`, `Copy`, `Debug`, `Default`): the step value you pass to combinators;
//! - `name::call`, the function as written (same signature, body and other attributes),
//!   to call it directly, outside any workflow;
//! - `impl Step for name`, with `Input` the argument's type (`()` without one) and
//!   `Output` the return type, or the `Ok` type of a `Result`; the step name is the
//!   function's name, or the `name = "..."` argument;
//! - for a plain (non-`async`) `fn`, also `impl SyncStep for name`: the function runs
//!   on the runtime's CPU pool (rayon), never on an async thread — on its own through
//!   `run_sync_task`, item after item in `par_map`.
//!
//! A function returning a type whose last path segment is `Result` (`Result<T, E>`,
//! `anyhow::Result<T>`, `waypost::Result<T>`) is fallible: its error becomes a waypost
//! `Error`, keeping its name when `E` implements `NamedError`, through `Into<Error>`
//! otherwise. Any other return type is the output of a step that never fails.
//!
//! ```text
//! /// Validates an order.
//! #[step]
//! pub async fn validate(order: Order) -> Result<Order, PaymentError> { ... }
//!
//! // expands to, in short:
//!
//! /// Validates an order.
//! pub struct validate;
//!
//! impl validate {
//!     /// Calls the function directly, outside any workflow (no checkpoint, no retry).
//!     pub async fn call(order: Order) -> Result<Order, PaymentError> { ... }
//! }
//!
//! impl Step for validate {
//!     type Input = Order;
//!     type Output = Order;
//!     fn name(&self) -> &str { "validate" }
//!     fn run(&self, cx: &Context, input: Order) -> impl Future<Output = Result<Order, Error>> + Send {
//!         // runs `validate::call(input)` as a task at `cx`, turning a panic or a
//!         // `PaymentError` into an `Error`
//!     }
//! }
//! ```
//!
//! # Accepted functions
//!
//! A free `fn` or `async fn`, without generic parameters, taking:
//!
//! - nothing: `fn tick()`, a step whose input is `()`;
//! - one input, with any pattern: `fn add((a, b): (u32, u32)) -> u32`;
//! - a first argument `cx: &StepContext` (any path ending in `StepContext`), before the
//!   input or alone: `async fn charge(cx: &StepContext, cents: u64) -> String`.
//!
//! Everything else is a compile error, spanned at the offending token; all mistakes of
//! a function are reported at once.

mod ast;
mod check;
mod ctxt;
mod expand;
#[cfg(test)]
mod tests;

/// Turns a function into a step named after it; `#[step(name = "...")]` names it
/// otherwise.
///
/// See the [crate documentation](crate) for what it generates and which functions it
/// accepts.
#[proc_macro_attribute]
pub fn step(
    args: proc_macro::TokenStream,
    item: proc_macro::TokenStream,
) -> proc_macro::TokenStream {
    expand::step(args.into(), item.into()).into()
}
