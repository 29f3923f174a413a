//! Graphviz DOT.

use std::fmt::Write as _;

use super::{Names, StateStatus};
use crate::graph::{Graph, Node, NodeKind};

/// The graph as a Graphviz `digraph`: a `start` and an `end` node, one node per state
/// (shaped by kind, labelled with its name) and one edge per flow edge. Node ids are
/// generated (`n0`, `n1`, … in the order of [`Graph::nodes`]); names only ever appear
/// as quoted labels, so any name draws.
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
    let names = Names::new(graph);
    let mut out =
        String::from("digraph workflow {\n    rankdir=TB;\n    node [fontname=\"Helvetica\"];\n");
    out.push_str("    start [label=\"start\", shape=oval];\n");
    for (i, node) in graph.nodes().iter().enumerate() {
        let shape = match node.kind {
            NodeKind::Choice => "diamond",
            NodeKind::Parallel | NodeKind::Map | NodeKind::Group | NodeKind::Condition => "box3d",
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
            match super::completion_note(node) {
                Some(note) => quote(&format!("{} ({note})", names.at(i))),
                None => quote(names.at(i)),
            }
        );
    }
    out.push_str("    end [label=\"end\", shape=oval];\n");
    if let Some(first) = graph.start() {
        let _ = writeln!(out, "    start -> n{first};");
    } else {
        out.push_str("    start -> end;\n");
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
    for last in graph.ends() {
        let _ = writeln!(out, "    n{last} -> end;");
    }
    out.push_str("}\n");
    out
}

/// A DOT string literal. Quotes and backslashes are escaped (so that `\N`, `\n`, `\l`
/// in a name are drawn as written, not as Graphviz escapes); a control character, which
/// a workflow's names cannot hold but a graph read from an old store might, is drawn as
/// its `\u{…}` escape, since Graphviz rejects some of them (NUL) outright.
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
