//! Taking an execution's lease, and holding it while a run of this process drives it.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::AbortHandle;
use waypost_core::store::{Lease, LeaseToken};
use waypost_core::{Store, StoreError};

/// How a run waits for a lease held by someone else.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wait {
    /// How long at most; `None`: as long as the holder's lease has left to run.
    pub(crate) max: Option<Duration>,
}

/// The first pause between two tries at a held lease; pauses grow to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(250);

/// How far a holder's expiry must move for it to count as renewed (a renewal moves it
/// by a third of the holder's ttl; clocks and rounding move it by a few ms).
const RENEWED: Duration = Duration::from_millis(25);

/// How long past a lease's end, as this process measured it, a wait tries once more.
const SLACK: Duration = Duration::from_millis(50);

/// Takes the lease on the execution `id` for `owner` (a run of the process `process`).
///
/// A lease held by a run of this process that is no longer alive (its caller dropped it
/// and its release is still on its way) is taken over at once; one held by a live run
/// of this process is refused at once. A lease held by another owner is waited for, up to `wait`: it is taken as soon as its holder is known to be
/// dead (the store checks at every try: a process that is gone or a zombie) or its lease
/// runs out. A holder that renews its lease meanwhile is alive: the result is then
/// [`StoreError::Leased`] at once, naming the holder and how long its lease runs.
pub(crate) async fn acquire(
    store: &dyn Store,
    id: &str,
    owner: &str,
    ttl: Duration,
    process: &str,
    wait: Wait,
) -> Result<Lease, StoreError> {
    let started = Instant::now();
    // The holder first seen, when its lease runs out, and when this wait ends.
    let mut first: Option<(String, Instant, Instant)> = None;
    let mut pause = FIRST_POLL;
    loop {
        let (holder, remaining) = match store.acquire_lease(id, owner, ttl).await {
            Ok(lease) => return Ok(lease),
            Err(StoreError::Leased {
                owner: holder,
                remaining,
                ..
            }) => (holder, remaining),
            Err(error) => return Err(error),
        };
        if holder.starts_with(&format!("{process}:")) {
            // A run of this process: alive while another run than this one is.
            if LiveRun::count(id) == 1 {
                let token = LeaseToken {
                    epoch: store.execution(id).await?.lease_epoch,
                    owner: holder,
                };
                store.release_lease(id, &token).await?;
                return store.acquire_lease(id, owner, ttl).await;
            }
            return Err(StoreError::Leased {
                id: id.to_owned(),
                owner: holder,
                remaining,
            });
        }
        let expires = Instant::now() + remaining;
        let (first_holder, first_expiry, deadline) = first.get_or_insert_with(|| {
            // By default, as long as the lease has left, and a little more, so that the
            // last try comes after it ran out by the store's clock too.
            let bound = wait.max.unwrap_or(remaining + SLACK);
            (holder.clone(), expires, started + bound)
        });
        let renewed = *first_holder != holder || expires > *first_expiry + RENEWED;
        let now = Instant::now();
        if renewed || now >= *deadline {
            return Err(StoreError::Leased {
                id: id.to_owned(),
                owner: holder,
                remaining,
            });
        }
        tracing::debug!(execution_id = %id, %holder, ?remaining, "waiting for the lease of a holder that may be gone");
        tokio::time::sleep(pause.min(*deadline - now)).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

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
    token: LeaseToken,
    renewal: tokio::task::JoinHandle<()>,
    released: bool,
}

impl LeaseGuard {
    /// Holds the lease `token` names; `abort` stops the run if the lease is lost.
    pub(crate) fn new(
        store: Arc<dyn Store>,
        id: &str,
        token: LeaseToken,
        ttl: Duration,
        abort: AbortHandle,
    ) -> Self {
        let renewal = tokio::spawn({
            let (store, id, token) = (Arc::clone(&store), id.to_owned(), token.clone());
            async move {
                loop {
                    tokio::time::sleep(ttl / 3).await;
                    // Another owner took the execution over (this run stalled past the
                    // ttl) or it was given up: stop, rather than run it twice — the
                    // store refuses this run's writes already (its epoch is stale). Any
                    // other failure is retried at the next tick; the lease lapses only
                    // if renewals keep failing for a whole ttl.
                    let lost = match store.renew_lease(&id, &token, ttl).await {
                        Ok(_) => continue,
                        Err(StoreError::Fenced { current, .. }) => current,
                        Err(_) => continue,
                    };
                    tracing::error!(execution_id = %id, owner = %token.owner, epoch = token.epoch, now = lost, "lease lost to another owner; stopping this run");
                    abort.abort();
                    return;
                }
            }
        });
        LeaseGuard {
            store,
            id: id.to_owned(),
            token,
            renewal,
            released: false,
        }
    }

    /// The token this run writes with.
    pub(crate) fn token(&self) -> &LeaseToken {
        &self.token
    }

    pub(crate) async fn release(mut self) -> Result<(), StoreError> {
        self.renewal.abort();
        self.released = true;
        self.store.release_lease(&self.id, &self.token).await
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        self.renewal.abort();
        if self.released {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (store, id, token) = (Arc::clone(&self.store), self.id.clone(), self.token.clone());
            let release = handle.spawn(async move {
                let _ = store.release_lease(&id, &token).await;
            });
            let mut pending = PENDING_RELEASES
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pending.retain(|task| !task.is_finished());
            pending.push(release);
        }
    }
}

/// Releases of leases whose runs were dropped, still on their way to the store.
static PENDING_RELEASES: LazyLock<Mutex<Vec<tokio::task::JoinHandle<()>>>> =
    LazyLock::new(Default::default);

/// Waits, at most `within`, for the releases of dropped runs to reach the store: a
/// worker that stops hands its executions back before it returns.
pub(crate) async fn released(within: Duration) {
    let pending: Vec<_> = std::mem::take(
        &mut *PENDING_RELEASES
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let _ = tokio::time::timeout(within, futures::future::join_all(pending)).await;
}
