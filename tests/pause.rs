//! Pause from another process: this test binary re-runs itself as a child process
//! (`--ignored --exact pause_child`) that runs `a` → `b` on a SQLite store; while `a`
//! runs, this process pauses the execution through the same store. `a` finishes and is
//! checkpointed, `b` does not start until this process unpauses it, then the child's
//! run ends.

use std::path::Path;
use std::time::Duration;

use waypost::prelude::*;
use waypost::{EventKind, SqliteStore, Store};

#[path = "support/process.rs"]
mod process;

const EXECUTION: &str = "paused-1";

/// Logs its name, then takes `ms`.
async fn logged(name: &str, ms: u64, x: u64) -> u64 {
    process::log_to("WAYPOST_PAUSE_LOG", &format!("{name} started"));
    tokio::time::sleep(Duration::from_millis(ms)).await;
    process::log_to("WAYPOST_PAUSE_LOG", &format!("{name} finished"));
    x + 1
}

#[step]
async fn a(x: u64) -> u64 {
    logged("a", 2_000, x).await
}

#[step]
async fn b(x: u64) -> u64 {
    logged("b", 10, x).await
}

#[tokio::test]
#[ignore = "run by the pause test as a child process"]
async fn pause_child() {
    let path = std::env::var("WAYPOST_PAUSE_STORE").expect("WAYPOST_PAUSE_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .build();
    let wf = Workflow::new("pausable", 1, a.then(b));
    let output = runtime.start(&wf, EXECUTION, 1).await.unwrap();
    println!("OUTPUT {output}");
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("steps.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_from_another_process_holds_the_next_step_until_unpaused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pause.db");
    let child = process::child("pause_child")
        .env("WAYPOST_PAUSE_STORE", &path)
        .env("WAYPOST_PAUSE_LOG", dir.path().join("steps.log"))
        .spawn()
        .unwrap();
    process::until("`a` to start", async || {
        log(dir.path()).contains("a started")
    })
    .await;
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .build();
    assert!(runtime.pause(EXECUTION).await.unwrap());

    // `a` ends and is kept; `b` waits.
    process::until("`a` to finish", async || {
        log(dir.path()).contains("a finished")
    })
    .await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(
        !log(dir.path()).contains("b started"),
        "{}",
        log(dir.path())
    );
    let store = SqliteStore::open_read_only(&path).unwrap();
    let checkpoints = store.checkpoints(EXECUTION).await.unwrap();
    assert!(
        checkpoints.iter().any(|c| c.key == "0.a"),
        "a's result is kept"
    );

    assert!(runtime.unpause(EXECUTION).await.unwrap());
    let stdout = process::finished(child);
    assert!(stdout.contains("OUTPUT 3"), "{stdout}");
    assert_eq!(
        log(dir.path()).matches("a started").count(),
        1,
        "a ran once"
    );
    let kinds: Vec<EventKind> = store
        .history(EXECUTION)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    let paused = kinds.iter().position(|k| *k == EventKind::ExecutionPaused);
    let b_started = kinds.iter().rposition(|k| *k == EventKind::StepStarted);
    let unpaused = kinds
        .iter()
        .position(|k| *k == EventKind::ExecutionUnpaused);
    assert!(paused < unpaused && unpaused < b_started, "{kinds:?}");
}
