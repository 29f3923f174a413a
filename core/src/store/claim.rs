//! Claims: how a worker finds and takes the executions that are waiting to be run.

use std::time::Duration;

use super::lease::{Lease, LeaseState};
use super::{ExecutionRecord, ExecutionStatus};

/// What a worker asks [`Store::claim`](super::Store::claim) for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimRequest {
    /// The owner the claimed leases are taken for. One owner per claimed execution is
    /// not needed: a worker claims under its own name, and each lease's epoch tells its
    /// runs apart.
    pub owner: String,
    /// The workflows the worker runs, by name and version: only their executions are
    /// claimed.
    pub workflows: Vec<(String, u32)>,
    /// At most this many executions.
    pub limit: usize,
    /// How long each claimed lease runs unless renewed.
    pub ttl: Duration,
}

/// An execution a worker claimed, with the lease it runs it under.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    /// The execution, as it was when claimed (with the recovery counted if the claim
    /// took it over).
    pub record: ExecutionRecord,
    /// The lease taken.
    pub lease: Lease,
}

/// Whether a worker of `request` may claim `record` at `now_ms`, as every store decides
/// it: running, of a registered workflow and version, due (its wake-up time has come),
/// and leased by nobody, or by a holder whose lease ran out or (`is_dead`) who is known
/// to be dead.
pub fn is_claimable(
    record: &ExecutionRecord,
    request: &ClaimRequest,
    now_ms: u64,
    is_dead: impl FnOnce(&str) -> bool,
) -> bool {
    record.status == ExecutionStatus::Running
        && record.wake_at_ms <= now_ms
        && request
            .workflows
            .iter()
            .any(|(name, version)| *name == record.workflow && *version == record.version)
        && match &record.lease {
            None => true,
            Some(LeaseState { owner, expires_ms }) => *expires_ms <= now_ms || is_dead(owner),
        }
}

/// The order claims are made in: the longest due first (by wake-up time, then by age,
/// then by id).
pub fn claim_order(a: &ExecutionRecord, b: &ExecutionRecord) -> std::cmp::Ordering {
    (a.wake_at_ms, a.created_ms, &a.id).cmp(&(b.wake_at_ms, b.created_ms, &b.id))
}
