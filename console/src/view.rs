//! What the console shows of an execution, read once from the store: its record,
//! graph, history and checkpoints, and what they say state by state. The pages and the
//! JSON API are both made from it.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use waypost_core::export::StateStatus;
use waypost_core::graph::{Graph, Node, NodeKind, PayloadType};
use waypost_core::history::{Event, EventError, EventKind};
use waypost_core::inspect::{Addresses, States};
use waypost_core::store::{Checkpoint, CheckpointKind, ExecutionRecord, ExecutionStatus};
use waypost_runtime::codec_named;

use crate::console::AppState;
use crate::error::ConsoleError;
use crate::registry::Registered;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Payloads larger than this are not decoded (their size is shown).
const MAX_DECODED: usize = 8 << 20;

/// One row of the executions table (and of `/api/executions`).
#[derive(Debug, Serialize)]
pub(crate) struct Summary {
    pub(crate) id: String,
    pub(crate) workflow: String,
    pub(crate) version: u32,
    #[serde(serialize_with = "execution_status_name")]
    pub(crate) status: ExecutionStatus,
    /// The status in words: "running (waiting for a worker)", …
    pub(crate) status_text: String,
    pub(crate) started_ms: u64,
    /// When it ended (its last status change), for a finished execution.
    pub(crate) ended_ms: Option<u64>,
    /// From start to end, or to now while it runs.
    pub(crate) duration_ms: u64,
    pub(crate) redrives: u32,
    pub(crate) recoveries: u32,
    pub(crate) codec: String,
}

impl Summary {
    pub(crate) fn of(record: &ExecutionRecord, now: u64) -> Self {
        let ended_ms = record.status.is_finished().then_some(record.updated_ms);
        Summary {
            id: record.id.clone(),
            workflow: record.workflow.clone(),
            version: record.version,
            status: record.status,
            status_text: waypost_core::inspect::status(record, now),
            started_ms: record.created_ms,
            ended_ms,
            duration_ms: ended_ms.unwrap_or(now).saturating_sub(record.created_ms),
            redrives: record.redrives,
            recoveries: record.recoveries,
            codec: record.codec.clone(),
        }
    }
}

/// A stored value, as the console shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct PayloadView {
    /// The codec that wrote it.
    pub(crate) codec: String,
    /// Its size in bytes.
    pub(crate) bytes: usize,
    /// The value as JSON, when it could be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<Value>,
    /// Why it could not be decoded (a corrupt payload, a missing type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
}

/// An error with its cause chain, as the console shows it.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ErrorView {
    pub(crate) name: String,
    pub(crate) message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cause: Option<Box<ErrorView>>,
}

impl From<&EventError> for ErrorView {
    fn from(error: &EventError) -> Self {
        ErrorView {
            name: error.name.clone(),
            message: error.message.clone(),
            address: error.address.clone(),
            cause: error.cause.as_deref().map(|c| Box::new(ErrorView::from(c))),
        }
    }
}

impl From<&waypost_core::Error> for ErrorView {
    fn from(error: &waypost_core::Error) -> Self {
        ErrorView::from(&EventError::from(error))
    }
}

/// One state of the graph in one execution.
#[derive(Debug, Serialize)]
pub(crate) struct StateView {
    pub(crate) address: String,
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    #[serde(serialize_with = "status_name")]
    pub(crate) status: StateStatus,
    /// Attempts started (re-runs after a crash included).
    pub(crate) attempts: u64,
    /// Retries scheduled.
    pub(crate) retries: u64,
    /// Runs interrupted by a crash and run again.
    pub(crate) reruns: u64,
    /// The total time of its attempts that ended.
    pub(crate) duration_ms: u64,
    /// Its input: the output of the state before it, or the input of what it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) input: Option<PayloadView>,
    /// Its stored output (for a state inside a map: its last item's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output: Option<PayloadView>,
    /// Outputs stored for it (one per item inside a map).
    pub(crate) outputs: usize,
    /// Its last error, if an attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<ErrorView>,
}

fn execution_status_name<S: serde::Serializer>(
    status: &ExecutionStatus,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.as_str())
}

fn status_name<S: serde::Serializer>(status: &StateStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(crate::pages::status_class(*status))
}

/// The progress of one map.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub(crate) struct MapView {
    /// Its run-time address.
    pub(crate) address: String,
    pub(crate) name: String,
    /// Items in all (`None`: read lazily, not known yet).
    pub(crate) total: Option<u64>,
    pub(crate) done: u64,
    pub(crate) failed: u64,
    /// Items an earlier run had committed when it resumed.
    pub(crate) committed_before: u64,
    pub(crate) finished: bool,
}

/// One bar of the timeline: an attempt of a step, a timer, a map.
#[derive(Debug, Serialize)]
pub(crate) struct Bar {
    pub(crate) address: String,
    pub(crate) name: String,
    pub(crate) attempt: u32,
    pub(crate) kind: &'static str,
    pub(crate) start_ms: u64,
    /// `None` while it runs (or when the run was interrupted).
    pub(crate) end_ms: Option<u64>,
    pub(crate) outcome: &'static str,
}

/// Everything stored of one execution.
pub(crate) struct ExecutionData {
    pub(crate) record: ExecutionRecord,
    /// The graph stored with it (what ran), or why it cannot be read.
    pub(crate) graph: Result<Graph, String>,
    /// The registered workflow of its name and version (embedded console).
    pub(crate) typed: Option<Arc<dyn Registered>>,
    pub(crate) history: Vec<Event>,
    pub(crate) checkpoints: Vec<Checkpoint>,
}

impl ExecutionData {
    /// Reads the execution `id`.
    pub(crate) async fn load(app: &AppState, id: &str) -> Result<Self, ConsoleError> {
        Self::read(app, id, true).await
    }

    /// Reads the execution `id` but not its checkpoints (for its statuses and
    /// progress, which come from the history).
    pub(crate) async fn load_without_checkpoints(
        app: &AppState,
        id: &str,
    ) -> Result<Self, ConsoleError> {
        Self::read(app, id, false).await
    }

    async fn read(app: &AppState, id: &str, checkpoints: bool) -> Result<Self, ConsoleError> {
        let store = app.store();
        let record = store.execution(id).await?;
        let history = store.history(id).await?;
        let checkpoints = if checkpoints {
            store.checkpoints(id).await?
        } else {
            Vec::new()
        };
        let graph = serde_json::from_str::<Graph>(&record.graph)
            .map_err(|e| format!("the stored graph cannot be read: {e}"));
        let typed = app
            .registry()
            .get(&record.workflow, record.version)
            .cloned();
        Ok(ExecutionData {
            record,
            graph,
            typed,
            history,
            checkpoints,
        })
    }

    /// Each state's status, when the graph could be read.
    pub(crate) fn states(&self) -> Option<States> {
        let graph = self.graph.as_ref().ok()?;
        Some(States::of(graph, &self.record, &self.history))
    }

    /// The execution input.
    pub(crate) fn input(&self) -> PayloadView {
        let typed = self.typed.clone();
        self.payload(&self.record.input, |codec, bytes| {
            typed.map(|t| t.input(codec, bytes))
        })
    }

    /// The execution output, once it succeeded.
    pub(crate) fn output(&self) -> Option<PayloadView> {
        let typed = self.typed.clone();
        self.record
            .output
            .as_ref()
            .map(|bytes| self.payload(bytes, |codec, bytes| typed.map(|t| t.output(codec, bytes))))
    }

    /// `bytes` shown: JSON as it is, other codecs decoded by `typed` when it can.
    fn payload(
        &self,
        bytes: &[u8],
        typed: impl FnOnce(&dyn waypost_core::Codec, &[u8]) -> Option<Result<Value, String>>,
    ) -> PayloadView {
        self.payload_in(&self.record.codec, bytes, typed)
    }

    /// `bytes` written by the codec named `codec` shown: JSON as it is, a raw byte
    /// string by its size, other codecs decoded by `typed` when it can.
    fn payload_in(
        &self,
        codec: &str,
        bytes: &[u8],
        typed: impl FnOnce(&dyn waypost_core::Codec, &[u8]) -> Option<Result<Value, String>>,
    ) -> PayloadView {
        let decoded = if bytes.len() > MAX_DECODED {
            Some(Err(format!(
                "not decoded: over the {} MiB the console decodes",
                MAX_DECODED >> 20
            )))
        } else if codec == "json" {
            Some(serde_json::from_slice::<Value>(bytes).map_err(|e| format!("invalid JSON: {e}")))
        } else if codec == "raw" {
            Some(Err("a raw byte string, shown by its size".to_owned()))
        } else {
            match codec_named(codec) {
                Some(found) => typed(&*found, bytes),
                None => Some(Err(format!("unknown codec `{codec}`"))),
            }
        };
        let (value, problem) = match decoded {
            Some(Ok(value)) => (Some(value), None),
            Some(Err(problem)) => (None, Some(problem)),
            None => (
                None,
                Some(format!(
                    "{codec} payloads are decoded by a console that knows the workflow's \
                     types (embedded in its program)"
                )),
            ),
        };
        PayloadView {
            codec: codec.to_owned(),
            bytes: bytes.len(),
            value,
            problem,
        }
    }

    /// A checkpoint's payload, decoded as the output of its state when its type is
    /// known; a payload that does not match its checksum is not decoded.
    fn state_payload(
        &self,
        checkpoint: &Checkpoint,
        output_type: Option<PayloadType>,
    ) -> PayloadView {
        if waypost_core::replay::checksum(&checkpoint.payload) != checkpoint.checksum {
            return PayloadView {
                codec: self.record.codec.clone(),
                bytes: checkpoint.payload.len(),
                value: None,
                problem: Some(format!(
                    "checkpoint `{}` does not match its checksum: the stored bytes are damaged",
                    checkpoint.key
                )),
            };
        }
        // A state with its own codec recorded its name beside its output.
        let codec_key = format!(
            "{}{}",
            checkpoint.key,
            waypost_core::codec::per_state::CODEC_SUFFIX
        );
        let codec = self
            .checkpoints
            .iter()
            .find(|c| c.key == codec_key && c.kind == CheckpointKind::Decision)
            .and_then(|c| std::str::from_utf8(&c.payload).ok())
            .unwrap_or(&self.record.codec);
        self.payload_in(codec, &checkpoint.payload, |codec, bytes| {
            output_type.map(|t| {
                let mut value = Err("nothing decoded".to_owned());
                t.decode_with(codec, bytes, &mut |v| {
                    value = serde_json::to_value(v).map_err(|e| e.to_string());
                })
                .map_err(|e| e.to_string())
                .and(value)
            })
        })
    }

    /// The output type of each state of the registered workflow, by address.
    fn output_types(&self) -> HashMap<String, PayloadType> {
        self.typed
            .as_ref()
            .map(|t| {
                t.graph()
                    .nodes()
                    .iter()
                    .filter_map(|n| Some((n.address.to_string(), n.output_type?)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every state of the stored graph, in its flat order, with what it did.
    pub(crate) fn state_views(&self) -> Vec<StateView> {
        let Ok(graph) = &self.graph else {
            return Vec::new();
        };
        let states = States::of(graph, &self.record, &self.history);
        let addresses = Addresses::of(graph);
        let types = self.output_types();

        // The last output stored for each state, and how many.
        let mut outputs: HashMap<String, (&Checkpoint, usize)> = HashMap::new();
        for checkpoint in &self.checkpoints {
            if checkpoint.kind != CheckpointKind::Output {
                continue;
            }
            let raw = checkpoint
                .key
                .split(['#', '~'])
                .next()
                .unwrap_or(&checkpoint.key);
            let entry = outputs
                .entry(addresses.normalize(raw))
                .or_insert((checkpoint, 0));
            entry.0 = checkpoint;
            entry.1 += 1;
        }
        let mut activity: HashMap<String, Activity> = HashMap::new();
        for event in &self.history {
            let entry = activity
                .entry(addresses.normalize(&event.address))
                .or_default();
            match event.kind {
                EventKind::StepStarted => {
                    entry.attempts += 1;
                    if event.details.run.is_some_and(|r| r > 1) {
                        entry.reruns += 1;
                    }
                }
                EventKind::RetryScheduled => entry.retries += 1,
                EventKind::StepSucceeded | EventKind::StepFailed => {
                    entry.duration_ms += event.duration_ms.unwrap_or(0);
                    if let Some(error) = &event.details.error {
                        entry.error = Some(ErrorView::from(error));
                    }
                }
                _ => {}
            }
        }
        let inputs = self.inputs(graph, &outputs);

        graph
            .nodes()
            .iter()
            .map(|node| {
                let address = node.address.to_string();
                let done = activity.remove(&address).unwrap_or_default();
                let (output, count) = match outputs.get(&address) {
                    Some((checkpoint, count)) => (
                        Some(self.state_payload(checkpoint, types.get(&address).copied())),
                        *count,
                    ),
                    None => (None, 0),
                };
                StateView {
                    name: node.name.clone(),
                    kind: node.kind,
                    status: states.status(node),
                    attempts: done.attempts,
                    retries: done.retries,
                    reruns: done.reruns,
                    duration_ms: done.duration_ms,
                    input: inputs.get(&address).cloned(),
                    output,
                    outputs: count,
                    error: done.error,
                    address,
                }
            })
            .collect()
    }

    /// The input of each state that has a known one: the execution input for the
    /// first state, the output of the state before it in its sequence for the others,
    /// and a container's input for the first state of each of its branches (not for a
    /// map's item branch, whose input is one item).
    fn inputs(
        &self,
        graph: &Graph,
        outputs: &HashMap<String, (&Checkpoint, usize)>,
    ) -> HashMap<String, PayloadView> {
        let types = self.output_types();
        let mut inputs = HashMap::new();
        let first = self.input();
        walk(graph.states(), Some(first), &mut |node, input| {
            if let Some(input) = input {
                inputs.insert(node.address.to_string(), input);
            }
            outputs.get(node.address.as_str()).map(|(checkpoint, _)| {
                self.state_payload(checkpoint, types.get(node.address.as_str()).copied())
            })
        });
        inputs
    }

    /// The map progress of every map that started, in the order they started.
    pub(crate) fn maps(&self) -> Vec<MapView> {
        let addresses = self.graph.as_ref().ok().map(Addresses::of);
        let mut maps: Vec<MapView> = Vec::new();
        for event in &self.history {
            match event.kind {
                EventKind::MapStarted => {
                    maps.retain(|m| m.address != event.address);
                    maps.push(MapView {
                        name: addresses
                            .as_ref()
                            .map_or_else(|| event.address.clone(), |a| a.name_of(&event.address)),
                        address: event.address.clone(),
                        total: event.details.items,
                        done: event.details.committed.unwrap_or(0),
                        failed: 0,
                        committed_before: event.details.committed.unwrap_or(0),
                        finished: false,
                    });
                }
                EventKind::MapItemFinished => {
                    if let Some((map, _)) = event.address.rsplit_once('/')
                        && let Some(entry) = maps.iter_mut().rev().find(|m| m.address == map)
                    {
                        entry.done += 1;
                        if event.details.error.is_some() {
                            entry.failed += 1;
                        }
                    }
                }
                EventKind::MapFinished => {
                    if let Some(entry) = maps.iter_mut().rev().find(|m| m.address == event.address)
                    {
                        entry.finished = true;
                        if let Some(items) = event.details.items {
                            entry.done = items;
                            entry.total.get_or_insert(items);
                        }
                        if let Some(failed) = event.details.failed {
                            entry.failed = failed;
                        }
                    }
                }
                _ => {}
            }
        }
        maps
    }

    /// The timeline: a bar per step attempt, timer and map, in the order they started.
    pub(crate) fn bars(&self) -> Vec<Bar> {
        let addresses = self.graph.as_ref().ok().map(Addresses::of);
        let name = |address: &str| {
            addresses
                .as_ref()
                .map_or_else(|| address.to_owned(), |a| a.name_of(address))
        };
        let mut bars: Vec<Bar> = Vec::new();
        // Open bars by (address, attempt, kind).
        let mut open: HashMap<(String, u32, &'static str), usize> = HashMap::new();
        for event in &self.history {
            let (kind, starts, outcome) = match event.kind {
                EventKind::StepStarted => ("step", true, "running"),
                EventKind::StepSucceeded => ("step", false, "succeeded"),
                EventKind::StepFailed => ("step", false, "failed"),
                EventKind::TimerStarted => ("timer", true, "running"),
                EventKind::TimerFired => ("timer", false, "succeeded"),
                EventKind::MapStarted => ("map", true, "running"),
                EventKind::MapFinished => ("map", false, "succeeded"),
                _ => continue,
            };
            let key = (event.address.clone(), event.attempt, kind);
            if starts {
                if let Some(i) = open.insert(key, bars.len()) {
                    bars[i].outcome = "interrupted";
                }
                bars.push(Bar {
                    name: name(&event.address),
                    address: event.address.clone(),
                    attempt: event.attempt,
                    kind,
                    start_ms: event.at_ms,
                    end_ms: None,
                    outcome,
                });
            } else if let Some(i) = open.remove(&key) {
                bars[i].end_ms = Some(event.at_ms);
                bars[i].outcome = outcome;
            } else {
                // The start was not recorded (history level, or before a redrive).
                let start = event.at_ms.saturating_sub(event.duration_ms.unwrap_or(0));
                bars.push(Bar {
                    name: name(&event.address),
                    address: event.address.clone(),
                    attempt: event.attempt,
                    kind,
                    start_ms: start,
                    end_ms: Some(event.at_ms),
                    outcome,
                });
            }
        }
        if self.record.status.is_finished() {
            for bar in &mut bars {
                if bar.end_ms.is_none() {
                    bar.outcome = "interrupted";
                }
            }
        }
        bars
    }
}

#[derive(Default)]
struct Activity {
    attempts: u64,
    retries: u64,
    reruns: u64,
    duration_ms: u64,
    error: Option<ErrorView>,
}

/// Walks the states of a sequence in order, handing each its input (`None`: not
/// known) and threading each state's output (from `visit`) into the next.
fn walk(
    states: &[Node],
    mut input: Option<PayloadView>,
    visit: &mut dyn FnMut(&Node, Option<PayloadView>) -> Option<PayloadView>,
) {
    for node in states {
        let output = visit(node, input.clone());
        for branch in &node.branches {
            let branch_input = if node.kind == NodeKind::Map {
                None
            } else {
                input.clone()
            };
            walk(&branch.states, branch_input, visit);
        }
        for catch in &node.catch {
            walk(&catch.handler, None, visit);
        }
        input = output;
    }
}
