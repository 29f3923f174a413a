//! [`BenchError`]: why a benchmark could not run, or its report could not be written,
//! and where.

use std::path::PathBuf;

use crate::setting::Setting;

/// What went wrong in a benchmark: bad input, a failing step, a store that would not
/// open, a report file that could not be written. Each message says what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// The item source gave no items.
    #[error("the item source of the benchmark of `{step}` is empty: give it at least one item")]
    NoItems {
        /// The benchmarked step.
        step: String,
    },
    /// A sweep axis lists no value.
    #[error("the benchmark of `{step}` sweeps no {axis}: give at least one value")]
    EmptySweep {
        /// The benchmarked step.
        step: String,
        /// `concurrency`, `threads`, `batch size` or `store`.
        axis: &'static str,
    },
    /// A sweep axis holds 0: concurrency, threads and batch sizes count from 1.
    #[error("{axis} 0 in the benchmark of `{step}`: {axis} counts from 1")]
    Zero {
        /// The benchmarked step.
        step: String,
        /// `concurrency`, `threads` or `batch size`.
        axis: &'static str,
    },
    /// The step failed in the raw baseline (outside waypost).
    #[error("step `{step}` failed in the baseline ({baseline}) at {axis} {workers}: {error}")]
    BaselineFailed {
        /// The benchmarked step.
        step: String,
        /// `buffer_unordered` or `par_iter`.
        baseline: &'static str,
        /// `concurrency` or `threads`.
        axis: &'static str,
        /// The concurrency or number of threads.
        workers: usize,
        /// The step's error.
        error: Box<waypost_core::Error>,
    },
    /// The step failed in a waypost run.
    #[error("step `{step}` failed at {setting}: {error}")]
    StepFailed {
        /// The benchmarked step.
        step: String,
        /// The point of the sweep.
        setting: Setting,
        /// The step's error, with its address.
        error: Box<waypost_core::Error>,
    },
    /// The runtime could not run the point (not the step's own failure).
    #[error("the waypost run of `{step}` at {setting} failed: {error}")]
    Run {
        /// The benchmarked step.
        step: String,
        /// The point of the sweep.
        setting: Setting,
        /// What the runtime said.
        error: Box<waypost_runtime::RunError>,
    },
    /// A run finished with another number of items than the source gave.
    #[error(
        "the run of `{step}` at {setting} counted {counted} items where the source has {expected}"
    )]
    Miscounted {
        /// The benchmarked step.
        step: String,
        /// The point of the sweep.
        setting: Setting,
        /// Items the run finished.
        counted: usize,
        /// Items the source gave.
        expected: usize,
    },
    /// The store of a point could not be opened.
    #[error("cannot open the {store} store for the benchmark of `{step}`: {error}")]
    Store {
        /// The benchmarked step.
        step: String,
        /// `sqlite`, `postgres`, …
        store: String,
        /// What went wrong.
        error: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The step cannot be put in a workflow (its name breaks the rules of step names).
    #[error("step `{step}` cannot be benchmarked: {error}")]
    InvalidStep {
        /// The benchmarked step.
        step: String,
        /// Why.
        error: String,
    },
    /// A store name that [`BenchStore`](crate::BenchStore) does not know.
    #[error("unknown store `{given}`: expected none, memory, sqlite or a postgres:// URL")]
    UnknownStore {
        /// What was given.
        given: String,
    },
    /// The rayon pool of a point could not be built.
    #[error("cannot build a rayon pool of {threads} threads: {error}")]
    Pool {
        /// The threads asked for.
        threads: usize,
        /// What rayon said.
        error: rayon::ThreadPoolBuildError,
    },
    /// A report file could not be written.
    #[error("cannot write the {what} to {}: {message}", path.display())]
    Write {
        /// `CSV report`, `JSON report` or `plot`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl BenchError {
    /// A report file that could not be written.
    pub(crate) fn write(
        what: &'static str,
        path: impl Into<PathBuf>,
        error: impl std::fmt::Display,
    ) -> Self {
        BenchError::Write {
            what,
            path: path.into(),
            message: error.to_string(),
        }
    }
}
