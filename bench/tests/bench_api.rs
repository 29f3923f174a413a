//! The public types are `Send`, `Sync` and `Debug`, and a sweep can run on a spawned
//! task.

use std::fmt::Debug;

use waypost::bench::{
    Async, Baseline, BenchError, BenchStore, Cpu, FormKind, MapBench, Measurement, Percentiles,
    Point, Report, Setting,
};
use waypost::prelude::*;

#[step]
async fn double(x: u64) -> u64 {
    2 * x
}

#[step]
fn triple(x: u64) -> u64 {
    3 * x
}

fn shared<T: Send + Sync + Debug>() {}
fn cloned<T: Clone>() {}

#[test]
fn public_types_are_send_sync_and_debug() {
    shared::<MapBench<Async<double>>>();
    shared::<MapBench<Cpu<triple>>>();
    shared::<Report>();
    shared::<Point>();
    shared::<Baseline>();
    shared::<Setting>();
    shared::<Measurement>();
    shared::<Percentiles>();
    shared::<BenchStore>();
    shared::<FormKind>();
    shared::<BenchError>();
    cloned::<Report>();
    cloned::<BenchStore>();
    let bench = MapBench::map(double).items(0..3).concurrency([2]);
    let text = format!("{bench:?}");
    assert!(
        text.contains("double") && text.contains("concurrency"),
        "{text}"
    );
}

#[tokio::test]
async fn a_sweep_runs_on_a_spawned_task() {
    let bench = MapBench::map(double)
        .items(0..10)
        .concurrency([2])
        .progress(false);
    let report = tokio::spawn(async move { bench.run().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.points[0].items, 10);
    let bench = MapBench::par_map(triple)
        .items(0..10)
        .threads([1])
        .progress(false);
    let report = tokio::spawn(async move { bench.run().await })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.points[0].items, 10);
}
