//! Per-step statistics across a workflow's executions, from their histories.
//!
//! Per step name, in the order the steps first ran: runs (every start of an attempt,
//! re-runs included), re-runs (starts of an attempt that had started before and was
//! interrupted before its result was stored: its process crashed or stopped, and a
//! recovery or resume ran it again), failures (attempts failed), retries (retries
//! scheduled), and the durations of the attempts that ended. Task steps report
//! attempts; maps, choices and timers do not, so they have no statistics.
//!
//! A re-run is known when the history stored the interrupted run's start, which it
//! does with the next checkpoint of the execution: a step that started and was
//! interrupted before anything else was stored leaves no trace of that run.

use std::collections::HashMap;

use super::Addresses;
use crate::history::{Event, EventKind};
use crate::store::{ExecutionRecord, ExecutionStatus};

/// What one step did across the executions added to a [`WorkflowStats`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepStats {
    /// The step's name.
    pub name: String,
    /// Starts of an attempt, re-runs included.
    pub runs: u64,
    /// Starts of an attempt that had started before and was interrupted.
    pub reruns: u64,
    /// Attempts that failed.
    pub failures: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// The durations of the attempts that ended, in milliseconds, sorted.
    pub durations_ms: Vec<u64>,
}

impl StepStats {
    /// The `p`th percentile (1 to 100) of the durations, in milliseconds; see
    /// [`percentile`].
    pub fn duration_percentile(&self, p: u64) -> Option<u64> {
        percentile(&self.durations_ms, p)
    }
}

/// Statistics of a workflow's executions: how many ended how, how often they were
/// recovered, and per step what it did.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::MemoryStore;
/// use waypost::inspect::WorkflowStats;
/// use waypost::store::Store;
///
/// #[step]
/// fn double(x: u32) -> u32 { x * 2 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let runtime = Runtime::builder().store(store.clone()).build();
/// let wf = Workflow::new("doubling", 1, double);
/// runtime.start(&wf, "a", 1).await.unwrap();
/// runtime.start(&wf, "b", 2).await.unwrap();
///
/// let mut stats = WorkflowStats::default();
/// for id in ["a", "b"] {
///     let record = store.execution(id).await.unwrap();
///     stats.add(&record, wf.graph(), &store.history(id).await.unwrap());
/// }
/// assert_eq!(stats.executions, 2);
/// assert_eq!(stats.steps()[0].name, "double");
/// assert_eq!(stats.steps()[0].runs, 2);
/// # }
/// ```
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WorkflowStats {
    /// Executions added.
    pub executions: usize,
    /// How many of them are in each status.
    pub statuses: HashMap<ExecutionStatus, usize>,
    /// Recoveries (takeovers of an interrupted run) across them.
    pub recoveries: u64,
    steps: Vec<StepStats>,
    index: HashMap<String, usize>,
}

impl WorkflowStats {
    /// Adds one execution, its graph (for step names) and its history. Add the oldest
    /// first, so that steps are listed in the order they first ran.
    pub fn add(
        &mut self,
        record: &ExecutionRecord,
        graph: &crate::graph::Graph,
        history: &[Event],
    ) {
        self.executions += 1;
        *self.statuses.entry(record.status).or_default() += 1;
        let addresses = Addresses::of(graph);
        for event in history {
            if event.kind == EventKind::ExecutionRecovered {
                self.recoveries += 1;
            }
            if !matches!(
                event.kind,
                EventKind::StepStarted
                    | EventKind::StepSucceeded
                    | EventKind::StepFailed
                    | EventKind::RetryScheduled
            ) {
                continue;
            }
            let stats = self.step_mut(addresses.name_of(&event.address));
            match event.kind {
                EventKind::StepStarted => {
                    stats.runs += 1;
                    if event.details.run.is_some_and(|run| run > 1) {
                        stats.reruns += 1;
                    }
                }
                EventKind::RetryScheduled => stats.retries += 1,
                _ => {
                    if event.kind == EventKind::StepFailed {
                        stats.failures += 1;
                    }
                    if let Some(ms) = event.duration_ms {
                        let at = stats.durations_ms.partition_point(|&d| d <= ms);
                        stats.durations_ms.insert(at, ms);
                    }
                }
            }
        }
    }

    /// Per step, in the order the steps first ran.
    pub fn steps(&self) -> &[StepStats] {
        &self.steps
    }

    /// The statistics of the step named `name`, if it ran.
    pub fn step(&self, name: &str) -> Option<&StepStats> {
        self.index.get(name).map(|&i| &self.steps[i])
    }

    fn step_mut(&mut self, name: String) -> &mut StepStats {
        let next = self.steps.len();
        let i = *self.index.entry(name.clone()).or_insert(next);
        if i == next {
            self.steps.push(StepStats {
                name,
                ..StepStats::default()
            });
        }
        &mut self.steps[i]
    }
}

/// The `p`th percentile (1 to 100) of `sorted` by the nearest-rank method: the smallest
/// value with at least `p`% of the values at or below it.
///
/// ```
/// use waypost::inspect::percentile;
///
/// let values: Vec<u64> = (1..=20).collect();
/// assert_eq!(percentile(&values, 95), Some(19));
/// assert_eq!(percentile(&[], 50), None);
/// ```
pub fn percentile(sorted: &[u64], p: u64) -> Option<u64> {
    let n = sorted.len() as u64;
    if n == 0 {
        return None;
    }
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted.get(usize::try_from(rank - 1).ok()?).copied()
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 95), Some(7));
        let values: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&values, 50), Some(10));
        assert_eq!(percentile(&values, 95), Some(19));
        assert_eq!(percentile(&values, 100), Some(20));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
    }
}
