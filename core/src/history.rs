//! The history of an execution: Step-Functions-like events.
//!
//! Steps and combinators report what happens through their context; a durable runtime
//! stores the events in the same transaction as the checkpoint they describe (no extra
//! fsync), so the history of an execution is exactly as far as its checkpoints.
//! [`HistoryLevel`] says how much is kept.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum EventKind {
    /// The execution started.
    ExecutionStarted,
    /// An interrupted execution was resumed.
    ExecutionResumed,
    /// A failed execution was redriven.
    ExecutionRedriven,
    /// The execution finished with an output.
    ExecutionSucceeded,
    /// The execution finished with an error.
    ExecutionFailed,
    /// The execution was cancelled.
    ExecutionCancelled,
    /// A task step started an attempt.
    StepStarted,
    /// A task step's attempt succeeded.
    StepSucceeded,
    /// A task step's attempt failed.
    StepFailed,
    /// A failed attempt will be retried after a delay.
    RetryScheduled,
    /// A catch handled an error.
    ErrorCaught,
    /// A choice took a branch.
    BranchChosen,
    /// A map started over its items.
    MapStarted,
    /// One item of a map finished.
    MapItemFinished,
    /// A map finished.
    MapFinished,
    /// A durable timer started.
    TimerStarted,
    /// A durable timer fired.
    TimerFired,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 17] = [
        EventKind::ExecutionStarted,
        EventKind::ExecutionResumed,
        EventKind::ExecutionRedriven,
        EventKind::ExecutionSucceeded,
        EventKind::ExecutionFailed,
        EventKind::ExecutionCancelled,
        EventKind::StepStarted,
        EventKind::StepSucceeded,
        EventKind::StepFailed,
        EventKind::RetryScheduled,
        EventKind::ErrorCaught,
        EventKind::BranchChosen,
        EventKind::MapStarted,
        EventKind::MapItemFinished,
        EventKind::MapFinished,
        EventKind::TimerStarted,
        EventKind::TimerFired,
    ];

    /// The stored name, such as `StepSucceeded`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ExecutionStarted => "ExecutionStarted",
            EventKind::ExecutionResumed => "ExecutionResumed",
            EventKind::ExecutionRedriven => "ExecutionRedriven",
            EventKind::ExecutionSucceeded => "ExecutionSucceeded",
            EventKind::ExecutionFailed => "ExecutionFailed",
            EventKind::ExecutionCancelled => "ExecutionCancelled",
            EventKind::StepStarted => "StepStarted",
            EventKind::StepSucceeded => "StepSucceeded",
            EventKind::StepFailed => "StepFailed",
            EventKind::RetryScheduled => "RetryScheduled",
            EventKind::ErrorCaught => "ErrorCaught",
            EventKind::BranchChosen => "BranchChosen",
            EventKind::MapStarted => "MapStarted",
            EventKind::MapItemFinished => "MapItemFinished",
            EventKind::MapFinished => "MapFinished",
            EventKind::TimerStarted => "TimerStarted",
            EventKind::TimerFired => "TimerFired",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(text: &str) -> Option<Self> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }

    /// Whether the event reports a failure (kept at [`HistoryLevel::Errors`]).
    pub fn is_error(self) -> bool {
        matches!(
            self,
            EventKind::ExecutionFailed
                | EventKind::StepFailed
                | EventKind::ErrorCaught
                | EventKind::ExecutionCancelled
        )
    }

    /// Whether the event is about the execution as a whole (always kept).
    pub fn is_execution(self) -> bool {
        matches!(
            self,
            EventKind::ExecutionStarted
                | EventKind::ExecutionResumed
                | EventKind::ExecutionRedriven
                | EventKind::ExecutionSucceeded
                | EventKind::ExecutionFailed
                | EventKind::ExecutionCancelled
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of an execution's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The position in the execution's history, given by the store (0 before).
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The address of the state it happened at; empty for the execution itself. Inside
    /// nested retries, `#n` for each outer retry's attempt follows it
    /// (`0.batch/0.fetch#2`: the inner step in the outer retry's second attempt).
    pub address: String,
    /// The attempt, 1 for the first (and outside retries).
    pub attempt: u32,
    /// How long the attempt, map or timer took, for events that end something.
    pub duration_ms: Option<u64>,
    /// What else there is to say: an error, a branch label, a delay, an item count.
    pub detail: Option<String>,
}

/// How much history an execution keeps (Step Functions' log level).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HistoryLevel {
    /// Every event.
    #[default]
    All,
    /// Execution events and failures only.
    Errors,
    /// Execution events only.
    Off,
}

impl HistoryLevel {
    /// Whether an event of `kind` is kept at this level.
    pub fn keeps(self, kind: EventKind) -> bool {
        match self {
            HistoryLevel::All => true,
            HistoryLevel::Errors => kind.is_execution() || kind.is_error(),
            HistoryLevel::Off => kind.is_execution(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("Nope"), None);
    }

    #[test]
    fn levels_keep_what_they_say() {
        assert!(HistoryLevel::All.keeps(EventKind::StepStarted));
        assert!(!HistoryLevel::Errors.keeps(EventKind::StepStarted));
        assert!(HistoryLevel::Errors.keeps(EventKind::StepFailed));
        assert!(HistoryLevel::Off.keeps(EventKind::ExecutionFailed));
        assert!(!HistoryLevel::Off.keeps(EventKind::StepFailed));
    }
}
