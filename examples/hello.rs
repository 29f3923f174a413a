//! The first example: an order workflow with a choice, a parallel step, a retry and a
//! catch, run in memory.
//!
//! ```text
//! cargo run --example hello
//! cargo run --example hello -- --graph mermaid   # or dot, asl: print the graph, run nothing
//! ```
//!
//! Expected output (abridged):
//!
//! ```text
//! workflow `hello-orders` v1, states: validate, shipping, ...
//! order 1: shipped 2 items by standard, charged 1998 cents (1 payment attempt)
//! order 2: shipped 1 items by express, charged 1299 cents (3 payment attempts)
//! order 3: payment declined: 7500 cents is over the card limit
//! order 4: failed: InvalidOrder: order 4 has no items
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use waypost::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    id: u32,
    items: u32,
    cents: u64,
    express: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Shipment {
    order: Order,
    method: String,
}

#[step]
async fn validate(order: Order) -> Result<Order, Error> {
    if order.items == 0 {
        // Terminal: no retry can fix an empty order.
        return Err(Error::terminal(
            "InvalidOrder",
            format!("order {} has no items", order.id),
        ));
    }
    Ok(order)
}

#[step]
async fn express(order: Order) -> Shipment {
    Shipment {
        order,
        method: "express".into(),
    }
}

#[step]
async fn standard(order: Order) -> Shipment {
    Shipment {
        order,
        method: "standard".into(),
    }
}

#[step]
async fn reserve_inventory(shipment: Shipment) -> Shipment {
    shipment
}

/// Counts payment attempts, so the example can show its retries.
static PAYMENT_ATTEMPTS: AtomicU32 = AtomicU32::new(0);

#[step]
async fn charge_payment(cx: &StepContext, shipment: Shipment) -> Result<u64, Error> {
    PAYMENT_ATTEMPTS.fetch_add(1, Ordering::Relaxed);
    let order = &shipment.order;
    if order.cents > 5_000 {
        return Err(Error::new(
            "PaymentDeclined",
            format!("{} cents is over the card limit", order.cents),
        ));
    }
    // The express gateway is flaky: it times out on the first two attempts.
    if order.express && cx.attempt() < 3 {
        return Err(Error::new("Transient", "gateway timed out"));
    }
    Ok(order.cents)
}

#[step]
async fn ship((shipment, cents): (Shipment, u64)) -> String {
    format!(
        "shipped {} items by {}, charged {cents} cents",
        shipment.order.items, shipment.method
    )
}

#[step]
async fn payment_declined((_order, error): (Order, Error)) -> String {
    format!("payment declined: {}", error.message())
}

fn workflow() -> Workflow<Order, String> {
    let transient = RetryPolicy::builder()
        .errors(["Transient"])
        .max_attempts(5)
        .interval(Duration::from_millis(20))
        .backoff_rate(2.0)
        .build();
    let shipping = choice()
        .named("shipping")
        .when("express", |o: &Order| o.express, express)
        .otherwise(standard);
    Workflow::new(
        "hello-orders",
        1,
        validate
            .then(shipping)
            .then(parallel((reserve_inventory, charge_payment.retry(transient))).named("fulfil"))
            .then(ship)
            .catch(["PaymentDeclined"], payment_declined),
    )
}

#[tokio::main]
async fn main() {
    let wf = workflow();
    if let Some(format) = std::env::args().skip_while(|a| a != "--graph").nth(1) {
        match format.parse::<waypost::export::Format>() {
            Ok(format) => println!("{}", waypost::export::render(wf.graph(), format)),
            Err(error) => {
                eprintln!("{error}");
                std::process::exit(2);
            }
        }
        return;
    }
    let states: Vec<&str> = wf.graph().nodes().iter().map(|n| n.name.as_str()).collect();
    println!(
        "workflow `{}` v{}, states: {}",
        wf.name(),
        wf.version(),
        states.join(", ")
    );

    let orders = [
        Order {
            id: 1,
            items: 2,
            cents: 1998,
            express: false,
        },
        Order {
            id: 2,
            items: 1,
            cents: 1299,
            express: true,
        },
        Order {
            id: 3,
            items: 5,
            cents: 7500,
            express: false,
        },
        Order {
            id: 4,
            items: 0,
            cents: 0,
            express: false,
        },
    ];
    let runtime = Runtime::new();
    for order in orders {
        let id = order.id;
        let before = PAYMENT_ATTEMPTS.load(Ordering::Relaxed);
        match runtime.run(&wf, order).await {
            Ok(summary) if summary.starts_with("shipped") => {
                let attempts = PAYMENT_ATTEMPTS.load(Ordering::Relaxed) - before;
                let plural = if attempts == 1 { "" } else { "s" };
                println!("order {id}: {summary} ({attempts} payment attempt{plural})");
            }
            Ok(summary) => println!("order {id}: {summary}"),
            Err(error) => println!("order {id}: failed: {error}"),
        }
    }
}
