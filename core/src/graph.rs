//! The shape of a workflow: its states, their addresses, and how control flows.
//!
//! Every step describes itself into a [`Describe`] sink; the result is a tree of
//! [`Node`]s (sequences of states, with branches below choices, parallels and maps).
//! [`Graph`] holds that tree and derives the flat view — numbered nodes and labelled
//! edges — that exports (Mermaid, DOT, Amazon States Language) and the CLI draw from.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::address::Address;

/// The [`Node::details`] key under which a task that calls something outside the
/// process names it, such as `waypost:http:POST` or `waypost:command:convert`; the
/// Amazon States Language export shows it as the state's `Resource` (any other task is
/// `waypost:task:<name>`).
pub const RESOURCE: &str = "resource";

/// What kind of state a node is, after the Amazon States Language state types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NodeKind {
    /// A task: a function that does work (`Task`).
    Task,
    /// Ordered rules choose one branch (`Choice`).
    Choice,
    /// All branches run on the same input (`Parallel`).
    Parallel,
    /// One sub-workflow per item (`Map`).
    Map,
    /// A durable timer (`Wait`).
    Wait,
    /// A pure transformation (`Pass`).
    Pass,
    /// Ends a branch successfully (`Succeed`).
    Succeed,
    /// Ends a branch with an error (`Fail`).
    Fail,
    /// Several states that share one retry, catch or timeout (drawn as a one-branch
    /// `Parallel` in ASL).
    Group,
    /// Polls a check until it says done, with a durable wait between polls
    /// ([`wait_for_condition`](crate::condition::wait_for_condition)): one branch
    /// holding the check's states and then the `Wait` between polls, drawn with a loop
    /// back from the wait to the check (in ASL: `Task`, `Choice` and `Wait`).
    Condition,
}

/// A retry policy attached to a state, as data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrySpec {
    /// Error names it matches.
    pub errors: Vec<String>,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub interval: Duration,
    /// Factor applied to the delay after each retry.
    pub backoff_rate: f64,
    /// Upper bound of a delay, if any.
    pub max_delay: Option<Duration>,
    /// Whether delays are randomized (`FULL` jitter).
    pub jitter: bool,
}

/// A catch attached to a state: the errors it matches and the handler's states.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CatchSpec {
    /// Error names it matches.
    pub errors: Vec<String>,
    /// The handler's states.
    pub handler: Vec<Node>,
}

/// A labelled sub-sequence of a node: a choice rule, a parallel branch, a map's item
/// processor, or the states of a group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Branch {
    /// The rule label, branch index, or `"item"`.
    pub label: String,
    /// The states of the branch, in order.
    pub states: Vec<Node>,
}

/// The detail key of a setting a workflow refuses: a step's `describe` sets it with
/// what is wrong, and [`Workflow::try_new`](crate::Workflow::try_new) fails with
/// [`WorkflowError::InvalidSettings`](crate::WorkflowError::InvalidSettings).
pub const INVALID: &str = "invalid";

/// One state of a workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The kind of state.
    pub kind: NodeKind,
    /// The step's name.
    pub name: String,
    /// The stable address of the state.
    pub address: Address,
    /// Sub-sequences (choice rules, parallel branches, map item processor, group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branches: Vec<Branch>,
    /// Retry policies, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<RetrySpec>,
    /// Catches, innermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub catch: Vec<CatchSpec>,
    /// A timeout on the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Kind-specific settings for display, such as `max_concurrency` or `seconds`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<(String, String)>,
    /// The type of the state's output, which decodes its checkpoints without knowing
    /// the type at compile time (a console shows them). Only in a graph made from the
    /// workflow's code: a stored graph has none.
    #[serde(skip)]
    pub output_type: Option<PayloadType>,
}

/// A state's output type, its name and a way to decode a payload of it; see
/// [`Node::output_type`].
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::JsonCodec;
///
/// #[step]
/// fn double(x: u32) -> u32 { x * 2 }
///
/// let wf = Workflow::new("demo", 1, double);
/// let output = wf.graph().nodes()[0].output_type.unwrap();
/// assert_eq!(output.name(), "u32");
/// let mut shown = String::new();
/// output
///     .decode_with(&JsonCodec, b"42", &mut |value| {
///         shown = serde_json::to_string(value).unwrap();
///     })
///     .unwrap();
/// assert_eq!(shown, "42");
/// assert!(output.decode_with(&JsonCodec, b"\"no\"", &mut |_| {}).is_err());
/// ```
#[derive(Clone, Copy)]
pub struct PayloadType {
    name: &'static str,
    decode: DecodeFn,
}

type DecodeFn = fn(
    &dyn crate::Codec,
    &[u8],
    &mut dyn FnMut(&dyn erased_serde::Serialize),
) -> Result<(), crate::Error>;

impl PayloadType {
    /// The type `T`.
    pub fn of<T: crate::Payload>() -> Self {
        PayloadType {
            name: std::any::type_name::<T>(),
            decode: decode_as::<T>,
        }
    }

    /// The type's name (Rust's `type_name`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Decodes `bytes` written by `codec` as this type and hands the value to `visit`
    /// (serialize it with any serde serializer, such as `serde_json`'s).
    ///
    /// # Errors
    ///
    /// The bytes are not a value of this type under `codec`.
    pub fn decode_with(
        &self,
        codec: &dyn crate::Codec,
        bytes: &[u8],
        visit: &mut dyn FnMut(&dyn erased_serde::Serialize),
    ) -> Result<(), crate::Error> {
        (self.decode)(codec, bytes, visit)
    }
}

fn decode_as<T: crate::Payload>(
    codec: &dyn crate::Codec,
    bytes: &[u8],
    visit: &mut dyn FnMut(&dyn erased_serde::Serialize),
) -> Result<(), crate::Error> {
    let value: T = crate::codec::decode(codec, bytes, "a payload")?;
    visit(&value);
    Ok(())
}

impl fmt::Debug for PayloadType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl PartialEq for PayloadType {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Node {
    fn new(kind: NodeKind, name: &str, address: Address) -> Self {
        Node {
            kind,
            name: name.to_owned(),
            address,
            branches: Vec::new(),
            retry: Vec::new(),
            catch: Vec::new(),
            timeout: None,
            details: Vec::new(),
            output_type: None,
        }
    }

    /// Adds a kind-specific setting shown by exports.
    pub fn detail(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        self.details.push((key.to_owned(), value.to_string()));
        self
    }
}

/// The sink steps describe themselves into: the position of the next state, and the
/// sequence it goes in. Mirrors [`Context`](crate::Context) so that a node's address is
/// the address its step runs at.
#[derive(Debug)]
pub struct Describe<'a> {
    parent: Address,
    slot: u32,
    states: &'a mut Vec<Node>,
}

impl<'a> Describe<'a> {
    /// A sink writing the sequence at `parent` into `states`.
    pub fn new(parent: Address, states: &'a mut Vec<Node>) -> Self {
        Describe {
            parent,
            slot: 0,
            states,
        }
    }

    /// The address a state named `name` gets at the current position.
    pub fn address(&self, name: &str) -> Address {
        self.parent.step(self.slot, name)
    }

    /// Adds a state with no sub-sequences and returns it for details.
    pub fn leaf(&mut self, kind: NodeKind, name: &str) -> &mut Node {
        let node = Node::new(kind, name, self.address(name));
        self.states.push(node);
        self.states.last_mut().expect("just pushed")
    }

    /// Adds a state whose branches are described by `branches`: each call of the
    /// closure's argument describes one labelled branch.
    pub fn container(
        &mut self,
        kind: NodeKind,
        name: &str,
        branches: impl FnOnce(&mut BranchSink<'_>),
    ) -> &mut Node {
        let mut node = Node::new(kind, name, self.address(name));
        let mut sink = BranchSink {
            at: node.address.clone(),
            branches: &mut node.branches,
        };
        branches(&mut sink);
        self.states.push(node);
        self.states.last_mut().expect("just pushed")
    }

    /// Describes `step` at the current position and moves past its slots.
    pub fn step<S: crate::Step + ?Sized>(&mut self, step: &S) {
        let slots = step.slots();
        let before = self.states.len();
        let mut sub = Describe {
            parent: self.parent.clone(),
            slot: self.slot,
            states: self.states,
        };
        step.describe(&mut sub);
        // A step that made one state outputs what that state outputs.
        if self.states.len() == before + 1
            && let Some(node) = self.states.last_mut()
        {
            node.output_type
                .get_or_insert_with(PayloadType::of::<S::Output>);
        }
        self.slot += slots;
    }

    /// Describes `step` at the current position without moving past it, and returns
    /// the one node it made — or, when it made several, a [`NodeKind::Group`] holding
    /// them — for a decorator (retry, catch, timeout) to annotate.
    pub fn decorated<S: crate::Step + ?Sized>(&mut self, step: &S) -> &mut Node {
        let mut inner = Vec::new();
        step.describe(&mut Describe {
            parent: self.parent.clone(),
            slot: self.slot,
            states: &mut inner,
        });
        if inner.len() == 1 {
            self.states.extend(inner);
        } else {
            let name = "group";
            let mut group = Node::new(NodeKind::Group, name, self.address(name));
            group.branches.push(Branch {
                label: "0".to_owned(),
                states: inner,
            });
            self.states.push(group);
        }
        self.states.last_mut().expect("just pushed")
    }

    /// Describes `step` at `slot` slots past the current position (a catch handler)
    /// into a separate sequence.
    pub fn detached<S: crate::Step + ?Sized>(&self, step: &S, offset: u32) -> Vec<Node> {
        let mut states = Vec::new();
        step.describe(&mut Describe {
            parent: self.parent.clone(),
            slot: self.slot + offset,
            states: &mut states,
        });
        states
    }
}

/// Collects the branches of a container state; see [`Describe::container`].
#[derive(Debug)]
pub struct BranchSink<'a> {
    at: Address,
    branches: &'a mut Vec<Branch>,
}

impl BranchSink<'_> {
    /// Describes `step` as the branch labelled `label` (its address segment).
    pub fn branch<S: crate::Step + ?Sized>(&mut self, label: &str, step: &S) {
        let mut states = Vec::new();
        Describe::new(self.at.branch(label), &mut states).step(step);
        self.branches.push(Branch {
            label: label.to_owned(),
            states,
        });
    }

    /// Describes the branch labelled `label` (its address segment) with `describe`,
    /// which adds its states in order.
    pub fn sequence(&mut self, label: &str, describe: impl FnOnce(&mut Describe<'_>)) {
        let mut states = Vec::new();
        describe(&mut Describe::new(self.at.branch(label), &mut states));
        self.branches.push(Branch {
            label: label.to_owned(),
            states,
        });
    }
}

/// One flow edge of a [`Graph`]: from node to node, with an optional label (a choice
/// rule, an error name, a branch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// Index of the source node in [`Graph::nodes`].
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// What the edge stands for, if anything but "next".
    pub label: Option<String>,
}

/// A workflow's states as a tree, with a flat numbered view and flow edges.
///
/// Control enters at [`start`](Self::start) and the workflow succeeds after any of its
/// [`ends`](Self::ends); a [`NodeKind::Fail`] state with no catch ends it with an error.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// fn parse(s: String) -> u32 { s.len() as u32 }
/// #[step]
/// fn double(x: u32) -> u32 { x * 2 }
///
/// let wf = Workflow::new("demo", 1, parse.then(double));
/// let graph = wf.graph();
/// let names: Vec<_> = graph.nodes().iter().map(|n| n.name.as_str()).collect();
/// assert_eq!(names, ["parse", "double"]);
/// assert_eq!(graph.nodes()[1].address.as_str(), "1.double");
/// assert_eq!(graph.edges()[0].from, 0);
/// assert_eq!(graph.edges()[0].to, 1);
/// assert_eq!((graph.start(), graph.ends()), (Some(0), &[1][..]));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Node>", into = "Vec<Node>")]
pub struct Graph {
    states: Vec<Node>,
    flat: Vec<Node>,
    edges: Vec<Edge>,
    start: Option<usize>,
    ends: Vec<usize>,
}

impl From<Vec<Node>> for Graph {
    fn from(states: Vec<Node>) -> Self {
        Graph::from_states(states)
    }
}

impl From<Graph> for Vec<Node> {
    fn from(graph: Graph) -> Self {
        graph.states
    }
}

impl Graph {
    /// The graph of `step` as a workflow's root.
    pub fn of<S: crate::Step + ?Sized>(step: &S) -> Self {
        let mut states = Vec::new();
        Describe::new(Address::root(), &mut states).step(step);
        Self::from_states(states)
    }

    /// A graph from its tree of states (as stored).
    pub fn from_states(states: Vec<Node>) -> Self {
        let mut flat = Vec::new();
        let mut edges = Vec::new();
        let (start, ends) = flatten(&states, &mut flat, &mut edges);
        Graph {
            states,
            flat,
            edges,
            start,
            ends,
        }
    }

    /// The top-level sequence of states, each with its sub-sequences.
    pub fn states(&self) -> &[Node] {
        &self.states
    }

    /// Every state, depth first in flow order; [`Edge`]s index into this.
    pub fn nodes(&self) -> &[Node] {
        &self.flat
    }

    /// The flow edges between [`nodes`](Self::nodes). They go forward, except in a
    /// wait for a condition ([`NodeKind::Condition`]), whose wait goes back to its check
    /// (`poll again`).
    pub fn edges(&self) -> &[Edge] {
        &self.edges
    }

    /// The index in [`nodes`](Self::nodes) of the state that runs first, if there is one.
    pub fn start(&self) -> Option<usize> {
        self.start
    }

    /// The indices in [`nodes`](Self::nodes) of the states after which the workflow is
    /// done: its last state, or the last states of the branches of a choice, a parallel
    /// or a map that ends it, and of catch handlers there.
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }
}

/// Numbers the states of `seq` into `flat` and links them. Returns the index of the
/// sequence's first state (if any) and the indices control leaves it from.
fn flatten(
    seq: &[Node],
    flat: &mut Vec<Node>,
    edges: &mut Vec<Edge>,
) -> (Option<usize>, Vec<usize>) {
    let mut entry = None;
    let mut exits: Vec<usize> = Vec::new();
    for node in seq {
        let index = flat.len();
        let mut shallow = node.clone();
        for branch in &mut shallow.branches {
            branch.states.clear();
        }
        for catch in &mut shallow.catch {
            catch.handler.clear();
        }
        flat.push(shallow);
        for from in exits.drain(..) {
            edges.push(Edge {
                from,
                to: index,
                label: None,
            });
        }
        entry.get_or_insert(index);

        // Control leaves a state with branches from the ends of its branches: a choice's
        // from whichever branch ran, a parallel's, map's or group's once all are done. A
        // fail state goes on only through its catches.
        let mut node_exits = Vec::new();
        // A condition polls its check, and goes on from the check when it says done,
        // or through the wait (its branch's last state) back to the check.
        let looped = match (node.kind, &node.branches[..]) {
            (NodeKind::Condition, [poll]) => poll.states.split_last(),
            _ => None,
        };
        if let Some((delay, check)) = looped {
            let (first, ends) = flatten(check, flat, edges);
            let (wait, _) = flatten(std::slice::from_ref(delay), flat, edges);
            match (first, wait) {
                (Some(first), Some(wait)) => {
                    let label = |text: &str| Some(text.to_owned());
                    edges.push(Edge {
                        from: index,
                        to: first,
                        label: Some(node.branches[0].label.clone()),
                    });
                    for &end in &ends {
                        edges.push(Edge {
                            from: end,
                            to: wait,
                            label: label("not done"),
                        });
                    }
                    edges.push(Edge {
                        from: wait,
                        to: first,
                        label: label("poll again"),
                    });
                    node_exits.extend(ends);
                }
                _ => node_exits.push(index),
            }
        }
        for branch in node.branches.iter().filter(|_| looped.is_none()) {
            let (first, ends) = flatten(&branch.states, flat, edges);
            match first {
                Some(first) => {
                    edges.push(Edge {
                        from: index,
                        to: first,
                        label: Some(branch.label.clone()),
                    });
                    node_exits.extend(ends);
                }
                None => node_exits.push(index),
            }
        }
        if node.branches.is_empty() && node.kind != NodeKind::Fail {
            node_exits.push(index);
        }
        for catch in &node.catch {
            let (first, ends) = flatten(&catch.handler, flat, edges);
            if let Some(first) = first {
                edges.push(Edge {
                    from: index,
                    to: first,
                    label: Some(catch.errors.join(", ")),
                });
                node_exits.extend(ends);
            } else {
                node_exits.push(index);
            }
        }
        let mut seen = HashSet::new();
        node_exits.retain(|exit| seen.insert(*exit));
        exits = node_exits;
    }
    (entry, exits)
}
