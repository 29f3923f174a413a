//! The CPU map: `par_map` over 1,000,000 items of a ~1 µs function on rayon (no store),
//! against its baseline in the same group — a raw rayon `par_iter().map().collect()` of
//! the same function over the same items.
//!
//! `cargo bench --bench cpu_map`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rayon::prelude::*;
use waypost::prelude::*;

/// About a microsecond of arithmetic that the optimizer cannot fold (a multiply-xorshift
/// chain; a plain affine recurrence would be folded into one step).
fn work(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..700 {
        x = (x ^ (x >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    x
}

#[step]
fn work_step(seed: u64) -> u64 {
    work(seed)
}

fn cpu_map(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let runtime = Runtime::new();
    let wf = Workflow::new("cpu-map", 1, par_map(work_step));
    let items: Vec<u64> = (0..1_000_000).collect();
    let expected: Vec<u64> = items.par_iter().map(|&x| work(x)).collect();
    assert_eq!(
        tokio.block_on(runtime.run(&wf, items.clone())).unwrap(),
        expected
    );

    let mut group = c.benchmark_group("cpu_map");
    group.sample_size(10);
    group.bench_function("baseline: raw par_iter, 1M items", |b| {
        b.iter(|| {
            black_box(&items)
                .par_iter()
                .map(|&x| work(x))
                .collect::<Vec<u64>>()
        });
    });
    group.bench_function("par_map, 1M items", |b| {
        b.iter(|| {
            tokio
                .block_on(runtime.run(&wf, black_box(items.clone())))
                .unwrap()
        });
    });
    group.finish();
}

criterion_group!(benches, cpu_map);
criterion_main!(benches);
