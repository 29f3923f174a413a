//! [`Watchdog`]: a tiny process that kills a command's process group when this process
//! dies without running its destructors (`SIGKILL`, an abort, the OOM killer).

use std::process::Stdio;

/// What the watchdog runs (`sh -c`, its `$1` the group's id): it ignores the signals a
/// terminal or a service manager sends, waits until its stdin ends — the pipe's other
/// end is held by this process alone and closes when it dies — then kills the group.
const SCRIPT: &str = r#"trap '' HUP INT QUIT TERM
while read -r _; do :; done
kill -s KILL -- "-$1" 2>/dev/null"#;

/// The name the watchdog runs under (its `$0`), to find it in `ps` or `/proc`.
pub(crate) const NAME: &str = "waypost-watchdog";

/// A running watchdog over one process group. Dropping it kills the watchdog with
/// `SIGKILL` before its stdin closes, so a step that ends normally (its group already
/// killed by [`ProcessGroup`](super::group::ProcessGroup)) leaves nothing behind and
/// never signals a group id that may since have been reused.
#[derive(Debug)]
pub(crate) struct Watchdog {
    // Field order matters: tokio's `Child` kills the process (kill on drop) before it
    // drops the stdin it holds.
    _process: tokio::process::Child,
}

impl Watchdog {
    /// Starts a watchdog over the group `pgid`, in a group of its own, so that a Ctrl-C
    /// meant for this process does not reach it.
    ///
    /// # Errors
    ///
    /// When `/bin/sh` cannot be started.
    pub(crate) fn watch(pgid: u32) -> std::io::Result<Self> {
        let process = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg(NAME)
            .arg(pgid.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Watchdog { _process: process })
    }
}
