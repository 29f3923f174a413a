//! Helpers shared by the tests that crash real processes (`crash_points.rs`,
//! `poison.rs`): the test binary re-runs one of its own ignored tests as a child
//! process (`--ignored --exact <name>`), which aborts or finishes; the parent reads the
//! store file and a side-effect log that the child's steps append to.
#![allow(dead_code, reason = "each test file uses its own part of the helpers")]

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use waypost::prelude::*;

/// The environment variable naming the side-effect log.
pub(crate) const LOG: &str = "WAYPOST_CRASH_LOG";

/// This step's checkpoint key as the store keeps it: `cx.key()`, prefixed with `r{n}:`
/// after the n-th redrive (read from the idempotency key, which names the generation).
pub(crate) fn stored_key(cx: &StepContext) -> String {
    let idempotency = cx.idempotency_key();
    let rest = &idempotency[cx.execution_id().len() + 1..];
    match rest.split_once(':') {
        Some((generation, _))
            if generation.len() > 1
                && generation.starts_with('r')
                && generation[1..].bytes().all(|b| b.is_ascii_digit()) =>
        {
            format!("{generation}:{}", cx.key())
        }
        _ => cx.key(),
    }
}

/// Appends this step's stored checkpoint key to the side-effect log, if the process
/// has one.
pub(crate) fn log(cx: &StepContext) {
    append(&stored_key(cx));
}

/// Appends `line` to the side-effect log, if the process has one.
pub(crate) fn append(line: &str) {
    if let Ok(path) = std::env::var(LOG) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        // One `write` of a short line with O_APPEND: lines never interleave.
        file.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
}

/// How many times each key was logged.
pub(crate) fn counts(log: &Path) -> HashMap<String, u32> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(log).unwrap_or_default().lines() {
        *counts.entry(line.to_owned()).or_default() += 1;
    }
    counts
}

/// Runs the ignored test `name` of this binary as a child process with `envs`, and
/// waits for it.
pub(crate) fn run_child<K: AsRef<OsStr>, V: AsRef<OsStr>>(name: &str, envs: &[(K, V)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env_remove("WAYPOST_CRASH_AT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in envs {
        command.env(key, value);
    }
    command.output().unwrap()
}

/// How a child ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It printed `OUTPUT <text>` and exited successfully.
    Output(String),
    /// It aborted at the armed crash point.
    CrashPoint,
    /// It aborted (`SIGABRT`) elsewhere: in a step that calls `std::process::abort`.
    Aborted,
}

/// How `out` ended; panics (with the child's output) on anything else: a panic, a
/// failure, a missing output line.
pub(crate) fn ending(out: &Output) -> Ending {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.signal() == Some(6) {
        return if stderr.contains("waypost: crash point") {
            Ending::CrashPoint
        } else {
            Ending::Aborted
        };
    }
    assert!(
        out.status.success(),
        "child failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    // The test harness prints `test <name> ... ` before the child's own line.
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("OUTPUT ").map(|(_, output)| output.to_owned()));
    Ending::Output(line.unwrap_or_else(|| panic!("no output line in {stdout:?}")))
}

/// The keys of the committed task results (outputs and failures) of `execution` in the
/// store file at `path`, read with plain SQL (opening it as a store would migrate it),
/// after checking that `PRAGMA integrity_check` says `ok`. Empty while the file has no
/// tables or no such execution.
pub(crate) fn committed(path: &Path, execution: &str) -> BTreeSet<String> {
    if !path.exists() {
        return BTreeSet::new();
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    let Ok(mut stmt) =
        conn.prepare("SELECT key FROM checkpoints WHERE execution_id = ?1 AND kind IN (0, 1)")
    else {
        return BTreeSet::new(); // no tables yet
    };
    stmt.query_map([execution], |row| row.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// `PRAGMA user_version` of the file: its store schema version.
pub(crate) fn schema_version(path: &Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .unwrap()
}
