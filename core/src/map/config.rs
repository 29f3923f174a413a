//! How many item failures a map tolerates, and what it returns then.

use serde::{Deserialize, Serialize};

use crate::completion::{Completion, CompletionReason, Counts, Outcome, Settled};
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

    /// When the map completes: the tolerated failures, and in the settled form min
    /// successful and the predicate.
    fn completion(&self) -> Completion;

    /// Whether the map ends with a [`Settled`] batch instead of failing when more items
    /// fail than tolerated.
    fn settles(&self) -> bool {
        false
    }

    /// What a sink takes for an item the map skipped, when the mode reports them.
    fn skipped<O: Payload>() -> Option<Self::Item<O>> {
        None
    }

    /// What a map with a sink returns: the sink's output, or a [`Settled`] batch of it.
    type Finished<T: Payload>: Payload;

    /// The map's output from its sink's output `out`, why it completed and the counts.
    fn finished<T: Payload>(out: T, reason: CompletionReason, counts: Counts) -> Self::Finished<T>;

    /// The output from each item's outcome in input order (the items after the
    /// decision [`Outcome::Skipped`]), why the map completed and the counts.
    fn complete<O: Payload>(
        outcomes: Vec<Outcome<O>>,
        reason: CompletionReason,
        counts: Counts,
    ) -> Result<Self::Output<O>, Error>;
}

/// The results of items that all settled (a map that does not settle runs every
/// item or fails).
fn results<O>(outcomes: Vec<Outcome<O>>) -> impl Iterator<Item = Result<O, Error>> {
    outcomes.into_iter().map(|outcome| match outcome {
        Outcome::Succeeded(output) => Ok(output),
        Outcome::Failed(error) => Err(error),
        Outcome::Skipped => Err(Error::runtime("a map item was skipped")),
    })
}

/// The default map mode: any failed item fails the map with that item's error; the
/// output is every item's output, in input order.
#[derive(Clone, Copy, Debug, Default)]
pub struct Strict;

/// Map mode after [`Map::tolerate`](super::Map::tolerate): up to a number of items may
/// fail; the output is each item's `Result`, in input order.
#[derive(Clone, Copy, Debug)]
pub struct Tolerant(pub(crate) ToleratedFailures);

/// Mode after `settled()` ([`Map::settled`](super::Map::settled),
/// [`ParMap::settled`](super::ParMap::settled),
/// [`Parallel::settled`](crate::Parallel::settled)): the output is a [`Settled`] batch
/// of each item's or branch's [`Outcome`], and the state completes by its
/// [`Completion`] (every failure tolerated unless `tolerate` says otherwise).
#[derive(Clone, Debug)]
pub struct Settle(pub(crate) Completion);

impl private::Sealed for Strict {}
impl private::Sealed for Tolerant {}
impl private::Sealed for Settle {}

/// The map modes a [streaming map](super::Map::items) takes: [`Strict`] and
/// [`Tolerant`]. A [settled](super::Map::settled) map decides over its whole batch of
/// outcomes, which a stream does not hold: fold the `Result`s of a tolerant one instead.
#[diagnostic::on_unimplemented(
    message = "a settled map cannot stream its items",
    note = "call `.items(..)` before `.settled()`'s options, on a plain or tolerant map, and fold the results"
)]
pub trait Streams: MapMode {}

impl Streams for Strict {}
impl Streams for Tolerant {}

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

    fn completion(&self) -> Completion {
        Completion::tolerating(ToleratedFailures::Count(0))
    }

    type Finished<T: Payload> = T;

    fn finished<T: Payload>(out: T, _reason: CompletionReason, _counts: Counts) -> T {
        out
    }

    fn complete<O: Payload>(
        outcomes: Vec<Outcome<O>>,
        _reason: CompletionReason,
        _counts: Counts,
    ) -> Result<Vec<O>, Error> {
        results(outcomes).collect()
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

    fn completion(&self) -> Completion {
        Completion::tolerating(self.0)
    }

    type Finished<T: Payload> = T;

    fn finished<T: Payload>(out: T, _reason: CompletionReason, _counts: Counts) -> T {
        out
    }

    fn complete<O: Payload>(
        outcomes: Vec<Outcome<O>>,
        _reason: CompletionReason,
        _counts: Counts,
    ) -> Result<Vec<Result<O, Error>>, Error> {
        Ok(results(outcomes).collect())
    }
}

impl MapMode for Settle {
    type Output<O: Payload> = Settled<Vec<Outcome<O>>>;

    type Item<O: Payload> = Outcome<O>;

    fn allowed(&self, total: usize) -> usize {
        self.0.allowed(Some(total)).unwrap_or(usize::MAX)
    }

    fn limit(&self, total: Option<usize>) -> Option<usize> {
        match total {
            Some(total) => Some(self.allowed(total)),
            None => self.0.allowed(None),
        }
    }

    fn item<O: Payload>(result: Result<O, Error>) -> Result<Outcome<O>, Error> {
        Ok(Outcome::from(result))
    }

    fn exceeded(&self, error: Error, _failures: usize, _total: usize, _map: &str) -> Error {
        error
    }

    fn finish<O: Payload>(results: Vec<Result<O, Error>>) -> Result<Self::Output<O>, Error> {
        let mut counts = Counts::new(Some(results.len()));
        let outcomes = results
            .into_iter()
            .map(|result| {
                counts.add(result.is_ok());
                Outcome::from(result)
            })
            .collect();
        Ok(Settled::new(
            outcomes,
            CompletionReason::AllCompleted,
            counts,
        ))
    }

    fn completion(&self) -> Completion {
        self.0.clone()
    }

    fn settles(&self) -> bool {
        true
    }

    fn skipped<O: Payload>() -> Option<Outcome<O>> {
        Some(Outcome::Skipped)
    }

    type Finished<T: Payload> = Settled<T>;

    fn finished<T: Payload>(out: T, reason: CompletionReason, counts: Counts) -> Settled<T> {
        Settled::new(out, reason, counts)
    }

    fn complete<O: Payload>(
        outcomes: Vec<Outcome<O>>,
        reason: CompletionReason,
        counts: Counts,
    ) -> Result<Self::Output<O>, Error> {
        Ok(Settled::new(outcomes, reason, counts))
    }
}
