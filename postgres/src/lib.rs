//! A PostgreSQL [`Store`](waypost_core::Store) for [waypost]: many workers on many
//! machines sharing one database.
//!
//! [`PostgresStore`] keeps executions, checkpoints, histories and leases in a schema of
//! its own (`waypost` by default), created and migrated when it connects (a newer
//! schema is refused). Workers claim executions with `SELECT … FOR UPDATE SKIP
//! LOCKED`; commits of many executions share transactions (group commit); a commit
//! carries its lease's epoch, and one whose lease changed hands is refused (fencing);
//! `LISTEN/NOTIFY` wakes workers and waiters, who poll as well.
//!
//! Built on `tokio-postgres` with a `deadpool-postgres` pool; call it from a tokio
//! runtime.
//!
//! [waypost]: https://docs.rs/waypost

mod error;
mod listen;
mod options;
mod rows;
mod schema;
mod sql;
mod store;
mod writer;

pub use options::PostgresOptions;
pub use store::PostgresStore;
