//! Reading the files: flights (zipped or not), airlines, airports and weather.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use waypost::prelude::*;

use crate::payloads::*;
use crate::progress::bar;

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
pub(crate) fn read_flights(dir: &Path) -> Result<(String, Vec<Flight>, Vec<BadRow>), Error> {
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

pub(crate) fn read_tables(dir: &Path) -> Result<Tables, Error> {
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
