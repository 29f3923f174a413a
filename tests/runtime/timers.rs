//! Durable timers: an interruption during a wait or a retry delay neither restarts the
//! deadline from the resume time nor resets the attempt count. On tokio's paused clock,
//! with a host whose wall clock follows it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use waypost::prelude::*;
use waypost::{MemoryStore, Store};

use crate::support::{PausedClockHost, Runs, interrupt_after};

fn runtime(store: &Arc<dyn Store>, host: &Arc<PausedClockHost>) -> Runtime {
    Runtime::builder()
        .shared_store(Arc::clone(store))
        .host(Arc::clone(host) as _)
        .build()
}

#[tokio::test(start_paused = true)]
async fn a_wait_interrupted_half_way_sleeps_only_what_is_left() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let runs = Runs::default();
    let wf = Workflow::new(
        "wait",
        1,
        runs.step("a", 1)
            .then(wait(Duration::from_secs(60)))
            .then(runs.step("b", 1)),
    );

    let started = Instant::now();
    let runtime = runtime(&store, &host);
    interrupt_after(Duration::from_secs(20), runtime.start(&wf, "w", 0)).await;
    assert_eq!(runs.count("b"), 0);
    // Resuming 20 s in: the timer fires at the 60 s deadline, not 60 s after resuming.
    assert_eq!(runtime.resume(&wf, "w").await.unwrap(), 2);
    assert_eq!(started.elapsed(), Duration::from_secs(60));
    assert_eq!((runs.count("a"), runs.count("b")), (1, 1));
}

#[tokio::test(start_paused = true)]
async fn a_retry_delay_interrupted_keeps_its_deadline_and_the_attempt_count() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let host = PausedClockHost::new();
    let attempts = Arc::new(AtomicU32::new(0));
    let started = Instant::now();
    let times = Arc::new(std::sync::Mutex::new(Vec::new()));
    let flaky = {
        let (attempts, times) = (Arc::clone(&attempts), Arc::clone(&times));
        step_fn("flaky", move |x: u64| {
            let (attempts, times) = (Arc::clone(&attempts), Arc::clone(&times));
            async move {
                let n = attempts.fetch_add(1, Ordering::SeqCst) + 1;
                times.lock().unwrap().push(started.elapsed().as_secs());
                if n < 3 {
                    return Err(Error::new("Busy", format!("attempt {n}")));
                }
                Ok(x)
            }
        })
    };
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .interval(Duration::from_secs(30))
        .backoff_rate(2.0)
        .build();
    let wf = Workflow::new("retry", 1, flaky.retry(policy));

    // Attempt 1 at 0 s fails; the 30 s delay is interrupted at 10 s.
    let runtime = runtime(&store, &host);
    interrupt_after(Duration::from_secs(10), runtime.start(&wf, "r", 7)).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    // Resume: attempt 1's failure is replayed (not run again), attempt 2 runs at the
    // recorded 30 s deadline, attempt 3 after 60 s more.
    assert_eq!(runtime.resume(&wf, "r").await.unwrap(), 7);
    assert_eq!(*times.lock().unwrap(), [0, 30, 90]);
}
