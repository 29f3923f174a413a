//! Lifecycle hooks: code of yours called as executions start and finish, states start
//! and finish, attempts start, succeed and fail, retries are scheduled and crashed
//! executions are recovered — what metrics and tracing exporters (OpenTelemetry) build
//! on.
//!
//! Implement [`Hook`] (every method has an empty default body) and register it with
//! [`RuntimeBuilder::hook`](crate::RuntimeBuilder::hook); register several and they are
//! called in the order they were registered, for each event in the order the events
//! happened. Each call gets a [`HookEvent`]: the execution, workflow and state, the
//! attempt, the error, how long it took, when it happened, and whether this process was
//! [replaying](HookEvent::replaying) the execution's journal at the time.
//!
//! # Once per real event
//!
//! A durable execution that resumes replays the steps it already finished from its
//! journal: they report nothing to hooks (the same rule its history follows — an event
//! already in the history is a replay). A resumed execution calls
//! [`execution_recovered`](Hook::execution_recovered) when it was taken over from a
//! process that stopped without finishing it (it crashed, or lost its lease), then
//! [`execution_started`](Hook::execution_started) with
//! [`EventKind::ExecutionResumed`]; the
//! steps it really runs again report their events as usual. Executions without a store
//! ([`Runtime::run`](crate::Runtime::run)) call hooks too.
//!
//! At a [`HistoryLevel`](waypost_core::HistoryLevel) below `All` the history does not
//! hold the events it drops, so a replay of those is told by the run instead: an
//! event the history drops is not reported while the run is still catching up (see
//! [`HookEvent::replaying`]). That is exact for a sequence; in parallel branches that
//! catch up at different times, a dropped-kind event (a retry's `retry_scheduled`)
//! replayed by one branch after another already ran new work may be reported again.
//!
//! Events are handed to hooks as they happen, before they are durable: a process that
//! crashes before it stores an event (and the checkpoint it goes with) runs that work
//! again when it resumes, and reports it again — it happened again.
//!
//! # Never in the execution's way
//!
//! Hooks do not run on the execution's task. The runtime puts each event on one ordered
//! queue (per runtime) that a thread of its own (`waypost-hooks`) takes them from and
//! calls the hooks with: a slow hook delays later hook calls, never the execution. A
//! hook that returns an error or panics is logged (a `tracing` warning naming the hook,
//! the event and the execution, to the `tracing` subscriber that was the default where
//! the runtime was built, or else the global default) and the other hooks and later
//! events go on.
//! The queue holds [`QUEUE_CAPACITY`] events: when hooks fall that far behind, new
//! events are dropped rather than making the execution wait — counted by
//! [`Runtime::hook_events_dropped`](crate::Runtime::hook_events_dropped) and logged
//! once.
//!
//! [`Runtime::flush_hooks`](crate::Runtime::flush_hooks) waits until every event queued
//! so far has been handed to every hook (in tests, and before a program exits). When
//! the last clone of a runtime is dropped, its thread calls the hooks with the events
//! still queued, then ends.
//!
//! # States and attempts
//!
//! A task step's attempt calls [`attempt_started`](Hook::attempt_started), then
//! [`attempt_succeeded`](Hook::attempt_succeeded) or
//! [`attempt_failed`](Hook::attempt_failed). The task *state* spans its attempts:
//! [`state_started`](Hook::state_started) comes with its first attempt's start (not
//! with an attempt that follows a [`retry_scheduled`](Hook::retry_scheduled)), and
//! [`state_finished`](Hook::state_finished) with its successful attempt, or with its
//! failure once it is known that no retry follows it: when the error is caught, ends a
//! map item or the execution, or the state is run again by a retry around it. Maps,
//! waits, callbacks and child executions call `state_started` and `state_finished` as
//! they start and end.
//!
//! # Examples
//!
//! A hook that counts what metrics want: executions, attempts, failures by name.
//!
//! ```
//! use std::collections::HashMap;
//! use std::sync::{Arc, Mutex};
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::time::Duration;
//! use waypost::prelude::*;
//! use waypost::MemoryStore;
//! use waypost::hooks::{Hook, HookEvent, HookResult};
//!
//! #[derive(Default)]
//! struct Metrics {
//!     executions: AtomicU64,
//!     attempts: AtomicU64,
//!     failures: Mutex<HashMap<String, u64>>,
//! }
//!
//! struct Counting(Arc<Metrics>);
//!
//! impl Hook for Counting {
//!     fn name(&self) -> &str { "metrics" }
//!
//!     fn execution_started(&self, _: &HookEvent<'_>) -> HookResult {
//!         self.0.executions.fetch_add(1, Ordering::Relaxed);
//!         Ok(())
//!     }
//!
//!     fn attempt_started(&self, _: &HookEvent<'_>) -> HookResult {
//!         self.0.attempts.fetch_add(1, Ordering::Relaxed);
//!         Ok(())
//!     }
//!
//!     fn attempt_failed(&self, event: &HookEvent<'_>) -> HookResult {
//!         let name = event.error().map_or("unknown", |e| e.name.as_str()).to_owned();
//!         *self.0.failures.lock().unwrap().entry(name).or_default() += 1;
//!         Ok(())
//!     }
//! }
//!
//! #[step]
//! async fn flaky(cx: &StepContext, x: u32) -> Result<u32, Error> {
//!     if cx.attempt() == 1 { Err(Error::new("Flaky", "try again")) } else { Ok(x) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let metrics = Arc::new(Metrics::default());
//! let runtime = Runtime::builder()
//!     .store(MemoryStore::new())
//!     .hook(Counting(Arc::clone(&metrics)))
//!     .build();
//! let retry = RetryPolicy::builder().max_attempts(2).interval(Duration::ZERO).build();
//! let wf = Workflow::new("flaky", 1, flaky.retry(retry));
//! assert_eq!(runtime.start(&wf, "f-1", 7).await.unwrap(), 7);
//!
//! runtime.flush_hooks().await; // hooks run on a thread of their own
//! assert_eq!(metrics.executions.load(Ordering::Relaxed), 1);
//! assert_eq!(metrics.attempts.load(Ordering::Relaxed), 2);
//! assert_eq!(metrics.failures.lock().unwrap()["Flaky"], 1);
//! # }
//! ```

mod dispatch;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use waypost_core::history::EventError;
use waypost_core::{Event, EventDetails, EventKind};

pub(crate) use dispatch::{ExecutionInfo, HookObserver, Hooks};

/// How many events the hook queue of a runtime holds; beyond, new events are dropped
/// (and counted) rather than making executions wait.
pub const QUEUE_CAPACITY: usize = 1 << 16;

/// What a hook method returns: an error is logged with the hook's name, and changes
/// nothing else.
pub type HookResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Code called at the lifecycle events of a runtime's executions (see the [module
/// docs](self)): register it with [`RuntimeBuilder::hook`](crate::RuntimeBuilder::hook).
///
/// Every method has an empty default body: implement those you need. They run on the
/// runtime's hook thread, one call at a time, never on an execution's task; an error or
/// a panic is logged with [`name`](Hook::name) and changes nothing else.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use waypost::prelude::*;
/// use waypost::hooks::{Hook, HookEvent, HookResult};
///
/// struct Log(Arc<Mutex<Vec<String>>>);
///
/// impl Hook for Log {
///     fn state_finished(&self, event: &HookEvent<'_>) -> HookResult {
///         self.0.lock().unwrap().push(format!("{} finished", event.state()));
///         Ok(())
///     }
/// }
///
/// #[step]
/// async fn greet(name: String) -> String { format!("hello {name}") }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let runtime = Runtime::builder().hook(Log(Arc::clone(&log))).build();
/// runtime.run(&Workflow::new("greet", 1, greet), "ann".to_string()).await.unwrap();
/// runtime.flush_hooks().await;
/// assert_eq!(*log.lock().unwrap(), ["greet finished"]);
/// # }
/// ```
#[allow(unused_variables)]
pub trait Hook: Send + Sync + 'static {
    /// The name warnings about this hook give; the type's name by default.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// An execution began to run in this process: started
    /// ([`EventKind::ExecutionStarted`]), resumed after it was interrupted
    /// ([`EventKind::ExecutionResumed`]) or redriven after it failed
    /// ([`EventKind::ExecutionRedriven`]) — see [`HookEvent::kind`].
    fn execution_started(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// An execution ended: succeeded, failed (with [`error`](HookEvent::error)) or was
    /// cancelled by this runtime.
    fn execution_finished(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// This process took an execution over from an owner that stopped without
    /// finishing it (it crashed, or lost its lease): called before the
    /// `execution_started` of its resume.
    fn execution_recovered(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// A state started: a task's first attempt, a map, a wait, a callback or a child
    /// execution.
    fn state_started(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// A state finished: a task's successful attempt or its failure that no retry
    /// follows (with [`error`](HookEvent::error)), or the end of a map, a wait, a
    /// callback or a child execution.
    fn state_finished(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// An attempt of a task step started.
    fn attempt_started(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// An attempt of a task step succeeded.
    fn attempt_succeeded(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// An attempt of a task step failed, with [`error`](HookEvent::error).
    fn attempt_failed(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }

    /// A failed attempt will be retried after [`delay`](HookEvent::delay).
    fn retry_scheduled(&self, event: &HookEvent<'_>) -> HookResult {
        Ok(())
    }
}

/// Which [`Hook`] method an event goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Method {
    ExecutionStarted,
    ExecutionFinished,
    ExecutionRecovered,
    StateStarted,
    StateFinished,
    AttemptStarted,
    AttemptSucceeded,
    AttemptFailed,
    RetryScheduled,
}

impl Method {
    /// The method's name, as warnings give it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::ExecutionStarted => "execution_started",
            Method::ExecutionFinished => "execution_finished",
            Method::ExecutionRecovered => "execution_recovered",
            Method::StateStarted => "state_started",
            Method::StateFinished => "state_finished",
            Method::AttemptStarted => "attempt_started",
            Method::AttemptSucceeded => "attempt_succeeded",
            Method::AttemptFailed => "attempt_failed",
            Method::RetryScheduled => "retry_scheduled",
        }
    }

    /// Calls the method of `hook`.
    pub(crate) fn call(self, hook: &dyn Hook, event: &HookEvent<'_>) -> HookResult {
        match self {
            Method::ExecutionStarted => hook.execution_started(event),
            Method::ExecutionFinished => hook.execution_finished(event),
            Method::ExecutionRecovered => hook.execution_recovered(event),
            Method::StateStarted => hook.state_started(event),
            Method::StateFinished => hook.state_finished(event),
            Method::AttemptStarted => hook.attempt_started(event),
            Method::AttemptSucceeded => hook.attempt_succeeded(event),
            Method::AttemptFailed => hook.attempt_failed(event),
            Method::RetryScheduled => hook.retry_scheduled(event),
        }
    }
}

/// What a [`Hook`] is told about one event.
///
/// It borrows the event the execution's history gets (see
/// [`details`](Self::details) for everything it says).
#[derive(Clone, Copy)]
pub struct HookEvent<'a> {
    execution: &'a ExecutionInfo,
    event: &'a Event,
    replaying: bool,
}

impl<'a> HookEvent<'a> {
    pub(crate) fn new(execution: &'a ExecutionInfo, event: &'a Event, replaying: bool) -> Self {
        HookEvent {
            execution,
            event,
            replaying,
        }
    }

    /// The id of the execution.
    pub fn execution_id(&self) -> &'a str {
        &self.execution.id
    }

    /// The name of the execution's workflow.
    pub fn workflow(&self) -> &'a str {
        &self.execution.workflow
    }

    /// The version of the execution's workflow.
    pub fn version(&self) -> u32 {
        self.execution.version
    }

    /// The history event behind the call, such as
    /// [`EventKind::StepFailed`] for an `attempt_failed` — or for the `state_finished`
    /// of a task whose last attempt failed.
    pub fn kind(&self) -> EventKind {
        self.event.kind
    }

    /// The address of the state, as the history gives it (`0.fetch`, or
    /// `1.batch/0.fetch#2` inside a retry's second attempt); empty for the execution.
    pub fn address(&self) -> &'a str {
        &self.event.address
    }

    /// The name of the state (`fetch` for `1.batch/0.fetch#2`); empty for the
    /// execution.
    pub fn state(&self) -> &'a str {
        let last = self.event.address.rsplit('/').next().unwrap_or_default();
        let last = last.split('#').next().unwrap_or_default();
        last.split_once('.').map_or(last, |(_, name)| name)
    }

    /// The attempt, 1 for the first (and outside retries).
    pub fn attempt(&self) -> u32 {
        self.event.attempt
    }

    /// Which run of the attempt, 1 unless the attempt was interrupted (its process
    /// crashed) and runs again.
    pub fn run(&self) -> u32 {
        self.event.details.run.unwrap_or(1)
    }

    /// The error: of a failed attempt, of the failure a retry follows, of a failed
    /// state or execution.
    pub fn error(&self) -> Option<&'a EventError> {
        self.event.details.error.as_ref()
    }

    /// How long the attempt, state or timer took, for events that end one.
    pub fn duration(&self) -> Option<Duration> {
        self.event.duration_ms.map(Duration::from_millis)
    }

    /// The delay before a retry (`retry_scheduled`) or of a wait.
    pub fn delay(&self) -> Option<Duration> {
        self.event.details.delay_ms.map(Duration::from_millis)
    }

    /// When it happened (to the millisecond).
    pub fn at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.event.at_ms)
    }

    /// Whether this process was catching a resumed execution up from its journal when
    /// the event happened: it resumed an execution that has checkpoints, and has not
    /// yet come to a state its journal holds nothing for. True for the
    /// `execution_recovered` and `execution_started` of a resume that replays.
    pub fn replaying(&self) -> bool {
        self.replaying
    }

    /// Everything the history event says beyond its kind, address and attempt.
    pub fn details(&self) -> &'a EventDetails {
        &self.event.details
    }
}

impl fmt::Debug for HookEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HookEvent")
            .field("execution_id", &self.execution_id())
            .field("workflow", &self.workflow())
            .field("kind", &self.kind())
            .field("address", &self.address())
            .field("attempt", &self.attempt())
            .field("replaying", &self.replaying)
            .finish_non_exhaustive()
    }
}
