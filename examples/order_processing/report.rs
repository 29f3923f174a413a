//! What the modes print: the orders' state before a run, each order's result, and the
//! summary, with the figures the store keeps (retries, recoveries, reservations).

use std::collections::BTreeMap;

use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{Store, StoreError};

use crate::args::args;
use crate::workflow::{Outcome, STAGES, make_order};

/// Each order's result, by execution id.
pub(crate) type Results = BTreeMap<String, Result<Outcome, RunError>>;

/// Says which executions exist already and which of their steps are done.
pub(crate) async fn print_before(store: &dyn Store, ids: &[String]) -> anyhow::Result<()> {
    let (mut finished, mut interrupted) = (0, 0);
    let mut outputs: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut failures: BTreeMap<&'static str, u32> = BTreeMap::new();
    for id in ids {
        let record = match store.execution(id).await {
            Ok(record) => record,
            Err(StoreError::NotFound { .. }) => continue,
            Err(error) => return Err(error.into()),
        };
        if record.status.is_finished() {
            finished += 1;
        } else {
            interrupted += 1;
        }
        for checkpoint in store.checkpoints(id).await? {
            let Some(step) = step_of(&checkpoint.key) else {
                continue;
            };
            match checkpoint.kind {
                CheckpointKind::Output => *outputs.entry(step).or_default() += 1,
                CheckpointKind::Failure => *failures.entry(step).or_default() += 1,
                _ => {}
            }
        }
    }
    let new = ids.len() - finished - interrupted;
    let state = match (finished, interrupted) {
        (0, 0) => "starting".to_owned(),
        _ => format!("{finished} finished earlier, {interrupted} interrupted, {new} new"),
    };
    println!(
        "{} orders as executions {}..{} in {}: {state}",
        ids.len(),
        ids.first().map_or("", String::as_str),
        ids.last().map_or("", String::as_str),
        args().store.display(),
    );
    if !outputs.is_empty() || !failures.is_empty() {
        let done = steps_in_order()
            .filter(|step| outputs.contains_key(step) || failures.contains_key(step))
            .map(|step| match (outputs.get(step), failures.get(step)) {
                (ok, Some(failed)) => format!("{step} {} (+{failed} failed)", ok.unwrap_or(&0)),
                (ok, None) => format!("{step} {}", ok.unwrap_or(&0)),
            })
            .collect::<Vec<_>>();
        println!("  already done: {}", done.join(", "));
    }
    Ok(())
}

/// The step a checkpoint key belongs to: `2.fulfil/1/0.charge_payment#2` is
/// `charge_payment`. Timers (`~delay`) and choice decisions are not steps.
fn step_of(key: &str) -> Option<&'static str> {
    if key.contains('~') {
        return None;
    }
    let last = key.rsplit('/').next()?;
    let name = last.split_once('.')?.1.split('#').next()?;
    steps_in_order().find(|s| *s == name)
}

/// Every step, in the order of the stages.
fn steps_in_order() -> impl Iterator<Item = &'static str> {
    STAGES.iter().flat_map(|(_, steps)| steps.iter().copied())
}

/// `validate 200, express 41, ...` in the order of the stages.
pub(crate) fn in_step_order(counts: &BTreeMap<&str, u32>) -> String {
    steps_in_order()
        .filter_map(|step| counts.get(step).map(|n| format!("{step} {n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dollars(cents: u64) -> String {
    format!("${:>7.2}", cents as f64 / 100.0)
}

/// One line per order, or the first few of each outcome.
pub(crate) fn print_orders(results: &Results, all: bool) {
    let mut shown = BTreeMap::new();
    for (id, result) in results {
        let (kind, line) = match result {
            Ok(Outcome::Shipped {
                method,
                cents,
                payment_attempts,
                tracking,
                approved_by,
            }) => (
                "shipped",
                format!(
                    "{:<8}  {}  {payment_attempts} payment attempt{}  tracking {tracking}{}",
                    method.as_str(),
                    dollars(*cents),
                    if *payment_attempts == 1 { " " } else { "s" },
                    approved_by
                        .as_ref()
                        .map(|by| format!("  approved by {by}"))
                        .unwrap_or_default(),
                ),
            ),
            Ok(Outcome::Compensated {
                cents,
                customer,
                reason,
            }) => (
                "compensated",
                format!(
                    "{}  {reason}: inventory released, {customer} notified",
                    dollars(*cents)
                ),
            ),
            Err(error) => (
                "failed",
                format!(
                    "{}  {}",
                    dollars(make_order(id.clone()).cents()),
                    error
                        .error()
                        .map_or_else(|| error.to_string(), Error::to_string)
                ),
            ),
        };
        let count = shown.entry(kind).or_insert(0);
        *count += 1;
        if all || *count <= 3 {
            println!("{id}  {kind:<11}  {line}");
        }
    }
    if !all {
        println!("... (--verbose shows every order)");
    }
}

/// What the store holds about the orders beyond their results: every figure here
/// includes the runs of earlier, interrupted processes.
#[derive(Debug, Default)]
pub(crate) struct Stored {
    /// Retries taken: each records the deadline of its delay, at `{key}~delay`.
    retries: usize,
    /// Takeovers of an order whose process stopped without finishing it.
    recoveries: u64,
    /// Orders whose `reserve_inventory` step committed its output.
    reserved: usize,
    /// Orders whose `ship` step committed its output, which uses up the reservation.
    shipped: usize,
    /// Orders whose `release_inventory` step committed its output.
    released: usize,
    /// Orders with a reservation neither shipped nor released.
    held: usize,
}

impl Stored {
    /// Reads the checkpoints and records of `ids`.
    pub(crate) async fn read(
        store: &dyn Store,
        ids: impl IntoIterator<Item = &String>,
    ) -> anyhow::Result<Stored> {
        let mut stored = Stored::default();
        for id in ids {
            stored.recoveries += u64::from(store.execution(id).await?.recoveries);
            let mut done = BTreeMap::new();
            for checkpoint in store.checkpoints(id).await? {
                if checkpoint.kind == CheckpointKind::Deadline && checkpoint.key.ends_with("~delay")
                {
                    stored.retries += 1;
                }
                if checkpoint.kind == CheckpointKind::Output
                    && let Some(step) = step_of(&checkpoint.key)
                {
                    *done.entry(step).or_insert(0) += 1;
                }
            }
            let reserved = done.contains_key("reserve_inventory");
            let shipped = done.contains_key("ship");
            let released = done.contains_key("release_inventory");
            stored.reserved += usize::from(reserved);
            stored.shipped += usize::from(shipped);
            stored.released += usize::from(released);
            stored.held += usize::from(reserved && !shipped && !released);
        }
        Ok(stored)
    }
}

/// The `summary:` line and the failures by name.
pub(crate) fn print_summary(results: &Results, stored: &Stored) {
    let (mut succeeded, mut compensated, mut failed) = (0, 0, 0);
    let mut reasons: BTreeMap<String, u32> = BTreeMap::new();
    for result in results.values() {
        match result {
            Ok(Outcome::Shipped { .. }) => succeeded += 1,
            Ok(Outcome::Compensated { .. }) => compensated += 1,
            Err(error) => {
                failed += 1;
                let name = error.error().map_or("not run", Error::name);
                *reasons.entry(name.to_owned()).or_default() += 1;
            }
        }
    }
    println!(
        "summary: {} orders, {succeeded} succeeded, {compensated} compensated, {failed} failed, {} retries taken",
        results.len(),
        stored.retries,
    );
    if !reasons.is_empty() {
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!("  failed: {}", reasons.join(", "));
    }
}

/// What the store says of the orders' runs, for processes that did not run them.
pub(crate) fn print_stored(stored: &Stored) {
    println!(
        "  recoveries: {} (an order taken over after its process stopped mid-run)",
        stored.recoveries
    );
    println!(
        "  reservations in the store: {} made, {} shipped, {} released, {} left held",
        stored.reserved, stored.shipped, stored.released, stored.held
    );
}

/// The last line of every mode that prints results.
pub(crate) fn print_store() {
    println!("store: {}", args().store.display());
}
