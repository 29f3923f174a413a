//! Typed steps, combinators, errors and workflow graphs of [waypost].
//!
//! This crate is runtime-agnostic: it defines what a workflow *is*. Depend on the
//! `waypost` facade, which re-exports everything here together with the runtime.
//!
//! [waypost]: https://docs.rs/waypost
#![doc(test(attr(deny(warnings))))]

pub mod activity;
pub mod address;
pub mod at_most_once;
pub mod boxed;
pub mod callback;
pub mod catch;
pub mod choice;
pub mod codec;
pub mod completion;
pub mod condition;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod context;
mod durable;
pub mod error;
pub mod export;
pub mod fail;
pub mod graph;
pub mod heartbeat;
pub mod history;
pub mod inspect;
pub mod map;
pub mod parallel;
pub mod pass;
pub mod pause;
pub mod race;
pub mod replay;
pub mod retry;
pub mod step;
pub mod step_ext;
pub mod step_fn;
pub mod store;
pub mod succeed;
pub mod task;
pub mod text;
pub mod then;
pub mod timeout;
pub mod wait;
pub mod workflow;

#[doc(hidden)]
pub mod private;

pub use address::Address;
pub use at_most_once::AtMostOnce;
pub use boxed::BoxStep;
pub use callback::{CallbackToken, WaitForCallback, wait_for_callback};
pub use catch::Catch;
pub use choice::{Choice, ChoiceStart, choice};
pub use codec::Codec;
pub use codec::per_state::WithCodec;
pub use completion::{CompletionReason, Counts, Outcome, Settled};
pub use condition::{Check, WaitForCondition, WaitStrategy, wait_for_condition};
pub use context::{Context, Host, Recorder, StepContext};
pub use error::{Error, ErrorKind, NamedError};
pub use fail::{Fail, FailWith, fail, fail_caught, fail_with};
pub use graph::{Graph, Node, NodeKind, PayloadType};
pub use heartbeat::HeartbeatTimeout;
pub use history::{Event, EventDetails, EventError, EventKind, HistoryLevel};
pub use map::{
    ItemReader, Map, MapItems, ParMap, ToleratedFailures, map, par_map, read_items, vec_items,
};
pub use parallel::{Parallel, parallel};
pub use pass::{Pass, pass};
pub use retry::{Jitter, Retry, RetryPolicy};
pub use step::{Payload, Step, SyncStep};
pub use step_ext::StepExt;
pub use step_fn::{StepFn, SyncStepFn, step_fn, sync_step_fn};
pub use store::{ExecutionStatus, Store, StoreError};
pub use succeed::{Succeed, succeed};
pub use then::Then;
pub use timeout::Timeout;
pub use wait::{Wait, WaitUntil, wait, wait_until, wait_until_input};
pub use workflow::{Workflow, WorkflowError};

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
