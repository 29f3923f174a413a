//! Race and first success: the first branch to end (or to succeed) wins, the losers
//! are cancelled, and the winner is recorded — a process SIGKILLed after the race
//! resumes with the same winner without running the race again.
//!
//! The process test re-runs this binary as a child (`--ignored --exact race_child`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::race::{first_ok, race};
use waypost::{RuntimeConfig, SqliteStore};

#[path = "support/process.rs"]
mod process;

/// A branch that ends after `ms` with `result`, counting the branches that got to
/// their end.
fn branch(
    name: &'static str,
    ms: u64,
    result: Result<u32, &'static str>,
    ended: &Arc<AtomicU32>,
) -> BoxStep<u32, u32> {
    let ended = Arc::clone(ended);
    step_fn(name, move |_x: u32| {
        let ended = Arc::clone(&ended);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ended.fetch_add(1, Ordering::SeqCst);
            result.map_err(|name| Error::new(name, format!("{name} failed")))
        }
    })
    .boxed()
}

#[tokio::test(start_paused = true)]
async fn the_first_branch_to_end_wins_and_the_losers_are_cancelled() {
    let ended = Arc::new(AtomicU32::new(0));
    let wf = Workflow::new(
        "race",
        1,
        race(vec![
            branch("slow", 500, Ok(1), &ended),
            branch("fast", 100, Ok(2), &ended),
            branch("slower", 900, Ok(3), &ended),
        ]),
    );
    assert_eq!(Runtime::new().run(&wf, 0).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(ended.load(Ordering::SeqCst), 1, "the losers were cancelled");

    // A failure that ends first wins a race.
    let ended = Arc::new(AtomicU32::new(0));
    let wf = Workflow::new(
        "race",
        1,
        race(vec![
            branch("ok", 500, Ok(1), &ended),
            branch("bad", 100, Err("Down"), &ended),
        ]),
    );
    let error = Runtime::new().run(&wf, 0).await.unwrap_err();
    assert_eq!(error.name(), "Down");
}

#[tokio::test(start_paused = true)]
async fn first_ok_waits_for_a_success_and_fails_only_when_all_fail_with_every_error() {
    let ended = Arc::new(AtomicU32::new(0));
    let wf = Workflow::new(
        "any",
        1,
        first_ok(vec![
            branch("bad", 100, Err("Down"), &ended),
            branch("ok", 500, Ok(7), &ended),
        ]),
    );
    assert_eq!(Runtime::new().run(&wf, 0).await.unwrap(), 7);

    let wf = Workflow::new(
        "none",
        1,
        first_ok(vec![
            branch("a", 300, Err("A"), &ended),
            branch("b", 100, Err("B"), &ended),
            branch("c", 200, Err("C"), &ended),
        ]),
    );
    let error = Runtime::new().run(&wf, 0).await.unwrap_err();
    assert_eq!(error.name(), "A", "the first branch's error leads: {error}");
    let causes: Vec<&str> = std::iter::successors(error.source(), |e| e.source())
        .map(Error::name)
        .collect();
    assert_eq!(causes, ["B", "C"]);
}

#[test]
fn a_race_exports_as_a_parallel_that_says_how_it_ends() {
    let ended = Arc::new(AtomicU32::new(0));
    let wf = Workflow::new("race", 1, race(vec![branch("a", 1, Ok(1), &ended)]));
    let asl = waypost::export::asl(wf.graph());
    let state = &asl["States"]["race"];
    assert_eq!(state["Type"], "Parallel");
    assert!(
        state["Comment"]
            .as_str()
            .unwrap()
            .contains("first to end wins"),
        "{state}"
    );
}

// ---------------------------------------------------------------------------------------
// The winner across a SIGKILL.

fn log(line: &str) {
    process::log_to("WAYPOST_RACE_LOG", line);
}

#[step]
async fn quick(x: u32) -> u32 {
    log("quick ran");
    x + 1
}

#[step]
async fn lazy(x: u32) -> u32 {
    log("lazy ran");
    tokio::time::sleep(Duration::from_secs(60)).await;
    x + 2
}

/// Stalls in the first process (which the test kills), goes on in the second.
#[step]
async fn after(x: u32) -> u32 {
    log("after ran");
    if std::env::var("WAYPOST_RACE_STALL").is_ok() {
        std::future::pending::<()>().await;
    }
    x * 10
}

#[tokio::test]
#[ignore = "run by the race process test as a child process"]
async fn race_child() {
    let path = std::env::var("WAYPOST_RACE_STORE").expect("WAYPOST_RACE_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    let wf = Workflow::new(
        "raced",
        1,
        race(vec![lazy.boxed(), quick.boxed()]).then(after),
    );
    let output = runtime.start(&wf, "raced-1", 1).await.unwrap();
    println!("OUTPUT {output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_execution_keeps_the_winner_without_racing_again() {
    let dir = tempfile::tempdir().unwrap();
    let child = |stall: bool| {
        let mut command = process::child("race_child");
        command
            .env("WAYPOST_RACE_STORE", dir.path().join("race.db"))
            .env("WAYPOST_RACE_LOG", dir.path().join("race.log"));
        if stall {
            command.env("WAYPOST_RACE_STALL", "1");
        }
        command
    };
    let lines = || std::fs::read_to_string(dir.path().join("race.log")).unwrap_or_default();
    let mut first = child(true).spawn().unwrap();
    process::until("the step after the race", async || {
        lines().contains("after ran")
    })
    .await;
    process::sigkill(&mut first);

    let stdout = process::finish(&mut child(false));
    assert!(stdout.contains("OUTPUT 20"), "{stdout}");
    let log = lines();
    assert_eq!(
        log.matches("quick ran").count(),
        1,
        "the race ran once: {log}"
    );
    assert_eq!(
        log.matches("lazy ran").count(),
        1,
        "the race ran once: {log}"
    );
    assert_eq!(log.matches("after ran").count(), 2, "{log}");
}
