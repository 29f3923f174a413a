//! Group commit: the writer tasks that put many executions' commits in one
//! transaction.
//!
//! Every [`Store::commit`](waypost_core::Store::commit) becomes a [`Job`] on one queue.
//! Each of the store's writer tasks takes a first job, and the jobs queued behind it
//! (up to `max_batch`), and applies them in one transaction, in the order of their
//! execution ids (so that two transactions never wait for each other's rows the other
//! way round), keeping the order of one execution's commits. A job is checked under its
//! execution's row lock before it writes anything — its fence, the status rules, its
//! checkpoints against the stored ones — so a refused job writes nothing and the others
//! commit. When the server fails a statement, the transaction is rolled back and each
//! job is run again in a transaction of its own, so that only the one that fails gets
//! the error. Answers are sent after `COMMIT` returns: a resolved commit is durable.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Transaction;
use tokio::sync::{Mutex, mpsc, oneshot};
use waypost_core::store::{
    ExecutionStatus, Fence, LeaseToken, Notice, StoreError, Write, batch_order, check_fence,
};

use crate::rows::to_sql;
use crate::store::Inner;

/// One commit waiting for its transaction.
pub(crate) struct Job {
    pub(crate) id: String,
    pub(crate) token: Option<LeaseToken>,
    pub(crate) writes: Vec<Write>,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

/// The shared end of the queue the writer tasks take jobs from.
pub(crate) type Queue = Arc<Mutex<mpsc::UnboundedReceiver<Job>>>;

/// One writer task: takes groups of jobs off `queue` until the store is gone.
pub(crate) async fn run(inner: std::sync::Weak<Inner>, queue: Queue, max_batch: usize) {
    loop {
        let jobs = {
            let mut queue = queue.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < max_batch {
                match queue.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            jobs
        };
        let Some(inner) = inner.upgrade() else {
            for job in jobs {
                let _ = job.reply.send(Err(StoreError::Closed));
            }
            return;
        };
        group(&inner, jobs).await;
    }
}

/// Applies `jobs` in one transaction and answers them.
///
/// A few round trips for the whole group, however many jobs it holds: every execution
/// row is locked and read (with the stored checkpoints the jobs' keys name) by two
/// statements in one pipeline, the jobs are checked here, and the writes go out as one
/// statement per table in a second pipeline; then `COMMIT`.
async fn group(inner: &Inner, mut jobs: Vec<Job>) {
    // Rows are locked in id order (no two transactions wait for each other the other
    // way round); a stable sort keeps the order of one execution's commits.
    jobs.sort_by(|a, b| a.id.cmp(&b.id));
    let count = jobs.len();
    let doing = || format!("committing a transaction of {count} commits");
    let mut client = match inner.pool.get().await {
        Ok(client) => client,
        Err(err) => {
            let error = crate::error::pool(&inner.server, doing(), &err);
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
            return;
        }
    };
    let tx = match client.transaction().await {
        Ok(tx) => tx,
        Err(err) => {
            let error = crate::error::backend(&inner.server, doing(), &err);
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
            return;
        }
    };
    match plan_and_write(inner, &tx, &jobs).await {
        Ok(outcomes) => {
            let committed = tx
                .commit()
                .await
                .map_err(|err| crate::error::backend(&inner.server, doing(), &err));
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                let answer = match &committed {
                    Ok(()) => outcome,
                    Err(error) => Err(error.clone()),
                };
                let _ = job.reply.send(answer);
            }
        }
        Err(_) if count > 1 => {
            // Lost with the transaction: each job alone, so that only the one that
            // fails gets the error.
            drop(tx);
            drop(client);
            for job in jobs {
                Box::pin(group(inner, vec![job])).await;
            }
        }
        Err(error) => {
            // A lone job that the server failed: nothing of it may stay.
            let _ = tx.rollback().await;
            for job in jobs {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}

/// Locks and reads the jobs' executions, checks each job, and writes those that pass,
/// in `tx`, with a handful of statements for the whole group (every row of a kind in
/// one statement, from arrays). Returns each job's outcome (a refused job wrote
/// nothing); an error when the server failed a statement (the transaction is lost).
async fn plan_and_write(
    inner: &Inner,
    tx: &Transaction<'_>,
    jobs: &[Job],
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let server = |err: tokio_postgres::Error| {
        crate::error::backend(
            &inner.server,
            format!("committing a transaction of {} commits", jobs.len()),
            &err,
        )
    };
    let s = &inner.schema;
    // The jobs' executions (sorted: jobs come in id order) and the keys they write.
    let mut ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
    ids.dedup();
    let (key_ids, keys): (Vec<&str>, Vec<&str>) = jobs
        .iter()
        .flat_map(|job| {
            job.writes.iter().filter_map(|w| match w {
                Write::Checkpoint(c) => Some((job.id.as_str(), c.key.as_str())),
                _ => None,
            })
        })
        .unzip();
    let lock = tx
        .prepare_cached(&format!(
            "SELECT id, status, lease_owner, lease_epoch, workflow, next_checkpoint, \
             next_event, redrives, recoveries FROM {s}.executions \
             WHERE id = ANY($1) ORDER BY id FOR UPDATE"
        ))
        .await
        .map_err(server)?;
    let existing = tx
        .prepare_cached(&format!(
            "SELECT c.execution_id, c.key, c.kind, c.checksum, c.payload \
             FROM {s}.checkpoints c \
             JOIN unnest($1::text[], $2::text[]) AS w(execution_id, key) \
             ON c.execution_id = w.execution_id AND c.key = w.key"
        ))
        .await
        .map_err(server)?;
    let stored = async {
        if keys.is_empty() {
            Ok(Vec::new())
        } else {
            tx.query(&existing, &[&key_ids, &keys]).await
        }
    };
    let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&ids];
    let (rows, stored) =
        futures::try_join!(tx.query(&lock, &lock_params), stored).map_err(server)?;

    let mut states: HashMap<String, Result<State, StoreError>> = HashMap::new();
    for row in &rows {
        let id: String = row.try_get(0).map_err(|err| StoreError::Corrupt {
            detail: format!("an execution has an unreadable id: {err}"),
        })?;
        let state = State::read(&id, row);
        states.insert(id, state);
    }
    for row in &stored {
        let id: String = row.try_get(0).map_err(|err| StoreError::Corrupt {
            detail: format!("a checkpoint has an unreadable execution id: {err}"),
        })?;
        if let Some(Ok(state)) = states.get_mut(&id) {
            state.hold(&id, row)?;
        }
    }

    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut plans = Vec::with_capacity(jobs.len());
    for job in jobs {
        let outcome = match states.get_mut(job.id.as_str()) {
            None => Err(StoreError::NotFound { id: job.id.clone() }),
            Some(Err(error)) => Err(error.clone()),
            Some(Ok(state)) => match plan(inner, state, job) {
                Ok((next, plan)) => {
                    *state = next;
                    plans.push(plan);
                    Ok(())
                }
                Err(error) => Err(error),
            },
        };
        outcomes.push(outcome);
    }
    write(inner, tx, &plans).await.map_err(server)?;
    Ok(outcomes)
}

/// An execution as a group's jobs see it: read under its row lock, then moved on by
/// each job that passed.
#[derive(Clone)]
struct State {
    status: ExecutionStatus,
    holder: Option<String>,
    epoch: u64,
    workflow: String,
    next_checkpoint: i64,
    next_event: i64,
    redrives: i64,
    recoveries: i64,
    /// What each key the group writes holds already: (kind, checksum, payload).
    held: HashMap<String, (i16, i64, Vec<u8>)>,
}

impl State {
    /// The row `id, status, lease_owner, lease_epoch, workflow, next_checkpoint,
    /// next_event, redrives, recoveries`.
    fn read(id: &str, row: &tokio_postgres::Row) -> Result<State, StoreError> {
        let corrupt = |column: &str| crate::error::corrupt(id, column, "cannot be read");
        let status_text: String = row.try_get(1).map_err(|_| corrupt("status"))?;
        Ok(State {
            status: ExecutionStatus::parse(&status_text).ok_or_else(|| corrupt("status"))?,
            holder: row.try_get(2).map_err(|_| corrupt("lease_owner"))?,
            epoch: row
                .try_get::<_, i64>(3)
                .map_err(|_| corrupt("lease_epoch"))?
                .try_into()
                .map_err(|_| corrupt("lease_epoch"))?,
            workflow: row.try_get(4).map_err(|_| corrupt("workflow"))?,
            next_checkpoint: row.try_get(5).map_err(|_| corrupt("next_checkpoint"))?,
            next_event: row.try_get(6).map_err(|_| corrupt("next_event"))?,
            redrives: row.try_get(7).map_err(|_| corrupt("redrives"))?,
            recoveries: row.try_get(8).map_err(|_| corrupt("recoveries"))?,
            held: HashMap::new(),
        })
    }

    /// Notes a stored checkpoint (`execution_id, key, kind, checksum, payload`) that a
    /// job of the group writes again.
    fn hold(&mut self, id: &str, row: &tokio_postgres::Row) -> Result<(), StoreError> {
        let corrupt = |column: &str| crate::error::corrupt(id, column, "cannot be read");
        let key: String = row.try_get(1).map_err(|_| corrupt("checkpoints.key"))?;
        let kind: i16 = row.try_get(2).map_err(|_| corrupt("checkpoints.kind"))?;
        let checksum: i64 = row
            .try_get(3)
            .map_err(|_| corrupt("checkpoints.checksum"))?;
        let payload: Vec<u8> = row.try_get(4).map_err(|_| corrupt("checkpoints.payload"))?;
        self.held.insert(key, (kind, checksum, payload));
        Ok(())
    }
}

/// What one job writes.
struct Plan {
    id: String,
    checkpoints: Checkpoints,
    events: Events,
    status: ExecutionStatus,
    /// The output, error and time of a status write.
    set_status: Option<(Option<Vec<u8>>, Option<String>, i64)>,
    next_checkpoint: i64,
    next_event: i64,
    redrives: i64,
    recoveries: i64,
    wake_at: Option<i64>,
    notice: Option<Notice>,
}

/// Checks `job` against `state` (its fence, the status rules, its checkpoints against
/// the stored ones, the size limit) and returns the state after it and what it writes.
fn plan(inner: &Inner, state: &State, job: &Job) -> Result<(State, Plan), StoreError> {
    let id = job.id.as_str();
    for write in &job.writes {
        if let Write::Checkpoint(c) = write {
            inner.check_size(id, &format!("checkpoint `{}`", c.key), c.payload.len())?;
        }
        if let Write::Status {
            output: Some(o), ..
        } = write
        {
            inner.check_size(id, "the output", o.len())?;
        }
    }
    let fence = job.token.as_ref().map_or(Fence::Unleased, Fence::Lease);
    check_fence(id, fence, state.epoch, state.holder.as_deref())?;
    let order = batch_order(id, state.status, &job.writes)?;

    let mut next = state.clone();
    let mut plan = Plan {
        id: id.to_owned(),
        checkpoints: Checkpoints::default(),
        events: Events::default(),
        status: state.status,
        set_status: None,
        next_checkpoint: 0,
        next_event: 0,
        redrives: 0,
        recoveries: 0,
        wake_at: None,
        notice: None,
    };
    let encoding = |what: &str, err: serde_json::Error| StoreError::Backend {
        doing: format!("encoding {what} of execution `{id}`"),
        message: err.to_string(),
    };
    for write in order.iter().map(|&i| &job.writes[i]) {
        match write {
            Write::Checkpoint(c) => {
                let new = (
                    i16::from(c.kind.code()),
                    i64::from(c.checksum),
                    c.payload.clone(),
                );
                match next.held.get(&c.key) {
                    Some(old) if *old == new => {}
                    Some(_) => {
                        return Err(StoreError::Conflict {
                            id: id.to_owned(),
                            key: c.key.clone(),
                        });
                    }
                    None => {
                        let cp = &mut plan.checkpoints;
                        cp.seq.push(next.next_checkpoint);
                        next.next_checkpoint += 1;
                        cp.key.push(c.key.clone());
                        cp.kind.push(new.0);
                        cp.checksum.push(new.1);
                        cp.payload.push(new.2.clone());
                        next.held.insert(c.key.clone(), new);
                    }
                }
            }
            Write::Event(e) => {
                let details = if e.details.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::to_string(&e.details)
                            .map_err(|err| encoding("an event", err))?,
                    )
                };
                let ev = &mut plan.events;
                ev.seq.push(next.next_event);
                next.next_event += 1;
                ev.at_ms.push(to_sql(e.at_ms));
                ev.kind.push(e.kind.as_str().to_owned());
                ev.address.push(e.address.clone());
                ev.attempt.push(i64::from(e.attempt));
                ev.duration_ms.push(e.duration_ms.map(to_sql));
                ev.details.push(details);
            }
            Write::Status {
                status,
                output,
                error,
                redrive,
                at_ms,
            } => {
                let error = error
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|err| encoding("the error", err))?;
                next.status = *status;
                plan.set_status = Some((output.clone(), error, to_sql(*at_ms)));
                if *redrive {
                    next.redrives = next.redrives.saturating_add(1);
                    next.recoveries = 0;
                    plan.wake_at = Some(to_sql(*at_ms));
                }
            }
            Write::Park { wake_at_ms } => plan.wake_at = Some(to_sql(*wake_at_ms)),
            other => {
                return Err(StoreError::Backend {
                    doing: format!("committing to execution `{id}`"),
                    message: format!("this store cannot apply {other:?}"),
                });
            }
        }
    }
    plan.status = next.status;
    plan.next_checkpoint = next.next_checkpoint;
    plan.next_event = next.next_event;
    plan.redrives = next.redrives;
    plan.recoveries = next.recoveries;
    plan.notice = if state.status == ExecutionStatus::Running && next.status.is_finished() {
        Some(Notice::Finished { id: id.to_owned() })
    } else if state.status != ExecutionStatus::Running && next.status == ExecutionStatus::Running {
        Some(Notice::Runnable {
            workflow: next.workflow.clone(),
        })
    } else {
        None
    };
    Ok((next, plan))
}

/// Sends what the group's `plans` write, one statement per table for all of them
/// (pipelined): the checkpoints, the events, the execution rows (one execution's
/// plans merged: the last one's counters and status win), and the notices.
async fn write(
    inner: &Inner,
    tx: &Transaction<'_>,
    plans: &[Plan],
) -> Result<(), tokio_postgres::Error> {
    let s = &inner.schema;
    let mut cp = Checkpoints::default();
    let mut cp_ids: Vec<&str> = Vec::new();
    let mut ev = Events::default();
    let mut ev_ids: Vec<&str> = Vec::new();
    let mut rows = Rows::default();
    let mut notices: Vec<String> = Vec::new();
    for plan in plans {
        cp_ids.extend(std::iter::repeat_n(
            plan.id.as_str(),
            plan.checkpoints.key.len(),
        ));
        cp.extend(&plan.checkpoints);
        ev_ids.extend(std::iter::repeat_n(plan.id.as_str(), plan.events.seq.len()));
        ev.extend(&plan.events);
        rows.add(plan);
        if let Some(payload) = plan.notice.as_ref().and_then(crate::store::notice_payload) {
            notices.push(payload);
        }
    }
    let checkpoints = async {
        if cp.key.is_empty() {
            return Ok(0);
        }
        let statement = tx
            .prepare_cached(&format!(
                "INSERT INTO {s}.checkpoints (execution_id, seq, key, kind, payload, checksum) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::smallint[], \
                 $5::bytea[], $6::bigint[])"
            ))
            .await?;
        tx.execute(
            &statement,
            &[
                &cp_ids,
                &cp.seq,
                &cp.key,
                &cp.kind,
                &cp.payload,
                &cp.checksum,
            ],
        )
        .await
    };
    let events = async {
        if ev.seq.is_empty() {
            return Ok(0);
        }
        let statement = tx
            .prepare_cached(&format!(
                "INSERT INTO {s}.events \
                 (execution_id, seq, at_ms, kind, address, attempt, duration_ms, details) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], \
                 $5::text[], $6::bigint[], $7::bigint[], $8::text[])"
            ))
            .await?;
        tx.execute(
            &statement,
            &[
                &ev_ids,
                &ev.seq,
                &ev.at_ms,
                &ev.kind,
                &ev.address,
                &ev.attempt,
                &ev.duration_ms,
                &ev.details,
            ],
        )
        .await
    };
    let executions = async {
        if rows.id.is_empty() {
            return Ok(0);
        }
        let statement = tx
            .prepare_cached(&format!(
                "UPDATE {s}.executions e SET next_checkpoint = u.next_checkpoint, \
                 next_event = u.next_event, status = u.status, \
                 output = CASE WHEN u.has_status THEN u.output ELSE e.output END, \
                 error = CASE WHEN u.has_status THEN u.error ELSE e.error END, \
                 updated_ms = COALESCE(u.at_ms, e.updated_ms), \
                 redrives = u.redrives, recoveries = u.recoveries, \
                 wake_at_ms = COALESCE(u.wake_at, e.wake_at_ms) \
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::bool[], \
                 $6::bytea[], $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], \
                 $11::bigint[]) AS u(id, next_checkpoint, next_event, status, has_status, \
                 output, error, at_ms, redrives, recoveries, wake_at) \
                 WHERE e.id = u.id"
            ))
            .await?;
        tx.execute(
            &statement,
            &[
                &rows.id,
                &rows.next_checkpoint,
                &rows.next_event,
                &rows.status,
                &rows.has_status,
                &rows.output,
                &rows.error,
                &rows.at_ms,
                &rows.redrives,
                &rows.recoveries,
                &rows.wake_at,
            ],
        )
        .await
    };
    let notify = async {
        if notices.is_empty() {
            return Ok(0);
        }
        tx.execute(
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
            &[&inner.channel, &notices],
        )
        .await
    };
    futures::try_join!(checkpoints, events, executions, notify)?;
    Ok(())
}

/// The execution rows a group updates, one per execution, as arrays.
#[derive(Default)]
struct Rows {
    id: Vec<String>,
    next_checkpoint: Vec<i64>,
    next_event: Vec<i64>,
    status: Vec<&'static str>,
    has_status: Vec<bool>,
    output: Vec<Option<Vec<u8>>>,
    error: Vec<Option<String>>,
    at_ms: Vec<Option<i64>>,
    redrives: Vec<i64>,
    recoveries: Vec<i64>,
    wake_at: Vec<Option<i64>>,
}

impl Rows {
    /// Adds `plan`'s row, or merges it into the row of the same execution before it
    /// (plans come in order: the later one's counters and status win; its status write
    /// and wake-up, if it has them).
    fn add(&mut self, plan: &Plan) {
        let (output, error, at_ms) = match &plan.set_status {
            Some((output, error, at_ms)) => (output.clone(), error.clone(), Some(*at_ms)),
            None => (None, None, None),
        };
        let has_status = plan.set_status.is_some();
        if self.id.last() == Some(&plan.id) {
            let i = self.id.len() - 1;
            self.next_checkpoint[i] = plan.next_checkpoint;
            self.next_event[i] = plan.next_event;
            self.status[i] = plan.status.as_str();
            self.redrives[i] = plan.redrives;
            self.recoveries[i] = plan.recoveries;
            if has_status {
                self.has_status[i] = true;
                self.output[i] = output;
                self.error[i] = error;
                self.at_ms[i] = at_ms;
            }
            if plan.wake_at.is_some() {
                self.wake_at[i] = plan.wake_at;
            }
            return;
        }
        self.id.push(plan.id.clone());
        self.next_checkpoint.push(plan.next_checkpoint);
        self.next_event.push(plan.next_event);
        self.status.push(plan.status.as_str());
        self.has_status.push(has_status);
        self.output.push(output);
        self.error.push(error);
        self.at_ms.push(at_ms);
        self.redrives.push(plan.redrives);
        self.recoveries.push(plan.recoveries);
        self.wake_at.push(plan.wake_at);
    }
}

#[derive(Default)]
struct Checkpoints {
    seq: Vec<i64>,
    key: Vec<String>,
    kind: Vec<i16>,
    checksum: Vec<i64>,
    payload: Vec<Vec<u8>>,
}

impl Checkpoints {
    fn extend(&mut self, other: &Checkpoints) {
        self.seq.extend_from_slice(&other.seq);
        self.key.extend_from_slice(&other.key);
        self.kind.extend_from_slice(&other.kind);
        self.checksum.extend_from_slice(&other.checksum);
        self.payload.extend_from_slice(&other.payload);
    }
}

#[derive(Default)]
struct Events {
    seq: Vec<i64>,
    at_ms: Vec<i64>,
    kind: Vec<String>,
    address: Vec<String>,
    attempt: Vec<i64>,
    duration_ms: Vec<Option<i64>>,
    details: Vec<Option<String>>,
}

impl Events {
    fn extend(&mut self, other: &Events) {
        self.seq.extend_from_slice(&other.seq);
        self.at_ms.extend_from_slice(&other.at_ms);
        self.kind.extend_from_slice(&other.kind);
        self.address.extend_from_slice(&other.address);
        self.attempt.extend_from_slice(&other.attempt);
        self.duration_ms.extend_from_slice(&other.duration_ms);
        self.details.extend_from_slice(&other.details);
    }
}
