//! [`TokioHost`]: timers from tokio, CPU work on rayon.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use waypost_core::Host;

/// Timers on tokio (so tests can pause the clock) and CPU work on a rayon pool.
pub struct TokioHost {
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl TokioHost {
    /// Uses rayon's global pool.
    pub fn new() -> Self {
        TokioHost { pool: None }
    }

    /// Uses `pool` for CPU work.
    pub fn with_pool(pool: Arc<rayon::ThreadPool>) -> Self {
        TokioHost { pool: Some(pool) }
    }
}

impl Default for TokioHost {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TokioHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokioHost")
            .field("pool", &self.pool.as_ref().map(|p| p.current_num_threads()))
            .finish()
    }
}

impl Host for TokioHost {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        tokio::time::sleep(duration).boxed()
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        match &self.pool {
            Some(pool) => pool.spawn(job),
            None => rayon::spawn(job),
        }
    }
}
