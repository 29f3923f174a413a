//! Shared by the runtime tests: stores to run against, steps that count their runs,
//! and a host whose wall clock follows tokio's (paused) clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use waypost::prelude::*;
use waypost::{Host, MemoryStore, SqliteStore, Store};

/// A store to test against, with what keeps it alive.
pub(crate) struct TestStore {
    pub(crate) name: &'static str,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) path: Option<std::path::PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub(crate) fn memory() -> Self {
        TestStore {
            name: "memory",
            store: Arc::new(MemoryStore::new()),
            path: None,
            _dir: None,
        }
    }

    pub(crate) fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waypost.db");
        TestStore {
            name: "sqlite",
            store: Arc::new(SqliteStore::open(&path).unwrap()),
            path: Some(path),
            _dir: Some(dir),
        }
    }

    pub(crate) fn runtime(&self) -> Runtime {
        Runtime::builder()
            .shared_store(Arc::clone(&self.store))
            .build()
    }
}

/// Both stores.
pub(crate) fn stores() -> [TestStore; 2] {
    [TestStore::memory(), TestStore::sqlite()]
}

/// How many times each step ran.
#[derive(Clone, Default)]
pub(crate) struct Runs(Arc<Mutex<HashMap<String, u32>>>);

impl Runs {
    pub(crate) fn count(&self, name: &str) -> u32 {
        self.0.lock().unwrap().get(name).copied().unwrap_or(0)
    }

    pub(crate) fn bump(&self, name: &str) {
        *self.0.lock().unwrap().entry(name.to_owned()).or_default() += 1;
    }

    /// A step named `name` that adds `add` and counts its runs.
    pub(crate) fn step(
        &self,
        name: &'static str,
        add: u64,
    ) -> impl Step<Input = u64, Output = u64> {
        let runs = self.clone();
        step_fn(name, move |x: u64| {
            let runs = runs.clone();
            async move {
                runs.bump(name);
                Ok::<_, Error>(x + add)
            }
        })
    }
}

impl Runs {
    /// A step named `name` that counts its runs and takes `duration` (on tokio's clock).
    pub(crate) fn slow_step(
        &self,
        name: &'static str,
        duration: Duration,
    ) -> impl Step<Input = u64, Output = u64> {
        let runs = self.clone();
        step_fn(name, move |x: u64| {
            let runs = runs.clone();
            async move {
                runs.bump(name);
                tokio::time::sleep(duration).await;
                Ok::<_, Error>(x)
            }
        })
    }
}

/// A switch that a step waits on while it is on: lets a test interrupt an execution in
/// the middle of a chosen step.
#[derive(Clone, Default)]
pub(crate) struct Gate(Arc<AtomicBool>);

impl Gate {
    pub(crate) fn closed() -> Self {
        Gate(Arc::new(AtomicBool::new(true)))
    }

    pub(crate) fn open(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    /// Returns once the gate is open.
    pub(crate) async fn wait(&self) {
        while self.0.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A step named `name` that counts its runs and never finishes while the gate is
    /// closed.
    pub(crate) fn step(
        &self,
        name: &'static str,
        runs: &Runs,
    ) -> impl Step<Input = u64, Output = u64> {
        let (gate, runs) = (self.clone(), runs.clone());
        step_fn(name, move |x: u64| {
            let (gate, runs) = (gate.clone(), runs.clone());
            async move {
                runs.bump(name);
                gate.wait().await;
                Ok::<_, Error>(x)
            }
        })
    }
}

/// A host whose wall clock moves with tokio's clock, so that durable deadlines and
/// paused-clock sleeps agree.
#[derive(Debug)]
pub(crate) struct PausedClockHost {
    start_wall: SystemTime,
    start: tokio::time::Instant,
}

impl PausedClockHost {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(PausedClockHost {
            start_wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            start: tokio::time::Instant::now(),
        })
    }
}

impl Host for PausedClockHost {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }

    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        rayon::spawn(job);
    }

    fn now(&self) -> SystemTime {
        self.start_wall + self.start.elapsed()
    }
}

/// Runs `future` until `limit` passes, then drops it: an interruption at a chosen time.
pub(crate) async fn interrupt_after<F: std::future::Future>(limit: Duration, future: F) {
    let _ = tokio::time::timeout(limit, future).await;
}

/// Runs `future` until `reached` holds, then drops it: an interruption at a chosen
/// point of progress (not after a guessed time, which a loaded machine can miss).
///
/// # Panics
///
/// When `future` finishes before `reached` holds: the interruption point was wrong.
pub(crate) async fn interrupt_when<F: std::future::Future>(reached: impl Fn() -> bool, future: F) {
    let watch = async {
        while !reached() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        _ = future => panic!("the execution finished before the interruption point"),
        () = watch => {}
    }
}
