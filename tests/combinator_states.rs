//! The small states: timeout, wait, pass, succeed, fail.

use std::time::Duration;

use tokio::time::Instant;
use waypost::prelude::*;

#[step]
async fn nap(ms: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    ms
}

#[tokio::test(start_paused = true)]
async fn timeout_fires_after_the_limit_and_not_before() {
    let wf = Workflow::new("t", 1, nap.timeout(Duration::from_millis(500)));
    let runtime = Runtime::new();
    assert_eq!(runtime.run(&wf, 499).await.unwrap(), 499);

    let started = Instant::now();
    let err = runtime.run(&wf, 10_000).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(500));
    assert!(err.is_timeout());
    assert_eq!(err.name(), waypost::error::names::TIMEOUT);
    assert_eq!(err.message(), "step `nap` did not finish within 500ms");
    assert_eq!(err.address(), Some("0.nap"));
}

#[tokio::test(start_paused = true)]
async fn wait_pauses_and_passes_the_input_through() {
    let started = Instant::now();
    let wf = Workflow::new("w", 1, wait::<String>(Duration::from_secs(90)));
    assert_eq!(
        Runtime::new().run(&wf, "same".to_string()).await.unwrap(),
        "same"
    );
    assert_eq!(started.elapsed(), Duration::from_secs(90));
}

#[tokio::test]
async fn pass_transforms_and_succeed_passes_through() {
    let wf = Workflow::new(
        "p",
        1,
        pass("split", |s: String| {
            s.split(',').map(str::to_owned).collect::<Vec<_>>()
        })
        .then(succeed()),
    );
    assert_eq!(
        Runtime::new().run(&wf, "a,b".to_string()).await.unwrap(),
        ["a", "b"]
    );
}

#[tokio::test]
async fn fail_returns_its_error_and_is_terminal_in_the_graph() {
    let wf: Workflow<u32, u32> = Workflow::new("f", 1, fail("Unsupported", "no such plan"));
    let err = Runtime::new().run(&wf, 1).await.unwrap_err();
    assert_eq!((err.name(), err.message()), ("Unsupported", "no such plan"));
    assert_eq!(err.kind(), waypost::ErrorKind::Fail);
    assert_eq!(err.address(), Some("0.fail"));

    let graph = wf.graph();
    assert_eq!(graph.nodes().len(), 1);
    assert_eq!(graph.nodes()[0].kind, waypost::graph::NodeKind::Fail);
    assert!(graph.edges().is_empty());

    // Terminal: in a sequence, nothing flows out of it, so the state after it is never
    // reached — and drawn so.
    let wf: Workflow<u32, u32> = Workflow::new(
        "f",
        1,
        fail::<u32, u32>("Unsupported", "no such plan").then(pass("after", |x: u32| x)),
    );
    let graph = wf.graph();
    let names: Vec<_> = graph.nodes().iter().map(|n| n.name.as_str()).collect();
    let fail_at = names.iter().position(|n| *n == "fail").unwrap();
    let after = names.iter().position(|n| *n == "after").unwrap();
    assert!(
        graph.edges().iter().all(|e| e.from != fail_at),
        "an edge leaves the fail state: {:?}",
        graph.edges()
    );
    assert!(graph.edges().iter().all(|e| e.to != after));
    assert_eq!(
        Runtime::new().run(&wf, 1).await.unwrap_err().name(),
        "Unsupported"
    );
}
