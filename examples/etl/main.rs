//! A real ETL job as one durable execution: every flight that left New York City in
//! 2013 (nycflights13), extracted from CSV, validated, transformed on rayon, joined with
//! airlines, airports and the weather at departure, aggregated into delay statistics
//! and loaded into a JSON report. Every step's result is checkpointed in SQLite, so an
//! interrupted run resumes where it stopped.
//!
//! ```text
//! cargo run --example etl                                         # the shipped slice, 2,715 flights
//! cargo run --example etl -- --id etl-2 --crash-after validate    # dies once validate is checkpointed
//! cargo run --example etl -- --id etl-2                           # resumes at transform
//! cargo run --release --example etl -- --data ../shared/data/nycflights13 --id etl-2013
//! cargo run --release --example etl -- --data ../shared/data/nycflights13 --scale 5 --id etl-x5
//! ```
//!
//! `--data DIR` takes a directory laid out like `examples/data/nycflights13` (flights as
//! `flights.csv` or `flights.csv.zip`, plus `airlines.csv`, `airports.csv`,
//! `weather.csv`); `--scale N` repeats the flights N times. Ctrl-C works as well as
//! `--crash-after`: run the same command again to resume. The same `--id` once more
//! shows the stored result without running a step; a new `--id` runs the job again.
//! Expected output (abridged):
//!
//! ```text
//! execution `etl` in waypost-etl.db: starting
//!   extract    2,715 rows from flights.csv, 16 airlines, 1,458 airports, 211 weather hours (0.03 s)
//!   validate   2,231 departed, 484 cancelled, 17 diverted, 0 bad rows (0.00 s)
//!   transform  2,715 flights in 2 chunks on rayon (0.00 s)
//!   enrich     2,715 flights: 2,676 with weather at departure, 2,643 with a known destination (0.01 s)
//!   aggregate  15 carriers, 181 routes, 6 weather conditions (0.00 s)
//!   load       wrote etl-report.json (0.00 s)
//! execution `etl` succeeded in 0.08 s; report in etl-report.json
//!   2,715 rows: 2,231 departed, 484 cancelled, 17 diverted, 0 bad rows
//!
//! step            ran  checkpoint
//! extract      0.03 s      0.01 s
//! ...
//!
//! carrier, by mean departure delay   departed  cancelled  mean dep delay  p90 dep delay  on time
//! EV  ExpressJet Airlines Inc.            309         94        34.9 min         99 min      39%
//! ...
//! weather at departure               departed  cancelled  mean dep delay  p90 dep delay  on time
//! clear                                 1,766         23        12.8 min         42 min      69%
//! ...
//! snow                                    212        398        10.7 min         35 min      44%
//! ```
//!
//! After `--crash-after validate`, the run with the same id prints
//! `resuming, 2 step outputs already committed` and `already done: 0.extract, 1.validate`,
//! and runs from transform on. On the whole year in release mode the job takes about
//! 1.5 s, of which about 0.9 s goes to encoding and committing checkpoints (40 MB).
//!
//! The job in files: `payloads.rs` (what the steps take and return), `steps.rs` (the
//! steps and the workflow), `read.rs` (the CSV files), `stats.rs` (delay statistics),
//! `progress.rs` (progress bars, timings, `--crash-after`); this file runs it and
//! prints the report.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::Parser;
use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{RuntimeConfig, SqliteStore, Store};

mod payloads;
mod progress;
mod read;
mod stats;
mod steps;

use payloads::*;
use progress::*;
use steps::*;

/// Runs (or resumes) the ETL job as one execution on a SQLite store.
#[derive(Debug, Parser)]
struct Args {
    /// Print the workflow's graph in this format (mermaid, dot or asl) and exit without
    /// running anything.
    #[arg(long, value_name = "FORMAT")]
    graph: Option<waypost::export::Format>,
    /// The data directory: flights.csv or flights.csv.zip, airlines.csv, airports.csv,
    /// weather.csv. Default: the slice shipped in examples/data/nycflights13.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Repeat the flights this many times, for big runs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    scale: u32,
    /// The execution id; running the same id again resumes it or shows its result.
    #[arg(long, default_value = "etl")]
    id: String,
    /// The store file.
    #[arg(long, default_value = "waypost-etl.db")]
    store: PathBuf,
    /// Where the report goes.
    #[arg(long, default_value = "etl-report.json")]
    out: PathBuf,
    /// Kill the process (like `kill -9`) right after this step's checkpoint is committed:
    /// extract, validate, transform, enrich or aggregate.
    #[arg(long, value_name = "STEP")]
    crash_after: Option<String>,
    /// Then serve the web console on this address until Ctrl-C: the execution's graph,
    /// timeline and data, decoded (this program has the workflow's types).
    #[arg(long, value_name = "ADDR")]
    console: Option<std::net::SocketAddr>,
}

/// The steps in order, to know which one a `--crash-after` step precedes.
const STEPS: [&str; 6] = [
    "extract",
    "validate",
    "transform",
    "enrich",
    "aggregate",
    "load",
];

/// Flights per item of the transform's `par_map`: small enough to spread over the CPU
/// pool and show progress, large enough that per-item bookkeeping stays negligible.
const CHUNK_ROWS: usize = 2_000;

/// The command line, for the steps to read.
static ARGS: OnceLock<Args> = OnceLock::new();

/// The default data: the slice shipped with the repository, found from the current
/// directory or else from where the repository was when this was built.
fn default_data() -> PathBuf {
    let relative = PathBuf::from("examples/data/nycflights13");
    if relative.exists() {
        relative
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ARGS.get_or_init(Args::parse);
    if let Some(format) = args.graph {
        println!("{}", waypost::export::render(workflow().graph(), format));
        return Ok(());
    }
    if let Some(step) = &args.crash_after {
        // Nothing runs after the last step: crashing after it would not interrupt.
        let steps = &STEPS[..STEPS.len() - 1];
        anyhow::ensure!(
            steps.contains(&step.as_str()),
            "--crash-after takes one of {steps:?}"
        );
    }
    let data = args.data.clone().unwrap_or_else(default_data);
    let store = SqliteStore::open(&args.store)?;
    // The steps whose outputs are stored: those will not run again.
    let before: Vec<String> = match store.checkpoints(&args.id).await {
        Ok(checkpoints) => checkpoints
            .into_iter()
            .filter(|c| c.kind == CheckpointKind::Output)
            .map(|c| c.key)
            .collect(),
        Err(waypost::StoreError::NotFound { .. }) => Vec::new(),
        Err(error) => return Err(error.into()),
    };
    let status = store.execution(&args.id).await.ok().map(|r| r.status);
    println!(
        "execution `{}` in {}: {}",
        args.id,
        args.store.display(),
        match status {
            None => "starting".to_owned(),
            Some(ExecutionStatus::Running) => format!(
                "resuming, {} already committed",
                plural(before.len(), "step output")
            ),
            Some(status) => format!("{status} earlier; showing its stored result"),
        }
    );
    if !before.is_empty() {
        println!("  already done: {}", done_steps(&before));
    }

    // Checkpoints hold the data itself: the flights of the whole year are 12.5 MB as
    // bincode, under the default limit of 16 MiB (a guard against payloads grown by
    // mistake), but `--scale 2` is not. 1 GiB fits `--scale` up to about 80. Data
    // much bigger than that is better kept in files, with steps passing their paths.
    let config = RuntimeConfig::builder().max_payload_bytes(1 << 30).build();
    let runtime = Runtime::builder().store(store).config(config).build();
    let outcome = run(&runtime, data).await;
    if let Some(addr) = args.console {
        let console = waypost_console::Console::new(runtime)?
            .register(&workflow())
            .describe_store(args.store.display().to_string());
        let login = console.login_path().unwrap_or_default();
        let addr = console.spawn(addr).await?;
        println!("console: http://{addr}/executions");
        println!("  open http://{addr}{login} once to act from the pages; Ctrl-C stops it");
        tokio::signal::ctrl_c().await?;
    }
    outcome
}

/// Runs (or resumes) the job, and prints what it did.
async fn run(runtime: &Runtime, data: PathBuf) -> anyhow::Result<()> {
    let args = ARGS.get().expect("parsed in main");
    let job = Job {
        data: data.display().to_string(),
        scale: args.scale,
        out: args.out.display().to_string(),
    };
    let started = Instant::now();
    // The execution runs on a task of its own, so that Ctrl-C is seen at once, even
    // while a step keeps a worker thread busy.
    let execution = tokio::spawn({
        let (runtime, id) = (runtime.clone(), args.id.clone());
        async move { runtime.start(&workflow(), id, job).await }
    });
    let result = tokio::select! {
        result = execution => result?,
        _ = tokio::signal::ctrl_c() => {
            println!("\ninterrupted: run the same command again to resume from the last checkpoint");
            std::process::exit(130);
        }
    };
    match result {
        Ok(loaded) => {
            checkpointed(Instant::now());
            let r = &loaded.report;
            println!(
                "execution `{}` succeeded in {:.2} s; report in {}",
                args.id,
                started.elapsed().as_secs_f64(),
                loaded.path
            );
            println!(
                "  {} rows: {} departed, {} cancelled, {} diverted, {} bad rows",
                thousands(r.rows),
                thousands(r.departed),
                thousands(r.cancelled),
                thousands(r.diverted),
                thousands(r.bad_rows),
            );
            for example in &r.bad_examples {
                println!("  bad row: {example}");
            }
            print_timings();
            print_report(r);
            Ok(())
        }
        Err(RunError::InputMismatch { id }) => anyhow::bail!(
            "execution `{id}` was started with other --data, --scale or --out; \
             run it with those, or choose another --id"
        ),
        Err(RunError::Failed { id, error }) => anyhow::bail!(
            "execution `{id}` failed: {error}\n\
             (the failure is stored with it: once the cause is fixed, run with another --id)"
        ),
        Err(error) => Err(error.into()),
    }
}

/// The top-level steps that have checkpoints, in order: `0.extract, 1.validate`.
fn done_steps(keys: &[String]) -> String {
    let mut steps: Vec<&str> = Vec::new();
    for key in keys {
        let step = key.split('/').next().unwrap_or(key);
        if !steps.contains(&step) {
            steps.push(step);
        }
    }
    steps.join(", ")
}

/// The steps that ran in this process: how long each ran, and how long its checkpoint
/// took to encode and commit.
fn print_timings() {
    let timings = TIMINGS.lock().expect("not poisoned");
    if timings.is_empty() {
        println!("  nothing ran now: every step's result came from the store");
        return;
    }
    println!("\n{:<10} {:>8} {:>11}", "step", "ran", "checkpoint");
    let (mut ran, mut saved) = (Duration::ZERO, Duration::ZERO);
    for t in timings.iter() {
        let checkpoint = t.checkpoint.unwrap_or_default();
        println!(
            "{:<10} {:>6.2} s {:>9.2} s",
            t.step,
            secs(t.ran),
            secs(checkpoint)
        );
        ran += t.ran;
        saved += checkpoint;
    }
    println!(
        "{:<10} {:>6.2} s {:>9.2} s",
        "total",
        secs(ran),
        secs(saved)
    );
}

/// `1 checkpoint`, `2 checkpoints`.
fn plural(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

fn secs(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

fn print_report(r: &Report) {
    let header = |title: &str| {
        println!(
            "\n{title:<34} {:>8} {:>10} {:>15} {:>14} {:>8}",
            "departed", "cancelled", "mean dep delay", "p90 dep delay", "on time"
        );
    };
    let line = |label: String, s: &Stats| {
        let minutes = |v: Option<f64>, precision: usize| {
            v.map_or_else(|| "-".into(), |v| format!("{v:.precision$} min"))
        };
        println!(
            "{label:<34} {:>8} {:>10} {:>15} {:>14} {:>8}",
            thousands(s.departed),
            thousands(s.cancelled),
            minutes(s.mean_dep_delay, 1),
            minutes(s.p90_dep_delay, 0),
            s.on_time_pct
                .map_or_else(|| "-".into(), |v| format!("{v:.0}%")),
        );
    };
    let short = |text: &str| text.chars().take(26).collect::<String>();

    header("carrier, by mean departure delay");
    let mut carriers: Vec<&Stats> = r.carriers.iter().collect();
    carriers.sort_by(|a, b| {
        let delay = |s: &Stats| s.mean_dep_delay.unwrap_or(f64::NEG_INFINITY);
        delay(b).total_cmp(&delay(a))
    });
    for s in carriers {
        line(format!("{:<3} {}", s.key, short(&s.name)), s);
    }
    header("weather at departure");
    for s in &r.weather {
        line(s.name.clone(), s);
    }
    header("busiest routes");
    for s in r.routes.iter().take(5) {
        line(format!("{} {}", s.key, short(&s.name)), s);
    }
}
