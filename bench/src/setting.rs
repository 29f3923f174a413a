//! [`Setting`] and [`FormKind`]: one point of a sweep, and which map it runs.

use std::fmt;

use serde::Serialize;

use crate::store::BenchStore;

/// Which map a benchmark runs, and so what its worker axis and its baseline are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FormKind {
    /// The async [`map`](waypost_core::map()): workers are its `max_concurrency`; the
    /// baseline is a plain `futures` `buffer_unordered` loop.
    Map,
    /// The CPU [`par_map`](waypost_core::par_map()): workers are the threads of its rayon
    /// pool; the baseline is a raw rayon `par_iter` on a pool of as many threads.
    ParMap,
}

impl FormKind {
    /// What the worker axis is called: `concurrency` or `threads`.
    pub fn axis(self) -> &'static str {
        match self {
            FormKind::Map => "concurrency",
            FormKind::ParMap => "threads",
        }
    }

    /// What the baseline is: `buffer_unordered` or `par_iter`.
    pub fn baseline(self) -> &'static str {
        match self {
            FormKind::Map => "buffer_unordered",
            FormKind::ParMap => "par_iter",
        }
    }

    /// The combinator: `map` or `par_map`.
    pub fn name(self) -> &'static str {
        match self {
            FormKind::Map => "map",
            FormKind::ParMap => "par_map",
        }
    }
}

/// One point of a sweep: how many workers, how many items per call of the step, and
/// which store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    /// Which map runs, and so what `workers` means.
    pub kind: FormKind,
    /// The concurrency (async map) or rayon threads (CPU map).
    pub workers: usize,
    /// Items handed to one call of the map's step (ASL's `ItemBatcher`).
    pub batch_size: usize,
    /// Where the execution's checkpoints go.
    pub store: BenchStore,
}

impl fmt::Display for Setting {
    /// `concurrency 10, batch size 1, store memory`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}, batch size {}, store {}",
            self.kind.axis(),
            self.workers,
            self.batch_size,
            self.store
        )
    }
}
