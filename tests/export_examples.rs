//! Every export of every example's workflow, as the example prints it with
//! `--graph <format>`: the ASL parsed as JSON with every state reachable and reaching an
//! end, the DOT rendered by Graphviz and its parsed graph checked the same way, and the
//! Mermaid parsed by its quoting rules and checked the same way.

#[path = "examples/support.rs"]
#[allow(dead_code, reason = "only the example binaries are used here")]
mod examples;
#[path = "support/export.rs"]
mod export;

use std::process::Command;

use serde_json::Value;

/// The graph `example` prints in `format` (without the newline `println!` adds).
fn graph(example: &'static str, format: &str) -> String {
    let output = Command::new(examples::example_binary(example))
        .args(["--graph", format])
        .output()
        .expect("the example starts");
    let mut text = examples::expect_success(&output);
    assert_eq!(text.pop(), Some('\n'), "{example} printed no line");
    text
}

fn check(example: &'static str) {
    let asl: Value = serde_json::from_str(&graph(example, "asl"))
        .unwrap_or_else(|error| panic!("{example}: the ASL is not JSON: {error}"));
    export::check_exports(&graph(example, "mermaid"), &graph(example, "dot"), &asl);
}

#[test]
fn hello() {
    check("hello");
}

#[test]
fn resume() {
    check("resume");
}

#[test]
fn order_processing() {
    check("order_processing");
}

#[test]
fn etl() {
    check("etl");
}

#[test]
fn big_map() {
    check("big_map");
}
