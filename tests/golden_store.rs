//! Golden stores: a store file written by an earlier build is checked in under
//! `tests/golden/`, and every later build must still read and resume it. One file per
//! store schema version; `store-v3.db` holds a succeeded, a failed and an interrupted
//! execution of [`golden`].
//!
//! Regenerate (only when adding a file for a new schema version, never to make a test
//! pass): `cargo test --test golden_store -- --ignored write_golden_store`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use waypost::SqliteStore;
use waypost::prelude::*;
use waypost::replay::ReplayError;

static RUNS_A: AtomicU32 = AtomicU32::new(0);
static RUNS_B: AtomicU32 = AtomicU32::new(0);
static HOLD_B: AtomicBool = AtomicBool::new(false);

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

fn golden_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/store-v3.db")
}

/// A copy of the golden store in a fresh directory (tests never touch the original).
fn copy_of_golden() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    std::fs::copy(golden_file(), &path).unwrap();
    (dir, path)
}

#[tokio::test]
#[ignore = "writes tests/golden/store-v3.db; run by hand for a new schema version"]
async fn write_golden_store() {
    let path = golden_file();
    let _ = std::fs::remove_file(&path);
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
    }
    // Closing the last connection folds the WAL into the file.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(path.exists());
}

#[tokio::test]
async fn the_golden_store_is_read_and_resumed() {
    let (_dir, path) = copy_of_golden();
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

    let (a, b) = (RUNS_A.load(Ordering::SeqCst), RUNS_B.load(Ordering::SeqCst));
    assert_eq!(runtime.resume(&wf, "interrupted").await.unwrap(), 50);
    // `step_a` was checkpointed in the golden file: only `step_b` runs.
    assert_eq!(RUNS_A.load(Ordering::SeqCst) - a, 0);
    assert_eq!(RUNS_B.load(Ordering::SeqCst) - b, 1);
}

#[tokio::test]
async fn a_changed_workflow_is_refused_and_the_golden_file_is_left_as_it_was() {
    let (_dir, path) = copy_of_golden();
    let before = std::fs::read(&path).unwrap();
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
        "the store file changed"
    );
}
