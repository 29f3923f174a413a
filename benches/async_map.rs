//! The async map: 10,000 items, each awaiting a 1 ms timer, at most 1,000 at once (no
//! store), against its baseline in the same group — the same timers driven by a plain
//! `buffer_unordered(1000)` stream. The ideal is 10 rounds of 1 ms = 10 ms; tokio's
//! timer wheel has a 1 ms resolution, so each round takes a little more than 1 ms.
//!
//! `cargo bench --bench async_map`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt as _;
use waypost::prelude::*;

mod common;

const ITEMS: u64 = 10_000;
const CONCURRENCY: usize = 1_000;

#[step]
async fn tick(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    x
}

fn async_map(c: &mut Criterion) {
    let tokio = common::tokio_runtime();
    let runtime = Runtime::new();
    let wf = Workflow::new("ticks", 1, map(tick).max_concurrency(CONCURRENCY));
    let items: Vec<u64> = (0..ITEMS).collect();
    assert_eq!(
        tokio.block_on(runtime.run(&wf, items.clone())).unwrap(),
        items
    );

    let mut group = c.benchmark_group("async_map");
    group.sample_size(20);
    group.bench_function("baseline: buffer_unordered of 1 ms timers", |b| {
        b.iter(|| {
            tokio.block_on(
                futures::stream::iter(0..ITEMS)
                    .map(|x| async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        x
                    })
                    .buffer_unordered(CONCURRENCY)
                    .count(),
            )
        });
    });
    group.bench_function("map of 10,000 items at concurrency 1,000", |b| {
        b.iter(|| {
            tokio
                .block_on(runtime.run(&wf, black_box(items.clone())))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, async_map);
criterion_main!(benches);
