//! `SqliteStore` beyond the `Store` contract (which `store_conformance.rs` checks): the
//! file survives reopening, older schemas are migrated, group commit, files that are not
//! stores, locks, a full disk, damaged rows, closing, a file that plain SQL can read, and
//! read-only opening for tools.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use waypost_core::history::{Event, EventDetails, EventKind};
use waypost_core::store::{
    Checkpoint, CheckpointKind, ExecutionStatus, Fence, ListFilter, NewExecution, Store,
    StoreError, Write,
};
use waypost_runtime::{Durability, SqliteStore, SqliteStoreOptions};

fn new_execution(id: &str) -> NewExecution {
    NewExecution {
        id: id.to_owned(),
        workflow: "orders".to_owned(),
        version: 1,
        fingerprint: "fp".to_owned(),
        codec: "json".to_owned(),
        input: b"{}".to_vec(),
        graph: "{}".to_owned(),
        created_ms: 1_000,
    }
}

fn output(key: &str, payload: &[u8]) -> Write {
    Write::Checkpoint(Checkpoint {
        seq: 0,
        key: key.to_owned(),
        kind: CheckpointKind::Output,
        payload: payload.to_vec(),
        checksum: payload.len() as u32,
    })
}

fn event(kind: EventKind, address: &str) -> Write {
    Write::Event(Box::new(Event {
        seq: 0,
        at_ms: 2_000,
        kind,
        address: address.to_owned(),
        attempt: 1,
        duration_ms: None,
        details: EventDetails::default(),
    }))
}

fn kinds(history: &[Event]) -> Vec<(u64, EventKind)> {
    history.iter().map(|e| (e.seq, e.kind)).collect()
}

fn keys(checkpoints: &[Checkpoint]) -> Vec<(u64, &str)> {
    checkpoints
        .iter()
        .map(|c| (c.seq, c.key.as_str()))
        .collect()
}

fn with_timeout(busy_timeout: Duration) -> SqliteStoreOptions {
    SqliteStoreOptions {
        busy_timeout,
        ..SqliteStoreOptions::default()
    }
}

/// Opens `path`, expecting a refusal, and checks the file was left as it was.
fn refused_unchanged(path: &Path) -> StoreError {
    let before = std::fs::read(path).unwrap();
    let err = SqliteStore::open(path).unwrap_err();
    assert_eq!(
        std::fs::read(path).unwrap(),
        before,
        "a refused file must not change"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    for durability in [Durability::Fsync, Durability::Os] {
        let _ = std::fs::remove_file(&path);
        let options = SqliteStoreOptions {
            durability,
            ..SqliteStoreOptions::default()
        };
        {
            let store = SqliteStore::open_with(&path, options.clone()).unwrap();
            store.create(new_execution("e1")).await.unwrap();
            store
                .commit(
                    "e1",
                    Fence::Unleased,
                    vec![
                        event(EventKind::ExecutionStarted, ""),
                        output("a", b"1"),
                        output("b", b"2"),
                        event(EventKind::StepSucceeded, "b"),
                    ],
                )
                .await
                .unwrap();
            store
                .acquire_lease("e1", "another-host.invalid:1:x", Duration::from_secs(60))
                .await
                .unwrap();
        }
        // The last handle is gone: the writer stopped and the WAL went into the file.
        assert!(!dir.path().join("store.db-wal").exists());

        let store = SqliteStore::open_with(&path, options).unwrap();
        let record = store.execution("e1").await.unwrap();
        assert_eq!(record.status, ExecutionStatus::Running);
        let checkpoints = store.checkpoints("e1").await.unwrap();
        assert_eq!(keys(&checkpoints), [(1, "a"), (2, "b")]);
        assert_eq!(checkpoints[1].payload, b"2");
        let history = store.history("e1").await.unwrap();
        assert_eq!(
            kinds(&history),
            [
                (1, EventKind::ExecutionStarted),
                (2, EventKind::StepSucceeded)
            ]
        );
        assert_eq!(history[1].address, "b");
        // Numbering goes on where it stopped, and the lease is still held.
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![output("c", b"3"), event(EventKind::StepSucceeded, "c")],
            )
            .await
            .unwrap();
        let checkpoints = store.checkpoints("e1").await.unwrap();
        assert_eq!(keys(&checkpoints)[2], (3, "c"));
        let history = store.history("e1").await.unwrap();
        assert_eq!(kinds(&history)[2], (3, EventKind::StepSucceeded));
        let err = store
            .acquire_lease("e1", "me", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Leased { .. }), "{err:?}");
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }
}

/// The schema of version 1 (`MIGRATIONS[0]` in `schema.rs`), as released: the stores
/// written by waypost before histories.
const SCHEMA_V1: &str = "CREATE TABLE executions (
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
     );";

fn user_version(path: &Path) -> i64 {
    Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_store_is_migrated_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        // A store as version 1 wrote it, with an execution mid-run.
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .unwrap();
        conn.execute_batch(&format!(
            "BEGIN;
             {SCHEMA_V1}
             PRAGMA application_id = {};
             PRAGMA user_version = 1;
             INSERT INTO executions (id, workflow, version, fingerprint, codec, status, input,
                 output, error, graph, redrives, created_ms, updated_ms)
             VALUES ('e1', 'orders', 1, 'fp', 'json', 'running', x'7b7d', NULL, NULL, '{{}}',
                 1, 1000, 1500);
             INSERT INTO checkpoints (execution_id, seq, key, kind, payload, checksum)
             VALUES ('e1', 1, 'a', 0, x'31', 1), ('e1', 2, 'b', 0, x'32', 1);
             INSERT INTO leases (execution_id, owner, expires_ms)
             VALUES ('e1', 'another-host.invalid:1:x', 9000000000000);
             COMMIT;",
            0x5750_5354
        ))
        .unwrap();
    }
    assert_eq!(user_version(&path), 1);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(user_version(&path), 6);

    // The old data is intact.
    let record = store.execution("e1").await.unwrap();
    assert_eq!(
        (
            record.status,
            record.redrives,
            record.created_ms,
            record.updated_ms
        ),
        (ExecutionStatus::Running, 1, 1_000, 1_500)
    );
    // Schema version 4 counts recoveries; an older execution starts at 0.
    assert_eq!(record.recoveries, 0);
    assert_eq!(record.input, b"{}");
    let checkpoints = store.checkpoints("e1").await.unwrap();
    assert_eq!(keys(&checkpoints), [(1, "a"), (2, "b")]);
    assert_eq!(checkpoints[1].payload, b"2");
    let err = store
        .acquire_lease("e1", "me", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Leased { .. }), "{err:?}");

    // An execution from before histories has an empty one, and events work.
    assert!(store.history("e1").await.unwrap().is_empty());
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                event(EventKind::ExecutionResumed, ""),
                output("c", b"3"),
                event(EventKind::StepSucceeded, "c"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&store.history("e1").await.unwrap()),
        [
            (1, EventKind::ExecutionResumed),
            (2, EventKind::StepSucceeded)
        ]
    );
    assert_eq!(
        keys(&store.checkpoints("e1").await.unwrap()),
        [(1, "a"), (2, "b"), (3, "c")]
    );
    store.create(new_execution("e2")).await.unwrap();
    store
        .commit(
            "e2",
            Fence::Unleased,
            vec![event(EventKind::ExecutionStarted, "")],
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&store.history("e2").await.unwrap()),
        [(1, EventKind::ExecutionStarted)]
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);

    // Opening the migrated file again migrates nothing and loses nothing.
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.history("e1").await.unwrap().len(), 2);
    assert_eq!(store.checkpoints("e1").await.unwrap().len(), 3);
    assert_eq!(user_version(&path), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_commits_share_transactions() {
    const N: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("store.db")).unwrap());
    for i in 0..N {
        store.create(new_execution(&format!("e{i}"))).await.unwrap();
    }

    let before = store.transactions_committed();
    // Spawn every task first, then wait: the commits queue up behind the writer.
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let id = format!("e{i}");
                store
                    .commit(&id, Fence::Unleased, vec![output("step", id.as_bytes())])
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let transactions = store.transactions_committed() - before;
    assert!(
        transactions < N as u64,
        "{N} concurrent commits took {transactions} transactions"
    );
    assert!(transactions >= 1);

    for i in 0..N {
        let checkpoints = store.checkpoints(&format!("e{i}")).await.unwrap();
        assert_eq!(checkpoints.len(), 1);
        assert_eq!(checkpoints[0].payload, format!("e{i}").as_bytes());
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_request_does_not_fail_its_group() {
    const N: usize = 120;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("store.db")).unwrap());
    for i in 0..N {
        let id = format!("e{i}");
        store.create(new_execution(&id)).await.unwrap();
        store
            .commit(&id, Fence::Unleased, vec![output("a", b"original")])
            .await
            .unwrap();
    }

    // A third conflict, a third write to unknown executions, a third are fine; all in
    // flight together, so most share groups.
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                match i % 3 {
                    0 => {
                        let writes = vec![output("b", b"new"), output("a", b"changed")];
                        store
                            .commit(&format!("e{i}"), Fence::Unleased, writes)
                            .await
                    }
                    1 => {
                        store
                            .commit(
                                &format!("missing{i}"),
                                Fence::Unleased,
                                vec![output("a", b"x")],
                            )
                            .await
                    }
                    _ => {
                        store
                            .commit(&format!("e{i}"), Fence::Unleased, vec![output("b", b"new")])
                            .await
                    }
                }
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        match i % 3 {
            0 => assert!(
                matches!(result, Err(StoreError::Conflict { .. })),
                "{result:?}"
            ),
            1 => assert!(
                matches!(result, Err(StoreError::NotFound { .. })),
                "{result:?}"
            ),
            _ => result.unwrap(),
        }
        let checkpoints = store.checkpoints(&format!("e{i}")).await.unwrap();
        let expected: &[(u64, &str)] = if i % 3 == 2 {
            &[(1, "a"), (2, "b")]
        } else {
            &[(1, "a")]
        };
        assert_eq!(keys(&checkpoints), expected, "execution e{i}");
        assert_eq!(checkpoints[0].payload, b"original");
    }
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_file_that_is_not_sqlite_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.bin");
    let bytes: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let err = refused_unchanged(&path);
    assert!(
        matches!(&err, StoreError::NotAStore { path: p, .. } if p.ends_with("random.bin")),
        "{err:?}"
    );

    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(40)).unwrap();
    let err = refused_unchanged(&path);
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
}

#[test]
fn another_applications_database_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();

    let path = dir.path().join("foreign.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
            .unwrap();
    }
    let err = refused_unchanged(&path);
    match &err {
        StoreError::NotAStore { reason, .. } => assert!(reason.contains("customers"), "{reason}"),
        other => panic!("expected NotAStore, got {other:?}"),
    }

    let path = dir.path().join("other-app.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA application_id = 1234; CREATE TABLE t (x)")
            .unwrap();
    }
    let err = refused_unchanged(&path);
    match &err {
        StoreError::NotAStore { reason, .. } => {
            assert!(reason.contains("application_id"), "{reason}")
        }
        other => panic!("expected NotAStore, got {other:?}"),
    }

    // An empty SQLite database (or an empty file) becomes a store.
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    SqliteStore::open(&path).unwrap();
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create(new_execution("e1")).await.unwrap();
    }
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
    }
    let err = refused_unchanged(&path);
    match err {
        StoreError::NewerSchema {
            path: p,
            found,
            supported,
        } => {
            assert!(p.ends_with("store.db"));
            assert_eq!(found, 99);
            assert_eq!(supported, 6);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

#[test]
fn a_missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("store.db");
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("no-such-dir"), "{text}");
    assert!(text.contains("does not exist"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lock_held_elsewhere_is_reported_then_waited_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open_with(&path, with_timeout(Duration::from_millis(100))).unwrap();
    store.create(new_execution("e1")).await.unwrap();

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = store
        .commit("e1", Fence::Unleased, vec![output("a", b"1")])
        .await
        .unwrap_err();
    match &err {
        StoreError::Locked { path: p, waited } => {
            assert!(p.ends_with("store.db"));
            assert!(*waited >= Duration::from_millis(90), "{waited:?}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let err = store.create(new_execution("e2")).await.unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    // WAL: reads go on while another connection writes.
    assert_eq!(store.checkpoints("e1").await.unwrap(), []);

    other.execute_batch("COMMIT").unwrap();
    store
        .commit("e1", Fence::Unleased, vec![output("a", b"1")])
        .await
        .unwrap();
    assert_eq!(store.checkpoints("e1").await.unwrap().len(), 1);
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[test]
fn a_file_held_in_exclusive_locking_mode_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());

    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
        .unwrap();
    let err = SqliteStore::open_with(&path, with_timeout(Duration::from_millis(100))).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("store.db"), "{err}");

    drop(other);
    let store = SqliteStore::open_with(&path, with_timeout(Duration::from_millis(100))).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_write_and_keeps_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    drop(SqliteStore::open(&path).unwrap());
    let pages: u32 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .unwrap();

    let options = SqliteStoreOptions {
        max_page_count: Some(pages + 8),
        ..SqliteStoreOptions::default()
    };
    let store = SqliteStore::open_with(&path, options).unwrap();
    store.create(new_execution("e1")).await.unwrap();
    store
        .commit("e1", Fence::Unleased, vec![output("small", b"fits")])
        .await
        .unwrap();

    let big = vec![7u8; 1 << 20];
    let err = store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                output("big", &big),
                Write::Status {
                    status: ExecutionStatus::Succeeded,
                    output: None,
                    error: None,
                    redrive: false,
                    at_ms: 5,
                },
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("full"), "{text}");
    assert!(text.contains("e1") && text.contains("store.db"), "{text}");

    // What was committed before is intact, nothing of the failed batch is there, and
    // the store goes on reading and writing.
    let checkpoints = store.checkpoints("e1").await.unwrap();
    assert_eq!(keys(&checkpoints), [(1, "small")]);
    assert_eq!(checkpoints[0].payload, b"fits");
    assert_eq!(
        store.execution("e1").await.unwrap().status,
        ExecutionStatus::Running
    );
    store
        .commit("e1", Fence::Unleased, vec![output("next", b"ok")])
        .await
        .unwrap();
    assert_eq!(
        keys(&store.checkpoints("e1").await.unwrap())[1],
        (2, "next")
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[tokio::test]
async fn damaged_rows_are_corrupt_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_execution("e1")).await.unwrap();
    store.create(new_execution("e2")).await.unwrap();
    store
        .commit("e2", Fence::Unleased, vec![output("a", b"1")])
        .await
        .unwrap();

    store.create(new_execution("e3")).await.unwrap();
    store
        .commit(
            "e3",
            Fence::Unleased,
            vec![
                event(EventKind::ExecutionStarted, ""),
                event(EventKind::StepStarted, "a"),
            ],
        )
        .await
        .unwrap();

    let edit = Connection::open(&path).unwrap();
    edit.execute_batch(
        "UPDATE executions SET status = 'bogus' WHERE id = 'e1';
         UPDATE checkpoints SET kind = 99 WHERE execution_id = 'e2';
         UPDATE events SET kind = 'StepTeleported' WHERE execution_id = 'e3' AND seq = 2;",
    )
    .unwrap();

    let err = store.execution("e1").await.unwrap_err();
    match &err {
        StoreError::Corrupt { detail } => {
            assert!(
                detail.contains("e1") && detail.contains("status"),
                "{detail}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let err = store.list(&ListFilter::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = store.checkpoints("e2").await.unwrap_err();
    match &err {
        StoreError::Corrupt { detail } => {
            assert!(
                detail.contains("e2") && detail.contains("kind") && detail.contains("99"),
                "{detail}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }

    let err = store.history("e3").await.unwrap_err();
    match &err {
        StoreError::Corrupt { detail } => {
            assert!(
                detail.contains("e3")
                    && detail.contains("event 2")
                    && detail.contains("kind")
                    && detail.contains("StepTeleported"),
                "{detail}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Other out-of-range values of an event too.
    edit.execute_batch(
        "UPDATE events SET kind = 'StepStarted', duration_ms = -1 WHERE execution_id = 'e3'",
    )
    .unwrap();
    let err = store.history("e3").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt { detail } if detail.contains("duration_ms")),
        "{err:?}"
    );
    // Details that are not the JSON of event details (edited in the sqlite3 shell).
    for details in ["not json", r#"{"items": "three"}"#, "42"] {
        edit.execute(
            "UPDATE events SET duration_ms = NULL, details = ?1 WHERE execution_id = 'e3'",
            [details],
        )
        .unwrap();
        let err = store.history("e3").await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt { detail }
                if detail.contains("e3") && detail.contains("event 1") && detail.contains("details")),
            "{details}: {err:?}"
        );
    }
    edit.execute_batch("UPDATE events SET details = '{}' WHERE execution_id = 'e3'")
        .unwrap();
    assert_eq!(store.history("e3").await.unwrap().len(), 2);

    edit.execute_batch(
        "UPDATE executions SET status = 'running', error = 'not json', created_ms = -5 WHERE id = 'e1'",
    )
    .unwrap();
    let err = store.execution("e1").await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("error"), "{err}");
}

#[tokio::test]
async fn a_closed_store_refuses_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    let clone = store.clone();
    store.create(new_execution("e1")).await.unwrap();
    store.close();

    assert!(matches!(
        clone.create(new_execution("e2")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        clone.commit("e1", Fence::Unleased, Vec::new()).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        clone.execution("e1").await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        clone
            .acquire_lease("e1", "me", Duration::from_secs(1))
            .await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(clone.integrity_check(), Err(StoreError::Closed)));
    // Closing twice is fine.
    clone.close();

    // What was written before is in the file.
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    assert_eq!(store.execution("e1").await.unwrap().id, "e1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_file_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();

    a.create(new_execution("e1")).await.unwrap();
    let (_, created) = b.create(new_execution("e1")).await.unwrap();
    assert!(!created);
    b.commit("e1", Fence::Unleased, vec![output("x", b"from b")])
        .await
        .unwrap();
    assert_eq!(a.checkpoints("e1").await.unwrap()[0].payload, b"from b");

    // The lease is what keeps two processes from running one execution.
    a.acquire_lease("e1", "another-host.invalid:1:a", Duration::from_secs(60))
        .await
        .unwrap();
    let err = b
        .acquire_lease("e1", "another-host.invalid:2:b", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Leased { .. }), "{err:?}");
}

#[tokio::test]
async fn the_file_is_plain_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    assert!(format!("{store:?}").contains("store.db"));
    assert_eq!(store.path(), path);
    store.create(new_execution("e1")).await.unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                output("a", b"1"),
                output("b", b"2"),
                event(EventKind::StepSucceeded, "b"),
                Write::Event(Box::new(Event {
                    seq: 0,
                    at_ms: 2_000,
                    kind: EventKind::StepFailed,
                    address: "c".to_owned(),
                    attempt: 2,
                    duration_ms: Some(5),
                    details: EventDetails::error(
                        &waypost_core::Error::new("Declined", "card declined").at("c"),
                    ),
                })),
            ],
        )
        .await
        .unwrap();

    let conn = Connection::open(&path).unwrap();
    let header: (i64, i64, String) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), \
                    (SELECT user_version FROM pragma_user_version), \
                    (SELECT journal_mode FROM pragma_journal_mode)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(header, (0x5750_5354, 6, "wal".to_owned()));
    let (status, workflow): (String, String) = conn
        .query_row(
            "SELECT status, workflow FROM executions WHERE id = 'e1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), workflow.as_str()), ("running", "orders"));
    let rows: Vec<(i64, String, i64, Vec<u8>)> = conn
        .prepare("SELECT seq, key, kind, payload FROM checkpoints ORDER BY seq")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (1, "a".to_owned(), 0, b"1".to_vec()),
            (2, "b".to_owned(), 0, b"2".to_vec())
        ]
    );
    let events: Vec<(i64, String, String, i64, Option<String>)> = conn
        .prepare(
            "SELECT seq, kind, address, attempt, details FROM events \
             WHERE execution_id = 'e1' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        events,
        [
            (1, "StepSucceeded".to_owned(), "b".to_owned(), 1, None),
            (
                2,
                "StepFailed".to_owned(),
                "c".to_owned(),
                2,
                Some(
                    r#"{"error":{"name":"Declined","message":"card declined","address":"c"}}"#
                        .to_owned()
                )
            ),
        ]
    );
    // The details are JSON that the sqlite3 shell's functions read.
    let declined: String = conn
        .query_row(
            "SELECT json_extract(details, '$.error.name') FROM events \
             WHERE execution_id = 'e1' AND kind = 'StepFailed'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(declined, "Declined");
}

#[test]
fn calls_work_outside_a_tokio_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("store.db")).unwrap();
    futures::executor::block_on(async {
        store.create(new_execution("e1")).await.unwrap();
        store
            .commit("e1", Fence::Unleased, vec![output("a", b"1")])
            .await
            .unwrap();
        assert_eq!(store.checkpoints("e1").await.unwrap().len(), 1);
    });
}

/// Regression: connections opening one new file at once used to get `Locked` at once
/// (SQLite reports contention on the WAL switch without waiting) or `NotAStore` (the
/// header and table list were read outside one snapshot while another created them).
#[test]
fn many_handles_opening_one_new_file_at_once_all_succeed() {
    for _ in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        let opened: Vec<Result<SqliteStore, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| SqliteStore::open(&path)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for result in opened {
            result.unwrap();
        }
    }
}

/// The files in `dir`, by name, with their size and a hash of their bytes.
fn files(dir: &Path) -> Vec<(String, usize, u64)> {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).unwrap();
            let mut hasher = DefaultHasher::new();
            bytes.hash(&mut hasher);
            (name, bytes.len(), hasher.finish())
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_read_only_store_reads_and_never_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");

    // A missing file is an error, and is not created.
    let err = SqliteStore::open_read_only(&path).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend { message, .. } if message == "the file does not exist"),
        "{err:?}"
    );
    assert!(err.to_string().contains("store.db"), "{err}");
    assert!(files(dir.path()).is_empty(), "nothing is created");

    {
        let store = SqliteStore::open(&path).unwrap();
        store.create(new_execution("e1")).await.unwrap();
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![output("a", b"1"), event(EventKind::StepSucceeded, "0.a")],
            )
            .await
            .unwrap();
    }
    let before = files(dir.path());

    let store = SqliteStore::open_read_only(&path).unwrap();
    assert!(store.is_read_only());
    assert_eq!(store.execution("e1").await.unwrap().id, "e1");
    assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 1);
    assert_eq!(keys(&store.checkpoints("e1").await.unwrap()), [(1, "a")]);
    assert_eq!(
        kinds(&store.history("e1").await.unwrap()),
        [(1, EventKind::StepSucceeded)]
    );
    assert!(matches!(
        store.execution("nope").await,
        Err(StoreError::NotFound { .. })
    ));

    // Every write is refused, saying why.
    let refusals = [
        store.create(new_execution("e2")).await.map(|_| ()),
        store
            .commit("e1", Fence::Unleased, vec![output("b", b"2")])
            .await,
        store
            .acquire_lease("e1", "me", Duration::from_secs(1))
            .await
            .map(drop),
        store
            .release_lease(
                "e1",
                &waypost_core::store::LeaseToken {
                    owner: "me".into(),
                    epoch: 1,
                },
            )
            .await,
        store
            .claim(&waypost_core::store::ClaimRequest {
                owner: "me".into(),
                workflows: vec![("orders".into(), 1)],
                limit: 1,
                ttl: Duration::from_secs(1),
            })
            .await
            .map(drop),
    ];
    for refusal in refusals {
        match refusal {
            Err(StoreError::Backend { doing, message }) => {
                assert_eq!(message, "the store was opened read-only");
                assert!(doing.contains("store.db"), "{doing}");
            }
            other => panic!("expected a read-only refusal, got {other:?}"),
        }
    }
    assert_eq!(store.transactions_committed(), 0);
    drop(store);
    // The store file is as it was, and the `-wal` and `-shm` files that reading made
    // are gone again.
    assert_eq!(files(dir.path()), before, "the directory is as it was");

    // Where the user may not write the file, a read-only connection reads it; it
    // cannot remove what it makes, which holds no data.
    let mut permissions = std::fs::metadata(&path).unwrap().permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&path, permissions.clone()).unwrap();
    let writable_by_root = std::fs::OpenOptions::new().write(true).open(&path).is_ok();
    let store = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 1);
    drop(store);
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    std::fs::set_permissions(&path, permissions).unwrap();
    let after = files(dir.path());
    assert_eq!(after[0], before[0], "the store file is unchanged");
    if writable_by_root {
        assert_eq!(after, before, "root may write the file: it cleans up");
    }
    for (name, size, _) in &after[1..] {
        match name.as_str() {
            "store.db-wal" => assert_eq!(*size, 0, "the WAL holds nothing"),
            "store.db-shm" => {}
            other => panic!("unexpected file {other}"),
        }
    }
    SqliteStore::open(&path).unwrap().close();
    assert_eq!(files(dir.path()), before, "a read-write close removes them");
}

/// A read-only look at a store that a program has open leaves the program's `-wal`
/// and `-shm` alone, and sees its commits.
#[tokio::test]
async fn a_read_only_look_beside_a_writer_leaves_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let writer = SqliteStore::open(&path).unwrap();
    writer.create(new_execution("e1")).await.unwrap();
    let during = files(dir.path());
    assert_eq!(during.len(), 3, "{during:?}");
    let reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(reader.list(&ListFilter::default()).await.unwrap().len(), 1);
    drop(reader);
    let names =
        |files: Vec<(String, usize, u64)>| files.into_iter().map(|f| f.0).collect::<Vec<_>>();
    assert_eq!(names(files(dir.path())), names(during));
    writer
        .commit("e1", Fence::Unleased, vec![output("a", b"1")])
        .await
        .unwrap();
    writer.close();
    assert_eq!(
        files(dir.path()).len(),
        1,
        "the writer's close removes them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_store_sees_what_a_writer_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let writer = SqliteStore::open(&path).unwrap();
    writer.create(new_execution("e1")).await.unwrap();
    let reader = SqliteStore::open_read_only(&path).unwrap();
    assert_eq!(reader.history("e1").await.unwrap(), []);
    writer
        .commit(
            "e1",
            Fence::Unleased,
            vec![event(EventKind::StepStarted, "0.a")],
        )
        .await
        .unwrap();
    assert_eq!(
        kinds(&reader.history("e1").await.unwrap()),
        [(1, EventKind::StepStarted)]
    );
}

#[tokio::test]
async fn read_only_opening_refuses_what_it_cannot_read_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |path: &Path| {
        let before = std::fs::read(path).unwrap();
        let err = SqliteStore::open_read_only(path).unwrap_err();
        assert_eq!(std::fs::read(path).unwrap(), before, "{}", path.display());
        err
    };

    // Not a database, and an empty file (which `open` would make a store of).
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(40)).unwrap();
    assert!(matches!(refused(&path), StoreError::NotAStore { .. }));
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    match refused(&path) {
        StoreError::NotAStore { reason, .. } => assert_eq!(reason, "it is an empty database"),
        other => panic!("expected NotAStore, got {other:?}"),
    }

    // A directory.
    let err = SqliteStore::open_read_only(dir.path()).unwrap_err();
    assert!(
        matches!(&err, StoreError::Backend { message, .. } if message == "it is not a file"),
        "{err:?}"
    );

    // A newer store.
    let path = dir.path().join("newer.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create(new_execution("e1")).await.unwrap();
    }
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    match refused(&path) {
        StoreError::NewerSchema {
            found, supported, ..
        } => assert_eq!((found, supported), (99, 6)),
        other => panic!("expected NewerSchema, got {other:?}"),
    }

    // An older store is not migrated.
    let path = dir.path().join("v1.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch(&format!(
            "{SCHEMA_V1}; PRAGMA application_id = {}; PRAGMA user_version = 1;",
            0x5750_5354
        ))
        .unwrap();
    match refused(&path) {
        StoreError::Backend { message, .. } => {
            assert!(message.contains("schema version 1"), "{message}");
            assert!(message.contains("SqliteStore::open"), "{message}");
        }
        other => panic!("expected Backend, got {other:?}"),
    }
    assert_eq!(user_version(&path), 1);
}

/// An execution's input and output carry checksums like checkpoints do: a flipped bit
/// that would still decode is reported, naming the execution and the column.
#[tokio::test]
async fn a_flipped_bit_in_an_execution_input_or_output_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_execution("e1")).await.unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![Write::Status {
                status: ExecutionStatus::Succeeded,
                output: Some(b"the output".to_vec()),
                error: None,
                redrive: false,
                at_ms: 2,
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        store.execution("e1").await.unwrap().output.as_deref(),
        Some(&b"the output"[..])
    );

    let conn = Connection::open(&path).unwrap();
    for (column, corrupt) in [
        (
            "output",
            "UPDATE executions SET output = X'00' || substr(output, 2)",
        ),
        (
            "input",
            "UPDATE executions SET input = X'FF' || substr(input, 2)",
        ),
    ] {
        conn.execute_batch(corrupt).unwrap();
        let err = store.execution("e1").await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("`e1`") && message.contains(column) && message.contains("checksum"),
            "{message}"
        );
    }
}

/// A 512 KiB tmpfs mounted on a fresh directory, unmounted when dropped. `None` (saying
/// so) where mounting is not allowed; on CI, where the tests run as root, it must work.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount() -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success());
        if !mounted {
            assert!(
                std::env::var_os("CI").is_none(),
                "the full-disk test needs to mount a tmpfs (root) on CI"
            );
            println!("full-disk test skipped: cannot mount a tmpfs here");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_named_and_what_was_committed_stays() {
    let Some(disk) = SmallDisk::mount() else {
        return;
    };
    let path = disk.dir.path().join("store.db");
    let store = SqliteStore::open(&path).unwrap();
    store.create(new_execution("e1")).await.unwrap();
    let mut committed = Vec::new();
    let mut failure = None;
    for i in 0..200 {
        let key = format!("k{i}");
        match store
            .commit("e1", Fence::Unleased, vec![output(&key, &[7u8; 16 << 10])])
            .await
        {
            Ok(()) => committed.push(key),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let failure = failure.expect("a 512 KiB disk fills up");
    let text = failure.to_string();
    assert!(
        text.contains("the disk holding the store is full") && text.contains("store.db"),
        "{text}"
    );
    assert!(!committed.is_empty());
    // What was committed before is all there.
    let keys: Vec<String> = store
        .checkpoints("e1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(keys, committed);
    store.close();
}
