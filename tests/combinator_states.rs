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
}
