//! The executor of [waypost] workflows: async steps on tokio, CPU work on rayon, and
//! durable executions over a [`Store`].
//!
//! Depend on the `waypost` facade, which re-exports this crate.
//!
//! # Feature flags
//!
//! - `crash-points` (off; for tests only): named places in the runtime and the SQLite
//!   store where `WAYPOST_CRASH_AT=<point>:<n>` aborts the process the `n`-th time it
//!   gets there (`before-commit`, `after-commit`, `between-checkpoint-and-event`,
//!   `redrive-decided`, `redrive-written`, `migration`, `finish-start`, `finish-end`).
//!   The `waypost` facade enables it for its own crash tests only.
//!
//! [waypost]: https://docs.rs/waypost
#![doc(test(attr(deny(warnings))))]

mod codec;
mod crash;
mod error;
mod host;
mod recorder;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::{AbortHandle, Abortable, BoxFuture, WeakShared};
use futures::{FutureExt as _, StreamExt as _};
use tracing::Instrument as _;
use typed_builder::TypedBuilder;
use waypost_core::codec::{decode, encode};
use waypost_core::replay::{Journal, fingerprint, within};
use waypost_core::store::{
    Checkpoint, CheckpointKind, ExecutionRecord, ListFilter, NewExecution, Snapshot, Write,
};
use waypost_core::{
    Codec, Context, Error, Event, EventKind, ExecutionStatus, HistoryLevel, Host, Payload, Step,
    Store, StoreError, Workflow,
};

use crate::recorder::StoreRecorder;
pub use codec::{BincodeCodec, JsonCodec, codec_named};
pub use error::RunError;
pub use host::TokioHost;
pub use store::{Durability, MemoryStore, SqliteStore, SqliteStoreOptions};

/// Settings of a [`Runtime`].
#[derive(Clone, Debug, TypedBuilder)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The largest payload (input, output or checkpoint) in bytes; larger ones fail the
    /// execution before anything is written for them. Default 16 MiB.
    #[builder(default = 16 << 20)]
    pub max_payload_bytes: usize,
    /// How long an execution's lease lasts without renewal; it is renewed every third of
    /// it while the execution runs. Default 30 s.
    #[builder(default = Duration::from_secs(30))]
    pub lease_ttl: Duration,
    /// Resume executions even when the workflow's structure changed since they started
    /// (checkpoints whose keys still exist are replayed). Default `false`: refused with
    /// an error naming both versions.
    #[builder(default = false)]
    pub allow_changed_workflows: bool,
    /// How much history executions keep: every event (the default), execution events
    /// and failures, or execution events only.
    #[builder(default)]
    pub history: HistoryLevel,
    /// How many executions [`Runtime::resume_all`] resumes at once. Default 64.
    #[builder(default = 64)]
    pub max_concurrent_resumes: usize,
    /// How many times an execution may be recovered — taken over after the run that
    /// owned it stopped without finishing, such as a process crash — before it is
    /// parked as failed with `States.RecoveryLimitExceeded` instead of being run
    /// again. So an execution whose step crashes the process on every attempt (a
    /// *poison* execution) runs at most `max_recoveries + 1` times, not on every
    /// restart. The count is kept in the store; a redrive resets it. `0` parks an
    /// execution at its first recovery. Default 10.
    #[builder(default = 10)]
    pub max_recoveries: u32,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::builder().build()
    }
}

/// How a finished execution ended: its encoded output, or why there is none.
type Outcome = Result<Arc<Vec<u8>>, RunError>;

/// A run's result as its callers share it: the encoded output and the codec that reads
/// it, so that joining callers decode without another trip to the store.
#[derive(Clone)]
struct Encoded {
    bytes: Arc<Vec<u8>>,
    codec: Arc<dyn Codec>,
}

impl Encoded {
    fn decode<O: Payload>(&self, id: &str) -> Result<O, RunError> {
        decode_output(&*self.codec, id, &self.bytes)
    }
}

/// A run in progress that other callers of the same execution id can join.
type RunningExecution = (
    WeakShared<BoxFuture<'static, Result<Encoded, RunError>>>,
    AbortHandle,
);

struct Inner {
    host: Arc<dyn Host>,
    store: Option<Arc<dyn Store>>,
    config: RuntimeConfig,
    /// `host:pid`, the first part of every lease owner this runtime uses.
    process: String,
    /// Executions this runtime is driving: a second start of the same id joins the run.
    /// Weak, so that a run whose every caller went away is dropped (and its lease
    /// released) rather than kept alive by this map.
    running: Mutex<HashMap<String, RunningExecution>>,
}

/// Runs workflows: in memory with [`run`](Runtime::run), or durably over a store with
/// [`start`](Runtime::start), [`resume`](Runtime::resume) and
/// [`redrive`](Runtime::redrive).
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// async fn add_one(x: u32) -> u32 { x + 1 }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::new();
/// let wf = Workflow::new("add", 1, add_one.then(add_one));
/// assert_eq!(runtime.run(&wf, 1).await.unwrap(), 3);
/// # }
/// ```
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("host", &self.inner.host)
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .field("process", &self.inner.process)
            .finish_non_exhaustive()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

/// Builds a [`Runtime`]; returned by [`Runtime::builder`].
#[derive(Debug, Default)]
#[must_use = "call `build` to get the runtime"]
pub struct RuntimeBuilder {
    host: Option<Arc<dyn Host>>,
    store: Option<Arc<dyn Store>>,
    config: RuntimeConfig,
}

impl RuntimeBuilder {
    /// Keeps executions in `store`, which makes them durable.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Keeps executions in a shared `store`.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Takes timers, the CPU pool and the clock from `host` (default: [`TokioHost`]).
    pub fn host(mut self, host: Arc<dyn Host>) -> Self {
        self.host = Some(host);
        self
    }

    /// Uses `config`.
    pub fn config(mut self, config: RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                host: self.host.unwrap_or_else(|| Arc::new(TokioHost::new())),
                store: self.store,
                config: self.config,
                process: process_id(),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }
}

impl Runtime {
    /// A runtime without a store, on the current tokio runtime and rayon's global pool.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A runtime whose timers, CPU pool and clock come from `host`.
    pub fn with_host(host: Arc<dyn Host>) -> Self {
        Self::builder().host(host).build()
    }

    /// Configures a runtime.
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Runs `workflow` on `input` to completion in memory (nothing is checkpointed, even
    /// with a store) and returns its output.
    ///
    /// # Errors
    ///
    /// The error of the step that failed the workflow, with its address.
    pub async fn run<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        input: I,
    ) -> Result<O, Error> {
        let cx = Context::new(
            Arc::clone(&self.inner.host),
            new_execution_id(workflow.name()),
        );
        workflow.root().run(&cx, input).await
    }

    /// Starts the execution `id` of `workflow` on `input`, durably, and returns its
    /// output.
    ///
    /// Idempotent, like Step Functions execution names: if `id` exists with the same
    /// input, this returns its output once it has one — resuming it if it was
    /// interrupted, joining the run if this runtime is running it. Generate ids with
    /// [`new_execution_id`].
    ///
    /// # Errors
    ///
    /// [`RunError::Failed`] when the workflow fails; [`RunError::InputMismatch`] when `id`
    /// exists with another input; [`RunError::PayloadTooLarge`] for an input over the
    /// limit (nothing is written); store, lease and replay errors.
    pub async fn start<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: impl Into<String>,
        input: I,
    ) -> Result<O, RunError> {
        let id = id.into();
        let store = self.store()?;
        let codec = codec_of(workflow);
        let encoded = encode(&*codec, &input, &format!("the input of execution `{id}`")).map_err(
            |error| RunError::Codec {
                id: id.clone(),
                error,
            },
        )?;
        self.check_size(&id, "the input", encoded.len())?;
        let new = NewExecution {
            id: id.clone(),
            workflow: workflow.name().to_owned(),
            version: workflow.version(),
            fingerprint: workflow.fingerprint().to_owned(),
            codec: codec.name().to_owned(),
            input: encoded,
            graph: workflow.graph_json().to_owned(),
            created_ms: millis(SystemTime::now()),
        };

        let (record, created) = store.create(new).await?;
        if !created {
            check_workflow(workflow, &record)?;
            if record.codec != codec.name() || !same_input(&*codec, &record.input, &input) {
                return Err(RunError::InputMismatch { id });
            }
            match record.status {
                ExecutionStatus::Running => {}
                _ => {
                    let codec = codec_for(workflow, &record)?;
                    return outcome_of(&record)
                        .and_then(|bytes| decode_output(&*codec, &record.id, &bytes));
                }
            }
        }
        self.drive(workflow, id, Some(record)).await
    }

    /// Resumes the interrupted execution `id` of `workflow`: checkpointed steps are
    /// replayed, the rest runs. Returns its output.
    ///
    /// # Errors
    ///
    /// [`RunError::Finished`] when it has already finished; the errors of
    /// [`start`](Self::start) otherwise.
    pub async fn resume<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: &str,
    ) -> Result<O, RunError> {
        let record = self.store()?.execution(id).await?;
        check_workflow(workflow, &record)?;
        if record.status.is_finished() {
            return Err(RunError::Finished {
                id: id.to_owned(),
                status: record.status,
            });
        }
        self.drive(workflow, id.to_owned(), Some(record)).await
    }

    /// Resumes every interrupted execution of `workflow` in the store, at most
    /// [`RuntimeConfig::max_concurrent_resumes`] at once: what a program calls at
    /// start-up. Returns each execution's id and result, in the order they finish.
    ///
    /// # Errors
    ///
    /// A store error when the executions cannot be listed.
    pub async fn resume_all<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
    ) -> Result<Vec<(String, Result<O, RunError>)>, RunError> {
        let filter = ListFilter {
            status: Some(ExecutionStatus::Running),
            workflow: Some(workflow.name().to_owned()),
            limit: None,
        };
        let records = self.store()?.list(&filter).await?;
        let limit = self.inner.config.max_concurrent_resumes.max(1);
        let runs = futures::stream::iter(records).map(|record| async move {
            let result = self.resume(workflow, &record.id).await;
            (record.id, result)
        });
        Ok(runs.buffer_unordered(limit).collect().await)
    }

    /// Redrives the failed execution `id`: the failed step runs again with a fresh retry
    /// budget; every other checkpoint is kept. Returns its output.
    ///
    /// # Errors
    ///
    /// [`RunError::NotRedrivable`] unless it failed; the errors of [`start`](Self::start).
    pub async fn redrive<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: &str,
    ) -> Result<O, RunError> {
        let store = self.store()?;
        let record = store.execution(id).await?;
        check_workflow(workflow, &record)?;
        if record.status != ExecutionStatus::Failed {
            return Err(RunError::NotRedrivable {
                id: id.to_owned(),
                status: record.status,
            });
        }
        let failed_at = record.error.as_ref().and_then(Error::address).unwrap_or("");
        let failed_at = waypost_core::replay::redrive_scope(failed_at)
            .as_bytes()
            .to_vec();
        let writes = vec![
            Write::Checkpoint(Checkpoint {
                seq: 0,
                key: waypost_core::replay::redrive_key(record.redrives + 1),
                kind: CheckpointKind::Redrive,
                checksum: waypost_core::replay::checksum(&failed_at),
                payload: failed_at,
            }),
            Write::Status {
                status: ExecutionStatus::Running,
                output: None,
                error: None,
                redrive: true,
                at_ms: millis(SystemTime::now()),
            },
        ];
        crash::reach("redrive-decided");
        store.commit(id, writes).await?;
        crash::reach("redrive-written");
        self.drive(workflow, id.to_owned(), None).await
    }

    /// Where the execution `id` stands.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] (as [`RunError::Store`]) for an unknown id.
    pub async fn status(&self, id: &str) -> Result<ExecutionStatus, RunError> {
        Ok(self.store()?.execution(id).await?.status)
    }

    /// The stored record of the execution `id`: workflow, status, timings, error.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] (as [`RunError::Store`]) for an unknown id.
    pub async fn execution(&self, id: &str) -> Result<ExecutionRecord, RunError> {
        Ok(self.store()?.execution(id).await?)
    }

    /// The history of the execution `id`: its events in order.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] (as [`RunError::Store`]) for an unknown id.
    pub async fn history(&self, id: &str) -> Result<Vec<Event>, RunError> {
        Ok(self.store()?.history(id).await?)
    }

    /// Executions matching `filter`, newest first.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn list(&self, filter: &ListFilter) -> Result<Vec<ExecutionRecord>, RunError> {
        Ok(self.store()?.list(filter).await?)
    }

    /// The output of the execution `id`, if it succeeded (`None` while it runs).
    ///
    /// # Errors
    ///
    /// [`RunError::Failed`] or [`RunError::Cancelled`] when it ended so; an unknown id;
    /// an output that does not decode as `O`.
    pub async fn output<O: Payload>(&self, id: &str) -> Result<Option<O>, RunError> {
        let record = self.store()?.execution(id).await?;
        match record.status {
            ExecutionStatus::Running => Ok(None),
            _ => outcome_of(&record)
                .and_then(|bytes| decode_output(&*codec_by_name(&record)?, &record.id, &bytes))
                .map(Some),
        }
    }

    /// Cancels the execution `id`: it is marked cancelled, and if this runtime is
    /// running it, it stops at once (the step in flight is dropped). An execution run by
    /// another process stops when that process next checks, or on its next resume.
    ///
    /// # Errors
    ///
    /// An unknown id; [`RunError::Finished`] when it has already finished.
    pub async fn cancel(&self, id: &str) -> Result<(), RunError> {
        let store = self.store()?;
        let record = store.execution(id).await?;
        if record.status.is_finished() {
            return Err(RunError::Finished {
                id: id.to_owned(),
                status: record.status,
            });
        }
        let write = Write::Status {
            status: ExecutionStatus::Cancelled,
            output: None,
            error: Some(Error::with_kind(
                waypost_core::ErrorKind::Cancelled,
                waypost_core::error::names::CANCELLED,
                format!("execution `{id}` was cancelled"),
            )),
            redrive: false,
            at_ms: millis(SystemTime::now()),
        };
        let event = execution_event(
            EventKind::ExecutionCancelled,
            millis(SystemTime::now()),
            None,
        );
        match store.commit(id, vec![Write::Event(event), write]).await {
            Ok(()) => {}
            // It finished between the read above and this write.
            Err(StoreError::NotRunning { status, .. }) => {
                return Err(RunError::Finished {
                    id: id.to_owned(),
                    status,
                });
            }
            Err(error) => return Err(error.into()),
        }
        let running = self
            .inner
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, abort)) = running.get(id) {
            abort.abort();
        }
        Ok(())
    }

    fn store(&self) -> Result<&Arc<dyn Store>, RunError> {
        self.inner.store.as_ref().ok_or(RunError::NoStore)
    }

    fn check_size(&self, id: &str, what: &str, size: usize) -> Result<(), RunError> {
        let limit = self.inner.config.max_payload_bytes;
        if size > limit {
            return Err(RunError::PayloadTooLarge {
                id: id.to_owned(),
                what: what.to_owned(),
                size,
                limit,
            });
        }
        Ok(())
    }

    /// Runs the execution `id` to its end in this runtime, or joins the run already
    /// going on here.
    async fn drive<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: String,
        known: Option<ExecutionRecord>,
    ) -> Result<O, RunError> {
        let shared = {
            let mut running = self
                .inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match running.get(&id).and_then(|(weak, _)| weak.upgrade()) {
                Some(shared) => shared,
                None => {
                    let (abort, registration) = AbortHandle::new_pair();
                    let run = execute(
                        self.clone(),
                        workflow.clone(),
                        id.clone(),
                        known,
                        abort.clone(),
                    );
                    let cancel_id = id.clone();
                    let runtime = self.clone();
                    let shared = async move {
                        let outcome = Abortable::new(run, registration).await.unwrap_or(Err(
                            RunError::Cancelled {
                                id: cancel_id.clone(),
                            },
                        ));
                        let mut running = runtime
                            .inner
                            .running
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        running.remove(&cancel_id);
                        outcome
                    }
                    .boxed()
                    .shared();
                    let weak = shared.downgrade().expect("a shared future not yet polled");
                    running.insert(id.clone(), (weak, abort));
                    shared
                }
            }
        };
        shared.await?.decode(&id)
    }
}

/// Runs one execution under its lease; returns the encoded output.
async fn execute<I: Payload, O: Payload>(
    runtime: Runtime,
    workflow: Workflow<I, O>,
    id: String,
    known: Option<ExecutionRecord>,
    abort: AbortHandle,
) -> Result<Encoded, RunError> {
    let inner = &runtime.inner;
    let store = runtime.store()?;
    // The record the caller just read or wrote, if any; it is read again below, under
    // the lease, before anything runs.
    let record = match known {
        Some(record) => record,
        None => store.execution(&id).await?,
    };
    check_workflow(&workflow, &record)?;
    fingerprint::check(
        &id,
        workflow.name(),
        (record.version, &record.fingerprint),
        (workflow.version(), workflow.fingerprint()),
        if inner.config.allow_changed_workflows {
            fingerprint::Changed::Allow
        } else {
            fingerprint::Changed::Refuse
        },
    )?;
    let codec = codec_for(&workflow, &record)?;
    let encoded = |bytes| Encoded {
        bytes,
        codec: Arc::clone(&codec),
    };
    if record.status.is_finished() {
        return outcome_of(&record).map(encoded);
    }

    let owner = format!("{}:{:08x}", inner.process, fastrand::u32(..));
    let _live = LiveRun::enter(&id);
    match store
        .acquire_lease(&id, &owner, inner.config.lease_ttl)
        .await
    {
        Ok(()) => {}
        // The holder is a run of this process that is no longer alive (its caller
        // dropped it; its release is still on its way): take the lease over now.
        Err(StoreError::Leased { owner: holder, .. })
            if holder.starts_with(&format!("{}:", inner.process)) && LiveRun::count(&id) == 1 =>
        {
            store.release_lease(&id, &holder).await?;
            store
                .acquire_lease(&id, &owner, inner.config.lease_ttl)
                .await?;
        }
        Err(error) => return Err(error.into()),
    }
    // The status read above may be stale: another owner may have finished or cancelled
    // the execution before this one took the lease. Read it again, with what the run
    // replays, in one snapshot.
    let Snapshot {
        record,
        checkpoints,
        history,
    } = store.snapshot(&id).await?;
    if record.status.is_finished() {
        store.release_lease(&id, &owner).await?;
        return outcome_of(&record).map(encoded);
    }
    if record.recoveries > inner.config.max_recoveries {
        let outcome = park(&runtime, &record).await;
        store.release_lease(&id, &owner).await?;
        return outcome.map(encoded);
    }
    let lease = LeaseGuard::new(
        Arc::clone(store),
        &id,
        &owner,
        inner.config.lease_ttl,
        abort,
    );

    let journal = Journal::load(id.clone(), checkpoints)?;
    let input: I = decode(
        &*codec,
        &record.input,
        &format!("the input of execution `{id}`"),
    )
    .map_err(|error| RunError::Codec {
        id: id.clone(),
        error,
    })?;
    let (kind, number) = execution_event_kind(&record, &history);
    // Events already stored are not stored again when a replay reports them — except,
    // from before the last redrive, those where the redrive runs again: a redriven step
    // runs anew and its events belong in the history again.
    let generation_start = match kind {
        EventKind::ExecutionRedriven => history.len(),
        _ => history
            .iter()
            .rposition(|e| e.kind == EventKind::ExecutionRedriven)
            .unwrap_or(0),
    };
    let (earlier, this_run) = history.split_at(generation_start);
    let rerun = journal.redriven().map(str::to_owned);
    let stored = earlier
        .iter()
        .filter(|e| {
            rerun
                .as_deref()
                .is_none_or(|scope| !within(&e.address, scope))
        })
        .chain(this_run);
    let recorder = Arc::new(StoreRecorder::new(
        &id,
        Arc::clone(store),
        Arc::clone(&codec),
        journal,
        inner.config.max_payload_bytes,
        inner.config.history,
        stored,
    ));
    let cx = Context::with_recorder(
        Arc::clone(&inner.host),
        id.clone(),
        Some(Arc::clone(&recorder) as _),
    );
    let detail = format!("workflow `{}` v{}", workflow.name(), workflow.version());
    cx.with_attempt(number).emit(kind, "", None, Some(detail));
    let span = tracing::info_span!("execution", execution_id = %id, workflow = %workflow.name());
    let result = workflow.root().run(&cx, input).instrument(span).await;

    let outcome = match finish(&runtime, &id, &*codec, &recorder, result).await {
        // Another process cancelled (or finished) the execution while this run went on:
        // the store refused this run's writes, and the stored outcome stands.
        Err(RunError::Stopped { error, .. } | RunError::Failed { error, .. })
            if error.name() == "Store.NotRunning" =>
        {
            outcome_of(&store.execution(&id).await?)
        }
        Err(RunError::Store(StoreError::NotRunning { .. })) => {
            outcome_of(&store.execution(&id).await?)
        }
        other => other,
    };
    lease.release().await?;
    outcome.map(encoded)
}

/// How this run of the execution begins: started, redriven (numbered by redrive), or
/// resumed (numbered, so that each resume is an event of its own).
fn execution_event_kind(record: &ExecutionRecord, history: &[Event]) -> (EventKind, u32) {
    let count = |kind| history.iter().filter(|e| e.kind == kind).count();
    if count(EventKind::ExecutionStarted) == 0 {
        (EventKind::ExecutionStarted, 1)
    } else if record.redrives as usize > count(EventKind::ExecutionRedriven) {
        (EventKind::ExecutionRedriven, record.redrives)
    } else {
        let resumes = count(EventKind::ExecutionResumed);
        (
            EventKind::ExecutionResumed,
            u32::try_from(resumes).unwrap_or(u32::MAX).saturating_add(1),
        )
    }
}

/// Writes how the execution ended, with the events not yet stored, and returns its
/// encoded output.
async fn finish<O: Payload>(
    runtime: &Runtime,
    id: &str,
    codec: &dyn Codec,
    recorder: &StoreRecorder,
    result: Result<O, Error>,
) -> Outcome {
    let store = runtime.store()?;
    let at_ms = millis(SystemTime::now());
    let output = match &result {
        Ok(output) => {
            let bytes = encode(codec, output, &format!("the output of execution `{id}`"));
            match bytes {
                Ok(bytes) if bytes.len() <= runtime.inner.config.max_payload_bytes => Ok(bytes),
                Ok(bytes) => Err(Error::with_kind(
                    waypost_core::ErrorKind::Runtime,
                    waypost_core::error::names::DATA_LIMIT_EXCEEDED,
                    format!(
                        "the output of execution `{id}` is {} bytes, over the limit of {} bytes",
                        bytes.len(),
                        runtime.inner.config.max_payload_bytes
                    ),
                )),
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error.clone()),
    };
    let ended = |kind: EventKind, detail: Option<String>| {
        let mut writes = recorder.take_events();
        writes.push(Write::Event(execution_event(kind, at_ms, detail)));
        writes
    };
    match output {
        Ok(bytes) => {
            let mut writes = ended(EventKind::ExecutionSucceeded, None);
            writes.push(Write::Status {
                status: ExecutionStatus::Succeeded,
                output: Some(bytes.clone()),
                error: None,
                redrive: false,
                at_ms,
            });
            crash::reach("finish-start");
            store.commit(id, writes).await?;
            crash::reach("finish-end");
            Ok(Arc::new(bytes))
        }
        // A runtime failure (the store, a checkpoint that does not decode) is not the
        // workflow's: the execution stays running, to resume once the cause is fixed.
        // An oversized payload is the workflow's own doing: it fails it.
        Err(error)
            if error.kind() == waypost_core::ErrorKind::Runtime
                && error.name() != waypost_core::error::names::DATA_LIMIT_EXCEEDED =>
        {
            Err(RunError::Stopped {
                id: id.to_owned(),
                error,
            })
        }
        Err(error) => {
            let mut writes = ended(EventKind::ExecutionFailed, Some(error.to_string()));
            writes.push(Write::Status {
                status: ExecutionStatus::Failed,
                output: None,
                error: Some(error.clone()),
                redrive: false,
                at_ms,
            });
            crash::reach("finish-start");
            store.commit(id, writes).await?;
            crash::reach("finish-end");
            Err(RunError::Failed {
                id: id.to_owned(),
                error,
            })
        }
    }
}

/// Parks an execution that was recovered more often than
/// [`RuntimeConfig::max_recoveries`] allows: it fails with
/// `States.RecoveryLimitExceeded`, without running a step, and can be redriven.
async fn park(runtime: &Runtime, record: &ExecutionRecord) -> Outcome {
    let store = runtime.store()?;
    let id = &record.id;
    let limit = runtime.inner.config.max_recoveries;
    let error = Error::with_kind(
        waypost_core::ErrorKind::Runtime,
        waypost_core::error::names::RECOVERY_LIMIT_EXCEEDED,
        format!(
            "execution `{id}` was recovered {} times after its process stopped without \
             finishing it (crashed or killed), over the limit of {limit} set by \
             `RuntimeConfig::max_recoveries`; it is parked as failed so that it stops \
             crashing the process: fix the cause, then redrive it, which resets the count",
            record.recoveries,
        ),
    )
    .into_terminal();
    let at_ms = millis(SystemTime::now());
    let writes = vec![
        Write::Event(execution_event(
            EventKind::ExecutionFailed,
            at_ms,
            Some(error.to_string()),
        )),
        Write::Status {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(error.clone()),
            redrive: false,
            at_ms,
        },
    ];
    tracing::error!(execution_id = %id, recoveries = record.recoveries, limit, "execution parked as failed");
    match store.commit(id, writes).await {
        Ok(()) => Err(RunError::Failed {
            id: id.clone(),
            error,
        }),
        // Cancelled or finished by another process meanwhile: that outcome stands.
        Err(StoreError::NotRunning { .. }) => outcome_of(&store.execution(id).await?),
        Err(error) => Err(error.into()),
    }
}

/// An event about the execution as a whole.
fn execution_event(kind: EventKind, at_ms: u64, detail: Option<String>) -> Event {
    Event {
        seq: 0,
        at_ms,
        kind,
        address: String::new(),
        attempt: 1,
        duration_ms: None,
        detail,
    }
}

/// Runs of each execution alive in this process, across runtimes: a lease held by this
/// process with no live run behind it belonged to a run whose caller dropped it.
static LIVE_RUNS: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);

/// One live run of an execution, counted in [`LIVE_RUNS`] while it exists.
struct LiveRun(String);

impl LiveRun {
    fn enter(id: &str) -> Self {
        let mut live = LIVE_RUNS.lock().unwrap_or_else(PoisonError::into_inner);
        *live.entry(id.to_owned()).or_default() += 1;
        LiveRun(id.to_owned())
    }

    fn count(id: &str) -> usize {
        let live = LIVE_RUNS.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(id).copied().unwrap_or(0)
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        let mut live = LIVE_RUNS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = live.get_mut(&self.0) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.0);
            }
        }
    }
}

/// Holds an execution's lease: renews it every third of its ttl, and gives it up when
/// the run ends — also when the run is dropped half-way (its caller went away).
struct LeaseGuard {
    store: Arc<dyn Store>,
    id: String,
    owner: String,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

impl LeaseGuard {
    /// Holds the lease `owner` just took; `abort` stops the run if the lease is lost.
    fn new(
        store: Arc<dyn Store>,
        id: &str,
        owner: &str,
        ttl: Duration,
        abort: AbortHandle,
    ) -> Self {
        let renewal = tokio::spawn({
            let (store, id, owner) = (Arc::clone(&store), id.to_owned(), owner.to_owned());
            async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    // Another owner took the execution over (this run stalled past the
                    // ttl): stop, rather than run it twice. Any other failure is retried
                    // at the next tick; the lease lapses only if renewals keep failing
                    // for a whole ttl.
                    if let Err(StoreError::Leased { owner: other, .. }) =
                        store.acquire_lease(&id, &owner, ttl).await
                    {
                        tracing::error!(execution_id = %id, %owner, other = %other, "lease lost; stopping this run");
                        abort.abort();
                        return;
                    }
                }
            }
        });
        LeaseGuard {
            store,
            id: id.to_owned(),
            owner: owner.to_owned(),
            renewal,
            released: false,
        }
    }

    async fn release(mut self) -> Result<(), StoreError> {
        self.renewal.abort();
        self.released = true;
        self.store.release_lease(&self.id, &self.owner).await
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (store, id, owner) = (Arc::clone(&self.store), self.id.clone(), self.owner.clone());
            handle.spawn(async move {
                let _ = store.release_lease(&id, &owner).await;
            });
        }
    }
}

/// The encoded output of a finished execution, or how it ended.
fn outcome_of(record: &ExecutionRecord) -> Outcome {
    let id = record.id.clone();
    match record.status {
        ExecutionStatus::Succeeded => record.output.clone().map(Arc::new).ok_or_else(|| {
            RunError::Store(StoreError::Corrupt {
                detail: format!("execution `{id}` succeeded but has no output"),
            })
        }),
        ExecutionStatus::Cancelled => Err(RunError::Cancelled { id }),
        ExecutionStatus::Failed => Err(RunError::Failed {
            error: record
                .error
                .clone()
                .unwrap_or_else(|| Error::runtime("failed without a recorded error")),
            id,
        }),
        ExecutionStatus::Running => Err(RunError::Store(StoreError::Corrupt {
            detail: format!("execution `{id}` has no outcome yet"),
        })),
        _ => Err(RunError::Store(StoreError::Corrupt {
            detail: format!("execution `{id}` has an unknown status"),
        })),
    }
}

fn decode_output<O: Payload>(codec: &dyn Codec, id: &str, bytes: &[u8]) -> Result<O, RunError> {
    decode(codec, bytes, &format!("the output of execution `{id}`")).map_err(|error| {
        RunError::Codec {
            id: id.to_owned(),
            error,
        }
    })
}

/// Whether a stored input is the value `given`: the same bytes, or — for types whose
/// encoding is not canonical, such as hash maps — the same value once decoded.
fn same_input<I: Payload>(codec: &dyn Codec, stored: &[u8], given: &I) -> bool {
    match encode(codec, given, "an input") {
        Ok(bytes) if bytes == stored => true,
        _ => match decode::<I>(codec, stored, "the stored input") {
            Ok(stored) => {
                let (a, b) = (serde_json::to_value(&stored), serde_json::to_value(given));
                matches!((a, b), (Ok(a), Ok(b)) if a == b)
            }
            Err(_) => false,
        },
    }
}

fn check_workflow<I, O>(
    workflow: &Workflow<I, O>,
    record: &ExecutionRecord,
) -> Result<(), RunError> {
    if record.workflow != workflow.name() {
        return Err(RunError::WorkflowMismatch {
            id: record.id.clone(),
            stored: record.workflow.clone(),
            given: workflow.name().to_owned(),
        });
    }
    Ok(())
}

fn codec_of<I, O>(workflow: &Workflow<I, O>) -> Arc<dyn Codec> {
    workflow
        .codec()
        .cloned()
        .unwrap_or_else(|| Arc::new(BincodeCodec))
}

/// The codec of a stored execution: the workflow's own when it has the stored name
/// (so custom codecs work), else one of the codecs waypost ships.
fn codec_for<I, O>(
    workflow: &Workflow<I, O>,
    record: &ExecutionRecord,
) -> Result<Arc<dyn Codec>, RunError> {
    match workflow.codec() {
        Some(codec) if codec.name() == record.codec => Ok(Arc::clone(codec)),
        _ => codec_by_name(record),
    }
}

fn codec_by_name(record: &ExecutionRecord) -> Result<Arc<dyn Codec>, RunError> {
    codec_named(&record.codec).ok_or_else(|| RunError::UnknownCodec {
        id: record.id.clone(),
        codec: record.codec.clone(),
    })
}

/// A new execution id: the workflow name, the time, and randomness.
pub fn new_execution_id(workflow: &str) -> String {
    format!(
        "{workflow}-{}-{:08x}",
        millis(SystemTime::now()),
        fastrand::u32(..)
    )
}

/// Who this process is, for leases: `machine:pid` (the machine names the host and the
/// pid namespace, so that stores can tell a dead owner). Each run adds a nonce of its
/// own, so that one run's late release can never drop another run's lease.
fn process_id() -> String {
    let machine = store::machine().unwrap_or("localhost");
    format!("{machine}:{}", std::process::id())
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
