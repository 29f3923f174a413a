//! Group commit: 1,000 executions of 10 durable steps each, started at once on one
//! `SqliteStore` with fsync on every commit, against its floor in the same group — one
//! write + `fdatasync` of the same bytes. Criterion reports durable steps per second
//! (10,000 per iteration); the bench also prints how many SQLite transactions (each one
//! fsync) the 10,000 steps took. The same steps' rows written by SQLite alone, 100
//! steps per transaction, show the ceiling SQLite sets on one core, in the store's
//! layout and in a one-row-per-commit log.
//!
//! `cargo bench --bench group_commit`

use std::hint::black_box;
use std::io::Write as _;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use waypost::SqliteStore;
use waypost::prelude::*;

mod common;

use common::layout::{self, Layout};

const EXECUTIONS: usize = 1_000;
const STEPS: usize = 10;

/// Starts `EXECUTIONS` executions at once and waits for all of them.
async fn run_all(runtime: &Runtime, wf: &Workflow<u64, u64>, round: u64) {
    let runs = (0..EXECUTIONS).map(|i| runtime.start(wf, format!("r{round}-{i}"), 0));
    for out in futures::future::join_all(runs).await {
        assert_eq!(out.unwrap(), STEPS as u64);
    }
}

fn group_commit(c: &mut Criterion) {
    let tokio = common::tokio_runtime();
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(SqliteStore::open(dir.path().join("bench.db")).unwrap());
    let runtime = Runtime::builder()
        .shared_store(store.clone() as std::sync::Arc<dyn waypost::Store>)
        .build();
    let wf = common::sequence("group-commit", STEPS);

    let steps = (EXECUTIONS * STEPS) as u64;
    let (before, written) = (store.transactions_committed(), layout::written_bytes());
    tokio.block_on(run_all(&runtime, &wf, 0));
    let transactions = store.transactions_committed() - before;
    eprintln!(
        "group_commit: {steps} durable steps took {transactions} transactions ({:.3} fsyncs per \
         step), {} bytes written per step",
        transactions as f64 / steps as f64,
        (layout::written_bytes() - written) / steps
    );
    // SQLite alone, the same steps' rows: 1,000 new executions (their rows inserted in
    // one transaction), then their steps, 100 executions' steps per transaction.
    let mut n = 0u64;
    let mut alone = |conn: &rusqlite::Connection, layout: Layout| {
        n += 1;
        let ids: Vec<String> = (0..EXECUTIONS).map(|e| format!("r{n}-{e}")).collect();
        common::transaction(conn, || layout::create(conn, &ids));
        for chunk in ids.chunks(100) {
            for step in 0..STEPS as u64 {
                common::transaction(conn, || {
                    for id in chunk {
                        layout::step(conn, layout, id, step);
                    }
                });
            }
        }
    };
    let layouts = [Layout::Rows, Layout::Log, Layout::Append].map(|layout| {
        let conn = layout::open(&dir.path().join(format!("{layout:?}.db")), layout);
        let written = layout::written_bytes();
        alone(&conn, layout);
        eprintln!(
            "group_commit: SQLite alone, {layout:?} layout: {} bytes written per step",
            (layout::written_bytes() - written) / steps
        );
        (layout, conn)
    });

    let mut group = c.benchmark_group("group_commit");
    group.sample_size(10);
    group.bench_function("baseline: 1 write + fdatasync", |b| {
        let mut file = std::fs::File::create(dir.path().join("floor.bin")).unwrap();
        let bytes = [7u8; 48];
        b.iter(|| {
            file.write_all(black_box(&bytes)).unwrap();
            file.sync_data().unwrap();
        });
    });
    group.throughput(Throughput::Elements((EXECUTIONS * STEPS) as u64));
    // The ceiling SQLite alone sets on one core, in each layout.
    for (layout, conn) in &layouts {
        let name =
            format!("SQLite alone: 100 executions' steps per transaction, {layout:?} layout");
        group.bench_function(name, |b| b.iter(|| alone(conn, *layout)));
    }
    let mut round = 0;
    group.bench_function("1,000 executions x 10 durable steps", |b| {
        b.iter(|| {
            round += 1;
            tokio.block_on(run_all(&runtime, &wf, round));
        });
    });
    group.finish();
}

criterion_group!(benches, group_commit);
criterion_main!(benches);
