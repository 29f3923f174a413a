//! [`Console`]: what the console serves from, and how it is started.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use waypost_core::Payload;
use waypost_core::Workflow;
use waypost_core::store::Store;
use waypost_runtime::{RunError, Runtime};

use crate::registry::Registry;

/// The state every handler reads.
pub(crate) type AppState = Arc<Console>;

/// A web console over a runtime's store: the executions, their graphs, histories and
/// data, and actions on them (cancel, redrive).
///
/// Made over any [`Runtime`] with a store. Register the workflows whose code this
/// program has ([`register`](Self::register), as for a
/// [`Worker`](waypost_runtime::Worker)) and the console decodes their payloads (any
/// codec) and can redrive their failed executions; without them it shows JSON payloads
/// and the size of the others, and can cancel.
///
/// Actions are POST requests that carry the console's token ([`token`](Self::token)):
/// a browser gets it by opening [`login_path`](Self::login_path) once (a cookie that
/// other sites' pages cannot send), a script sends `Authorization: Bearer TOKEN`.
///
/// # Examples
///
/// ```
/// use waypost::prelude::*;
/// use waypost::MemoryStore;
/// use waypost_console::Console;
///
/// #[step]
/// fn greet(name: String) -> String { format!("hello {name}") }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let runtime = Runtime::builder().store(MemoryStore::new()).build();
/// let wf = Workflow::new("greet", 1, greet);
/// runtime.start(&wf, "g-1", "ada".to_owned()).await?;
///
/// let console = Console::new(runtime.clone())?.register(&wf);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let addr = listener.local_addr()?;
/// let server = tokio::spawn(console.serve(listener, std::future::pending()));
/// // Open http://{addr}/executions in a browser.
/// # let _ = addr;
/// server.abort();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Console {
    runtime: Runtime,
    store: Arc<dyn Store>,
    registry: Registry,
    token: Option<String>,
    source: String,
}

impl Console {
    /// A console over `runtime`'s store, with a fresh random token for actions.
    ///
    /// # Errors
    ///
    /// [`RunError::NoStore`] when `runtime` has no store: a console shows what a store
    /// holds.
    ///
    /// # Panics
    ///
    /// When the operating system gives no random bytes for the token.
    pub fn new(runtime: Runtime) -> Result<Self, RunError> {
        let store = runtime.shared_store().ok_or(RunError::NoStore)?;
        Ok(Console {
            runtime,
            store,
            registry: Registry::default(),
            token: Some(random_token()),
            source: String::from("store"),
        })
    }

    /// Knows `workflow`'s types: its payloads are decoded and its failed executions
    /// can be redriven.
    #[must_use]
    pub fn register<I: Payload, O: Payload>(mut self, workflow: &Workflow<I, O>) -> Self {
        self.registry.add(workflow);
        self
    }

    /// Uses `token` for actions instead of a random one.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Turns actions off: every page and read of the API, no cancel or redrive.
    #[must_use]
    pub fn read_only(mut self) -> Self {
        self.token = None;
        self
    }

    /// Names the store in the pages' header (such as its file or server).
    #[must_use]
    pub fn describe_store(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// The token actions need; `None` for a read-only console.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The path a browser opens once to be allowed actions (`/login?token=…`); `None`
    /// for a read-only console.
    pub fn login_path(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("/login?token={t}"))
    }

    /// The console's routes: its pages, the JSON API under `/api`, and its static
    /// files. Nest it or serve it with axum.
    pub fn router(self) -> Router {
        crate::routes::router(Arc::new(self))
    }

    /// Serves the console on `listener` until `shutdown` resolves.
    ///
    /// # Errors
    ///
    /// The server's I/O errors.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }

    /// Binds `addr` and serves the console in a task of its own; returns the address
    /// it listens on (useful with port 0).
    ///
    /// # Errors
    ///
    /// The address cannot be bound.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        tokio::spawn(async move {
            if let Err(error) = self.serve(listener, std::future::pending()).await {
                tracing::warn!(%error, "the console stopped");
            }
        });
        Ok(local)
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub(crate) fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("source", &self.source)
            .field("workflows", &self.registry)
            .field("read_only", &self.token.is_none())
            .finish_non_exhaustive()
    }
}

/// 128 random bits from the operating system, as 32 hex digits.
fn random_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
