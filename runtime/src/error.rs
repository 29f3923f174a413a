//! [`RunError`]: why starting, resuming or redriving an execution did not give an output.

use waypost_core::replay::ReplayError;
use waypost_core::{Error, ExecutionStatus, StoreError};

/// Why an execution did not produce its output.
///
/// [`Failed`](RunError::Failed) is the workflow's own failure (a step's error); every
/// other variant is about the request or the store, and says which execution.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The workflow failed: a step's error reached the root.
    #[error("execution `{id}` failed: {error}")]
    Failed {
        /// The execution.
        id: String,
        /// The error, with the address of the step that failed.
        error: Error,
    },
    /// The runtime could not go on (a store failure, a checkpoint that does not decode):
    /// the execution is not marked failed and can be resumed once the cause is fixed.
    #[error("execution `{id}` stopped and stays resumable: {error}")]
    Stopped {
        /// The execution.
        id: String,
        /// What stopped it, and where.
        error: Error,
    },
    /// The execution was cancelled.
    #[error("execution `{id}` was cancelled")]
    Cancelled {
        /// The execution.
        id: String,
    },
    /// The id is taken by an execution with another input.
    #[error(
        "execution `{id}` already exists with a different input; start it again with the \
         same input to get its result, or choose another id"
    )]
    InputMismatch {
        /// The execution.
        id: String,
    },
    /// The id is taken by an execution of another workflow.
    #[error("execution `{id}` belongs to workflow `{stored}`, not `{given}`")]
    WorkflowMismatch {
        /// The execution.
        id: String,
        /// The workflow it was started with.
        stored: String,
        /// The workflow it was asked to run with.
        given: String,
    },
    /// Resume or cancel was asked of an execution that has finished.
    #[error("execution `{id}` has already ended ({status}); there is nothing to {action}{hint}", hint = if *status == ExecutionStatus::Failed && *action == "resume" { " (redrive a failed one)" } else { "" })]
    Finished {
        /// The execution.
        id: String,
        /// How it finished.
        status: ExecutionStatus,
        /// What was asked: `resume` or `cancel`.
        action: &'static str,
    },
    /// Redrive was asked of an execution that has not failed.
    #[error("execution `{id}` is {status}; only failed executions can be redriven")]
    NotRedrivable {
        /// The execution.
        id: String,
        /// Where it stands.
        status: ExecutionStatus,
    },
    /// A payload is larger than the runtime's limit; nothing was written for it.
    #[error("{what} of execution `{id}` is {size} bytes, over the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The execution.
        id: String,
        /// Which payload.
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The execution's payloads use a codec this program does not have.
    #[error("execution `{id}` is stored with codec `{codec}`, which this program does not know")]
    UnknownCodec {
        /// The execution.
        id: String,
        /// The codec's name.
        codec: String,
    },
    /// An input or output could not be encoded or decoded.
    #[error("execution `{id}`: {error}")]
    Codec {
        /// The execution.
        id: String,
        /// What failed, and where.
        error: Error,
    },
    /// A worker parked the execution: it only waited on a durable timer (a `wait`, a
    /// retry backoff) ending at `until_ms`, so the worker gave its lease back; any
    /// worker resumes it then. Only a worker's runs end so.
    #[error(
        "execution `{id}` is parked until {until_ms} ms since the Unix epoch; a worker resumes it then"
    )]
    Parked {
        /// The execution.
        id: String,
        /// When its first timer ends, in milliseconds since the Unix epoch.
        until_ms: u64,
    },
    /// A message to a callback state was not delivered: a wrong, reused or foreign
    /// token, an execution that ended (the error's name says which), or its store failed.
    #[error("{error}")]
    Callback {
        /// What went wrong (named `Callback.…`).
        error: Error,
    },
    /// The runtime has no store, and the operation needs one.
    #[error("this runtime has no store: build it with `Runtime::builder().store(..)`")]
    NoStore,
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored checkpoints cannot be replayed: corrupt, or the workflow changed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl RunError {
    /// The workflow's error, when the workflow failed or stopped.
    pub fn error(&self) -> Option<&Error> {
        match self {
            RunError::Failed { error, .. } | RunError::Stopped { error, .. } => Some(error),
            _ => None,
        }
    }
}
