//! A durable sequential step: an execution of 100 trivial steps on `SqliteStore` with
//! fsync on every commit, against its floor in the same group — 100 writes of the same
//! checkpoint-sized bytes to a file, each followed by `fdatasync`. The ratio says how
//! close a durable step is to one fsync. The same steps made at most once (a start
//! record before each body) show what that costs.
//!
//! `cargo bench --bench durable_step`

use std::hint::black_box;
use std::io::Write as _;

use criterion::{Criterion, criterion_group, criterion_main};
use waypost::SqliteStore;
use waypost::prelude::*;

mod common;

fn durable_step(c: &mut Criterion) {
    let tokio = common::tokio_runtime();
    let dir = tempfile::tempdir().unwrap();
    let runtime = Runtime::builder()
        .store(SqliteStore::open(dir.path().join("bench.db")).unwrap())
        .build();
    let wf = common::sequence("durable-sequence", 100);
    let mut next = 0u64;

    let mut group = c.benchmark_group("durable_step");
    group.sample_size(10);
    group.bench_function("baseline: 100 writes + fdatasync", |b| {
        let mut file = std::fs::File::create(dir.path().join("floor.bin")).unwrap();
        let bytes = [7u8; 48];
        b.iter(|| {
            for _ in 0..100 {
                file.write_all(black_box(&bytes)).unwrap();
                file.sync_data().unwrap();
            }
        });
    });
    group.bench_function("100 durable steps (SqliteStore, fsync)", |b| {
        b.iter(|| {
            next += 1;
            let out = tokio
                .block_on(runtime.start(&wf, format!("run-{next}"), 0))
                .unwrap();
            assert_eq!(out, 100);
        });
    });
    // The same steps, each at most once: one more commit per step (its start record).
    let once = {
        let mut chain = common::add_one.at_most_once().boxed();
        for _ in 1..100 {
            chain = chain.then(common::add_one.at_most_once()).boxed();
        }
        Workflow::new("durable-at-most-once", 1, chain)
    };
    group.bench_function("100 at-most-once durable steps (SqliteStore, fsync)", |b| {
        b.iter(|| {
            next += 1;
            let out = tokio
                .block_on(runtime.start(&once, format!("once-{next}"), 0))
                .unwrap();
            assert_eq!(out, 100);
        });
    });
    group.finish();
}

criterion_group!(benches, durable_step);
criterion_main!(benches);
