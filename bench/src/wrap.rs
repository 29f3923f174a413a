//! The measuring wrappers: a step over a batch of items that runs the user's step on
//! each and notes how long each item took. They are the map's step in every waypost
//! run of a sweep; their own cost is a clock read before and after each item, and one
//! lock per batch.
//!
//! A batch is the unit of checkpointing: the wrapper is a task step (its output, the
//! batch's outputs, is one checkpoint), and the user's step runs inside it without a
//! recorder. With batch size 1 that is one checkpoint per item, as in `map(step)`.

use std::sync::Arc;
use std::time::Instant as StdInstant;

use tokio::time::Instant;
use waypost_core::task::{run_sync_task, run_task};
use waypost_core::{Context, Error, Host, Step, StepContext, SyncStep};
use waypost_runtime::TokioHost;

use crate::latency::Latencies;

/// The async map's step: the user's async step over a batch, one item after another,
/// timed with tokio's clock (so a paused clock in tests gives exact figures).
pub(crate) struct MeasureAsync<S> {
    step: Arc<S>,
    latencies: Latencies,
    /// The context the user's step runs in: no recorder, so only the batch is
    /// checkpointed.
    plain: Context,
}

impl<S: Step> MeasureAsync<S> {
    pub(crate) fn new(step: Arc<S>, latencies: Latencies) -> Self {
        let host: Arc<dyn Host> = Arc::new(TokioHost::new());
        MeasureAsync {
            step,
            latencies,
            plain: Context::new(host, "waypost-bench"),
        }
    }
}

impl<S: Step> Step for MeasureAsync<S> {
    type Input = Vec<S::Input>;
    type Output = Vec<S::Output>;

    fn name(&self) -> &str {
        self.step.name()
    }

    async fn run(&self, cx: &Context, items: Vec<S::Input>) -> Result<Vec<S::Output>, Error> {
        run_task(cx, self.step.name(), items, |_scx, items| async move {
            let mut outputs = Vec::with_capacity(items.len());
            let mut took = Vec::with_capacity(items.len());
            for item in items {
                let started = Instant::now();
                outputs.push(self.step.run(&self.plain, item).await?);
                took.push(started.elapsed());
            }
            self.latencies.add(took);
            Ok(outputs)
        })
        .await
    }
}

/// The CPU map's step: the user's sync step over a batch, on a rayon thread, timed
/// with the monotonic clock of the standard library.
pub(crate) struct MeasureSync<S> {
    step: Arc<S>,
    latencies: Latencies,
}

impl<S> Clone for MeasureSync<S> {
    fn clone(&self) -> Self {
        MeasureSync {
            step: Arc::clone(&self.step),
            latencies: self.latencies.clone(),
        }
    }
}

impl<S: SyncStep> MeasureSync<S> {
    pub(crate) fn new(step: Arc<S>, latencies: Latencies) -> Self {
        MeasureSync { step, latencies }
    }
}

impl<S: SyncStep> Step for MeasureSync<S> {
    type Input = Vec<S::Input>;
    type Output = Vec<S::Output>;

    fn name(&self) -> &str {
        self.step.name()
    }

    fn run(
        &self,
        cx: &Context,
        items: Vec<S::Input>,
    ) -> impl Future<Output = Result<Vec<S::Output>, Error>> + Send {
        run_sync_task(self, cx, items)
    }
}

impl<S: SyncStep> SyncStep for MeasureSync<S> {
    fn call_sync(&self, cx: &StepContext, items: Vec<S::Input>) -> Result<Vec<S::Output>, Error> {
        let mut outputs = Vec::with_capacity(items.len());
        let mut took = Vec::with_capacity(items.len());
        for item in items {
            let started = StdInstant::now();
            outputs.push(self.step.call_sync(cx, item)?);
            took.push(started.elapsed());
        }
        self.latencies.add(took);
        Ok(outputs)
    }
}
