//! End-to-end tests of `examples/etl/`: the example runs as a process on the slice in
//! `examples/data/nycflights13`, and its JSON report is compared with figures this test
//! computes on its own from the same CSV, with plain `csv` code.
//!
//! Also: a zipped input with bad rows (counted, not fatal), `--scale`, and a run that
//! crashes after `validate` and resumes from its checkpoints.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{example_binary, expect_success, snapshot_graphs, stdout};

const EXAMPLE: &str = "etl";

fn slice() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data/nycflights13")
}

/// The example's binary.
fn binary() -> PathBuf {
    example_binary(EXAMPLE)
}

/// Runs the example in `dir` with a store and report there, plus `args`.
fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(["--store", "etl.db", "--out", "report.json"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the example starts")
}

fn succeed(dir: &Path, args: &[&str]) -> String {
    expect_success(&run(dir, args))
}

fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json")).expect("the report");
    serde_json::from_str(&text).expect("the report is JSON")
}

/// What the flights of a carrier add up to.
#[derive(Debug, Default)]
struct Carrier {
    departed: u64,
    cancelled: u64,
    dep_delays: Vec<f64>,
    arr_delays: Vec<f64>,
}

/// Figures computed here from flights.csv, independently of the example.
#[derive(Debug, Default)]
struct Expected {
    rows: u64,
    departed: u64,
    cancelled: u64,
    diverted: u64,
    carriers: BTreeMap<String, Carrier>,
}

fn expected(flights_csv: &Path) -> Expected {
    let mut reader = csv::Reader::from_path(flights_csv).expect("flights.csv");
    let headers = reader.headers().expect("a header").clone();
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (dep_time, dep_delay, arr_delay, carrier) = (
        column("dep_time"),
        column("dep_delay"),
        column("arr_delay"),
        column("carrier"),
    );
    let missing = |text: &str| text.is_empty() || text == "NA";
    let mut expected = Expected::default();
    for record in reader.records() {
        let record = record.expect("a well-formed row");
        expected.rows += 1;
        let c = expected
            .carriers
            .entry(record[carrier].to_owned())
            .or_default();
        if missing(&record[dep_time]) {
            expected.cancelled += 1;
            c.cancelled += 1;
            continue;
        }
        expected.departed += 1;
        c.departed += 1;
        c.dep_delays
            .push(record[dep_delay].parse().expect("a delay"));
        match &record[arr_delay] {
            text if missing(text) => expected.diverted += 1,
            text => c.arr_delays.push(text.parse().expect("a delay")),
        }
    }
    expected
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn close(actual: &Value, expected: Option<f64>, what: &str) {
    match (actual.as_f64(), expected) {
        (Some(a), Some(e)) => assert!((a - e).abs() < 1e-9, "{what}: {a} where {e} expected"),
        (None, None) => {}
        (a, e) => panic!("{what}: {a:?} where {e:?} expected"),
    }
}

/// Checks the report against `expected`, with every count multiplied by `scale`.
fn check(report: &Value, expected: &Expected, scale: u64, bad_rows: u64) {
    assert_eq!(report["scale"], scale);
    assert_eq!(report["rows"], (expected.rows + bad_rows) * scale);
    assert_eq!(report["departed"], expected.departed * scale);
    assert_eq!(report["cancelled"], expected.cancelled * scale);
    assert_eq!(report["diverted"], expected.diverted * scale);
    assert_eq!(report["bad_rows"], bad_rows * scale);

    let carriers = report["carriers"].as_array().expect("carriers");
    assert_eq!(
        carriers.len(),
        expected.carriers.len(),
        "one line per carrier"
    );
    for (code, c) in &expected.carriers {
        let line = carriers
            .iter()
            .find(|s| s["key"] == code.as_str())
            .unwrap_or_else(|| panic!("carrier {code} in the report"));
        assert_eq!(line["departed"], c.departed * scale, "{code} departed");
        assert_eq!(line["cancelled"], c.cancelled * scale, "{code} cancelled");
        close(
            &line["mean_dep_delay"],
            mean(&c.dep_delays),
            &format!("{code} mean departure delay"),
        );
        close(
            &line["mean_arr_delay"],
            mean(&c.arr_delays),
            &format!("{code} mean arrival delay"),
        );
    }
    assert!(
        carriers
            .iter()
            .any(|s| s["key"] == "UA" && s["name"] == "United Air Lines Inc."),
        "carriers are joined with their airline's name"
    );

    // Routes and weather conditions split the same flights another way.
    for group in ["routes", "weather"] {
        let lines = report[group].as_array().expect(group);
        let sum = |field: &str| {
            lines
                .iter()
                .map(|s| s[field].as_u64().unwrap())
                .sum::<u64>()
        };
        assert_eq!(sum("departed"), expected.departed * scale, "{group}");
        assert_eq!(sum("cancelled"), expected.cancelled * scale, "{group}");
    }
}

#[test]
fn report_matches_figures_computed_from_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let data = slice();
    let out = succeed(dir.path(), &["--data", data.to_str().unwrap()]);
    let expected = expected(&data.join("flights.csv"));
    assert!(expected.rows > 1_000 && expected.cancelled > 0 && expected.diverted > 0);
    check(&report(dir.path()), &expected, 1, 0);

    for step in [
        "extract",
        "validate",
        "transform",
        "enrich",
        "aggregate",
        "load",
    ] {
        assert!(
            out.contains(&format!("\n  {step} ")),
            "{step} reports: {out}"
        );
    }
    assert!(out.contains("execution `etl` succeeded"), "{out}");

    // The same id again: the stored result, and nothing runs.
    let again = succeed(dir.path(), &["--data", data.to_str().unwrap()]);
    assert!(again.contains("succeeded earlier"), "{again}");
    assert!(again.contains("nothing ran now"), "{again}");
}

#[test]
fn scale_repeats_the_flights() {
    let dir = tempfile::tempdir().unwrap();
    let data = slice();
    succeed(
        dir.path(),
        &["--data", data.to_str().unwrap(), "--scale", "3"],
    );
    check(
        &report(dir.path()),
        &expected(&data.join("flights.csv")),
        3,
        0,
    );
}

#[test]
fn bad_rows_in_a_zip_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    for table in ["airlines.csv", "airports.csv", "weather.csv"] {
        std::fs::copy(slice().join(table), data.join(table)).unwrap();
    }
    let mut flights = std::fs::read_to_string(slice().join("flights.csv")).unwrap();
    for bad in [
        // Too few fields.
        "2013,1,1,517,515,2,830,819,11,UA,1545",
        // A delay that is not a number.
        "2013,1,1,517,515,soon,830,819,11,UA,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z",
        // A carrier that airlines.csv does not know.
        "2013,1,1,517,515,2,830,819,11,ZZ,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z",
    ] {
        flights.push_str(bad);
        flights.push('\n');
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(data.join("flights.csv.zip")).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file("flights.csv", options).unwrap();
    zip.write_all(flights.as_bytes()).unwrap();
    zip.finish().unwrap();

    let out = succeed(dir.path(), &["--data", data.to_str().unwrap()]);
    let report = report(dir.path());
    assert_eq!(report["source"], "flights.csv.zip");
    check(&report, &expected(&slice().join("flights.csv")), 1, 3);
    let examples = report["bad_examples"].as_array().unwrap();
    assert_eq!(examples.len(), 3, "{examples:?}");
    assert!(out.contains("unknown carrier `ZZ`"), "{out}");
}

#[test]
fn crash_after_validate_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let data = slice();
    let data = data.to_str().unwrap();
    let args = ["--data", data, "--id", "etl-crash"];

    let crashed = run(
        dir.path(),
        &[&args[..], &["--crash-after", "validate"]].concat(),
    );
    assert!(!crashed.status.success(), "the process aborts");
    let out = stdout(&crashed);
    assert!(out.contains("  validate "), "{out}");
    assert!(out.contains("crashing after `validate`"), "{out}");
    assert!(!out.contains("  transform "), "{out}");
    assert!(!dir.path().join("report.json").exists());

    let resumed = succeed(dir.path(), &args);
    assert!(resumed.contains("resuming"), "{resumed}");
    assert!(
        resumed.contains("already done: 0.extract, 1.validate\n"),
        "{resumed}"
    );
    assert!(
        !resumed.contains("  extract "),
        "extract is replayed: {resumed}"
    );
    assert!(
        !resumed.contains("  validate "),
        "validate is replayed: {resumed}"
    );
    for step in ["transform", "enrich", "aggregate", "load"] {
        assert!(
            resumed.contains(&format!("\n  {step} ")),
            "{step} runs: {resumed}"
        );
    }
    check(
        &report(dir.path()),
        &expected(&slice().join("flights.csv")),
        1,
        0,
    );
}

#[test]
fn the_workflow_draws_as_mermaid_dot_and_asl() {
    snapshot_graphs("etl");
}
