//! Mermaid flowcharts.

use std::fmt::Write as _;

use super::{StateStatus, name_of, state_names};
use crate::graph::{Graph, Node, NodeKind};

/// The graph as a Mermaid `flowchart TD`: tasks as boxes, choices as diamonds,
/// parallels, maps and groups as subroutines, waits as stadiums, passes as
/// parallelograms, succeed and fail as circles; edges carry choice labels, branch
/// indices and caught error names.
pub fn mermaid(graph: &Graph) -> String {
    render(graph, &|_| None)
}

/// The graph as [`mermaid`] draws it, each state coloured by its status in one
/// execution: a `classDef` per status that occurs and a `class` line listing its
/// states. States for which `status` returns `None` keep Mermaid's default style.
pub fn mermaid_styled(graph: &Graph, status: impl Fn(&Node) -> Option<StateStatus>) -> String {
    render(graph, &status)
}

fn render(graph: &Graph, status: &dyn Fn(&Node) -> Option<StateStatus>) -> String {
    let names = state_names(graph);
    let mut out = String::from("flowchart TD\n");
    let mut classes: Vec<(StateStatus, Vec<String>)> =
        StateStatus::ALL.iter().map(|s| (*s, Vec::new())).collect();
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
        if let Some(now) = status(node)
            && let Some((_, ids)) = classes.iter_mut().find(|(s, _)| *s == now)
        {
            ids.push(format!("n{i}"));
        }
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
    for (now, ids) in classes.iter().filter(|(_, ids)| !ids.is_empty()) {
        let colours = now.colours();
        let _ = writeln!(
            out,
            "    classDef {} fill:{},stroke:{},color:{}",
            now.ident(),
            colours.fill,
            colours.stroke,
            colours.text
        );
        let _ = writeln!(out, "    class {} {}", ids.join(","), now.ident());
    }
    out
}

/// Mermaid labels are quoted; quotes inside become entities.
fn escape(text: &str) -> String {
    text.replace('"', "#quot;")
}
