//! The CPU form of map: items run on the runtime's CPU pool (rayon), read lazily from
//! the input, their results handed to a sink in input order and committed in batches.
//!
//! The map runs as a driver on the async side and groups of items on the pool. Each
//! group takes the next items from the reader, runs them one after another and sends
//! their results back; the driver puts results in input order, hands them to the sink
//! and, every [`commit_every`](ParMap::commit_every) items or
//! [`commit_interval`](ParMap::commit_interval), commits one checkpoint that says how
//! far the map got and what the sink needs to carry on. The next commit is issued only
//! after the last one is durable, so the committed batches are always a prefix of the
//! items: a resumed map restores the sink from them and reads on from the first item
//! not committed. Memory stays bounded by the groups in flight and a window of results
//! waiting for an earlier, slower group.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::BoxFuture;

use super::config::{MapMode, Settle, Strict, Tolerant, ToleratedFailures, stops_any_map};
use super::items::{ItemReader, VecItems, vec_items};
use super::progress::{self, CommitEvery, Progress};
use super::sink::{Collect, Fold, Sink, WriteResults};
use crate::address::Address;
use crate::completion::{Completion, CompletionReason, Counts, Tally};
use crate::context::{Context, Recorder, StepContext};
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::step::{Payload, Step, SyncStep};

/// Runs the blocking `step` on every item of the input `Vec`, in parallel on the CPU
/// pool. Output order is input order.
///
/// Item results are committed in batches (every 1,000 items or second by default).
/// [`items`](ParMap::items) reads the items from any source instead of a `Vec`;
/// [`fold`](ParMap::fold) folds the results instead of collecting them, and
/// [`write_results`](ParMap::write_results) hands them in batches to a step: together
/// they map millions of items in bounded memory.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// fn collatz_len(mut n: u64) -> u32 {
///     let mut steps = 0;
///     while n != 1 { n = if n.is_multiple_of(2) { n / 2 } else { 3 * n + 1 }; steps += 1; }
///     steps
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let wf = Workflow::new("collatz", 1, par_map(collatz_len));
/// assert_eq!(Runtime::new().run(&wf, vec![1, 6, 27]).await.unwrap(), [0, 8, 111]);
///
/// // Many items per call (ASL's `ItemBatcher`): the step takes a `Vec` of items.
/// #[step]
/// fn total(batch: Vec<u64>) -> u64 {
///     batch.iter().sum()
/// }
/// let wf = Workflow::new("totals", 1, par_map(total).items(vec_items().batched(2)));
/// assert_eq!(Runtime::new().run(&wf, vec![1, 6, 27]).await.unwrap(), [7, 27]);
/// # }
/// ```
pub fn par_map<S: SyncStep>(step: S) -> ParMap<S> {
    ParMap {
        name: Cow::Borrowed("par_map"),
        step: Arc::new(step),
        mode: Strict,
        reader: Arc::new(vec_items()),
        sink: Arc::new(Collect),
        commit: CommitEvery::default(),
    }
}

/// Step returned by [`par_map`]: `S` runs each item, `M` says whether failures are
/// tolerated, `R` reads the items, `K` takes the results.
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct ParMap<S: Step, M = Strict, R = VecItems<<S as Step>::Input>, K = Collect> {
    name: Cow<'static, str>,
    step: Arc<S>,
    mode: M,
    reader: Arc<R>,
    sink: Arc<K>,
    commit: CommitEvery,
}

impl<S: SyncStep, M: MapMode, R, K> ParMap<S, M, R, K> {
    /// Names the map state (default `"par_map"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        ParMap {
            name: name.into(),
            ..self
        }
    }

    /// Reads the items from the map's input with `reader` (ASL's `ItemReader`) instead
    /// of taking a `Vec`: the map's input becomes the reader's, and items are read as
    /// the pool takes them. See [`read_items`](super::read_items).
    pub fn items<R2>(self, reader: R2) -> ParMap<S, M, R2, K>
    where
        R2: ItemReader<Item = S::Input>,
    {
        let (mode, sink) = (self.mode.clone(), Arc::clone(&self.sink));
        self.rebuild(mode, Arc::new(reader), sink)
    }

    /// Commits the results once `items` items (default 1,000) finished since the last
    /// commit, or as soon as that commit is durable when it took longer: a crash loses
    /// the items finished since the last durable commit and those in flight, never
    /// what was committed.
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
    ) -> ParMap<S, M2, R2, K2> {
        ParMap {
            name: self.name,
            step: self.step,
            mode,
            reader,
            sink,
            commit: self.commit,
        }
    }
}

impl<S: SyncStep, M: MapMode, R> ParMap<S, M, R, Collect> {
    /// Folds the results, in input order, into one value that becomes the map's output,
    /// instead of collecting them (a sink, like ASL's `ResultWriter`): the map holds
    /// one value, not one result per item. Each commit checkpoints the value so far.
    pub fn fold<A, F>(self, init: A, f: F) -> ParMap<S, M, R, Fold<A, F>>
    where
        A: Payload + Sync,
        F: Fn(A, M::Item<S::Output>) -> A + Send + Sync + 'static,
    {
        let (mode, reader) = (self.mode.clone(), Arc::clone(&self.reader));
        self.rebuild(mode, reader, Arc::new(Fold::new(init, f)))
    }

    /// Hands the results, in input order and in batches of `size`, to the step `writer`
    /// (ASL's `ResultWriter`): it writes them where they belong, and the map's output
    /// is its output for each batch. The map holds at most one batch of results (and
    /// what is in flight). Each batch is written once, durably, like any task step.
    ///
    /// # Panics
    ///
    /// When `size` is 0.
    pub fn write_results<W>(self, writer: W, size: usize) -> ParMap<S, M, R, WriteResults<W>>
    where
        W: Step<Input = Vec<M::Item<S::Output>>>,
    {
        let (mode, reader) = (self.mode.clone(), Arc::clone(&self.reader));
        self.rebuild(mode, reader, Arc::new(WriteResults::new(writer, size)))
    }
}

impl<S: SyncStep, R> ParMap<S, Strict, R, Collect> {
    /// Tolerates failed items; each item's result becomes a `Result`.
    ///
    /// A tolerated failure is a result like any other: it is committed with its batch,
    /// and a redrive does not run that item again. A percentage of a stream whose length
    /// the reader does not know is checked at its end.
    pub fn tolerate(self, failures: ToleratedFailures) -> ParMap<S, Tolerant, R, Collect> {
        let (reader, sink) = (Arc::clone(&self.reader), Arc::clone(&self.sink));
        self.rebuild(Tolerant(failures), reader, sink)
    }

    /// The settled form: the map never fails for its items' failures; each item's
    /// result becomes an [`Outcome`](crate::completion::Outcome), and the map's output
    /// is a [`Settled`](crate::completion::Settled) batch of the sink's output (with
    /// the default sink, every item's outcome in input order, those after the decision
    /// [`Skipped`](crate::completion::Outcome::Skipped)), why it completed and the
    /// counts. Every failure is tolerated unless `tolerate` says otherwise;
    /// [`min_successful`](ParMap::min_successful) and
    /// [`complete_when`](ParMap::complete_when) end it early.
    ///
    /// The decision is taken in input order and is durable: a resumed map restores the
    /// committed results, reaches the same decision from their counts, and reads no item
    /// after it. Skipped items go to a [`fold`](ParMap::fold) as `Skipped` but are not
    /// handed to [`write_results`](ParMap::write_results).
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::completion::{CompletionReason, Outcome};
    ///
    /// #[step]
    /// fn root(x: i64) -> Result<i64, Error> {
    ///     if x < 0 { return Err(Error::new("Negative", "no real root")); }
    ///     Ok(x.isqrt())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let wf = Workflow::new("roots", 1, par_map(root).settled().min_successful(2));
    /// let batch = Runtime::new().run(&wf, vec![-1, 16, 9, 4]).await.unwrap();
    /// assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    /// assert_eq!(batch.outcomes()[1..3], [Outcome::Succeeded(4), Outcome::Succeeded(3)]);
    /// assert_eq!(batch.outcomes()[3], Outcome::Skipped);
    /// # }
    /// ```
    pub fn settled(self) -> ParMap<S, Settle, R, Collect> {
        let (reader, sink) = (Arc::clone(&self.reader), Arc::clone(&self.sink));
        self.rebuild(Settle(Completion::new()), reader, sink)
    }
}

impl<S: SyncStep, R, K> ParMap<S, Settle, R, K> {
    /// Tolerates at most `failures`: the item, in input order, past them ends the map
    /// with [`CompletionReason::ToleranceExceeded`]. A percentage of a stream whose
    /// length the reader does not know is checked at its end.
    pub fn tolerate(mut self, failures: ToleratedFailures) -> Self {
        self.mode.0.tolerate(failures);
        self
    }

    /// Completes once `count` items succeeded, in input order
    /// ([`CompletionReason::MinSuccessfulReached`]); with fewer items, every item runs
    /// ([`CompletionReason::AllCompleted`]). 0 is refused when the workflow is built.
    pub fn min_successful(mut self, count: usize) -> Self {
        self.mode.0.min_successful(count);
        self
    }

    /// Completes once `predicate` holds for the counts, checked after each item in
    /// input order ([`CompletionReason::PredicateMatched`]).
    pub fn complete_when(
        mut self,
        predicate: impl Fn(&Counts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.mode.0.when(predicate);
        self
    }
}

impl<S, M, R, K> Step for ParMap<S, M, R, K>
where
    S: SyncStep,
    M: MapMode,
    R: ItemReader<Item = S::Input>,
    K: Sink<M::Item<S::Output>>,
{
    type Input = R::Input;
    type Output = M::Finished<K::Output>;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: R::Input) -> Result<Self::Output, Error> {
        let _busy = cx.busy();
        let key = || cx.key(&self.name);
        durable::container(cx, key, self.run_items(cx, input)).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Map, &self.name, |sink| {
            sink.branch("item", &*self.step)
        });
        node.detail("executor", "cpu");
        let completion = self.mode.completion();
        super::completion_details(node, &completion, self.mode.settles());
        if self.mode.settles() {
            node.detail("settled", true);
        }
        if let Some(problem) = completion.problem(None) {
            node.detail(crate::graph::INVALID, problem);
        }
    }
}

/// Items one group of the pool runs, most and fewest.
const MAX_GROUP: usize = 4_096;
/// How long a group should run: long enough that handing it over costs little, short
/// enough that the pool stays busy and results come back often.
const GROUP_NANOS: u64 = 200_000;

/// What one group of items sends back to the driver.
struct Group<O> {
    first: usize,
    results: Vec<Result<O, Error>>,
    /// The reader failed at item `first + results.len()`, or panicked.
    read_error: Option<Error>,
    /// The reader has no more items.
    end: bool,
    nanos: u64,
}

/// The reader's items, shared by the groups: each takes the next ones in turn.
struct Source<It> {
    items: It,
    next: usize,
    end: bool,
}

/// The first index of the items that must not run: `usize::MAX` while the map goes
/// on. An item's failure that fails the map stops the items after it, and only those,
/// so that the items before it still run and the map fails at its first failure.
#[derive(Clone)]
struct Stop(Arc<AtomicUsize>);

impl Stop {
    fn new() -> Self {
        Stop(Arc::new(AtomicUsize::new(usize::MAX)))
    }

    /// No item at `index` or after it runs.
    fn at(&self, index: usize) {
        self.0.fetch_min(index, Ordering::Relaxed);
    }

    /// No item runs any more.
    fn all(&self) {
        self.at(0);
    }

    fn stops(&self, index: usize) -> bool {
        index >= self.0.load(Ordering::Relaxed)
    }

    fn stopping(&self) -> bool {
        self.0.load(Ordering::Relaxed) != usize::MAX
    }
}

/// Stops the groups still on the pool when the map's future is dropped.
struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.all();
    }
}

impl<S, M, R, K> ParMap<S, M, R, K>
where
    S: SyncStep,
    M: MapMode,
    R: ItemReader<Item = S::Input>,
    K: Sink<M::Item<S::Output>>,
{
    async fn run_items(
        &self,
        cx: &Context,
        input: R::Input,
    ) -> Result<M::Finished<K::Output>, Error> {
        let at = cx.address(&self.name);
        let total = self.reader.len(&input);
        let limit = self.mode.limit(total);
        let prefix = format!("{}/~items", cx.key(&self.name));
        let mut progress = self.replay(cx, &prefix)?;
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

        // The settled form's decision, in input order: replayed from the committed
        // counts, where an earlier run reached it, or taken while driving.
        let completion = self.mode.completion();
        let mut tally = Tally::resumed(&completion, total, progress.done, progress.failures);
        let mut reason = self.mode.settles().then(|| tally.check()).flatten();
        let mut failure = None;
        if reason.is_none() {
            match self
                .drive(
                    cx,
                    &at,
                    &prefix,
                    items,
                    (limit, total),
                    &mut progress,
                    &mut tally,
                )
                .await
            {
                Ok(decided) => reason = decided,
                Err(error) => failure = Some(error),
            }
        }
        // A percentage of a stream's items is known only at its end.
        if failure.is_none()
            && !self.mode.settles()
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
            && self.upto(&progress) > progress.committed
            && !progress.commit_failed
        {
            let commit = self.commit_batch(recorder, cx, &prefix, &mut progress)?;
            if let Err(error) = commit.await {
                failure.get_or_insert(error);
            }
        }
        let reason = reason.unwrap_or_else(|| tally.end());
        let took = cx.millis_since(started);
        cx.emit(
            EventKind::MapFinished,
            at.as_str(),
            took,
            EventDetails {
                items: Some(progress.done as u64),
                failed: Some(progress.failures as u64),
                completion: self.mode.settles().then(|| reason.to_string()),
                ..EventDetails::default()
            },
        );
        if let Some(error) = failure {
            return Err(error.at(at.as_str()));
        }
        // The items after the decision, known only in memory (a resumed map reaches
        // the same decision and skips them again).
        if let (Some(total), Some(_)) = (total, M::skipped::<S::Output>()) {
            for _ in progress.done..total {
                if let Some(skipped) = M::skipped() {
                    self.sink.push(&mut progress.state, skipped);
                }
            }
        }
        let counts = tally.counts();
        Ok(M::finished(
            self.sink.finish(progress.state),
            reason,
            counts,
        ))
    }

    /// The sink and position restored from the committed batches.
    fn replay(&self, cx: &Context, prefix: &str) -> Result<Progress<K::State>, Error> {
        progress::replay(&*self.sink, cx, prefix)
    }

    /// Runs the items on the pool and hands their results to the sink in order,
    /// committing batches on the way. Returns once nothing is left in flight: with the
    /// settled form's decision, when it was taken before the items ran out.
    #[allow(clippy::too_many_arguments, reason = "the driver's state, passed once")]
    async fn drive(
        &self,
        cx: &Context,
        at: &Address,
        prefix: &str,
        items: R::Items,
        (limit, total): (Option<usize>, Option<usize>),
        progress: &mut Progress<K::State>,
        tally: &mut Tally<'_>,
    ) -> Result<Option<CompletionReason>, Error> {
        let source = Arc::new(Mutex::new(Source {
            items,
            next: progress.done,
            end: false,
        }));
        let stop = Stop::new();
        let _stop_on_drop = StopOnDrop(stop.clone());
        let (send, mut receive) = mpsc::unbounded::<Group<S::Output>>();
        let workers = 2 * std::thread::available_parallelism().map_or(2, usize::from);
        // Results may wait for an earlier, slower group, and in the sink for a full
        // batch: at most this many items past the last checkpoint.
        let window = 2 * workers * MAX_GROUP + self.sink.batch();
        let fail_fast = limit == Some(0);

        let mut failure: Option<Error> = None;
        let mut decided: Option<CompletionReason> = None;
        let mut waiting: BTreeMap<usize, Vec<Result<S::Output, Error>>> = BTreeMap::new();
        let mut first_read_error: Option<(usize, Error)> = None;
        let (mut in_flight, mut reserved, mut end) = (0, progress.done, false);
        let (mut group_size, mut nanos_per_item) = (1, None::<u64>);
        let mut commit: Option<BoxFuture<'static, Result<(), Error>>> = None;
        let mut last_commit = Instant::now();

        loop {
            let stopping = failure.is_some() || stop.stopping();
            while !stopping
                && !end
                && in_flight < workers
                && reserved - self.upto(progress) < window
            {
                let job = group_job(
                    Arc::clone(&self.step),
                    Arc::clone(&source),
                    stop.clone(),
                    send.clone(),
                    (
                        at.clone(),
                        StepContext::for_items(cx, at.clone(), self.step.name()),
                    ),
                    group_size,
                    fail_fast,
                );
                cx.host().spawn_blocking(job);
                in_flight += 1;
                reserved += group_size;
            }
            if commit.is_none()
                && failure.is_none()
                && progress.done > progress.committed
                && (progress.done - progress.committed >= self.commit.items
                    || last_commit.elapsed() >= self.commit.interval
                    || self.batch_waits(progress))
            {
                if let Err(error) = self.sink.flush(&mut progress.state, cx, at, false).await {
                    failure = Some(error);
                    stop.all();
                    continue;
                }
                if self.upto(progress) > progress.committed {
                    match cx.recorder() {
                        Some(recorder) => {
                            commit = Some(self.commit_batch(recorder, cx, prefix, progress)?);
                        }
                        // Nothing to write down: the position just moves on.
                        None => progress.committed = self.upto(progress),
                    }
                    last_commit = Instant::now();
                }
            }
            // A commit in flight is always awaited: the next batch may only follow a
            // durable one. With nothing in flight, the map ends — unless it is only
            // waiting for room, which writing a batch the sink holds makes.
            if in_flight == 0 && commit.is_none() {
                let stalled = failure.is_some() || stop.stopping() || end;
                let room = reserved - self.upto(progress) < window;
                if stalled || !(room || self.batch_waits(progress)) {
                    break;
                }
                continue;
            }

            enum Next<O> {
                Committed(Result<(), Error>),
                Group(Group<O>),
            }
            let next = std::future::poll_fn(|task| {
                if let Some(pending) = commit.as_mut()
                    && let Poll::Ready(result) = pending.as_mut().poll(task)
                {
                    commit = None;
                    return Poll::Ready(Next::Committed(result));
                }
                if in_flight > 0
                    && let Poll::Ready(Some(group)) = receive.poll_next_unpin(task)
                {
                    return Poll::Ready(Next::Group(group));
                }
                Poll::Pending
            })
            .await;
            let group = match next {
                Next::Committed(Ok(())) => continue,
                Next::Committed(Err(error)) => {
                    // Nothing more may be committed: a later batch must never be
                    // durable without this one.
                    progress.commit_failed = true;
                    failure.get_or_insert(error);
                    stop.all();
                    continue;
                }
                Next::Group(group) => group,
            };
            in_flight -= 1;
            end |= group.end;
            if let Ok(count) = u64::try_from(group.results.len())
                && count > 0
            {
                let per_item = (group.nanos / count).max(1);
                let estimate = nanos_per_item.map_or(per_item, |e| (3 * e + per_item) / 4);
                nanos_per_item = Some(estimate);
                group_size = usize::try_from(GROUP_NANOS / estimate)
                    .unwrap_or(MAX_GROUP)
                    .clamp(1, MAX_GROUP);
            }
            if let Some(error) = group.read_error {
                let index = group.first + group.results.len();
                if first_read_error.as_ref().is_none_or(|(i, _)| index < *i) {
                    first_read_error = Some((index, error));
                }
                stop.at(index);
            }
            if !group.results.is_empty() {
                waiting.insert(group.first, group.results);
            }
            while failure.is_none()
                && decided.is_none()
                && let Some(results) = waiting.remove(&progress.done)
            {
                for result in results {
                    match self.take(result, limit, total, progress, tally) {
                        Ok(None) => {}
                        Ok(Some(reason)) => {
                            // The items after this one are not read, or ignored.
                            decided = Some(reason);
                            stop.all();
                            break;
                        }
                        Err(error) => {
                            failure = Some(error);
                            stop.all();
                            break;
                        }
                    }
                }
            }
        }

        if let Some(error) = failure {
            return Err(error);
        }
        if decided.is_some() {
            return Ok(decided);
        }
        // The map stopped before its end, at a read error or a failed item that an
        // earlier group, stopped, kept the results from reaching: the first of them. (A
        // failure a tolerant map tolerates is a result, not the map's error.)
        let fails_the_map = |error: &Error| fail_fast || stops_any_map(error);
        let failed_item = waiting.into_iter().find_map(|(first, results)| {
            let mut results = results.into_iter().enumerate();
            results.find_map(|(offset, result)| {
                let error = result.err().filter(fails_the_map)?;
                Some((first + offset, error))
            })
        });
        let read_error =
            first_read_error.map(|(index, error)| (index, error.at(at.branch(index).as_str())));
        if let Some((_, error)) = [failed_item, read_error]
            .into_iter()
            .flatten()
            .min_by_key(|(index, _)| *index)
        {
            return Err(error);
        }
        if !end || stop.stopping() {
            return Err(Error::runtime(format!(
                "map `{}` stopped after {} items",
                self.name, progress.done
            )));
        }
        Ok(None)
    }

    /// Hands the next item's result to the sink, or says why the map fails; in the
    /// settled form, whether the map completes with it.
    fn take(
        &self,
        result: Result<S::Output, Error>,
        limit: Option<usize>,
        total: Option<usize>,
        progress: &mut Progress<K::State>,
        tally: &mut Tally<'_>,
    ) -> Result<Option<CompletionReason>, Error> {
        if let Err(error) = &result {
            if stops_any_map(error) {
                return Err(error.clone());
            }
            progress.failures += 1;
            progress.failed.push(progress.done);
            if !self.mode.settles() && limit.is_some_and(|allowed| progress.failures > allowed) {
                let total = total.unwrap_or(progress.done + 1);
                return Err(self.mode.exceeded(
                    error.clone(),
                    progress.failures,
                    total,
                    &self.name,
                ));
            }
        }
        let succeeded = result.is_ok();
        self.sink.push(&mut progress.state, M::item(result)?);
        progress.done += 1;
        Ok(self.mode.settles().then(|| tally.feed(succeeded)).flatten())
    }

    /// Whether the sink holds a full batch: it is written before more items are read.
    fn batch_waits(&self, progress: &Progress<K::State>) -> bool {
        progress::batch_waits(&*self.sink, progress)
    }

    /// Where the next checkpoint ends: after the items the sink no longer holds.
    fn upto(&self, progress: &Progress<K::State>) -> usize {
        progress::upto(&*self.sink, progress)
    }

    /// Starts committing the results taken since the last commit.
    fn commit_batch(
        &self,
        recorder: &dyn Recorder,
        cx: &Context,
        prefix: &str,
        progress: &mut Progress<K::State>,
    ) -> Result<BoxFuture<'static, Result<(), Error>>, Error> {
        progress::commit_batch(&*self.sink, recorder, cx, prefix, progress)
    }
}

/// A job for the pool: take up to `size` items from `source`, run them, send back the
/// results.
fn group_job<S, It>(
    step: Arc<S>,
    source: Arc<Mutex<Source<It>>>,
    stop: Stop,
    send: mpsc::UnboundedSender<Group<S::Output>>,
    (at, mut scx): (Address, StepContext),
    size: usize,
    fail_fast: bool,
) -> Box<dyn FnOnce() + Send>
where
    S: SyncStep,
    It: Iterator<Item = Result<S::Input, Error>> + Send + 'static,
{
    Box::new(move || {
        let started = Instant::now();
        let mut taken = Vec::with_capacity(size);
        let mut read_error = None;
        let (first, end) = {
            let mut source = source.lock().unwrap_or_else(PoisonError::into_inner);
            let first = source.next;
            while !source.end && taken.len() < size && !stop.stops(source.next + taken.len()) {
                match catch_unwind(AssertUnwindSafe(|| source.items.next())) {
                    Ok(Some(Ok(item))) => taken.push(item),
                    Ok(Some(Err(error))) => {
                        read_error = Some(error);
                        source.end = true;
                    }
                    Ok(None) => source.end = true,
                    Err(panic) => {
                        read_error = Some(Error::from_panic(
                            "item reader",
                            at.as_str(),
                            panic.as_ref(),
                        ));
                        source.end = true;
                    }
                }
            }
            source.next += taken.len();
            (first, source.end)
        };
        let mut results = Vec::with_capacity(taken.len());
        for (offset, item) in taken.into_iter().enumerate() {
            if stop.stops(first + offset) {
                break;
            }
            scx.set_item(first + offset);
            let result = match catch_unwind(AssertUnwindSafe(|| step.call_sync(&scx, item))) {
                Ok(result) => result.map_err(|e| e.at(scx.address().as_str())),
                Err(panic) => Err(Error::from_panic(
                    step.name(),
                    scx.address().as_str(),
                    panic.as_ref(),
                )),
            };
            let failed = result.is_err();
            results.push(result);
            if failed && fail_fast {
                // The items after this one need not run; those before it still do.
                stop.at(first + offset + 1);
                break;
            }
        }
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // The receiver is gone only when the map was dropped.
        let _ = send.unbounded_send(Group {
            first,
            results,
            read_error,
            end,
            nanos,
        });
    })
}
