//! Lifecycle hooks: the exact calls a small workflow makes, with and without a store;
//! several hooks in order; a hook that panics, errs or blocks never fails or delays
//! the execution; and across a real SIGKILL, the resuming process reports a recovery
//! and only the events of the steps it really runs.
//!
//! The process test re-runs this binary as a child (`--ignored --exact hooks_child`).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waypost::hooks::{Hook, HookEvent, HookResult};
use waypost::prelude::*;
use waypost::{MemoryStore, RuntimeConfig, SqliteStore};

#[path = "support/process.rs"]
mod process;

/// One line per hook call: `method state attempt [error] [replaying]`.
fn line(method: &str, event: &HookEvent<'_>) -> String {
    let mut line = method.to_owned();
    if !event.state().is_empty() {
        write!(line, " {} {}", event.state(), event.attempt()).unwrap();
    }
    if let Some(error) = event.error() {
        write!(line, " {}", error.name).unwrap();
    }
    if event.run() > 1 {
        write!(line, " run {}", event.run()).unwrap();
    }
    if event.replaying() {
        line.push_str(" replaying");
    }
    line
}

/// Where a recording hook writes its lines.
#[derive(Clone)]
enum Sink {
    Memory(Arc<Mutex<Vec<String>>>),
    File(std::path::PathBuf),
}

/// A hook that records every call, its lines prefixed with `prefix`.
struct Recording {
    prefix: &'static str,
    sink: Sink,
}

impl Recording {
    fn new(prefix: &'static str, log: &Arc<Mutex<Vec<String>>>) -> Self {
        Recording {
            prefix,
            sink: Sink::Memory(Arc::clone(log)),
        }
    }

    fn push(&self, method: &str, event: &HookEvent<'_>) -> HookResult {
        let line = format!("{}{}", self.prefix, line(method, event));
        match &self.sink {
            Sink::Memory(log) => log.lock().unwrap().push(line),
            Sink::File(path) => {
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                writeln!(file, "{line}")?;
            }
        }
        Ok(())
    }
}

impl Hook for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    fn execution_started(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("execution_started", e)
    }
    fn execution_finished(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("execution_finished", e)
    }
    fn execution_recovered(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("execution_recovered", e)
    }
    fn state_started(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("state_started", e)
    }
    fn state_finished(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("state_finished", e)
    }
    fn attempt_started(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("attempt_started", e)
    }
    fn attempt_succeeded(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("attempt_succeeded", e)
    }
    fn attempt_failed(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("attempt_failed", e)
    }
    fn retry_scheduled(&self, e: &HookEvent<'_>) -> HookResult {
        self.push("retry_scheduled", e)
    }
}

#[step]
async fn flaky(cx: &StepContext, x: u32) -> Result<u32, Error> {
    if cx.attempt() == 1 {
        Err(Error::new("Flaky", "first attempts fail"))
    } else {
        Ok(x + 1)
    }
}

#[step]
async fn done(x: u32) -> u32 {
    x * 10
}

fn small() -> Workflow<u32, u32> {
    let retry = RetryPolicy::builder()
        .max_attempts(2)
        .interval(Duration::ZERO)
        .build();
    Workflow::new("small", 1, flaky.retry(retry).then(done))
}

const SMALL: [&str; 13] = [
    "execution_started",
    "state_started flaky 1",
    "attempt_started flaky 1",
    "attempt_failed flaky 1 Flaky",
    "retry_scheduled flaky 1 Flaky",
    "attempt_started flaky 2",
    "attempt_succeeded flaky 2",
    "state_finished flaky 2",
    "state_started done 1",
    "attempt_started done 1",
    "attempt_succeeded done 1",
    "state_finished done 1",
    "execution_finished",
];

fn taken(log: &Arc<Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap())
}

#[tokio::test]
async fn a_small_workflow_calls_each_hook_method_once_per_event_with_or_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let hook = || Recording::new("", &log);

    let runtime = Runtime::builder().hook(hook()).build();
    assert_eq!(runtime.run(&small(), 1).await.unwrap(), 20);
    runtime.flush_hooks().await;
    assert_eq!(taken(&log), SMALL, "without a store");

    let runtime = Runtime::builder()
        .store(MemoryStore::new())
        .hook(hook())
        .build();
    assert_eq!(runtime.start(&small(), "m-1", 1).await.unwrap(), 20);
    runtime.flush_hooks().await;
    assert_eq!(taken(&log), SMALL, "on a memory store");
    // Starting it again hands out its output: nothing runs, no hook is called.
    assert_eq!(runtime.start(&small(), "m-1", 1).await.unwrap(), 20);
    runtime.flush_hooks().await;
    assert_eq!(taken(&log), Vec::<String>::new(), "a finished execution");

    let runtime = Runtime::builder()
        .store(SqliteStore::open(dir.path().join("hooks.db")).unwrap())
        .hook(hook())
        .build();
    assert_eq!(runtime.start(&small(), "s-1", 1).await.unwrap(), 20);
    runtime.flush_hooks().await;
    assert_eq!(taken(&log), SMALL, "on a SQLite store");
}

#[tokio::test]
async fn a_failure_no_retry_follows_finishes_its_state_and_the_execution() {
    #[step]
    async fn boom(_x: u32) -> Result<u32, Error> {
        Err(Error::new("Boom", "always"))
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let runtime = Runtime::builder()
        .store(MemoryStore::new())
        .hook(Recording::new("", &log))
        .build();
    let retry = RetryPolicy::builder()
        .max_attempts(2)
        .interval(Duration::ZERO)
        .build();
    let wf = Workflow::new("boom", 1, boom.retry(retry));
    runtime.start(&wf, "b-1", 1).await.unwrap_err();
    runtime.flush_hooks().await;
    assert_eq!(
        taken(&log),
        [
            "execution_started",
            "state_started boom 1",
            "attempt_started boom 1",
            "attempt_failed boom 1 Boom",
            "retry_scheduled boom 1 Boom",
            "attempt_started boom 2",
            "attempt_failed boom 2 Boom",
            "state_finished boom 2 Boom",
            "execution_finished Boom",
        ]
    );

    // A caught failure finishes its state when it is caught.
    let handler = step_fn("handle", |(_x, _e): (u32, Error)| async move {
        Ok::<_, Error>(0)
    });
    let wf = Workflow::new("caught", 1, boom.catch(["Boom"], handler));
    assert_eq!(runtime.start(&wf, "c-1", 1).await.unwrap(), 0);
    runtime.flush_hooks().await;
    assert_eq!(
        taken(&log),
        [
            "execution_started",
            "state_started boom 1",
            "attempt_started boom 1",
            "attempt_failed boom 1 Boom",
            "state_finished boom 1 Boom",
            "state_started handle 1",
            "attempt_started handle 1",
            "attempt_succeeded handle 1",
            "state_finished handle 1",
            "execution_finished",
        ]
    );
}

#[tokio::test]
async fn several_hooks_are_called_in_the_order_they_were_registered() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let runtime = Runtime::builder()
        .hook(Recording::new("a: ", &log))
        .hook(Recording::new("b: ", &log))
        .build();
    runtime.run(&small(), 1).await.unwrap();
    runtime.flush_hooks().await;
    let expected: Vec<String> = SMALL
        .iter()
        .flat_map(|line| [format!("a: {line}"), format!("b: {line}")])
        .collect();
    assert_eq!(taken(&log), expected);
}

/// A `tracing` subscriber that keeps the warnings, as text.
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        write!(self.0, "{}={value:?} ", field.name()).unwrap();
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

struct Panicky;

impl Hook for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }
    fn attempt_started(&self, _: &HookEvent<'_>) -> HookResult {
        panic!("metrics backend exploded")
    }
}

struct Erring;

impl Hook for Erring {
    fn name(&self) -> &str {
        "erring"
    }
    fn state_finished(&self, _: &HookEvent<'_>) -> HookResult {
        Err("exporter unreachable".into())
    }
}

#[tokio::test]
async fn a_hook_that_panics_or_errs_is_logged_by_name_and_changes_nothing_else() {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    // The hook thread logs with the subscriber that was the default at `build`.
    let _default = tracing::subscriber::set_default(Warnings(Arc::clone(&warnings)));
    let log = Arc::new(Mutex::new(Vec::new()));
    for store in [false, true] {
        let builder = Runtime::builder()
            .hook(Panicky)
            .hook(Erring)
            .hook(Recording::new("", &log));
        let runtime = if store {
            builder.store(MemoryStore::new()).build()
        } else {
            builder.build()
        };
        let output = if store {
            runtime.start(&small(), "p-1", 1).await.unwrap()
        } else {
            runtime.run(&small(), 1).await.unwrap()
        };
        assert_eq!(output, 20, "the same output");
        runtime.flush_hooks().await;
        assert_eq!(taken(&log), SMALL, "the last hook saw every event");
    }
    let warnings = std::mem::take(&mut *warnings.lock().unwrap());
    let panics = warnings
        .iter()
        .filter(|w| w.contains("hook=panicky") && w.contains("metrics backend exploded"))
        .count();
    let errors = warnings
        .iter()
        .filter(|w| w.contains("hook=erring") && w.contains("exporter unreachable"))
        .count();
    // Three attempts and two finished states per run, in two runs.
    assert_eq!((panics, errors), (6, 4), "{warnings:#?}");
}

/// A hook whose first call waits until the test lets it go.
struct Blocking {
    release: Mutex<mpsc::Receiver<()>>,
    returned: Arc<Mutex<Vec<&'static str>>>,
}

impl Hook for Blocking {
    fn execution_started(&self, _: &HookEvent<'_>) -> HookResult {
        // A bound only so that a runtime calling hooks on the execution's task fails
        // this test instead of hanging it.
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        self.returned.lock().unwrap().push("execution_started");
        Ok(())
    }
    fn execution_finished(&self, _: &HookEvent<'_>) -> HookResult {
        self.returned.lock().unwrap().push("execution_finished");
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_hook_does_not_delay_the_execution() {
    for store in [false, true] {
        let (release, released) = mpsc::channel();
        let returned = Arc::new(Mutex::new(Vec::new()));
        let builder = Runtime::builder().hook(Blocking {
            release: Mutex::new(released),
            returned: Arc::clone(&returned),
        });
        let runtime = if store {
            builder.store(MemoryStore::new()).build()
        } else {
            builder.build()
        };
        let output = if store {
            runtime.start(&small(), "k-1", 1).await.unwrap()
        } else {
            runtime.run(&small(), 1).await.unwrap()
        };
        assert_eq!(output, 20);
        assert!(
            returned.lock().unwrap().is_empty(),
            "the execution finished while its hook was still blocked in its first call"
        );
        release.send(()).unwrap();
        runtime.flush_hooks().await;
        assert_eq!(
            *returned.lock().unwrap(),
            ["execution_started", "execution_finished"]
        );
    }
}

#[tokio::test]
async fn a_resume_reports_no_replayed_event_even_when_the_history_keeps_none() {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let log = Arc::new(Mutex::new(Vec::new()));
    let runtime = Runtime::builder()
        .store(MemoryStore::new())
        .config(
            RuntimeConfig::builder()
                .history(waypost::HistoryLevel::Off)
                .build(),
        )
        .hook(Recording::new("", &log))
        .build();
    let (hold, reached) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU32::new(0)));
    let gate = {
        let (hold, reached) = (Arc::clone(&hold), Arc::clone(&reached));
        step_fn("gate", move |x: u32| {
            let (hold, reached) = (Arc::clone(&hold), Arc::clone(&reached));
            async move {
                reached.fetch_add(1, Ordering::SeqCst);
                if hold.load(Ordering::SeqCst) {
                    std::future::pending::<()>().await;
                }
                Ok::<_, Error>(x)
            }
        })
    };
    let retry = RetryPolicy::builder()
        .max_attempts(2)
        .interval(Duration::ZERO)
        .build();
    let wf = Workflow::new("gated", 1, flaky.retry(retry).then(gate));
    // Interrupted (the run dropped) inside `gate`, after `flaky`'s retry.
    tokio::select! {
        _ = runtime.start(&wf, "g-1", 1) => panic!("the execution finished before `gate`"),
        () = async {
            while reached.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        } => {}
    }
    runtime.flush_hooks().await;
    assert!(taken(&log).contains(&"retry_scheduled flaky 1 Flaky".to_owned()));

    hold.store(false, Ordering::SeqCst);
    assert_eq!(runtime.resume(&wf, "g-1").await.unwrap(), 2);
    runtime.flush_hooks().await;
    assert_eq!(
        taken(&log),
        [
            "execution_started replaying",
            "state_started gate 1",
            "attempt_started gate 1",
            "attempt_succeeded gate 1",
            "state_finished gate 1",
            "execution_finished",
        ],
        "the replayed retry of `flaky` is not reported again"
    );
}

// --- Across a real process kill ---------------------------------------------------

const EXECUTION: &str = "steps-1";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name}"))
}

#[step]
async fn one(cx: &StepContext, x: u32) -> Result<u32, Error> {
    // A failed first attempt: the resumed process replays it and its retry, and
    // reports neither.
    if cx.attempt() == 1 {
        return Err(Error::new("Flaky", "first attempts fail"));
    }
    Ok(x + 1)
}

#[step]
async fn two(x: u32) -> u32 {
    // The first process is killed here.
    if std::env::var("WAYPOST_HOOKS_SLOW").is_ok() {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    x + 2
}

#[step]
async fn three(x: u32) -> u32 {
    x + 3
}

#[tokio::test]
#[ignore = "run by the hook tests as a child process"]
async fn hooks_child() {
    let runtime = Runtime::builder()
        .store(SqliteStore::open(env("WAYPOST_HOOKS_STORE")).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .hook(Recording {
            prefix: "",
            sink: Sink::File(env("WAYPOST_HOOKS_LOG").into()),
        })
        .build();
    let retry = RetryPolicy::builder()
        .max_attempts(2)
        .interval(Duration::ZERO)
        .build();
    let wf = Workflow::new("steps", 1, one.retry(retry).then(two).then(three));
    let output = runtime.start(&wf, EXECUTION, 0).await.unwrap();
    runtime.flush_hooks().await;
    println!("OUTPUT {output}");
}

fn child(dir: &Path, log: &str, slow: bool) -> Command {
    let mut command = process::child("hooks_child");
    command
        .env("WAYPOST_HOOKS_STORE", dir.join("steps.db"))
        .env("WAYPOST_HOOKS_LOG", dir.join(log));
    if slow {
        command.env("WAYPOST_HOOKS_SLOW", "1");
    }
    command
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_the_resuming_process_reports_a_recovery_and_only_what_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let first_log = dir.path().join("first.log");
    let mut first = child(dir.path(), "first.log", true).spawn().unwrap();
    let killed_inside_two = "attempt_started two 1".to_owned();
    process::until("`two` to start", async || {
        lines(&first_log).contains(&killed_inside_two)
    })
    .await;
    process::sigkill(&mut first);
    assert_eq!(
        lines(&first_log),
        [
            "execution_started",
            "state_started one 1",
            "attempt_started one 1",
            "attempt_failed one 1 Flaky",
            "retry_scheduled one 1 Flaky",
            "attempt_started one 2",
            "attempt_succeeded one 2",
            "state_finished one 2",
            "state_started two 1",
            "attempt_started two 1",
        ],
        "the first process was killed inside `two`"
    );

    let stdout = process::finish(&mut child(dir.path(), "second.log", false));
    assert!(stdout.contains("OUTPUT 6"), "{stdout}");
    assert_eq!(
        lines(&dir.path().join("second.log")),
        [
            "execution_recovered replaying",
            "execution_started replaying",
            // Its start was not stored before the kill (events go with the next
            // checkpoint): for the history, as for hooks, this is its first run.
            "state_started two 1",
            "attempt_started two 1",
            "attempt_succeeded two 1",
            "state_finished two 1",
            "state_started three 1",
            "attempt_started three 1",
            "attempt_succeeded three 1",
            "state_finished three 1",
            "execution_finished",
        ],
        "the second process: a recovery, nothing of `one`, the rest once"
    );
}
