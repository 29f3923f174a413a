//! Mermaid flowcharts.

use std::fmt::Write as _;

use super::{name_of, state_names};
use crate::graph::{Graph, NodeKind};

/// The graph as a Mermaid `flowchart TD`: tasks as boxes, choices as diamonds,
/// parallels, maps and groups as subroutines, waits as stadiums, passes as
/// parallelograms, succeed and fail as circles; edges carry choice labels, branch
/// indices and caught error names.
pub fn mermaid(graph: &Graph) -> String {
    let names = state_names(graph);
    let mut out = String::from("flowchart TD\n");
    for (i, node) in graph.nodes().iter().enumerate() {
        let label = escape(name_of(&names, node));
        let (open, close) = match node.kind {
            NodeKind::Choice => ("{", "}"),
            NodeKind::Parallel | NodeKind::Map | NodeKind::Group => ("[[", "]]"),
            NodeKind::Wait => ("([", "])"),
            NodeKind::Pass => ("[/", "/]"),
            NodeKind::Succeed | NodeKind::Fail => ("((", "))"),
            _ => ("[", "]"),
        };
        let _ = writeln!(out, "    n{i}{open}\"{label}\"{close}");
    }
    for edge in graph.edges() {
        match &edge.label {
            Some(label) => {
                let _ = writeln!(
                    out,
                    "    n{} -->|\"{}\"| n{}",
                    edge.from,
                    escape(label),
                    edge.to
                );
            }
            None => {
                let _ = writeln!(out, "    n{} --> n{}", edge.from, edge.to);
            }
        }
    }
    out
}

/// Mermaid labels are quoted; quotes inside become entities.
fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}
