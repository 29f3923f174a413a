//! [`RuntimeConfig`]: the settings of a [`Runtime`](crate::Runtime).

use std::time::Duration;

use typed_builder::TypedBuilder;
use waypost_core::HistoryLevel;

/// Settings of a [`Runtime`](crate::Runtime).
#[derive(Clone, Debug, TypedBuilder)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The largest payload (input, output or checkpoint) in bytes; larger ones fail the
    /// execution before anything is written for them. Default 16 MiB.
    #[builder(default = 16 << 20)]
    pub max_payload_bytes: usize,
    /// How long an execution's lease lasts without renewal; it is renewed every third of
    /// it while the execution runs. Default 30 s.
    #[builder(default = Duration::from_secs(30))]
    pub lease_ttl: Duration,
    /// How long [`start`](crate::Runtime::start) and [`resume`](crate::Runtime::resume)
    /// wait for the lease of an execution that another owner holds, in case that owner
    /// is gone: a process killed a moment ago, or one that stopped renewing. The lease
    /// is taken as soon as its holder is known to be dead (on this machine: its process
    /// is gone or a zombie) or its lease runs out; a holder that renews its lease
    /// meanwhile is alive, and the call fails at once with `Store.Leased`, naming it.
    /// `None` (the default): as long as the holder's lease has left to run.
    /// `Some(Duration::ZERO)`: never wait.
    #[builder(default)]
    pub lease_wait: Option<Duration>,
    /// Run executions with another version of their workflow than they were started
    /// with, even when its structure changed (checkpoints whose keys still exist are
    /// replayed, the rest runs), and hand out the results of finished ones to it.
    /// Default `false`: `start`, `resume` and `redrive` refuse another version or
    /// structure with an error naming both versions.
    #[builder(default = false)]
    pub allow_changed_workflows: bool,
    /// How much history executions keep: every event (the default), execution events
    /// and failures, or execution events only.
    #[builder(default)]
    pub history: HistoryLevel,
    /// How many executions [`Runtime::resume_all`](crate::Runtime::resume_all) resumes at once. Default 64.
    #[builder(default = 64)]
    pub max_concurrent_resumes: usize,
    /// How many times an execution may be recovered — taken over after the run that
    /// owned it stopped without finishing, such as a process crash — before it is
    /// parked as failed with `States.RecoveryLimitExceeded` instead of being run
    /// again. So an execution whose step crashes the process on every attempt (a
    /// *poison* execution) runs at most `max_recoveries + 1` times, not on every
    /// restart. The count is kept in the store; a redrive resets it. `0` parks an
    /// execution at its first recovery. Default 10.
    #[builder(default = 10)]
    pub max_recoveries: u32,
    /// How often an [`ExecutionHandle`](crate::ExecutionHandle) waiting for an output
    /// reads the store when no notice woke it. Default 200 ms.
    #[builder(default = Duration::from_millis(200))]
    pub poll_interval: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig::builder().build()
    }
}
