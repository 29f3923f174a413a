//! `submit`: records the orders in the store for workers to run; with `--wait`, follows
//! them to their end and prints their results, read from the store.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressStyle};
use waypost::prelude::*;
use waypost::store::ListFilter;
use waypost::{ExecutionHandle, Store, StoreError};

use crate::args::args;
use crate::report::{Results, Stored, print_orders, print_store, print_stored, print_summary};
use crate::store::open_store;
use crate::workflow::{NAME, Outcome, make_order, workflow};

/// Submits every order (once: the orders already in the store are left as they are),
/// then waits for them if asked.
pub(crate) async fn submit(wait: bool) -> anyhow::Result<()> {
    let args = args();
    let ids = args.ids();
    let store = open_store(&args.store, &args.schema).await?;

    let (mut finished, mut unfinished) = (0, 0);
    for id in &ids {
        match store.execution(id).await {
            Ok(record) if record.status.is_finished() => finished += 1,
            Ok(_) => unfinished += 1,
            Err(StoreError::NotFound { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }

    // All at once: their records share the store's commits.
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let workflow = Arc::new(workflow());
    let mut submitting = tokio::task::JoinSet::new();
    for id in &ids {
        let (runtime, workflow, id) = (runtime.clone(), Arc::clone(&workflow), id.clone());
        submitting.spawn(async move {
            let result = runtime.submit(&workflow, &id, make_order(id.clone())).await;
            (id, result)
        });
    }
    let mut handles = BTreeMap::new();
    let mut mismatched = 0;
    for (id, result) in submitting.join_all().await {
        match result {
            Ok(handle) => {
                handles.insert(id, handle);
            }
            Err(RunError::InputMismatch { .. }) => mismatched += 1,
            Err(error) => {
                return Err(anyhow::Error::new(error).context(format!("cannot submit {id}")));
            }
        }
    }
    let already = finished + unfinished;
    let detail = if already > 0 {
        format!(" ({finished} finished, {unfinished} running or waiting)")
    } else {
        String::new()
    };
    println!(
        "{} orders submitted as executions {}..{} to {}: {} new, {already} already there{detail}",
        ids.len(),
        ids.first().map_or("", String::as_str),
        ids.last().map_or("", String::as_str),
        args.store.display(),
        ids.len() - already,
    );
    anyhow::ensure!(
        mismatched == 0,
        "{mismatched} executions were submitted earlier with other orders: submit with the \
         --seed used then, or choose another --prefix"
    );
    if !wait {
        println!(
            "workers run them (cargo run --example order_processing -- worker); \
             `submit --wait` shows their results"
        );
        return Ok(());
    }
    let results = wait_for(&*store, &handles).await?;
    print_orders(&results, args.verbose || ids.len() <= 12);
    let stored = Stored::read(&*store, results.keys()).await?;
    print_summary(&results, &stored);
    print_stored(&stored);
    print_store();
    Ok(())
}

/// Waits until every order has finished, whichever worker runs it, with a progress bar;
/// returns their results.
async fn wait_for(
    store: &dyn Store,
    handles: &BTreeMap<String, ExecutionHandle<Outcome>>,
) -> anyhow::Result<Results> {
    println!(
        "waiting for workers to run them: start one with \
         `cargo run --example order_processing -- worker`"
    );
    let bar = ProgressBar::new(handles.len() as u64).with_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} finished  {msg}")?
            .progress_chars("=> "),
    );
    bar.set_prefix("orders");
    let ours: BTreeSet<&str> = handles.keys().map(String::as_str).collect();
    // One read of the store per round, whatever the number of orders.
    let filter = ListFilter {
        workflow: Some(NAME.to_owned()),
        ..ListFilter::default()
    };
    loop {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let (mut done, mut unclaimed) = (0, 0);
        for record in store.list(&filter).await? {
            if !ours.contains(record.id.as_str()) {
                continue;
            }
            if record.status.is_finished() {
                done += 1;
            } else if record.waits_for_a_worker(now_ms) {
                unclaimed += 1;
            }
        }
        bar.set_position(done);
        bar.set_message(if unclaimed > 0 {
            format!("{unclaimed} waiting for a worker")
        } else {
            String::new()
        });
        if done == handles.len() as u64 {
            break;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
            _ = tokio::signal::ctrl_c() => {
                bar.abandon();
                println!(
                    "\nstopped waiting: the orders stay submitted and the workers go on \
                     with them; `submit --wait` again shows where they are"
                );
                std::process::exit(130);
            }
        }
    }
    bar.finish_and_clear();
    let mut results = Results::new();
    for (id, handle) in handles {
        // Finished: the output is there at once.
        results.insert(id.clone(), handle.output().await);
    }
    Ok(results)
}
