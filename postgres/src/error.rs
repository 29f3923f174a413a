//! Turning driver errors into [`StoreError`]s that say what failed and where.

use std::fmt::Write as _;

use tokio_postgres::config::Host;
use waypost_core::store::StoreError;

/// Where the store connects, for messages: `postgres://user@host:port/db` without the
/// password.
pub(crate) fn describe(config: &tokio_postgres::Config) -> String {
    let mut text = String::from("postgres://");
    if let Some(user) = config.get_user() {
        let _ = write!(text, "{user}@");
    }
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        match host {
            Host::Tcp(name) => text.push_str(name),
            Host::Unix(path) => text.push_str(&path.display().to_string()),
        }
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        let _ = write!(text, ":{port}");
    }
    if let Some(db) = config.get_dbname() {
        let _ = write!(text, "/{db}");
    }
    text
}

/// `error` while `doing` something on the server at `server`.
pub(crate) fn backend(
    server: &str,
    doing: impl Into<String>,
    error: &tokio_postgres::Error,
) -> StoreError {
    StoreError::Backend {
        doing: format!("{} on PostgreSQL at `{server}`", doing.into()),
        message: message(error),
    }
}

/// The most telling text of a driver error: the server's own message (with its detail
/// and hint) when the server refused something, else the cause of the failure
/// (`Connection refused`, a closed connection).
pub(crate) fn message(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        let mut text = format!("{} ({})", db.message(), db.code().code());
        if let Some(detail) = db.detail() {
            let _ = write!(text, "; {detail}");
        }
        if let Some(hint) = db.hint() {
            let _ = write!(text, "; hint: {hint}");
        }
        return text;
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
        source = cause.source();
    }
    if error.is_closed() {
        text.push_str(" (the connection to the server was lost)");
    }
    text
}

/// A pool error (no connection could be made) while `doing` something.
pub(crate) fn pool(
    server: &str,
    doing: impl Into<String>,
    error: &deadpool_postgres::PoolError,
) -> StoreError {
    let message = match error {
        deadpool_postgres::PoolError::Backend(e) => message(e),
        deadpool_postgres::PoolError::Timeout(_) => {
            "timed out waiting for a connection (the server is unreachable or every connection is busy)".to_owned()
        }
        other => other.to_string(),
    };
    StoreError::Backend {
        doing: format!("{} on PostgreSQL at `{server}`", doing.into()),
        message,
    }
}

/// A stored value this build cannot read.
pub(crate) fn corrupt(id: &str, column: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        detail: format!("execution `{id}`: column `{column}` {what}"),
    }
}
