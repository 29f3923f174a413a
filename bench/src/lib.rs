//! Benchmark your own [waypost] map step: throughput, item latency, waypost's overhead
//! against a raw baseline measured in the same run, and scaling — over a sweep of
//! concurrency or rayon threads, batch sizes and stores.
//!
//! Give [`MapBench`] your step and your items:
//!
//! - [`MapBench::map`] for an async step (the async `map`): it sweeps the concurrency,
//!   and the baseline is the same step in a plain `futures` `buffer_unordered` loop.
//! - [`MapBench::par_map`] for a sync step (the CPU `par_map`): it sweeps the threads of
//!   a rayon pool, and the baseline is a raw rayon `par_iter` on a pool of as many
//!   threads.
//!
//! Each point runs the items through waypost in batches ([`MapBench::batch_sizes`]) on
//! a fresh store ([`BenchStore`]: none, memory, a temporary SQLite file, PostgreSQL).
//! A wrapper step around yours times each item. The [`Report`] prints as a table, and
//! writes CSV ([`Report::write_csv`]), JSON ([`Report::write_json`]) and an SVG plot
//! ([`Report::write_svg`]). [`criterion_group`] runs the same sweep in your
//! `cargo bench`.
//!
//! Use it through the facade's `bench` feature: `waypost::bench`.
//!
//! # Examples
//!
//! ```
//! use waypost::bench::MapBench;
//! use waypost::prelude::*;
//!
//! #[step]
//! fn checksum(text: String) -> u32 {
//!     text.bytes().fold(0u32, |sum, b| sum.rotate_left(5) ^ u32::from(b))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let lines = (0..1_000).map(|i| format!("line {i}"));
//! let report = MapBench::par_map(checksum)
//!     .items(lines)
//!     .threads([1, 2])
//!     .batch_sizes([1, 100])
//!     .progress(false)
//!     .run()
//!     .await
//!     .unwrap();
//! assert!(report.points.iter().all(|p| p.items == 1_000));
//! println!("{report}");
//! let dir = tempfile::tempdir().unwrap();
//! report.write_svg(dir.path().join("checksum.svg")).unwrap();
//! # }
//! ```
//!
//! # What is measured
//!
//! - **Throughput**: items over the whole run, from the start of the execution to its
//!   output (with a store: submitting it, every checkpoint and its end).
//! - **Item latency** (p50, p95, p99, exact): the user's step on one item, timed by the
//!   wrapper; the async form reads tokio's clock, so a paused clock gives exact figures.
//! - **Overhead per item** and **vs baseline**: against the baseline at the same worker
//!   count, run in the same sweep, just before the points.
//! - **Scaling efficiency**: throughput over `workers` times the throughput at 1 worker
//!   (same batch size and store), when the sweep has 1.
//!
//! A batch is one call of the wrapper step, and one checkpoint: with batch size 1 the
//! map checkpoints every item, as `map(step)` does.
//!
//! # Feature flags
//!
//! - `criterion` (on): [`criterion_group`].
//! - `postgres`: [`BenchStore::Postgres`](BenchStore) (the facade's `postgres` feature
//!   turns it on).
//!
//! [waypost]: https://docs.rs/waypost
#![doc(test(attr(deny(warnings))))]

mod async_form;
mod bench;
mod cpu_form;
#[cfg(feature = "criterion")]
mod criterion;
mod error;
mod files;
mod form;
mod latency;
mod plot;
mod report;
mod setting;
mod store;
mod table;
mod wrap;

pub use async_form::Async;
pub use bench::MapBench;
pub use cpu_form::Cpu;
#[cfg(feature = "criterion")]
pub use criterion::criterion_group;
pub use error::BenchError;
pub use form::{Form, Measurement};
pub use latency::Percentiles;
pub use report::{Baseline, Point, Report};
pub use setting::{FormKind, Setting};
pub use store::BenchStore;

#[doc(hidden)]
pub mod __private {
    /// Keeps [`Form`](crate::Form) to the two forms of this crate.
    pub trait Sealed {}
}
