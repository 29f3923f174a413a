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

/// The deadline of `wait_until` at `key`, from the store (ms since the Unix epoch).
async fn stored_deadline(store: &waypost::SqliteStore, id: &str) -> Option<u64> {
    use waypost::Store as _;
    let checkpoints = store.checkpoints(id).await.ok()?;
    checkpoints
        .iter()
        .find(|c| c.kind == waypost::store::CheckpointKind::Deadline)
        .map(|c| u64::from_le_bytes(c.payload[..].try_into().unwrap()))
}

fn ms(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_waits_for_its_time_and_records_it() {
    use waypost::Store as _;
    let dir = tempfile::tempdir().unwrap();
    let store = waypost::SqliteStore::open(dir.path().join("w.db")).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let at = std::time::SystemTime::now() + Duration::from_millis(300);
    let wf = Workflow::new("until", 1, wait_until::<String>(at));
    assert_eq!(
        runtime.start(&wf, "u-1", "same".to_owned()).await.unwrap(),
        "same"
    );
    assert!(std::time::SystemTime::now() >= at, "it waited for its time");
    assert_eq!(stored_deadline(&store, "u-1").await, Some(ms(at)));
    let history = store.history("u-1").await.unwrap();
    let started = history
        .iter()
        .find(|e| e.kind == waypost::EventKind::TimerStarted)
        .unwrap();
    assert!(started.details.delay_ms.unwrap() <= 300, "{started:?}");

    // A time already past does not wait.
    let past = Workflow::new("past", 1, wait_until::<u32>(std::time::UNIX_EPOCH));
    assert_eq!(runtime.start(&past, "p-1", 7).await.unwrap(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_until_input_keeps_the_time_it_gave_first_across_a_resume() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.db");
    // The time is "one second from whenever it is asked": a resumed run that asked
    // again would wait longer than the first deadline.
    let wf = Workflow::new(
        "later",
        1,
        wait_until_input(|_: &u32| {
            ASKED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::time::SystemTime::now() + Duration::from_secs(1)
        }),
    );
    let first = {
        let store = waypost::SqliteStore::open(&path).unwrap();
        let runtime = Runtime::builder().store(store.clone()).build();
        let run = tokio::spawn({
            let wf = wf.clone();
            async move { runtime.start(&wf, "l-1", 3).await }
        });
        let deadline = loop {
            if let Some(deadline) = stored_deadline(&store, "l-1").await {
                break deadline;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        // The process "stops" half-way through the wait.
        tokio::time::sleep(Duration::from_millis(500)).await;
        run.abort();
        let _ = run.await;
        store.close();
        deadline
    };
    let store = waypost::SqliteStore::open(&path).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    use waypost::Store as _;
    let resumed = runtime.resume(&wf, "l-1").await.unwrap();
    assert_eq!(resumed, 3);
    let ended = ms(std::time::SystemTime::now());
    assert_eq!(stored_deadline(&store, "l-1").await, Some(first));
    assert!(ended >= first, "it waited until the first deadline");
    // The resumed run did not ask for a new time: it kept the first one.
    assert_eq!(ASKED.load(std::sync::atomic::Ordering::SeqCst), 1);
    let history = store.history("l-1").await.unwrap();
    let fired = history
        .iter()
        .find(|e| e.kind == waypost::EventKind::TimerFired)
        .unwrap();
    assert!(fired.at_ms >= first, "{fired:?}");
}

/// How often `wait_until_input_keeps_the_time_it_gave_first_across_a_resume` asked for
/// its time.
static ASKED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn wait_until_is_a_timestamp_wait_in_asl() {
    let at = std::time::UNIX_EPOCH + Duration::from_secs(1_735_787_045);
    let fixed = Workflow::new("fixed", 1, wait_until::<u32>(at));
    let asl = waypost::export::asl(fixed.graph());
    assert_eq!(asl["States"]["wait_until"]["Type"], "Wait");
    assert_eq!(
        asl["States"]["wait_until"]["Timestamp"],
        "2025-01-02T03:04:05Z"
    );
    let computed = Workflow::new(
        "computed",
        1,
        wait_until_input(|_: &u32| std::time::SystemTime::now()),
    );
    let asl = waypost::export::asl(computed.graph());
    assert_eq!(asl["States"]["wait_until"]["TimestampPath"], "$");
}

#[tokio::test]
async fn a_named_wait_shows_its_name_in_the_graph_and_the_history() {
    let wf = Workflow::new(
        "cool",
        1,
        waypost::wait::<u32>(std::time::Duration::from_millis(1))
            .named("cool-down")
            .then(waypost::wait_until::<u32>(std::time::SystemTime::now()).named("until-now")),
    );
    let names: Vec<&str> = wf.graph().nodes().iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["cool-down", "until-now"]);
    let runtime = Runtime::builder()
        .store(waypost::MemoryStore::new())
        .build();
    assert_eq!(runtime.start(&wf, "c-1", 5).await.unwrap(), 5);
    let history = runtime.history("c-1").await.unwrap();
    let timers: Vec<&str> = history
        .iter()
        .filter(|e| e.kind == waypost::EventKind::TimerFired)
        .map(|e| e.address.as_str())
        .collect();
    assert_eq!(timers, ["0.cool-down", "1.until-now"]);
}
