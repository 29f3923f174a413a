//! The execution driver: takes an execution's lease, replays its checkpoints, runs the
//! rest of the workflow, and writes how it ended.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use futures::FutureExt as _;
use futures::future::{AbortHandle, Abortable};
use tracing::Instrument as _;
use waypost_core::codec::{decode, encode_checked};
use waypost_core::replay::{Journal, within};
use waypost_core::store::{ExecutionRecord, Fence, Lease, LeaseToken, Snapshot, Write};
use waypost_core::{
    Codec, Context, Error, Event, EventDetails, EventKind, ExecutionStatus, Payload, Step,
    StoreError, Workflow,
};

use crate::codec::codec_for;
use crate::crash;
use crate::error::RunError;
use crate::ids::millis;
use crate::lease::{self, LeaseGuard, LiveRun};
use crate::outcome::{Encoded, Outcome, check_workflow, outcome_of};
use crate::recorder::StoreRecorder;
use crate::runtime::Runtime;

/// How a run gets the execution's lease.
pub(crate) enum Start {
    /// It takes it ([`lease::acquire`]: waiting for a holder that may be dead).
    Acquire,
    /// A worker claimed it already, for `ttl`.
    Claimed {
        /// The lease of the claim.
        lease: Lease,
        /// How long it lasts without renewal.
        ttl: Duration,
        /// Park the execution when it only waits on durable timers that end more than
        /// this later (see [`park_when_waiting`]).
        park_over: Option<Duration>,
    },
}

impl Runtime {
    /// Runs the execution `id` to its end in this runtime, or joins the run already
    /// going on here.
    pub(crate) async fn drive<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        id: String,
        known: Option<ExecutionRecord>,
        start: Start,
    ) -> Result<O, RunError> {
        // A worker's claim must run the execution under the lease it took: a run of it
        // still going on here (one that just parked, and whose wake-up came at once)
        // is waited for, never joined.
        let claimed = matches!(start, Start::Claimed { .. });
        loop {
            let earlier = {
                let running = self
                    .inner
                    .running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                running.get(&id).and_then(|(weak, _)| weak.upgrade())
            };
            match earlier {
                Some(earlier) if claimed => {
                    let _ = earlier.await;
                }
                _ => break,
            }
        }
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
                        start,
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
    start: Start,
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
    check_workflow(&workflow, &record, inner.config.allow_changed_workflows)?;
    let codec = codec_for(&workflow, &record)?;
    let encoded = |bytes| Encoded {
        bytes,
        codec: Arc::clone(&codec),
    };
    let _live = LiveRun::enter(&id);
    let (lease, ttl, park_over) = match start {
        Start::Claimed {
            lease,
            ttl,
            park_over,
        } => (lease, ttl, park_over),
        Start::Acquire => {
            if record.status.is_finished() {
                return outcome_of(&record).map(encoded);
            }
            let owner = format!("{}:{:08x}", inner.process, fastrand::u32(..));
            let taken = lease::acquire(
                &**store,
                &id,
                &owner,
                inner.config.lease_ttl,
                &inner.process,
                lease::Wait {
                    max: inner.config.lease_wait,
                },
            )
            .await?;
            (taken, inner.config.lease_ttl, None)
        }
    };
    let token = lease.token;
    let recovered_from = lease.recovered_from;
    // The status read above may be stale: another owner may have finished or cancelled
    // the execution before this one took the lease. Read it again, with what the run
    // replays, in one snapshot.
    let Snapshot {
        record,
        checkpoints,
        history,
    } = store.snapshot(&id).await?;
    if record.status.is_finished() {
        store.release_lease(&id, &token).await?;
        return outcome_of(&record).map(encoded);
    }
    if let Some(previous_owner) = &recovered_from {
        tracing::warn!(
            execution_id = %id,
            %previous_owner,
            recoveries = record.recoveries,
            "execution recovered: taken over from an owner that stopped without finishing it"
        );
    }
    if record.recoveries > inner.config.max_recoveries {
        let outcome = park(&runtime, &record, &token).await;
        store.release_lease(&id, &token).await?;
        return outcome.map(encoded);
    }
    let lease = LeaseGuard::new(Arc::clone(store), &id, token, ttl, abort);

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
        (workflow.name(), workflow.version()),
        runtime.clone(),
        park_over.is_some(),
        lease.token().clone(),
        Arc::clone(&codec),
        journal,
        stored,
    )?);
    let cx = Context::with_recorder(
        Arc::clone(&inner.host),
        id.clone(),
        Some(Arc::clone(&recorder) as _),
    );
    let details = EventDetails {
        workflow: Some(workflow.name().to_owned()),
        version: Some(workflow.version()),
        ..EventDetails::default()
    };
    if let Some(previous_owner) = recovered_from {
        // The store recorded the takeover in the history; the hooks hear of it here.
        let details = EventDetails {
            previous_owner: Some(previous_owner),
            recoveries: Some(record.recoveries),
            ..EventDetails::default()
        };
        let at_ms = millis(SystemTime::now());
        recorder.hook_event(execution_event(
            EventKind::ExecutionRecovered,
            at_ms,
            details,
        ));
    }
    cx.with_attempt(number).emit(kind, "", None, details);
    let span = tracing::info_span!("execution", execution_id = %id, workflow = %workflow.name());
    let run = Box::pin(workflow.root().run(&cx, input).instrument(span));
    let result = match park_over {
        None => run.await,
        Some(over) => {
            let parking = std::pin::pin!(park_when_waiting(recorder.activity_now(), over));
            match futures::future::select(run, parking).await {
                futures::future::Either::Left((result, _)) => result,
                futures::future::Either::Right((until_ms, run)) => {
                    // Only durable timers were running: dropping the run loses nothing.
                    drop(run);
                    let mut writes = recorder.take_events();
                    writes.push(Write::Park {
                        wake_at_ms: until_ms,
                    });
                    store
                        .commit(&id, Fence::Lease(lease.token()), writes)
                        .await?;
                    lease.release().await?;
                    // A callback message that came after this run last looked, and
                    // before the park, would find the execution still leased and this
                    // park would have put its wake-up off: wake it for it now (and when
                    // the store cannot say, wake it anyway).
                    if recorder.absorb_new().await.map_or(true, |added| added > 0) {
                        let now = Write::Park {
                            wake_at_ms: millis(SystemTime::now()),
                        };
                        match store.commit(&id, Fence::Unleased, vec![now]).await {
                            Ok(()) | Err(StoreError::NotRunning { .. }) => {}
                            Err(error) => return Err(error.into()),
                        }
                    }
                    if until_ms == u64::MAX {
                        tracing::info!(execution_id = %id, "execution parked until a callback arrives");
                    } else {
                        tracing::info!(execution_id = %id, until_ms, "execution parked until its timer ends");
                    }
                    return Err(RunError::Parked { id, until_ms });
                }
            }
        }
    };

    let outcome = match finish(&runtime, &id, lease.token(), &*codec, &recorder, result).await {
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
    if outcome.is_ok() || matches!(outcome, Err(RunError::Failed { .. })) {
        crate::child::wake_parent(&runtime, &id).await;
    }
    outcome.map(encoded)
}

/// Resolves with the end of the first timer once the execution has only waited on
/// durable timers for a moment (nothing busy for two ticks in a row), and that timer
/// ends more than `over` from now. Never resolves otherwise.
async fn park_when_waiting(activity: &waypost_core::activity::Activity, over: Duration) -> u64 {
    let tick = (over / 4).clamp(Duration::from_millis(10), Duration::from_millis(250));
    let over_ms = u64::try_from(over.as_millis()).unwrap_or(u64::MAX);
    let mut settled = 0;
    loop {
        tokio::time::sleep(tick).await;
        match activity.waiting_until() {
            Some(until) if until > millis(SystemTime::now()).saturating_add(over_ms) => {
                settled += 1;
                if settled >= 2 {
                    return until;
                }
            }
            _ => settled = 0,
        }
    }
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
    token: &LeaseToken,
    codec: &dyn Codec,
    recorder: &StoreRecorder,
    result: Result<O, Error>,
) -> Outcome {
    let store = runtime.store()?;
    let at_ms = millis(SystemTime::now());
    let output = match &result {
        Ok(output) => {
            let bytes = encode_checked(codec, output, &format!("the output of execution `{id}`"));
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
    let ended = |event: &Event| {
        let mut writes = recorder.take_events();
        writes.push(Write::Event(Box::new(event.clone())));
        writes
    };
    match output {
        Ok(bytes) => {
            let event = execution_event(
                EventKind::ExecutionSucceeded,
                at_ms,
                EventDetails::default(),
            );
            let mut writes = ended(&event);
            writes.push(Write::Status {
                status: ExecutionStatus::Succeeded,
                output: Some(bytes.clone()),
                error: None,
                redrive: false,
                at_ms,
            });
            crash::reach("finish-start");
            store.commit(id, Fence::Lease(token), writes).await?;
            crash::reach("finish-end");
            recorder.hook_event(event);
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
            let event = execution_event(
                EventKind::ExecutionFailed,
                at_ms,
                EventDetails::error(&error),
            );
            let mut writes = ended(&event);
            writes.push(Write::Status {
                status: ExecutionStatus::Failed,
                output: None,
                error: Some(error.clone()),
                redrive: false,
                at_ms,
            });
            crash::reach("finish-start");
            store.commit(id, Fence::Lease(token), writes).await?;
            crash::reach("finish-end");
            recorder.hook_event(event);
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
async fn park(runtime: &Runtime, record: &ExecutionRecord, token: &LeaseToken) -> Outcome {
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
    let event = execution_event(
        EventKind::ExecutionFailed,
        at_ms,
        EventDetails::error(&error),
    );
    let writes = vec![
        Write::Event(Box::new(event.clone())),
        Write::Status {
            status: ExecutionStatus::Failed,
            output: None,
            error: Some(error.clone()),
            redrive: false,
            at_ms,
        },
    ];
    tracing::error!(execution_id = %id, recoveries = record.recoveries, limit, "execution parked as failed");
    match store.commit(id, Fence::Lease(token), writes).await {
        Ok(()) => {
            runtime.hook_record_event(record, event);
            Err(RunError::Failed {
                id: id.clone(),
                error,
            })
        }
        // Cancelled or finished by another process meanwhile: that outcome stands.
        Err(StoreError::NotRunning { .. }) => outcome_of(&store.execution(id).await?),
        Err(error) => Err(error.into()),
    }
}

/// An event about the execution as a whole.
pub(crate) fn execution_event(kind: EventKind, at_ms: u64, details: EventDetails) -> Event {
    Event {
        seq: 0,
        at_ms,
        kind,
        address: String::new(),
        attempt: 1,
        duration_ms: None,
        details,
    }
}
