//! At-most-once steps across a real crash: this test binary re-runs itself as a child
//! process (`--ignored --exact at_most_once_child`) that runs `charge`, which logs each
//! run of its body and then, on its first attempt, takes a long time; the parent
//! SIGKILLs the first child inside the body and starts a second at once.
//!
//! Without a retry the second child does not run the body again: the execution fails
//! with `States.StepInterrupted`, the body having run exactly once. With one retry the
//! interrupted attempt fails that way and the second attempt runs: exactly twice.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use waypost::prelude::*;
use waypost::{RuntimeConfig, SqliteStore};

#[path = "support/process.rs"]
mod process;

const EXECUTION: &str = "pay-1";

#[step]
async fn charge(cx: &StepContext, cents: u64) -> u64 {
    process::log_to(
        "WAYPOST_ONCE_LOG",
        &format!("charged (attempt {})", cx.attempt()),
    );
    if cx.attempt() == 1 {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    cents
}

fn workflow(retry: bool) -> Workflow<u64, u64> {
    let once = charge.at_most_once();
    if retry {
        let policy = RetryPolicy::builder()
            .errors(["States.StepInterrupted"])
            .max_attempts(2)
            .interval(Duration::from_millis(10))
            .build();
        Workflow::new("pay", 1, once.retry(policy).boxed())
    } else {
        Workflow::new("pay", 1, once.boxed())
    }
}

#[tokio::test]
#[ignore = "run by the at-most-once tests as a child process"]
async fn at_most_once_child() {
    let path = std::env::var("WAYPOST_ONCE_STORE").expect("WAYPOST_ONCE_STORE");
    let retry = std::env::var("WAYPOST_ONCE_RETRY").is_ok();
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    match runtime.start(&workflow(retry), EXECUTION, 500).await {
        Ok(output) => println!("OUTPUT {output}"),
        Err(error) => println!("ERROR {error}"),
    }
}

fn child(dir: &Path, retry: bool) -> Command {
    let mut command = process::child("at_most_once_child");
    command
        .env("WAYPOST_ONCE_STORE", dir.join("pay.db"))
        .env("WAYPOST_ONCE_LOG", dir.join("charges.log"));
    if retry {
        command.env("WAYPOST_ONCE_RETRY", "1");
    }
    command
}

fn charges(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("charges.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs the first child until the body has run, SIGKILLs it, and returns what a
/// second child printed.
async fn crash_and_resume(dir: &Path, retry: bool) -> String {
    let mut first = child(dir, retry).spawn().unwrap();
    process::until("the body", async || !charges(dir).is_empty()).await;
    assert_eq!(charges(dir).len(), 1, "the body ran in the first child");
    process::sigkill(&mut first);
    process::finish(&mut child(dir, retry))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_retry_an_interrupted_step_is_not_run_again_and_fails_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = crash_and_resume(dir.path(), false).await;
    assert!(
        stdout.contains("ERROR execution `pay-1` failed"),
        "{stdout}"
    );
    assert!(stdout.contains("States.StepInterrupted"), "{stdout}");
    assert_eq!(
        charges(dir.path()),
        ["charged (attempt 1)"],
        "the body ran exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_retry_the_interrupted_attempt_is_followed_by_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let stdout = crash_and_resume(dir.path(), true).await;
    assert!(stdout.contains("OUTPUT 500"), "{stdout}");
    assert_eq!(
        charges(dir.path()),
        ["charged (attempt 1)", "charged (attempt 2)"],
        "the body ran exactly twice"
    );
}

#[tokio::test]
async fn an_uninterrupted_step_runs_once_and_replays_its_result() {
    let runtime = Runtime::builder()
        .store(waypost::MemoryStore::new())
        .build();
    let double = step_fn("double", |x: u64| async move { Ok::<_, Error>(2 * x) });
    let wf = Workflow::new("double", 1, double.at_most_once());
    assert_eq!(runtime.start(&wf, "d-1", 4).await.unwrap(), 8);
    assert_eq!(runtime.start(&wf, "d-1", 4).await.unwrap(), 8);
}
