//! Drawings of a workflow: Mermaid flowcharts, Graphviz DOT, and Amazon States Language.
//!
//! All three are made from the workflow's [`Graph`], so they work on a workflow in hand
//! or on a graph read back from a store. Mermaid and DOT draw the flat view (numbered
//! states, labelled edges); ASL rebuilds the state machine from the tree, with `Retry`
//! and `Catch` blocks, `Parallel` branches and `Map` item processors. Choice rules are
//! Rust predicates, so ASL shows them by their labels.
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
//! ```

mod asl;
mod dot;
mod mermaid;

pub use asl::asl;
pub use dot::dot;
pub use mermaid::mermaid;

use std::collections::HashMap;

use crate::graph::{Graph, Node};

/// A unique display name per state: its step name, or `name (address)` where two states
/// share a name (ASL requires unique state names across the whole machine).
pub(crate) fn state_names(graph: &Graph) -> HashMap<String, String> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for node in graph.nodes() {
        *count.entry(node.name.as_str()).or_default() += 1;
    }
    graph
        .nodes()
        .iter()
        .map(|node| {
            let name = if count[node.name.as_str()] > 1 {
                format!("{} ({})", node.name, node.address)
            } else {
                node.name.clone()
            };
            (node.address.to_string(), name)
        })
        .collect()
}

/// The name shown for `node`.
pub(crate) fn name_of<'a>(names: &'a HashMap<String, String>, node: &'a Node) -> &'a str {
    names
        .get(node.address.as_str())
        .map_or(node.name.as_str(), String::as_str)
}
