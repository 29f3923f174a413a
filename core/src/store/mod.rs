//! Where executions and their checkpoints live: the [`Store`] trait.
//!
//! A store keeps, per execution, one [`ExecutionRecord`] and an append-only list of
//! [`Checkpoint`]s. The runtime writes through [`Store::commit`], whose future resolves
//! once the writes are durable (as durable as the store is configured to be). Stores
//! are shared by many executions at once, and by several processes or machines: the
//! execution lease ([`Store::acquire_lease`], [`Store::claim`]) makes sure only one of
//! them runs an execution at a time, and its epoch ([`Fence`]) makes sure a runner that
//! lost its lease writes nothing more.
//!
//! `waypost-runtime` implements it in memory (for tests) and on SQLite (the embedded
//! default); `waypost-postgres` on PostgreSQL. The trait is dyn-compatible; every method
//! returns a boxed future.

mod batch;
mod claim;
mod error;
mod lease;
mod notice;
mod records;

use std::fmt;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::history::Event;

pub use batch::batch_order;
pub use claim::{Claim, ClaimRequest, claim_order, is_claimable};
pub use error::StoreError;
pub use lease::{
    Decision, Fence, Lease, LeaseState, LeaseToken, check_fence, decide, expiry_ms, now_ms,
    recovery_event,
};
pub use notice::{Notice, Notices, Notifier};
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

    /// The checkpoints of the execution whose `seq` is above `after`, in `seq` order:
    /// what was written since a run read the others (a callback's messages). The
    /// default reads every checkpoint and keeps the new ones.
    fn checkpoints_after<'a>(
        &'a self,
        id: &'a str,
        after: u64,
    ) -> StoreFuture<'a, Vec<Checkpoint>> {
        Box::pin(async move {
            let mut checkpoints = self.checkpoints(id).await?;
            checkpoints.retain(|c| c.seq > after);
            Ok(checkpoints)
        })
    }

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
    /// Many concurrent commits may share one transaction (group commit); a refused batch
    /// never fails another.
    ///
    /// `fence` is checked in the same transaction: a run's writes
    /// ([`Fence::Lease`]) are refused with [`StoreError::Fenced`] unless its token is
    /// the execution's current lease (same owner, same epoch). The status rules are
    /// [`batch_order`]'s. A batch that finishes the execution sends
    /// [`Notice::Finished`]; one that sets it running again (a redrive) sends
    /// [`Notice::Runnable`].
    fn commit<'a>(
        &'a self,
        id: &'a str,
        fence: Fence<'a>,
        writes: Vec<Write>,
    ) -> StoreFuture<'a, ()>;

    /// Takes (or renews) the lease on the execution for `owner`, for `ttl`, as
    /// [`decide`] rules: renewing one's own keeps the epoch, taking it grows the epoch
    /// by one. Fails with [`StoreError::Leased`] while another owner's lease runs (a
    /// store on one machine may take over at once from an owner it knows is dead; a
    /// store shared by machines waits for the expiry).
    ///
    /// Taking the lease of a running execution over from another owner (its lease ran
    /// out, or it is known to be dead: it stopped without finishing the run) is a
    /// recovery of the execution. In the same atomic, durable step as the takeover, the
    /// store increments [`ExecutionRecord::recoveries`] and appends the
    /// [`recovery_event`] to the history, whose details name the new `owner`, the
    /// `previous_owner` and the new count (`recoveries`): a history never misses a
    /// recovery the count has. Taking a free lease, renewing one's own, or taking over
    /// the lease of a finished execution is not a recovery.
    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease>;

    /// Extends the lease `token` holds by `ttl` from now — also one that ran out, as long
    /// as nobody took it meanwhile. Never takes a lease: fails with
    /// [`StoreError::Fenced`] when `token` is not the execution's current lease (another
    /// owner took it over, or it was given up), so a holder that stalled learns it lost
    /// the execution. The epoch stays.
    fn renew_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a LeaseToken,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease>;

    /// Gives the lease up, if `token` holds it (else nothing changes). Giving up the
    /// lease of a running execution hands it to the workers: [`Notice::Runnable`].
    fn release_lease<'a>(&'a self, id: &'a str, token: &'a LeaseToken) -> StoreFuture<'a, ()>;

    /// Takes the lease of up to `request.limit` executions a worker may run now
    /// ([`is_claimable`]), in [`claim_order`], for `request.owner`: each with its epoch
    /// grown by one, and counted and recorded as a recovery when taken over from
    /// another owner, as [`acquire_lease`](Store::acquire_lease) does. Two concurrent
    /// claims never return the same execution.
    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> StoreFuture<'a, Vec<Claim>>;

    /// A stream of [`Notice`]s, when the store can send them (`None`: subscribers poll).
    fn notices(&self) -> Option<Notices> {
        None
    }
}
