//! Execution leases: who may run an execution now. Both stores decide with [`check`],
//! so a lease behaves the same in memory and on SQLite.
//!
//! A lease is an owner string and an expiry in wall-clock milliseconds (wall clock, not
//! `Instant`, because a SQLite lease is read by other processes). An owner that
//! [`owner_is_dead`](crate::liveness::owner_is_dead) finds gone is taken over at once,
//! instead of waiting for its lease to run out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use waypost_core::store::StoreError;

/// Now, in milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// When a lease taken at `now_ms` for `ttl` runs out, saturating far in the future.
pub(crate) fn expiry_ms(now_ms: u64, ttl: Duration) -> u64 {
    let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
    // SQLite stores i64: keep every expiry representable there too.
    now_ms.saturating_add(ttl_ms).min(i64::MAX as u64)
}

/// Whether `owner` may take the lease on execution `id`, currently held by `holder`
/// (owner and expiry in ms) or by nobody.
///
/// It may when nobody holds it, when it already holds it (a renewal), when the lease
/// has run out, or when the holder is known to be dead; otherwise the error is
/// [`StoreError::Leased`] with the holder and the time left.
///
/// Returns whether it takes the lease over from another owner (run out or dead): a
/// recovery of the execution, which the store counts.
pub(crate) fn check(
    id: &str,
    holder: Option<(&str, u64)>,
    owner: &str,
    now_ms: u64,
) -> Result<bool, StoreError> {
    match holder {
        None => Ok(false),
        Some((holder, _)) if holder == owner => Ok(false),
        Some((_, expires_ms)) if expires_ms <= now_ms => Ok(true),
        Some((holder, _)) if crate::liveness::owner_is_dead(holder) => Ok(true),
        Some((holder, expires_ms)) => Err(StoreError::Leased {
            id: id.to_owned(),
            owner: holder.to_owned(),
            remaining: Duration::from_millis(expires_ms - now_ms),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_follows_holder_expiry_and_liveness() {
        let other = "another-host.invalid:1:x";
        assert!(!check("e", None, "me", 10).unwrap());
        assert!(!check("e", Some(("me", 20)), "me", 10).unwrap());
        // Run out: taken over, a recovery.
        assert!(check("e", Some((other, 10)), "me", 10).unwrap());
        match check("e", Some((other, 25)), "me", 10) {
            Err(StoreError::Leased {
                owner, remaining, ..
            }) => {
                assert_eq!(owner, other);
                assert_eq!(remaining, Duration::from_millis(15));
            }
            other => panic!("expected Leased, got {other:?}"),
        }
    }

    #[test]
    fn expiry_saturates() {
        assert_eq!(expiry_ms(5, Duration::from_millis(7)), 12);
        assert_eq!(expiry_ms(5, Duration::MAX), i64::MAX as u64);
    }
}
