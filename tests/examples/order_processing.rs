//! End-to-end tests of `examples/order_processing/`: the example runs as a process on a
//! store in a temporary directory, and its summary is checked against what the flags
//! force (every card declined: every order compensated, ...) and against the store
//! itself, read here through waypost's API.
//!
//! Also: a run that crashes after the `fulfil` stage and resumes ends with the same
//! figures as a run that was never interrupted; and orders submitted by one process and
//! run by two worker processes end as in the all-in-one run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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

fn command(store: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.arg("--store").arg(store).args(BASE).args(args);
    command
}

fn run(store: &Path, args: &[&str]) -> Output {
    command(store, args).output().expect("the example starts")
}

/// The example started in the background, its output captured.
fn spawn(store: &Path, args: &[&str]) -> Child {
    command(store, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts")
}

/// The output of `child` once it exits; killed and a failure if it is still running
/// after `within`.
fn finish(child: Child, within: Duration) -> Output {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    let (sender, exited) = mpsc::channel();
    std::thread::spawn(move || sender.send(child.wait_with_output()));
    match exited.recv_timeout(within) {
        Ok(output) => output.expect("the example's output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let output = exited.recv().unwrap().unwrap();
            panic!(
                "the example still ran after {within:?}:\n{}\n{}",
                stdout(&output),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
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

/// The lines `order-0001  shipped  ...`, one per order with `--verbose`.
fn order_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("order-")).collect()
}

/// The step counts of a line `  ran now: validate 40, fraud_review 16, ...`.
fn step_counts(out: &str, label: &str) -> BTreeMap<String, u64> {
    out.lines()
        .filter_map(|l| l.trim_start().strip_prefix(label))
        .flat_map(|counts| counts.split(", "))
        .map(|count| {
            let (step, n) = count.rsplit_once(' ').unwrap();
            (step.to_owned(), n.parse().unwrap())
        })
        .collect()
}

/// `(finished, handed back, parked, stopped)` from a worker's
/// `worker stopped (idle): 21 finished, 0 handed back, 0 parked, 0 stopped`.
fn worker_report(out: &str) -> [u64; 4] {
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("worker stopped (idle): "))
        .unwrap_or_else(|| panic!("a worker report in:\n{out}"));
    let counts: Vec<u64> = line
        .split(", ")
        .map(|part| part.split(' ').next().unwrap().parse().unwrap())
        .collect();
    counts.try_into().unwrap()
}

#[test]
fn submit_and_two_workers_end_every_order_as_the_all_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let all_in_one = succeed(&dir.path().join("all.db"), &["--verbose"]);
    assert_eq!(order_lines(&all_in_one).len(), 40, "{all_in_one}");

    // One process submits and returns: nothing runs yet.
    let store = dir.path().join("orders.db");
    let submitted = succeed(&store, &["submit"]);
    assert!(
        submitted.contains("40 orders submitted as executions order-0001..order-0040"),
        "{submitted}"
    );
    assert!(
        submitted.contains(": 40 new, 0 already there"),
        "{submitted}"
    );
    assert_eq!(in_store(&store, ExecutionStatus::Running), 40);

    // Two workers, and a second submit (the same orders: none is new) that waits.
    let worker = ["worker", "--concurrency", "8", "--exit-when-idle"];
    let workers = [spawn(&store, &worker), spawn(&store, &worker)];
    let waited = finish(
        spawn(&store, &["submit", "--wait", "--verbose"]),
        Duration::from_secs(120),
    );
    let waited = expect_success(&waited);
    let reports: Vec<String> = workers
        .map(|w| expect_success(&finish(w, Duration::from_secs(60))))
        .into_iter()
        .collect();

    assert!(waited.contains(": 0 new, 40 already there"), "{waited}");
    assert_eq!(order_lines(&waited), order_lines(&all_in_one), "{waited}");
    assert_eq!(summary(&waited), summary(&all_in_one), "{waited}");
    assert!(waited.contains("  recoveries: 0 "), "{waited}");
    assert!(waited.contains(", 0 left held\n"), "{waited}");
    assert_eq!(in_store(&store, ExecutionStatus::Running), 0);

    // Each order ran in one worker: the reports add up to the orders, and each step ran
    // as often in the two workers together as in the all-in-one run.
    let finished: u64 = reports.iter().map(|r| worker_report(r)[0]).sum();
    assert_eq!(finished, 40, "{reports:?}");
    for report in &reports {
        assert_eq!(worker_report(report)[1..], [0, 0, 0], "{report}");
    }
    let mut ran_by_workers = BTreeMap::new();
    for report in &reports {
        for (step, n) in step_counts(report, "ran here: ") {
            *ran_by_workers.entry(step).or_insert(0) += n;
        }
    }
    assert_eq!(
        ran_by_workers,
        step_counts(&all_in_one, "ran now: "),
        "{reports:?}"
    );
}

#[test]
fn submit_and_two_workers_on_postgres_end_every_order_as_the_all_in_one_run() {
    let url = match std::env::var("WAYPOST_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "WAYPOST_TEST_POSTGRES is not set, and CI is: the PostgreSQL tests must run"
            );
            println!("PostgreSQL example test skipped: WAYPOST_TEST_POSTGRES is not set");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let all_in_one = succeed(&dir.path().join("all.db"), &["--verbose"]);
    let schema = format!("t_orders_{}_{:08x}", std::process::id(), fastrand::u32(..));
    let store = Path::new(&url);
    let worker = [
        "--schema",
        &schema,
        "worker",
        "--concurrency",
        "8",
        "--exit-when-idle",
    ];
    let workers = [spawn(store, &worker), spawn(store, &worker)];
    let waited = finish(
        spawn(
            store,
            &["--schema", &schema, "submit", "--wait", "--verbose"],
        ),
        Duration::from_secs(120),
    );
    let waited = expect_success(&waited);
    let reports: Vec<String> = workers
        .map(|w| expect_success(&finish(w, Duration::from_secs(60))))
        .into_iter()
        .collect();
    assert!(waited.contains(": 40 new, 0 already there"), "{waited}");
    assert_eq!(order_lines(&waited), order_lines(&all_in_one), "{waited}");
    assert_eq!(summary(&waited), summary(&all_in_one), "{waited}");
    let finished: u64 = reports.iter().map(|r| worker_report(r)[0]).sum();
    assert_eq!(finished, 40, "{reports:?}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let options = waypost_postgres::PostgresOptions::builder()
            .schema(schema.clone())
            .build();
        waypost_postgres::PostgresStore::connect_with(&url, options)
            .await
            .unwrap()
            .drop_schema()
            .await
            .unwrap();
    });
}

#[test]
fn the_workflow_draws_as_mermaid_dot_and_asl() {
    snapshot_graphs("order_processing");
}

#[test]
fn big_orders_wait_parked_for_approval_and_are_approved_or_rejected_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("orders.db");
    let outbox = dir.path().join("orders.db.approvals");
    // Every order over $100 passes review and waits for a person; nothing else fails.
    let flags = [
        "--approvals",
        "--review-over",
        "100",
        "--fraud-rate",
        "0",
        "--decline-rate",
        "0",
        "--transient-rate",
        "0",
    ];
    let with = |args: &[&'static str]| [args, &flags[..]].concat();
    succeed(&store, &with(&["submit"]));
    let worker = spawn(&store, &with(&["worker", "--exit-when-idle", "1"]));

    // Wait until every order still running waits for its approval.
    let tokens = |path: &Path| -> Vec<(String, String)> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let fields: Vec<&str> = l.split('\t').collect();
                (fields[0].to_owned(), fields[2].to_owned())
            })
            .collect()
    };
    let waiting = (0..600)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            let waiting = tokens(&outbox);
            let running = in_store(&store, ExecutionStatus::Running);
            (!waiting.is_empty() && running == waiting.len() as u64).then_some(waiting)
        })
        .expect("the big orders wait for approval");
    assert!(waiting.len() >= 4, "{waiting:?}");
    // Parked: a worker holds none of them.
    std::thread::sleep(Duration::from_millis(500));
    let leased = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = SqliteStore::open(&store).unwrap();
            let filter = ListFilter {
                status: Some(ExecutionStatus::Running),
                ..ListFilter::default()
            };
            let records = store.list(&filter).await.unwrap();
            records.iter().filter(|r| r.lease.is_some()).count()
        });
    assert_eq!(leased, 0, "the waiting orders are parked, holding no lease");

    // From other processes: the CLI approves every other order and rejects the rest.
    let cli = |args: &[&str]| {
        let output = Command::new(crate::support::cli_binary())
            .arg("--store")
            .arg(&store)
            .args(["callback"])
            .args(args)
            .output()
            .expect("the CLI starts");
        expect_success(&output)
    };
    let mut approved = Vec::new();
    for (n, (id, token)) in waiting.iter().enumerate() {
        if n % 2 == 0 {
            let out = cli(&["succeed", token, "--json", r#"{"by":"ana"}"#]);
            assert!(out.contains("taken: execution"), "{out}");
            approved.push(id.clone());
        } else {
            cli(&["fail", token, "--error", "Rejected", "--cause", "too risky"]);
        }
    }
    let report = expect_success(&finish(worker, Duration::from_secs(60)));
    assert!(
        worker_report(&report)[2] >= waiting.len() as u64,
        "{report}"
    );

    let results = succeed(&store, &with(&["submit", "--wait", "--verbose"]));
    for (id, _) in &waiting {
        let line = order_lines(&results)
            .into_iter()
            .find(|l| l.starts_with(id.as_str()))
            .unwrap_or_else(|| panic!("{id} in:\n{results}"));
        if approved.contains(id) {
            assert!(
                line.contains("shipped") && line.ends_with("approved by ana"),
                "{line}"
            );
        } else {
            assert!(
                line.contains("failed") && line.contains("Rejected: too risky"),
                "{line}"
            );
        }
    }
    let rejected = (waiting.len() - approved.len()) as u64;
    assert_eq!(summary(&results).failed, rejected, "{results}");
}
