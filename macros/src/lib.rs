//! The `#[step]` attribute of [waypost]: turns a function into a typed step.
//!
//! ```text
//! #[step]                      // or #[step(name = "charge-card")]
//! async fn charge(order: Order) -> Result<Receipt, PaymentError> { .. }
//! ```
//!
//! becomes a unit struct `charge` (with the function's visibility and docs) that
//! implements `waypost::Step<Input = Order, Output = Receipt>`; the function itself
//! stays callable as `charge::call(order)`. A plain `fn` also implements
//! `waypost::SyncStep`, so it can run in `par_map`. An optional first argument
//! `cx: &StepContext` receives the step's context. Use it through the `waypost` facade,
//! which re-exports it.
//!
//! [waypost]: https://docs.rs/waypost

mod ast;
mod expand;

use proc_macro::TokenStream;

/// Turns a function of one input into a step named after it. See the crate docs.
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::step(args.into(), &item.into()).into()
}
