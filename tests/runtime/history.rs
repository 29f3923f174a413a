//! Execution history: the events of an execution, stored with its checkpoints.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::{Event, EventKind, HistoryLevel, RuntimeConfig};

use crate::support::{Gate, Runs, TestStore, interrupt_when, stores};

/// One line per event, without times: `kind address #attempt detail`.
fn lines(events: &[Event]) -> String {
    let mut out = String::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "seq counts from 1 without gaps");
        out.push_str(&format!("{} {} #{}", e.kind, e.address, e.attempt));
        if let Some(detail) = &e.detail {
            out.push_str(&format!(" {detail}"));
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
