//! A worker stopped past its lease writes nothing once another took over.

use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use waypost::ExecutionStatus;
use waypost::prelude::*;

use crate::harness::{Fleet, Postgres, Target, runs};
use crate::workflow::{Report, workflow};

/// Waits up to 60 s for `done`.
async fn until<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// SIGSTOPs the worker running the one execution on the store at `target` past its
/// lease, lets a second worker take over and finish it, then SIGCONTs the first.
pub(crate) async fn a_stopped_worker_writes_nothing_after_a_takeover(
    target: &Target,
    log: &std::path::Path,
) {
    let store = target.open().await;
    let runtime = Runtime::builder()
        .shared_store(std::sync::Arc::clone(&store))
        .build();
    let lease = Duration::from_millis(1000);
    // Slow steps: the first worker is stopped inside one.
    let mut fleet = Fleet::new(target, log, lease, 150);
    let handle = runtime.submit(&workflow(), "fenced", 3).await.unwrap();
    fleet.spawn();
    until("the first worker committed a step", async || {
        store.checkpoints("fenced").await.unwrap().len() >= 2
    })
    .await;
    let first = Pid::from_raw(fleet.workers[0].id() as i32);
    kill(first, Signal::SIGSTOP).unwrap();
    let stopped_owner = handle.record().await.unwrap().lease.unwrap().owner;
    let committed_when_stopped = crate::harness::committed(&*store).await;

    // Another worker takes over once the lease ran out, and finishes.
    fleet.spawn();
    let output = tokio::time::timeout(Duration::from_secs(60), handle.output())
        .await
        .expect("the second worker finished")
        .unwrap();
    let record = handle.record().await.unwrap();
    assert_eq!(record.recoveries, 1);
    assert!(record.lease_epoch >= 2);
    let checkpoints = store.checkpoints("fenced").await.unwrap();
    let history = store.history("fenced").await.unwrap();
    assert!(history.iter().any(|e| {
        e.kind == waypost::EventKind::ExecutionRecovered
            && e.details.previous_owner.as_deref() == Some(stopped_owner.as_str())
    }));

    // The stopped worker wakes up with its step still in flight and its lease stale.
    kill(first, Signal::SIGCONT).unwrap();
    // Long enough for its step to end, its commit to be refused and its renewal to see
    // the takeover (a third of the lease).
    tokio::time::sleep(lease * 2).await;
    assert!(
        fleet.workers[0].try_wait().unwrap().is_none(),
        "the stopped worker lives on, fenced, without crashing"
    );
    assert_eq!(
        store.checkpoints("fenced").await.unwrap(),
        checkpoints,
        "no write of the stopped worker landed"
    );
    assert_eq!(store.history("fenced").await.unwrap(), history);
    let after = handle.record().await.unwrap();
    assert_eq!(after.status, ExecutionStatus::Succeeded);
    assert_eq!(after.output, record.output);
    let uninterrupted: Report = Runtime::new().run(&workflow(), 3).await.unwrap();
    assert_eq!(output, uninterrupted);
    // Only steps in flight when the first worker stopped ran twice: none committed by
    // then, at most as many as the map runs at once (3), each twice.
    let twice: Vec<_> = runs(log)
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .collect();
    assert!(twice.len() <= 3, "{twice:?}");
    for (key, count) in &twice {
        assert_eq!(*count, 2, "{key:?}");
        assert!(
            !committed_when_stopped.contains(key),
            "{key:?} was committed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_on_sqlite_writes_nothing_after_a_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    a_stopped_worker_writes_nothing_after_a_takeover(
        &Target::Sqlite(path),
        &dir.path().join("log"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_on_postgres_writes_nothing_after_a_takeover() {
    let Some(pg) = Postgres::schema("fencing") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    a_stopped_worker_writes_nothing_after_a_takeover(&pg.target, &dir.path().join("log")).await;
}
