//! Map: output order is input order, the concurrency limit holds, failures are
//! tolerated by count or percentage; the CPU form runs on rayon.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use waypost::prelude::*;

/// A step that sleeps longer for smaller items (so they finish in reverse order) and
/// records how many items were in flight at once.
fn tracked(
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> impl Step<Input = u64, Output = u64> {
    step_fn("tracked", move |x: u64| {
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100 - x)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, Error>(x * 10)
        }
    })
}

#[tokio::test(start_paused = true)]
async fn output_order_is_input_order_and_the_concurrency_limit_holds() {
    for limit in [1, 3, 7] {
        let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let step = tracked(Arc::clone(&in_flight), Arc::clone(&peak));
        let wf = Workflow::new("map", 1, map(step).max_concurrency(limit));
        let items: Vec<u64> = (0..50).collect();
        let out = Runtime::new().run(&wf, items.clone()).await.unwrap();
        assert_eq!(out, items.iter().map(|x| x * 10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), limit, "limit {limit}");
    }
}

#[tokio::test(start_paused = true)]
async fn no_limit_runs_every_item_at_once() {
    let (in_flight, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let wf = Workflow::new("map", 1, map(tracked(in_flight, Arc::clone(&peak))));
    Runtime::new().run(&wf, (0..40).collect()).await.unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 40);
}

#[step]
async fn odd_fails(x: u32) -> Result<u32, Error> {
    if !x.is_multiple_of(2) {
        return Err(Error::new("Odd", format!("{x} is odd")));
    }
    Ok(x / 2)
}

#[tokio::test]
async fn any_failure_fails_a_strict_map_with_the_items_error() {
    let wf = Workflow::new("strict", 1, map(odd_fails));
    assert_eq!(
        Runtime::new().run(&wf, vec![2, 4, 6]).await.unwrap(),
        [1, 2, 3]
    );
    let err = Runtime::new().run(&wf, vec![2, 3, 4]).await.unwrap_err();
    assert_eq!(err.name(), "Odd");
    assert_eq!(err.address(), Some("0.map/1/0.odd_fails"));
}

#[tokio::test]
async fn failures_within_the_tolerated_count_give_per_item_results() {
    let wf = Workflow::new(
        "tolerant",
        1,
        map(odd_fails).tolerate(ToleratedFailures::Count(2)),
    );
    let out = Runtime::new().run(&wf, vec![1, 2, 3, 4]).await.unwrap();
    let names: Vec<_> = out
        .iter()
        .map(|r| match r {
            Ok(v) => format!("ok {v}"),
            Err(e) => format!("err {}", e.name()),
        })
        .collect();
    assert_eq!(names, ["err Odd", "ok 1", "err Odd", "ok 2"]);

    let err = Runtime::new().run(&wf, vec![1, 3, 5, 6]).await.unwrap_err();
    assert_eq!(err.name(), waypost::error::names::EXCEED_TOLERATED_FAILURE);
    assert_eq!(
        err.message(),
        "map `map`: 3 of 4 items failed, more than the 2 tolerated"
    );
    assert_eq!(err.source().unwrap().name(), "Odd");
}

#[tokio::test]
async fn failures_within_the_tolerated_percentage_pass() {
    // 25% of 8 items = 2 may fail.
    let wf = Workflow::new(
        "pct",
        1,
        map(odd_fails).tolerate(ToleratedFailures::Percentage(25.0)),
    );
    let ok = Runtime::new()
        .run(&wf, vec![1, 3, 2, 4, 6, 8, 10, 12])
        .await
        .unwrap();
    assert_eq!(ok.iter().filter(|r| r.is_err()).count(), 2);
    let err = Runtime::new()
        .run(&wf, vec![1, 3, 5, 4, 6, 8, 10, 12])
        .await
        .unwrap_err();
    assert_eq!(err.name(), waypost::error::names::EXCEED_TOLERATED_FAILURE);
}

#[step]
fn cube(x: u64) -> u64 {
    x * x * x
}

#[step]
fn checked_root(x: i64) -> Result<i64, Error> {
    if x < 0 {
        return Err(Error::new("Negative", format!("{x} has no real root")));
    }
    Ok((x as f64).sqrt() as i64)
}

#[tokio::test]
async fn par_map_keeps_order_on_rayon() {
    let items: Vec<u64> = (0..10_000).collect();
    let wf = Workflow::new("cubes", 1, par_map(cube));
    let out = Runtime::new().run(&wf, items.clone()).await.unwrap();
    assert_eq!(out, items.iter().map(|x| x * x * x).collect::<Vec<_>>());
}

#[tokio::test]
async fn par_map_runs_items_on_several_threads() {
    let threads = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let seen = Arc::clone(&threads);
    let spin = sync_step_fn("spin", move |x: u64| {
        seen.lock().unwrap().insert(std::thread::current().id());
        std::thread::sleep(Duration::from_millis(2));
        Ok::<_, Error>(x)
    });
    let pool = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap(),
    );
    let runtime = Runtime::with_host(Arc::new(waypost::TokioHost::with_pool(pool)));
    runtime
        .run(&Workflow::new("spin", 1, par_map(spin)), (0..64).collect())
        .await
        .unwrap();
    assert_eq!(threads.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn par_map_failures_and_tolerance() {
    let strict = Workflow::new("roots", 1, par_map(checked_root));
    let err = Runtime::new()
        .run(&strict, vec![4, -1, 9])
        .await
        .unwrap_err();
    assert_eq!(err.name(), "Negative");
    assert_eq!(err.address(), Some("0.par_map/1/0.checked_root"));

    let tolerant = Workflow::new(
        "roots",
        1,
        par_map(checked_root).tolerate(ToleratedFailures::Count(1)),
    );
    let out = Runtime::new().run(&tolerant, vec![4, -1, 9]).await.unwrap();
    assert_eq!(out[0].as_ref().unwrap(), &2);
    assert!(out[1].is_err());
    assert_eq!(out[2].as_ref().unwrap(), &3);
}

#[step]
fn panics_on_seven(x: u32) -> u32 {
    assert_ne!(x, 7, "seven is unlucky");
    x
}

#[tokio::test]
async fn a_panicking_item_becomes_a_panic_error() {
    let wf = Workflow::new(
        "panics",
        1,
        par_map(panics_on_seven).tolerate(ToleratedFailures::Count(1)),
    );
    let out = Runtime::new().run(&wf, vec![6, 7, 8]).await.unwrap();
    let err = out[1].as_ref().unwrap_err();
    assert!(err.is_panic());
    assert!(
        err.message()
            .contains("step `panics_on_seven` at `0.par_map/1/0.panics_on_seven` panicked")
    );
    assert!(err.message().contains("seven is unlucky"));
    assert_eq!(*out[2].as_ref().unwrap(), 8);
}
