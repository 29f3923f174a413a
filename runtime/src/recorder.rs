//! [`StoreRecorder`]: replays an execution's journal and writes new checkpoints to its
//! store.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::config::RuntimeConfig;
use crate::hooks::ExecutionInfo;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use waypost_core::activity::Activity;
use waypost_core::error::{ErrorKind, names};
use waypost_core::replay::{Entry, Journal, Recorded, checksum};
use waypost_core::store::{Checkpoint, CheckpointKind, Fence, LeaseToken, Write};
use waypost_core::{Codec, Error, Event, EventKind, HistoryLevel, Recorder, Store};

/// The [`Recorder`] of one durable execution.
pub(crate) struct StoreRecorder {
    id: Arc<str>,
    store: Arc<dyn Store>,
    /// The run's lease: every commit is fenced with it.
    token: Arc<LeaseToken>,
    /// What the execution is doing: its worker parks it when it only waits.
    activity: Activity,
    codec: Arc<dyn Codec>,
    journal: Arc<Mutex<Journal>>,
    max_payload: usize,
    history: Mutex<History>,
    /// The runtime running the execution, for child executions.
    runtime: crate::runtime::Runtime,
    /// Whether a worker runs the execution (it parks when it only waits).
    worker: bool,
    /// When a step last looked for pause requests (at most once a second).
    pause_checked: Mutex<tokio::time::Instant>,
    /// Whether the last pause request the journal holds pauses the execution: kept up
    /// to date by every read of new checkpoints, so a step starting reads one flag.
    paused: Arc<AtomicBool>,
    /// What the lifecycle hooks are told of the execution, when the runtime has hooks.
    hooked: Option<Arc<ExecutionInfo>>,
    /// Whether the run is still catching up from the journal: it resumed with
    /// checkpoints, and no replay has yet come to a key the journal does not hold.
    catching_up: AtomicBool,
}

/// How often a running execution looks for pause requests (as its steps start), and
/// how often a paused one looks for the unpause.
const PAUSE_LOOK: std::time::Duration = std::time::Duration::from_secs(1);
const UNPAUSE_LOOK: std::time::Duration = std::time::Duration::from_millis(250);

/// Events waiting for the next commit, and what the history already holds.
///
/// A replayed state reports its events again (a choice its branch, a map its start),
/// and they must not be stored twice: an event is stored once per kind, address,
/// attempt and run. A task step is different: it reports `StepStarted` only when it
/// really runs (a step replayed from its checkpoint reports nothing), so each
/// `StepStarted` is stored, as the next *run* of that attempt — the attempt started
/// before and was interrupted (its process crashed, or its run was dropped) before its
/// result was stored. Runs from the second on are numbered in the events' details,
/// with the step's end events.
struct History {
    level: HistoryLevel,
    pending: Vec<Event>,
    /// (kind, address, attempt, run, callback message) of every event stored or pending.
    seen: HashSet<(EventKind, String, u32, u32, Option<u64>)>,
    /// The last run of each task attempt, by (address, attempt).
    runs: HashMap<(String, u32), u32>,
}

/// Whether `kind` is an event of a task step's run.
fn is_step_run(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::StepStarted | EventKind::StepSucceeded | EventKind::StepFailed
    )
}

impl StoreRecorder {
    /// The recorder of the execution `id` of `workflow` (name and version) run by
    /// `runtime` (a `worker`'s run or not) under the lease `token`, replaying `journal`;
    /// `stored` are the events its history holds already.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new<'a>(
        id: &str,
        workflow: (&str, u32),
        runtime: crate::runtime::Runtime,
        worker: bool,
        token: LeaseToken,
        codec: Arc<dyn Codec>,
        journal: Journal,
        stored: impl IntoIterator<Item = &'a Event>,
    ) -> Result<Self, crate::error::RunError> {
        let store = Arc::clone(runtime.store()?);
        let config: &RuntimeConfig = &runtime.inner.config;
        let (max_payload, level) = (config.max_payload_bytes, config.history);
        let mut seen = HashSet::new();
        let mut runs: HashMap<(String, u32), u32> = HashMap::new();
        for e in stored {
            let run = e.details.run.unwrap_or(1);
            seen.insert((e.kind, e.address.clone(), e.attempt, run, e.details.message));
            if is_step_run(e.kind) {
                let last = runs.entry((e.address.clone(), e.attempt)).or_default();
                *last = (*last).max(run);
            }
        }
        let hooked = runtime.inner.hooks.as_ref().map(|_| {
            Arc::new(ExecutionInfo {
                id: Arc::from(id),
                workflow: workflow.0.to_owned(),
                version: workflow.1,
            })
        });
        Ok(StoreRecorder {
            hooked,
            catching_up: AtomicBool::new(!journal.is_empty()),
            id: Arc::from(id),
            token: Arc::new(token),
            activity: Activity::default(),
            store,
            codec,
            paused: Arc::new(AtomicBool::new(waypost_core::pause::paused(&journal).0)),
            journal: Arc::new(Mutex::new(journal)),
            max_payload,
            pause_checked: Mutex::new(tokio::time::Instant::now()),
            runtime,
            worker,
            history: Mutex::new(History {
                level,
                pending: Vec::new(),
                seen,
                runs,
            }),
        })
    }

    /// The events waiting to be stored, as writes for the next commit.
    pub(crate) fn take_events(&self) -> Vec<Write> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history
            .pending
            .drain(..)
            .map(|event| Write::Event(Box::new(event)))
            .collect()
    }
}

/// Reads the checkpoints others wrote into a running execution into its journal.
struct Absorber {
    id: Arc<str>,
    store: Arc<dyn Store>,
    journal: Arc<Mutex<Journal>>,
    paused: Arc<AtomicBool>,
}

impl Absorber {
    /// Reads the new checkpoints; says how many the journal did not have.
    async fn absorb(&self) -> Result<usize, Error> {
        let after = self
            .journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_seq();
        let fresh = self
            .store
            .checkpoints_after(&self.id, after)
            .await
            .map_err(|e| e.into_error())?;
        let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let added = journal
            .absorb(fresh)
            .map_err(|e| Error::runtime(e.to_string()))?;
        if added > 0 {
            let paused = waypost_core::pause::paused(&journal).0;
            self.paused.store(paused, Ordering::Relaxed);
        }
        Ok(added)
    }

    /// Whether the last pause request pauses the execution.
    fn paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for StoreRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRecorder")
            .field("id", &self.id)
            .field("codec", &self.codec.name())
            .finish_non_exhaustive()
    }
}

impl StoreRecorder {
    /// Reads the checkpoints written into the execution by others since the journal
    /// was read (a callback's messages) into the journal; says how many were new.
    pub(crate) fn absorb_new(&self) -> impl Future<Output = Result<usize, Error>> + Send + 'static {
        let absorber = self.absorber();
        async move { absorber.absorb().await }
    }

    /// What reads new checkpoints into the journal, for a future of its own.
    fn absorber(&self) -> Absorber {
        Absorber {
            id: Arc::clone(&self.id),
            store: Arc::clone(&self.store),
            journal: Arc::clone(&self.journal),
            paused: Arc::clone(&self.paused),
        }
    }

    /// The runtime running the execution.
    pub(crate) fn runtime(&self) -> &crate::runtime::Runtime {
        &self.runtime
    }

    /// Whether a worker runs the execution.
    pub(crate) fn in_worker(&self) -> bool {
        self.worker
    }

    /// The store.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The execution's id.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// What the execution is doing now.
    pub(crate) fn activity_now(&self) -> &Activity {
        &self.activity
    }

    /// Hands an event that does not go through [`Recorder::event`] (the execution's
    /// recovery and end, written by the runtime itself) to the hooks.
    pub(crate) fn hook_event(&self, event: Event) {
        if let Some(execution) = &self.hooked {
            let replaying = self.catching_up.load(Ordering::Relaxed);
            self.runtime.hook_event(execution, event, replaying);
        }
    }
}

impl Recorder for StoreRecorder {
    fn activity(&self) -> Option<&Activity> {
        Some(&self.activity)
    }

    fn services(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn codec(&self) -> &dyn Codec {
        &*self.codec
    }

    fn replay(&self, key: &str) -> Option<Entry> {
        let journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = journal.get(key).cloned();
        if entry.is_none() && self.hooked.is_some() {
            self.catching_up.store(false, Ordering::Relaxed);
        }
        entry
    }

    fn record(
        &self,
        records: Vec<(String, CheckpointKind, Vec<u8>)>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        // Check every size before anything is written, so an oversized payload leaves
        // no partial batch behind.
        if let Some((key, _, payload)) = records.iter().find(|(_, _, p)| p.len() > self.max_payload)
        {
            let error = Error::with_kind(
                ErrorKind::Runtime,
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "checkpoint `{key}` of execution `{}` is {} bytes, over the limit of {} bytes",
                    self.id,
                    payload.len(),
                    self.max_payload
                ),
            )
            .into_terminal();
            return futures::future::ready(Err(error)).boxed();
        }
        let mut writes = Vec::with_capacity(records.len());
        {
            let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, kind, payload) in records {
                match journal.record(&key, kind, &payload) {
                    Ok(Recorded::Unchanged) => {}
                    Ok(Recorded::New(stored_key)) => writes.push(Write::Checkpoint(Checkpoint {
                        seq: 0,
                        checksum: checksum(&payload),
                        key: stored_key,
                        kind,
                        payload,
                    })),
                    Err(conflict) => {
                        let error = Error::runtime(conflict.to_string());
                        return futures::future::ready(Err(error)).boxed();
                    }
                }
            }
        }
        if writes.is_empty() {
            return futures::future::ready(Ok(())).boxed();
        }
        // Events go with the checkpoint they describe: one transaction, one fsync.
        writes.extend(self.take_events());
        let (store, id, token) = (
            Arc::clone(&self.store),
            Arc::clone(&self.id),
            Arc::clone(&self.token),
        );
        async move {
            store
                .commit(&id, Fence::Lease(&token), writes)
                .await
                .map_err(|e| e.into_error())
        }
        .boxed()
    }

    fn generation(&self) -> u32 {
        let journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        journal.generation()
    }

    fn hold(&self) -> BoxFuture<'static, Result<(), Error>> {
        let due = {
            let mut checked = self
                .pause_checked
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let due = checked.elapsed() >= PAUSE_LOOK;
            if due {
                *checked = tokio::time::Instant::now();
            }
            due
        };
        if !due && !self.paused.load(Ordering::Relaxed) {
            return futures::future::ready(Ok(())).boxed();
        }
        let absorber = self.absorber();
        let activity = self.activity.clone();
        async move {
            absorber.absorb().await?;
            if !absorber.paused() {
                return Ok(());
            }
            let id = &absorber.id;
            tracing::info!(execution_id = %id, "execution paused: no new step starts until it is unpaused");
            loop {
                // Only waiting: a worker parks it (for good, until the unpause wakes it).
                let _waiting = activity.timer(u64::MAX);
                tokio::time::sleep(UNPAUSE_LOOK).await;
                absorber.absorb().await?;
                if !absorber.paused() {
                    tracing::info!(execution_id = %id, "execution unpaused");
                    return Ok(());
                }
            }
        }
        .boxed()
    }

    fn refresh(&self) -> BoxFuture<'static, Result<(), Error>> {
        self.absorb_new().map(|added| added.map(drop)).boxed()
    }

    fn event(&self, mut event: Event) {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        // Counted whether or not the history level keeps the event, so that the end
        // events it keeps name their run.
        if is_step_run(event.kind) {
            let key = (event.address.clone(), event.attempt);
            let run = match event.kind {
                EventKind::StepStarted => {
                    let last = history.runs.entry(key).or_default();
                    *last += 1;
                    *last
                }
                _ => history.runs.get(&key).copied().unwrap_or(1),
            };
            event.details.run = Some(run).filter(|&run| run > 1);
        }
        let keeps = history.level.keeps(event.kind);
        // An event the history does not keep is not in the stored history either, to
        // tell a replay by: while the run is catching up from its journal, it is one.
        if !keeps && (self.hooked.is_none() || self.catching_up.load(Ordering::Relaxed)) {
            return;
        }
        let run = event.details.run.unwrap_or(1);
        let message = event.details.message;
        let new = history.seen.insert((
            event.kind,
            event.address.clone(),
            event.attempt,
            run,
            message,
        ));
        if !new {
            return;
        }
        // A new event, not a replay: the hooks hear of it (in order: still under the
        // lock), and the history keeps it if its level says so.
        if let Some(execution) = &self.hooked {
            let replaying = self.catching_up.load(Ordering::Relaxed);
            if !keeps {
                self.runtime.hook_event(execution, event, replaying);
                return;
            }
            self.runtime.hook_event(execution, event.clone(), replaying);
        }
        history.pending.push(event);
    }
}
