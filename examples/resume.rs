//! Durable execution: run an order workflow on the embedded SQLite store, interrupt it,
//! run it again, and watch it resume from its checkpoints.
//!
//! ```text
//! cargo run --example resume -- --crash-after reserve   # dies right after `reserve` is checkpointed
//! cargo run --example resume                            # resumes: finished steps are not run again
//! cargo run --example resume -- --id order-2            # another execution
//! ```
//!
//! Ctrl-C at any moment works too. Expected output of the second run (abridged):
//!
//! ```text
//! execution `order-1` in waypost-example.db: resuming, 3 steps already done
//!   already done: 0.validate, 1.price, 2.reserve
//!   running charge (attempt 1) ... ok
//!   running ship ... ok
//! order-1 succeeded: shipped 3 items to Lisbon, charged 4497 cents
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};
use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{SqliteStore, Store};

/// Runs (or resumes) one order execution on a SQLite store.
#[derive(Debug, Parser)]
struct Args {
    /// Print the workflow's graph in this format (mermaid, dot or asl) and exit without
    /// running anything.
    #[arg(long, value_name = "FORMAT")]
    graph: Option<waypost::export::Format>,
    /// The execution id; running the same id again resumes it or shows its result.
    #[arg(long, default_value = "order-1")]
    id: String,
    /// The store file.
    #[arg(long, default_value = "waypost-example.db")]
    store: PathBuf,
    /// Kill the process (like `kill -9`) right after this step's checkpoint is committed:
    /// validate, price, reserve, charge or ship.
    #[arg(long)]
    crash_after: Option<String>,
    /// How long each step takes, in milliseconds (time to press Ctrl-C).
    #[arg(long, default_value_t = 400)]
    step_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    items: u32,
    unit_cents: u64,
    city: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Priced {
    order: Order,
    cents: u64,
}

/// The order of the steps, to know which one a `--crash-after` step precedes.
const STEPS: [&str; 5] = ["validate", "price", "reserve", "charge", "ship"];

/// The command line, for the steps to read.
static ARGS: OnceLock<Args> = OnceLock::new();

/// Called when a step starts: prints it, and dies here if the previous step is the one
/// to crash after (its checkpoint is committed by now, since this step started).
async fn begin(cx: &StepContext, name: &str) {
    let args = ARGS.get().expect("set in main");
    let index = STEPS.iter().position(|s| *s == name).unwrap_or(0);
    if let Some(after) = &args.crash_after
        && index > 0
        && STEPS[index - 1] == after
    {
        println!("  crashing after `{after}` as asked: the process dies without finishing");
        std::process::abort();
    }
    if cx.attempt() > 1 {
        println!("  running {name} (attempt {}) ...", cx.attempt());
    } else {
        println!("  running {name} ...");
    }
    tokio::time::sleep(Duration::from_millis(args.step_ms)).await;
}

#[step]
async fn validate(cx: &StepContext, order: Order) -> Result<Order, Error> {
    begin(cx, "validate").await;
    if order.items == 0 {
        return Err(Error::terminal(
            "InvalidOrder",
            "an order needs at least one item",
        ));
    }
    Ok(order)
}

#[step]
async fn price(cx: &StepContext, order: Order) -> Priced {
    begin(cx, "price").await;
    let cents = u64::from(order.items) * order.unit_cents;
    Priced { order, cents }
}

#[step]
async fn reserve(cx: &StepContext, priced: Priced) -> Priced {
    begin(cx, "reserve").await;
    priced
}

#[step]
async fn charge(cx: &StepContext, priced: Priced) -> Result<Priced, Error> {
    begin(cx, "charge").await;
    // A real payment API would get `cx.idempotency_key()`, so that a charge interrupted
    // mid-flight and run again is not billed twice.
    let _key = cx.idempotency_key();
    Ok(priced)
}

#[step]
async fn ship(cx: &StepContext, priced: Priced) -> String {
    begin(cx, "ship").await;
    format!(
        "shipped {} items to {}, charged {} cents",
        priced.order.items, priced.order.city, priced.cents
    )
}

fn workflow() -> Workflow<Order, String> {
    let retry = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(3)
        .interval(Duration::from_millis(200))
        .build();
    Workflow::new(
        "order",
        1,
        validate
            .then(price)
            .then(reserve)
            .then(charge.retry(retry))
            .then(ship),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ARGS.get_or_init(Args::parse);
    if let Some(format) = args.graph {
        println!("{}", waypost::export::render(workflow().graph(), format));
        return Ok(());
    }
    if let Some(step) = &args.crash_after {
        anyhow::ensure!(
            STEPS.contains(&step.as_str()),
            "--crash-after takes one of {STEPS:?}"
        );
    }
    let store = SqliteStore::open(&args.store)?;
    let before = match store.checkpoints(&args.id).await {
        // Steps whose output is stored are done; failures and timers are not.
        Ok(checkpoints) => checkpoints
            .into_iter()
            .filter(|c| c.kind == CheckpointKind::Output)
            .map(|c| c.key)
            .collect::<Vec<_>>(),
        Err(waypost::StoreError::NotFound { .. }) => Vec::new(),
        Err(error) => return Err(error.into()),
    };
    match before.len() {
        0 => println!(
            "execution `{}` in {}: starting",
            args.id,
            args.store.display()
        ),
        n => {
            println!(
                "execution `{}` in {}: resuming, {n} steps already done",
                args.id,
                args.store.display()
            );
            println!("  already done: {}", before.join(", "));
        }
    }

    let runtime = Runtime::builder().store(store).build();
    let order = Order {
        items: 3,
        unit_cents: 1499,
        city: "Lisbon".into(),
    };
    match runtime.start(&workflow(), &args.id, order).await {
        Ok(summary) => println!("{} succeeded: {summary}", args.id),
        Err(error) => println!("{} did not finish: {error}", args.id),
    }
    Ok(())
}
