//! `waypost list`: the executions of a store as a table, newest first.

use std::io::Write;

use clap::ValueEnum;
use waypost_core::store::{ExecutionRecord, ExecutionStatus, ListFilter};
use waypost_core::text::printable;

use crate::{format, store};

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only executions in this status.
    #[arg(long, value_enum)]
    status: Option<Status>,
    /// Only executions of this workflow.
    #[arg(long, value_name = "NAME")]
    workflow: Option<String>,
    /// At most this many executions (1 or more).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    limit: Option<u64>,
}

/// An execution status, as `--status` takes it.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Status {
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<Status> for ExecutionStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Running => ExecutionStatus::Running,
            Status::Succeeded => ExecutionStatus::Succeeded,
            Status::Failed => ExecutionStatus::Failed,
            Status::Cancelled => ExecutionStatus::Cancelled,
        }
    }
}

pub(crate) fn run(args: &Args, store: &store::Source, out: &mut dyn Write) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args.status.map(ExecutionStatus::from),
        workflow: args.workflow.clone(),
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        ..ListFilter::default()
    };
    let records = store::list(store, &filter)?;
    if records.is_empty() {
        writeln!(out, "no executions{}", describe(&filter))?;
        return Ok(());
    }
    let mut table = format::table(
        &[
            "ID",
            "WORKFLOW",
            "STATUS",
            "STARTED (UTC)",
            "DURATION",
            "REDRIVES",
        ],
        &[4, 5],
    );
    let now = waypost_core::store::now_ms();
    for record in &records {
        format::add_row(
            &mut table,
            [
                record.id.clone(),
                format!("{} v{}", record.workflow, record.version),
                format::status(record, now),
                format::timestamp(record.created_ms),
                duration(record),
                record.redrives.to_string(),
            ],
        );
    }
    out.write_all(format::render(&table).as_bytes())?;
    Ok(())
}

/// How long a finished execution took; `-` while it runs (or waits to be resumed).
pub(crate) fn duration(record: &ExecutionRecord) -> String {
    if record.status.is_finished() {
        format::duration(record.updated_ms.saturating_sub(record.created_ms))
    } else {
        "-".to_owned()
    }
}

/// The filter in words, for the empty-list message.
fn describe(filter: &ListFilter) -> String {
    let mut parts = Vec::new();
    if let Some(status) = filter.status {
        parts.push(format!("status {status}"));
    }
    if let Some(workflow) = &filter.workflow {
        parts.push(format!("workflow `{}`", printable(workflow)));
    }
    if parts.is_empty() {
        " in the store".to_owned()
    } else {
        format!(" with {}", parts.join(" and "))
    }
}
