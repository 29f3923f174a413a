//! Sync steps (plain `fn`s) run on the runtime's CPU pool, never on an async thread:
//! parallel sync branches overlap, a timeout fires while a sync step works (and its late
//! result is ignored), a lease is renewed during a long sync step, and the step context,
//! panics and the position of a sync step in the workflow work as before.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use waypost::error::names;
use waypost::prelude::*;
use waypost::{EventKind, Host, MemoryStore, Payload, RuntimeConfig, Store, StoreError, TokioHost};

/// A rayon pool of `threads` threads, for one test's runtime: tests running at the same
/// time do not compete for rayon's global pool.
fn pool(threads: usize) -> Arc<rayon::ThreadPool> {
    Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a rayon pool"),
    )
}

/// A host whose CPU pool is `pool`.
fn host(pool: &Arc<rayon::ThreadPool>) -> Arc<dyn Host> {
    Arc::new(TokioHost::with_pool(Arc::clone(pool)))
}

/// Whether the calling thread belongs to a rayon pool.
fn on_pool() -> bool {
    rayon::current_thread_index().is_some()
}

#[step]
fn slow_increment(x: u32) -> u32 {
    thread::sleep(Duration::from_millis(500));
    x + 1
}

#[step]
fn slow_double(x: u32) -> u32 {
    thread::sleep(Duration::from_millis(500));
    x * 2
}

#[tokio::test]
async fn sync_branches_of_a_parallel_run_at_the_same_time() {
    let runtime = Runtime::with_host(host(&pool(2)));
    let wf = Workflow::new("both", 1, parallel((slow_increment, slow_double)));
    let started = Instant::now();
    assert_eq!(runtime.run(&wf, 10).await.unwrap(), (11, 20));
    let took = started.elapsed();
    // Side by side: about 0.5 s; one after the other on the async thread: 1.0 s.
    assert!(
        took < Duration::from_millis(800),
        "two 500 ms sync branches took {took:?}: they ran one after the other"
    );
}

#[step]
async fn fallback((_x, _error): (u32, Error)) -> u32 {
    0
}

#[tokio::test]
async fn a_timeout_fires_during_a_sync_step_and_the_abandoned_call_is_ignored() {
    // The step works for 2 s, unless the test lets it go earlier.
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let (returned, returns) = mpsc::channel::<bool>();
    let stuck = sync_step_fn("stuck", move |x: u32| {
        let let_go = released
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(2))
            .is_ok();
        returned.send(let_go).unwrap();
        Ok::<_, Error>(x + 1)
    });
    // One pool thread: the abandoned call holds it until it returns.
    let pool = pool(1);
    let store = MemoryStore::new();
    let runtime = Runtime::builder()
        .host(host(&pool))
        .store(store.clone())
        .build();
    let wf = Workflow::new(
        "impatient",
        1,
        stuck
            .timeout(Duration::from_millis(100))
            .catch([names::TIMEOUT], fallback),
    );

    let started = Instant::now();
    let out = runtime.start(&wf, "impatient-1", 5).await.unwrap();
    let took = started.elapsed();
    assert_eq!(out, 0, "the catch handler's output, not the step's");
    assert!(
        took < Duration::from_secs(1),
        "a 100 ms timeout on a 2 s sync step fired after {took:?}"
    );
    let history = runtime.history("impatient-1").await.unwrap();
    let checkpoints = store.checkpoints("impatient-1").await.unwrap();
    let failed = history
        .iter()
        .find(|e| e.kind == EventKind::StepFailed && e.address.ends_with("stuck"))
        .expect("the timed-out step failed in the history");
    assert_eq!(failed.details.error.as_ref().unwrap().name, names::TIMEOUT);

    // The call goes on after the timeout: let it return, and wait until its job ended.
    release.send(()).unwrap();
    assert!(
        returns.recv_timeout(Duration::from_secs(5)).unwrap(),
        "the call was still running when the test let it go"
    );
    tokio::task::spawn_blocking(move || pool.install(|| ()))
        .await
        .unwrap();

    // Its result went nowhere: no new event, no new checkpoint, the same output.
    assert_eq!(runtime.history("impatient-1").await.unwrap(), history);
    assert!(
        !history
            .iter()
            .any(|e| e.kind == EventKind::StepSucceeded && e.address.ends_with("stuck")),
        "{history:#?}"
    );
    assert_eq!(
        store.checkpoints("impatient-1").await.unwrap().len(),
        checkpoints.len()
    );
    assert_eq!(runtime.output::<u32>("impatient-1").await.unwrap(), Some(0));
}

/// How long a lease lasts in the lease test; the sync step runs for many of them.
const TTL: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "current_thread")]
async fn the_lease_is_renewed_while_a_sync_step_runs() {
    // The step tells the rival when it starts, and works until the rival is done
    // trying to take the execution over (10 s at most).
    let (started, starts) = mpsc::channel::<()>();
    let (rival_done, rival_finished) = mpsc::channel::<()>();
    let rival_finished = Mutex::new(rival_finished);
    let runs = Arc::new(AtomicU32::new(0));
    let step_runs = Arc::clone(&runs);
    let long = sync_step_fn("long", move |x: u32| {
        if step_runs.fetch_add(1, Ordering::SeqCst) == 0 {
            started.send(()).unwrap();
            let waited = rival_finished
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(10));
            if waited.is_err() {
                return Err(Error::new("Test", "the rival never finished"));
            }
        }
        Ok::<_, Error>(x + 1)
    });
    let wf = Workflow::new("long", 1, long);

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let config = RuntimeConfig::builder().lease_ttl(TTL).build();
    let owner = Runtime::builder()
        .shared_store(Arc::clone(&store))
        .config(config.clone())
        .build();
    let rival = Runtime::builder()
        .shared_store(Arc::clone(&store))
        .config(config)
        .build();

    // The rival runs on a thread and tokio runtime of its own: the owner's only async
    // thread is this test's, which a sync step run inline would block.
    let rival_wf = wf.clone();
    let attempts = thread::spawn(move || {
        starts
            .recv_timeout(Duration::from_secs(10))
            .expect("the step started");
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let since = Instant::now();
        let mut attempts = Vec::new();
        // Six ttls: an unrenewed lease would have run out several times over.
        while since.elapsed() < 6 * TTL {
            attempts.push(tokio.block_on(rival.resume(&rival_wf, "long-1")));
            thread::sleep(TTL / 3);
        }
        rival_done.send(()).unwrap();
        attempts
    });

    let out = owner.start(&wf, "long-1", 1).await;
    let attempts = attempts.join().unwrap();
    assert_eq!(out.unwrap(), 2);
    assert!(attempts.len() >= 6, "{attempts:?}");
    for attempt in &attempts {
        assert!(
            matches!(attempt, Err(RunError::Store(StoreError::Leased { .. }))),
            "the rival got {attempt:?} while the owner's sync step ran"
        );
    }
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the step ran more than once"
    );
    assert_eq!(owner.execution("long-1").await.unwrap().recoveries, 0);
}

/// Where each sync step of the workflow below ran: its name, and whether on the pool.
type Log = Arc<Mutex<Vec<(&'static str, bool)>>>;

/// A sync step named `name` that logs where it runs, then calls `f`.
fn logged<I: Payload>(
    log: &Log,
    name: &'static str,
    f: fn(I) -> Result<u32, Error>,
) -> impl Step<Input = I, Output = u32> + use<I> {
    let log = Arc::clone(log);
    sync_step_fn(name, move |input: I| {
        log.lock().unwrap().push((name, on_pool()));
        f(input)
    })
}

#[tokio::test]
async fn sync_steps_run_on_the_pool_wherever_they_are() {
    static FLAKY_ATTEMPTS: AtomicU32 = AtomicU32::new(0);
    let log: Log = Arc::default();
    let flaky = logged(&log, "flaky", |x| {
        match FLAKY_ATTEMPTS.fetch_add(1, Ordering::SeqCst) {
            0 => Err(Error::new("Transient", "first attempt")),
            _ => Ok(x),
        }
    });
    let retry = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(2)
        .interval(Duration::ZERO)
        .build();
    let slow = logged(&log, "slow", |x| {
        thread::sleep(Duration::from_millis(20));
        Ok(x)
    });
    let broken = logged(&log, "broken", |_| Err(Error::new("Broken", "no")));
    let handler = logged(&log, "handler", |(x, _error): (u32, Error)| Ok(x + 1000));
    let wf = Workflow::new(
        "everywhere",
        1,
        logged(&log, "first", |x: u32| Ok(x + 1))
            .then(
                choice()
                    .when(
                        "small",
                        |x: &u32| *x < 100,
                        logged(&log, "small", |x| Ok(x * 2)),
                    )
                    .otherwise(logged(&log, "large", Ok)),
            )
            .then(parallel((
                logged(&log, "left", Ok),
                logged(&log, "right", Ok),
            )))
            .then(pass("sum", |(a, b): (u32, u32)| a + b))
            .then(flaky.retry(retry))
            .then(slow.timeout(Duration::from_secs(30)))
            .then(broken.catch(["Broken"], handler)),
    );
    let runtime = Runtime::with_host(host(&pool(2)));
    // (1 + 1) * 2 = 4 on both branches: 8; the handler adds 1000.
    assert_eq!(runtime.run(&wf, 1).await.unwrap(), 1008);
    let log = log.lock().unwrap().clone();
    let mut names: Vec<&str> = log.iter().map(|&(name, _)| name).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "broken", "first", "flaky", "flaky", "handler", "left", "right", "slow", "small"
        ]
    );
    for (name, on_pool) in &log {
        assert!(on_pool, "the sync step `{name}` ran on an async thread");
    }
}

#[tokio::test]
async fn a_sync_step_sees_its_step_context_on_the_pool() {
    #[step]
    fn whoami(cx: &StepContext, tag: String) -> (String, String, u32, bool) {
        (
            format!("{tag}@{}", cx.address()),
            cx.idempotency_key(),
            cx.attempt(),
            on_pool(),
        )
    }
    let runtime = Runtime::builder()
        .host(host(&pool(1)))
        .store(MemoryStore::new())
        .build();
    let wf = Workflow::new("who", 1, pass("tag", |s: String| s).then(whoami));
    let (at, key, attempt, on_pool) = runtime.start(&wf, "who-1", "x".into()).await.unwrap();
    assert_eq!(at, "x@1.whoami");
    assert_eq!(key, "who-1/1.whoami#1");
    assert_eq!(attempt, 1);
    assert!(on_pool, "the sync step ran on an async thread");
}

#[tokio::test]
async fn a_panic_on_the_pool_becomes_a_panic_error() {
    #[step]
    fn divide((a, b): (u32, u32)) -> u32 {
        assert!(on_pool(), "divide runs on the pool");
        a / b
    }
    let runtime = Runtime::with_host(host(&pool(1)));
    let wf = Workflow::new("div", 1, divide);
    let err = runtime.run(&wf, (1, 0)).await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.name(), names::PANIC);
    assert_eq!(
        err.message(),
        "step `divide` at `0.divide` panicked with message \"attempt to divide by zero\""
    );
    assert_eq!(err.address(), Some("0.divide"));
    // The pool's one thread survived the panic and runs the next call.
    assert_eq!(runtime.run(&wf, (9, 3)).await.unwrap(), 3);
}
