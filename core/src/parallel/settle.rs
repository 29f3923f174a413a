//! The settled form's driver: branches start in order, at most a limit at once; their
//! outcomes feed a [`Tally`] in branch order, and none starts after it decides.

use futures::StreamExt as _;
use futures::future::BoxFuture;

use crate::completion::{Completion, CompletionReason, Counts, Outcome, Tally};
use crate::error::Error;

/// Each branch's outcome (those after the decision skipped), why the state completed
/// and the counts.
pub(crate) type Settlement<T> = (Vec<Outcome<T>>, CompletionReason, Counts);

/// Runs `branches` in order, at most `limit` at once (`None`: all at once), until
/// `completion` decides; the branches still running then are cancelled.
///
/// # Errors
///
/// A runtime failure or cancellation of a branch: no branch's outcome.
pub(crate) async fn settle<T: Send>(
    branches: Vec<BoxFuture<'_, Result<T, Error>>>,
    limit: Option<usize>,
    completion: &Completion,
) -> Result<Settlement<T>, Error> {
    let total = branches.len();
    let mut tally = Tally::new(completion, Some(total));
    let mut finished: Vec<Option<Result<T, Error>>> =
        std::iter::repeat_with(|| None).take(total).collect();
    let mut outcomes: Vec<Outcome<T>> = Vec::with_capacity(total);
    // Collected first: the stream holds no closure (its future stays `Send`).
    let indexed: Vec<_> = branches
        .into_iter()
        .enumerate()
        .map(|(index, branch)| indexed(index, branch))
        .collect();
    let mut running =
        futures::stream::iter(indexed).buffer_unordered(limit.unwrap_or(total).max(1));
    let mut reason = tally.check();
    while reason.is_none() {
        let Some((index, result)) = running.next().await else {
            break;
        };
        if let Err(error) = &result
            && crate::map::stops_any_map(error)
        {
            return Err(error.clone());
        }
        finished[index] = Some(result);
        while reason.is_none()
            && let Some(result) = finished.get_mut(outcomes.len()).and_then(Option::take)
        {
            reason = tally.feed(result.is_ok());
            outcomes.push(Outcome::from(result));
        }
    }
    // The branches after the decision are cancelled or never start.
    drop(running);
    outcomes.resize_with(total, || Outcome::Skipped);
    Ok((
        outcomes,
        reason.unwrap_or(CompletionReason::AllCompleted),
        tally.counts(),
    ))
}

/// A branch's result with its index.
async fn indexed<T>(index: usize, branch: BoxFuture<'_, T>) -> (usize, T) {
    (index, branch.await)
}
