//! Drawings of a workflow: Mermaid flowcharts, Graphviz DOT, and Amazon States Language.
//!
//! All three are made from the workflow's [`Graph`], so they work on a workflow in hand
//! or on a graph read back from a store. Mermaid and DOT draw the flat view (numbered
//! states, labelled edges); ASL rebuilds the state machine from the tree, with `Retry`
//! and `Catch` blocks, `Parallel` branches and `Map` item processors. Choice rules are
//! Rust predicates, so ASL shows them by their labels.
//!
//! The `*_styled` variants draw one execution: each state gets the colour of its
//! [`StateStatus`] (succeeded, failed, caught, cancelled, running, not reached), as the
//! Step Functions console's graph view does. Which status a state has is the caller's to say
//! (the CLI derives it from the execution's history); ASL has no colours, so
//! [`asl_styled`] writes the status into each state's `Comment`.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::export;
//!
//! #[step]
//! fn parse(s: String) -> u32 { s.len() as u32 }
//! #[step]
//! fn double(x: u32) -> u32 { x * 2 }
//!
//! let graph = Workflow::new("demo", 1, parse.then(double)).graph().clone();
//! assert!(export::mermaid(&graph).contains("n0 --> n1"));
//! assert!(export::dot(&graph).contains("n0 -> n1;"));
//! assert_eq!(export::asl(&graph)["StartAt"], "parse");
//!
//! // One execution's view: `parse` done, `double` in flight.
//! use export::StateStatus;
//! let status = |node: &waypost::Node| match node.name.as_str() {
//!     "parse" => Some(StateStatus::Succeeded),
//!     _ => Some(StateStatus::Running),
//! };
//! assert!(export::mermaid_styled(&graph, status).contains("class n0 succeeded"));
//! assert!(export::dot_styled(&graph, status).contains("style=filled"));
//! assert_eq!(
//!     export::asl_styled(&graph, status)["States"]["double"]["Comment"],
//!     "status: running"
//! );
//! ```

mod asl;
mod dot;
mod mermaid;

pub use asl::asl;
pub use dot::{dot, dot_styled};
pub use mermaid::{mermaid, mermaid_styled};

use std::collections::{HashMap, HashSet};
use std::fmt;

use serde_json::Value;

use crate::graph::{Graph, Node};

/// How far a state got in one execution: what the `*_styled` exports colour it by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StateStatus {
    /// The state finished successfully (green).
    Succeeded,
    /// The state failed and no catch handled its error (red).
    Failed,
    /// The state failed and a catch handled its error (orange).
    Caught,
    /// The state was stopped before it finished: the execution failed elsewhere or was
    /// cancelled while it ran (dark grey).
    Cancelled,
    /// The state is in flight: started and not finished, or waiting to retry (blue).
    Running,
    /// The execution has not reached the state, or took another branch (grey).
    NotReached,
}

impl StateStatus {
    /// Every status, in the order drawings list them.
    pub const ALL: [StateStatus; 6] = [
        StateStatus::Succeeded,
        StateStatus::Failed,
        StateStatus::Caught,
        StateStatus::Cancelled,
        StateStatus::Running,
        StateStatus::NotReached,
    ];

    /// The status in words: `succeeded`, `failed`, `caught`, `cancelled`, `running`,
    /// `not reached`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateStatus::Succeeded => "succeeded",
            StateStatus::Failed => "failed",
            StateStatus::Caught => "caught",
            StateStatus::Cancelled => "cancelled",
            StateStatus::Running => "running",
            StateStatus::NotReached => "not reached",
        }
    }

    /// The status as an identifier, for Mermaid class names.
    pub(crate) fn ident(self) -> &'static str {
        match self {
            StateStatus::NotReached => "not_reached",
            other => other.as_str(),
        }
    }

    /// Fill, border and text colours, after the Step Functions console's.
    pub(crate) fn colours(self) -> Colours {
        let (fill, stroke, text) = match self {
            StateStatus::Succeeded => ("#dff3df", "#1d8102", "#16191f"),
            StateStatus::Failed => ("#fde2e0", "#d13212", "#16191f"),
            StateStatus::Caught => ("#fff1d6", "#ec7211", "#16191f"),
            StateStatus::Cancelled => ("#d5dbdb", "#545b64", "#16191f"),
            StateStatus::Running => ("#dcecfa", "#0073bb", "#16191f"),
            StateStatus::NotReached => ("#f2f3f3", "#aab7b8", "#687078"),
        };
        Colours { fill, stroke, text }
    }
}

impl fmt::Display for StateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The colours a status is drawn with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Colours {
    pub(crate) fill: &'static str,
    pub(crate) stroke: &'static str,
    pub(crate) text: &'static str,
}

/// The graph as Amazon States Language (see [`asl`]), each state's `Comment` saying its
/// status (`"status: succeeded"`, appended to a comment the state already has); states
/// for which `status` returns `None` are left as they are. ASL has no colours, and
/// `Comment` is the one free-text field every state type accepts.
pub fn asl_styled(graph: &Graph, status: impl Fn(&Node) -> Option<StateStatus>) -> Value {
    let names = Names::new(graph);
    let by_name: HashMap<&str, &Node> = graph
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, node)| (names.at(i), node))
        .collect();
    let mut machine = asl(graph);
    comment_statuses(&mut machine, &by_name, &status);
    machine
}

/// Adds the status comments to the `States` of `machine` and of every machine nested in
/// them (parallel branches, map item processors).
fn comment_statuses(
    machine: &mut Value,
    by_name: &HashMap<&str, &Node>,
    status: &dyn Fn(&Node) -> Option<StateStatus>,
) {
    let Some(states) = machine.get_mut("States").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, state) in states.iter_mut() {
        let Some(state) = state.as_object_mut() else {
            continue;
        };
        if let Some(now) = by_name.get(name.as_str()).and_then(|node| status(node)) {
            let comment = match state.get("Comment").and_then(Value::as_str) {
                Some(comment) => format!("{comment}; status: {now}"),
                None => format!("status: {now}"),
            };
            state.insert("Comment".into(), comment.into());
        }
        if let Some(branches) = state.get_mut("Branches").and_then(Value::as_array_mut) {
            for branch in branches {
                comment_statuses(branch, by_name, status);
            }
        }
        if let Some(processor) = state.get_mut("ItemProcessor") {
            comment_statuses(processor, by_name, status);
        }
    }
}

/// An export format, parsed from `mermaid`, `dot` or `asl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// A Mermaid flowchart.
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// Amazon States Language JSON, pretty-printed.
    Asl,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "mermaid" => Ok(Format::Mermaid),
            "dot" => Ok(Format::Dot),
            "asl" => Ok(Format::Asl),
            other => Err(format!(
                "unknown graph format `{other}`; expected mermaid, dot or asl"
            )),
        }
    }
}

/// What a map's or parallel's completion settings add to its label in Mermaid and DOT
/// (`settled · min successful 2 · …`), or `None` for a state without them.
pub(crate) fn completion_note(node: &Node) -> Option<String> {
    let parts: Vec<String> = node
        .details
        .iter()
        .filter_map(|(key, value)| match key.as_str() {
            "settled" => Some("settled".to_owned()),
            "tolerated_failure_count" if value != "0" => {
                Some(format!("tolerated failures {value}"))
            }
            "tolerated_failure_percentage" => Some(format!("tolerated failures {value}%")),
            "min_successful" => Some(format!("min successful {value}")),
            "complete_when" => Some("complete when predicate".to_owned()),
            _ => None,
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The graph drawn in `format`.
///
/// # Examples
///
/// ```
/// use waypost::export::{Format, render};
/// use waypost::prelude::*;
///
/// let wf = Workflow::new("one", 1, pass("id", |x: u32| x));
/// let format: Format = "dot".parse().unwrap();
/// assert!(render(wf.graph(), format).starts_with("digraph"));
/// assert!("svg".parse::<Format>().is_err());
/// ```
pub fn render(graph: &Graph, format: Format) -> String {
    match format {
        Format::Mermaid => mermaid(graph),
        Format::Dot => dot(graph),
        Format::Asl => serde_json::to_string_pretty(&asl(graph)).expect("JSON values serialize"),
    }
}

/// The display name of every state, unique across the whole graph (ASL requires unique
/// state names across the whole machine): its step name, or `name (address)` where
/// several states share a name, with a number added in the rare case that this is
/// taken too (a group has the address of its first state, and a step may be named
/// `a (1.a)`).
pub(crate) struct Names {
    /// By position in [`Graph::nodes`].
    names: Vec<String>,
    /// The position in [`Graph::nodes`] of each state of the tree, by identity.
    positions: HashMap<*const Node, usize>,
}

impl Names {
    pub(crate) fn new(graph: &Graph) -> Self {
        let mut count: HashMap<&str, usize> = HashMap::new();
        for node in graph.nodes() {
            *count.entry(node.name.as_str()).or_default() += 1;
        }
        let mut taken: HashSet<String> = count
            .iter()
            .filter(|(_, n)| **n == 1)
            .map(|(name, _)| (*name).to_owned())
            .collect();
        let names = graph
            .nodes()
            .iter()
            .map(|node| {
                if count[node.name.as_str()] == 1 {
                    return node.name.clone();
                }
                let mut name = format!("{} ({})", node.name, node.address);
                let mut n = 2;
                while taken.contains(&name) {
                    name = format!("{} ({}, {n})", node.name, node.address);
                    n += 1;
                }
                taken.insert(name.clone());
                name
            })
            .collect();
        let mut tree = Vec::new();
        tree_order(graph.states(), &mut tree);
        debug_assert_eq!(tree.len(), graph.nodes().len());
        let positions = tree
            .into_iter()
            .enumerate()
            .map(|(i, node)| (std::ptr::from_ref(node), i))
            .collect();
        Names { names, positions }
    }

    /// Whether a state of the graph has the name `name`.
    pub(crate) fn taken(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The name of the state at `position` in [`Graph::nodes`].
    pub(crate) fn at(&self, position: usize) -> &str {
        &self.names[position]
    }

    /// The name of `node`, a state of the tree ([`Graph::states`] and below) of the graph
    /// these names were made for.
    pub(crate) fn of(&self, node: &Node) -> &str {
        self.at(self.positions[&std::ptr::from_ref(node)])
    }
}

/// The states below `sequence` in the order [`Graph::nodes`] lists them: each state,
/// then its branches, then its catch handlers.
fn tree_order<'g>(sequence: &'g [Node], out: &mut Vec<&'g Node>) {
    for node in sequence {
        out.push(node);
        for branch in &node.branches {
            tree_order(&branch.states, out);
        }
        for catch in &node.catch {
            tree_order(&catch.handler, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, StepExt, fail, pass, succeed};

    /// `parse`, then `double` (whose `Boom` a catch sends to `recover`), then a succeed
    /// state.
    fn graph() -> Graph {
        let double = fail::<u32, u32>("Boom", "no doubling today");
        let recover = pass("recover", |(x, _error): (u32, Error)| x);
        Graph::of(
            &pass("parse", |s: String| s.len() as u32)
                .then(double.catch(["Boom"], recover))
                .then(succeed::<u32>()),
        )
    }

    fn status(node: &Node) -> Option<StateStatus> {
        match node.name.as_str() {
            "parse" | "recover" => Some(StateStatus::Succeeded),
            "fail" => Some(StateStatus::Caught),
            "succeed" => Some(StateStatus::Running),
            _ => None,
        }
    }

    #[test]
    fn a_task_with_a_resource_detail_names_it_in_asl() {
        struct Call;
        impl crate::Step for Call {
            type Input = u32;
            type Output = u32;
            fn name(&self) -> &str {
                "charge"
            }
            async fn run(&self, _cx: &crate::Context, x: u32) -> Result<u32, Error> {
                Ok(x)
            }
            fn describe(&self, graph: &mut crate::graph::Describe<'_>) {
                graph
                    .leaf(crate::graph::NodeKind::Task, self.name())
                    .detail(crate::graph::RESOURCE, "waypost:http:POST");
            }
        }
        let graph = Graph::of(&Call.then(pass("after", |x: u32| x)));
        let machine = asl(&graph);
        assert_eq!(machine["States"]["charge"]["Resource"], "waypost:http:POST");
        assert_eq!(machine["States"]["charge"]["Type"], "Task");
        // Exports that draw boxes are unchanged by it.
        assert!(!mermaid(&graph).contains("waypost:http"));
        assert!(!dot(&graph).contains("waypost:http"));
    }

    #[test]
    fn unstyled_drawings_are_the_plain_ones() {
        let graph = graph();
        assert_eq!(mermaid_styled(&graph, |_| None), mermaid(&graph));
        assert_eq!(dot_styled(&graph, |_| None), dot(&graph));
        assert_eq!(asl_styled(&graph, |_| None), asl(&graph));
    }

    #[test]
    fn mermaid_defines_a_class_per_status_used() {
        let text = mermaid_styled(&graph(), status);
        let styles: Vec<&str> = text
            .lines()
            .filter(|l| l.trim_start().starts_with("class"))
            .map(str::trim)
            .collect();
        assert_eq!(
            styles,
            [
                "classDef succeeded fill:#dff3df,stroke:#1d8102,color:#16191f",
                "class n0,n2 succeeded",
                "classDef caught fill:#fff1d6,stroke:#ec7211,color:#16191f",
                "class n1 caught",
                "classDef running fill:#dcecfa,stroke:#0073bb,color:#16191f",
                "class n3 running",
            ]
        );
    }

    #[test]
    fn dot_fills_styled_states_only() {
        let text = dot_styled(&graph(), |node| {
            (node.name == "parse").then_some(StateStatus::NotReached)
        });
        let filled: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("style=filled"))
            .collect();
        assert_eq!(
            filled,
            [
                "    n0 [label=\"parse\", shape=parallelogram, style=filled, fillcolor=\"#f2f3f3\", \
                 color=\"#aab7b8\", fontcolor=\"#687078\", tooltip=\"not reached\"];"
            ]
        );
    }

    #[test]
    fn asl_says_each_status_in_a_comment() {
        let machine = asl_styled(&graph(), status);
        let states = &machine["States"];
        assert_eq!(states["parse"]["Comment"], "status: succeeded");
        assert_eq!(states["fail"]["Comment"], "status: caught");
        assert_eq!(
            states["succeed"]["Comment"],
            "succeed: the end of this branch; status: running"
        );
        assert_eq!(states["recover"]["Comment"], "status: succeeded");
    }

    /// A graph read from a store written before names were checked may hold any name.
    #[test]
    fn control_characters_in_an_unchecked_graph_are_drawn_escaped() {
        let graph = Graph::of(&pass("a\0b\nc\u{85}", |x: u32| x).then(pass("next", |x: u32| x)));
        // DOT doubles the backslash, which Graphviz draws as one.
        for (text, shown) in [
            (mermaid(&graph), r"a\u{0}b\u{a}c\u{85}"),
            (dot(&graph), r"a\\u{0}b\\u{a}c\\u{85}"),
        ] {
            assert!(text.contains(shown), "{text}");
            assert!(
                text.chars().all(|c| c == '\n' || !c.is_control()),
                "{text:?}"
            );
            assert!(text.lines().any(|l| l.contains("n0 -") && l.contains("n1")));
        }
    }

    #[test]
    fn every_status_has_a_distinct_name_and_colour() {
        let mut idents = std::collections::HashSet::new();
        let mut fills = std::collections::HashSet::new();
        for status in StateStatus::ALL {
            assert!(idents.insert(status.ident()));
            assert!(fills.insert(status.colours().fill));
            assert!(
                status
                    .ident()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            );
        }
    }
}
