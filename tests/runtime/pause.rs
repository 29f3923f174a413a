//! Pause and unpause on demand: the step in flight finishes, no new step starts while
//! paused (a worker parks the execution, holding no lease), and unpausing goes on.

use std::time::Duration;

use waypost::prelude::*;
use waypost::{EventKind, RunError, StoreError, Worker, WorkerOptions};

use crate::support::{Gate, Runs, stores};

const HANG: Duration = Duration::from_secs(20);

async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    tokio::time::timeout(HANG, async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_execution_finishes_its_step_then_holds_until_unpaused() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = Workflow::new(
            "paused",
            1,
            gate.step("a", &runs)
                .then(runs.step("b", 10))
                .then(runs.step("c", 100)),
        );
        let runtime = store.runtime();
        let run = tokio::spawn({
            let (runtime, wf) = (runtime.clone(), wf.clone());
            async move { runtime.start(&wf, "p-1", 1).await }
        });
        wait_until("a started", async || runs.count("a") == 1).await;
        assert!(runtime.pause("p-1").await.unwrap(), "{}", store.name);
        assert!(!runtime.pause("p-1").await.unwrap(), "already paused");
        // A pause takes hold within a second; `a` runs on and is checkpointed.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        gate.open();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            (runs.count("a"), runs.count("b")),
            (1, 0),
            "{}: b waits",
            store.name
        );
        assert!(!run.is_finished());
        let checkpoints = store.store.checkpoints("p-1").await.unwrap();
        assert!(
            checkpoints.iter().any(|c| c.key == "0.a"),
            "a's result is kept"
        );

        assert!(runtime.unpause("p-1").await.unwrap());
        let output = tokio::time::timeout(HANG, run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(output, 111, "{}", store.name);
        assert_eq!((runs.count("b"), runs.count("c")), (1, 1));
        let kinds: Vec<EventKind> = runtime
            .history("p-1")
            .await
            .unwrap()
            .iter()
            .map(|e| e.kind)
            .collect();
        let paused = kinds
            .iter()
            .position(|k| *k == EventKind::ExecutionPaused)
            .unwrap();
        let unpaused = kinds
            .iter()
            .position(|k| *k == EventKind::ExecutionUnpaused)
            .unwrap();
        assert!(paused < unpaused, "{kinds:?}");

        // Ended: nothing to pause; unknown: not found.
        let ended = runtime.pause("p-1").await.unwrap_err();
        assert!(matches!(ended, RunError::Finished { .. }), "{ended}");
        let unknown = runtime.unpause("nope").await.unwrap_err();
        assert!(
            matches!(unknown, RunError::Store(StoreError::NotFound { .. })),
            "{unknown}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_parks_a_paused_execution_and_any_worker_goes_on_after_the_unpause() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = Workflow::new("paused", 1, gate.step("a", &runs).then(runs.step("b", 10)));
        let submitter = store.runtime();
        let handle = submitter.submit(&wf, "w-1", 1).await.unwrap();
        let options = WorkerOptions::builder()
            .poll_interval(Duration::from_millis(20))
            .park_waits_over(Duration::from_millis(50))
            .shutdown_grace(Duration::from_millis(100))
            .build();
        let worker = Worker::new(store.runtime(), options).register(&wf);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let working = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        wait_until("a started", async || runs.count("a") == 1).await;
        submitter.pause("w-1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        gate.open();
        wait_until("the paused execution is parked", async || {
            let record = handle.record().await.unwrap();
            record.lease.is_none() && record.wake_at_ms == u64::MAX
        })
        .await;
        assert_eq!(runs.count("b"), 0, "{}", store.name);

        submitter.unpause("w-1").await.unwrap();
        let output = tokio::time::timeout(HANG, handle.output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(output, 11, "{}", store.name);
        assert_eq!((runs.count("a"), runs.count("b")), (1, 1), "{}", store.name);
        let _ = stop.send(());
        let report = working.await.unwrap().unwrap();
        assert!(report.parked >= 1, "{report:?}");
    }
}
