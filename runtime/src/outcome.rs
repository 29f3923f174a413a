//! What a finished execution gives its callers: the encoded output, or why there is none.

use std::sync::Arc;

use waypost_core::codec::decode;
use waypost_core::replay::fingerprint;
use waypost_core::store::ExecutionRecord;
use waypost_core::{Codec, Error, ExecutionStatus, Payload, StoreError, Workflow};

use crate::error::RunError;

/// How a finished execution ended: its encoded output, or why there is none.
pub(crate) type Outcome = Result<Arc<Vec<u8>>, RunError>;

/// A run's result as its callers share it: the encoded output and the codec that reads
/// it, so that joining callers decode without another trip to the store.
#[derive(Clone)]
pub(crate) struct Encoded {
    pub(crate) bytes: Arc<Vec<u8>>,
    pub(crate) codec: Arc<dyn Codec>,
}

impl Encoded {
    pub(crate) fn decode<O: Payload>(&self, id: &str) -> Result<O, RunError> {
        decode_output(&*self.codec, id, &self.bytes)
    }
}

/// The encoded output of a finished execution, or how it ended.
pub(crate) fn outcome_of(record: &ExecutionRecord) -> Outcome {
    let id = record.id.clone();
    match record.status {
        ExecutionStatus::Succeeded => record.output.clone().map(Arc::new).ok_or_else(|| {
            RunError::Store(StoreError::Corrupt {
                detail: format!("execution `{id}` succeeded but has no output"),
            })
        }),
        ExecutionStatus::Cancelled => Err(RunError::Cancelled { id }),
        ExecutionStatus::Failed => Err(RunError::Failed {
            error: record
                .error
                .clone()
                .unwrap_or_else(|| Error::runtime("failed without a recorded error")),
            id,
        }),
        ExecutionStatus::Running => Err(RunError::Store(StoreError::Corrupt {
            detail: format!("execution `{id}` has no outcome yet"),
        })),
        _ => Err(RunError::Store(StoreError::Corrupt {
            detail: format!("execution `{id}` has an unknown status"),
        })),
    }
}

pub(crate) fn decode_output<O: Payload>(
    codec: &dyn Codec,
    id: &str,
    bytes: &[u8],
) -> Result<O, RunError> {
    decode(codec, bytes, &format!("the output of execution `{id}`")).map_err(|error| {
        RunError::Codec {
            id: id.to_owned(),
            error,
        }
    })
}

/// Whether the stored input is the one given, encoded (`given`) and seen as JSON
/// (`as_json`): the same bytes, or the same value (a codec may encode one value in
/// several ways).
pub(crate) fn same_encoded_input<I: Payload>(
    codec: &dyn Codec,
    stored: &[u8],
    given: &[u8],
    as_json: Option<serde_json::Value>,
) -> bool {
    if given == stored {
        return true;
    }
    match (decode::<I>(codec, stored, "the stored input"), as_json) {
        (Ok(stored), Some(given)) => serde_json::to_value(&stored).is_ok_and(|s| s == given),
        _ => false,
    }
}

/// Whether `workflow` may run (or hand out the result of) the stored execution: the
/// same name always; the same version and structure unless `allow_changed`.
pub(crate) fn check_workflow<I, O>(
    workflow: &Workflow<I, O>,
    record: &ExecutionRecord,
    allow_changed: bool,
) -> Result<(), RunError> {
    if record.workflow != workflow.name() {
        return Err(RunError::WorkflowMismatch {
            id: record.id.clone(),
            stored: record.workflow.clone(),
            given: workflow.name().to_owned(),
        });
    }
    fingerprint::check(
        &record.id,
        workflow.name(),
        (record.version, &record.fingerprint),
        (workflow.version(), workflow.fingerprint()),
        if allow_changed {
            fingerprint::Changed::Allow
        } else {
            fingerprint::Changed::Refuse
        },
    )?;
    Ok(())
}
