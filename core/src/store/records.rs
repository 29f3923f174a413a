//! The records a [`Store`](super::Store) keeps and the writes it applies.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::lease::LeaseState;
use crate::error::Error;
use crate::history::Event;

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
    /// A step's output, encoded with the execution's codec (or the state's own, named
    /// by a `{key}~codec` [`Decision`](Self::Decision) beside it).
    Output,
    /// A step's error (an [`Error`] encoded with the codec): the step finished failing.
    Failure,
    /// The label of the branch a choice took (UTF-8). Also the name of the codec a
    /// state with its own codec wrote its output with (`{key}~codec`, UTF-8; see
    /// [`per_state`](crate::codec::per_state)).
    Decision,
    /// A durable timer's deadline: milliseconds since the Unix epoch, 8 bytes
    /// little-endian. Also when an [at-most-once](crate::at_most_once) step started
    /// (`…~started`): like a deadline, a redrive sets it aside.
    Deadline,
    /// A redrive marker, stored at `~redrive/{n}` with the failed step's address as its
    /// payload: failures and deadlines recorded before it at that address, or below it
    /// (after `#`, `~` or `/`), are set aside; later checkpoints are stored under
    /// `r{n}:{key}`.
    Redrive,
    /// A callback state's token, stored at `{key}~callback` when the state starts: the
    /// BLAKE3 hash of the token's secret (32 bytes) and when it was issued (ms since
    /// the Unix epoch, 8 bytes little-endian). See [`callback`](crate::callback).
    Callback,
    /// A message sent to a waiting callback state by whoever holds its token (success,
    /// failure or heartbeat), stored at `{key}~callback~msg/{n}` as JSON by the sender:
    /// the one checkpoint a process other than the execution's runner writes.
    Message,
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
            CheckpointKind::Callback => 5,
            CheckpointKind::Message => 6,
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
            5 => CheckpointKind::Callback,
            6 => CheckpointKind::Message,
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

/// What [`Store::snapshot`](super::Store::snapshot) reads: an execution with its checkpoints and history.
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
    /// [`Store::acquire_lease`](super::Store::acquire_lease), which records each in the
    /// history ([`EventKind::ExecutionRecovered`](crate::EventKind::ExecutionRecovered));
    /// reset to 0 by a redrive.
    pub recoveries: u32,
    /// When it was started, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When its status last changed, in milliseconds since the Unix epoch.
    pub updated_ms: u64,
    /// Who holds its lease now (running it, or about to), if anyone: a lease that ran
    /// out is still shown until someone takes it.
    pub lease: Option<LeaseState>,
    /// How many times its lease changed hands: the epoch a run's writes are fenced
    /// with (see [`Fence`](super::Fence)).
    pub lease_epoch: u64,
    /// When a worker may run it, in milliseconds since the Unix epoch: its creation for
    /// a new execution, the end of the timer or retry backoff it parked on
    /// ([`Write::Park`]). `u64::MAX`: not by itself.
    pub wake_at_ms: u64,
}

impl ExecutionRecord {
    /// Whether it waits for a worker: running, due at `now_ms`, and leased by nobody
    /// (or by a holder whose lease ran out).
    pub fn waits_for_a_worker(&self, now_ms: u64) -> bool {
        self.status == ExecutionStatus::Running
            && self.wake_at_ms <= now_ms
            && self.lease.as_ref().is_none_or(|l| l.expires_ms <= now_ms)
    }
}

/// Which executions [`Store::list`](super::Store::list) returns, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only executions in this status.
    pub status: Option<ExecutionStatus>,
    /// Only executions of this workflow name.
    pub workflow: Option<String>,
    /// Only executions whose id contains this text (literally, case-sensitive).
    pub id_contains: Option<String>,
    /// Skips this many of the matching executions first (a page's start).
    pub offset: usize,
    /// At most this many (all when `None`).
    pub limit: Option<usize>,
}

/// One write of a [`Store::commit`](super::Store::commit) batch; a batch is applied atomically.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Write {
    /// Appends a checkpoint. Re-writing the same bytes at an existing key is accepted
    /// and changes nothing; other bytes at an existing key are refused with
    /// [`StoreError::Conflict`](super::StoreError::Conflict), never overwritten.
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
    /// Parks the running execution until `wake_at_ms` (milliseconds since the Unix
    /// epoch): its run is about to give its lease up while a durable timer or a retry
    /// backoff runs, and any worker may claim it once the time has come.
    Park {
        /// When it may run again.
        wake_at_ms: u64,
    },
}
