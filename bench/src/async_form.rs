//! [`Async`]: benchmarking an async step in the async `map`, against a plain
//! `buffer_unordered` loop over the same step.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;

use futures::{FutureExt as _, StreamExt as _};
use tokio::time::Instant;
use waypost_core::{Context, Error, Host, Step, Store, map};
use waypost_runtime::TokioHost;

use crate::error::BenchError;
use crate::form::{Form, Measurement, panic_message, run_workflow, workflow};
use crate::latency::Latencies;
use crate::setting::{FormKind, Setting};
use crate::wrap::MeasureAsync;

/// The async form of a [`MapBench`](crate::MapBench), made by
/// [`MapBench::map`](crate::MapBench::map): the step runs in `map(..)` with a maximum
/// concurrency, and the baseline is the same step in a plain
/// `futures::StreamExt::buffer_unordered` loop at the same concurrency.
///
/// Time is read from tokio's clock ([`tokio::time::Instant`]), so under a paused clock
/// (`#[tokio::test(start_paused = true)]`) the figures are exact.
pub struct Async<S> {
    pub(crate) step: Arc<S>,
    pub(crate) latencies: Latencies,
}

impl<S: Step> fmt::Debug for Async<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Async")
            .field("step", &self.step.name())
            .finish_non_exhaustive()
    }
}

impl<S> crate::__private::Sealed for Async<S> {}

impl<S: Step> Form for Async<S>
where
    S::Input: Sync,
{
    type Item = S::Input;

    fn kind(&self) -> FormKind {
        FormKind::Map
    }

    fn step_name(&self) -> &str {
        self.step.name()
    }

    async fn baseline(
        &self,
        items: Vec<S::Input>,
        workers: usize,
    ) -> Result<Measurement, BenchError> {
        let host: Arc<dyn Host> = Arc::new(TokioHost::new());
        let cx = Context::new(host, "waypost-bench-baseline");
        let failed = |error: Error| BenchError::BaselineFailed {
            step: self.step.name().to_owned(),
            baseline: FormKind::Map.baseline(),
            axis: FormKind::Map.axis(),
            workers,
            error: Box::new(error),
        };
        let started = Instant::now();
        let mut results = pin!(
            futures::stream::iter(items)
                .map(|item| AssertUnwindSafe(self.step.run(&cx, item)).catch_unwind())
                .buffer_unordered(workers)
        );
        let mut finished = 0;
        while let Some(result) = results.next().await {
            match result {
                Ok(Ok(_)) => finished += 1,
                Ok(Err(error)) => return Err(failed(error)),
                Err(panic) => {
                    let message = format!("panicked with message {:?}", panic_message(&*panic));
                    return Err(failed(Error::new("States.Panic", message)));
                }
            }
        }
        Ok(Measurement {
            elapsed: started.elapsed(),
            items: finished,
            latencies: Vec::new(),
        })
    }

    async fn point(
        &self,
        batches: Vec<Vec<S::Input>>,
        setting: &Setting,
        store: Option<Arc<dyn Store>>,
    ) -> Result<Measurement, BenchError> {
        self.latencies.take();
        let step = MeasureAsync::new(Arc::clone(&self.step), self.latencies.clone());
        let map = map(step).max_concurrency(setting.workers);
        let workflow = workflow(map, self.step.name())?;
        let started = Instant::now();
        let outputs =
            run_workflow(&workflow, batches, store, None, setting, self.step.name()).await?;
        let elapsed = started.elapsed();
        Ok(Measurement {
            elapsed,
            items: outputs.iter().map(Vec::len).sum(),
            latencies: self.latencies.take(),
        })
    }
}
