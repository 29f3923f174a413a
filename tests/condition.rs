//! Wait for a condition: a check polled until it says done, with durable waits between
//! polls. On tokio's paused clock (with a host whose wall clock follows it): how many
//! polls, exactly how much virtual time, the state carried from poll to poll, the
//! history, max attempts, retry and catch, and a resume that neither polls again nor
//! draws its jitter again. On the real clock: a worker parks the execution while it
//! waits. Across a real SIGKILL: this test binary re-runs itself as a child process
//! (`--ignored --exact condition_child`) on a SQLite store, killed while it waits
//! between polls; a second child polls on from the last checkpointed state.
//! And the exports: snapshots of Mermaid, DOT and ASL, each parsed and its flow checked.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{
    EventKind, ExecutionStatus, Host, MemoryStore, RuntimeConfig, SqliteStore, Store, Worker,
    WorkerOptions, export,
};

#[path = "support/process.rs"]
mod process;
#[path = "support/export.rs"]
mod support;

static_assertions::assert_impl_all!(
    waypost::WaitForCondition<is_ready>: Step, Send, Sync, std::fmt::Debug
);
static_assertions::assert_impl_all!(
    WaitStrategy: Send, Sync, Copy, Default, PartialEq, std::fmt::Debug, std::fmt::Display,
    serde::Serialize
);
static_assertions::assert_impl_all!(Check<u32>: Send, Sync, Clone, std::fmt::Debug, serde::Serialize);

/// A host whose wall clock follows tokio's (paused) clock, so that recorded deadlines
/// and virtual time agree to the millisecond.
#[derive(Debug)]
struct PausedClockHost {
    start_wall: SystemTime,
    start: tokio::time::Instant,
}

impl PausedClockHost {
    fn new() -> Arc<Self> {
        Arc::new(PausedClockHost {
            start_wall: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            start: tokio::time::Instant::now(),
        })
    }

    fn now_ms(&self) -> u64 {
        ms(self.now())
    }
}

impl Host for PausedClockHost {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        rayon::spawn(job);
    }

    fn now(&self) -> SystemTime {
        self.start_wall + self.start.elapsed()
    }
}

fn ms(time: SystemTime) -> u64 {
    u64::try_from(time.duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

/// A delay's recorded deadline (ms since the Unix epoch): the delay's output, in the
/// default codec.
fn recorded_deadline(kind: CheckpointKind, payload: &[u8]) -> u64 {
    assert_eq!(kind, CheckpointKind::Output, "kept by a redrive");
    waypost::codec::decode(&waypost::BincodeCodec, payload, "a deadline").unwrap()
}

fn runtime(store: &Arc<dyn Store>, host: &Arc<PausedClockHost>) -> Runtime {
    Runtime::builder()
        .shared_store(Arc::clone(store))
        .host(Arc::clone(host) as _)
        .build()
}

/// A check over a counter: each poll adds one and says done when it reaches `done_at`.
/// It logs each real run (the state it got, and when on the host's clock), and can be
/// told to fail on a given state.
#[derive(Clone)]
struct Polls {
    done_at: u32,
    host: Arc<PausedClockHost>,
    seen: Arc<Mutex<Vec<(u32, u64)>>>,
    fail: Arc<Mutex<Option<Failure>>>,
}

/// Fail with this error name (1) when the check gets this state (0), this many times
/// (2).
type Failure = (u32, &'static str, u32);

impl Polls {
    fn new(done_at: u32, host: &Arc<PausedClockHost>) -> Self {
        Polls {
            done_at,
            host: Arc::clone(host),
            seen: Arc::default(),
            fail: Arc::default(),
        }
    }

    fn failing(self, on: u32, name: &'static str, times: u32) -> Self {
        *self.fail.lock().unwrap() = Some((on, name, times));
        self
    }

    fn step(&self) -> impl Step<Input = u32, Output = Check<u32>> + use<> {
        let polls = self.clone();
        step_fn("check", move |looks: u32| {
            let polls = polls.clone();
            async move {
                polls
                    .seen
                    .lock()
                    .unwrap()
                    .push((looks, polls.host.now_ms()));
                let mut fail = polls.fail.lock().unwrap();
                if let Some((on, name, times)) = fail.as_mut()
                    && *on == looks
                    && *times > 0
                {
                    *times -= 1;
                    return Err(Error::new(*name, format!("the check failed on {looks}")));
                }
                Ok(Check::done_if(looks + 1 >= polls.done_at, looks + 1))
            }
        })
    }

    /// The states the check got, in order.
    fn states(&self) -> Vec<u32> {
        self.seen.lock().unwrap().iter().map(|(s, _)| *s).collect()
    }

    /// When each poll ran, in seconds from `start_ms`.
    fn seconds_from(&self, start_ms: u64) -> Vec<f64> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, at)| (*at - start_ms) as f64 / 1000.0)
            .collect()
    }
}

fn until(polls: &Polls, strategy: WaitStrategy) -> Workflow<u32, u32> {
    Workflow::new(
        "until",
        1,
        wait_for_condition(polls.step())
            .named("until")
            .strategy(strategy),
    )
}

#[tokio::test(start_paused = true)]
async fn fixed_delays_poll_until_done_carrying_the_state_in_exact_virtual_time() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(4, &host);
    let wf = until(
        &polls,
        WaitStrategy::fixed(Duration::from_secs(10)).max_attempts(10),
    );
    let start = host.now_ms();
    let started = tokio::time::Instant::now();
    assert_eq!(runtime(&store, &host).start(&wf, "f", 0).await.unwrap(), 4);
    assert_eq!(started.elapsed(), Duration::from_secs(30), "three delays");
    assert_eq!(
        polls.states(),
        [0, 1, 2, 3],
        "each poll got the last one's state"
    );
    assert_eq!(polls.seconds_from(start), [0.0, 10.0, 20.0, 30.0]);
}

#[tokio::test(start_paused = true)]
async fn exponential_delays_grow_up_to_their_cap() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(6, &host);
    let wf = until(
        &polls,
        WaitStrategy::exponential(Duration::from_secs(1))
            .rate(2.0)
            .max_delay(Duration::from_secs(3)),
    );
    let start = host.now_ms();
    let started = tokio::time::Instant::now();
    assert_eq!(runtime(&store, &host).start(&wf, "e", 0).await.unwrap(), 6);
    // Delays 1, 2, 3 (capped from 4), 3, 3.
    assert_eq!(polls.seconds_from(start), [0.0, 1.0, 3.0, 6.0, 9.0, 12.0]);
    assert_eq!(started.elapsed(), Duration::from_secs(12));
}

#[tokio::test(start_paused = true)]
async fn each_poll_and_each_delay_is_in_the_history() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(3, &host);
    let wf = until(
        &polls,
        WaitStrategy::fixed(Duration::from_millis(1500)).max_attempts(5),
    );
    let runtime = runtime(&store, &host);
    runtime.start(&wf, "h", 0).await.unwrap();
    let history = runtime.history("h").await.unwrap();
    let of = |kind: EventKind| -> Vec<(String, String)> {
        history
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| (e.address.clone(), e.summary()))
            .collect()
    };
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(a, s)| ((*a).to_owned(), (*s).to_owned()))
            .collect()
    };
    assert_eq!(
        of(EventKind::ConditionPolled),
        pairs(&[
            ("0.until/1", "poll 1: not done"),
            ("0.until/2", "poll 2: not done"),
            ("0.until/3", "poll 3: done"),
        ])
    );
    assert_eq!(
        of(EventKind::StepSucceeded),
        pairs(&[
            ("0.until/1/0.check", ""),
            ("0.until/2/0.check", ""),
            ("0.until/3/0.check", ""),
        ])
    );
    assert_eq!(
        of(EventKind::TimerStarted),
        pairs(&[("0.until/1/1.delay", "1.5s"), ("0.until/2/1.delay", "1.5s")])
    );
    assert_eq!(of(EventKind::TimerFired).len(), 2);

    // The CLI's and console's read model maps each poll onto the graph's states.
    let graph = wf.graph();
    let addresses = waypost::inspect::Addresses::of(graph);
    assert_eq!(
        addresses.normalize("0.until/3/0.check"),
        "0.until/poll/0.check"
    );
    assert_eq!(addresses.name_of("0.until/2/1.delay"), "delay");
    let record = runtime.execution("h").await.unwrap();
    let states = waypost::inspect::States::of(graph, &record, &history);
    let statuses: Vec<(&str, export::StateStatus)> = graph
        .nodes()
        .iter()
        .map(|n| (n.name.as_str(), states.status(n)))
        .collect();
    assert_eq!(
        statuses,
        [
            ("until", export::StateStatus::Succeeded),
            ("check", export::StateStatus::Succeeded),
            ("delay", export::StateStatus::Succeeded),
        ]
    );
    let polled = history
        .iter()
        .find(|e| e.kind == EventKind::ConditionPolled)
        .unwrap();
    assert_eq!(
        (polled.details.poll, polled.details.done),
        (Some(1), Some(false))
    );
}

#[tokio::test(start_paused = true)]
async fn too_many_polls_fail_by_name_saying_how_many_ran_and_can_be_caught() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(100, &host);
    let strategy = WaitStrategy::fixed(Duration::from_secs(5)).max_attempts(3);
    let started = tokio::time::Instant::now();
    let error = runtime(&store, &host)
        .start(&until(&polls, strategy), "m", 0)
        .await
        .unwrap_err();
    let RunError::Failed { error, .. } = error else {
        panic!("{error}");
    };
    assert_eq!(error.name(), "States.ConditionNotMet");
    assert!(error.message().contains("made 3 polls"), "{error}");
    assert_eq!(error.address(), Some("0.until"));
    assert_eq!(polls.states(), [0, 1, 2]);
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(10),
        "no delay after the last poll"
    );

    // A catch matches it by name.
    let polls = Polls::new(100, &host);
    let wf = Workflow::new(
        "caught",
        1,
        wait_for_condition(polls.step()).strategy(strategy).catch(
            ["States.ConditionNotMet"],
            pass("gave_up", |(_input, _error): (u32, Error)| 0),
        ),
    );
    assert_eq!(runtime(&store, &host).start(&wf, "c", 7).await.unwrap(), 0);
    assert_eq!(polls.states(), [7, 8, 9]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_check_is_retried_per_poll_or_with_the_whole_state_and_caught() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let strategy = WaitStrategy::fixed(Duration::from_secs(1)).max_attempts(10);
    let policy = RetryPolicy::builder()
        .errors(["Flaky"])
        .max_attempts(2)
        .interval(Duration::from_secs(1))
        .build();

    // A retry on the check tries that poll again, with the same state.
    let polls = Polls::new(3, &host).failing(1, "Flaky", 1);
    let wf = Workflow::new(
        "per-poll",
        1,
        wait_for_condition(polls.step().retry(policy.clone())).strategy(strategy),
    );
    assert_eq!(runtime(&store, &host).start(&wf, "p", 0).await.unwrap(), 3);
    assert_eq!(polls.states(), [0, 1, 1, 2]);

    // A retry around the state polls anew from its input.
    let polls = Polls::new(3, &host).failing(1, "Flaky", 1);
    let wf = Workflow::new(
        "whole",
        1,
        wait_for_condition(polls.step())
            .strategy(strategy)
            .retry(policy.clone()),
    );
    assert_eq!(runtime(&store, &host).start(&wf, "w", 0).await.unwrap(), 3);
    assert_eq!(polls.states(), [0, 1, 0, 1, 2]);

    // Without a retry the check's error fails the state; a catch handles it.
    let polls = Polls::new(3, &host).failing(1, "Broken", 1);
    let wf = Workflow::new(
        "caught",
        1,
        wait_for_condition(polls.step()).strategy(strategy).catch(
            ["Broken"],
            pass("fallback", |(input, error): (u32, Error)| {
                assert_eq!(error.name(), "Broken");
                input + 100
            }),
        ),
    );
    assert_eq!(
        runtime(&store, &host).start(&wf, "k", 0).await.unwrap(),
        100
    );
    assert_eq!(polls.states(), [0, 1]);
    let polls = Polls::new(3, &host).failing(1, "Broken", 1);
    let error = runtime(&store, &host)
        .start(&until(&polls, strategy), "u", 0)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Broken"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_bad_strategy_is_a_named_error_not_a_panic() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(3, &host);
    let none = WaitStrategy::fixed(Duration::from_secs(1)).max_attempts(0);
    let error = runtime(&store, &host)
        .start(&until(&polls, none), "z", 0)
        .await
        .unwrap_err();
    let RunError::Failed { error, .. } = error else {
        panic!("{error}");
    };
    assert_eq!(error.name(), "States.Runtime");
    assert!(error.message().contains("max_attempts 0"), "{error}");
    assert!(polls.states().is_empty());
}

/// Dropped while it waits after its second poll, then resumed: the two polls are not
/// run again, the third gets their state, and it runs exactly at the deadline recorded
/// before the interruption — the jitter was drawn once.
#[tokio::test(start_paused = true)]
async fn a_resumed_execution_keeps_its_polls_and_its_jittered_deadline() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(4, &host);
    let wf = until(
        &polls,
        WaitStrategy::exponential(Duration::from_secs(60))
            .rate(2.0)
            .jitter(Jitter::Full)
            .max_attempts(10),
    );
    let runtime = runtime(&store, &host);
    let deadline = |store: Arc<dyn Store>, key: &'static str| async move {
        store
            .checkpoints("r")
            .await
            .unwrap()
            .iter()
            .find(|c| c.key == key)
            .map(|c| recorded_deadline(c.kind, &c.payload))
    };
    {
        let seen = Arc::clone(&polls.seen);
        let run = runtime.start(&wf, "r", 0);
        tokio::select! {
            _ = run => panic!("the execution finished before the interruption"),
            () = async {
                while seen.lock().unwrap().len() < 2 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // Into the delay after the second poll.
                tokio::time::sleep(Duration::from_millis(1)).await;
            } => {}
        }
    }
    let second = deadline(Arc::clone(&store), "0.until/2/1.delay")
        .await
        .expect("the second delay's deadline is recorded");
    assert_eq!(polls.states(), [0, 1]);

    assert_eq!(runtime.resume(&wf, "r").await.unwrap(), 4);
    assert_eq!(polls.states(), [0, 1, 2, 3], "no poll ran twice");
    let third_at = polls.seen.lock().unwrap()[2].1;
    assert_eq!(
        third_at, second,
        "the third poll ran at the deadline recorded before the interruption"
    );
    assert_eq!(
        deadline(Arc::clone(&store), "0.until/2/1.delay").await,
        Some(second)
    );
}

/// A redrive after a failed poll keeps the polls that finished and the delays between
/// them: it polls again at once, from the last state, instead of waiting every delay
/// again.
#[tokio::test(start_paused = true)]
async fn a_redrive_polls_on_from_the_last_state_without_waiting_again() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let polls = Polls::new(4, &host).failing(2, "Broken", 1);
    let wf = until(
        &polls,
        WaitStrategy::fixed(Duration::from_secs(10)).max_attempts(10),
    );
    let runtime = runtime(&store, &host);
    let error = runtime.start(&wf, "d", 0).await.unwrap_err();
    assert!(error.to_string().contains("Broken"), "{error}");
    assert_eq!(polls.states(), [0, 1, 2]);

    let redriven = tokio::time::Instant::now();
    assert_eq!(runtime.redrive(&wf, "d").await.unwrap(), 4);
    assert_eq!(
        polls.states(),
        [0, 1, 2, 2, 3],
        "the failed poll, then one more"
    );
    assert_eq!(
        redriven.elapsed(),
        Duration::from_secs(10),
        "one delay: the two before the failure are not waited again"
    );
}

// ---------------------------------------------------------------------------------------
// A worker parks the execution while it waits (real clock, counts only).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_parks_the_execution_between_polls_and_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path().join("w.db")).unwrap());
    let runs = Arc::new(Mutex::new(Vec::new()));
    let check = {
        let runs = Arc::clone(&runs);
        step_fn("check", move |looks: u32| {
            let runs = Arc::clone(&runs);
            async move {
                runs.lock().unwrap().push(looks);
                Ok::<_, Error>(Check::done_if(looks + 1 >= 3, looks + 1))
            }
        })
    };
    let wf = Workflow::new(
        "parked",
        1,
        wait_for_condition(check)
            .named("until")
            .strategy(WaitStrategy::fixed(Duration::from_secs(2)).max_attempts(5)),
    );
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let handle = runtime.submit(&wf, "p", 0).await.unwrap();
    let options = WorkerOptions::builder()
        .poll_interval(Duration::from_millis(20))
        .park_waits_over(Duration::from_millis(300))
        .shutdown_grace(Duration::from_millis(100))
        .build();
    let worker = Worker::new(
        Runtime::builder().shared_store(Arc::clone(&store)).build(),
        options,
    )
    .register(&wf);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));

    // Parked while it waits: no lease held, due when the delay ends.
    let parked = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let record = handle.record().await.unwrap();
            if record.lease.is_none() && record.wake_at_ms > waypost::store::now_ms() {
                return record;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the worker parked the execution");
    assert_eq!(parked.status, ExecutionStatus::Running);

    let output = tokio::time::timeout(Duration::from_secs(20), handle.output())
        .await
        .expect("the execution finished");
    assert_eq!(output.unwrap(), 3);
    let _ = stop.send(());
    let report = running.await.unwrap().unwrap();
    assert_eq!(report.parked, 2, "parked in each of the two delays");
    assert_eq!(*runs.lock().unwrap(), [0, 1, 2], "each poll ran once");
    assert_eq!(handle.record().await.unwrap().recoveries, 0);
}

// ---------------------------------------------------------------------------------------
// Across a SIGKILL.

const EXECUTION: &str = "job-1";

fn log(line: &str) {
    process::log_to("WAYPOST_CONDITION_LOG", line);
}

/// The state is the list of polls made so far; done at the fourth.
#[step]
async fn job_done(polls: Vec<u32>) -> Check<Vec<u32>> {
    let n = u32::try_from(polls.len()).unwrap() + 1;
    log(&format!("poll {n} saw {polls:?}"));
    let mut polls = polls;
    polls.push(n);
    Check::done_if(n >= 4, polls)
}

#[step]
async fn summarize(polls: Vec<u32>) -> String {
    format!("done after {polls:?}")
}

fn job() -> Workflow<Vec<u32>, String> {
    Workflow::new(
        "job",
        1,
        wait_for_condition(job_done)
            .named("until")
            .strategy(WaitStrategy::fixed(Duration::from_secs(2)).max_attempts(10))
            .then(summarize),
    )
}

#[tokio::test]
#[ignore = "run by the condition process test as a child process"]
async fn condition_child() {
    let path = std::env::var("WAYPOST_CONDITION_STORE").expect("WAYPOST_CONDITION_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    match runtime.start(&job(), EXECUTION, Vec::new()).await {
        Ok(output) => println!("OUTPUT {output}"),
        Err(error) => println!("ERROR {error}"),
    }
}

fn child(dir: &Path) -> Command {
    let mut command = process::child("condition_child");
    command
        .env("WAYPOST_CONDITION_STORE", dir.join("job.db"))
        .env("WAYPOST_CONDITION_LOG", dir.join("polls.log"));
    command
}

/// The deadline recorded for the delay after poll `n`, if any.
async fn delay_deadline(store: &SqliteStore, n: u32) -> Option<u64> {
    let key = format!("0.until/{n}/1.delay");
    let checkpoints = store.checkpoints(EXECUTION).await.ok()?;
    checkpoints
        .iter()
        .find(|c| c.key == key)
        .map(|c| recorded_deadline(c.kind, &c.payload))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_between_polls_resumes_from_the_last_checkpointed_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.db");
    let lines = || {
        std::fs::read_to_string(dir.path().join("polls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut first = child(dir.path()).spawn().unwrap();
    // Killed once the second poll is checkpointed and its delay's deadline recorded:
    // while it waits between the second and the third poll.
    let (reader, deadline) = loop {
        if let Ok(reader) = SqliteStore::open_read_only(&path)
            && let Some(deadline) = delay_deadline(&reader, 2).await
        {
            break (reader, deadline);
        }
        assert!(first.try_wait().unwrap().is_none(), "the child ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    process::sigkill(&mut first);
    assert_eq!(lines(), ["poll 1 saw []", "poll 2 saw [1]"]);

    let stdout = process::finish(&mut child(dir.path()));
    assert!(
        stdout.contains("OUTPUT done after [1, 2, 3, 4]"),
        "{stdout}"
    );
    assert_eq!(
        lines(),
        [
            "poll 1 saw []",
            "poll 2 saw [1]",
            "poll 3 saw [1, 2]",
            "poll 4 saw [1, 2, 3]",
        ],
        "the finished polls did not run again, and the state went on from the second"
    );
    // The resumed run kept the deadline, and polled again only once it was over.
    assert_eq!(delay_deadline(&reader, 2).await, Some(deadline));
    let history = reader.history(EXECUTION).await.unwrap();
    let third = history
        .iter()
        .find(|e| e.kind == EventKind::StepStarted && e.address == "0.until/3/0.job_done")
        .expect("the third poll is in the history");
    assert!(third.at_ms >= deadline, "{third:?} before {deadline}");
    assert!(
        history
            .iter()
            .any(|e| e.kind == EventKind::ExecutionRecovered),
        "the second run took the killed one over"
    );
    let polled: Vec<(String, Option<bool>)> = history
        .iter()
        .filter(|e| e.kind == EventKind::ConditionPolled)
        .map(|e| (e.address.clone(), e.details.done))
        .collect();
    assert_eq!(
        polled,
        [
            ("0.until/1".to_owned(), Some(false)),
            ("0.until/2".to_owned(), Some(false)),
            ("0.until/3".to_owned(), Some(false)),
            ("0.until/4".to_owned(), Some(true)),
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Exports.

#[step]
async fn submit(job: u32) -> u32 {
    job
}
#[step]
async fn is_ready(job: u32) -> Check<u32> {
    Check::done_if(job > 0, job)
}
#[step]
async fn fetch(job: u32) -> u32 {
    job
}

fn polling(strategy: WaitStrategy) -> Workflow<u32, u32> {
    Workflow::new(
        "polling",
        1,
        submit
            .then(
                wait_for_condition(is_ready)
                    .named("until_ready")
                    .strategy(strategy),
            )
            .then(fetch),
    )
}

fn backoff() -> WaitStrategy {
    WaitStrategy::exponential(Duration::from_secs(5))
        .rate(1.5)
        .max_delay(Duration::from_secs(300))
        .jitter(Jitter::Full)
        .max_attempts(60)
}

#[test]
fn mermaid_snapshot() {
    insta::assert_snapshot!(export::mermaid(polling(backoff()).graph()));
}

#[test]
fn dot_snapshot() {
    insta::assert_snapshot!(export::dot(polling(backoff()).graph()));
}

#[test]
fn asl_snapshot() {
    insta::assert_snapshot!(
        serde_json::to_string_pretty(&export::asl(polling(backoff()).graph())).unwrap()
    );
}

#[test]
fn the_exports_parse_and_the_loop_goes_back_from_the_wait_to_the_check() {
    for strategy in [
        backoff(),
        WaitStrategy::fixed(Duration::from_millis(2500)).max_attempts(4),
    ] {
        let wf = polling(strategy);
        let graph = wf.graph();
        support::check_exports(
            &export::mermaid(graph),
            &export::dot(graph),
            &export::asl(graph),
        );
        let name = |i: usize| graph.nodes()[i].name.as_str();
        let edges: Vec<(&str, &str, Option<&str>)> = graph
            .edges()
            .iter()
            .map(|e| (name(e.from), name(e.to), e.label.as_deref()))
            .collect();
        assert_eq!(
            edges,
            [
                ("submit", "until_ready", None),
                ("until_ready", "is_ready", Some("poll")),
                ("is_ready", "delay", Some("not done")),
                ("delay", "is_ready", Some("poll again")),
                ("is_ready", "fetch", None),
            ]
        );
        let asl = export::asl(graph);
        let states = &asl["States"];
        assert_eq!(states["submit"]["Next"], "is_ready", "into the check first");
        assert_eq!(states["is_ready"]["Next"], "until_ready");
        assert_eq!(states["until_ready"]["Type"], "Choice");
        assert_eq!(states["until_ready"]["Choices"][0]["Next"], "fetch");
        assert_eq!(states["until_ready"]["Default"], "delay");
        assert_eq!(states["delay"]["Type"], "Wait");
        assert_eq!(states["delay"]["Next"], "is_ready");
    }
    let fixed = export::asl(
        polling(WaitStrategy::fixed(Duration::from_millis(2500)).max_attempts(4)).graph(),
    );
    assert_eq!(fixed["States"]["delay"]["Seconds"], 3);
    let comment = fixed["States"]["until_ready"]["Comment"].as_str().unwrap();
    assert!(comment.contains("every 2.5s"), "{comment}");
    assert!(comment.contains("at most 4 times"), "{comment}");
}

#[test]
fn a_condition_that_ends_the_workflow_ends_through_a_succeed_state_in_asl() {
    let wf = Workflow::new("last", 1, wait_for_condition(is_ready));
    let asl = export::asl(wf.graph());
    support::check_asl(&asl);
    assert_eq!(asl["StartAt"], "is_ready");
    let done = asl["States"]["wait_for_condition"]["Choices"][0]["Next"]
        .as_str()
        .unwrap();
    assert_eq!(asl["States"][done]["Type"], "Succeed");
}

#[test]
fn a_condition_with_a_retry_or_catch_is_its_loop_inside_a_parallel_in_asl() {
    let policy = RetryPolicy::builder().max_attempts(2).build();
    let wf = Workflow::new(
        "guarded",
        1,
        submit
            .then(
                wait_for_condition(is_ready)
                    .named("until_ready")
                    .strategy(WaitStrategy::fixed(Duration::from_secs(5)))
                    .retry(policy)
                    .catch(
                        ["States.ConditionNotMet"],
                        pass("gave_up", |(x, _e): (u32, Error)| x),
                    ),
            )
            .then(fetch),
    );
    let asl = export::asl(wf.graph());
    support::check_asl(&asl);
    let states = &asl["States"];
    assert_eq!(states["submit"]["Next"], "until_ready");
    let outer = &states["until_ready"];
    assert_eq!(outer["Type"], "Parallel");
    assert_eq!(outer["Retry"][0]["MaxAttempts"], 1);
    assert_eq!(outer["Catch"][0]["Next"], "gave_up");
    assert_eq!(outer["Next"], "fetch");
    let inner = &outer["Branches"][0];
    assert_eq!(inner["StartAt"], "is_ready");
    assert_eq!(inner["States"]["is_ready"]["Next"], "until_ready done?");
    let choice = &inner["States"]["until_ready done?"];
    assert_eq!(choice["Type"], "Choice");
    assert_eq!(choice["Default"], "delay");
    assert_eq!(
        inner["States"][choice["Choices"][0]["Next"].as_str().unwrap()]["Type"],
        "Succeed"
    );
    assert!(choice.get("Retry").is_none());
}

/// A check of several states, whose first is itself a wait for a condition: each
/// export still flows from the start to the end, and the delay after the check's
/// states has the address the run gives it.
#[tokio::test(start_paused = true)]
async fn a_check_of_several_states_and_nested_conditions_run_and_draw() {
    let inner = wait_for_condition(is_ready)
        .named("inner")
        .strategy(WaitStrategy::fixed(Duration::from_secs(1)).max_attempts(3));
    let decide = step_fn("decide", |x: u32| async move {
        Ok::<_, Error>(Check::done_if(x >= 2, x + 1))
    });
    let wf = Workflow::new(
        "nested",
        1,
        submit
            .then(
                wait_for_condition(inner.then(decide))
                    .named("outer")
                    .strategy(WaitStrategy::fixed(Duration::from_secs(5)).max_attempts(5)),
            )
            .then(fetch),
    );
    let graph = wf.graph();
    support::check_exports(
        &export::mermaid(graph),
        &export::dot(graph),
        &export::asl(graph),
    );
    let addresses: Vec<&str> = graph.nodes().iter().map(|n| n.address.as_str()).collect();
    assert_eq!(
        addresses,
        [
            "0.submit",
            "1.outer",
            "1.outer/poll/0.inner",
            "1.outer/poll/0.inner/poll/0.is_ready",
            "1.outer/poll/0.inner/poll/1.delay",
            "1.outer/poll/1.decide",
            "1.outer/poll/2.delay",
            "2.fetch",
        ]
    );
    let asl = export::asl(graph);
    assert_eq!(
        asl["States"]["submit"]["Next"], "is_ready",
        "into the innermost check"
    );
    assert_eq!(
        asl["States"]["delay (1.outer/poll/2.delay)"]["Next"],
        "is_ready"
    );

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let runtime = runtime(&store, &host);
    let started = tokio::time::Instant::now();
    // 1 is ready at once: the outer check says done on its second poll.
    assert_eq!(runtime.start(&wf, "n", 1).await.unwrap(), 3);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let delays: Vec<String> = runtime
        .history("n")
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::TimerStarted)
        .map(|e| e.address.clone())
        .collect();
    assert_eq!(delays, ["1.outer/1/2.delay"]);
}
