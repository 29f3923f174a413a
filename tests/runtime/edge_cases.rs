//! Edge cases found in review, each a regression test: nested timeouts, redrive of a
//! map with several failed items, panicking pure functions, idempotency keys and history
//! across redrives, inputs whose encoding is not canonical, custom codecs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::{Codec, EventKind, JsonCodec};

use crate::support::{Gate, Runs, TestStore, interrupt_after, interrupt_when};

#[tokio::test(start_paused = true)]
async fn two_timeouts_on_one_step_keep_separate_checkpoints() {
    let store = TestStore::memory();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let slow = runs.slow_step("slow", Duration::from_secs(10));
    let fallback = pass("fallback", |(x, _error): (u64, Error)| x + 1000);
    let wf = Workflow::new(
        "nested",
        1,
        slow.timeout(Duration::from_secs(1))
            .catch([waypost::error::names::TIMEOUT], fallback)
            .timeout(Duration::from_secs(60))
            .then(gate.step("gate", &runs)),
    );
    let runtime = store.runtime();
    interrupt_after(Duration::from_secs(5), runtime.start(&wf, "n", 1)).await;
    gate.open();
    // The inner timeout's record is not taken for the outer timeout's.
    assert_eq!(runtime.resume(&wf, "n").await.unwrap(), 1001);
    assert_eq!(runs.count("slow"), 1);
}

static FIXED: AtomicBool = AtomicBool::new(false);
static ITEM_RUNS: AtomicU32 = AtomicU32::new(0);

#[step]
async fn odd_items_fail_until_fixed(x: u64) -> Result<u64, Error> {
    ITEM_RUNS.fetch_add(1, Ordering::SeqCst);
    if !x.is_multiple_of(2) && !FIXED.load(Ordering::SeqCst) {
        return Err(Error::new("Broken", format!("item {x}")));
    }
    Ok(x * 10)
}

#[tokio::test]
async fn a_redrive_reruns_the_failed_map_item_and_runs_those_that_never_ran() {
    let store = TestStore::sqlite();
    let wf = Workflow::new(
        "items",
        1,
        map(odd_items_fail_until_fixed).max_concurrency(1),
    );
    let runtime = store.runtime();
    // One item at a time: item 1 fails, which stops the map before items 2 and 3.
    assert!(runtime.start(&wf, "m", vec![2, 1, 4, 3]).await.is_err());
    FIXED.store(true, Ordering::SeqCst);
    let before = ITEM_RUNS.load(Ordering::SeqCst);
    assert_eq!(runtime.redrive(&wf, "m").await.unwrap(), [20, 10, 40, 30]);
    // Item 0 succeeded before: replayed. Items 1..3 run in this redrive.
    assert_eq!(ITEM_RUNS.load(Ordering::SeqCst) - before, 3);
}

#[tokio::test]
async fn panics_in_pass_functions_and_choice_predicates_are_errors_with_addresses() {
    let runtime = Runtime::new();
    let third = Workflow::new("third", 1, pass("third", |xs: Vec<u32>| xs[2]));
    let err = runtime.run(&third, vec![1]).await.unwrap_err();
    assert!(err.is_panic());
    assert!(
        err.message()
            .starts_with("step `third` at `0.third` panicked"),
        "{err}"
    );

    let route = choice()
        .when(
            "explodes",
            |_: &u32| panic!("bad predicate"),
            pass("a", |x: u32| x),
        )
        .otherwise(pass("b", |x: u32| x));
    let err = runtime
        .run(&Workflow::new("route", 1, route), 1)
        .await
        .unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.address(), Some("0.choice"));
}

static KEYS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static PAY_FIXED: AtomicBool = AtomicBool::new(false);

#[step]
async fn pay(cx: &StepContext, cents: u64) -> Result<u64, Error> {
    KEYS.lock().unwrap().push(cx.idempotency_key());
    if !PAY_FIXED.load(Ordering::SeqCst) {
        return Err(Error::new("Declined", "try later"));
    }
    Ok(cents)
}

#[tokio::test]
async fn a_redriven_step_gets_a_new_idempotency_key_and_its_events_are_kept() {
    let store = TestStore::sqlite();
    let wf = Workflow::new("pay", 1, pay);
    let runtime = store.runtime();
    assert!(runtime.start(&wf, "p", 5).await.is_err());
    PAY_FIXED.store(true, Ordering::SeqCst);
    assert_eq!(runtime.redrive(&wf, "p").await.unwrap(), 5);
    assert_eq!(*KEYS.lock().unwrap(), ["p/0.pay#1", "p/r1:0.pay#1"]);

    let kinds: Vec<EventKind> = runtime
        .history("p")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::ExecutionStarted,
            EventKind::StepStarted,
            EventKind::StepFailed,
            EventKind::ExecutionFailed,
            EventKind::ExecutionRedriven,
            EventKind::StepStarted,
            EventKind::StepSucceeded,
            EventKind::ExecutionSucceeded,
        ]
    );
}

#[tokio::test]
async fn starting_again_with_an_equal_hash_map_input_is_the_same_execution() {
    let store = TestStore::sqlite();
    let runs = Runs::default();
    let wf = Workflow::new(
        "totals",
        1,
        pass("sum", |m: HashMap<String, u64>| m.values().sum::<u64>()).then(runs.step("count", 0)),
    );
    let runtime = store.runtime();
    let input: HashMap<String, u64> = (0..50).map(|i| (format!("k{i}"), i)).collect();
    let total = runtime.start(&wf, "h", input.clone()).await.unwrap();
    // A map built again iterates in another order, so it encodes to other bytes.
    let again: HashMap<String, u64> = input.into_iter().collect();
    assert_eq!(runtime.start(&wf, "h", again).await.unwrap(), total);
    assert_eq!(runs.count("count"), 1);
}

/// JSON under another name: a codec the runtime does not ship.
#[derive(Debug)]
struct MyJson;

impl Codec for MyJson {
    fn name(&self) -> &'static str {
        "my-json"
    }
    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        JsonCodec.encode_erased(value)
    }
    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        JsonCodec.decode_erased(bytes, visit)
    }
}

#[tokio::test]
async fn a_workflow_with_its_own_codec_runs_and_resumes_durably() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let wf = Workflow::new(
        "custom",
        1,
        runs.step("a", 1).then(gate.step("gate", &runs)),
    )
    .with_codec(MyJson);
    let runtime = store.runtime();
    interrupt_when(|| runs.count("gate") == 1, runtime.start(&wf, "c", 1)).await;
    gate.open();
    assert_eq!(runtime.resume(&wf, "c").await.unwrap(), 2);
    assert_eq!(store.store.execution("c").await.unwrap().codec, "my-json");
    assert_eq!(runs.count("a"), 1);
}

#[step]
async fn fast_transient(x: u64) -> Result<u64, Error> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    Err(Error::new("Transient", format!("{x}: try again")))
}

#[step]
async fn slow_branch(x: u64) -> u64 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    x
}

#[tokio::test]
async fn a_parallel_fails_on_replay_with_the_error_it_failed_with() {
    let store = TestStore::sqlite();
    let (runs, gate) = (Runs::default(), Gate::closed());
    let handled = pass("handled", |(x, _error): (u64, Error)| (x, x));
    let wf = Workflow::new(
        "race",
        1,
        parallel((slow_branch, fast_transient))
            .catch(["Transient"], handled)
            .then(pass("first", |(x, _): (u64, u64)| x))
            .then(gate.step("gate", &runs)),
    );
    let runtime = store.runtime();
    interrupt_when(|| runs.count("gate") == 1, runtime.start(&wf, "race", 7)).await;

    // What a store can hold after such a run: the cancelled slow branch's own failure,
    // committed after the parallel had already failed with the fast branch's error.
    let fatal = Error::new("Fatal", "late failure").at("0.parallel/0/0.slow_branch");
    let payload = waypost::codec::encode(&waypost::BincodeCodec, &fatal, "error").unwrap();
    let late = waypost::store::Checkpoint {
        seq: 0,
        key: "0.parallel/0/0.slow_branch".into(),
        kind: waypost::store::CheckpointKind::Failure,
        checksum: waypost::replay::checksum(&payload),
        payload,
    };
    store
        .store
        .commit(
            "race",
            waypost::store::Fence::Unleased,
            vec![waypost::store::Write::Checkpoint(late)],
        )
        .await
        .unwrap();

    // Replayed branches would now report branch 0's `Fatal` first; the parallel's
    // recorded failure keeps the path the first run took.
    gate.open();
    assert_eq!(runtime.resume(&wf, "race").await.unwrap(), 7);
}
