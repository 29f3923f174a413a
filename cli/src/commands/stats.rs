//! `waypost stats WORKFLOW`: per-step statistics across a workflow's executions, from
//! their histories.
//!
//! Per step name, in the order the steps first ran: runs (every start of an attempt,
//! re-runs included), re-runs (starts of an attempt that had started before and was
//! interrupted before its result was stored: its process crashed or stopped, and a
//! recovery or resume ran it again), failures (attempts failed), retries (retries
//! scheduled), and the 50th and 95th percentiles and maximum of the attempts' durations
//! (nearest rank, over every run that ended). Task steps report attempts; maps,
//! choices and timers do not, so they have no row. Above the table, how many
//! executions are in each status and, if any were, how often they were recovered.
//!
//! A re-run is known when the history stored the interrupted run's start, which it
//! does with the next checkpoint of the execution: a step that started and was
//! interrupted before anything else was stored leaves no trace of that run.

use std::collections::HashMap;
use std::io::Write;

use anyhow::bail;
use waypost_core::history::EventKind;
use waypost_core::inspect::Addresses;
use waypost_core::store::{ExecutionStatus, ListFilter};
use waypost_core::text::printable;

use crate::{format, store};

/// Arguments of `stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workflow name (all its versions).
    workflow: String,
}

/// What one step did across the executions.
#[derive(Debug, Default)]
struct StepStats {
    runs: u64,
    reruns: u64,
    failures: u64,
    retries: u64,
    durations: Vec<u64>,
}

pub(crate) fn run(args: &Args, store: &store::Source, out: &mut dyn Write) -> anyhow::Result<()> {
    let filter = ListFilter {
        workflow: Some(args.workflow.clone()),
        ..ListFilter::default()
    };
    let mut records = store::list(store, &filter)?;
    if records.is_empty() {
        bail!(
            "no executions of workflow `{}` in `{}` (`waypost list` shows them)",
            args.workflow,
            store.name()
        );
    }
    // Oldest first, so that steps are listed in the order they first ran.
    records.reverse();

    let mut order: Vec<String> = Vec::new();
    let mut steps: HashMap<String, StepStats> = HashMap::new();
    let mut statuses: HashMap<ExecutionStatus, usize> = HashMap::new();
    let mut recoveries = 0;
    for record in &records {
        *statuses.entry(record.status).or_default() += 1;
        let addresses = Addresses::of(&store::graph(record)?);
        for event in store::history(store, &record.id)? {
            if event.kind == EventKind::ExecutionRecovered {
                recoveries += 1;
            }
            if !matches!(
                event.kind,
                EventKind::StepStarted
                    | EventKind::StepSucceeded
                    | EventKind::StepFailed
                    | EventKind::RetryScheduled
            ) {
                continue;
            }
            let name = addresses.name_of(&event.address);
            let stats = steps.entry(name.clone()).or_insert_with(|| {
                order.push(name);
                StepStats::default()
            });
            match event.kind {
                EventKind::StepStarted => {
                    stats.runs += 1;
                    if event.details.run.is_some_and(|run| run > 1) {
                        stats.reruns += 1;
                    }
                }
                EventKind::RetryScheduled => stats.retries += 1,
                _ => {
                    if event.kind == EventKind::StepFailed {
                        stats.failures += 1;
                    }
                    stats.durations.extend(event.duration_ms);
                }
            }
        }
    }

    let counts: Vec<String> = [
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Running,
        ExecutionStatus::Cancelled,
    ]
    .into_iter()
    .filter_map(|s| statuses.get(&s).map(|n| format!("{n} {s}")))
    .collect();
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let recovered = match recoveries {
        0 => String::new(),
        n => format!(", recovered {n} time{}", plural(n)),
    };
    writeln!(
        out,
        "workflow `{}`: {} execution{} ({}){recovered}",
        printable(&args.workflow),
        records.len(),
        plural(records.len()),
        counts.join(", ")
    )?;
    if order.is_empty() {
        writeln!(
            out,
            "no step events recorded (the executions' history level may be `Errors` or `Off`)"
        )?;
        return Ok(());
    }
    let mut table = format::table(
        &[
            "STEP", "RUNS", "RERUNS", "FAILURES", "RETRIES", "P50", "P95", "MAX",
        ],
        &[1, 2, 3, 4, 5, 6, 7],
    );
    for name in &order {
        let Some(stats) = steps.get_mut(name) else {
            continue;
        };
        stats.durations.sort_unstable();
        let at = |p: u64| {
            percentile(&stats.durations, p).map_or_else(|| "-".to_owned(), format::duration)
        };
        format::add_row(
            &mut table,
            [
                name.clone(),
                stats.runs.to_string(),
                stats.reruns.to_string(),
                stats.failures.to_string(),
                stats.retries.to_string(),
                at(50),
                at(95),
                at(100),
            ],
        );
    }
    out.write_all(format::render(&table).as_bytes())?;
    Ok(())
}

/// The `p`th percentile (1 to 100) of `sorted` by the nearest-rank method: the smallest
/// value with at least `p`% of the values at or below it.
fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
        assert_eq!(percentile(&values, 100), Some(20));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
    }
}
