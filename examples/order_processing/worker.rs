//! `worker`: runs the orders of the store, whichever process submitted them, until
//! Ctrl-C (or, with `--exit-when-idle`, until none is left), and says what it did.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use waypost::prelude::*;
use waypost::store::ListFilter;
use waypost::{ExecutionStatus, Store, Worker, WorkerOptions, WorkerReport};

use crate::args::args;
use crate::report::{in_step_order, print_store};
use crate::services;
use crate::store::open_store;
use crate::workflow::{NAME, workflow};

/// Runs a worker for the order workflow on the store until it is told to stop.
pub(crate) async fn work(
    concurrency: u32,
    exit_when_idle: Option<u64>,
    console: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let args = args();
    let store = open_store(&args.store, &args.schema).await?;
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let workflow = workflow();
    if let Some(addr) = console {
        crate::console::spawn(runtime.clone(), addr, None).await?;
    }
    let options = WorkerOptions::builder()
        .concurrency(concurrency as usize)
        .build();
    let grace = options.shutdown_grace;
    let worker = Worker::new(runtime, options).register(&workflow);
    let idle_note = match exit_when_idle {
        Some(secs) => format!(", or once no order is running or waiting for {secs} s"),
        None => String::new(),
    };
    println!(
        "worker on {}: runs `{NAME}` v{} orders, {concurrency} at once, until Ctrl-C{idle_note}",
        args.store.display(),
        workflow.version(),
    );

    let bar = ProgressBar::new_spinner().with_style(ProgressStyle::with_template(
        "{spinner} {elapsed:>4} {msg}",
    )?);
    bar.enable_steady_tick(Duration::from_millis(100));
    let progress = tokio::spawn(show_progress(Arc::clone(&store), bar.clone()));

    let why = Mutex::new("");
    let shutdown = async {
        let idle = async {
            match exit_when_idle {
                Some(secs) => idle_for(&*store, Duration::from_secs(secs)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {
                *why.lock().expect("not poisoned") = "Ctrl-C";
                bar.suspend(|| {
                    println!(
                        "stopping: the orders in flight may finish for {} s, the rest go \
                         back to the store for other workers; Ctrl-C again to exit at once",
                        grace.as_secs()
                    );
                });
                tokio::spawn(async {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        println!(
                            "\nexiting at once: the orders still held here go to another \
                             worker once their leases run out"
                        );
                        std::process::exit(130);
                    }
                });
            }
            () = idle => *why.lock().expect("not poisoned") = "idle",
        }
    };
    let report = worker.run(shutdown).await?;
    progress.abort();
    bar.finish_and_clear();

    let why = why.into_inner().expect("not poisoned");
    let WorkerReport {
        finished,
        stopped,
        handed_back,
        parked,
        ..
    } = report;
    println!(
        "worker stopped ({why}): {finished} finished, {handed_back} handed back, \
         {parked} parked, {stopped} stopped"
    );
    let ran = services::ran();
    if !ran.is_empty() {
        println!("  ran here: {}", in_step_order(&ran));
    }
    print_store();
    Ok(())
}

/// Returns once no execution of the order workflow has been running or waiting in the
/// store for `quiet`. A store that fails to answer is not idle.
async fn idle_for(store: &dyn Store, quiet: Duration) {
    let filter = ListFilter {
        status: Some(ExecutionStatus::Running),
        workflow: Some(NAME.to_owned()),
        limit: Some(1),
        ..ListFilter::default()
    };
    let mut since: Option<Instant> = None;
    loop {
        match store.list(&filter).await {
            Ok(open) if open.is_empty() => {
                if since.get_or_insert_with(Instant::now).elapsed() >= quiet {
                    return;
                }
            }
            _ => since = None,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Once a second: how many of the orders this worker ran have finished, and how many
/// are running or waiting in the store.
async fn show_progress(store: Arc<dyn Store>, bar: ProgressBar) {
    let open = ListFilter {
        status: Some(ExecutionStatus::Running),
        workflow: Some(NAME.to_owned()),
        limit: None,
        ..ListFilter::default()
    };
    let mut finished = BTreeSet::new();
    loop {
        for id in services::orders_run_here() {
            if finished.contains(&id) {
                continue;
            }
            if let Ok(record) = store.execution(&id).await
                && record.status.is_finished()
            {
                finished.insert(id);
            }
        }
        let steps: u32 = services::ran().values().sum();
        let waiting = match store.list(&open).await {
            Ok(records) => records.len().to_string(),
            Err(_) => "?".to_owned(),
        };
        bar.set_message(format!(
            "{} orders run here have finished ({steps} steps run here); \
             {waiting} running or waiting in the store",
            finished.len()
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
