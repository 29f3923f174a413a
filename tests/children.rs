//! Child workflows: a workflow used as a state of another runs as an execution of its
//! own, with an id derived from its parent's; run in place, or spread over workers (a
//! map of children); failures caught by name; cancelling the parent cancels its
//! children; and a parent SIGKILLed while its children run resumes without starting
//! any of them twice.
//!
//! The process test re-runs this binary as a child process (`--ignored --exact
//! children_child`).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::store::ListFilter;
use waypost::{
    EventKind, MemoryStore, RuntimeConfig, SqliteStore, Store, Worker, WorkerOptions, child,
};

#[path = "support/process.rs"]
mod process;

const HANG: Duration = Duration::from_secs(30);

#[step]
async fn square(x: u64) -> Result<u64, Error> {
    if x == 13 {
        return Err(Error::new("Unlucky", "13 is not squared here"));
    }
    Ok(x * x)
}

#[step]
async fn sum(xs: Vec<u64>) -> u64 {
    xs.iter().sum()
}

fn squarer() -> Workflow<u64, u64> {
    Workflow::new("squarer", 1, square)
}

/// Squares, taking 200 ms: long enough for the parent to park while it waits.
#[step]
async fn slow_square(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(200)).await;
    x * x
}

/// A map of slow children, for workers.
fn slow_sum_of_squares() -> (Workflow<Vec<u64>, u64>, Workflow<u64, u64>) {
    let squarer = Workflow::new("slow-squarer", 1, slow_square);
    let parent = Workflow::new(
        "slow-sum-of-squares",
        1,
        map(child(&squarer)).max_concurrency(4).then(sum),
    );
    (parent, squarer)
}

fn sum_of_squares() -> Workflow<Vec<u64>, u64> {
    Workflow::new(
        "sum-of-squares",
        1,
        map(child(&squarer())).max_concurrency(4).then(sum),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_run_in_place_as_executions_of_their_own() {
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let total = runtime
        .start(&sum_of_squares(), "sq-1", vec![1, 2, 3])
        .await
        .unwrap();
    assert_eq!(total, 14);
    let filter = ListFilter {
        workflow: Some("squarer".into()),
        ..ListFilter::default()
    };
    let mut ids: Vec<String> = runtime
        .list(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "sq-1/0.map/0/0.squarer",
            "sq-1/0.map/1/0.squarer",
            "sq-1/0.map/2/0.squarer"
        ]
    );
    let history = runtime.history("sq-1").await.unwrap();
    let started: Vec<&str> = history
        .iter()
        .filter(|e| e.kind == EventKind::ChildExecutionStarted)
        .filter_map(|e| e.details.child.as_deref())
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    // Starting the parent again gives its result; no child is started again.
    assert_eq!(
        runtime
            .start(&sum_of_squares(), "sq-1", vec![1, 2, 3])
            .await
            .unwrap(),
        14
    );
    assert_eq!(runtime.list(&filter).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_child_is_caught_by_its_error_name() {
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let caught = Workflow::new(
        "caught",
        1,
        child(&squarer()).catch(["Unlucky"], pass("zero", |(_x, _e): (u64, Error)| 0u64)),
    );
    assert_eq!(runtime.start(&caught, "c-1", 13).await.unwrap(), 0);
    let record = runtime.execution("c-1/0.squarer").await.unwrap();
    assert_eq!(record.status, waypost::ExecutionStatus::Failed);
    assert_eq!(record.error.unwrap().name(), "Unlucky");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_of_children_spreads_over_workers_and_the_parent_waits_parked() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("w.db")).unwrap());
    let runtime = || Runtime::builder().shared_store(Arc::clone(&store)).build();
    let (parent, squarer) = slow_sum_of_squares();
    let handle = runtime()
        .submit(&parent, "sq-2", (1..=8).collect())
        .await
        .unwrap();
    let options = || {
        WorkerOptions::builder()
            .poll_interval(Duration::from_millis(20))
            .park_waits_over(Duration::from_millis(50))
            .shutdown_grace(Duration::from_millis(100))
            .build()
    };
    let mut stops = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..2 {
        let worker = Worker::new(runtime(), options())
            .register(&parent)
            .register(&squarer);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        workers.push(tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        })));
    }
    let total = tokio::time::timeout(HANG, handle.output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(total, (1..=8u64).map(|x| x * x).sum::<u64>());
    for stop in stops {
        let _ = stop.send(());
    }
    let mut parked = 0;
    let mut finished = 0;
    for worker in workers {
        let report = worker.await.unwrap().unwrap();
        parked += report.parked;
        finished += report.finished;
    }
    assert_eq!(finished, 9, "the parent and its 8 children");
    assert!(parked >= 1, "the parent waited parked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_parent_cancels_its_children() {
    let blocked = step_fn("blocked", |x: u64| async move {
        std::future::pending::<()>().await;
        Ok::<_, Error>(x)
    });
    let slow = Workflow::new("slow", 1, blocked);
    let parent = Workflow::new("parent", 1, child(&slow));
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let run = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.start(&parent, "p-1", 1).await }
    });
    tokio::time::timeout(HANG, async {
        while runtime.execution("p-1/0.slow").await.is_err() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    runtime.cancel("p-1").await.unwrap();
    let _ = tokio::time::timeout(HANG, run).await.unwrap();
    let child = runtime.execution("p-1/0.slow").await.unwrap();
    assert_eq!(child.status, waypost::ExecutionStatus::Cancelled);
}

// ---------------------------------------------------------------------------------------
// A parent SIGKILLed while its children run.

const PARENT: &str = "batch-1";

/// Counts and logs each run of a chunk step, then takes 300 ms.
#[step]
async fn chunk(x: u64) -> u64 {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    RUNS.fetch_add(1, Ordering::SeqCst);
    process::log_to("WAYPOST_CHILDREN_LOG", &x.to_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    x + 1
}

fn batch() -> Workflow<Vec<u64>, u64> {
    let one = Workflow::new("one-chunk", 1, chunk);
    Workflow::new("batch", 1, map(child(&one)).max_concurrency(2).then(sum))
}

#[tokio::test]
#[ignore = "run by the children process test as a child process"]
async fn children_child() {
    let path = std::env::var("WAYPOST_CHILDREN_STORE").expect("WAYPOST_CHILDREN_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    let total = runtime
        .start(&batch(), PARENT, (0..6).collect())
        .await
        .unwrap();
    println!("TOTAL {total}");
}

fn spawn(dir: &std::path::Path) -> Command {
    let mut command = process::child("children_child");
    command
        .env("WAYPOST_CHILDREN_STORE", dir.join("batch.db"))
        .env("WAYPOST_CHILDREN_LOG", dir.join("chunks.log"));
    command
}

async fn succeeded_children(dir: &std::path::Path) -> usize {
    let Ok(store) = SqliteStore::open_read_only(dir.join("batch.db")) else {
        return 0;
    };
    let filter = ListFilter {
        workflow: Some("one-chunk".into()),
        status: Some(waypost::ExecutionStatus::Succeeded),
        ..ListFilter::default()
    };
    store.list(&filter).await.map(|l| l.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_killed_while_its_children_run_resumes_without_starting_them_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = spawn(dir.path()).spawn().unwrap();
    // Kill it once two children have finished and others run.
    process::until("two children to finish", async || {
        succeeded_children(dir.path()).await >= 2
    })
    .await;
    process::sigkill(&mut first);

    let stdout = process::finish(&mut spawn(dir.path()));
    assert!(stdout.contains("TOTAL 21"), "{stdout}");

    let store = SqliteStore::open_read_only(dir.path().join("batch.db")).unwrap();
    let filter = ListFilter {
        workflow: Some("one-chunk".into()),
        ..ListFilter::default()
    };
    let children = store.list(&filter).await.unwrap();
    assert_eq!(children.len(), 6, "one execution per item, none twice");
    for record in &children {
        let history = store.history(&record.id).await.unwrap();
        let started = history
            .iter()
            .filter(|e| e.kind == EventKind::ExecutionStarted)
            .count();
        assert_eq!(started, 1, "{} was started once", record.id);
    }
    // A chunk whose child finished before the kill did not run again; one that was
    // running ran at most twice.
    let log = std::fs::read_to_string(dir.path().join("chunks.log")).unwrap();
    let runs: Vec<u64> = log.lines().map(|l| l.parse().unwrap()).collect();
    for x in 0..6 {
        let times = runs.iter().filter(|r| **r == x).count();
        assert!(
            (1..=2).contains(&times),
            "chunk {x} ran {times} times: {runs:?}"
        );
    }
    assert!(
        runs.len() <= 6 + 2,
        "only the two children running at the kill ran again: {runs:?}"
    );
}

#[test]
fn a_map_of_children_exports_as_a_distributed_map() {
    let asl = waypost::export::asl(sum_of_squares().graph());
    let state = &asl["States"]["map"];
    assert_eq!(
        state["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "DISTRIBUTED"
    );
    let state = &state["ItemProcessor"]["States"]["squarer"];
    assert_eq!(state["Resource"], "waypost:execution:squarer:1.sync");
    let inline = Workflow::new("inline", 1, map(square));
    let asl = waypost::export::asl(inline.graph());
    assert_eq!(
        asl["States"]["map"]["ItemProcessor"]["ProcessorConfig"]["Mode"],
        "INLINE"
    );
}
