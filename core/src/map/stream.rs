//! The streaming form of the async map, `map(step).items(reader)`: items read lazily
//! from the map's input, run as async steps at most
//! [`max_concurrency`](MapItems::max_concurrency) at once, their results handed to a
//! sink in input order and committed in batches — a map of millions of I/O-bound items
//! in bounded memory, resumed after a crash from its last batch.
//!
//! # How it runs
//!
//! A driver reads the next item whenever fewer than `max_concurrency` items run (64 by
//! default: a stream has no "all at once") and starts the step on it. Results come back
//! in any order; each waits in a reorder window until the results before it are in,
//! then goes to the sink ([`Collect`], [`Fold`], [`WriteResults`]). No item more than
//! `4 × max_concurrency` (plus a batch the sink holds) past the last one handed over is
//! started, so one slow item holds back the reading, never the memory. Every
//! [`commit_every`](MapItems::commit_every) items or
//! [`commit_interval`](MapItems::commit_interval), one checkpoint `{map}/~items/{n}`
//! says how far the map got and what the sink needs to go on — the same checkpoints as
//! [`par_map`](super::par_map), written by the same code. The next commit is issued
//! only after the last one is durable, so the committed batches are always a prefix of
//! the items: a resumed map loads those batches (one checkpoint per batch, never one
//! per item), restores the sink from them and reads on from the first item not
//! committed.
//!
//! # What an item keeps
//!
//! An item's step does not write checkpoints to the store — a million items would make
//! a million of them, which is what this form avoids. It runs with a recorder of its
//! own, in memory, that lives as long as the item: a
//! [`retry`](crate::StepExt::retry) inside the item still counts its attempts and waits
//! its delays, a [`heartbeat`](crate::StepContext::heartbeat) is kept for the next
//! attempt, and a [paused](crate::pause) execution starts no new item (the pause, the
//! codec and the redrive generation come from the execution's recorder). The item's own
//! events (its steps starting and ending, its retries) are not stored either; the map
//! reports its start, its end and each failed item (`MapItemFinished`, with the error
//! and the item's [name](super::Map::item_names)), so the history grows with the
//! failures, not with the items.
//!
//! The price: an item whose result is not yet committed runs again after a crash —
//! at-least-once per item, as in [`par_map`](super::par_map) — and its retries start
//! over then. One record is the exception: an
//! [at-most-once](crate::StepExt::at_most_once) step inside an item records its start
//! in the execution's store as usual (one checkpoint per such item), so that after a
//! crash it fails with `States.StepInterrupted` instead of running twice. Items that
//! wait long and durably (a callback, a child execution, a wait of hours), or whose
//! every step the history should show, belong in the plain [`map`](super::map) over a
//! `Vec`, which checkpoints each item on its own.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::StreamExt as _;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;

use super::config::{MapMode, Streams, Strict, Tolerant, ToleratedFailures, stops_any_map};
use super::items::ItemReader;
use super::progress::{self, CommitEvery, Progress};
use super::sink::{Collect, Fold, Sink, WriteResults};
use super::{ItemNames, Map};
use crate::address::Address;
use crate::codec::Codec;
use crate::context::{Context, Recorder};
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::history::{Event, EventDetails, EventKind};
use crate::replay::Entry;
use crate::step::{Payload, Step};
use crate::store::CheckpointKind;

/// How many items a streaming map runs at once unless told.
const DEFAULT_CONCURRENCY: usize = 64;

impl<S: Step, M: Streams> Map<S, M> {
    /// Reads the items from the map's input with `reader` (ASL's `ItemReader`) instead
    /// of taking a `Vec`, and streams them: the map's input becomes the reader's, items
    /// are read as room frees up, and the results are committed in batches rather than
    /// one checkpoint per item. See [`MapItems`] for the sinks, the batches, what an
    /// item keeps and when to choose which form.
    ///
    /// The map keeps its name, [`max_concurrency`](Map::max_concurrency) (64 when
    /// none was given), [`tolerate`](Map::tolerate) and
    /// [`item_names`](Map::item_names).
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    ///
    /// #[step]
    /// async fn square(x: u64) -> u64 { x * x }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// // The input is a count; the items are made on the fly, never held all at once.
    /// let sum_of_squares = Workflow::new(
    ///     "sum-of-squares",
    ///     1,
    ///     map(square)
    ///         .items(read_items(|n: u64| Ok((1..=n).map(Ok))))
    ///         .max_concurrency(16)
    ///         .fold(0u64, |sum, x| sum + x),
    /// );
    /// assert_eq!(Runtime::new().run(&sum_of_squares, 1_000).await.unwrap(), 333_833_500);
    /// # }
    /// ```
    pub fn items<R>(self, reader: R) -> MapItems<S, M, R, Collect>
    where
        R: ItemReader<Item = S::Input>,
    {
        MapItems {
            name: self.name,
            step: self.step,
            max_concurrency: self.max_concurrency.unwrap_or(DEFAULT_CONCURRENCY),
            mode: self.mode,
            reader: Arc::new(reader),
            sink: Arc::new(Collect),
            commit: CommitEvery::default(),
            item_names: self.item_names,
        }
    }
}

/// Step returned by [`Map::items`]: the async map over items read lazily, its results
/// handed to a sink and committed in batches. `S` runs each item, `M` says whether
/// failures are tolerated, `R` reads the items, `K` takes the results.
///
/// Items are read as room frees up and run at most
/// [`max_concurrency`](Self::max_concurrency) at once; their results go to the sink in
/// input order ([`fold`](Self::fold), [`write_results`](Self::write_results), or
/// collected), and every [`commit_every`](Self::commit_every) items one checkpoint says
/// how far the map got — the checkpoints of [`par_map`](super::par_map). Memory holds
/// the items in flight and a window of results waiting for a slower one before them,
/// however many items the reader yields; a resumed map loads the batches and reads on
/// from the first item not committed.
///
/// # Choosing between the two async maps
///
/// An item here writes nothing to the store: its retries, their delays and its
/// heartbeats are kept in memory while it runs, and its own events are not stored (the
/// map reports its start, its end and each failed item). So an item whose result was
/// not yet committed runs again after a crash — at least once per item — and its
/// retries start over. Choose this form for many items, each cheap to run again.
/// An [`at_most_once`](crate::StepExt::at_most_once) step inside an item is the
/// exception: it records its start in the store as usual (one checkpoint per such
/// item), so a crash never runs it twice. Choose the plain [`map`](super::map) over a
/// `Vec`, which checkpoints each item on its own, for items that wait long and durably
/// (a callback, a child execution, a wait of hours), or whose every step the history
/// should show.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::prelude::*;
/// use waypost::MemoryStore;
///
/// #[step]
/// async fn fetch(id: u32) -> Result<u32, Error> {
///     tokio::time::sleep(Duration::from_millis(1)).await; // an HTTP call, say
///     if id % 100 == 0 { return Err(Error::new("NotFound", "no such id")); }
///     Ok(id)
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let count_found = Workflow::new(
///     "count-found",
///     1,
///     map(fetch)
///         .items(read_items(|n: u32| Ok((1..=n).map(Ok))))
///         .max_concurrency(50)
///         .tolerate(ToleratedFailures::Percentage(5.0))
///         .commit_every(100)
///         .fold(0u32, |found, result| found + u32::from(result.is_ok())),
/// );
/// let runtime = Runtime::builder().store(MemoryStore::new()).build();
/// assert_eq!(runtime.start(&count_found, "c-1", 1_000).await.unwrap(), 990);
/// # }
/// ```
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct MapItems<S: Step, M = Strict, R = super::VecItems<<S as Step>::Input>, K = Collect> {
    name: Cow<'static, str>,
    step: S,
    max_concurrency: usize,
    mode: M,
    reader: Arc<R>,
    sink: Arc<K>,
    commit: CommitEvery,
    item_names: Option<ItemNames>,
}

impl<S: Step, M: MapMode, R, K> MapItems<S, M, R, K> {
    /// Names the map state (default `"map"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        MapItems {
            name: name.into(),
            ..self
        }
    }

    /// At most `limit` items run at once (ASL `MaxConcurrency`; default 64). A limit of
    /// 0 is refused when the workflow is built
    /// ([`WorkflowError::InvalidSettings`](crate::WorkflowError::InvalidSettings)): a
    /// stream cannot run all its items at once.
    pub fn max_concurrency(self, limit: usize) -> Self {
        MapItems {
            max_concurrency: limit,
            ..self
        }
    }

    /// Reads the items with another reader.
    pub fn items<R2>(self, reader: R2) -> MapItems<S, M, R2, K>
    where
        R2: ItemReader<Item = S::Input>,
    {
        let (mode, sink) = (self.mode.clone(), Arc::clone(&self.sink));
        self.rebuild(mode, Arc::new(reader), sink)
    }

    /// Commits the results once `items` items (default 1,000) finished since the last
    /// commit, or as soon as that commit is durable when it took longer: a crash loses
    /// the items finished since the last durable commit and those in flight (they run
    /// again), never what was committed.
    ///
    /// # Panics
    ///
    /// When `items` is 0.
    pub fn commit_every(mut self, items: usize) -> Self {
        assert!(items > 0, "a map commits at least one item at a time");
        self.commit.items = items;
        self
    }

    /// Commits the results at least this often while items finish (default 1 s).
    pub fn commit_interval(mut self, interval: Duration) -> Self {
        self.commit.interval = interval;
        self
    }

    /// The same map with another mode, reader or sink.
    fn rebuild<M2, R2, K2>(
        self,
        mode: M2,
        reader: Arc<R2>,
        sink: Arc<K2>,
    ) -> MapItems<S, M2, R2, K2> {
        MapItems {
            name: self.name,
            step: self.step,
            max_concurrency: self.max_concurrency,
            mode,
            reader,
            sink,
            commit: self.commit,
            item_names: self.item_names,
        }
    }
}

impl<S: Step, M: MapMode, R> MapItems<S, M, R, Collect> {
    /// Folds the results, in input order, into one value that becomes the map's output,
    /// instead of collecting them: the map holds one value, not one result per item.
    /// Each commit checkpoints the value so far.
    pub fn fold<A, F>(self, init: A, f: F) -> MapItems<S, M, R, Fold<A, F>>
    where
        A: Payload + Sync,
        F: Fn(A, M::Item<S::Output>) -> A + Send + Sync + 'static,
    {
        let (mode, reader) = (self.mode.clone(), Arc::clone(&self.reader));
        self.rebuild(mode, reader, Arc::new(Fold::new(init, f)))
    }

    /// Hands the results, in input order and in batches of `size`, to the step `writer`
    /// (ASL's `ResultWriter`): the map's output is its output for each batch. Each
    /// batch is written once, durably, like any task step.
    ///
    /// # Panics
    ///
    /// When `size` is 0.
    pub fn write_results<W>(self, writer: W, size: usize) -> MapItems<S, M, R, WriteResults<W>>
    where
        W: Step<Input = Vec<M::Item<S::Output>>>,
    {
        let (mode, reader) = (self.mode.clone(), Arc::clone(&self.reader));
        self.rebuild(mode, reader, Arc::new(WriteResults::new(writer, size)))
    }
}

impl<S: Step, R> MapItems<S, Strict, R, Collect> {
    /// Tolerates failed items; each item's result becomes a `Result`.
    ///
    /// A tolerated failure is a result like any other: it is committed with its batch,
    /// and a resume does not run that item again. A percentage of a stream whose length
    /// the reader does not know is checked at its end.
    pub fn tolerate(self, failures: ToleratedFailures) -> MapItems<S, Tolerant, R, Collect> {
        let (reader, sink) = (Arc::clone(&self.reader), Arc::clone(&self.sink));
        self.rebuild(Tolerant(failures), reader, sink)
    }
}

impl<S, M, R, K> Step for MapItems<S, M, R, K>
where
    S: Step,
    M: MapMode,
    R: ItemReader<Item = S::Input>,
    K: Sink<M::Item<S::Output>>,
{
    type Input = R::Input;
    type Output = K::Output;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: R::Input) -> Result<K::Output, Error> {
        // Busy while the map runs: its items' timers are in memory, a worker must not
        // park the execution on them.
        let _busy = cx.busy();
        let key = || cx.key(&self.name);
        durable::container(cx, key, self.run_items(cx, input)).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Map, &self.name, |sink| {
            sink.branch("item", &self.step)
        });
        node.detail("max_concurrency", self.max_concurrency);
        node.detail("items", "stream");
        if self.max_concurrency == 0 {
            node.detail(
                crate::graph::INVALID,
                "max concurrency is 0; a streaming map runs at least one item at a time \
                 (leave it out for 64)",
            );
        }
    }
}

/// An item in flight: its index, its name for the history, and its step's run.
struct Running<'a, O> {
    index: usize,
    name: Option<String>,
    run: BoxFuture<'a, Result<O, Error>>,
}

impl<O> Future for Running<'_, O> {
    type Output = (usize, Option<String>, Result<O, Error>);

    fn poll(mut self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.run
            .as_mut()
            .poll(task)
            .map(|result| (this.index, this.name.take(), result))
    }
}

impl<S, M, R, K> MapItems<S, M, R, K>
where
    S: Step,
    M: MapMode,
    R: ItemReader<Item = S::Input>,
    K: Sink<M::Item<S::Output>>,
{
    async fn run_items(&self, cx: &Context, input: R::Input) -> Result<K::Output, Error> {
        let at = cx.address(&self.name);
        let total = self.reader.len(&input);
        let limit = self.mode.limit(total);
        let prefix = format!("{}/~items", cx.key(&self.name));
        let mut progress = progress::replay(&*self.sink, cx, &prefix)?;
        cx.emit(
            EventKind::MapStarted,
            at.as_str(),
            None,
            EventDetails {
                items: total.map(|total| total as u64),
                committed: Some(progress.done as u64).filter(|&done| done > 0),
                ..EventDetails::default()
            },
        );
        let started = cx.host().now();
        let items = catch_unwind(AssertUnwindSafe(|| self.reader.read(input, progress.done)))
            .unwrap_or_else(|panic| Err(Error::from_panic(&self.name, at.as_str(), panic.as_ref())))
            .map_err(|e| e.at(at.as_str()))?;

        let mut failure = self
            .drive(cx, &at, &prefix, items, (limit, total), &mut progress)
            .await
            .err();
        // A percentage of a stream's items is known only at its end.
        if failure.is_none()
            && limit.is_none()
            && let Some(allowed) = self.mode.limit(Some(progress.done))
            && progress.failures > allowed
        {
            failure = Some(Error::new(
                crate::error::names::EXCEED_TOLERATED_FAILURE,
                format!(
                    "map `{}`: {} of {} items failed, more than the {allowed} tolerated",
                    self.name, progress.failures, progress.done
                ),
            ));
        }
        if failure.is_none()
            && let Err(error) = self.sink.flush(&mut progress.state, cx, &at, true).await
        {
            failure = Some(error);
        }
        // Whatever happened, the results in order so far are kept: a redrive or resume
        // carries on from them.
        if let Some(recorder) = cx.recorder()
            && progress::upto(&*self.sink, &progress) > progress.committed
            && !progress.commit_failed
        {
            let commit = progress::commit_batch(&*self.sink, recorder, cx, &prefix, &mut progress)?;
            if let Err(error) = commit.await {
                failure.get_or_insert(error);
            }
        }
        let took = cx.millis_since(started);
        cx.emit(
            EventKind::MapFinished,
            at.as_str(),
            took,
            EventDetails {
                items: Some(progress.done as u64),
                failed: Some(progress.failures as u64),
                ..EventDetails::default()
            },
        );
        match failure {
            Some(error) => Err(error.at(at.as_str())),
            None => Ok(self.sink.finish(progress.state)),
        }
    }

    /// Starts the step on item `index`, with a recorder of its own in memory.
    fn start<'a>(
        &'a self,
        cx: &Context,
        at: &Address,
        index: usize,
        item: S::Input,
    ) -> Running<'a, S::Output> {
        let name = self
            .item_names
            .as_ref()
            .and_then(|ItemNames(name)| name(&item));
        let item_cx = cx
            .nested(at.branch(index))
            .with_recorder_from(|execution| Arc::new(ItemRecorder::new(Arc::clone(execution))));
        let step = &self.step;
        let run = async move {
            match AssertUnwindSafe(step.run(&item_cx, item))
                .catch_unwind()
                .await
            {
                Ok(result) => result,
                Err(panic) => {
                    let address = item_cx.address(step.name());
                    Err(Error::from_panic(
                        step.name(),
                        address.as_str(),
                        panic.as_ref(),
                    ))
                }
            }
        };
        Running {
            index,
            name,
            run: Box::pin(run),
        }
    }

    /// Runs the items, at most `max_concurrency` at once, and hands their results to
    /// the sink in order, committing batches on the way. Returns once nothing is left
    /// in flight.
    async fn drive(
        &self,
        cx: &Context,
        at: &Address,
        prefix: &str,
        mut items: R::Items,
        (limit, total): (Option<usize>, Option<usize>),
        progress: &mut Progress<K::State>,
    ) -> Result<(), Error> {
        let sink = &*self.sink;
        // Results may wait for an earlier, slower item, and in the sink for a full
        // batch: at most this many items past the last checkpoint.
        let window = 4 * self.max_concurrency + sink.batch();
        let fail_fast = limit == Some(0);

        let mut running: FuturesUnordered<Running<'_, S::Output>> = FuturesUnordered::new();
        let mut waiting: BTreeMap<usize, Result<S::Output, Error>> = BTreeMap::new();
        let mut failure: Option<Error> = None;
        let mut read_error: Option<(usize, Error)> = None;
        // The next item to read; no item at `stop` or after it runs.
        let (mut next, mut end, mut stop) = (progress.done, false, usize::MAX);
        let mut commit: Option<BoxFuture<'static, Result<(), Error>>> = None;
        let mut last_commit = Instant::now();
        // Drops the items in flight from `stop` on (all of them when 0).
        let cancel_from = |running: &mut FuturesUnordered<Running<'_, S::Output>>, stop: usize| {
            *running = std::mem::take(running)
                .into_iter()
                .filter(|item| item.index < stop)
                .collect();
        };

        loop {
            while failure.is_none()
                && !end
                && next < stop
                && running.len() < self.max_concurrency
                && next - progress::upto(sink, progress) < window
            {
                match catch_unwind(AssertUnwindSafe(|| items.next())) {
                    Ok(Some(Ok(item))) => {
                        running.push(self.start(cx, at, next, item));
                        next += 1;
                    }
                    Ok(Some(Err(error))) => {
                        read_error = Some((next, error));
                        end = true;
                    }
                    Ok(None) => end = true,
                    Err(panic) => {
                        let error = Error::from_panic("item reader", at.as_str(), panic.as_ref());
                        read_error = Some((next, error));
                        end = true;
                    }
                }
            }
            if commit.is_none()
                && failure.is_none()
                && progress.done > progress.committed
                && (progress.done - progress.committed >= self.commit.items
                    || last_commit.elapsed() >= self.commit.interval
                    || progress::batch_waits(sink, progress))
            {
                if let Err(error) = sink.flush(&mut progress.state, cx, at, false).await {
                    failure = Some(error);
                    cancel_from(&mut running, 0);
                    continue;
                }
                if progress::upto(sink, progress) > progress.committed {
                    match cx.recorder() {
                        Some(recorder) => {
                            commit = Some(progress::commit_batch(
                                sink, recorder, cx, prefix, progress,
                            )?);
                        }
                        // Nothing to write down: the position just moves on.
                        None => progress.committed = progress::upto(sink, progress),
                    }
                    last_commit = Instant::now();
                }
            }
            // A commit in flight is always awaited: the next batch may only follow a
            // durable one. With nothing in flight, the map ends — unless it is only
            // waiting for room, which writing a batch the sink holds makes.
            if running.is_empty() && commit.is_none() {
                let stalled = failure.is_some() || end || next >= stop;
                let room = next - progress::upto(sink, progress) < window;
                if stalled || !(room || progress::batch_waits(sink, progress)) {
                    break;
                }
                continue;
            }

            enum Next<O> {
                Committed(Result<(), Error>),
                Item((usize, Option<String>, Result<O, Error>)),
            }
            let event = std::future::poll_fn(|task| {
                if let Some(pending) = commit.as_mut()
                    && let Poll::Ready(result) = pending.as_mut().poll(task)
                {
                    commit = None;
                    return Poll::Ready(Next::Committed(result));
                }
                if !running.is_empty()
                    && let Poll::Ready(Some(item)) = running.poll_next_unpin(task)
                {
                    return Poll::Ready(Next::Item(item));
                }
                Poll::Pending
            })
            .await;
            let (index, name, result) = match event {
                Next::Committed(Ok(())) => continue,
                Next::Committed(Err(error)) => {
                    // Nothing more may be committed: a later batch must never be
                    // durable without this one.
                    progress.commit_failed = true;
                    failure.get_or_insert(error);
                    cancel_from(&mut running, 0);
                    continue;
                }
                Next::Item(item) => item,
            };
            if let Err(error) = &result {
                cx.emit(
                    EventKind::MapItemFinished,
                    at.branch(index).as_str(),
                    None,
                    EventDetails {
                        item: name,
                        ..EventDetails::error(error)
                    },
                );
                // The items after it need not run; those before it still do, so that
                // the map fails at its first failure in input order.
                if (fail_fast || stops_any_map(error)) && index < stop {
                    stop = index + 1;
                    cancel_from(&mut running, stop);
                }
            }
            // The next result in order goes straight to the sink; a later one waits.
            let mut next_in_order = if index == progress.done {
                Some(result)
            } else {
                waiting.insert(index, result);
                None
            };
            while failure.is_none()
                && let Some(result) = next_in_order
                    .take()
                    .or_else(|| waiting.remove(&progress.done))
            {
                if let Err(error) = self.take(result, limit, total, progress) {
                    failure = Some(error);
                    cancel_from(&mut running, 0);
                }
            }
        }

        if let Some(error) = failure {
            return Err(error);
        }
        if let Some((index, error)) = read_error {
            return Err(error.at(at.branch(index).as_str()));
        }
        if progress.done < next {
            return Err(Error::runtime(format!(
                "map `{}` stopped after {} items",
                self.name, progress.done
            )));
        }
        Ok(())
    }

    /// Hands the next item's result to the sink, or says why the map fails.
    fn take(
        &self,
        result: Result<S::Output, Error>,
        limit: Option<usize>,
        total: Option<usize>,
        progress: &mut Progress<K::State>,
    ) -> Result<(), Error> {
        if let Err(error) = &result {
            if stops_any_map(error) {
                return Err(error.clone());
            }
            progress.failures += 1;
            progress.failed.push(progress.done);
            if limit.is_some_and(|allowed| progress.failures > allowed) {
                let total = total.unwrap_or(progress.done + 1);
                return Err(self.mode.exceeded(
                    error.clone(),
                    progress.failures,
                    total,
                    &self.name,
                ));
            }
        }
        self.sink.push(&mut progress.state, M::item(result)?);
        progress.done += 1;
        Ok(())
    }
}

/// Whether the record at `key` must outlive the item's run: an
/// [at-most-once](crate::StepExt::at_most_once) step's start, without which a crash
/// would let the step run twice. It goes to the execution's store (one checkpoint per
/// such item: the price of at most once) and is read back from there.
fn outlives_the_item(key: &str) -> bool {
    key.ends_with("~started")
}

/// The recorder an item of a streaming map runs with: the item's checkpoints (its
/// attempts, its retry delays, its heartbeats) in memory, for as long as the item runs;
/// the codec, the redrive generation and the pause from the execution's recorder; its
/// events nowhere (the map reports what the history keeps). Only an at-most-once
/// step's start goes to the execution's recorder ([`outlives_the_item`]).
struct ItemRecorder {
    execution: Arc<dyn Recorder>,
    records: Mutex<Vec<(String, Entry)>>,
}

impl ItemRecorder {
    fn new(execution: Arc<dyn Recorder>) -> Self {
        ItemRecorder {
            execution,
            records: Mutex::new(Vec::new()),
        }
    }
}

impl fmt::Debug for ItemRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ItemRecorder")
            .field("records", &records.len())
            .finish_non_exhaustive()
    }
}

impl Recorder for ItemRecorder {
    fn codec(&self) -> &dyn Codec {
        self.execution.codec()
    }

    fn replay(&self, key: &str) -> Option<Entry> {
        let records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = records
            .iter()
            .find(|(stored, _)| stored == key)
            .map(|(_, entry)| entry.clone());
        drop(records);
        entry.or_else(|| outlives_the_item(key).then(|| self.execution.replay(key))?)
    }

    fn record(
        &self,
        records: Vec<(String, CheckpointKind, Vec<u8>)>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        let (durable, records): (Vec<_>, Vec<_>) = records
            .into_iter()
            .partition(|(key, _, _)| outlives_the_item(key));
        let mut stored = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        for (key, kind, payload) in records {
            let entry = Entry {
                kind,
                payload: Arc::from(payload),
            };
            match stored.iter_mut().find(|(k, _)| *k == key) {
                Some((_, old)) => *old = entry,
                None => stored.push((key, entry)),
            }
        }
        if durable.is_empty() {
            Box::pin(std::future::ready(Ok(())))
        } else {
            self.execution.record(durable)
        }
    }

    fn event(&self, _event: Event) {}

    fn keeps_events(&self) -> bool {
        false
    }

    fn generation(&self) -> u32 {
        self.execution.generation()
    }

    fn hold(&self) -> BoxFuture<'static, Result<(), Error>> {
        self.execution.hold()
    }
}
