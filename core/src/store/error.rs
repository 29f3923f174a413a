//! [`StoreError`]: why a [`Store`](super::Store) failed or refused.

use std::time::Duration;

use super::ExecutionStatus;
use crate::error::Error;

/// A failure of a [`Store`](super::Store).
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
    /// A commit or release carried a lease that no longer holds the execution: another
    /// owner took it over (this one stalled past its lease), or it was given up. Nothing
    /// of the batch was written. The run that gets it must stop: it is not the
    /// execution's runner any more.
    #[error(
        "execution `{id}` is no longer leased to `{owner}` (epoch {epoch}; the lease is now at epoch {current}); nothing was written"
    )]
    Fenced {
        /// The execution.
        id: String,
        /// The owner that tried to write.
        owner: String,
        /// The epoch of its lease.
        epoch: u64,
        /// The execution's lease epoch now.
        current: u64,
    },
    /// The store is closed (its writer stopped).
    #[error("the store is closed")]
    Closed,
    /// A [`Store::commit`](super::Store::commit) batch was refused because of the execution's status: it
    /// writes a checkpoint or an event to an execution that is not running, or changes
    /// its status in a way that is not allowed (only `running` → any status, and
    /// `failed` → `running` with `redrive: true`). Nothing of the batch was written.
    ///
    /// A batch that redrives a failed execution (it holds a `running` [`Write::Status`](super::Write::Status)
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
    /// `Store.NotRunning`, `Store.Fenced` or `Store.Failed`.
    pub fn into_error(self) -> Error {
        let name = match &self {
            StoreError::NotFound { .. } => "Store.NotFound",
            StoreError::Conflict { .. } => "Store.Conflict",
            StoreError::Leased { .. } => "Store.Leased",
            StoreError::Locked { .. } => "Store.Locked",
            StoreError::Corrupt { .. } => "Store.Corrupt",
            StoreError::NotRunning { .. } => "Store.NotRunning",
            StoreError::Fenced { .. } => "Store.Fenced",
            _ => "Store.Failed",
        };
        Error::with_kind(crate::ErrorKind::Runtime, name, self.to_string()).into_terminal()
    }
}
