//! Benchmark your own map step: the ETL example's transform (a flight reduced to the
//! leg its report needs; here one flight per call, where `etl` maps chunks of 2,000)
//! over the real nycflights13 flights, in `par_map` on rayon
//! pools of 1 and 2 threads, in batches of 1, 100 and 1,000 flights, without a store,
//! on `MemoryStore` and on SQLite — each point against a raw rayon `par_iter` of the
//! same step in the same run. Writes the report as CSV and JSON and the plot as SVG.
//!
//! ```text
//! cargo run --example bench_map --features bench                     # the shipped slice, 2,715 flights
//! cargo run --release --example bench_map --features bench -- --data ../shared/data/nycflights13
//! cargo run --example bench_map --features bench -- --threads 1,2,4 --batch-sizes 1,10 --stores none,sqlite
//! ```
//!
//! `--data DIR` reads `flights.csv` or `flights.csv.zip` there (all 336,776 flights of
//! the full set); `--limit N` takes the first N. `--stores` also takes a PostgreSQL URL
//! with `--features bench,postgres`. Expected output (abridged; figures vary):
//!
//! ```text
//! 2,715 flights from examples/data/nycflights13/flights.csv
//! par_map of `transform` over 2715 items; baseline: par_iter
//!   baseline at threads 1      5000000.0 items/s  (543.0 µs)
//! ...
//!     threads  batch  store         items/s  vs baseline  overhead/item       p50       p95       p99  scaling
//!           1      1  none         312000.0        0.06x        +3.0 µs    120 ns    300 ns    1.1 µs     1.00
//! ...
//! wrote bench-map/bench-map.csv, bench-map/bench-map.json, bench-map/bench-map.svg
//! ```

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::{Deserialize, Serialize};
use waypost::bench::{BenchStore, MapBench};
use waypost::prelude::*;

/// Benchmarks the ETL transform step over real flights.
#[derive(Debug, Parser)]
struct Args {
    /// A directory with flights.csv or flights.csv.zip. Default: the slice shipped in
    /// examples/data/nycflights13.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Take only the first N flights.
    #[arg(long)]
    limit: Option<usize>,
    /// Rayon pool sizes to sweep.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    threads: Vec<usize>,
    /// Flights per call of the step.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100, 1_000])]
    batch_sizes: Vec<usize>,
    /// Stores: none, memory, sqlite (a temporary file), or a postgres:// URL.
    #[arg(long, value_delimiter = ',', default_values_t = ["none".to_owned(), "memory".to_owned(), "sqlite".to_owned()])]
    stores: Vec<String>,
    /// Where the report (bench-map.csv, bench-map.json) and the plot (bench-map.svg) go.
    #[arg(long, default_value = "bench-map")]
    out: PathBuf,
}

/// A flight, with the columns the transform uses (as in the ETL example): the step's
/// input, so it is checkpointed with the execution's input on a store.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flight {
    dep_delay: Option<i32>,
    arr_delay: Option<i32>,
    carrier: String,
    origin: String,
    dest: String,
    time_hour: String,
}

/// A row of flights.csv as the file writes it (`NA` for no value).
#[derive(Deserialize)]
struct Row {
    #[serde(deserialize_with = "na")]
    dep_delay: Option<i32>,
    #[serde(deserialize_with = "na")]
    arr_delay: Option<i32>,
    carrier: String,
    origin: String,
    dest: String,
    time_hour: String,
}

/// A flight reduced to what the ETL report needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Leg {
    carrier: String,
    origin: String,
    dest: String,
    dep_delay: Option<i32>,
    arr_delay: Option<i32>,
    /// Minutes made up in the air.
    gained: Option<i32>,
    /// The scheduled departure hour, `2013-01-01T10`: the weather's key.
    hour: String,
}

/// The ETL example's transform, one flight per call: the step benchmarked here.
#[step]
fn transform(f: Flight) -> Leg {
    Leg {
        gained: f.dep_delay.zip(f.arr_delay).map(|(dep, arr)| dep - arr),
        dep_delay: f.dep_delay,
        arr_delay: f.arr_delay,
        hour: f.time_hour.get(..13).unwrap_or(&f.time_hour).to_owned(),
        carrier: f.carrier,
        origin: f.origin,
        dest: f.dest,
    }
}

/// `NA` or an empty field is `None`.
fn na<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    let text = <&str>::deserialize(d)?;
    match text {
        "" | "NA" => Ok(None),
        _ => text.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

/// The flights of `dir`: flights.csv, or the flights.csv inside flights.csv.zip.
fn read_flights(dir: &Path, limit: usize) -> anyhow::Result<(String, Vec<Flight>)> {
    let plain = dir.join("flights.csv");
    let zipped = dir.join("flights.csv.zip");
    let (source, input): (PathBuf, Box<dyn Read>) = if plain.exists() {
        (plain.clone(), Box::new(BufReader::new(File::open(&plain)?)))
    } else {
        let mut archive = zip::ZipArchive::new(File::open(&zipped)?)?;
        let mut csv = Vec::new();
        archive.by_name("flights.csv")?.read_to_end(&mut csv)?;
        (zipped, Box::new(std::io::Cursor::new(csv)))
    };
    let flights = csv::Reader::from_reader(input)
        .deserialize()
        .take(limit)
        .map(|row| {
            row.map(|r: Row| Flight {
                dep_delay: r.dep_delay,
                arr_delay: r.arr_delay,
                carrier: r.carrier,
                origin: r.origin,
                dest: r.dest,
                time_hour: r.time_hour,
            })
        })
        .collect::<Result<Vec<Flight>, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", source.display()))?;
    Ok((source.display().to_string(), flights))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = args.data.clone().unwrap_or_else(|| {
        let shipped = PathBuf::from("examples/data/nycflights13");
        if shipped.exists() {
            shipped
        } else {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(shipped)
        }
    });
    let (source, flights) = read_flights(&dir, args.limit.unwrap_or(usize::MAX))?;
    println!("{} flights from {source}", flights.len());
    let stores = args
        .stores
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<BenchStore>, _>>()?;

    let report = MapBench::par_map(transform)
        .items(flights)
        .threads(args.threads)
        .batch_sizes(args.batch_sizes)
        .stores(stores)
        .run()
        .await?;
    println!("{report}");

    std::fs::create_dir_all(&args.out)?;
    let [csv, json, svg] =
        ["csv", "json", "svg"].map(|ext| args.out.join(format!("bench-map.{ext}")));
    report.write_csv(&csv)?;
    report.write_json(&json)?;
    report.write_svg(&svg)?;
    println!(
        "wrote {}, {}, {}",
        csv.display(),
        json.display(),
        svg.display()
    );
    Ok(())
}
