//! [`Message`]: what the holder of a callback token sends to its state.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What the holder of a [`CallbackToken`](super::CallbackToken) sends to its waiting
/// state. It is stored as JSON (whatever the execution's codec), since the sender need
/// not know the state's output type: the state decodes the output when it takes the
/// message, and refuses one that does not fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Message {
    /// The state succeeds with this output (JSON of its output type).
    Success {
        /// The output.
        output: serde_json::Value,
    },
    /// The state fails with this error, which retry and catch match by name.
    Failure {
        /// The error.
        error: Error,
    },
    /// The work behind the token goes on: the state's heartbeat timeout starts again.
    Heartbeat,
}

impl Message {
    /// What it is, in a word: `success`, `failure` or `heartbeat`.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Success { .. } => "success",
            Message::Failure { .. } => "failure",
            Message::Heartbeat => "heartbeat",
        }
    }
}

/// A message as stored: with the time it was sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// When it was sent, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
    /// The message.
    #[serde(flatten)]
    pub(crate) message: Message,
}
