//! [`Runtime`]: the public face of the executor — run in memory, or start, resume,
//! redrive, inspect and cancel durable executions over a store.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use futures::StreamExt as _;
use futures::future::{AbortHandle, BoxFuture, WeakShared};
use waypost_core::codec::encode_checked;
use waypost_core::store::{
    Checkpoint, CheckpointKind, ExecutionRecord, Fence, ListFilter, NewExecution, Write,
};
use waypost_core::{
    Context, Error, Event, EventDetails, EventKind, ExecutionStatus, Host, Payload, Step, Store,
    StoreError, Workflow,
};

use crate::builder::RuntimeBuilder;
use crate::codec::{codec_by_name, codec_for, codec_of};
use crate::config::RuntimeConfig;
use crate::crash;
use crate::error::RunError;
use crate::executor::{Start, execution_event};
use crate::handle::ExecutionHandle;
use crate::hooks::{ExecutionInfo, HookObserver, Hooks};
use crate::ids::{millis, new_execution_id};
use crate::outcome::{Encoded, check_workflow, decode_output, outcome_of, same_encoded_input};

/// A run in progress that other callers of the same execution id can join.
pub(crate) type RunningExecution = (
    WeakShared<BoxFuture<'static, Result<Encoded, RunError>>>,
    AbortHandle,
);

pub(crate) struct Inner {
    pub(crate) host: Arc<dyn Host>,
    pub(crate) store: Option<Arc<dyn Store>>,
    pub(crate) config: RuntimeConfig,
    /// `machine:pid+start`, the first part of every lease owner this runtime uses.
    pub(crate) process: String,
    /// Executions this runtime is driving: a second start of the same id joins the run.
    /// Weak, so that a run whose every caller went away is dropped (and its lease
    /// released) rather than kept alive by this map.
    pub(crate) running: Mutex<HashMap<String, RunningExecution>>,
    /// The lifecycle hooks' queue, when hooks are registered.
    pub(crate) hooks: Option<Arc<Hooks>>,
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
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("host", &self.inner.host)
            .field("store", &self.inner.store)
            .field("config", &self.inner.config)
            .field("process", &self.inner.process)
            .field("hooks", &self.inner.hooks)
            .finish_non_exhaustive()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
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
        let id = new_execution_id(workflow.name());
        let Some(hooks) = &self.inner.hooks else {
            let cx = Context::new(Arc::clone(&self.inner.host), id);
            return workflow.root().run(&cx, input).await;
        };
        // Without a store nothing is replayed: every event goes to the hooks.
        let execution = Arc::new(ExecutionInfo {
            id: Arc::from(id),
            workflow: workflow.name().to_owned(),
            version: workflow.version(),
        });
        let observer = Arc::new(HookObserver {
            hooks: Arc::clone(hooks),
            execution: Arc::clone(&execution),
        });
        let cx = Context::with_observer(
            Arc::clone(&self.inner.host),
            Arc::clone(&execution.id),
            observer,
        );
        let details = EventDetails {
            workflow: Some(workflow.name().to_owned()),
            version: Some(workflow.version()),
            ..EventDetails::default()
        };
        cx.emit(EventKind::ExecutionStarted, "", None, details);
        let result = workflow.root().run(&cx, input).await;
        let (kind, details) = match &result {
            Ok(_) => (EventKind::ExecutionSucceeded, EventDetails::default()),
            Err(error) => (EventKind::ExecutionFailed, EventDetails::error(error)),
        };
        let at_ms = millis(self.inner.host.now());
        hooks.send(&execution, execution_event(kind, at_ms, details), false);
        result
    }

    /// Waits until the [lifecycle hooks](crate::hooks) have been called with every
    /// event of this runtime's executions so far (at once when there are none): hooks
    /// run on a thread of their own, after the events.
    pub async fn flush_hooks(&self) {
        if let Some(hooks) = &self.inner.hooks {
            hooks.flush().await;
        }
    }

    /// How many events the [lifecycle hooks](crate::hooks) missed because they fell
    /// [`QUEUE_CAPACITY`](crate::hooks::QUEUE_CAPACITY) events behind.
    pub fn hook_events_dropped(&self) -> u64 {
        self.inner.hooks.as_ref().map_or(0, |hooks| hooks.dropped())
    }

    /// Hands an event of the execution of `record` that no run reports (its cancel, its
    /// parking) to the hooks, if any.
    pub(crate) fn hook_record_event(&self, record: &ExecutionRecord, event: Event) {
        if self.inner.hooks.is_some() {
            let execution = Arc::new(ExecutionInfo {
                id: Arc::from(record.id.as_str()),
                workflow: record.workflow.clone(),
                version: record.version,
            });
            self.hook_event(&execution, event, false);
        }
    }

    /// Hands an event of the durable execution `execution` to the hooks, if any.
    pub(crate) fn hook_event(&self, execution: &Arc<ExecutionInfo>, event: Event, replaying: bool) {
        if let Some(hooks) = &self.inner.hooks {
            hooks.send(execution, event, replaying);
        }
    }

    /// Starts the execution `id` of `workflow` on `input`, durably, and returns its
    /// output.
    ///
    /// Idempotent, like Step Functions execution names: if `id` exists with the same
    /// input, this returns its output once it has one — resuming it if it was
    /// interrupted, joining the run if this runtime is running it. Generate ids with
    /// [`new_execution_id`].
    ///
    /// # Restarting after a crash
    ///
    /// A process that restarts right after it was killed finds the execution's lease
    /// still held by its dead predecessor. `start` takes it over as soon as the holder
    /// is known to be dead — on this machine, a process that is gone or a zombie (killed
    /// and not yet reaped) — and otherwise waits for the lease to run out, at most
    /// [`RuntimeConfig::lease_wait`] (by default, as long as the lease has left). So a
    /// restart goes on instead of failing; only a holder that is alive and renews its
    /// lease makes it fail, with [`StoreError::Leased`] naming the holder and how long
    /// its lease runs.
    ///
    /// # Errors
    ///
    /// [`RunError::Failed`] when the workflow fails; [`RunError::InputMismatch`] when `id`
    /// exists with another input; [`RunError::PayloadTooLarge`] for an input over the
    /// limit (nothing is written); [`StoreError::Leased`] (as [`RunError::Store`]) when
    /// another live owner runs it; store and replay errors.
    pub async fn start<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: impl Into<String>,
        input: I,
    ) -> Result<O, RunError> {
        let id = id.into();
        let record = self.record_submission(workflow, &id, &input).await?;
        if record.status.is_finished() {
            let codec = codec_for(workflow, &record)?;
            return outcome_of(&record).and_then(|bytes| decode_output(&*codec, &id, &bytes));
        }
        self.drive(workflow, id, Some(record), Start::Acquire).await
    }

    /// Submits the execution `id` of `workflow` on `input` to be run in the background,
    /// by a [`Worker`](crate::Worker) of this process or of any other process sharing
    /// the store, and returns its handle as soon as it is durably recorded.
    ///
    /// Idempotent like [`start`](Self::start): submitting an existing id with the same
    /// workflow and input returns a handle on it; another input is an error.
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::{MemoryStore, Worker, WorkerOptions};
    ///
    /// #[step]
    /// async fn double(x: u32) -> u32 { 2 * x }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::builder().store(MemoryStore::new()).build();
    /// let wf = Workflow::new("double", 1, double);
    /// let handle = runtime.submit(&wf, "d-1", 21).await.unwrap();
    ///
    /// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    /// let worker = Worker::new(runtime.clone(), WorkerOptions::default()).register(&wf);
    /// let worker = tokio::spawn(worker.run(async { stopped.await.ok(); }));
    /// assert_eq!(handle.output().await.unwrap(), 42);
    /// stop.send(()).unwrap();
    /// worker.await.unwrap().unwrap();
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`start`](Self::start) about its arguments: another input or
    /// workflow under this id, a payload over the limit, store errors.
    pub async fn submit<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: impl Into<String>,
        input: I,
    ) -> Result<ExecutionHandle<O>, RunError> {
        let id = id.into();
        self.record_submission(workflow, &id, &input).await?;
        Ok(ExecutionHandle::new(self.clone(), id))
    }

    /// A handle on the execution `id`, whoever submitted it and whoever runs it.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] (as [`RunError::Store`]) for an unknown id.
    pub async fn handle<O: Payload>(&self, id: &str) -> Result<ExecutionHandle<O>, RunError> {
        self.store()?.execution(id).await?;
        Ok(ExecutionHandle::new(self.clone(), id.to_owned()))
    }

    /// Records the execution `id` in the store (or finds it, checking that it is the
    /// same workflow and input) and returns its record.
    ///
    /// The input is encoded before the future is made: the future holds no reference
    /// to it, so it is `Send` even when the input is not `Sync`.
    fn record_submission<'a, I: Payload, O: Payload>(
        &'a self,
        workflow: &'a Workflow<I, O>,
        id: &'a str,
        input: &I,
    ) -> impl std::future::Future<Output = Result<ExecutionRecord, RunError>> + Send + 'a {
        let codec = codec_of(workflow);
        let prepared = encode_checked(&*codec, input, &format!("the input of execution `{id}`"))
            .map_err(|error| RunError::Codec {
                id: id.to_owned(),
                error,
            })
            .map(|encoded| (encoded, serde_json::to_value(input).ok()));
        async move {
            let store = self.store()?;
            let (encoded, as_json) = prepared?;
            self.check_size(id, "the input", encoded.len())?;
            let new = NewExecution {
                id: id.to_owned(),
                workflow: workflow.name().to_owned(),
                version: workflow.version(),
                fingerprint: workflow.fingerprint().to_owned(),
                codec: codec.name().to_owned(),
                input: encoded.clone(),
                graph: workflow.graph_json().to_owned(),
                created_ms: millis(SystemTime::now()),
            };
            let (record, created) = store.create(new).await?;
            if !created {
                check_workflow(workflow, &record, self.inner.config.allow_changed_workflows)?;
                if record.codec != codec.name()
                    || !same_encoded_input::<I>(&*codec, &record.input, &encoded, as_json)
                {
                    return Err(RunError::InputMismatch { id: id.to_owned() });
                }
            }
            Ok(record)
        }
    }

    /// Resumes the interrupted execution `id` of `workflow`: checkpointed steps are
    /// replayed, the rest runs. Returns its output.
    ///
    /// Like [`start`](Self::start), it waits for the lease of an owner that was killed a
    /// moment ago (see [restarting after a crash](Self::start)).
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
        check_workflow(workflow, &record, self.inner.config.allow_changed_workflows)?;
        if record.status.is_finished() {
            return Err(RunError::Finished {
                id: id.to_owned(),
                status: record.status,
                action: "resume",
            });
        }
        self.drive(workflow, id.to_owned(), Some(record), Start::Acquire)
            .await
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
            ..ListFilter::default()
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
        check_workflow(workflow, &record, self.inner.config.allow_changed_workflows)?;
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
        store.commit(id, Fence::Unleased, writes).await?;
        crash::reach("redrive-written");
        self.drive(workflow, id.to_owned(), None, Start::Acquire)
            .await
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

    /// Cancels the execution `id`, and its [child executions](mod@crate::child): it is
    /// marked cancelled, and if this runtime is running it, it stops at once (the step
    /// in flight is dropped). An execution run by
    /// another process stops when that process next checks, or on its next resume.
    ///
    /// # Errors
    ///
    /// An unknown id; [`RunError::Finished`] when it has already finished.
    pub async fn cancel(&self, id: &str) -> Result<(), RunError> {
        self.cancel_one(id).await?;
        // Its children end with it, and theirs.
        let mut children = crate::child::children(self, id).await?;
        while let Some(child) = children.pop() {
            match self.cancel_one(&child).await {
                Ok(()) | Err(RunError::Finished { .. }) => {}
                Err(RunError::Store(StoreError::NotFound { .. })) => continue,
                Err(error) => return Err(error),
            }
            children.extend(crate::child::children(self, &child).await?);
        }
        Ok(())
    }

    /// Cancels the execution `id` alone.
    async fn cancel_one(&self, id: &str) -> Result<(), RunError> {
        let store = self.store()?;
        let record = store.execution(id).await?;
        if record.status.is_finished() {
            return Err(RunError::Finished {
                id: id.to_owned(),
                status: record.status,
                action: "cancel",
            });
        }
        let error = Error::with_kind(
            waypost_core::ErrorKind::Cancelled,
            waypost_core::error::names::CANCELLED,
            format!("execution `{id}` was cancelled"),
        );
        let event = execution_event(
            EventKind::ExecutionCancelled,
            millis(SystemTime::now()),
            EventDetails::error(&error),
        );
        let hooked = event.clone();
        let write = Write::Status {
            status: ExecutionStatus::Cancelled,
            output: None,
            error: Some(error),
            redrive: false,
            at_ms: millis(SystemTime::now()),
        };
        match store
            .commit(
                id,
                Fence::Unleased,
                vec![Write::Event(Box::new(event)), write],
            )
            .await
        {
            Ok(()) => {}
            // It finished between the read above and this write.
            Err(StoreError::NotRunning { status, .. }) => {
                return Err(RunError::Finished {
                    id: id.to_owned(),
                    status,
                    action: "cancel",
                });
            }
            Err(error) => return Err(error.into()),
        }
        self.hook_record_event(&record, hooked);
        {
            let running = self
                .inner
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some((_, abort)) = running.get(id) {
                abort.abort();
            }
        }
        crate::child::wake_parent(self, id).await;
        Ok(())
    }

    /// The store this runtime keeps executions in, if it has one (to share it with a
    /// console or another tool).
    pub fn shared_store(&self) -> Option<Arc<dyn Store>> {
        self.inner.store.clone()
    }

    pub(crate) fn store(&self) -> Result<&Arc<dyn Store>, RunError> {
        self.inner.store.as_ref().ok_or(RunError::NoStore)
    }

    pub(crate) fn check_size(&self, id: &str, what: &str, size: usize) -> Result<(), RunError> {
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
}
