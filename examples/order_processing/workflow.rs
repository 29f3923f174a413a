//! The orders, what each step hands the next, the steps, and the workflow that joins
//! them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use waypost::prelude::*;

use crate::approvals::{self, Approval};
use crate::args::args;
use crate::services::{begin, hash, inventory, roll};

/// The workflow's name, as stored with each execution.
pub(crate) const NAME: &str = "order-processing";

/// The stages of an order and their steps, in order: `--crash-after` names a stage.
pub(crate) const STAGES: [(&str, &[&str]); 5] = [
    ("validate", &["validate"]),
    ("route", &["fraud_review", "express", "standard"]),
    ("fulfil", &["reserve_inventory", "charge_payment"]),
    ("ship", &["ship", "release_inventory"]),
    (
        "notify",
        &["notify_shipped", "notify_declined", "notify_failed"],
    ),
];

// ---------------------------------------------------------------------------------------
// Payloads. Each is checkpointed, so each is `Clone + Serialize + Deserialize`.

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Order {
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
    pub(crate) fn cents(&self) -> u64 {
        self.lines
            .iter()
            .map(|l| u64::from(l.quantity) * l.unit_cents)
            .sum()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Method {
    Standard,
    Express,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
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
    /// Who approved the order (`--approvals`).
    approved_by: Option<String>,
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
pub(crate) enum Outcome {
    Shipped {
        method: Method,
        cents: u64,
        payment_attempts: u32,
        tracking: String,
        /// Who approved the order (`--approvals`).
        approved_by: Option<String>,
    },
    /// The payment was declined; what was done was undone.
    Compensated {
        cents: u64,
        customer: String,
        reason: String,
    },
}

/// The orders: the same for the same seed, whichever run makes them.
pub(crate) fn make_order(id: String) -> Order {
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
        approved_by: None,
    })
}

#[step]
async fn express(cx: &StepContext, order: Order) -> Routed {
    begin(cx, "express").await;
    Routed {
        order,
        method: Method::Express,
        reviewed: false,
        approved_by: None,
    }
}

#[step]
async fn standard(cx: &StepContext, order: Order) -> Routed {
    begin(cx, "standard").await;
    Routed {
        order,
        method: Method::Standard,
        reviewed: false,
        approved_by: None,
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
        approved_by: shipment.routed.approved_by,
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

/// A person approves the reviewed order (`--approvals`): the callback's token goes to
/// the approvers, and the order waits, durably, for their answer. The order itself goes
/// on beside the wait; the approval names who gave it.
fn approval() -> impl Step<Input = Routed, Output = Routed> {
    let ask = wait_for_callback(
        "approval",
        |routed: Routed, token: CallbackToken| async move {
            approvals::ask(&routed.order.id, routed.order.cents(), &token)
        },
    )
    // Unanswered for a week: the order fails with `States.Timeout`.
    .timeout(Duration::from_secs(7 * 24 * 3600));
    parallel((pass("order", |routed: Routed| routed), ask))
        .named("approve")
        .then(pass(
            "approved",
            |(routed, approval): (Routed, Approval)| Routed {
                approved_by: Some(approval.by),
                ..routed
            },
        ))
}

pub(crate) fn workflow() -> Workflow<Order, Outcome> {
    let review_over = (args().review_over * 100.0).round() as u64;
    let reviewed: BoxStep<Order, Routed> = if args().approvals {
        fraud_review.then(approval()).boxed()
    } else {
        fraud_review.boxed()
    };
    let route = choice()
        .named("route")
        .when(
            "fraud_review",
            move |o: &Order| o.cents() > review_over,
            reviewed,
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
        NAME,
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
