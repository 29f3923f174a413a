//! Holding an execution's lease while a run of this process drives it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use futures::future::AbortHandle;
use waypost_core::{Store, StoreError};

/// Runs of each execution alive in this process, across runtimes: a lease held by this
/// process with no live run behind it belonged to a run whose caller dropped it.
static LIVE_RUNS: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);

/// One live run of an execution, counted in [`LIVE_RUNS`] while it exists.
pub(crate) struct LiveRun(String);

impl LiveRun {
    pub(crate) fn enter(id: &str) -> Self {
        let mut live = LIVE_RUNS.lock().unwrap_or_else(PoisonError::into_inner);
        *live.entry(id.to_owned()).or_default() += 1;
        LiveRun(id.to_owned())
    }

    pub(crate) fn count(id: &str) -> usize {
        let live = LIVE_RUNS.lock().unwrap_or_else(PoisonError::into_inner);
        live.get(id).copied().unwrap_or(0)
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        let mut live = LIVE_RUNS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = live.get_mut(&self.0) {
            *count -= 1;
            if *count == 0 {
                live.remove(&self.0);
            }
        }
    }
}

/// Holds an execution's lease: renews it every third of its ttl, and gives it up when
/// the run ends — also when the run is dropped half-way (its caller went away).
pub(crate) struct LeaseGuard {
    store: Arc<dyn Store>,
    id: String,
    owner: String,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

impl LeaseGuard {
    /// Holds the lease `owner` just took; `abort` stops the run if the lease is lost.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        id: &str,
        owner: &str,
        ttl: Duration,
        abort: AbortHandle,
    ) -> Self {
        let renewal = tokio::spawn({
            let (store, id, owner) = (Arc::clone(&store), id.to_owned(), owner.to_owned());
            async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    // Another owner took the execution over (this run stalled past the
                    // ttl): stop, rather than run it twice. Any other failure is retried
                    // at the next tick; the lease lapses only if renewals keep failing
                    // for a whole ttl.
                    if let Err(StoreError::Leased { owner: other, .. }) =
                        store.acquire_lease(&id, &owner, ttl).await
                    {
                        tracing::error!(execution_id = %id, %owner, other = %other, "lease lost; stopping this run");
                        abort.abort();
                        return;
                    }
                }
            }
        });
        LeaseGuard {
            store,
            id: id.to_owned(),
            owner: owner.to_owned(),
            renewal,
            released: false,
        }
    }

    pub(crate) async fn release(mut self) -> Result<(), StoreError> {
        self.renewal.abort();
        self.released = true;
        self.store.release_lease(&self.id, &self.owner).await
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (store, id, owner) = (Arc::clone(&self.store), self.id.clone(), self.owner.clone());
            handle.spawn(async move {
                let _ = store.release_lease(&id, &owner).await;
            });
        }
    }
}

/// Who this process is, for leases: `machine:pid` (the machine names the host and the
/// pid namespace, so that stores can tell a dead owner). Each run adds a nonce of its
/// own, so that one run's late release can never drop another run's lease.
pub(crate) fn process_id() -> String {
    let machine = crate::store::machine().unwrap_or("localhost");
    format!("{machine}:{}", std::process::id())
}
