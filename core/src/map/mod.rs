//! Map: run one step per item of a list, like the ASL `Map` state.
//!
//! Two forms, both keeping the output in input order:
//!
//! - [`map`] runs an async step per item on the async executor, at most
//!   [`max_concurrency`](Map::max_concurrency) at once — for I/O-bound items.
//! - [`par_map`] runs a [`SyncStep`](crate::SyncStep) (a `#[step]` on a plain `fn`) per
//!   item on the CPU pool (rayon) — for compute-heavy items.
//!
//! By default any failed item fails the map with its error, and the other items are
//! cancelled. After [`tolerate`](Map::tolerate) the map fails only when more items fail
//! than tolerated (with `States.ExceedToleratedFailureThreshold`), and its output
//! becomes one `Result` per item.
//!
//! After [`settled`](Map::settled) the map never fails for its items: its output is a
//! [`Settled`](crate::completion::Settled) batch of each item's outcome, why it
//! completed and the counts, and [`min_successful`](Map::min_successful) and
//! [`complete_when`](Map::complete_when) can end it early (see
//! [`completion`](crate::completion)). Failures, tolerated or not, count in input order.
//!
//! Each item runs at the address `{map}/{index}`, below the map's own.
//!
//! # Maps at scale
//!
//! [`par_map`] is built for millions of items. [`ParMap::items`] reads them lazily from
//! the map's input with an [`ItemReader`] (ASL's `ItemReader`; [`read_items`] makes one
//! from a closure, [`ItemReader::batched`] hands the step many items per call like ASL's
//! `ItemBatcher`), and [`ParMap::fold`] folds the results in input order instead of
//! collecting them, or [`ParMap::write_results`] hands them in batches to a step that
//! writes them out (ASL's `ResultWriter`): the map then holds only the items in flight. Results are committed in batches ([`ParMap::commit_every`],
//! [`ParMap::commit_interval`]), each checkpoint saying how far the map got and what the
//! sink needs to go on; a resumed map reads on from the first item not committed.
//! The async [`map`] over a `Vec` checkpoints each item on its own (its items can retry
//! and wait durably); [`Map::items`] streams its items like [`par_map`], one checkpoint
//! per batch ([`MapItems`] says when to choose which).
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//!
//! #[step]
//! async fn fetch(id: u32) -> Result<String, Error> {
//!     if id == 3 { return Err(Error::new("NotFound", "no such id")); }
//!     Ok(format!("item {id}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let runtime = Runtime::new();
//! let all = Workflow::new("fetch-all", 1, map(fetch).max_concurrency(2));
//! assert_eq!(runtime.run(&all, vec![1, 2]).await.unwrap(), ["item 1", "item 2"]);
//! assert_eq!(runtime.run(&all, vec![1, 3]).await.unwrap_err().name(), "NotFound");
//!
//! let some = Workflow::new("fetch-some", 1, map(fetch).tolerate(ToleratedFailures::Count(1)));
//! let results = runtime.run(&some, vec![1, 3]).await.unwrap();
//! assert!(results[0].is_ok() && results[1].is_err());
//! # }
//! ```

mod config;
mod items;
mod par;
mod progress;
mod sink;
mod stream;

use std::any::Any;
use std::borrow::Cow;
use std::sync::Arc;

use futures::StreamExt as _;

pub(crate) use config::stops_any_map;
pub use config::{MapMode, Settle, Streams, Strict, Tolerant, ToleratedFailures};
pub use items::{Batched, Batches, FnReader, ItemReader, VecItems, read_items, vec_items};
pub use par::{ParMap, par_map};
pub use sink::{Collect, Collected, Fold, Sink, WriteResults, Written};
pub use stream::MapItems;

use crate::completion::Completion;
use crate::completion::{CompletionReason, Counts, Outcome, Tally};
use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, Node, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::step::Step;

/// Runs `step` on every item of the input `Vec`, on the async executor.
pub fn map<S: Step>(step: S) -> Map<S> {
    Map {
        name: Cow::Borrowed("map"),
        step,
        max_concurrency: None,
        mode: Strict,
        item_names: None,
    }
}

/// Step returned by [`map`].
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Map<S, M = Strict> {
    name: Cow<'static, str>,
    step: S,
    max_concurrency: Option<usize>,
    mode: M,
    item_names: Option<ItemNames>,
}

/// How a map names its items for people ([`Map::item_names`]): a function of the item,
/// erased so that [`Map`] needs no bound on its step.
#[derive(Clone)]
struct ItemNames(Arc<NameItem>);

/// Names an item, given as `&dyn Any` (`None` for an item of another type).
type NameItem = dyn Fn(&dyn Any) -> Option<String> + Send + Sync;

impl std::fmt::Debug for ItemNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemNames(..)")
    }
}

impl<S: Step, M: MapMode> Map<S, M> {
    /// Names the map state (default `"map"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        Map {
            name: name.into(),
            ..self
        }
    }

    /// At most `limit` items run at once (ASL `MaxConcurrency`); without it, no limit.
    /// A limit of 0 is refused when the workflow is built
    /// ([`WorkflowError::InvalidSettings`](crate::WorkflowError::InvalidSettings)).
    pub fn max_concurrency(self, limit: usize) -> Self {
        Map {
            max_concurrency: Some(limit),
            ..self
        }
    }

    /// The same map in another mode.
    fn with_mode<M2: MapMode>(self, mode: M2) -> Map<S, M2> {
        Map {
            name: self.name,
            step: self.step,
            max_concurrency: self.max_concurrency,
            mode,
            item_names: self.item_names,
        }
    }

    /// Names each item for people, from the item (an order's id, a file's name): the
    /// name goes with the item's `MapItemFinished` event, so the history, the CLI and
    /// the console show it beside the item's index.
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::{EventKind, MemoryStore};
    ///
    /// #[step]
    /// async fn ship(order: String) -> String { order }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("ship-all", 1, map(ship).item_names(|order: &String| order.clone()));
    /// let runtime = Runtime::builder().store(MemoryStore::new()).build();
    /// runtime.start(&wf, "s-1", vec!["ord-7".to_string()]).await.unwrap();
    /// let history = runtime.history("s-1").await.unwrap();
    /// let item = history.iter().find(|e| e.kind == EventKind::MapItemFinished).unwrap();
    /// assert_eq!(item.details.item.as_deref(), Some("ord-7"));
    /// # }
    /// ```
    pub fn item_names(self, name: impl Fn(&S::Input) -> String + Send + Sync + 'static) -> Self {
        let erased = move |item: &dyn Any| item.downcast_ref::<S::Input>().map(&name);
        Map {
            item_names: Some(ItemNames(Arc::new(erased))),
            ..self
        }
    }
}

impl<S: Step> Map<S, Strict> {
    /// Tolerates failed items; the output becomes one `Result` per item.
    ///
    /// Failures count in input order: the map fails with
    /// `States.ExceedToleratedFailureThreshold` at the first item, in input order, past
    /// the tolerance. A percentage over 100 or not a number is refused when the
    /// workflow is built.
    pub fn tolerate(self, failures: ToleratedFailures) -> Map<S, Tolerant> {
        self.with_mode(Tolerant(failures))
    }

    /// The settled form: the map never fails for its items' failures; its output is a
    /// [`Settled`](crate::completion::Settled) batch of each item's
    /// [`Outcome`], why the map completed and the counts. Every failure is tolerated
    /// unless `tolerate` says otherwise; [`min_successful`](Map::min_successful) and
    /// [`complete_when`](Map::complete_when) end it early. The batch is recorded: a
    /// resumed execution gets the same batch, and never starts an item the decision
    /// skipped.
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::completion::{CompletionReason, Outcome};
    ///
    /// #[step]
    /// async fn check(x: u32) -> Result<u32, Error> {
    ///     if x == 0 { return Err(Error::new("Zero", "zero")); }
    ///     Ok(100 / x)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("checks", 1, map(check).settled());
    /// let batch = Runtime::new().run(&wf, vec![5, 0, 50]).await.unwrap();
    /// assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    /// assert_eq!(batch.outcomes()[1].err().unwrap().name(), "Zero");
    /// assert_eq!(batch.outcomes()[2], Outcome::Succeeded(2));
    /// # }
    /// ```
    pub fn settled(self) -> Map<S, Settle> {
        self.with_mode(Settle(Completion::new()))
    }
}

impl<S: Step> Map<S, Tolerant> {
    /// The settled form (see [`Map::settled`]), tolerating the failures tolerated so
    /// far: exceeding them ends the map with
    /// [`CompletionReason::ToleranceExceeded`] instead of failing it.
    pub fn settled(self) -> Map<S, Settle> {
        let failures = self.mode.0;
        self.with_mode(Settle(Completion::tolerating(failures)))
    }
}

impl<S: Step> Map<S, Settle> {
    /// Tolerates at most `failures`: the item, in input order, past them ends the map
    /// with [`CompletionReason::ToleranceExceeded`], the items after it skipped.
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::completion::CompletionReason;
    ///
    /// #[step]
    /// async fn check(x: u32) -> Result<u32, Error> {
    ///     if x == 0 { return Err(Error::new("Zero", "zero")); }
    ///     Ok(x)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("checks", 1, map(check).settled().tolerate(ToleratedFailures::Count(1)));
    /// let batch = Runtime::new().run(&wf, vec![0, 1, 0, 2]).await.unwrap();
    /// assert_eq!(batch.reason(), CompletionReason::ToleranceExceeded);
    /// assert_eq!((batch.counts().succeeded(), batch.counts().failed()), (1, 2));
    /// assert!(batch.outcomes()[3].is_skipped());
    /// # }
    /// ```
    pub fn tolerate(mut self, failures: ToleratedFailures) -> Self {
        self.mode.0.tolerate(failures);
        self
    }

    /// Completes once `count` items succeeded, in input order
    /// ([`CompletionReason::MinSuccessfulReached`]): the items after that one are not
    /// started (or cancelled). With fewer items than `count` every item runs and the
    /// reason is [`CompletionReason::AllCompleted`]. A count of 0 is refused when the
    /// workflow is built. See the [module](crate::completion) example.
    pub fn min_successful(mut self, count: usize) -> Self {
        self.mode.0.min_successful(count);
        self
    }

    /// Completes once `predicate` holds for the counts, checked after each item in
    /// input order ([`CompletionReason::PredicateMatched`]).
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::completion::CompletionReason;
    ///
    /// #[step]
    /// async fn double(x: u32) -> u32 { x * 2 }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let half = map(double).settled().complete_when(|c| 2 * c.settled() >= c.total().unwrap_or(0));
    /// let wf = Workflow::new("half", 1, half.max_concurrency(1));
    /// let batch = Runtime::new().run(&wf, vec![1, 2, 3, 4]).await.unwrap();
    /// assert_eq!(batch.reason(), CompletionReason::PredicateMatched);
    /// assert_eq!(batch.counts().settled(), 2);
    /// # }
    /// ```
    pub fn complete_when(
        mut self,
        predicate: impl Fn(&Counts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.mode.0.when(predicate);
        self
    }
}

impl<S: Step, M: MapMode> Step for Map<S, M> {
    type Input = Vec<S::Input>;
    type Output = M::Output<S::Output>;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, items: Vec<S::Input>) -> Result<Self::Output, Error> {
        let key = || cx.key(&self.name);
        if !self.mode.settles() {
            return durable::container(cx, key, self.run_items(cx, items)).await;
        }
        // The settled batch is the map's recorded output: a resumed execution takes it
        // and starts no item.
        let settled = format!("{}~settled", key());
        if let Some(batch) = crate::task::replayed(cx, &settled) {
            return batch;
        }
        let batch = durable::container(cx, key, self.run_items(cx, items)).await?;
        let at = cx.address(&self.name);
        durable::record_result(cx, settled, at.as_str(), Ok(batch)).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let completion = self.mode.completion();
        let node = graph.container(NodeKind::Map, &self.name, |sink| {
            sink.branch("item", &self.step)
        });
        node.detail("max_concurrency", self.max_concurrency.unwrap_or(0));
        if self.mode.settles() {
            node.detail("settled", true);
        }
        completion_details(node, &completion, self.mode.settles());
        if self.max_concurrency == Some(0) {
            node.detail(
                crate::graph::INVALID,
                "max concurrency is 0; it must be at least 1 (leave it out for no limit)",
            );
        }
        if let Some(problem) = completion.problem(None) {
            node.detail(crate::graph::INVALID, problem);
        }
    }
}

impl<S: Step, M: MapMode> Map<S, M> {
    /// Runs the items until the map completes: feeds their outcomes to the tally in
    /// input order, and fails once more items failed than tolerated (unless settled).
    async fn run_items(
        &self,
        cx: &Context,
        items: Vec<S::Input>,
    ) -> Result<M::Output<S::Output>, Error> {
        let at = cx.address(&self.name);
        let total = items.len();
        let completion = self.mode.completion();
        let mut tally = Tally::new(&completion, Some(total));
        // Strict maps fail at the first failure to end, as Step Functions does.
        let fail_fast = !self.mode.settles() && self.mode.allowed(total) == 0;
        let limit = match self.max_concurrency {
            None | Some(0) => total.max(1),
            Some(n) => n,
        };
        let started = cx.host().now();
        cx.emit(
            EventKind::MapStarted,
            at.as_str(),
            None,
            EventDetails {
                items: Some(total as u64),
                ..EventDetails::default()
            },
        );
        let mut finished: Vec<Option<Result<S::Output, Error>>> =
            std::iter::repeat_with(|| None).take(total).collect();
        let mut outcomes: Vec<Outcome<S::Output>> = Vec::with_capacity(total);
        let mut names: Vec<Option<String>> = match &self.item_names {
            Some(ItemNames(name)) => items.iter().map(|item| name(item)).collect(),
            None => Vec::new(),
        };
        let mut running = futures::stream::iter(items.into_iter().enumerate())
            .map(|(index, item)| {
                let item_cx = cx.nested(at.branch(index));
                async move { (index, self.step.run(&item_cx, item).await) }
            })
            .buffer_unordered(limit);
        let mut reason = tally.check();
        let mut last_error = None;
        while reason.is_none() {
            let Some((index, result)) = running.next().await else {
                break;
            };
            if let Err(error) = &result {
                // Dropping `running` cancels the items still in flight.
                if config::stops_any_map(error) {
                    return Err(error.clone());
                }
                if fail_fast {
                    return Err(self
                        .mode
                        .exceeded(error.clone(), 1, total, &self.name)
                        .at(at.as_str()));
                }
            }
            // The history says when each item ended, in the order they end.
            let details = EventDetails {
                item: names.get_mut(index).and_then(Option::take),
                ..match &result {
                    Ok(_) => EventDetails::default(),
                    Err(error) => EventDetails::error(error),
                }
            };
            cx.emit(
                EventKind::MapItemFinished,
                at.branch(index).as_str(),
                None,
                details,
            );
            finished[index] = Some(result);
            // Outcomes count in input order: a later item that ended first waits.
            while reason.is_none()
                && let Some(result) = finished.get_mut(outcomes.len()).and_then(Option::take)
            {
                reason = tally.feed(result.is_ok());
                if let Err(error) = &result {
                    last_error = Some(error.clone());
                }
                outcomes.push(Outcome::from(result));
            }
        }
        // The items after the decision are cancelled or never start.
        drop(running);
        let reason = reason.unwrap_or(CompletionReason::AllCompleted);
        let counts = tally.counts();
        outcomes.resize_with(total, || Outcome::Skipped);
        let took = cx.millis_since(started);
        cx.emit(
            EventKind::MapFinished,
            at.as_str(),
            took,
            EventDetails {
                items: Some(total as u64),
                failed: Some(counts.failed() as u64),
                completion: self.mode.settles().then(|| reason.to_string()),
                ..EventDetails::default()
            },
        );
        if reason == CompletionReason::ToleranceExceeded
            && !self.mode.settles()
            && let Some(error) = last_error
        {
            return Err(self
                .mode
                .exceeded(error, counts.failed(), total, &self.name)
                .at(at.as_str()));
        }
        M::complete(outcomes, reason, counts)
    }
}

/// The graph details of a map's completion settings (a strict map shows none).
pub(crate) fn completion_details(node: &mut Node, completion: &Completion, settles: bool) {
    for (key, value) in completion.details() {
        if settles || key != "tolerated_failure_count" || value != "0" {
            node.detail(key, value);
        }
    }
}
