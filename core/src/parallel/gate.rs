//! [`Gate`]: lets a parallel's branches start in order, at most `limit` at once.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::task::{Poll, Waker};

/// Admits branch `i` once branches `0..i` were admitted and fewer than `limit` run.
#[derive(Debug)]
pub(crate) struct Gate {
    limit: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Branches admitted and not yet finished.
    running: usize,
    /// The next branch to admit.
    next: usize,
    waiting: Vec<Waker>,
}

/// A branch admitted by a [`Gate`]: it counts as running until dropped.
#[derive(Debug)]
pub(crate) struct Admitted<'a>(Option<&'a Gate>);

impl Gate {
    /// A gate for at most `limit` branches at once; 0: no limit.
    pub(crate) fn new(limit: usize) -> Self {
        Gate {
            limit: if limit == 0 { usize::MAX } else { limit },
            state: Mutex::new(State::default()),
        }
    }

    /// Runs `work` (branch `index`) once it may start.
    pub(crate) async fn admit<F: Future>(&self, index: usize, work: F) -> F::Output {
        let _admitted = self.enter(index).await;
        work.await
    }

    /// Waits until branch `index` may start.
    async fn enter(&self, index: usize) -> Admitted<'_> {
        if self.limit == usize::MAX {
            return Admitted(None);
        }
        std::future::poll_fn(|cx| {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if state.next == index && state.running < self.limit {
                state.next += 1;
                state.running += 1;
                wake_all(&mut state);
                Poll::Ready(())
            } else {
                state.waiting.push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        Admitted(Some(self))
    }
}

fn wake_all(state: &mut State) {
    for waker in state.waiting.drain(..) {
        waker.wake();
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(gate) = self.0 {
            let mut state = gate.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.running -= 1;
            wake_all(&mut state);
        }
    }
}
