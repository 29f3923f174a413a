//! Golden stores: a store file written by an earlier build is checked in under
//! `tests/golden/`, and every later build must still read and resume it. One file per
//! store schema version (see [`GOLDEN`]); each holds a succeeded, a failed and an
//! interrupted execution of [`golden`]. In `store-v4.db` the interrupted one was also
//! taken over once after its owner's lease lapsed (it counts one recovery). Since
//! `store-v5.db`, events have typed details (older ones keep their text as `detail`),
//! the takeover is an `ExecutionRecovered` event of the history, and the execution
//! `details` of [`detailed`] holds one event of each shape of details. Since
//! `store-v6.db`, executions have a lease epoch (a run's writes are fenced with it)
//! and a wake-up time (when a worker may claim it).
//!
//! Write the file of a new schema version (only then, never to make a test pass, and
//! never over an existing file): point [`CURRENT`] at it and run
//! `cargo test --test golden_store -- --ignored write_golden_store`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::replay::ReplayError;
use waypost::{Event, EventKind, SqliteStore, Store};

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

#[step]
async fn flaky(cx: &StepContext, x: u64) -> Result<u64, Error> {
    if cx.attempt() == 1 {
        return Err(
            Error::new("Transient", "first attempt fails").caused_by(Error::new("Io", "reset"))
        );
    }
    Ok(x)
}

#[step]
async fn half(x: u64) -> Result<u64, Error> {
    if x % 2 == 1 {
        return Err(Error::new("Odd", format!("{x} is odd")));
    }
    Ok(x / 2)
}

/// The workflow of the execution `details` (since `store-v5.db`): a retry, a choice, a
/// timer, and a map with a tolerated failure.
fn detailed() -> Workflow<u64, Vec<Result<u64, Error>>> {
    Workflow::new(
        "detailed",
        1,
        flaky
            .retry(
                RetryPolicy::builder()
                    .max_attempts(2)
                    .interval(Duration::from_millis(3))
                    .build(),
            )
            .then(
                choice()
                    .when("small", |x: &u64| *x < 10, pass("keep", |x: u64| x))
                    .otherwise(pass("cap", |_: u64| 10)),
            )
            .then(wait(Duration::from_millis(2)))
            .then(pass("items", |x: u64| vec![x, x + 1, x + 2]))
            .then(
                map(half)
                    .max_concurrency(1)
                    .tolerate(ToleratedFailures::Count(1)),
            ),
    )
}

/// Every golden file, oldest schema first: (file, schema version).
const GOLDEN: &[(&str, u32)] = &[
    ("store-v3.db", 3),
    ("store-v4.db", 4),
    ("store-v5.db", 5),
    ("store-v6.db", 6),
];

/// The golden file of the schema this build writes.
const CURRENT: &str = "store-v6.db";

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
        let lease = store
            .acquire_lease("interrupted", "recovered", Duration::from_secs(60))
            .await
            .unwrap();
        store
            .release_lease("interrupted", &lease.token)
            .await
            .unwrap();
        assert_eq!(store.execution("interrupted").await.unwrap().recoveries, 1);
        // Since schema v5: an execution with one event of each shape of details.
        let runtime = Runtime::builder().store(store).build();
        runtime.start(&detailed(), "details", 4).await.unwrap();
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
    check_details(&runtime, name, version).await;

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

/// The details of the golden events: typed since schema v5, the text of older ones
/// kept as `detail`.
async fn check_details(runtime: &Runtime, name: &str, version: u32) {
    let failed = runtime.history("failed").await.unwrap();
    let started = &failed[0];
    let step_failed = failed
        .iter()
        .find(|e| e.kind == EventKind::StepFailed)
        .unwrap();
    let recovered: Vec<Event> = runtime
        .history("interrupted")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::ExecutionRecovered)
        .collect();
    assert_eq!(started.summary(), "workflow `golden` v1", "{name}");
    assert_eq!(step_failed.summary(), "Unlucky: 13 is refused", "{name}");
    if version < 5 {
        assert_eq!(
            started.details.detail.as_deref(),
            Some("workflow `golden` v1"),
            "{name}"
        );
        assert_eq!(
            step_failed.details.detail.as_deref(),
            Some("Unlucky: 13 is refused"),
            "{name}"
        );
        assert!(started.details.workflow.is_none(), "{name}");
        // The recovery of `store-v4.db` was counted before recoveries were events.
        assert!(recovered.is_empty(), "{name}");
        assert!(runtime.execution("details").await.is_err(), "{name}");
        return;
    }
    assert_eq!(started.details.workflow.as_deref(), Some("golden"));
    assert_eq!(started.details.version, Some(1));
    let error = step_failed.details.error.as_ref().unwrap();
    assert_eq!(
        (error.name.as_str(), error.message.as_str()),
        ("Unlucky", "13 is refused")
    );
    assert_eq!(error.address.as_deref(), Some("0.step_a"));
    assert_eq!(recovered.len(), 1, "{name}");
    let details = &recovered[0].details;
    assert_eq!(
        (
            details.owner.as_deref(),
            details.previous_owner.as_deref(),
            details.recoveries
        ),
        (Some("recovered"), Some("lapsed"), Some(1))
    );

    let history = runtime.history("details").await.unwrap();
    let summaries: Vec<String> = history
        .iter()
        .map(|e| format!("{} {} {}", e.kind, e.address, e.summary()))
        .collect();
    let has = |line: &str| {
        assert!(
            summaries.iter().any(|s| s == line),
            "{line} not in {summaries:#?}"
        );
    };
    has("StepFailed 0.flaky Transient: first attempt fails: Io: reset");
    has("RetryScheduled 0.flaky retry in 3ms after Transient");
    has("BranchChosen 1.choice small");
    has("TimerStarted 2.wait 2ms");
    has("MapStarted 4.map 3 items");
    has("MapItemFinished 4.map/1 failed: Odd");
    has("MapItemFinished 4.map/0 succeeded");
    has("MapFinished 4.map 1 of 3 items failed");
    let retry = history
        .iter()
        .find(|e| e.kind == EventKind::RetryScheduled)
        .unwrap();
    let error = retry.details.error.as_ref().unwrap();
    assert_eq!(error.cause.as_ref().unwrap().name, "Io");
    assert_eq!(retry.details.delay_ms, Some(3));
    assert!(history.iter().all(|e| e.details.detail.is_none()));
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
        assert!(version < GOLDEN[GOLDEN.len() - 1].1);
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
