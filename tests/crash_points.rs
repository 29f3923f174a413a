//! Named crash points: the process aborts at a chosen place of the runtime or the
//! SQLite store, the n-th time it gets there, and a fresh process resumes.
//!
//! The test binary re-runs itself as a child (`--ignored --exact points_child`) with
//! `WAYPOST_CRASH_AT=<point>:<n>` (the `crash-points` feature of `waypost-runtime`,
//! which this package's dev-dependencies turn on). The child runs a small workflow —
//! a map, a parallel, a retry, and a step that fails until the child redrives it — on
//! a new SQLite store. For each point and n = 1, 2, 3, … until a child finishes without
//! reaching the point n times:
//!
//! - the armed child must abort at the point (or finish with the right output);
//! - `PRAGMA integrity_check` says `ok` on what it left, and every step result it
//!   committed has its `StepSucceeded`/`StepFailed` event (one transaction, also when
//!   the abort falls between the checkpoint rows and the event rows);
//! - an unarmed child resumes to the output of an uninterrupted in-memory run;
//! - no task step whose checkpoint was committed before the abort ran again (every task
//!   step appends its checkpoint key to a side-effect log outside the store), and every
//!   step that ran has its checkpoint in the end.
//!
//! A second test aborts inside the migration of the checked-in schema-v3 golden store:
//! the file must stay a readable v3 store, and the next opening migrates and resumes it.

#[path = "support/crash.rs"]
mod support;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use waypost::SqliteStore;
use waypost::prelude::*;

use support::{Ending, committed, counts, ending, log, run_child, schema_version};

const EXECUTION: &str = "points-exec";
const SEED: u64 = 3;
/// The file whose existence opens [`gate`]; unset: the gate is open.
const GATE: &str = "WAYPOST_POINTS_GATE";

/// Every crash point of the runtime (see `runtime/src/crash.rs`).
const POINTS: &[&str] = &[
    "before-commit",
    "after-commit",
    "between-checkpoint-and-event",
    "redrive-decided",
    "redrive-written",
    "migration",
    "finish-start",
    "finish-end",
];

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    total: u64,
    largest: u64,
    attempts: u32,
}

#[step]
async fn prepare(cx: &StepContext, seed: u64) -> Vec<u64> {
    log(cx);
    (1..=4).map(|i| seed * i).collect()
}

#[step]
async fn square(cx: &StepContext, x: u64) -> u64 {
    log(cx);
    x * x
}

#[step]
async fn total(cx: &StepContext, xs: Vec<u64>) -> u64 {
    log(cx);
    xs.iter().sum()
}

#[step]
async fn largest(cx: &StepContext, xs: Vec<u64>) -> u64 {
    log(cx);
    xs.iter().copied().max().unwrap_or(0)
}

/// Fails its first attempt, like a flaky service.
#[step]
async fn publish(cx: &StepContext, (sum, max): (u64, u64)) -> Result<Report, Error> {
    log(cx);
    if cx.attempt() < 2 {
        return Err(Error::new("Transient", "the first attempt fails"));
    }
    Ok(Report {
        total: sum,
        largest: max,
        attempts: cx.attempt(),
    })
}

/// Fails until the file named by [`GATE`] exists: the child creates it, then redrives.
#[step]
async fn gate(cx: &StepContext, report: Report) -> Result<Report, Error> {
    log(cx);
    match std::env::var_os(GATE) {
        Some(path) if !Path::new(&path).exists() => {
            Err(Error::new("GateClosed", "the gate file does not exist yet"))
        }
        _ => Ok(report),
    }
}

fn workflow() -> Workflow<u64, Report> {
    let retry = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(3)
        .interval(Duration::from_millis(2))
        .build();
    Workflow::new(
        "crash-points",
        1,
        prepare
            .then(map(square).max_concurrency(2))
            .then(parallel((total, largest)))
            .then(publish.retry(retry))
            .then(gate),
    )
}

fn show(report: &Report) -> String {
    format!("{} {} {}", report.total, report.largest, report.attempts)
}

/// The child: starts (or resumes) the execution on the store named by the
/// environment; when it fails at the closed gate, opens the gate and redrives it.
#[tokio::test]
#[ignore = "run by the crash-point tests as a child process"]
async fn points_child() {
    let path = std::env::var("WAYPOST_POINTS_STORE").expect("WAYPOST_POINTS_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .build();
    let wf = workflow();
    let report = match runtime.start(&wf, EXECUTION, SEED).await {
        Ok(report) => report,
        Err(RunError::Failed { error, .. }) if error.name() == "GateClosed" => {
            std::fs::write(std::env::var(GATE).unwrap(), b"open").unwrap();
            runtime.redrive(&wf, EXECUTION).await.unwrap()
        }
        Err(error) => panic!("unexpected error: {error}"),
    };
    println!("OUTPUT {}", show(&report));
}

/// One trial's files.
struct Trial {
    _dir: tempfile::TempDir,
    store: PathBuf,
    log: PathBuf,
    gate: PathBuf,
}

impl Trial {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Trial {
            store: dir.path().join("store.db"),
            log: dir.path().join("effects.log"),
            gate: dir.path().join("gate"),
            _dir: dir,
        }
    }

    fn run(&self, crash_at: Option<String>) -> Ending {
        let mut envs = vec![
            ("WAYPOST_POINTS_STORE", self.store.clone().into_os_string()),
            (support::LOG, self.log.clone().into_os_string()),
            (GATE, self.gate.clone().into_os_string()),
        ];
        if let Some(at) = crash_at {
            envs.push(("WAYPOST_CRASH_AT", at.into()));
        }
        ending(&run_child("points_child", &envs))
    }
}

#[tokio::test]
async fn every_crash_point_at_every_pass_resumes_to_the_same_output() {
    let started = Instant::now();
    let expected = show(&Runtime::new().run(&workflow(), SEED).await.unwrap());
    let mut aborts: HashMap<&str, u32> = HashMap::new();
    for &point in POINTS {
        for n in 1.. {
            assert!(n < 200, "`{point}` is still reached after 200 passes");
            let trial = Trial::new();
            match trial.run(Some(format!("{point}:{n}"))) {
                Ending::Output(output) => {
                    // The run reached the point fewer than n times: this point is done.
                    assert_eq!(output, expected, "{point}:{n}, not reached");
                    break;
                }
                Ending::CrashPoint => {}
                Ending::Aborted => panic!("{point}:{n}: aborted elsewhere than at the point"),
            }
            *aborts.entry(point).or_default() += 1;
            // What the aborted child ran, and what it committed, before the abort.
            let ran = counts(&trial.log);
            let frozen: HashMap<String, u32> = committed(&trial.store, EXECUTION)
                .into_iter()
                .map(|key| {
                    let times = ran.get(&key).copied().unwrap_or(0);
                    (key, times)
                })
                .collect();

            assert_events_match_checkpoints(&trial.store, &format!("{point}:{n}, aborted"));

            let output = match trial.run(None) {
                Ending::Output(output) => output,
                other => panic!("{point}:{n}: the resuming child ended with {other:?}"),
            };
            assert_eq!(output, expected, "{point}:{n}: resumed output differs");
            let finals = counts(&trial.log);
            for (key, at_abort) in &frozen {
                assert!(*at_abort >= 1, "{point}:{n}: `{key}` committed, never run");
                assert_eq!(
                    finals[key], *at_abort,
                    "{point}:{n}: `{key}` ran again after its checkpoint was committed"
                );
            }
            assert_events_match_checkpoints(&trial.store, &format!("{point}:{n}, resumed"));
            let done = committed(&trial.store, EXECUTION);
            for (key, count) in &finals {
                assert!(*count <= 2, "{point}:{n}: `{key}` ran {count} times");
                assert!(
                    done.contains(key),
                    "{point}:{n}: `{key}` ran but its checkpoint is missing"
                );
            }
        }
    }
    let trials: u32 = aborts.values().sum();
    eprintln!(
        "crash points: {trials} aborts and resumes in {:.1?}: {aborts:?}",
        started.elapsed()
    );
    for point in POINTS {
        assert!(
            aborts.get(point).copied().unwrap_or(0) >= 1,
            "`{point}` was never reached"
        );
    }
}

/// Checks that every committed task result (a checkpoint of a step's output or
/// failure) has its `StepSucceeded` / `StepFailed` event: checkpoints and the events
/// that describe them commit in one transaction, also when the process aborts between
/// writing the one and the other.
fn assert_events_match_checkpoints(path: &Path, trial: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let Ok(mut stmt) = conn
        .prepare("SELECT key, kind FROM checkpoints WHERE execution_id = ?1 AND kind IN (0, 1)")
    else {
        return; // no tables yet
    };
    let checkpoints: Vec<(String, i64)> = stmt
        .query_map([EXECUTION], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let events: HashSet<(String, String, u32)> = conn
        .prepare(
            "SELECT kind, address, attempt FROM events \
             WHERE execution_id = ?1 AND kind IN ('StepSucceeded', 'StepFailed')",
        )
        .unwrap()
        .query_map([EXECUTION], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        checkpoints.is_empty() || !events.is_empty(),
        "{trial}: checkpoints without events"
    );
    for (stored, kind) in &checkpoints {
        // `r{n}:` after a redrive; `#{attempt}` inside a retry.
        let key = match stored.split_once(':') {
            Some((generation, key)) if generation.starts_with('r') => key,
            _ => stored.as_str(),
        };
        let (address, attempt) = match key.rsplit_once('#') {
            Some((address, attempt)) => (address, attempt.parse().unwrap()),
            None => (key, 1),
        };
        let event = if *kind == 0 {
            "StepSucceeded"
        } else {
            "StepFailed"
        };
        assert!(
            events.contains(&(event.to_owned(), address.to_owned(), attempt)),
            "{trial}: checkpoint `{stored}` was committed without its {event} event"
        );
    }
}

// The workflow `tests/golden/store-v3.db` was written with (see `golden_store.rs`).

#[step]
async fn step_a(x: u64) -> Result<u64, Error> {
    if x == 13 {
        return Err(Error::new("Unlucky", "13 is refused"));
    }
    Ok(x + 1)
}

#[step]
async fn step_b(x: u64) -> u64 {
    x * 10
}

fn golden() -> Workflow<u64, u64> {
    Workflow::new("golden", 1, step_a.then(step_b))
}

/// The child of the migration test: opens the store (migrating it) and resumes the
/// golden store's interrupted execution.
#[tokio::test]
#[ignore = "run by the crash-point tests as a child process"]
async fn golden_child() {
    let path = std::env::var("WAYPOST_POINTS_STORE").expect("WAYPOST_POINTS_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .build();
    let output = runtime.start(&golden(), "interrupted", 4).await.unwrap();
    println!("OUTPUT {output}");
}

#[test]
fn a_crash_inside_the_migration_of_a_v3_store_leaves_it_v3_and_it_migrates_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let golden_file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/store-v3.db");
    std::fs::copy(golden_file, &path).unwrap();
    let envs = |crash_at: Option<&str>| {
        let mut envs = vec![("WAYPOST_POINTS_STORE", path.clone().into_os_string())];
        if let Some(at) = crash_at {
            envs.push(("WAYPOST_CRASH_AT", at.into()));
        }
        envs
    };

    // v3 → v6 is three steps, in one transaction: an abort after any one's SQL (the
    // second rewrites every event's details) comes before the commit.
    for at in ["migration:1", "migration:2", "migration:3"] {
        let out = run_child("golden_child", &envs(Some(at)));
        assert_eq!(ending(&out), Ending::CrashPoint, "{at}");
        assert_eq!(
            schema_version(&path),
            3,
            "{at}: a half-done migration was kept"
        );
        // Still a whole v3 store: integrity ok, the interrupted step's checkpoint there.
        let keys = committed(&path, "interrupted");
        assert_eq!(keys.len(), 1, "{at}: {keys:?}");
    }

    let out = run_child("golden_child", &envs(None));
    assert_eq!(ending(&out), Ending::Output("50".to_owned()));
    // Migrated to what this build writes: the version of a fresh store.
    let fresh = dir.path().join("fresh.db");
    SqliteStore::open(&fresh).unwrap().close();
    assert_eq!(schema_version(&path), schema_version(&fresh));
    assert_eq!(schema_version(&path), 6);
}
