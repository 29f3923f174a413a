//! Amazon States Language JSON.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::{name_of, state_names};
use crate::choice::OTHERWISE;
use crate::graph::{Graph, Node, NodeKind, RetrySpec};

/// The graph as an Amazon States Language state machine: `StartAt` and `States`, each
/// state with its `Type`, `Next` or `End`, `Retry` and `Catch` blocks, `Parallel`
/// `Branches`, `Map` `ItemProcessor` with `MaxConcurrency`, and `Choice` rules shown by
/// their labels (their conditions are Rust code). Tasks name their step as
/// `waypost:task:<name>`.
pub fn asl(graph: &Graph) -> Value {
    let names = state_names(graph);
    machine(graph.states(), &names)
}

/// A `{ StartAt, States }` object for one sequence and everything below it.
fn machine(sequence: &[Node], names: &HashMap<String, String>) -> Value {
    let mut states = Map::new();
    add_sequence(sequence, None, &mut states, names);
    let start = sequence.first().map_or("", |node| name_of(names, node));
    json!({ "StartAt": start, "States": states })
}

/// Adds the states of `sequence`; the last one goes on to `after` (or ends).
fn add_sequence(
    sequence: &[Node],
    after: Option<&str>,
    states: &mut Map<String, Value>,
    names: &HashMap<String, String>,
) {
    for (i, node) in sequence.iter().enumerate() {
        let next = sequence.get(i + 1).map(|n| name_of(names, n)).or(after);
        add_state(node, next, states, names);
    }
}

/// The first state of `sequence`, or `after` when it is empty.
fn entry<'a>(
    sequence: &'a [Node],
    after: Option<&'a str>,
    names: &'a HashMap<String, String>,
) -> Option<&'a str> {
    sequence.first().map(|n| name_of(names, n)).or(after)
}

fn add_state(
    node: &Node,
    next: Option<&str>,
    states: &mut Map<String, Value>,
    names: &HashMap<String, String>,
) {
    let mut state = Map::new();
    let detail = |key: &str| {
        node.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut ends_flow = false;
    match node.kind {
        NodeKind::Task => {
            state.insert("Type".into(), "Task".into());
            state.insert(
                "Resource".into(),
                format!("waypost:task:{}", node.name).into(),
            );
        }
        NodeKind::Pass => {
            state.insert("Type".into(), "Pass".into());
        }
        // A waypost succeed state passes its input on to what follows its branch; an
        // ASL `Succeed` would stop the whole machine, so it is drawn as a `Pass`.
        NodeKind::Succeed => {
            state.insert("Type".into(), "Pass".into());
            state.insert("Comment".into(), "succeed: the end of this branch".into());
        }
        NodeKind::Wait => {
            state.insert("Type".into(), "Wait".into());
            let seconds: f64 = detail("seconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            state.insert("Seconds".into(), json!(seconds.ceil() as u64));
        }
        NodeKind::Fail => {
            state.insert("Type".into(), "Fail".into());
            if let Some(error) = detail("error") {
                state.insert("Error".into(), error.into());
            }
            if let Some(cause) = detail("cause") {
                state.insert("Cause".into(), cause.into());
            }
            ends_flow = true;
        }
        NodeKind::Choice => {
            state.insert("Type".into(), "Choice".into());
            let mut choices = Vec::new();
            for branch in &node.branches {
                let target = entry(&branch.states, next, names);
                if branch.label == OTHERWISE {
                    if let Some(target) = target {
                        state.insert("Default".into(), target.into());
                    }
                } else {
                    choices.push(json!({
                        "Comment": format!("rule `{}`", branch.label),
                        "Condition": format!("{{% rust predicate `{}` %}}", branch.label),
                        "Next": target,
                    }));
                }
                add_sequence(&branch.states, next, states, names);
            }
            state.insert("Choices".into(), choices.into());
            ends_flow = true;
        }
        NodeKind::Parallel | NodeKind::Group => {
            state.insert("Type".into(), "Parallel".into());
            let branches: Vec<Value> = node
                .branches
                .iter()
                .map(|b| machine(&b.states, names))
                .collect();
            state.insert("Branches".into(), branches.into());
        }
        NodeKind::Map => {
            state.insert("Type".into(), "Map".into());
            let mut processor =
                machine(node.branches.first().map_or(&[][..], |b| &b.states), names);
            processor["ProcessorConfig"] = json!({ "Mode": "INLINE" });
            state.insert("ItemProcessor".into(), processor);
            if let Some(limit) = detail("max_concurrency").and_then(|v| v.parse::<u64>().ok()) {
                state.insert("MaxConcurrency".into(), limit.into());
            }
        }
    }
    if let Some(timeout) = node.timeout {
        state.insert(
            "TimeoutSeconds".into(),
            json!(timeout.as_secs_f64().ceil() as u64),
        );
    }
    if !node.retry.is_empty() {
        let retry: Vec<Value> = node.retry.iter().map(retrier).collect();
        state.insert("Retry".into(), retry.into());
    }
    if !node.catch.is_empty() {
        let mut catchers = Vec::new();
        for catch in &node.catch {
            catchers.push(json!({
                "ErrorEquals": catch.errors,
                "Next": entry(&catch.handler, next, names),
            }));
            add_sequence(&catch.handler, next, states, names);
        }
        state.insert("Catch".into(), catchers.into());
    }
    if !ends_flow {
        match next {
            Some(next) => state.insert("Next".into(), next.into()),
            None => state.insert("End".into(), true.into()),
        };
    }
    states.insert(name_of(names, node).to_owned(), Value::Object(state));
}

/// An ASL `Retrier`. waypost counts the first attempt in `max_attempts`; ASL's
/// `MaxAttempts` counts retries.
fn retrier(spec: &RetrySpec) -> Value {
    let mut retrier = json!({
        "ErrorEquals": spec.errors,
        "IntervalSeconds": spec.interval.as_secs_f64().ceil() as u64,
        "MaxAttempts": spec.max_attempts.saturating_sub(1),
        "BackoffRate": spec.backoff_rate,
        "JitterStrategy": if spec.jitter { "FULL" } else { "NONE" },
    });
    if let Some(max) = spec.max_delay {
        retrier["MaxDelaySeconds"] = json!(max.as_secs_f64().ceil() as u64);
    }
    retrier
}
