//! [`Cpu`]: benchmarking a sync step in the CPU `par_map`, against a raw rayon
//! `par_iter` over the same step, each on a rayon pool of the same size.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rayon::ThreadPool;
use rayon::iter::{IntoParallelIterator as _, ParallelIterator as _};
use waypost_core::{Context, Error, Host, Step, StepContext, Store, SyncStep, par_map};
use waypost_runtime::TokioHost;

use crate::error::BenchError;
use crate::form::{Form, Measurement, panic_message, run_workflow, workflow};
use crate::latency::Latencies;
use crate::setting::{FormKind, Setting};
use crate::wrap::MeasureSync;

/// The CPU form of a [`MapBench`](crate::MapBench), made by
/// [`MapBench::par_map`](crate::MapBench::par_map): the step runs in `par_map(..)` on a
/// rayon pool of the swept number of threads, and the baseline is a raw rayon
/// `into_par_iter().map(..)` of the same step on a pool of as many threads.
///
/// Time is read from the standard library's monotonic clock (the items run on rayon
/// threads, outside tokio).
pub struct Cpu<S> {
    pub(crate) step: Arc<S>,
    pub(crate) latencies: Latencies,
    /// One pool per number of threads, built when first needed.
    pub(crate) pools: Mutex<BTreeMap<usize, Arc<ThreadPool>>>,
}

impl<S: Step> fmt::Debug for Cpu<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cpu")
            .field("step", &self.step.name())
            .finish_non_exhaustive()
    }
}

impl<S> crate::__private::Sealed for Cpu<S> {}

impl<S> Cpu<S> {
    /// The pool of `threads` threads.
    fn pool(&self, threads: usize) -> Result<Arc<ThreadPool>, BenchError> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(pool) = pools.get(&threads) {
            return Ok(Arc::clone(pool));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("waypost-bench-{i}"))
            .build()
            .map_err(|error| BenchError::Pool { threads, error })?;
        let pool = Arc::new(pool);
        pools.insert(threads, Arc::clone(&pool));
        Ok(pool)
    }
}

impl<S: SyncStep> Form for Cpu<S>
where
    S::Input: Sync,
{
    type Item = S::Input;

    fn kind(&self) -> FormKind {
        FormKind::ParMap
    }

    fn step_name(&self) -> &str {
        self.step.name()
    }

    async fn baseline(
        &self,
        items: Vec<S::Input>,
        workers: usize,
    ) -> Result<Measurement, BenchError> {
        let pool = self.pool(workers)?;
        let step = Arc::clone(&self.step);
        let failed = |error: Error| BenchError::BaselineFailed {
            step: self.step.name().to_owned(),
            baseline: FormKind::ParMap.baseline(),
            axis: FormKind::ParMap.axis(),
            workers,
            error: Box::new(error),
        };
        // The pool blocks until the items are done: off the async threads.
        let run = tokio::task::spawn_blocking(move || {
            let host: Arc<dyn Host> = Arc::new(TokioHost::with_pool(Arc::clone(&pool)));
            let cx = StepContext::new(&Context::new(host, "waypost-bench-baseline"), step.name());
            let started = Instant::now();
            // Collected as one `Result` per item: an indexed collect, straight into
            // place (collecting into `Result<Vec<_>, _>` is not indexed, and goes
            // through a list of chunks).
            let outputs: Vec<Result<S::Output, Error>> = pool.install(|| {
                items
                    .into_par_iter()
                    .map(|item| step.call_sync(&cx, item))
                    .collect()
            });
            let outputs: Result<Vec<S::Output>, Error> = outputs.into_iter().collect();
            (started.elapsed(), outputs)
        });
        match run.await {
            Ok((elapsed, Ok(outputs))) => Ok(Measurement {
                elapsed,
                items: outputs.len(),
                latencies: Vec::new(),
            }),
            Ok((_, Err(error))) => Err(failed(error)),
            Err(join) => {
                let message = match join.try_into_panic() {
                    Ok(panic) => format!("panicked with message {:?}", panic_message(&*panic)),
                    Err(join) => join.to_string(),
                };
                Err(failed(Error::new("States.Panic", message)))
            }
        }
    }

    async fn point(
        &self,
        batches: Vec<Vec<S::Input>>,
        setting: &Setting,
        store: Option<Arc<dyn Store>>,
    ) -> Result<Measurement, BenchError> {
        let host: Arc<dyn Host> = Arc::new(TokioHost::with_pool(self.pool(setting.workers)?));
        self.latencies.take();
        let step = MeasureSync::new(Arc::clone(&self.step), self.latencies.clone());
        let workflow = workflow(par_map(step), self.step.name())?;
        let started = Instant::now();
        let outputs = run_workflow(
            &workflow,
            batches,
            store,
            Some(host),
            setting,
            self.step.name(),
        )
        .await?;
        let elapsed = started.elapsed();
        Ok(Measurement {
            elapsed,
            items: outputs.iter().map(Vec::len).sum(),
            latencies: self.latencies.take(),
        })
    }
}
