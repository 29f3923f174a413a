//! [`StoreRecorder`]: replays an execution's journal and writes new checkpoints to its
//! store.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use waypost_core::error::{ErrorKind, names};
use waypost_core::replay::{Entry, Journal, Recorded, checksum};
use waypost_core::store::{Checkpoint, CheckpointKind, Write};
use waypost_core::{Codec, Error, Event, EventKind, HistoryLevel, Recorder, Store};

/// The [`Recorder`] of one durable execution.
pub(crate) struct StoreRecorder {
    id: Arc<str>,
    store: Arc<dyn Store>,
    codec: Arc<dyn Codec>,
    journal: Mutex<Journal>,
    max_payload: usize,
    history: Mutex<History>,
}

/// Events waiting for the next commit, and what the history already holds.
struct History {
    level: HistoryLevel,
    pending: Vec<Event>,
    /// (kind, address, attempt) of every event stored or pending: a replayed step
    /// reports its events again, and they must not be stored twice.
    seen: HashSet<(EventKind, String, u32)>,
}

impl StoreRecorder {
    pub(crate) fn new<'a>(
        id: &str,
        store: Arc<dyn Store>,
        codec: Arc<dyn Codec>,
        journal: Journal,
        max_payload: usize,
        level: HistoryLevel,
        stored: impl IntoIterator<Item = &'a Event>,
    ) -> Self {
        let seen = stored
            .into_iter()
            .map(|e| (e.kind, e.address.clone(), e.attempt))
            .collect();
        StoreRecorder {
            id: Arc::from(id),
            store,
            codec,
            journal: Mutex::new(journal),
            max_payload,
            history: Mutex::new(History {
                level,
                pending: Vec::new(),
                seen,
            }),
        }
    }

    /// The events waiting to be stored, as writes for the next commit.
    pub(crate) fn take_events(&self) -> Vec<Write> {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        history.pending.drain(..).map(Write::Event).collect()
    }
}

impl fmt::Debug for StoreRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreRecorder")
            .field("id", &self.id)
            .field("codec", &self.codec.name())
            .finish_non_exhaustive()
    }
}

impl Recorder for StoreRecorder {
    fn codec(&self) -> &dyn Codec {
        &*self.codec
    }

    fn replay(&self, key: &str) -> Option<Entry> {
        let journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        journal.get(key).cloned()
    }

    fn record(
        &self,
        records: Vec<(String, CheckpointKind, Vec<u8>)>,
    ) -> BoxFuture<'static, Result<(), Error>> {
        // Check every size before anything is written, so an oversized payload leaves
        // no partial batch behind.
        if let Some((key, _, payload)) = records.iter().find(|(_, _, p)| p.len() > self.max_payload)
        {
            let error = Error::with_kind(
                ErrorKind::Runtime,
                names::DATA_LIMIT_EXCEEDED,
                format!(
                    "checkpoint `{key}` of execution `{}` is {} bytes, over the limit of {} bytes",
                    self.id,
                    payload.len(),
                    self.max_payload
                ),
            )
            .into_terminal();
            return futures::future::ready(Err(error)).boxed();
        }
        let mut writes = Vec::with_capacity(records.len());
        {
            let mut journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, kind, payload) in records {
                match journal.record(&key, kind, &payload) {
                    Ok(Recorded::Unchanged) => {}
                    Ok(Recorded::New(stored_key)) => writes.push(Write::Checkpoint(Checkpoint {
                        seq: 0,
                        checksum: checksum(&payload),
                        key: stored_key,
                        kind,
                        payload,
                    })),
                    Err(conflict) => {
                        let error = Error::runtime(conflict.to_string());
                        return futures::future::ready(Err(error)).boxed();
                    }
                }
            }
        }
        if writes.is_empty() {
            return futures::future::ready(Ok(())).boxed();
        }
        // Events go with the checkpoint they describe: one transaction, one fsync.
        writes.extend(self.take_events());
        let (store, id) = (Arc::clone(&self.store), Arc::clone(&self.id));
        async move { store.commit(&id, writes).await.map_err(|e| e.into_error()) }.boxed()
    }

    fn generation(&self) -> u32 {
        let journal = self.journal.lock().unwrap_or_else(PoisonError::into_inner);
        journal.generation()
    }

    fn event(&self, event: Event) {
        let mut history = self.history.lock().unwrap_or_else(PoisonError::into_inner);
        if !history.level.keeps(event.kind) {
            return;
        }
        if history
            .seen
            .insert((event.kind, event.address.clone(), event.attempt))
        {
            history.pending.push(event);
        }
    }
}
