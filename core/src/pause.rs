//! Pause and unpause an execution on demand: [`request`] stores the request, and a
//! running execution holds before its next step ([`Recorder::hold`](crate::Recorder::hold)).
//!
//! A request is a checkpoint `~pause/{n}` (a [`Message`](crate::store::CheckpointKind::Message),
//! JSON `{"paused": true, "at_ms": …}`) written by the caller, with an
//! `ExecutionPaused` or `ExecutionUnpaused` event. The last request says whether the
//! execution is paused. While it is, the steps in flight finish (and are checkpointed)
//! and no new task step starts: the execution only waits, so a worker parks it, holding
//! no lease. Unpausing wakes it, and any worker goes on with it. A callback that arrives
//! meanwhile is taken by its waiting state; the step after it holds.

use serde::{Deserialize, Serialize};

use crate::history::{Event, EventDetails, EventKind};
use crate::replay::{Journal, Recorded, checksum};
use crate::store::{Checkpoint, CheckpointKind, Fence, Store, StoreError, Write};

/// Where request `n` is stored.
pub(crate) fn request_key(n: u64) -> String {
    format!("~pause/{n}")
}

/// A pause or unpause request, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Request {
    pub(crate) paused: bool,
    pub(crate) at_ms: u64,
}

/// Whether the last request the journal holds pauses the execution, and how many
/// requests there are.
pub fn paused(journal: &Journal) -> (bool, u64) {
    let mut count = 0;
    let mut paused = false;
    while let Some(entry) = journal.get(&request_key(count)) {
        if let Ok(request) = serde_json::from_slice::<Request>(&entry.payload) {
            paused = request.paused;
        }
        count += 1;
    }
    (paused, count)
}

/// Pauses (`paused: true`) or unpauses the running execution `id` of `store`: stores
/// the request with its event, and wakes the execution for an unpause. Returns whether
/// anything changed (`false`: it was already so).
///
/// # Errors
///
/// [`StoreError::NotFound`] for an unknown id, [`StoreError::NotRunning`] for an
/// execution that has ended, [`StoreError::Corrupt`] for a checkpoint that does not
/// match its checksum, or the store's failure.
pub async fn request(
    store: &dyn Store,
    id: &str,
    paused: bool,
    now_ms: u64,
) -> Result<bool, StoreError> {
    for _ in 0..8 {
        let record = store.execution(id).await?;
        if record.status.is_finished() {
            return Err(StoreError::NotRunning {
                id: id.to_owned(),
                status: record.status,
            });
        }
        let checkpoints = store.checkpoints(id).await?;
        let mut journal =
            Journal::load(id.to_owned(), checkpoints).map_err(|e| StoreError::Corrupt {
                detail: e.to_string(),
            })?;
        let (now_paused, n) = self::paused(&journal);
        if now_paused == paused {
            return Ok(false);
        }
        let payload = serde_json::to_vec(&Request {
            paused,
            at_ms: now_ms,
        })
        .expect("a request is JSON");
        let key = request_key(n);
        let Ok(Recorded::New(stored)) = journal.record(&key, CheckpointKind::Message, &payload)
        else {
            continue;
        };
        let kind = if paused {
            EventKind::ExecutionPaused
        } else {
            EventKind::ExecutionUnpaused
        };
        let mut writes = vec![
            Write::Checkpoint(Checkpoint {
                seq: 0,
                key: stored,
                kind: CheckpointKind::Message,
                checksum: checksum(&payload),
                payload,
            }),
            Write::Event(Box::new(Event {
                seq: 0,
                at_ms: now_ms,
                kind,
                address: String::new(),
                attempt: 1,
                duration_ms: None,
                details: EventDetails::default(),
            })),
        ];
        if !paused {
            writes.push(Write::Park { wake_at_ms: now_ms });
        }
        match store.commit(id, Fence::Unleased, writes).await {
            Ok(()) => return Ok(true),
            // Another request took this number: look again.
            Err(StoreError::Conflict { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::Conflict {
        id: id.to_owned(),
        key: "~pause".to_owned(),
    })
}
