//! Graphviz DOT.

use std::fmt::Write as _;

use super::{StateStatus, name_of, state_names};
use crate::graph::{Graph, Node, NodeKind};

/// The graph as a Graphviz `digraph`, one node per state (shaped by kind) and one edge
/// per flow edge.
pub fn dot(graph: &Graph) -> String {
    render(graph, &|_| None)
}

/// The graph as [`dot`] draws it, each state filled with the colour of its status in
/// one execution (`style=filled, fillcolor=...`, with the status as a `tooltip`). States
/// for which `status` returns `None` keep the default style.
pub fn dot_styled(graph: &Graph, status: impl Fn(&Node) -> Option<StateStatus>) -> String {
    render(graph, &status)
}

fn render(graph: &Graph, status: &dyn Fn(&Node) -> Option<StateStatus>) -> String {
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
        let style = match status(node) {
            Some(now) => {
                let colours = now.colours();
                format!(
                    ", style=filled, fillcolor={}, color={}, fontcolor={}, tooltip={}",
                    quote(colours.fill),
                    quote(colours.stroke),
                    quote(colours.text),
                    quote(now.as_str())
                )
            }
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "    n{i} [label={}, shape={shape}{style}];",
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
