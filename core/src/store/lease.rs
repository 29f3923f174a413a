//! Execution leases with fencing: who may run an execution now, and whose writes land.
//!
//! A lease is held by an owner (a string naming one run: machine, process and a nonce)
//! until an expiry in wall-clock milliseconds; the holder renews it while it runs. Each
//! time the lease changes hands the execution's *epoch* grows by one, and every write
//! of a run carries the [`LeaseToken`] (owner and epoch) it got: a store refuses a
//! commit whose token is not the execution's current one ([`StoreError::Fenced`]), so
//! an owner that stalled past its lease writes nothing once another took over.
//!
//! [`decide`] is the one rule every store applies when an owner asks for a lease.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::StoreError;
use crate::history::{Event, EventDetails, EventKind};

/// The proof that a run holds an execution's lease: its owner and the epoch the store
/// gave it. Every [`Store::commit`](super::Store::commit) of the run carries it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LeaseToken {
    /// Who holds the lease.
    pub owner: String,
    /// The execution's lease epoch when this owner took it.
    pub epoch: u64,
}

/// A lease taken by [`Store::acquire_lease`](super::Store::acquire_lease) or
/// [`Store::claim`](super::Store::claim).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The token the holder writes with.
    pub token: LeaseToken,
    /// When it runs out unless renewed, in milliseconds since the Unix epoch (by the
    /// store's clock).
    pub expires_ms: u64,
    /// The owner it was taken over from, when taking it was a recovery of the execution
    /// (its previous runner stopped without finishing it).
    pub recovered_from: Option<String>,
}

/// Which lease a [`Store::commit`](super::Store::commit) is written under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fence<'a> {
    /// A run's writes: refused with [`StoreError::Fenced`] unless this token holds the
    /// execution's lease now.
    Lease(&'a LeaseToken),
    /// Writes of no run: a cancel or a redrive from a caller that does not run the
    /// execution. Checked against the execution's status only.
    Unleased,
}

/// Who holds an execution's lease now, as its [`ExecutionRecord`](super::ExecutionRecord)
/// says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseState {
    /// The holder.
    pub owner: String,
    /// When its lease runs out unless renewed, in milliseconds since the Unix epoch.
    pub expires_ms: u64,
}

/// What an owner asking for a lease gets, by [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It holds the lease already: the expiry moves, the epoch stays.
    Renew,
    /// Nobody holds it: taken, the epoch grows by one.
    Take,
    /// Another owner held it, and its lease ran out or it is known to be dead: taken
    /// over, the epoch grows by one; a recovery when the execution is running.
    TakeOver {
        /// The previous holder.
        from: String,
    },
}

/// Decides whether `owner` may have the lease on execution `id`, held by `holder` (or
/// nobody), at `now_ms`. `is_dead` says whether a holder is known to be dead before its
/// lease runs out (a store on one machine can tell; a store shared by machines answers
/// `false` and waits for the expiry).
///
/// A holder that is alive with time left refuses it: [`StoreError::Leased`], naming the
/// holder and the time left.
///
/// ```
/// use waypost::store::{Decision, LeaseState, decide};
///
/// let held = LeaseState { owner: "b".into(), expires_ms: 100 };
/// assert_eq!(decide("e", None, "a", 50, |_| false).unwrap(), Decision::Take);
/// assert!(decide("e", Some(&held), "a", 50, |_| false).is_err());
/// assert_eq!(
///     decide("e", Some(&held), "a", 100, |_| false).unwrap(),
///     Decision::TakeOver { from: "b".into() }
/// );
/// ```
pub fn decide(
    id: &str,
    holder: Option<&LeaseState>,
    owner: &str,
    now_ms: u64,
    is_dead: impl FnOnce(&str) -> bool,
) -> Result<Decision, StoreError> {
    match holder {
        None => Ok(Decision::Take),
        Some(held) if held.owner == owner => Ok(Decision::Renew),
        Some(held) if held.expires_ms <= now_ms || is_dead(&held.owner) => Ok(Decision::TakeOver {
            from: held.owner.clone(),
        }),
        Some(held) => Err(StoreError::Leased {
            id: id.to_owned(),
            owner: held.owner.clone(),
            remaining: Duration::from_millis(held.expires_ms - now_ms),
        }),
    }
}

/// Checks a commit's fence against the execution's lease: `epoch` and `holder` as the
/// store has them. [`Fence::Unleased`] always passes.
pub fn check_fence(
    id: &str,
    fence: Fence<'_>,
    epoch: u64,
    holder: Option<&str>,
) -> Result<(), StoreError> {
    match fence {
        Fence::Unleased => Ok(()),
        Fence::Lease(token) if token.epoch == epoch && holder == Some(token.owner.as_str()) => {
            Ok(())
        }
        Fence::Lease(token) => Err(StoreError::Fenced {
            id: id.to_owned(),
            owner: token.owner.clone(),
            epoch: token.epoch,
            current: epoch,
        }),
    }
}

/// The [`ExecutionRecovered`](EventKind::ExecutionRecovered) event a store appends when
/// `owner` takes a running execution over from `previous` (the `recoveries`-th time).
pub fn recovery_event(owner: &str, previous: &str, recoveries: u32, at_ms: u64) -> Event {
    Event {
        seq: 0,
        at_ms,
        kind: EventKind::ExecutionRecovered,
        address: String::new(),
        attempt: 1,
        duration_ms: None,
        details: EventDetails {
            owner: Some(owner.to_owned()),
            previous_owner: Some(previous.to_owned()),
            recoveries: Some(recoveries),
            ..EventDetails::default()
        },
    }
}

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When a lease taken at `now_ms` for `ttl` runs out, saturating at `i64::MAX` (so that
/// every expiry fits a signed 64-bit column).
pub fn expiry_ms(now_ms: u64, ttl: Duration) -> u64 {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    now_ms.saturating_add(ttl_ms).min(i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(owner: &str, expires_ms: u64) -> LeaseState {
        LeaseState {
            owner: owner.into(),
            expires_ms,
        }
    }

    #[test]
    fn decide_follows_holder_expiry_and_liveness() {
        let other = held("other", 25);
        assert_eq!(
            decide("e", None, "me", 10, |_| false).unwrap(),
            Decision::Take
        );
        assert_eq!(
            decide("e", Some(&held("me", 20)), "me", 10, |_| false).unwrap(),
            Decision::Renew
        );
        assert_eq!(
            decide("e", Some(&other), "me", 10, |o| o == "other").unwrap(),
            Decision::TakeOver {
                from: "other".into()
            }
        );
        match decide("e", Some(&other), "me", 10, |_| false) {
            Err(StoreError::Leased {
                owner, remaining, ..
            }) => {
                assert_eq!(owner, "other");
                assert_eq!(remaining, Duration::from_millis(15));
            }
            other => panic!("expected Leased, got {other:?}"),
        }
    }

    #[test]
    fn a_fence_passes_only_for_the_current_holder_and_epoch() {
        let token = LeaseToken {
            owner: "me".into(),
            epoch: 3,
        };
        check_fence("e", Fence::Lease(&token), 3, Some("me")).unwrap();
        check_fence("e", Fence::Unleased, 9, None).unwrap();
        for (epoch, holder) in [(4, Some("me")), (3, None), (3, Some("other"))] {
            match check_fence("e", Fence::Lease(&token), epoch, holder) {
                Err(StoreError::Fenced {
                    epoch: 3, current, ..
                }) => assert_eq!(current, epoch),
                other => panic!("expected Fenced, got {other:?}"),
            }
        }
    }

    #[test]
    fn expiry_saturates() {
        assert_eq!(expiry_ms(5, Duration::from_millis(7)), 12);
        assert_eq!(expiry_ms(5, Duration::MAX), i64::MAX as u64);
    }
}
