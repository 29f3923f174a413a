//! Wait: pause for a duration, like the ASL `Wait` state with `Seconds` ([`wait`]), or
//! until a time, like `Timestamp` and `TimestampPath` ([`wait_until`],
//! [`wait_until_input`]).
//!
//! The input passes through unchanged. The deadline is recorded when the state first
//! starts, so an execution resumed after a crash waits only for what is left. The timer is the runtime's (tokio's in
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

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

use crate::context::Context;
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::step::{Payload, Step};

/// A wait state of `duration` that passes its input through.
pub fn wait<T: Payload>(duration: Duration) -> Wait<T> {
    Wait {
        name: Cow::Borrowed("wait"),
        duration,
        _type: PhantomData,
    }
}

/// Step returned by [`wait`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Wait<T> {
    name: Cow<'static, str>,
    duration: Duration,
    _type: PhantomData<fn(T) -> T>,
}

impl<T> Wait<T> {
    /// Names the wait state (default `"wait"`), as its history and graph show it.
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        Wait {
            name: name.into(),
            ..self
        }
    }
}

impl<T: Payload> Step for Wait<T> {
    type Input = T;
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: T) -> Result<T, Error> {
        let delay_ms = u64::try_from(self.duration.as_millis()).unwrap_or(u64::MAX);
        let first = durable::millis(cx.host().now()).saturating_add(delay_ms);
        timer(cx, &self.name, delay_ms, first).await?;
        Ok(input)
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        graph
            .leaf(NodeKind::Wait, &self.name)
            .detail("seconds", self.duration.as_secs_f64());
    }
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("name", &self.name)
            .field("duration", &self.duration)
            .finish()
    }
}

/// A wait state until `at` that passes its input through, like ASL's `Timestamp`; a
/// time already past does not wait.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use waypost::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let soon = SystemTime::now() + Duration::from_millis(5);
/// let wf = Workflow::new("release", 1, wait_until::<String>(soon));
/// assert_eq!(Runtime::new().run(&wf, "hi".to_string()).await.unwrap(), "hi");
/// # }
/// ```
pub fn wait_until<T: Payload>(at: SystemTime) -> WaitUntil<T> {
    WaitUntil {
        name: Cow::Borrowed("wait_until"),
        until: Until::Fixed(at),
    }
}

/// A wait state until the time `at` reads from the input, like ASL's `TimestampPath`;
/// a time already past does not wait. `at` runs when the state first starts: a resumed
/// execution keeps the time it gave then.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use waypost::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// // The input is when to go on, in ms since the Unix epoch.
/// let wf = Workflow::new(
///     "scheduled",
///     1,
///     wait_until_input(|ms: &u64| UNIX_EPOCH + Duration::from_millis(*ms)),
/// );
/// let soon = SystemTime::now() + Duration::from_millis(5);
/// let ms = soon.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
/// assert_eq!(Runtime::new().run(&wf, ms).await.unwrap(), ms);
/// # }
/// ```
pub fn wait_until_input<T, F>(at: F) -> WaitUntil<T>
where
    T: Payload,
    F: Fn(&T) -> SystemTime + Send + Sync + 'static,
{
    WaitUntil {
        name: Cow::Borrowed("wait_until"),
        until: Until::Input(Box::new(at)),
    }
}

/// The durable timer of the wait state `name`: reports its start (with `delay_ms`),
/// sleeps until `first` or the deadline an earlier run recorded, and reports its end.
async fn timer(cx: &Context, name: &str, delay_ms: u64, first: u64) -> Result<(), Error> {
    let address = cx.address(name);
    cx.emit(
        EventKind::TimerStarted,
        address.as_str(),
        None,
        EventDetails {
            delay_ms: Some(delay_ms),
            ..EventDetails::default()
        },
    );
    durable::durable_sleep_until(cx, cx.key(name), first).await?;
    cx.emit(
        EventKind::TimerFired,
        address.as_str(),
        None,
        EventDetails::default(),
    );
    Ok(())
}

/// When a [`WaitUntil`] ends.
enum Until<T> {
    Fixed(SystemTime),
    Input(Box<dyn Fn(&T) -> SystemTime + Send + Sync>),
}

/// Step returned by [`wait_until`] and [`wait_until_input`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct WaitUntil<T> {
    name: Cow<'static, str>,
    until: Until<T>,
}

impl<T> WaitUntil<T> {
    /// Names the wait state (default `"wait_until"`), as its history and graph show it.
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        WaitUntil {
            name: name.into(),
            ..self
        }
    }
}

impl<T: Payload> Step for WaitUntil<T> {
    type Input = T;
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: T) -> Result<T, Error> {
        let key = cx.key(&self.name);
        // A resumed execution keeps the time the first run was given (`at` runs once).
        let at_ms = match durable::recorded_deadline(cx, &key)? {
            Some(recorded) => recorded,
            None => durable::millis(match &self.until {
                Until::Fixed(at) => *at,
                Until::Input(at) => at(&input),
            }),
        };
        let now = durable::millis(cx.host().now());
        timer(cx, &self.name, at_ms.saturating_sub(now), at_ms).await?;
        Ok(input)
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.leaf(NodeKind::Wait, &self.name);
        match &self.until {
            Until::Fixed(at) => {
                node.detail("timestamp", crate::text::timestamp(durable::millis(*at)));
            }
            Until::Input(_) => {
                node.detail("timestamp", "from the input");
            }
        }
    }
}

impl<T> fmt::Debug for WaitUntil<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("WaitUntil");
        debug.field("name", &self.name);
        match &self.until {
            Until::Fixed(at) => debug.field("at", at),
            Until::Input(at) => debug.field("at", &std::any::type_name_of_val(at)),
        };
        debug.finish()
    }
}
