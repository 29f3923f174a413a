//! Order processing as durable executions, one per order, many at once: validate, route
//! (standard or express; big orders go through fraud review first), reserve inventory
//! and charge the payment in parallel (retrying transient gateway errors), then ship and
//! notify. A declined payment is compensated: the inventory is released and the customer
//! told. The services are simulated, with flags for their failure rates and latency.
//!
//! ```text
//! cargo run --example order_processing                           # 200 orders
//! cargo run --example order_processing -- --crash-after fulfil   # dies once the first order is past fulfil
//! cargo run --example order_processing                           # resumes every order where it stopped
//! cargo run --example order_processing -- --prefix big --orders 2000 --decline-rate 0.3
//! ```
//!
//! As a fleet (`fleet.rs`): one process submits, any number of workers run the orders,
//! on a SQLite file (processes of one machine) or PostgreSQL (many machines):
//!
//! ```text
//! cargo run --example order_processing -- --store postgres://postgres@127.0.0.1:5432/test submit --wait
//! cargo run --example order_processing -- --store postgres://postgres@127.0.0.1:5432/test worker   # in as many terminals as you like
//! ```
//!
//! Each order is the execution `{prefix}-{n}` (`order-0001`, ...) in `waypost-orders.db`;
//! `--help` lists the rates, latency and seed. Ctrl-C works as well as `--crash-after`:
//! run the same command again to resume, and once more to see every order's stored
//! result. The outcomes depend only on `--seed` and the rates, never on timing, so a
//! resumed run ends with the figures of an uninterrupted one. The resumed run prints
//! (abridged):
//!
//! ```text
//! 200 orders as executions order-0001..order-0200 in waypost-orders.db: 9 finished earlier, 191 interrupted, 0 new
//!   already done: validate 200, fraud_review 43 (+17 failed), express 35, standard 79, reserve_inventory 11, charge_payment 11 (+5 failed)
//!   ran now: fraud_review 8, express 7, standard 11, reserve_inventory 168, charge_payment 210, ship 158, ...
//! order-0001  shipped      standard  $ 698.00  1 payment attempt   tracking WP-7974CA
//! order-0008  failed       $ 616.98  FraudSuspected: held by fraud review
//! order-0010  compensated  $  38.97  card ending 8861 was declined: inventory released, Frances notified
//! ...
//! summary: 200 orders, 158 succeeded, 21 compensated, 21 failed, 47 retries taken
//!   failed: 21 FraudSuspected
//!   reservations left held: 0
//! store: waypost-orders.db
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use waypost::Store;
use waypost::prelude::*;
use waypost::store::CheckpointKind;

mod fleet;

/// Runs (or resumes) one execution per order on a SQLite store; or, with `submit` and
/// `worker`, as a fleet on a SQLite file or PostgreSQL.
#[derive(Debug, Parser)]
struct Args {
    /// Run as a part of a fleet instead of all in this process.
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Print the workflow's graph in this format (mermaid, dot or asl) and exit without
    /// running anything.
    #[arg(long, value_name = "FORMAT")]
    graph: Option<waypost::export::Format>,
    /// How many orders.
    #[arg(long, default_value_t = 200)]
    orders: u32,
    /// Execution ids are `{prefix}-0001`, `{prefix}-0002`, ...; the same prefix again
    /// resumes those executions or shows their results.
    #[arg(long, default_value = "order")]
    prefix: String,
    /// The store: a SQLite file, or a PostgreSQL URL (`postgres://user@host:port/db`).
    #[arg(long, default_value = "waypost-orders.db")]
    store: String,
    /// Seed of the orders and of every simulated outcome.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Share of cards the payment service declines.
    #[arg(long, default_value_t = 0.1, value_parser = rate)]
    decline_rate: f64,
    /// Share of payment attempts that fail with a transient gateway error (retried).
    #[arg(long, default_value_t = 0.2, value_parser = rate)]
    transient_rate: f64,
    /// Share of reviewed orders that fraud review rejects.
    #[arg(long, default_value_t = 0.3, value_parser = rate)]
    fraud_rate: f64,
    /// Orders over this many dollars go through fraud review.
    #[arg(long, default_value_t = 500.0)]
    review_over: f64,
    /// Average latency of each service call, in milliseconds.
    #[arg(long, default_value_t = 20)]
    latency_ms: u64,
    /// Kill the process (like `kill -9`) when the first order starts the stage after
    /// this one: validate, route, fulfil (reserve and charge) or ship (or release).
    #[arg(long, value_name = "STAGE")]
    crash_after: Option<String>,
    /// Print every order, not a few of each outcome.
    #[arg(long)]
    verbose: bool,
}

/// The halves of a fleet.
#[derive(Debug, Subcommand)]
enum Mode {
    /// Record the orders as executions and return, for workers to run them.
    Submit {
        /// Then wait for every order and print what they came to.
        #[arg(long)]
        wait: bool,
    },
    /// Run the orders waiting in the store until Ctrl-C.
    Worker {
        /// How many orders at once.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Also stop after this many seconds with no order running or waiting.
        #[arg(long, value_name = "SECONDS")]
        exit_when_idle: Option<u64>,
    },
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{text}` is not a rate between 0 and 1")),
    }
}

/// The stages of an order and their steps, in order: `--crash-after` names a stage.
const STAGES: [(&str, &[&str]); 5] = [
    ("validate", &["validate"]),
    ("route", &["fraud_review", "express", "standard"]),
    ("fulfil", &["reserve_inventory", "charge_payment"]),
    ("ship", &["ship", "release_inventory"]),
    (
        "notify",
        &["notify_shipped", "notify_declined", "notify_failed"],
    ),
];

/// The command line, for the steps and services to read.
static ARGS: OnceLock<Args> = OnceLock::new();

fn args() -> &'static Args {
    ARGS.get().expect("set in main")
}

// ---------------------------------------------------------------------------------------
// Payloads. Each is checkpointed, so each is `Clone + Serialize + Deserialize`.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    id: String,
    customer: String,
    card_last4: String,
    express: bool,
    lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Line {
    sku: String,
    quantity: u32,
    unit_cents: u64,
}

impl Order {
    fn cents(&self) -> u64 {
        self.lines
            .iter()
            .map(|l| u64::from(l.quantity) * l.unit_cents)
            .sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
enum Method {
    Standard,
    Express,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Standard => "standard",
            Method::Express => "express",
        }
    }
}

/// An order with its shipping method chosen.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Routed {
    order: Order,
    method: Method,
    reviewed: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Reserved {
    routed: Routed,
    reservation: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Payment {
    authorization: String,
    cents: u64,
    attempts: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Shipment {
    routed: Routed,
    payment: Payment,
    tracking: String,
}

/// An order whose payment failed, after its inventory was released.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Released {
    routed: Routed,
    reason: String,
}

/// How an order ended, when it did not fail.
#[derive(Clone, Debug, Serialize, Deserialize)]
enum Outcome {
    Shipped {
        method: Method,
        cents: u64,
        payment_attempts: u32,
        tracking: String,
    },
    /// The payment was declined; what was done was undone.
    Compensated {
        cents: u64,
        customer: String,
        reason: String,
    },
}

// ---------------------------------------------------------------------------------------
// Steps. Each calls `begin`, which counts it and crashes on request, then a simulated
// service.

#[step]
async fn validate(cx: &StepContext, order: Order) -> Result<Order, Error> {
    begin(cx, "validate").await;
    if order.lines.is_empty() || order.lines.iter().any(|l| l.quantity == 0) {
        // Terminal: no retry can fix an order.
        return Err(Error::terminal(
            "InvalidOrder",
            format!("order {} has an empty line", order.id),
        ));
    }
    Ok(order)
}

#[step]
async fn fraud_review(cx: &StepContext, order: Order) -> Result<Routed, Error> {
    begin(cx, "fraud_review").await;
    if roll(&order.id, "fraud", 1) < args().fraud_rate {
        return Err(Error::terminal("FraudSuspected", "held by fraud review"));
    }
    let method = if order.express {
        Method::Express
    } else {
        Method::Standard
    };
    Ok(Routed {
        order,
        method,
        reviewed: true,
    })
}

#[step]
async fn express(cx: &StepContext, order: Order) -> Routed {
    begin(cx, "express").await;
    Routed {
        order,
        method: Method::Express,
        reviewed: false,
    }
}

#[step]
async fn standard(cx: &StepContext, order: Order) -> Routed {
    begin(cx, "standard").await;
    Routed {
        order,
        method: Method::Standard,
        reviewed: false,
    }
}

#[step]
async fn reserve_inventory(cx: &StepContext, routed: Routed) -> Reserved {
    begin(cx, "reserve_inventory").await;
    let reservation = format!("RSV-{}", routed.order.id);
    inventory().insert(reservation.clone());
    Reserved {
        routed,
        reservation,
    }
}

#[step]
async fn charge_payment(cx: &StepContext, routed: Routed) -> Result<Payment, Error> {
    begin(cx, "charge_payment").await;
    // A real gateway would get `cx.idempotency_key()`, so that a charge interrupted
    // mid-flight and sent again is not billed twice.
    let _key = cx.idempotency_key();
    let order = &routed.order;
    if roll(&order.id, "gateway", cx.attempt()) < args().transient_rate {
        return Err(Error::new("Transient", "the payment gateway timed out"));
    }
    // Whether a card is declined does not change from one attempt to the next.
    if roll(&order.id, "card", 1) < args().decline_rate {
        return Err(Error::terminal(
            "PaymentDeclined",
            format!("card ending {} was declined", order.card_last4),
        ));
    }
    Ok(Payment {
        authorization: format!("AUTH-{:06X}", hash(&order.id, "auth", 0) & 0xFF_FFFF),
        cents: order.cents(),
        attempts: cx.attempt(),
    })
}

#[step]
async fn ship(cx: &StepContext, (reserved, payment): (Reserved, Payment)) -> Shipment {
    begin(cx, "ship").await;
    let id = &reserved.routed.order.id;
    inventory().remove(&reserved.reservation);
    Shipment {
        tracking: format!("WP-{:06X}", hash(id, "tracking", 0) & 0xFF_FFFF),
        routed: reserved.routed,
        payment,
    }
}

#[step]
async fn notify_shipped(cx: &StepContext, shipment: Shipment) -> Outcome {
    begin(cx, "notify_shipped").await;
    Outcome::Shipped {
        method: shipment.routed.method,
        cents: shipment.payment.cents,
        payment_attempts: shipment.payment.attempts,
        tracking: shipment.tracking,
    }
}

/// Compensation: gives the reserved items back. The reservation may never have been
/// made (a declined payment cancels the reservation still in flight), so releasing is
/// idempotent.
#[step]
async fn release_inventory(cx: &StepContext, (routed, error): (Routed, Error)) -> Released {
    begin(cx, "release_inventory").await;
    inventory().remove(&format!("RSV-{}", routed.order.id));
    Released {
        routed,
        reason: error.message().to_owned(),
    }
}

#[step]
async fn notify_declined(cx: &StepContext, released: Released) -> Outcome {
    begin(cx, "notify_declined").await;
    Outcome::Compensated {
        cents: released.routed.order.cents(),
        customer: released.routed.order.customer,
        reason: released.reason,
    }
}

#[step]
async fn notify_failed(cx: &StepContext, released: Released) -> Released {
    begin(cx, "notify_failed").await;
    released
}

fn workflow() -> Workflow<Order, Outcome> {
    let review_over = (args().review_over * 100.0).round() as u64;
    let route = choice()
        .named("route")
        .when(
            "fraud_review",
            move |o: &Order| o.cents() > review_over,
            fraud_review,
        )
        .when("express", |o: &Order| o.express, express)
        .otherwise(standard);
    let transient = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(4)
        .interval(Duration::from_millis(20))
        .backoff_rate(2.0)
        .jitter(Jitter::Full)
        .build();
    let fulfil = parallel((reserve_inventory, charge_payment.retry(transient))).named("fulfil");
    Workflow::new(
        "order-processing",
        1,
        validate.then(route).then(
            fulfil
                .then(ship)
                .then(notify_shipped)
                // A declined card: undo the reservation and tell the customer; the
                // order ends compensated.
                .catch(["PaymentDeclined"], release_inventory.then(notify_declined))
                // Anything else (the gateway still failing after 4 attempts): undo and
                // tell too, then fail the execution.
                .catch(
                    ["States.ALL"],
                    release_inventory.then(notify_failed).then(fail(
                        "PaymentFailed",
                        "the payment did not go through; the reservation was released",
                    )),
                ),
        ),
    )
}

// ---------------------------------------------------------------------------------------
// The simulated services: seeded randomness, a latency, and an inventory in memory.

/// A number from the seed and `parts` alone, so that outcomes do not depend on which
/// order runs first (SplitMix64 over the bytes).
fn hash(order: &str, what: &str, attempt: u32) -> u64 {
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
fn roll(order: &str, what: &str, attempt: u32) -> f64 {
    fastrand::Rng::with_seed(hash(order, what, attempt)).f64()
}

/// Reservations held now, in this process.
fn inventory() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    static HELD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    HELD.lock().expect("not poisoned")
}

/// How many times each step ran in this process.
static RAN: Mutex<BTreeMap<&str, u32>> = Mutex::new(BTreeMap::new());

/// Called when a step starts: dies here if asked to crash after the stage before this
/// step's (that stage's checkpoints are committed, since this step started); counts the
/// step; then waits for the simulated service.
async fn begin(cx: &StepContext, step: &'static str) {
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
    let latency = args().latency_ms as f64;
    let jitter = 0.5 + roll(cx.execution_id(), step, cx.attempt());
    tokio::time::sleep(Duration::from_secs_f64(latency * jitter / 1000.0)).await;
}

// ---------------------------------------------------------------------------------------

/// The orders: the same for the same seed, whichever run makes them.
fn make_order(id: String) -> Order {
    const CATALOG: [(&str, u64); 8] = [
        ("mug", 1_299),
        ("lamp", 4_999),
        ("kettle", 3_450),
        ("chair", 12_900),
        ("desk", 34_900),
        ("rug", 18_900),
        ("clock", 2_499),
        ("shelf", 8_900),
    ];
    const CUSTOMERS: [&str; 6] = ["Ada", "Grace", "Edsger", "Barbara", "Donald", "Frances"];
    let mut rng = fastrand::Rng::with_seed(hash(&id, "order", 0));
    let lines = (0..rng.u32(1..=3))
        .map(|_| {
            let (sku, unit_cents) = CATALOG[rng.usize(..CATALOG.len())];
            Line {
                sku: sku.into(),
                quantity: rng.u32(1..=3),
                unit_cents,
            }
        })
        .collect();
    Order {
        customer: CUSTOMERS[rng.usize(..CUSTOMERS.len())].into(),
        card_last4: format!("{:04}", rng.u32(0..10_000)),
        express: rng.f64() < 0.3,
        lines,
        id,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ARGS.get_or_init(Args::parse);
    if let Some(format) = args.graph {
        println!("{}", waypost::export::render(workflow().graph(), format));
        return Ok(());
    }
    if let Some(stage) = &args.crash_after {
        // Nothing runs after the last stage: crashing after it would not interrupt.
        let stages: Vec<&str> = STAGES[..STAGES.len() - 1].iter().map(|s| s.0).collect();
        anyhow::ensure!(
            stages.contains(&stage.as_str()),
            "--crash-after takes one of {stages:?}"
        );
    }
    let ids: Vec<String> = (1..=args.orders)
        .map(|n| format!("{}-{n:04}", args.prefix))
        .collect();
    let store = fleet::open_store(&args.store).await?;
    match &args.mode {
        Some(Mode::Submit { wait }) => return fleet::submit(store, &ids, *wait).await,
        Some(Mode::Worker {
            concurrency,
            exit_when_idle,
        }) => {
            let idle = exit_when_idle.map(Duration::from_secs);
            return fleet::worker(store, *concurrency, idle).await;
        }
        None => {}
    }
    print_before(&*store, &ids).await?;

    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let workflow = Arc::new(workflow());
    let bar = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len}")?.progress_chars("=> "),
    );
    bar.set_prefix("orders");
    // Every order is its own execution, all running at once.
    let mut running = tokio::task::JoinSet::new();
    for id in &ids {
        let (runtime, workflow, bar, id) = (
            runtime.clone(),
            Arc::clone(&workflow),
            bar.clone(),
            id.clone(),
        );
        running.spawn(async move {
            let result = runtime.start(&workflow, &id, make_order(id.clone())).await;
            bar.inc(1);
            (id, result)
        });
    }
    let results = tokio::select! {
        results = running.join_all() => results,
        _ = tokio::signal::ctrl_c() => {
            println!("\ninterrupted: run the same command again to resume every order");
            std::process::exit(130);
        }
    };
    bar.finish_and_clear();
    let results: BTreeMap<String, Result<Outcome, RunError>> = results.into_iter().collect();

    let ran = RAN.lock().expect("not poisoned").clone();
    if !ran.is_empty() {
        println!("  ran now: {}", in_step_order(&ran));
    }
    print_orders(&results, args.verbose || ids.len() <= 12);
    print_summary(&*store, &results, true).await?;
    let mismatched = results
        .values()
        .filter(|r| matches!(r, Err(RunError::InputMismatch { .. })))
        .count();
    anyhow::ensure!(
        mismatched == 0,
        "{mismatched} executions were started earlier with other orders: run with the \
         --seed used then, or choose another --prefix"
    );
    Ok(())
}

/// Says which executions exist already and which of their steps are done.
async fn print_before(store: &dyn Store, ids: &[String]) -> anyhow::Result<()> {
    let (mut finished, mut interrupted) = (0, 0);
    let mut outputs: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut failures: BTreeMap<&'static str, u32> = BTreeMap::new();
    for id in ids {
        let record = match store.execution(id).await {
            Ok(record) => record,
            Err(waypost::StoreError::NotFound { .. }) => continue,
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
        args().store,
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
fn in_step_order(counts: &BTreeMap<&str, u32>) -> String {
    steps_in_order()
        .filter_map(|step| counts.get(step).map(|n| format!("{step} {n}")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn dollars(cents: u64) -> String {
    format!("${:>7.2}", cents as f64 / 100.0)
}

/// One line per order, or the first few of each outcome.
fn print_orders(results: &BTreeMap<String, Result<Outcome, RunError>>, all: bool) {
    let mut shown = BTreeMap::new();
    for (id, result) in results {
        let (kind, line) = match result {
            Ok(Outcome::Shipped {
                method,
                cents,
                payment_attempts,
                tracking,
            }) => (
                "shipped",
                format!(
                    "{:<8}  {}  {payment_attempts} payment attempt{}  tracking {tracking}",
                    method.as_str(),
                    dollars(*cents),
                    if *payment_attempts == 1 { " " } else { "s" },
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

/// Counts the outcomes; the retries come from the store, so they include those of
/// earlier, interrupted runs.
async fn print_summary(
    store: &dyn Store,
    results: &BTreeMap<String, Result<Outcome, RunError>>,
    in_process: bool,
) -> anyhow::Result<()> {
    let (mut succeeded, mut compensated, mut failed) = (0, 0, 0);
    let mut reasons: BTreeMap<String, u32> = BTreeMap::new();
    let mut retries = 0;
    for (id, result) in results {
        match result {
            Ok(Outcome::Shipped { .. }) => succeeded += 1,
            Ok(Outcome::Compensated { .. }) => compensated += 1,
            Err(error) => {
                failed += 1;
                let name = error.error().map_or("not run", Error::name);
                *reasons.entry(name.to_owned()).or_default() += 1;
            }
        }
        // Each retry records the deadline of its delay, at `{key}~delay`.
        retries += match store.checkpoints(id).await {
            Ok(checkpoints) => checkpoints
                .iter()
                .filter(|c| c.kind == CheckpointKind::Deadline && c.key.ends_with("~delay"))
                .count(),
            Err(_) => 0,
        };
    }
    println!(
        "summary: {} orders, {succeeded} succeeded, {compensated} compensated, {failed} failed, {retries} retries taken",
        results.len()
    );
    if !reasons.is_empty() {
        let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!("  failed: {}", reasons.join(", "));
    }
    // Every reservation made in this process was shipped or released: what the
    // compensation is for. (Workers hold their own reservations.)
    if in_process {
        println!("  reservations left held: {}", inventory().len());
    }
    println!("store: {}", args().store);
    Ok(())
}
