//! Parallel: run every branch on a copy of the input, like the ASL `Parallel` state.
//!
//! The branches are a tuple of up to 12 steps (output: the tuple of their outputs) or a
//! `Vec` of steps of one type (output: a `Vec`; use [`StepExt::boxed`](crate::StepExt::boxed)
//! to mix step types). As in Step Functions, the first branch to fail cancels the
//! others and fails the state with its error.
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

use std::borrow::Cow;
use std::future::Future;

use gate::Gate;

use futures::future::try_join_all;

use crate::address::Address;
use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{BranchSink, Describe, NodeKind};
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
}

/// Runs `branches` concurrently on clones of the input.
pub fn parallel<B: Branches>(branches: B) -> Parallel<B> {
    Parallel {
        name: Cow::Borrowed("parallel"),
        branches,
        max_concurrency: 0,
    }
}

/// Step returned by [`parallel`].
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Parallel<B> {
    name: Cow<'static, str>,
    branches: B,
    max_concurrency: usize,
}

impl<B> Parallel<B> {
    /// Names the parallel state (default `"parallel"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        Parallel {
            name: name.into(),
            ..self
        }
    }

    /// Starts the branches in order, at most `limit` at once (0, the default: all at
    /// once). With a limit, a failed branch stops the branches not yet started: with 1
    /// they run one after another and a failure ends the state before the next starts.
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
            max_concurrency: limit,
            ..self
        }
    }
}

impl<B: Branches> Step for Parallel<B> {
    type Input = B::Input;
    type Output = B::Output;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: B::Input) -> Result<B::Output, Error> {
        let at = cx.address(&self.name);
        let key = || cx.key(&self.name);
        let run = self.branches.run_all(cx, &at, input, self.max_concurrency);
        durable::container(cx, key, run).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Parallel, &self.name, |sink| {
            self.branches.describe_all(sink)
        });
        if self.max_concurrency > 0 {
            node.detail("max_concurrency", self.max_concurrency);
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
