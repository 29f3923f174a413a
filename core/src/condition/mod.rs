//! Wait for a condition: poll a check step until it says done, waiting durably between
//! polls — the durable SDKs' `waitForCondition`, drawn in Amazon States Language as
//! its `Task` + `Choice` + `Wait` loop.
//!
//! [`wait_for_condition`] makes the state from a check step that takes the state
//! carried from the previous poll (the state's input, for the first poll) and returns a
//! [`Check`]: [`Check::Done`] with the final state, which is the state's output, or
//! [`Check::Again`] with the state the next poll gets. A [`WaitStrategy`] says how long
//! to wait between polls (a fixed delay, or an exponential backoff with a cap and
//! jitter) and how many polls to make at most.
//!
//! - Each poll's check runs at an address of its own, `{state}/{n}/…` (`n` from 1): its
//!   output is its own checkpoint, so a resumed execution does not run the polls that
//!   finished again and goes on with the state the last one returned.
//! - Each delay is a durable timer: its deadline (jitter included, drawn once) is
//!   recorded when it starts, so a resumed execution waits only what is left, and a
//!   [`Worker`](https://docs.rs/waypost) parks the execution (no lease) while it waits.
//! - A redrive after a failed check keeps the polls that finished and the delays
//!   between them: it polls again at once, with the state of the last poll that
//!   finished. (After `States.ConditionNotMet` every poll finished: a redrive fails the
//!   same way; retry the state to poll anew.)
//! - When the last poll allowed does not say done, the state fails with
//!   `States.ConditionNotMet` ([`names::CONDITION_NOT_MET`]), saying how many polls
//!   ran. A check that fails fails the state with its error: retry the check
//!   (`check.retry(..)`, per poll) or the whole state (which polls anew from its
//!   input), and catch either, as any step.
//! - The history has the check step's own events for each poll, a `ConditionPolled`
//!   event per poll (its number and whether it said done) and a `TimerStarted` /
//!   `TimerFired` pair per delay.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use waypost::prelude::*;
//!
//! // The state is how many times the job was seen running; it is done on the third look.
//! #[step]
//! async fn job_finished(looks: u32) -> Check<u32> {
//!     if looks + 1 >= 3 { Check::Done(looks + 1) } else { Check::Again(looks + 1) }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let until_done = wait_for_condition(job_finished)
//!     .named("until_finished")
//!     .strategy(WaitStrategy::fixed(Duration::from_secs(10)).max_attempts(5));
//! let wf = Workflow::new("job", 1, until_done);
//! assert_eq!(Runtime::new().run(&wf, 0).await.unwrap(), 3);
//!
//! // Two polls allowed are not enough: the state fails by name.
//! let impatient = wait_for_condition(job_finished)
//!     .strategy(WaitStrategy::fixed(Duration::from_secs(10)).max_attempts(2));
//! let error = Runtime::new().run(&Workflow::new("job", 1, impatient), 0).await.unwrap_err();
//! assert_eq!(error.name(), "States.ConditionNotMet");
//! assert!(error.message().contains("2 polls"), "{error}");
//! # }
//! ```

mod strategy;

pub use strategy::WaitStrategy;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::durable;
use crate::error::{Error, names};
use crate::graph::{Describe, NodeKind};
use crate::history::{EventDetails, EventKind};
use crate::step::{Payload, Step};

/// The name of the delay between polls, in addresses and graphs.
const DELAY: &str = "delay";

/// The label of a condition's branch in its graph: one poll.
const POLL: &str = "poll";

/// What a check step says after one poll of a [`wait_for_condition`] state: done, with
/// the final state, or not yet, with the state the next poll gets.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
///
/// let check = Check::done_if(7 > 5, 7);
/// assert!(check.is_done());
/// assert_eq!(check.into_state(), 7);
/// assert_eq!(Check::done_if(false, "pending"), Check::Again("pending"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Check<T> {
    /// The condition holds: stop polling; the state's output is this state.
    Done(T),
    /// Not yet: wait, then poll again with this state.
    Again(T),
}

impl<T> Check<T> {
    /// [`Check::Done`] when `done`, else [`Check::Again`], with `state`.
    pub fn done_if(done: bool, state: T) -> Self {
        if done {
            Check::Done(state)
        } else {
            Check::Again(state)
        }
    }

    /// Whether the check said done.
    pub fn is_done(&self) -> bool {
        matches!(self, Check::Done(_))
    }

    /// The state it carries.
    pub fn into_state(self) -> T {
        match self {
            Check::Done(state) | Check::Again(state) => state,
        }
    }
}

/// A state that polls `check` until it returns [`Check::Done`], waiting between polls
/// as its [`strategy`](WaitForCondition::strategy) says (by default the durable SDKs':
/// exponential from 5 s, ×1.5, at most 300 s, full jitter, at most 60 polls).
///
/// `check` gets the state's input at the first poll, and then the state its previous
/// poll returned; the state's output is the state of the poll that said done.
///
/// # Examples
///
/// A closure as the check: poll until the balance covers the price.
///
/// ```
/// use std::time::Duration;
/// use waypost::prelude::*;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let funded = step_fn("funded", |balance: u64| async move {
///     // In real life: ask the bank. Here each look finds 40 more.
///     let balance = balance + 40;
///     Ok::<_, Error>(Check::done_if(balance >= 100, balance))
/// });
/// let wait = wait_for_condition(funded)
///     .strategy(WaitStrategy::exponential(Duration::from_secs(1)).max_attempts(5));
/// let wf = Workflow::new("top-up", 1, wait);
/// assert_eq!(Runtime::new().run(&wf, 0).await.unwrap(), 120);
/// # }
/// ```
pub fn wait_for_condition<S, T>(check: S) -> WaitForCondition<S>
where
    S: Step<Input = T, Output = Check<T>>,
    T: Payload,
{
    WaitForCondition {
        name: Cow::Borrowed("wait_for_condition"),
        check,
        strategy: WaitStrategy::default(),
    }
}

/// Step returned by [`wait_for_condition`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct WaitForCondition<S> {
    name: Cow<'static, str>,
    check: S,
    strategy: WaitStrategy,
}

impl<S> WaitForCondition<S> {
    /// Names the state (default `"wait_for_condition"`), as its history and graph
    /// show it.
    pub fn named(self, name: impl Into<Cow<'static, str>>) -> Self {
        WaitForCondition {
            name: name.into(),
            ..self
        }
    }

    /// How long to wait between polls, and how many polls to make at most.
    pub fn strategy(self, strategy: WaitStrategy) -> Self {
        WaitForCondition { strategy, ..self }
    }
}

impl<S, T> Step for WaitForCondition<S>
where
    S: Step<Input = T, Output = Check<T>>,
    T: Payload,
{
    type Input = T;
    type Output = T;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: T) -> Result<T, Error> {
        let address = cx.address(&self.name);
        if let Some(problem) = self.strategy.problem() {
            return Err(Error::terminal(
                names::RUNTIME,
                format!(
                    "the wait strategy of `{}` at `{address}` {problem}",
                    self.name
                ),
            ));
        }
        let max = self.strategy.attempt_limit();
        let mut state = input;
        for poll in 1..=max {
            let at = address.branch(poll);
            let poll_cx = cx.nested(at.clone());
            // A finished poll replays its checkpoint: its check does not run again.
            let checked = self.check.run(&poll_cx, state).await?;
            let done = checked.is_done();
            state = checked.into_state();
            cx.emit(
                EventKind::ConditionPolled,
                at.as_str(),
                None,
                EventDetails {
                    poll: Some(poll),
                    done: Some(done),
                    ..EventDetails::default()
                },
            );
            if done {
                return Ok(state);
            }
            if poll < max {
                self.delay(&poll_cx.shifted(self.check.slots()), poll)
                    .await?;
            }
        }
        Err(Error::new(
            names::CONDITION_NOT_MET,
            format!(
                "`{}` made {max} polls (its max attempts) and its check `{}` never said done",
                self.name,
                self.check.name()
            ),
        )
        .at(address.as_str()))
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let strategy = self.strategy;
        let node = graph.container(NodeKind::Condition, &self.name, |sink| {
            sink.sequence(POLL, |poll| {
                poll.step(&self.check);
                let delay = poll.leaf(NodeKind::Wait, DELAY);
                match strategy.fixed_delay() {
                    Some(fixed) => delay.detail("seconds", fixed.as_secs_f64()),
                    None => delay.detail("delay", strategy),
                };
            });
        });
        node.detail("strategy", strategy)
            .detail("max_attempts", strategy.attempt_limit());
    }
}

impl<S, T> WaitForCondition<S>
where
    S: Step<Input = T, Output = Check<T>>,
    T: Payload,
{
    /// The durable timer after poll `poll`, at the position `cx` (after the poll's
    /// check): until the deadline an earlier run recorded, or a fresh one, jitter drawn
    /// now and recorded before the wait begins.
    ///
    /// The deadline is recorded as the delay's output (the deadline in ms since the
    /// Unix epoch, in the execution's codec), not as a `Deadline` checkpoint: a redrive
    /// keeps the polls that finished, and so the delays between them, where it would
    /// set a `Deadline` aside and wait each delay again.
    async fn delay(&self, cx: &Context, poll: u32) -> Result<(), Error> {
        let key = cx.key(DELAY);
        let address = cx.address(DELAY);
        let now = durable::millis(cx.host().now());
        let recorded = match crate::task::replayed::<u64>(cx, &key) {
            Some(deadline) => Some(deadline?),
            None => None,
        };
        let deadline = recorded.unwrap_or_else(|| {
            let delay = self.strategy.jittered_delay_after(poll);
            now.saturating_add(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
        });
        cx.emit(
            EventKind::TimerStarted,
            address.as_str(),
            None,
            EventDetails {
                delay_ms: Some(deadline.saturating_sub(now)),
                ..EventDetails::default()
            },
        );
        if recorded.is_none() {
            durable::record_result(cx, key, address.as_str(), Ok(deadline)).await?;
        }
        let remaining = deadline.saturating_sub(durable::millis(cx.host().now()));
        if remaining > 0 {
            // Only waiting: a worker may park the execution until the deadline.
            let _timer = cx
                .recorder()
                .and_then(|r| r.activity())
                .map(|a| a.timer(deadline));
            cx.sleep(Duration::from_millis(remaining)).await;
        }
        cx.emit(
            EventKind::TimerFired,
            address.as_str(),
            None,
            EventDetails::default(),
        );
        Ok(())
    }
}

impl<S: fmt::Debug> fmt::Debug for WaitForCondition<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCondition")
            .field("name", &self.name)
            .field("check", &self.check)
            .field("strategy", &self.strategy)
            .finish()
    }
}
