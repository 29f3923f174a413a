//! Notices: what a store tells the workers and waiters that subscribed, so that they
//! need not poll (PostgreSQL's `LISTEN/NOTIFY`; a channel inside one process).
//! Notices are hints: one may be lost (a dropped connection), so every subscriber polls
//! too, only more slowly.

use std::sync::{Arc, Mutex, PoisonError};

use futures::channel::mpsc;
use futures::stream::BoxStream;

/// Something a subscriber may want to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// An execution of this workflow may be claimable now: submitted, handed back by a
    /// worker, redriven, or parked with an earlier wake-up.
    Runnable {
        /// The workflow's name.
        workflow: String,
    },
    /// The execution finished (succeeded, failed or cancelled).
    Finished {
        /// The execution.
        id: String,
    },
}

/// The stream [`Store::notices`](super::Store::notices) gives.
pub type Notices = BoxStream<'static, Notice>;

/// Fans notices out to the subscribers of one process: for stores whose writers all
/// live in this process (memory) or that wake only this process's subscribers (a SQLite
/// file; other processes poll it).
#[derive(Clone, Debug, Default)]
pub struct Notifier {
    subscribers: Arc<Mutex<Vec<mpsc::UnboundedSender<Notice>>>>,
}

impl Notifier {
    /// A notifier with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new subscriber's stream of every notice sent from now on.
    pub fn subscribe(&self) -> Notices {
        let (sender, receiver) = mpsc::unbounded();
        self.lock().push(sender);
        Box::pin(receiver)
    }

    /// Sends `notice` to every subscriber still listening.
    pub fn send(&self, notice: &Notice) {
        self.lock()
            .retain(|subscriber| subscriber.unbounded_send(notice.clone()).is_ok());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::UnboundedSender<Notice>>> {
        self.subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    #[test]
    fn every_subscriber_gets_what_is_sent_after_it_subscribed() {
        let notifier = Notifier::new();
        notifier.send(&Notice::Finished { id: "early".into() });
        let mut a = notifier.subscribe();
        let b = notifier.subscribe();
        drop(b);
        notifier.send(&Notice::Finished { id: "x".into() });
        assert_eq!(
            futures::executor::block_on(a.next()),
            Some(Notice::Finished { id: "x".into() })
        );
        assert_eq!(
            notifier.lock().len(),
            1,
            "a dropped subscriber is forgotten"
        );
    }
}
