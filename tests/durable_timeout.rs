//! A timeout's limit counts from the state's first start, also across a crash: this test
//! binary re-runs itself as a child process (`--ignored --exact timeout_child`) that runs
//! a step which never finishes under a 4-second timeout on a SQLite store; the parent
//! SIGKILLs it 2.5 seconds into the step and starts a fresh child at once. The resumed
//! run must time out when the first start's 4 seconds are up, not 4 seconds after the
//! restart, and the recorded deadline must be the one the first run wrote.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{EventKind, RuntimeConfig, SqliteStore, Store};

#[path = "support/process.rs"]
mod process;

const EXECUTION: &str = "timed";
const LIMIT: Duration = Duration::from_secs(4);
const KILL_AFTER: Duration = Duration::from_millis(2500);

#[step]
async fn forever(x: u32) -> u32 {
    std::future::pending::<()>().await;
    x
}

fn workflow() -> Workflow<u32, u32> {
    Workflow::new("timed", 1, forever.timeout(LIMIT))
}

#[tokio::test]
#[ignore = "run by the durable timeout test as a child process"]
async fn timeout_child() {
    let path = std::env::var("WAYPOST_TIMEOUT_STORE").expect("WAYPOST_TIMEOUT_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        // The killed child's lease is taken over without waiting it out.
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    let error = runtime.start(&workflow(), EXECUTION, 1).await.unwrap_err();
    println!("ERROR {error}");
}

fn spawn_child(store: &Path) -> Child {
    process::child("timeout_child")
        .env("WAYPOST_TIMEOUT_STORE", store)
        .spawn()
        .unwrap()
}

/// The deadline the store holds for the timeout, in ms since the Unix epoch.
async fn recorded_deadline(store: &SqliteStore) -> Option<u64> {
    let checkpoints = store.checkpoints(EXECUTION).await.ok()?;
    checkpoints
        .iter()
        .find(|c| c.kind == CheckpointKind::Deadline && c.key.ends_with("~deadline"))
        .map(|c| u64::from_le_bytes(c.payload[..].try_into().unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_inside_a_timed_step_does_not_restart_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("timed.db");
    let mut first = spawn_child(&path);

    // Wait for the deadline to be stored (the step has started), then let the step
    // run a while before the kill.
    let reader = loop {
        if let Ok(reader) = SqliteStore::open_read_only(&path)
            && recorded_deadline(&reader).await.is_some()
        {
            break reader;
        }
        assert!(first.try_wait().unwrap().is_none(), "the child ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let deadline = recorded_deadline(&reader).await.unwrap();
    let started = deadline - u64::try_from(LIMIT.as_millis()).unwrap();
    tokio::time::sleep(KILL_AFTER).await;
    process::sigkill(&mut first);

    let restarted = Instant::now();
    let stdout = process::finished(spawn_child(&path));
    assert!(
        stdout.contains("ERROR") && stdout.contains("did not finish"),
        "{stdout}"
    );
    // What would have happened with a fresh limit: 4 s after the restart.
    let fresh_limit_ends = restarted.elapsed() >= LIMIT;
    assert!(
        !fresh_limit_ends,
        "the resumed run waited a whole fresh limit ({:?})",
        restarted.elapsed()
    );

    // The deadline is the first run's, and the timeout is recorded at it: its
    // failure event comes after the deadline, and before a fresh limit would end.
    assert_eq!(recorded_deadline(&reader).await, Some(deadline));
    let history = reader.history(EXECUTION).await.unwrap();
    let timed_out = history
        .iter()
        .find(|e| e.kind == EventKind::StepFailed)
        .expect("the timeout is in the history");
    assert!(
        timed_out.at_ms >= deadline,
        "{timed_out:?} before {deadline}"
    );
    assert!(
        timed_out.at_ms < started + u64::try_from((KILL_AFTER + LIMIT).as_millis()).unwrap(),
        "{timed_out:?}: a fresh limit after the restart"
    );
    assert!(
        history
            .iter()
            .any(|e| e.kind == EventKind::ExecutionRecovered),
        "the second run took the killed one over"
    );
}
