//! The workflows an embedded console knows the types of: it decodes their payloads
//! and can redrive their executions.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use waypost_core::Payload;
use waypost_core::Workflow;
use waypost_core::codec::{self, Codec};
use waypost_core::graph::Graph;
use waypost_runtime::{RunError, Runtime};

/// One registered workflow, its types erased.
pub(crate) trait Registered: Send + Sync {
    /// The workflow's graph, with each state's payload type.
    fn graph(&self) -> &Graph;
    /// Decodes the execution input.
    fn input(&self, codec: &dyn Codec, bytes: &[u8]) -> Result<Value, String>;
    /// Decodes the execution output.
    fn output(&self, codec: &dyn Codec, bytes: &[u8]) -> Result<Value, String>;
    /// Redrives the failed execution `id` to its end.
    fn redrive(&self, runtime: Runtime, id: String) -> BoxFuture<'static, Result<(), RunError>>;
}

struct Typed<I, O>(Workflow<I, O>);

impl<I: Payload, O: Payload> Registered for Typed<I, O> {
    fn graph(&self) -> &Graph {
        self.0.graph()
    }

    fn input(&self, codec: &dyn Codec, bytes: &[u8]) -> Result<Value, String> {
        let value: I = codec::decode(codec, bytes, "the input").map_err(|e| e.to_string())?;
        serde_json::to_value(value).map_err(|e| e.to_string())
    }

    fn output(&self, codec: &dyn Codec, bytes: &[u8]) -> Result<Value, String> {
        let value: O = codec::decode(codec, bytes, "the output").map_err(|e| e.to_string())?;
        serde_json::to_value(value).map_err(|e| e.to_string())
    }

    fn redrive(&self, runtime: Runtime, id: String) -> BoxFuture<'static, Result<(), RunError>> {
        let workflow = self.0.clone();
        Box::pin(async move { runtime.redrive(&workflow, &id).await.map(drop) })
    }
}

/// The registered workflows, by name and version.
#[derive(Clone, Default)]
pub(crate) struct Registry {
    workflows: HashMap<(String, u32), Arc<dyn Registered>>,
}

impl Registry {
    pub(crate) fn add<I: Payload, O: Payload>(&mut self, workflow: &Workflow<I, O>) {
        let key = (workflow.name().to_owned(), workflow.version());
        self.workflows
            .insert(key, Arc::new(Typed(workflow.clone())));
    }

    pub(crate) fn get(&self, name: &str, version: u32) -> Option<&Arc<dyn Registered>> {
        self.workflows.get(&(name.to_owned(), version))
    }

    /// Every registered (name, version), sorted.
    pub(crate) fn keys(&self) -> Vec<(String, u32)> {
        let mut keys: Vec<_> = self.workflows.keys().cloned().collect();
        keys.sort();
        keys
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys()).finish()
    }
}
