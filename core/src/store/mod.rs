//! Where executions and their checkpoints live: the [`Store`] trait.
//!
//! A store keeps, per execution, one [`ExecutionRecord`] and an append-only list of
//! [`Checkpoint`]s. The runtime writes through [`Store::commit`], whose future resolves
//! once the writes are durable (as durable as the store is configured to be). Stores
//! are shared by many executions at once, and possibly by several processes: the
//! execution lease ([`Store::acquire_lease`]) makes sure only one of them runs an
//! execution at a time.
//!
//! `waypost-runtime` implements it in memory (for tests) and on SQLite (the embedded
//! default). The trait is dyn-compatible; every method returns a boxed future.

mod error;
mod records;

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::history::Event;

pub use error::StoreError;
pub use records::{
    Checkpoint, CheckpointKind, ExecutionRecord, ExecutionStatus, ListFilter, NewExecution,
    Snapshot, Write,
};

/// The future a [`Store`] method returns.
pub type StoreFuture<'a, T> = BoxFuture<'a, Result<T, StoreError>>;

/// Keeps executions and their checkpoints. See the [module docs](self).
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Creates the execution, or returns the one that already has this id. The `bool`
    /// is `true` when it was created by this call. Creating is durable when the future
    /// resolves.
    fn create(&self, new: NewExecution) -> StoreFuture<'_, (ExecutionRecord, bool)>;

    /// The execution with this id.
    fn execution<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ExecutionRecord>;

    /// Executions matching `filter`, newest first.
    fn list<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Vec<ExecutionRecord>>;

    /// Every checkpoint of the execution, in `seq` order, with `seq` filled in.
    fn checkpoints<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Checkpoint>>;

    /// The execution's history, in `seq` order, with `seq` filled in.
    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>>;

    /// The execution, its checkpoints and its history, as a run needs them to resume
    /// it; a store that can should read them in one snapshot (and one round trip).
    fn snapshot<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Snapshot> {
        Box::pin(async move {
            Ok(Snapshot {
                record: self.execution(id).await?,
                checkpoints: self.checkpoints(id).await?,
                history: self.history(id).await?,
            })
        })
    }

    /// Applies `writes` to the execution atomically; durable when the future resolves.
    /// Many concurrent commits may share one transaction (group commit).
    fn commit<'a>(&'a self, id: &'a str, writes: Vec<Write>) -> StoreFuture<'a, ()>;

    /// Takes (or renews) the lease on the execution for `owner`, for `ttl`. Fails with
    /// [`StoreError::Leased`] while another owner's lease runs; a lease whose owner is
    /// known to be dead may be taken over at once.
    ///
    /// Taking the lease of a running execution over from another owner (its lease ran
    /// out, or it is known to be dead: it stopped without finishing the run) is a
    /// recovery of the execution. In the same atomic, durable step as the takeover, the
    /// store increments [`ExecutionRecord::recoveries`] and appends an
    /// [`ExecutionRecovered`](crate::EventKind::ExecutionRecovered) event to the history,
    /// whose details name the new `owner`, the `previous_owner` and the new count
    /// (`recoveries`): a history never misses a recovery the count has. Taking a free
    /// lease, renewing one's own, or taking over the lease of a finished execution is
    /// not a recovery. A store with worker leases (such as PostgreSQL) does the same with
    /// one conditional `UPDATE` and an `INSERT` in its transaction.
    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, ()>;

    /// Gives the lease up, if `owner` holds it.
    fn release_lease<'a>(&'a self, id: &'a str, owner: &'a str) -> StoreFuture<'a, ()>;
}
