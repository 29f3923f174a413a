//! Child workflows: a workflow used as a state of another ([`child`]) runs as an
//! execution of its own, as Step Functions' `StartExecution.sync` does.
//!
//! The child's id is its parent's id and the state's checkpoint key:
//! `{parent}/{key}` (`order-1/2.fulfil/0.payment`), so a resumed parent finds the same
//! child and never starts it twice. The parent records the child's id (`{key}~child`)
//! before submitting it, and the child records its parent (`~parent`): `waypost show`
//! and the console link them, and cancelling the parent cancels its children.
//!
//! Who runs the child: a parent run in place (`Runtime::start`) runs it in place too,
//! in the same process (concurrently inside a `map` or `parallel`). A parent run by a
//! [`Worker`](crate::Worker) submits the child and waits parked, holding no lease: any
//! worker that registered the child's workflow runs it, and the child's end wakes the
//! parent. A `map` over a child state so spreads its items over every worker, as Step
//! Functions' Distributed Map does.
//!
//! The child's output is the state's output; its error (named as the child failed) is
//! the state's error, for retry and catch.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::{MemoryStore, child};
//!
//! #[step]
//! async fn double(x: u64) -> u64 { 2 * x }
//! #[step]
//! async fn add_one(x: u64) -> u64 { x + 1 }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let doubler = Workflow::new("doubler", 1, double);
//! let parent = Workflow::new("parent", 1, add_one.then(child(&doubler)));
//! let runtime = Runtime::builder().store(MemoryStore::new()).build();
//! assert_eq!(runtime.start(&parent, "p-1", 20).await.unwrap(), 42);
//! // The child is an execution of its own.
//! let record = runtime.execution("p-1/1.doubler").await.unwrap();
//! assert_eq!((record.workflow.as_str(), record.status.as_str()), ("doubler", "succeeded"));
//! # }
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use waypost_core::graph::{Describe, NodeKind, RESOURCE};
use waypost_core::inspect::{CHILD_SUFFIX, Family, PARENT_KEY, ParentLink};
use waypost_core::replay::checksum;
use waypost_core::store::{Checkpoint, CheckpointKind, Fence, Write};
use waypost_core::{
    Context, Error, ErrorKind, EventDetails, EventKind, Payload, Step, StoreError, Workflow, task,
};

use crate::error::RunError;
use crate::ids::millis;
use crate::recorder::StoreRecorder;
use crate::runtime::Runtime;

/// A state that runs `workflow` as a child execution; see the [module docs](self).
pub fn child<I: Payload, O: Payload>(workflow: &Workflow<I, O>) -> Child<I, O> {
    Child {
        workflow: workflow.clone(),
    }
}

/// Step returned by [`child`].
#[must_use = "steps do nothing until a runtime runs them"]
pub struct Child<I, O> {
    workflow: Workflow<I, O>,
}

impl<I, O> fmt::Debug for Child<I, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("workflow", &self.workflow.name())
            .field("version", &self.workflow.version())
            .finish()
    }
}

/// The child's id of the state at `key` in the execution `parent`.
pub(crate) fn child_id(parent: &str, key: &str) -> String {
    format!("{parent}/{key}")
}

/// Where a parent records the id of the child of its state at `key`.
pub(crate) fn child_key(key: &str) -> String {
    format!("{key}{CHILD_SUFFIX}")
}

/// Where a child's end is noted in its parent: what wakes the parked parent.
fn done_key(key: &str) -> String {
    format!("{key}~child~done")
}

/// How often a parent run in place looks whether its child ended, at most.
const LOOK: Duration = Duration::from_millis(500);

impl<I: Payload, O: Payload> Step for Child<I, O> {
    type Input = I;
    type Output = O;

    fn name(&self) -> &str {
        self.workflow.name()
    }

    async fn run(&self, cx: &Context, input: I) -> Result<O, Error> {
        let name = self.workflow.name();
        let key = cx.key(name);
        let address = cx.address(name);
        if let Some(result) = task::replayed(cx, &key) {
            return result;
        }
        let Some(recorder) = cx
            .recorder()
            .and_then(|r| r.services())
            .and_then(|s| s.downcast_ref::<StoreRecorder>())
        else {
            return Err(Error::runtime(format!(
                "child state `{address}` of execution `{}` runs workflow `{name}` as an \
                 execution of its own, which needs a store: run the parent with a durable \
                 runtime (`Runtime::builder().store(..)`)",
                cx.execution_id()
            )));
        };
        let id = child_id(cx.execution_id(), &key);
        let parent_recorder = cx.recorder().expect("a recorder");
        // The child's id first: a resumed parent, and a cancel, find it.
        parent_recorder
            .record(vec![(
                child_key(&key),
                CheckpointKind::Decision,
                id.clone().into_bytes(),
            )])
            .await?;
        let details = EventDetails {
            child: Some(id.clone()),
            ..EventDetails::default()
        };
        cx.emit(
            EventKind::ChildExecutionStarted,
            address.as_str(),
            None,
            details.clone(),
        );
        let result = self.wait(cx, recorder, &id, &key, input).await;
        let result = match result {
            Ok(output) => Ok(output),
            Err(RunError::Failed { error, .. }) => Err(error),
            Err(RunError::Cancelled { id }) => Err(Error::with_kind(
                ErrorKind::Cancelled,
                waypost_core::error::names::CANCELLED,
                format!("child execution `{id}` was cancelled"),
            )),
            // The store, a lease, a codec: not the child's outcome; the parent stops and
            // stays resumable.
            Err(other) => {
                return Err(Error::runtime(format!(
                    "child state `{address}` could not run execution `{id}`: {other}"
                )));
            }
        };
        cx.emit(
            EventKind::ChildExecutionFinished,
            address.as_str(),
            None,
            match &result {
                Ok(_) => details,
                Err(error) => EventDetails {
                    child: Some(id.clone()),
                    ..EventDetails::error(error)
                },
            },
        );
        task::record(cx, key, address.as_str(), result).await
    }

    fn describe(&self, graph: &mut Describe<'_>) {
        let name = self.workflow.name();
        graph.leaf(NodeKind::Task, name).detail(
            RESOURCE,
            format!("waypost:execution:{name}:{}.sync", self.workflow.version()),
        );
    }
}

impl<I: Payload, O: Payload> Child<I, O> {
    /// Submits the child (once: a resumed parent finds it) and waits for its end.
    async fn wait(
        &self,
        cx: &Context,
        recorder: &StoreRecorder,
        id: &str,
        key: &str,
        input: I,
    ) -> Result<O, RunError> {
        let runtime = recorder.runtime();
        let handle = runtime.submit(&self.workflow, id, input.clone()).await?;
        link(recorder, id, key).await?;
        if !recorder.in_worker() {
            // Run in place: in this process, as the parent is.
            let _busy = cx.busy();
            return runtime.start(&self.workflow, id, input).await;
        }
        // A worker's parent waits parked; the child's end wakes it.
        let mut look = Duration::from_millis(20);
        loop {
            if handle.status().await?.is_finished() {
                return handle.output().await;
            }
            let _waiting = recorder.activity_now().timer(u64::MAX);
            tokio::time::sleep(look).await;
            look = (look * 2).min(LOOK);
        }
    }
}

/// Records in the child `id` that its parent is the execution of `recorder`, at `key`.
async fn link(recorder: &StoreRecorder, id: &str, key: &str) -> Result<(), RunError> {
    let parent = ParentLink {
        id: recorder.id().to_owned(),
        key: key.to_owned(),
    };
    let payload = serde_json::to_vec(&parent).expect("a parent is JSON");
    let write = Write::Checkpoint(Checkpoint {
        seq: 0,
        key: PARENT_KEY.to_owned(),
        kind: CheckpointKind::Decision,
        checksum: checksum(&payload),
        payload,
    });
    match recorder
        .store()
        .commit(id, Fence::Unleased, vec![write])
        .await
    {
        // Written now or before (the same bytes); or the child has already ended.
        Ok(()) | Err(StoreError::NotRunning { .. }) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Wakes the parent of the execution `id` that just ended, if it has one: notes the
/// end in the parent (so that a parent parking at that moment sees it) and makes the
/// parent due now. Only ids with a `/` can be children, so other executions cost
/// nothing here.
pub(crate) async fn wake_parent(runtime: &Runtime, id: &str) {
    if !id.contains('/') {
        return;
    }
    let Ok(store) = runtime.store() else { return };
    let Ok(checkpoints) = store.checkpoints(id).await else {
        return;
    };
    let Some(parent) = Family::of(&checkpoints).parent else {
        return;
    };
    let payload = b"done".to_vec();
    let writes = vec![
        Write::Checkpoint(Checkpoint {
            seq: 0,
            key: done_key(&parent.key),
            kind: CheckpointKind::Decision,
            checksum: checksum(&payload),
            payload,
        }),
        Write::Park {
            wake_at_ms: millis(SystemTime::now()),
        },
    ];
    match store.commit(&parent.id, Fence::Unleased, writes).await {
        Ok(()) | Err(StoreError::NotRunning { .. } | StoreError::NotFound { .. }) => {}
        Err(error) => {
            tracing::warn!(execution_id = %id, parent = %parent.id, %error, "could not wake the parent execution");
        }
    }
}

/// The children the execution `id` started: their ids, from its `{key}~child` records.
pub(crate) async fn children(runtime: &Runtime, id: &str) -> Result<Vec<String>, RunError> {
    let store = runtime.store()?;
    Ok(Family::of(&store.checkpoints(id).await?).children)
}
