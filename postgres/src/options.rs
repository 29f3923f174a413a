//! [`PostgresOptions`]: how a [`PostgresStore`](crate::PostgresStore) connects and
//! commits.

use std::time::Duration;

use typed_builder::TypedBuilder;

/// Settings of a [`PostgresStore`](crate::PostgresStore).
///
/// ```
/// use waypost_postgres::PostgresOptions;
///
/// let options = PostgresOptions::builder().schema("orders".to_owned()).writers(2).build();
/// assert_eq!(options.schema, "orders");
/// assert_eq!(options.pool_size, 16);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, TypedBuilder)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The schema the store's tables live in, created if missing. Default `waypost`.
    /// Stores in different schemas of one database are independent (tests use one
    /// schema each).
    #[builder(default = "waypost".to_owned())]
    pub schema: String,
    /// The most connections the store opens for its reads, leases and commits.
    /// Default 16.
    #[builder(default = 16)]
    pub pool_size: usize,
    /// How many transactions commit at once; each takes up to `max_batch` commits of
    /// many executions (group commit). Default 2: a commit waits while one is in flight,
    /// and the next takes all that queued meanwhile.
    #[builder(default = 2)]
    pub writers: usize,
    /// The most commits in one transaction. Default 256.
    #[builder(default = 256)]
    pub max_batch: usize,
    /// The largest payload (input, output, checkpoint) the store accepts, in bytes;
    /// larger ones are refused before anything is sent. Default 64 MiB (PostgreSQL's
    /// own limit for a value is 1 GiB).
    #[builder(default = 64 << 20)]
    pub max_payload_bytes: usize,
    /// Whether connecting creates the tables, or brings older ones to this version.
    /// `false` (a reader such as the `waypost` CLI): a database without the store, or
    /// with an older one, is refused and left unchanged. Default `true`.
    #[builder(default = true)]
    pub migrate: bool,
    /// How long connecting may take before it fails. Default 10 s.
    #[builder(default = Duration::from_secs(10))]
    pub connect_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions::builder().build()
    }
}
