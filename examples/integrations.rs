//! Task integrations: HTTP calls and a subprocess as steps of one durable workflow, with
//! a retry on a 503 (after its `Retry-After`), a catch on a 404, and a resume after a
//! crash that does not repeat the calls whose checkpoints were written.
//!
//! The example starts its own HTTP service on 127.0.0.1 (axum), which counts the calls
//! it gets, then runs: `render` (a subprocess, `sh -c`) → `quote` (POST, 503 once, then
//! 200) → `lookup` (POST, 404, caught: a guest customer) → `place` (POST).
//!
//! ```text
//! cargo run --example integrations --features tasks -- --crash-after quote   # dies after `quote`
//! cargo run --example integrations --features tasks                          # resumes at `lookup`
//! ```
//!
//! Expected output of the second run (abridged):
//!
//! ```text
//! execution `order-1` in waypost-integrations.db
//!   lookup: 404 caught, ordering as a guest
//! order-1 succeeded: ord-1 for GUEST-WIDGET at 1299 cents (Idempotency-Key order-1/4.place#1)
//! calls in this process: render 0, quote 0, lookup 1, place 1
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use clap::Parser;
use serde::{Deserialize, Serialize};
use waypost::prelude::*;
use waypost::tasks::{Command, command, http};
use waypost::{EventKind, SqliteStore};

/// Runs (or resumes) one order through an HTTP service and a subprocess.
#[derive(Debug, Parser)]
struct Args {
    /// The execution id; the same id again resumes it or shows its result.
    #[arg(long, default_value = "order-1")]
    id: String,
    /// The store file.
    #[arg(long, default_value = "waypost-integrations.db")]
    store: PathBuf,
    /// Kill the process right after this step's checkpoint is written: render, quote
    /// or lookup.
    #[arg(long)]
    crash_after: Option<String>,
}

/// The order as it goes from step to step.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Draft {
    item: String,
    customer: u64,
    label: String,
    cents: Option<u64>,
    customer_name: Option<String>,
}

/// What the service answers to a placed order.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Placed {
    order_id: String,
    label: String,
    cents: u64,
    key: String,
}

/// Calls in this process, per step.
static RENDER: AtomicU32 = AtomicU32::new(0);
static QUOTE: AtomicU32 = AtomicU32::new(0);
static LOOKUP: AtomicU32 = AtomicU32::new(0);
static PLACE: AtomicU32 = AtomicU32::new(0);

/// The step to crash after, for the service to read.
static CRASH_AFTER: OnceLock<Option<String>> = OnceLock::new();

/// Called when the step after `previous` reaches the service: its checkpoint is written
/// by now, so this is where `--crash-after previous` dies.
fn crash_point(previous: &str) {
    if CRASH_AFTER.get().and_then(Option::as_deref) == Some(previous) {
        println!("  crashing after `{previous}` as asked: the process dies without finishing");
        std::process::abort();
    }
}

async fn quote(Json(mut draft): Json<Draft>) -> Response {
    crash_point("render");
    if QUOTE.fetch_add(1, Ordering::SeqCst) == 0 {
        println!("  quote: the service answers 503 with Retry-After: 1");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "1")],
            "warming up",
        )
            .into_response();
    }
    draft.cents = Some(1299);
    Json(draft).into_response()
}

async fn lookup(Json(_): Json<Draft>) -> StatusCode {
    crash_point("quote");
    LOOKUP.fetch_add(1, Ordering::SeqCst);
    StatusCode::NOT_FOUND
}

async fn place(headers: HeaderMap, Json(draft): Json<Draft>) -> Json<Placed> {
    crash_point("lookup");
    let n = PLACE.fetch_add(1, Ordering::SeqCst) + 1;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let name = draft.customer_name.unwrap_or_default();
    Json(Placed {
        order_id: format!("ord-{n}"),
        label: format!("{}-{}", name.to_uppercase(), draft.label),
        cents: draft.cents.unwrap_or_default(),
        key,
    })
}

/// Starts the service on a free port of 127.0.0.1; its base URL.
async fn start_service() -> anyhow::Result<String> {
    let app = Router::new()
        .route("/quote", post(quote))
        .route("/customers", post(lookup))
        .route("/orders", post(place));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(base)
}

/// The workflow: render → quote (retried on 503) → lookup (404 caught) → place.
fn workflow(base: &str) -> Workflow<Draft, Placed> {
    let render = command::json::<Draft, Draft>("render", |draft: Draft| {
        RENDER.fetch_add(1, Ordering::SeqCst);
        // The label is made by a subprocess: the item, upper-cased by `tr`.
        let script = r#"label=$(printf %s "$ITEM" | tr a-z A-Z)
printf '{"item":"%s","customer":%s,"label":"%s","cents":null,"customer_name":null}' "$ITEM" "$CUSTOMER" "$label""#;
        Command::shell(script)
            .env("ITEM", draft.item)
            .env("CUSTOMER", draft.customer.to_string())
    });
    let on_503 = RetryPolicy::builder()
        .errors(["Http.503"])
        .max_attempts(3)
        .interval(Duration::from_millis(100))
        .build();
    let quote = http::post::<Draft, Draft>("quote", format!("{base}/quote")).retry(on_503);
    let as_guest = pass("guest", |(draft, error): (Draft, Error)| {
        println!(
            "  lookup: {} caught, ordering as a guest",
            error.name().trim_start_matches("Http.")
        );
        Draft {
            customer_name: Some("guest".to_owned()),
            ..draft
        }
    });
    let lookup = http::post::<Draft, Draft>("lookup", format!("{base}/customers"))
        .catch(["Http.404"], as_guest);
    let place = http::post::<Draft, Placed>("place", format!("{base}/orders"));
    Workflow::new(
        "integrations",
        1,
        render.then(quote).then(lookup).then(place),
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    CRASH_AFTER.set(args.crash_after.clone()).expect("set once");
    let base = start_service().await?;
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&args.store)?)
        .build();
    let wf = workflow(&base);
    println!("execution `{}` in {}", args.id, args.store.display());
    let order = Draft {
        item: "widget".to_owned(),
        customer: 7,
        label: String::new(),
        cents: None,
        customer_name: None,
    };
    let placed = runtime.start(&wf, args.id.clone(), order).await?;
    for event in runtime.history(&args.id).await? {
        if event.kind == EventKind::RetryScheduled {
            println!(
                "  retry of `{}` scheduled after {} ms",
                event.address,
                event.details.delay_ms.unwrap_or_default()
            );
        }
    }
    println!(
        "{} succeeded: {} for {} at {} cents (Idempotency-Key {})",
        args.id, placed.order_id, placed.label, placed.cents, placed.key
    );
    println!(
        "calls in this process: render {}, quote {}, lookup {}, place {}",
        RENDER.load(Ordering::SeqCst),
        QUOTE.load(Ordering::SeqCst),
        LOOKUP.load(Ordering::SeqCst),
        PLACE.load(Ordering::SeqCst)
    );
    Ok(())
}
