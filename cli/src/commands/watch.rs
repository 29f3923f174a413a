//! `waypost watch ID`: follows an execution until it ends.
//!
//! Polls the store every `--interval-ms`: a spinner (or, while a map runs, a progress
//! bar of its items) on stderr, with the current step as its message; then one line on
//! stdout with the final status. indicatif hides the bar when stderr is not a terminal,
//! so in a pipe or a CI log only the final line appears.
//!
//! The store cannot tell an execution that is running from one whose process died and
//! that waits to be resumed: both are `running`. The message shows how long ago the last
//! event was, so a stalled execution shows itself. Events are stored with the next
//! checkpoint, so the step in flight usually shows as the one that last finished.

use std::io::Write;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use waypost_core::inspect::Progress;
use waypost_core::store::{ExecutionRecord, ExecutionStatus};
use waypost_core::text::printable;

use crate::{format, store};

/// Arguments of `watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The execution id.
    id: String,
    /// How often to read the store, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    interval_ms: u64,
}

/// How long without events before the message says so.
const QUIET_MS: u64 = 10_000;

pub(crate) fn run(args: &Args, store: &store::Source, out: &mut dyn Write) -> anyhow::Result<()> {
    let bar = ProgressBar::new_spinner();
    let spinner = style("{spinner} {msg}");
    let items = style("{spinner} {prefix} [{bar:30}] {pos}/{len} items  {msg}");
    bar.set_style(spinner.clone());
    bar.enable_steady_tick(Duration::from_millis(120));
    let record = loop {
        let record = store::execution(store, &args.id)?;
        if record.status.is_finished() {
            break record;
        }
        let progress = Progress::of(&store::history(store, &args.id)?);
        match &progress.map {
            Some(map) => {
                bar.set_style(items.clone());
                bar.set_length(map.total);
                bar.set_position(map.done);
                bar.set_prefix(printable(&map.address).into_owned());
                bar.set_message(message(&record, &progress));
            }
            None => {
                bar.set_style(spinner.clone());
                bar.set_message(message(&record, &progress));
            }
        }
        thread::sleep(Duration::from_millis(args.interval_ms.max(1)));
    };
    bar.finish_and_clear();
    writeln!(out, "{}", summary(&record))?;
    Ok(())
}

/// A progress style; the templates are constants, so a failure falls back to a plain one.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The spinner's message: the execution, its current step, and a stall warning; made
/// [`printable`].
fn message(record: &ExecutionRecord, progress: &Progress) -> String {
    let mut text = format!("{} ({} v{})", record.id, record.workflow, record.version);
    match &progress.step {
        Some(step) if step.in_flight => {
            text.push_str(&format!(": running {}", step.address));
            if step.attempt > 1 {
                text.push_str(&format!(" (attempt {})", step.attempt));
            }
        }
        Some(step) => text.push_str(&format!(": last finished {}", step.address)),
        None => text.push_str(": starting"),
    }
    let quiet = progress
        .last_event_ms
        .map(|at| now_ms().saturating_sub(at))
        .filter(|quiet| *quiet >= QUIET_MS);
    if let Some(quiet) = quiet {
        text.push_str(&format!(
            " — no event for {}; if its process died, resume it (Runtime::resume)",
            format::duration(quiet)
        ));
    }
    printable(&text).into_owned()
}

/// The final line: status, duration, and the error of a failed execution; made
/// [`printable`].
fn summary(record: &ExecutionRecord) -> String {
    let took = format::duration(record.updated_ms.saturating_sub(record.created_ms));
    let mut line = format!("{} {} after {took}", record.id, record.status);
    if record.status != ExecutionStatus::Succeeded
        && let Some(error) = &record.error
    {
        line.push_str(&format!(": {}: {}", error.name(), error.message()));
        if let Some(at) = error.address() {
            line.push_str(&format!(" (at {at})"));
        }
    }
    printable(&line).into_owned()
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use waypost_core::history::{Event, EventDetails, EventKind};
    use waypost_core::text::is_unsafe;

    use super::*;

    #[test]
    fn the_spinner_and_the_final_line_are_printable() {
        let evil = "\u{1b}]0;title\u{7}\n\u{202e}";
        let record = ExecutionRecord {
            id: format!("id{evil}"),
            workflow: format!("wf{evil}"),
            version: 1,
            fingerprint: String::new(),
            codec: "json".into(),
            status: ExecutionStatus::Failed,
            input: Vec::new(),
            output: None,
            error: Some(waypost_core::Error::new(format!("E{evil}"), evil).at(evil)),
            graph: String::new(),
            redrives: 0,
            recoveries: 0,
            created_ms: 0,
            updated_ms: 0,
            lease: None,
            lease_epoch: 0,
            wake_at_ms: 0,
        };
        let started = Event {
            seq: 1,
            at_ms: 0,
            kind: EventKind::StepStarted,
            address: format!("0.step{evil}"),
            attempt: 2,
            duration_ms: None,
            details: EventDetails::default(),
        };
        for text in [
            message(&record, &Progress::of(&[started])),
            summary(&record),
        ] {
            assert!(!text.contains(is_unsafe), "{text:?}");
            assert!(text.contains(r"\e]0;title\u{7}\n\u{202e}"), "{text}");
        }
    }
}
