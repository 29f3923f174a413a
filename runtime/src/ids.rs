//! Execution ids, process ids and wall-clock milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// A new execution id: the workflow name, the time, and randomness.
pub fn new_execution_id(workflow: &str) -> String {
    format!(
        "{workflow}-{}-{:08x}",
        millis(SystemTime::now()),
        fastrand::u32(..)
    )
}

pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
