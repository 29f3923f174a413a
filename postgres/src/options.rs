//! [`PostgresOptions`]: how a [`PostgresStore`](crate::PostgresStore) connects and
//! commits.

use std::time::Duration;

/// Settings of a [`PostgresStore`](crate::PostgresStore).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The schema the store's tables live in, created if missing. Default `waypost`.
    /// Stores in different schemas of one database are independent (tests use one
    /// schema each).
    pub schema: String,
    /// The most connections the store opens for its reads, leases and commits.
    /// Default 16.
    pub pool_size: usize,
    /// How many transactions commit at once; each takes up to `max_batch` commits of
    /// many executions (group commit). Default 4.
    pub writers: usize,
    /// The most commits in one transaction. Default 256.
    pub max_batch: usize,
    /// The largest payload (input, output, checkpoint) the store accepts, in bytes;
    /// larger ones are refused before anything is sent. Default 64 MiB (PostgreSQL's
    /// own limit for a value is 1 GiB).
    pub max_payload_bytes: usize,
    /// How long connecting may take before it fails. Default 10 s.
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            schema: "waypost".to_owned(),
            pool_size: 16,
            writers: 4,
            max_batch: 256,
            max_payload_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(10),
        }
    }
}
