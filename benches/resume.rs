//! Resume: an execution with 10,000 finished steps resumed to completion, and a
//! 1,000,000-item map resumed after half its items, both on `SqliteStore`. Each
//! iteration resumes a fresh copy of a store file the bench interrupted once.
//!
//! Baselines in the same groups: reading the 10,000 checkpoints from the store (the
//! floor of a resume that reads, not redoes), and the whole 1,000,000-item map run
//! from its start.
//!
//! `cargo bench --bench resume`

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use waypost::prelude::*;
use waypost::{SqliteStore, Store};

mod common;

const STEPS: u64 = 10_000;
const ITEMS: u64 = 1_000_000;

/// While set, `hold` never finishes: the bench interrupts the execution there.
static HOLD: AtomicBool = AtomicBool::new(true);
static HELD: AtomicBool = AtomicBool::new(false);
/// While set, the map's items past the 600,000th crawl: the bench interrupts the map
/// once half its items are committed.
static CRAWL: AtomicBool = AtomicBool::new(true);

#[step]
async fn hold(xs: Vec<u64>) -> u64 {
    while HOLD.load(Ordering::SeqCst) {
        HELD.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    xs.iter().sum()
}

#[step]
fn square(x: u64) -> u64 {
    if x >= 600_000 && CRAWL.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1));
    }
    x.wrapping_mul(x)
}

fn many_steps() -> Workflow<Vec<u64>, u64> {
    Workflow::new(
        "ten-thousand-steps",
        1,
        map(common::add_one).max_concurrency(100).then(hold),
    )
}

fn big_map() -> Workflow<u64, u64> {
    Workflow::new(
        "million-items",
        1,
        par_map(square)
            .items(read_items(|n: u64| Ok((0..n).map(Ok))))
            .commit_every(10_000)
            .fold(0u64, u64::wrapping_add),
    )
}

/// Runs `run` until `reached` holds, then drops it and closes the store.
fn interrupt(
    tokio: &tokio::runtime::Runtime,
    store: &Arc<SqliteStore>,
    run: impl std::future::Future,
    reached: impl AsyncFn() -> bool,
) {
    tokio.block_on(async {
        tokio::select! {
            _ = run => panic!("the execution finished before it was interrupted"),
            () = async { while !reached().await { tokio::time::sleep(Duration::from_millis(1)).await } } => {}
        }
    });
    store.close();
}

fn open(path: &Path) -> (Arc<SqliteStore>, Runtime) {
    let store = Arc::new(SqliteStore::open(path).unwrap());
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .build();
    (store, runtime)
}

/// A fresh copy of the store file at `template` (and its WAL, if any).
fn copy_of(template: &Path, dir: &Path, n: &mut u64) -> PathBuf {
    *n += 1;
    let path = dir.join(format!("copy-{n}.db"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", template.display()));
        if from.exists() {
            std::fs::copy(&from, format!("{}{suffix}", path.display())).unwrap();
        }
    }
    path
}

fn resume(c: &mut Criterion) {
    let tokio = common::tokio_runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut copies = 0;

    // An execution whose 10,000 map items are checkpointed, held in its last step.
    let steps_db = dir.path().join("steps.db");
    let (store, runtime) = open(&steps_db);
    let input: Vec<u64> = (0..STEPS).collect();
    interrupt(
        &tokio,
        &store,
        runtime.start(&many_steps(), "steps", input),
        async || HELD.load(Ordering::SeqCst),
    );
    drop(runtime);
    HOLD.store(false, Ordering::SeqCst);

    // A million-item map interrupted once half its items were committed.
    let map_db = dir.path().join("map.db");
    let (store, runtime) = open(&map_db);
    let probe = Arc::clone(&store);
    interrupt(
        &tokio,
        &store,
        runtime.start(&big_map(), "map", ITEMS),
        async || probe.checkpoints("map").await.unwrap_or_default().len() >= 50,
    );
    drop(runtime);
    CRAWL.store(false, Ordering::Relaxed);

    let mut group = c.benchmark_group("resume");
    group.sample_size(10);
    group.bench_function("baseline: read 10,000 checkpoints", |b| {
        b.iter_batched(
            || open(&copy_of(&steps_db, dir.path(), &mut copies)).0,
            |store| {
                let read = tokio.block_on(store.checkpoints("steps")).unwrap();
                assert!(read.len() >= STEPS as usize);
                // Closing the store is not part of the measure: criterion drops what
                // the routine returns after timing it.
                (store, read)
            },
            BatchSize::PerIteration,
        );
    });
    let expected: u64 = (1..=STEPS).sum();
    group.bench_function("resume 10,000 finished steps", |b| {
        b.iter_batched(
            || open(&copy_of(&steps_db, dir.path(), &mut copies)),
            |(store, runtime)| {
                let out = tokio.block_on(runtime.resume(&many_steps(), "steps"));
                assert_eq!(out.unwrap(), expected);
                (store, runtime)
            },
            BatchSize::PerIteration,
        );
    });
    let expected = (0..ITEMS).fold(0u64, |sum, x| sum.wrapping_add(x.wrapping_mul(x)));
    group.bench_function("baseline: 1,000,000-item map from the start", |b| {
        b.iter_batched(
            || open(&dir.path().join(format!("fresh-{}.db", fastrand::u64(..)))),
            |(store, runtime)| {
                let out = tokio.block_on(runtime.start(&big_map(), "map", ITEMS));
                assert_eq!(out.unwrap(), expected);
                (store, runtime)
            },
            BatchSize::PerIteration,
        );
    });
    group.bench_function("resume a 1,000,000-item map after half", |b| {
        b.iter_batched(
            || open(&copy_of(&map_db, dir.path(), &mut copies)),
            |(store, runtime)| {
                let out = tokio.block_on(runtime.resume(&big_map(), "map"));
                assert_eq!(out.unwrap(), expected);
                (store, runtime)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

criterion_group!(benches, resume);
criterion_main!(benches);
