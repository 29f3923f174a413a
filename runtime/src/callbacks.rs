//! Sending to callback states: [`Runtime::send_task_success`], `send_task_failure`,
//! `send_task_heartbeat` and [`Runtime::callback_verdict`].

use std::time::SystemTime;

use serde::Serialize;
use waypost_core::Error;
use waypost_core::callback::{self, CallbackToken, Delivered, Message, Verdict};

use crate::error::RunError;
use crate::ids::millis;
use crate::runtime::Runtime;

impl Runtime {
    /// Completes the [callback state](waypost_core::callback) `token` names with
    /// `output`: stored durably in this runtime's store, then taken by the state —
    /// at once when the execution runs, or when a worker resumes it. The state decodes
    /// `output` as its own output type; [`callback_verdict`](Runtime::callback_verdict)
    /// says whether it took it.
    ///
    /// # Errors
    ///
    /// [`RunError::Callback`] with a named error: `Callback.InvalidToken`,
    /// `Callback.UnknownToken` (a wrong or foreign token), `Callback.AlreadyCompleted`
    /// (a reused one), `Callback.ExecutionEnded`; a store failure.
    pub async fn send_task_success<T: Serialize>(
        &self,
        token: &str,
        output: &T,
    ) -> Result<Delivered, RunError> {
        let output = serde_json::to_value(output).map_err(|e| RunError::Callback {
            error: Error::runtime(format!(
                "the callback's output cannot be written as JSON: {e}"
            )),
        })?;
        self.send_to_callback(token, Message::Success { output })
            .await
    }

    /// Fails the callback state `token` names with `error` (which retry and catch match
    /// by name). See [`send_task_success`](Runtime::send_task_success).
    ///
    /// # Errors
    ///
    /// As [`send_task_success`](Runtime::send_task_success).
    pub async fn send_task_failure(
        &self,
        token: &str,
        error: Error,
    ) -> Result<Delivered, RunError> {
        self.send_to_callback(token, Message::Failure { error })
            .await
    }

    /// Tells the callback state `token` names that its work goes on: its heartbeat
    /// timeout starts again. See [`send_task_success`](Runtime::send_task_success).
    ///
    /// # Errors
    ///
    /// As [`send_task_success`](Runtime::send_task_success).
    pub async fn send_task_heartbeat(&self, token: &str) -> Result<Delivered, RunError> {
        self.send_to_callback(token, Message::Heartbeat).await
    }

    /// Sends `message` to the callback state `token` names.
    ///
    /// # Errors
    ///
    /// As [`send_task_success`](Runtime::send_task_success).
    pub async fn send_to_callback(
        &self,
        token: &str,
        message: Message,
    ) -> Result<Delivered, RunError> {
        let store = self.store()?;
        let token: CallbackToken = token
            .parse()
            .map_err(|error| RunError::Callback { error })?;
        callback::deliver(&**store, &token, &message, millis(SystemTime::now()))
            .await
            .map_err(|error| RunError::Callback { error })
    }

    /// What the callback state made of a success or failure sent to it: `None` while it
    /// has not looked yet (its execution is parked and no worker resumed it, or its
    /// runner has not polled since).
    ///
    /// # Errors
    ///
    /// A store failure.
    pub async fn callback_verdict(
        &self,
        delivered: &Delivered,
    ) -> Result<Option<Verdict>, RunError> {
        let store = self.store()?;
        callback::verdict(&**store, delivered)
            .await
            .map_err(|error| RunError::Callback { error })
    }
}
