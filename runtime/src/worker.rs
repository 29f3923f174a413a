//! [`Worker`]: runs the executions submitted to a shared store, in any process.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use tokio::task::JoinSet;
use typed_builder::TypedBuilder;
use waypost_core::store::{Claim, ClaimRequest, Notice};
use waypost_core::{Payload, Workflow};

use crate::error::RunError;
use crate::executor::Start;
use crate::runtime::Runtime;

/// How a [`Worker`] runs.
#[derive(Clone, Debug, TypedBuilder)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// How many executions it runs at once. Default 64.
    #[builder(default = 64)]
    pub concurrency: usize,
    /// How long each lease it takes lasts without renewal (renewed every third of it):
    /// how long an execution of a worker that died waits before another takes it over.
    /// Default 30 s.
    #[builder(default = Duration::from_secs(30))]
    pub lease_ttl: Duration,
    /// How often it looks for work when no notice woke it (new executions, timers and
    /// backoffs that came due, leases that ran out). Default 1 s.
    #[builder(default = Duration::from_secs(1))]
    pub poll_interval: Duration,
    /// On shutdown, how long it lets the executions it runs go on to their end before
    /// it stops them and hands them back (their leases released, for another worker to
    /// resume from their last checkpoint). Default 30 s.
    #[builder(default = Duration::from_secs(30))]
    pub shutdown_grace: Duration,
    /// An execution that only waits on durable timers (a `wait`, a retry backoff) that
    /// end more than this later is parked: the worker gives its lease back and frees
    /// its slot, and any worker resumes it when the first timer ends. Default 5 s.
    #[builder(default = Duration::from_secs(5))]
    pub park_waits_over: Duration,
    /// The longest pause between two tries when the store fails (unreachable, locked):
    /// pauses double from 100 ms up to it. Default 30 s.
    #[builder(default = Duration::from_secs(30))]
    pub max_retry_delay: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions::builder().build()
    }
}

/// What a [`Worker`] did before it stopped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Executions it ran to their end (succeeded, failed or cancelled).
    pub finished: usize,
    /// Runs that stopped without an end (a store failure, a lost lease); the
    /// executions stay resumable.
    pub stopped: usize,
    /// Executions it handed back at shutdown, unfinished.
    pub handed_back: usize,
    /// Runs that parked their execution on a durable timer (counted once per parking).
    pub parked: usize,
}

/// Runs one claimed execution of a registered workflow.
type RunClaim =
    Arc<dyn Fn(Runtime, Claim) -> BoxFuture<'static, Result<(), RunError>> + Send + Sync>;

/// Runs every runnable execution of the workflows it registered, from the runtime's
/// store: newly submitted ones, interrupted ones (their owner died and its lease ran
/// out), and ones whose timer or retry backoff came due. Any number of workers, in any
/// number of processes or machines, may share one store: each execution is run by one
/// of them at a time (its lease), and a worker that stalls past its lease writes
/// nothing more (the lease's epoch fences its commits).
///
/// Executions of workflows — names and versions — it does not know are left for other
/// workers.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::{MemoryStore, Worker, WorkerOptions};
///
/// #[step]
/// async fn greet(name: String) -> String { format!("hello {name}") }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::builder().store(MemoryStore::new()).build();
/// let wf = Workflow::new("greet", 1, greet);
/// let worker = Worker::new(runtime.clone(), WorkerOptions::builder().concurrency(8).build())
///     .register(&wf);
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let running = tokio::spawn(worker.run(async { stopped.await.ok(); }));
///
/// let handle = runtime.submit(&wf, "g-1", "ada".to_owned()).await.unwrap();
/// assert_eq!(handle.output().await.unwrap(), "hello ada");
/// stop.send(()).unwrap();
/// assert_eq!(running.await.unwrap().unwrap().finished, 1);
/// # }
/// ```
pub struct Worker {
    runtime: Runtime,
    options: WorkerOptions,
    workflows: HashMap<(String, u32), RunClaim>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("options", &self.options)
            .field("workflows", &self.workflows.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A worker over `runtime`'s store, with no workflow yet.
    pub fn new(runtime: Runtime, options: WorkerOptions) -> Self {
        Worker {
            runtime,
            options,
            workflows: HashMap::new(),
        }
    }

    /// Runs the executions of `workflow` (its name and version) too.
    #[must_use]
    pub fn register<I: Payload, O: Payload>(mut self, workflow: &Workflow<I, O>) -> Self {
        let key = (workflow.name().to_owned(), workflow.version());
        let workflow = workflow.clone();
        let (ttl, park_over) = (self.options.lease_ttl, self.options.park_waits_over);
        let run: RunClaim = Arc::new(move |runtime: Runtime, claim: Claim| {
            let workflow = workflow.clone();
            Box::pin(async move {
                let id = claim.record.id.clone();
                let start = Start::Claimed {
                    lease: claim.lease,
                    ttl,
                    park_over: Some(park_over),
                };
                runtime
                    .drive(&workflow, id, Some(claim.record), start)
                    .await
                    .map(drop)
            })
        });
        self.workflows.insert(key, run);
        self
    }

    /// Runs until `shutdown` resolves, then stops taking work, lets what it runs go on
    /// for [`WorkerOptions::shutdown_grace`], and hands back what is left.
    ///
    /// A store that fails (unreachable, locked) is tried again with growing pauses,
    /// each failure logged as a warning: the worker never stops for it.
    ///
    /// # Errors
    ///
    /// [`RunError::NoStore`] for a runtime without a store.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<WorkerReport, RunError> {
        let store = Arc::clone(self.runtime.store()?);
        let owner = format!(
            "{}:worker-{:08x}",
            self.runtime.inner.process,
            fastrand::u32(..)
        );
        let request = ClaimRequest {
            owner: owner.clone(),
            workflows: self.workflows.keys().cloned().collect(),
            limit: 0,
            ttl: self.options.lease_ttl,
        };
        let concurrency = self.options.concurrency.max(1);
        let names: Vec<String> = self
            .workflows
            .keys()
            .map(|(name, _)| name.clone())
            .collect();
        let mut notices = store.notices();
        let mut running: JoinSet<Result<(), RunError>> = JoinSet::new();
        let mut report = WorkerReport::default();
        let mut failures = 0u32;
        tracing::info!(%owner, workflows = ?request.workflows, concurrency, "worker started");
        tokio::pin!(shutdown);

        loop {
            // Claim as much as there is room for.
            let mut pause = self.options.poll_interval;
            let room = concurrency - running.len();
            if room > 0 {
                let claim = ClaimRequest {
                    limit: room,
                    ..request.clone()
                };
                match store.claim(&claim).await {
                    Ok(claims) => {
                        failures = 0;
                        let full = claims.len() == room;
                        for claim in claims {
                            let key = (claim.record.workflow.clone(), claim.record.version);
                            match self.workflows.get(&key) {
                                Some(run) => {
                                    running.spawn(run(self.runtime.clone(), claim));
                                }
                                // Not one of ours (a store that claimed too much): back.
                                None => {
                                    let id = &claim.record.id;
                                    let _ = store.release_lease(id, &claim.lease.token).await;
                                }
                            }
                        }
                        // More may be waiting: look again at once once there is room.
                        if full {
                            pause = Duration::ZERO;
                        }
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        pause = retry_delay(failures, self.options.max_retry_delay);
                        tracing::warn!(%owner, %error, retry_in = ?pause, "worker: the store failed; trying again");
                    }
                }
            }

            let sleep = tokio::time::sleep(pause);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    () = &mut shutdown => {
                        return Ok(self.shut_down(running, report, &owner).await);
                    }
                    Some(done) = running.join_next() => {
                        count(&mut report, done);
                        if failures == 0 {
                            break;
                        }
                    }
                    notice = next_notice(&mut notices) => {
                        match notice {
                            Some(Notice::Runnable { workflow }) if names.contains(&workflow) => {
                                if failures == 0 {
                                    break;
                                }
                            }
                            Some(_) => {}
                            // The store stopped sending: poll from now on.
                            None => notices = None,
                        }
                    }
                    () = &mut sleep => break,
                }
            }
        }
    }

    async fn shut_down(
        self,
        mut running: JoinSet<Result<(), RunError>>,
        mut report: WorkerReport,
        owner: &str,
    ) -> WorkerReport {
        tracing::info!(%owner, running = running.len(), grace = ?self.options.shutdown_grace, "worker stopping");
        let grace = tokio::time::sleep(self.options.shutdown_grace);
        tokio::pin!(grace);
        while !running.is_empty() {
            tokio::select! {
                Some(done) = running.join_next() => count(&mut report, done),
                () = &mut grace => break,
            }
        }
        report.handed_back = running.len();
        // Dropping a run gives its lease back (the lease guard releases it).
        running.abort_all();
        while running.join_next().await.is_some() {}
        // The aborted runs give their leases back: wait for that to reach the store.
        crate::lease::released(Duration::from_secs(5)).await;
        tracing::info!(%owner, ?report, "worker stopped");
        report
    }
}

/// The next notice, or never when there is no stream.
async fn next_notice(notices: &mut Option<waypost_core::store::Notices>) -> Option<Notice> {
    match notices {
        Some(stream) => stream.next().await,
        None => std::future::pending().await,
    }
}

fn count(report: &mut WorkerReport, done: Result<Result<(), RunError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(()) | Err(RunError::Failed { .. } | RunError::Cancelled { .. })) => {
            report.finished += 1;
        }
        Ok(Err(RunError::Parked { .. })) => report.parked += 1,
        Ok(Err(error)) => {
            tracing::warn!(%error, "worker: a run stopped without finishing its execution");
            report.stopped += 1;
        }
        Err(error) => {
            tracing::error!(%error, "worker: a run panicked");
            report.stopped += 1;
        }
    }
}

/// The pause after `failures` failures in a row: 100 ms, doubling, at most `max`.
fn retry_delay(failures: u32, max: Duration) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    (Duration::from_millis(100) * factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_bound() {
        let max = Duration::from_secs(30);
        assert_eq!(retry_delay(1, max), Duration::from_millis(100));
        assert_eq!(retry_delay(2, max), Duration::from_millis(200));
        assert_eq!(retry_delay(5, max), Duration::from_millis(1600));
        assert_eq!(retry_delay(50, max), max);
    }
}
