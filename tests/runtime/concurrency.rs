//! One execution id, many callers: concurrent starts join one run; a second owner is
//! refused while the first holds the lease.

use std::time::Duration;

use waypost::prelude::*;
use waypost::{SqliteStore, StoreError};

use crate::support::{Gate, Runs, TestStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_starts_of_one_id_run_each_step_once() {
    for store in [TestStore::memory(), TestStore::sqlite()] {
        let runs = Runs::default();
        let wf = Workflow::new(
            "once",
            1,
            runs.step("a", 1)
                .then(parallel((runs.step("b", 10), runs.step("c", 100))))
                .then(pass("sum", |(b, c): (u64, u64)| b + c)),
        );
        let runtime = store.runtime();
        let starts = (0..16).map(|_| {
            let (runtime, wf) = (runtime.clone(), wf.clone());
            tokio::spawn(async move { runtime.start(&wf, "same", 1).await })
        });
        for result in futures::future::join_all(starts).await {
            assert_eq!(result.unwrap().unwrap(), 114, "{}", store.name);
        }
        assert_eq!(
            (runs.count("a"), runs.count("b"), runs.count("c")),
            (1, 1, 1),
            "{}",
            store.name
        );
        assert_eq!(runtime.list(&Default::default()).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_second_owner_is_refused_while_the_first_runs_the_execution() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let wf = Workflow::new("leased", 1, gate.step("gate", &runs));
    let first = store.runtime();
    let running = tokio::spawn({
        let (first, wf) = (first.clone(), wf.clone());
        async move { first.start(&wf, "l1", 1).await }
    });
    while runs.count("gate") == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another "process": its own handle on the same file, its own owner id.
    let other_store = SqliteStore::open(store.path.as_ref().unwrap()).unwrap();
    let second = Runtime::builder().store(other_store).build();
    let err = second.resume(&wf, "l1").await.unwrap_err();
    assert!(
        matches!(err, RunError::Store(StoreError::Leased { .. })),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("execution `l1` is being run by `"),
        "{err}"
    );
    assert_eq!(runs.count("gate"), 1);

    gate.open();
    assert_eq!(running.await.unwrap().unwrap(), 1);
    // Once the first owner is done, the second sees the result.
    assert_eq!(second.start(&wf, "l1", 1).await.unwrap(), 1);
}

#[tokio::test]
async fn a_cancel_from_another_process_stops_the_run_at_its_next_write() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let wf = Workflow::new(
        "cancelled",
        1,
        gate.step("gate", &runs).then(runs.step("after", 1)),
    );
    let running = tokio::spawn({
        let (runtime, wf) = (store.runtime(), wf.clone());
        async move { runtime.start(&wf, "x1", 1).await }
    });
    while runs.count("gate") == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Another "process": its own handle on the file, its own runtime.
    let other = Runtime::builder()
        .store(SqliteStore::open(store.path.as_ref().unwrap()).unwrap())
        .build();
    other.cancel("x1").await.unwrap();
    gate.open();

    let err = running.await.unwrap().unwrap_err();
    assert!(matches!(err, RunError::Cancelled { .. }), "{err}");
    assert_eq!(
        other.status("x1").await.unwrap(),
        ExecutionStatus::Cancelled
    );
    // The store refused every write after the cancel: no checkpoint of the gate or later.
    assert!(store.store.checkpoints("x1").await.unwrap().is_empty());
    assert!(matches!(
        other.cancel("x1").await,
        Err(RunError::Finished { .. })
    ));
}
