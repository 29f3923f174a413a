//! Completion: when a [`map`](crate::map()), [`par_map`](crate::par_map) or
//! [`parallel`](crate::parallel()) stops starting items, and what its settled form returns.
//!
//! Mirrors ASL's `ToleratedFailureCount` / `ToleratedFailurePercentage` and the durable
//! SDKs' completion configs (min successful, a custom rule). One [`Completion`] policy
//! serves all three states; its rule, applied after each outcome, is in one place:
//!
//! 1. more failed than tolerated: [`CompletionReason::ToleranceExceeded`];
//! 2. every item settled: [`CompletionReason::AllCompleted`];
//! 3. at least `min_successful` succeeded: [`CompletionReason::MinSuccessfulReached`];
//! 4. the predicate of `complete_when` holds: [`CompletionReason::PredicateMatched`].
//!
//! Outcomes feed the [`Counts`] strictly in input order: an item that ends before an
//! earlier one waits for it. So the decision falls at the same item whatever the
//! timing, and a resumed execution, which replays the outcomes it had, reaches the same
//! decision. The items after the decision are not started, or, when already running,
//! cancelled and their results ignored: they are [`Outcome::Skipped`].
//!
//! # Where the options are offered
//!
//! - `tolerate` on every form of `map` and `par_map` (the plain form fails with
//!   `States.ExceedToleratedFailureThreshold`, Step Functions' rule; the settled form
//!   ends with [`CompletionReason::ToleranceExceeded`] instead) and on the settled form
//!   of `parallel` (a plain parallel's output has no room for a failed branch).
//! - `min_successful` and `complete_when` on the settled forms only: they end a state
//!   early, and only a settled batch can say which items were skipped.
//! - The settled form tolerates every failure until `tolerate` says otherwise.
//! - Refused when the workflow is built
//!   ([`WorkflowError::InvalidSettings`](crate::WorkflowError::InvalidSettings)): a
//!   concurrency limit of 0, a percentage over 100, negative or not a number, a min
//!   successful of 0, or over the branches of a parallel. A map's item count is known
//!   only when it runs: with fewer items than its min successful, every item runs and
//!   the reason is [`CompletionReason::AllCompleted`].
//!
//! # Durability
//!
//! The settled batch of `map` and `parallel` is recorded as the state's output: a
//! resumed or redriven execution gets it back and starts nothing. A `par_map` commits
//! its results in batches; a resumed one restores them and takes the decision again
//! from their counts (the rule depends only on the counts), so it reads no item past
//! it. A process killed between the decision and its record (a short window) resumes
//! by feeding the same outcomes in the same order, so it decides at the same item; the
//! items within the concurrency limit after it may start there before the decision is
//! reached again (with `max_concurrency(1)`, none does).
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::completion::{CompletionReason, Outcome};
//!
//! #[step]
//! async fn probe(id: u32) -> Result<u32, Error> {
//!     if id % 2 == 0 { return Err(Error::new("Down", format!("{id} is down"))); }
//!     Ok(id * 10)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Two successes are enough: the items after the second are skipped.
//! let wf = Workflow::new("probe", 1, map(probe).settled().min_successful(2).max_concurrency(1));
//! let batch = Runtime::new().run(&wf, vec![1, 2, 3, 5, 7]).await.unwrap();
//! assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
//! assert_eq!((batch.counts().succeeded(), batch.counts().failed()), (2, 1));
//! assert!(matches!(batch.outcomes()[..], [
//!     Outcome::Succeeded(10), Outcome::Failed(_), Outcome::Succeeded(30),
//!     Outcome::Skipped, Outcome::Skipped,
//! ]));
//! # }
//! ```

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::map::ToleratedFailures;

/// How many items (or branches) of a map or parallel have settled so far, in input
/// order: what a [`complete_when`](Completion) predicate sees, and what a [`Settled`]
/// batch reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    succeeded: usize,
    failed: usize,
    total: Option<usize>,
}

impl Counts {
    /// Counts for `total` items (`None`: a stream of unknown length), none settled.
    pub(crate) fn new(total: Option<usize>) -> Self {
        Counts {
            succeeded: 0,
            failed: 0,
            total,
        }
    }

    /// Counts one more outcome.
    pub(crate) fn add(&mut self, succeeded: bool) {
        if succeeded {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
    }

    /// Items that succeeded.
    pub fn succeeded(&self) -> usize {
        self.succeeded
    }

    /// Items that failed.
    pub fn failed(&self) -> usize {
        self.failed
    }

    /// Items that settled (succeeded or failed): the first `settled()` items in input
    /// order.
    pub fn settled(&self) -> usize {
        self.succeeded + self.failed
    }

    /// How many items there are: `None` for a [`par_map`](crate::par_map) reading a
    /// stream whose length its reader does not know.
    pub fn total(&self) -> Option<usize> {
        self.total
    }
}

/// Why a map or parallel stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CompletionReason {
    /// Every item settled.
    AllCompleted,
    /// At least `min_successful` items succeeded.
    MinSuccessfulReached,
    /// More items failed than tolerated.
    ToleranceExceeded,
    /// The predicate of `complete_when` held.
    PredicateMatched,
}

impl CompletionReason {
    /// The reason as history and exports show it: `all completed`, `min successful
    /// reached`, `failure tolerance exceeded`, `predicate matched`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompletionReason::AllCompleted => "all completed",
            CompletionReason::MinSuccessfulReached => "min successful reached",
            CompletionReason::ToleranceExceeded => "failure tolerance exceeded",
            CompletionReason::PredicateMatched => "predicate matched",
        }
    }
}

impl fmt::Display for CompletionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item's or branch's outcome in a [`Settled`] batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Outcome<T> {
    /// It succeeded with this output.
    Succeeded(T),
    /// It failed with this error.
    Failed(Error),
    /// It did not run to its end: the state completed before it (not started, or
    /// cancelled while running and its result ignored).
    Skipped,
}

impl<T> Outcome<T> {
    /// The output, when it succeeded.
    pub fn ok(self) -> Option<T> {
        match self {
            Outcome::Succeeded(output) => Some(output),
            _ => None,
        }
    }

    /// The error, when it failed.
    pub fn err(&self) -> Option<&Error> {
        match self {
            Outcome::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// Whether it succeeded.
    pub fn is_succeeded(&self) -> bool {
        matches!(self, Outcome::Succeeded(_))
    }

    /// Whether it was skipped.
    pub fn is_skipped(&self) -> bool {
        matches!(self, Outcome::Skipped)
    }
}

impl<T> From<Result<T, Error>> for Outcome<T> {
    fn from(result: Result<T, Error>) -> Self {
        match result {
            Ok(output) => Outcome::Succeeded(output),
            Err(error) => Outcome::Failed(error),
        }
    }
}

/// The output of a settled map or parallel: each item's [`Outcome`] (a `Vec` for a map
/// or `Vec` branches, a tuple of outcomes for tuple branches, the sink's output for a
/// `par_map` with a sink), why it completed, and the counts. It is the state's output,
/// recorded like any other: a resumed execution gets the same batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settled<T> {
    outcomes: T,
    reason: CompletionReason,
    counts: Counts,
}

impl<T> Settled<T> {
    pub(crate) fn new(outcomes: T, reason: CompletionReason, counts: Counts) -> Self {
        Settled {
            outcomes,
            reason,
            counts,
        }
    }

    /// Each item's or branch's outcome, in input order.
    pub fn outcomes(&self) -> &T {
        &self.outcomes
    }

    /// The outcomes, taken out.
    pub fn into_outcomes(self) -> T {
        self.outcomes
    }

    /// Why the state completed.
    pub fn reason(&self) -> CompletionReason {
        self.reason
    }

    /// How many items succeeded and failed, in input order up to the decision.
    pub fn counts(&self) -> Counts {
        self.counts
    }
}

/// A user's rule over the running counts.
type Predicate = dyn Fn(&Counts) -> bool + Send + Sync;

/// When a map or parallel completes: tolerated failures, min successful, a predicate.
/// Built by the states' methods (`tolerate`, `min_successful`, `complete_when`).
#[derive(Clone, Default)]
pub struct Completion {
    tolerated: Option<ToleratedFailures>,
    min_successful: Option<usize>,
    when: Option<Arc<Predicate>>,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion")
            .field("tolerated", &self.tolerated)
            .field("min_successful", &self.min_successful)
            .field("when", &self.when.as_ref().map(|_| "Fn(&Counts) -> bool"))
            .finish()
    }
}

impl Completion {
    /// Tolerates every failure (the settled form's default).
    pub(crate) fn new() -> Self {
        Completion::default()
    }

    /// Tolerates `failures`.
    pub(crate) fn tolerating(failures: ToleratedFailures) -> Self {
        Completion {
            tolerated: Some(failures),
            ..Completion::default()
        }
    }

    pub(crate) fn tolerate(&mut self, failures: ToleratedFailures) {
        self.tolerated = Some(failures);
    }

    pub(crate) fn min_successful(&mut self, count: usize) {
        self.min_successful = Some(count);
    }

    pub(crate) fn when(&mut self, predicate: impl Fn(&Counts) -> bool + Send + Sync + 'static) {
        self.when = Some(Arc::new(predicate));
    }

    /// How many failures are tolerated out of `total` items; `None` when every failure
    /// is, or when that depends on a total not known yet.
    pub(crate) fn allowed(&self, total: Option<usize>) -> Option<usize> {
        match (self.tolerated?, total) {
            (ToleratedFailures::Count(count), _) => Some(count),
            (failures, Some(total)) => Some(failures.allowed(total)),
            (ToleratedFailures::Percentage(_), None) => None,
        }
    }

    /// What is wrong with these settings for a state of `branches` branches (`None`
    /// for a map, whose item count is known only at run time), if anything.
    pub(crate) fn problem(&self, branches: Option<usize>) -> Option<String> {
        if let Some(ToleratedFailures::Percentage(pct)) = self.tolerated
            && !(0.0..=100.0).contains(&pct)
        {
            return Some(format!(
                "tolerated failure percentage {pct} is not between 0 and 100"
            ));
        }
        match (self.min_successful, branches) {
            (Some(0), _) => Some("min successful is 0; it must be at least 1".to_owned()),
            (Some(min), Some(branches)) if min > branches => Some(format!(
                "min successful is {min}, more than the {branches} branches"
            )),
            _ => None,
        }
    }

    /// The graph details of these settings.
    pub(crate) fn details(&self) -> Vec<(&'static str, String)> {
        let mut details = Vec::new();
        match self.tolerated {
            Some(ToleratedFailures::Count(count)) => {
                details.push(("tolerated_failure_count", count.to_string()));
            }
            Some(ToleratedFailures::Percentage(pct)) => {
                details.push(("tolerated_failure_percentage", pct.to_string()));
            }
            None => {}
        }
        if let Some(min) = self.min_successful {
            details.push(("min_successful", min.to_string()));
        }
        if self.when.is_some() {
            details.push(("complete_when", "predicate".to_owned()));
        }
        details
    }
}

/// The running counts of one run of a state under a [`Completion`], fed in input
/// order; says when the state completes.
#[derive(Debug)]
pub(crate) struct Tally<'a> {
    policy: &'a Completion,
    counts: Counts,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(policy: &'a Completion, total: Option<usize>) -> Self {
        Tally {
            policy,
            counts: Counts::new(total),
        }
    }

    /// A tally that starts from outcomes replayed from checkpoints.
    pub(crate) fn resumed(
        policy: &'a Completion,
        total: Option<usize>,
        settled: usize,
        failed: usize,
    ) -> Self {
        let mut tally = Tally::new(policy, total);
        tally.counts.failed = failed;
        tally.counts.succeeded = settled.saturating_sub(failed);
        tally
    }

    pub(crate) fn counts(&self) -> Counts {
        self.counts
    }

    /// Feeds the next outcome in input order; says whether the state completes now.
    pub(crate) fn feed(&mut self, succeeded: bool) -> Option<CompletionReason> {
        self.counts.add(succeeded);
        self.check()
    }

    /// Whether the state completes at the counts so far (before any outcome: only
    /// when there is nothing to run).
    pub(crate) fn check(&self) -> Option<CompletionReason> {
        let counts = &self.counts;
        if counts.total == Some(counts.settled()) && counts.settled() == 0 {
            return Some(CompletionReason::AllCompleted);
        }
        if counts.settled() == 0 {
            return None;
        }
        if self
            .policy
            .allowed(counts.total)
            .is_some_and(|allowed| counts.failed > allowed)
        {
            return Some(CompletionReason::ToleranceExceeded);
        }
        if counts.total == Some(counts.settled()) {
            return Some(CompletionReason::AllCompleted);
        }
        if self
            .policy
            .min_successful
            .is_some_and(|min| counts.succeeded >= min)
        {
            return Some(CompletionReason::MinSuccessfulReached);
        }
        if self.policy.when.as_ref().is_some_and(|when| when(counts)) {
            return Some(CompletionReason::PredicateMatched);
        }
        None
    }

    /// The reason when the items ran out without a decision (a stream of unknown
    /// length): its percentage of failures is checked now.
    pub(crate) fn end(&mut self) -> CompletionReason {
        self.counts.total = Some(self.counts.settled());
        match self.policy.allowed(self.counts.total) {
            Some(allowed) if self.counts.failed > allowed => CompletionReason::ToleranceExceeded,
            _ => CompletionReason::AllCompleted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &Completion, total: usize, outcomes: &[bool]) -> (usize, CompletionReason) {
        let mut tally = Tally::new(policy, Some(total));
        for (i, &ok) in outcomes.iter().enumerate() {
            if let Some(reason) = tally.feed(ok) {
                return (i, reason);
            }
        }
        panic!("no decision after {outcomes:?}");
    }

    #[test]
    fn every_item_settled_is_all_completed() {
        let policy = Completion::new();
        assert_eq!(
            run(&policy, 3, &[true, false, true]),
            (2, CompletionReason::AllCompleted)
        );
        assert_eq!(
            Tally::new(&policy, Some(0)).check(),
            Some(CompletionReason::AllCompleted)
        );
        assert_eq!(Tally::new(&policy, Some(2)).check(), None);
    }

    #[test]
    fn more_failures_than_tolerated_exceed_the_tolerance_first() {
        let policy = Completion::tolerating(ToleratedFailures::Count(1));
        assert_eq!(
            run(&policy, 5, &[false, true, false, true, true]),
            (2, CompletionReason::ToleranceExceeded)
        );
        // Exceeded at the last item: the tolerance wins over all completed.
        assert_eq!(
            run(&policy, 2, &[false, false]),
            (1, CompletionReason::ToleranceExceeded)
        );
        let policy = Completion::tolerating(ToleratedFailures::Percentage(50.0));
        assert_eq!(
            run(&policy, 4, &[false, true, false, false]),
            (3, CompletionReason::ToleranceExceeded)
        );
    }

    #[test]
    fn min_successful_stops_at_the_nth_success_in_order() {
        let mut policy = Completion::new();
        policy.min_successful(2);
        assert_eq!(
            run(&policy, 5, &[false, true, false, true, true]),
            (3, CompletionReason::MinSuccessfulReached)
        );
        // Reached with the last item: every item settled.
        assert_eq!(
            run(&policy, 2, &[true, true]),
            (1, CompletionReason::AllCompleted)
        );
        // More than the items: they all run.
        policy.min_successful(9);
        assert_eq!(
            run(&policy, 3, &[true, true, true]),
            (2, CompletionReason::AllCompleted)
        );
    }

    #[test]
    fn the_predicate_sees_the_counts_in_order() {
        let mut policy = Completion::new();
        policy.when(|c| c.failed() >= 1 && c.succeeded() >= 1 && c.total() == Some(6));
        assert_eq!(
            run(&policy, 6, &[true, true, false, true]),
            (2, CompletionReason::PredicateMatched)
        );
    }

    #[test]
    fn a_resumed_tally_decides_at_the_same_counts() {
        let mut policy = Completion::new();
        policy.min_successful(2);
        let tally = Tally::resumed(&policy, Some(5), 3, 1);
        assert_eq!(tally.check(), Some(CompletionReason::MinSuccessfulReached));
        assert_eq!(Tally::resumed(&policy, Some(5), 2, 1).check(), None);
    }

    #[test]
    fn a_percentage_of_a_stream_is_checked_at_its_end() {
        let policy = Completion::tolerating(ToleratedFailures::Percentage(10.0));
        let mut tally = Tally::new(&policy, None);
        assert_eq!(tally.feed(false), None);
        assert_eq!(tally.feed(true), None);
        assert_eq!(tally.end(), CompletionReason::ToleranceExceeded);
    }

    #[test]
    fn bad_settings_are_named() {
        let policy = Completion::tolerating(ToleratedFailures::Percentage(120.0));
        assert_eq!(
            policy.problem(None).unwrap(),
            "tolerated failure percentage 120 is not between 0 and 100"
        );
        let nan = Completion::tolerating(ToleratedFailures::Percentage(f64::NAN));
        assert!(nan.problem(None).is_some());
        let mut policy = Completion::new();
        policy.min_successful(0);
        assert!(
            policy
                .problem(None)
                .unwrap()
                .contains("min successful is 0")
        );
        policy.min_successful(3);
        assert_eq!(policy.problem(None), None);
        assert_eq!(
            policy.problem(Some(2)).unwrap(),
            "min successful is 3, more than the 2 branches"
        );
    }
}
