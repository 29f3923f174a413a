//! Poison executions: a step that kills the process on every attempt.
//!
//! Each time a run takes over a `running` execution from an owner that stopped without
//! finishing it, the store counts a recovery, durably. Past
//! `RuntimeConfig::max_recoveries` the execution is parked as failed
//! (`States.RecoveryLimitExceeded`) instead of being run again, and a redrive resets the
//! count. The first test restarts a real process 25 times on one SQLite store — each
//! process resumes everything (`resume_all`) and starts one healthy execution — and
//! checks that the poison step ran `limit + 1` times in all, that every healthy
//! execution finished, and that a redrive after the fix finishes the poison one. The
//! second checks the same rules in one process on a `MemoryStore`, with lapsed leases
//! standing in for crashed owners.

#[path = "support/crash.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use waypost::error::names;
use waypost::prelude::*;
use waypost::{MemoryStore, RuntimeConfig, SqliteStore, Store};

use support::{Ending, append, counts, ending, run_child, stored_key};

/// The input that makes [`work`] kill the process.
const POISON: u64 = 666;
/// `max_recoveries` of these tests.
const LIMIT: u32 = 3;
/// How many times the process is started.
const RESTARTS: u32 = 25;

/// Set once this process's healthy execution has finished: the poison step waits for
/// it, so that its abort never interrupts a healthy run (which would be recovered too).
static HEALTHY_DONE: AtomicBool = AtomicBool::new(false);
/// In-process stand-in for a crash: the poison step never returns while this is set.
static HANG: AtomicBool = AtomicBool::new(false);

/// Logs that this step of this execution ran: `{execution id}/{key}`.
fn log(cx: &StepContext) {
    append(&format!("{}/{}", cx.execution_id(), stored_key(cx)));
}

#[step]
async fn double(cx: &StepContext, x: u64) -> u64 {
    log(cx);
    x * 2
}

/// Kills the process on the poison input, unless `WAYPOST_POISON_CURED` is set (the
/// fix has shipped).
#[step]
async fn work(cx: &StepContext, x: u64) -> u64 {
    log(cx);
    if x == POISON * 2 && std::env::var_os("WAYPOST_POISON_CURED").is_none() {
        if HANG.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        let waited = Instant::now();
        while !HEALTHY_DONE.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        std::process::abort();
    }
    x + 1
}

fn workflow() -> Workflow<u64, u64> {
    Workflow::new("poison", 1, double.then(work))
}

fn config() -> RuntimeConfig {
    RuntimeConfig::builder().max_recoveries(LIMIT).build()
}

/// The child: resumes every interrupted execution, starts the healthy execution
/// `healthy-{WAYPOST_POISON_RESTART}`, and on restart 0 the poison one; prints what
/// became of them. With `WAYPOST_POISON_REDRIVE`, redrives the poison one instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the poison test as a child process"]
async fn poison_child() {
    let path = std::env::var("WAYPOST_POISON_STORE").expect("WAYPOST_POISON_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(config())
        .build();
    let wf = workflow();
    if std::env::var_os("WAYPOST_POISON_REDRIVE").is_some() {
        let output = runtime.redrive(&wf, "poison").await.unwrap();
        println!("OUTPUT redriven={output}");
        return;
    }
    let restart: u64 = std::env::var("WAYPOST_POISON_RESTART")
        .unwrap()
        .parse()
        .unwrap();
    let healthy = async {
        let output = runtime
            .start(&wf, format!("healthy-{restart}"), restart)
            .await;
        HEALTHY_DONE.store(true, Ordering::SeqCst);
        output.unwrap()
    };
    let poison = async {
        if restart == 0 {
            // Never returns: the poison step aborts the process.
            let _ = runtime.start(&wf, "poison", POISON).await;
        }
    };
    let (resumed, healthy, ()) = tokio::join!(runtime.resume_all(&wf), healthy, poison);
    let mut parked = 0;
    for (id, result) in resumed.unwrap() {
        match result {
            Err(RunError::Failed { error, .. })
                if error.name() == names::RECOVERY_LIMIT_EXCEEDED =>
            {
                assert_eq!(id, "poison");
                parked += 1;
            }
            // Healthy executions this process started itself are in the list too.
            Ok(_) => assert!(id.starts_with("healthy-"), "{id}"),
            Err(error) => panic!("`{id}`: {error}"),
        }
    }
    println!("OUTPUT healthy={healthy} parked={parked}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_execution_is_parked_after_the_limit_and_healthy_ones_finish() {
    let dir = tempfile::tempdir().unwrap();
    let (store, log) = (dir.path().join("store.db"), dir.path().join("effects.log"));
    let envs = |extra: &[(&'static str, String)]| {
        let mut envs = vec![
            ("WAYPOST_POISON_STORE", store.display().to_string()),
            (support::LOG, log.display().to_string()),
        ];
        envs.extend(extra.iter().cloned());
        envs
    };
    let started = Instant::now();
    let mut endings = Vec::new();
    for restart in 0..RESTARTS {
        let out = run_child(
            "poison_child",
            &envs(&[("WAYPOST_POISON_RESTART", restart.to_string())]),
        );
        let ended = ending(&out);
        // Every process finished its healthy execution, aborted or not.
        let ran = counts(&log);
        assert_eq!(
            ran.get(&format!("healthy-{restart}/1.work")),
            Some(&1),
            "restart {restart}: {ended:?}"
        );
        endings.push(ended);
    }
    let elapsed = started.elapsed();

    // The first process and `LIMIT` recoveries ran the poison step, then it was parked
    // (by the next process) and never run again.
    let aborted = endings.iter().filter(|e| **e == Ending::Aborted).count();
    assert_eq!(aborted, LIMIT as usize + 1, "{endings:?}");
    assert!(
        endings[..=LIMIT as usize]
            .iter()
            .all(|e| *e == Ending::Aborted),
        "{endings:?}"
    );
    for (restart, ended) in endings.iter().enumerate().skip(LIMIT as usize + 1) {
        let parked = u32::from(restart == LIMIT as usize + 1);
        let expected = format!("healthy={} parked={parked}", restart as u64 * 2 + 1);
        assert_eq!(*ended, Ending::Output(expected), "restart {restart}");
    }
    let ran = counts(&log);
    assert_eq!(ran["poison/1.work"], LIMIT + 1, "the poison step's runs");
    // `double` of the poison execution was committed on the first run: never rerun.
    assert_eq!(ran["poison/0.double"], 1);
    // Each healthy execution ran each step once.
    assert_eq!(ran.len(), 2 + 2 * RESTARTS as usize, "{ran:?}");
    assert!(ran.values().all(|&n| n == 1 || n == LIMIT + 1), "{ran:?}");

    let store_handle = SqliteStore::open(&store).unwrap();
    let runtime = Runtime::builder().store(store_handle.clone()).build();
    let record = runtime.execution("poison").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.recoveries, LIMIT + 1);
    let error = record.error.unwrap();
    assert_eq!(error.name(), names::RECOVERY_LIMIT_EXCEEDED);
    let message = error.message();
    assert!(
        message.contains("`poison` was recovered 4 times")
            && message.contains("limit of 3")
            && message.contains("redrive"),
        "{message}"
    );
    let history = runtime.history("poison").await.unwrap();
    assert_eq!(
        history.last().map(|e| e.kind),
        Some(waypost::EventKind::ExecutionFailed)
    );
    for restart in 0..u64::from(RESTARTS) {
        let id = format!("healthy-{restart}");
        assert_eq!(
            runtime.output::<u64>(&id).await.unwrap(),
            Some(restart * 2 + 1),
            "{id}"
        );
        assert_eq!(runtime.execution(&id).await.unwrap().recoveries, 0, "{id}");
    }
    assert_eq!(store_handle.integrity_check().unwrap(), "ok");
    store_handle.close();
    eprintln!(
        "poison: {RESTARTS} processes in {elapsed:.1?}, {aborted} aborted, poison step run {} times",
        ran["poison/1.work"]
    );

    // The fix ships: a redrive resets the count and finishes the execution, from the
    // step that crashed (`double` is not run again).
    let out = run_child(
        "poison_child",
        &envs(&[
            ("WAYPOST_POISON_REDRIVE", "1".to_owned()),
            ("WAYPOST_POISON_CURED", "1".to_owned()),
        ]),
    );
    assert_eq!(
        ending(&out),
        Ending::Output(format!("redriven={}", POISON * 2 + 1))
    );
    let ran = counts(&log);
    assert_eq!(
        (
            ran["poison/1.work"],
            ran["poison/r1:1.work"],
            ran["poison/0.double"]
        ),
        (LIMIT + 1, 1, 1)
    );
    let record = SqliteStore::open(&store)
        .unwrap()
        .execution("poison")
        .await
        .unwrap();
    assert_eq!(
        (record.status, record.recoveries, record.redrives),
        (ExecutionStatus::Succeeded, 0, 1)
    );
}

/// One "crash" in process: the run hangs in the poison step, is dropped, and its
/// lease is left to a ghost owner whose lease lapses at once — as a killed process's
/// would — so the next run takes the execution over.
async fn crash_in_process(runtime: &Runtime, store: &dyn Store, run: impl Future) {
    let _ = tokio::time::timeout(Duration::from_millis(50), run).await;
    // Let the dropped run's lease release go through, then leave a lapsing lease.
    tokio::time::sleep(Duration::from_millis(10)).await;
    store
        .acquire_lease("poison", "ghost", Duration::from_millis(1))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        runtime.status("poison").await.unwrap(),
        ExecutionStatus::Running
    );
}

#[tokio::test]
async fn on_a_memory_store_recoveries_are_counted_the_execution_parked_and_redriven() {
    assert_eq!(RuntimeConfig::default().max_recoveries, 10);
    HANG.store(true, Ordering::SeqCst);
    let store = Arc::new(MemoryStore::new());
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .config(config())
        .build();
    let wf = workflow();

    crash_in_process(&runtime, &*store, runtime.start(&wf, "poison", POISON)).await;
    for recovery in 1..=LIMIT {
        crash_in_process(&runtime, &*store, runtime.resume(&wf, "poison")).await;
        let record = runtime.execution("poison").await.unwrap();
        assert_eq!(record.recoveries, recovery);
    }
    // One takeover too many: parked at once, no step runs.
    let err = tokio::time::timeout(Duration::from_secs(5), runtime.resume(&wf, "poison"))
        .await
        .expect("parking does not run the poison step")
        .unwrap_err();
    match &err {
        RunError::Failed { error, .. } => {
            assert_eq!(error.name(), names::RECOVERY_LIMIT_EXCEEDED);
        }
        other => panic!("expected a parked execution, got {other}"),
    }
    let record = runtime.execution("poison").await.unwrap();
    assert_eq!(
        (record.status, record.recoveries),
        (ExecutionStatus::Failed, LIMIT + 1)
    );
    // Starting it again returns the parked outcome; it does not run.
    assert!(matches!(
        runtime.start(&wf, "poison", POISON).await,
        Err(RunError::Failed { .. })
    ));

    // A redrive resets the count: the execution gets `LIMIT` recoveries again.
    crash_in_process(&runtime, &*store, runtime.redrive(&wf, "poison")).await;
    let record = runtime.execution("poison").await.unwrap();
    assert_eq!((record.recoveries, record.redrives), (0, 1));
    crash_in_process(&runtime, &*store, runtime.resume(&wf, "poison")).await;
    assert_eq!(runtime.execution("poison").await.unwrap().recoveries, 1);
}
