//! Execution leases: who may run an execution now. Both stores decide with [`check`],
//! so a lease behaves the same in memory and on SQLite.
//!
//! A lease is an owner string and an expiry in wall-clock milliseconds (wall clock, not
//! `Instant`, because a SQLite lease is read by other processes). The runtime formats
//! owners as `"{hostname}:{pid}:{nonce}"`; [`owner_is_dead`] reads that format to let a
//! fresh process take over at once from an owner that was killed, instead of waiting
//! for the lease to run out.

use std::path::Path;
use std::sync::OnceLock;
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
        Some((holder, _)) if owner_is_dead(holder) => Ok(true),
        Some((holder, expires_ms)) => Err(StoreError::Leased {
            id: id.to_owned(),
            owner: holder.to_owned(),
            remaining: Duration::from_millis(expires_ms - now_ms),
        }),
    }
}

/// Whether the process named by a `"{machine}:{pid}:{nonce}"` owner is known to be
/// gone: it ran on this machine, in this pid namespace (see [`machine`]), and
/// `/proc/{pid}` does not exist.
///
/// `false` whenever it cannot tell: another machine, an owner in another format, or no
/// `/proc` (not Linux). A reused pid makes a dead owner look alive, which only means
/// waiting for its lease to run out.
pub(crate) fn owner_is_dead(owner: &str) -> bool {
    let mut parts = owner.splitn(3, ':');
    let (Some(host), Some(pid), Some(_nonce)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    // Two containers may share a hostname and a store file; their pids mean nothing to
    // each other, so the namespace is part of the machine.
    if machine() != Some(host) || pid == std::process::id() {
        return false;
    }
    // Without a working /proc, a missing /proc/{pid} would prove nothing.
    Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Where this process runs, as lease owners name it: the hostname, then `/` and the
/// inode of its pid namespace when `/proc` shows it (`web-1/4026531836`). Pids are
/// only comparable between processes with the same machine.
pub(crate) fn machine() -> Option<&'static str> {
    static MACHINE: OnceLock<Option<String>> = OnceLock::new();
    MACHINE
        .get_or_init(|| {
            let host = hostname()?;
            // `pid:[4026531836]`: keep the digits (owners are split at `:`).
            let namespace = std::fs::read_link("/proc/self/ns/pid")
                .ok()
                .map(|link| {
                    link.to_string_lossy()
                        .chars()
                        .filter(char::is_ascii_digit)
                        .collect::<String>()
                })
                .filter(|digits| !digits.is_empty());
            Some(match namespace {
                Some(ns) => format!("{host}/{ns}"),
                None => host.to_owned(),
            })
        })
        .as_deref()
}

/// This machine's hostname: the kernel's `/proc/sys/kernel/hostname`, else the
/// `HOSTNAME` environment variable.
pub(crate) fn hostname() -> Option<&'static str> {
    static HOSTNAME: OnceLock<Option<String>> = OnceLock::new();
    HOSTNAME
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_on_this_host_with_a_missing_pid_is_dead() {
        let Some(machine) = machine() else { return };
        assert!(owner_is_dead(&format!("{machine}:999999999:x")));
        assert!(!owner_is_dead(&format!(
            "{machine}:{}:x",
            std::process::id()
        )));
    }

    #[test]
    fn a_missing_pid_in_another_pid_namespace_proves_nothing() {
        let Some(host) = hostname() else { return };
        assert!(!owner_is_dead(&format!("{host}/1:999999999:x")));
    }

    #[test]
    fn unknown_owners_are_alive() {
        assert!(!owner_is_dead("another-host.invalid:999999999:x"));
        assert!(!owner_is_dead("no-colons"));
        assert!(!owner_is_dead("host:not-a-pid:x"));
        assert!(!owner_is_dead("host:999999999"));
    }

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
