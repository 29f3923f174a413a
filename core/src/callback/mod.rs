//! Wait for a callback: a state that hands a [`CallbackToken`] to the outside world (a
//! mail, a queue, an HTTP call) and waits, durably, until the token's holder sends its
//! result — Step Functions' `.waitForTaskToken`, Temporal's signals, Restate's
//! awakeables.
//!
//! [`wait_for_callback`] makes the state. When it first starts it issues a token
//! (recorded before anything else, so a fast answer is never lost) and calls its
//! `send` function with the input and the token; `send` runs until it succeeds once
//! (again after a crash, with the same token). The state then waits for a
//! [`Message`], sent from this process, another process or another machine sharing the
//! store: `Runtime::send_task_success`, `send_task_failure`, `send_task_heartbeat`, the
//! CLI's `waypost callback succeed|fail|heartbeat TOKEN`, or [`deliver`] on a store.
//!
//! - A success's output is decoded as the state's output type when the state takes it;
//!   one that does not fit is refused (`CallbackRefused` in the history, with why), and
//!   the state goes on waiting.
//! - A failure fails the state with the error sent: retry and catch match its name.
//! - [`timeout`](WaitForCallback::timeout) limits the whole wait (`States.Timeout`; the
//!   deadline is recorded, so a crash does not restart it), and
//!   [`heartbeat_timeout`](WaitForCallback::heartbeat_timeout) the time between
//!   heartbeats (`States.HeartbeatTimeout`). Both are matchable by retry and catch.
//! - While it waits, the execution holds no task: a [`Worker`](https://docs.rs/waypost)
//!   parks it (no lease) and any worker resumes it when a message arrives or a limit
//!   runs out.
//! - A token belongs to one state of one execution (one attempt, inside a retry) and
//!   completes it once: a wrong, reused or foreign token gets a named error
//!   ([`names`]).
//!
//! The state needs a store: run it with a durable runtime.
//!
//! # Examples
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use serde::{Deserialize, Serialize};
//! use waypost::MemoryStore;
//! use waypost::prelude::*;
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! struct Approval {
//!     by: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! // Where `send` puts the token: in real life a mail or a queue.
//! let outbox: Arc<Mutex<Option<CallbackToken>>> = Arc::default();
//! let sent = outbox.clone();
//! let approve = wait_for_callback("approve", move |order: u32, token: CallbackToken| {
//!     let sent = sent.clone();
//!     async move {
//!         println!("order {order} needs approval: {token}");
//!         *sent.lock().unwrap() = Some(token);
//!         Ok(())
//!     }
//! });
//! let wf = Workflow::new("approval", 1, approve);
//! let runtime = Runtime::builder().store(MemoryStore::new()).build();
//!
//! let run = tokio::spawn({
//!     let (runtime, wf) = (runtime.clone(), wf.clone());
//!     async move { runtime.start(&wf, "order-1", 7).await }
//! });
//! let token = loop {
//!     if let Some(token) = outbox.lock().unwrap().take() { break token; }
//!     tokio::task::yield_now().await;
//! };
//! runtime.send_task_success(&token.to_string(), &Approval { by: "ana".into() }).await.unwrap();
//! let approval: Approval = run.await.unwrap().unwrap();
//! assert_eq!(approval.by, "ana");
//!
//! // The token completed its state: it is refused from now on.
//! let again = runtime.send_task_success(&token.to_string(), &Approval { by: "bo".into() }).await;
//! assert!(again.unwrap_err().to_string().contains("has ended"));
//! # }
//! ```

mod deliver;
mod message;
mod token;

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;

pub use deliver::{Delivered, Verdict, deliver, verdict};
pub use message::Message;
pub use token::{CallbackToken, names};

use message::Envelope;

use crate::context::{Context, Recorder};
use crate::durable;
use crate::error::Error;
use crate::graph::{Describe, NodeKind, RESOURCE};
use crate::history::{EventDetails, EventKind};
use crate::step::{Payload, Step};
use crate::store::CheckpointKind;

/// Where the state at `key` records its token.
pub(crate) fn registration_key(key: &str) -> String {
    format!("{key}~callback")
}

/// Where message `n` to the state at `key` is stored.
pub(crate) fn message_key(key: &str, n: u64) -> String {
    format!("{key}~callback~msg/{n}")
}

/// Where the state at `key` records that it refused message `n` (the error, as JSON).
pub(crate) fn refused_key(key: &str, n: u64) -> String {
    format!("{key}~callback~msg/{n}~refused")
}

/// Where the state at `key` records that `send` succeeded.
fn sent_key(key: &str) -> String {
    format!("{key}~callback~sent")
}

/// Where the state at `key` records the deadline of its timeout.
fn deadline_key(key: &str) -> String {
    format!("{key}~callback~deadline")
}

/// The sender of a [`WaitForCallback`]: hands the token on.
type Sender<I> = Arc<
    dyn Fn(I, CallbackToken) -> futures::future::BoxFuture<'static, Result<(), Error>>
        + Send
        + Sync,
>;

/// A state named `name` that calls `send` with its input and a fresh
/// [`CallbackToken`], then waits for the token's holder to send its output (of type
/// `O`) or an error. See the [module docs](self).
pub fn wait_for_callback<I, O, F, Fut>(name: impl Into<String>, send: F) -> WaitForCallback<I, O>
where
    I: Payload,
    O: Payload,
    F: Fn(I, CallbackToken) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Error>> + Send + 'static,
{
    WaitForCallback {
        name: name.into(),
        send: Arc::new(move |input, token| Box::pin(send(input, token))),
        timeout: None,
        heartbeat: None,
        _types: PhantomData,
    }
}

/// Step returned by [`wait_for_callback`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct WaitForCallback<I, O> {
    name: String,
    send: Sender<I>,
    timeout: Option<Duration>,
    heartbeat: Option<Duration>,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> WaitForCallback<I, O> {
    /// Fails the state with `States.Timeout` when no result came within `limit` of its
    /// first start (ASL `TimeoutSeconds`). The deadline is recorded: a resumed execution
    /// keeps it.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Fails the state with `States.HeartbeatTimeout` when neither a heartbeat nor a
    /// result came within `limit` of the token's issue or the last heartbeat (ASL
    /// `HeartbeatSeconds`).
    pub fn heartbeat_timeout(mut self, limit: Duration) -> Self {
        self.heartbeat = Some(limit);
        self
    }
}

impl<I, O> Clone for WaitForCallback<I, O> {
    fn clone(&self) -> Self {
        WaitForCallback {
            name: self.name.clone(),
            send: Arc::clone(&self.send),
            timeout: self.timeout,
            heartbeat: self.heartbeat,
            _types: PhantomData,
        }
    }
}

impl<I, O> fmt::Debug for WaitForCallback<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitForCallback")
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("heartbeat_timeout", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

impl<I: Payload, O: Payload> Step for WaitForCallback<I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: I) -> Result<O, Error> {
        let address = cx.address(&self.name);
        let key = cx.key(&self.name);
        let Some(recorder) = cx.recorder() else {
            return Err(Error::runtime(format!(
                "callback state `{address}` of execution `{}` needs a store to wait in: run \
                 it with a durable runtime (`Runtime::builder().store(..)`)",
                cx.execution_id()
            )));
        };
        if let Some(entry) = recorder.replay(&key) {
            return durable::replayed_result(recorder, cx, &key, &entry);
        }
        let wait = Waiting {
            cx,
            recorder,
            address: address.as_str(),
            key: &key,
        };
        let (token, issued_ms) = wait.token().await?;
        if recorder.replay(&sent_key(&key)).is_none() {
            // A paused execution hands out no new token.
            recorder.hold().await?;
            let sent = {
                let _busy = cx.busy();
                let call = (self.send)(input, token);
                match AssertUnwindSafe(call).catch_unwind().await {
                    Ok(result) => result.map_err(|e| e.at(address.as_str())),
                    Err(panic) => Err(Error::from_panic(
                        &self.name,
                        address.as_str(),
                        panic.as_ref(),
                    )),
                }
            };
            if let Err(error) = sent {
                return wait.finish(Err(error), None).await;
            }
            recorder
                .record(vec![(
                    sent_key(&key),
                    CheckpointKind::Decision,
                    b"sent".to_vec(),
                )])
                .await?;
        }
        let deadline = match self.timeout {
            Some(limit) => Some(durable::deadline(cx, deadline_key(&key), limit).await?),
            None => None,
        };
        wait.messages::<O>(issued_ms, deadline, self.heartbeat)
            .await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let node = graph.leaf(NodeKind::Task, &self.name);
        node.detail(
            RESOURCE,
            format!("waypost:callback:{}.waitForTaskToken", self.name),
        );
        if let Some(heartbeat) = self.heartbeat {
            node.detail("heartbeat_seconds", heartbeat.as_secs_f64());
        }
        node.timeout = self.timeout;
    }
}

/// One waiting callback state, as it runs.
struct Waiting<'a> {
    cx: &'a Context,
    recorder: &'a dyn Recorder,
    address: &'a str,
    key: &'a str,
}

/// How long a waiting state first sleeps between looks at the store, and at most.
const FIRST_LOOK: Duration = Duration::from_millis(20);
const LAST_LOOK: Duration = Duration::from_millis(500);

impl Waiting<'_> {
    /// The state's token and when it was issued: recorded by an earlier run, or issued
    /// and recorded now (before `send` sees it).
    async fn token(&self) -> Result<(CallbackToken, u64), Error> {
        let (cx, key) = (self.cx, self.key);
        let registration = registration_key(key);
        if let Some(entry) = self.recorder.replay(&registration) {
            let fields = (entry.kind == CheckpointKind::Callback && entry.payload.len() == 24)
                .then(|| {
                    let secret: [u8; 16] = entry.payload[..16].try_into().ok()?;
                    let issued: [u8; 8] = entry.payload[16..].try_into().ok()?;
                    Some((secret, u64::from_le_bytes(issued)))
                })
                .flatten();
            let Some((secret, issued)) = fields else {
                return Err(Error::runtime(format!(
                    "checkpoint `{registration}` of execution `{}` is not a callback token \
                     ({:?}, {} bytes); was the workflow changed?",
                    cx.execution_id(),
                    entry.kind,
                    entry.payload.len()
                )));
            };
            return Ok((
                CallbackToken::with_secret(cx.execution_id(), key, secret),
                issued,
            ));
        }
        let token = CallbackToken::issue(cx.execution_id(), key)?;
        let issued = durable::millis(cx.host().now());
        let mut payload = token.secret().to_vec();
        payload.extend_from_slice(&issued.to_le_bytes());
        cx.emit(
            EventKind::CallbackStarted,
            self.address,
            None,
            EventDetails::default(),
        );
        self.recorder
            .record(vec![(registration, CheckpointKind::Callback, payload)])
            .await?;
        Ok((token, issued))
    }

    /// Takes the messages sent to the state, in order, until one gives its result or a
    /// limit runs out.
    async fn messages<O: Payload>(
        &self,
        issued_ms: u64,
        deadline: Option<u64>,
        heartbeat: Option<Duration>,
    ) -> Result<O, Error> {
        let (cx, key) = (self.cx, self.key);
        let heartbeat_ms = heartbeat.map(|h| u64::try_from(h.as_millis()).unwrap_or(u64::MAX));
        let mut beat_ms = issued_ms;
        let mut next = 0u64;
        let mut look = FIRST_LOOK;
        loop {
            while let Some(entry) = self.recorder.replay(&message_key(key, next)) {
                let number = next;
                next += 1;
                let envelope: Envelope = match serde_json::from_slice(&entry.payload) {
                    Ok(envelope) => envelope,
                    Err(e) => {
                        let why = format!("message {number} is not a callback message: {e}");
                        self.refuse(number, &why).await?;
                        continue;
                    }
                };
                match envelope.message {
                    Message::Heartbeat => beat_ms = beat_ms.max(envelope.at_ms),
                    Message::Failure { error } => {
                        return self.finish(Err(error.at(self.address)), Some(number)).await;
                    }
                    Message::Success { output } => match serde_json::from_value::<O>(output) {
                        Ok(output) => return self.finish(Ok(output), Some(number)).await,
                        Err(e) => {
                            let why = format!(
                                "the output sent does not fit `{}`: {e}",
                                std::any::type_name::<O>()
                            );
                            self.refuse(number, &why).await?;
                        }
                    },
                }
                look = FIRST_LOOK;
            }
            let now = durable::millis(cx.host().now());
            if let Some(deadline) = deadline.filter(|&d| d <= now) {
                let error = Error::timeout(format!(
                    "callback state `{}` got no result by its deadline ({})",
                    self.address,
                    crate::text::timestamp(deadline)
                ));
                return self.finish(Err(error.at(self.address)), None).await;
            }
            let beat_deadline = heartbeat_ms.map(|h| beat_ms.saturating_add(h));
            if let Some(due) = beat_deadline.filter(|&d| d <= now) {
                let error = Error::new(
                    crate::error::names::HEARTBEAT_TIMEOUT,
                    format!(
                        "callback state `{}` got no heartbeat for {:?} (the last at {}, due by {})",
                        self.address,
                        heartbeat.unwrap_or_default(),
                        crate::text::timestamp(beat_ms),
                        crate::text::timestamp(due)
                    ),
                );
                return self.finish(Err(error.at(self.address)), None).await;
            }
            // Only waiting now: its runner may park it until the first limit (or for
            // good, until a message wakes it).
            let until = deadline.into_iter().chain(beat_deadline).min();
            let _timer = self
                .recorder
                .activity()
                .map(|a| a.timer(until.unwrap_or(u64::MAX)));
            let sleep = until.map_or(look, |u| look.min(Duration::from_millis(u - now)));
            cx.sleep(sleep).await;
            look = (look * 2).min(LAST_LOOK);
            self.recorder.refresh().await?;
        }
    }

    /// Records that message `number` was refused (`why`), once, and reports it.
    async fn refuse(&self, number: u64, why: &str) -> Result<(), Error> {
        let key = refused_key(self.key, number);
        if self.recorder.replay(&key).is_some() {
            return Ok(());
        }
        let error = Error::new("Callback.Refused", why).at(self.address);
        self.cx.emit(
            EventKind::CallbackRefused,
            self.address,
            None,
            EventDetails {
                message: Some(number),
                ..EventDetails::error(&error)
            },
        );
        let payload = serde_json::to_vec(&error).map_err(|e| Error::runtime(e.to_string()))?;
        self.recorder
            .record(vec![(key, CheckpointKind::Message, payload)])
            .await
    }

    /// Records the state's result (taken from message `number`, if any) and hands it
    /// back.
    async fn finish<O: Payload>(
        &self,
        result: Result<O, Error>,
        number: Option<u64>,
    ) -> Result<O, Error> {
        let (kind, details) = match &result {
            Ok(_) => (EventKind::CallbackSucceeded, EventDetails::default()),
            Err(error) => (EventKind::CallbackFailed, EventDetails::error(error)),
        };
        self.cx.emit(
            kind,
            self.address,
            None,
            EventDetails {
                message: number,
                ..details
            },
        );
        durable::record_result(self.cx, self.key.to_owned(), self.address, result).await
    }
}
