//! [`Activity`]: what a durable execution is doing right now — running work, or only
//! waiting on durable timers — so that a worker can park an execution that only waits
//! (give its lease back until the first timer ends) instead of holding it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Counts the work in flight and the durable timers running in one execution.
///
/// Work (a task step running, a CPU map, a timeout whose limit runs in memory) holds a
/// [`Busy`] guard; a durable timer (a `wait`, a retry backoff) holds a [`Timer`] guard
/// with its deadline. While nothing is busy and a timer runs, the execution only waits:
/// [`waiting_until`](Activity::waiting_until) says until when.
///
/// ```
/// use waypost::activity::Activity;
///
/// let activity = Activity::default();
/// let timer = activity.timer(5_000);
/// assert_eq!(activity.waiting_until(), Some(5_000));
/// let busy = activity.busy();
/// assert_eq!(activity.waiting_until(), None, "work is running");
/// drop((busy, timer));
/// assert_eq!(activity.waiting_until(), None, "nothing at all: not waiting either");
/// ```
#[derive(Clone, Default)]
pub struct Activity(Arc<Mutex<State>>);

#[derive(Default)]
struct State {
    busy: usize,
    next_timer: u64,
    /// Timer number → deadline (ms since the Unix epoch).
    timers: BTreeMap<u64, u64>,
}

impl Activity {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks work in flight until the guard is dropped.
    pub fn busy(&self) -> Busy {
        self.state().busy += 1;
        Busy(self.clone())
    }

    /// Marks a durable timer running until `deadline_ms` (ms since the Unix epoch),
    /// until the guard is dropped.
    pub fn timer(&self, deadline_ms: u64) -> Timer {
        let mut state = self.state();
        let number = state.next_timer;
        state.next_timer += 1;
        state.timers.insert(number, deadline_ms);
        Timer {
            activity: self.clone(),
            number,
        }
    }

    /// When nothing is busy and at least one durable timer runs: the earliest deadline.
    pub fn waiting_until(&self) -> Option<u64> {
        let state = self.state();
        if state.busy > 0 {
            return None;
        }
        state.timers.values().copied().min()
    }
}

impl fmt::Debug for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("Activity")
            .field("busy", &state.busy)
            .field("timers", &state.timers.len())
            .finish()
    }
}

/// Work in flight; see [`Activity::busy`].
#[derive(Debug)]
#[must_use = "the work counts as in flight while the guard lives"]
pub struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.state().busy -= 1;
    }
}

/// A durable timer running; see [`Activity::timer`].
#[derive(Debug)]
#[must_use = "the timer counts as running while the guard lives"]
pub struct Timer {
    activity: Activity,
    number: u64,
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.activity.state().timers.remove(&self.number);
    }
}
