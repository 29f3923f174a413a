//! Amazon States Language JSON.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::Names;
use crate::choice::OTHERWISE;
use crate::graph::{Graph, Node, NodeKind, RESOURCE, RetrySpec};

/// The graph as an Amazon States Language state machine: `StartAt` and `States`, each
/// state with its `Type`, `Next` or `End`, `Retry` and `Catch` blocks, `Parallel`
/// `Branches`, `Map` `ItemProcessor` with `MaxConcurrency`, and `Choice` rules shown by
/// their labels (their conditions are Rust code). Tasks name their step as
/// `waypost:task:<name>`, or what they call when their node has a
/// [`RESOURCE`](crate::graph::RESOURCE) detail (`waypost:http:POST`,
/// `waypost:command:<name>`, `waypost:service:<name>`).
///
/// Nothing is changed silently: where ASL cannot hold a value as waypost has it (ASL
/// counts whole seconds, at least 1 for `IntervalSeconds`, `MaxDelaySeconds` and
/// `TimeoutSeconds`; `BackoffRate` is at least 1), the value is rounded up and the
/// retrier's or state's `Comment` gives the real one. A `Catch` has `"ResultPath":
/// "$.error"`: a waypost catch handler gets the state's input along with the error.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::export;
/// use waypost::prelude::*;
///
/// let policy = RetryPolicy::builder().interval(Duration::from_millis(200)).build();
/// let ping = step_fn("ping", |x: u32| async move { Ok(x) });
/// let wf = Workflow::new("quick", 1, ping.retry(policy));
/// let retrier = &export::asl(wf.graph())["States"]["ping"]["Retry"][0];
/// assert_eq!(retrier["IntervalSeconds"], 1);
/// assert_eq!(
///     retrier["Comment"],
///     "IntervalSeconds: 200ms in waypost, rounded up (ASL takes whole seconds, at least 1)"
/// );
/// ```
pub fn asl(graph: &Graph) -> Value {
    let names = Names::new(graph);
    machine(graph.states(), &names)
}

/// A `{ StartAt, States }` object for one sequence and everything below it.
fn machine(sequence: &[Node], names: &Names) -> Value {
    let mut states = Map::new();
    add_sequence(sequence, None, &mut states, names);
    let start = sequence.first().map_or("", |node| target(node, names));
    json!({ "StartAt": start, "States": states })
}

/// Adds the states of `sequence`; the last one goes on to `after` (or ends).
fn add_sequence(
    sequence: &[Node],
    after: Option<&str>,
    states: &mut Map<String, Value>,
    names: &Names,
) {
    for (i, node) in sequence.iter().enumerate() {
        let next = sequence.get(i + 1).map(|n| target(n, names)).or(after);
        add_state(node, next, states, names);
    }
}

/// The first state of `sequence`, or `after` when it is empty.
fn entry<'a>(sequence: &'a [Node], after: Option<&'a str>, names: &'a Names) -> Option<&'a str> {
    sequence.first().map(|n| target(n, names)).or(after)
}

/// The state control goes to when it enters `node`: the state itself, or for a
/// condition (whose own state is the `Choice` after its check) the check's first state.
fn target<'a>(node: &'a Node, names: &'a Names) -> &'a str {
    match (node.kind, node.branches.first()) {
        (NodeKind::Condition, Some(poll)) if poll.states.len() > 1 && !decorated(node) => {
            target(&poll.states[0], names)
        }
        _ => names.of(node),
    }
}

/// Whether `node` has a retry, a catch or a timeout.
fn decorated(node: &Node) -> bool {
    !node.retry.is_empty() || !node.catch.is_empty() || node.timeout.is_some()
}

/// `name`, or `name` with dots added until no state of the graph or of `states` has it.
fn fresh(mut name: String, names: &Names, states: &Map<String, Value>) -> String {
    while names.taken(&name) || states.contains_key(&name) {
        name.push('.');
    }
    name
}

/// A condition's loop: its check's states, going on to the `Choice` named `choice`
/// (`state`, filled here), whose `Default` is the `Wait` between polls, which goes back
/// to the check. Returns the comment that says what ASL cannot: the wait strategy and
/// the most polls.
fn add_condition(
    node: &Node,
    choice: &str,
    next: Option<&str>,
    state: &mut Map<String, Value>,
    states: &mut Map<String, Value>,
    names: &Names,
) -> Option<String> {
    let detail = |key: &str| {
        node.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let (delay, check) = node.branches.first()?.states.split_last()?;
    add_sequence(check, Some(choice), states, names);
    let poll = entry(check, Some(choice), names);
    add_state(delay, poll, states, names);
    // A choice cannot end the machine: when nothing follows, a rule goes to a
    // `Succeed` state of its own.
    let done = match next {
        Some(next) => next.to_owned(),
        None => {
            let name = fresh(format!("{} done", names.of(node)), names, states);
            states.insert(name.clone(), json!({ "Type": "Succeed" }));
            name
        }
    };
    state.insert("Type".into(), "Choice".into());
    state.insert(
        "Choices".into(),
        json!([{
            "Comment": "the check said done (`Check::Done`)",
            "Condition": "{% rust: the check returned `Check::Done` %}",
            "Next": done,
        }]),
    );
    state.insert("Default".into(), names.of(delay).into());
    let check_name = check.first().map_or("", |n| names.of(n));
    Some(format!(
        "wait for a condition: polls `{check_name}` until it says done, at most {} times, \
         then fails with States.ConditionNotMet; between polls: {}",
        detail("max_attempts").unwrap_or("max attempts"),
        detail("strategy").unwrap_or("as its strategy says"),
    ))
}

fn add_state(node: &Node, next: Option<&str>, states: &mut Map<String, Value>, names: &Names) {
    let mut state = Map::new();
    let detail = |key: &str| {
        node.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let mut ends_flow = false;
    let mut comments = Vec::new();
    match node.kind {
        NodeKind::Task => {
            state.insert("Type".into(), "Task".into());
            // A task that calls something names it (`waypost:http:POST`) in its
            // `resource` detail; any other task is its own function.
            let resource = detail(RESOURCE)
                .map_or_else(|| format!("waypost:task:{}", node.name), str::to_owned);
            state.insert("Resource".into(), resource.into());
            // A callback state's limit between heartbeats.
            if let Some(exact) = detail("heartbeat_seconds").and_then(|s| s.parse::<f64>().ok()) {
                let exact = Duration::from_secs_f64(exact);
                let (seconds, note) = whole_seconds("HeartbeatSeconds", exact, 1);
                state.insert("HeartbeatSeconds".into(), seconds.into());
                comments.extend(note);
            }
        }
        NodeKind::Pass => {
            state.insert("Type".into(), "Pass".into());
        }
        // A waypost succeed state passes its input on to what follows its branch; an
        // ASL `Succeed` would stop the whole machine, so it is drawn as a `Pass`.
        NodeKind::Succeed => {
            state.insert("Type".into(), "Pass".into());
            comments.push("succeed: the end of this branch".to_owned());
        }
        NodeKind::Wait if detail("timestamp").is_some() => {
            state.insert("Type".into(), "Wait".into());
            match detail("timestamp") {
                Some("from the input") => {
                    state.insert("TimestampPath".into(), "$".into());
                    comments.push(
                        "TimestampPath: a Rust function of the input gives the time".to_owned(),
                    );
                }
                Some(at) => {
                    state.insert("Timestamp".into(), at.into());
                }
                None => {}
            }
        }
        // The growing delay of a condition's backoff: no one number of seconds.
        NodeKind::Wait if detail("delay").is_some() => {
            state.insert("Type".into(), "Wait".into());
            state.insert("SecondsPath".into(), "$.delay_seconds".into());
            comments.push(format!(
                "SecondsPath: the delay grows in waypost ({}), so ASL reads it from the input",
                detail("delay").unwrap_or_default()
            ));
        }
        // A `Choice` takes no `Retry`, `Catch` or `TimeoutSeconds`: a condition that
        // has them is its loop in a one-branch `Parallel`, which does.
        NodeKind::Condition if decorated(node) => {
            state.insert("Type".into(), "Parallel".into());
            let mut loop_states = Map::new();
            let mut choice = Map::new();
            let name = fresh(format!("{} done?", names.of(node)), names, &loop_states);
            comments.extend(add_condition(
                node,
                &name,
                None,
                &mut choice,
                &mut loop_states,
                names,
            ));
            loop_states.insert(name.clone(), Value::Object(choice));
            let check = node.branches.first().map_or(&[][..], |b| &b.states[..]);
            let start = check.first().map_or(name.as_str(), |n| target(n, names));
            state.insert(
                "Branches".into(),
                json!([{ "StartAt": start, "States": loop_states }]),
            );
        }
        NodeKind::Condition => {
            comments.extend(add_condition(
                node,
                names.of(node),
                next,
                &mut state,
                states,
                names,
            ));
            ends_flow = true;
        }
        NodeKind::Wait => {
            state.insert("Type".into(), "Wait".into());
            let exact = detail("seconds").and_then(|s| s.parse::<f64>().ok());
            match exact.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                Some(exact) => {
                    let (seconds, note) = whole_seconds("Seconds", exact, 0);
                    state.insert("Seconds".into(), seconds.into());
                    comments.extend(note);
                }
                None => comments.push(format!(
                    "Seconds: `{}` in waypost, not a duration",
                    detail("seconds").unwrap_or_default()
                )),
            }
        }
        NodeKind::Fail => {
            state.insert("Type".into(), "Fail".into());
            if let Some(error) = detail("error") {
                state.insert("Error".into(), error.into());
            }
            if let Some(cause) = detail("cause") {
                state.insert("Cause".into(), cause.into());
            }
            if detail("error_path").is_some() {
                state.insert("ErrorPath".into(), "$.error.name".into());
                state.insert("CausePath".into(), "$.error.message".into());
                comments.push("ErrorPath: a Rust function of the input gives the error".to_owned());
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
            if let Some(completion) = detail("completion") {
                comments.push(format!(
                    "completion: {completion} wins in waypost (the others are cancelled); an \
                     ASL Parallel waits for every branch"
                ));
            }
            if let Some(limit) = detail("max_concurrency") {
                comments.push(format!(
                    "max_concurrency: {limit} branches at once in waypost; an ASL Parallel \
                     starts every branch at once"
                ));
            }
            comments.extend(completion_comments(&detail, "branch"));
        }
        NodeKind::Map => {
            state.insert("Type".into(), "Map".into());
            let mut processor =
                machine(node.branches.first().map_or(&[][..], |b| &b.states), names);
            // Items that each run as a child execution spread over the workers, as
            // Step Functions' Distributed Map does.
            let distributed = node.branches.first().is_some_and(|b| {
                matches!(&b.states[..], [state] if state.details.iter().any(|(k, v)| {
                    k == RESOURCE && v.starts_with("waypost:execution:")
                }))
            });
            let mode = if distributed { "DISTRIBUTED" } else { "INLINE" };
            processor["ProcessorConfig"] = json!({ "Mode": mode });
            state.insert("ItemProcessor".into(), processor);
            if let Some(limit) = detail("max_concurrency").and_then(|v| v.parse::<u64>().ok()) {
                state.insert("MaxConcurrency".into(), limit.into());
            }
            if let Some(count) =
                detail("tolerated_failure_count").and_then(|v| v.parse::<u64>().ok())
            {
                state.insert("ToleratedFailureCount".into(), count.into());
            }
            if let Some(pct) =
                detail("tolerated_failure_percentage").and_then(|v| v.parse::<f64>().ok())
            {
                state.insert("ToleratedFailurePercentage".into(), pct.into());
            }
            comments.extend(completion_comments(&detail, "item"));
        }
    }
    if let Some(timeout) = node.timeout {
        let (seconds, note) = whole_seconds("TimeoutSeconds", timeout, 1);
        state.insert("TimeoutSeconds".into(), seconds.into());
        comments.extend(note);
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
                "ResultPath": "$.error",
            }));
            add_sequence(&catch.handler, next, states, names);
        }
        state.insert("Catch".into(), catchers.into());
    }
    if !comments.is_empty() {
        state.insert("Comment".into(), comments.join("; ").into());
    }
    if !ends_flow {
        match next {
            Some(next) => state.insert("Next".into(), next.into()),
            None => state.insert("End".into(), true.into()),
        };
    }
    states.insert(names.of(node).to_owned(), Value::Object(state));
}

/// The most retries an ASL `Retrier` takes (`MaxAttempts`).
const MAX_RETRIES: u32 = 99_999_999;

/// An ASL `Retrier`. waypost counts the first attempt in `max_attempts`; ASL's
/// `MaxAttempts` counts retries. Values ASL cannot hold are rounded, and the retrier's
/// `Comment` says so.
fn retrier(spec: &RetrySpec) -> Value {
    let mut notes = Vec::new();
    let (interval, note) = whole_seconds("IntervalSeconds", spec.interval, 1);
    notes.extend(note);
    let retries = spec.max_attempts.saturating_sub(1);
    if retries > MAX_RETRIES {
        notes.push(format!(
            "MaxAttempts: {retries} retries in waypost, capped at ASL's limit"
        ));
    }
    // `f64::max` is 1.0 for NaN too.
    let backoff_rate = spec.backoff_rate.max(1.0);
    if backoff_rate != spec.backoff_rate {
        notes.push(format!(
            "BackoffRate: {} in waypost, raised to 1 (ASL's smallest)",
            spec.backoff_rate
        ));
    }
    let mut retrier = json!({
        "ErrorEquals": spec.errors,
        "IntervalSeconds": interval,
        "MaxAttempts": retries.min(MAX_RETRIES),
        "BackoffRate": backoff_rate,
        "JitterStrategy": if spec.jitter { "FULL" } else { "NONE" },
    });
    if let Some(max) = spec.max_delay {
        let (max, note) = whole_seconds("MaxDelaySeconds", max, 1);
        retrier["MaxDelaySeconds"] = max.into();
        notes.extend(note);
    }
    if !notes.is_empty() {
        retrier["Comment"] = notes.join("; ").into();
    }
    retrier
}

/// `exact` in the whole seconds (at least `min`) of the ASL field `field`, and a note
/// giving the real value when that is not `exact`.
fn whole_seconds(field: &str, exact: Duration, min: u64) -> (u64, Option<String>) {
    let mut seconds = exact.as_secs();
    if exact.subsec_nanos() > 0 {
        seconds += 1;
    }
    let seconds = seconds.max(min);
    let note = (Duration::from_secs(seconds) != exact).then(|| {
        let at_least = if min > 0 {
            format!(", at least {min}")
        } else {
            String::new()
        };
        format!("{field}: {exact:?} in waypost, rounded up (ASL takes whole seconds{at_least})")
    });
    (seconds, note)
}

/// What ASL cannot say of a settled map or parallel: its settled output, min
/// successful and predicate (and, for a parallel, its tolerated failures).
fn completion_comments<'a>(detail: &impl Fn(&str) -> Option<&'a str>, what: &str) -> Vec<String> {
    let mut comments = Vec::new();
    let whats = if what == "branch" {
        "branches"
    } else {
        "items"
    };
    if detail("settled").is_some() {
        comments.push(format!(
            "settled: the output is each {what}'s outcome with the completion reason and \
             counts; exceeding the tolerated failures ends the state instead of failing it"
        ));
    }
    if what == "branch" {
        if let Some(count) = detail("tolerated_failure_count") {
            comments.push(format!("tolerated failures: {count} branches"));
        }
        if let Some(pct) = detail("tolerated_failure_percentage") {
            comments.push(format!("tolerated failures: {pct}% of the branches"));
        }
    }
    if let Some(min) = detail("min_successful") {
        comments.push(format!(
            "min successful: {min}; the state completes once {min} {whats} succeeded in \
             order, no ASL equivalent"
        ));
    }
    if detail("complete_when").is_some() {
        comments.push(format!(
            "complete when: a predicate over the counts, checked after each {what} in order, \
             no ASL equivalent"
        ));
    }
    comments
}
