//! The steps and the workflow. Each step prints one line with its timing when it has
//! run; a step whose checkpoint is replayed on resume does not run, and prints nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::atomic::Ordering;

use waypost::prelude::*;

use crate::CHUNK_ROWS;
use crate::payloads::*;
use crate::progress::*;
use crate::read::*;
use crate::stats::*;

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

pub(crate) fn workflow() -> Workflow<Job, Loaded> {
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
