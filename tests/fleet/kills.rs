//! Workers SIGKILLed at random while executions are submitted and run.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use waypost::ExecutionStatus;
use waypost::prelude::*;
use waypost::store::ListFilter;

use crate::harness::{Fleet, Postgres, Target, committed, runs};
use crate::workflow::{Report, workflow};

/// What an uninterrupted run of the workflow gives for `seed` (checked against a real
/// in-memory run in [`expected_matches_an_uninterrupted_run`]).
fn expected(seed: u64) -> Report {
    let squares: Vec<u64> = (1..=6).map(|i| (seed * 10 + i).pow(2)).collect();
    Report {
        total: squares.iter().sum(),
        largest: *squares.iter().max().unwrap(),
        attempts: 2,
    }
}

#[tokio::test]
async fn expected_matches_an_uninterrupted_run() {
    for seed in [0, 7, 499] {
        assert_eq!(
            Runtime::new().run(&workflow(), seed).await.unwrap(),
            expected(seed)
        );
    }
}

/// Runs `executions` executions on `workers` worker processes sharing the store at
/// `target`, SIGKILLing a random worker every 200–800 ms (and starting a new one) until
/// `kills` kills, submitting from this process meanwhile; then checks every run.
pub(crate) async fn fleet_survives_kills(
    target: &Target,
    log: &std::path::Path,
    workers: usize,
    executions: u64,
    kills: usize,
) {
    let store = target.open().await;
    let runtime = Runtime::builder()
        .shared_store(std::sync::Arc::clone(&store))
        .build();
    let wf = workflow();
    let mut fleet = Fleet::new(target, log, Duration::from_millis(1500), 100);
    for _ in 0..workers {
        fleet.spawn();
    }

    // Submissions spread over about as long as the kills last.
    let submitting = tokio::spawn({
        let (runtime, wf) = (runtime.clone(), wf.clone());
        async move {
            let batches = executions.div_ceil(10);
            for batch in 0..batches {
                for seed in batch * 10..((batch + 1) * 10).min(executions) {
                    runtime
                        .submit(&wf, format!("f-{seed:04}"), seed)
                        .await
                        .unwrap();
                }
                tokio::time::sleep(Duration::from_millis(25_000 / batches)).await;
            }
        }
    });

    // Runs of each committed key when a kill was seen: they must never grow.
    let mut frozen: HashMap<(String, String), u32> = HashMap::new();
    let mut done = 0;
    while done < kills {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(200..=800))).await;
        let victim = fastrand::usize(..fleet.workers.len());
        fleet.kill(victim);
        fleet.spawn();
        done += 1;
        // Committed first, then the log: a committed step logged before its commit.
        let keys = committed(&*store).await;
        let counts = runs(log);
        for key in keys {
            let count = counts.get(&key).copied().unwrap_or(0);
            assert!(count >= 1, "{key:?} was committed but never ran");
            frozen.entry(key).or_insert(count);
        }
    }
    submitting.await.unwrap();

    // Let the fleet finish.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let records = store.list(&ListFilter::default()).await.unwrap();
        let running = records
            .iter()
            .filter(|r| r.status == ExecutionStatus::Running)
            .count();
        if records.len() as u64 == executions && running == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{running} of {} executions still running",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(fleet);

    let counts = runs(log);
    let mut recovered = 0;
    let mut recoveries = 0;
    for seed in 0..executions {
        let id = format!("f-{seed:04}");
        let handle = runtime.handle::<Report>(&id).await.unwrap();
        assert_eq!(
            handle.try_output().await.unwrap(),
            Some(expected(seed)),
            "{id}"
        );
        let record = handle.record().await.unwrap();
        recovered += usize::from(record.recoveries > 0);
        recoveries += record.recoveries;
        for ((execution, key), count) in &counts {
            if *execution == id {
                assert!(
                    *count <= 1 + record.recoveries,
                    "{id} {key} ran {count} times with {} recoveries",
                    record.recoveries
                );
            }
        }
    }
    for (key, count) in &frozen {
        assert_eq!(
            counts.get(key),
            Some(count),
            "{key:?} ran again after its checkpoint was committed"
        );
    }
    // The kills landed in executions, not only in idle workers.
    assert!(
        recovered >= kills / 3,
        "{kills} kills recovered only {recovered} executions ({recoveries} recoveries)"
    );
    println!(
        "{kills} kills over {workers} workers: {recovered} executions recovered \
         ({recoveries} recoveries), {} committed keys checked",
        frozen.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_sqlite_file_survive_60_kills() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.db");
    let target = Target::Sqlite(path.clone());
    fleet_survives_kills(&target, &dir.path().join("log"), 2, 500, 60).await;
    let store = waypost::SqliteStore::open(&path).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_workers_on_postgres_survive_60_kills() {
    let Some(pg) = Postgres::schema("kills") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    fleet_survives_kills(&pg.target, &dir.path().join("log"), 4, 500, 60).await;
}
