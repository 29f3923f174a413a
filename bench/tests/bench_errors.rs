//! Bad input and failing steps give a `BenchError` that says what and where, never a
//! panic.

use waypost::bench::{BenchError, BenchStore, MapBench};
use waypost::prelude::*;

#[step]
async fn double(x: u64) -> u64 {
    2 * x
}

#[step]
fn triple(x: u64) -> u64 {
    3 * x
}

#[step]
async fn fail_on_7(x: u64) -> Result<u64, Error> {
    if x == 7 {
        return Err(Error::new("Seven", "seven is not allowed"));
    }
    Ok(x)
}

#[step]
fn panic_on_7(x: u64) -> u64 {
    assert_ne!(x, 7, "seven again");
    x
}

#[tokio::test]
async fn an_empty_item_source_is_an_error() {
    let error = MapBench::map(double)
        .progress(false)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(error, BenchError::NoItems { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "the item source of the benchmark of `double` is empty: give it at least one item"
    );
    let error = MapBench::par_map(triple)
        .items(Vec::new())
        .progress(false)
        .run()
        .await
        .unwrap_err();
    assert!(matches!(error, BenchError::NoItems { .. }), "{error:?}");
}

#[tokio::test]
async fn concurrency_threads_and_batch_size_0_are_errors() {
    let error = MapBench::map(double)
        .items(0..10)
        .concurrency([1, 0])
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "concurrency 0 in the benchmark of `double`: concurrency counts from 1"
    );
    let error = MapBench::par_map(triple)
        .items(0..10)
        .threads([0])
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "threads 0 in the benchmark of `triple`: threads counts from 1"
    );
    let error = MapBench::map(double)
        .items(0..10)
        .batch_sizes([0])
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "batch size 0 in the benchmark of `double`: batch size counts from 1"
    );
    let bench = MapBench::map(double).items(0..10);
    let error = bench.measure(0, 1, &BenchStore::None).await.unwrap_err();
    assert!(
        matches!(
            error,
            BenchError::Zero {
                axis: "concurrency",
                ..
            }
        ),
        "{error:?}"
    );
    let error = bench.measure(1, 0, &BenchStore::None).await.unwrap_err();
    assert!(
        matches!(
            error,
            BenchError::Zero {
                axis: "batch size",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_empty_axis_is_an_error() {
    let error = MapBench::map(double)
        .items(0..10)
        .stores([])
        .run()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "the benchmark of `double` sweeps no store: give at least one value"
    );
    let error = MapBench::map(double)
        .items(0..10)
        .batch_sizes([])
        .run()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            BenchError::EmptySweep {
                axis: "batch size",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_failing_step_fails_the_baseline_first() {
    let error = MapBench::map(fail_on_7)
        .items(0..10)
        .concurrency([2])
        .progress(false)
        .run()
        .await
        .unwrap_err();
    let BenchError::BaselineFailed {
        ref error,
        workers: 2,
        ..
    } = error
    else {
        panic!("expected BaselineFailed, got {error:?}");
    };
    assert_eq!(error.name(), "Seven");
    let text = error.to_string();
    assert!(text.contains("seven is not allowed"), "{text}");
}

#[tokio::test]
async fn a_failing_step_in_waypost_names_the_point() {
    let bench = MapBench::map(fail_on_7).items(0..10);
    let error = bench.measure(3, 2, &BenchStore::Memory).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("step `fail_on_7` failed at concurrency 3, batch size 2, store memory: "),
        "{text}"
    );
    assert!(text.contains("seven is not allowed"), "{text}");
    let BenchError::StepFailed { error, setting, .. } = error else {
        panic!("expected StepFailed");
    };
    assert_eq!(error.name(), "Seven");
    assert_eq!(setting.workers, 3);
}

#[tokio::test]
async fn a_panicking_step_is_an_error_in_the_baseline_and_in_waypost() {
    let bench = MapBench::par_map(panic_on_7).items(0..10).threads([2]);
    let error = bench.measure_baseline(2).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("step `panic_on_7` failed in the baseline (par_iter) at threads 2: "),
        "{text}"
    );
    assert!(text.contains("seven again"), "{text}");
    let error = bench.measure(2, 3, &BenchStore::None).await.unwrap_err();
    assert!(matches!(error, BenchError::StepFailed { .. }), "{error:?}");
    assert!(error.to_string().contains("seven again"), "{error}");
}

#[test]
fn an_unknown_store_is_an_error() {
    let error = "mongo".parse::<BenchStore>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown store `mongo`: expected none, memory, sqlite or a postgres:// URL"
    );
}
