//! What SQLite alone costs for a durable step, without waypost: the rows one step
//! commits, written straight through rusqlite into two table layouts.
//!
//! - [`Layout::Rows`] is the store's own (schema version 6, the tables and indexes a
//!   step's commit touches): a checkpoint row (its table and two indexes: by key, by
//!   number) and two event rows (`StepStarted`, `StepSucceeded`: a table and its key),
//!   with the execution's row read first and foreign keys on, as the writer does.
//! - [`Layout::Log`]: one row per commit, in a table clustered by `(execution_id, seq)`
//!   (`WITHOUT ROWID`), its body holding the checkpoint and the events; a lone commit
//!   touches one b-tree page, but commits of many executions still touch a page each.
//! - [`Layout::Append`]: one row per commit appended in commit order (a rowid table, no
//!   other index), so a group of commits fills pages one after the other; reading one
//!   execution back would need an index kept elsewhere (in memory, rebuilt at open).
//!
//! Both run on a connection set up like the store's writer (WAL, `synchronous =
//! FULL`), so a transaction ends with one fsync of the WAL.

use rusqlite::{Connection, params};

/// Which tables a step's rows go to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout {
    /// The store's tables: a checkpoint row and two event rows, each table indexed.
    Rows,
    /// One row per commit in one table clustered by execution.
    Log,
    /// One row per commit, appended in commit order.
    Append,
}

/// A file set up like a store's writing connection, with the tables of `layout`.
pub(crate) fn open(path: &std::path::Path, layout: Layout) -> Connection {
    let conn = Connection::open(path).unwrap();
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.pragma_update(None, "foreign_keys", "ON").unwrap();
    conn.set_prepared_statement_cache_capacity(64);
    // As the store does: plans that do not change with the parameters, so a prepared
    // statement is not prepared again for each execution id.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .unwrap();
    conn.execute_batch(
        "CREATE TABLE executions (
             id TEXT PRIMARY KEY NOT NULL, workflow TEXT NOT NULL, status TEXT NOT NULL,
             lease_epoch INTEGER NOT NULL, input BLOB NOT NULL, graph TEXT NOT NULL
         );
         CREATE TABLE leases (
             execution_id TEXT PRIMARY KEY NOT NULL REFERENCES executions (id),
             owner TEXT NOT NULL, expires_ms INTEGER NOT NULL
         );",
    )
    .unwrap();
    match layout {
        Layout::Rows => conn
            .execute_batch(
                "CREATE TABLE checkpoints (
                     execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
                     seq INTEGER NOT NULL, key TEXT NOT NULL, kind INTEGER NOT NULL,
                     payload BLOB NOT NULL, checksum INTEGER NOT NULL,
                     PRIMARY KEY (execution_id, key), UNIQUE (execution_id, seq)
                 );
                 CREATE TABLE events (
                     execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
                     seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, kind TEXT NOT NULL,
                     address TEXT NOT NULL, attempt INTEGER NOT NULL, duration_ms INTEGER,
                     details TEXT, PRIMARY KEY (execution_id, seq)
                 );",
            )
            .unwrap(),
        Layout::Log => conn
            .execute_batch(
                "CREATE TABLE log (
                     execution_id TEXT NOT NULL, seq INTEGER NOT NULL, body BLOB NOT NULL,
                     PRIMARY KEY (execution_id, seq)
                 ) WITHOUT ROWID;",
            )
            .unwrap(),
        Layout::Append => conn
            .execute_batch(
                "CREATE TABLE journal (
                     seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, body BLOB NOT NULL
                 );",
            )
            .unwrap(),
    }
    conn
}

/// Inserts the rows of new running executions named `ids`, leased to one worker, in
/// the open transaction.
pub(crate) fn create(conn: &Connection, ids: &[String]) {
    for id in ids {
        conn.prepare_cached("INSERT INTO executions VALUES (?1, 'bench', 'running', 1, x'00', ?2)")
            .unwrap()
            .execute(params![id, "{\"graph\": \"of ten steps\"}".repeat(20)])
            .unwrap();
        conn.prepare_cached("INSERT INTO leases VALUES (?1, 'worker', 0)")
            .unwrap()
            .execute(params![id])
            .unwrap();
    }
}

/// Writes what step `n` of execution `id` commits, in an open transaction: the lease
/// check, then the checkpoint and its two events (or their one log row).
pub(crate) fn step(conn: &Connection, layout: Layout, id: &str, n: u64) {
    let (status, epoch, owner): (String, i64, String) = conn
        .prepare_cached(
            "SELECT status, lease_epoch, (SELECT owner FROM leases WHERE execution_id = id) \
             FROM executions WHERE id = ?1",
        )
        .unwrap()
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap();
    assert!(status == "running" && epoch == 1 && owner == "worker");
    let key = format!("{n}.add_one");
    let payload = (n + 1).to_le_bytes();
    match layout {
        Layout::Rows => {
            let last: i64 = conn
                .prepare_cached(
                    "SELECT COALESCE(MAX(seq), 0) FROM checkpoints WHERE execution_id = ?1",
                )
                .unwrap()
                .query_row([id], |row| row.get(0))
                .unwrap();
            conn.prepare_cached(
                "INSERT INTO checkpoints (execution_id, seq, key, kind, payload, checksum) \
                 VALUES (?1, ?2, ?3, 0, ?4, 12345) ON CONFLICT (execution_id, key) DO NOTHING",
            )
            .unwrap()
            .execute(params![id, last + 1, key, &payload[..]])
            .unwrap();
            let last: i64 = conn
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events WHERE execution_id = ?1")
                .unwrap()
                .query_row([id], |row| row.get(0))
                .unwrap();
            let mut insert = conn
                .prepare_cached(
                    "INSERT INTO events (execution_id, seq, at_ms, kind, address, attempt, \
                     duration_ms, details) VALUES (?1, ?2, 1764800000000, ?3, ?4, 1, ?5, NULL)",
                )
                .unwrap();
            insert
                .execute(params![id, last + 1, "StepStarted", key, None::<i64>])
                .unwrap();
            insert
                .execute(params![id, last + 2, "StepSucceeded", key, Some(0i64)])
                .unwrap();
        }
        Layout::Log | Layout::Append => {
            // The same bytes as the rows: key, payload, and the two events' fields.
            let mut body = Vec::with_capacity(96);
            body.extend_from_slice(key.as_bytes());
            body.extend_from_slice(&payload);
            body.extend_from_slice(b"StepStarted 1764800000000 StepSucceeded 1764800000000 0");
            if let Layout::Log = layout {
                conn.prepare_cached(
                    "INSERT INTO log (execution_id, seq, body) VALUES (?1, ?2, ?3)",
                )
                .unwrap()
                .execute(params![id, n as i64, body])
                .unwrap();
            } else {
                // Numbered by the table, in commit order.
                conn.prepare_cached("INSERT INTO journal (execution_id, body) VALUES (?1, ?2)")
                    .unwrap()
                    .execute(params![id, body])
                    .unwrap();
            }
        }
    }
}

/// How many bytes this process has handed to `write`/`pwrite` so far (`wchar` in
/// `/proc/self/io`, all threads): SQLite's WAL frames and checkpoints included.
pub(crate) fn written_bytes() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("a wchar line in /proc/self/io")
}
