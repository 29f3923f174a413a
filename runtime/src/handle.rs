//! [`ExecutionHandle`]: an execution submitted to run in the background, wherever it
//! runs.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use futures::StreamExt as _;
use waypost_core::store::{ExecutionRecord, Notice};
use waypost_core::{ExecutionStatus, Payload};

use crate::codec::codec_by_name;
use crate::error::RunError;
use crate::outcome::{decode_output, outcome_of};
use crate::runtime::Runtime;

/// A handle on one execution, returned by [`Runtime::submit`] and [`Runtime::handle`]:
/// it tells where the execution stands, waits for its output and cancels it, whichever
/// process runs it.
///
/// `O` is the workflow's output type; the output is decoded with the codec the
/// execution was recorded with.
pub struct ExecutionHandle<O> {
    runtime: Runtime,
    id: String,
    output: PhantomData<fn() -> O>,
}

impl<O> Clone for ExecutionHandle<O> {
    fn clone(&self) -> Self {
        ExecutionHandle {
            runtime: self.runtime.clone(),
            id: self.id.clone(),
            output: PhantomData,
        }
    }
}

impl<O> fmt::Debug for ExecutionHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecutionHandle")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<O: Payload> ExecutionHandle<O> {
    pub(crate) fn new(runtime: Runtime, id: String) -> Self {
        ExecutionHandle {
            runtime,
            id,
            output: PhantomData,
        }
    }

    /// The execution's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the execution stands now.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn status(&self) -> Result<ExecutionStatus, RunError> {
        Ok(self.record().await?.status)
    }

    /// The execution as stored now: status, timings, lease, recoveries.
    ///
    /// # Errors
    ///
    /// Store errors.
    pub async fn record(&self) -> Result<ExecutionRecord, RunError> {
        Ok(self.runtime.store()?.execution(&self.id).await?)
    }

    /// The output if the execution has finished (`None` while it runs).
    ///
    /// # Errors
    ///
    /// [`RunError::Failed`] or [`RunError::Cancelled`] when it ended so; an output that
    /// does not decode as `O`; store errors.
    pub async fn try_output(&self) -> Result<Option<O>, RunError> {
        let record = self.record().await?;
        if record.status == ExecutionStatus::Running {
            return Ok(None);
        }
        let codec = codec_by_name(&record)?;
        outcome_of(&record)
            .and_then(|bytes| decode_output(&*codec, &record.id, &bytes))
            .map(Some)
    }

    /// Waits for the execution to finish and returns its output. It wakes on the
    /// store's notices where the store sends them, and polls the store at least every
    /// [`RuntimeConfig::poll_interval`](crate::RuntimeConfig::poll_interval) (a notice
    /// may be lost, and another process's SQLite commits send none here).
    ///
    /// It only waits: something else runs the execution (a [`Worker`](crate::Worker)
    /// here or in another process).
    ///
    /// # Errors
    ///
    /// The errors of [`try_output`](Self::try_output).
    pub async fn output(&self) -> Result<O, RunError> {
        let mut notices = self.runtime.store()?.notices();
        let interval = self.runtime.inner.config.poll_interval;
        loop {
            if let Some(output) = self.try_output().await? {
                return Ok(output);
            }
            let wait = tokio::time::sleep(interval);
            match &mut notices {
                Some(stream) => {
                    let id = self.id.as_str();
                    let finished = stream.filter(|notice| {
                        futures::future::ready(
                            matches!(notice, Notice::Finished { id: done } if done == id),
                        )
                    });
                    tokio::pin!(finished);
                    tokio::select! {
                        next = finished.next() => {
                            // The store stopped sending: poll from now on.
                            if next.is_none() {
                                notices = None;
                            }
                        }
                        () = wait => {}
                    }
                }
                None => wait.await,
            }
        }
    }

    /// Waits for the output, at most `timeout`; `None` if the execution is still
    /// running then.
    ///
    /// # Errors
    ///
    /// The errors of [`output`](Self::output).
    pub async fn output_within(&self, timeout: Duration) -> Result<Option<O>, RunError> {
        match tokio::time::timeout(timeout, self.output()).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Cancels the execution: it is marked cancelled at once; the process running it
    /// stops at its next write (its commits are refused) or at once if it is this one.
    ///
    /// # Errors
    ///
    /// [`RunError::Finished`] when it has already finished; store errors.
    pub async fn cancel(&self) -> Result<(), RunError> {
        self.runtime.cancel(&self.id).await
    }
}
