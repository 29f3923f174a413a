//! [`RuntimeBuilder`]: how a [`Runtime`] is put together.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use waypost_core::{Host, Store};

use crate::config::RuntimeConfig;
use crate::hooks::{Hook, Hooks};
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
    hooks: Registered,
}

/// The hooks registered so far, in order.
#[derive(Default)]
struct Registered(Vec<Arc<dyn Hook>>);

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|hook| hook.name()))
            .finish()
    }
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

    /// Calls `hook` at the lifecycle events of this runtime's executions, after the
    /// hooks registered before it; see [`hooks`](crate::hooks).
    ///
    /// # Examples
    ///
    /// ```
    /// use waypost::prelude::*;
    /// use waypost::hooks::{Hook, HookEvent, HookResult};
    ///
    /// struct Quiet;
    /// impl Hook for Quiet {
    ///     fn execution_finished(&self, _: &HookEvent<'_>) -> HookResult { Ok(()) }
    /// }
    ///
    /// let runtime = Runtime::builder().hook(Quiet).build();
    /// assert!(format!("{runtime:?}").contains("Quiet"));
    /// ```
    pub fn hook(mut self, hook: impl Hook) -> Self {
        self.hooks.0.push(Arc::new(hook));
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
                hooks: Hooks::start(self.hooks.0),
            }),
        }
    }
}
