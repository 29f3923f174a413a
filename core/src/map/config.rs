//! How many item failures a map tolerates, and what it returns then.

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, names};
use crate::step::Payload;

/// How many failed items a map tolerates before the whole state fails (ASL's
/// `ToleratedFailureCount` and `ToleratedFailurePercentage`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToleratedFailures {
    /// At most this many items may fail.
    Count(usize),
    /// At most this percentage (0–100) of the items may fail.
    Percentage(f64),
}

impl ToleratedFailures {
    /// How many of `total` items may fail.
    pub fn allowed(self, total: usize) -> usize {
        match self {
            ToleratedFailures::Count(count) => count,
            ToleratedFailures::Percentage(pct) => {
                ((pct.clamp(0.0, 100.0) / 100.0) * total as f64).floor() as usize
            }
        }
    }
}

/// Whether an item's error stops the map however many failures are tolerated: a
/// runtime failure (the store, a checkpoint that does not decode) or a cancellation is
/// not the item's own failure.
pub(crate) fn stops_any_map(error: &Error) -> bool {
    matches!(error.kind(), ErrorKind::Runtime | ErrorKind::Cancelled)
}

mod private {
    pub trait Sealed {}
}

/// What a map returns: all outputs ([`Strict`]) or one result per item ([`Tolerant`]).
pub trait MapMode: private::Sealed + Clone + Send + Sync + 'static {
    /// The map's output for items of output type `O`.
    type Output<O: Payload>: Payload;

    /// What a map hands its sink for each item: the output, or the item's `Result`.
    type Item<O: Payload>: Payload;

    /// How many of `total` items may fail.
    fn allowed(&self, total: usize) -> usize;

    /// How many items may fail when `total` may not be known yet: `None` when that
    /// depends on the total (a percentage of a stream).
    fn limit(&self, total: Option<usize>) -> Option<usize>;

    /// An item's result as the sink takes it; `Err` when the mode takes no failures.
    fn item<O: Payload>(result: Result<O, Error>) -> Result<Self::Item<O>, Error>;

    /// The error the map fails with when `failures` items failed, the last with `error`.
    fn exceeded(&self, error: Error, failures: usize, total: usize, map: &str) -> Error;

    /// The output from every item's result (all present, failures within tolerance).
    fn finish<O: Payload>(results: Vec<Result<O, Error>>) -> Result<Self::Output<O>, Error>;
}

/// The default map mode: any failed item fails the map with that item's error; the
/// output is every item's output, in input order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Strict;

/// Map mode after [`Map::tolerate`](super::Map::tolerate): up to a number of items may
/// fail; the output is each item's `Result`, in input order.
#[derive(Clone, Copy, Debug)]
pub struct Tolerant(pub(crate) ToleratedFailures);

impl private::Sealed for Strict {}
impl private::Sealed for Tolerant {}

impl MapMode for Strict {
    type Output<O: Payload> = Vec<O>;

    type Item<O: Payload> = O;

    fn allowed(&self, _total: usize) -> usize {
        0
    }

    fn limit(&self, _total: Option<usize>) -> Option<usize> {
        Some(0)
    }

    fn item<O: Payload>(result: Result<O, Error>) -> Result<O, Error> {
        result
    }

    fn exceeded(&self, error: Error, _failures: usize, _total: usize, _map: &str) -> Error {
        error
    }

    fn finish<O: Payload>(results: Vec<Result<O, Error>>) -> Result<Vec<O>, Error> {
        results.into_iter().collect()
    }
}

impl MapMode for Tolerant {
    type Output<O: Payload> = Vec<Result<O, Error>>;

    type Item<O: Payload> = Result<O, Error>;

    fn allowed(&self, total: usize) -> usize {
        self.0.allowed(total)
    }

    fn limit(&self, total: Option<usize>) -> Option<usize> {
        match (self.0, total) {
            (ToleratedFailures::Count(count), _) => Some(count),
            (_, Some(total)) => Some(self.0.allowed(total)),
            (ToleratedFailures::Percentage(_), None) => None,
        }
    }

    fn item<O: Payload>(result: Result<O, Error>) -> Result<Result<O, Error>, Error> {
        Ok(result)
    }

    fn exceeded(&self, error: Error, failures: usize, total: usize, map: &str) -> Error {
        Error::new(
            names::EXCEED_TOLERATED_FAILURE,
            format!(
                "map `{map}`: {failures} of {total} items failed, more than the {} tolerated",
                self.0.allowed(total)
            ),
        )
        .caused_by(error)
    }

    fn finish<O: Payload>(results: Vec<Result<O, Error>>) -> Result<Vec<Result<O, Error>>, Error> {
        Ok(results)
    }
}
