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
use crate::store::{Inner, notify};

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

/// Why a job did not apply.
enum Failure {
    /// Refused before it wrote anything: the transaction goes on without it.
    Refused(StoreError),
    /// The server failed a statement: the transaction is lost.
    Server(StoreError),
}

/// Applies `jobs` in one transaction and answers them.
async fn group(inner: &Inner, mut jobs: Vec<Job>) {
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
    let mut outcomes: Vec<Result<(), StoreError>> = Vec::with_capacity(count);
    for job in &jobs {
        match apply(inner, &tx, job).await {
            Ok(()) => outcomes.push(Ok(())),
            Err(Failure::Refused(error)) => outcomes.push(Err(error)),
            Err(Failure::Server(_)) if count > 1 => {
                // Lost with the transaction: each job alone, so that only the one
                // that fails gets the error.
                drop(tx);
                drop(client);
                for job in jobs {
                    Box::pin(group(inner, vec![job])).await;
                }
                return;
            }
            Err(Failure::Server(error)) => {
                // A lone job that the server failed: nothing of it may stay.
                let _ = tx.rollback().await;
                for job in jobs {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
        }
    }
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

/// Checks and applies one job in the open transaction.
async fn apply(inner: &Inner, tx: &Transaction<'_>, job: &Job) -> Result<(), Failure> {
    let id = job.id.as_str();
    let s = &inner.schema;
    let server = |err: tokio_postgres::Error| {
        Failure::Server(crate::error::backend(
            &inner.server,
            format!("committing {} writes to execution `{id}`", job.writes.len()),
            &err,
        ))
    };
    let keys: Vec<&str> = job
        .writes
        .iter()
        .filter_map(|w| match w {
            Write::Checkpoint(c) => Some(c.key.as_str()),
            _ => None,
        })
        .collect();
    for write in &job.writes {
        if let Write::Checkpoint(c) = write {
            inner
                .check_size(id, &format!("checkpoint `{}`", c.key), c.payload.len())
                .map_err(Failure::Refused)?;
        }
        if let Write::Status {
            output: Some(o), ..
        } = write
        {
            inner
                .check_size(id, "the output", o.len())
                .map_err(Failure::Refused)?;
        }
    }
    let lock = format!(
        "SELECT status, lease_owner, lease_epoch, workflow, next_checkpoint, next_event, \
         redrives, recoveries FROM {s}.executions WHERE id = $1 FOR UPDATE"
    );
    let existing = format!(
        "SELECT key, kind, checksum, payload FROM {s}.checkpoints \
         WHERE execution_id = $1 AND key = ANY($2)"
    );
    let (row, stored) = if keys.is_empty() {
        (
            tx.query_opt(&lock, &[&id]).await.map_err(server)?,
            Vec::new(),
        )
    } else {
        // Pipelined: one round trip.
        let lock_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
        let existing_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &keys];
        let (row, stored) = futures::try_join!(
            tx.query_opt(&lock, &lock_params),
            tx.query(&existing, &existing_params)
        )
        .map_err(server)?;
        (row, stored)
    };
    let Some(row) = row else {
        return Err(Failure::Refused(StoreError::NotFound { id: id.to_owned() }));
    };
    let corrupt =
        |column: &str| Failure::Refused(crate::error::corrupt(id, column, "cannot be read"));
    let status_text: String = row.try_get(0).map_err(|_| corrupt("status"))?;
    let before = ExecutionStatus::parse(&status_text).ok_or_else(|| corrupt("status"))?;
    let holder: Option<String> = row.try_get(1).map_err(|_| corrupt("lease_owner"))?;
    let epoch: i64 = row.try_get(2).map_err(|_| corrupt("lease_epoch"))?;
    let workflow: String = row.try_get(3).map_err(|_| corrupt("workflow"))?;
    let mut next_checkpoint: i64 = row.try_get(4).map_err(|_| corrupt("next_checkpoint"))?;
    let mut next_event: i64 = row.try_get(5).map_err(|_| corrupt("next_event"))?;
    let mut redrives: i64 = row.try_get(6).map_err(|_| corrupt("redrives"))?;
    let mut recoveries: i64 = row.try_get(7).map_err(|_| corrupt("recoveries"))?;

    let fence = job.token.as_ref().map_or(Fence::Unleased, Fence::Lease);
    check_fence(id, fence, epoch.try_into().unwrap_or(0), holder.as_deref())
        .map_err(Failure::Refused)?;
    let order = batch_order(id, before, &job.writes).map_err(Failure::Refused)?;

    // What the key holds already: (kind, checksum, payload).
    let mut held: HashMap<String, (i16, i64, Vec<u8>)> = HashMap::new();
    for row in stored {
        let key: String = row.try_get(0).map_err(|_| corrupt("checkpoints.key"))?;
        let kind: i16 = row.try_get(1).map_err(|_| corrupt("checkpoints.kind"))?;
        let checksum: i64 = row
            .try_get(2)
            .map_err(|_| corrupt("checkpoints.checksum"))?;
        let payload: Vec<u8> = row.try_get(3).map_err(|_| corrupt("checkpoints.payload"))?;
        held.insert(key, (kind, checksum, payload));
    }

    let mut cp = Checkpoints::default();
    let mut ev = Events::default();
    let mut status = before;
    let mut set_status: Option<(Option<Vec<u8>>, Option<String>, i64)> = None;
    let mut wake_at: Option<i64> = None;
    for write in order.iter().map(|&i| &job.writes[i]) {
        match write {
            Write::Checkpoint(c) => {
                let new = (
                    i16::from(c.kind.code()),
                    i64::from(c.checksum),
                    c.payload.clone(),
                );
                match held.get(&c.key) {
                    Some(old) if *old == new => {}
                    Some(_) => {
                        return Err(Failure::Refused(StoreError::Conflict {
                            id: id.to_owned(),
                            key: c.key.clone(),
                        }));
                    }
                    None => {
                        cp.seq.push(next_checkpoint);
                        next_checkpoint += 1;
                        cp.key.push(c.key.clone());
                        cp.kind.push(new.0);
                        cp.checksum.push(new.1);
                        cp.payload.push(new.2.clone());
                        held.insert(c.key.clone(), new);
                    }
                }
            }
            Write::Event(e) => {
                let details = if e.details.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&e.details).map_err(|err| {
                        Failure::Refused(StoreError::Backend {
                            doing: format!("encoding an event of execution `{id}`"),
                            message: err.to_string(),
                        })
                    })?)
                };
                ev.seq.push(next_event);
                next_event += 1;
                ev.at_ms.push(to_sql(e.at_ms));
                ev.kind.push(e.kind.as_str().to_owned());
                ev.address.push(e.address.clone());
                ev.attempt.push(i64::from(e.attempt));
                ev.duration_ms.push(e.duration_ms.map(to_sql));
                ev.details.push(details);
            }
            Write::Status {
                status: new,
                output,
                error,
                redrive,
                at_ms,
            } => {
                let error = error
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|err| {
                        Failure::Refused(StoreError::Backend {
                            doing: format!("encoding the error of execution `{id}`"),
                            message: err.to_string(),
                        })
                    })?;
                status = *new;
                set_status = Some((output.clone(), error, to_sql(*at_ms)));
                if *redrive {
                    redrives = redrives.saturating_add(1);
                    recoveries = 0;
                    wake_at = Some(to_sql(*at_ms));
                }
            }
            Write::Park { wake_at_ms } => wake_at = Some(to_sql(*wake_at_ms)),
            other => {
                return Err(Failure::Refused(StoreError::Backend {
                    doing: format!("committing to execution `{id}`"),
                    message: format!("this store cannot apply {other:?}"),
                }));
            }
        }
    }

    let insert_checkpoints = format!(
        "INSERT INTO {s}.checkpoints (execution_id, seq, key, kind, payload, checksum) \
         SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::smallint[], $5::bytea[], \
         $6::bigint[])"
    );
    let insert_events = format!(
        "INSERT INTO {s}.events \
         (execution_id, seq, at_ms, kind, address, attempt, duration_ms, details) \
         SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], \
         $6::bigint[], $7::bigint[], $8::text[])"
    );
    let (output, error, at_ms) = match &set_status {
        Some((output, error, at_ms)) => (output.clone(), error.clone(), Some(*at_ms)),
        None => (None, None, None),
    };
    let update = format!(
        "UPDATE {s}.executions SET next_checkpoint = $2, next_event = $3, \
         status = $4, \
         output = CASE WHEN $5 THEN $6 ELSE output END, \
         error = CASE WHEN $5 THEN $7 ELSE error END, \
         updated_ms = COALESCE($8, updated_ms), \
         redrives = $9, recoveries = $10, wake_at_ms = COALESCE($11, wake_at_ms) \
         WHERE id = $1"
    );
    let status_text = status.as_str();
    let has_status = set_status.is_some();
    let checkpoints = async {
        if cp.key.is_empty() {
            return Ok(0);
        }
        tx.execute(
            &insert_checkpoints,
            &[&id, &cp.seq, &cp.key, &cp.kind, &cp.payload, &cp.checksum],
        )
        .await
    };
    let events = async {
        if ev.seq.is_empty() {
            return Ok(0);
        }
        tx.execute(
            &insert_events,
            &[
                &id,
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
    let update_params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
        &id,
        &next_checkpoint,
        &next_event,
        &status_text,
        &has_status,
        &output,
        &error,
        &at_ms,
        &redrives,
        &recoveries,
        &wake_at,
    ];
    let row_update = tx.execute(&update, &update_params);
    // Pipelined: one round trip for the three.
    futures::try_join!(checkpoints, events, row_update).map_err(server)?;

    let notice = if before == ExecutionStatus::Running && status.is_finished() {
        Some(Notice::Finished { id: id.to_owned() })
    } else if before != ExecutionStatus::Running && status == ExecutionStatus::Running {
        Some(Notice::Runnable { workflow })
    } else {
        None
    };
    if let Some(notice) = notice {
        notify(inner, tx, &notice).await.map_err(server)?;
    }
    Ok(())
}

#[derive(Default)]
struct Checkpoints {
    seq: Vec<i64>,
    key: Vec<String>,
    kind: Vec<i16>,
    checksum: Vec<i64>,
    payload: Vec<Vec<u8>>,
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
