//! [`MemoryStore`]: executions, checkpoints, histories and leases in a map, for tests.
//!
//! It follows the same contract as [`SqliteStore`](super::SqliteStore), word for word
//! (the conformance tests run both): atomic batches, never-overwritten checkpoints,
//! per-execution `seq` numbers in commit order (for checkpoints and events alike),
//! the same lease rules ([`decide`], with this machine's liveness check), the same
//! status rules ([`batch_order`]), the same event for each recovery
//! ([`recovery_event`]). Nothing survives the process.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future;
use waypost_core::history::Event;
use waypost_core::store::{
    Checkpoint, Claim, ClaimRequest, Decision, ExecutionRecord, ExecutionStatus, Fence, Lease,
    LeaseState, LeaseToken, ListFilter, NewExecution, Notice, Notices, Notifier, Store, StoreError,
    StoreFuture, Write, batch_order, check_fence, claim_order, decide, expiry_ms, is_claimable,
    now_ms, recovery_event,
};

use crate::liveness::owner_is_dead;

/// A [`Store`] in memory: for tests, and for runs that need no durability.
///
/// Clones share the same executions.
///
/// # Examples
///
/// ```
/// use waypost::store::{NewExecution, Store};
/// use waypost::MemoryStore;
///
/// # futures::executor::block_on(async {
/// let store = MemoryStore::new();
/// let new = NewExecution {
///     id: "order-42".into(),
///     workflow: "orders".into(),
///     version: 1,
///     fingerprint: "f".into(),
///     codec: "json".into(),
///     input: b"{}".to_vec(),
///     graph: "{}".into(),
///     created_ms: 1,
/// };
/// let (_, created) = store.create(new.clone()).await.unwrap();
/// assert!(created);
/// let (_, created) = store.clone().create(new).await.unwrap();
/// assert!(!created, "clones share executions");
/// # });
/// ```
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    notifier: Notifier,
}

#[derive(Default)]
struct State {
    executions: HashMap<String, Execution>,
}

struct Execution {
    record: ExecutionRecord,
    /// In `seq` order; `checkpoints[i].seq == i + 1`.
    checkpoints: Vec<Checkpoint>,
    /// Key → index in `checkpoints`.
    by_key: HashMap<String, usize>,
    /// The history, in `seq` order; `events[i].seq == i + 1`.
    events: Vec<Event>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation below is checked before it starts, so a panic elsewhere while
        // the lock was held cannot have left the state half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn create_now(&self, new: NewExecution) -> (ExecutionRecord, bool) {
        let mut state = self.state();
        if let Some(existing) = state.executions.get(&new.id) {
            return (existing.record.clone(), false);
        }
        let workflow = new.workflow.clone();
        let record = ExecutionRecord {
            id: new.id,
            workflow: new.workflow,
            version: new.version,
            fingerprint: new.fingerprint,
            codec: new.codec,
            status: ExecutionStatus::Running,
            input: new.input,
            output: None,
            error: None,
            graph: new.graph,
            redrives: 0,
            recoveries: 0,
            created_ms: new.created_ms,
            updated_ms: new.created_ms,
            lease: None,
            lease_epoch: 0,
            wake_at_ms: new.created_ms,
        };
        state.executions.insert(
            record.id.clone(),
            Execution {
                record: record.clone(),
                checkpoints: Vec::new(),
                by_key: HashMap::new(),
                events: Vec::new(),
            },
        );
        drop(state);
        self.notifier.send(&Notice::Runnable { workflow });
        (record, true)
    }

    fn commit_now(&self, id: &str, fence: Fence<'_>, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut state = self.state();
        let execution = state
            .executions
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        let holder = execution.record.lease.as_ref().map(|l| l.owner.as_str());
        check_fence(id, fence, execution.record.lease_epoch, holder)?;
        let order = batch_order(id, execution.record.status, &writes)?;

        // Check every write before applying any, so that a refused batch leaves
        // nothing behind. Keys new in this batch are checked against each other too.
        let mut new_keys: HashMap<&str, &Checkpoint> = HashMap::new();
        for write in &writes {
            match write {
                Write::Checkpoint(checkpoint) => {
                    let existing = execution
                        .by_key
                        .get(&checkpoint.key)
                        .map(|&index| &execution.checkpoints[index])
                        .or_else(|| new_keys.get(checkpoint.key.as_str()).copied());
                    match existing {
                        Some(existing) if same_bytes(existing, checkpoint) => {}
                        Some(_) => {
                            return Err(StoreError::Conflict {
                                id: id.to_owned(),
                                key: checkpoint.key.clone(),
                            });
                        }
                        None => {
                            new_keys.insert(&checkpoint.key, checkpoint);
                        }
                    }
                }
                Write::Event(_) | Write::Status { .. } | Write::Park { .. } => {}
                other => {
                    return Err(StoreError::Backend {
                        doing: format!("committing to execution `{id}`"),
                        message: format!("this store cannot apply {other:?}"),
                    });
                }
            }
        }

        let before = execution.record.status;
        let mut writes: Vec<Option<Write>> = writes.into_iter().map(Some).collect();
        for write in order.into_iter().filter_map(|index| writes[index].take()) {
            match write {
                Write::Checkpoint(mut checkpoint) => {
                    if execution.by_key.contains_key(&checkpoint.key) {
                        continue; // an identical re-write: nothing changes
                    }
                    checkpoint.seq = execution.checkpoints.len() as u64 + 1;
                    execution
                        .by_key
                        .insert(checkpoint.key.clone(), execution.checkpoints.len());
                    execution.checkpoints.push(checkpoint);
                }
                Write::Event(mut event) => {
                    // The store numbers events; the incoming `seq` is ignored.
                    event.seq = execution.events.len() as u64 + 1;
                    execution.events.push(*event);
                }
                Write::Status {
                    status,
                    output,
                    error,
                    redrive,
                    at_ms,
                } => {
                    let record = &mut execution.record;
                    record.status = status;
                    record.output = output;
                    record.error = error;
                    record.updated_ms = at_ms;
                    if redrive {
                        record.redrives = record.redrives.saturating_add(1);
                        record.recoveries = 0;
                        record.wake_at_ms = at_ms;
                    }
                }
                Write::Park { wake_at_ms } => execution.record.wake_at_ms = wake_at_ms,
                // Refused by the check above.
                _ => {}
            }
        }
        let notice = notice_of(&execution.record, before);
        drop(state);
        if let Some(notice) = notice {
            self.notifier.send(&notice);
        }
        Ok(())
    }

    fn acquire_now(&self, id: &str, owner: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let mut state = self.state();
        let execution = state
            .executions
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        let now = now_ms();
        let decision = decide(
            id,
            execution.record.lease.as_ref(),
            owner,
            now,
            owner_is_dead,
        )?;
        Ok(take(execution, owner, ttl, now, decision))
    }

    fn renew_now(&self, id: &str, token: &LeaseToken, ttl: Duration) -> Result<Lease, StoreError> {
        let mut state = self.state();
        let execution = state
            .executions
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        let record = &mut execution.record;
        let holder = record.lease.as_ref().map(|l| l.owner.as_str());
        check_fence(id, Fence::Lease(token), record.lease_epoch, holder)?;
        let expires_ms = expiry_ms(now_ms(), ttl);
        record.lease = Some(LeaseState {
            owner: token.owner.clone(),
            expires_ms,
        });
        Ok(Lease {
            token: token.clone(),
            expires_ms,
            recovered_from: None,
        })
    }

    fn release_now(&self, id: &str, token: &LeaseToken) {
        let mut state = self.state();
        let Some(execution) = state.executions.get_mut(id) else {
            return;
        };
        let record = &mut execution.record;
        if record.lease_epoch == token.epoch
            && record
                .lease
                .as_ref()
                .is_some_and(|l| l.owner == token.owner)
        {
            record.lease = None;
            let notice = (record.status == ExecutionStatus::Running).then(|| Notice::Runnable {
                workflow: record.workflow.clone(),
            });
            drop(state);
            if let Some(notice) = notice {
                self.notifier.send(&notice);
            }
        }
    }

    fn claim_now(&self, request: &ClaimRequest) -> Vec<Claim> {
        let mut state = self.state();
        let now = now_ms();
        let mut due: Vec<&ExecutionRecord> = state
            .executions
            .values()
            .map(|execution| &execution.record)
            .filter(|record| is_claimable(record, request, now, owner_is_dead))
            .collect();
        due.sort_by(|a, b| claim_order(a, b));
        let ids: Vec<String> = due
            .into_iter()
            .take(request.limit)
            .map(|record| record.id.clone())
            .collect();
        let mut claims = Vec::with_capacity(ids.len());
        for id in &ids {
            let Some(execution) = state.executions.get_mut(id) else {
                continue;
            };
            let decision = match &execution.record.lease {
                None => Decision::Take,
                Some(held) => Decision::TakeOver {
                    from: held.owner.clone(),
                },
            };
            let lease = take(execution, &request.owner, request.ttl, now, decision);
            claims.push(Claim {
                record: execution.record.clone(),
                lease,
            });
        }
        claims
    }
}

/// Applies `decision` (from [`decide`]): `owner` holds the lease of `execution` for
/// `ttl` from `now`. A takeover of a running execution is a recovery: counted, and
/// recorded in the history, together (a finished execution has nothing to recover).
fn take(
    execution: &mut Execution,
    owner: &str,
    ttl: Duration,
    now: u64,
    decision: Decision,
) -> Lease {
    let record = &mut execution.record;
    let mut recovered_from = None;
    match decision {
        Decision::Renew => {}
        Decision::Take => record.lease_epoch += 1,
        Decision::TakeOver { from } => {
            record.lease_epoch += 1;
            if record.status == ExecutionStatus::Running {
                record.recoveries = record.recoveries.saturating_add(1);
                let mut event = recovery_event(owner, &from, record.recoveries, now);
                event.seq = execution.events.len() as u64 + 1;
                execution.events.push(event);
                recovered_from = Some(from);
            }
        }
    }
    let expires_ms = expiry_ms(now, ttl);
    record.lease = Some(LeaseState {
        owner: owner.to_owned(),
        expires_ms,
    });
    Lease {
        token: LeaseToken {
            owner: owner.to_owned(),
            epoch: record.lease_epoch,
        },
        expires_ms,
        recovered_from,
    }
}

/// What a commit that moved an execution from `before` to `record.status` tells the
/// subscribers: finished, or runnable again (a redrive).
pub(crate) fn notice_of(record: &ExecutionRecord, before: ExecutionStatus) -> Option<Notice> {
    notice_between(&record.id, &record.workflow, before, record.status)
}

/// What a commit that moved execution `id` (of `workflow`) from `before` to `after`
/// tells the subscribers: finished, or runnable again (a redrive).
pub(crate) fn notice_between(
    id: &str,
    workflow: &str,
    before: ExecutionStatus,
    after: ExecutionStatus,
) -> Option<Notice> {
    if before == ExecutionStatus::Running && after.is_finished() {
        Some(Notice::Finished { id: id.to_owned() })
    } else if before != ExecutionStatus::Running && after == ExecutionStatus::Running {
        Some(Notice::Runnable {
            workflow: workflow.to_owned(),
        })
    } else {
        None
    }
}

/// Whether a re-write at an existing key carries the same bytes (its `seq` aside).
fn same_bytes(existing: &Checkpoint, new: &Checkpoint) -> bool {
    existing.kind == new.kind
        && existing.checksum == new.checksum
        && existing.payload == new.payload
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MemoryStore")
            .field("executions", &state.executions.len())
            .finish_non_exhaustive()
    }
}

impl Store for MemoryStore {
    fn create(&self, new: NewExecution) -> StoreFuture<'_, (ExecutionRecord, bool)> {
        Box::pin(future::lazy(move |_| Ok(self.create_now(new))))
    }

    fn execution<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ExecutionRecord> {
        Box::pin(future::lazy(move |_| {
            self.state()
                .executions
                .get(id)
                .map(|execution| execution.record.clone())
                .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })
        }))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Vec<ExecutionRecord>> {
        Box::pin(future::lazy(move |_| {
            let state = self.state();
            let mut records: Vec<&ExecutionRecord> = state
                .executions
                .values()
                .map(|execution| &execution.record)
                .filter(|record| filter.status.is_none_or(|status| record.status == status))
                .filter(|record| {
                    filter
                        .workflow
                        .as_ref()
                        .is_none_or(|workflow| &record.workflow == workflow)
                })
                .filter(|record| {
                    filter
                        .id_contains
                        .as_ref()
                        .is_none_or(|part| record.id.contains(part.as_str()))
                })
                .collect();
            // Newest first, ties by id, both descending: the SQLite store's order.
            records.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
            let limit = filter.limit.unwrap_or(usize::MAX);
            Ok(records
                .into_iter()
                .skip(filter.offset)
                .take(limit)
                .cloned()
                .collect())
        }))
    }

    fn checkpoints<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Checkpoint>> {
        Box::pin(future::lazy(move |_| {
            self.state()
                .executions
                .get(id)
                .map(|execution| execution.checkpoints.clone())
                .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })
        }))
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        Box::pin(future::lazy(move |_| {
            self.state()
                .executions
                .get(id)
                .map(|execution| execution.events.clone())
                .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })
        }))
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        fence: Fence<'a>,
        writes: Vec<Write>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(future::lazy(move |_| self.commit_now(id, fence, writes)))
    }

    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        Box::pin(future::lazy(move |_| self.acquire_now(id, owner, ttl)))
    }

    fn renew_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a LeaseToken,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        Box::pin(future::lazy(move |_| self.renew_now(id, token, ttl)))
    }

    fn release_lease<'a>(&'a self, id: &'a str, token: &'a LeaseToken) -> StoreFuture<'a, ()> {
        Box::pin(future::lazy(move |_| {
            self.release_now(id, token);
            Ok(())
        }))
    }

    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> StoreFuture<'a, Vec<Claim>> {
        Box::pin(future::lazy(move |_| Ok(self.claim_now(request))))
    }

    fn notices(&self) -> Option<Notices> {
        Some(self.notifier.subscribe())
    }
}
