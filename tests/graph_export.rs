//! Exports of a workflow's graph: Mermaid, DOT and Amazon States Language, as
//! snapshots; each export parsed and its flow checked (`support/export.rs`); and the
//! ASL's handling of values it cannot hold as they are.

use std::time::Duration;

use serde_json::Value;
use waypost::export;
use waypost::prelude::*;
use waypost::{Graph, NodeKind};

#[path = "support/export.rs"]
mod support;

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

fn check(graph: &Graph) {
    support::check_exports(
        &export::mermaid(graph),
        &export::dot(graph),
        &export::asl(graph),
    );
}

#[test]
fn every_export_parses_and_every_state_flows_from_the_start_to_an_end() {
    check(orders().graph());
    // Two states named `validate`: the exports must tell them apart.
    let twice = Workflow::new(
        "twice",
        1,
        validate.then(validate).then(parallel((validate, reserve))),
    );
    check(twice.graph());
    let asl = export::asl(twice.graph());
    assert_eq!(
        support::check_asl(&asl).len(),
        twice.graph().nodes().len(),
        "one ASL state per node"
    );

    let asl = export::asl(orders().graph());
    let retry = &asl["States"]["group"]["Branches"][0]["States"]["fulfil"]["Branches"][1]["States"]
        ["charge"]["Retry"][0];
    assert_eq!(
        retry["MaxAttempts"], 3,
        "ASL counts retries, waypost counts attempts"
    );
    assert_eq!(retry["JitterStrategy"], "FULL");
    assert!(
        retry.get("Comment").is_none(),
        "whole seconds need no comment"
    );
}

/// The edges of `graph` by name: `(from, to)`.
fn edges(graph: &Graph) -> Vec<(&str, &str)> {
    let name = |i: usize| graph.nodes()[i].name.as_str();
    graph
        .edges()
        .iter()
        .map(|edge| (name(edge.from), name(edge.to)))
        .collect()
}

#[test]
fn the_ends_of_parallel_branches_and_map_items_lead_to_the_next_state() {
    let wf = Workflow::new(
        "joins",
        1,
        parallel((validate, reserve.then(charge)))
            .named("both")
            .then(pass("first", |(a, _b): (u64, u64)| vec![a]))
            .then(map(notify).named("each"))
            .then(pass("count", |items: Vec<u64>| items.len() as u64)),
    );
    let graph = wf.graph();
    assert_eq!(
        edges(graph),
        [
            ("both", "validate"),
            ("reserve", "charge"),
            ("both", "reserve"),
            ("validate", "first"),
            ("charge", "first"),
            ("first", "each"),
            ("each", "notify"),
            ("notify", "count"),
        ]
    );
    let ends: Vec<&str> = graph
        .ends()
        .iter()
        .map(|i| graph.nodes()[*i].name.as_str())
        .collect();
    assert_eq!(ends, ["count"]);
    check(graph);

    // A parallel that ends the workflow: its branches lead to the end.
    let last = Workflow::new("last", 1, parallel((validate, reserve)));
    let ends: Vec<&str> = last
        .graph()
        .ends()
        .iter()
        .map(|i| last.graph().nodes()[*i].name.as_str())
        .collect();
    assert_eq!(ends, ["validate", "reserve"]);
    check(last.graph());
}

#[test]
fn a_fail_state_goes_on_only_through_its_catch() {
    let recover = pass("recover", |(x, _error): (u64, Error)| x);
    let wf = Workflow::new(
        "caught",
        1,
        fail::<u64, u64>("Boom", "no")
            .catch(["Boom"], recover)
            .then(pass("after", |x: u64| x)),
    );
    assert_eq!(
        edges(wf.graph()),
        [("fail", "recover"), ("recover", "after")]
    );
    check(wf.graph());
}

#[test]
fn states_that_share_an_address_keep_their_own_asl_state() {
    // A retried sequence inside a timed-out one: both groups are `0.group`.
    let policy = RetryPolicy::builder().build();
    let wf = Workflow::new(
        "nested",
        1,
        validate
            .then(reserve)
            .retry(policy)
            .then(charge)
            .timeout(Duration::from_secs(3)),
    );
    let groups: Vec<&str> = wf
        .graph()
        .nodes()
        .iter()
        .filter(|n| n.kind == NodeKind::Group)
        .map(|n| n.address.as_str())
        .collect();
    assert_eq!(groups, ["0.group", "0.group"]);
    let names = support::check_asl(&export::asl(wf.graph()));
    assert_eq!(names.len(), wf.graph().nodes().len(), "{names:?}");
    check(wf.graph());

    // A step named as the export would name a duplicate.
    let wf = Workflow::new(
        "lookalike",
        1,
        validate
            .then(pass("validate (0.validate)", |x: u64| x))
            .then(validate),
    );
    let names = support::check_asl(&export::asl(wf.graph()));
    assert_eq!(
        names.keys().collect::<Vec<_>>(),
        [
            "validate (0.validate)",
            "validate (0.validate, 2)",
            "validate (2.validate)"
        ]
    );
    check(wf.graph());
}

#[test]
fn asl_rounds_what_it_cannot_hold_and_says_so() {
    let policy = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(3)
        .interval(Duration::from_millis(200))
        .backoff_rate(0.5)
        .max_delay(Duration::from_millis(1500))
        .build();
    let wf = Workflow::new(
        "fractions",
        1,
        validate
            .retry(policy)
            .timeout(Duration::from_millis(500))
            .then(wait(Duration::from_millis(2500)))
            .then(wait(Duration::ZERO))
            .catch(["Boom"], pass("handle", |(x, _error): (u64, Error)| x)),
    );
    let asl = export::asl(wf.graph());
    support::check_asl(&asl);
    let states = &asl["States"]["group"]["Branches"][0]["States"];
    let retry = &states["validate"]["Retry"][0];
    assert_eq!(retry["IntervalSeconds"], 1);
    assert_eq!(retry["MaxDelaySeconds"], 2);
    assert_eq!(retry["BackoffRate"], 1.0);
    assert_eq!(
        retry["Comment"],
        "IntervalSeconds: 200ms in waypost, rounded up (ASL takes whole seconds, at least 1); \
         BackoffRate: 0.5 in waypost, raised to 1 (ASL's smallest); \
         MaxDelaySeconds: 1.5s in waypost, rounded up (ASL takes whole seconds, at least 1)"
    );
    assert_eq!(states["validate"]["TimeoutSeconds"], 1);
    assert_eq!(
        states["validate"]["Comment"],
        "TimeoutSeconds: 500ms in waypost, rounded up (ASL takes whole seconds, at least 1)"
    );
    let wait = &states["wait (1.wait)"];
    assert_eq!(wait["Seconds"], 3);
    assert_eq!(
        wait["Comment"],
        "Seconds: 2.5s in waypost, rounded up (ASL takes whole seconds)"
    );
    let zero = &states["wait (2.wait)"];
    assert_eq!(
        (zero["Seconds"].clone(), zero.get("Comment")),
        (Value::from(0), None)
    );
    let catch = &asl["States"]["group"]["Catch"][0];
    assert_eq!(catch["ResultPath"], "$.error");
    assert_eq!(catch["Next"], "handle");
}

#[test]
fn a_callback_state_exports_as_a_wait_for_task_token_task_with_its_limits() {
    let approve = wait_for_callback("approve", |_order: u64, _token: CallbackToken| async {
        Ok(())
    })
    .timeout(Duration::from_secs(3600))
    .heartbeat_timeout(Duration::from_secs(60));
    let wf: Workflow<u64, u64> = Workflow::new("approval", 1, validate.then(approve));
    check(wf.graph());
    let asl = export::asl(wf.graph());
    let state = &asl["States"]["approve"];
    assert_eq!(state["Type"], "Task");
    assert_eq!(
        state["Resource"],
        "waypost:callback:approve.waitForTaskToken"
    );
    assert_eq!(state["TimeoutSeconds"], 3600);
    assert_eq!(state["HeartbeatSeconds"], 60);
    assert!(export::mermaid(wf.graph()).contains("approve"));
    assert!(export::dot(wf.graph()).contains("approve"));
}
