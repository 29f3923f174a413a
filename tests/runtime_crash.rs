//! Crash tests that really crash: this test binary re-runs itself as a child process
//! (`--ignored --exact crash_child`), which runs a workflow with a map, a parallel, a
//! retry and a wait on a SQLite store; the parent SIGKILLs it at random moments,
//! sometimes several times in a row, then lets a fresh child resume to the end.
//!
//! Every task step appends its checkpoint key to a side-effect log outside the store,
//! so the parent can check what really ran:
//!
//! - the final output equals an uninterrupted in-memory run's;
//! - a step whose checkpoint was committed never runs again (its count in the log stays
//!   what it was when the commit was seen);
//! - a step runs at most once more than the number of kills (only in-flight steps rerun);
//! - `PRAGMA integrity_check` says `ok` after every kill;
//! - the kills land in every phase that keeps durable state: inside the map, inside
//!   the retry (between attempts) and inside the durable wait.
//!
//! A second test kills the child the way a shell wrapper dies (`sh -c '…'` killed by
//! process group: the child is orphaned and stays a zombie, since nothing reaps it) and
//! restarts at once: the restart must take the lease over instead of failing.

#[path = "support/crash.rs"]
mod support;

use std::collections::{BTreeSet, HashMap};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use serde::{Deserialize, Serialize};
use waypost::prelude::*;
use waypost::{RuntimeConfig, SqliteStore, Store};

use support::{counts, log};

const EXECUTION: &str = "crash-exec";
const SEED: u64 = 7;

fn pause() -> Duration {
    Duration::from_millis(3)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    total: u64,
    largest: u64,
    attempts_needed: u32,
}

#[step]
async fn prepare(cx: &StepContext, seed: u64) -> Vec<u64> {
    log(cx);
    (1..=24).map(|i| seed * i).collect()
}

#[step]
async fn square(cx: &StepContext, x: u64) -> u64 {
    log(cx);
    tokio::time::sleep(pause()).await;
    x * x
}

#[step]
async fn total(cx: &StepContext, xs: Vec<u64>) -> u64 {
    log(cx);
    tokio::time::sleep(pause()).await;
    xs.iter().sum()
}

#[step]
async fn largest(cx: &StepContext, xs: Vec<u64>) -> u64 {
    log(cx);
    tokio::time::sleep(pause()).await;
    xs.iter().copied().max().unwrap_or(0)
}

/// Fails its first two attempts, like a flaky service.
#[step]
async fn publish(cx: &StepContext, (sum, max): (u64, u64)) -> Result<Report, Error> {
    log(cx);
    tokio::time::sleep(pause()).await;
    if cx.attempt() < 3 {
        return Err(Error::new(
            "Transient",
            format!("attempt {} failed", cx.attempt()),
        ));
    }
    Ok(Report {
        total: sum,
        largest: max,
        attempts_needed: cx.attempt(),
    })
}

fn workflow() -> Workflow<u64, Report> {
    let retry = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(4)
        .interval(Duration::from_millis(15))
        .build();
    Workflow::new(
        "crash-test",
        1,
        prepare
            .then(map(square).max_concurrency(4))
            .then(parallel((total, largest)))
            .then(wait(Duration::from_millis(80)))
            .then(publish.retry(retry)),
    )
}

/// The child: runs (or resumes) the execution on the store named by the environment,
/// and prints its output.
#[tokio::test]
#[ignore = "run by the crash tests as a child process"]
async fn crash_child() {
    let path = std::env::var("WAYPOST_CRASH_STORE").expect("WAYPOST_CRASH_STORE");
    // A bound on the wait for a dead owner's lease, so that a restart that could not
    // tell its predecessor is dead fails (with `LEASED`) instead of waiting out the
    // 30 s lease.
    let lease_wait = std::env::var("WAYPOST_CRASH_LEASE_WAIT_MS")
        .ok()
        .map(|ms| Duration::from_millis(ms.parse().unwrap()));
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(RuntimeConfig::builder().lease_wait(lease_wait).build())
        .build();
    match runtime.start(&workflow(), EXECUTION, SEED).await {
        Ok(report) => println!("OUTPUT {}", serde_json_like(&report)),
        Err(RunError::Store(waypost::StoreError::Leased { .. })) => println!("LEASED"),
        Err(error) => panic!("unexpected error: {error}"),
    }
}

fn serde_json_like(report: &Report) -> String {
    format!(
        "{} {} {}",
        report.total, report.largest, report.attempts_needed
    )
}

const CHILD_ARGS: [&str; 6] = [
    "--ignored",
    "--exact",
    "crash_child",
    "--nocapture",
    "--test-threads",
    "1",
];

fn spawn_child(store: &Path, log: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(CHILD_ARGS)
        .env("WAYPOST_CRASH_STORE", store)
        .env("WAYPOST_CRASH_LOG", log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The child behind a shell wrapper, in a process group of its own: `sh` runs the test
/// binary as its child (not `exec`: a command follows it), as a pipeline script would.
fn spawn_child_through_shell(store: &Path, log: &Path) -> Child {
    Command::new("sh")
        .arg("-c")
        .arg(r#""$0" "$@"; status=$?; exit $status"#)
        .arg(std::env::current_exe().unwrap())
        .args(CHILD_ARGS)
        .env("WAYPOST_CRASH_STORE", store)
        .env("WAYPOST_CRASH_LOG", log)
        .env("WAYPOST_CRASH_LEASE_WAIT_MS", "5000")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Where a kill landed, from the task results and failures the store had committed
/// when it came.
#[derive(Debug, Default)]
struct Landed {
    in_map: u32,
    in_retry: u32,
    in_wait: u32,
}

impl Landed {
    fn record(&mut self, committed: &BTreeSet<String>) {
        let squares = committed
            .iter()
            .filter(|k| k.starts_with("1.map/") && k.ends_with(".square"))
            .count();
        if committed.contains("0.prepare") && squares < 24 {
            self.in_map += 1;
        }
        // After the parallel, before the first attempt of `publish`: in the wait.
        let parallel_done = ["2.parallel/0/0.total", "2.parallel/1/0.largest"]
            .iter()
            .all(|k| committed.contains(*k));
        if parallel_done && !committed.contains("4.publish#1") {
            self.in_wait += 1;
        }
        // A failed attempt committed, the last one not: between retries.
        if committed.contains("4.publish#1") && !committed.contains("4.publish#3") {
            self.in_retry += 1;
        }
    }
}

fn output_of(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stdout}\n{stderr}");
    // The test harness prints `test crash_child ... ` before the child's own line.
    stdout
        .lines()
        .find_map(|l| match l.split_once("OUTPUT ") {
            Some((_, output)) => Some(output),
            None => l.contains("LEASED").then_some("LEASED"),
        })
        .unwrap_or_else(|| panic!("no output line in {stdout:?}"))
        .to_owned()
}

/// How long an uninterrupted child run takes, to spread kills across it.
fn calibrate(dir: &Path) -> Duration {
    let started = Instant::now();
    let store = dir.join("calibrate.db");
    output_of(spawn_child(&store, &dir.join("calibrate.log")));
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_then_resume_gives_the_same_output_and_reruns_nothing_committed()
{
    let expected = Runtime::new().run(&workflow(), SEED).await.unwrap();
    let expected = serde_json_like(&expected);
    let scratch = tempfile::tempdir().unwrap();
    let full_run = calibrate(scratch.path());
    let mut rng = fastrand::Rng::with_seed(0x5eed);

    let mut landed = Landed::default();
    let mut total_recoveries = 0;
    for run in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = (dir.path().join("store.db"), dir.path().join("effects.log"));
        // Runs are killed 1 to 5 times in a row before one is let finish.
        let kills = 1 + run % 5;
        // For each committed key: how many times it had run when its commit was seen.
        let mut frozen: HashMap<String, u32> = HashMap::new();
        for _ in 0..kills {
            let mut child = spawn_child(&store, &log);
            let at = full_run.mul_f64(rng.f64());
            std::thread::sleep(at);
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            let now = counts(&log);
            let done = committed(&store);
            landed.record(&done);
            for key in done {
                frozen
                    .entry(key.clone())
                    .or_insert_with(|| now.get(&key).copied().unwrap_or(0));
            }
        }
        let output = output_of(spawn_child(&store, &log));
        assert_eq!(output, expected, "run {run}: resumed output differs");

        let finals = counts(&log);
        for (key, at_commit) in &frozen {
            assert!(
                *at_commit >= 1,
                "run {run}: `{key}` committed but never logged"
            );
            assert_eq!(
                finals[key], *at_commit,
                "run {run}: `{key}` ran again after its checkpoint was committed"
            );
        }
        for (key, count) in &finals {
            assert!(
                *count <= 1 + kills as u32,
                "run {run}: `{key}` ran {count} times in {kills} kills"
            );
        }
        let done = committed(&store);
        for key in finals.keys() {
            assert!(
                done.contains(key),
                "run {run}: `{key}` ran but its checkpoint is missing"
            );
        }
        // Each kill of a process that held the lease counts one recovery, no more, and
        // the history records each.
        let opened = SqliteStore::open(&store).unwrap();
        let recoveries = opened.execution(EXECUTION).await.unwrap().recoveries;
        assert!(
            recoveries <= kills as u32,
            "run {run}: {recoveries} recoveries"
        );
        let recorded = opened
            .history(EXECUTION)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == waypost::EventKind::ExecutionRecovered)
            .count();
        assert_eq!(
            recorded, recoveries as usize,
            "run {run}: every recovery is an event of the history"
        );
        opened.close();
        total_recoveries += recoveries;
    }
    // 60 kills spread over the run: each phase with durable state in flight was hit.
    assert!(
        landed.in_map > 0 && landed.in_retry > 0 && landed.in_wait > 0,
        "some phase was never interrupted: {landed:?}"
    );
    assert!(
        total_recoveries > 0,
        "no kill was ever counted as a recovery"
    );
}

/// 20 trials of 3 kills: each kill takes the whole process group down at a random
/// moment, and the next process starts the very next moment, while its predecessor is
/// still a zombie. Every restart goes on (a restart that took the predecessor for alive
/// would print `LEASED` after waiting 5 s), and each trial's output is an uninterrupted
/// run's.
///
/// This test process makes itself the subreaper of its descendants and never reaps the
/// orphans, so each killed test binary stays a zombie for good, whatever the machine's
/// init does (some reap at once, some never).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_right_after_a_process_group_sigkill_resumes() {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let expected = serde_json_like(&Runtime::new().run(&workflow(), SEED).await.unwrap());
    let scratch = tempfile::tempdir().unwrap();
    let full_run = calibrate(scratch.path());
    let mut rng = fastrand::Rng::with_seed(0x2a);
    let mut recovered = 0;
    for trial in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = (dir.path().join("store.db"), dir.path().join("effects.log"));
        let mut child = spawn_child_through_shell(&store, &log);
        for kill in 0..3 {
            std::thread::sleep(full_run.mul_f64(0.2 + 0.6 * rng.f64()));
            if child.try_wait().unwrap().is_some() {
                let out = output_of(child);
                assert_ne!(
                    out, "LEASED",
                    "trial {trial}, kill {kill}: a restart was refused"
                );
            } else {
                let group = Pid::from_raw(i32::try_from(child.id()).unwrap());
                killpg(group, Signal::SIGKILL).unwrap();
                child.wait().unwrap();
            }
            // The very next moment, while the killed test binary is still a zombie.
            child = spawn_child_through_shell(&store, &log);
        }
        let output = output_of(child);
        assert_eq!(
            output, expected,
            "trial {trial}: the restart's output differs"
        );
        recovered += SqliteStore::open(&store)
            .unwrap()
            .execution(EXECUTION)
            .await
            .unwrap()
            .recoveries;
    }
    assert!(recovered > 0, "no kill ever interrupted a run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_store_never_both_run_the_execution() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let (store, log) = (dir.path().join("store.db"), dir.path().join("effects.log"));
        let (a, b) = (spawn_child(&store, &log), spawn_child(&store, &log));
        let outputs = [output_of(a), output_of(b)];
        assert!(outputs.iter().any(|o| o != "LEASED"), "{outputs:?}");
        // Whoever lost either saw the lease or, coming later, the stored output; either
        // way no step ran twice.
        for (key, count) in counts(&log) {
            assert_eq!(count, 1, "`{key}` ran {count} times: {outputs:?}");
        }
    }
}

/// The keys of the execution's committed task results, after checking the file's
/// integrity.
fn committed(path: &Path) -> BTreeSet<String> {
    support::committed(path, EXECUTION)
}
