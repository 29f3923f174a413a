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

pub use config::{MapMode, Strict, Tolerant, ToleratedFailures};
pub use items::{Batched, Batches, FnReader, ItemReader, VecItems, read_items, vec_items};
pub use par::{ParMap, par_map};
pub use sink::{Collect, Collected, Fold, Sink, WriteResults, Written};
pub use stream::MapItems;

use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::step::Step;

/// Runs `step` on every item of the input `Vec`, on the async executor.
pub fn map<S: Step>(step: S) -> Map<S> {
    Map {
        name: Cow::Borrowed("map"),
        step,
        max_concurrency: 0,
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
    max_concurrency: usize,
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

    /// At most `limit` items run at once (ASL `MaxConcurrency`); 0, the default, means
    /// no limit.
    pub fn max_concurrency(self, limit: usize) -> Self {
        Map {
            max_concurrency: limit,
            ..self
        }
    }

    /// Tolerates failed items; the output becomes one `Result` per item.
    pub fn tolerate(self, failures: ToleratedFailures) -> Map<S, Tolerant> {
        Map {
            name: self.name,
            step: self.step,
            max_concurrency: self.max_concurrency,
            mode: Tolerant(failures),
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

impl<S: Step, M: MapMode> Step for Map<S, M> {
    type Input = Vec<S::Input>;
    type Output = M::Output<S::Output>;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, items: Vec<S::Input>) -> Result<Self::Output, Error> {
        let key = || cx.key(&self.name);
        durable::container(cx, key, self.run_items(cx, items)).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Map, &self.name, |sink| {
            sink.branch("item", &self.step)
        });
        node.detail("max_concurrency", self.max_concurrency);
    }
}

impl<S: Step, M: MapMode> Map<S, M> {
    /// Runs every item; fails once more items failed than tolerated.
    async fn run_items(
        &self,
        cx: &Context,
        items: Vec<S::Input>,
    ) -> Result<M::Output<S::Output>, Error> {
        let at = cx.address(&self.name);
        let total = items.len();
        let allowed = self.mode.allowed(total);
        let limit = match self.max_concurrency {
            0 => total.max(1),
            n => n,
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
        let mut results: Vec<Option<Result<S::Output, Error>>> =
            std::iter::repeat_with(|| None).take(total).collect();
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
        let mut failures = 0;
        while let Some((index, result)) = running.next().await {
            if let Err(error) = &result {
                if config::stops_any_map(error) {
                    return Err(error.clone());
                }
                failures += 1;
                if failures > allowed {
                    // Dropping `running` cancels the items still in flight.
                    return Err(self
                        .mode
                        .exceeded(error.clone(), failures, total, &self.name)
                        .at(at.as_str()));
                }
            }
            let outcome = EventDetails {
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
                outcome,
            );
            results[index] = Some(result);
        }
        let took = cx.millis_since(started);
        cx.emit(
            EventKind::MapFinished,
            at.as_str(),
            took,
            EventDetails {
                items: Some(total as u64),
                failed: Some(failures as u64),
                ..EventDetails::default()
            },
        );
        M::finish(
            results
                .into_iter()
                .map(|r| r.expect("every item finished"))
                .collect(),
        )
    }
}
