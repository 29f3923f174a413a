//! The CPU form of map: items run on the runtime's CPU pool (rayon).

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures::channel::oneshot;
use rayon::iter::{IndexedParallelIterator as _, IntoParallelIterator as _, ParallelIterator as _};

use super::config::{MapMode, Strict, Tolerant, ToleratedFailures};
use crate::context::{Context, StepContext};
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::step::{Step, SyncStep};

/// Runs the blocking `step` on every item of the input `Vec`, in parallel on the CPU
/// pool. Output order is input order.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// fn collatz_len(mut n: u64) -> u32 {
///     let mut steps = 0;
///     while n != 1 { n = if n.is_multiple_of(2) { n / 2 } else { 3 * n + 1 }; steps += 1; }
///     steps
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let wf = Workflow::new("collatz", 1, par_map(collatz_len));
/// assert_eq!(Runtime::new().run(&wf, vec![1, 6, 27]).await.unwrap(), [0, 8, 111]);
/// # }
/// ```
pub fn par_map<S: SyncStep>(step: S) -> ParMap<S> {
    ParMap {
        name: Cow::Borrowed("par_map"),
        step: Arc::new(step),
        mode: Strict,
    }
}

/// Step returned by [`par_map`].
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct ParMap<S, M = Strict> {
    name: Cow<'static, str>,
    step: Arc<S>,
    mode: M,
}

impl<S: SyncStep, M: MapMode> ParMap<S, M> {
    /// Names the map state (default `"par_map"`).
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        ParMap {
            name: name.into(),
            ..self
        }
    }

    /// Tolerates failed items; the output becomes one `Result` per item.
    pub fn tolerate(self, failures: ToleratedFailures) -> ParMap<S, Tolerant> {
        ParMap {
            name: self.name,
            step: self.step,
            mode: Tolerant(failures),
        }
    }
}

impl<S: SyncStep, M: MapMode> Step for ParMap<S, M> {
    type Input = Vec<S::Input>;
    type Output = M::Output<S::Output>;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, items: Vec<S::Input>) -> Result<Self::Output, Error> {
        let at = cx.address(&self.name);
        let total = items.len();
        let allowed = self.mode.allowed(total);
        let (send, receive) = oneshot::channel();
        let step = Arc::clone(&self.step);
        let map_cx = cx.clone();
        cx.host().spawn_blocking(Box::new(move || {
            let run_item = |(index, item): (usize, S::Input)| {
                let scx = StepContext::new(&map_cx.nested(at.branch(index)), step.name());
                let address = scx.address().as_str();
                match catch_unwind(AssertUnwindSafe(|| step.call_sync(&scx, item))) {
                    Ok(result) => result.map_err(|e| e.at(address)),
                    Err(payload) => Err(Error::from_panic(step.name(), address, payload.as_ref())),
                }
            };
            let results: Result<Vec<Result<S::Output, Error>>, Error> = if allowed == 0 {
                // Fail fast: rayon stops handing out items after the first error.
                items
                    .into_par_iter()
                    .enumerate()
                    .map(|entry| run_item(entry).map(Ok))
                    .collect()
            } else {
                Ok(items.into_par_iter().enumerate().map(run_item).collect())
            };
            // The receiver is gone only when the execution was cancelled.
            let _ = send.send(results);
        }));
        let results = receive
            .await
            .map_err(|_| Error::runtime(format!("the CPU pool dropped map `{}`", self.name)))?;
        let results = match results {
            Ok(results) => results,
            Err(error) => return Err(self.mode.exceeded(error, 1, total, &self.name)),
        };
        let failures: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        if failures.len() > allowed {
            let last = failures.last().map(|e| (*e).clone()).expect("failures > 0");
            return Err(self.mode.exceeded(last, failures.len(), total, &self.name));
        }
        M::finish(results)
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.container(NodeKind::Map, &self.name, |sink| {
            sink.branch("item", &*self.step)
        });
        node.detail("executor", "cpu");
    }
}
