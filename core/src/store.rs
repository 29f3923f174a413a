//! Where executions and their checkpoints live: the [`Store`] trait.
//!
//! A store keeps, per execution, one [`ExecutionRecord`] and an append-only list of
//! [`Checkpoint`]s. The runtime writes through [`Store::commit`], whose future resolves
//! once the writes are durable (as durable as the store is configured to be). Stores
//! are shared by many executions at once, and possibly by several processes: the
//! execution lease ([`Store::acquire_lease`]) makes sure only one of them runs an
//! execution at a time.
//!
//! `waypost-runtime` implements it in memory (for tests) and on SQLite (the embedded
//! default). The trait is dyn-compatible; every method returns a boxed future.

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::history::Event;

/// The future a [`Store`] method returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Where an execution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ExecutionStatus {
    /// Started and not finished: running now, or interrupted and waiting to be resumed.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error; can be redriven.
    Failed,
    /// Cancelled by a caller.
    Cancelled,
}

impl ExecutionStatus {
    /// The status as stored: `running`, `succeeded`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "running",
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "running" => ExecutionStatus::Running,
            "succeeded" => ExecutionStatus::Succeeded,
            "failed" => ExecutionStatus::Failed,
            "cancelled" => ExecutionStatus::Cancelled,
            _ => return None,
        })
    }

    /// Whether the execution has finished (succeeded, failed or cancelled).
    pub fn is_finished(self) -> bool {
        self != ExecutionStatus::Running
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a checkpoint records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CheckpointKind {
    /// A step's output, encoded with the execution's codec.
    Output,
    /// A step's error (an [`Error`] encoded with the codec): the step finished failing.
    Failure,
    /// The label of the branch a choice took (UTF-8).
    Decision,
    /// A durable timer's deadline: milliseconds since the Unix epoch, 8 bytes little-endian.
    Deadline,
    /// A redrive marker, stored at `~redrive/{n}` with the failed step's address as its
    /// payload: failures and deadlines recorded before it at that address, or below it
    /// (after `#`, `~` or `/`), are set aside; later checkpoints are stored under
    /// `r{n}:{key}`.
    Redrive,
}

impl CheckpointKind {
    /// The kind as a small integer, for storage.
    pub fn code(self) -> u8 {
        match self {
            CheckpointKind::Output => 0,
            CheckpointKind::Failure => 1,
            CheckpointKind::Decision => 2,
            CheckpointKind::Deadline => 3,
            CheckpointKind::Redrive => 4,
        }
    }

    /// Parses [`code`](Self::code)'s output.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => CheckpointKind::Output,
            1 => CheckpointKind::Failure,
            2 => CheckpointKind::Decision,
            3 => CheckpointKind::Deadline,
            4 => CheckpointKind::Redrive,
            _ => return None,
        })
    }
}

/// One checkpoint of an execution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The position in the execution's order of writes, given by the store (0 before).
    pub seq: u64,
    /// The key: the step's address, plus `#attempt` parts inside retries, plus a suffix
    /// for non-output records (such as `~delay`).
    pub key: String,
    /// What the payload is.
    pub kind: CheckpointKind,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// CRC-32 of the payload, computed by the runtime before writing, checked on load.
    pub checksum: u32,
}

/// What a new execution is started with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewExecution {
    /// The execution id, unique in the store.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow's version.
    pub version: u32,
    /// The fingerprint of the workflow's structure.
    pub fingerprint: String,
    /// The codec of every payload of the execution.
    pub codec: String,
    /// The encoded input.
    pub input: Vec<u8>,
    /// The workflow's graph, as JSON, for tools that do not have the workflow's code.
    pub graph: String,
    /// When it was started, in milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// What [`Store::snapshot`] reads: an execution with its checkpoints and history.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The execution.
    pub record: ExecutionRecord,
    /// Its checkpoints, in `seq` order.
    pub checkpoints: Vec<Checkpoint>,
    /// Its history, in `seq` order.
    pub history: Vec<Event>,
}

/// An execution as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct ExecutionRecord {
    /// The execution id.
    pub id: String,
    /// The workflow's name.
    pub workflow: String,
    /// The workflow's version.
    pub version: u32,
    /// The fingerprint of the workflow's structure it was started with.
    pub fingerprint: String,
    /// The codec of every payload.
    pub codec: String,
    /// Where it stands.
    pub status: ExecutionStatus,
    /// The encoded input.
    pub input: Vec<u8>,
    /// The encoded output, once succeeded.
    pub output: Option<Vec<u8>>,
    /// The error, once failed or cancelled.
    pub error: Option<Error>,
    /// The workflow's graph, as JSON.
    pub graph: String,
    /// How many times it was redriven.
    pub redrives: u32,
    /// How many times a run took it over from an owner that stopped without finishing
    /// it (a crashed process, or one that lost its lease): counted by
    /// [`Store::acquire_lease`], which records each in the history
    /// ([`EventKind::ExecutionRecovered`](crate::EventKind::ExecutionRecovered)); reset to
    /// 0 by a redrive.
    pub recoveries: u32,
    /// When it was started, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When its status last changed, in milliseconds since the Unix epoch.
    pub updated_ms: u64,
}

/// Which executions [`Store::list`] returns, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only executions in this status.
    pub status: Option<ExecutionStatus>,
    /// Only executions of this workflow name.
    pub workflow: Option<String>,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

/// One write of a [`Store::commit`] batch; a batch is applied atomically.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Write {
    /// Appends a checkpoint. Re-writing the same bytes at an existing key is accepted
    /// and changes nothing; other bytes at an existing key are refused with
    /// [`StoreError::Conflict`], never overwritten.
    Checkpoint(Checkpoint),
    /// Appends an event to the execution's history (the store gives it its `seq`).
    /// Boxed: an event with its details is several times the size of the other writes.
    Event(Box<Event>),
    /// Sets the execution's status (and its output or error); `redrive` counts a redrive
    /// (and resets [`ExecutionRecord::recoveries`] to 0).
    Status {
        /// The new status.
        status: ExecutionStatus,
        /// The encoded output, for `Succeeded`.
        output: Option<Vec<u8>>,
        /// The error, for `Failed` or `Cancelled`.
        error: Option<Error>,
        /// Whether this write starts a redrive (increments the redrive count and resets
        /// the recovery count).
        redrive: bool,
        /// When, in milliseconds since the Unix epoch.
        at_ms: u64,
    },
}

/// A failure of a [`Store`].
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No execution has this id.
    #[error("no execution with id `{id}` in the store")]
    NotFound {
        /// The id asked for.
        id: String,
    },
    /// Different bytes for a key that already holds a checkpoint.
    #[error(
        "checkpoint `{key}` of execution `{id}` already holds different bytes; it is never overwritten"
    )]
    Conflict {
        /// The execution.
        id: String,
        /// The checkpoint key.
        key: String,
    },
    /// Another owner holds the execution's lease.
    #[error("execution `{id}` is being run by `{owner}` (lease held for {remaining:?} more)")]
    Leased {
        /// The execution.
        id: String,
        /// Who holds the lease.
        owner: String,
        /// How long the lease still runs unless renewed.
        remaining: Duration,
    },
    /// The file is not a store (not a database, or a database of something else).
    #[error("`{path}` is not a waypost store: {reason}")]
    NotAStore {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store was written by a newer waypost.
    #[error(
        "`{path}` has store schema version {found}; this waypost reads up to version {supported}"
    )]
    NewerSchema {
        /// The file.
        path: String,
        /// The version in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// Another process holds a lock on the store file for longer than the busy timeout.
    #[error("`{path}` is locked by another process (waited {waited:?})")]
    Locked {
        /// The file.
        path: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A stored value is damaged.
    #[error("corrupt data in the store: {detail}")]
    Corrupt {
        /// What and where.
        detail: String,
    },
    /// The store's backend failed (I/O, disk full, ...).
    #[error("store failed while {doing}: {message}")]
    Backend {
        /// What the store was doing.
        doing: String,
        /// The backend's message.
        message: String,
    },
    /// The store is closed (its writer stopped).
    #[error("the store is closed")]
    Closed,
    /// A [`Store::commit`] batch was refused because of the execution's status: it
    /// writes a checkpoint or an event to an execution that is not running, or changes
    /// its status in a way that is not allowed (only `running` → any status, and
    /// `failed` → `running` with `redrive: true`). Nothing of the batch was written.
    ///
    /// A batch that redrives a failed execution (it holds a `running` [`Write::Status`]
    /// with `redrive: true`) is checked as if that status came first; the events of a
    /// batch that finishes a running execution are accepted with its final status.
    #[error("execution `{id}` is {status}, not running; nothing was written")]
    NotRunning {
        /// The execution.
        id: String,
        /// Its status when the refused write would have applied.
        status: ExecutionStatus,
    },
}

impl StoreError {
    /// This failure as a terminal runtime [`Error`] named `Store.NotFound`,
    /// `Store.Conflict`, `Store.Leased`, `Store.Locked`, `Store.Corrupt`,
    /// `Store.NotRunning` or `Store.Failed`.
    pub fn into_error(self) -> Error {
        let name = match &self {
            StoreError::NotFound { .. } => "Store.NotFound",
            StoreError::Conflict { .. } => "Store.Conflict",
            StoreError::Leased { .. } => "Store.Leased",
            StoreError::Locked { .. } => "Store.Locked",
            StoreError::Corrupt { .. } => "Store.Corrupt",
            StoreError::NotRunning { .. } => "Store.NotRunning",
            _ => "Store.Failed",
        };
        Error::with_kind(crate::ErrorKind::Runtime, name, self.to_string()).into_terminal()
    }
}

/// Keeps executions and their checkpoints. See the [module docs](self).
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Creates the execution, or returns the one that already has this id. The `bool`
    /// is `true` when it was created by this call. Creating is durable when the future
    /// resolves.
    fn create(&self, new: NewExecution) -> StoreFuture<'_, (ExecutionRecord, bool)>;

    /// The execution with this id.
    fn execution<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ExecutionRecord>;

    /// Executions matching `filter`, newest first.
    fn list<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Vec<ExecutionRecord>>;

    /// Every checkpoint of the execution, in `seq` order, with `seq` filled in.
    fn checkpoints<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Checkpoint>>;

    /// The execution's history, in `seq` order, with `seq` filled in.
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>>;

    /// The execution, its checkpoints and its history, as a run needs them to resume
    /// it; a store that can should read them in one snapshot (and one round trip).
    fn snapshot<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Snapshot> {
        Box::pin(async move {
            Ok(Snapshot {
                record: self.execution(id).await?,
                checkpoints: self.checkpoints(id).await?,
                history: self.history(id).await?,
            })
        })
    }

    /// Applies `writes` to the execution atomically; durable when the future resolves.
    /// Many concurrent commits may share one transaction (group commit).
    fn commit<'a>(&'a self, id: &'a str, writes: Vec<Write>) -> StoreFuture<'a, ()>;

    /// Takes (or renews) the lease on the execution for `owner`, for `ttl`. Fails with
    /// [`StoreError::Leased`] while another owner's lease runs; a lease whose owner is
    /// known to be dead may be taken over at once.
    ///
    /// Taking the lease of a running execution over from another owner (its lease ran
    /// out, or it is known to be dead: it stopped without finishing the run) is a
    /// recovery of the execution. In the same atomic, durable step as the takeover, the
    /// store increments [`ExecutionRecord::recoveries`] and appends an
    /// [`ExecutionRecovered`](crate::EventKind::ExecutionRecovered) event to the history,
    /// whose details name the new `owner`, the `previous_owner` and the new count
    /// (`recoveries`): a history never misses a recovery the count has. Taking a free
    /// lease, renewing one's own, or taking over the lease of a finished execution is
    /// not a recovery. A store with worker leases (such as PostgreSQL) does the same with
    /// one conditional `UPDATE` and an `INSERT` in its transaction.
    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Gives the lease up, if `owner` holds it.
    fn release_lease<'a>(&'a self, id: &'a str, owner: &'a str) -> StoreFuture<'a, ()>;
}
