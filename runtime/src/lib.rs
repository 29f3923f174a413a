//! The executor of [waypost] workflows: async steps on tokio, CPU work on rayon.
//!
//! Depend on the `waypost` facade, which re-exports this crate.
//!
//! [waypost]: https://docs.rs/waypost
#![doc(test(attr(deny(warnings))))]

mod host;
// pub mod store; (re-enabled when the store modules land)

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use waypost_core::{Context, Error, Host, Payload, Step, Workflow};

pub use host::TokioHost;

/// Runs workflows.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// #[step]
/// async fn add_one(x: u32) -> u32 { x + 1 }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let runtime = Runtime::new();
/// let wf = Workflow::new("add", 1, add_one.then(add_one));
/// assert_eq!(runtime.run(&wf, 1).await.unwrap(), 3);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Runtime {
    host: Arc<dyn Host>,
    next_id: Arc<AtomicU64>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    /// A runtime on the current tokio runtime and rayon's global pool.
    pub fn new() -> Self {
        Self::with_host(Arc::new(TokioHost::new()))
    }

    /// A runtime whose timers, CPU pool and clock come from `host`.
    pub fn with_host(host: Arc<dyn Host>) -> Self {
        Runtime {
            host,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Runs `workflow` on `input` to completion, in memory (nothing is checkpointed),
    /// and returns its output.
    ///
    /// # Errors
    ///
    /// The error of the step that failed the workflow, with its address.
    pub async fn run<I: Payload, O: Payload>(
        &self,
        workflow: &Workflow<I, O>,
        input: I,
    ) -> Result<O, Error> {
        let id = format!(
            "{}-{}",
            workflow.name(),
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let cx = Context::new(Arc::clone(&self.host), id);
        workflow.root().run(&cx, input).await
    }
}
