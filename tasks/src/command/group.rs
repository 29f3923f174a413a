//! [`ProcessGroup`]: the guard that kills a subprocess's whole process group.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Kills the process group `pgid` with `SIGKILL` when dropped (unless
/// [`disarm`](Self::disarm)ed): when the step's future is dropped — a timeout, a
/// cancel, a lost lease — and when the command has ended, so that nothing it started
/// in the background outlives the step.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Option<Pid>,
}

impl ProcessGroup {
    /// The group led by the process `pid` (spawned with `process_group(0)`).
    pub(crate) fn led_by(pid: u32) -> Self {
        ProcessGroup {
            pgid: i32::try_from(pid).ok().map(Pid::from_raw),
        }
    }

    /// Kills every process left in the group now, and disarms the guard.
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // ESRCH (nobody left in the group) is what we want, not a failure.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
