//! Item latencies: collected by the measuring wrapper, summed up as exact percentiles.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// Where the measuring wrapper puts the latency of each item it ran. Each call of the
/// wrapper (a batch) adds its items at once, so the lock is taken once per batch.
#[derive(Clone, Debug, Default)]
pub(crate) struct Latencies(Arc<Mutex<Vec<Duration>>>);

impl Latencies {
    pub(crate) fn add(&self, batch: Vec<Duration>) {
        let mut all = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if all.is_empty() {
            *all = batch;
        } else {
            all.extend(batch);
        }
    }

    /// Everything added so far; empties the collection for the next run.
    pub(crate) fn take(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The latency of one item (the user's step on that item, measured around the call),
/// as exact nearest-rank percentiles of every item of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    /// The median.
    pub p50: Duration,
    /// 95 % of the items took this long or less.
    pub p95: Duration,
    /// 99 % of the items took this long or less.
    pub p99: Duration,
}

impl Percentiles {
    /// The percentiles of `latencies` (sorted here); all zero when there are none.
    pub fn of(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Percentiles {
            p50: nearest_rank(&latencies, 50),
            p95: nearest_rank(&latencies, 95),
            p99: nearest_rank(&latencies, 99),
        }
    }
}

/// The smallest value with at least `pct` % of the values at or below it.
fn nearest_rank(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (pct * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let p = Percentiles::of(ms((1..=100).rev()));
        assert_eq!(p.p50, Duration::from_millis(50));
        assert_eq!(p.p95, Duration::from_millis(95));
        assert_eq!(p.p99, Duration::from_millis(99));
    }

    #[test]
    fn one_value_is_every_percentile() {
        let p = Percentiles::of(ms([7]));
        let seven = Duration::from_millis(7);
        assert_eq!((p.p50, p.p95, p.p99), (seven, seven, seven));
    }

    #[test]
    fn no_values_are_zero() {
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }

    #[test]
    fn batches_add_up_and_take_empties() {
        let latencies = Latencies::default();
        latencies.add(ms([1, 2]));
        latencies.add(ms([3]));
        assert_eq!(latencies.take(), ms([1, 2, 3]));
        assert!(latencies.take().is_empty());
    }
}
