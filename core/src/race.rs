//! Race and first success: several branches on a copy of the input, the first to end
//! wins ([`race`]), or the first to succeed ([`first_ok`]) — the durable SDKs' `race`
//! and `any`.
//!
//! The losers are cancelled when the winner is known (an async step is dropped; a sync
//! step's call runs to its end on its pool thread and its result is ignored). The
//! winner's result is recorded at the state's key: a resumed execution gets the same
//! result without running the race again.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use waypost::prelude::*;
//! use waypost::race::{first_ok, race};
//!
//! #[step]
//! async fn fast(x: u32) -> u32 { x + 1 }
//! #[step]
//! async fn slow(x: u32) -> u32 {
//!     tokio::time::sleep(Duration::from_secs(60)).await;
//!     x + 2
//! }
//! #[step]
//! async fn broken(_x: u32) -> Result<u32, Error> { Err(Error::new("Down", "no answer")) }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let wf = Workflow::new("race", 1, race(vec![slow.boxed(), fast.boxed()]));
//! assert_eq!(Runtime::new().run(&wf, 1).await.unwrap(), 2);
//! // The first failure wins a race; first_ok waits for a success.
//! let wf = Workflow::new("any", 1, first_ok(vec![broken.boxed(), slow.boxed()]));
//! assert_eq!(Runtime::new().run(&wf, 1).await.unwrap(), 3);
//! # }
//! ```

use std::borrow::Cow;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::step::Step;

/// The first branch to end — success or failure — wins.
pub fn race<S: Step>(branches: Vec<S>) -> Race<S> {
    Race {
        name: Cow::Borrowed("race"),
        branches,
        first_ok: false,
    }
}

/// The first branch to succeed wins; the state fails only when every branch failed,
/// with the first branch's error and the others' as its causes.
pub fn first_ok<S: Step>(branches: Vec<S>) -> Race<S> {
    Race {
        name: Cow::Borrowed("first_ok"),
        branches,
        first_ok: true,
    }
}

/// Step returned by [`race`] and [`first_ok`].
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Race<S> {
    name: Cow<'static, str>,
    branches: Vec<S>,
    first_ok: bool,
}

impl<S> Race<S> {
    /// Names the state (default `"race"` or `"first_ok"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        Race {
            name: name.into(),
            ..self
        }
    }
}

impl<S: Step> Step for Race<S> {
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        let key = cx.key(&self.name);
        let address = cx.address(&self.name);
        if let Some(result) = crate::task::replayed(cx, &key) {
            return result;
        }
        if self.branches.is_empty() {
            return Err(Error::terminal(
                "States.Runtime",
                format!("`{}` at `{address}` has no branches", self.name),
            ));
        }
        let contexts: Vec<Context> = (0..self.branches.len())
            .map(|i| cx.nested(address.branch(i)))
            .collect();
        let mut running: FuturesUnordered<_> = self
            .branches
            .iter()
            .zip(&contexts)
            .enumerate()
            .map(|(i, (branch, cx))| {
                let input = input.clone();
                async move { (i, branch.run(cx, input).await) }
            })
            .collect();
        let mut errors: Vec<(usize, Error)> = Vec::new();
        let result = loop {
            let Some((index, result)) = running.next().await else {
                // Every branch failed (first_ok): the first branch's error leads, the
                // others follow as its causes, in branch order.
                errors.sort_by_key(|(i, _)| *i);
                let chain = errors
                    .into_iter()
                    .map(|(_, e)| e)
                    .rev()
                    .reduce(|cause, error| error.caused_by(cause))
                    .expect("a branch failed");
                break Err(chain);
            };
            match result {
                // A runtime failure (the store, a cancel) is no branch's outcome.
                Err(error) if error.kind() == crate::ErrorKind::Runtime => return Err(error),
                Err(error) if self.first_ok => errors.push((index, error)),
                other => break other,
            }
        };
        // The losers are dropped here, before the winner is recorded.
        drop(running);
        durable::record_result(cx, key, address.as_str(), result).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Parallel, &self.name, |sink| {
            for (i, branch) in self.branches.iter().enumerate() {
                sink.branch(&i.to_string(), branch);
            }
        });
        node.detail(
            "completion",
            if self.first_ok {
                "first success"
            } else {
                "first to end"
            },
        );
    }
}
