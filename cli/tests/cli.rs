//! The `waypost` binary over a fixture store that real workflows wrote.
//!
//! The fixture (built once per test run, in `CARGO_TARGET_TMPDIR`) holds six executions
//! with fixed ids, written by the facade's `Runtime` on a `SqliteStore`:
//!
//! | id          | workflow     | codec   | what happened                                           |
//! |-------------|--------------|---------|---------------------------------------------------------|
//! | `order-1`   | `orders` v1  | json    | standard route, `charge` retried once, `gift_wrap` caught |
//! | `order-2`   | `orders` v1  | json    | express route, `charge` retried once                    |
//! | `pricing-1` | `pricing` v2 | bincode | a map over three items                                  |
//! | `refund-1`  | `refunds` v1 | json    | failed: a terminal error with a cause                   |
//! | `nightly-1` | `nightly` v1 | bincode | failed, then redriven to success                        |
//! | `import-1`  | `import` v1  | json    | interrupted inside a map: still `running`               |
//!
//! Then its times are rewritten to fixed values — executions a minute apart from
//! 2025-01-02T03:04:05Z, events 15 ms to 1.25 s apart in a fixed pattern, each duration
//! the time since its start event — so that every output is deterministic; what remains
//! variable (temporary paths, fingerprints) is redacted by insta filters.
//!
//! `watch` is also tested live, on an execution that runs while the binary polls.

mod support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use waypost::prelude::*;
use waypost::{JsonCodec, SqliteStore, Store};

use support::{console, http};

// ---------------------------------------------------------------------------------------
// The workflows.

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    id: u32,
    items: u32,
    gift_wrap: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Receipt {
    order: u32,
    cents: u64,
}

#[step]
async fn validate(order: Order) -> Result<Order, Error> {
    Ok(order)
}

#[step]
async fn express_ship(order: Order) -> Order {
    order
}

#[step]
async fn standard_ship(order: Order) -> Order {
    order
}

/// Fails its first attempt, as a flaky payment network does.
#[step]
async fn charge(cx: &StepContext, order: Order) -> Result<Order, Error> {
    if cx.attempt() == 1 {
        return Err(Error::new("Transient", "card network timed out"));
    }
    Ok(order)
}

#[step]
async fn gift_wrap(order: Order) -> Result<Order, Error> {
    if order.gift_wrap {
        return Err(Error::new("WrapFailed", "out of ribbon"));
    }
    Ok(order)
}

#[step]
async fn skip_wrap((order, _error): (Order, Error)) -> Order {
    order
}

fn retry() -> RetryPolicy {
    RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(3)
        .interval(Duration::from_millis(1))
        .build()
}

fn orders() -> Workflow<Order, Receipt> {
    Workflow::new(
        "orders",
        1,
        validate
            .then(
                choice()
                    .named("route")
                    .when("express", |o: &Order| o.items > 10, express_ship)
                    .otherwise(standard_ship),
            )
            .then(charge.retry(retry()))
            .then(gift_wrap.catch(["WrapFailed"], skip_wrap))
            .then(pass("receipt", |o: Order| Receipt {
                order: o.id,
                cents: u64::from(o.items) * 1499,
            })),
    )
    .with_codec(JsonCodec)
}

#[step]
async fn price(item: u32) -> u64 {
    u64::from(item) * 250
}

#[step]
async fn total(prices: Vec<u64>) -> u64 {
    prices.iter().sum()
}

fn pricing() -> Workflow<Vec<u32>, u64> {
    // One item at a time, so that the history's order is the same in every run.
    Workflow::new("pricing", 2, map(price).max_concurrency(1).then(total))
}

#[step]
async fn lookup(id: u32) -> u32 {
    id
}

#[step]
async fn refund(id: u32) -> Result<u32, Error> {
    Err(
        Error::terminal("PaymentDeclined", format!("refund {id} was declined")).caused_by(
            Error::new("GatewayError", "issuer answered 05: do not honor")
                .caused_by(Error::new("Cause", "card reported stolen")),
        ),
    )
}

fn refunds() -> Workflow<u32, u32> {
    Workflow::new("refunds", 1, lookup.then(refund.retry(retry()))).with_codec(JsonCodec)
}

static WAREHOUSE_DOWN: AtomicBool = AtomicBool::new(true);

#[test]
fn reading_a_closed_store_leaves_nothing_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("copy.db");
    std::fs::copy(fixture(), &store).unwrap();
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let before = std::fs::read(&store).unwrap();
    for args in [&["list"][..], &["show", "order-1"], &["history", "order-1"]] {
        let out = waypost(&store, args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "no note: the view is live");
        assert_eq!(names(), ["copy.db"], "after {args:?}");
    }
    assert_eq!(
        std::fs::read(&store).unwrap(),
        before,
        "the file is unchanged"
    );
}

/// A store on a read-only mount (a tmpfs remounted read-only; it needs root, which CI
/// has) is read as an unchanging file, with a note.
#[test]
fn a_store_on_a_read_only_mount_is_read_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let mount = |args: &[&str]| {
        Command::new("mount")
            .args(args)
            .arg(dir.path())
            .status()
            .is_ok_and(|status| status.success())
    };
    if !mount(&["-t", "tmpfs", "-o", "size=8m", "tmpfs"]) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the read-only mount test needs to mount a tmpfs (root) on CI"
        );
        println!("read-only mount test skipped: cannot mount a tmpfs here");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(dir.path());
    let store = dir.path().join("backup.db");
    std::fs::copy(fixture(), &store).unwrap();
    assert!(mount(&["-o", "remount,ro"]), "remount read-only");

    let out = waypost(&store, &["list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), run(&["list"]));
    assert!(stderr.contains("read as an unchanging file"), "{stderr}");
}

#[step]
async fn extract(day: u32) -> u32 {
    day
}

#[step]
async fn sync(day: u32) -> Result<u32, Error> {
    if WAREHOUSE_DOWN.load(Ordering::SeqCst) {
        return Err(Error::new("Unavailable", "the warehouse is down"));
    }
    Ok(day)
}

fn nightly() -> Workflow<u32, u32> {
    Workflow::new("nightly", 1, extract.then(sync))
}

#[step]
async fn fetch_rows(count: u32) -> Vec<u32> {
    (0..count).collect()
}

/// Rows from 2 on never finish: the execution stays in flight until it is dropped.
#[step]
async fn load_row(row: u32) -> u32 {
    if row >= 2 {
        std::future::pending::<()>().await;
    }
    row
}

#[step]
async fn summarize(rows: Vec<u32>) -> u32 {
    rows.len() as u32
}

fn import() -> Workflow<u32, u32> {
    Workflow::new(
        "import",
        1,
        fetch_rows
            .then(map(load_row).max_concurrency(1).named("load"))
            .then(summarize),
    )
    .with_codec(JsonCodec)
}

// ---------------------------------------------------------------------------------------
// The fixture.

/// The fixture store, built on first use.
fn fixture() -> &'static Path {
    static FIXTURE: OnceLock<PathBuf> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-fixture");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("waypost.db");
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(write_fixture(&path));
        fix_times(&path);
        path
    })
}

async fn write_fixture(path: &Path) {
    let store = SqliteStore::open(path).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();

    let order = |id, items, wrap| Order {
        id,
        items,
        gift_wrap: wrap,
    };
    runtime
        .start(&orders(), "order-1", order(1, 3, true))
        .await
        .unwrap();
    runtime
        .start(&orders(), "order-2", order(2, 12, false))
        .await
        .unwrap();
    runtime
        .start(&pricing(), "pricing-1", vec![4, 1, 7])
        .await
        .unwrap();
    runtime.start(&refunds(), "refund-1", 42).await.unwrap_err();
    runtime
        .start(&nightly(), "nightly-1", 20250102)
        .await
        .unwrap_err();
    WAREHOUSE_DOWN.store(false, Ordering::SeqCst);
    runtime.redrive(&nightly(), "nightly-1").await.unwrap();

    // Interrupt `import-1` once its second row's checkpoint is stored.
    let run = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.start(&import(), "import-1", 4).await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = match store.history("import-1").await {
            Ok(history) => history.iter().any(|e| {
                e.kind == waypost::EventKind::StepSucceeded && e.address == "1.load/1/0.load_row"
            }),
            Err(_) => false,
        };
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "import-1 did not get to its second row"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    run.abort();
    let _ = run.await;
    // The dropped run gives its lease up in a task of its own: wait for it, so that
    // `import-1` waits for a worker (rather than shows this process as its runner).
    while store.execution("import-1").await.unwrap().lease.is_some() {
        assert!(
            Instant::now() < deadline,
            "import-1's lease was not released"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(runtime);
    store.close();
}

/// Rewrites every time in the store at `path` to fixed values (see the module docs).
fn fix_times(path: &Path) {
    const BASE_MS: i64 = 1_735_787_045_000; // 2025-01-02T03:04:05Z
    /// The time before the `n`th event is `GAPS_MS[n % 8]`.
    const GAPS_MS: [i64; 8] = [120, 35, 480, 60, 1_250, 15, 210, 90];
    let conn = Connection::open(path).unwrap();
    let ids: Vec<(String, String)> = conn
        .prepare("SELECT id, status FROM executions ORDER BY rowid")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (i, (id, status)) in ids.iter().enumerate() {
        let created = BASE_MS + 60_000 * i as i64;
        let events: Vec<(i64, String, String, i64, Option<i64>)> = conn
            .prepare(
                "SELECT seq, kind, address, attempt, duration_ms FROM events \
                 WHERE execution_id = ?1 ORDER BY seq",
            )
            .unwrap()
            .query_map([id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let at = |seq: i64| {
            created
                + (2..=seq)
                    .map(|n| GAPS_MS[n as usize % GAPS_MS.len()])
                    .sum::<i64>()
        };
        for (n, (seq, kind, address, attempt, duration)) in events.iter().enumerate() {
            let start_kind = match kind.as_str() {
                "StepSucceeded" | "StepFailed" => "StepStarted",
                "MapFinished" => "MapStarted",
                "TimerFired" => "TimerStarted",
                _ => "",
            };
            let started = events[..n]
                .iter()
                .rev()
                .find(|(_, k, a, t, _)| k == start_kind && a == address && t == attempt)
                .map_or(at(*seq), |(s, ..)| at(*s));
            let duration = duration.map(|_| at(*seq) - started);
            conn.execute(
                "UPDATE events SET at_ms = ?1, duration_ms = ?2 WHERE execution_id = ?3 AND seq = ?4",
                rusqlite::params![at(*seq), duration, id, seq],
            )
            .unwrap();
        }
        let updated = match (status.as_str(), events.last()) {
            ("running", _) | (_, None) => created,
            (_, Some((seq, ..))) => at(*seq),
        };
        conn.execute(
            "UPDATE executions SET created_ms = ?1, updated_ms = ?2 WHERE id = ?3",
            rusqlite::params![created, updated, id],
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Running the binary.

fn waypost(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waypost"))
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("WAYPOST_STORE")
        .output()
        .unwrap()
}

/// The standard output of a successful run over the fixture.
fn run(args: &[&str]) -> String {
    let output = waypost(fixture(), args);
    assert!(
        output.status.success(),
        "waypost {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The standard error of a run that must fail with exit status 1.
fn fail(store: &Path, args: &[&str]) -> String {
    let output = waypost(store, args);
    assert_eq!(
        output.status.code(),
        Some(1),
        "waypost {args:?}: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(output.stdout.is_empty());
    String::from_utf8(output.stderr).unwrap()
}

/// Snapshots with what varies between runs redacted.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            filters => vec![
                (r"fingerprint [0-9a-f]+", "fingerprint [fingerprint]"),
                (r"`[^`]*/(cli-fixture|\.tmp[^/`]*)/", "`[dir]/"),
            ],
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $value);
        });
    };
}

// ---------------------------------------------------------------------------------------
// The commands.

#[test]
fn help_says_where_resume_and_redrive_are() {
    let output = Command::new(env!("CARGO_BIN_EXE_waypost"))
        .arg("--help")
        .env_remove("WAYPOST_STORE")
        .output()
        .unwrap();
    assert!(output.status.success());
    snapshot!("help", String::from_utf8(output.stdout).unwrap());
}

#[test]
fn list_shows_every_execution_newest_first() {
    snapshot!("list", run(&["list"]));
}

#[test]
fn list_filters_by_status_workflow_and_limit() {
    snapshot!("list_failed", run(&["list", "--status", "failed"]));
    snapshot!(
        "list_orders",
        run(&["list", "--workflow", "orders", "--limit", "1"])
    );
    snapshot!(
        "list_none",
        run(&["list", "--status", "cancelled", "--workflow", "orders"])
    );
}

#[test]
fn the_store_can_come_from_the_environment() {
    let output = Command::new(env!("CARGO_BIN_EXE_waypost"))
        .args(["list", "--limit", "1"])
        .env("WAYPOST_STORE", fixture())
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("import-1")
    );
}

#[test]
fn show_a_json_execution_prints_its_input_and_output() {
    snapshot!("show_order_1", run(&["show", "order-1"]));
}

#[test]
fn show_a_bincode_execution_gives_sizes() {
    snapshot!("show_pricing_1", run(&["show", "pricing-1"]));
}

#[test]
fn show_a_failed_execution_names_the_step_and_the_error_chain() {
    snapshot!("show_refund_1", run(&["show", "refund-1"]));
}

#[test]
fn show_a_running_execution_gives_its_progress() {
    snapshot!("show_import_1", run(&["show", "import-1"]));
}

#[test]
fn show_a_redriven_execution() {
    snapshot!("show_nightly_1", run(&["show", "nightly-1"]));
}

#[test]
fn history_is_a_timeline() {
    snapshot!("history_order_1", run(&["history", "order-1"]));
    snapshot!("history_pricing_1", run(&["history", "pricing-1"]));
    snapshot!("history_nightly_1", run(&["history", "nightly-1"]));
    snapshot!("history_import_1", run(&["history", "import-1"]));
}

#[test]
fn history_as_json_lines() {
    let text = run(&["history", "refund-1", "--json"]);
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in [
            "seq",
            "at_ms",
            "kind",
            "address",
            "attempt",
            "duration_ms",
            "details",
        ] {
            assert!(event.get(key).is_some(), "{key} missing in {line}");
        }
    }
    snapshot!("history_refund_1_json", text);
}

#[test]
fn graph_of_an_execution_colours_its_states() {
    snapshot!("graph_order_1_mermaid", run(&["graph", "order-1"]));
    snapshot!(
        "graph_order_1_dot",
        run(&["graph", "order-1", "--format", "dot"])
    );
    snapshot!(
        "graph_order_1_asl",
        run(&["graph", "order-1", "--format", "asl"])
    );
    snapshot!(
        "graph_refund_1_mermaid",
        run(&["graph", "refund-1", "--format", "mermaid"])
    );
    snapshot!("graph_import_1_mermaid", run(&["graph", "import-1"]));
}

#[test]
fn graph_of_a_workflow_is_uncoloured() {
    let dot = run(&["graph", "pricing", "--format", "dot"]);
    assert!(!dot.contains("fillcolor"), "{dot}");
    snapshot!("graph_pricing_dot", dot);
}

#[test]
fn asl_of_an_execution_is_valid_json_with_a_status_per_state() {
    let asl: serde_json::Value =
        serde_json::from_str(&run(&["graph", "refund-1", "--format", "asl"])).unwrap();
    assert_eq!(asl["States"]["lookup"]["Comment"], "status: succeeded");
    assert_eq!(asl["States"]["refund"]["Comment"], "status: failed");
}

/// Renders the DOT drawings with Graphviz when it is installed.
#[test]
fn dot_output_renders_with_graphviz() {
    if Command::new("dot").arg("-V").output().is_err() {
        eprintln!("skipped: Graphviz `dot` is not installed");
        return;
    }
    for target in ["order-1", "refund-1", "import-1", "pricing"] {
        let source = run(&["graph", target, "--format", "dot"]);
        let mut child = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), source.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "dot rejected the graph of {target}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn stats_per_step() {
    snapshot!("stats_orders", run(&["stats", "orders"]));
    snapshot!("stats_pricing", run(&["stats", "pricing"]));
}

#[test]
fn watch_a_finished_execution_prints_its_end() {
    assert_eq!(
        run(&["watch", "order-1"]),
        "order-1 succeeded after 4.520s\n"
    );
    snapshot!("watch_refund_1", run(&["watch", "refund-1"]));
}

static GATE_OPEN: AtomicBool = AtomicBool::new(false);

/// Waits for the test to open the gate.
#[step]
async fn gated(item: u32) -> u32 {
    while !GATE_OPEN.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_running_execution_to_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    let store = SqliteStore::open(&path).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let workflow = Workflow::new("live", 1, map(gated).max_concurrency(2));
    let run = tokio::spawn({
        let runtime = runtime.clone();
        async move { runtime.start(&workflow, "live-1", vec![1, 2, 3]).await }
    });
    while store.execution("live-1").await.is_err() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let watcher = Command::new(env!("CARGO_BIN_EXE_waypost"))
        .arg("--store")
        .arg(&path)
        .args(["watch", "live-1", "--interval-ms", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        store.execution("live-1").await.unwrap().status,
        ExecutionStatus::Running,
        "still running while watched"
    );
    GATE_OPEN.store(true, Ordering::SeqCst);
    assert_eq!(run.await.unwrap().unwrap(), [1, 2, 3]);

    let output = tokio::task::spawn_blocking(|| watcher.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let line = String::from_utf8(output.stdout).unwrap();
    let (head, took) = line.trim_end().rsplit_once(' ').unwrap();
    assert_eq!(head, "live-1 succeeded after", "{line}");
    assert!(took.ends_with('s'), "{line}");
}

// ---------------------------------------------------------------------------------------
// Errors: each a message and exit status 1.

#[test]
fn a_missing_store_file_is_an_error_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.db");
    snapshot!("error_missing_store", fail(&path, &["list"]));
    assert!(!path.exists(), "the store must not be created");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn an_unknown_id_is_an_error() {
    for command in ["show", "history", "watch"] {
        let err = fail(fixture(), &[command, "order-99"]);
        assert!(err.contains("no execution `order-99`"), "{command}: {err}");
    }
    snapshot!("error_unknown_id", fail(fixture(), &["show", "order-99"]));
    snapshot!("error_unknown_graph", fail(fixture(), &["graph", "nope"]));
    snapshot!(
        "error_unknown_workflow",
        fail(fixture(), &["stats", "nope"])
    );
}

#[test]
fn a_newer_store_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    std::fs::copy(fixture(), &path).unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    snapshot!("error_newer_schema", fail(&path, &["list"]));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_file_that_is_not_a_store_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "shopping list: ribbon, tape\n".repeat(100)).unwrap();
    snapshot!("error_not_a_store", fail(&path, &["list"]));
}

#[test]
fn the_cli_never_writes_the_store() {
    let before = std::fs::read(fixture()).unwrap();
    for args in [
        &["list"][..],
        &["show", "import-1"],
        &["history", "order-1"],
        &["graph", "order-1"],
        &["stats", "orders"],
    ] {
        run(args);
    }
    assert_eq!(std::fs::read(fixture()).unwrap(), before);
}

// ---------------------------------------------------------------------------------------
// Hostile text: control characters and bidirectional overrides in what a store holds.

/// What a terminal would act on: clear the screen, set the window title, ring the bell,
/// a NUL, line breaks, a tab, DEL, a C1 CSI, bidirectional controls, a line separator.
const EVIL: &str =
    "\u{1b}[2J\u{1b}]0;pwned\u{7}\0\n\r\t\u{7f}\u{9b}31m\u{202e}\u{2066}\u{200f}\u{61c}\u{2028}!";

/// `EVIL` without its NUL, which a command-line argument cannot hold.
fn evil_arg() -> String {
    EVIL.replace('\0', "")
}

/// The hostile store: executions whose ids, workflow name, step names, branch label,
/// error names and messages and payloads all hold [`EVIL`] (ids and the workflow name
/// without its NUL, so that a command line can name them). Names with control characters
/// are refused when a workflow is defined, so the workflow runs with [`MARK`] in its
/// names, and the hostile text replaces it in the file afterwards: a store from before
/// that rule, or a hand-edited one, holds such names. Returns the directory, the
/// store's path, and the ids: a failed one, a succeeded one, and one interrupted inside
/// its map.
async fn hostile_store() -> (tempfile::TempDir, PathBuf, [String; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.db");
    let store = SqliteStore::open(&path).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let evil = evil_arg();
    let ids = [
        format!("failed-{evil}"),
        format!("done-{evil}"),
        format!("running-{evil}"),
    ];

    let fails = step_fn(format!("fails-{MARK}"), |x: String| async move {
        Err::<String, _>(
            Error::new(format!("Bad{MARK}Name"), format!("message {EVIL} {x}"))
                .caused_by(Error::new(format!("Cause{EVIL}"), EVIL)),
        )
    });
    let echo = || {
        step_fn(format!("echo-{MARK}"), |x: String| async move {
            Ok::<_, Error>(format!("{x}{EVIL}"))
        })
    };
    let held = Arc::new(AtomicBool::new(true));
    let hold = {
        let held = Arc::clone(&held);
        step_fn(format!("item-{MARK}"), move |x: String| {
            let held = Arc::clone(&held);
            async move {
                if x.ends_with('2') {
                    while held.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                Ok::<_, Error>(x)
            }
        })
    };
    let workflow = |tail: BoxStep<String, String>| {
        Workflow::new(
            format!("wf-{MARK}"),
            1,
            choice()
                .named(format!("route-{MARK}"))
                .when(
                    format!("label-{MARK}"),
                    |x: &String| x.starts_with('f'),
                    tail,
                )
                .otherwise(echo().boxed()),
        )
        .with_codec(JsonCodec)
    };
    runtime
        .start(
            &workflow(
                echo()
                    .then(
                        fails.retry(
                            RetryPolicy::builder()
                                .errors([format!("Bad{MARK}Name")])
                                .max_attempts(2)
                                .interval(Duration::from_millis(1))
                                .build(),
                        ),
                    )
                    .boxed(),
            ),
            ids[0].clone(),
            format!("f{EVIL}"),
        )
        .await
        .unwrap_err();
    runtime
        .start(
            &workflow(echo().boxed()),
            ids[1].clone(),
            format!("d{EVIL}"),
        )
        .await
        .unwrap();
    let items = Workflow::new(
        format!("wf-{MARK}"),
        1,
        pass(format!("split-{MARK}"), |x: String| {
            vec![format!("{x}-1"), format!("{x}-2")]
        })
        .then(map(hold).max_concurrency(1).named(format!("map-{MARK}"))),
    )
    .with_codec(JsonCodec);
    let run = tokio::spawn({
        let (runtime, id) = (runtime.clone(), ids[2].clone());
        async move { runtime.start(&items, id, format!("r{EVIL}")).await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.history(&ids[2]).await.is_ok_and(|history| {
        history
            .iter()
            .any(|e| e.kind == waypost::EventKind::StepSucceeded && e.address.contains("/0/"))
    }) {
        assert!(
            Instant::now() < deadline,
            "the map never finished its first item"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    run.abort();
    let _ = run.await;
    held.store(false, Ordering::SeqCst);
    drop(runtime);
    store.close();
    put_hostile_names(&path);
    (dir, path, ids)
}

/// Where the hostile store's names hold hostile text once [`put_hostile_names`] ran.
const MARK: &str = "MARK";

/// Replaces [`MARK`] in every text column of the store at `path`: with [`EVIL`] (without
/// its NUL in the workflow name, which a command line names), JSON-escaped in JSON text.
fn put_hostile_names(path: &Path) {
    let db = Connection::open(path).unwrap();
    db.execute(
        "UPDATE executions SET workflow = replace(workflow, ?1, ?2)",
        rusqlite::params![MARK, evil_arg()],
    )
    .unwrap();
    let json = serde_json::to_string(EVIL).unwrap();
    let json = &json[1..json.len() - 1];
    let columns: Vec<(String, String)> = db
        .prepare(
            "SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND c.type = 'TEXT' AND c.name != 'workflow'",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (table, column) in columns {
        db.execute(
            &format!(
                "UPDATE {table} SET {column} = CASE WHEN json_valid({column})
                 THEN replace({column}, ?1, ?2) ELSE replace({column}, ?1, ?3) END
                 WHERE instr({column}, ?1) > 0"
            ),
            rusqlite::params![MARK, json, EVIL],
        )
        .unwrap();
    }
}

/// The standard output of a successful run over `store`, checked to hold nothing a
/// terminal would act on but its own line ends.
fn run_safely(store: &Path, args: &[&str]) -> String {
    let output = waypost(store, args);
    assert!(
        output.status.success(),
        "waypost {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    for (at, c) in text.char_indices() {
        assert!(
            c == '\n' || !waypost::text::is_unsafe(c),
            "waypost {args:?} printed {c:?} at byte {at}:\n{text}"
        );
    }
    assert!(!text.bytes().any(|b| b < 0x20 && b != b'\n'), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_prints_a_control_character_from_the_store() {
    let (_dir, path, [failed, done, running]) = hostile_store().await;
    let path = path.as_path();
    let workflow = format!("wf-{}", evil_arg());
    // What the escapes look like.
    let escaped = r"\e[2J\e]0;pwned\u{7}";
    let bidi = r"\u{202e}\u{2066}\u{200f}\u{61c}\u{2028}";

    let list = run_safely(path, &["list"]);
    assert_eq!(list.lines().count(), 4, "one row per execution:\n{list}");
    assert!(list.contains(escaped) && list.contains(bidi), "{list}");
    let list = run_safely(path, &["list", "--workflow", &workflow]);
    assert_eq!(list.lines().count(), 4, "{list}");
    let none = run_safely(path, &["list", "--workflow", &format!("{workflow}?")]);
    assert!(none.contains(escaped), "{none}");

    for id in [&failed, &done, &running] {
        let show = run_safely(path, &["show", id]);
        assert!(show.contains(escaped) && show.contains(bidi), "{show}");
        let history = run_safely(path, &["history", id]);
        assert!(
            history.contains(escaped) && history.contains(bidi),
            "{history}"
        );
        // One line for the heading, one for the header, one per event.
        let events = run_safely(path, &["history", id, "--json"]);
        assert_eq!(
            history.lines().count(),
            2 + events.lines().count(),
            "{history}"
        );
        for line in events.lines() {
            serde_json::from_str::<waypost::Event>(line).unwrap();
        }
        for format in ["mermaid", "dot", "asl"] {
            let graph = run_safely(path, &["graph", id, "--format", format]);
            assert!(graph.contains("pwned"), "{graph}");
        }
    }
    let show = run_safely(path, &["show", &failed]);
    assert!(show.contains(r"message \e[2J"), "{show}");
    assert!(show.contains(r"caused by  Cause\e[2J"), "{show}");
    let show = run_safely(path, &["show", &running]);
    assert!(
        show.contains(r"last finished  1.map-\e[2J") && show.contains(r"map            1.map-"),
        "{show}"
    );
    // The JSON means what the store holds.
    let json = run_safely(path, &["history", &failed, "--json"]);
    let failures: Vec<waypost::Event> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .filter(|e: &waypost::Event| e.kind == waypost::EventKind::StepFailed)
        .collect();
    let error = failures[0].details.error.as_ref().unwrap();
    assert_eq!(error.name, format!("Bad{EVIL}Name"));
    assert!(error.message.starts_with(&format!("message {EVIL}")));

    for format in ["mermaid", "dot", "asl"] {
        run_safely(path, &["graph", &workflow, "--format", format]);
    }
    let asl: serde_json::Value =
        serde_json::from_str(&run_safely(path, &["graph", &failed, "--format", "asl"])).unwrap();
    assert!(
        asl["States"]
            .as_object()
            .unwrap()
            .keys()
            .any(|k| k.starts_with("route-"))
    );

    let stats = run_safely(path, &["stats", &workflow]);
    assert!(stats.contains(escaped) && stats.contains(bidi), "{stats}");
    // The heading, the table's header, and one row per step that ran.
    assert_eq!(stats.lines().count(), 2 + 3, "{stats}");

    let watched = run_safely(path, &["watch", &failed]);
    assert_eq!(watched.lines().count(), 1, "{watched}");
    assert!(
        watched.contains(escaped) && watched.contains(bidi),
        "{watched}"
    );
}

// ---------------------------------------------------------------------------------------
// Recoveries and re-runs.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_and_re_runs_are_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recovered.db");
    let store = SqliteStore::open(&path).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let held = Arc::new(AtomicBool::new(true));
    let slow = {
        let held = Arc::clone(&held);
        step_fn("slow", move |x: u32| {
            let held = Arc::clone(&held);
            async move {
                while held.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Ok::<_, Error>(x)
            }
        })
    };
    let fast = step_fn("fast", |x: u32| async move { Ok::<_, Error>(x) });
    let workflow = Workflow::new(
        "recovering",
        1,
        parallel((slow, fast)).then(pass("sum", |(a, b): (u32, u32)| a + b)),
    );
    // The fast branch's checkpoint stores the slow step's start; then the process
    // running it dies, holding the lease until it runs out.
    let run = tokio::spawn({
        let (runtime, workflow) = (runtime.clone(), workflow.clone());
        async move { runtime.start(&workflow, "rec-1", 2).await }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !store.history("rec-1").await.is_ok_and(|history| {
        history
            .iter()
            .any(|e| e.kind == waypost::EventKind::StepStarted && e.address.ends_with("0.slow"))
    }) {
        assert!(Instant::now() < deadline, "the slow step never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    run.abort();
    let _ = run.await;
    let crashed = "another-host.invalid:4242:dead";
    while store
        .acquire_lease("rec-1", crashed, Duration::from_millis(1))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the lease was never released");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    held.store(false, Ordering::SeqCst);
    assert_eq!(runtime.resume(&workflow, "rec-1").await.unwrap(), 4);
    drop(runtime);
    store.close();

    let show = run_safely(&path, &["show", "rec-1"]);
    assert!(show.contains("\nrecoveries  1\n"), "{show}");
    let history = run_safely(&path, &["history", "rec-1"]);
    let recovered = history
        .lines()
        .find(|line| line.contains("ExecutionRecovered"))
        .unwrap_or_else(|| panic!("{history}"));
    assert!(
        recovered.contains(&format!("taken over from `{crashed}`"))
            && recovered.ends_with("; recovery 1"),
        "{recovered}"
    );
    let reruns: Vec<&str> = history.lines().filter(|l| l.ends_with("run 2")).collect();
    assert_eq!(
        reruns.len(),
        2,
        "the slow step's second start and end:\n{history}"
    );
    let stats = run_safely(&path, &["stats", "recovering"]);
    assert!(
        stats.starts_with("workflow `recovering`: 1 execution (1 succeeded), recovered 1 time\n"),
        "{stats}"
    );
    let slow_row: Vec<&str> = stats
        .lines()
        .find(|line| line.starts_with("slow "))
        .unwrap()
        .split_whitespace()
        .collect();
    // STEP RUNS RERUNS FAILURES RETRIES ...
    assert_eq!(slow_row[..5], ["slow", "2", "1", "0", "0"], "{stats}");
}

// ---------------------------------------------------------------------------------------
// A store argument is a path, never a SQLite URI.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_argument_that_looks_like_a_uri_is_a_file_name() {
    let dir = tempfile::tempdir().unwrap();
    // `a.db` holds an execution; `file:a.db` (as a URI: `a.db`) does not exist.
    let plain = SqliteStore::open(dir.path().join("a.db")).unwrap();
    let runtime = Runtime::builder().store(plain.clone()).build();
    let wf = Workflow::new("uri", 1, pass("p", |x: u32| x)).with_codec(JsonCodec);
    runtime.start(&wf, "in-a", 1).await.unwrap();
    plain.close();
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_waypost"))
            .current_dir(dir.path())
            .args(args)
            .env_remove("WAYPOST_STORE")
            .output()
            .unwrap()
    };
    let out = cli(&["--store", "file:a.db", "list"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("store file `file:a.db` not found"),
        "{stderr}"
    );
    // A file literally named `file:b.db` is that file.
    let literal = SqliteStore::open(dir.path().join("file:b.db")).unwrap();
    Runtime::builder()
        .store(literal.clone())
        .build()
        .start(&wf, "in-b", 2)
        .await
        .unwrap();
    literal.close();
    let out = cli(&["--store", "file:b.db", "list"]);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listed.contains("in-b") && !listed.contains("in-a"),
        "{listed}"
    );
    assert!(!dir.path().join("b.db").exists(), "nothing else was opened");
}

#[test]
fn list_limit_zero_is_a_usage_error() {
    let output = waypost(fixture(), &["list", "--limit", "0"]);
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--limit") && stderr.contains('0'),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------------------
// Permissions: the real cause, not "not found" or "unable to open database file".

/// Runs the CLI as the user `nobody` (through `setpriv`, which needs root). `None`
/// outside CI when that is not possible here; on CI it fails.
fn waypost_as_nobody(args: &[&str]) -> Option<Output> {
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let setpriv = Path::new("/usr/bin/setpriv").exists();
    if !(root && setpriv) {
        assert!(
            std::env::var_os("CI").is_none(),
            "the permission tests need root and setpriv on CI"
        );
        println!("permission test skipped: it needs root and setpriv");
        return None;
    }
    Some(
        Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_waypost"))
            .args(args)
            .env_remove("WAYPOST_STORE")
            .output()
            .unwrap(),
    )
}

#[test]
fn a_store_this_user_cannot_reach_or_read_is_named_as_a_permission_problem() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    // Searchable by everyone: only what is inside decides.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::copy(fixture(), closed.join("a.db")).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let open = dir.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::copy(fixture(), open.join("b.db")).unwrap();
    std::fs::set_permissions(open.join("b.db"), std::fs::Permissions::from_mode(0o600)).unwrap();

    let a = closed.join("a.db");
    let Some(out) = waypost_as_nobody(&["--store", a.to_str().unwrap(), "list"]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("permission denied") && !stderr.contains("not found"),
        "{stderr}"
    );
    let b = open.join("b.db");
    let out = waypost_as_nobody(&["--store", b.to_str().unwrap(), "list"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("permission denied") && stderr.contains("cannot read"),
        "{stderr}"
    );
}

#[test]
fn a_store_in_a_directory_this_user_cannot_write_is_read_with_a_note() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = dir.path().join("shared.db");
    std::fs::copy(fixture(), &store).unwrap();
    std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o644)).unwrap();
    let Some(out) = waypost_as_nobody(&["--store", store.to_str().unwrap(), "list"]) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed, run(&["list"]), "the same view as its owner's");
    assert!(stderr.contains("read as an unchanging file"), "{stderr}");
    // Nothing was created beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["shared.db"]);
}

// ---------------------------------------------------------------------------------------
// `waypost console`: the web console over the store, as a process.

#[test]
fn console_serves_the_store_and_cancels_with_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("copy.db");
    std::fs::copy(fixture(), &store).unwrap();
    let served = console(
        &[OsStr::new("--store"), store.as_os_str()],
        &["--token", "t0ken"],
    );

    let (status, page) = http(&served.addr, "GET", "/executions", &[]);
    assert_eq!(status, 200, "{page}");
    for id in [
        "order-1",
        "order-2",
        "pricing-1",
        "refund-1",
        "nightly-1",
        "import-1",
    ] {
        assert!(page.contains(&format!("data-id=\"{id}\"")), "{id} listed");
    }
    let (status, page) = http(&served.addr, "GET", "/executions/refund-1", &[]);
    assert_eq!(status, 200);
    assert!(
        page.contains("data-status=\"failed\""),
        "the failed state is coloured"
    );
    let (status, _) = http(&served.addr, "GET", "/executions/no-such-id", &[]);
    assert_eq!(status, 404);

    // Cancel needs the token; with it, the running execution is cancelled in the file.
    let cancel = "/api/executions/import-1/cancel";
    let (status, body) = http(&served.addr, "POST", cancel, &[]);
    assert_eq!(status, 403, "{body}");
    let (status, body) = http(
        &served.addr,
        "POST",
        cancel,
        &["Authorization: Bearer t0ken"],
    );
    assert_eq!(status, 200, "{body}");
    let shown = run_on(&store, &["show", "import-1"]);
    assert!(shown.contains("cancelled"), "{shown}");
}

#[test]
fn a_read_only_console_refuses_actions_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("copy.db");
    std::fs::copy(fixture(), &store).unwrap();
    let before = std::fs::read(&store).unwrap();
    let served = console(
        &[OsStr::new("--store"), store.as_os_str()],
        &["--read-only"],
    );
    let (status, _) = http(&served.addr, "GET", "/api/executions", &[]);
    assert_eq!(status, 200);
    let (status, body) = http(&served.addr, "POST", "/api/executions/import-1/cancel", &[]);
    assert_eq!(status, 403);
    assert!(body.contains("read-only"), "{body}");
    drop(served);
    assert_eq!(
        std::fs::read(&store).unwrap(),
        before,
        "the file is unchanged"
    );
}

/// The standard output of a successful run over `store`.
fn run_on(store: &Path, args: &[&str]) -> String {
    let output = waypost(store, args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn pause_and_unpause_write_requests_that_the_history_shows() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("copy.db");
    std::fs::copy(fixture(), &store).unwrap();
    let ok = |args: &[&str]| {
        let output = waypost(&store, args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let status = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("status"))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(!status(&ok(&["show", "import-1"])).contains("paused"));
    assert!(ok(&["pause", "import-1"]).starts_with("paused `import-1`"));
    assert_eq!(
        ok(&["pause", "import-1"]),
        "`import-1` was already paused\n"
    );
    let shown = status(&ok(&["show", "import-1"]));
    assert!(
        shown.contains("running, paused") && shown.contains("waypost unpause import-1"),
        "{shown}"
    );
    assert_eq!(
        ok(&["unpause", "import-1"]),
        "unpaused `import-1`: it goes on\n"
    );
    assert!(!status(&ok(&["show", "import-1"])).contains("paused"));
    let history = ok(&["history", "import-1"]);
    assert!(
        history.contains("ExecutionPaused") && history.contains("ExecutionUnpaused"),
        "{history}"
    );

    let ended = fail(&store, &["pause", "order-1"]);
    assert!(ended.contains("has already ended (succeeded)"), "{ended}");
    let unknown = fail(&store, &["unpause", "nope"]);
    assert!(unknown.contains("nope"), "{unknown}");
}

#[test]
fn a_callback_with_a_wrong_token_or_bad_json_says_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("copy.db");
    std::fs::copy(fixture(), &store).unwrap();
    let bad_json = fail(
        &store,
        &["callback", "succeed", "wpt1.x", "--json", "{nope"],
    );
    assert!(bad_json.contains("--json is not JSON"), "{bad_json}");
    let malformed = fail(&store, &["callback", "succeed", "wpt1.x", "--json", "1"]);
    assert!(
        malformed.contains("is not a waypost callback token"),
        "{malformed}"
    );
    let token = format!(
        "wpt1.{}.{}.{}",
        "0".repeat(32),
        hex("import-1"),
        hex("0.approve")
    );
    let unknown = fail(&store, &["callback", "heartbeat", &token]);
    assert!(
        unknown.contains("no callback state issued a token there"),
        "{unknown}"
    );
    let no_name = fail(&store, &["callback", "fail", &token, "--error", " "]);
    assert!(no_name.contains("--error needs a name"), "{no_name}");
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn show_links_a_child_execution_and_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("family.db");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let runtime = Runtime::builder()
            .store(waypost::SqliteStore::open(&store).unwrap())
            .build();
        let inner = refunds();
        let parent = Workflow::new("parent", 1, waypost::child(&inner));
        // Refunds fail or succeed: either way the child is linked.
        let _ = runtime.start(&parent, "p-1", 7).await;
    });
    let ok = |args: &[&str]| {
        let output = waypost(&store, args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let child = ok(&["show", "p-1/0.refunds"]);
    assert!(
        child.contains("parent      p-1 (state 0.refunds)"),
        "{child}"
    );
    let parent = ok(&["show", "p-1"]);
    assert!(parent.contains("children    p-1/0.refunds"), "{parent}");
    let history = ok(&["history", "p-1"]);
    assert!(
        history.contains("ChildExecutionStarted") && history.contains("child `p-1/0.refunds`"),
        "{history}"
    );
}
