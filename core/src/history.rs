//! The history of an execution: Step-Functions-like events.
//!
//! Steps and combinators report what happens through their context; a durable runtime
//! stores the events in the same transaction as the checkpoint they describe (no extra
//! fsync), so the history of an execution is exactly as far as its checkpoints.
//! [`HistoryLevel`] says how much is kept.
//!
//! What an event says beyond its kind, address and attempt is in typed fields
//! ([`EventDetails`]: the error, the branch, the delay, item counts, ...), stored as they
//! are (a SQLite store keeps them as one JSON column) and printed by `history --json`.
//! [`Event::summary`] puts them in one line for people.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Error;

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
    /// A run took the execution over from an owner that stopped without finishing it
    /// (its process crashed or lost its lease); the store records it with the takeover.
    ExecutionRecovered,
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
    /// A callback state issued its token and handed it to its sender: the execution
    /// waits for someone to send the callback's result.
    CallbackStarted,
    /// A callback state got its output from the token's holder.
    CallbackSucceeded,
    /// A callback state failed: its token's holder sent a failure, or no result (or
    /// heartbeat) came in time.
    CallbackFailed,
    /// A caller paused the execution: its steps in flight finish, and no new step starts
    /// until it is unpaused.
    ExecutionPaused,
    /// A caller unpaused the execution: it goes on.
    ExecutionUnpaused,
    /// A child state started its workflow as an execution of its own (`child`: its id).
    ChildExecutionStarted,
    /// A child state's execution ended (with `error` when it did not succeed).
    ChildExecutionFinished,
    /// A message sent to a callback state was refused (its output did not decode as
    /// the state's output type); the state goes on waiting.
    CallbackRefused,
    /// A [`wait_for_condition`](crate::condition::wait_for_condition) state's check
    /// finished a poll (`poll`: its number, from 1; `done`: whether it said done). At
    /// the poll's address, `{state}/{poll}`.
    ConditionPolled,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 27] = [
        EventKind::ExecutionStarted,
        EventKind::ExecutionResumed,
        EventKind::ExecutionRedriven,
        EventKind::ExecutionSucceeded,
        EventKind::ExecutionFailed,
        EventKind::ExecutionCancelled,
        EventKind::ExecutionRecovered,
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
        EventKind::CallbackStarted,
        EventKind::CallbackSucceeded,
        EventKind::CallbackFailed,
        EventKind::CallbackRefused,
        EventKind::ExecutionPaused,
        EventKind::ExecutionUnpaused,
        EventKind::ChildExecutionStarted,
        EventKind::ChildExecutionFinished,
        EventKind::ConditionPolled,
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
            EventKind::ExecutionRecovered => "ExecutionRecovered",
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
            EventKind::CallbackStarted => "CallbackStarted",
            EventKind::CallbackSucceeded => "CallbackSucceeded",
            EventKind::CallbackFailed => "CallbackFailed",
            EventKind::CallbackRefused => "CallbackRefused",
            EventKind::ExecutionPaused => "ExecutionPaused",
            EventKind::ExecutionUnpaused => "ExecutionUnpaused",
            EventKind::ChildExecutionStarted => "ChildExecutionStarted",
            EventKind::ChildExecutionFinished => "ChildExecutionFinished",
            EventKind::ConditionPolled => "ConditionPolled",
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
                | EventKind::CallbackFailed
                | EventKind::CallbackRefused
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
                | EventKind::ExecutionRecovered
                | EventKind::ExecutionPaused
                | EventKind::ExecutionUnpaused
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
    /// What else there is to say: an error, a branch label, a delay, item counts.
    #[serde(default)]
    pub details: EventDetails,
}

impl Event {
    /// The details in one line for people, as `waypost history` shows them:
    /// ``workflow `orders` v1``, `retry in 200ms after Transient`, `3 items`,
    /// `PaymentDeclined: card declined`, `run 2`, ... (empty when there is nothing to
    /// say). An event stored before details had fields shows its text as it was.
    ///
    /// The text is the store's, unescaped: pass it through
    /// [`text::printable`](crate::text::printable) before a terminal shows it.
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::MemoryStore;
    ///
    /// #[step]
    /// async fn pick(x: u32) -> u32 { x }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let runtime = Runtime::builder().store(MemoryStore::new()).build();
    /// let route = choice().when("big", |x: &u32| *x > 10, pick).otherwise(pick);
    /// runtime.start(&Workflow::new("route", 1, route), "r-1", 42).await.unwrap();
    ///
    /// let lines: Vec<String> = runtime
    ///     .history("r-1")
    ///     .await
    ///     .unwrap()
    ///     .iter()
    ///     .map(|event| format!("{} {}", event.kind, event.summary()))
    ///     .collect();
    /// assert_eq!(lines[0], "ExecutionStarted workflow `route` v1");
    /// assert_eq!(lines[1], "BranchChosen big");
    /// # }
    /// ```
    pub fn summary(&self) -> String {
        summary(self.kind, &self.details)
    }
}

/// [`Event::summary`] of an event of `kind` with details `d`.
pub(crate) fn summary(kind: EventKind, d: &EventDetails) -> String {
    if let Some(detail) = &d.detail {
        return detail.clone();
    }
    let mut parts: Vec<String> = Vec::new();
    if let Some(run) = d.run {
        parts.push(format!("run {run}"));
    }
    if let Some(message) = d.message {
        parts.push(format!("message {message}"));
    }
    if let Some(item) = &d.item {
        parts.push(format!("item `{item}`"));
    }
    if let Some(child) = &d.child {
        parts.push(format!("child `{child}`"));
    }
    let delay = |ms: u64| format!("{:?}", Duration::from_millis(ms));
    match kind {
        EventKind::ExecutionRecovered => {
            if let Some(previous) = &d.previous_owner {
                parts.push(format!("taken over from `{previous}`"));
            }
            if let Some(owner) = &d.owner {
                parts.push(format!("by `{owner}`"));
            }
            if let Some(n) = d.recoveries {
                parts.push(format!("recovery {n}"));
            }
        }
        EventKind::RetryScheduled => match (d.delay_ms, &d.error) {
            (Some(ms), Some(error)) => {
                parts.push(format!("retry in {} after {}", delay(ms), error.name));
            }
            (Some(ms), None) => parts.push(format!("retry in {}", delay(ms))),
            (None, Some(error)) => parts.push(format!("retry after {}", error.name)),
            (None, None) => {}
        },
        EventKind::TimerStarted => parts.extend(d.delay_ms.map(delay)),
        EventKind::MapStarted => {
            let items = d
                .items
                .map_or_else(|| "items read lazily".to_owned(), |n| format!("{n} items"));
            parts.push(match d.committed {
                Some(done) if done > 0 => format!("{items}, {done} committed"),
                _ => items,
            });
        }
        EventKind::MapItemFinished => parts.push(match &d.error {
            Some(error) => format!("failed: {}", error.name),
            None => "succeeded".to_owned(),
        }),
        EventKind::MapFinished => {
            if let (Some(failed), Some(items)) = (d.failed, d.items) {
                parts.push(format!("{failed} of {items} items failed"));
            }
            if let Some(reason) = &d.completion {
                parts.push(format!("completed: {reason}"));
            }
        }
        EventKind::ConditionPolled => {
            let poll = d
                .poll
                .map_or_else(|| "poll".to_owned(), |n| format!("poll {n}"));
            parts.push(match d.done {
                Some(true) => format!("{poll}: done"),
                Some(false) => format!("{poll}: not done"),
                None => poll,
            });
        }
        _ => {
            if let (Some(workflow), Some(version)) = (&d.workflow, d.version) {
                parts.push(format!("workflow `{workflow}` v{version}"));
            }
            if let Some(branch) = &d.branch {
                parts.push(branch.clone());
            }
            if let Some(error) = &d.error {
                parts.push(error.to_string());
            }
        }
    }
    parts.join("; ")
}

/// What an [`Event`] says beyond its kind, address and attempt: typed fields, each set
/// by the kinds it belongs to and `None` for the others.
///
/// Serialized (in a store, in `waypost history --json`) as an object that holds only
/// the fields that are set, so that `json_extract(details, '$.error.name')` in the
/// sqlite3 shell finds the error of every failure. Build one with
/// `..EventDetails::default()` for the fields an event does not have, so that it keeps
/// compiling when fields are added.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::MemoryStore;
/// use waypost::EventKind;
///
/// #[step]
/// async fn charge(_cents: u64) -> Result<u64, Error> {
///     Err(Error::new("Declined", "card declined"))
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::builder().store(MemoryStore::new()).build();
/// runtime.start(&Workflow::new("pay", 1, charge), "pay-1", 500).await.unwrap_err();
///
/// let history = runtime.history("pay-1").await.unwrap();
/// let failed = history.iter().find(|e| e.kind == EventKind::StepFailed).unwrap();
/// let error = failed.details.error.as_ref().unwrap();
/// assert_eq!((error.name.as_str(), error.message.as_str()), ("Declined", "card declined"));
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventDetails {
    /// The error: of a failed step (`StepFailed`), of the failure a retry follows
    /// (`RetryScheduled`), that a catch handled (`ErrorCaught`), of a failed map item
    /// (`MapItemFinished`), or that ended the execution (`ExecutionFailed`,
    /// `ExecutionCancelled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EventError>,
    /// The label of the branch a choice took (`BranchChosen`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The delay before a retry (`RetryScheduled`) or of a timer (`TimerStarted`), in
    /// milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// How many items a map has (`MapStarted`; `None` when they are read lazily), or
    /// how many it finished (`MapFinished`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
    /// How many items of a map an earlier run committed (`MapStarted` of a resumed
    /// map).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committed: Option<u64>,
    /// How many items of a map failed (`MapFinished`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<u64>,
    /// Which run of this attempt of this step the event belongs to, from 2 on: the
    /// attempt had started before, and was interrupted (its process crashed or
    /// stopped) before its result was stored, so it runs again (`StepStarted`,
    /// `StepSucceeded`, `StepFailed`). `None` for the first run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<u32>,
    /// The display name of a map item, from the item (`MapItemFinished` of a map with
    /// [`item_names`](crate::Map::item_names)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The id of a child execution (`ChildExecutionStarted`, `ChildExecutionFinished`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child: Option<String>,
    /// The number of the message sent to a callback state, from 0
    /// (`CallbackSucceeded`, `CallbackFailed`, `CallbackRefused`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<u64>,
    /// The workflow's name (`ExecutionStarted`, `ExecutionResumed`,
    /// `ExecutionRedriven`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// The workflow's version (with `workflow`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The owner that took the execution over (`ExecutionRecovered`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The owner it was taken over from (`ExecutionRecovered`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_owner: Option<String>,
    /// How many times the execution has been recovered since it started or was last
    /// redriven, this time included (`ExecutionRecovered`; see
    /// [`ExecutionRecord::recoveries`](crate::store::ExecutionRecord::recoveries)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recoveries: Option<u32>,
    /// Why a map in its settled form completed (`MapFinished`): `all completed`, `min successful reached`, `failure
    /// tolerance exceeded` or `predicate matched`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion: Option<String>,
    /// The number of a poll of a wait-for-condition state, from 1 (`ConditionPolled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<u32>,
    /// Whether a wait-for-condition state's check said done at that poll
    /// (`ConditionPolled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<bool>,
    /// The free text of an event stored before details had fields (by a store of
    /// schema version 4 or older), kept as it was; `None` for every newer event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl EventDetails {
    /// Details with only `error` set.
    pub fn error(error: &Error) -> Self {
        EventDetails {
            error: Some(EventError::from(error)),
            ..EventDetails::default()
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == EventDetails::default()
    }
}

/// An error as an [`Event`] keeps it: name, message, where it was raised, and its
/// cause.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::history::EventError;
///
/// let error = Error::new("Declined", "card declined")
///     .at("1.charge")
///     .caused_by(Error::new("Gateway", "answered 05"));
/// let kept = EventError::from(&error);
/// assert_eq!(kept.address.as_deref(), Some("1.charge"));
/// assert_eq!(kept.cause.as_ref().unwrap().name, "Gateway");
/// assert_eq!(kept.to_string(), error.to_string());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventError {
    /// The error's name, as retry and catch match it.
    pub name: String,
    /// The error's message.
    pub message: String,
    /// The address it was raised at, if it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// The error that caused it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Box<EventError>>,
}

impl From<&Error> for EventError {
    fn from(error: &Error) -> Self {
        EventError {
            name: error.name().to_owned(),
            message: error.message().to_owned(),
            address: error.address().map(str::to_owned),
            cause: error
                .source()
                .map(|cause| Box::new(EventError::from(cause))),
        }
    }
}

/// `name: message`, then `: ` and each cause in turn, as [`Error`] displays itself.
impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
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
    fn details_serialize_only_what_is_set_and_read_back() {
        assert_eq!(
            serde_json::to_string(&EventDetails::default()).unwrap(),
            "{}"
        );
        let error = Error::new("Outer", "o")
            .at("0.a")
            .caused_by(Error::new("Inner", "i"));
        let details = EventDetails {
            delay_ms: Some(250),
            ..EventDetails::error(&error)
        };
        let json = serde_json::to_string(&details).unwrap();
        assert_eq!(
            json,
            r#"{"error":{"name":"Outer","message":"o","address":"0.a","cause":{"name":"Inner","message":"i"}},"delay_ms":250}"#
        );
        assert_eq!(
            serde_json::from_str::<EventDetails>(&json).unwrap(),
            details
        );
        // An event serialized without details (older JSON) reads back with none.
        let event: Event = serde_json::from_str(
            r#"{"seq":1,"at_ms":2,"kind":"StepStarted","address":"0.a","attempt":1,"duration_ms":null}"#,
        )
        .unwrap();
        assert!(event.details.is_empty());
    }

    #[test]
    fn summaries_read_like_the_old_free_text() {
        let event = |kind, details| Event {
            seq: 1,
            at_ms: 0,
            kind,
            address: "0.a".to_owned(),
            attempt: 1,
            duration_ms: None,
            details,
        };
        let error = Error::new("Transient", "timed out").caused_by(Error::new("Io", "reset"));
        let cases = [
            (
                event(
                    EventKind::ExecutionStarted,
                    EventDetails {
                        workflow: Some("orders".into()),
                        version: Some(2),
                        ..EventDetails::default()
                    },
                ),
                "workflow `orders` v2",
            ),
            (
                event(EventKind::StepFailed, EventDetails::error(&error)),
                "Transient: timed out: Io: reset",
            ),
            (
                event(
                    EventKind::RetryScheduled,
                    EventDetails {
                        delay_ms: Some(1500),
                        ..EventDetails::error(&error)
                    },
                ),
                "retry in 1.5s after Transient",
            ),
            (
                event(
                    EventKind::MapStarted,
                    EventDetails {
                        items: Some(4),
                        committed: Some(2),
                        ..EventDetails::default()
                    },
                ),
                "4 items, 2 committed",
            ),
            (
                event(EventKind::MapStarted, EventDetails::default()),
                "items read lazily",
            ),
            (
                event(EventKind::MapItemFinished, EventDetails::error(&error)),
                "failed: Transient",
            ),
            (
                event(EventKind::MapItemFinished, EventDetails::default()),
                "succeeded",
            ),
            (
                event(
                    EventKind::MapFinished,
                    EventDetails {
                        items: Some(4),
                        failed: Some(1),
                        ..EventDetails::default()
                    },
                ),
                "1 of 4 items failed",
            ),
            (
                event(
                    EventKind::StepFailed,
                    EventDetails {
                        run: Some(2),
                        ..EventDetails::error(&error)
                    },
                ),
                "run 2; Transient: timed out: Io: reset",
            ),
            (
                event(
                    EventKind::ExecutionRecovered,
                    EventDetails {
                        owner: Some("b".into()),
                        previous_owner: Some("a".into()),
                        recoveries: Some(3),
                        ..EventDetails::default()
                    },
                ),
                "taken over from `a`; by `b`; recovery 3",
            ),
            (
                event(
                    EventKind::BranchChosen,
                    EventDetails {
                        detail: Some("stored by v4".into()),
                        ..EventDetails::default()
                    },
                ),
                "stored by v4",
            ),
            (event(EventKind::StepSucceeded, EventDetails::default()), ""),
            (
                event(
                    EventKind::ConditionPolled,
                    EventDetails {
                        poll: Some(3),
                        done: Some(false),
                        ..EventDetails::default()
                    },
                ),
                "poll 3: not done",
            ),
            (
                event(
                    EventKind::ConditionPolled,
                    EventDetails {
                        poll: Some(4),
                        done: Some(true),
                        ..EventDetails::default()
                    },
                ),
                "poll 4: done",
            ),
        ];
        for (event, summary) in cases {
            assert_eq!(event.summary(), summary, "{:?}", event.kind);
        }
    }

    #[test]
    fn levels_keep_what_they_say() {
        assert!(HistoryLevel::All.keeps(EventKind::StepStarted));
        assert!(!HistoryLevel::Errors.keeps(EventKind::StepStarted));
        assert!(HistoryLevel::Errors.keeps(EventKind::StepFailed));
        assert!(HistoryLevel::Off.keeps(EventKind::ExecutionFailed));
        assert!(HistoryLevel::Off.keeps(EventKind::ExecutionRecovered));
        assert!(!HistoryLevel::Off.keeps(EventKind::StepFailed));
    }
}
