//! [`MemoryStore`]: executions, checkpoints, histories and leases in a map, for tests.
//!
//! It follows the same contract as [`SqliteStore`](super::SqliteStore), word for word
//! (the conformance tests run both): atomic batches, never-overwritten checkpoints,
//! per-execution `seq` numbers in commit order (for checkpoints and events alike),
//! the same lease rules (shared with it
//! through `sqlite::lease`), the same status rules (shared through [`batch_order`],
//! which the SQLite writer calls too), the same event for each recovery (made by
//! [`recovery_event`] in both). Nothing survives the process.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::future;
use waypost_core::history::{Event, EventDetails, EventKind};
use waypost_core::store::{
    Checkpoint, ExecutionRecord, ExecutionStatus, ListFilter, NewExecution, Store, StoreError,
    StoreFuture, Write,
};

use super::sqlite::lease;

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
}

#[derive(Default)]
struct State {
    executions: HashMap<String, Execution>,
    /// Execution id → (owner, expiry in ms since the Unix epoch).
    leases: HashMap<String, (String, u64)>,
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
        (record, true)
    }

    fn commit_now(&self, id: &str, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut state = self.state();
        let execution = state
            .executions
            .get_mut(id)
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
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
                Write::Event(_) | Write::Status { .. } => {}
                other => {
                    return Err(StoreError::Backend {
                        doing: format!("committing to execution `{id}`"),
                        message: format!("this store cannot apply {other:?}"),
                    });
                }
            }
        }

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
                    }
                }
                // Refused by the check above.
                _ => {}
            }
        }
        Ok(())
    }

    fn acquire_now(&self, id: &str, owner: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut state = self.state();
        if !state.executions.contains_key(id) {
            return Err(StoreError::NotFound { id: id.to_owned() });
        }
        let now = lease::now_ms();
        let holder = state
            .leases
            .get(id)
            .map(|(holder, expires)| (holder.as_str(), *expires));
        let took_over = lease::check(id, holder, owner, now)?;
        let previous = holder
            .filter(|_| took_over)
            .map(|(holder, _)| holder.to_owned());
        // A takeover of a running execution is a recovery: counted, and recorded in the
        // history, together (a finished execution has nothing left to recover).
        if let Some(previous) = previous
            && let Some(execution) = state.executions.get_mut(id)
            && execution.record.status == ExecutionStatus::Running
        {
            let record = &mut execution.record;
            record.recoveries = record.recoveries.saturating_add(1);
            let mut event = recovery_event(now, owner, &previous, record.recoveries);
            event.seq = execution.events.len() as u64 + 1;
            execution.events.push(event);
        }
        state.leases.insert(
            id.to_owned(),
            (owner.to_owned(), lease::expiry_ms(now, ttl)),
        );
        Ok(())
    }

    fn release_now(&self, id: &str, owner: &str) {
        let mut state = self.state();
        if state
            .leases
            .get(id)
            .is_some_and(|(holder, _)| holder == owner)
        {
            state.leases.remove(id);
        }
    }
}

/// Checks a [`Store::commit`] batch against the status of the execution `id`
/// (`before` the batch) and returns the order to apply it in, as indices into `writes`.
/// Both stores call it, so they accept and refuse the same batches.
///
/// The writes are checked one after the other, each against the status the execution
/// has at that point of the batch:
///
/// - a [`Write::Status`] may move a `running` execution to any status (`running`
///   again included), and a `failed` one back to `running` with `redrive: true`;
/// - a [`Write::Checkpoint`] needs a `running` execution;
/// - a [`Write::Event`] needs a `running` execution, or a batch whose status write
///   finished the running execution (the final events go with the final status).
///
/// A redrive (a `running` status with `redrive: true`) is applied first, before the
/// writes that come before it in the batch: its redrive marker and events are
/// written to the execution it set running. Every other write keeps its place.
///
/// Anything else refuses the whole batch with [`StoreError::NotRunning`], naming the
/// status the execution would have had at the refused write.
pub(in crate::store) fn batch_order(
    id: &str,
    before: ExecutionStatus,
    writes: &[Write],
) -> Result<Vec<usize>, StoreError> {
    let redrive = writes.iter().position(|write| {
        matches!(
            write,
            Write::Status {
                status: ExecutionStatus::Running,
                redrive: true,
                ..
            }
        )
    });
    let order: Vec<usize> = redrive
        .into_iter()
        .chain((0..writes.len()).filter(|&index| Some(index) != redrive))
        .collect();

    let not_running = |status| StoreError::NotRunning {
        id: id.to_owned(),
        status,
    };
    let mut current = before;
    // Whether a status write of this batch finished the execution while it was running.
    let mut finished_here = false;
    for &index in &order {
        match &writes[index] {
            Write::Status {
                status, redrive, ..
            } => {
                let allowed = match current {
                    ExecutionStatus::Running => true,
                    ExecutionStatus::Failed => *status == ExecutionStatus::Running && *redrive,
                    _ => false,
                };
                if !allowed {
                    return Err(not_running(current));
                }
                if current == ExecutionStatus::Running && status.is_finished() {
                    finished_here = true;
                }
                current = *status;
            }
            Write::Checkpoint(_) if current != ExecutionStatus::Running => {
                return Err(not_running(current));
            }
            Write::Event(_) if current != ExecutionStatus::Running && !finished_here => {
                return Err(not_running(current));
            }
            // Checked by each store (`Write` is non-exhaustive).
            _ => {}
        }
    }
    Ok(order)
}

/// The `ExecutionRecovered` event of a takeover at `at_ms` by `owner` from `previous`,
/// which made `recoveries` the execution's recovery count. Both stores write it with the
/// takeover (see [`Store::acquire_lease`]).
pub(in crate::store) fn recovery_event(
    at_ms: u64,
    owner: &str,
    previous: &str,
    recoveries: u32,
) -> Event {
    Event {
        seq: 0,
        at_ms,
        kind: EventKind::ExecutionRecovered,
        address: String::new(),
        attempt: 1,
        duration_ms: None,
        details: EventDetails {
            owner: Some(owner.to_owned()),
            previous_owner: Some(previous.to_owned()),
            recoveries: Some(recoveries),
            ..EventDetails::default()
        },
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
            .field("leases", &state.leases.len())
            .finish()
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
                .collect();
            // Newest first, ties by id, both descending: the SQLite store's order.
            records.sort_by(|a, b| (b.created_ms, &b.id).cmp(&(a.created_ms, &a.id)));
            let limit = filter.limit.unwrap_or(usize::MAX);
            Ok(records.into_iter().take(limit).cloned().collect())
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

    fn commit<'a>(&'a self, id: &'a str, writes: Vec<Write>) -> StoreFuture<'a, ()> {
        Box::pin(future::lazy(move |_| self.commit_now(id, writes)))
    }

    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(future::lazy(move |_| self.acquire_now(id, owner, ttl)))
    }

    fn release_lease<'a>(&'a self, id: &'a str, owner: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(future::lazy(move |_| {
            self.release_now(id, owner);
            Ok(())
        }))
    }
}
