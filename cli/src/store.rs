//! Opening the store file read-only, and reading it with errors that say what to do.
//!
//! The store's futures do their work inline when no tokio runtime is running (the
//! SQLite store reads on the calling thread), so a plain `block_on` drives them.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use waypost_core::Graph;
use waypost_core::history::Event;
use waypost_core::store::{ExecutionRecord, ListFilter, Store, StoreError};
use waypost_runtime::SqliteStore;

/// Opens the store at `path` for reading only: a SQLite file, or a PostgreSQL URL (its
/// tables in `schema`). A missing file is an error, never created; a store of a newer
/// schema is refused rather than misread.
pub(crate) fn open(path: &Path, schema: &str) -> anyhow::Result<Source> {
    if let Some(url) = path.to_str().filter(|p| is_postgres_url(p)) {
        return open_postgres(url, schema);
    }
    check_file(path)?;
    let store = SqliteStore::open_read_only(path).map_err(newer)?;
    if store.is_immutable() {
        eprintln!(
            "note: `{}` is read as an unchanging file (this user cannot create its `-shm` \
             file beside it): what a running program commits meanwhile may not show",
            path.display()
        );
    }
    Ok(Source {
        name: path.display().to_string(),
        store: Arc::new(store),
        runtime: None,
    })
}

/// Fails, saying why, unless `path` is a file this user can reach.
fn check_file(path: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(path) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
            "store file `{}` not found (choose the store with --store PATH or WAYPOST_STORE)",
            path.display()
        ),
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "permission denied: this user cannot reach store file `{}` (a directory on \
             its path is not searchable by this user)",
            path.display()
        ),
        Err(err) => bail!("cannot read store file `{}`: {err}", path.display()),
    }
    Ok(())
}

/// Opens the store for a command that writes (the console's cancel, `callback`): like
/// [`open`], but read-write unless `read_only`. Nothing is ever created or migrated: a SQLite file of another
/// schema version is refused, as is a PostgreSQL schema without a current store.
pub(crate) async fn open_for_writing(
    path: &Path,
    schema: &str,
    read_only: bool,
) -> anyhow::Result<(Arc<dyn Store>, String)> {
    if let Some(url) = path.to_str().filter(|p| is_postgres_url(p)) {
        let store = waypost_postgres::PostgresStore::connect_with(
            url,
            waypost_postgres::PostgresOptions::builder()
                .schema(schema.to_owned())
                .migrate(false)
                .build(),
        )
        .await
        .map_err(newer)?;
        let name = store.describe();
        return Ok((Arc::new(store), name));
    }
    check_file(path)?;
    // Read-only first: it refuses a store of another schema version, which `open`
    // would migrate.
    let reader = SqliteStore::open_read_only(path).map_err(newer)?;
    let store = if read_only {
        reader
    } else {
        reader.close();
        SqliteStore::open(path).map_err(newer)?
    };
    Ok((Arc::new(store), path.display().to_string()))
}

/// Whether the store argument names a PostgreSQL database rather than a file.
fn is_postgres_url(arg: &str) -> bool {
    arg.starts_with("postgres://") || arg.starts_with("postgresql://")
}

/// Connects to the PostgreSQL store at `url` (its `waypost` schema), without creating
/// or migrating anything: the CLI only reads.
fn open_postgres(url: &str, schema: &str) -> anyhow::Result<Source> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = runtime
        .block_on(waypost_postgres::PostgresStore::connect_with(
            url,
            waypost_postgres::PostgresOptions::builder()
                .schema(schema.to_owned())
                .migrate(false)
                .build(),
        ))
        .map_err(newer)?;
    Ok(Source {
        name: store.describe(),
        store: Arc::new(store),
        runtime: Some(runtime),
    })
}

fn newer(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::NewerSchema { .. } => {
            anyhow!("{err}: use a waypost CLI at least as new as the program that wrote it")
        }
        other => anyhow!(other),
    }
}

/// The store a command reads: a SQLite file or a PostgreSQL database.
pub(crate) struct Source {
    /// The file, or the server and schema, for messages.
    name: String,
    store: Arc<dyn Store>,
    /// The runtime PostgreSQL's connections need; SQLite reads on the calling thread.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Source {
    /// Runs a store future to completion on this thread.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        match &self.runtime {
            Some(runtime) => runtime.block_on(future),
            None => futures::executor::block_on(future),
        }
    }

    /// The store.
    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Where it is, for messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// The execution `id`, or an error naming the store when there is none.
pub(crate) fn execution(store: &Source, id: &str) -> anyhow::Result<ExecutionRecord> {
    store
        .block_on(store.store().execution(id))
        .map_err(|err| not_found(store, err))
}

/// The history of the execution `id`, in order.
pub(crate) fn history(store: &Source, id: &str) -> anyhow::Result<Vec<Event>> {
    store
        .block_on(store.store().history(id))
        .map_err(|err| not_found(store, err))
}

/// The parent and children of the execution `id` (child workflows).
pub(crate) fn family(store: &Source, id: &str) -> anyhow::Result<waypost_core::inspect::Family> {
    let checkpoints = store
        .block_on(store.store().checkpoints(id))
        .map_err(|err| not_found(store, err))?;
    Ok(waypost_core::inspect::Family::of(&checkpoints))
}

/// The executions matching `filter`, newest first.
pub(crate) fn list(store: &Source, filter: &ListFilter) -> anyhow::Result<Vec<ExecutionRecord>> {
    Ok(store.block_on(store.store().list(filter))?)
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

fn not_found(store: &Source, err: StoreError) -> anyhow::Error {
    match err {
        StoreError::NotFound { id } => anyhow!(
            "no execution `{id}` in `{}` (`waypost list` shows the executions)",
            store.name()
        ),
        other => anyhow!(other),
    }
}
