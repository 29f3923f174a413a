//! The simulated services: seeded randomness, a latency, and an inventory in memory;
//! and what this process ran.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use waypost::prelude::*;

use crate::args::args;
use crate::workflow::STAGES;

/// A number from the seed and `parts` alone, so that outcomes do not depend on which
/// order runs first, nor on which process runs it (SplitMix64 over the bytes).
pub(crate) fn hash(order: &str, what: &str, attempt: u32) -> u64 {
    let mut h = args().seed;
    for byte in order
        .bytes()
        .chain([0])
        .chain(what.bytes())
        .chain(attempt.to_le_bytes())
    {
        h = (h ^ u64::from(byte)).wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

/// A number in [0, 1) for this order, purpose and attempt.
pub(crate) fn roll(order: &str, what: &str, attempt: u32) -> f64 {
    fastrand::Rng::with_seed(hash(order, what, attempt)).f64()
}

/// Reservations held now, in this process.
pub(crate) fn inventory() -> MutexGuard<'static, BTreeSet<String>> {
    static HELD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    HELD.lock().expect("not poisoned")
}

/// How many times each step ran in this process.
static RAN: Mutex<BTreeMap<&str, u32>> = Mutex::new(BTreeMap::new());

/// The orders whose steps ran in this process.
static ORDERS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// How many times each step ran in this process, by step name.
pub(crate) fn ran() -> BTreeMap<&'static str, u32> {
    RAN.lock().expect("not poisoned").clone()
}

/// The orders (execution ids) whose steps ran in this process.
pub(crate) fn orders_run_here() -> BTreeSet<String> {
    ORDERS.lock().expect("not poisoned").clone()
}

/// Called when a step starts: dies here if asked to crash after the stage before this
/// step's (that stage's checkpoints are committed, since this step started); counts the
/// step; then waits for the simulated service.
pub(crate) async fn begin(cx: &StepContext, step: &'static str) {
    let stage = STAGES
        .iter()
        .position(|(_, steps)| steps.contains(&step))
        .unwrap_or(0);
    if let Some(after) = &args().crash_after
        && stage > 0
        && STAGES[stage - 1].0 == after
    {
        println!(
            "\ncrashing after stage `{after}` as asked: {} is starting `{step}`, and the process dies",
            cx.execution_id()
        );
        std::process::abort();
    }
    *RAN.lock().expect("not poisoned").entry(step).or_default() += 1;
    {
        let mut orders = ORDERS.lock().expect("not poisoned");
        if !orders.contains(cx.execution_id()) {
            orders.insert(cx.execution_id().to_owned());
        }
    }
    let latency = args().latency_ms as f64;
    let jitter = 0.5 + roll(cx.execution_id(), step, cx.attempt());
    tokio::time::sleep(Duration::from_secs_f64(latency * jitter / 1000.0)).await;
}
