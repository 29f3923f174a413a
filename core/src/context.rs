//! Where a step runs: its address in the workflow and the services of the runtime.
//!
//! A [`Context`] is handed from parent to child as the tree runs. It names the
//! *position* of the step about to run (a parent [`Address`] plus a slot in the parent's
//! sequence); the step adds its own name to get its address. The runtime's services —
//! timers, the CPU pool, the clock — come through the [`Host`] trait, so this crate has
//! no dependency on tokio.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

use crate::address::Address;
use crate::codec::Codec;
use crate::error::Error;
use crate::history::{Event, EventDetails, EventKind};
use crate::replay::Entry;
use crate::store::CheckpointKind;

/// Services a runtime gives the steps it runs: timers, a pool for CPU work, a clock.
///
/// `waypost-runtime` implements it on tokio and rayon. Implement it to run steps on
/// another executor.
pub trait Host: Send + Sync + fmt::Debug + 'static {
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;

    /// Runs blocking or CPU-heavy `job` off the async executor (on rayon in
    /// `waypost-runtime`).
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>);

    /// The wall-clock time, used for durable timer deadlines.
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// What a durable runtime gives the steps of one execution: checkpoints to replay, and
/// a place to record new ones. `waypost-runtime` implements it over a store; without
/// one, nothing is replayed or recorded.
pub trait Recorder: Send + Sync + fmt::Debug + 'static {
    /// The codec of the execution's payloads.
    fn codec(&self) -> &dyn Codec;

    /// The checkpoint at `key`, if it is to be replayed.
    fn replay(&self, key: &str) -> Option<Entry>;

    /// Records checkpoints; the future resolves once they are durable.
    ///
    /// # Errors
    ///
    /// A terminal error when a payload is over the size limit (nothing is written), the
    /// store fails, the execution was cancelled, or a key already holds other bytes.
    fn record(
        &self,
        records: Vec<(String, CheckpointKind, Vec<u8>)>,
    ) -> BoxFuture<'static, Result<(), Error>>;

    /// Adds an event to the execution's history. It is stored with the next checkpoint
    /// (or the execution's end), in the same transaction. An event already in the
    /// history (same kind, address and attempt: a replay) is not added again, except a
    /// task step's `StepStarted`, which a step reports only when it really runs: each is
    /// a new run of the attempt, numbered in its details (`run`) from the second on,
    /// as are that run's `StepSucceeded` or `StepFailed`.
    fn event(&self, event: Event);

    /// Whether [`event`](Recorder::event) keeps anything. A recorder that drops every
    /// event says `false`, and then no event is built for it (no clock read, no address
    /// copied: the per-item cost of a streaming map). `true` by default.
    fn keeps_events(&self) -> bool {
        true
    }

    /// How many times the execution was redriven; 0 until the first redrive.
    fn generation(&self) -> u32;

    /// Waits while the execution is [paused](crate::pause): a task step calls it before
    /// it starts its work. Resolves at once when it is not (the default).
    ///
    /// # Errors
    ///
    /// When the store fails while the execution waits.
    fn hold(&self) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// Reads the checkpoints written into the execution since its run began by
    /// someone else (the messages a [`callback`](crate::callback) state is sent), so that
    /// [`replay`](Recorder::replay) returns them from now on. The default reads nothing.
    ///
    /// # Errors
    ///
    /// When the store fails or a checkpoint read does not match its checksum.
    fn refresh(&self) -> BoxFuture<'static, Result<(), Error>> {
        Box::pin(std::future::ready(Ok(())))
    }

    /// The runner's own services, for steps of the same runtime crate that need more
    /// than this trait (a child execution needs the runtime). `None` by default.
    fn services(&self) -> Option<&dyn std::any::Any> {
        None
    }

    /// What the execution is doing now, when its runner wants to know (a worker parks
    /// an execution that only waits on durable timers). `None` by default.
    fn activity(&self) -> Option<&crate::activity::Activity> {
        None
    }
}

/// Receives every event of an execution that runs without a [`Recorder`] (in memory,
/// where nothing is replayed, so every event is new): how a runtime hands them to its
/// lifecycle hooks. A durable execution's events go to its recorder instead.
pub trait Observer: Send + Sync + fmt::Debug + 'static {
    /// Called on the execution's task for each event as it happens: keep it short.
    fn event(&self, event: Event);
}

struct Shared {
    host: Arc<dyn Host>,
    execution_id: Arc<str>,
    recorder: Option<Arc<dyn Recorder>>,
    observer: Option<Arc<dyn Observer>>,
}

/// The position of the step about to run, and the runtime's services.
///
/// Combinators derive their children's contexts; a step adds its name to get its
/// [`Address`]. Cloning is cheap (reference counts).
#[derive(Clone)]
pub struct Context {
    shared: Arc<Shared>,
    parent: Address,
    slot: u32,
    attempt: u32,
    /// `#n` for each enclosing retry attempt, outermost first: part of every key.
    attempt_key: Option<Arc<str>>,
    /// How many timeouts wrap the step at this position: each timeout layer records
    /// its own key, so nested timeouts on one step never share a checkpoint.
    timeouts: u32,
    /// Where heartbeats go while a heartbeat timeout watches this position.
    beats: Option<Arc<crate::heartbeat::Beats>>,
    /// The codec a state at this position stores its output with instead of the
    /// execution's ([`StepExt::codec`](crate::StepExt::codec)); not handed to nested
    /// sequences.
    codec: Option<Arc<crate::codec::per_state::Override>>,
}

impl Context {
    /// The context of a workflow's root step, for one execution.
    pub fn new(host: Arc<dyn Host>, execution_id: impl Into<Arc<str>>) -> Self {
        Self::with_recorder(host, execution_id, None)
    }

    /// The context of a workflow's root step for a durable execution: steps replay and
    /// record checkpoints through `recorder`.
    pub fn with_recorder(
        host: Arc<dyn Host>,
        execution_id: impl Into<Arc<str>>,
        recorder: Option<Arc<dyn Recorder>>,
    ) -> Self {
        Context {
            shared: Arc::new(Shared {
                host,
                execution_id: execution_id.into(),
                recorder,
                observer: None,
            }),
            parent: Address::root(),
            slot: 0,
            attempt: 1,
            attempt_key: None,
            timeouts: 0,
            beats: None,
            codec: None,
        }
    }

    /// The context of a workflow's root step for an execution without a store, whose
    /// events all go to `observer`.
    pub fn with_observer(
        host: Arc<dyn Host>,
        execution_id: impl Into<Arc<str>>,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let mut cx = Self::with_recorder(host, execution_id, None);
        if let Some(shared) = Arc::get_mut(&mut cx.shared) {
            shared.observer = Some(observer);
        }
        cx
    }

    /// The recorder of a durable execution.
    pub fn recorder(&self) -> Option<&dyn Recorder> {
        self.shared.recorder.as_deref()
    }

    /// Marks work in flight in the execution's [`Activity`](crate::activity::Activity),
    /// if its runner tracks it, until the guard is dropped.
    pub fn busy(&self) -> Option<crate::activity::Busy> {
        self.recorder()
            .and_then(Recorder::activity)
            .map(crate::activity::Activity::busy)
    }

    /// The checkpoint key of the step named `name` here: its address, plus `#n` for each
    /// enclosing retry attempt.
    pub fn key(&self, name: &str) -> String {
        let address = self.address(name);
        match &self.attempt_key {
            None => address.as_str().to_owned(),
            Some(suffix) => format!("{address}{suffix}"),
        }
    }

    /// The id of the execution this step belongs to.
    pub fn execution_id(&self) -> &str {
        &self.shared.execution_id
    }

    /// The runtime's services.
    pub fn host(&self) -> &dyn Host {
        &*self.shared.host
    }

    /// The address a step named `name` gets at this position.
    pub fn address(&self, name: &str) -> Address {
        self.parent.step(self.slot, name)
    }

    /// The slot of this position in its parent's sequence.
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// The attempt of the enclosing retry, 1 for the first (and outside any retry).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The position `offset` slots further along the same sequence.
    pub fn shifted(&self, offset: u32) -> Self {
        Context {
            slot: self.slot + offset,
            timeouts: 0,
            codec: None,
            ..self.clone()
        }
    }

    /// The first position inside a sub-sequence at `parent` (a branch, a map item).
    pub fn nested(&self, parent: Address) -> Self {
        Context {
            parent,
            slot: 0,
            timeouts: 0,
            codec: None,
            ..self.clone()
        }
    }

    /// The same position with the recorder `wrap` makes from the execution's (an item of
    /// a streaming map keeps its own records in memory); without a recorder, the same
    /// context.
    pub(crate) fn with_recorder_from(
        &self,
        wrap: impl FnOnce(&Arc<dyn Recorder>) -> Arc<dyn Recorder>,
    ) -> Self {
        let Some(recorder) = &self.shared.recorder else {
            return self.clone();
        };
        Context {
            shared: Arc::new(Shared {
                host: Arc::clone(&self.shared.host),
                execution_id: Arc::clone(&self.shared.execution_id),
                recorder: Some(wrap(recorder)),
                observer: self.shared.observer.clone(),
            }),
            ..self.clone()
        }
    }

    /// The same position, where the state at `address` stores its output with its own
    /// codec.
    pub(crate) fn with_codec(&self, codec: Arc<crate::codec::per_state::Override>) -> Self {
        Context {
            codec: Some(codec),
            ..self.clone()
        }
    }

    /// The codec override in force at this position, if any.
    pub(crate) fn codec_override(&self) -> Option<&crate::codec::per_state::Override> {
        self.codec.as_deref()
    }

    /// The same position, one timeout layer deeper, and the index of that layer.
    pub(crate) fn inside_timeout(&self) -> (Self, u32) {
        let inner = Context {
            timeouts: self.timeouts + 1,
            ..self.clone()
        };
        (inner, self.timeouts)
    }

    /// The same position, watched by a heartbeat timeout that `beats` reports to.
    pub(crate) fn with_beats(&self, beats: Arc<crate::heartbeat::Beats>) -> Self {
        Context {
            beats: Some(beats),
            ..self.clone()
        }
    }

    /// The same position, on the given attempt of an enclosing retry.
    pub fn with_attempt(&self, attempt: u32) -> Self {
        let outer = self.attempt_key.as_deref().unwrap_or("");
        Context {
            attempt,
            attempt_key: Some(Arc::from(format!("{outer}#{attempt}"))),
            ..self.clone()
        }
    }

    /// Reports an event of the execution: a `tracing` event, and an entry of the
    /// history when the execution is durable.
    pub fn emit(
        &self,
        kind: EventKind,
        address: &str,
        duration_ms: Option<u64>,
        details: EventDetails,
    ) {
        // The summary is only made when the event is logged.
        tracing::debug!(
            execution_id = %self.execution_id(),
            address,
            attempt = self.attempt,
            duration_ms,
            details = %crate::history::summary(kind, &details),
            "{kind}"
        );
        if self.keeps_events() {
            let (recorder, observer) = (self.recorder(), self.shared.observer.as_deref());
            // Inside nested retries, `#n` for each outer attempt follows the address (as
            // in checkpoint keys): an outer retry's second attempt runs the inner steps
            // again, and their events are new ones, not replays of the first attempt's.
            let outer = self
                .attempt_key
                .as_deref()
                .and_then(|key| key.rfind('#').filter(|&i| i > 0).map(|i| &key[..i]));
            let event = Event {
                seq: 0,
                at_ms: crate::durable::millis(self.host().now()),
                kind,
                address: match outer {
                    Some(outer) => format!("{address}{outer}"),
                    None => address.to_owned(),
                },
                attempt: self.attempt,
                duration_ms,
                details,
            };
            match (recorder, observer) {
                (Some(recorder), _) => recorder.event(event),
                (None, Some(observer)) => observer.event(event),
                (None, None) => {}
            }
        }
    }

    /// Whether an event emitted here goes anywhere: to a recorder that keeps events, or
    /// (with no recorder) to an observer.
    pub(crate) fn keeps_events(&self) -> bool {
        match (self.recorder(), &self.shared.observer) {
            (Some(recorder), _) => recorder.keeps_events(),
            (None, observer) => observer.is_some(),
        }
    }

    /// Milliseconds since `started` on the host's clock, for an event's duration.
    pub(crate) fn millis_since(&self, started: SystemTime) -> Option<u64> {
        let took = self.host().now().duration_since(started).ok()?;
        Some(u64::try_from(took.as_millis()).unwrap_or(u64::MAX))
    }

    /// Sleeps on the runtime's timer.
    pub fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.shared.host.sleep(duration)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("execution_id", &self.execution_id())
            .field("parent", &self.parent)
            .field("slot", &self.slot)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// What a task step sees of where it runs: its address, attempt and execution.
///
/// A `#[step]` function receives it when its first argument is `cx: &StepContext`.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// async fn charge(cx: &StepContext, cents: u64) -> String {
///     // Stable across resumes of this execution: safe to send to a payment API.
///     format!("{} charged {cents}", cx.idempotency_key())
/// }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let out = Runtime::new().run(&Workflow::new("pay", 1, charge), 500).await.unwrap();
/// assert!(out.ends_with("/0.charge#1 charged 500"));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct StepContext {
    cx: Context,
    /// For an item of a CPU map, the item's index and the step's name: its address is
    /// made from them only when asked for, so that a map of a million cheap items does
    /// not format a million addresses nobody reads.
    item: Option<(usize, Arc<str>)>,
    address: OnceLock<Address>,
}

impl StepContext {
    /// The context of the step named `name` at the position `cx`.
    pub fn new(cx: &Context, name: &str) -> Self {
        StepContext {
            address: OnceLock::from(cx.address(name)),
            item: None,
            cx: cx.clone(),
        }
    }

    /// The context of the items of a map at `map`, each below `{map}/{index}`; move it
    /// from item to item with [`set_item`](Self::set_item).
    pub(crate) fn for_items(cx: &Context, map: Address, name: &str) -> Self {
        StepContext {
            cx: cx.nested(map),
            item: Some((0, Arc::from(name))),
            address: OnceLock::new(),
        }
    }

    /// Moves a context made by [`for_items`](Self::for_items) to item `index`.
    pub(crate) fn set_item(&mut self, index: usize) {
        if let Some((item, _)) = &mut self.item
            && *item != index
        {
            *item = index;
            self.address = OnceLock::new();
        }
    }

    /// The checkpoint key of this step: its address plus `#n` per enclosing retry.
    pub fn key(&self) -> String {
        match &self.cx.attempt_key {
            None => self.address().as_str().to_owned(),
            Some(suffix) => format!("{}{suffix}", self.address()),
        }
    }

    /// The address of this step.
    pub fn address(&self) -> &Address {
        self.address.get_or_init(|| match &self.item {
            Some((index, name)) => self.cx.parent.branch(index).step(0, name),
            None => unreachable!("a step context outside a map is made with its address"),
        })
    }

    /// The id of the execution.
    pub fn execution_id(&self) -> &str {
        self.cx.execution_id()
    }

    /// The attempt, 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.cx.attempt()
    }

    /// A key that is the same every time this attempt of this step of this execution
    /// runs (also after a crash and resume), and different for any other: give it to
    /// external services to make side effects idempotent.
    pub fn idempotency_key(&self) -> String {
        let key = self.key();
        let attempt = if self.cx.attempt_key.is_none() {
            "#1"
        } else {
            ""
        };
        // After a redrive the step runs anew: a service that remembers keys (and the
        // failure it answered) must see a new one.
        match self.cx.recorder().map_or(0, |r| r.generation()) {
            0 => format!("{}/{key}{attempt}", self.cx.execution_id()),
            n => format!("{}/r{n}:{key}{attempt}", self.cx.execution_id()),
        }
    }

    /// The runtime's services.
    pub fn host(&self) -> &dyn Host {
        self.cx.host()
    }

    /// Reports that the step is alive and how far it got: resets its
    /// [`heartbeat_timeout`](crate::StepExt::heartbeat_timeout), and in a durable
    /// execution records `details` (once durable, the future resolves), so that the next
    /// attempt — a retry, or a run after a crash — reads them with
    /// [`last_heartbeat`](Self::last_heartbeat). See [`heartbeat`](crate::heartbeat).
    ///
    /// # Errors
    ///
    /// When the details cannot be encoded or recorded (the store failed, the execution
    /// was cancelled): stop the work and return the error.
    pub async fn heartbeat<D: serde::Serialize>(&self, details: &D) -> Result<(), Error> {
        let now = crate::durable::millis(self.cx.host().now());
        if let Some(beats) = &self.cx.beats {
            beats.beat(now);
        }
        let Some(recorder) = self.cx.recorder() else {
            return Ok(());
        };
        let address = self.address().as_str().to_owned();
        let n = (0u64..)
            .find(|&n| {
                recorder
                    .replay(&crate::heartbeat::details_key(&address, n))
                    .is_none()
            })
            .expect("a free heartbeat number");
        let key = crate::heartbeat::details_key(&address, n);
        let what = format!(
            "the heartbeat details of step `{address}` in execution `{}`",
            self.execution_id()
        );
        let payload = crate::codec::encode(recorder.codec(), details, &what)?;
        recorder
            .record(vec![(key, CheckpointKind::Output, payload)])
            .await?;
        // The limit runs from when the details are durable.
        if let Some(beats) = &self.cx.beats {
            beats.beat(crate::durable::millis(self.cx.host().now()));
        }
        Ok(())
    }

    /// The details of the last [`heartbeat`](Self::heartbeat) this step sent in this
    /// execution — in an earlier attempt, or a run a crash interrupted — if any.
    ///
    /// # Errors
    ///
    /// When the stored details do not decode as `D`.
    pub fn last_heartbeat<D: serde::de::DeserializeOwned>(&self) -> Result<Option<D>, Error> {
        let Some(recorder) = self.cx.recorder() else {
            return Ok(None);
        };
        let address = self.address().as_str();
        let last = (0u64..)
            .map_while(|n| recorder.replay(&crate::heartbeat::details_key(address, n)))
            .last();
        let Some(entry) = last else {
            return Ok(None);
        };
        let what = format!(
            "the heartbeat details of step `{address}` in execution `{}`",
            self.execution_id()
        );
        crate::codec::decode(recorder.codec(), &entry.payload, &what).map(Some)
    }
}
