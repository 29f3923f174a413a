//! A durable sequential step: an execution of 100 trivial steps on `SqliteStore` with
//! fsync on every commit, against its floor in the same group — 100 writes of the same
//! checkpoint-sized bytes to a file, each followed by `fdatasync`. The ratio says how
//! close a durable step is to one fsync. The same rows written by SQLite alone (the
//! store's layout, and a one-row-per-commit log) show how much of the gap is SQLite's
//! and how much waypost's. The same steps made at most once (a start record before each
//! body) show what that costs.
//!
//! `cargo bench --bench durable_step`

use std::hint::black_box;
use std::io::Write as _;

use criterion::{Criterion, criterion_group, criterion_main};
use waypost::SqliteStore;
use waypost::prelude::*;

mod common;

use common::layout::{self, Layout};

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
    // What SQLite alone takes for the same commits: the rows of 100 steps, one
    // transaction (one fsync) each, in the store's layout and in a one-row-per-commit log.
    let mut n = 0u64;
    for layout in [Layout::Rows, Layout::Log, Layout::Append] {
        let conn = layout::open(&dir.path().join(format!("{layout:?}.db")), layout);
        common::transaction(&conn, || layout::create(&conn, &["e0".to_owned()]));
        let mut hundred = || {
            for _ in 0..100 {
                n += 1;
                common::transaction(&conn, || layout::step(&conn, layout, "e0", n));
            }
        };
        let written = layout::written_bytes();
        hundred();
        eprintln!(
            "durable_step: SQLite alone, {layout:?} layout: {} bytes written per step",
            (layout::written_bytes() - written) / 100
        );
        let name = format!("SQLite alone: 100 steps' rows, {layout:?} layout");
        group.bench_function(name, |b| b.iter(&mut hundred));
    }
    let written = layout::written_bytes();
    tokio
        .block_on(runtime.start(&wf, "first".to_owned(), 0))
        .unwrap();
    eprintln!(
        "durable_step: SqliteStore: {} bytes written per step",
        (layout::written_bytes() - written) / 100
    );
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
