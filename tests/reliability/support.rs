//! Shared by the reliability tests: a store wrapper that injects faults and simulated
//! crashes, the stores to run over, and checks of what a store holds.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waypost::store::{
    Checkpoint, Claim, ClaimRequest, ExecutionRecord, Fence, Lease, LeaseToken, ListFilter,
    NewExecution, StoreError, StoreFuture, Write,
};
use waypost::{Durability, Event, MemoryStore, SqliteStore, SqliteStoreOptions, Store};

/// How long any single run may take before the test calls it a hang.
pub(crate) const HANG: Duration = Duration::from_secs(20);

/// Where an injected fault sits relative to the write it hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The caller gets an error and the write never reaches the store.
    Before,
    /// The write reaches the store, then the caller gets an error (a lost answer).
    After,
}

/// Which store calls a [`FaultStore`] fails.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    /// None.
    Healthy,
    /// Call `n` (1-based, every method counts) fails with `fault`; the others pass.
    Once { n: u64, fault: Fault },
    /// Call `n` fails with `fault`, and every call after it fails before its write.
    Onward { n: u64, fault: Fault },
    /// Each write (create, commit, lease calls) fails with this probability, before or
    /// after its write at even odds, drawn from a seeded generator.
    Rate { per_mille: u32, rng: fastrand::Rng },
    /// The process "dies" at call `n`: the call's write is applied or not, then it and
    /// every later call never return (a released lease is dropped silently), and
    /// [`Kill`] fires so the test drops the run.
    CrashAt { n: u64, applied: bool },
}

/// Fired when a run must be dropped: the simulated process died.
#[derive(Debug, Default)]
pub(crate) struct Kill {
    dead: AtomicBool,
    notify: tokio::sync::Notify,
}

impl Kill {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Kill::default())
    }

    pub(crate) fn fire(&self) {
        if !self.dead.swap(true, Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }

    async fn fired(&self) {
        self.notify.notified().await;
    }
}

/// How a run under test ended.
#[derive(Debug)]
pub(crate) enum Ended<T> {
    /// It returned.
    Returned(T),
    /// The simulated process died and the run was dropped.
    Killed,
}

/// Runs `run` until it returns or `kill` fires (then drops it).
///
/// # Panics
///
/// When it does neither within [`HANG`]: a fault made the run hang.
pub(crate) async fn run_or_kill<F: Future>(kill: &Kill, what: &str, run: F) -> Ended<F::Output> {
    let raced = async {
        tokio::select! {
            output = run => Ended::Returned(output),
            () = kill.fired() => Ended::Killed,
        }
    };
    match tokio::time::timeout(HANG, raced).await {
        Ok(ended) => ended,
        Err(_) => panic!("{what}: no answer within {HANG:?}: the run hangs"),
    }
}

/// What a call is, for the plan.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Read,
    Write,
    Release,
}

/// What happens to one call.
enum Decision {
    Pass,
    Fail(Fault),
    Die { applied: bool },
}

/// A [`Store`] over another that fails calls by a [`Plan`]. Counts calls and faults.
#[derive(Debug)]
pub(crate) struct FaultStore {
    inner: Arc<dyn Store>,
    plan: Mutex<Plan>,
    calls: AtomicU64,
    faults: AtomicU64,
    kill: Arc<Kill>,
}

impl FaultStore {
    pub(crate) fn new(inner: Arc<dyn Store>, plan: Plan) -> Arc<Self> {
        Self::with_kill(inner, plan, Kill::new())
    }

    pub(crate) fn with_kill(inner: Arc<dyn Store>, plan: Plan, kill: Arc<Kill>) -> Arc<Self> {
        Arc::new(FaultStore {
            inner,
            plan: Mutex::new(plan),
            calls: AtomicU64::new(0),
            faults: AtomicU64::new(0),
            kill,
        })
    }

    /// Store calls made so far.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Faults injected so far (a crash counts as one).
    pub(crate) fn faults(&self) -> u64 {
        self.faults.load(Ordering::SeqCst)
    }

    pub(crate) fn kill(&self) -> &Arc<Kill> {
        &self.kill
    }

    fn decide(&self, call: Call) -> Option<Decision> {
        if self.kill.is_dead() {
            return None;
        }
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mut plan = self.plan.lock().unwrap();
        let decision = match &mut *plan {
            Plan::Healthy => Decision::Pass,
            Plan::Once { n: at, fault } if n == *at => Decision::Fail(*fault),
            Plan::Once { .. } => Decision::Pass,
            Plan::Onward { n: at, fault } if n == *at => Decision::Fail(*fault),
            Plan::Onward { n: at, .. } if n > *at => Decision::Fail(Fault::Before),
            Plan::Onward { .. } => Decision::Pass,
            Plan::Rate { per_mille, rng } => {
                if call != Call::Read && rng.u32(..1000) < *per_mille {
                    Decision::Fail(if rng.bool() {
                        Fault::Before
                    } else {
                        Fault::After
                    })
                } else {
                    Decision::Pass
                }
            }
            Plan::CrashAt { n: at, applied } if n == *at => Decision::Die { applied: *applied },
            Plan::CrashAt { .. } => Decision::Pass,
        };
        if !matches!(decision, Decision::Pass) {
            self.faults.fetch_add(1, Ordering::SeqCst);
        }
        Some(decision)
    }

    /// Runs `call` on the inner store as the plan says.
    fn run<'a, T: Send + 'a>(
        &'a self,
        kind: Call,
        what: &'static str,
        call: impl Future<Output = Result<T, StoreError>> + Send + 'a,
    ) -> StoreFuture<'a, T> {
        let decision = self.decide(kind);
        Box::pin(async move {
            match decision {
                Some(Decision::Pass) => call.await,
                Some(Decision::Fail(fault)) => {
                    if fault == Fault::After && kind != Call::Read {
                        call.await?;
                    }
                    Err(injected(what, fault))
                }
                Some(Decision::Die { applied }) => {
                    if applied && kind != Call::Read {
                        let _ = call.await;
                    }
                    self.kill.fire();
                    futures::future::pending().await
                }
                // Dead: nothing more reaches the store. A lease release (which runs from
                // a drop) just ends, so it does not linger as a task.
                None if kind == Call::Release => Err(injected(what, Fault::Before)),
                None => futures::future::pending().await,
            }
        })
    }
}

fn injected(what: &str, fault: Fault) -> StoreError {
    StoreError::Backend {
        doing: what.to_owned(),
        message: match fault {
            Fault::Before => "injected fault (nothing written)".to_owned(),
            Fault::After => "injected fault (written, answer lost)".to_owned(),
        },
    }
}

impl Store for FaultStore {
    fn create(&self, new: NewExecution) -> StoreFuture<'_, (ExecutionRecord, bool)> {
        self.run(Call::Write, "creating", self.inner.create(new))
    }

    fn execution<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ExecutionRecord> {
        self.run(Call::Read, "reading", self.inner.execution(id))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Vec<ExecutionRecord>> {
        self.run(Call::Read, "listing", self.inner.list(filter))
    }

    fn checkpoints<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Checkpoint>> {
        self.run(
            Call::Read,
            "reading checkpoints",
            self.inner.checkpoints(id),
        )
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        self.run(Call::Read, "reading history", self.inner.history(id))
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        fence: Fence<'a>,
        writes: Vec<Write>,
    ) -> StoreFuture<'a, ()> {
        self.run(
            Call::Write,
            "committing",
            self.inner.commit(id, fence, writes),
        )
    }

    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        self.run(
            Call::Write,
            "acquiring a lease",
            self.inner.acquire_lease(id, owner, ttl),
        )
    }

    fn renew_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a LeaseToken,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        self.run(
            Call::Write,
            "renewing a lease",
            self.inner.renew_lease(id, token, ttl),
        )
    }

    fn release_lease<'a>(&'a self, id: &'a str, token: &'a LeaseToken) -> StoreFuture<'a, ()> {
        self.run(
            Call::Release,
            "releasing a lease",
            self.inner.release_lease(id, token),
        )
    }

    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> StoreFuture<'a, Vec<Claim>> {
        self.run(Call::Write, "claiming", self.inner.claim(request))
    }
}

/// A store the tests run over, and what keeps it alive.
pub(crate) struct TestStore {
    pub(crate) store: Arc<dyn Store>,
    sqlite: Option<SqliteStore>,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub(crate) fn memory() -> Self {
        TestStore {
            store: Arc::new(MemoryStore::new()),
            sqlite: None,
            _dir: None,
        }
    }

    /// A SQLite store in a fresh directory; `Durability::Os` keeps the many trials fast
    /// (a crash of the process, which is what these tests simulate, loses nothing).
    pub(crate) fn sqlite(durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waypost.db");
        let options = SqliteStoreOptions {
            durability,
            ..SqliteStoreOptions::default()
        };
        let sqlite = SqliteStore::open_with(&path, options).unwrap();
        TestStore {
            store: Arc::new(sqlite.clone()),
            sqlite: Some(sqlite),
            _dir: Some(dir),
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        if self.sqlite.is_some() {
            "sqlite"
        } else {
            "memory"
        }
    }

    /// Asserts that SQLite finds the file sound (nothing to check in memory).
    pub(crate) fn assert_integrity(&self, what: &str) {
        if let Some(sqlite) = &self.sqlite {
            assert_eq!(sqlite.integrity_check().unwrap(), "ok", "{what}");
        }
    }
}

/// Asserts that every checkpoint of `before` is still in `after`, with the same kind and
/// bytes: nothing committed was lost or overwritten.
pub(crate) fn assert_kept(before: &[Checkpoint], after: &[Checkpoint], what: &str) {
    for old in before {
        let new = after.iter().find(|c| c.key == old.key);
        match new {
            Some(new) => assert!(
                new.kind == old.kind && new.payload == old.payload && new.seq == old.seq,
                "{what}: checkpoint `{}` changed from {old:?} to {new:?}",
                old.key
            ),
            None => panic!("{what}: checkpoint `{}` was lost", old.key),
        }
    }
}

/// The checkpoints of `id`, or none when the execution does not exist (yet).
pub(crate) async fn checkpoints_of(store: &dyn Store, id: &str) -> Vec<Checkpoint> {
    match store.checkpoints(id).await {
        Ok(checkpoints) => checkpoints,
        Err(StoreError::NotFound { .. }) => Vec::new(),
        Err(error) => panic!("reading the checkpoints of `{id}`: {error}"),
    }
}

static PANICS: AtomicU64 = AtomicU64::new(0);

/// How many panics this test process has seen, on any thread (also the ones a step's
/// `catch_unwind` or a tokio task swallowed). Installs the counting hook on first use.
pub(crate) fn panics() -> u64 {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
    PANICS.load(Ordering::SeqCst)
}
