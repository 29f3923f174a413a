//! `waypost history ID [--json]`: an execution's events, as a timeline or as JSON lines.

use std::io::Write;

use waypost_core::text::printable;

use crate::{format, store};

/// Arguments of `history`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The execution id.
    id: String,
    /// Print the events as JSON lines (one object per event, in order) instead of a
    /// table: `seq`, `at_ms`, `kind`, `address`, `attempt`, `duration_ms`, and
    /// `details`, an object of the fields the event has (`error` with its `name` and
    /// `message`, `branch`, `delay_ms`, `items`, `run`, ...).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args, store: &store::Source, out: &mut dyn Write) -> anyhow::Result<()> {
    let events = store::history(store, &args.id)?;
    if args.json {
        for event in &events {
            format::write_json(out, event)?;
        }
        return Ok(());
    }
    let id = printable(&args.id);
    let Some(first) = events.first() else {
        writeln!(out, "execution `{id}` has no events yet")?;
        return Ok(());
    };
    let start = first.at_ms;
    let mut table = format::table(
        &[
            "SEQ", "TIME", "EVENT", "ADDRESS", "ATTEMPT", "DURATION", "DETAIL",
        ],
        &[0, 1, 4, 5],
    );
    for event in &events {
        // Execution events have no state, and their attempt says nothing.
        let attempt = if event.address.is_empty() {
            String::new()
        } else {
            event.attempt.to_string()
        };
        format::add_row(
            &mut table,
            [
                event.seq.to_string(),
                format::offset(event.at_ms.saturating_sub(start)),
                event.kind.to_string(),
                event.address.clone(),
                attempt,
                event.duration_ms.map(format::duration).unwrap_or_default(),
                event.summary(),
            ],
        );
    }
    writeln!(
        out,
        "execution `{id}`, first event at {}",
        format::timestamp(start)
    )?;
    out.write_all(format::render(&table).as_bytes())?;
    Ok(())
}
