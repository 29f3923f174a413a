//! Wait: pause for a duration, like the ASL `Wait` state with `Seconds`.
//!
//! The input passes through unchanged. The timer is the runtime's (tokio's in
//! `waypost-runtime`, so tests can pause the clock).
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use waypost::prelude::*;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let wf = Workflow::new("cool-down", 1, wait::<String>(Duration::from_millis(5)));
//! assert_eq!(Runtime::new().run(&wf, "hi".to_string()).await.unwrap(), "hi");
//! # }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::step::{Payload, Step};

/// A wait state of `duration` that passes its input through.
pub fn wait<T: Payload>(duration: Duration) -> Wait<T> {
    Wait {
        duration,
        _type: PhantomData,
    }
}

/// Step returned by [`wait`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Wait<T> {
    duration: Duration,
    _type: PhantomData<fn(T) -> T>,
}

impl<T: Payload> Step for Wait<T> {
    type Input = T;
    type Output = T;

    fn name(&self) -> &str {
        "wait"
    }

    async fn run(&self, cx: &Context, input: T) -> Result<T, Error> {
        let address = cx.address("wait");
        let delay_ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        cx.emit(
            EventKind::TimerStarted,
            address.as_str(),
            None,
            EventDetails {
                delay_ms: Some(delay_ms),
                ..EventDetails::default()
            },
        );
        durable::durable_sleep(cx, cx.key("wait"), self.duration).await?;
        cx.emit(
            EventKind::TimerFired,
            address.as_str(),
            None,
            EventDetails::default(),
        );
        Ok(input)
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Wait, "wait")
            .detail("seconds", self.duration.as_secs_f64());
    }
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("duration", &self.duration)
            .finish()
    }
}
