//! The CPU map at scale: items read lazily, results folded or collected, committed in
//! batches; an interrupted map resumes after its last committed item and no committed
//! item runs again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use waypost::Store as _;
use waypost::prelude::*;
use waypost::replay::checksum;
use waypost::store::{Checkpoint, CheckpointKind, Write};

use crate::support::{Gate, Runs, TestStore, interrupt_when};

/// How many times each item ran.
#[derive(Clone)]
struct ItemRuns(Arc<Vec<AtomicU8>>);

impl ItemRuns {
    fn new(items: usize) -> Self {
        ItemRuns(Arc::new((0..items).map(|_| AtomicU8::new(0)).collect()))
    }

    /// Counts a run of item `x` and squares it.
    fn run(&self, x: u64) -> u64 {
        self.0[usize::try_from(x).unwrap()].fetch_add(1, Ordering::SeqCst);
        x * x
    }

    fn count(&self, item: usize) -> u8 {
        self.0[item].load(Ordering::SeqCst)
    }
}

/// The items committed by the map at `prefix`, read from the batch checkpoints' headers.
async fn committed_items(store: &TestStore, id: &str, prefix: &str) -> (usize, usize) {
    // Nothing yet while the execution is being created.
    let checkpoints = store.store.checkpoints(id).await.unwrap_or_default();
    let batches: Vec<_> = checkpoints
        .iter()
        .filter(|c| c.key.starts_with(prefix))
        .collect();
    let upto = batches
        .iter()
        .map(|c| {
            assert_eq!(c.kind, CheckpointKind::Output);
            usize::try_from(u64::from_le_bytes(c.payload[..8].try_into().unwrap())).unwrap()
        })
        .max()
        .unwrap_or(0);
    (upto, batches.len())
}

/// Drops `future` once the map of execution `id` committed at least `items` items.
async fn interrupt_once_committed<F: Future>(store: &TestStore, id: &str, items: usize, future: F) {
    let watch = async {
        while committed_items(store, id, "0.par_map/~items/").await.0 < items {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    };
    tokio::select! {
        _ = future => panic!("the execution finished before the interruption point"),
        () = watch => {}
    }
}

#[tokio::test]
async fn results_are_committed_in_batches_and_a_resumed_map_skips_them() {
    let store = TestStore::sqlite();
    let runs = ItemRuns::new(2_000);
    // Items slow enough (0.2 ms) that batches commit while the map runs.
    let counted = runs.clone();
    let slow_square = sync_step_fn("square", move |x: u64| {
        std::thread::sleep(std::time::Duration::from_micros(200));
        Ok(counted.run(x))
    });
    let wf = Workflow::new(
        "squares",
        1,
        par_map(slow_square)
            .commit_every(100)
            .then(pass("sum", |xs: Vec<u64>| xs.iter().sum::<u64>())),
    );
    let runtime = store.runtime();
    let input: Vec<u64> = (0..2_000).collect();
    interrupt_once_committed(
        &store,
        "ms-squares",
        500,
        runtime.start(&wf, "ms-squares", input),
    )
    .await;

    let (committed, batches) = committed_items(&store, "ms-squares", "0.par_map/~items/").await;
    assert!(committed < 2_000, "the map was interrupted: {committed}");
    assert!(
        batches >= committed / 100,
        "{batches} batches for {committed} items"
    );

    let expected: u64 = (0..2_000u64).map(|x| x * x).sum();
    assert_eq!(runtime.resume(&wf, "ms-squares").await.unwrap(), expected);
    for item in 0..committed {
        assert_eq!(runs.count(item), 1, "committed item {item} ran again");
    }
    for item in 0..2_000 {
        assert!(runs.count(item) >= 1, "item {item} never ran");
    }
    // What runs again is what had run but was not committed: once more at most.
    assert!((committed..2_000).all(|item| runs.count(item) <= 2));
}

#[tokio::test]
async fn a_million_items_are_read_lazily_folded_and_resumed_after_half() {
    // Scaled down in debug builds; `cargo test --release` maps the full million.
    let items: usize = if cfg!(debug_assertions) {
        100_000
    } else {
        1_000_000
    };
    let store = TestStore::sqlite();
    let runs = ItemRuns::new(items);
    // A pause of 1 ms every thousandth of the items: the map takes long enough to be
    // interrupted in the middle, in any build.
    let (counted, every) = (runs.clone(), u64::try_from(items / 1_000).unwrap());
    let square = sync_step_fn("square", move |x: u64| {
        if x.is_multiple_of(every) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        Ok(counted.run(x))
    });
    let wf = Workflow::new(
        "sum-of-squares",
        1,
        par_map(square)
            .items(read_items(|n: u64| Ok((0..n).map(Ok))))
            .commit_every(10_000)
            .fold(0u64, |sum, x| sum.wrapping_add(x)),
    );
    let runtime = store.runtime();
    let n = u64::try_from(items).unwrap();
    interrupt_once_committed(&store, "ms-big", items / 2, runtime.start(&wf, "ms-big", n)).await;
    let (committed, _) = committed_items(&store, "ms-big", "0.par_map/~items/").await;
    assert!(committed < items, "the map was interrupted: {committed}");

    let expected = (0..n).fold(0u64, |sum, x| sum.wrapping_add(x * x));
    assert_eq!(runtime.resume(&wf, "ms-big").await.unwrap(), expected);
    assert!((0..committed).all(|item| runs.count(item) == 1));
    assert!((0..items).all(|item| runs.count(item) >= 1));
    // The checkpoints are batches, not items.
    let checkpoints = store.store.checkpoints("ms-big").await.unwrap();
    assert!(
        checkpoints.len() <= items / 10_000 + 2,
        "{}",
        checkpoints.len()
    );
}

#[tokio::test]
async fn a_failed_item_keeps_the_results_before_it_and_a_redrive_carries_on_from_it() {
    let store = TestStore::sqlite();
    let runs = ItemRuns::new(500);
    let broken = Arc::new(AtomicU8::new(1));
    let (counted, flag) = (runs.clone(), Arc::clone(&broken));
    let flaky = sync_step_fn("flaky", move |x: u64| {
        if x == 321 && flag.load(Ordering::SeqCst) == 1 {
            return Err(Error::new("Broken", "item 321 is broken"));
        }
        Ok(counted.run(x))
    });
    let wf = Workflow::new("flaky-squares", 1, par_map(flaky).commit_every(50));
    let runtime = store.runtime();
    let error = runtime
        .start(&wf, "ms-flaky", (0..500).collect())
        .await
        .unwrap_err();
    let error = error.error().expect("the item's error");
    assert_eq!(error.name(), "Broken");
    assert_eq!(error.address(), Some("0.par_map/321/0.flaky"));
    let (committed, _) = committed_items(&store, "ms-flaky", "0.par_map/~items/").await;
    assert_eq!(committed, 321, "every item before the failed one is kept");

    broken.store(0, Ordering::SeqCst);
    let out = runtime.redrive(&wf, "ms-flaky").await.unwrap();
    assert_eq!(out, (0..500u64).map(|x| x * x).collect::<Vec<_>>());
    assert!(
        (0..321).all(|item| runs.count(item) == 1),
        "kept items ran again"
    );
}

#[tokio::test]
async fn a_reader_error_fails_the_map_at_the_item_it_could_not_read() {
    let wf = Workflow::new(
        "bad-rows",
        1,
        par_map(sync_step_fn("double", |x: u64| Ok(x * 2))).items(read_items(|n: u64| {
            Ok((0..n).map(|i| match i {
                7 => Err(Error::new("BadRow", "row 7 does not parse")),
                i => Ok(i),
            }))
        })),
    );
    let error = Runtime::new().run(&wf, 10).await.unwrap_err();
    assert_eq!(error.name(), "BadRow");
    assert_eq!(error.address(), Some("0.par_map/7"));
    // Fewer items than the bad row: no error.
    assert_eq!(Runtime::new().run(&wf, 5).await.unwrap(), [0, 2, 4, 6, 8]);
}

#[tokio::test]
async fn a_tolerant_stream_fails_past_its_percentage_only_at_its_end() {
    let halve = || {
        sync_step_fn("halve", |x: u64| {
            if x.is_multiple_of(10) {
                Err(Error::new("Round", format!("{x} is a round number")))
            } else {
                Ok(x / 2)
            }
        })
    };
    let wf = |pct| {
        Workflow::new(
            "halves",
            1,
            par_map(halve())
                .items(read_items(|n: u64| Ok((1..=n).map(Ok))))
                .tolerate(ToleratedFailures::Percentage(pct)),
        )
    };
    let results = Runtime::new().run(&wf(10.0), 100).await.unwrap();
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 10);
    let error = Runtime::new().run(&wf(5.0), 100).await.unwrap_err();
    assert_eq!(
        error.name(),
        waypost::error::names::EXCEED_TOLERATED_FAILURE
    );
}

#[tokio::test]
async fn batched_items_run_many_per_call_and_resume_by_batch() {
    let store = TestStore::sqlite();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let sum = sync_step_fn("sum", move |batch: Vec<u64>| {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(batch.iter().sum::<u64>())
    });
    let wf = Workflow::new(
        "batch-sums",
        1,
        par_map(sum).items(vec_items().batched(4)).commit_every(1),
    );
    let out = store
        .runtime()
        .start(&wf, "ms-batches", (1..=10).collect())
        .await
        .unwrap();
    assert_eq!(out, [10, 26, 19]);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let (committed, batches) = committed_items(&store, "ms-batches", "0.par_map/~items/").await;
    assert_eq!((committed, batches >= 1), (3, true));
}

#[tokio::test]
async fn a_batch_checkpoint_that_is_not_one_is_a_clear_error() {
    let store = TestStore::memory();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let wf = Workflow::new(
        "gated-squares",
        1,
        gate.step("gate", &runs).then(
            par_map(sync_step_fn("square", |x: u64| Ok(x * x)))
                .items(read_items(|n: u64| Ok((0..n).map(Ok))))
                .fold(0u64, |sum, x| sum + x),
        ),
    );
    let runtime = store.runtime();
    interrupt_when(
        || runs.count("gate") == 1,
        runtime.start(&wf, "ms-bogus", 10),
    )
    .await;
    // A checkpoint where the map's first batch belongs, too short to be one.
    let payload = vec![1, 2, 3];
    let bogus = Checkpoint {
        seq: 0,
        checksum: checksum(&payload),
        key: "1.par_map/~items/0".into(),
        kind: CheckpointKind::Output,
        payload,
    };
    store
        .store
        .commit(
            "ms-bogus",
            waypost::store::Fence::Unleased,
            vec![Write::Checkpoint(bogus)],
        )
        .await
        .unwrap();
    gate.open();
    let error = runtime.resume(&wf, "ms-bogus").await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("checkpoint `1.par_map/~items/0` of execution `ms-bogus`")
            && message.contains("not a batch of map results"),
        "{message}"
    );
}

/// A memory store whose commit of one chosen key fails once, after a while.
#[derive(Debug)]
struct FailOnce {
    inner: waypost::MemoryStore,
    key: &'static str,
    failed: std::sync::atomic::AtomicBool,
}

impl waypost::Store for FailOnce {
    fn create(
        &self,
        new: waypost::store::NewExecution,
    ) -> waypost::store::StoreFuture<'_, (waypost::store::ExecutionRecord, bool)> {
        self.inner.create(new)
    }
    fn execution<'a>(
        &'a self,
        id: &'a str,
    ) -> waypost::store::StoreFuture<'a, waypost::store::ExecutionRecord> {
        self.inner.execution(id)
    }
    fn list<'a>(
        &'a self,
        filter: &'a waypost::store::ListFilter,
    ) -> waypost::store::StoreFuture<'a, Vec<waypost::store::ExecutionRecord>> {
        self.inner.list(filter)
    }
    fn checkpoints<'a>(&'a self, id: &'a str) -> waypost::store::StoreFuture<'a, Vec<Checkpoint>> {
        self.inner.checkpoints(id)
    }
    fn history<'a>(&'a self, id: &'a str) -> waypost::store::StoreFuture<'a, Vec<waypost::Event>> {
        self.inner.history(id)
    }
    fn commit<'a>(
        &'a self,
        id: &'a str,
        fence: waypost::store::Fence<'a>,
        writes: Vec<Write>,
    ) -> waypost::store::StoreFuture<'a, ()> {
        let hit = writes
            .iter()
            .any(|w| matches!(w, Write::Checkpoint(c) if c.key == self.key));
        if hit && !self.failed.swap(true, Ordering::SeqCst) {
            return Box::pin(async move {
                // Slowly: the map takes more results while this commit is in flight.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(waypost::store::StoreError::Backend {
                    doing: format!("committing to `{id}`"),
                    message: "the disk said no".into(),
                })
            });
        }
        self.inner.commit(id, fence, writes)
    }
    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: std::time::Duration,
    ) -> waypost::store::StoreFuture<'a, waypost::store::Lease> {
        self.inner.acquire_lease(id, owner, ttl)
    }
    fn renew_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a waypost::store::LeaseToken,
        ttl: std::time::Duration,
    ) -> waypost::store::StoreFuture<'a, waypost::store::Lease> {
        self.inner.renew_lease(id, token, ttl)
    }
    fn release_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a waypost::store::LeaseToken,
    ) -> waypost::store::StoreFuture<'a, ()> {
        self.inner.release_lease(id, token)
    }
    fn claim<'a>(
        &'a self,
        request: &'a waypost::store::ClaimRequest,
    ) -> waypost::store::StoreFuture<'a, Vec<waypost::store::Claim>> {
        self.inner.claim(request)
    }
}

#[tokio::test]
async fn a_failed_batch_commit_stops_the_map_and_a_resume_carries_on_without_a_conflict() {
    let store = Arc::new(FailOnce {
        inner: waypost::MemoryStore::new(),
        key: "0.par_map/~items/2",
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let runtime = Runtime::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn waypost::Store>)
        .build();
    let runs = ItemRuns::new(1_000);
    let counted = runs.clone();
    let wf = Workflow::new(
        "squares",
        1,
        par_map(sync_step_fn("square", move |x: u64| Ok(counted.run(x)))).commit_every(100),
    );
    let error = runtime
        .start(&wf, "ms-commit", (0..1_000).collect())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("the disk said no"), "{error}");
    assert!(matches!(error, RunError::Stopped { .. }), "{error:?}");
    let keys: Vec<String> = store
        .checkpoints("ms-commit")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    let batches: Vec<u32> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("0.par_map/~items/")?.parse().ok())
        .collect();
    assert_eq!(batches, [0, 1], "only the batches before the failed one");

    let out = runtime.resume(&wf, "ms-commit").await.unwrap();
    assert_eq!(out, (0..1_000u64).map(|x| x * x).collect::<Vec<_>>());
    assert!(
        (0..200).all(|item| runs.count(item) == 1),
        "committed items ran again"
    );
}

/// The first item of each batch a result writer got, in the order it got them.
#[derive(Clone, Default)]
struct Written(Arc<std::sync::Mutex<Vec<u64>>>);

impl Written {
    /// A step that "writes" a batch of results: logs its first item, returns its sum.
    fn writer(&self) -> impl Step<Input = Vec<u64>, Output = u64> + use<> {
        let log = self.clone();
        step_fn("write", move |batch: Vec<u64>| {
            let log = log.clone();
            async move {
                // A write that takes a moment, so a run can be interrupted mid-map.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                log.0.lock().unwrap().push(batch[0]);
                Ok::<_, Error>(batch.iter().sum())
            }
        })
    }

    fn firsts(&self) -> Vec<u64> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn results_are_written_in_batches_of_a_fixed_size_by_a_step() {
    let written = Written::default();
    let wf = Workflow::new(
        "write-squares",
        1,
        par_map(sync_step_fn("square", |x: u64| Ok(x * x)))
            .items(read_items(|n: u64| Ok((0..n).map(Ok))))
            .write_results(written.writer(), 100),
    );
    let store = TestStore::sqlite();
    let out = store
        .runtime()
        .start(&wf, "ms-write-all", 1_050)
        .await
        .unwrap();
    let expected: Vec<u64> = (0..11u64)
        .map(|b| (b * 100..(b * 100 + 100).min(1_050)).map(|x| x * x).sum())
        .collect();
    assert_eq!(out, expected);
    let firsts: Vec<u64> = (0..11).map(|b| (b * 100) * (b * 100)).collect();
    assert_eq!(written.firsts(), firsts, "each batch once, in order");
}

#[tokio::test]
async fn an_interrupted_writer_map_resumes_without_writing_a_batch_twice() {
    let written = Written::default();
    let runs = ItemRuns::new(3_000);
    let counted = runs.clone();
    let wf = Workflow::new(
        "write-many",
        1,
        par_map(sync_step_fn("square", move |x: u64| Ok(counted.run(x))))
            .items(read_items(|n: u64| Ok((0..n).map(Ok))))
            .commit_every(100)
            .write_results(written.writer(), 250),
    );
    let store = TestStore::sqlite();
    let runtime = store.runtime();
    interrupt_once_committed(
        &store,
        "ms-writer",
        1_000,
        runtime.start(&wf, "ms-writer", 3_000),
    )
    .await;
    let (committed, _) = committed_items(&store, "ms-writer", "0.par_map/~items/").await;
    assert_eq!(
        committed % 250,
        0,
        "a checkpoint ends at a whole batch: {committed}"
    );

    let out = runtime.resume(&wf, "ms-writer").await.unwrap();
    assert_eq!(out.len(), 12);
    assert_eq!(
        out.iter().sum::<u64>(),
        (0..3_000u64).map(|x| x * x).sum::<u64>()
    );
    let firsts = written.firsts();
    for batch in 0..12u64 {
        let first = (batch * 250) * (batch * 250);
        let times = firsts.iter().filter(|&&f| f == first).count();
        // A batch whose write was in flight when the run stopped is written again.
        assert!(
            (1..=2).contains(&times),
            "batch {batch} written {times} times"
        );
    }
    assert!(
        firsts.len() <= 13,
        "at most the batch in flight twice: {firsts:?}"
    );
    assert!((0..committed).all(|item| runs.count(item) == 1));
}

#[tokio::test]
async fn a_slow_result_writer_holds_the_items_back_instead_of_piling_them_up() {
    const ITEMS: u64 = 300_000;
    const BATCH: usize = 50_000;
    let ran = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&ran);
    let square = sync_step_fn("square", move |x: u64| {
        counted.fetch_add(1, Ordering::Relaxed);
        Ok(x * x)
    });
    // How far the items ran ahead of each batch being written.
    let lead = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (seen, leads) = (Arc::clone(&ran), Arc::clone(&lead));
    let slow_writer = step_fn("write", move |batch: Vec<u64>| {
        let (seen, leads) = (Arc::clone(&seen), Arc::clone(&leads));
        async move {
            {
                let mut leads = leads.lock().unwrap();
                let written = leads.len() * BATCH;
                leads.push(seen.load(Ordering::Relaxed) - written);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            Ok::<_, Error>(batch.len())
        }
    });
    let wf = Workflow::new(
        "slow-writer",
        1,
        par_map(square)
            .items(read_items(|n: u64| Ok((0..n).map(Ok))))
            .write_results(slow_writer, BATCH),
    );
    // In memory (no checkpoints) and on SQLite: the same bound.
    let store = TestStore::sqlite();
    for durable in [false, true] {
        ran.store(0, Ordering::Relaxed);
        lead.lock().unwrap().clear();
        let out = if durable {
            store.runtime().start(&wf, "ms-slow", ITEMS).await.unwrap()
        } else {
            Runtime::new().run(&wf, ITEMS).await.unwrap()
        };
        assert_eq!(out, [BATCH; 6]);
        // A writer slower than the items holds them back: they run at most a batch and
        // the map's window of groups (on 2 cores, 8 of at most 4,096 items) ahead of what
        // is written, not to the end.
        let leads = lead.lock().unwrap().clone();
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        assert!(
            leads.iter().all(|&l| l <= 2 * BATCH + 4 * cores * 4_096),
            "durable: {durable}: items ran this far ahead of the writes: {leads:?}"
        );
    }
}

#[tokio::test]
async fn a_result_writer_with_small_batches_keeps_up_with_fast_items_in_memory() {
    // Groups of thousands of fast items, batches of 100: the map writes batch after
    // batch to make room instead of stopping.
    let wf = Workflow::new(
        "small-batches",
        1,
        par_map(sync_step_fn("double", |x: u64| Ok(2 * x)))
            .items(read_items(|n: u64| Ok((0..n).map(Ok))))
            .write_results(
                step_fn("count", |batch: Vec<u64>| async move {
                    Ok::<_, Error>(batch.len())
                }),
                100,
            ),
    );
    let out = Runtime::new().run(&wf, 300_000).await.unwrap();
    assert_eq!(out.len(), 3_000);
    assert!(out.iter().all(|&n| n == 100));
}

#[tokio::test]
async fn a_read_error_is_the_error_of_a_tolerant_map_not_a_failure_it_tolerates() {
    let item = sync_step_fn("item", |x: u64| match x {
        // Slow: when the reader fails, the items after this one wait behind it.
        500 => {
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(x)
        }
        1_000 => Err(Error::new("Tolerated", "item 1000")),
        x => Ok(x),
    });
    let wf = Workflow::new(
        "tolerant-bad-rows",
        1,
        par_map(item)
            .items(read_items(|n: u64| {
                Ok((0..n).map(|i| match i {
                    3_000 => Err(Error::new("BadRow", "row 3000")),
                    i => Ok(i),
                }))
            }))
            .tolerate(ToleratedFailures::Count(10)),
    );
    let error = Runtime::new().run(&wf, 10_000).await.unwrap_err();
    assert_eq!(error.name(), "BadRow", "{error}");
    assert_eq!(error.address(), Some("0.par_map/3000"));
}

#[tokio::test]
async fn a_strict_map_fails_at_its_first_failed_item_whichever_fails_first_in_time() {
    let item = sync_step_fn("item", |x: u64| match x {
        // Slow: the items after it wait behind it while item 700 fails.
        100 => {
            std::thread::sleep(std::time::Duration::from_millis(200));
            Ok(x)
        }
        150 => Err(Error::new("Early", "item 150")),
        700 => Err(Error::new("Late", "item 700")),
        x => Ok(x),
    });
    let wf = Workflow::new("first-failure", 1, par_map(item));
    let store = TestStore::sqlite();
    let error = store
        .runtime()
        .start(&wf, "ms-first-failure", (0..2_000).collect())
        .await
        .unwrap_err();
    let error = error.error().expect("an item's error");
    assert_eq!(error.name(), "Early", "{error}");
    // Every item before it ran and is kept.
    let (committed, _) = committed_items(&store, "ms-first-failure", "0.par_map/~items/").await;
    assert_eq!(committed, 150);
}
