//! Graphviz DOT.

use std::fmt::Write as _;

use super::{name_of, state_names};
use crate::graph::{Graph, NodeKind};

/// The graph as a Graphviz `digraph`, one node per state (shaped by kind) and one edge
/// per flow edge.
pub fn dot(graph: &Graph) -> String {
    let names = state_names(graph);
    let mut out =
        String::from("digraph workflow {\n    rankdir=TB;\n    node [fontname=\"Helvetica\"];\n");
    for (i, node) in graph.nodes().iter().enumerate() {
        let shape = match node.kind {
            NodeKind::Choice => "diamond",
            NodeKind::Parallel | NodeKind::Map | NodeKind::Group => "box3d",
            NodeKind::Wait => "hexagon",
            NodeKind::Pass => "parallelogram",
            NodeKind::Succeed => "doublecircle",
            NodeKind::Fail => "octagon",
            _ => "box",
        };
        let _ = writeln!(
            out,
            "    n{i} [label={}, shape={shape}];",
            quote(name_of(&names, node))
        );
    }
    for edge in graph.edges() {
        match &edge.label {
            Some(label) => {
                let _ = writeln!(
                    out,
                    "    n{} -> n{} [label={}];",
                    edge.from,
                    edge.to,
                    quote(label)
                );
            }
            None => {
                let _ = writeln!(out, "    n{} -> n{};", edge.from, edge.to);
            }
        }
    }
    out.push_str("}\n");
    out
}

/// A DOT string literal.
fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
