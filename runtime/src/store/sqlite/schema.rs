//! The store's tables, and how a file is recognised and brought to the current schema.
//!
//! A waypost store carries two header fields: `PRAGMA application_id` =
//! [`APPLICATION_ID`] (so that no other SQLite database is mistaken for a store) and
//! `PRAGMA user_version` = its schema version. [`MIGRATIONS`] lists the SQL that brings
//! version `n - 1` to `n`; they are applied in order, in one transaction, together with
//! both header fields, so that a crash mid-migration leaves the previous version.
//!
//! [`inspect`] only reads: it runs before anything is written, so that opening a file
//! that is not a store, or a newer one, leaves it byte for byte as it was.

use rusqlite::Connection;
use waypost_core::store::StoreError;

use super::error::OpError;

/// `PRAGMA application_id` of a waypost store: "WPST" in ASCII.
pub(super) const APPLICATION_ID: i32 = 0x5750_5354;

/// The SQL of each schema version; version `n` is `MIGRATIONS[n - 1]`.
///
/// Never edit a released step: add a new one. The tables are plain (no custom
/// encodings but blobs) so that the sqlite3 shell can read a store.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1.
    "CREATE TABLE executions (
         id          TEXT PRIMARY KEY NOT NULL,
         workflow    TEXT NOT NULL,
         version     INTEGER NOT NULL,
         fingerprint TEXT NOT NULL,
         codec       TEXT NOT NULL,
         status      TEXT NOT NULL,
         input       BLOB NOT NULL,
         output      BLOB,
         error       TEXT,
         graph       TEXT NOT NULL,
         redrives    INTEGER NOT NULL DEFAULT 0,
         created_ms  INTEGER NOT NULL,
         updated_ms  INTEGER NOT NULL
     );
     CREATE INDEX executions_by_created ON executions (created_ms DESC, id DESC);
     CREATE INDEX executions_by_status ON executions (status, created_ms DESC, id DESC);
     CREATE INDEX executions_by_workflow ON executions (workflow, created_ms DESC, id DESC);

     CREATE TABLE checkpoints (
         execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
         seq          INTEGER NOT NULL,
         key          TEXT NOT NULL,
         kind         INTEGER NOT NULL,
         payload      BLOB NOT NULL,
         checksum     INTEGER NOT NULL,
         PRIMARY KEY (execution_id, key),
         UNIQUE (execution_id, seq)
     );

     CREATE TABLE leases (
         execution_id TEXT PRIMARY KEY NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
         owner        TEXT NOT NULL,
         expires_ms   INTEGER NOT NULL
     );",
    // Version 2: the history of each execution. `seq` numbers an execution's events
    // 1, 2, 3, … in commit order; `kind` is the event kind's name (`StepSucceeded`).
    "CREATE TABLE events (
         execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
         seq          INTEGER NOT NULL,
         at_ms        INTEGER NOT NULL,
         kind         TEXT NOT NULL,
         address      TEXT NOT NULL,
         attempt      INTEGER NOT NULL,
         duration_ms  INTEGER,
         detail       TEXT,
         PRIMARY KEY (execution_id, seq)
     );",
    // Version 3: a CRC-32 beside each execution's input and output, as checkpoints have,
    // so that a flipped bit that still decodes is caught. NULL for rows written before.
    "ALTER TABLE executions ADD COLUMN input_checksum INTEGER;
     ALTER TABLE executions ADD COLUMN output_checksum INTEGER;",
    // Version 4: how many times each execution was taken over from an owner that
    // stopped without finishing it (see `Store::acquire_lease`), so that a poison
    // execution is parked after a limit instead of crashing every restart.
    "ALTER TABLE executions ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;",
    // Version 5: what an event says beyond its kind, as typed fields (the error's name
    // and message, the branch, the delay, item counts, ...: `EventDetails`) in one JSON
    // column, NULL when there are none; `json_extract(details, '$.error.name')` reads
    // them in the sqlite3 shell. The free text of the events stored before is kept
    // whole, as `{"detail": "..."}`.
    "ALTER TABLE events ADD COLUMN details TEXT;
     UPDATE events SET details = json_object('detail', detail) WHERE detail IS NOT NULL;
     ALTER TABLE events DROP COLUMN detail;",
    // Version 6: fleets. `lease_epoch` counts how many times the execution's lease
    // changed hands (a run's commits are fenced with it); `wake_at_ms` is when a worker
    // may claim it (a new execution: now; one parked on a timer: the timer's end;
    // i64::MAX: not by itself). Running executions of older stores are due now.
    "ALTER TABLE executions ADD COLUMN lease_epoch INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE executions ADD COLUMN wake_at_ms INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX executions_due ON executions (wake_at_ms) WHERE status = 'running';",
];

/// The schema version this build writes and reads.
pub(super) const CURRENT: u32 = MIGRATIONS.len() as u32;

/// What [`inspect`] found in a file that can be a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// An empty database: the store is created in it.
    Empty,
    /// A store at this version (at most [`CURRENT`]).
    Store(u32),
}

/// Reads the header fields and the table list, and says whether the file is a store
/// this build can open, without writing anything.
///
/// # Errors
///
/// [`StoreError::NotAStore`] for a file that is not SQLite (SQLite reports that on the
/// first read, mapped by the caller), another application's database, or tables that
/// are not a store's; [`StoreError::NewerSchema`] for a store written by a newer
/// waypost.
pub(super) fn inspect(conn: &Connection, path: &str) -> Result<Found, OpError> {
    // One read transaction, so that the header and the table list come from the same
    // snapshot even while another process is creating the store.
    conn.execute_batch("BEGIN DEFERRED")?;
    let found = inspect_snapshot(conn, path);
    // Ending a read-only transaction cannot lose anything; its error is not the news.
    let _ = conn.execute_batch("COMMIT");
    found
}

fn inspect_snapshot(conn: &Connection, path: &str) -> Result<Found, OpError> {
    let application_id: i32 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let not_a_store = |reason: String| StoreError::NotAStore {
        path: path.to_owned(),
        reason,
    };

    if application_id == APPLICATION_ID {
        let version = u32::try_from(version)
            .map_err(|_| not_a_store(format!("its schema version {version} is negative")))?;
        if version > CURRENT {
            return Err(StoreError::NewerSchema {
                path: path.to_owned(),
                found: version,
                supported: CURRENT,
            }
            .into());
        }
        return Ok(Found::Store(version));
    }
    if application_id != 0 {
        return Err(not_a_store(format!(
            "it is a SQLite database of another application (application_id {application_id:#x}, \
             expected {APPLICATION_ID:#x})"
        ))
        .into());
    }

    let tables = user_tables(conn)?;
    if tables.is_empty() {
        return Ok(Found::Empty);
    }
    Err(not_a_store(format!(
        "it is a SQLite database with other tables ({}) and no waypost schema",
        tables.join(", ")
    ))
    .into())
}

/// Applies the migrations from the file's version up to [`CURRENT`] in one
/// `BEGIN IMMEDIATE` transaction. Does nothing when the file is current.
///
/// The version is read again inside the transaction: another process may have
/// migrated the file between [`inspect`] and now.
pub(super) fn migrate(conn: &Connection, path: &str) -> Result<(), OpError> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = migrate_in_transaction(conn, path);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    match (result, conn.execute_batch(end)) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(err), _) => Err(err),
        (Ok(()), Err(err)) => {
            // A failed COMMIT can leave the transaction open; close it before giving up.
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            Err(err.into())
        }
    }
}

fn migrate_in_transaction(conn: &Connection, path: &str) -> Result<(), OpError> {
    let found = inspect_snapshot(conn, path)?;
    let from = match found {
        Found::Empty => 0,
        Found::Store(version) => version,
    };
    for step in MIGRATIONS.iter().skip(from as usize) {
        conn.execute_batch(step)?;
        crate::crash::reach("migration");
    }
    if from < CURRENT {
        // Both header fields are part of the transaction, like the tables.
        conn.pragma_update(None, "user_version", CURRENT)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    Ok(())
}

/// Whether [`migrate`] has anything to do for what [`inspect`] found.
pub(super) fn needs_migration(found: Found) -> bool {
    match found {
        Found::Empty => true,
        Found::Store(version) => version < CURRENT,
    }
}

/// The names of the tables that SQLite did not create itself.
fn user_tables(conn: &Connection) -> Result<Vec<String>, OpError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' \
         ESCAPE '\\' ORDER BY name",
    )?;
    let names = stmt
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(names)
}
