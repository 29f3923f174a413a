//! Exports of a workflow's graph: Mermaid, DOT and Amazon States Language, as
//! snapshots, plus a check of the ASL's structure and a Graphviz render when `dot` is
//! installed.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use waypost::export;
use waypost::prelude::*;

#[step]
async fn validate(order: u64) -> u64 {
    order
}
#[step]
async fn express(order: u64) -> u64 {
    order
}
#[step]
async fn standard(order: u64) -> u64 {
    order
}
#[step]
async fn reserve(order: u64) -> u64 {
    order
}
#[step]
async fn charge(order: u64) -> u64 {
    order
}
#[step]
async fn ship((reserved, _charged): (u64, u64)) -> Vec<u64> {
    vec![reserved]
}
#[step]
async fn notify(item: u64) -> u64 {
    item
}
#[step]
async fn release((_order, _error): (u64, Error)) -> Vec<u64> {
    Vec::new()
}

/// Every kind of state: choice with `otherwise`, a parallel with a retried branch, a
/// map with a concurrency limit, a wait, a catch around a sequence, and a fail.
fn orders() -> Workflow<u64, Vec<u64>> {
    let retry = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(4)
        .interval(Duration::from_secs(2))
        .backoff_rate(1.5)
        .max_delay(Duration::from_secs(30))
        .jitter(Jitter::Full)
        .build();
    let shipping = choice()
        .named("shipping")
        .when("express", |o: &u64| *o > 100, express)
        .when(
            "blocked",
            |o: &u64| *o == 13,
            fail("Blocked", "order 13 is blocked"),
        )
        .otherwise(standard);
    Workflow::new(
        "orders",
        1,
        validate
            .timeout(Duration::from_secs(5))
            .then(shipping)
            .then(parallel((reserve, charge.retry(retry))).named("fulfil"))
            .then(ship)
            .catch(["PaymentDeclined"], release)
            .then(wait(Duration::from_secs(60)))
            .then(map(notify).max_concurrency(8).named("notify-all")),
    )
}

#[test]
fn mermaid_snapshot() {
    insta::assert_snapshot!(export::mermaid(orders().graph()));
}

#[test]
fn dot_snapshot() {
    insta::assert_snapshot!(export::dot(orders().graph()));
}

#[test]
fn asl_snapshot() {
    insta::assert_snapshot!(serde_json::to_string_pretty(&export::asl(orders().graph())).unwrap());
}

/// Checks one `{StartAt, States}` machine and the machines nested in it; collects every
/// state name into `all`.
fn check_machine(machine: &Value, all: &mut Vec<String>) {
    let states = machine["States"].as_object().expect("States is an object");
    let start = machine["StartAt"].as_str().expect("StartAt is a string");
    assert!(
        states.contains_key(start),
        "StartAt `{start}` is not a state"
    );
    let exists = |target: &Value, from: &str| {
        let target = target
            .as_str()
            .unwrap_or_else(|| panic!("`{from}` has a non-string target"));
        assert!(
            states.contains_key(target),
            "`{from}` goes to `{target}`, which is not a state here"
        );
    };
    for (name, state) in states {
        all.push(name.clone());
        let kind = state["Type"].as_str().unwrap();
        match kind {
            "Choice" => {
                for rule in state["Choices"].as_array().unwrap() {
                    exists(&rule["Next"], name);
                }
                if let Some(default) = state.get("Default") {
                    exists(default, name);
                }
            }
            "Fail" | "Succeed" => assert!(state.get("Next").is_none(), "`{name}` is terminal"),
            _ => {
                let ends = state.get("End") == Some(&Value::Bool(true));
                match state.get("Next") {
                    Some(next) => exists(next, name),
                    None => assert!(ends, "`{name}` neither goes on nor ends"),
                }
            }
        }
        for catcher in state
            .get("Catch")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            exists(&catcher["Next"], name);
        }
        for branch in state
            .get("Branches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            check_machine(branch, all);
        }
        if let Some(processor) = state.get("ItemProcessor") {
            check_machine(processor, all);
        }
    }
}

#[test]
fn asl_every_next_exists_every_branch_ends_and_names_are_unique() {
    // Two states named `validate`: the export must tell them apart.
    let twice = Workflow::new(
        "twice",
        1,
        validate.then(validate).then(parallel((validate, reserve))),
    );
    for graph in [orders().graph().clone(), twice.graph().clone()] {
        let asl = export::asl(&graph);
        let mut names = Vec::new();
        check_machine(&asl, &mut names);
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "duplicate state names in {names:?}"
        );
        assert_eq!(names.len(), graph.nodes().len(), "one ASL state per node");
    }
    let asl = export::asl(orders().graph());
    let retry = &asl["States"]["group"]["Branches"][0]["States"]["fulfil"]["Branches"][1]["States"]
        ["charge"]["Retry"][0];
    assert_eq!(
        retry["MaxAttempts"], 3,
        "ASL counts retries, waypost counts attempts"
    );
    assert_eq!(retry["JitterStrategy"], "FULL");
}

#[test]
fn dot_renders_with_graphviz_when_it_is_installed() {
    let Ok(mut child) = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("skipped: graphviz `dot` is not installed");
        return;
    };
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(export::dot(orders().graph()).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
}
