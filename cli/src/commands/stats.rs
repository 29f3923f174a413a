//! `waypost stats WORKFLOW`: per-step statistics across a workflow's executions, from
//! their histories.
//!
//! Per step name, in the order the steps first ran: runs (every start of an attempt,
//! re-runs included), re-runs (starts of an attempt that had started before and was
//! interrupted before its result was stored: its process crashed or stopped, and a
//! recovery or resume ran it again), failures (attempts failed), retries (retries
//! scheduled), and the 50th and 95th percentiles and maximum of the attempts' durations
//! (nearest rank, over every run that ended; `waypost_core::inspect::WorkflowStats`
//! counts them). Task steps report attempts; maps,
//! choices and timers do not, so they have no row. Above the table, how many
//! executions are in each status and, if any were, how often they were recovered.
//!
//! A re-run is known when the history stored the interrupted run's start, which it
//! does with the next checkpoint of the execution: a step that started and was
//! interrupted before anything else was stored leaves no trace of that run.

use std::io::Write;

use anyhow::bail;
use waypost_core::inspect::WorkflowStats;
use waypost_core::store::{ExecutionStatus, ListFilter};
use waypost_core::text::printable;

use crate::{format, store};

/// Arguments of `stats`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The workflow name (all its versions).
    workflow: String,
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
    let mut stats = WorkflowStats::default();
    for record in &records {
        stats.add(
            record,
            &store::graph(record)?,
            &store::history(store, &record.id)?,
        );
    }
    let (statuses, recoveries) = (&stats.statuses, stats.recoveries);

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
        n => format!(", recovered {n} time{}", if n == 1 { "" } else { "s" }),
    };
    writeln!(
        out,
        "workflow `{}`: {} execution{} ({}){recovered}",
        printable(&args.workflow),
        records.len(),
        plural(records.len()),
        counts.join(", ")
    )?;
    if stats.steps().is_empty() {
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
    for step in stats.steps() {
        let at = |p: u64| {
            step.duration_percentile(p)
                .map_or_else(|| "-".to_owned(), format::duration)
        };
        format::add_row(
            &mut table,
            [
                step.name.clone(),
                step.runs.to_string(),
                step.reruns.to_string(),
                step.failures.to_string(),
                step.retries.to_string(),
                at(50),
                at(95),
                at(100),
            ],
        );
    }
    out.write_all(format::render(&table).as_bytes())?;
    Ok(())
}
