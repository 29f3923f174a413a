//! [`SqliteStore`]: the embedded default store, one SQLite file in WAL mode.
//!
//! Layout of this module:
//!
//! - `mod.rs`: the handle, its options, opening a file (read-write, or read-only for
//!   tools), and the read path (one read-only connection behind a mutex, used from
//!   `spawn_blocking`).
//! - `schema.rs`: the tables, recognising a store file, migrations.
//! - `writer.rs`: the writer thread that owns the only writing connection, and group
//!   commit.
//! - `rows.rs`: decoding rows into records without panicking on bad data.
//! - `lease.rs`: lease rules and owner liveness, shared with [`MemoryStore`].
//! - `error.rs`: SQLite errors into [`StoreError`]s that say what and where.
//!
//! The file can be read with the sqlite3 shell: tables `executions`, `checkpoints`
//! (`seq` numbers an execution's checkpoints 1, 2, 3, … in commit order), `events`
//! (the history; its own `seq`, numbered the same way) and `leases`; payloads are
//! blobs, errors are JSON text, event kinds are their names.
//!
//! [`MemoryStore`]: super::MemoryStore

mod error;
mod rows;
mod schema;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use waypost_core::history::Event;
use waypost_core::store::{
    Checkpoint, Claim, ClaimRequest, ExecutionRecord, Fence, Lease, LeaseToken, ListFilter,
    NewExecution, Notice, Notices, Notifier, Snapshot, Store, StoreError, StoreFuture, Write,
};

use self::error::OpError;
use self::writer::Writer;

/// How durable a commit is when its future resolves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Every commit is fsynced before it resolves (`PRAGMA synchronous = FULL`): it
    /// survives a process crash and a power loss. The default.
    #[default]
    Fsync,
    /// Commits reach the operating system but are fsynced only at WAL checkpoints
    /// (`PRAGMA synchronous = NORMAL`): they survive a process crash, the last ones may
    /// be lost on a power loss or an OS crash. The file stays consistent either way.
    Os,
}

/// How [`SqliteStore::open_with`] opens a store.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::{Durability, SqliteStoreOptions};
///
/// let options = SqliteStoreOptions {
///     durability: Durability::Os,
///     busy_timeout: Duration::from_millis(500),
///     ..SqliteStoreOptions::default()
/// };
/// assert_eq!(options.max_batch, 512);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteStoreOptions {
    /// How durable a commit is when it resolves. Default: [`Durability::Fsync`].
    pub durability: Durability,
    /// How long to wait for a lock another connection or process holds on the file
    /// before failing with [`StoreError::Locked`]. Default: 5 s.
    pub busy_timeout: Duration,
    /// The most requests (commits, creates, lease calls) that one transaction groups;
    /// `0` counts as `1`. Default: 512.
    pub max_batch: usize,
    /// A limit on the file's size, in database pages (4 KiB each by default), for tests
    /// and quotas: writes past it fail like on a full disk. Applies to this handle only
    /// and is never stored in the file. Default: `None` (SQLite's own limit).
    pub max_page_count: Option<u32>,
}

impl Default for SqliteStoreOptions {
    fn default() -> Self {
        SqliteStoreOptions {
            durability: Durability::Fsync,
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
            max_page_count: None,
        }
    }
}

/// The embedded store: executions, checkpoints, histories and leases in one SQLite file.
///
/// Cloning is cheap and shares the file's connections. Writes from every clone go to
/// one writer thread that groups concurrent requests into one transaction (group
/// commit), so many executions share each fsync. Reads use a separate read-only
/// connection and see every commit that has resolved. Several stores (or processes)
/// may open the same file; SQLite's locks keep them apart, and
/// [`Store::acquire_lease`] keeps two of them from running one execution.
///
/// Dropping the last clone (or calling [`close`](Self::close)) finishes the queued
/// writes, stops the writer thread and closes the file.
///
/// # Examples
///
/// ```
/// use waypost::store::{NewExecution, Store};
/// use waypost::SqliteStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let store = SqliteStore::open(dir.path().join("waypost.db"))?;
/// let new = NewExecution {
///     id: "order-42".into(),
///     workflow: "orders".into(),
///     version: 1,
///     fingerprint: "f".into(),
///     codec: "json".into(),
///     input: b"{}".to_vec(),
///     graph: "{}".into(),
///     created_ms: 1,
/// };
/// let (record, created) = store.create(new).await?;
/// assert!(created);
/// assert_eq!(store.execution("order-42").await?, record);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// `path` as text, for error messages.
    display: String,
    options: SqliteStoreOptions,
    /// `None` once closed.
    reader: Mutex<Option<Connection>>,
    /// `None` for a store opened with [`SqliteStore::open_read_only`].
    writer: Option<Writer>,
    /// Wakes this process's subscribers; other processes sharing the file poll it.
    notifier: Notifier,
    /// Read as an unchanging file (see [`SqliteStore::is_immutable`]).
    immutable: bool,
}

impl SqliteStore {
    /// Opens the store at `path` with the default [`SqliteStoreOptions`], creating the
    /// file if it does not exist.
    ///
    /// Blocks while it opens (and, for a new or older file, migrates) the file.
    ///
    /// # Errors
    ///
    /// See [`open_with`](Self::open_with).
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, SqliteStoreOptions::default())
    }

    /// Opens the store at `path` with `options`, creating the file if it does not exist
    /// and bringing an older store to the current schema.
    ///
    /// Blocks while it opens (and, for a new or older file, migrates) the file. A file
    /// that is refused is left unchanged.
    ///
    /// # Errors
    ///
    /// - [`StoreError::NotAStore`]: the file is not a SQLite database, or belongs to
    ///   another application, or holds other tables and no store.
    /// - [`StoreError::NewerSchema`]: the store was written by a newer waypost.
    /// - [`StoreError::Locked`]: another process held the file locked for longer than
    ///   `busy_timeout`.
    /// - [`StoreError::Backend`]: the directory does not exist, the file cannot be
    ///   opened or created, the disk is full, ...
    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteStoreOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let display = path.display().to_string();
        let started = Instant::now();
        let fail = |doing: &str| {
            let doing = doing.to_owned();
            |err: OpError| err.into_store_error(&display, started, || doing)
        };

        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StoreError::Backend {
                doing: format!("opening the store `{display}`"),
                message: format!("the directory `{}` does not exist", parent.display()),
            });
        }

        // Opening creates an empty file at most; nothing is written before `inspect`
        // has accepted the file.
        let conn = Connection::open_with_flags(
            literal(&path),
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| fail("opening the store")(err.into()))?;
        conn.busy_timeout(options.busy_timeout)
            .map_err(|err| fail("opening the store")(err.into()))?;
        // Two processes opening a new file at once contend for it while one of them
        // creates it, and SQLite reports some of that contention (switching to WAL,
        // reading a header being written) at once instead of waiting in the busy
        // handler: retry the whole preparation until the busy timeout runs out.
        loop {
            let prepared =
                prepare(&conn, &options, &display).map_err(|(doing, err)| fail(doing)(err));
            match prepared {
                Err(StoreError::Locked { .. }) if started.elapsed() < options.busy_timeout => {
                    std::thread::sleep(Duration::from_millis(2 + fastrand::u64(..8)));
                }
                other => break other?,
            }
        }

        let reader = Connection::open_with_flags(
            literal(&path),
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|reader| reader.busy_timeout(options.busy_timeout).map(|()| reader))
        .and_then(|reader| stable_plans(&reader).map(|()| reader))
        .map_err(|err| fail("opening the read connection")(err.into()))?;

        let file = writer::FileIdentity::of(&literal(&path)).ok();
        let writer =
            Writer::spawn(conn, display.clone(), file, options.max_batch).map_err(|err| {
                StoreError::Backend {
                    doing: format!("starting the writer thread of `{display}`"),
                    message: err.to_string(),
                }
            })?;

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                display,
                options,
                reader: Mutex::new(Some(reader)),
                writer: Some(writer),
                notifier: Notifier::new(),
                immutable: false,
            }),
        })
    }

    /// Opens the existing store at `path` for reading only, for tools that inspect a
    /// store (such as the `waypost` CLI) without changing it.
    ///
    /// Unlike [`open`](Self::open), it never creates the file, never migrates an older
    /// store, and never writes to the file: there is no writer thread, and every write
    /// ([`Store::create`], [`Store::commit`], leases) fails with
    /// [`StoreError::Backend`]. Reads see what other processes have committed, also
    /// while they keep writing. Blocks while it opens the file.
    ///
    /// The store file itself is never changed. Like any SQLite reader of a WAL-mode
    /// file, it creates the `-shm` index and an empty `-wal` beside it when they are not
    /// there; it removes them again when it closes, unless another program has opened
    /// the store meanwhile (which then removes them) or this user may not write the
    /// file (they hold no data, and the next read-write close removes them). Files that
    /// were there before it opened are left alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::store::Store;
    /// use waypost::SqliteStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("waypost.db");
    /// assert!(SqliteStore::open_read_only(&path).is_err()); // no file: not created
    /// SqliteStore::open(&path)?.close();                    // create the store
    /// let store = SqliteStore::open_read_only(&path)?;
    /// assert!(store.list(&Default::default()).await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// - [`StoreError::Backend`]: the file does not exist or cannot be read, or it is a
    ///   store of an older schema version (open it once with [`open`](Self::open) to
    ///   migrate it).
    /// - [`StoreError::NotAStore`]: the file is not a SQLite database, belongs to
    ///   another application, holds other tables and no store, or is empty.
    /// - [`StoreError::NewerSchema`]: the store was written by a newer waypost.
    /// - [`StoreError::Locked`]: another process held the file locked for longer than
    ///   the default busy timeout.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let display = path.display().to_string();
        let options = SqliteStoreOptions::default();
        let started = Instant::now();
        let doing = || format!("opening the store `{display}` read-only");
        if !path.is_file() {
            let message = if path.exists() {
                "it is not a file"
            } else {
                "the file does not exist"
            };
            return Err(StoreError::Backend {
                doing: doing(),
                message: message.to_owned(),
            });
        }
        let fail = |err: OpError| err.into_store_error(&display, started, doing);

        let open = |immutable: bool| {
            let reader = if immutable {
                Connection::open_with_flags(
                    immutable_uri(&path),
                    OpenFlags::SQLITE_OPEN_READ_ONLY
                        | OpenFlags::SQLITE_OPEN_URI
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
            } else if !wal_beside(&path) {
                // No program has the store open (its `-wal` would be there): read with
                // a connection that may write but is told not to, so that closing it,
                // the last connection, removes the `-wal` and `-shm` it made, as SQLite
                // does. A file this user may not write is read read-only instead.
                read_write_query_only(&path).or_else(|_| {
                    Connection::open_with_flags(
                        literal(&path),
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )
                })
            } else {
                Connection::open_with_flags(
                    literal(&path),
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
            };
            let reader = reader
                .and_then(|reader| reader.busy_timeout(options.busy_timeout).map(|()| reader))
                .and_then(|reader| stable_plans(&reader).map(|()| reader))
                .map_err(|err| fail(err.into()))?;
            // As in `open_with`: contention with a process that is creating the store can
            // be reported at once instead of waiting in the busy handler.
            let found = loop {
                match schema::inspect(&reader, &display).map_err(fail) {
                    Err(StoreError::Locked { .. }) if started.elapsed() < options.busy_timeout => {
                        std::thread::sleep(Duration::from_millis(2 + fastrand::u64(..8)));
                    }
                    other => break other?,
                }
            };
            Ok::<_, StoreError>((reader, found))
        };
        // A reader of a store in WAL mode needs its `-shm` file: where this user cannot
        // create it (a directory it cannot write, a read-only mount), the store is read
        // as an unchanging file instead (SQLite's `immutable`).
        let (reader, found, immutable) = match open(false) {
            Ok((reader, found)) => (reader, found, false),
            Err(error) if cannot_create_beside(&path) => match open(true) {
                Ok((reader, found)) => (reader, found, true),
                Err(_) => return Err(error),
            },
            Err(error) => return Err(error),
        };
        match found {
            schema::Found::Store(version) if version == schema::CURRENT => {}
            schema::Found::Store(version) => {
                return Err(StoreError::Backend {
                    doing: doing(),
                    message: format!(
                        "it has store schema version {version}, older than this waypost's {}; \
                         open it once with `SqliteStore::open`, which migrates it",
                        schema::CURRENT
                    ),
                });
            }
            schema::Found::Empty => {
                return Err(StoreError::NotAStore {
                    path: display,
                    reason: "it is an empty database".to_owned(),
                });
            }
        }

        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                display,
                options,
                reader: Mutex::new(Some(reader)),
                writer: None,
                notifier: Notifier::new(),
                immutable,
            }),
        })
    }

    /// Whether [`open_read_only`](Self::open_read_only) read the store as an unchanging
    /// file, because this user cannot create the `-shm` file a reader of a WAL store
    /// needs beside it: what a live writer commits meanwhile may not show.
    pub fn is_immutable(&self) -> bool {
        self.inner.immutable
    }

    /// Whether the store was opened with [`open_read_only`](Self::open_read_only).
    pub fn is_read_only(&self) -> bool {
        self.inner.writer.is_none()
    }

    /// The file of the store.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many write transactions this store has committed. With group commit, `n`
    /// concurrent commits take fewer than `n` transactions; tests and benches read it.
    pub fn transactions_committed(&self) -> u64 {
        self.inner
            .writer
            .as_ref()
            .map_or(0, Writer::transactions_committed)
    }

    /// Runs SQLite's `PRAGMA integrity_check` on the file: `"ok"`, or the problems found,
    /// one per line. Blocks while it reads the whole file.
    ///
    /// # Errors
    ///
    /// [`StoreError::Closed`] after [`close`](Self::close); [`StoreError::Locked`] or
    /// [`StoreError::Backend`] when the file cannot be read.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        self.inner.read(
            || "checking the integrity of the store".to_owned(),
            |conn| {
                let mut stmt = conn.prepare("PRAGMA integrity_check")?;
                let lines = stmt
                    .query_map([], |row| row.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(lines.join("\n"))
            },
        )
    }

    /// Closes the store for every clone: waits for the queued writes to commit, stops
    /// the writer thread and closes the file. Every call after it, on any clone, fails
    /// with [`StoreError::Closed`]. Dropping the last clone does the same.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Tells this process's subscribers, if there is something to tell.
    fn notify(&self, notice: Option<Notice>) {
        if let Some(notice) = notice {
            self.inner.notifier.send(&notice);
        }
    }

    /// Runs `op` on the writer thread, or fails at once on a read-only store.
    fn write<O: writer::Operation>(&self, op: O) -> StoreFuture<'_, O::Output> {
        match &self.inner.writer {
            Some(writer) => Box::pin(writer.call(op)),
            None => Box::pin(futures::future::ready(Err(StoreError::Backend {
                doing: format!("{} in `{}`", op.describe(), self.inner.display),
                message: "the store was opened read-only".to_owned(),
            }))),
        }
    }

    /// Runs `f` on the read connection, on tokio's blocking pool when called inside a
    /// tokio runtime (inline otherwise).
    /// Reads something of execution `id` with `load`, which returns `None` when the
    /// execution does not exist; `what` names it in errors ("reading {what} `id`").
    async fn read_execution<T: Send + 'static>(
        &self,
        id: &str,
        what: &'static str,
        load: fn(&Connection, &str) -> Result<Option<T>, OpError>,
    ) -> Result<T, StoreError> {
        let id = id.to_owned();
        let doing = {
            let id = id.clone();
            move || format!("reading {what} `{id}`")
        };
        self.read(doing, move |conn| {
            load(conn, &id)?.ok_or_else(|| StoreError::NotFound { id }.into())
        })
        .await
    }

    async fn read<T, F, D>(&self, doing: D, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, OpError> + Send + 'static,
        D: FnOnce() -> String + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let job = move || inner.read(doing, f);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime
                    .spawn_blocking(job)
                    .await
                    .map_err(|err| StoreError::Backend {
                        doing: format!("reading from `{}`", self.inner.display),
                        message: format!("the read task failed: {err}"),
                    })?
            }
            Err(_) => job(),
        }
    }
}

impl Inner {
    fn read<T>(
        &self,
        doing: impl FnOnce() -> String,
        f: impl FnOnce(&Connection) -> Result<T, OpError>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = reader.as_ref().ok_or(StoreError::Closed)?;
        f(conn).map_err(|err| err.into_store_error(&self.display, started, doing))
    }

    fn close(&self) {
        // The reader first: the writer's connection, closed last, then checkpoints the
        // WAL into the main file and removes it.
        drop(
            self.reader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        if let Some(writer) = &self.writer {
            writer.close();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .field("options", &self.inner.options)
            .field("read_only", &self.is_read_only())
            .finish_non_exhaustive()
    }
}

/// Checks the file is a store (or empty), sets the writing connection up, and creates
/// or migrates the schema. On failure, says what it was doing.
fn prepare(
    conn: &Connection,
    options: &SqliteStoreOptions,
    display: &str,
) -> Result<(), (&'static str, OpError)> {
    let found = schema::inspect(conn, display).map_err(|e| ("reading the store header", e))?;
    configure_writer(conn, options, display).map_err(|e| ("configuring the store", e))?;
    if schema::needs_migration(found) {
        schema::migrate(conn, display)
            .map_err(|e| ("creating or migrating the store schema", e))?;
    }
    Ok(())
}

/// Sets the writing connection up: WAL, durability, foreign keys, size limit.
fn configure_writer(
    conn: &Connection,
    options: &SqliteStoreOptions,
    display: &str,
) -> Result<(), OpError> {
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend {
            doing: format!("switching `{display}` to WAL mode"),
            message: format!("SQLite kept journal mode `{mode}`"),
        }
        .into());
    }
    let synchronous = match options.durability {
        Durability::Fsync => "FULL",
        Durability::Os => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    stable_plans(conn)?;
    if let Some(pages) = options.max_page_count {
        // Not persistent: it limits this connection, which is the only writer.
        conn.pragma_update_and_check(None, "max_page_count", pages, |row| row.get::<_, i64>(0))?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn create(&self, new: NewExecution) -> StoreFuture<'_, (ExecutionRecord, bool)> {
        Box::pin(async move {
            let (record, created) = self.write(writer::Create(new)).await?;
            if created {
                self.notify(Some(Notice::Runnable {
                    workflow: record.workflow.clone(),
                }));
            }
            Ok((record, created))
        })
    }

    fn execution<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ExecutionRecord> {
        Box::pin(self.read_execution(id, "execution", rows::load_execution))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Vec<ExecutionRecord>> {
        let filter = filter.clone();
        Box::pin(self.read(
            || "listing executions".to_owned(),
            move |conn| rows::list_executions(conn, &filter),
        ))
    }

    fn checkpoints<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Checkpoint>> {
        Box::pin(self.read_execution(id, "the checkpoints of execution", rows::load_checkpoints))
    }

    fn checkpoints_after<'a>(
        &'a self,
        id: &'a str,
        after: u64,
    ) -> StoreFuture<'a, Vec<Checkpoint>> {
        Box::pin(async move {
            let owned = id.to_owned();
            let doing = {
                let id = owned.clone();
                move || format!("reading the new checkpoints of execution `{id}`")
            };
            self.read(doing, move |conn| {
                rows::load_checkpoints_after(conn, &owned, after)?
                    .ok_or_else(|| StoreError::NotFound { id: owned }.into())
            })
            .await
        })
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        Box::pin(self.read_execution(id, "the history of execution", rows::load_history))
    }

    fn snapshot<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Snapshot> {
        Box::pin(self.read_execution(id, "execution", rows::load_snapshot))
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        fence: Fence<'a>,
        writes: Vec<Write>,
    ) -> StoreFuture<'a, ()> {
        let commit = writer::Commit {
            id: id.to_owned(),
            token: match fence {
                Fence::Lease(token) => Some(token.clone()),
                Fence::Unleased => None,
            },
            writes,
        };
        Box::pin(async move {
            let notice = self.write(commit).await?;
            self.notify(notice);
            Ok(())
        })
    }

    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        self.write(writer::AcquireLease {
            id: id.to_owned(),
            owner: owner.to_owned(),
            ttl,
        })
    }

    fn renew_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a LeaseToken,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        self.write(writer::RenewLease {
            id: id.to_owned(),
            token: token.clone(),
            ttl,
        })
    }

    fn release_lease<'a>(&'a self, id: &'a str, token: &'a LeaseToken) -> StoreFuture<'a, ()> {
        let release = writer::ReleaseLease {
            id: id.to_owned(),
            token: token.clone(),
        };
        Box::pin(async move {
            let notice = self.write(release).await?;
            self.notify(notice);
            Ok(())
        })
    }

    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> StoreFuture<'a, Vec<Claim>> {
        self.write(writer::ClaimExecutions(request.clone()))
    }

    fn notices(&self) -> Option<Notices> {
        Some(self.inner.notifier.subscribe())
    }
}

/// `path` as SQLite must be given it to open that very file: the bundled SQLite reads a
/// name that starts with `file:` as a URI (`file:a.db?mode=ro` opens `a.db`), so such a
/// relative path is given as `./file:…`. A store argument is always a path.
fn literal(path: &Path) -> PathBuf {
    if path.is_relative() && path.as_os_str().as_encoded_bytes().starts_with(b"file:") {
        Path::new(".").join(path)
    } else {
        path.to_owned()
    }
}

/// The SQLite URI that opens `path` as an unchanging file (`immutable=1`: no locks, no
/// `-shm`), its path percent-encoded where a URI needs it.
fn immutable_uri(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let text = absolute.to_string_lossy();
    let encoded = text
        .replace('%', "%25")
        .replace('?', "%3f")
        .replace('#', "%23");
    format!("file:{encoded}?immutable=1")
}

/// Whether the store at `path` has a `-wal` file beside it: a program has it open, or
/// one that stopped without closing it left it there.
fn wal_beside(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    Path::new(&wal).exists()
}

/// Opens `path` with a connection that could write but refuses to (`query_only`): it
/// reads like a read-only one, and as the last connection to close it removes the
/// `-wal` and `-shm` files, which a read-only connection cannot.
fn read_write_query_only(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        literal(path),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Whether this user cannot create a file beside `path` (SQLite's `-shm`).
fn cannot_create_beside(path: &Path) -> bool {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".waypost-write-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            false
        }
        Err(err) => matches!(
            err.kind(),
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
        ),
    }
}

/// Keeps each statement's query plan once prepared (SQLite's query planner stability
/// guarantee). Without it, the bundled SQLite (built with STAT4) marks statements whose
/// `WHERE` compares an indexed column with a parameter to be prepared again whenever
/// the parameter changes — every request: that was a quarter of the writer's time.
fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map(|_| ())
}

#[cfg(test)]
mod literal_tests {
    use super::*;

    #[test]
    fn a_path_that_looks_like_a_uri_stays_a_path() {
        assert_eq!(literal(Path::new("file:a.db")), Path::new("./file:a.db"));
        assert_eq!(
            literal(Path::new("/tmp/file:a.db")),
            Path::new("/tmp/file:a.db")
        );
        assert_eq!(literal(Path::new("a.db")), Path::new("a.db"));
    }
}
