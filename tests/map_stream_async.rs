//! The streaming async map, `map(step).items(reader)`: items read lazily and run at
//! most `max_concurrency` at once, results handed to a sink in input order and
//! committed in batches (one checkpoint per batch, none per item), per-item retry and
//! tolerated failures kept, bad input named — and a process SIGKILLed mid-map resumes
//! from its last batch without running a committed item again.
//!
//! The process test re-runs this binary as a child (`--ignored --exact stream_child`).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{EventKind, MemoryStore, RuntimeConfig, SqliteStore, Store};

#[path = "support/process.rs"]
mod process;

/// The items `1..=n` of the map's input `n`, made on the fly.
fn count_to() -> impl ItemReader<Input = u64, Item = u64> {
    read_items(|n: u64| Ok((1..=n).map(Ok)))
}

/// A runtime on a memory store, and the store to look into.
fn memory_runtime() -> (Runtime, Arc<MemoryStore>) {
    let store = Arc::new(MemoryStore::new());
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .build();
    (runtime, store)
}

/// The keys of the checkpoints of execution `id`.
async fn checkpoint_keys(store: &dyn Store, id: &str) -> Vec<String> {
    let checkpoints = store.checkpoints(id).await.unwrap();
    checkpoints.into_iter().map(|c| c.key).collect()
}

/// How many items run at once, and the most that ever did.
#[derive(Clone, Default)]
struct InFlight(Arc<(AtomicUsize, AtomicUsize)>);

impl InFlight {
    fn enter(&self) -> InFlightGuard {
        let now = self.0.0.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.1.fetch_max(now, Ordering::SeqCst);
        InFlightGuard(self.clone())
    }

    fn most(&self) -> usize {
        self.0.1.load(Ordering::SeqCst)
    }
}

struct InFlightGuard(InFlight);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.0.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn results_come_in_input_order_with_at_most_max_concurrency_items_at_once() {
    let in_flight = InFlight::default();
    let counted = in_flight.clone();
    // Items end out of order: their delays cycle through 0..13 ms.
    let square = step_fn("square", move |x: u64| {
        let counted = counted.clone();
        async move {
            let _running = counted.enter();
            tokio::time::sleep(Duration::from_millis(x * 7 % 13)).await;
            Ok::<_, Error>(x * x)
        }
    });
    let wf = Workflow::new(
        "squares",
        1,
        map(square).items(count_to()).max_concurrency(8),
    );
    let squares = Runtime::new().run(&wf, 1_000).await.unwrap();
    assert_eq!(squares, (1..=1_000u64).map(|x| x * x).collect::<Vec<_>>());
    assert_eq!(
        in_flight.most(),
        8,
        "never more than max_concurrency at once"
    );

    // A map without a limit gets the default bound: a stream is never "all at once".
    let in_flight = InFlight::default();
    let counted = in_flight.clone();
    let tick = step_fn("tick", move |x: u64| {
        let counted = counted.clone();
        async move {
            let _running = counted.enter();
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok::<_, Error>(x)
        }
    });
    let wf = Workflow::new(
        "ticks",
        1,
        map(tick).items(count_to()).fold(0, |n, _| n + 1),
    );
    assert_eq!(Runtime::new().run(&wf, 1_000).await.unwrap(), 1_000u64);
    assert_eq!(in_flight.most(), 64);
}

#[tokio::test(start_paused = true)]
async fn a_slow_item_holds_back_the_reading_within_a_window() {
    let started = Arc::new(AtomicUsize::new(0));
    let seen_by_the_slow_one = Arc::new(AtomicUsize::new(0));
    let (counted, seen) = (Arc::clone(&started), Arc::clone(&seen_by_the_slow_one));
    // Item 1 takes 10 s; the others end at once, but their results wait for item 1's.
    let step = step_fn("fetch", move |x: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        let (counted, seen) = (Arc::clone(&counted), Arc::clone(&seen));
        async move {
            if x == 1 {
                tokio::time::sleep(Duration::from_secs(10)).await;
                seen.store(counted.load(Ordering::SeqCst), Ordering::SeqCst);
            }
            Ok::<_, Error>(x)
        }
    });
    let wf = Workflow::new(
        "held-back",
        1,
        map(step)
            .items(count_to())
            .max_concurrency(4)
            .fold(0u64, |sum, x| sum + x),
    );
    assert_eq!(Runtime::new().run(&wf, 1_000).await.unwrap(), 500_500);
    // While item 1 ran, the map read 4 × max_concurrency items and no more.
    assert_eq!(seen_by_the_slow_one.load(Ordering::SeqCst), 16);
    assert_eq!(started.load(Ordering::SeqCst), 1_000);
}

#[tokio::test]
async fn a_durable_map_stores_one_checkpoint_per_batch_and_no_event_per_item() {
    let (runtime, store) = memory_runtime();
    let double = step_fn("double", |x: u64| async move { Ok::<_, Error>(2 * x) });
    let wf = Workflow::new(
        "sum",
        1,
        map(double)
            .items(count_to())
            .max_concurrency(32)
            .commit_every(1_000)
            .commit_interval(Duration::from_secs(3_600))
            .fold(0u64, |sum, x| sum + x),
    );
    let sum = runtime.start(&wf, "sum-1", 10_000).await.unwrap();
    assert_eq!(sum, 10_000 * 10_001);
    let keys = checkpoint_keys(&*store, "sum-1").await;
    let batches: Vec<_> = keys.iter().filter(|k| k.contains("/~items/")).collect();
    assert_eq!(
        batches.len(),
        10,
        "one checkpoint per 1,000 items: {keys:?}"
    );
    assert_eq!(
        keys.len(),
        10,
        "and no other checkpoint, none per item: {keys:?}"
    );
    let history = runtime.history("sum-1").await.unwrap();
    assert!(
        history.len() < 10,
        "the history holds the map's own events, not one per item: {} events",
        history.len()
    );
    assert!(history.iter().any(|e| e.kind == EventKind::MapStarted));
    assert!(history.iter().any(|e| e.kind == EventKind::MapFinished));

    // The same execution again replays the batches: no item runs.
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let counting = step_fn("double", move |x: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, Error>(2 * x) }
    });
    let again = Workflow::new(
        "sum",
        1,
        map(counting)
            .items(count_to())
            .max_concurrency(32)
            .commit_every(1_000)
            .fold(0u64, |sum, x| sum + x),
    );
    assert_eq!(runtime.start(&again, "sum-1", 10_000).await.unwrap(), sum);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_retry_inside_an_item_retries_that_item_and_writes_nothing_to_the_store() {
    let attempts: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let seen = Arc::clone(&attempts);
    // Every item fails its first attempt, then succeeds.
    let flaky = step_fn("flaky", move |x: u64| {
        let attempt = {
            let mut seen = seen.lock().unwrap();
            let n = seen.entry(x).or_default();
            *n += 1;
            *n
        };
        async move {
            if attempt == 1 {
                return Err(Error::new("Transient", format!("item {x} not yet")));
            }
            Ok(x)
        }
    });
    let policy = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(3)
        .interval(Duration::from_secs(2))
        .build();
    let (runtime, store) = memory_runtime();
    let wf = Workflow::new(
        "retrying",
        1,
        map(flaky.retry(policy))
            .items(count_to())
            .max_concurrency(10)
            .commit_every(50)
            .commit_interval(Duration::from_secs(3_600))
            .fold((0u64, 0u64), |(sum, n), x| (sum + x, n + 1)),
    );
    let started = tokio::time::Instant::now();
    let (sum, count) = runtime.start(&wf, "r-1", 200).await.unwrap();
    assert_eq!((sum, count), (200 * 201 / 2, 200));
    let attempts = attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 200);
    assert!(attempts.values().all(|&n| n == 2), "each item ran twice");
    // Each item waited its 2 s delay (on tokio's paused clock): 200 items, 10 at once.
    assert!(
        started.elapsed() >= Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let keys = checkpoint_keys(&*store, "r-1").await;
    assert_eq!(
        keys.len(),
        4,
        "the batches only, no attempt or delay: {keys:?}"
    );
    assert!(keys.iter().all(|k| k.contains("/~items/")), "{keys:?}");
}

#[tokio::test(start_paused = true)]
async fn a_paused_execution_starts_no_new_item_until_unpaused() {
    let (runtime, _store) = memory_runtime();
    let started = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&started);
    let slow = step_fn("slow", move |x: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, Error>(x)
        }
    });
    let wf = Workflow::new(
        "pausable",
        1,
        map(slow)
            .items(count_to())
            .max_concurrency(2)
            .fold(0u64, |sum, x| sum + x),
    );
    // 100 items, 2 at once, 100 ms each: 5 s unpaused.
    let run = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.start(&wf, "p-1", 100).await }
    });
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    assert!(runtime.pause("p-1").await.unwrap());
    let at_pause = started.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(20)).await;
    let while_paused = started.load(Ordering::SeqCst);
    // An item looks for a pause as it starts (at most once a second): a few more may
    // start in that second, then none.
    assert!(
        while_paused <= at_pause + 22 && while_paused < 100,
        "{at_pause} items had started at the pause, {while_paused} 20 s later"
    );
    assert!(!run.is_finished());
    assert!(runtime.unpause("p-1").await.unwrap());
    assert_eq!(run.await.unwrap().unwrap(), 5_050);
    assert_eq!(started.load(Ordering::SeqCst), 100);
}

/// Items whose value is a multiple of 10 fail.
fn tens_fail() -> impl Step<Input = u64, Output = u64> {
    step_fn("check", |x: u64| async move {
        if x.is_multiple_of(10) {
            return Err(Error::new("Bad", format!("item {x} is bad")));
        }
        Ok(x)
    })
}

#[tokio::test]
async fn tolerated_failures_are_results_reported_once_each_in_the_history() {
    let (runtime, _store) = memory_runtime();
    let wf = Workflow::new(
        "tolerant",
        1,
        map(tens_fail())
            .item_names(|x: &u64| format!("item-{x}"))
            .items(count_to())
            .tolerate(ToleratedFailures::Count(10)),
    );
    let results = runtime.start(&wf, "t-1", 100).await.unwrap();
    assert_eq!(results.len(), 100);
    for (i, result) in results.iter().enumerate() {
        let x = i as u64 + 1;
        match result {
            Ok(value) => assert_eq!(*value, x),
            Err(error) => {
                assert!(x.is_multiple_of(10));
                assert_eq!(error.name(), "Bad");
            }
        }
    }
    let history = runtime.history("t-1").await.unwrap();
    let failed: Vec<_> = history
        .iter()
        .filter(|e| e.kind == EventKind::MapItemFinished)
        .collect();
    assert_eq!(
        failed.len(),
        10,
        "one event per failed item, none for the others"
    );
    assert_eq!(failed[0].details.item.as_deref(), Some("item-10"));
    assert!(
        failed[0].address.ends_with("map/9"),
        "{}",
        failed[0].address
    );

    // One failure more than tolerated fails the map by name.
    let wf = Workflow::new(
        "intolerant",
        1,
        map(tens_fail())
            .items(count_to())
            .tolerate(ToleratedFailures::Count(9))
            .fold(0usize, |n, r| n + usize::from(r.is_err())),
    );
    let error = runtime.start(&wf, "t-2", 100).await.unwrap_err();
    assert!(
        format!("{error}").contains("States.ExceedToleratedFailureThreshold"),
        "{error}"
    );
}

#[tokio::test]
async fn an_at_most_once_step_in_an_item_does_not_run_again_after_an_interruption() {
    let (runtime, store) = memory_runtime();
    let hang = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let runs: Arc<Mutex<HashMap<u64, u32>>> = Arc::default();
    let (hanging, counted) = (Arc::clone(&hang), Arc::clone(&runs));
    // In the first run, items from 21 on start and never end (the process dies then).
    let charge = step_fn("charge", move |x: u64| {
        *counted.lock().unwrap().entry(x).or_default() += 1;
        let hangs = hanging.load(Ordering::SeqCst) && x > 20;
        async move {
            if hangs {
                std::future::pending::<()>().await;
            }
            Ok::<_, Error>(x)
        }
    });
    let wf = Workflow::new(
        "charges",
        1,
        map(charge.at_most_once())
            .items(count_to())
            .max_concurrency(4)
            .tolerate(ToleratedFailures::Count(10))
            .commit_every(5)
            .commit_interval(Duration::from_secs(3_600))
            .fold((0u64, 0u64), |(ok, interrupted), result| match result {
                Ok(_) => (ok + 1, interrupted),
                Err(error) => {
                    assert_eq!(error.name(), "States.StepInterrupted");
                    (ok, interrupted + 1)
                }
            }),
    );
    let watch = async {
        loop {
            let checkpoints = store.checkpoints("c-1").await.unwrap_or_default();
            let upto = checkpoints
                .iter()
                .filter(|c| c.key.contains("/~items/"))
                .map(|c| u64::from_le_bytes(c.payload[..8].try_into().unwrap()))
                .max();
            if upto == Some(20) && runs.lock().unwrap().len() == 24 {
                return checkpoints.into_iter().map(|c| c.key).collect::<Vec<_>>();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let keys = tokio::select! {
        _ = runtime.start(&wf, "c-1", 40) => panic!("the first run cannot end"),
        keys = watch => keys,
    };
    // Only the at-most-once starts are stored per item, beside the batches.
    assert!(
        keys.iter()
            .all(|k| k.contains("/~items/") || k.ends_with("~started")),
        "{keys:?}"
    );
    hang.store(false, Ordering::SeqCst);
    assert_eq!(runtime.resume(&wf, "c-1").await.unwrap(), (36, 4));
    let runs = runs.lock().unwrap();
    assert!(
        (1..=40).all(|x| runs[&x] == 1),
        "no item ran twice: {runs:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_strict_map_fails_with_its_first_failure_in_input_order() {
    // Item 5 fails late, item 50 at once: the map fails with item 5's error.
    let started = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&started);
    let failing = step_fn("fetch", move |x: u64| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            match x {
                5 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(Error::new("Late", "item 5"))
                }
                50 => Err(Error::new("Early", "item 50")),
                x => Ok(x),
            }
        }
    });
    let wf = Workflow::new(
        "strict",
        1,
        map(failing).items(count_to()).max_concurrency(64),
    );
    let error = Runtime::new().run(&wf, 1_000).await.unwrap_err();
    assert_eq!(error.name(), "Late");
    // No item after a failure starts: the reading stopped at item 50, long before the
    // 1,000th (and never more than the window past item 5, which held the others back).
    let started = started.load(Ordering::SeqCst);
    assert!(started <= 4 * 64 + 5, "{started} items started");
}

#[tokio::test]
async fn write_results_hands_the_results_in_order_in_batches() {
    let (runtime, _store) = memory_runtime();
    let writer = step_fn("write", |batch: Vec<u64>| async move {
        assert!(batch.windows(2).all(|w| w[0] + 1 == w[1]), "in order");
        Ok::<_, Error>((batch[0], batch.len()))
    });
    let id = step_fn("id", |x: u64| async move { Ok::<_, Error>(x) });
    let wf = Workflow::new(
        "written",
        1,
        map(id)
            .items(count_to())
            .max_concurrency(7)
            .write_results(writer, 100),
    );
    let written = runtime.start(&wf, "w-1", 1_050).await.unwrap();
    let expected: Vec<_> = (0..11)
        .map(|b| (b * 100 + 1, if b == 10 { 50 } else { 100 }))
        .collect();
    assert_eq!(written, expected);
}

/// How far the batches of execution `id` on `store` go.
async fn committed_upto(store: &MemoryStore, id: &str) -> Option<u64> {
    let checkpoints = store.checkpoints(id).await.unwrap_or_default();
    checkpoints
        .iter()
        .filter(|c| c.key.contains("/~items/"))
        .map(|c| u64::from_le_bytes(c.payload[..8].try_into().unwrap()))
        .max()
}

#[tokio::test]
async fn an_interrupted_map_writes_each_batch_of_results_once() {
    let (runtime, store) = memory_runtime();
    let written: Arc<Mutex<Vec<(u64, usize)>>> = Arc::default();
    let log = Arc::clone(&written);
    let writer = step_fn("write", move |batch: Vec<u64>| {
        log.lock().unwrap().push((batch[0], batch.len()));
        async move { Ok::<_, Error>(batch.len()) }
    });
    // In the first run, items from 251 on never end (the process dies then).
    let hang = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hanging = Arc::clone(&hang);
    let id = step_fn("id", move |x: u64| {
        let hangs = hanging.load(Ordering::SeqCst) && x > 250;
        async move {
            if hangs {
                std::future::pending::<()>().await;
            }
            Ok::<_, Error>(x)
        }
    });
    let wf = Workflow::new(
        "written",
        1,
        map(id)
            .items(count_to())
            .max_concurrency(8)
            .commit_every(10)
            .commit_interval(Duration::from_secs(3_600))
            .write_results(writer, 50),
    );
    let watch = async {
        while committed_upto(&store, "w-2").await != Some(250) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        _ = runtime.start(&wf, "w-2", 500) => panic!("the first run cannot end"),
        () = watch => {}
    }
    assert_eq!(
        written.lock().unwrap().len(),
        5,
        "five batches written before the end"
    );
    hang.store(false, Ordering::SeqCst);
    assert_eq!(runtime.resume(&wf, "w-2").await.unwrap(), vec![50; 10]);
    let written = written.lock().unwrap().clone();
    let expected: Vec<_> = (0..10).map(|b| (b * 50 + 1, 50)).collect();
    assert_eq!(written, expected, "each batch written once, in order");
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let id = step_fn("id", |x: u64| async move { Ok::<_, Error>(x) });
    // A reader that fails at its 50th item.
    let broken = read_items(|n: u64| {
        Ok((1..=n).map(|x| match x {
            50 => Err(Error::new("BadRow", "row 50 does not parse")),
            x => Ok(x),
        }))
    });
    let wf = Workflow::new("broken", 1, map(id).items(broken).fold(0u64, |s, x| s + x));
    let error = Runtime::new().run(&wf, 100).await.unwrap_err();
    assert_eq!(error.name(), "BadRow");
    assert!(error.address().unwrap().ends_with("map/49"), "{error}");

    // A source that does not open.
    let closed = read_items(
        |_: u64| -> Result<std::iter::Empty<Result<u64, Error>>, Error> {
            Err(Error::new("NoSuchFile", "items.csv does not exist"))
        },
    );
    let id = step_fn("id", |x: u64| async move { Ok::<_, Error>(x) });
    let wf = Workflow::new("closed", 1, map(id).items(closed));
    assert_eq!(
        Runtime::new().run(&wf, 1).await.unwrap_err().name(),
        "NoSuchFile"
    );

    // A reader that panics.
    let panicking = read_items(|n: u64| {
        Ok((1..=n).map(|x| {
            assert!(x != 3, "the reader broke");
            Ok(x)
        }))
    });
    let id = step_fn("id", |x: u64| async move { Ok::<_, Error>(x) });
    let wf = Workflow::new("panicking", 1, map(id).items(panicking));
    let error = Runtime::new().run(&wf, 10).await.unwrap_err();
    assert!(error.is_panic(), "{error}");
    assert!(error.message().contains("the reader broke"), "{error}");

    // A step that panics.
    let boom = step_fn("boom", |x: u64| async move {
        assert!(x != 7, "item seven exploded");
        Ok::<_, Error>(x)
    });
    let wf = Workflow::new("boom", 1, map(boom).items(count_to()));
    let error = Runtime::new().run(&wf, 10).await.unwrap_err();
    assert!(error.is_panic(), "{error}");
    assert!(error.message().contains("item seven exploded"), "{error}");
    assert!(error.message().contains("boom"), "{error}");
}

#[test]
#[should_panic(expected = "a map commits at least one item at a time")]
fn commit_every_zero_is_refused() {
    let id = step_fn("id", |x: u64| async move { Ok::<_, Error>(x) });
    let _ = map(id).items(count_to()).commit_every(0);
}

#[test]
fn max_concurrency_zero_is_refused_when_the_workflow_is_built() {
    let id = || step_fn("id", |x: u64| async move { Ok::<_, Error>(x) });
    for streamed in [
        map(id()).items(count_to()).max_concurrency(0),
        map(id()).max_concurrency(0).items(count_to()),
    ] {
        let error = Workflow::try_new("zero", 1, streamed).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("max concurrency is 0; a streaming map runs at least one item at a time"),
            "{error}"
        );
    }
}

// ---- A real crash: SIGKILL mid-map, then resume in a second process. ----

const EXECUTION: &str = "stream-1";
const ITEMS: u64 = 20_000;
const COMMIT_EVERY: usize = 500;

/// The log of item runs, one index a line.
fn item_log() -> &'static Mutex<std::fs::File> {
    static LOG: OnceLock<Mutex<std::fs::File>> = OnceLock::new();
    LOG.get_or_init(|| {
        let path = std::env::var("WAYPOST_STREAM_LOG").expect("WAYPOST_STREAM_LOG");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        Mutex::new(file)
    })
}

fn stream_workflow() -> Workflow<u64, (u64, u64)> {
    // Each item logs its run, then takes a little real time (an HTTP call, say).
    let fetch = step_fn("fetch", |x: u64| async move {
        writeln!(item_log().lock().unwrap(), "{x}").unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
        Ok::<_, Error>(3 * x)
    });
    Workflow::new(
        "stream",
        1,
        map(fetch)
            .items(count_to())
            .max_concurrency(16)
            .commit_every(COMMIT_EVERY)
            .commit_interval(Duration::from_secs(3_600))
            .fold((0u64, 0u64), |(sum, n), x| (sum + x, n + 1))
            .boxed(),
    )
}

#[tokio::test]
#[ignore = "run by the streaming map's crash test as a child process"]
async fn stream_child() {
    let path = std::env::var("WAYPOST_STREAM_STORE").expect("WAYPOST_STREAM_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    match runtime.start(&stream_workflow(), EXECUTION, ITEMS).await {
        Ok((sum, count)) => println!("OUTPUT {sum} {count}"),
        Err(error) => println!("ERROR {error}"),
    }
}

fn child(dir: &Path) -> Command {
    let mut command = process::child("stream_child");
    command
        .env("WAYPOST_STREAM_STORE", dir.join("stream.db"))
        .env("WAYPOST_STREAM_LOG", dir.join("items.log"));
    command
}

/// How many times each item ran, from the log (a line cut by the kill is skipped).
fn item_runs(dir: &Path) -> HashMap<u64, u32> {
    let log = std::fs::read_to_string(dir.join("items.log")).unwrap_or_default();
    let mut runs = HashMap::new();
    for line in log.lines() {
        if let Ok(x) = line.parse::<u64>() {
            *runs.entry(x).or_default() += 1;
        }
    }
    runs
}

/// The batch checkpoints of the execution: how far they go, and every key it has.
async fn committed(dir: &Path) -> (usize, Vec<String>) {
    // Nothing yet while the first child creates the store or the execution.
    let Ok(store) = SqliteStore::open(dir.join("stream.db")) else {
        return (0, Vec::new());
    };
    let checkpoints = store.checkpoints(EXECUTION).await.unwrap_or_default();
    let upto = checkpoints
        .iter()
        .filter(|c| c.key.contains("/~items/"))
        .map(|c| {
            assert_eq!(c.kind, CheckpointKind::Output);
            usize::try_from(u64::from_le_bytes(c.payload[..8].try_into().unwrap())).unwrap()
        })
        .max()
        .unwrap_or(0);
    (upto, checkpoints.into_iter().map(|c| c.key).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_killed_mid_stream_resumes_from_its_last_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = child(dir.path()).spawn().unwrap();
    // Kill it once a few batches are committed, long before its end.
    process::until("a few committed batches", async || {
        item_runs(dir.path()).len() >= 4 * COMMIT_EVERY && committed(dir.path()).await.0 > 0
    })
    .await;
    process::sigkill(&mut first);

    let (upto, keys) = committed(dir.path()).await;
    assert!(upto > 0, "a batch was committed before the kill");
    assert!((upto as u64) < ITEMS, "the map was killed before its end");
    assert!(
        keys.iter().all(|k| k.contains("/~items/")),
        "the execution holds batch checkpoints only, none per item: {keys:?}"
    );
    // Each batch holds at least `COMMIT_EVERY` items.
    assert!(
        !keys.is_empty() && keys.len() <= upto / COMMIT_EVERY,
        "{keys:?}"
    );
    let before = item_runs(dir.path());

    let stdout = process::finish(&mut child(dir.path()));
    let expected_sum = 3 * ITEMS * (ITEMS + 1) / 2;
    assert!(
        stdout.contains(&format!("OUTPUT {expected_sum} {ITEMS}")),
        "the fold is exact: {stdout}"
    );
    let after = item_runs(dir.path());
    for x in 1..=ITEMS {
        let runs = after.get(&x).copied().unwrap_or(0);
        assert!(runs >= 1, "item {x} never ran");
        if (x as usize) <= upto {
            assert_eq!(
                runs, 1,
                "item {x} was committed before the kill, yet ran again"
            );
        } else {
            assert!(runs <= before.get(&x).copied().unwrap_or(0) + 1, "item {x}");
        }
    }
    let (done, keys) = committed(dir.path()).await;
    assert_eq!(done as u64, ITEMS);
    assert!(
        keys.len() <= ITEMS as usize / COMMIT_EVERY + 2,
        "O(items / commit_every) checkpoints: {}",
        keys.len()
    );
}
