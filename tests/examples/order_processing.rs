//! End-to-end tests of `examples/order_processing.rs`: the example runs as a process on a
//! store in a temporary directory, and its summary is checked against what the flags
//! force (every card declined: every order compensated, ...) and against the store
//! itself, read here through waypost's API.
//!
//! Also: a run that crashes after the `fulfil` stage and resumes ends with the same
//! figures as a run that was never interrupted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use waypost::store::ListFilter;
use waypost::{ExecutionStatus, SqliteStore, Store};

use crate::support::{example_binary, expect_success, snapshot_graphs, stdout};

const EXAMPLE: &str = "order_processing";

/// Small and fast: 40 orders, services that answer in about a millisecond.
const BASE: [&str; 6] = ["--orders", "40", "--latency-ms", "1", "--seed", "7"];

/// The example's binary.
fn binary() -> PathBuf {
    example_binary(EXAMPLE)
}

fn run(store: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .arg("--store")
        .arg(store)
        .args(BASE)
        .args(args)
        .output()
        .expect("the example starts")
}

fn succeed(store: &Path, args: &[&str]) -> String {
    expect_success(&run(store, args))
}

/// The last line `summary: 40 orders, 31 succeeded, 4 compensated, 5 failed, 9 retries taken`.
#[derive(Debug, PartialEq)]
struct Summary {
    orders: u64,
    succeeded: u64,
    compensated: u64,
    failed: u64,
    retries: u64,
}

fn summary(out: &str) -> Summary {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("summary: "))
        .unwrap_or_else(|| panic!("a summary line in:\n{out}"));
    let count = |word: &str| {
        line.split(", ")
            .find_map(|part| part.strip_suffix(word)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("`{word}` in `{line}`"))
    };
    Summary {
        orders: count("orders"),
        succeeded: count("succeeded"),
        compensated: count("compensated"),
        failed: count("failed"),
        retries: count("retries taken"),
    }
}

/// How many executions the store holds in `status`.
fn in_store(store: &Path, status: ExecutionStatus) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(store).unwrap();
        let filter = ListFilter {
            status: Some(status),
            ..ListFilter::default()
        };
        store.list(&filter).await.unwrap().len() as u64
    })
}

#[test]
fn no_failures_ship_every_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    let out = succeed(
        &store,
        &[
            "--decline-rate",
            "0",
            "--transient-rate",
            "0",
            "--fraud-rate",
            "0",
        ],
    );
    let expected = Summary {
        orders: 40,
        succeeded: 40,
        compensated: 0,
        failed: 0,
        retries: 0,
    };
    assert_eq!(summary(&out), expected, "{out}");
    assert_eq!(in_store(&store, ExecutionStatus::Succeeded), 40);
    assert!(out.contains("order-0001  shipped"), "{out}");
    assert!(
        out.contains(&format!("store: {}", store.display())),
        "{out}"
    );
}

#[test]
fn declined_cards_are_compensated() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    let out = succeed(
        &store,
        &[
            "--decline-rate",
            "1",
            "--transient-rate",
            "0",
            "--fraud-rate",
            "0",
        ],
    );
    let expected = Summary {
        orders: 40,
        succeeded: 0,
        compensated: 40,
        failed: 0,
        retries: 0,
    };
    assert_eq!(summary(&out), expected, "{out}");
    // A compensated order is a successful execution whose output says so.
    assert_eq!(in_store(&store, ExecutionStatus::Succeeded), 40);
    assert!(out.contains("was declined: inventory released"), "{out}");
    assert!(out.contains("reservations left held: 0\n"), "{out}");
    assert!(out.contains("release_inventory 40"), "{out}");
    assert!(!out.contains("ship "), "nothing ships: {out}");
}

#[test]
fn a_gateway_that_keeps_failing_is_retried_then_fails_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    let out = succeed(
        &store,
        &[
            "--decline-rate",
            "0",
            "--transient-rate",
            "1",
            "--fraud-rate",
            "0",
        ],
    );
    // Four attempts per order: three retries.
    let expected = Summary {
        orders: 40,
        succeeded: 0,
        compensated: 0,
        failed: 40,
        retries: 120,
    };
    assert_eq!(summary(&out), expected, "{out}");
    assert_eq!(in_store(&store, ExecutionStatus::Failed), 40);
    assert!(out.contains("failed: 40 PaymentFailed"), "{out}");
    // The reservations were released before the executions failed.
    assert!(out.contains("release_inventory 40"), "{out}");
    assert!(out.contains("reservations left held: 0\n"), "{out}");
    assert!(out.contains("charge_payment 160"), "{out}");
}

#[test]
fn fraud_review_rejects_big_orders() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    // Every order is over $0, so every order is reviewed, and every review rejects.
    let out = succeed(&store, &["--review-over", "0", "--fraud-rate", "1"]);
    let expected = Summary {
        orders: 40,
        succeeded: 0,
        compensated: 0,
        failed: 40,
        retries: 0,
    };
    assert_eq!(summary(&out), expected, "{out}");
    assert!(out.contains("failed: 40 FraudSuspected"), "{out}");
    assert!(!out.contains("charge_payment"), "nothing is charged: {out}");
}

#[test]
fn default_rates_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    let out = succeed(&store, &[]);
    let s = summary(&out);
    assert_eq!(s.orders, 40);
    assert_eq!(s.succeeded + s.compensated + s.failed, 40, "{out}");
    assert_eq!(
        s.succeeded + s.compensated,
        in_store(&store, ExecutionStatus::Succeeded)
    );
    assert_eq!(s.failed, in_store(&store, ExecutionStatus::Failed));
    assert_eq!(in_store(&store, ExecutionStatus::Running), 0);

    // The same seed on another store: the same figures, whatever the timing.
    let other = dir.path().join("other.db");
    assert_eq!(summary(&succeed(&other, &[])), s);
}

#[test]
fn crash_after_fulfil_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let uninterrupted = summary(&succeed(&dir.path().join("clean.db"), &[]));

    let store = dir.path().join("orders.db");
    let crashed = run(&store, &["--crash-after", "fulfil"]);
    assert!(!crashed.status.success(), "the process aborts");
    let out = stdout(&crashed);
    assert!(out.contains("crashing after stage `fulfil`"), "{out}");
    assert!(!out.contains("summary:"), "{out}");
    assert!(in_store(&store, ExecutionStatus::Running) > 0);

    let resumed = succeed(&store, &[]);
    assert!(resumed.contains("interrupted"), "{resumed}");
    assert!(resumed.contains("already done: validate "), "{resumed}");
    assert!(resumed.contains("ran now: "), "{resumed}");
    assert_eq!(summary(&resumed), uninterrupted, "{resumed}");
    assert_eq!(in_store(&store, ExecutionStatus::Running), 0);

    // Once more: every order's stored result, and nothing runs.
    let again = succeed(&store, &[]);
    assert!(again.contains("40 finished earlier"), "{again}");
    assert!(!again.contains("ran now"), "{again}");
    assert_eq!(summary(&again), uninterrupted, "{again}");
}

#[test]
fn the_workflow_draws_as_mermaid_dot_and_asl() {
    snapshot_graphs("order_processing");
}

/// The `worker` lines `worker done: 23 orders finished here, …`: the orders of each.
fn finished_here(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("worker done: "))
        .and_then(|rest| rest.split_once(" orders finished here"))
        .map(|(n, _)| n.parse().unwrap())
        .unwrap_or_else(|| panic!("a `worker done` line in:\n{out}"))
}

#[test]
fn submit_and_two_worker_processes_give_the_all_in_one_outcomes() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.db");
    let alone = dir.path().join("alone.db");
    let spawn_worker = || {
        Command::new(binary())
            .arg("--store")
            .arg(&fleet)
            .args(BASE)
            .args(["worker", "--concurrency", "8", "--exit-when-idle", "2"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Submitting returns once the orders are recorded; nobody runs them yet.
    let out = succeed(&fleet, &["submit"]);
    assert!(out.contains("submitted 40 orders"), "{out}");
    assert!(out.contains("40 new"), "{out}");
    assert_eq!(in_store(&fleet, ExecutionStatus::Running), 40);
    // Two worker processes run them; a second submit waits for the end.
    let workers = [spawn_worker(), spawn_worker()];
    let waited = succeed(&fleet, &["submit", "--wait"]);
    assert!(waited.contains("0 new, 40 already there"), "{waited}");
    let mut finished = 0;
    for worker in workers {
        let out = worker.wait_with_output().unwrap();
        assert!(out.status.success());
        finished += finished_here(&String::from_utf8(out.stdout).unwrap());
    }
    assert_eq!(finished, 40, "each order ran to its end in one worker");
    assert_eq!(in_store(&fleet, ExecutionStatus::Running), 0);
    // The same outcomes as all in one process: they depend on the seed only.
    let together = succeed(&alone, &[]);
    assert_eq!(summary(&waited), summary(&together), "{waited}\n{together}");
}
