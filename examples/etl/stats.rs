//! Delay statistics of a group of flights.

use crate::payloads::*;

pub(crate) fn stats(key: String, name: String, legs: &[&Leg]) -> Stats {
    let mut dep: Vec<f64> = legs
        .iter()
        .filter_map(|l| l.dep_delay)
        .map(f64::from)
        .collect();
    dep.sort_by(f64::total_cmp);
    let arr: Vec<f64> = legs
        .iter()
        .filter_map(|l| l.arr_delay)
        .map(f64::from)
        .collect();
    let gained: Vec<f64> = legs
        .iter()
        .filter_map(|l| l.gained)
        .map(f64::from)
        .collect();
    let on_time = arr.iter().filter(|&&d| d < 15.0).count();
    Stats {
        key,
        name,
        departed: dep.len() as u64,
        cancelled: (legs.len() - dep.len()) as u64,
        mean_dep_delay: mean(&dep),
        median_dep_delay: percentile(&dep, 50.0),
        p90_dep_delay: percentile(&dep, 90.0),
        mean_arr_delay: mean(&arr),
        mean_gained: mean(&gained),
        on_time_pct: (!arr.is_empty()).then(|| 100.0 * on_time as f64 / arr.len() as f64),
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], pct: f64) -> Option<f64> {
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}
