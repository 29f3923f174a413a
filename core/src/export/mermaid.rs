//! Mermaid flowcharts.

use std::fmt::Write as _;

use super::{Names, StateStatus};
use crate::graph::{Graph, Node, NodeKind};

/// The graph as a Mermaid `flowchart TD`: `start` and `end` as rounded boxes, tasks as
/// boxes, choices as diamonds, parallels, maps and groups as subroutines, waits as
/// stadiums, passes as parallelograms, succeed and fail as circles, a wait for a
/// condition as a subroutine (its wait loops back to its check); edges carry choice
/// labels, branch indices and caught error names.
///
/// Node ids are generated (`n0`, `n1`, … in the order of [`Graph::nodes`], and `start`
/// and `finish`, since `end` is a Mermaid keyword); names only ever appear as quoted
/// labels (`n0["…"]`) with Mermaid's entity escapes, so any name draws as written.
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
    let names = Names::new(graph);
    let mut out = String::from("flowchart TD\n    start(\"start\")\n");
    let mut classes: Vec<(StateStatus, Vec<String>)> =
        StateStatus::ALL.iter().map(|s| (*s, Vec::new())).collect();
    for (i, node) in graph.nodes().iter().enumerate() {
        let label = match super::completion_note(node) {
            Some(note) => escape(&format!("{} ({note})", names.at(i))),
            None => escape(names.at(i)),
        };
        let (open, close) = match node.kind {
            NodeKind::Choice => ("{", "}"),
            NodeKind::Parallel | NodeKind::Map | NodeKind::Group | NodeKind::Condition => {
                ("[[", "]]")
            }
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
    out.push_str("    finish(\"end\")\n");
    match graph.start() {
        Some(first) => {
            let _ = writeln!(out, "    start --> n{first}");
        }
        None => out.push_str("    start --> finish\n"),
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
    for last in graph.ends() {
        let _ = writeln!(out, "    n{last} --> finish");
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

/// The text of a quoted Mermaid label, drawn as written. Inside quotes only `"` ends
/// the label; the rest is escaped with Mermaid's entity codes because Mermaid reads
/// more into a label: `#…;` is an entity (so `#` itself is escaped), labels are HTML
/// (`<`, `>`, `&`), a leading backtick starts Markdown, and a line with `style` or
/// `classDef`, a colon and then `#…;` loses its last `;` before parsing (so `:` is
/// escaped too); `%%{…}%%` anywhere is a directive (so `%` is escaped); spaces around a
/// label are trimmed (so they are escaped there). A control character, which a
/// workflow's names cannot hold but a graph read from an old store might, is drawn as
/// its `\u{…}` escape: a newline would end the statement.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // Bytes [lead, trail) are the label without the spaces around it.
    let lead = text.len() - text.trim_start().len();
    let trail = text.trim_end().len();
    for (at, c) in text.char_indices() {
        match c {
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c if c.is_whitespace() && (at < lead || at >= trail) => {
                let _ = write!(out, "#{};", u32::from(c));
            }
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '`' => out.push_str("#96;"),
            ':' => out.push_str("#58;"),
            '%' => out.push_str("#37;"),
            c => out.push(c),
        }
    }
    out
}
