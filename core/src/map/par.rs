//! The CPU form of map: items run on the runtime's CPU pool (rayon).

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures::channel::oneshot;
use rayon::iter::{IntoParallelIterator as _, ParallelIterator as _};

use super::config::{MapMode, Strict, Tolerant, ToleratedFailures};
use crate::context::{Address, Context, StepContext};
use crate::durable;
use crate::error::{Error, ErrorKind};
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

type ItemResults<O> = Vec<(usize, Result<O, Error>)>;

impl<S: SyncStep, M: MapMode> ParMap<S, M> {
    /// Runs `pending` items on the CPU pool. The outer error is the pool's; the inner
    /// one is the first item error when `fail_fast`.
    async fn run_on_pool(
        &self,
        cx: &Context,
        at: &Address,
        pending: Vec<(usize, S::Input)>,
        fail_fast: bool,
    ) -> Result<Result<ItemResults<S::Output>, Error>, Error> {
        if pending.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        let (send, receive) = oneshot::channel();
        let step = Arc::clone(&self.step);
        let (map_cx, at) = (cx.clone(), at.clone());
        cx.host().spawn_blocking(Box::new(move || {
            let run_item = |(index, item): (usize, S::Input)| {
                let scx = StepContext::new(&map_cx.nested(at.branch(index)), step.name());
                let address = scx.address().as_str();
                let result = match catch_unwind(AssertUnwindSafe(|| step.call_sync(&scx, item))) {
                    Ok(result) => result.map_err(|e| e.at(address)),
                    Err(payload) => Err(Error::from_panic(step.name(), address, payload.as_ref())),
                };
                (index, result)
            };
            let results = if fail_fast {
                // Rayon stops handing out items after the first error.
                pending
                    .into_par_iter()
                    .map(|entry| match run_item(entry) {
                        (index, Ok(output)) => Ok((index, Ok(output))),
                        (_, Err(error)) => Err(error),
                    })
                    .collect()
            } else {
                Ok(pending.into_par_iter().map(run_item).collect())
            };
            // The receiver is gone only when the execution was cancelled.
            let _ = send.send(results);
        }));
        receive
            .await
            .map_err(|_| Error::runtime(format!("the CPU pool dropped map `{}`", self.name)))
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
        let mut results: Vec<Option<Result<S::Output, Error>>> =
            std::iter::repeat_with(|| None).take(total).collect();

        // Durable: items whose results were recorded are replayed, not run again.
        let recorder = cx.recorder();
        let mut pending = Vec::with_capacity(total);
        let mut keys = Vec::new();
        for (index, item) in items.into_iter().enumerate() {
            if let Some(recorder) = recorder {
                let item_cx = cx.nested(at.branch(index));
                let key = item_cx.key(self.step.name());
                if let Some(entry) = recorder.replay(&key) {
                    let result = durable::replayed_result(recorder, &item_cx, &key, &entry);
                    // An item's own failure counts against the tolerance; a checkpoint
                    // that cannot be read fails the map.
                    if let Err(error) = &result
                        && error.kind() == ErrorKind::Runtime
                    {
                        return Err(error.clone());
                    }
                    results[index] = Some(result);
                    continue;
                }
                keys.push(key);
            }
            pending.push((index, item));
        }

        // Without a recorder a strict map stops at the first failure; with one, every
        // result is recorded, so every pending item runs.
        let fail_fast = recorder.is_none() && allowed == 0;
        let ran = self.run_on_pool(cx, &at, pending, fail_fast).await?;
        let ran = match ran {
            Ok(ran) => ran,
            Err(error) => {
                return Err(self
                    .mode
                    .exceeded(error, 1, total, &self.name)
                    .at(at.as_str()));
            }
        };
        if let Some(recorder) = recorder {
            let records = ran
                .iter()
                .zip(keys)
                .map(|((_, result), key)| durable::result_record(recorder, cx, key, result))
                .collect::<Result<Vec<_>, Error>>()?;
            recorder.record(records).await?;
        }
        for (index, result) in ran {
            results[index] = Some(result);
        }

        let results: Vec<Result<S::Output, Error>> = results
            .into_iter()
            .map(|r| r.expect("every item replayed or ran"))
            .collect();
        let failures: Vec<&Error> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        if failures.len() > allowed {
            let first = failures[0].clone();
            return Err(self
                .mode
                .exceeded(first, failures.len(), total, &self.name)
                .at(at.as_str()));
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
