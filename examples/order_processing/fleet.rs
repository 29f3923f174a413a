//! The two halves of a fleet: `submit` records the orders as executions and returns (or
//! waits for them), and `worker` runs whatever is waiting in the store — any number of
//! workers, in any number of processes, on one SQLite file or on PostgreSQL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use waypost::prelude::*;
use waypost::store::ListFilter;
use waypost::{ExecutionStatus, SqliteStore, Store, Worker, WorkerOptions};
use waypost_postgres::{PostgresOptions, PostgresStore};

use crate::{Outcome, RAN, args, in_step_order, make_order, print_orders, print_summary, workflow};

/// Opens the store named by `--store`: a PostgreSQL URL, or a SQLite file's path. An
/// unreachable PostgreSQL is waited for (a minute at most), saying so.
pub(crate) async fn open_store(arg: &str) -> anyhow::Result<Arc<dyn Store>> {
    if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
        let store = PostgresStore::connect_retrying(
            arg,
            PostgresOptions::default(),
            Duration::from_secs(60),
            |error, pause| println!("waiting for PostgreSQL ({error}); trying again in {pause:?}"),
        )
        .await?;
        Ok(Arc::new(store))
    } else {
        Ok(Arc::new(SqliteStore::open(arg)?))
    }
}

/// `submit`: records every order as an execution, durably, and returns; with `wait`,
/// then waits for all of them and prints what they came to.
pub(crate) async fn submit(
    store: Arc<dyn Store>,
    ids: &[String],
    wait: bool,
) -> anyhow::Result<()> {
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let workflow = workflow();
    let mut handles = Vec::with_capacity(ids.len());
    let mut new = 0;
    for id in ids {
        let existed = store.execution(id).await.is_ok();
        new += usize::from(!existed);
        handles.push(
            runtime
                .submit(&workflow, id.clone(), make_order(id.clone()))
                .await?,
        );
    }
    println!(
        "submitted {} orders to {}: {new} new, {} already there; workers run them \
         (`order_processing -- --store … worker`)",
        ids.len(),
        args().store,
        ids.len() - new
    );
    if !wait {
        return Ok(());
    }
    let bar = ProgressBar::new(ids.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} finished")?
            .progress_chars("=> "),
    );
    bar.set_prefix("orders");
    let mut waiting = tokio::task::JoinSet::new();
    for handle in handles {
        let bar = bar.clone();
        waiting.spawn(async move {
            let result = handle.output().await;
            bar.inc(1);
            (handle.id().to_owned(), result)
        });
    }
    let results: BTreeMap<String, Result<Outcome, RunError>> =
        waiting.join_all().await.into_iter().collect();
    bar.finish_and_clear();
    print_orders(&results, args().verbose || ids.len() <= 12);
    print_summary(&*store, &results, false).await
}

/// `worker`: runs the executions of the order workflow waiting in the store until
/// Ctrl-C (it then finishes or hands back what it holds), or, with `idle_exit`, once no
/// order has been running or waiting for that long.
pub(crate) async fn worker(
    store: Arc<dyn Store>,
    concurrency: usize,
    idle_exit: Option<Duration>,
) -> anyhow::Result<()> {
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let options = WorkerOptions::builder()
        .concurrency(concurrency)
        .poll_interval(Duration::from_millis(200))
        .shutdown_grace(Duration::from_secs(10))
        .build();
    let worker = Worker::new(runtime, options).register(&workflow());
    println!(
        "worker on {}: running orders, {concurrency} at once (Ctrl-C stops it{})",
        args().store,
        match idle_exit {
            Some(idle) => format!("; it also stops after {idle:?} with nothing to do"),
            None => String::new(),
        }
    );
    let stopping = Arc::new(AtomicBool::new(false));
    let progress = tokio::spawn({
        let stopping = Arc::clone(&stopping);
        async move {
            let mut shown = 0;
            while !stopping.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let ran: u32 = RAN.lock().expect("not poisoned").values().sum();
                if ran != shown {
                    println!("  ran {ran} steps so far");
                    shown = ran;
                }
            }
        }
    });
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => println!("stopping: finishing or handing back what runs"),
            () = idle(&*store, idle_exit) => println!("nothing left to run: stopping"),
        }
    };
    let report = worker.run(shutdown).await?;
    stopping.store(true, Ordering::SeqCst);
    let _ = progress.await;
    let ran = RAN.lock().expect("not poisoned").clone();
    println!(
        "worker done: {} orders finished here, {} handed back, {} stopped early",
        report.finished, report.handed_back, report.stopped
    );
    if !ran.is_empty() {
        println!("  ran here: {}", in_step_order(&ran));
    }
    Ok(())
}

/// Resolves once no order execution has been running for `after` (never without it).
async fn idle(store: &dyn Store, after: Option<Duration>) {
    let Some(after) = after else {
        return std::future::pending().await;
    };
    let filter = ListFilter {
        status: Some(ExecutionStatus::Running),
        workflow: Some(workflow().name().to_owned()),
        limit: Some(1),
    };
    let mut quiet_since = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        match store.list(&filter).await {
            Ok(running) if running.is_empty() => {
                if quiet_since.elapsed() >= after {
                    return;
                }
            }
            _ => quiet_since = tokio::time::Instant::now(),
        }
    }
}
