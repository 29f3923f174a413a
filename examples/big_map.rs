//! A million flights through one `par_map`, in bounded memory, resumable.
//!
//! The flights are read lazily from `flights.csv` (the slice shipped in
//! `examples/data/nycflights13`, read over and over until `--items` flights have gone
//! by; or the whole year with `--data ../shared/data/nycflights13`), assessed one by
//! one on the CPU pool, and folded into per-airline statistics. No list of flights or
//! of results is ever held: the map commits its position and the statistics so far
//! every `--commit-every` flights, and a run that was interrupted carries on from its
//! last commit.
//!
//! ```sh
//! cargo run --release --example big_map                          # 1,000,000 flights
//! cargo run --release --example big_map -- --crash-after 400000  # dies on purpose ...
//! cargo run --release --example big_map                          # ... and resumes
//! /usr/bin/time -v target/release/examples/big_map --fresh       # peak memory
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Deserializer, Serialize};
use waypost::prelude::*;
use waypost::{SqliteStore, Store};

#[derive(Parser, Debug)]
#[command(about = "A million flights through one par_map, in bounded memory, resumable")]
struct Args {
    /// Print the workflow's graph in this format (mermaid, dot or asl) and exit without
    /// running anything.
    #[arg(long, value_name = "FORMAT")]
    graph: Option<waypost::export::Format>,
    /// A directory with `flights.csv` or `flights.csv.zip` (nycflights13).
    #[arg(long, default_value = "examples/data/nycflights13")]
    data: PathBuf,
    /// How many flights to assess: the file is read again from its start as often as
    /// needed.
    #[arg(long, default_value_t = 1_000_000)]
    items: u64,
    /// Commit the map's position and statistics after this many flights.
    #[arg(long, default_value_t = 20_000)]
    commit_every: usize,
    /// Die on purpose once this many flights were assessed in this process.
    #[arg(long)]
    crash_after: Option<u64>,
    /// Start over: delete the store first.
    #[arg(long)]
    fresh: bool,
    /// The store file.
    #[arg(long, default_value = "waypost-big-map.db")]
    store: PathBuf,
}

/// The map's input: where the flights are and how many to read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Source {
    csv: PathBuf,
    items: u64,
}

/// One row of `flights.csv`, as much of it as the assessment needs. (Items themselves
/// are never checkpointed: only the statistics they fold into.)
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flight {
    carrier: String,
    #[serde(deserialize_with = "number_or_na")]
    dep_delay: Option<f64>,
    #[serde(deserialize_with = "number_or_na")]
    arr_delay: Option<f64>,
    distance: f64,
    #[serde(deserialize_with = "number_or_na")]
    air_time: Option<f64>,
}

/// A number, or `NA` (the data's missing value) as `None`.
fn number_or_na<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let text = <&str>::deserialize(d)?;
    match text {
        "NA" | "" => Ok(None),
        text => text.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// What one flight tells.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Assessment {
    carrier: String,
    cancelled: bool,
    arr_delay: f64,
    /// Minutes made up in the air: departure delay minus arrival delay.
    made_up: f64,
    /// Miles per hour in the air.
    speed: f64,
}

/// Per-airline figures, folded flight by flight.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Airline {
    flights: u64,
    cancelled: u64,
    on_time: u64,
    arr_delay: f64,
    made_up: f64,
    speed: f64,
}

type Stats = BTreeMap<String, Airline>;

/// Flights assessed by this process (the progress bar and `--crash-after` read it).
static ASSESSED: AtomicU64 = AtomicU64::new(0);
static CRASH_AFTER: AtomicU64 = AtomicU64::new(u64::MAX);

/// The CPU part: a handful of arithmetic per flight, on the rayon pool.
#[step]
fn assess(flight: Flight) -> Assessment {
    let done = ASSESSED.fetch_add(1, Ordering::Relaxed) + 1;
    if done == CRASH_AFTER.load(Ordering::Relaxed) {
        println!("\ncrashing on purpose after {done} flights: the process dies mid-map");
        std::process::exit(3);
    }
    let cancelled = flight.arr_delay.is_none() || flight.air_time.is_none();
    let arr_delay = flight.arr_delay.unwrap_or(0.0);
    Assessment {
        carrier: flight.carrier,
        cancelled,
        arr_delay,
        made_up: flight.dep_delay.unwrap_or(0.0) - arr_delay,
        speed: flight
            .air_time
            .filter(|t| *t > 0.0)
            .map_or(0.0, |t| flight.distance / (t / 60.0)),
    }
}

fn fold(mut stats: Stats, a: Assessment) -> Stats {
    let airline = stats.entry(a.carrier).or_default();
    airline.flights += 1;
    if a.cancelled {
        airline.cancelled += 1;
    } else {
        airline.on_time += u64::from(a.arr_delay < 15.0);
        airline.arr_delay += a.arr_delay;
        airline.made_up += a.made_up;
        airline.speed += a.speed;
    }
    stats
}

/// The rows of one pass over `csv`.
type Rows = Box<dyn Iterator<Item = Result<Flight, Error>> + Send>;

fn rows(csv: &Path) -> Result<Rows, Error> {
    let file = File::open(csv).map_err(|e| unreadable(csv, e))?;
    Ok(Box::new(
        csv::Reader::from_reader(BufReader::new(file))
            .into_deserialize::<Flight>()
            .map(|row| row.map_err(|e| Error::new("BadRow", e.to_string()))),
    ))
}

/// The flights of `source.csv`, read again from its start until `source.items` went by.
fn read_flights(source: Source) -> Result<impl Iterator<Item = Result<Flight, Error>>, Error> {
    let mut first = rows(&source.csv)?.peekable();
    if first.peek().is_none() {
        // Reading an empty file over and over would never end.
        return Err(unreadable(&source.csv, "holds no flights"));
    }
    let again = std::iter::repeat_with(move || {
        rows(&source.csv).unwrap_or_else(|error| Box::new(std::iter::once(Err(error))))
    });
    let items = usize::try_from(source.items).unwrap_or(usize::MAX);
    Ok(std::iter::once(Box::new(first) as Rows)
        .chain(again)
        .flatten()
        .take(items))
}

fn unreadable(path: &Path, error: impl std::fmt::Display) -> Error {
    Error::terminal("DataUnreadable", format!("{}: {error}", path.display()))
}

/// `flights.csv` in `dir`, or the one in `flights.csv.zip` unpacked next to the store.
fn flights_csv(dir: &Path, store: &Path) -> anyhow::Result<PathBuf> {
    let plain = dir.join("flights.csv");
    if plain.exists() {
        return Ok(plain);
    }
    let zipped = dir.join("flights.csv.zip");
    let unpacked = store.with_extension("flights.csv");
    if !unpacked.exists() {
        let mut archive = zip::ZipArchive::new(File::open(&zipped)?)?;
        let mut entry = archive.by_name("flights.csv")?;
        let mut out = File::create(&unpacked)?;
        std::io::copy(&mut (&mut entry as &mut dyn Read), &mut out)?;
    }
    Ok(unpacked)
}

fn workflow(commit_every: usize) -> Workflow<Source, Stats> {
    Workflow::new(
        "big-map",
        1,
        par_map(assess)
            .named("assess")
            .items(read_items(read_flights))
            .commit_every(commit_every)
            .fold(Stats::new(), fold),
    )
}

/// The peak resident memory of this process, from Linux's `/proc`.
fn peak_memory() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(format) = args.graph {
        let wf = workflow(args.commit_every);
        println!("{}", waypost::export::render(wf.graph(), format));
        return Ok(());
    }
    if args.fresh {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", args.store.display()));
        }
    }
    if let Some(n) = args.crash_after {
        CRASH_AFTER.store(n, Ordering::Relaxed);
    }
    let source = Source {
        csv: flights_csv(&args.data, &args.store)?,
        items: args.items,
    };
    let store = Arc::new(SqliteStore::open(&args.store)?);
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .build();
    let wf = workflow(args.commit_every);
    println!(
        "assessing {} flights from {} on {} CPU threads, committing every {}",
        args.items,
        source.csv.display(),
        rayon::current_num_threads(),
        args.commit_every
    );

    let bar = ProgressBar::new(args.items).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} flights assessed here, {per_sec}")
            .expect("a valid template"),
    );
    let ticker = {
        let bar = bar.clone();
        tokio::spawn(async move {
            loop {
                bar.set_position(ASSESSED.load(Ordering::Relaxed));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = Instant::now();
    let stats = runtime.start(&wf, "flights", source).await;
    ticker.abort();
    bar.finish_and_clear();
    let stats = stats?;
    let took = started.elapsed();

    let here = ASSESSED.load(Ordering::Relaxed);
    println!(
        "execution `flights` succeeded: {} flights, {here} assessed by this process{} in {:.2} s",
        stats.values().map(|a| a.flights).sum::<u64>(),
        if here < args.items {
            " (the others were committed by an earlier run)"
        } else {
            ""
        },
        took.as_secs_f64()
    );
    println!(
        "\n{:<8} {:>9} {:>10} {:>8} {:>16} {:>12} {:>8}",
        "airline", "flights", "cancelled", "on time", "mean arr delay", "made up", "mph"
    );
    for (carrier, a) in &stats {
        let flown = (a.flights - a.cancelled).max(1) as f64;
        println!(
            "{carrier:<8} {:>9} {:>9.1}% {:>7.1}% {:>12.1} min {:>8.1} min {:>8.0}",
            a.flights,
            100.0 * a.cancelled as f64 / a.flights as f64,
            100.0 * a.on_time as f64 / flown,
            a.arr_delay / flown,
            a.made_up / flown,
            a.speed / flown,
        );
    }
    let checkpoints = store.checkpoints("flights").await?.len();
    println!(
        "\n{checkpoints} checkpoints in {} for {} flights",
        args.store.display(),
        args.items
    );
    if let Some(peak) = peak_memory() {
        println!("peak memory of this process: {peak}");
    }
    Ok(())
}
