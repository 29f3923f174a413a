//! Heartbeats of long steps: a step that stops sending them fails with
//! `States.HeartbeatTimeout` (matched by retry and catch), and the next attempt — a
//! retry, or a run after a SIGKILL of the whole process — goes on from the last details
//! the step sent.
//!
//! The process test re-runs this binary as a child (`--ignored --exact
//! heartbeat_child`): a step copies 10 chunks on a SQLite store, sending each chunk's
//! number as its heartbeat, and stalls at chunk 6 on its first attempt; the parent
//! SIGKILLs the first child after chunk 3 and starts a second at once.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use waypost::prelude::*;
use waypost::{MemoryStore, RuntimeConfig, SqliteStore, Store};

#[path = "support/process.rs"]
mod process;

#[tokio::test(start_paused = true)]
async fn a_step_that_stops_sending_heartbeats_fails_with_heartbeat_timeout() {
    let limit = Duration::from_millis(300);
    // Ten beats, 100 ms apart, keep a 300 ms limit from running out over a second.
    let wf = Workflow::new("beats", 1, work.heartbeat_timeout(limit));
    assert_eq!(Runtime::new().run(&wf, 10).await.unwrap(), 10);

    let started = tokio::time::Instant::now();
    let error = Runtime::new().run(&wf, 3).await.unwrap_err();
    assert_eq!(error.name(), "States.HeartbeatTimeout", "{error}");
    assert_eq!(error.address(), Some("0.work"));
    // The last beat came at 300 ms; the limit ran out 300 ms later.
    assert_eq!(started.elapsed(), Duration::from_millis(600));

    let caught = Workflow::new(
        "caught",
        1,
        work.heartbeat_timeout(limit).catch(
            ["States.HeartbeatTimeout"],
            pass("gave up", |(x, _): (u32, Error)| x + 1),
        ),
    );
    assert_eq!(Runtime::new().run(&caught, 0).await.unwrap(), 1);
}

/// Sends `beats` heartbeats 100 ms apart, then stalls unless it sent 10.
#[step]
async fn work(cx: &StepContext, beats: u32) -> Result<u32, Error> {
    for n in 0..beats {
        tokio::time::sleep(Duration::from_millis(100)).await;
        cx.heartbeat(&n).await?;
    }
    if beats < 10 {
        std::future::pending::<()>().await;
    }
    Ok(beats)
}

/// Copies `chunks` chunks, going on after the last one reported; stalls at chunk 6 on
/// its first attempt.
#[step]
async fn copy(cx: &StepContext, chunks: u32) -> Result<u32, Error> {
    let from = cx.last_heartbeat::<u32>()?.map_or(0, |n| n + 1);
    for chunk in from..chunks {
        if chunk == 6 && cx.attempt() == 1 {
            std::future::pending::<()>().await;
        }
        cx.heartbeat(&chunk).await?;
    }
    Ok(from)
}

/// [`copy`], 150 ms a chunk, writing each chunk to the log at `WAYPOST_HEARTBEAT_LOG`.
#[step]
async fn slow_copy(cx: &StepContext, chunks: u32) -> Result<Vec<u32>, Error> {
    let from = cx.last_heartbeat::<u32>()?.map_or(0, |n| n + 1);
    for chunk in from..chunks {
        if chunk == 6 && cx.attempt() == 1 {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        process::log_to("WAYPOST_HEARTBEAT_LOG", &chunk.to_string());
        cx.heartbeat(&chunk).await?;
    }
    Ok(vec![from, cx.attempt()])
}

#[tokio::test]
async fn a_retry_after_a_missed_heartbeat_sees_the_last_details() {
    let retry = RetryPolicy::builder()
        .errors(["States.HeartbeatTimeout"])
        .max_attempts(2)
        .interval(Duration::from_millis(1))
        .build();
    let wf = Workflow::new(
        "copy",
        1,
        copy.heartbeat_timeout(Duration::from_millis(200))
            .retry(retry),
    );
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    // The second attempt began at chunk 6: the first had sent 0..=5.
    assert_eq!(runtime.start(&wf, "c-1", 10).await.unwrap(), 6);
}

const EXECUTION: &str = "copy-1";

/// The workflow of the process test: copies 10 chunks, 150 ms each, writing each to
/// the log at `WAYPOST_HEARTBEAT_LOG`; stalls at chunk 6 on the first attempt.
fn copy_workflow() -> Workflow<u32, Vec<u32>> {
    let retry = RetryPolicy::builder()
        .errors(["States.HeartbeatTimeout"])
        .max_attempts(2)
        .interval(Duration::from_millis(10))
        .build();
    Workflow::new(
        "copy",
        1,
        slow_copy
            .heartbeat_timeout(Duration::from_secs(1))
            .retry(retry),
    )
    // Readable heartbeat details: the test reads them from the store.
    .with_codec(waypost::JsonCodec)
}

#[tokio::test]
#[ignore = "run by the heartbeat process test as a child process"]
async fn heartbeat_child() {
    let path = std::env::var("WAYPOST_HEARTBEAT_STORE").expect("WAYPOST_HEARTBEAT_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    let output = runtime
        .start(&copy_workflow(), EXECUTION, 10)
        .await
        .unwrap();
    println!("OUTPUT {output:?}");
}

fn child(dir: &Path) -> Command {
    let mut command = process::child("heartbeat_child");
    command
        .env("WAYPOST_HEARTBEAT_STORE", dir.join("copy.db"))
        .env("WAYPOST_HEARTBEAT_LOG", dir.join("chunks.log"));
    command
}

/// The heartbeat details stored so far (the chunk numbers).
async fn beats(dir: &Path) -> Vec<u32> {
    let Ok(store) = SqliteStore::open_read_only(dir.join("copy.db")) else {
        return Vec::new();
    };
    let checkpoints = store.checkpoints(EXECUTION).await.unwrap_or_default();
    checkpoints
        .iter()
        .filter(|c| c.key.contains("~heartbeat/"))
        .map(|c| {
            serde_json::from_slice::<u32>(&c.payload)
                .unwrap_or_else(|e| panic!("{} {:?}: {e}", c.key, c.payload))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_and_a_missed_heartbeat_the_step_goes_on_from_its_last_details() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = child(dir.path()).spawn().unwrap();
    // Kill it once chunk 3 is durably reported.
    process::until("chunk 3's heartbeat", async || {
        beats(dir.path()).await.len() >= 4
    })
    .await;
    process::sigkill(&mut first);
    let before_kill = beats(dir.path()).await;

    let stdout = process::finish(&mut child(dir.path()));
    // The resumed run went on after the last chunk reported before the kill; its first
    // attempt stalled at 6 and the retry went on from 5, the last chunk it reported.
    let last = *before_kill.last().unwrap();
    assert!(stdout.contains("OUTPUT [6, 2]"), "{stdout}");
    let log = std::fs::read_to_string(dir.path().join("chunks.log")).unwrap();
    let chunks: Vec<u32> = log.lines().map(|l| l.parse().unwrap()).collect();
    for chunk in 0..10 {
        let times = chunks.iter().filter(|c| **c == chunk).count();
        if chunk <= last {
            assert_eq!(
                times, 1,
                "chunk {chunk} was reported before the kill: {chunks:?}"
            );
        } else {
            // A chunk copied but not yet reported when the process died runs again.
            assert!((1..=2).contains(&times), "chunk {chunk}: {chunks:?}");
        }
    }
    let details = beats(dir.path()).await;
    assert_eq!(details.iter().max(), Some(&9), "{details:?}");
}
