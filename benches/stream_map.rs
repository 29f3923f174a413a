//! The streaming async map, `map(step).items(reader).fold(..)`, over 1,000,000 items,
//! against the same items through a plain `buffer_unordered` stream in the same group,
//! for two kinds of item: one that only yields once (so the figure is waypost's own
//! cost per item) at concurrency 64, and one that awaits a 1 ms tokio timer (an
//! I/O-bound item) at concurrency 1,000.
//!
//! Before the group, one durable run on `SqliteStore` (a temporary file, commit every
//! 10,000 items) is interrupted once half the items are committed and resumed; it
//! reports the heap's peak (this binary's global allocator tracks it), the checkpoints
//! the execution holds and the resume's time, next to the peak of the plain
//! `buffer_unordered` and of the plain `map` over a `Vec` of the same items.
//!
//! `cargo bench --bench stream_map`

use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap::Cap;
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt as _;
use waypost::prelude::*;
use waypost::{SqliteStore, Store};

mod common;

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

const ITEMS: u64 = 1_000_000;
const COMMIT_EVERY: usize = 10_000;

/// An item that gives way once, as an I/O-bound item would, and doubles its value.
async fn yielding(x: u64) -> u64 {
    tokio::task::yield_now().await;
    2 * x
}

/// An item that awaits a 1 ms timer.
async fn ticking(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    x
}

/// The streaming map of `1..=n` through `item`, at most `limit` at once, summed.
fn streaming<F, Fut>(name: &'static str, item: F, limit: usize) -> Workflow<u64, u64>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    let step = step_fn(name, move |x: u64| {
        let run = item(x);
        async move { Ok::<_, Error>(run.await) }
    });
    Workflow::new(
        name,
        1,
        map(step)
            .items(read_items(|n: u64| Ok((1..=n).map(Ok))))
            .max_concurrency(limit)
            .commit_every(COMMIT_EVERY)
            .fold(0u64, |sum, x| sum.wrapping_add(x)),
    )
}

/// The same items through a plain `buffer_unordered(limit)`, summed.
async fn baseline<F, Fut>(item: F, limit: usize) -> u64
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = u64>,
{
    futures::stream::iter(1..=ITEMS)
        .map(item)
        .buffer_unordered(limit)
        .fold(0u64, |sum, x| async move { sum.wrapping_add(x) })
        .await
}

/// The peak resident memory of this process, from Linux's `/proc`.
fn peak_resident() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_owned())
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// One durable run, interrupted at half its items and resumed; the peaks of the heap.
fn peaks(tokio: &tokio::runtime::Runtime) {
    let expected = ITEMS * (ITEMS + 1);
    // The allocator's peak only ever grows: the smallest first.
    let base = HEAP.allocated();
    assert_eq!(tokio.block_on(baseline(yielding, 64)), expected);
    let peak_baseline = HEAP.max_allocated() - base;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path().join("stream.db")).expect("a SQLite store"));
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    let wf = streaming("stream", yielding, 64);
    let started = Instant::now();
    tokio.block_on(async {
        let watch = async {
            loop {
                let batches = store.checkpoints("s-1").await.unwrap_or_default().len();
                if batches * COMMIT_EVERY >= ITEMS as usize / 2 {
                    return batches;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::select! {
            _ = runtime.start(&wf, "s-1", ITEMS) => panic!("the map ended before half its items"),
            _ = watch => {}
        }
    });
    let interrupted = started.elapsed();
    let loaded = tokio
        .block_on(store.checkpoints("s-1"))
        .expect("the checkpoints");
    assert!(loaded.iter().all(|c| c.key.contains("/~items/")));
    let resumed = Instant::now();
    let sum = tokio
        .block_on(runtime.resume(&wf, "s-1"))
        .expect("the resumed map");
    let resumed = resumed.elapsed();
    assert_eq!(sum, expected);
    let peak_stream = HEAP.max_allocated() - base;
    let stored = tokio
        .block_on(store.checkpoints("s-1"))
        .expect("the checkpoints")
        .len();

    // Everything the process holds, SQLite's page cache (allocated in C, not through
    // the allocator above) and the bench's own code included.
    let resident = peak_resident().unwrap_or_else(|| "unknown".to_owned());

    let vec_map = Workflow::new(
        "vec",
        1,
        map(step_fn("double", |x: u64| async move {
            Ok::<_, Error>(yielding(x).await)
        }))
        .max_concurrency(64),
    );
    let doubled = tokio
        .block_on(Runtime::new().run(&vec_map, (1..=ITEMS).collect()))
        .expect("the plain map");
    assert_eq!(doubled.len(), ITEMS as usize);
    drop(doubled);
    let peak_vec = HEAP.max_allocated() - base;

    eprintln!(
        "stream_map peaks over {ITEMS} items: buffer_unordered(64) {:.2} MiB; \
         map(step).items(..).fold(..) on SqliteStore, interrupted after {:.2?} and {} \
         batches, resumed in {resumed:.2?}: {:.2} MiB, {stored} checkpoints in all \
         (peak resident memory of the process so far: {resident}); plain map over a Vec \
         (no store) {:.2} MiB",
        mib(peak_baseline),
        interrupted,
        loaded.len(),
        mib(peak_stream),
        mib(peak_vec),
    );
}

fn stream_map(c: &mut Criterion) {
    let tokio = common::tokio_runtime();
    peaks(&tokio);

    let runtime = Runtime::new();
    let expected = ITEMS * (ITEMS + 1);
    let wf = streaming("yield", yielding, 64);
    assert_eq!(tokio.block_on(runtime.run(&wf, ITEMS)).unwrap(), expected);

    let mut group = c.benchmark_group("stream_map");
    group.sample_size(10);
    group.bench_function(
        "baseline: buffer_unordered(64) of 1,000,000 yielding items",
        |b| {
            b.iter(|| tokio.block_on(baseline(yielding, 64)));
        },
    );
    group.bench_function(
        "map(step).items(..).fold(..) of 1,000,000 yielding items, 64 at once",
        |b| {
            b.iter(|| tokio.block_on(runtime.run(&wf, black_box(ITEMS))).unwrap());
        },
    );
    // The plain map over a `Vec` of the same items, for its cost per item.
    let vec_map = Workflow::new(
        "vec",
        1,
        map(step_fn("double", |x: u64| async move {
            Ok::<_, Error>(yielding(x).await)
        }))
        .max_concurrency(64),
    );
    group.bench_function(
        "map(step) over a Vec of 1,000,000 yielding items, 64 at once",
        |b| {
            b.iter(|| {
                tokio
                    .block_on(runtime.run(&vec_map, (1..=ITEMS).collect()))
                    .unwrap()
            });
        },
    );
    let wf = streaming("tick", ticking, 1_000);
    group.bench_function(
        "baseline: buffer_unordered(1000) of 1,000,000 1 ms timers",
        |b| {
            b.iter(|| tokio.block_on(baseline(ticking, 1_000)));
        },
    );
    group.bench_function(
        "map(step).items(..).fold(..) of 1,000,000 1 ms timers, 1,000 at once",
        |b| {
            b.iter(|| tokio.block_on(runtime.run(&wf, black_box(ITEMS))).unwrap());
        },
    );
    group.finish();
}

criterion_group!(benches, stream_map);
criterion_main!(benches);
