//! Workers and handles: executions submitted in one place run by a worker in another,
//! over the memory and SQLite stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use waypost::prelude::*;
use waypost::store::Fence;
use waypost::{ExecutionStatus, RunError, Worker, WorkerOptions, WorkerReport};

use crate::support::{Gate, Runs, TestStore, stores};

/// How long any wait in these tests may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

/// A worker running in the background until its stop sender is used or dropped.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<WorkerReport, RunError>>,
}

impl Running {
    fn start(worker: Worker) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        Running { stop, task }
    }

    async fn stop(self) -> WorkerReport {
        let _ = self.stop.send(());
        tokio::time::timeout(HANG, self.task)
            .await
            .expect("the worker stopped in time")
            .unwrap()
            .unwrap()
    }
}

fn quick() -> WorkerOptions {
    WorkerOptions::builder()
        .poll_interval(Duration::from_millis(20))
        .lease_ttl(Duration::from_secs(2))
        .shutdown_grace(Duration::from_millis(100))
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submitted_execution_is_run_by_a_worker_of_another_runtime() {
    for store in stores() {
        let runs = Runs::default();
        let wf = Workflow::new("add", 1, runs.step("a", 1).then(runs.step("b", 10)));
        // One runtime submits; another, sharing only the store, works.
        let submitter = store.runtime();
        let handle = submitter.submit(&wf, "s-1", 5).await.unwrap();
        assert_eq!(handle.id(), "s-1");
        assert_eq!(handle.status().await.unwrap(), ExecutionStatus::Running);
        assert!(
            handle.record().await.unwrap().waits_for_a_worker(u64::MAX),
            "{}: nobody runs it yet",
            store.name
        );
        // Submitting again is idempotent; another input is refused.
        submitter.submit(&wf, "s-1", 5).await.unwrap();
        assert!(matches!(
            submitter.submit(&wf, "s-1", 6).await,
            Err(RunError::InputMismatch { .. })
        ));

        let worker = Running::start(Worker::new(store.runtime(), quick()).register(&wf));
        let output = tokio::time::timeout(HANG, handle.output()).await.unwrap();
        assert_eq!(output.unwrap(), 16, "{}", store.name);
        // A handle from anywhere sees the same.
        let attached = submitter.handle::<u64>("s-1").await.unwrap();
        assert_eq!(attached.try_output().await.unwrap(), Some(16));
        assert!(submitter.handle::<u64>("nope").await.is_err());
        let report = worker.stop().await;
        assert_eq!(report.finished, 1, "{}", store.name);
        assert_eq!((runs.count("a"), runs.count("b")), (1, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_leaves_workflows_it_does_not_know() {
    for store in stores() {
        let runs = Runs::default();
        let v1 = Workflow::new("known", 1, runs.step("a", 1));
        let v2 = Workflow::new("known", 2, runs.step("a", 1));
        let other = Workflow::new("other", 1, runs.step("o", 1));
        let runtime = store.runtime();
        let of_v1 = runtime.submit(&v1, "v1", 1).await.unwrap();
        let of_v2 = runtime.submit(&v2, "v2", 1).await.unwrap();
        let of_other = runtime.submit(&other, "o", 1).await.unwrap();

        let worker = Running::start(Worker::new(store.runtime(), quick()).register(&v2));
        assert_eq!(
            tokio::time::timeout(HANG, of_v2.output())
                .await
                .unwrap()
                .unwrap(),
            2
        );
        // Long enough for several polls.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(worker.stop().await.finished, 1);
        for waiting in [&of_v1, &of_other] {
            let record = waiting.record().await.unwrap();
            assert_eq!(record.status, ExecutionStatus::Running, "{}", store.name);
            assert!(record.lease.is_none(), "{}: nobody took it", store.name);
            assert!(record.waits_for_a_worker(u64::MAX));
        }
        assert_eq!(runs.count("o"), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_runs_at_most_its_concurrency_at_once() {
    let store = TestStore::sqlite();
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let step = {
        let (now, most) = (Arc::clone(&now), Arc::clone(&most));
        step_fn("busy", move |x: u64| {
            let (now, most) = (Arc::clone(&now), Arc::clone(&most));
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(running, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Error>(x)
            }
        })
    };
    let wf = Workflow::new("busy", 1, step);
    let runtime = store.runtime();
    let mut handles = Vec::new();
    for i in 0..12 {
        handles.push(runtime.submit(&wf, format!("b-{i}"), i).await.unwrap());
    }
    let options = WorkerOptions::builder()
        .concurrency(3)
        .poll_interval(Duration::from_millis(10))
        .build();
    let worker = Running::start(Worker::new(store.runtime(), options).register(&wf));
    for (i, handle) in handles.iter().enumerate() {
        let output = tokio::time::timeout(HANG, handle.output()).await.unwrap();
        assert_eq!(output.unwrap(), i as u64);
    }
    assert_eq!(worker.stop().await.finished, 12);
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "bounded by the concurrency, and reached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_hands_back_what_is_unfinished_and_another_worker_resumes_it() {
    for store in stores() {
        let runs = Runs::default();
        let gate = Gate::closed();
        let wf = Workflow::new(
            "handover",
            1,
            runs.step("first", 1)
                .then(gate.step("held", &runs))
                .then(runs.step("last", 100)),
        );
        let runtime = store.runtime();
        let handle = runtime.submit(&wf, "h", 1).await.unwrap();
        let first = Running::start(Worker::new(store.runtime(), quick()).register(&wf));
        tokio::time::timeout(HANG, async {
            while runs.count("held") == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        let report = first.stop().await;
        assert_eq!(report.handed_back, 1, "{}: {report:?}", store.name);
        // Handed back before the worker returned: no lease is left, and it waits for a
        // worker.
        let record = handle.record().await.unwrap();
        assert!(record.lease.is_none(), "{}: {:?}", store.name, record.lease);
        assert!(record.waits_for_a_worker(waypost::store::now_ms()));

        gate.open();
        let second = Running::start(Worker::new(store.runtime(), quick()).register(&wf));
        let output = tokio::time::timeout(HANG, handle.output()).await.unwrap();
        assert_eq!(output.unwrap(), 102, "{}", store.name);
        second.stop().await;
        // The finished step did not run again; the interrupted one did.
        assert_eq!(
            (runs.count("first"), runs.count("held"), runs.count("last")),
            (1, 2, 1),
            "{}",
            store.name
        );
        // Handing back is not a crash: no recovery.
        assert_eq!(handle.record().await.unwrap().recoveries, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_takes_over_an_execution_whose_owner_stopped_renewing() {
    for store in stores() {
        let runs = Runs::default();
        let wf = Workflow::new("orphan", 1, runs.step("a", 1));
        let runtime = store.runtime();
        let handle = runtime.submit(&wf, "o", 1).await.unwrap();
        // An owner on another machine took it and vanished.
        store
            .store
            .acquire_lease("o", "gone.invalid:1:x", Duration::from_millis(300))
            .await
            .unwrap();
        let worker = Running::start(Worker::new(store.runtime(), quick()).register(&wf));
        let output = tokio::time::timeout(HANG, handle.output()).await.unwrap();
        assert_eq!(output.unwrap(), 2, "{}", store.name);
        worker.stop().await;
        let record = handle.record().await.unwrap();
        assert_eq!(record.recoveries, 1, "{}", store.name);
        let history = runtime.history("o").await.unwrap();
        assert!(
            history
                .iter()
                .any(|e| e.details.previous_owner.as_deref() == Some("gone.invalid:1:x")),
            "{}",
            store.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_through_a_handle_stops_the_worker_run() {
    for store in stores() {
        let runs = Runs::default();
        let gate = Gate::closed();
        let wf = Workflow::new(
            "cancelled",
            1,
            gate.step("held", &runs).then(runs.step("never", 1)),
        );
        let runtime = store.runtime();
        let handle = runtime.submit(&wf, "c", 1).await.unwrap();
        let worker = Running::start(Worker::new(store.runtime(), quick()).register(&wf));
        tokio::time::timeout(HANG, async {
            while runs.count("held") == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
        store
            .runtime()
            .handle::<u64>("c")
            .await
            .unwrap()
            .cancel()
            .await
            .unwrap();
        gate.open();
        let outcome = tokio::time::timeout(HANG, handle.output()).await.unwrap();
        assert!(
            matches!(outcome, Err(RunError::Cancelled { .. })),
            "{}: {outcome:?}",
            store.name
        );
        worker.stop().await;
        assert_eq!(runs.count("never"), 0, "{}", store.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_writes_nothing_once_another_took_over() {
    for store in stores() {
        let wf = Workflow::new("fenced", 1, pass("p", |x: u64| x));
        let runtime = store.runtime();
        runtime.submit(&wf, "f", 1).await.unwrap();
        let s = &store.store;
        let stale = s
            .acquire_lease("f", "stale.invalid:1:x", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        let fresh = s
            .acquire_lease("f", "fresh.invalid:1:x", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(fresh.token.epoch, stale.token.epoch + 1);
        let write = waypost::store::Write::Park { wake_at_ms: 7 };
        let refused = s
            .commit("f", Fence::Lease(&stale.token), vec![write.clone()])
            .await;
        assert!(
            matches!(refused, Err(waypost::StoreError::Fenced { .. })),
            "{}: {refused:?}",
            store.name
        );
        s.commit("f", Fence::Lease(&fresh.token), vec![write])
            .await
            .unwrap();
        assert_eq!(s.execution("f").await.unwrap().wake_at_ms, 7);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_wait_is_parked_and_resumed_by_any_worker_when_due() {
    for store in stores() {
        let runs = Runs::default();
        let wf = Workflow::new(
            "parks",
            1,
            runs.step("before", 1)
                .then(wait(Duration::from_millis(1200)))
                .then(runs.step("after", 10)),
        );
        let runtime = store.runtime();
        let options = || {
            WorkerOptions::builder()
                .poll_interval(Duration::from_millis(20))
                .park_waits_over(Duration::from_millis(300))
                .shutdown_grace(Duration::from_millis(100))
                .build()
        };
        let handle = runtime.submit(&wf, "p", 1).await.unwrap();
        let first = Running::start(Worker::new(store.runtime(), options()).register(&wf));
        // Parked: no lease held, due when the wait ends.
        let record = tokio::time::timeout(HANG, async {
            loop {
                let record = handle.record().await.unwrap();
                if record.lease.is_none() && record.wake_at_ms > waypost::store::now_ms() {
                    return record;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the worker parked the execution");
        assert_eq!(record.status, ExecutionStatus::Running);
        assert!(
            !record.waits_for_a_worker(waypost::store::now_ms()),
            "{}",
            store.name
        );
        let report = first.stop().await;
        assert_eq!(
            (report.parked, report.handed_back),
            (1, 0),
            "{}",
            store.name
        );

        // Another worker resumes it once the wait is over, not before.
        let second = Running::start(Worker::new(store.runtime(), options()).register(&wf));
        let output = tokio::time::timeout(HANG, handle.output()).await.unwrap();
        assert_eq!(output.unwrap(), 12, "{}", store.name);
        assert!(
            handle.record().await.unwrap().updated_ms >= record.wake_at_ms,
            "{}: finished before the wait was over",
            store.name
        );
        second.stop().await;
        assert_eq!((runs.count("before"), runs.count("after")), (1, 1));
        assert_eq!(
            handle.record().await.unwrap().recoveries,
            0,
            "parking is no crash"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_wait_or_a_busy_branch_keeps_the_lease() {
    let store = TestStore::sqlite();
    let runs = Runs::default();
    // One branch waits long while the other works: not only waiting, so no parking.
    let wf = Workflow::new(
        "busy-while-waiting",
        1,
        parallel((
            wait(Duration::from_millis(600)).then(runs.step("waited", 1)),
            runs.slow_step("working", Duration::from_millis(900)),
        )),
    );
    let runtime = store.runtime();
    let options = WorkerOptions::builder()
        .poll_interval(Duration::from_millis(20))
        .park_waits_over(Duration::from_millis(100))
        .build();
    let handle = runtime.submit(&wf, "b", 1).await.unwrap();
    let worker = Running::start(Worker::new(store.runtime(), options).register(&wf));
    let output = tokio::time::timeout(HANG, handle.output()).await.unwrap();
    assert_eq!(output.unwrap(), (2, 1));
    let report = worker.stop().await;
    assert_eq!((report.finished, report.parked), (1, 0));
}
