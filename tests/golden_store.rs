//! Golden stores: a store file written by an earlier build is checked in under
//! `tests/golden/`, and every later build must still read and resume it. One file per
//! store schema version (see [`GOLDEN`]); each holds a succeeded, a failed and an
//! interrupted execution of [`golden`]. In `store-v4.db` the interrupted one was also
//! taken over once after its owner's lease lapsed (it counts one recovery).
//!
//! Write the file of a new schema version (only then, never to make a test pass, and
//! never over an existing file): point [`CURRENT`] at it and run
//! `cargo test --test golden_store -- --ignored write_golden_store`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::replay::ReplayError;
use waypost::{SqliteStore, Store};

static RUNS_A: AtomicU32 = AtomicU32::new(0);
static RUNS_B: AtomicU32 = AtomicU32::new(0);
static HOLD_B: AtomicBool = AtomicBool::new(false);
/// The tests count step runs in the statics above: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[step]
async fn step_a(x: u64) -> Result<u64, Error> {
    RUNS_A.fetch_add(1, Ordering::SeqCst);
    if x == 13 {
        return Err(Error::new("Unlucky", "13 is refused"));
    }
    Ok(x + 1)
}

#[step]
async fn step_b(x: u64) -> u64 {
    RUNS_B.fetch_add(1, Ordering::SeqCst);
    while HOLD_B.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    x * 10
}

/// The workflow the golden store was written with.
fn golden() -> Workflow<u64, u64> {
    Workflow::new("golden", 1, step_a.then(step_b))
}

/// Every golden file, oldest schema first: (file, schema version).
const GOLDEN: &[(&str, u32)] = &[("store-v3.db", 3), ("store-v4.db", 4)];

/// The golden file of the schema this build writes.
const CURRENT: &str = "store-v4.db";

fn golden_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// A copy of the golden store `name` in a fresh directory (tests never touch the
/// original).
fn copy_of_golden(name: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    std::fs::copy(golden_file(name), &path).unwrap();
    (dir, path)
}

#[tokio::test]
#[ignore = "writes the golden file of the current schema; run by hand for a new schema version"]
async fn write_golden_store() {
    let path = golden_file(CURRENT);
    assert!(
        !path.exists(),
        "{} exists: golden files are never rewritten",
        path.display()
    );
    {
        let runtime = Runtime::builder()
            .store(SqliteStore::open(&path).unwrap())
            .build();
        let wf = golden();
        assert_eq!(runtime.start(&wf, "done", 1).await.unwrap(), 20);
        assert!(runtime.start(&wf, "failed", 13).await.is_err());
        // Interrupted after `step_a`'s checkpoint, while `step_b` runs.
        HOLD_B.store(true, Ordering::SeqCst);
        let before = RUNS_B.load(Ordering::SeqCst);
        let run = runtime.start(&wf, "interrupted", 4);
        tokio::select! {
            _ = run => panic!("the run finished"),
            () = async { while RUNS_B.load(Ordering::SeqCst) == before { tokio::time::sleep(Duration::from_millis(1)).await; } } => {}
        }
        // Let the dropped run's lease release go through before the store closes.
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Since schema v4: one recovery (a takeover from an owner whose lease lapsed),
        // and no lease left behind.
        let store = SqliteStore::open(&path).unwrap();
        store
            .acquire_lease("interrupted", "lapsed", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        store
            .acquire_lease("interrupted", "recovered", Duration::from_secs(60))
            .await
            .unwrap();
        store
            .release_lease("interrupted", "recovered")
            .await
            .unwrap();
        assert_eq!(store.execution("interrupted").await.unwrap().recoveries, 1);
    }
    // Closing the last connection folds the WAL into the file.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(path.exists());
}

#[tokio::test]
async fn every_golden_store_is_read_and_resumed() {
    let _serial = SERIAL.lock().await;
    for &(name, version) in GOLDEN {
        read_and_resume(name, version).await;
    }
}

async fn read_and_resume(name: &str, version: u32) {
    let (_dir, path) = copy_of_golden(name);
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .build();
    let wf = golden();
    assert_eq!(runtime.output::<u64>("done").await.unwrap(), Some(20));
    assert_eq!(runtime.start(&wf, "done", 1).await.unwrap(), 20);
    let failed = runtime.execution("failed").await.unwrap();
    assert_eq!(failed.error.unwrap().name(), "Unlucky");
    assert_eq!(
        runtime.status("interrupted").await.unwrap(),
        ExecutionStatus::Running
    );
    assert!(!runtime.history("done").await.unwrap().is_empty());
    // Recoveries are counted since schema v4; older executions start at 0.
    let recoveries = runtime.execution("interrupted").await.unwrap().recoveries;
    assert_eq!(recoveries, u32::from(version >= 4), "{name}");

    let (a, b) = (RUNS_A.load(Ordering::SeqCst), RUNS_B.load(Ordering::SeqCst));
    assert_eq!(runtime.resume(&wf, "interrupted").await.unwrap(), 50);
    // `step_a` was checkpointed in the golden file: only `step_b` runs.
    assert_eq!(RUNS_A.load(Ordering::SeqCst) - a, 0, "{name}");
    assert_eq!(RUNS_B.load(Ordering::SeqCst) - b, 1, "{name}");
    // The failed execution is redriven (into the same refusal: 13 stays unlucky).
    let err = runtime.redrive(&wf, "failed").await.unwrap_err();
    assert!(
        matches!(&err, RunError::Failed { error, .. } if error.name() == "Unlucky"),
        "{name}: {err}"
    );
    assert_eq!(runtime.execution("failed").await.unwrap().redrives, 1);
}

#[tokio::test]
async fn a_changed_workflow_is_refused_and_the_golden_file_is_left_as_it_was() {
    let _serial = SERIAL.lock().await;
    for &(name, version) in GOLDEN {
        refuse_changed_workflow(name, version).await;
    }
}

async fn refuse_changed_workflow(name: &str, version: u32) {
    let (_dir, path) = copy_of_golden(name);
    // An older store is migrated when it is opened: compare with the migrated file. A
    // store of the current schema is not changed by opening it at all.
    SqliteStore::open(&path).unwrap().close();
    let before = std::fs::read(&path).unwrap();
    if name == CURRENT {
        assert!(before == std::fs::read(golden_file(name)).unwrap());
    } else {
        assert!(version < 4);
    }
    {
        let store = SqliteStore::open(&path).unwrap();
        let runtime = Runtime::builder().store(store.clone()).build();
        let changed = Workflow::new(
            "golden",
            2,
            step_a.then(step_b).then(pass("more", |x: u64| x + 1)),
        );
        let (a, b) = (RUNS_A.load(Ordering::SeqCst), RUNS_B.load(Ordering::SeqCst));
        let err = runtime.resume(&changed, "interrupted").await.unwrap_err();
        // The message names both fingerprints, for the person reading the log.
        let message = err.to_string();
        assert!(
            message.contains(golden().fingerprint()) && message.contains(changed.fingerprint()),
            "{name}: {message}"
        );
        match err {
            RunError::Replay(ReplayError::FingerprintMismatch {
                stored,
                current,
                stored_version,
                current_version,
                ..
            }) => {
                assert_eq!((stored_version, current_version), (1, 2));
                assert_eq!(stored, golden().fingerprint());
                assert_eq!(current, changed.fingerprint());
            }
            other => panic!("expected a fingerprint mismatch, got {other}"),
        }
        assert_eq!(
            (
                RUNS_A.load(Ordering::SeqCst) - a,
                RUNS_B.load(Ordering::SeqCst) - b
            ),
            (0, 0)
        );
        store.close();
    }
    assert!(
        std::fs::read(&path).unwrap() == before,
        "{name}: the store file changed"
    );
    // Nor did the refusal leave a lease or a recovery behind.
    let store = SqliteStore::open(&path).unwrap();
    let record = store.execution("interrupted").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Running);
    assert_eq!(record.recoveries, u32::from(version >= 4));
    store.close();
}
