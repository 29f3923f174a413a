//! Retry: attempt counts, delays with backoff and a cap, which errors are retried.
//! Delays are checked on tokio's paused clock: no real sleeping.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use waypost::prelude::*;

/// A step that fails with `error` on its first `failures` attempts, recording the
/// (paused-clock) time and attempt number of each call.
fn flaky(
    failures: usize,
    error: Error,
    calls: Arc<Mutex<Vec<(Duration, u32)>>>,
) -> impl Step<Input = u32, Output = u32> {
    let start = Instant::now();
    step_fn("flaky", move |x: u32| {
        let (calls, error) = (Arc::clone(&calls), error.clone());
        async move {
            let mut calls = calls.lock().unwrap();
            let attempt = calls.len() as u32 + 1;
            calls.push((start.elapsed(), attempt));
            if calls.len() <= failures {
                return Err(error);
            }
            Ok(x)
        }
    })
}

fn times(calls: &Mutex<Vec<(Duration, u32)>>) -> Vec<u64> {
    calls
        .lock()
        .unwrap()
        .iter()
        .map(|(t, _)| t.as_millis() as u64)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn delays_grow_by_the_backoff_rate() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .interval(Duration::from_millis(100))
        .backoff_rate(3.0)
        .build();
    let wf = Workflow::new(
        "r",
        1,
        flaky(3, Error::new("Busy", "x"), Arc::clone(&calls)).retry(policy),
    );
    assert_eq!(Runtime::new().run(&wf, 7).await.unwrap(), 7);
    // Attempts at 0, then +100, +300, +900 ms.
    assert_eq!(times(&calls), [0, 100, 400, 1300]);
}

#[tokio::test(start_paused = true)]
async fn max_delay_caps_every_delay() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(5)
        .interval(Duration::from_millis(100))
        .backoff_rate(10.0)
        .max_delay(Duration::from_millis(250))
        .build();
    let wf = Workflow::new(
        "r",
        1,
        flaky(4, Error::new("Busy", "x"), Arc::clone(&calls)).retry(policy),
    );
    Runtime::new().run(&wf, 7).await.unwrap();
    assert_eq!(times(&calls), [0, 100, 350, 600, 850]);
}

#[tokio::test(start_paused = true)]
async fn max_attempts_counts_the_first_and_the_last_error_is_returned() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .max_attempts(3)
        .interval(Duration::from_secs(1))
        .build();
    let wf = Workflow::new(
        "r",
        1,
        flaky(10, Error::new("Busy", "still busy"), Arc::clone(&calls)).retry(policy),
    );
    let err = Runtime::new().run(&wf, 7).await.unwrap_err();
    assert_eq!(err.name(), "Busy");
    assert_eq!(calls.lock().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_attempt_number_reaches_the_step() {
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&attempts);
    let step = step_fn("attempts", move |x: u32| {
        let seen = Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(x);
            Err::<u32, _>(Error::new("Busy", "x"))
        }
    });
    // The attempt is visible to #[step] functions through StepContext; here, through
    // a step that reads it.
    #[step]
    async fn attempt_of(cx: &StepContext, _x: u32) -> Result<u32, Error> {
        Err(Error::new("Busy", cx.attempt().to_string()))
    }
    let policy = RetryPolicy::builder()
        .max_attempts(4)
        .interval(Duration::from_millis(1))
        .build();
    let err = Runtime::new()
        .run(&Workflow::new("r", 1, attempt_of.retry(policy.clone())), 0)
        .await
        .unwrap_err();
    assert_eq!(err.message(), "4");
    Runtime::new()
        .run(&Workflow::new("r", 1, step.retry(policy)), 5)
        .await
        .unwrap_err();
    assert_eq!(attempts.lock().unwrap().len(), 4);
}

#[tokio::test(start_paused = true)]
async fn only_listed_errors_are_retried() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(5)
        .build();
    let wf = Workflow::new(
        "r",
        1,
        flaky(10, Error::new("Fatal", "x"), Arc::clone(&calls)).retry(policy),
    );
    assert_eq!(
        Runtime::new().run(&wf, 7).await.unwrap_err().name(),
        "Fatal"
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn terminal_errors_are_never_retried() {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let policy = RetryPolicy::builder().max_attempts(5).build();
    let wf = Workflow::new(
        "r",
        1,
        flaky(10, Error::terminal("Invalid", "x"), Arc::clone(&calls)).retry(policy),
    );
    assert_eq!(
        Runtime::new().run(&wf, 7).await.unwrap_err().name(),
        "Invalid"
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn timeouts_can_be_retried_by_name() {
    let calls = Arc::new(Mutex::new(0u32));
    let counter = Arc::clone(&calls);
    let slow_then_fast = step_fn("slow_then_fast", move |x: u32| {
        let counter = Arc::clone(&counter);
        async move {
            let first = {
                let mut calls = counter.lock().unwrap();
                *calls += 1;
                *calls == 1
            };
            if first {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok::<_, Error>(x)
        }
    });
    let policy = RetryPolicy::builder()
        .errors([waypost::error::names::TIMEOUT])
        .interval(Duration::from_millis(1))
        .build();
    let wf = Workflow::new(
        "r",
        1,
        slow_then_fast.timeout(Duration::from_secs(1)).retry(policy),
    );
    assert_eq!(Runtime::new().run(&wf, 3).await.unwrap(), 3);
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[test]
fn full_jitter_stays_between_zero_and_the_delay() {
    let policy = RetryPolicy::builder()
        .interval(Duration::from_millis(100))
        .jitter(Jitter::Full)
        .build();
    let delays: Vec<Duration> = (0..200).map(|_| policy.jittered_delay_after(2)).collect();
    assert!(delays.iter().all(|d| *d <= Duration::from_millis(200)));
    // Random, not constant: 200 draws are not all equal.
    assert!(delays.iter().any(|d| *d != delays[0]));
}
