//! Pausing on demand: [`Runtime::pause`] and [`Runtime::unpause`].

use std::time::SystemTime;

use waypost_core::StoreError;

use crate::error::RunError;
use crate::ids::millis;
use crate::runtime::Runtime;

impl Runtime {
    /// Pauses the running execution `id`, wherever it runs: the steps in flight finish
    /// and are checkpointed, then no new step starts (within about a second) until
    /// [`unpause`](Runtime::unpause). A worker parks it meanwhile, holding no lease.
    /// Returns `false` when it was already paused. See
    /// [`waypost_core::pause`].
    ///
    /// # Errors
    ///
    /// An unknown id; [`RunError::Finished`] when it has ended; a store failure.
    pub async fn pause(&self, id: &str) -> Result<bool, RunError> {
        self.request_pause(id, true, "pause").await
    }

    /// Unpauses the execution `id`: it goes on (a parked one is woken, and any worker
    /// takes it). Returns `false` when it was not paused.
    ///
    /// # Errors
    ///
    /// As [`pause`](Runtime::pause).
    pub async fn unpause(&self, id: &str) -> Result<bool, RunError> {
        self.request_pause(id, false, "unpause").await
    }

    async fn request_pause(
        &self,
        id: &str,
        paused: bool,
        action: &'static str,
    ) -> Result<bool, RunError> {
        let store = self.store()?;
        let now = millis(SystemTime::now());
        match waypost_core::pause::request(&**store, id, paused, now).await {
            Ok(changed) => Ok(changed),
            Err(StoreError::NotRunning { status, .. }) => Err(RunError::Finished {
                id: id.to_owned(),
                status,
                action,
            }),
            Err(error) => Err(error.into()),
        }
    }
}
