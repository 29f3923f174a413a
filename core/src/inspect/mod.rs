//! What an execution's history says: how far each state got, and what runs now.
//!
//! The read model of executions that the `waypost` CLI shows, and a console would:
//! derived from the stored [`ExecutionRecord`] and history alone, without the
//! workflow's code, so that every view of a store says the same thing.
//!
//! Events name *run-time* addresses, which carry a map item's index where the graph has
//! the map's item branch (`1.load/3/0.parse` runs the state `1.load/item/0.parse`);
//! [`States::of`] maps them onto the graph and gives every state a [`StateStatus`]:
//!
//! - from its own events, the last one deciding: `StepSucceeded`, `TimerFired`,
//!   `MapFinished`, `BranchChosen` → succeeded; `StepFailed` → failed, or caught when an
//!   `ErrorCaught` names it; `StepStarted`, `MapStarted`, `TimerStarted`,
//!   `RetryScheduled` → running (cancelled once the execution has finished). Over the
//!   items of a map the worst wins: running, then failed, caught, cancelled, succeeded.
//! - the address of the execution's error, when no success followed, → failed (a `fail`
//!   state, a map over its failure tolerance, a choice with no match);
//! - states with no events of their own (parallels, groups, passes, succeed states)
//!   from their children and their place in the flow: a state that a later state of its
//!   sequence was reached after, or whose enclosing sequence finished, succeeded;
//! - everything else: not reached.
//!
//! [`Progress::of`] reads the same history for what is happening now: the step last
//! started or finished, and the progress of the innermost map in flight;
//! [`StepStats`] what each step did across many executions.

mod family;
mod stats;
mod summary;

pub use family::{CHILD_SUFFIX, Family, PARENT_KEY, ParentLink};
pub use stats::{StepStats, WorkflowStats, percentile};
pub use summary::{paused, runner, status};

use std::collections::{HashMap, HashSet};

use crate::export::StateStatus;
use crate::graph::{Graph, Node, NodeKind};
use crate::history::{Event, EventKind};
use crate::store::{ExecutionRecord, ExecutionStatus};

/// Every state's status in one execution, by graph address.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::MemoryStore;
/// use waypost::export::StateStatus;
/// use waypost::inspect::States;
///
/// #[step]
/// async fn check(x: u32) -> Result<u32, Error> { Ok(x) }
/// #[step]
/// async fn charge(_x: u32) -> Result<u32, Error> { Err(Error::new("Declined", "no funds")) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::builder().store(MemoryStore::new()).build();
/// let workflow = Workflow::new("pay", 1, check.then(charge));
/// runtime.start(&workflow, "pay-1", 5).await.unwrap_err();
///
/// let record = runtime.execution("pay-1").await.unwrap();
/// let history = runtime.history("pay-1").await.unwrap();
/// let graph = workflow.graph();
/// let states = States::of(graph, &record, &history);
/// assert_eq!(states.status(&graph.nodes()[0]), StateStatus::Succeeded);
/// assert_eq!(states.status(&graph.nodes()[1]), StateStatus::Failed);
/// # }
/// ```
#[derive(Debug)]
pub struct States {
    by_address: HashMap<String, StateStatus>,
}

impl States {
    /// Derives the status of every state of `graph` from the execution's history.
    pub fn of(graph: &Graph, record: &ExecutionRecord, history: &[Event]) -> Self {
        let addresses = Addresses::of(graph);
        let finished = record.status.is_finished();
        let mut per_raw: HashMap<&str, StateStatus> = HashMap::new();
        // Items each map started, over all its runs (a map inside a map runs per item).
        let mut items: HashMap<String, u64> = HashMap::new();
        let mut caught = HashSet::new();
        let mut chosen: HashMap<String, HashSet<String>> = HashMap::new();
        for event in history {
            let now = match event.kind {
                EventKind::MapStarted => {
                    *items
                        .entry(addresses.normalize(&event.address))
                        .or_default() += item_count(event);
                    StateStatus::Running
                }
                EventKind::StepStarted | EventKind::TimerStarted | EventKind::RetryScheduled => {
                    StateStatus::Running
                }
                EventKind::StepSucceeded | EventKind::TimerFired | EventKind::MapFinished => {
                    StateStatus::Succeeded
                }
                EventKind::BranchChosen => {
                    // An event stored before details had fields has the label as its text.
                    let details = &event.details;
                    if let Some(label) = details.branch.as_ref().or(details.detail.as_ref()) {
                        chosen
                            .entry(addresses.normalize(&event.address))
                            .or_default()
                            .insert(label.clone());
                    }
                    StateStatus::Succeeded
                }
                EventKind::StepFailed => StateStatus::Failed,
                EventKind::ErrorCaught => {
                    caught.insert(addresses.normalize(&event.address));
                    StateStatus::Caught
                }
                _ => continue,
            };
            per_raw.insert(event.address.as_str(), now);
        }

        let mut own: HashMap<String, StateStatus> = HashMap::new();
        let mut succeeded: HashMap<String, u64> = HashMap::new();
        for (raw, mut now) in per_raw {
            if now == StateStatus::Running && finished {
                now = StateStatus::Cancelled;
            }
            let address = addresses.normalize(raw);
            if now == StateStatus::Succeeded {
                *succeeded.entry(address.clone()).or_default() += 1;
            }
            let entry = own.entry(address).or_insert(now);
            if severity(now) > severity(*entry) {
                *entry = now;
            }
        }
        // Inside a map in flight, a state that succeeded for fewer items than the map has
        // is still running (for the items whose events are not stored yet).
        let running_maps: Vec<(String, u64)> = items
            .into_iter()
            .filter(|(map, _)| own.get(map) == Some(&StateStatus::Running))
            .filter_map(|(map, total)| {
                let label = addresses.maps.get(&map)?;
                Some((format!("{map}/{label}/"), total))
            })
            .collect();
        for (address, status) in &mut own {
            let done = succeeded.get(address).copied().unwrap_or(0);
            if *status == StateStatus::Succeeded
                && running_maps
                    .iter()
                    .any(|(inside, total)| address.starts_with(inside) && done < *total)
            {
                *status = StateStatus::Running;
            }
        }
        if record.status == ExecutionStatus::Failed
            && let Some(at) = record.error.as_ref().and_then(|e| e.address())
        {
            let at = addresses.normalize(at);
            if !matches!(own.get(&at), Some(StateStatus::Succeeded)) {
                own.insert(at, StateStatus::Failed);
            }
        }

        let mut walk = Walk {
            own,
            caught,
            chosen,
            by_address: HashMap::new(),
        };
        walk.sequence(graph.states(), record.status == ExecutionStatus::Succeeded);
        States {
            by_address: walk.by_address,
        }
    }

    /// The status of `node` (a node of the graph it was derived from).
    pub fn status(&self, node: &Node) -> StateStatus {
        self.by_address
            .get(node.address.as_str())
            .copied()
            .unwrap_or(StateStatus::NotReached)
    }
}

/// The item count of a `MapStarted` event; an event stored before details had fields
/// says it in its text (`4 items`).
fn item_count(event: &Event) -> u64 {
    event
        .details
        .items
        .or_else(|| {
            let text = event.details.detail.as_deref()?;
            text.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// Which status wins when several map items disagree.
fn severity(status: StateStatus) -> u8 {
    match status {
        StateStatus::Running => 5,
        StateStatus::Failed => 4,
        StateStatus::Caught => 3,
        StateStatus::Cancelled => 2,
        StateStatus::Succeeded => 1,
        _ => 0,
    }
}

/// The tree walk that gives states without events of their own a status.
struct Walk {
    own: HashMap<String, StateStatus>,
    caught: HashSet<String>,
    chosen: HashMap<String, HashSet<String>>,
    by_address: HashMap<String, StateStatus>,
}

impl Walk {
    /// Gives each state of `sequence` its status; `completed` says the sequence is known
    /// to have finished (its last state succeeded). Returns the worst status in it, if
    /// any state was reached.
    fn sequence(&mut self, sequence: &[Node], completed: bool) -> Option<StateStatus> {
        let mut later_reached = false;
        let mut worst: Option<StateStatus> = None;
        for node in sequence.iter().rev() {
            let status = self.node(node, completed || later_reached);
            if status != StateStatus::NotReached {
                later_reached = true;
                worst = worse(worst, Some(status));
            }
        }
        worst
    }

    /// Gives `node` and everything below it a status; `passed` says control went on
    /// past it (a later state ran, or its sequence finished).
    fn node(&mut self, node: &Node, passed: bool) -> StateStatus {
        let address = node.address.as_str();
        let own = self.own.get(address).copied();
        let mut below: Option<StateStatus> = None;
        for branch in &node.branches {
            let completed = match node.kind {
                NodeKind::Choice => {
                    passed
                        && self
                            .chosen
                            .get(address)
                            .is_some_and(|labels| labels.contains(&branch.label))
                }
                NodeKind::Map => passed || own == Some(StateStatus::Succeeded),
                _ => passed,
            };
            below = worse(below, self.sequence(&branch.states, completed));
        }
        let mut handled = false;
        for catch in &node.catch {
            let entered = self.caught_below(node);
            handled |= entered;
            below = worse(below, self.sequence(&catch.handler, passed && entered));
        }
        let status = match own {
            Some(status) => status,
            None => match below {
                Some(StateStatus::Failed | StateStatus::Caught) if handled => StateStatus::Caught,
                Some(StateStatus::Running) => StateStatus::Running,
                Some(StateStatus::Failed) => StateStatus::Failed,
                _ if passed => StateStatus::Succeeded,
                Some(StateStatus::Cancelled) => StateStatus::Cancelled,
                Some(_) => StateStatus::Running,
                None => StateStatus::NotReached,
            },
        };
        self.by_address.insert(address.to_owned(), status);
        status
    }

    /// Whether an `ErrorCaught` names `node` or a state below it (its catch handled an
    /// error).
    fn caught_below(&self, node: &Node) -> bool {
        let mut addresses = Vec::new();
        collect_addresses(node, &mut addresses);
        addresses.iter().any(|a| self.caught.contains(*a))
    }
}

/// `node`'s address and those of every state below it (not its catch handlers).
fn collect_addresses<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
    out.push(node.address.as_str());
    for branch in &node.branches {
        for state in &branch.states {
            collect_addresses(state, out);
        }
    }
}

fn worse(a: Option<StateStatus>, b: Option<StateStatus>) -> Option<StateStatus> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if severity(b) > severity(a) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// Maps run-time addresses onto graph addresses: a map item's index becomes the label of
/// the map's item branch.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::inspect::Addresses;
///
/// #[step]
/// async fn price(x: u32) -> u32 { x * 2 }
///
/// let workflow = Workflow::new("pricing", 1, map(price));
/// let addresses = Addresses::of(workflow.graph());
/// assert_eq!(addresses.normalize("0.map/17/0.price"), "0.map/item/0.price");
/// assert_eq!(addresses.name_of("0.map/17/0.price"), "price");
/// ```
#[derive(Debug)]
pub struct Addresses {
    /// Map address → the label of its item branch.
    maps: HashMap<String, String>,
    /// Graph address → step name.
    names: HashMap<String, String>,
}

impl Addresses {
    /// The maps and names of `graph`.
    pub fn of(graph: &Graph) -> Self {
        let mut maps = HashMap::new();
        let mut names = HashMap::new();
        for node in graph.nodes() {
            // A condition's polls are numbered like map items (`{state}/{poll}/…`).
            if matches!(node.kind, NodeKind::Map | NodeKind::Condition)
                && let Some(branch) = node.branches.first()
            {
                maps.insert(node.address.to_string(), branch.label.clone());
            }
            names.insert(node.address.to_string(), node.name.clone());
        }
        Addresses { maps, names }
    }

    /// The graph address of the run-time address `raw`.
    pub fn normalize(&self, raw: &str) -> String {
        let mut out = String::with_capacity(raw.len());
        let mut item_label: Option<&str> = None;
        for segment in raw.split('/') {
            if !out.is_empty() {
                out.push('/');
            }
            match item_label {
                Some(label)
                    if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    out.push_str(label);
                }
                _ => out.push_str(segment),
            }
            item_label = self.maps.get(&out).map(String::as_str);
        }
        out
    }

    /// The step name at the run-time address `raw`: from the graph, or else the address's
    /// last `{slot}.{name}` segment.
    pub fn name_of(&self, raw: &str) -> String {
        if let Some(name) = self.names.get(&self.normalize(raw)) {
            return name.clone();
        }
        let last = raw.rsplit('/').next().unwrap_or(raw);
        last.split_once('.')
            .map_or(last, |(_, name)| name)
            .to_owned()
    }
}

/// What an execution is doing now, from its history.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::MemoryStore;
/// use waypost::inspect::Progress;
///
/// #[step]
/// async fn double(x: u32) -> u32 { x * 2 }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::builder().store(MemoryStore::new()).build();
/// let workflow = Workflow::new("double", 1, map(double));
/// runtime.start(&workflow, "d-1", vec![1, 2, 3]).await.unwrap();
///
/// let progress = Progress::of(&runtime.history("d-1").await.unwrap());
/// let step = progress.step.unwrap();
/// assert_eq!(step.address, "0.map/2/0.double");
/// assert!(!step.in_flight);
/// assert!(progress.map.is_none(), "the map finished");
/// # }
/// ```
#[derive(Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// The step last started or finished.
    pub step: Option<StepNow>,
    /// The innermost map in flight.
    pub map: Option<MapNow>,
    /// When the last event happened, in milliseconds since the Unix epoch.
    pub last_event_ms: Option<u64>,
}

/// The step an execution last started or finished.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepNow {
    /// Its run-time address.
    pub address: String,
    /// Its attempt.
    pub attempt: u32,
    /// Whether it started and has not finished (as far as the stored history says).
    pub in_flight: bool,
}

/// A map in flight.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapNow {
    /// Its run-time address.
    pub address: String,
    /// Items finished so far.
    pub done: u64,
    /// Items in all.
    pub total: u64,
}

impl Progress {
    /// Reads `history` for the current step and map.
    pub fn of(history: &[Event]) -> Self {
        let mut progress = Progress {
            last_event_ms: history.last().map(|e| e.at_ms),
            ..Progress::default()
        };
        // Maps in flight, in the order they started.
        let mut maps: Vec<MapNow> = Vec::new();
        for event in history {
            let step = |in_flight| StepNow {
                address: event.address.clone(),
                attempt: event.attempt,
                in_flight,
            };
            match event.kind {
                EventKind::StepStarted => progress.step = Some(step(true)),
                EventKind::StepSucceeded | EventKind::StepFailed => {
                    progress.step = Some(step(false));
                }
                EventKind::MapStarted => maps.push(MapNow {
                    address: event.address.clone(),
                    done: 0,
                    total: item_count(event),
                }),
                EventKind::MapItemFinished => {
                    if let Some((map, _)) = event.address.rsplit_once('/')
                        && let Some(entry) = maps.iter_mut().rev().find(|m| m.address == map)
                    {
                        entry.done += 1;
                    }
                }
                EventKind::MapFinished => maps.retain(|m| m.address != event.address),
                _ => {}
            }
        }
        progress.map = maps.pop();
        progress
    }
}

#[cfg(test)]
mod tests {
    use crate::history::EventDetails;
    use crate::{Error, StepExt, map, parallel, pass, step_fn};

    use super::*;

    /// A task step named `name` from `u32` to `u32`.
    fn task(name: &str) -> impl crate::Step<Input = u32, Output = u32> + use<> {
        step_fn(name.to_owned(), |x: u32| async move { Ok::<_, Error>(x) })
    }

    fn record(status: ExecutionStatus, error: Option<Error>) -> ExecutionRecord {
        ExecutionRecord {
            id: "e".into(),
            workflow: "w".into(),
            version: 1,
            fingerprint: String::new(),
            codec: "json".into(),
            status,
            input: Vec::new(),
            output: None,
            error,
            graph: String::new(),
            redrives: 0,
            recoveries: 0,
            created_ms: 0,
            updated_ms: 0,
            lease: None,
            lease_epoch: 0,
            wake_at_ms: 0,
        }
    }

    /// Each state's name and status, in flow order.
    fn statuses(graph: &Graph, record: &ExecutionRecord, history: &[Event]) -> Vec<String> {
        let states = States::of(graph, record, history);
        graph
            .nodes()
            .iter()
            .map(|n| format!("{} {}", n.name, states.status(n)))
            .collect()
    }

    #[test]
    fn a_failed_branch_fails_its_parallel_and_stops_the_other() {
        let after = step_fn(
            "after",
            |(a, _b): (u32, u32)| async move { Ok::<_, Error>(a) },
        );
        let graph = Graph::of(&parallel((task("a"), task("b"))).then(after));
        let history = [
            event(EventKind::StepStarted, "0.parallel/0/0.a", none()),
            event(EventKind::StepStarted, "0.parallel/1/0.b", none()),
            event(EventKind::StepFailed, "0.parallel/1/0.b", failure()),
        ];
        let error = Error::new("E", "no").at("0.parallel/1/0.b");
        assert_eq!(
            statuses(
                &graph,
                &record(ExecutionStatus::Failed, Some(error)),
                &history
            ),
            [
                "parallel failed",
                "a cancelled",
                "b failed",
                "after not reached"
            ]
        );
    }

    #[test]
    fn a_catch_around_a_group_marks_the_group_caught_and_runs_its_handler() {
        let handler = pass("handle", |(x, _e): (u32, Error)| x);
        let graph = Graph::of(
            &task("a")
                .then(task("b"))
                .catch(["E"], handler)
                .then(pass("done", |x: u32| x)),
        );
        let history = [
            event(EventKind::StepSucceeded, "0.a", none()),
            event(EventKind::StepFailed, "1.b", failure()),
            event(EventKind::ErrorCaught, "1.b", failure()),
        ];
        assert_eq!(
            statuses(&graph, &record(ExecutionStatus::Succeeded, None), &history),
            [
                "group caught",
                "a succeeded",
                "b caught",
                "handle succeeded",
                "done succeeded"
            ]
        );
    }

    #[test]
    fn map_items_map_onto_the_item_branch_and_the_worst_item_wins() {
        let first = step_fn("first", |x: u32| async move { Ok::<_, Error>(vec![x]) });
        let last = step_fn("last", |v: Vec<u32>| async move { Ok::<_, Error>(v.len()) });
        let graph = Graph::of(&first.then(map(task("item"))).then(last));
        let addresses = Addresses::of(&graph);
        assert_eq!(addresses.normalize("1.map/12/0.item"), "1.map/item/0.item");
        assert_eq!(addresses.normalize("0.first"), "0.first");
        assert_eq!(addresses.name_of("1.map/3/0.item"), "item");
        let history = [
            event(EventKind::StepSucceeded, "0.first", none()),
            event(EventKind::MapStarted, "1.map", items(2)),
            event(EventKind::StepSucceeded, "1.map/0/0.item", none()),
            event(EventKind::StepStarted, "1.map/1/0.item", none()),
        ];
        assert_eq!(
            statuses(&graph, &record(ExecutionStatus::Running, None), &history),
            [
                "first succeeded",
                "map running",
                "item running",
                "last not reached"
            ]
        );
        // Item 1's events are not stored yet: the item state is still running.
        let states = States::of(
            &graph,
            &record(ExecutionStatus::Running, None),
            &history[..3],
        );
        let item = &graph.nodes()[2];
        assert_eq!(states.status(item), StateStatus::Running);
    }

    #[test]
    fn states_without_events_succeed_once_the_flow_passed_them() {
        let graph = Graph::of(
            &pass("p", |x: u32| x)
                .then(task("t"))
                .then(pass("q", |x: u32| x)),
        );
        let history = [event(EventKind::StepSucceeded, "1.t", none())];
        assert_eq!(
            statuses(&graph, &record(ExecutionStatus::Running, None), &history),
            ["p succeeded", "t succeeded", "q not reached"]
        );
        assert_eq!(
            statuses(&graph, &record(ExecutionStatus::Succeeded, None), &history),
            ["p succeeded", "t succeeded", "q succeeded"]
        );
    }

    fn event(kind: EventKind, address: &str, details: EventDetails) -> Event {
        Event {
            seq: 0,
            at_ms: 0,
            kind,
            address: address.to_owned(),
            attempt: 1,
            duration_ms: None,
            details,
        }
    }

    fn none() -> EventDetails {
        EventDetails::default()
    }

    fn failure() -> EventDetails {
        EventDetails::error(&Error::new("E", "no"))
    }

    fn items(count: u64) -> EventDetails {
        EventDetails {
            items: Some(count),
            ..EventDetails::default()
        }
    }

    /// The free text of an event stored before details had fields.
    fn legacy(text: &str) -> EventDetails {
        EventDetails {
            detail: Some(text.to_owned()),
            ..EventDetails::default()
        }
    }

    #[test]
    fn progress_follows_the_innermost_map_in_flight() {
        let history = [
            event(EventKind::MapStarted, "0.rows", items(4)),
            event(EventKind::StepStarted, "0.rows/0/0.parse", none()),
            event(EventKind::StepSucceeded, "0.rows/0/0.parse", none()),
            event(EventKind::MapItemFinished, "0.rows/0", none()),
            event(EventKind::StepStarted, "0.rows/1/0.parse", none()),
        ];
        let progress = Progress::of(&history);
        let map = MapNow {
            address: "0.rows".to_owned(),
            done: 1,
            total: 4,
        };
        assert_eq!(progress.map, Some(map));
        let step = StepNow {
            address: "0.rows/1/0.parse".to_owned(),
            attempt: 1,
            in_flight: true,
        };
        assert_eq!(progress.step, Some(step));

        let mut done = history.to_vec();
        done.push(event(EventKind::MapFinished, "0.rows", none()));
        assert_eq!(Progress::of(&done).map, None);
    }

    #[test]
    fn events_of_older_stores_are_read_from_their_text() {
        let history = [
            event(EventKind::MapStarted, "0.rows", legacy("4 items")),
            event(EventKind::MapItemFinished, "0.rows/0", legacy("succeeded")),
        ];
        let map = Progress::of(&history).map.unwrap();
        assert_eq!((map.done, map.total), (1, 4));

        let graph = Graph::of(
            &crate::choice()
                .when("big", |x: &u32| *x > 1, task("big"))
                .otherwise(task("small")),
        );
        let history = [
            event(EventKind::BranchChosen, "0.choice", legacy("big")),
            event(EventKind::StepSucceeded, "0.choice/big/0.big", none()),
        ];
        assert_eq!(
            statuses(&graph, &record(ExecutionStatus::Succeeded, None), &history),
            ["choice succeeded", "big succeeded", "small not reached"]
        );
    }
}
