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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Deserializer, Serialize};
use waypost::prelude::*;
use waypost::store::CheckpointKind;
use waypost::{RuntimeConfig, SqliteStore, Store};

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

// ---------------------------------------------------------------------------------------
// Payloads: what the steps take and return. Each is checkpointed (bincode), so each is
// `Clone + Serialize + Deserialize`.

/// What the workflow is started with: the execution's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Job {
    data: String,
    scale: u32,
    out: String,
}

/// A row of flights.csv, typed, with the columns the job uses; `None` where the file
/// says `NA` or nothing. Delays are in whole minutes, as in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flight {
    /// The line of the file, for reports of bad rows.
    line: u64,
    month: u8,
    day: u8,
    dep_time: Option<u16>,
    sched_dep_time: u16,
    dep_delay: Option<i32>,
    arr_delay: Option<i32>,
    carrier: String,
    origin: String,
    dest: String,
    /// The scheduled departure hour, in hours since 1970-01-01 UTC: the weather's key.
    hour_utc: u32,
}

/// A row that could not be used, and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct BadRow {
    line: u64,
    reason: String,
}

/// The small tables the flights are joined with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Tables {
    /// Carrier code to airline name.
    airlines: BTreeMap<String, String>,
    /// FAA code to airport name.
    airports: BTreeMap<String, String>,
    weather: Vec<Weather>,
}

/// The weather at an origin airport during one hour.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Weather {
    origin: String,
    hour_utc: u32,
    /// Fahrenheit.
    temp: Option<f64>,
    /// Inches of precipitation.
    precip: Option<f64>,
    /// Miles.
    visib: Option<f64>,
    /// Miles per hour.
    wind_speed: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Extracted {
    job: Job,
    source: String,
    flights: Vec<Flight>,
    bad: Vec<BadRow>,
    tables: Tables,
}

/// What validation found, carried to the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Quality {
    source: String,
    rows: u64,
    departed: u64,
    cancelled: u64,
    /// Departed but never arrived where planned: no arrival delay.
    diverted: u64,
    bad_rows: u64,
    /// The first few bad rows.
    bad_examples: Vec<BadRow>,
}

/// A slice of the flights: one item of the transform's `par_map`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Chunk {
    /// How many chunks there are, for the progress bar.
    of: u32,
    flights: Vec<Flight>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Validated {
    job: Job,
    quality: Quality,
    tables: Tables,
    chunks: Vec<Chunk>,
}

/// What the transform does not touch, carried around its `par_map`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Carried {
    job: Job,
    quality: Quality,
    tables: Tables,
}

/// A flight, reduced to what the report needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Leg {
    carrier: String,
    origin: String,
    dest: String,
    /// `None` for a cancelled flight.
    dep_delay: Option<i32>,
    arr_delay: Option<i32>,
    /// Minutes made up in the air: departure delay minus arrival delay.
    gained: Option<i32>,
    hour_utc: u32,
}

/// The weather at departure, in a few words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Condition {
    Clear,
    Windy,
    LowVisibility,
    Rain,
    Snow,
    /// No weather was recorded for that hour.
    Unknown,
}

impl Condition {
    /// The name in the report: `low_visibility`.
    fn key(self) -> &'static str {
        match self {
            Condition::Clear => "clear",
            Condition::Windy => "windy",
            Condition::LowVisibility => "low_visibility",
            Condition::Rain => "rain",
            Condition::Snow => "snow",
            Condition::Unknown => "unknown",
        }
    }

    fn of(weather: Option<&Weather>) -> Condition {
        let Some(w) = weather else {
            return Condition::Unknown;
        };
        let precip = w.precip.unwrap_or(0.0);
        if precip > 0.0 && w.temp.is_some_and(|t| t <= 34.0) {
            Condition::Snow
        } else if precip > 0.0 {
            Condition::Rain
        } else if w.visib.is_some_and(|v| v < 3.0) {
            Condition::LowVisibility
        } else if w.wind_speed.is_some_and(|s| s >= 20.0) {
            Condition::Windy
        } else {
            Condition::Clear
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Condition::Clear => "clear",
            Condition::Windy => "windy",
            Condition::LowVisibility => "low visibility",
            Condition::Rain => "rain",
            Condition::Snow => "snow",
            Condition::Unknown => "unknown",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct EnrichedLeg {
    leg: Leg,
    condition: Condition,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Enriched {
    job: Job,
    quality: Quality,
    airlines: BTreeMap<String, String>,
    airports: BTreeMap<String, String>,
    legs: Vec<EnrichedLeg>,
}

/// Delay statistics of a group of flights; delays in minutes, `None` without flights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Stats {
    /// Carrier code, `JFK-LAX`, or weather condition.
    key: String,
    /// Airline, destination airport, or condition in words.
    name: String,
    departed: u64,
    cancelled: u64,
    mean_dep_delay: Option<f64>,
    median_dep_delay: Option<f64>,
    p90_dep_delay: Option<f64>,
    mean_arr_delay: Option<f64>,
    /// Minutes made up in the air, on average.
    mean_gained: Option<f64>,
    /// Percent of the flights with an arrival delay that arrived less than 15 minutes late.
    on_time_pct: Option<f64>,
}

/// The report the job writes, and the workflow's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    source: String,
    scale: u32,
    rows: u64,
    departed: u64,
    cancelled: u64,
    diverted: u64,
    bad_rows: u64,
    bad_examples: Vec<String>,
    carriers: Vec<Stats>,
    routes: Vec<Stats>,
    weather: Vec<Stats>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Aggregated {
    job: Job,
    report: Report,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Loaded {
    path: String,
    report: Report,
}

// ---------------------------------------------------------------------------------------
// Steps. Each prints one line with its timing when it has run; a step whose checkpoint
// is replayed on resume does not run, and prints nothing.

/// Reads the flights (zipped or not) and the tables they are joined with.
#[step]
fn extract(job: Job) -> Result<Extracted, Error> {
    let started = begin("extract");
    let dir = Path::new(&job.data);
    let (source, mut flights, bad) = read_flights(dir)?;
    let read = flights.len();
    if job.scale > 1 {
        flights.reserve(read * (job.scale as usize - 1));
        for _ in 1..job.scale {
            flights.extend_from_within(..read);
        }
    }
    let tables = read_tables(dir)?;
    done(
        "extract",
        started,
        &format!(
            "{} rows from {source}{}, {} airlines, {} airports, {} weather hours",
            thousands(read + bad.len()),
            if job.scale > 1 {
                format!(" x{}", job.scale)
            } else {
                String::new()
            },
            tables.airlines.len(),
            thousands(tables.airports.len()),
            thousands(tables.weather.len()),
        ),
    );
    Ok(Extracted {
        job,
        source,
        flights,
        bad,
        tables,
    })
}

/// Sorts the rows into departed flights, cancelled ones and bad ones. Nothing here is
/// fatal: the counts go to the report.
#[step]
fn validate(input: Extracted) -> Validated {
    let started = begin("validate");
    let Extracted {
        job,
        source,
        flights,
        mut bad,
        tables,
    } = input;
    // Bad rows of the file repeat with each copy, like the good ones.
    let copies = bad.len() * job.scale as usize;
    let mut quality = Quality {
        source,
        rows: (flights.len() + copies) as u64,
        bad_rows: copies as u64,
        ..Quality::default()
    };
    let mut valid = Vec::with_capacity(flights.len());
    for flight in flights {
        if let Err(reason) = check(&flight, &tables) {
            quality.bad_rows += 1;
            bad.push(BadRow {
                line: flight.line,
                reason,
            });
            continue;
        }
        if flight.dep_time.is_none() {
            quality.cancelled += 1;
        } else {
            quality.departed += 1;
            quality.diverted += u64::from(flight.arr_delay.is_none());
        }
        valid.push(flight);
    }
    bad.sort_by_key(|b| b.line);
    bad.truncate(5);
    quality.bad_examples = bad;
    let of = valid.len().div_ceil(CHUNK_ROWS) as u32;
    let mut chunks = Vec::with_capacity(of as usize);
    let mut rest = valid.into_iter().peekable();
    while rest.peek().is_some() {
        let flights: Vec<Flight> = rest.by_ref().take(CHUNK_ROWS).collect();
        chunks.push(Chunk { of, flights });
    }
    done(
        "validate",
        started,
        &format!(
            "{} departed, {} cancelled, {} diverted, {} bad rows",
            thousands(quality.departed),
            thousands(quality.cancelled),
            thousands(quality.diverted),
            thousands(quality.bad_rows)
        ),
    );
    Validated {
        job,
        quality,
        tables,
        chunks,
    }
}

/// Why a typed row makes no sense, if it does not.
fn check(flight: &Flight, tables: &Tables) -> Result<(), String> {
    if !(1..=12).contains(&flight.month) || !(1..=31).contains(&flight.day) {
        return Err(format!(
            "no such date: month {}, day {}",
            flight.month, flight.day
        ));
    }
    if flight.sched_dep_time % 100 >= 60 || flight.sched_dep_time > 2359 {
        return Err(format!(
            "scheduled departure {} is not a time",
            flight.sched_dep_time
        ));
    }
    if !tables.airlines.contains_key(&flight.carrier) {
        return Err(format!("unknown carrier `{}`", flight.carrier));
    }
    if !tables.airports.contains_key(&flight.origin) {
        return Err(format!("unknown origin `{}`", flight.origin));
    }
    if flight.dep_time.is_some() != flight.dep_delay.is_some() {
        return Err("a departure time without a departure delay, or the reverse".into());
    }
    Ok(())
}

/// The CPU part of the job, one chunk per `par_map` item on rayon.
#[step]
fn transform_chunk(chunk: Chunk) -> Vec<Leg> {
    let progress = TRANSFORM.get_or_init(|| Progress::start("transform", chunk.of.into()));
    let legs: Vec<Leg> = chunk
        .flights
        .into_iter()
        .map(|f| Leg {
            dep_delay: f.dep_delay,
            gained: f.dep_delay.zip(f.arr_delay).map(|(dep, arr)| dep - arr),
            arr_delay: f.arr_delay,
            carrier: f.carrier,
            origin: f.origin,
            dest: f.dest,
            hour_utc: f.hour_utc,
        })
        .collect();
    progress
        .rows
        .fetch_add(legs.len() as u64, Ordering::Relaxed);
    progress.bar.inc(1);
    if progress.chunks.fetch_add(1, Ordering::Relaxed) + 1 == u64::from(chunk.of) {
        progress.bar.finish_and_clear();
        done(
            "transform",
            progress.started,
            &format!(
                "{} flights in {} chunks on rayon",
                thousands(progress.rows.load(Ordering::Relaxed)),
                chunk.of
            ),
        );
    }
    legs
}

/// Joins the flights with airline and airport names and the weather at departure.
#[step]
fn enrich((carried, chunks): (Carried, Vec<Vec<Leg>>)) -> Enriched {
    let started = begin("enrich");
    let Carried {
        job,
        quality,
        tables,
    } = carried;
    let weather: HashMap<(&str, u32), &Weather> = tables
        .weather
        .iter()
        .map(|w| ((w.origin.as_str(), w.hour_utc), w))
        .collect();
    let (mut with_weather, mut known_dest) = (0u64, 0u64);
    let legs: Vec<EnrichedLeg> = chunks
        .into_iter()
        .flatten()
        .map(|leg| {
            let at = weather.get(&(leg.origin.as_str(), leg.hour_utc)).copied();
            with_weather += u64::from(at.is_some());
            known_dest += u64::from(tables.airports.contains_key(&leg.dest));
            EnrichedLeg {
                condition: Condition::of(at),
                leg,
            }
        })
        .collect();
    // Only the names of airports that occur: the report needs no more.
    let used: HashSet<&str> = legs
        .iter()
        .flat_map(|l| [l.leg.origin.as_str(), l.leg.dest.as_str()])
        .collect();
    let airports = tables
        .airports
        .iter()
        .filter(|(code, _)| used.contains(code.as_str()))
        .map(|(code, name)| (code.clone(), name.clone()))
        .collect();
    done(
        "enrich",
        started,
        &format!(
            "{} flights: {} with weather at departure, {} with a known destination",
            thousands(legs.len()),
            thousands(with_weather),
            thousands(known_dest)
        ),
    );
    Enriched {
        job,
        quality,
        airlines: tables.airlines,
        airports,
        legs,
    }
}

/// Delay statistics per carrier, per route and per weather condition.
#[step]
fn aggregate(input: Enriched) -> Aggregated {
    let started = begin("aggregate");
    let Enriched {
        job,
        quality,
        airlines,
        airports,
        legs,
    } = input;
    let mut carriers: BTreeMap<&str, Vec<&Leg>> = BTreeMap::new();
    let mut routes: BTreeMap<(&str, &str), Vec<&Leg>> = BTreeMap::new();
    let mut weather: BTreeMap<Condition, Vec<&Leg>> = BTreeMap::new();
    for EnrichedLeg { leg, condition } in &legs {
        carriers.entry(&leg.carrier).or_default().push(leg);
        routes
            .entry((&leg.origin, &leg.dest))
            .or_default()
            .push(leg);
        weather.entry(*condition).or_default().push(leg);
    }
    let name_of = |code: &str, table: &BTreeMap<String, String>| {
        table.get(code).cloned().unwrap_or_else(|| "?".into())
    };
    let carriers: Vec<Stats> = carriers
        .into_iter()
        .map(|(code, legs)| stats(code.into(), name_of(code, &airlines), &legs))
        .collect();
    let mut routes: Vec<Stats> = routes
        .into_iter()
        .map(|((origin, dest), legs)| {
            stats(format!("{origin}-{dest}"), name_of(dest, &airports), &legs)
        })
        .collect();
    // Busiest first: most flights scheduled.
    routes.sort_by(|a, b| {
        let flights = |s: &Stats| s.departed + s.cancelled;
        flights(b).cmp(&flights(a)).then_with(|| a.key.cmp(&b.key))
    });
    let weather: Vec<Stats> = weather
        .into_iter()
        .map(|(condition, legs)| stats(condition.key().into(), condition.to_string(), &legs))
        .collect();
    done(
        "aggregate",
        started,
        &format!(
            "{} carriers, {} routes, {} weather conditions",
            carriers.len(),
            routes.len(),
            weather.len()
        ),
    );
    let report = Report {
        source: quality.source,
        scale: job.scale,
        rows: quality.rows,
        departed: quality.departed,
        cancelled: quality.cancelled,
        diverted: quality.diverted,
        bad_rows: quality.bad_rows,
        bad_examples: quality
            .bad_examples
            .iter()
            .map(|b| format!("line {}: {}", b.line, b.reason))
            .collect(),
        carriers,
        routes,
        weather,
    };
    Aggregated { job, report }
}

/// Writes the report as JSON. Writing it again gives the same file, so a load
/// interrupted half-way is safe to run again.
#[step]
fn load(input: Aggregated) -> Result<Loaded, Error> {
    let started = begin("load");
    let path = input.job.out;
    let write = || -> Result<(), Box<dyn std::error::Error>> {
        let file = BufWriter::new(File::create(&path)?);
        serde_json::to_writer_pretty(file, &input.report)?;
        Ok(())
    };
    write().map_err(|e| Error::new("ReportNotWritten", format!("cannot write {path}: {e}")))?;
    done("load", started, &format!("wrote {path}"));
    Ok(Loaded {
        path,
        report: input.report,
    })
}

fn workflow() -> Workflow<Job, Loaded> {
    // The transform maps over the chunks only; a parallel state with a pass branch
    // carries the rest of the payload around it (what ASL's ResultPath does).
    let transform = parallel((
        pass("carry", |v: Validated| Carried {
            job: v.job,
            quality: v.quality,
            tables: v.tables,
        }),
        pass("chunks", |v: Validated| v.chunks).then(par_map(transform_chunk).named("map")),
    ))
    .named("transform");
    Workflow::new(
        "etl-nycflights13",
        1,
        extract
            .then(validate)
            .then(transform)
            .then(enrich)
            .then(aggregate)
            .then(load),
    )
}

// ---------------------------------------------------------------------------------------
// Reading the files.

/// A row of flights.csv as the file has it. Columns not listed here are not read.
#[derive(Deserialize)]
struct FlightRow<'a> {
    month: u8,
    day: u8,
    #[serde(deserialize_with = "na")]
    dep_time: Option<u16>,
    sched_dep_time: u16,
    #[serde(deserialize_with = "na")]
    dep_delay: Option<i32>,
    #[serde(deserialize_with = "na")]
    arr_delay: Option<i32>,
    carrier: &'a str,
    origin: &'a str,
    dest: &'a str,
    time_hour: &'a str,
}

#[derive(Deserialize)]
struct WeatherRow {
    origin: String,
    #[serde(deserialize_with = "na")]
    temp: Option<f64>,
    #[serde(deserialize_with = "na")]
    precip: Option<f64>,
    #[serde(deserialize_with = "na")]
    visib: Option<f64>,
    #[serde(deserialize_with = "na")]
    wind_speed: Option<f64>,
    time_hour: String,
}

/// A value that the file may leave empty or write as `NA`.
fn na<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    let text = <&str>::deserialize(deserializer)?;
    match text {
        "" | "NA" => Ok(None),
        _ => text.parse().map(Some).map_err(|e| {
            let expected = std::any::type_name::<T>();
            serde::de::Error::custom(format!("cannot read `{text}` as {expected}: {e}"))
        }),
    }
}

fn unreadable(path: &Path, error: impl fmt::Display) -> Error {
    // Terminal: no retry makes a missing or broken file readable.
    Error::terminal("DataUnreadable", format!("{}: {error}", path.display()))
}

/// The flights from `flights.csv`, or else from the `flights.csv` in `flights.csv.zip`.
fn read_flights(dir: &Path) -> Result<(String, Vec<Flight>, Vec<BadRow>), Error> {
    let plain = dir.join("flights.csv");
    if plain.exists() {
        let file = File::open(&plain).map_err(|e| unreadable(&plain, e))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let (flights, bad) = parse_flights(file, size).map_err(|e| unreadable(&plain, e))?;
        return Ok(("flights.csv".into(), flights, bad));
    }
    let zipped = dir.join("flights.csv.zip");
    if !zipped.exists() {
        return Err(unreadable(
            dir,
            "has neither flights.csv nor flights.csv.zip",
        ));
    }
    let file = File::open(&zipped).map_err(|e| unreadable(&zipped, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| unreadable(&zipped, e))?;
    let entry = archive
        .by_name("flights.csv")
        .map_err(|e| unreadable(&zipped, format!("flights.csv: {e}")))?;
    let size = entry.size();
    let (flights, bad) = parse_flights(entry, size).map_err(|e| unreadable(&zipped, e))?;
    Ok(("flights.csv.zip".into(), flights, bad))
}

/// Parses flights, with a progress bar over the bytes read. A row that does not parse
/// is set aside as bad; only an I/O error fails.
fn parse_flights(input: impl Read, size: u64) -> Result<(Vec<Flight>, Vec<BadRow>), csv::Error> {
    let bar = bar(
        size,
        "extract",
        "{prefix:>11} [{bar:40}] {bytes}/{total_bytes} {eta}",
    );
    let mut reader = csv::Reader::from_reader(bar.wrap_read(input));
    let headers = reader.headers()?.clone();
    let mut record = csv::StringRecord::new();
    let (mut flights, mut bad) = (Vec::new(), Vec::new());
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) if error.is_io_error() => return Err(error),
            Err(error) => {
                bad.push(BadRow {
                    line,
                    reason: why(&error, &headers),
                });
                continue;
            }
        }
        let row = record
            .deserialize::<FlightRow<'_>>(Some(&headers))
            .map_err(|e| why(&e, &headers))
            .and_then(|row| Flight::from_row(&row, line));
        match row {
            Ok(flight) => flights.push(flight),
            Err(reason) => bad.push(BadRow { line, reason }),
        }
    }
    bar.finish_and_clear();
    Ok((flights, bad))
}

/// What is wrong with a row, in a few words.
fn why(error: &csv::Error, headers: &csv::StringRecord) -> String {
    match error.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where the header has {expected_len}"),
        csv::ErrorKind::Deserialize { err, .. } => {
            match err.field().and_then(|i| headers.get(i as usize)) {
                Some(column) => format!("{column}: {}", err.kind()),
                None => err.kind().to_string(),
            }
        }
        csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
        _ => error.to_string(),
    }
}

impl Flight {
    fn from_row(row: &FlightRow<'_>, line: u64) -> Result<Flight, String> {
        let hour_utc = parse_hour(row.time_hour)
            .ok_or_else(|| format!("time_hour `{}` is not a UTC hour", row.time_hour))?;
        Ok(Flight {
            line,
            month: row.month,
            day: row.day,
            dep_time: row.dep_time,
            sched_dep_time: row.sched_dep_time,
            dep_delay: row.dep_delay,
            arr_delay: row.arr_delay,
            carrier: row.carrier.to_owned(),
            origin: row.origin.to_owned(),
            dest: row.dest.to_owned(),
            hour_utc,
        })
    }
}

fn read_tables(dir: &Path) -> Result<Tables, Error> {
    #[derive(Deserialize)]
    struct Airline {
        carrier: String,
        name: String,
    }
    #[derive(Deserialize)]
    struct Airport {
        faa: String,
        name: String,
    }
    fn rows<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, Error> {
        let mut reader = csv::Reader::from_path(path).map_err(|e| unreadable(path, e))?;
        reader
            .deserialize()
            .collect::<Result<Vec<T>, _>>()
            .map_err(|e| unreadable(path, e))
    }
    let airlines = rows::<Airline>(&dir.join("airlines.csv"))?;
    let airports = rows::<Airport>(&dir.join("airports.csv"))?;
    let weather_path = dir.join("weather.csv");
    let weather = rows::<WeatherRow>(&weather_path)?
        .into_iter()
        .map(|w| {
            Ok(Weather {
                hour_utc: parse_hour(&w.time_hour).ok_or_else(|| {
                    unreadable(&weather_path, format!("bad time_hour `{}`", w.time_hour))
                })?,
                origin: w.origin,
                temp: w.temp,
                precip: w.precip,
                visib: w.visib,
                wind_speed: w.wind_speed,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Tables {
        airlines: airlines.into_iter().map(|a| (a.carrier, a.name)).collect(),
        airports: airports.into_iter().map(|a| (a.faa, a.name)).collect(),
        weather,
    })
}

/// `2013-01-01T10:00:00Z` as hours since 1970-01-01T00:00Z.
fn parse_hour(text: &str) -> Option<u32> {
    let b = text.as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || &b[13..] != b":00:00Z" {
        return None;
    }
    let number = |range: std::ops::Range<usize>| text.get(range)?.parse::<u32>().ok();
    let (year, month, day, hour) = (
        number(0..4)?,
        number(5..7)?,
        number(8..10)?,
        number(11..13)?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 {
        return None;
    }
    // Days since the epoch of a Gregorian date (Howard Hinnant's days_from_civil).
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days * 24 + i64::from(hour)).ok()
}

// ---------------------------------------------------------------------------------------
// Statistics.

fn stats(key: String, name: String, legs: &[&Leg]) -> Stats {
    let mut dep: Vec<f64> = legs
        .iter()
        .filter_map(|l| l.dep_delay)
        .map(f64::from)
        .collect();
    dep.sort_by(f64::total_cmp);
    let arr: Vec<f64> = legs
        .iter()
        .filter_map(|l| l.arr_delay)
        .map(f64::from)
        .collect();
    let gained: Vec<f64> = legs
        .iter()
        .filter_map(|l| l.gained)
        .map(f64::from)
        .collect();
    let on_time = arr.iter().filter(|&&d| d < 15.0).count();
    Stats {
        key,
        name,
        departed: dep.len() as u64,
        cancelled: (legs.len() - dep.len()) as u64,
        mean_dep_delay: mean(&dep),
        median_dep_delay: percentile(&dep, 50.0),
        p90_dep_delay: percentile(&dep, 90.0),
        mean_arr_delay: mean(&arr),
        mean_gained: mean(&gained),
        on_time_pct: (!arr.is_empty()).then(|| 100.0 * on_time as f64 / arr.len() as f64),
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], pct: f64) -> Option<f64> {
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

// ---------------------------------------------------------------------------------------
// Crashing on request, progress and timings.

/// Called when a step starts: dies here if the step before it is the one to crash
/// after (its checkpoint is committed by now, since this step started). Returns the
/// step's start time.
fn begin(name: &'static str) -> Instant {
    let args = ARGS.get().expect("set in main");
    let index = STEPS.iter().position(|s| *s == name).unwrap_or(0);
    if let Some(after) = &args.crash_after
        && index > 0
        && STEPS[index - 1] == after
    {
        println!("  crashing after `{after}` as asked: the process dies before `{name}`");
        std::process::abort();
    }
    let now = Instant::now();
    checkpointed(now);
    now
}

/// Prints what a step did and how long it took.
fn done(name: &'static str, started: Instant, what: &str) {
    TIMINGS.lock().expect("not poisoned").push(Timing {
        step: name,
        ran: started.elapsed(),
        finished: Instant::now(),
        checkpoint: None,
    });
    println!(
        "  {name:<10} {what} ({:.2} s)",
        started.elapsed().as_secs_f64()
    );
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
fn bar(len: u64, prefix: &'static str, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ");
    let bar = ProgressBar::new(len).with_style(style).with_prefix(prefix);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// How long a step ran, and how long from its end to the next step's start: mostly
/// encoding and committing its checkpoint.
struct Timing {
    step: &'static str,
    ran: Duration,
    finished: Instant,
    checkpoint: Option<Duration>,
}

static TIMINGS: Mutex<Vec<Timing>> = Mutex::new(Vec::new());

/// Notes, when the next step starts or the execution ends at `now`, how long the last
/// step's checkpoint took.
fn checkpointed(now: Instant) {
    let mut timings = TIMINGS.lock().expect("not poisoned");
    if let Some(last) = timings.last_mut().filter(|t| t.checkpoint.is_none()) {
        last.checkpoint = Some(now - last.finished);
    }
}

/// The transform's progress, shared by its chunks on the rayon threads.
struct Progress {
    bar: ProgressBar,
    started: Instant,
    chunks: AtomicU64,
    rows: AtomicU64,
}

impl Progress {
    fn start(name: &'static str, chunks: u64) -> Progress {
        Progress {
            started: begin(name),
            bar: bar(
                chunks,
                name,
                "{prefix:>11} [{bar:40}] {pos}/{len} chunks {eta}",
            ),
            chunks: AtomicU64::new(0),
            rows: AtomicU64::new(0),
        }
    }
}

static TRANSFORM: OnceLock<Progress> = OnceLock::new();

/// `1234567` as `1,234,567`.
fn thousands(n: impl fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------

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
