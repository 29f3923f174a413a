//! [`Form`]: what differs between benchmarking an async map and a CPU map — how the
//! baseline runs, and how a point runs through waypost — and the [`Measurement`] both
//! give back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use waypost_core::{Host, Payload, Store, Workflow};
use waypost_runtime::{RunError, Runtime, RuntimeConfig, new_execution_id};

use crate::error::BenchError;
use crate::setting::{FormKind, Setting};

/// The two maps a [`MapBench`](crate::MapBench) can run: [`Async`](crate::Async) (the
/// async `map`) and [`Cpu`](crate::Cpu) (the CPU `par_map`). Sealed: its methods are
/// the benchmark's machinery, called through `MapBench`.
pub trait Form: Send + Sync + 'static + crate::__private::Sealed {
    /// The type of one item (`Sync`, as a durable execution's input is shared while it
    /// is submitted).
    type Item: Payload + Sync;

    /// Which map this is.
    fn kind(&self) -> FormKind;

    /// The benchmarked step's name.
    fn step_name(&self) -> &str;

    /// Runs the raw baseline over `items` with `workers` workers.
    #[doc(hidden)]
    fn baseline(
        &self,
        items: Vec<Self::Item>,
        workers: usize,
    ) -> impl Future<Output = Result<Measurement, BenchError>> + Send;

    /// Runs the map over `batches` through waypost at `setting`, on `store`.
    #[doc(hidden)]
    fn point(
        &self,
        batches: Vec<Vec<Self::Item>>,
        setting: &Setting,
        store: Option<Arc<dyn Store>>,
    ) -> impl Future<Output = Result<Measurement, BenchError>> + Send;
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    /// From the start of the run to its end: for a waypost run, the whole execution
    /// (with a store: submission, every checkpoint, and the end).
    pub elapsed: Duration,
    /// Items the run finished (outputs it returned).
    pub items: usize,
    /// The latency of each item, in no particular order (empty for a baseline).
    pub latencies: Vec<Duration>,
}

/// Runs `workflow` on `input`: in memory without a store, else as a durable execution
/// with a fresh id. Checkpoints may be large (a batch of outputs), so the payload
/// limit is raised to 1 GiB.
pub(crate) async fn run_workflow<I: Payload, O: Payload>(
    workflow: &Workflow<I, O>,
    input: I,
    store: Option<Arc<dyn Store>>,
    host: Option<Arc<dyn Host>>,
    setting: &Setting,
    step: &str,
) -> Result<O, BenchError> {
    let mut builder = Runtime::builder();
    if let Some(host) = host {
        builder = builder.host(host);
    }
    let failed = |error| BenchError::StepFailed {
        step: step.to_owned(),
        setting: setting.clone(),
        error: Box::new(error),
    };
    match store {
        None => builder.build().run(workflow, input).await.map_err(failed),
        Some(store) => {
            let config = RuntimeConfig::builder().max_payload_bytes(1 << 30).build();
            let runtime = builder.shared_store(store).config(config).build();
            let id = new_execution_id("waypost-bench");
            runtime
                .start(workflow, id, input)
                .await
                .map_err(|error| match error {
                    RunError::Failed { error, .. } => failed(error),
                    error => BenchError::Run {
                        step: step.to_owned(),
                        setting: setting.clone(),
                        error: Box::new(error),
                    },
                })
        }
    }
}

/// The workflow of a point: the map over batches, named after the benchmark.
pub(crate) fn workflow<I, O, S>(root: S, step: &str) -> Result<Workflow<I, O>, BenchError>
where
    I: Payload,
    O: Payload,
    S: waypost_core::Step<Input = I, Output = O>,
{
    Workflow::try_new("waypost-bench", 1, root).map_err(|error| BenchError::InvalidStep {
        step: step.to_owned(),
        error: error.to_string(),
    })
}

/// A panic payload's message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}
