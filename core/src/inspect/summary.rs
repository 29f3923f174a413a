//! One execution in words: its status and who runs it, as the CLI and the console show
//! them.

use crate::history::{Event, EventKind};
use crate::store::{ExecutionRecord, ExecutionStatus};

/// The status of an execution at `now_ms`, in words: its status, and for a running one
/// that nobody runs, that it waits for a worker (or a `resume`), or until when it is
/// parked on a timer.
pub fn status(record: &ExecutionRecord, now_ms: u64) -> String {
    if record.status != ExecutionStatus::Running
        || record.lease.as_ref().is_some_and(|l| l.expires_ms > now_ms)
    {
        record.status.to_string()
    } else if record.wake_at_ms <= now_ms {
        "running (waiting for a worker)".to_owned()
    } else if record.wake_at_ms == u64::MAX {
        "running (parked)".to_owned()
    } else {
        format!(
            "running (parked until {})",
            crate::text::timestamp(record.wake_at_ms)
        )
    }
}

/// Who runs a running execution now, for `show`: the lease holder and until when, or
/// why nobody does.
pub fn runner(record: &ExecutionRecord, now_ms: u64) -> String {
    match &record.lease {
        Some(lease) if lease.expires_ms > now_ms => format!(
            "{} (lease until {}, epoch {})",
            lease.owner,
            crate::text::timestamp(lease.expires_ms),
            record.lease_epoch
        ),
        _ if record.wake_at_ms > now_ms => status(record, now_ms)
            .trim_start_matches("running (")
            .trim_end_matches(')')
            .to_owned(),
        Some(lease) => format!(
            "nobody: the lease of {} ran out at {}; waiting for a worker of workflow `{}` v{} (or a resume)",
            lease.owner,
            crate::text::timestamp(lease.expires_ms),
            record.workflow,
            record.version
        ),
        None => format!(
            "nobody: waiting for a worker of workflow `{}` v{} (or a resume)",
            record.workflow, record.version
        ),
    }
}

/// Whether a running execution is [paused](crate::pause): its history's last pause
/// request (`ExecutionPaused` or `ExecutionUnpaused`) is a pause.
///
/// # Examples
///
/// ```
/// use waypost::inspect::paused;
/// use waypost::{MemoryStore, Store};
/// use waypost::prelude::*;
///
/// #[step]
/// async fn slow(x: u32) -> u32 { x }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let store = MemoryStore::new();
/// let runtime = Runtime::builder().store(store.clone()).build();
/// let wf = Workflow::new("slow", 1, slow);
/// runtime.submit(&wf, "s-1", 1).await.unwrap();
/// runtime.pause("s-1").await.unwrap();
/// let record = store.execution("s-1").await.unwrap();
/// assert!(paused(&record, &store.history("s-1").await.unwrap()));
/// runtime.unpause("s-1").await.unwrap();
/// assert!(!paused(&record, &store.history("s-1").await.unwrap()));
/// # }
/// ```
pub fn paused(record: &ExecutionRecord, history: &[Event]) -> bool {
    record.status == ExecutionStatus::Running
        && history
            .iter()
            .rev()
            .find(|e| {
                matches!(
                    e.kind,
                    EventKind::ExecutionPaused | EventKind::ExecutionUnpaused
                )
            })
            .is_some_and(|e| e.kind == EventKind::ExecutionPaused)
}
