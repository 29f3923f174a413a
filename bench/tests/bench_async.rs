//! The async form on a paused tokio clock: every figure is exact.

use std::time::Duration;

use waypost::bench::{BenchStore, MapBench};
use waypost::prelude::*;

#[step]
async fn sleep_10ms(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(10)).await;
    x
}

const TEN_MS: Duration = Duration::from_millis(10);

#[tokio::test(start_paused = true)]
async fn sleeping_10ms_at_concurrency_10_over_100_items_is_1000_items_per_second() {
    let report = MapBench::map(sleep_10ms)
        .items(0..100)
        .concurrency([10])
        .batch_sizes([1, 10])
        .stores([BenchStore::None, BenchStore::Memory])
        .progress(false)
        .run()
        .await
        .unwrap();
    assert_eq!(report.items, 100);
    assert_eq!(report.baselines.len(), 1);
    let baseline = report.baselines[0];
    assert_eq!(baseline.elapsed, Duration::from_millis(100));
    assert_eq!(baseline.throughput, 1_000.0);
    assert_eq!(report.points.len(), 4);
    for point in &report.points {
        let at = format!("{} {} {}", point.workers, point.batch_size, point.store);
        assert_eq!(point.items, 100, "{at}");
        assert_eq!(point.elapsed, Duration::from_millis(100), "{at}");
        assert_eq!(point.throughput, 1_000.0, "{at}");
        assert_eq!(point.latency.p50, TEN_MS, "{at}");
        assert_eq!(point.latency.p95, TEN_MS, "{at}");
        assert_eq!(point.latency.p99, TEN_MS, "{at}");
        assert_eq!(point.overhead_ns_per_item, 0.0, "{at}");
        assert_eq!(point.vs_baseline, 1.0, "{at}");
        // No point at concurrency 1: no scaling figure.
        assert_eq!(point.scaling_efficiency, None, "{at}");
    }
}

#[tokio::test(start_paused = true)]
async fn scaling_is_measured_against_one_worker_of_the_same_batch_size_and_store() {
    let report = MapBench::map(sleep_10ms)
        .items(0..100)
        .concurrency([1, 10, 25])
        .progress(false)
        .run()
        .await
        .unwrap();
    let one = report.point(1, 1, &BenchStore::None).unwrap();
    assert_eq!(one.elapsed, Duration::from_secs(1));
    assert_eq!(one.throughput, 100.0);
    assert_eq!(one.scaling_efficiency, Some(1.0));
    let ten = report.point(10, 1, &BenchStore::None).unwrap();
    assert_eq!(ten.scaling_efficiency, Some(1.0));
    // 100 items at 25 at once: 4 rounds of 10 ms, 2,500 items/s, 25 × 100 ideal.
    let many = report.point(25, 1, &BenchStore::None).unwrap();
    assert_eq!(many.elapsed, Duration::from_millis(40));
    assert_eq!(many.throughput, 2_500.0);
    assert_eq!(many.scaling_efficiency, Some(1.0));
    assert_eq!(many.baseline.workers, 25);
    assert_eq!(many.baseline.elapsed, Duration::from_millis(40));
}

#[tokio::test(start_paused = true)]
async fn batches_run_their_items_one_after_another() {
    // Batches of 25 at concurrency 10: 4 batches at once, each 25 × 10 ms.
    let report = MapBench::map(sleep_10ms)
        .items(0..100)
        .concurrency([10])
        .batch_sizes([25])
        .progress(false)
        .run()
        .await
        .unwrap();
    let point = &report.points[0];
    assert_eq!(point.elapsed, Duration::from_millis(250));
    assert_eq!(point.throughput, 400.0);
    assert_eq!(point.vs_baseline, 0.4);
    // (250 ms − 100 ms) / 100 items.
    assert_eq!(point.overhead_ns_per_item, 1_500_000.0);
}

#[tokio::test(start_paused = true)]
async fn measure_runs_one_point() {
    let bench = MapBench::map(sleep_10ms).items(0..20).progress(false);
    let measured = bench.measure(5, 2, &BenchStore::Memory).await.unwrap();
    assert_eq!(measured.items, 20);
    assert_eq!(measured.latencies, vec![TEN_MS; 20]);
    // 10 batches of 2 items, 5 at once: 2 rounds of 20 ms.
    assert_eq!(measured.elapsed, Duration::from_millis(40));
}
