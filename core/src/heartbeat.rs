//! Heartbeats of long steps: a step reports that it is alive, with details of how far
//! it got ([`StepContext::heartbeat`](crate::StepContext::heartbeat)); a
//! [`heartbeat_timeout`](crate::StepExt::heartbeat_timeout) fails a step that stops
//! reporting with `States.HeartbeatTimeout`; and the next attempt (a retry, or a run
//! after a crash) reads the last details
//! ([`StepContext::last_heartbeat`](crate::StepContext::last_heartbeat)) to go on where
//! the last one got to — Step Functions' `HeartbeatSeconds`, Temporal's heartbeat
//! details.
//!
//! In a durable execution each heartbeat's details are a checkpoint of their own (one
//! commit each, shared with other executions by group commit): heartbeat as often as
//! the details are worth keeping, not on every item.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use waypost::prelude::*;
//!
//! /// Copies 10 chunks, going on from the last chunk a failed attempt reported.
//! #[step]
//! async fn copy(cx: &StepContext, chunks: u32) -> Result<u32, Error> {
//!     let from = cx.last_heartbeat::<u32>()?.map_or(0, |done| done + 1);
//!     for chunk in from..chunks {
//!         if chunk == 4 && cx.attempt() == 1 {
//!             return Err(Error::new("Transient", "the disk went away"));
//!         }
//!         cx.heartbeat(&chunk).await?;
//!     }
//!     Ok(from)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let retry = RetryPolicy::builder().errors(["Transient"]).max_attempts(2).build();
//! let wf = Workflow::new(
//!     "copy",
//!     1,
//!     copy.heartbeat_timeout(Duration::from_secs(30)).retry(retry),
//! );
//! let runtime = Runtime::builder().store(waypost::MemoryStore::new()).build();
//! // The second attempt started at chunk 4, after the last chunk the first reported.
//! assert_eq!(runtime.start(&wf, "copy-1", 10).await.unwrap(), 4);
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use futures::channel::mpsc;
use futures::future::{Either, select};

use crate::context::Context;
use crate::durable;
use crate::error::{Error, names};
use crate::graph::Describe;
use crate::history::{EventDetails, EventKind};
use crate::step::Step;

/// Where a step's heartbeats land while a heartbeat timeout watches it: a signal to the
/// watch (which restarts its limit on the runtime's timer), and the wall-clock time of
/// the last one, for messages.
#[derive(Debug)]
pub(crate) struct Beats {
    signal: mpsc::UnboundedSender<()>,
    last_ms: AtomicU64,
}

impl Beats {
    /// Notes a heartbeat at `now_ms` (ms since the Unix epoch).
    pub(crate) fn beat(&self, now_ms: u64) {
        self.last_ms.fetch_max(now_ms, Ordering::Relaxed);
        // Fails only once the watch is gone: nobody waits for beats then.
        let _ = self.signal.unbounded_send(());
    }
}

/// Where the `n`-th heartbeat's details of the step at `address` are stored: by address,
/// not attempt, so that the next attempt finds them.
pub(crate) fn details_key(address: &str, n: u64) -> String {
    format!("{address}~heartbeat/{n}")
}

/// Step returned by [`StepExt::heartbeat_timeout`](crate::StepExt::heartbeat_timeout).
#[derive(Debug)]
#[must_use = "steps do nothing until a runtime runs them"]
pub struct HeartbeatTimeout<S> {
    inner: S,
    limit: Duration,
}

impl<S: Step> HeartbeatTimeout<S> {
    pub(crate) fn new(inner: S, limit: Duration) -> Self {
        HeartbeatTimeout { inner, limit }
    }
}

impl<S: Step> Step for HeartbeatTimeout<S> {
    type Input = S::Input;
    type Output = S::Output;

    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(&self, cx: &Context, input: S::Input) -> Result<S::Output, Error> {
        // A missed heartbeat is recorded, as a timeout is: a resumed execution sees the
        // same failure rather than run the step again.
        let key = cx
            .recorder()
            .map(|_| format!("{}~heartbeat-timeout", cx.key(self.inner.name())));
        if let (Some(recorder), Some(key)) = (cx.recorder(), &key)
            && let Some(entry) = recorder.replay(key)
        {
            return durable::replayed_result(recorder, cx, key, &entry);
        }
        let (signal, mut signals) = mpsc::unbounded();
        let beats = std::sync::Arc::new(Beats {
            signal,
            last_ms: AtomicU64::new(durable::millis(cx.host().now())),
        });
        let inner_cx = cx.with_beats(std::sync::Arc::clone(&beats));
        // The limit restarts at each beat; it runs out when a whole limit passes without.
        let watch = async {
            loop {
                let beat = signals.next();
                match select(beat, cx.sleep(self.limit)).await {
                    Either::Left(_) => {}
                    Either::Right(_) => return beats.last_ms.load(Ordering::Relaxed),
                }
            }
        };
        let work = std::pin::pin!(self.inner.run(&inner_cx, input));
        match select(work, std::pin::pin!(watch)).await {
            Either::Left((result, _)) => result,
            Either::Right((last_ms, _)) => {
                let address = cx.address(self.inner.name());
                let error = Error::new(
                    names::HEARTBEAT_TIMEOUT,
                    format!(
                        "step `{}` sent no heartbeat for {:?} (the last at {})",
                        self.inner.name(),
                        self.limit,
                        crate::text::timestamp(last_ms)
                    ),
                )
                .at(address.as_str());
                // The step was dropped mid-flight and reports nothing itself.
                cx.emit(
                    EventKind::StepFailed,
                    address.as_str(),
                    None,
                    EventDetails::error(&error),
                );
                match key {
                    Some(key) => {
                        durable::record_result(cx, key, address.as_str(), Err(error)).await
                    }
                    None => Err(error),
                }
            }
        }
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .decorated(&self.inner)
            .detail("heartbeat_seconds", self.limit.as_secs_f64());
    }

    fn slots(&self) -> u32 {
        self.inner.slots()
    }
}
