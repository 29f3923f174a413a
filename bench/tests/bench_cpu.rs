//! The CPU form on real rayon pools and real stores: counts and arithmetic, no timing.

use waypost::bench::{BenchStore, FormKind, MapBench};
use waypost::prelude::*;

#[step]
fn square(x: u64) -> u64 {
    x * x
}

#[tokio::test]
async fn every_item_is_counted_at_every_point() {
    let report = MapBench::par_map(square)
        .items(0..200)
        .threads([1, 2])
        .batch_sizes([1, 7])
        .stores([BenchStore::None, BenchStore::Memory, BenchStore::Sqlite])
        .progress(false)
        .run()
        .await
        .unwrap();
    assert_eq!(report.kind, FormKind::ParMap);
    assert_eq!(report.step, "square");
    assert_eq!(report.items, 200);
    assert_eq!(report.baselines.len(), 2);
    assert!(report.baselines.iter().all(|b| b.items == 200));
    assert_eq!(report.points.len(), 2 * 2 * 3);
    assert_eq!(report.batch_sizes(), [1, 7]);
    assert_eq!(
        report.stores(),
        [BenchStore::None, BenchStore::Memory, BenchStore::Sqlite]
    );
    for point in &report.points {
        assert_eq!(point.items, 200);
        assert!(point.latency.p50 <= point.latency.p95);
        assert!(point.latency.p95 <= point.latency.p99);
    }
}

#[tokio::test]
async fn ratios_come_from_the_baseline_of_the_same_run() {
    let report = MapBench::par_map(square)
        .items(0..100)
        .threads([2, 1])
        .batch_sizes([10])
        .progress(false)
        .run()
        .await
        .unwrap();
    for point in &report.points {
        let baseline = report
            .baselines
            .iter()
            .find(|b| b.workers == point.workers)
            .unwrap();
        assert_eq!(point.baseline, *baseline);
        assert_eq!(point.vs_baseline, point.throughput / baseline.throughput);
        let delta = point.elapsed.as_nanos() as f64 - baseline.elapsed.as_nanos() as f64;
        assert_eq!(point.overhead_ns_per_item, delta / 100.0);
    }
    let one = report.point(1, 10, &BenchStore::None).unwrap();
    let two = report.point(2, 10, &BenchStore::None).unwrap();
    assert_eq!(one.scaling_efficiency, Some(1.0));
    assert_eq!(
        two.scaling_efficiency,
        Some(two.throughput / (2.0 * one.throughput))
    );
}
