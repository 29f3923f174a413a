//! A settled map with min successful across a SIGKILL: a child process runs it on a
//! SQLite store and is killed while an item runs, after earlier items finished and
//! before the map ends; a second process resumes it. The resumed batch is what the
//! decision rule gives, the items finished before the kill do not run again, and the
//! items the decision skipped never run. Starting the finished execution again
//! returns the identical batch. A process killed after the map, in the step after it,
//! resumes with the recorded batch and starts no item.
//!
//! The process test re-runs this binary as a child (`--ignored --exact settled_child`).

use std::process::Command;
use std::time::Duration;

use waypost::completion::{CompletionReason, Outcome, Settled};
use waypost::prelude::*;
use waypost::{RuntimeConfig, SqliteStore};

#[path = "support/process.rs"]
mod process;

fn log(line: &str) {
    process::log_to("WAYPOST_SETTLED_LOG", line);
}

/// Items whose index is odd and below 4 fail; item 3 stalls in the first process
/// (which the test kills while it runs).
#[step]
async fn check(index: u32) -> Result<u32, Error> {
    log(&format!("start {index}"));
    if index == 3 && std::env::var("WAYPOST_SETTLED_STALL").is_ok() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    log(&format!("end {index}"));
    if index % 2 == 1 && index < 4 {
        return Err(Error::new("Bad", format!("item {index} failed")));
    }
    Ok(index * 10)
}

type Batch = Settled<Vec<Outcome<u32>>>;

/// The step after the map: stalls in the first process of the second test.
#[step]
async fn after(batch: Batch) -> Batch {
    log("after ran");
    if std::env::var("WAYPOST_SETTLED_STALL_AFTER").is_ok() {
        std::future::pending::<()>().await;
    }
    batch
}

fn workflow() -> Workflow<Vec<u32>, Batch> {
    Workflow::new(
        "settled",
        1,
        map(check)
            .settled()
            .min_successful(4)
            .max_concurrency(1)
            .then(after),
    )
}

#[tokio::test]
#[ignore = "run by the settled process test as a child process"]
async fn settled_child() {
    let path = std::env::var("WAYPOST_SETTLED_STORE").expect("WAYPOST_SETTLED_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    let batch = runtime
        .start(&workflow(), "settled-1", (0..8).collect())
        .await
        .unwrap();
    println!("OUTPUT {}", serde_json::to_string(&batch).unwrap());
}

/// A child process of this binary running `settled_child` on the store and log in
/// `dir`, with `stall` (an environment variable) set if given.
fn child(dir: &std::path::Path, stall: Option<&str>) -> Command {
    let mut command = process::child("settled_child");
    command
        .env("WAYPOST_SETTLED_STORE", dir.join("settled.db"))
        .env("WAYPOST_SETTLED_LOG", dir.join("settled.log"));
    if let Some(stall) = stall {
        command.env(stall, "1");
    }
    command
}

/// The batch a child printed, running it to its end.
fn printed(child: &mut Command) -> String {
    let stdout = process::finish(child);
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("OUTPUT "))
        .unwrap_or_else(|| panic!("no output: {stdout}"))
        .to_owned()
}

/// Asserts `batch` is what the decision rule gives: outcomes S F S F S S in input
/// order, the fourth success is item 5, items 6 and 7 are skipped.
fn assert_decided(batch: &Batch) {
    assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    assert_eq!(
        (batch.counts().succeeded(), batch.counts().failed()),
        (4, 2)
    );
    for (index, outcome) in batch.outcomes().iter().enumerate() {
        match index {
            0 | 2 | 4 | 5 => assert_eq!(outcome, &Outcome::Succeeded(index as u32 * 10)),
            1 | 3 => assert_eq!(outcome.err().map(Error::name), Some("Bad")),
            _ => assert_eq!(outcome, &Outcome::Skipped, "item {index}"),
        }
    }
}

/// Waits until the log holds `line`.
async fn wait_for(log: &std::path::Path, line: &str) {
    let logged = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(line)
    };
    process::until(&format!("`{line}` in the log"), async || logged()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settled_batch_recorded_before_a_kill_is_replayed_without_running_an_item() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("settled.log");
    let lines = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut first = child(dir.path(), Some("WAYPOST_SETTLED_STALL_AFTER"))
        .spawn()
        .unwrap();
    wait_for(&log_path, "after ran").await;
    process::sigkill(&mut first);
    let before = lines();

    let resumed = printed(&mut child(dir.path(), None));
    assert_decided(&serde_json::from_str(&resumed).unwrap());
    let log = lines();
    assert_eq!(
        log.strip_prefix(before.as_str()),
        Some("after ran\n"),
        "only the step after the map ran again: {log}"
    );
    for index in [6, 7] {
        assert!(!log.contains(&format!("start {index}\n")), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_settled_map_keeps_its_decision_and_never_starts_a_skipped_item() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("settled.log");
    let lines = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut first = child(dir.path(), Some("WAYPOST_SETTLED_STALL"))
        .spawn()
        .unwrap();
    wait_for(&log_path, "start 3").await;
    process::sigkill(&mut first);
    let before = lines();
    assert_eq!(
        (before.contains("end 2"), before.contains("end 3")),
        (true, false),
        "killed with items 0 to 2 finished and item 3 running: {before}"
    );

    let resumed = printed(&mut child(dir.path(), None));
    assert_decided(&serde_json::from_str(&resumed).unwrap());

    let log = lines();
    for index in 0..3 {
        assert_eq!(
            log.matches(&format!("start {index}\n")).count(),
            1,
            "item {index} finished before the kill and did not run again: {log}"
        );
    }
    assert_eq!(
        log.matches("start 3\n").count(),
        2,
        "the interrupted item ran again: {log}"
    );
    for index in [4, 5] {
        assert_eq!(log.matches(&format!("start {index}\n")).count(), 1, "{log}");
    }
    for index in [6, 7] {
        assert!(
            !log.contains(&format!("start {index}\n")),
            "item {index}, skipped by the decision, never ran: {log}"
        );
    }

    // The finished execution gives the identical batch, and runs nothing.
    let again = printed(&mut child(dir.path(), None));
    assert_eq!(again, resumed);
    assert_eq!(lines(), log, "nothing ran again");
}
