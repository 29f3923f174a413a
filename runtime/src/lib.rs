//! The executor of [waypost] workflows: async steps on tokio, CPU work on rayon, and
//! durable executions over a [`Store`](waypost_core::Store).
//!
//! Depend on the `waypost` facade, which re-exports this crate.
//!
//! # Feature flags
//!
//! - `crash-points` (off; for tests only): named places in the runtime and the SQLite
//!   store where `WAYPOST_CRASH_AT=<point>:<n>` aborts the process the `n`-th time it
//!   gets there (`before-commit`, `after-commit`, `between-checkpoint-and-event`,
//!   `redrive-decided`, `redrive-written`, `migration`, `finish-start`, `finish-end`).
//!   The `waypost` facade enables it for its own crash tests only.
//!
//! [waypost]: https://docs.rs/waypost
#![doc(test(attr(deny(warnings))))]

mod builder;
mod callbacks;
pub mod child;
mod codec;
mod config;
mod crash;
mod error;
mod executor;
mod handle;
pub mod hooks;
mod host;
mod ids;
mod lease;
mod liveness;
mod outcome;
mod pause;
mod recorder;
mod runtime;
mod store;
mod worker;

pub use builder::RuntimeBuilder;
pub use child::{Child, child};
pub use codec::{BincodeCodec, Blob, JsonCodec, RawBytes, codec_named};
pub use config::RuntimeConfig;
pub use error::RunError;
pub use handle::ExecutionHandle;
pub use host::TokioHost;
pub use ids::new_execution_id;
pub use runtime::Runtime;
pub use store::{Durability, MemoryStore, SqliteStore, SqliteStoreOptions};
pub use worker::{Worker, WorkerOptions, WorkerReport};
