//! End-to-end tests of `examples/big_map.rs`: the example streams flights through one
//! `par_map` as a process on a store in a temporary directory. A run that dies on
//! purpose mid-map and resumes prints the same statistics as one never interrupted,
//! and the resumed run assesses fewer flights than all of them (the committed ones are
//! skipped); the figures are checked against the CSV read here.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{example_binary, expect_success, stdout};

const ITEMS: &str = "30000";

fn run(store: &Path, args: &[&str]) -> Output {
    Command::new(example_binary("big_map"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--store")
        .arg(store)
        .args(["--items", ITEMS, "--commit-every", "2000"])
        .args(args)
        .output()
        .expect("the example starts")
}

/// The statistics table: the lines after the header, up to the blank line.
fn table(out: &str) -> Vec<String> {
    out.lines()
        .skip_while(|l| !l.starts_with("airline"))
        .take_while(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How many flights this process assessed, from the `succeeded` line.
fn assessed_here(out: &str) -> u64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("execution `flights` succeeded"))
        .unwrap_or_else(|| panic!("a success line in:\n{out}"));
    line.split(", ")
        .nth(1)
        .and_then(|part| part.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count in `{line}`"))
}

#[test]
fn a_crashed_map_resumes_to_the_same_statistics_skipping_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    let whole = expect_success(&run(&dir.path().join("whole.db"), &[]));
    assert_eq!(assessed_here(&whole), 30_000);

    let store = dir.path().join("crashed.db");
    let crashed = run(&store, &["--crash-after", "20000"]);
    assert_eq!(crashed.status.code(), Some(3), "{}", stdout(&crashed));
    assert!(stdout(&crashed).contains("crashing on purpose after 20000 flights"));
    let resumed = expect_success(&run(&store, &[]));

    assert_eq!(table(&resumed), table(&whole));
    let here = assessed_here(&resumed);
    assert!(
        (10_000..30_000).contains(&here),
        "the resumed run assessed {here} flights"
    );
}

#[test]
fn the_counts_per_airline_match_the_csv() {
    // 30,000 flights = the 2,715-row slice read 11 times and 135 rows of a 12th pass.
    let mut reader =
        csv::Reader::from_path("examples/data/nycflights13/flights.csv").expect("the slice");
    let carrier = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "carrier")
        .unwrap();
    let rows: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[carrier].to_owned())
        .collect();
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    for row in rows.iter().cycle().take(30_000) {
        *expected.entry(row.clone()).or_default() += 1;
    }

    let dir = tempfile::tempdir().unwrap();
    let out = expect_success(&run(&dir.path().join("counts.db"), &[]));
    let counted: std::collections::BTreeMap<String, u64> = table(&out)[1..]
        .iter()
        .map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next().unwrap().to_owned();
            (name, words.next().unwrap().parse().unwrap())
        })
        .collect();
    assert_eq!(counted, expected);
}
