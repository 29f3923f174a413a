//! Step overhead without a store: a 100-step sequence of trivial `#[step]`s run by the
//! runtime, against its baseline in the same group — 100 plain calls of the same
//! function. The ratio is the cost waypost adds per step (context, task wrapper, panic
//! guard, one boxed future per step in this dynamically built chain).
//!
//! `cargo bench --bench step_overhead`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use waypost::prelude::*;

mod common;

fn plain_add_one(x: u64) -> u64 {
    x + 1
}

fn step_overhead(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new();
    let wf = common::sequence("sequence", 100);
    assert_eq!(tokio.block_on(runtime.run(&wf, 0)).unwrap(), 100);

    let mut group = c.benchmark_group("step_overhead");
    group.bench_function("baseline: 100 plain calls", |b| {
        b.iter(|| {
            let mut x = black_box(0u64);
            for _ in 0..100 {
                x = black_box(plain_add_one(x));
            }
            x
        });
    });
    group.bench_function("100-step sequence", |b| {
        b.iter(|| tokio.block_on(runtime.run(&wf, black_box(0))).unwrap());
    });
    group.finish();
}

criterion_group!(benches, step_overhead);
criterion_main!(benches);
