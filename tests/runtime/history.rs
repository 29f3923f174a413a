//! Execution history: the events of an execution, stored with its checkpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::{Event, EventKind, HistoryLevel, RuntimeConfig};

use crate::support::{Gate, Runs, TestStore, interrupt_when, stores};

/// One line per event, without times: `kind address #attempt summary`.
fn lines(events: &[Event]) -> String {
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "seq counts from 1 without gaps");
        out.push_str(&format!("{} {} #{}", e.kind, e.address, e.attempt));
        let summary = e.summary();
        if !summary.is_empty() {
            out.push_str(&format!(" {summary}"));
        }
        out.push('\n');
    }
    out
}

static FLAKY: AtomicU32 = AtomicU32::new(0);

/// Fails its first attempt in every test process run.
#[step]
async fn flaky(x: u64) -> Result<u64, Error> {
    if FLAKY.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(Error::new("Transient", "first attempt fails"));
    }
    Ok(x)
}

#[step]
async fn refuse(_x: u64) -> Result<u64, Error> {
    Err(Error::new("Refused", "never"))
}

#[step]
async fn fallback((x, _error): (u64, Error)) -> u64 {
    x
}

#[tokio::test(start_paused = true)]
async fn a_history_tells_the_whole_story() {
    let store = TestStore::memory();
    let runs = Runs::default();
    let retry = RetryPolicy::builder()
        .max_attempts(2)
        .interval(Duration::from_millis(10))
        .build();
    let wf = Workflow::new(
        "story",
        1,
        runs.step("start", 1)
            .then(
                choice()
                    .named("route")
                    .when("big", |x: &u64| *x > 10, runs.step("big", 0))
                    .otherwise(flaky.retry(retry)),
            )
            .then(refuse.catch(["Refused"], fallback))
            .then(wait(Duration::from_secs(1)))
            .then(pass("pair", |x: u64| vec![x, x + 1]))
            .then(map(runs.step("item", 1))),
    );
    let runtime = store.runtime();
    assert_eq!(runtime.start(&wf, "story-1", 1).await.unwrap(), [3, 4]);
    insta::assert_snapshot!(lines(&runtime.history("story-1").await.unwrap()));
}

#[tokio::test]
async fn a_resumed_execution_does_not_repeat_the_events_it_replays() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = Workflow::new(
            "resumed",
            1,
            runs.step("a", 1)
                .then(gate.step("gate", &runs))
                .then(runs.step("c", 1)),
        );
        let runtime = store.runtime();
        interrupt_when(|| runs.count("gate") == 1, runtime.start(&wf, "r", 1)).await;
        let before = runtime.history("r").await.unwrap();
        assert_eq!(
            lines(&before),
            "ExecutionStarted  #1 workflow `resumed` v1\nStepStarted 0.a #1\nStepSucceeded 0.a #1\n",
            "{}",
            store.name
        );
        gate.open();
        runtime.resume(&wf, "r").await.unwrap();
        let after = lines(&runtime.history("r").await.unwrap());
        assert_eq!(
            after,
            "ExecutionStarted  #1 workflow `resumed` v1\nStepStarted 0.a #1\nStepSucceeded 0.a #1\n\
             ExecutionResumed  #1 workflow `resumed` v1\nStepStarted 1.gate #1\nStepSucceeded 1.gate #1\n\
             StepStarted 2.c #1\nStepSucceeded 2.c #1\nExecutionSucceeded  #1\n",
            "{}",
            store.name
        );
    }
}

#[tokio::test]
async fn the_history_level_keeps_what_it_says() {
    let store = TestStore::sqlite();
    let quiet = Runtime::builder()
        .shared_store(Arc::clone(&store.store))
        .config(
            RuntimeConfig::builder()
                .history(HistoryLevel::Errors)
                .build(),
        )
        .build();
    let runs = Runs::default();
    let wf = Workflow::new(
        "quiet",
        1,
        runs.step("a", 1).then(refuse.catch(["Refused"], fallback)),
    );
    quiet.start(&wf, "q", 1).await.unwrap();
    let kinds: Vec<EventKind> = quiet
        .history("q")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::ExecutionStarted,
            EventKind::StepFailed,
            EventKind::ErrorCaught,
            EventKind::ExecutionSucceeded
        ]
    );

    // `Off` keeps the execution's own events: started, and how it ended.
    let silent = Runtime::builder()
        .shared_store(Arc::clone(&store.store))
        .config(RuntimeConfig::builder().history(HistoryLevel::Off).build())
        .build();
    silent.start(&wf, "s", 1).await.unwrap();
    let kinds: Vec<EventKind> = silent
        .history("s")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [EventKind::ExecutionStarted, EventKind::ExecutionSucceeded]
    );
}

#[tokio::test]
async fn a_redrive_stores_again_only_the_events_of_what_runs_again() {
    let store = TestStore::memory();
    let broken = Arc::new(AtomicU32::new(1));
    let flag = Arc::clone(&broken);
    let last = step_fn("last", move |xs: Vec<u64>| {
        let flag = Arc::clone(&flag);
        async move {
            if flag.load(Ordering::SeqCst) == 1 {
                return Err(Error::new("Broken", "not yet"));
            }
            Ok::<_, Error>(xs.iter().sum::<u64>())
        }
    });
    let double = step_fn("double", |x: u64| async move { Ok::<_, Error>(2 * x) });
    let wf = Workflow::new("two-parts", 1, map(double).then(last));
    let runtime = store.runtime();
    runtime.start(&wf, "r", vec![1, 2, 3]).await.unwrap_err();
    broken.store(0, Ordering::SeqCst);
    assert_eq!(runtime.redrive(&wf, "r").await.unwrap(), 12);

    let history = runtime.history("r").await.unwrap();
    let count = |kind: EventKind, address: &str| {
        history
            .iter()
            .filter(|e| e.kind == kind && e.address == address)
            .count()
    };
    // The map only replays in the redrive: its events are stored once.
    assert_eq!(
        count(EventKind::MapStarted, "0.map"),
        1,
        "{}",
        lines(&history)
    );
    assert_eq!(count(EventKind::MapItemFinished, "0.map/1"), 1);
    assert_eq!(count(EventKind::MapFinished, "0.map"), 1);
    // The failed step runs again: its events are stored for each run.
    assert_eq!(
        count(EventKind::StepStarted, "1.last"),
        2,
        "{}",
        lines(&history)
    );
    assert_eq!(count(EventKind::StepFailed, "1.last"), 1);
    assert_eq!(count(EventKind::StepSucceeded, "1.last"), 1);
}

#[tokio::test]
async fn a_nested_retry_keeps_the_events_of_every_outer_attempt() {
    let store = TestStore::memory();
    let runs = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&runs);
    // Fails the first attempt of each outer attempt; the outer retry then fails once
    // more, through `check`.
    let inner = step_fn("inner", move |x: u64| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            if n.is_multiple_of(2) {
                return Err(Error::new("Boom", "inner"));
            }
            Ok::<_, Error>(x)
        }
    });
    let checks = Arc::new(AtomicU32::new(0));
    let check = step_fn("check", move |x: u64| {
        let n = checks.fetch_add(1, Ordering::SeqCst);
        async move {
            if n == 0 {
                return Err(Error::new("Boom", "check"));
            }
            Ok::<_, Error>(x)
        }
    });
    let twice = || {
        RetryPolicy::builder()
            .max_attempts(2)
            .interval(Duration::ZERO)
            .build()
    };
    let wf = Workflow::new("nested", 1, inner.retry(twice()).then(check).retry(twice()));
    let runtime = store.runtime();
    assert_eq!(runtime.start(&wf, "n", 5).await.unwrap(), 5);
    assert_eq!(runs.load(Ordering::SeqCst), 4);

    let history = runtime.history("n").await.unwrap();
    let outcomes: Vec<String> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepSucceeded | EventKind::StepFailed))
        .map(|e| format!("{} {} #{}", e.kind, e.address, e.attempt))
        .collect();
    // Inner fails, succeeds, check fails; inner fails, succeeds, check succeeds.
    assert_eq!(outcomes.len(), 6, "{}", lines(&history));
}

/// Waits until `store` hands the lease of `id` to `owner` for `ttl`: the interrupted run
/// of this process gives its lease up on a task of its own.
async fn take_lease(store: &dyn waypost::Store, id: &str, owner: &str, ttl: Duration) {
    for _ in 0..2_000 {
        match store.acquire_lease(id, owner, ttl).await {
            Ok(_) => return,
            Err(waypost::StoreError::Leased { .. }) => {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(other) => panic!("taking the lease of `{id}`: {other}"),
        }
    }
    panic!("the lease of `{id}` was never released");
}

/// A parallel of a step that waits at `gate` and one that finishes at once: the fast
/// branch's checkpoint stores the slow one's `StepStarted` with it, so that an
/// interruption of the slow step leaves its start in the history.
fn half_done(gate: &Gate, runs: &Runs, store: &Arc<dyn waypost::Store>) -> Workflow<u64, u64> {
    let (gate, runs, store) = (gate.clone(), runs.clone(), Arc::clone(store));
    let slow = step_fn("slow", move |x: u64| {
        let (runs, store) = (runs.clone(), Arc::clone(&store));
        let gate = gate.clone();
        async move {
            runs.bump("slow");
            if runs.count("slow") > 1 {
                // A later run starts only once the recovery is stored, if there was one.
                let recovered = store
                    .history("h")
                    .await
                    .unwrap()
                    .iter()
                    .any(|e| e.kind == EventKind::ExecutionRecovered);
                runs.bump(if recovered {
                    "slow after a stored recovery"
                } else {
                    "slow without a stored recovery"
                });
            }
            gate.wait().await;
            Ok::<_, Error>(x)
        }
    });
    let fast = step_fn("fast", |x: u64| async move { Ok::<_, Error>(x + 1) });
    Workflow::new(
        "half-done",
        1,
        parallel((slow, fast)).then(pass("sum", |(a, b): (u64, u64)| a + b)),
    )
}

/// Runs `half_done` until the slow step's start is stored, then drops the run.
async fn interrupt_half_done(store: &TestStore, runtime: &Runtime, wf: &Workflow<u64, u64>) {
    let started = || async {
        store.store.history("h").await.is_ok_and(|history| {
            history
                .iter()
                .any(|e| e.kind == EventKind::StepStarted && e.address.ends_with("0.slow"))
        })
    };
    let run = runtime.start(wf, "h", 1);
    tokio::select! {
        _ = run => panic!("the execution finished before the interruption point"),
        () = async { while !started().await { tokio::time::sleep(Duration::from_millis(1)).await; } } => {}
    }
}

/// `(kind, run)` of the slow step's events.
fn slow_runs(history: &[Event]) -> Vec<(EventKind, Option<u32>)> {
    history
        .iter()
        .filter(|e| e.address.ends_with("0.slow"))
        .map(|e| (e.kind, e.details.run))
        .collect()
}

#[tokio::test]
async fn a_step_that_runs_again_after_an_interruption_shows_each_run() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = half_done(&gate, &runs, &store.store);
        let runtime = store.runtime();
        interrupt_half_done(&store, &runtime, &wf).await;
        gate.open();
        assert_eq!(runtime.resume(&wf, "h").await.unwrap(), 3, "{}", store.name);
        assert_eq!(runs.count("slow"), 2);

        let history = runtime.history("h").await.unwrap();
        assert_eq!(
            slow_runs(&history),
            [
                (EventKind::StepStarted, None),
                (EventKind::StepStarted, Some(2)),
                (EventKind::StepSucceeded, Some(2)),
            ],
            "{}: {}",
            store.name,
            lines(&history)
        );
        // The replayed branch and the resumed execution add nothing twice.
        let count = |kind| history.iter().filter(|e| e.kind == kind).count();
        assert_eq!(count(EventKind::StepSucceeded), 2, "{}", lines(&history));
        assert_eq!(count(EventKind::ExecutionResumed), 1);
        // A resume in the same process took no lease over: no recovery.
        assert_eq!(count(EventKind::ExecutionRecovered), 0);
        assert_eq!(runtime.execution("h").await.unwrap().recoveries, 0);
    }
}

#[tokio::test]
async fn a_recovery_is_stored_before_the_run_goes_on() {
    for store in stores() {
        let (runs, gate) = (Runs::default(), Gate::closed());
        let wf = half_done(&gate, &runs, &store.store);
        let runtime = store.runtime();
        interrupt_half_done(&store, &runtime, &wf).await;
        // The process that ran it dies holding the lease, which runs out.
        let crashed = "another-host.invalid:4242:dead";
        take_lease(&*store.store, "h", crashed, Duration::from_millis(1)).await;
        tokio::time::sleep(Duration::from_millis(5)).await;

        gate.open();
        assert_eq!(runtime.resume(&wf, "h").await.unwrap(), 3, "{}", store.name);
        assert_eq!(
            runs.count("slow after a stored recovery"),
            1,
            "{}",
            store.name
        );
        assert_eq!(runs.count("slow without a stored recovery"), 0);

        let history = runtime.history("h").await.unwrap();
        let recovered: Vec<&Event> = history
            .iter()
            .filter(|e| e.kind == EventKind::ExecutionRecovered)
            .collect();
        assert_eq!(recovered.len(), 1, "{}: {}", store.name, lines(&history));
        let details = &recovered[0].details;
        assert_eq!(details.previous_owner.as_deref(), Some(crashed));
        assert_eq!(details.recoveries, Some(1));
        let owner = details.owner.as_deref().unwrap();
        assert!(owner != crashed && !owner.is_empty(), "{owner}");
        assert_eq!(runtime.execution("h").await.unwrap().recoveries, 1);
        // In order: the takeover, the resume, then the run of what was interrupted.
        let position = |kind, run| {
            history
                .iter()
                .position(|e| e.kind == kind && (run == 0 || e.details.run == Some(run)))
                .unwrap()
        };
        assert!(
            position(EventKind::ExecutionRecovered, 0) < position(EventKind::ExecutionResumed, 0)
        );
        assert!(position(EventKind::ExecutionResumed, 0) < position(EventKind::StepStarted, 2));
        assert_eq!(
            slow_runs(&history),
            [
                (EventKind::StepStarted, None),
                (EventKind::StepStarted, Some(2)),
                (EventKind::StepSucceeded, Some(2)),
            ]
        );
    }
}
