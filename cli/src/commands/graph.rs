//! `waypost graph ID|WORKFLOW --format mermaid|dot|asl`: a workflow's graph, drawn from
//! the description stored with its executions.
//!
//! For an execution id, each state is coloured by its status in that execution
//! (succeeded, failed, caught, cancelled, running, not reached; see
//! `waypost_core::inspect`); ASL has no colours, so each state's `Comment` says its
//! status. For a workflow name, the graph of its newest execution, uncoloured.
//!
//! Every name, label and error name of the stored graph is made
//! [`printable`] before it is drawn: a drawing goes to a terminal as often as to a
//! file.

use std::io::Write;

use anyhow::bail;
use clap::ValueEnum;
use waypost_core::Address;
use waypost_core::export;
use waypost_core::graph::{Branch, CatchSpec, Graph, Node, RetrySpec};
use waypost_core::inspect::States;
use waypost_core::store::{ListFilter, StoreError};
use waypost_core::text::printable;

use crate::store;

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

pub(crate) fn run(args: &Args, store: &store::Source, out: &mut dyn Write) -> anyhow::Result<()> {
    let drawing = match store.block_on(store.store().execution(&args.target)) {
        Ok(record) => {
            let stored = store::graph(&record)?;
            let history = store::history(store, &record.id)?;
            // Statuses are derived from the graph as stored (its addresses are the ones
            // the history names) and drawn on the printable one, node for node.
            let states = States::of(&stored, &record, &history);
            let statuses: Vec<_> = stored.nodes().iter().map(|n| states.status(n)).collect();
            let graph = printable_graph(&stored);
            let status = |node: &Node| {
                let index = graph.nodes().iter().position(|n| std::ptr::eq(n, node))?;
                statuses.get(index).copied()
            };
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
                    store.name()
                );
            };
            let graph = printable_graph(&store::graph(&record)?);
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

/// `graph` with every string in it made [`printable`]: names, addresses, branch labels,
/// error names and settings. The tree keeps its shape, so its flat view numbers the
/// same nodes in the same order.
fn printable_graph(graph: &Graph) -> Graph {
    Graph::from_states(graph.states().iter().map(printable_node).collect())
}

fn printable_node(node: &Node) -> Node {
    let text = |s: &str| printable(s).into_owned();
    let texts = |list: &[String]| list.iter().map(|s| text(s)).collect();
    // Every field by name, so that a new one is a compile error here until it is
    // decided whether it needs escaping.
    Node {
        kind: node.kind,
        name: text(&node.name),
        address: Address::from_text(&printable(node.address.as_str())),
        branches: node
            .branches
            .iter()
            .map(|branch| Branch {
                label: text(&branch.label),
                states: branch.states.iter().map(printable_node).collect(),
            })
            .collect(),
        retry: node
            .retry
            .iter()
            .map(|retry| RetrySpec {
                errors: texts(&retry.errors),
                ..retry.clone()
            })
            .collect(),
        catch: node
            .catch
            .iter()
            .map(|catch| CatchSpec {
                errors: texts(&catch.errors),
                handler: catch.handler.iter().map(printable_node).collect(),
            })
            .collect(),
        details: node
            .details
            .iter()
            .map(|(key, value)| (text(key), text(value)))
            .collect(),
        timeout: node.timeout,
        output_type: node.output_type,
    }
}

fn asl_text(machine: &serde_json::Value) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(machine)?;
    text.push('\n');
    Ok(text)
}
