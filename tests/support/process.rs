//! The harness of the tests that kill real processes: the test binary re-runs one of
//! its own ignored tests as a child process ([`child`]), waits until the child reached
//! the point of interest ([`until`]), SIGKILLs it ([`sigkill`]) and runs another child
//! on the same store to its end ([`finish`]).
#![allow(dead_code, reason = "each test file uses its own part of the helpers")]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How long [`until`] waits for a child to get somewhere.
const PATIENCE: Duration = Duration::from_secs(60);

/// A command that runs the ignored test `name` of this binary, its output piped; add
/// the child's environment to it.
pub(crate) fn child(name: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--ignored", "--exact", name, "--nocapture"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits until `ready` says so, checking every 10 ms; panics naming `what` after a
/// minute.
pub(crate) async fn until(what: &str, mut ready: impl AsyncFnMut() -> bool) {
    let start = tokio::time::Instant::now();
    while !ready().await {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Kills `child` with SIGKILL and reaps it.
pub(crate) fn sigkill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Runs `command` to its end; panics with its output unless it exited successfully.
/// Returns what it printed on stdout.
pub(crate) fn finish(command: &mut Command) -> String {
    finished(command.spawn().unwrap())
}

/// Waits for `child` to end; panics with its output unless it exited successfully.
/// Returns what it printed on stdout.
pub(crate) fn finished(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the child failed ({:?}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Appends `line` to the file the environment variable `var` names (a child's
/// side-effect log): one `write` with `O_APPEND`, so lines never interleave.
pub(crate) fn log_to(var: &str, line: &str) {
    use std::io::Write as _;
    let path = std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}
