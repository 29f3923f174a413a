//! Parallel: run every branch on a copy of the input, like the ASL `Parallel` state.
//!
//! The branches are a tuple of up to 12 steps (output: the tuple of their outputs) or a
//! `Vec` of steps of one type (output: a `Vec`; use [`StepExt::boxed`](crate::StepExt::boxed)
//! to mix step types). As in Step Functions, the first branch to fail cancels the
//! others and fails the state with its error.
//!
//! [`Parallel::settled`] gives the settled form instead: its output is a
//! [`Settled`] batch of each branch's [`Outcome`] (a tuple of outcomes for tuple
//! branches, a `Vec` for `Vec` branches), why it completed and the counts; it takes
//! the completion options (tolerated failures, min successful, a predicate — see
//! [`completion`](crate::completion)). Tolerated failures are offered on the settled
//! form only: a parallel's output has no room for a failed branch otherwise.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! #[step]
//! async fn reserve(order: u32) -> String { format!("reserved {order}") }
//! #[step]
//! async fn charge(order: u32) -> u64 { u64::from(order) * 100 }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("fulfil", 1, parallel((reserve, charge)));
//! let (reservation, cents) = Runtime::new().run(&wf, 7).await.unwrap();
//! assert_eq!((reservation.as_str(), cents), ("reserved 7", 700));
//! # }
//! ```

mod gate;
mod settle;

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;

use gate::Gate;

use futures::future::{BoxFuture, try_join_all};

use crate::address::Address;
use crate::completion::{Completion, Counts, Outcome, Settled};
use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{BranchSink, Describe, INVALID, NodeKind};
use crate::map::{Settle, Strict, ToleratedFailures};
use crate::step::{Payload, Step};

/// The branches of a [`Parallel`]: a tuple of steps that take the same input, or a
/// `Vec` of steps.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the branches of `parallel`",
    note = "pass a tuple of 1 to 12 steps that all take the same input type, or a `Vec` of steps"
)]
pub trait Branches: Send + Sync + 'static {
    /// The input every branch gets a copy of.
    type Input: Payload;
    /// The outputs of all branches.
    type Output: Payload;

    /// Runs every branch below the parallel state at `at`, starting them in order, at
    /// most `limit` at once (0: no limit); the first error cancels the rest, and no
    /// branch starts after it.
    fn run_all(
        &self,
        cx: &Context,
        at: &Address,
        input: Self::Input,
        limit: usize,
    ) -> impl Future<Output = Result<Self::Output, Error>> + Send;

    /// Describes every branch.
    fn describe_all(&self, sink: &mut BranchSink<'_>);

    /// Each branch's outcome, for the settled form: a tuple of [`Outcome`]s for tuple
    /// branches, a `Vec` for `Vec` branches.
    type Outcomes: Payload;

    /// Runs the branches in order, at most `limit` at once (`None`: no limit), feeding
    /// their outcomes to `completion` in branch order until it decides; no branch starts
    /// after that, and those running are cancelled.
    fn settle_all(
        &self,
        cx: &Context,
        at: &Address,
        input: Self::Input,
        limit: Option<usize>,
        completion: &Completion,
    ) -> impl Future<Output = Result<Settled<Self::Outcomes>, Error>> + Send;
}

/// A branch's output, erased so that branches of several types share one driver.
type AnyOutput = Box<dyn Any + Send>;

/// Takes a tuple branch's output back from the driver.
fn typed<T: 'static>(outcome: Option<Outcome<AnyOutput>>) -> Outcome<T> {
    match outcome {
        Some(Outcome::Succeeded(output)) => match output.downcast::<T>() {
            Ok(output) => Outcome::Succeeded(*output),
            Err(_) => Outcome::Failed(Error::runtime(
                "a parallel branch's output has another type",
            )),
        },
        Some(Outcome::Failed(error)) => Outcome::Failed(error),
        Some(Outcome::Skipped) | None => Outcome::Skipped,
    }
}

/// Runs `branches` concurrently on clones of the input.
pub fn parallel<B: Branches>(branches: B) -> Parallel<B> {
    Parallel {
        name: Cow::Borrowed("parallel"),
        branches,
        max_concurrency: None,
        mode: Strict,
    }
}

/// Step returned by [`parallel`]; `M` is [`Strict`] (the first failure fails it) or,
/// after [`settled`](Parallel::settled), [`Settle`].
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Parallel<B, M = Strict> {
    name: Cow<'static, str>,
    branches: B,
    max_concurrency: Option<usize>,
    mode: M,
}

impl<B, M> Parallel<B, M> {
    /// Names the parallel state (default `"parallel"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        Parallel {
            name: name.into(),
            ..self
        }
    }

    /// Starts the branches in order, at most `limit` at once (without it: all at
    /// once). With a limit, a failed branch stops the branches not yet started: with 1
    /// they run one after another and a failure ends the state before the next starts.
    /// A limit of 0 is refused when the workflow is built
    /// ([`WorkflowError::InvalidSettings`](crate::WorkflowError::InvalidSettings)).
    ///
    /// ```
    /// use waypost::prelude::*;
    ///
    /// #[step]
    /// async fn a(x: u32) -> u32 { x + 1 }
    /// #[step]
    /// async fn b(x: u32) -> u32 { x + 2 }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("one-by-one", 1, parallel((a, b)).max_concurrency(1));
    /// assert_eq!(Runtime::new().run(&wf, 1).await.unwrap(), (2, 3));
    /// # }
    /// ```
    pub fn max_concurrency(self, limit: usize) -> Self {
        Parallel {
            max_concurrency: Some(limit),
            ..self
        }
    }
}

impl<B> Parallel<B, Strict> {
    /// The settled form: the parallel never fails for its branches' failures; its
    /// output is a [`Settled`] batch of each branch's [`Outcome`] — a tuple of outcomes
    /// for tuple branches, a `Vec` for `Vec` branches — why it completed and the counts.
    /// Every failure is tolerated unless `tolerate`
    /// says otherwise. The batch is recorded: a resumed execution gets the same batch
    /// and starts no branch.
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::completion::{CompletionReason, Outcome};
    ///
    /// #[step]
    /// async fn reserve(order: u32) -> String { format!("reserved {order}") }
    /// #[step]
    /// async fn charge(_order: u32) -> Result<u64, Error> { Err(Error::new("Declined", "card declined")) }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("fulfil", 1, parallel((reserve, charge)).settled());
    /// let batch = Runtime::new().run(&wf, 7).await.unwrap();
    /// let (reserved, charged) = batch.outcomes();
    /// assert_eq!(reserved, &Outcome::Succeeded("reserved 7".to_string()));
    /// assert_eq!(charged.err().unwrap().name(), "Declined");
    /// assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    /// # }
    /// ```
    pub fn settled(self) -> Parallel<B, Settle> {
        Parallel {
            name: self.name,
            branches: self.branches,
            max_concurrency: self.max_concurrency,
            mode: Settle(Completion::new()),
        }
    }
}

impl<B> Parallel<B, Settle> {
    /// Tolerates at most `failures` of the branches: the branch, in branch order, past
    /// them ends the state with
    /// [`ToleranceExceeded`](crate::completion::CompletionReason::ToleranceExceeded).
    /// A percentage over 100 or not a number is refused when the workflow is built.
    pub fn tolerate(mut self, failures: ToleratedFailures) -> Self {
        self.mode.0.tolerate(failures);
        self
    }

    /// Completes once `count` branches succeeded, in branch order
    /// ([`MinSuccessfulReached`](crate::completion::CompletionReason::MinSuccessfulReached)):
    /// the branches after that one do not start (or are cancelled). 0, or more than the
    /// branches, is refused when the workflow is built.
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::completion::CompletionReason;
    ///
    /// #[step]
    /// async fn mirror(x: u32) -> u32 { x }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mirrors = vec![mirror, mirror, mirror];
    /// let quorum = parallel(mirrors).settled().min_successful(2).max_concurrency(1);
    /// let batch = Runtime::new().run(&Workflow::new("quorum", 1, quorum), 5).await.unwrap();
    /// assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    /// assert!(batch.outcomes()[2].is_skipped());
    /// # }
    /// ```
    pub fn min_successful(mut self, count: usize) -> Self {
        self.mode.0.min_successful(count);
        self
    }

    /// Completes once `predicate` holds for the counts, checked after each branch in
    /// branch order
    /// ([`PredicateMatched`](crate::completion::CompletionReason::PredicateMatched)).
    pub fn complete_when(
        mut self,
        predicate: impl Fn(&Counts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.mode.0.when(predicate);
        self
    }
}

impl<B: Branches> Step for Parallel<B, Strict> {
    type Input = B::Input;
    type Output = B::Output;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: B::Input) -> Result<B::Output, Error> {
        let at = cx.address(&self.name);
        let key = || cx.key(&self.name);
        let limit = self.max_concurrency.unwrap_or(0);
        let run = self.branches.run_all(cx, &at, input, limit);
        durable::container(cx, key, run).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Parallel, &self.name, |sink| {
            self.branches.describe_all(sink)
        });
        match self.max_concurrency {
            Some(0) => {
                node.detail(INVALID, ZERO_CONCURRENCY);
            }
            Some(limit) => {
                node.detail("max_concurrency", limit);
            }
            None => {}
        }
    }
}

/// Why a concurrency limit of 0 is refused.
const ZERO_CONCURRENCY: &str =
    "max concurrency is 0; it must be at least 1 (leave it out for no limit)";

impl<B: Branches> Step for Parallel<B, Settle> {
    type Input = B::Input;
    type Output = Settled<B::Outcomes>;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: B::Input) -> Result<Self::Output, Error> {
        let at = cx.address(&self.name);
        let key = format!("{}~settled", cx.key(&self.name));
        if let Some(batch) = crate::task::replayed(cx, &key) {
            return batch;
        }
        let batch = self
            .branches
            .settle_all(cx, &at, input, self.max_concurrency, &self.mode.0)
            .await?;
        durable::record_result(cx, key, at.as_str(), Ok(batch)).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Parallel, &self.name, |sink| {
            self.branches.describe_all(sink)
        });
        let branches = node.branches.len();
        if let Some(limit) = self.max_concurrency.filter(|&limit| limit > 0) {
            node.detail("max_concurrency", limit);
        }
        node.detail("settled", true);
        for (key, value) in self.mode.0.details() {
            node.detail(key, value);
        }
        if self.max_concurrency == Some(0) {
            node.detail(INVALID, ZERO_CONCURRENCY);
        }
        if let Some(problem) = self.mode.0.problem(Some(branches)) {
            node.detail(INVALID, problem);
        }
    }
}

impl<S: Step> Branches for Vec<S> {
    type Input = S::Input;
    type Output = Vec<S::Output>;

    fn run_all(
        &self,
        cx: &Context,
        at: &Address,
        input: S::Input,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<S::Output>, Error>> + Send {
        let contexts: Vec<Context> = (0..self.len()).map(|i| cx.nested(at.branch(i))).collect();
        async move {
            let gate = Gate::new(limit);
            try_join_all(
                self.iter()
                    .zip(&contexts)
                    .enumerate()
                    .map(|(i, (branch, cx))| gate.admit(i, branch.run(cx, input.clone()))),
            )
            .await
        }
    }

    fn describe_all(&self, sink: &mut BranchSink<'_>) {
        for (i, branch) in self.iter().enumerate() {
            sink.branch(&i.to_string(), branch);
        }
    }

    type Outcomes = Vec<Outcome<S::Output>>;

    fn settle_all(
        &self,
        cx: &Context,
        at: &Address,
        input: S::Input,
        limit: Option<usize>,
        completion: &Completion,
    ) -> impl Future<Output = Result<Settled<Self::Outcomes>, Error>> + Send {
        let contexts: Vec<Context> = (0..self.len()).map(|i| cx.nested(at.branch(i))).collect();
        async move {
            let branches: Vec<BoxFuture<'_, Result<S::Output, Error>>> = self
                .iter()
                .zip(&contexts)
                .map(|(branch, cx)| Box::pin(branch.run(cx, input.clone())) as BoxFuture<'_, _>)
                .collect();
            let (outcomes, reason, counts) = settle::settle(branches, limit, completion).await?;
            Ok(Settled::new(outcomes, reason, counts))
        }
    }
}

macro_rules! tuple_branches {
    ($first:ident $(, $rest:ident)*; $($index:tt),+) => {
        impl<$first: Step $(, $rest: Step<Input = $first::Input>)*> Branches for ($first, $($rest,)*) {
            type Input = $first::Input;
            type Output = ($first::Output, $($rest::Output,)*);

            #[allow(non_snake_case)]
            fn run_all(
                &self,
                cx: &Context,
                at: &Address,
                input: Self::Input,
                limit: usize,
            ) -> impl Future<Output = Result<Self::Output, Error>> + Send {
                async move {
                    let contexts = [$(cx.nested(at.branch($index))),+];
                    let gate = Gate::new(limit);
                    let ($first, $($rest,)*) = self;
                    futures::try_join!(
                        gate.admit(0, $first.run(&contexts[0], input.clone())),
                        $(gate.admit(
                            tuple_branches!(@index $rest),
                            $rest.run(&contexts[tuple_branches!(@index $rest)], input.clone()),
                        ),)*
                    )
                }
            }

            #[allow(non_snake_case)]
            fn describe_all(&self, sink: &mut BranchSink<'_>) {
                let ($first, $($rest,)*) = self;
                #[allow(unused_mut)]
                let mut i = 0usize;
                sink.branch(&i.to_string(), $first);
                $(
                    i += 1;
                    sink.branch(&i.to_string(), $rest);
                )*
                let _ = i;
            }

            type Outcomes = (Outcome<$first::Output>, $(Outcome<$rest::Output>,)*);

            #[allow(non_snake_case)]
            fn settle_all(
                &self,
                cx: &Context,
                at: &Address,
                input: Self::Input,
                limit: Option<usize>,
                completion: &Completion,
            ) -> impl Future<Output = Result<Settled<Self::Outcomes>, Error>> + Send {
                async move {
                    let contexts = [$(cx.nested(at.branch($index))),+];
                    let ($first, $($rest,)*) = self;
                    let branches: Vec<BoxFuture<'_, Result<AnyOutput, Error>>> = vec![
                        {
                            let (cx, input) = (&contexts[0], input.clone());
                            Box::pin(async move {
                                let output = $first.run(cx, input).await?;
                                Ok(Box::new(output) as AnyOutput)
                            })
                        },
                        $({
                            let at = tuple_branches!(@index $rest);
                            let (cx, input) = (&contexts[at], input.clone());
                            Box::pin(async move {
                                let output = $rest.run(cx, input).await?;
                                Ok(Box::new(output) as AnyOutput)
                            })
                        },)*
                    ];
                    let (outcomes, reason, counts) =
                        settle::settle(branches, limit, completion).await?;
                    let mut outcomes = outcomes.into_iter();
                    let outcomes = (
                        typed::<$first::Output>(outcomes.next()),
                        $(typed::<$rest::Output>(outcomes.next()),)*
                    );
                    Ok(Settled::new(outcomes, reason, counts))
                }
            }
        }
    };
    (@index B) => { 1 };
    (@index C) => { 2 };
    (@index D) => { 3 };
    (@index E) => { 4 };
    (@index F) => { 5 };
    (@index G) => { 6 };
    (@index H) => { 7 };
    (@index J) => { 8 };
    (@index K) => { 9 };
    (@index L) => { 10 };
    (@index M) => { 11 };
}

tuple_branches!(A; 0);
tuple_branches!(A, B; 0, 1);
tuple_branches!(A, B, C; 0, 1, 2);
tuple_branches!(A, B, C, D; 0, 1, 2, 3);
tuple_branches!(A, B, C, D, E; 0, 1, 2, 3, 4);
tuple_branches!(A, B, C, D, E, F; 0, 1, 2, 3, 4, 5);
tuple_branches!(A, B, C, D, E, F, G; 0, 1, 2, 3, 4, 5, 6);
tuple_branches!(A, B, C, D, E, F, G, H; 0, 1, 2, 3, 4, 5, 6, 7);
tuple_branches!(A, B, C, D, E, F, G, H, J; 0, 1, 2, 3, 4, 5, 6, 7, 8);
tuple_branches!(A, B, C, D, E, F, G, H, J, K; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
tuple_branches!(A, B, C, D, E, F, G, H, J, K, L; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
tuple_branches!(A, B, C, D, E, F, G, H, J, K, L, M; 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
