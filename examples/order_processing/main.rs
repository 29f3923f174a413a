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
//!
//! The same orders in several processes, sharing the SQLite file (processes of one
//! machine) or a PostgreSQL database (`--store postgres://user@host:port/db`, many
//! machines; a worker started before the server is up waits for it): `submit` records
//! them in the store and returns, and any number of `worker` processes, started before
//! or after, run them. Each order runs in one worker at a time; an order that a worker left
//! unfinished (killed, or stopped with Ctrl-C) is taken over by another worker from its
//! last checkpoint.
//!
//! ```text
//! cargo run --example order_processing -- submit --wait                # submits 200 orders, shows progress, then the results
//! cargo run --example order_processing -- worker                       # in a second terminal: runs orders until Ctrl-C
//! cargo run --example order_processing -- worker --concurrency 8       # in a third
//! cargo run --example order_processing -- worker --crash-after fulfil  # dies mid-way: another worker takes its orders over
//! cargo run --example order_processing -- worker --exit-when-idle      # stops once no order has run or waited for 2 s
//! ```
//!
//! With `--approvals`, a big order waits for a person after fraud review: its callback
//! token goes to the outbox file beside the store (`waypost-orders.db.approvals`: order,
//! dollars, token), and the order waits parked — no worker holds it — until someone
//! answers from any process with the `waypost` CLI:
//!
//! ```text
//! cargo run --example order_processing -- --approvals --orders 20 submit
//! cargo run --example order_processing -- --approvals worker      # prints each token as its order waits
//! cargo run -p waypost-cli -- --store waypost-orders.db callback succeed TOKEN --json '{"by":"ana"}'
//! cargo run -p waypost-cli -- --store waypost-orders.db callback fail TOKEN --error Rejected --cause 'too risky'
//! cargo run --example order_processing -- --approvals --orders 20 submit --wait   # "approved by ana", "Rejected: too risky"
//! ```
//!
//! The web console shows the orders in a browser: their graphs coloured by how each
//! state went, their data decoded, their histories; a failed order can be redriven from
//! there (the redrive runs in the console's process, with its command line's rates):
//!
//! ```text
//! cargo run --example order_processing -- console                       # prints the address and a login link
//! cargo run --example order_processing -- worker --console 127.0.0.1:7070   # a worker that serves it too
//! ```
//!
//! `submit` without `--wait` returns once the orders are recorded, saying how many were
//! new; `submit --wait` again later shows their results (read from the store: outcomes,
//! retries, recoveries, and the reservations the checkpoints show still held). Workers
//! run every order of the store, whatever its `--prefix`; they need the `--seed` and
//! rates of an all-in-one run (the defaults are the same) to end each order as it does.
//! Printed (abridged):
//!
//! ```text
//! $ cargo run --example order_processing -- submit --wait
//! 200 orders submitted as executions order-0001..order-0200 to waypost-orders.db: 200 new, 0 already there
//! waiting for workers to run them: start one with `cargo run --example order_processing -- worker`
//! order-0001  shipped      standard  $ 698.00  1 payment attempt   tracking WP-7974CA
//! ...
//! summary: 200 orders, 158 succeeded, 21 compensated, 21 failed, 47 retries taken
//!   failed: 21 FraudSuspected
//!   recoveries: 0 (an order taken over after its process stopped mid-run)
//!   reservations in the store: 174 made, 158 shipped, 21 released, 0 left held
//! store: waypost-orders.db
//! $ cargo run --example order_processing -- worker --exit-when-idle
//! worker on waypost-orders.db: runs `order-processing` v1 orders, 64 at once, until Ctrl-C, or once no order is running or waiting for 2 s
//! worker stopped (idle): 184 finished, 0 handed back, 0 parked, 0 stopped
//!   ran here: validate 184, fraud_review 61, express 40, standard 83, reserve_inventory 165, charge_payment 209, ...
//! store: waypost-orders.db
//! ```

mod approvals;
mod args;
mod console;
mod report;
mod services;
mod store;
mod submit;
mod worker;
mod workflow;

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use waypost::prelude::*;

use crate::args::{Mode, args};
use crate::report::{
    Results, Stored, in_step_order, print_before, print_orders, print_store, print_summary,
};
use crate::store::open_store;
use crate::workflow::{make_order, workflow};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args();
    if let Some(format) = args.graph {
        println!("{}", waypost::export::render(workflow().graph(), format));
        return Ok(());
    }
    args.check()?;
    match args.mode {
        None => run_all().await,
        Some(Mode::Submit { wait }) => submit::submit(wait).await,
        Some(Mode::Worker {
            concurrency,
            exit_when_idle,
            console,
        }) => worker::work(concurrency, exit_when_idle, console).await,
        Some(Mode::Console { addr, ref token }) => console::serve(addr, token.clone()).await,
    }
}

/// The all-in-one run: starts (or resumes) every order in this process and prints the
/// results.
async fn run_all() -> anyhow::Result<()> {
    let args = args();
    let ids = args.ids();
    let store = open_store(&args.store, &args.schema).await?;
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
    let results: Results = results.into_iter().collect();

    let ran = services::ran();
    if !ran.is_empty() {
        println!("  ran now: {}", in_step_order(&ran));
    }
    print_orders(&results, args.verbose || ids.len() <= 12);
    print_summary(&results, &Stored::read(&*store, results.keys()).await?);
    // Every reservation made in this process was shipped or released: what the
    // compensation is for.
    println!("  reservations left held: {}", services::inventory().len());
    print_store();
    ensure_same_orders(&results)
}

/// Fails when some executions exist with other orders (another seed).
fn ensure_same_orders(results: &Results) -> anyhow::Result<()> {
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
