//! Payloads: what the steps take and return. Each is checkpointed (bincode), so each is
//! `Clone + Serialize + Deserialize`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What the workflow is started with: the execution's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Job {
    pub(crate) data: String,
    pub(crate) scale: u32,
    pub(crate) out: String,
}

/// A row of flights.csv, typed, with the columns the job uses; `None` where the file
/// says `NA` or nothing. Delays are in whole minutes, as in the file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Flight {
    /// The line of the file, for reports of bad rows.
    pub(crate) line: u64,
    pub(crate) month: u8,
    pub(crate) day: u8,
    pub(crate) dep_time: Option<u16>,
    pub(crate) sched_dep_time: u16,
    pub(crate) dep_delay: Option<i32>,
    pub(crate) arr_delay: Option<i32>,
    pub(crate) carrier: String,
    pub(crate) origin: String,
    pub(crate) dest: String,
    /// The scheduled departure hour, in hours since 1970-01-01 UTC: the weather's key.
    pub(crate) hour_utc: u32,
}

/// A row that could not be used, and why.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BadRow {
    pub(crate) line: u64,
    pub(crate) reason: String,
}

/// The small tables the flights are joined with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Tables {
    /// Carrier code to airline name.
    pub(crate) airlines: BTreeMap<String, String>,
    /// FAA code to airport name.
    pub(crate) airports: BTreeMap<String, String>,
    pub(crate) weather: Vec<Weather>,
}

/// The weather at an origin airport during one hour.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Weather {
    pub(crate) origin: String,
    pub(crate) hour_utc: u32,
    /// Fahrenheit.
    pub(crate) temp: Option<f64>,
    /// Inches of precipitation.
    pub(crate) precip: Option<f64>,
    /// Miles.
    pub(crate) visib: Option<f64>,
    /// Miles per hour.
    pub(crate) wind_speed: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Extracted {
    pub(crate) job: Job,
    pub(crate) source: String,
    pub(crate) flights: Vec<Flight>,
    pub(crate) bad: Vec<BadRow>,
    pub(crate) tables: Tables,
}

/// What validation found, carried to the report.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Quality {
    pub(crate) source: String,
    pub(crate) rows: u64,
    pub(crate) departed: u64,
    pub(crate) cancelled: u64,
    /// Departed but never arrived where planned: no arrival delay.
    pub(crate) diverted: u64,
    pub(crate) bad_rows: u64,
    /// The first few bad rows.
    pub(crate) bad_examples: Vec<BadRow>,
}

/// A slice of the flights: one item of the transform's `par_map`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Chunk {
    /// How many chunks there are, for the progress bar.
    pub(crate) of: u32,
    pub(crate) flights: Vec<Flight>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Validated {
    pub(crate) job: Job,
    pub(crate) quality: Quality,
    pub(crate) tables: Tables,
    pub(crate) chunks: Vec<Chunk>,
}

/// What the transform does not touch, carried around its `par_map`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Carried {
    pub(crate) job: Job,
    pub(crate) quality: Quality,
    pub(crate) tables: Tables,
}

/// A flight, reduced to what the report needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Leg {
    pub(crate) carrier: String,
    pub(crate) origin: String,
    pub(crate) dest: String,
    /// `None` for a cancelled flight.
    pub(crate) dep_delay: Option<i32>,
    pub(crate) arr_delay: Option<i32>,
    /// Minutes made up in the air: departure delay minus arrival delay.
    pub(crate) gained: Option<i32>,
    pub(crate) hour_utc: u32,
}

/// The weather at departure, in a few words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Condition {
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
    pub(crate) fn key(self) -> &'static str {
        match self {
            Condition::Clear => "clear",
            Condition::Windy => "windy",
            Condition::LowVisibility => "low_visibility",
            Condition::Rain => "rain",
            Condition::Snow => "snow",
            Condition::Unknown => "unknown",
        }
    }

    pub(crate) fn of(weather: Option<&Weather>) -> Condition {
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
pub(crate) struct EnrichedLeg {
    pub(crate) leg: Leg,
    pub(crate) condition: Condition,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Enriched {
    pub(crate) job: Job,
    pub(crate) quality: Quality,
    pub(crate) airlines: BTreeMap<String, String>,
    pub(crate) airports: BTreeMap<String, String>,
    pub(crate) legs: Vec<EnrichedLeg>,
}

/// Delay statistics of a group of flights; delays in minutes, `None` without flights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stats {
    /// Carrier code, `JFK-LAX`, or weather condition.
    pub(crate) key: String,
    /// Airline, destination airport, or condition in words.
    pub(crate) name: String,
    pub(crate) departed: u64,
    pub(crate) cancelled: u64,
    pub(crate) mean_dep_delay: Option<f64>,
    pub(crate) median_dep_delay: Option<f64>,
    pub(crate) p90_dep_delay: Option<f64>,
    pub(crate) mean_arr_delay: Option<f64>,
    /// Minutes made up in the air, on average.
    pub(crate) mean_gained: Option<f64>,
    /// Percent of the flights with an arrival delay that arrived less than 15 minutes late.
    pub(crate) on_time_pct: Option<f64>,
}

/// The report the job writes, and the workflow's output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) source: String,
    pub(crate) scale: u32,
    pub(crate) rows: u64,
    pub(crate) departed: u64,
    pub(crate) cancelled: u64,
    pub(crate) diverted: u64,
    pub(crate) bad_rows: u64,
    pub(crate) bad_examples: Vec<String>,
    pub(crate) carriers: Vec<Stats>,
    pub(crate) routes: Vec<Stats>,
    pub(crate) weather: Vec<Stats>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Aggregated {
    pub(crate) job: Job,
    pub(crate) report: Report,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Loaded {
    pub(crate) path: String,
    pub(crate) report: Report,
}
