//! Start, resume, redrive, cancel: the durable API on both stores.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::store::{CheckpointKind, ListFilter};
use waypost::{JsonCodec, RuntimeConfig};

use crate::support::{Gate, Runs, TestStore, interrupt_after, interrupt_when, stores};

fn chain(runs: &Runs) -> Workflow<u64, u64> {
    Workflow::new(
        "chain",
        1,
        runs.step("a", 1)
            .then(runs.step("b", 10))
            .then(runs.step("c", 100)),
    )
}

#[tokio::test]
async fn start_runs_each_step_once_and_the_same_id_returns_the_stored_output() {
    for store in stores() {
        let runs = Runs::default();
        let runtime = store.runtime();
        let wf = chain(&runs);
        assert_eq!(
            runtime.start(&wf, "order-1", 5).await.unwrap(),
            116,
            "{}",
            store.name
        );
        assert_eq!(runtime.start(&wf, "order-1", 5).await.unwrap(), 116);
        // A fresh runtime over the same store: still the stored output, nothing re-run.
        assert_eq!(store.runtime().start(&wf, "order-1", 5).await.unwrap(), 116);
        assert_eq!(
            (runs.count("a"), runs.count("b"), runs.count("c")),
            (1, 1, 1),
            "{}",
            store.name
        );
        assert_eq!(
            runtime.status("order-1").await.unwrap(),
            ExecutionStatus::Succeeded
        );
        assert_eq!(runtime.output::<u64>("order-1").await.unwrap(), Some(116));
    }
}

#[tokio::test]
async fn an_interrupted_execution_resumes_without_redoing_finished_steps() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = Workflow::new(
            "gated",
            1,
            runs.step("a", 1)
                .then(gate.step("gate", &runs))
                .then(runs.step("c", 100)),
        );
        let runtime = store.runtime();
        interrupt_when(|| runs.count("gate") == 1, runtime.start(&wf, "e1", 1)).await;
        assert_eq!(
            runtime.status("e1").await.unwrap(),
            ExecutionStatus::Running
        );
        assert_eq!(
            (runs.count("a"), runs.count("gate"), runs.count("c")),
            (1, 1, 0)
        );

        gate.open();
        assert_eq!(
            runtime.resume(&wf, "e1").await.unwrap(),
            102,
            "{}",
            store.name
        );
        // `a` was checkpointed: not run again. `gate` was in flight: it ran again.
        assert_eq!(
            (runs.count("a"), runs.count("gate"), runs.count("c")),
            (1, 2, 1),
            "{}",
            store.name
        );
    }
}

#[tokio::test]
async fn resume_all_finishes_every_interrupted_execution_of_the_workflow() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let wf = Workflow::new("gated", 1, runs.step("a", 1).then(gate.step("gate", &runs)));
    let runtime = store.runtime();
    for i in 0..5u64 {
        interrupt_when(
            || runs.count("gate") == i as u32 + 1,
            runtime.start(&wf, format!("e{i}"), i),
        )
        .await;
    }
    gate.open();
    let mut results: Vec<(String, u64)> = runtime
        .resume_all(&wf)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, result)| (id, result.unwrap()))
        .collect();
    results.sort();
    assert_eq!(
        results,
        (0..5u64)
            .map(|i| (format!("e{i}"), i + 1))
            .collect::<Vec<_>>()
    );
    assert_eq!(runs.count("a"), 5);
    assert!(runtime.resume_all(&wf).await.unwrap().is_empty());
}

#[tokio::test]
async fn resume_of_a_finished_execution_is_refused() {
    for store in stores() {
        let runtime = store.runtime();
        let wf = chain(&Runs::default());
        runtime.start(&wf, "done", 1).await.unwrap();
        let err = runtime.resume(&wf, "done").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution `done` has already ended (succeeded); there is nothing to resume"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn redrive_reruns_the_failed_step_with_a_fresh_retry_budget() {
    for store in stores() {
        let runs = Runs::default();
        let broken = Arc::new(AtomicBool::new(true));
        let attempts = Arc::new(AtomicU32::new(0));
        let flaky = {
            let (broken, attempts) = (Arc::clone(&broken), Arc::clone(&attempts));
            step_fn("flaky", move |x: u64| {
                let (broken, attempts) = (Arc::clone(&broken), Arc::clone(&attempts));
                async move {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    if broken.load(Ordering::SeqCst) {
                        return Err(Error::new("Down", "the service is down"));
                    }
                    Ok(x * 2)
                }
            })
        };
        let policy = RetryPolicy::builder()
            .max_attempts(3)
            .interval(Duration::from_secs(1))
            .build();
        let wf = Workflow::new(
            "redrive",
            1,
            runs.step("a", 1)
                .then(flaky.retry(policy))
                .then(runs.step("c", 0)),
        );
        let runtime = store.runtime();

        let err = runtime.start(&wf, "r1", 1).await.unwrap_err();
        assert_eq!(err.error().unwrap().name(), "Down");
        assert_eq!(err.error().unwrap().address(), Some("1.flaky"));
        assert_eq!(runtime.status("r1").await.unwrap(), ExecutionStatus::Failed);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);

        // Still failing: a redrive gets a full budget of 3 attempts again.
        assert!(runtime.redrive(&wf, "r1").await.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 6, "{}", store.name);

        broken.store(false, Ordering::SeqCst);
        assert_eq!(runtime.redrive(&wf, "r1").await.unwrap(), 4);
        assert_eq!(attempts.load(Ordering::SeqCst), 7);
        assert_eq!(
            runs.count("a"),
            1,
            "the step before the failure is not run again"
        );
        assert_eq!(runtime.execution("r1").await.unwrap().redrives, 2);

        let err = runtime.redrive(&wf, "r1").await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "execution `r1` is succeeded; only failed executions can be redriven"
        );
    }
}

#[tokio::test]
async fn a_changed_workflow_is_refused_naming_both_versions_unless_allowed() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let allowing = Runtime::builder()
        .shared_store(Arc::clone(&store.store))
        .config(
            RuntimeConfig::builder()
                .allow_changed_workflows(true)
                .build(),
        )
        .build();
    let v1 = Workflow::new(
        "orders",
        1,
        runs.step("a", 1).then(gate.step("gate", &runs)),
    );
    interrupt_when(|| runs.count("gate") == 1, allowing.start(&v1, "o1", 1)).await;
    gate.open();

    let v2 = Workflow::new(
        "orders",
        2,
        runs.step("a", 1)
            .then(gate.step("gate", &runs))
            .then(runs.step("new", 1)),
    );
    let err = store.runtime().resume(&v2, "o1").await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("execution `o1` was started with workflow `orders` v1 (fingerprint "),
        "{message}"
    );
    assert!(
        message.contains("but is being resumed with v2 (fingerprint "),
        "{message}"
    );
    assert_eq!(runs.count("new"), 0);

    // The runtime that allows changed workflows (and ran it before) goes on.
    assert_eq!(allowing.resume(&v2, "o1").await.unwrap(), 3);
    assert_eq!(
        runs.count("a"),
        1,
        "checkpoints whose keys still exist are replayed"
    );
}

#[tokio::test]
async fn another_version_is_refused_naming_both_versions_even_with_the_same_structure() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let version = |v| {
            Workflow::new(
                "orders",
                v,
                runs.step("a", 1).then(gate.step("gate", &runs)),
            )
        };
        let (v1, v2) = (version(1), version(2));
        assert_eq!(v1.fingerprint(), v2.fingerprint(), "the same structure");
        let runtime = store.runtime();
        let refused = |err: RunError| {
            let message = err.to_string();
            assert!(
                message.contains("was started with workflow `orders` v1, but is being run with v2"),
                "{}: {message}",
                store.name
            );
        };

        // An interrupted v1 execution is not finished by v2 code.
        interrupt_when(|| runs.count("gate") == 1, runtime.start(&v1, "o1", 1)).await;
        refused(runtime.resume(&v2, "o1").await.unwrap_err());
        refused(runtime.start(&v2, "o1", 1).await.unwrap_err());
        assert_eq!(runs.count("gate"), 1, "{}: v2 ran nothing", store.name);

        // A finished v1 execution does not hand its result to a v2 caller.
        gate.open();
        assert_eq!(runtime.resume(&v1, "o1").await.unwrap(), 2);
        refused(runtime.start(&v2, "o1", 1).await.unwrap_err());
        assert_eq!(runtime.start(&v1, "o1", 1).await.unwrap(), 2);

        // Opting in lets v2 have it; the stored version stays the one it ran with.
        let allowing = Runtime::builder()
            .shared_store(Arc::clone(&store.store))
            .config(
                RuntimeConfig::builder()
                    .allow_changed_workflows(true)
                    .build(),
            )
            .build();
        assert_eq!(allowing.start(&v2, "o1", 1).await.unwrap(), 2);
        assert_eq!(runtime.execution("o1").await.unwrap().version, 1);
    }
}

#[tokio::test]
async fn cancel_stops_a_running_execution() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = Workflow::new(
            "gated",
            1,
            gate.step("gate", &runs).then(runs.step("after", 1)),
        );
        let runtime = store.runtime();
        let running = tokio::spawn({
            let (runtime, wf) = (runtime.clone(), wf.clone());
            async move { runtime.start(&wf, "c1", 1).await }
        });
        while runs.count("gate") == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        runtime.cancel("c1").await.unwrap();
        let err = running.await.unwrap().unwrap_err();
        assert_eq!(err.to_string(), "execution `c1` was cancelled");
        assert_eq!(
            runtime.status("c1").await.unwrap(),
            ExecutionStatus::Cancelled
        );
        assert_eq!(runs.count("after"), 0);
        // Cancelling it again says it is over, not how to resume it.
        let again = runtime.cancel("c1").await.unwrap_err();
        assert!(
            matches!(
                again,
                RunError::Finished {
                    action: "cancel",
                    ..
                }
            ),
            "{again:?}"
        );
        assert_eq!(
            again.to_string(),
            "execution `c1` has already ended (cancelled); there is nothing to cancel"
        );
        // Starting the same id again reports how it ended.
        assert!(matches!(
            runtime.start(&wf, "c1", 1).await,
            Err(RunError::Cancelled { .. })
        ));
    }
}

#[tokio::test]
async fn list_filters_by_status_and_workflow_newest_first() {
    let store = TestStore::sqlite();
    let runtime = store.runtime();
    let ok = chain(&Runs::default());
    let failing: Workflow<u64, u64> = Workflow::new("failing", 1, fail("Nope", "always"));
    runtime.start(&ok, "ok-1", 1).await.unwrap();
    runtime.start(&failing, "bad-1", 1).await.unwrap_err();
    tokio::time::sleep(Duration::from_millis(5)).await;
    runtime.start(&ok, "ok-2", 1).await.unwrap();

    let ids = |records: Vec<waypost::store::ExecutionRecord>| {
        records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(runtime.list(&ListFilter::default()).await.unwrap()),
        ["ok-2", "bad-1", "ok-1"]
    );
    let failed = ListFilter {
        status: Some(ExecutionStatus::Failed),
        ..ListFilter::default()
    };
    assert_eq!(ids(runtime.list(&failed).await.unwrap()), ["bad-1"]);
    let chains = ListFilter {
        workflow: Some("chain".into()),
        ..ListFilter::default()
    };
    assert_eq!(ids(runtime.list(&chains).await.unwrap()), ["ok-2", "ok-1"]);
    let record = runtime.execution("bad-1").await.unwrap();
    assert_eq!(record.error.unwrap().name(), "Nope");
}

#[tokio::test]
async fn the_json_codec_stores_checkpoints_people_can_read() {
    let store = TestStore::sqlite();
    #[step]
    async fn greet(name: String) -> String {
        format!("hello, {name}")
    }
    let wf = Workflow::new("greet", 1, greet).with_codec(JsonCodec);
    assert_eq!(
        store
            .runtime()
            .start(&wf, "g1", "ada".to_string())
            .await
            .unwrap(),
        "hello, ada"
    );
    let checkpoints = store.store.checkpoints("g1").await.unwrap();
    assert_eq!(checkpoints.len(), 1);
    assert_eq!(checkpoints[0].key, "0.greet");
    assert_eq!(checkpoints[0].kind, CheckpointKind::Output);
    assert_eq!(
        std::str::from_utf8(&checkpoints[0].payload).unwrap(),
        "\"hello, ada\""
    );
    let record = store.store.execution("g1").await.unwrap();
    assert_eq!(
        (record.codec.as_str(), record.input.as_slice()),
        ("json", &b"\"ada\""[..])
    );
}

#[tokio::test]
async fn a_recorded_choice_is_replayed_even_if_the_rules_would_now_pick_another() {
    let store = TestStore::sqlite();
    let express = Arc::new(AtomicBool::new(true));
    let (runs, gate) = (Runs::default(), Gate::closed());
    let flag = Arc::clone(&express);
    let route = choice()
        .when(
            "express",
            move |_: &u64| flag.load(Ordering::SeqCst),
            runs.step("fast", 1000),
        )
        .otherwise(runs.step("slow", 1));
    let wf = Workflow::new("route", 1, route.then(gate.step("gate", &runs)));
    let runtime = store.runtime();
    interrupt_when(|| runs.count("gate") == 1, runtime.start(&wf, "r", 0)).await;
    express.store(false, Ordering::SeqCst);
    gate.open();
    assert_eq!(runtime.resume(&wf, "r").await.unwrap(), 1000);
    assert_eq!((runs.count("fast"), runs.count("slow")), (1, 0));
}

static KEYS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static HOLD: AtomicBool = AtomicBool::new(true);

/// Records the idempotency key it would send to a payment API, then waits while `HOLD`.
#[step]
async fn charge(cx: &StepContext, cents: u64) -> u64 {
    KEYS.lock().unwrap().push(cx.idempotency_key());
    while HOLD.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cents
}

#[tokio::test]
async fn the_idempotency_key_is_the_same_when_an_interrupted_step_runs_again() {
    let store = TestStore::sqlite();
    let runs = Runs::default();
    let wf = Workflow::new("pay", 1, runs.step("a", 1).then(charge));
    let runtime = store.runtime();
    interrupt_when(
        || !KEYS.lock().unwrap().is_empty(),
        runtime.start(&wf, "pay-1", 1),
    )
    .await;
    HOLD.store(false, Ordering::SeqCst);
    assert_eq!(runtime.resume(&wf, "pay-1").await.unwrap(), 2);
    assert_eq!(
        *KEYS.lock().unwrap(),
        ["pay-1/1.charge#1", "pay-1/1.charge#1"]
    );
}

static SQUARED: AtomicU32 = AtomicU32::new(0);

#[step]
fn square_counted(x: u64) -> u64 {
    SQUARED.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[tokio::test]
async fn par_map_items_are_checkpointed_and_replayed_on_resume() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let wf = Workflow::new(
        "squares",
        1,
        par_map(square_counted)
            .then(pass("sum", |xs: Vec<u64>| xs.iter().sum::<u64>()))
            .then(gate.step("gate", &runs)),
    );
    let runtime = store.runtime();
    interrupt_when(
        || runs.count("gate") == 1,
        runtime.start(&wf, "sq", (1..=100).collect()),
    )
    .await;
    assert_eq!(SQUARED.load(Ordering::SeqCst), 100);
    let keys: Vec<String> = store
        .store
        .checkpoints("sq")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    // The 100 results fit in one batch.
    assert!(keys.contains(&"0.par_map/~items/0".to_string()), "{keys:?}");

    gate.open();
    assert_eq!(
        runtime.resume(&wf, "sq").await.unwrap(),
        (1..=100u64).map(|x| x * x).sum::<u64>()
    );
    assert_eq!(SQUARED.load(Ordering::SeqCst), 100, "no item ran again");
}

#[tokio::test(start_paused = true)]
async fn a_timeout_that_fired_is_replayed_not_run_again() {
    let store = TestStore::memory();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let slow = runs.slow_step("slow", Duration::from_secs(10));
    let fallback = pass("fallback", |(x, _error): (u64, Error)| x + 1000);
    let wf = Workflow::new(
        "impatient",
        1,
        slow.timeout(Duration::from_secs(1))
            .catch([waypost::error::names::TIMEOUT], fallback)
            .then(gate.step("gate", &runs)),
    );
    let runtime = store.runtime();
    interrupt_after(Duration::from_secs(5), runtime.start(&wf, "t", 1)).await;
    assert_eq!((runs.count("slow"), runs.count("gate")), (1, 1));
    gate.open();
    // The recorded timeout takes the same path again: the slow step is not retried
    // into a success that would change the output.
    assert_eq!(runtime.resume(&wf, "t").await.unwrap(), 1001);
    assert_eq!(runs.count("slow"), 1);
}

static IN_FLIGHT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static STARTED: AtomicU32 = AtomicU32::new(0);
static RELEASED: AtomicBool = AtomicBool::new(false);

/// Counts how many run at once; waits until `RELEASED` (so a start can be interrupted).
#[step]
async fn tracked(x: u64) -> u64 {
    STARTED.fetch_add(1, Ordering::SeqCst);
    let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    while !RELEASED.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    x
}

#[tokio::test]
async fn resume_all_resumes_at_most_the_configured_number_at_once() {
    let store = TestStore::sqlite();
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store.store))
        .config(RuntimeConfig::builder().max_concurrent_resumes(2).build())
        .build();
    let wf = Workflow::new("tracked", 1, tracked);
    for i in 0..6u32 {
        interrupt_when(
            || STARTED.load(Ordering::SeqCst) == i + 1,
            runtime.start(&wf, format!("t{i}"), 1),
        )
        .await;
        IN_FLIGHT.store(0, Ordering::SeqCst);
    }
    PEAK.store(0, Ordering::SeqCst);
    RELEASED.store(true, Ordering::SeqCst);
    let results = runtime.resume_all(&wf).await.unwrap();
    assert_eq!(results.len(), 6);
    assert!(results.iter().all(|(_, r)| r.is_ok()));
    assert_eq!(PEAK.load(Ordering::SeqCst), 2);
}
