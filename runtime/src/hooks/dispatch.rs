//! The hook queue of a runtime: events go in on the executions' tasks (never waiting),
//! a thread of its own takes them out in order and calls the hooks.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use waypost_core::context::Observer;
use waypost_core::{Event, EventKind};

use super::{Hook, HookEvent, Method, QUEUE_CAPACITY};

/// What hooks are told about the execution an event belongs to.
#[derive(Debug)]
pub(crate) struct ExecutionInfo {
    pub(crate) id: Arc<str>,
    pub(crate) workflow: String,
    pub(crate) version: u32,
}

/// One event on its way to the hooks.
struct Queued {
    execution: Arc<ExecutionInfo>,
    event: Event,
    replaying: bool,
}

enum Message {
    Event(Box<Queued>),
    /// Answered once every message before it was handled.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The hooks of a runtime: the sending end of their queue.
pub(crate) struct Hooks {
    queue: SyncSender<Message>,
    names: Vec<String>,
    dropped: AtomicU64,
    warned: AtomicBool,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("names", &self.names)
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl Hooks {
    /// Starts the thread that calls `hooks` (in this order), with the `tracing`
    /// subscriber that is the default now; `None` when there are none.
    pub(crate) fn start(hooks: Vec<Arc<dyn Hook>>) -> Option<Arc<Hooks>> {
        if hooks.is_empty() {
            return None;
        }
        let (queue, received) = sync_channel(QUEUE_CAPACITY);
        let names = hooks.iter().map(|hook| hook.name().to_owned()).collect();
        // The subscriber in force here (a test's scoped one), if any; otherwise the
        // global default of when a warning is logged (it may be set after `build`).
        let subscriber = tracing::dispatcher::get_default(|current| {
            (!current.is::<tracing::subscriber::NoSubscriber>()).then(|| current.clone())
        });
        std::thread::Builder::new()
            .name("waypost-hooks".to_owned())
            .spawn(move || match subscriber {
                Some(subscriber) => {
                    tracing::dispatcher::with_default(&subscriber, || deliver(&received, &hooks));
                }
                None => deliver(&received, &hooks),
            })
            .expect("the hook thread starts");
        Some(Arc::new(Hooks {
            queue,
            names,
            dropped: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        }))
    }

    /// Queues `event` of `execution` for the hooks, without waiting: when the queue is
    /// full, the event is dropped and counted.
    pub(crate) fn send(&self, execution: &Arc<ExecutionInfo>, event: Event, replaying: bool) {
        let message = Message::Event(Box::new(Queued {
            execution: Arc::clone(execution),
            event,
            replaying,
        }));
        match self.queue.try_send(message) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        capacity = QUEUE_CAPACITY,
                        "lifecycle hooks fall behind: their queue is full, and events are \
                         dropped rather than making executions wait (counted by \
                         `Runtime::hook_events_dropped`)"
                    );
                }
            }
        }
    }

    /// How many events were dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Resolves once every event queued before the call was handed to the hooks.
    pub(crate) async fn flush(&self) {
        let (done, handled) = tokio::sync::oneshot::channel();
        let mut message = Message::Flush(done);
        loop {
            match self.queue.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return,
                Err(TrySendError::Full(back)) => {
                    message = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        }
        let _ = handled.await;
    }
}

/// Hands the events of an execution without a store to the hooks: all are new.
#[derive(Debug)]
pub(crate) struct HookObserver {
    pub(crate) hooks: Arc<Hooks>,
    pub(crate) execution: Arc<ExecutionInfo>,
}

impl Observer for HookObserver {
    fn event(&self, event: Event) {
        self.hooks.send(&self.execution, event, false);
    }
}

/// The hook thread: calls the hooks with each event, in order, until the runtime is
/// dropped and the queue is empty.
fn deliver(received: &Receiver<Message>, hooks: &[Arc<dyn Hook>]) {
    let mut tasks = Tasks::default();
    while let Ok(message) = received.recv() {
        match message {
            Message::Flush(done) => {
                let _ = done.send(());
            }
            Message::Event(queued) => {
                let calls = tasks.calls(&queued.execution.id, &queued.event);
                for (method, event) in calls {
                    let event = event.unwrap_or(&queued.event);
                    let event = HookEvent::new(&queued.execution, event, queued.replaying);
                    for hook in hooks {
                        call(&**hook, method, &event);
                    }
                }
                tasks.settle(&queued.execution.id, &queued.event);
            }
        }
    }
}

/// Calls one hook method; logs its error or panic.
fn call(hook: &dyn Hook, method: Method, event: &HookEvent<'_>) {
    let failure = match catch_unwind(AssertUnwindSafe(|| method.call(hook, event))) {
        Ok(Ok(())) => return,
        Ok(Err(error)) => format!("returned an error: {error}"),
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            format!("panicked: {text}")
        }
    };
    // The hook's name is asked for again: a hook that panics there is named by type.
    let name = catch_unwind(AssertUnwindSafe(|| hook.name().to_owned()))
        .unwrap_or_else(|_| "a hook whose name panicked".to_owned());
    tracing::warn!(
        hook = %name,
        method = method.as_str(),
        execution_id = %event.execution_id(),
        address = event.address(),
        "lifecycle hook `{name}` {failure} (in `{}` of execution `{}`); the execution goes on",
        method.as_str(),
        event.execution_id(),
    );
}

/// What the hook thread remembers of task states, to tell a state's start and end from
/// its attempts': the failed attempts no retry has followed yet, and the states a retry
/// will run again.
#[derive(Default)]
struct Tasks {
    /// (execution, address) → the `StepFailed` of its last failed attempt.
    failed: HashMap<(Arc<str>, String), Event>,
    /// (execution, address) of the states a scheduled retry runs again.
    retrying: HashSet<(Arc<str>, String)>,
}

/// A hook call: the method, and the event to tell it about when it is not the one that
/// came in (a task's earlier failure, known at last to end its state).
type Call<'e> = (Method, Option<&'e Event>);

impl Tasks {
    /// The hook calls `event` of the execution `id` makes.
    fn calls<'e>(&'e self, id: &Arc<str>, event: &Event) -> Vec<Call<'e>> {
        let key = || (Arc::clone(id), event.address.clone());
        let mut calls = Vec::new();
        // Failures that this event shows to have ended their state.
        let ended = |failed: &Event| -> bool {
            match event.kind {
                // The state runs again: its earlier run ended.
                EventKind::StepStarted => failed.address == event.address,
                EventKind::StepFailed | EventKind::RetryScheduled => false,
                // The error is caught, ends a map item, ...
                _ => erred_at(event).is_some_and(|at| same_state(&failed.address, at)),
            }
        };
        let finishes_execution = matches!(
            event.kind,
            EventKind::ExecutionSucceeded
                | EventKind::ExecutionFailed
                | EventKind::ExecutionCancelled
        );
        let mut ended_failures: Vec<&Event> = self
            .failed
            .iter()
            .filter(|((execution, _), failed)| {
                execution == id && (finishes_execution || ended(failed))
            })
            .map(|(_, failed)| failed)
            .collect();
        ended_failures.sort_by_key(|failed| failed.at_ms);
        calls.extend(
            ended_failures
                .into_iter()
                .map(|failed| (Method::StateFinished, Some(failed))),
        );
        let method = |method| (method, None);
        match event.kind {
            EventKind::ExecutionStarted
            | EventKind::ExecutionResumed
            | EventKind::ExecutionRedriven => calls.push(method(Method::ExecutionStarted)),
            EventKind::ExecutionRecovered => calls.push(method(Method::ExecutionRecovered)),
            EventKind::ExecutionSucceeded
            | EventKind::ExecutionFailed
            | EventKind::ExecutionCancelled => calls.push(method(Method::ExecutionFinished)),
            EventKind::StepStarted => {
                if !self.retrying.contains(&key()) {
                    calls.push(method(Method::StateStarted));
                }
                calls.push(method(Method::AttemptStarted));
            }
            EventKind::StepSucceeded => {
                calls.push(method(Method::AttemptSucceeded));
                calls.push(method(Method::StateFinished));
            }
            EventKind::StepFailed => calls.push(method(Method::AttemptFailed)),
            EventKind::RetryScheduled => calls.push(method(Method::RetryScheduled)),
            EventKind::MapStarted
            | EventKind::TimerStarted
            | EventKind::CallbackStarted
            | EventKind::ChildExecutionStarted => calls.push(method(Method::StateStarted)),
            EventKind::MapFinished
            | EventKind::TimerFired
            | EventKind::CallbackSucceeded
            | EventKind::CallbackFailed
            | EventKind::ChildExecutionFinished => calls.push(method(Method::StateFinished)),
            _ => {}
        }
        calls
    }

    /// Remembers what `event` says of task states, once its calls are made.
    fn settle(&mut self, id: &Arc<str>, event: &Event) {
        let finishes_execution = matches!(
            event.kind,
            EventKind::ExecutionSucceeded
                | EventKind::ExecutionFailed
                | EventKind::ExecutionCancelled
        );
        if finishes_execution {
            self.failed.retain(|(execution, _), _| execution != id);
            self.retrying.retain(|(execution, _)| execution != id);
            return;
        }
        // The failures whose state this event ended were reported by `calls`.
        if event.kind == EventKind::StepStarted {
            self.failed.remove(&(Arc::clone(id), event.address.clone()));
        }
        if let Some(at) = erred_at(event)
            && event.kind != EventKind::StepFailed
            && event.kind != EventKind::RetryScheduled
        {
            self.failed
                .retain(|(execution, address), _| execution != id || !same_state(address, at));
        }
        let key = (Arc::clone(id), event.address.clone());
        match event.kind {
            EventKind::StepStarted | EventKind::StepSucceeded => {
                self.retrying.remove(&key);
            }
            EventKind::StepFailed => {
                self.failed.insert(key, event.clone());
            }
            EventKind::RetryScheduled => {
                // The failure does not end its state: a retry follows.
                self.failed.remove(&key);
                self.retrying.insert(key);
            }
            _ => {}
        }
    }
}

/// Where the error `event` carries was raised.
fn erred_at(event: &Event) -> Option<&str> {
    event.details.error.as_ref()?.address.as_deref()
}

/// Whether the event address `address` is the state at `at` (an error's address has
/// no `#n` of outer retry attempts; an event's may).
fn same_state(address: &str, at: &str) -> bool {
    address == at
        || address
            .strip_prefix(at)
            .is_some_and(|rest| rest.starts_with('#'))
}
