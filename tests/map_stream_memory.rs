//! The streaming async map runs in bounded memory: its peak heap does not grow with
//! the number of items, and its store holds one checkpoint per batch, not one per
//! item. The plain `map` over a `Vec` of the same items, for contrast, holds them all.
//!
//! The heap is measured by this binary's global allocator (`cap`, which tracks the
//! peak), so this file holds a single test: nothing else allocates while it measures.
//! Scaled down for debug builds; `cargo bench --bench stream_map` maps the full
//! 1,000,000 items in release and reports their peak.

use std::alloc::System;
use std::sync::Arc;

use cap::Cap;
use waypost::prelude::*;
use waypost::{MemoryStore, Store};

#[global_allocator]
static HEAP: Cap<System> = Cap::new(System, usize::MAX);

const COMMIT_EVERY: usize = 1_000;

/// A step that gives way once, as an I/O-bound item would, and doubles its item.
fn double() -> impl Step<Input = u64, Output = u64> {
    step_fn("double", |x: u64| async move {
        tokio::task::yield_now().await;
        Ok::<_, Error>(2 * x)
    })
}

/// Maps `1..=items` with the streaming map on a durable runtime, folding (sum, count);
/// returns how many checkpoints the execution holds.
async fn stream(items: u64) -> usize {
    let store = Arc::new(MemoryStore::new());
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .build();
    let wf = Workflow::new(
        "stream",
        1,
        map(double())
            .items(read_items(|n: u64| Ok((1..=n).map(Ok))))
            .max_concurrency(64)
            .commit_every(COMMIT_EVERY)
            .commit_interval(std::time::Duration::from_secs(3_600))
            .fold((0u64, 0u64), |(sum, n), x| (sum + x, n + 1)),
    );
    let id = format!("stream-{items}");
    let (sum, count) = runtime.start(&wf, &id, items).await.unwrap();
    assert_eq!((sum, count), (items * (items + 1), items));
    store.checkpoints(&id).await.unwrap().len()
}

/// One checkpoint per batch of at least `COMMIT_EVERY` items (more when a commit was
/// still in flight), none per item.
fn assert_batches(checkpoints: usize, items: u64) {
    let most = items as usize / COMMIT_EVERY;
    assert!(
        (most / 2..=most).contains(&checkpoints),
        "{checkpoints} checkpoints for {items} items, committed every {COMMIT_EVERY}"
    );
}

/// The heap's peak above `base` so far, in bytes.
fn peak_above(base: usize) -> usize {
    HEAP.max_allocated().saturating_sub(base)
}

#[tokio::test(flavor = "current_thread")]
async fn the_streaming_map_runs_in_bounded_memory() {
    let small: u64 = 20_000;
    let large: u64 = 200_000;
    let base = HEAP.allocated();
    // The allocator's peak only ever grows: the small map runs first.
    let checkpoints = stream(small).await;
    let peak_small = peak_above(base);
    assert_batches(checkpoints, small);
    let checkpoints = stream(large).await;
    let peak_large = peak_above(base);
    assert_batches(checkpoints, large);
    eprintln!(
        "peak heap: {small} items {} KiB, {large} items {} KiB",
        peak_small / 1024,
        peak_large / 1024
    );
    // Ten times the items: were memory to grow with them, the peak would grow ~10×. It
    // grows a little with the batches (the store and the journal keep each batch's
    // checkpoint: 200 instead of 20), never with the items.
    assert!(
        peak_large < 2 * peak_small,
        "the peak grew with the items: {peak_small} bytes for {small}, {peak_large} for {large}"
    );
    // Well below what holding the items' results alone would take (16 bytes each).
    assert!(
        peak_large < large as usize * 16 / 2,
        "{peak_large} bytes for {large} items"
    );

    // For contrast: the plain map over a `Vec` of the same items holds them all (the
    // input and one result per item), without even a store.
    let wf = Workflow::new("vec", 1, map(double()).max_concurrency(64));
    let base = HEAP.allocated();
    let doubled = Runtime::new()
        .run(&wf, (1..=large).collect::<Vec<u64>>())
        .await
        .unwrap();
    assert_eq!(doubled.len(), large as usize);
    drop(doubled);
    let peak_vec = HEAP.max_allocated() - base;
    eprintln!(
        "peak heap of the plain map over a Vec: {} KiB",
        peak_vec / 1024
    );
    assert!(
        peak_vec > 4 * peak_large,
        "the plain map holds every item: {peak_vec} bytes, the streaming one {peak_large}"
    );
}
