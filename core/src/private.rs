//! What `#[step]` expansions refer to, through `::waypost::__private`. Not public API.

use std::cell::Cell;

pub use crate::context::{Context, StepContext};
pub use crate::error::Error;
pub use crate::step::{Step, SyncStep};
pub use crate::task::{run_sync_task, run_task};

use crate::error::NamedError;

/// The `Ok` type of a step function's `Result`-like return type.
pub trait StepResult {
    /// The success type.
    type Ok;
}

impl<T, E> StepResult for Result<T, E> {
    type Ok = T;
}

/// Holds a step function's error while the autoref trick below picks a conversion:
/// a [`NamedError`] keeps its name, anything else goes through `Into<Error>`.
pub struct ErrWrap<E>(Cell<Option<E>>);

impl<E> std::fmt::Debug for ErrWrap<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrWrap")
    }
}

impl<E> ErrWrap<E> {
    /// Wraps `error`.
    pub fn new(error: E) -> Self {
        ErrWrap(Cell::new(Some(error)))
    }

    fn take(&self) -> E {
        self.0.take().expect("an ErrWrap is converted once")
    }
}

/// Preferred conversion: the error names itself.
pub trait ViaNamed {
    /// Converts.
    fn __into_error(self) -> Error;
}

impl<E: NamedError> ViaNamed for &&ErrWrap<E> {
    fn __into_error(self) -> Error {
        self.take().into_named_error()
    }
}

/// Fallback conversion: `Into<Error>` (any `std::error::Error`, or `Error` itself).
pub trait ViaInto {
    /// Converts.
    fn __into_error(self) -> Error;
}

impl<E: Into<Error>> ViaInto for &ErrWrap<E> {
    fn __into_error(self) -> Error {
        self.take().into()
    }
}
