//! `waypost show ID`: one execution — status, workflow, timings, how often it was
//! redriven and recovered, input, output, and for a failed one the failed step and its
//! error with its causes.

use std::io::Write;

use waypost_core::history::EventKind;
use waypost_core::inspect::Progress;
use waypost_core::store::ExecutionStatus;
use waypost_core::text::printable;

use crate::format::{self, Fields};
use crate::store;

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The execution id.
    id: String,
}

pub(crate) fn run(args: &Args, store: &store::Source, out: &mut dyn Write) -> anyhow::Result<()> {
    let record = store::execution(store, &args.id)?;
    let history = store::history(store, &args.id)?;

    let mut fields = Fields::default();
    fields
        .add("execution", record.id.as_str())
        .add(
            "status",
            if waypost_core::inspect::paused(&record, &history) {
                format!(
                    "running, paused (its steps in flight finish, then it holds until `waypost unpause {}`)",
                    printable(&record.id)
                )
            } else {
                record.status.as_str().to_owned()
            },
        )
        .add(
            "workflow",
            format!(
                "{} v{} (fingerprint {})",
                record.workflow, record.version, record.fingerprint
            ),
        )
        .add("started", format::timestamp(record.created_ms));
    if record.status.is_finished() {
        fields
            .add("ended", format::timestamp(record.updated_ms))
            .add(
                "duration",
                format::duration(record.updated_ms.saturating_sub(record.created_ms)),
            );
    } else {
        fields.add(
            "runner",
            format::runner(&record, waypost_core::store::now_ms()),
        );
        let progress = Progress::of(&history);
        let last = progress.last_event_ms.unwrap_or(record.updated_ms);
        fields.add("last event", format::timestamp(last));
        match &progress.step {
            Some(step) if step.in_flight => {
                let text = format!("{} (attempt {})", step.address, step.attempt);
                fields.add("running", text)
            }
            Some(step) => fields.add("last finished", step.address.as_str()),
            None => fields.add("last finished", "nothing yet"),
        };
        if let Some(map) = &progress.map {
            let text = format!(
                "{}: {} of {} items finished",
                map.address, map.done, map.total
            );
            fields.add("map", text);
        }
    }
    // Recoveries are counted since the last redrive (which resets them); the history
    // keeps every one.
    let recovered = history
        .iter()
        .filter(|e| e.kind == EventKind::ExecutionRecovered)
        .count();
    let recoveries = match recovered.saturating_sub(record.recoveries as usize) {
        0 => record.recoveries.to_string(),
        before => format!(
            "{} ({before} more before the last redrive)",
            record.recoveries
        ),
    };
    // Child workflows: who started this execution, and what it started.
    let family = store::family(store, &args.id)?;
    if let Some(parent) = &family.parent {
        fields.add("parent", format!("{} (state {})", parent.id, parent.key));
    }
    if !family.children.is_empty() {
        let shown: Vec<&str> = family.children.iter().take(5).map(String::as_str).collect();
        let more = family.children.len() - shown.len();
        let text = match more {
            0 => shown.join(", "),
            more => format!("{}, and {more} more", shown.join(", ")),
        };
        fields.add("children", text);
    }
    fields
        .add("redrives", record.redrives.to_string())
        .add("recoveries", recoveries)
        .add("codec", record.codec.as_str())
        .add("events", history.len().to_string());
    out.write_all(fields.render("").as_bytes())?;

    writeln!(out, "\ninput")?;
    out.write_all(indent(&format::payload(&record.codec, &record.input)).as_bytes())?;
    if let Some(output) = &record.output {
        writeln!(out, "\noutput")?;
        out.write_all(indent(&format::payload(&record.codec, output)).as_bytes())?;
    }
    if let Some(error) = &record.error {
        let heading = match record.status {
            ExecutionStatus::Failed => "failure",
            ExecutionStatus::Cancelled => "cancellation",
            _ => "error",
        };
        writeln!(out, "\n{heading}")?;
        let mut fields = Fields::default();
        // The address the error was raised at; without one, the last failed step.
        let step = error.address().map(str::to_owned).or_else(|| {
            history
                .iter()
                .rev()
                .find(|e| e.kind == EventKind::StepFailed)
                .map(|e| e.address.clone())
        });
        if let Some(step) = step {
            fields.add("step", step);
        }
        format::error_fields(error, &mut fields);
        out.write_all(fields.render("  ").as_bytes())?;
        if record.status == ExecutionStatus::Failed {
            let line = format!(
                "redrive it from the program that defines workflow `{}`: Runtime::redrive(&workflow, {:?})",
                record.workflow, record.id
            );
            writeln!(out, "\n{}", printable(&line))?;
        }
    }
    // A redrive clears the error; the history still has each earlier failure.
    let mut failures: Vec<_> = history
        .iter()
        .filter(|e| e.kind == EventKind::ExecutionFailed)
        .collect();
    if record.status == ExecutionStatus::Failed {
        failures.pop();
    }
    if !failures.is_empty() {
        let times = match record.redrives {
            1 => "once".to_owned(),
            n => format!("{n} times"),
        };
        writeln!(out, "\nearlier failures (redriven {times})")?;
        for event in failures {
            writeln!(
                out,
                "  {}  {}",
                format::timestamp(event.at_ms),
                printable(&event.summary())
            )?;
        }
    }
    Ok(())
}

/// Every line indented by two spaces, with a newline at the end.
fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}
