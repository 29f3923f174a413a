//! [`Report`]: what a sweep measured, with the figures derived from it — throughput,
//! latency percentiles, overhead against the baseline of the same run, and scaling.

use std::time::Duration;

use crate::form::Measurement;
use crate::latency::Percentiles;
use crate::setting::{FormKind, Setting};
use crate::store::BenchStore;

/// The result of [`MapBench::run`](crate::MapBench::run): a baseline per worker count
/// and a point per setting. Print it (`Display`) for a table; write it with
/// [`write_csv`](Self::write_csv), [`write_json`](Self::write_json) and
/// [`write_svg`](Self::write_svg).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// Which map ran.
    pub kind: FormKind,
    /// The benchmarked step.
    pub step: String,
    /// Items every run mapped over.
    pub items: usize,
    /// The raw baseline at each worker count, in sweep order.
    pub baselines: Vec<Baseline>,
    /// Each point of the sweep, in sweep order (worker count, batch size, store).
    pub points: Vec<Point>,
}

/// One run of the raw baseline (`buffer_unordered` or `par_iter`, no waypost).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Baseline {
    /// Concurrency or threads.
    pub workers: usize,
    /// Items it finished.
    pub items: usize,
    /// How long it took.
    pub elapsed: Duration,
    /// Items per second.
    pub throughput: f64,
}

impl Baseline {
    pub(crate) fn new(workers: usize, measured: &Measurement) -> Self {
        Baseline {
            workers,
            items: measured.items,
            elapsed: measured.elapsed,
            throughput: per_second(measured.items, measured.elapsed),
        }
    }
}

/// One point of the sweep, run through waypost.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Point {
    /// Concurrency or threads.
    pub workers: usize,
    /// Items per call of the map's step.
    pub batch_size: usize,
    /// The store.
    pub store: BenchStore,
    /// Items it finished (every item of the source).
    pub items: usize,
    /// The whole run.
    pub elapsed: Duration,
    /// Items per second: `items / elapsed`.
    pub throughput: f64,
    /// The latency of an item: the user's step on it.
    pub latency: Percentiles,
    /// The baseline at the same worker count, from the same run of the sweep.
    pub baseline: Baseline,
    /// What waypost adds per item, in nanoseconds: `(elapsed − baseline elapsed) /
    /// items`; negative when this run was faster than the baseline.
    pub overhead_ns_per_item: f64,
    /// This throughput over the baseline's: 1.0 is as fast as the raw loop.
    pub vs_baseline: f64,
    /// This throughput over `workers` times the throughput at 1 worker with the same
    /// batch size and store: 1.0 is perfect scaling. `None` when the sweep has no point
    /// at 1 worker.
    pub scaling_efficiency: Option<f64>,
}

impl Report {
    pub(crate) fn new(
        kind: FormKind,
        step: &str,
        items: usize,
        baselines: Vec<Baseline>,
        measured: Vec<(Setting, Measurement)>,
    ) -> Self {
        let mut points: Vec<Point> = measured
            .into_iter()
            .map(|(setting, measured)| {
                let baseline = *baselines
                    .iter()
                    .find(|b| b.workers == setting.workers)
                    .expect("each worker count has its baseline");
                let delta = measured.elapsed.as_nanos() as f64 - baseline.elapsed.as_nanos() as f64;
                let throughput = per_second(measured.items, measured.elapsed);
                Point {
                    workers: setting.workers,
                    batch_size: setting.batch_size,
                    store: setting.store,
                    items: measured.items,
                    elapsed: measured.elapsed,
                    throughput,
                    latency: Percentiles::of(measured.latencies),
                    baseline,
                    overhead_ns_per_item: delta / measured.items as f64,
                    vs_baseline: throughput / baseline.throughput,
                    scaling_efficiency: None,
                }
            })
            .collect();
        let single: Vec<(usize, BenchStore, f64)> = points
            .iter()
            .filter(|p| p.workers == 1)
            .map(|p| (p.batch_size, p.store.clone(), p.throughput))
            .collect();
        for point in &mut points {
            point.scaling_efficiency = single
                .iter()
                .find(|(batch, store, _)| *batch == point.batch_size && *store == point.store)
                .map(|(_, _, one)| point.throughput / (point.workers as f64 * one));
        }
        Report {
            kind,
            step: step.to_owned(),
            items,
            baselines,
            points,
        }
    }

    /// The point at `workers`, `batch_size` and `store`, if the sweep has it.
    pub fn point(&self, workers: usize, batch_size: usize, store: &BenchStore) -> Option<&Point> {
        self.points
            .iter()
            .find(|p| p.workers == workers && p.batch_size == batch_size && p.store == *store)
    }

    /// The batch sizes of the sweep, in sweep order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = Vec::new();
        for point in &self.points {
            if !sizes.contains(&point.batch_size) {
                sizes.push(point.batch_size);
            }
        }
        sizes
    }

    /// The stores of the sweep, in sweep order.
    pub fn stores(&self) -> Vec<BenchStore> {
        let mut stores: Vec<BenchStore> = Vec::new();
        for point in &self.points {
            if !stores.contains(&point.store) {
                stores.push(point.store.clone());
            }
        }
        stores
    }
}

/// `items` per second over `elapsed`, computed from whole nanoseconds so that round
/// figures stay exact (100 items in 100 ms is 1,000.0 items/s, not 999.999…); infinite
/// for a run that took no time.
pub(crate) fn per_second(items: usize, elapsed: Duration) -> f64 {
    let nanos = elapsed.as_nanos();
    if nanos == 0 {
        return f64::INFINITY;
    }
    items as f64 * 1e9 / nanos as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(elapsed_ms: u64, items: usize) -> Measurement {
        Measurement {
            elapsed: Duration::from_millis(elapsed_ms),
            items,
            latencies: vec![Duration::from_millis(1); items],
        }
    }

    fn setting(workers: usize, batch_size: usize) -> Setting {
        Setting {
            kind: FormKind::Map,
            workers,
            batch_size,
            store: BenchStore::None,
        }
    }

    #[test]
    fn throughput_is_exact_for_round_figures() {
        assert_eq!(per_second(100, Duration::from_millis(100)), 1_000.0);
        assert_eq!(per_second(3, Duration::from_secs(3)), 1.0);
        assert_eq!(per_second(1, Duration::ZERO), f64::INFINITY);
    }

    #[test]
    fn ratios_come_from_the_baseline_of_the_same_worker_count() {
        let baselines = vec![
            Baseline::new(1, &measured(1_000, 100)),
            Baseline::new(4, &measured(250, 100)),
        ];
        let report = Report::new(
            FormKind::Map,
            "s",
            100,
            baselines,
            vec![
                (setting(1, 1), measured(2_000, 100)),
                (setting(4, 1), measured(1_000, 100)),
            ],
        );
        let one = report.point(1, 1, &BenchStore::None).unwrap();
        assert_eq!(one.vs_baseline, 0.5);
        assert_eq!(one.overhead_ns_per_item, 10_000_000.0);
        assert_eq!(one.scaling_efficiency, Some(1.0));
        let four = report.point(4, 1, &BenchStore::None).unwrap();
        assert_eq!(four.baseline.workers, 4);
        assert_eq!(four.vs_baseline, 0.25);
        assert_eq!(four.overhead_ns_per_item, 7_500_000.0);
        // 100 items/s at 4 workers against 50 items/s at 1: half of 4 × 50.
        assert_eq!(four.scaling_efficiency, Some(0.5));
    }

    #[test]
    fn no_single_worker_point_means_no_scaling_figure() {
        let report = Report::new(
            FormKind::Map,
            "s",
            10,
            vec![Baseline::new(2, &measured(10, 10))],
            vec![(setting(2, 1), measured(10, 10))],
        );
        assert_eq!(report.points[0].scaling_efficiency, None);
        assert_eq!(report.points[0].overhead_ns_per_item, 0.0);
    }
}
