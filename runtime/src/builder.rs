//! [`RuntimeBuilder`]: how a [`Runtime`] is put together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use waypost_core::{Host, Store};

use crate::config::RuntimeConfig;
use crate::host::TokioHost;
use crate::liveness::process_id;
use crate::runtime::{Inner, Runtime};

/// Builds a [`Runtime`]; returned by [`Runtime::builder`].
#[derive(Debug, Default)]
#[must_use = "call `build` to get the runtime"]
pub struct RuntimeBuilder {
    host: Option<Arc<dyn Host>>,
    store: Option<Arc<dyn Store>>,
    config: RuntimeConfig,
}

impl RuntimeBuilder {
    /// Keeps executions in `store`, which makes them durable.
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Keeps executions in a shared `store`.
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Takes timers, the CPU pool and the clock from `host` (default: [`TokioHost`]).
    pub fn host(mut self, host: Arc<dyn Host>) -> Self {
        self.host = Some(host);
        self
    }

    /// Uses `config`.
    pub fn config(mut self, config: RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// The runtime.
    pub fn build(self) -> Runtime {
        Runtime {
            inner: Arc::new(Inner {
                host: self.host.unwrap_or_else(|| Arc::new(TokioHost::new())),
                store: self.store,
                config: self.config,
                process: process_id(),
                running: Mutex::new(HashMap::new()),
            }),
        }
    }
}
