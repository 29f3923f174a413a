//! How SQLite failures become [`StoreError`]s that say what and where.
//!
//! Code that talks to SQLite returns [`OpError`]: either a finished [`StoreError`]
//! (not found, conflict, corrupt row, ...) or a raw `rusqlite::Error`. The raw ones are
//! turned into store errors in one place, [`OpError::into_store_error`], which knows the
//! file, the operation and when it started (for [`StoreError::Locked::waited`]).

use std::time::Instant;

use rusqlite::ErrorCode;
use waypost_core::store::StoreError;

/// A failure inside the SQLite store, before it is described for the caller.
#[derive(Debug)]
pub(super) enum OpError {
    /// Already a store error.
    Store(StoreError),
    /// SQLite failed.
    Sql(rusqlite::Error),
}

impl From<StoreError> for OpError {
    fn from(err: StoreError) -> Self {
        OpError::Store(err)
    }
}

impl From<rusqlite::Error> for OpError {
    fn from(err: rusqlite::Error) -> Self {
        OpError::Sql(err)
    }
}

impl OpError {
    /// The store error for this failure of `doing` (such as "committing to execution
    /// `x`") on the file at `path`, which started at `started`.
    pub(super) fn into_store_error(
        self,
        path: &str,
        started: Instant,
        doing: impl FnOnce() -> String,
    ) -> StoreError {
        match self {
            OpError::Store(err) => err,
            OpError::Sql(err) => sql_error(&err, path, started, doing),
        }
    }
}

/// Maps a SQLite error: busy/locked to [`StoreError::Locked`], not-a-database to
/// [`StoreError::NotAStore`], a damaged file to [`StoreError::Corrupt`], everything
/// else (full disk included) to [`StoreError::Backend`].
pub(super) fn sql_error(
    err: &rusqlite::Error,
    path: &str,
    started: Instant,
    doing: impl FnOnce() -> String,
) -> StoreError {
    let code = err.sqlite_error_code();
    match code {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked {
            path: path.to_owned(),
            waited: started.elapsed(),
        },
        Some(ErrorCode::NotADatabase) => StoreError::NotAStore {
            path: path.to_owned(),
            reason: format!("SQLite cannot read it ({err})"),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
            detail: format!("`{path}` is damaged ({err}) while {}", doing()),
        },
        Some(ErrorCode::DiskFull | ErrorCode::SystemIoFailure) => StoreError::Backend {
            doing: format!("{} in `{path}`", doing()),
            message: match free_bytes(std::path::Path::new(path)) {
                Some(free) if free < FULL => format!(
                    "the disk holding the store is full ({free} bytes free); free some \
                     space: nothing of this transaction was committed ({err})"
                ),
                _ if code == Some(ErrorCode::DiskFull) => {
                    "the disk or the database is full".to_owned()
                }
                _ => err.to_string(),
            },
        },
        Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly) => StoreError::Backend {
            doing: format!("{} in `{path}`", doing()),
            message: match permission_problem(std::path::Path::new(path)) {
                Some(why) => format!("permission denied: {why} ({err})"),
                None => format!("cannot open the file ({err})"),
            },
        },
        _ => StoreError::Backend {
            doing: format!("{} in `{path}`", doing()),
            message: err.to_string(),
        },
    }
}

/// Below this many free bytes, a write failure is a full disk: SQLite needs a few pages
/// (and its journal) to commit.
const FULL: u64 = 256 << 10;

/// The bytes this user may still write on the file system holding `path` (or its
/// directory, before the file exists).
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let at = if path.exists() {
        path
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
    };
    let stat = rustix::fs::statvfs(at).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Why this user may not open the store at `path`, when permissions are the cause: a
/// directory it cannot enter, a file it cannot read or write, a directory it cannot
/// create files in (SQLite's WAL mode creates `-wal` and `-shm` beside the store).
/// SQLite itself says only "unable to open database file".
pub(super) fn permission_problem(path: &std::path::Path) -> Option<String> {
    use std::io::ErrorKind::PermissionDenied;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    if let Err(err) = std::fs::read_dir(dir)
        && err.kind() == PermissionDenied
    {
        return Some(format!(
            "this user cannot enter the directory `{}`",
            dir.display()
        ));
    }
    match std::fs::OpenOptions::new().read(true).open(path) {
        Err(err) if err.kind() == PermissionDenied => {
            return Some(format!("this user cannot read `{}`", path.display()));
        }
        Ok(_) => {
            if let Err(err) = std::fs::OpenOptions::new().write(true).open(path)
                && err.kind() == PermissionDenied
            {
                return Some(format!("this user cannot write `{}`", path.display()));
            }
        }
        Err(_) => {}
    }
    let probe = dir.join(format!(".waypost-permission-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            None
        }
        Err(err) if err.kind() == PermissionDenied => Some(format!(
            "this user cannot create files in `{}` (a store needs its `-wal` and `-shm` \
             files beside it)",
            dir.display()
        )),
        Err(_) => None,
    }
}

/// A copy of `err`, for the other requests of a group that failed as a whole.
/// `StoreError` is not `Clone` (it is not ours); the variants a whole group can fail
/// with are copied exactly, anything else keeps its message.
pub(super) fn duplicate(err: &StoreError) -> StoreError {
    match err {
        StoreError::Locked { path, waited } => StoreError::Locked {
            path: path.clone(),
            waited: *waited,
        },
        StoreError::Backend { doing, message } => StoreError::Backend {
            doing: doing.clone(),
            message: message.clone(),
        },
        StoreError::Corrupt { detail } => StoreError::Corrupt {
            detail: detail.clone(),
        },
        StoreError::NotAStore { path, reason } => StoreError::NotAStore {
            path: path.clone(),
            reason: reason.clone(),
        },
        StoreError::Closed => StoreError::Closed,
        other => StoreError::Backend {
            doing: "committing a group of writes".to_owned(),
            message: other.to_string(),
        },
    }
}
