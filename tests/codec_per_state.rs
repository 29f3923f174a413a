//! A codec per state (`step.codec(c)`): the state's output checkpoint is written with
//! its own codec, the codec's name beside it (`{key}~codec`), and replay checks it.
//!
//! Read from the store's raw checkpoints: a JSON state inside a bincode workflow, a raw
//! 8 MiB blob, a codec of the test's own; a redrive after the state's codec changed
//! fails naming the state and both codecs; and across a real SIGKILL (this binary
//! re-runs its own `#[ignore]` test `codec_child` as a child process) the JSON state is
//! replayed from its JSON checkpoint, not run again.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use waypost::prelude::*;
use waypost::store::{Checkpoint, CheckpointKind, Store as _};
use waypost::{Blob, Codec, JsonCodec, MemoryStore, RawBytes, RuntimeConfig, SqliteStore};

#[path = "support/process.rs"]
mod process;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Summary {
    orders: u32,
    note: String,
}

fn summary(x: u32) -> Summary {
    Summary {
        orders: x,
        note: format!("{x} orders"),
    }
}

async fn checkpoints(store: &MemoryStore, id: &str) -> Vec<Checkpoint> {
    store.checkpoints(id).await.unwrap()
}

fn find<'a>(checkpoints: &'a [Checkpoint], key: &str) -> Option<&'a Checkpoint> {
    checkpoints.iter().find(|c| c.key == key)
}

fn changed_workflows_allowed(store: MemoryStore) -> Runtime {
    Runtime::builder()
        .store(store)
        .config(
            RuntimeConfig::builder()
                .allow_changed_workflows(true)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_json_state_in_a_bincode_workflow_stores_json_for_that_state_only() {
    let first = step_fn(
        "summarize",
        |x: u32| async move { Ok::<_, Error>(summary(x)) },
    );
    let second = step_fn(
        "count",
        |s: Summary| async move { Ok::<_, Error>(s.orders + 1) },
    );
    let wf = Workflow::new("report", 1, first.codec(JsonCodec).then(second));
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    assert_eq!(runtime.start(&wf, "r-1", 12).await.unwrap(), 13);

    assert_eq!(runtime.execution("r-1").await.unwrap().codec, "bincode");
    let stored = checkpoints(&store, "r-1").await;
    let output = find(&stored, "0.summarize").unwrap();
    assert_eq!(output.kind, CheckpointKind::Output);
    assert_eq!(
        String::from_utf8(output.payload.clone()).unwrap(),
        r#"{"orders":12,"note":"12 orders"}"#
    );
    let codec = find(&stored, "0.summarize~codec").unwrap();
    assert_eq!(codec.payload, b"json");
    // The next state keeps the workflow's codec: bincode's varint 13, no codec record.
    assert_eq!(find(&stored, "1.count").unwrap().payload, [13]);
    assert!(find(&stored, "1.count~codec").is_none());
    assert_eq!(stored.len(), 3, "{stored:?}");
}

/// A step that fails the first time it runs in this test and succeeds after.
fn fails_once(
    name: &'static str,
    failed: Arc<AtomicBool>,
) -> impl Step<Input = Blob, Output = usize> + use<> {
    step_fn(name, move |blob: Blob| {
        let failed = Arc::clone(&failed);
        async move {
            if !failed.swap(true, Ordering::SeqCst) {
                return Err(Error::new("Flaky", "not this time"));
            }
            Ok(blob.len())
        }
    })
}

#[tokio::test]
async fn the_raw_codec_stores_an_8_mib_blob_as_it_is_and_replays_it() {
    const SIZE: usize = 8 << 20;
    let runs = Arc::new(AtomicU32::new(0));
    let make = {
        let runs = Arc::clone(&runs);
        step_fn("render", move |seed: u8| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                let bytes = (0..SIZE)
                    .map(|i| (i as u8).wrapping_mul(seed))
                    .collect::<Vec<u8>>();
                Ok::<_, Error>(Blob::from(bytes))
            }
        })
    };
    let failed = Arc::new(AtomicBool::new(false));
    let wf = Workflow::new(
        "pdf",
        1,
        make.codec(RawBytes)
            .then(fails_once("size", Arc::clone(&failed))),
    );
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    let error = runtime.start(&wf, "pdf-1", 3).await.unwrap_err();
    assert!(error.to_string().contains("Flaky"), "{error}");

    let stored = checkpoints(&store, "pdf-1").await;
    let output = find(&stored, "0.render").unwrap();
    assert_eq!(
        output.payload.len(),
        SIZE,
        "exactly the bytes, no length prefix"
    );
    assert!(
        output
            .payload
            .iter()
            .enumerate()
            .all(|(i, b)| *b == (i as u8).wrapping_mul(3))
    );
    assert_eq!(find(&stored, "0.render~codec").unwrap().payload, b"raw");

    // The redrive replays the blob from its raw checkpoint.
    let redriven = runtime.redrive(&wf, "pdf-1").await.unwrap();
    assert_eq!(redriven, SIZE);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        1,
        "the blob was replayed, not made again"
    );
}

#[tokio::test]
async fn the_raw_codec_refuses_a_value_that_is_not_bytes_with_a_clear_error() {
    let numbers = step_fn(
        "numbers",
        |x: u32| async move { Ok::<_, Error>(vec![x; 3]) },
    );
    let wf = Workflow::new("numbers", 1, numbers.codec(RawBytes));
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    let error = runtime.start(&wf, "n-1", 1).await.unwrap_err();
    let RunError::Failed { error, .. } = error else {
        panic!("expected a failure: {error}");
    };
    assert_eq!(error.name(), "States.DataEncodingFailed");
    assert!(
        error.message().contains(
            "the output of step `0.numbers` in execution `n-1` cannot be stored with raw: \
             the raw codec stores only a byte string (a `waypost::Blob`, or serde bytes), not \
             a sequence (a `Vec<u8>` is one to serde: wrap it in a `waypost::Blob`)"
        ),
        "{error}"
    );
    // Nothing undecodable was written; the failure is in the workflow's codec.
    let stored = checkpoints(&store, "n-1").await;
    assert_eq!(
        find(&stored, "0.numbers").unwrap().kind,
        CheckpointKind::Failure
    );
    assert!(find(&stored, "0.numbers~codec").is_none());
}

/// JSON, written backwards: a codec of the test's own.
#[derive(Debug)]
struct Backwards;

impl Codec for Backwards {
    fn name(&self) -> &'static str {
        "backwards"
    }

    fn encode_erased(&self, value: &dyn erased_serde::Serialize) -> Result<Vec<u8>, String> {
        let mut bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        bytes.reverse();
        Ok(bytes)
    }

    fn decode_erased(
        &self,
        bytes: &[u8],
        visit: &mut dyn FnMut(&mut dyn erased_serde::Deserializer<'_>) -> Result<(), String>,
    ) -> Result<(), String> {
        let forwards: Vec<u8> = bytes.iter().rev().copied().collect();
        let mut json = serde_json::Deserializer::from_slice(&forwards);
        visit(&mut <dyn erased_serde::Deserializer<'_>>::erase(&mut json))
    }
}

#[tokio::test]
async fn a_codec_of_ones_own_writes_the_state_and_reads_it_back_on_replay() {
    let runs = Arc::new(AtomicU32::new(0));
    let first = {
        let runs = Arc::clone(&runs);
        step_fn("summarize", move |x: u32| {
            runs.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, Error>(summary(x)) }
        })
    };
    let failed = Arc::new(AtomicBool::new(false));
    let second = step_fn("count", move |s: Summary| {
        let failed = Arc::clone(&failed);
        async move {
            if !failed.swap(true, Ordering::SeqCst) {
                return Err(Error::new("Flaky", "not this time"));
            }
            Ok(s.orders)
        }
    });
    let wf = Workflow::new("report", 1, first.codec(Backwards).then(second));
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    runtime.start(&wf, "r-1", 5).await.unwrap_err();
    let stored = checkpoints(&store, "r-1").await;
    assert_eq!(
        find(&stored, "0.summarize").unwrap().payload,
        br#"}"sredro 5":"eton",5:"sredro"{"#
    );
    assert_eq!(
        find(&stored, "0.summarize~codec").unwrap().payload,
        b"backwards"
    );
    assert_eq!(runtime.redrive(&wf, "r-1").await.unwrap(), 5);
    assert_eq!(runs.load(Ordering::SeqCst), 1, "replayed through the codec");
}

/// Runs `before` until its second state fails, then redrives with `after`: the first
/// state's output is replayed with `after`'s codec for it.
async fn redrive_with_another_codec(
    before: impl Step<Input = u32, Output = u32>,
    after: impl Step<Input = u32, Output = u32>,
) -> Result<u32, RunError> {
    let store = MemoryStore::new();
    let runtime = changed_workflows_allowed(store);
    let wf = Workflow::new("report", 1, before);
    runtime.start(&wf, "r-1", 7).await.unwrap_err();
    let wf = Workflow::new("report", 2, after);
    runtime.redrive(&wf, "r-1").await
}

fn first() -> impl Step<Input = u32, Output = u32> {
    step_fn("first", |x: u32| async move { Ok::<_, Error>(x + 1) })
}

fn boom() -> impl Step<Input = u32, Output = u32> {
    step_fn("second", |_: u32| async move {
        Err::<u32, _>(Error::new("Boom", "no"))
    })
}

fn fine() -> impl Step<Input = u32, Output = u32> {
    step_fn("second", |x: u32| async move { Ok::<_, Error>(x) })
}

fn message(result: Result<u32, RunError>) -> String {
    result.unwrap_err().to_string()
}

#[tokio::test]
async fn a_redrive_after_the_states_codec_changed_fails_naming_the_state_and_both_codecs() {
    // Removed: stored as JSON, the state now uses the workflow's bincode.
    let removed = message(
        redrive_with_another_codec(first().codec(JsonCodec).then(boom()), first().then(fine()))
            .await,
    );
    assert!(
        removed.contains(
            "the output of state `0.first` in execution `r-1` was stored with codec `json` \
             (its own codec), but the state now stores its output with codec `bincode` (the \
             execution's codec); its codec changed since the checkpoint was written"
        ),
        "{removed}"
    );
    // Added: stored with the workflow's bincode, the state now has JSON.
    let added = message(
        redrive_with_another_codec(first().then(boom()), first().codec(JsonCodec).then(fine()))
            .await,
    );
    assert!(
        added.contains(
            "was stored with codec `bincode` (the execution's codec), but the state now \
             stores its output with codec `json` (its own codec)"
        ),
        "{added}"
    );
    // Replaced: JSON, now a codec of one's own.
    let replaced = message(
        redrive_with_another_codec(
            first().codec(JsonCodec).then(boom()),
            first().codec(Backwards).then(fine()),
        )
        .await,
    );
    assert!(
        replaced.contains(
            "state `0.first` in execution `r-1` was stored with codec `json` (its own codec), \
             but the state now stores its output with codec `backwards` (its own codec)"
        ),
        "{replaced}"
    );
    // The same codec replays as before.
    let same = redrive_with_another_codec(
        first().codec(JsonCodec).then(boom()),
        first().codec(JsonCodec).then(fine()),
    )
    .await;
    assert_eq!(same.unwrap(), 8);
}

#[tokio::test]
async fn the_codec_is_part_of_the_workflows_fingerprint() {
    let json = Workflow::new("report", 1, first().codec(JsonCodec).then(fine()));
    let plain = Workflow::new("report", 1, first().then(fine()));
    let raw = Workflow::new("report", 1, first().codec(Backwards).then(fine()));
    assert_ne!(json.fingerprint(), plain.fingerprint());
    assert_ne!(json.fingerprint(), raw.fingerprint());
    // So without allowing changed workflows, a redrive is refused before any replay.
    let runtime = Runtime::builder().store(MemoryStore::new()).build();
    let before = Workflow::new("report", 1, first().codec(JsonCodec).then(boom()));
    runtime.start(&before, "r-1", 1).await.unwrap_err();
    let error = runtime.redrive(&plain, "r-1").await.unwrap_err();
    assert!(error.to_string().contains("fingerprint"), "{error}");
}

#[tokio::test]
async fn inside_a_retry_each_attempt_uses_the_states_codec() {
    let tries = Arc::new(AtomicU32::new(0));
    let flaky = {
        let tries = Arc::clone(&tries);
        step_fn("flaky", move |x: u32| {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(Error::new("Flaky", "again"))
                } else {
                    Ok(x * 10)
                }
            }
        })
    };
    let policy = RetryPolicy::builder()
        .max_attempts(2)
        .interval(Duration::ZERO)
        .build();
    let wf = Workflow::new("retry", 1, flaky.codec(JsonCodec).retry(policy));
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    assert_eq!(runtime.start(&wf, "t-1", 4).await.unwrap(), 40);
    let stored = checkpoints(&store, "t-1").await;
    assert_eq!(find(&stored, "0.flaky#2").unwrap().payload, b"40");
    assert_eq!(find(&stored, "0.flaky#2~codec").unwrap().payload, b"json");
    // The failed attempt's error is in the workflow's codec, with no codec record.
    assert_eq!(
        find(&stored, "0.flaky#1").unwrap().kind,
        CheckpointKind::Failure
    );
    assert!(find(&stored, "0.flaky#1~codec").is_none());
}

#[tokio::test]
async fn states_inside_a_map_with_a_codec_keep_the_workflows_codec() {
    let item = step_fn("double", |x: u32| async move { Ok::<_, Error>(x * 2) });
    let inner = step_fn("triple", |x: u32| async move { Ok::<_, Error>(x * 3) });
    let wf = Workflow::new(
        "items",
        1,
        map(item.then(inner.codec(JsonCodec))).codec(JsonCodec),
    );
    let store = MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    assert_eq!(
        runtime.start(&wf, "m-1", vec![1, 2]).await.unwrap(),
        [6, 12]
    );
    let stored = checkpoints(&store, "m-1").await;
    // bincode's varint 4, no record of a codec: the map's codec is not handed down.
    assert_eq!(find(&stored, "0.map/1/0.double").unwrap().payload, [4]);
    assert!(find(&stored, "0.map/1/0.double~codec").is_none());
    // A state inside with its own override has it.
    assert_eq!(find(&stored, "0.map/1/1.triple").unwrap().payload, b"12");
    assert_eq!(
        find(&stored, "0.map/1/1.triple~codec").unwrap().payload,
        b"json"
    );
}

// ---- across a real SIGKILL ----

const EXECUTION: &str = "report-1";

fn log(line: &str) {
    process::log_to("WAYPOST_CODEC_LOG", line);
}

#[step]
async fn summarize(x: u32) -> Summary {
    log("summarize");
    summary(x)
}

#[step]
async fn publish(s: Summary) -> String {
    log("publish");
    if std::env::var("WAYPOST_CODEC_SLOW").is_ok() {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    format!("published {}", s.note)
}

fn killed_workflow() -> Workflow<u32, String> {
    Workflow::new("report", 1, summarize.codec(JsonCodec).then(publish))
}

#[tokio::test]
#[ignore = "run by the codec-per-state crash test as a child process"]
async fn codec_child() {
    let path = std::env::var("WAYPOST_CODEC_STORE").expect("WAYPOST_CODEC_STORE");
    let runtime = Runtime::builder()
        .store(SqliteStore::open(&path).unwrap())
        .config(
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_secs(10)))
                .build(),
        )
        .build();
    match runtime.start(&killed_workflow(), EXECUTION, 21).await {
        Ok(output) => println!("OUTPUT {output}"),
        Err(error) => println!("ERROR {error}"),
    }
}

fn child(dir: &Path, slow: bool) -> Command {
    let mut command = process::child("codec_child");
    command
        .env("WAYPOST_CODEC_STORE", dir.join("report.db"))
        .env("WAYPOST_CODEC_LOG", dir.join("runs.log"));
    if slow {
        command.env("WAYPOST_CODEC_SLOW", "1");
    }
    command
}

fn runs(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("runs.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_sigkill_the_json_state_is_replayed_from_its_json_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = child(dir.path(), true).spawn().unwrap();
    process::until("`publish` to start", async || runs(dir.path()).len() >= 2).await;
    assert_eq!(
        runs(dir.path()),
        ["summarize", "publish"],
        "killed inside `publish`"
    );
    process::sigkill(&mut first);

    // The JSON state's output was committed before the kill, as JSON.
    let store = SqliteStore::open(dir.path().join("report.db")).unwrap();
    let stored = store.checkpoints(EXECUTION).await.unwrap();
    assert_eq!(
        find(&stored, "0.summarize").unwrap().payload,
        br#"{"orders":21,"note":"21 orders"}"#
    );
    assert_eq!(find(&stored, "0.summarize~codec").unwrap().payload, b"json");
    drop(store);

    let stdout = process::finish(&mut child(dir.path(), false));
    assert!(stdout.contains("OUTPUT published 21 orders"), "{stdout}");
    assert_eq!(
        runs(dir.path()),
        ["summarize", "publish", "publish"],
        "`summarize` was replayed, not run again"
    );
}
