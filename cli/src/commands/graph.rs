//! `waypost graph ID|WORKFLOW --format mermaid|dot|asl`: a workflow's graph, drawn from
//! the description stored with its executions.
//!
//! For an execution id, each state is coloured by its status in that execution
//! (succeeded, failed, caught, cancelled, running, not reached; see
//! `waypost_core::inspect`); ASL has no colours, so each state's `Comment` says its
//! status. For a workflow name, the graph of its newest execution, uncoloured.

use std::io::Write;

use anyhow::bail;
use clap::ValueEnum;
use waypost_core::export;
use waypost_core::store::{ListFilter, Store as _, StoreError};
use waypost_runtime::SqliteStore;

use crate::store;
use waypost_core::inspect::States;

/// Arguments of `graph`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// An execution id (states coloured by status), or a workflow name (the graph of its
    /// newest execution).
    target: String,
    /// The drawing: a Mermaid flowchart, a Graphviz digraph, or Amazon States Language
    /// JSON.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,
}

/// What `--format` takes.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// A Mermaid `flowchart`, with a `classDef` per status.
    Mermaid,
    /// A Graphviz `digraph`, states filled with their status colour.
    Dot,
    /// Amazon States Language JSON, each state's `Comment` giving its status.
    Asl,
}

pub(crate) fn run(args: &Args, store: &SqliteStore, out: &mut dyn Write) -> anyhow::Result<()> {
    let drawing = match store::block_on(store.execution(&args.target)) {
        Ok(record) => {
            let graph = store::graph(&record)?;
            let history = store::history(store, &record.id)?;
            let states = States::of(&graph, &record, &history);
            let status = |node: &waypost_core::Node| Some(states.status(node));
            match args.format {
                Format::Mermaid => export::mermaid_styled(&graph, status),
                Format::Dot => export::dot_styled(&graph, status),
                Format::Asl => asl_text(&export::asl_styled(&graph, status))?,
            }
        }
        Err(StoreError::NotFound { .. }) => {
            let filter = ListFilter {
                workflow: Some(args.target.clone()),
                limit: Some(1),
                ..ListFilter::default()
            };
            let Some(record) = store::list(store, &filter)?.into_iter().next() else {
                bail!(
                    "no execution and no workflow named `{}` in `{}` (`waypost list` shows them)",
                    args.target,
                    store.path().display()
                );
            };
            let graph = store::graph(&record)?;
            match args.format {
                Format::Mermaid => export::mermaid(&graph),
                Format::Dot => export::dot(&graph),
                Format::Asl => asl_text(&export::asl(&graph))?,
            }
        }
        Err(err) => return Err(err.into()),
    };
    out.write_all(drawing.as_bytes())?;
    Ok(())
}

fn asl_text(machine: &serde_json::Value) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(machine)?;
    text.push('\n');
    Ok(text)
}
