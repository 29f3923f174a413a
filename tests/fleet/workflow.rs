//! The workflow the fleets run: a map, a parallel, a retry and a durable wait, each
//! task step logging its run.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use waypost::prelude::*;

/// The environment variable that sets each step's pause, in ms (default 5).
pub(crate) const PAUSE_MS: &str = "WAYPOST_FLEET_PAUSE_MS";

fn pause() -> Duration {
    let ms = std::env::var(PAUSE_MS)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(5);
    Duration::from_millis(ms)
}

/// Logs this step's run: `<execution> <stored key>`.
fn log(cx: &StepContext) {
    crate::support::append(&format!(
        "{} {}",
        cx.execution_id(),
        crate::support::stored_key(cx)
    ));
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) total: u64,
    pub(crate) largest: u64,
    pub(crate) attempts: u32,
}

#[step]
async fn split(cx: &StepContext, seed: u64) -> Vec<u64> {
    log(cx);
    (1..=6).map(|i| seed * 10 + i).collect()
}

#[step]
async fn square(cx: &StepContext, x: u64) -> u64 {
    log(cx);
    tokio::time::sleep(pause()).await;
    x * x
}

#[step]
async fn total(cx: &StepContext, xs: Vec<u64>) -> u64 {
    log(cx);
    tokio::time::sleep(pause()).await;
    xs.iter().sum()
}

#[step]
async fn largest(cx: &StepContext, xs: Vec<u64>) -> u64 {
    log(cx);
    tokio::time::sleep(pause()).await;
    xs.iter().copied().max().unwrap_or(0)
}

/// Fails its first attempt, like a flaky service.
#[step]
async fn publish(cx: &StepContext, (sum, max): (u64, u64)) -> Result<Report, Error> {
    log(cx);
    tokio::time::sleep(pause()).await;
    if cx.attempt() < 2 {
        return Err(Error::new("Transient", "the first attempt fails"));
    }
    Ok(Report {
        total: sum,
        largest: max,
        attempts: cx.attempt(),
    })
}

/// The fleet's workflow, `fleet` v1.
pub(crate) fn workflow() -> Workflow<u64, Report> {
    let retry = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(3)
        .interval(Duration::from_millis(20))
        .build();
    Workflow::new(
        "fleet",
        1,
        split
            .then(map(square).max_concurrency(3))
            .then(parallel((total, largest)))
            .then(wait(Duration::from_millis(30)))
            .then(publish.retry(retry)),
    )
}
