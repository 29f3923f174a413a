//! The sender's side: [`deliver`] a [`Message`] to the state a token names, and read
//! its [`verdict`].

use crate::error::Error;
use crate::replay::{Journal, Recorded, checksum};
use crate::store::{Checkpoint, CheckpointKind, ExecutionStatus, Fence, Store, StoreError, Write};

use super::message::{Envelope, Message};
use super::token::{CallbackToken, names};
use super::{message_key, refused_key, registration_key};

/// Where a delivered message went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The execution.
    pub execution_id: String,
    /// The state's checkpoint key.
    pub key: String,
    /// The message's number among those sent to the state, from 0.
    pub number: u64,
}

/// What the waiting state made of a delivered success or failure.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Verdict {
    /// The state took its result (from this message or an earlier one): the execution
    /// goes on.
    Accepted,
    /// The state refused the message (the output does not decode as its output type)
    /// and goes on waiting: the token can be used again.
    Refused(Error),
}

/// How often a delivery is tried again when another one took its message number.
const ATTEMPTS: usize = 8;

/// Stores `message` for the callback state `token` names, durably, and makes the
/// execution runnable (a parked execution is woken; a heartbeat wakes nothing). The
/// state takes it when its runner looks next: at once when it runs, or when a worker
/// claims the parked execution.
///
/// `now_ms` is when it is sent (milliseconds since the Unix epoch).
///
/// # Errors
///
/// Named errors ([`names`](super::names)) that say what is wrong and where:
/// `Callback.UnknownToken` (no such execution in this store, no such callback state, or
/// not its secret), `Callback.AlreadyCompleted` (the state has its result, or a result
/// waits to be taken), `Callback.ExecutionEnded`; or the store's failure.
pub async fn deliver(
    store: &dyn Store,
    token: &CallbackToken,
    message: &Message,
    now_ms: u64,
) -> Result<Delivered, Error> {
    let payload = serde_json::to_vec(&Envelope {
        at_ms: now_ms,
        message: message.clone(),
    })
    .map_err(|e| {
        Error::runtime(format!(
            "the {} message for `{}` cannot be written as JSON: {e}",
            message.kind(),
            token.key()
        ))
    })?;
    let id = token.execution_id();
    for _ in 0..ATTEMPTS {
        let journal = waiting_state(store, token).await?;
        let key = token.key();
        if !matches!(message, Message::Heartbeat)
            && let Some(n) = pending_result(&journal, key)
        {
            return Err(Error::new(
                names::ALREADY_COMPLETED,
                format!(
                    "callback state `{key}` of execution `{id}` was already sent a result \
                         (message {n}), which waits to be taken; a token completes its state once"
                ),
            ));
        }
        let number = (0u64..)
            .find(|&n| journal.get(&message_key(key, n)).is_none())
            .expect("a free message number");
        let mut journal = journal;
        let stored =
            match journal.record(&message_key(key, number), CheckpointKind::Message, &payload) {
                Ok(Recorded::New(stored)) => stored,
                // Another sender took this number meanwhile with the very same bytes.
                Ok(Recorded::Unchanged) | Err(_) => continue,
            };
        let mut writes = vec![Write::Checkpoint(Checkpoint {
            seq: 0,
            key: stored,
            kind: CheckpointKind::Message,
            checksum: checksum(&payload),
            payload: payload.clone(),
        })];
        if !matches!(message, Message::Heartbeat) {
            writes.push(Write::Park { wake_at_ms: now_ms });
        }
        match store.commit(id, Fence::Unleased, writes).await {
            Ok(()) => {
                return Ok(Delivered {
                    execution_id: id.to_owned(),
                    key: key.to_owned(),
                    number,
                });
            }
            // Another sender wrote this number first: count again.
            Err(StoreError::Conflict { .. }) => {}
            Err(StoreError::NotRunning { status, .. }) => return Err(ended(token, status)),
            Err(error) => return Err(error.into_error()),
        }
    }
    Err(Error::runtime(format!(
        "callback state `{}` of execution `{id}` is sent too many messages at once; \
         {ATTEMPTS} tries to store this one lost the race",
        token.key()
    )))
}

/// What the callback state made of the success or failure `delivered` sent, if it took
/// it yet.
///
/// # Errors
///
/// When the store fails, or the execution is gone.
pub async fn verdict(store: &dyn Store, delivered: &Delivered) -> Result<Option<Verdict>, Error> {
    let id = &delivered.execution_id;
    let checkpoints = store
        .checkpoints(id)
        .await
        .map_err(StoreError::into_error)?;
    let journal =
        Journal::load(id.clone(), checkpoints).map_err(|e| Error::runtime(e.to_string()))?;
    if let Some(entry) = journal.get(&refused_key(&delivered.key, delivered.number)) {
        let error = serde_json::from_slice::<Error>(&entry.payload).unwrap_or_else(|e| {
            Error::runtime(format!(
                "the refusal of message {} reads as no error: {e}",
                delivered.number
            ))
        });
        return Ok(Some(Verdict::Refused(error)));
    }
    if journal.get(&delivered.key).is_some() {
        return Ok(Some(Verdict::Accepted));
    }
    match store
        .execution(id)
        .await
        .map_err(StoreError::into_error)?
        .status
    {
        ExecutionStatus::Running => Ok(None),
        // It ended without taking it (cancelled, or failed elsewhere).
        status => Ok(Some(Verdict::Refused(ended_error(id, status)))),
    }
}

/// The journal of the execution whose state `token` names, once the token is known to
/// be that state's and the state still waits.
async fn waiting_state(store: &dyn Store, token: &CallbackToken) -> Result<Journal, Error> {
    let (id, key) = (token.execution_id(), token.key());
    let unknown = |why: String| {
        Error::new(
            names::UNKNOWN_TOKEN,
            format!("the callback token for `{key}` of execution `{id}` is not known here: {why}"),
        )
    };
    let record = match store.execution(id).await {
        Ok(record) => record,
        Err(StoreError::NotFound { .. }) => {
            return Err(unknown("this store has no such execution".into()));
        }
        Err(error) => return Err(error.into_error()),
    };
    let checkpoints = store
        .checkpoints(id)
        .await
        .map_err(StoreError::into_error)?;
    let journal =
        Journal::load(id.to_owned(), checkpoints).map_err(|e| Error::runtime(e.to_string()))?;
    let Some(registration) = journal.get(&registration_key(key)) else {
        return Err(unknown("no callback state issued a token there".into()));
    };
    if registration.kind != CheckpointKind::Callback
        || registration.payload.len() < 16
        || !token.matches(&registration.payload[..16])
    {
        return Err(unknown("it is not the token that state issued".into()));
    }
    if record.status.is_finished() {
        return Err(ended(token, record.status));
    }
    if journal.get(key).is_some() {
        return Err(Error::new(
            names::ALREADY_COMPLETED,
            format!(
                "callback state `{key}` of execution `{id}` already has its result; a token \
                 completes its state once"
            ),
        ));
    }
    Ok(journal)
}

/// The number of a success or failure sent to the state at `key` that it has not
/// refused: a result on its way.
fn pending_result(journal: &Journal, key: &str) -> Option<u64> {
    (0u64..)
        .map_while(|n| journal.get(&message_key(key, n)).map(|entry| (n, entry)))
        .find(|(n, entry)| {
            let result = serde_json::from_slice::<Envelope>(&entry.payload)
                .is_ok_and(|e| !matches!(e.message, Message::Heartbeat));
            result && journal.get(&refused_key(key, *n)).is_none()
        })
        .map(|(n, _)| n)
}

fn ended(token: &CallbackToken, status: ExecutionStatus) -> Error {
    ended_error(token.execution_id(), status)
}

fn ended_error(id: &str, status: ExecutionStatus) -> Error {
    Error::new(
        names::EXECUTION_ENDED,
        format!("execution `{id}` has ended ({status}); its callback states take no more messages"),
    )
}
