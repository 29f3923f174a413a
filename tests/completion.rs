//! Completion policies and settled batches on `map`, `par_map` and `parallel`: each
//! option and each completion reason, outcomes counted in input order whatever the
//! order items end in (paused clock, different sleeps), settings refused when the
//! workflow is built, and what history and the ASL export show.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use waypost::completion::{CompletionReason, Outcome, Settled};
use waypost::prelude::*;
use waypost::{EventKind, MemoryStore, Payload, WorkflowError};

/// A step after the state under test that fails the first time, so that a redrive
/// replays that state from its checkpoints.
fn fails_once<T: Payload>() -> impl Step<Input = T, Output = T> + use<T> {
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    step_fn("fails_once", move |batch: T| {
        let first = !failed.swap(true, Ordering::SeqCst);
        async move {
            if first {
                Err(Error::new("Once", "the first run fails"))
            } else {
                Ok(batch)
            }
        }
    })
}

/// An item: sleep `ms`, then succeed with `ms` or fail with `Bad`; counts the items
/// that got to their end.
type Item = (u64, bool);

fn timed(ended: &Arc<AtomicUsize>) -> impl Step<Input = Item, Output = u64> + use<> {
    let ended = Arc::clone(ended);
    step_fn("timed", move |(ms, ok): Item| {
        let ended = Arc::clone(&ended);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ended.fetch_add(1, Ordering::SeqCst);
            if ok {
                Ok(ms)
            } else {
                Err(Error::new("Bad", format!("item of {ms} ms failed")))
            }
        }
    })
}

/// The outcomes as `S` (succeeded), `F` (failed), `-` (skipped).
fn shape<T>(outcomes: &[Outcome<T>]) -> String {
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::Succeeded(_) => 'S',
            Outcome::Failed(_) => 'F',
            Outcome::Skipped => '-',
        })
        .collect()
}

fn counts<T>(batch: &Settled<T>) -> (usize, usize) {
    (batch.counts().succeeded(), batch.counts().failed())
}

// ---------------------------------------------------------------------------------------
// map

#[tokio::test(start_paused = true)]
async fn map_min_successful_decides_in_input_order_not_in_finish_order() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new("quorum", 1, map(timed(&ended)).settled().min_successful(2));
    // Items end in the order 3, 2, 1, 0, 4. Counted as they end, items 3 and 2 would
    // make two successes at 50 ms; in input order the second success is item 2, known
    // once item 0 ends at 300 ms. Item 3 ended first but comes after the decision.
    let items = vec![
        (300, true),
        (100, false),
        (50, true),
        (10, true),
        (900, true),
    ];
    let start = tokio::time::Instant::now();
    let batch = Runtime::new().run(&wf, items).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    assert_eq!(shape(batch.outcomes()), "SFS--");
    assert_eq!(counts(&batch), (2, 1));
    assert_eq!(batch.counts().total(), Some(5));
    assert_eq!(batch.outcomes()[0], Outcome::Succeeded(300));
    assert_eq!(batch.outcomes()[1].err().unwrap().name(), "Bad");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ended.load(Ordering::SeqCst), 4, "item 4 was cancelled");
}

#[tokio::test(start_paused = true)]
async fn map_min_successful_with_a_limit_starts_nothing_after_the_decision() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new(
        "quorum",
        1,
        map(timed(&ended))
            .settled()
            .min_successful(2)
            .max_concurrency(1),
    );
    let items = vec![(10, true), (10, false), (10, true), (10, true), (10, true)];
    let batch = Runtime::new().run(&wf, items).await.unwrap();
    assert_eq!(shape(batch.outcomes()), "SFS--");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        ended.load(Ordering::SeqCst),
        3,
        "items 3 and 4 never started"
    );
}

#[tokio::test(start_paused = true)]
async fn map_min_successful_over_the_items_runs_them_all() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new("few", 1, map(timed(&ended)).settled().min_successful(9));
    let batch = Runtime::new()
        .run(&wf, vec![(20, true), (10, false)])
        .await
        .unwrap();
    assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    assert_eq!(shape(batch.outcomes()), "SF");
}

#[tokio::test(start_paused = true)]
async fn a_settled_map_tolerates_every_failure_by_default() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new("all", 1, map(timed(&ended)).settled());
    let batch = Runtime::new()
        .run(&wf, vec![(30, false), (20, false), (10, true)])
        .await
        .unwrap();
    assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    assert_eq!(shape(batch.outcomes()), "FFS");
    assert_eq!(counts(&batch), (1, 2));
}

#[tokio::test(start_paused = true)]
async fn a_settled_map_past_its_tolerance_ends_with_that_reason_in_input_order() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new(
        "tolerant",
        1,
        map(timed(&ended))
            .settled()
            .tolerate(ToleratedFailures::Count(1)),
    );
    // Items 2 and 3 fail first (by finish order the tolerance is exceeded at item 2,
    // 20 ms); in input order item 0 fails at 300 ms, then item 2 exceeds it.
    let items = vec![
        (300, false),
        (200, true),
        (20, false),
        (10, false),
        (900, true),
    ];
    let batch = Runtime::new().run(&wf, items).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::ToleranceExceeded);
    assert_eq!(shape(batch.outcomes()), "FSF--");
    assert_eq!(counts(&batch), (1, 2));

    // A percentage: 25% of 4 items is 1.
    let wf = Workflow::new(
        "pct",
        1,
        map(timed(&ended))
            .tolerate(ToleratedFailures::Percentage(25.0))
            .settled(),
    );
    let items = vec![(10, false), (10, true), (10, false), (10, true)];
    let batch = Runtime::new().run(&wf, items).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::ToleranceExceeded);
    assert_eq!(shape(batch.outcomes()), "FSF-");
}

#[tokio::test(start_paused = true)]
async fn a_map_predicate_sees_the_running_counts_in_input_order() {
    let ended = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let wf = Workflow::new(
        "predicate",
        1,
        map(timed(&ended)).settled().complete_when(move |c| {
            log.lock()
                .unwrap()
                .push((c.succeeded(), c.failed(), c.settled(), c.total()));
            c.succeeded() == 2
        }),
    );
    // Item 3 ends first, then 1, 2 and 0: the predicate sees the counts only as item
    // 0 ends, then item by item in input order, and matches at item 2.
    let items = vec![(100, true), (10, false), (50, true), (5, true)];
    let batch = Runtime::new().run(&wf, items).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::PredicateMatched);
    assert_eq!(shape(batch.outcomes()), "SFS-");
    assert_eq!(
        *seen.lock().unwrap(),
        [(1, 0, 1, Some(4)), (1, 1, 2, Some(4)), (2, 1, 3, Some(4))]
    );
}

#[tokio::test(start_paused = true)]
async fn a_strict_map_still_fails_and_a_tolerant_map_counts_in_input_order() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new("strict", 1, map(timed(&ended)));
    let error = Runtime::new()
        .run(&wf, vec![(10, true), (20, false)])
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Bad");

    let wf = Workflow::new(
        "tolerant",
        1,
        map(timed(&ended)).tolerate(ToleratedFailures::Count(1)),
    );
    // Item 2 fails first, then item 0 at 300 ms: exceeded at item 2 in input order.
    let error = Runtime::new()
        .run(&wf, vec![(300, false), (100, true), (10, false)])
        .await
        .unwrap_err();
    assert_eq!(error.name(), "States.ExceedToleratedFailureThreshold");
    assert!(
        error.message().contains("2 of 3 items failed"),
        "{}",
        error.message()
    );
}

#[tokio::test(start_paused = true)]
async fn the_map_finished_event_says_why_it_completed() {
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new("quorum", 1, map(timed(&ended)).settled().min_successful(1));
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let batch = runtime
        .start(&wf, "q-1", vec![(10, true), (20, true)])
        .await
        .unwrap();
    assert_eq!(shape(batch.outcomes()), "S-");
    let history = runtime.history("q-1").await.unwrap();
    let finished = history
        .iter()
        .find(|e| e.kind == EventKind::MapFinished)
        .unwrap();
    assert_eq!(
        finished.details.completion.as_deref(),
        Some("min successful reached")
    );
    assert_eq!(
        finished.summary(),
        "0 of 2 items failed; completed: min successful reached"
    );
    // Item 1 was cancelled at the decision: no MapItemFinished for it.
    let items = history
        .iter()
        .filter(|e| e.kind == EventKind::MapItemFinished)
        .count();
    assert_eq!(items, 1);
}

// ---------------------------------------------------------------------------------------
// par_map

fn checked() -> impl SyncStep<Input = i64, Output = i64> + use<> {
    sync_step_fn("checked", |x: i64| {
        if x < 0 {
            Err(Error::new("Negative", format!("{x} is negative")))
        } else {
            Ok(x * 2)
        }
    })
}

#[tokio::test]
async fn par_map_settled_runs_every_item_and_keeps_each_outcome() {
    let wf = Workflow::new("all", 1, par_map(checked()).settled());
    let batch = Runtime::new().run(&wf, vec![1, -2, 3]).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    assert_eq!(shape(batch.outcomes()), "SFS");
    assert_eq!(batch.outcomes()[2], Outcome::Succeeded(6));
    assert_eq!(batch.outcomes()[1].err().unwrap().name(), "Negative");
}

#[tokio::test]
async fn par_map_min_successful_tolerance_and_predicate_decide_in_input_order() {
    let items: Vec<i64> = vec![-1, 2, -3, 4, 5, 6, -7, 8];
    let wf = Workflow::new("min", 1, par_map(checked()).settled().min_successful(3));
    let batch = Runtime::new().run(&wf, items.clone()).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    assert_eq!(shape(batch.outcomes()), "FSFSS---");
    assert_eq!(counts(&batch), (3, 2));

    let wf = Workflow::new(
        "tolerate",
        1,
        par_map(checked())
            .settled()
            .tolerate(ToleratedFailures::Count(1)),
    );
    let batch = Runtime::new().run(&wf, items.clone()).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::ToleranceExceeded);
    assert_eq!(shape(batch.outcomes()), "FSF-----");

    let wf = Workflow::new(
        "when",
        1,
        par_map(checked())
            .settled()
            .complete_when(|c| c.settled() == 6),
    );
    let batch = Runtime::new().run(&wf, items.clone()).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::PredicateMatched);
    assert_eq!(shape(batch.outcomes()), "FSFSSS--");

    // A fold sees the skipped items too.
    let wf = Workflow::new(
        "fold",
        1,
        par_map(checked()).settled().min_successful(1).fold(
            String::new(),
            |mut s, o: Outcome<i64>| {
                s.push(if o.is_skipped() { '-' } else { 'x' });
                s
            },
        ),
    );
    let batch = Runtime::new().run(&wf, vec![-1, 2, 3]).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    assert_eq!(batch.outcomes(), "xx-");
}

#[tokio::test]
async fn a_settled_par_map_redriven_from_its_batches_reaches_the_same_decision() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let step = sync_step_fn("counted", move |x: i64| {
        counted.fetch_add(1, Ordering::SeqCst);
        if x < 0 {
            Err(Error::new("Negative", "negative"))
        } else {
            Ok(x)
        }
    });
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let wf = Workflow::new(
        "redriven",
        1,
        par_map(step)
            .settled()
            .min_successful(2)
            .commit_every(1)
            .then(fails_once()),
    );
    let error = runtime
        .start(&wf, "r-1", vec![-1, 2, -3, 4, 5, 6])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Once"), "{error}");
    let ran = runs.load(Ordering::SeqCst);
    let batch = runtime.redrive(&wf, "r-1").await.unwrap();
    assert_eq!(shape(batch.outcomes()), "FSFS--");
    assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    assert_eq!(runs.load(Ordering::SeqCst), ran, "no item ran again");
}

// ---------------------------------------------------------------------------------------
// parallel

fn branch(name: &'static str, ms: u64, ok: bool, ended: &Arc<AtomicUsize>) -> BoxStep<u32, u64> {
    let ended = Arc::clone(ended);
    step_fn(name, move |_x: u32| {
        let ended = Arc::clone(&ended);
        async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ended.fetch_add(1, Ordering::SeqCst);
            if ok {
                Ok(ms)
            } else {
                Err(Error::new("Bad", format!("{name} failed")))
            }
        }
    })
    .boxed()
}

#[tokio::test(start_paused = true)]
async fn a_settled_tuple_parallel_types_each_branch_outcome() {
    #[step]
    async fn label(x: u32) -> String {
        format!("#{x}")
    }
    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new(
        "pair",
        1,
        parallel((label, branch("bad", 10, false, &ended))).settled(),
    );
    let batch = Runtime::new().run(&wf, 7).await.unwrap();
    let (text, number): &(Outcome<String>, Outcome<u64>) = batch.outcomes();
    assert_eq!(text, &Outcome::Succeeded("#7".to_string()));
    assert_eq!(number.err().unwrap().name(), "Bad");
    assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    assert_eq!(counts(&batch), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn parallel_min_successful_decides_in_branch_order() {
    let ended = Arc::new(AtomicUsize::new(0));
    let branches = vec![
        branch("a", 300, true, &ended),
        branch("b", 100, false, &ended),
        branch("c", 50, true, &ended),
        branch("d", 10, true, &ended),
        branch("e", 900, true, &ended),
    ];
    let wf = Workflow::new("quorum", 1, parallel(branches).settled().min_successful(2));
    let start = tokio::time::Instant::now();
    let batch = Runtime::new().run(&wf, 0).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(300));
    assert_eq!(batch.reason(), CompletionReason::MinSuccessfulReached);
    assert_eq!(shape(batch.outcomes()), "SFS--");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(ended.load(Ordering::SeqCst), 4, "branch e was cancelled");

    // With one at a time, the branches after the decision never start.
    let ended = Arc::new(AtomicUsize::new(0));
    let branches = vec![
        branch("a", 10, true, &ended),
        branch("b", 10, true, &ended),
        branch("c", 10, true, &ended),
    ];
    let wf = Workflow::new(
        "serial",
        1,
        parallel(branches)
            .settled()
            .min_successful(2)
            .max_concurrency(1),
    );
    let batch = Runtime::new().run(&wf, 0).await.unwrap();
    assert_eq!(shape(batch.outcomes()), "SS-");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(ended.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn parallel_tolerance_and_predicate_end_the_settled_form_with_their_reason() {
    let ended = Arc::new(AtomicUsize::new(0));
    let branches = || {
        vec![
            branch("a", 300, false, &ended),
            branch("b", 200, true, &ended),
            branch("c", 20, false, &ended),
            branch("d", 10, false, &ended),
        ]
    };
    let wf = Workflow::new(
        "tolerate",
        1,
        parallel(branches())
            .settled()
            .tolerate(ToleratedFailures::Count(1)),
    );
    let batch = Runtime::new().run(&wf, 0).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::ToleranceExceeded);
    assert_eq!(shape(batch.outcomes()), "FSF-");

    let wf = Workflow::new(
        "pct",
        1,
        parallel(branches())
            .settled()
            .tolerate(ToleratedFailures::Percentage(50.0)),
    );
    let batch = Runtime::new().run(&wf, 0).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::ToleranceExceeded);
    assert_eq!(shape(batch.outcomes()), "FSFF");

    let wf = Workflow::new(
        "when",
        1,
        parallel(branches())
            .settled()
            .complete_when(|c| c.succeeded() == 1),
    );
    let batch = Runtime::new().run(&wf, 0).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::PredicateMatched);
    assert_eq!(shape(batch.outcomes()), "FS--");

    let wf = Workflow::new("all", 1, parallel(branches()).settled());
    let batch = Runtime::new().run(&wf, 0).await.unwrap();
    assert_eq!(batch.reason(), CompletionReason::AllCompleted);
    assert_eq!(shape(batch.outcomes()), "FSFF");
}

#[tokio::test(start_paused = true)]
async fn settled_batches_are_recorded_and_replayed_by_a_redrive() {
    let ended = Arc::new(AtomicUsize::new(0));
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let wf = Workflow::new(
        "recorded",
        1,
        parallel(vec![
            branch("a", 10, false, &ended),
            branch("b", 20, true, &ended),
        ])
        .settled()
        .then(fails_once()),
    );
    runtime.start(&wf, "p-1", 0).await.unwrap_err();
    assert_eq!(ended.load(Ordering::SeqCst), 2);
    let batch = runtime.redrive(&wf, "p-1").await.unwrap();
    assert_eq!(shape(batch.outcomes()), "FS");
    assert_eq!(ended.load(Ordering::SeqCst), 2, "no branch ran again");

    let ended = Arc::new(AtomicUsize::new(0));
    let wf = Workflow::new(
        "recorded-map",
        1,
        map(timed(&ended))
            .settled()
            .min_successful(1)
            .then(fails_once()),
    );
    runtime
        .start(&wf, "m-1", vec![(20, true), (10, true), (30, true)])
        .await
        .unwrap_err();
    let ran = ended.load(Ordering::SeqCst);
    let batch = runtime.redrive(&wf, "m-1").await.unwrap();
    assert_eq!(shape(batch.outcomes()), "S--");
    assert_eq!(ended.load(Ordering::SeqCst), ran, "no item ran again");
}

// ---------------------------------------------------------------------------------------
// Settings refused when the workflow is built

fn refused<I: Payload, O: Payload>(
    step: impl Step<Input = I, Output = O>,
) -> (WorkflowError, String) {
    let error = Workflow::try_new("wf", 1, step).unwrap_err();
    assert!(
        matches!(error, WorkflowError::InvalidSettings { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    (error, message)
}

#[test]
fn invalid_settings_are_refused_when_the_workflow_is_built() {
    #[step]
    async fn one(x: u32) -> u32 {
        x
    }
    #[step]
    fn sync_one(x: u32) -> u32 {
        x
    }
    let (_, message) = refused(map(one).max_concurrency(0));
    assert_eq!(
        message,
        "invalid settings of state \"map\" at `0.map`: max concurrency is 0; it must be at \
         least 1 (leave it out for no limit)"
    );
    let (_, message) = refused(parallel((one, one)).max_concurrency(0));
    assert!(message.contains("max concurrency is 0"), "{message}");
    let (_, message) = refused(parallel((one, one)).settled().max_concurrency(0));
    assert!(message.contains("max concurrency is 0"), "{message}");

    let (_, message) = refused(map(one).tolerate(ToleratedFailures::Percentage(120.0)));
    assert_eq!(
        message,
        "invalid settings of state \"map\" at `0.map`: tolerated failure percentage 120 is \
         not between 0 and 100"
    );
    let (_, message) = refused(
        par_map(sync_one)
            .settled()
            .tolerate(ToleratedFailures::Percentage(f64::NAN)),
    );
    assert!(
        message.contains("tolerated failure percentage NaN"),
        "{message}"
    );
    let (_, message) = refused(
        map(one)
            .settled()
            .tolerate(ToleratedFailures::Percentage(-1.0)),
    );
    assert!(
        message.contains("percentage -1 is not between"),
        "{message}"
    );

    let (_, message) = refused(map(one).settled().min_successful(0).named("quorum"));
    assert_eq!(
        message,
        "invalid settings of state \"quorum\" at `0.quorum`: min successful is 0; it must \
         be at least 1"
    );
    let (_, message) = refused(parallel(vec![one, one, one]).settled().min_successful(4));
    assert_eq!(
        message,
        "invalid settings of state \"parallel\" at `0.parallel`: min successful is 4, more \
         than the 3 branches"
    );
    // Nested states are checked too.
    let (_, message) = refused(map(one).then(map(one).max_concurrency(0).named("inner")));
    assert!(message.contains("\"inner\" at `1.inner`"), "{message}");

    // Valid settings build.
    Workflow::new(
        "ok",
        1,
        parallel(vec![one, one]).settled().min_successful(2),
    );
    Workflow::new("ok", 1, map(one).max_concurrency(1));
}

#[test]
#[should_panic(
    expected = "invalid settings of state \"map\" at `0.map`: max concurrency is 0; it must be at least 1"
)]
fn workflow_new_panics_with_the_same_message() {
    #[step]
    async fn one(x: u32) -> u32 {
        x
    }
    let _ = Workflow::new("wf", 1, map(one).max_concurrency(0));
}

// ---------------------------------------------------------------------------------------
// Exports

#[test]
fn asl_shows_tolerated_failures_and_comments_what_it_cannot_say() {
    #[step]
    async fn one(x: u32) -> u32 {
        x
    }
    let wf = Workflow::new("t", 1, map(one).tolerate(ToleratedFailures::Count(3)));
    let asl = waypost::export::asl(wf.graph());
    assert_eq!(asl["States"]["map"]["ToleratedFailureCount"], 3);

    let wf = Workflow::new(
        "t",
        1,
        map(one)
            .settled()
            .tolerate(ToleratedFailures::Percentage(12.5))
            .min_successful(2)
            .complete_when(|c| c.failed() > 2),
    );
    let asl = waypost::export::asl(wf.graph());
    let state = &asl["States"]["map"];
    assert_eq!(state["ToleratedFailurePercentage"], 12.5);
    let comment = state["Comment"].as_str().unwrap();
    assert!(comment.contains("min successful: 2"), "{comment}");
    assert!(comment.contains("complete when: a predicate"), "{comment}");
    assert!(comment.contains("settled"), "{comment}");

    let wf = Workflow::new(
        "p",
        1,
        parallel((one, one))
            .settled()
            .tolerate(ToleratedFailures::Count(1))
            .min_successful(1),
    );
    let asl = waypost::export::asl(wf.graph());
    let comment = asl["States"]["parallel"]["Comment"].as_str().unwrap();
    assert!(
        comment.contains("tolerated failures: 1 branches"),
        "{comment}"
    );
    assert!(comment.contains("min successful: 1"), "{comment}");

    // Mermaid and DOT say it beside the name.
    let mermaid = waypost::export::mermaid(wf.graph());
    assert!(
        mermaid.contains("parallel (settled · tolerated failures 1 · min successful 1)"),
        "{mermaid}"
    );
    let dot = waypost::export::dot(wf.graph());
    assert!(
        dot.contains("label=\"parallel (settled · tolerated failures 1 · min successful 1)\""),
        "{dot}"
    );

    // The graph details the console shows.
    let node = &wf.graph().nodes()[0];
    assert!(
        node.details
            .contains(&("min_successful".to_string(), "1".to_string())),
        "{:?}",
        node.details
    );
}
