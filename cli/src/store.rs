//! Opening the store file read-only, and reading it with errors that say what to do.
//!
//! The store's futures do their work inline when no tokio runtime is running (the
//! SQLite store reads on the calling thread), so a plain `block_on` drives them.

use std::future::Future;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use waypost_core::Graph;
use waypost_core::history::Event;
use waypost_core::store::{ExecutionRecord, ListFilter, Store, StoreError};
use waypost_runtime::SqliteStore;

/// Opens the store at `path` for reading only. A missing file is an error, never
/// created; a store of a newer schema is refused rather than misread.
pub(crate) fn open(path: &Path) -> anyhow::Result<SqliteStore> {
    if !path.exists() {
        bail!(
            "store file `{}` not found (choose the store with --store PATH or WAYPOST_STORE)",
            path.display()
        );
    }
    SqliteStore::open_read_only(path).map_err(|err| match err {
        StoreError::NewerSchema { .. } => {
            anyhow!("{err}: use a waypost CLI at least as new as the program that wrote it")
        }
        other => anyhow!(other),
    })
}

/// Runs a store future to completion on this thread.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// The execution `id`, or an error naming the store when there is none.
pub(crate) fn execution(store: &SqliteStore, id: &str) -> anyhow::Result<ExecutionRecord> {
    block_on(store.execution(id)).map_err(|err| not_found(store, err))
}

/// The history of the execution `id`, in order.
pub(crate) fn history(store: &SqliteStore, id: &str) -> anyhow::Result<Vec<Event>> {
    block_on(store.history(id)).map_err(|err| not_found(store, err))
}

/// The executions matching `filter`, newest first.
pub(crate) fn list(
    store: &SqliteStore,
    filter: &ListFilter,
) -> anyhow::Result<Vec<ExecutionRecord>> {
    Ok(block_on(store.list(filter))?)
}

/// The workflow graph stored with an execution.
pub(crate) fn graph(record: &ExecutionRecord) -> anyhow::Result<Graph> {
    serde_json::from_str(&record.graph).with_context(|| {
        format!(
            "the workflow graph stored with execution `{}` cannot be read",
            record.id
        )
    })
}

fn not_found(store: &SqliteStore, err: StoreError) -> anyhow::Error {
    match err {
        StoreError::NotFound { id } => anyhow!(
            "no execution `{id}` in `{}` (`waypost list` shows the executions)",
            store.path().display()
        ),
        other => anyhow!(other),
    }
}
