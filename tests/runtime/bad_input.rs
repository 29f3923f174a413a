//! Bad input gets a clear error that says what and where, and leaves the store usable
//! with nothing lost.

use std::sync::Arc;

use waypost::prelude::*;
use waypost::store::{CheckpointKind, ListFilter};
use waypost::{RuntimeConfig, SqliteStore};

use crate::support::{Runs, TestStore, stores};

#[tokio::test]
async fn unknown_ids_are_reported_by_every_operation() {
    for store in stores() {
        let runtime = store.runtime();
        let wf = Workflow::new("w", 1, Runs::default().step("a", 1));
        let expected = "no execution with id `nope` in the store";
        assert_eq!(
            runtime.status("nope").await.unwrap_err().to_string(),
            expected
        );
        assert_eq!(
            runtime.resume(&wf, "nope").await.unwrap_err().to_string(),
            expected
        );
        assert_eq!(
            runtime.redrive(&wf, "nope").await.unwrap_err().to_string(),
            expected
        );
        assert_eq!(
            runtime.cancel("nope").await.unwrap_err().to_string(),
            expected
        );
        assert_eq!(
            runtime.output::<u64>("nope").await.unwrap_err().to_string(),
            expected
        );
    }
}

#[tokio::test]
async fn the_same_id_with_another_input_or_workflow_is_refused() {
    for store in stores() {
        let runtime = store.runtime();
        let runs = Runs::default();
        let wf = Workflow::new("w", 1, runs.step("a", 1));
        runtime.start(&wf, "x", 1).await.unwrap();
        let err = runtime.start(&wf, "x", 2).await.unwrap_err();
        assert!(matches!(err, RunError::InputMismatch { .. }), "{err}");
        let other = Workflow::new("other", 1, runs.step("a", 1));
        assert_eq!(
            runtime.start(&other, "x", 1).await.unwrap_err().to_string(),
            "execution `x` belongs to workflow `w`, not `other`"
        );
        assert_eq!(runs.count("a"), 1);
    }
}

/// Rewrites the payload of checkpoint `key` of `id` in the SQLite file behind the
/// store's back, keeping its checksum unless `checksum` is given.
fn tamper(path: &std::path::Path, id: &str, key: &str, payload: &[u8], checksum: Option<u32>) {
    let db = rusqlite::Connection::open(path).unwrap();
    let changed = match checksum {
        None => db.execute(
            "UPDATE checkpoints SET payload = ?1 WHERE execution_id = ?2 AND key = ?3",
            rusqlite::params![payload, id, key],
        ),
        Some(sum) => db.execute(
            "UPDATE checkpoints SET payload = ?1, checksum = ?4 WHERE execution_id = ?2 AND key = ?3",
            rusqlite::params![payload, id, key, sum],
        ),
    }
    .unwrap();
    assert_eq!(changed, 1, "no checkpoint {key} of {id}");
}

/// Runs `a` (checkpointed) and then fails, so there is a checkpoint to damage and an
/// execution to resume.
async fn failed_after_a(store: &TestStore, id: &str) -> (Workflow<u64, u64>, Vec<u8>) {
    let runs = Runs::default();
    let wf = Workflow::new("damaged", 1, runs.step("a", 1).then(runs.step("b", 1)));
    let runtime = store.runtime();
    runtime.start(&wf, id, 41).await.unwrap();
    let checkpoints = store.store.checkpoints(id).await.unwrap();
    let a = checkpoints.iter().find(|c| c.key == "0.a").unwrap();
    assert_eq!(a.kind, CheckpointKind::Output);
    // Mark it running again so that resume reads the checkpoints.
    let db = rusqlite::Connection::open(store.path.as_ref().unwrap()).unwrap();
    db.execute(
        "UPDATE executions SET status = 'running' WHERE id = ?1",
        [id],
    )
    .unwrap();
    (wf, a.payload.clone())
}

#[tokio::test]
async fn a_flipped_bit_in_a_checkpoint_is_caught_and_named() {
    let store = TestStore::sqlite();
    let (wf, mut payload) = failed_after_a(&store, "flip").await;
    payload[0] ^= 0x01;
    tamper(store.path.as_ref().unwrap(), "flip", "0.a", &payload, None);
    let err = store.runtime().resume(&wf, "flip").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "checkpoint `0.a` of execution `flip` is corrupt: its {} payload bytes do not match their checksum",
            payload.len()
        )
    );
    // Nothing was changed: the damaged row is still there, the execution still running,
    // and the store serves other executions.
    assert_eq!(
        store.store.checkpoints("flip").await.unwrap()[0].payload,
        payload
    );
    assert_eq!(
        store.runtime().status("flip").await.unwrap(),
        ExecutionStatus::Running
    );
    let fresh = Workflow::new("fresh", 1, Runs::default().step("a", 1));
    assert_eq!(store.runtime().start(&fresh, "other", 1).await.unwrap(), 2);
}

#[tokio::test]
async fn a_truncated_checkpoint_is_caught_and_named() {
    let store = TestStore::sqlite();
    let (wf, payload) = failed_after_a(&store, "trunc").await;
    tamper(
        store.path.as_ref().unwrap(),
        "trunc",
        "0.a",
        &payload[..payload.len() - 1],
        None,
    );
    let err = store.runtime().resume(&wf, "trunc").await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("checkpoint `0.a` of execution `trunc` is corrupt"),
        "{err}"
    );
}

#[tokio::test]
async fn bytes_that_pass_the_checksum_but_do_not_decode_stop_the_execution_resumably() {
    let store = TestStore::sqlite();
    let (wf, _) = failed_after_a(&store, "garbage").await;
    // A huge varint length prefix: bincode must refuse it, not allocate it.
    let garbage = [0xFF; 12];
    tamper(
        store.path.as_ref().unwrap(),
        "garbage",
        "0.a",
        &garbage,
        Some(crc32fast::hash(&garbage)),
    );
    let err = store.runtime().resume(&wf, "garbage").await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("execution `garbage` stopped and stays resumable: States.Runtime: cannot decode checkpoint `0.a` of execution `garbage` (12 bytes of bincode)"),
        "{message}"
    );
    assert_eq!(
        store.runtime().status("garbage").await.unwrap(),
        ExecutionStatus::Running
    );
}

#[tokio::test]
async fn an_input_over_the_limit_is_refused_before_anything_is_written() {
    for store in stores() {
        let runtime = Runtime::builder()
            .shared_store(Arc::clone(&store.store))
            .config(RuntimeConfig::builder().max_payload_bytes(64).build())
            .build();
        #[step]
        async fn size(s: String) -> usize {
            s.len()
        }
        let wf = Workflow::new("big", 1, size);
        let err = runtime
            .start(&wf, "big-1", "x".repeat(100))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the input of execution `big-1` is 101 bytes, over the limit of 64 bytes"
        );
        assert!(
            runtime
                .list(&ListFilter::default())
                .await
                .unwrap()
                .is_empty()
        );
    }
}

#[tokio::test]
async fn a_step_output_over_the_limit_fails_the_execution_and_keeps_earlier_checkpoints() {
    for store in stores() {
        let runtime = Runtime::builder()
            .shared_store(Arc::clone(&store.store))
            .config(RuntimeConfig::builder().max_payload_bytes(64).build())
            .build();
        #[step]
        async fn small(n: u32) -> u32 {
            n
        }
        #[step]
        async fn blow_up(n: u32) -> String {
            "x".repeat(n as usize)
        }
        let wf = Workflow::new("blow", 1, small.then(blow_up));
        let err = runtime.start(&wf, "b1", 100).await.unwrap_err();
        let error = err.error().unwrap();
        assert_eq!(error.name(), "States.DataLimitExceeded");
        assert_eq!(
            error.message(),
            "checkpoint `1.blow_up` of execution `b1` is 101 bytes, over the limit of 64 bytes"
        );
        let keys: Vec<String> = store
            .store
            .checkpoints("b1")
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.key)
            .collect();
        assert_eq!(keys, ["0.small"], "{}", store.name);
        assert_eq!(runtime.status("b1").await.unwrap(), ExecutionStatus::Failed);
        // The store goes on.
        assert_eq!(runtime.start(&wf, "b2", 3).await.unwrap(), "xxx");
    }
}

#[step]
async fn always_panics(_x: u64) -> u64 {
    panic!("the parser blew up")
}

#[tokio::test(start_paused = true)]
async fn a_step_that_panics_on_every_attempt_fails_its_execution_only() {
    for store in stores() {
        let runtime = store.runtime();
        let policy = RetryPolicy::builder()
            .max_attempts(3)
            .interval(std::time::Duration::from_millis(10))
            .build();
        let doomed = Workflow::new("doomed", 1, always_panics.retry(policy));
        let healthy = Workflow::new("healthy", 1, Runs::default().step("a", 1));
        let (doomed_result, healthy_result) = tokio::join!(
            runtime.start(&doomed, "d1", 1),
            runtime.start(&healthy, "h1", 1)
        );
        let error = doomed_result.unwrap_err().error().cloned().unwrap();
        assert!(error.is_panic());
        assert_eq!(
            error.message(),
            "step `always_panics` at `0.always_panics` panicked with message \"the parser blew up\""
        );
        assert_eq!(healthy_result.unwrap(), 2);
        assert_eq!(runtime.status("d1").await.unwrap(), ExecutionStatus::Failed);
        // Each attempt's panic was recorded, so a resume-on-start does not rerun them.
        let failures = store
            .store
            .checkpoints("d1")
            .await
            .unwrap()
            .iter()
            .filter(|c| c.kind == CheckpointKind::Failure)
            .count();
        assert_eq!(failures, 3, "{}", store.name);
    }
}

#[test]
fn a_file_that_is_not_a_store_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "this is not a database, it is a shopping list\n".repeat(100),
    )
    .unwrap();
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("`{}` is not a waypost store", path.display())),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Values a codec cannot hold: refused before they are stored.

/// Serializes fine, but its `Deserialize` refuses what its `Serialize` wrote.
#[derive(Clone, Debug, PartialEq)]
struct OneWay(u32);

impl serde::Serialize for OneWay {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for OneWay {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let _ = u32::deserialize(deserializer)?;
        Err(serde::de::Error::custom("OneWay never reads back"))
    }
}

fn one_way() -> impl Step<Input = u32, Output = OneWay> {
    step_fn("one_way", |x: u32| async move { Ok::<_, Error>(OneWay(x)) })
}

fn float(value: f64) -> impl Step<Input = u32, Output = f64> {
    step_fn("float", move |_: u32| async move { Ok::<_, Error>(value) })
}

/// The stored keys of the execution's task outputs.
async fn outputs(store: &TestStore, id: &str) -> Vec<String> {
    store
        .store
        .checkpoints(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CheckpointKind::Output)
        .map(|c| c.key)
        .collect()
}

#[tokio::test]
async fn a_step_output_a_codec_cannot_hold_fails_the_step_and_nothing_undecodable_is_stored() {
    for store in stores() {
        let runtime = store.runtime();
        // JSON has no NaN nor infinity: the step fails, catch sees the named error.
        for (n, value) in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY]
            .into_iter()
            .enumerate()
        {
            let wf = Workflow::new(
                format!("nan-{n}"),
                1,
                float(value)
                    .then(pass("round", |x: f64| x.to_string()))
                    .catch(
                        [waypost::error::names::DATA_ENCODING_FAILED],
                        pass("fallback", |(_, e): (u32, Error)| {
                            format!("caught {}", e.name())
                        }),
                    ),
            )
            .with_codec(waypost::JsonCodec);
            let id = format!("json-{n}");
            let out = runtime.start(&wf, &id, 1).await.unwrap();
            assert_eq!(out, "caught States.DataEncodingFailed", "{}", store.name);
            assert!(outputs(&store, &id).await.is_empty(), "{}", store.name);
            // The execution reads back whole.
            assert_eq!(runtime.start(&wf, &id, 1).await.unwrap(), out);
            let failure = store
                .store
                .history(&id)
                .await
                .unwrap()
                .into_iter()
                .find(|e| e.kind == waypost::EventKind::StepFailed)
                .expect("the step is failed in the history");
            let error = failure.details.error.unwrap();
            assert_eq!(error.name, "States.DataEncodingFailed");
            assert!(
                error.message.contains("NaN or an infinite float"),
                "{}",
                error.message
            );
        }
        // bincode keeps floats as they are.
        let wf = Workflow::new("nan-bincode", 1, float(f64::INFINITY));
        assert_eq!(
            runtime.start(&wf, "bincode-inf", 1).await.unwrap(),
            f64::INFINITY
        );
        // A value that does not read back, with either codec: retried, then fails.
        for codec in ["json", "bincode"] {
            let retry = RetryPolicy::builder()
                .errors([waypost::error::names::DATA_ENCODING_FAILED])
                .max_attempts(2)
                .interval(std::time::Duration::from_millis(1))
                .build();
            let mut wf = Workflow::new(format!("one-way-{codec}"), 1, one_way().retry(retry));
            if codec == "json" {
                wf = wf.with_codec(waypost::JsonCodec);
            }
            let id = format!("one-way-{codec}");
            let error = runtime.start(&wf, &id, 7).await.unwrap_err();
            let error = error.error().expect("the workflow's failure").clone();
            assert_eq!(error.name(), "States.DataEncodingFailed", "{codec}");
            assert!(error.message().contains("never reads back"), "{error}");
            assert_eq!(error.address(), Some("0.one_way"));
            assert!(outputs(&store, &id).await.is_empty(), "{}", store.name);
            let record = runtime.execution(&id).await.unwrap();
            assert_eq!(record.status, ExecutionStatus::Failed);
        }
    }
}

#[tokio::test]
async fn an_input_or_output_a_codec_cannot_hold_is_refused_or_fails_the_execution() {
    for store in stores() {
        let runtime = store.runtime();
        let wf = Workflow::new("in", 1, pass("id", |x: f64| x)).with_codec(waypost::JsonCodec);
        match runtime.start(&wf, "nan-in", f64::NAN).await {
            Err(RunError::Codec { id, error }) => {
                assert_eq!(id, "nan-in");
                assert_eq!(error.name(), "States.DataEncodingFailed");
            }
            other => panic!("{}: expected a codec error, got {other:?}", store.name),
        }
        assert!(
            store.store.execution("nan-in").await.is_err(),
            "nothing was written"
        );

        // The execution's own output: it fails, readably, instead of ending unreadable.
        let wf =
            Workflow::new("out", 1, pass("nan", |_: u32| f64::NAN)).with_codec(waypost::JsonCodec);
        let error = runtime.start(&wf, "nan-out", 1).await.unwrap_err();
        assert_eq!(error.error().unwrap().name(), "States.DataEncodingFailed");
        let record = runtime.execution("nan-out").await.unwrap();
        assert_eq!(record.status, ExecutionStatus::Failed);
        assert!(record.output.is_none());
        assert!(matches!(
            runtime.start(&wf, "nan-out", 1).await,
            Err(RunError::Failed { .. })
        ));
    }
}

#[tokio::test]
async fn par_map_results_a_codec_cannot_hold_fail_the_map_and_nothing_undecodable_is_stored() {
    for store in stores() {
        let runtime = store.runtime();
        let halve = sync_step_fn("halve", |x: u32| {
            Ok::<_, Error>(if x == 3 { f64::NAN } else { f64::from(x) / 2.0 })
        });
        let wf = Workflow::new("par-nan", 1, par_map(halve)).with_codec(waypost::JsonCodec);
        let error = runtime
            .start(&wf, "par-nan", vec![1, 2, 3, 4])
            .await
            .unwrap_err();
        let error = error.error().expect("the map's failure").clone();
        assert_eq!(error.name(), "States.DataEncodingFailed", "{error}");
        // Whatever was stored reads back: starting again gives the same failure.
        let again = runtime
            .start(&wf, "par-nan", vec![1, 2, 3, 4])
            .await
            .unwrap_err();
        assert_eq!(again.error().unwrap().name(), "States.DataEncodingFailed");
        assert_eq!(
            runtime.execution("par-nan").await.unwrap().status,
            ExecutionStatus::Failed,
            "{}",
            store.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_file_deleted_or_replaced_mid_run_stops_it_instead_of_a_false_success() {
    for replace in [false, true] {
        let store = TestStore::sqlite();
        let path = store.path.clone().unwrap();
        let runs = Runs::default();
        let gate = crate::support::Gate::closed();
        let wf = Workflow::new(
            "vanishing",
            1,
            runs.step("a", 1)
                .then(gate.step("held", &runs))
                .then(runs.step("c", 1)),
        );
        let runtime = store.runtime();
        let run = tokio::spawn({
            let (runtime, wf) = (runtime.clone(), wf.clone());
            async move { runtime.start(&wf, "v", 1).await }
        });
        while runs.count("held") == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        if replace {
            let other = path.with_extension("other");
            std::fs::write(&other, b"not the store").unwrap();
            std::fs::rename(&other, &path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
        gate.open();
        let error = run.await.unwrap().unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("not the one this store opened")
                && text.contains(if replace {
                    "another file took its place"
                } else {
                    "it was deleted"
                }),
            "{text}"
        );
        assert!(
            matches!(error, RunError::Stopped { .. } | RunError::Store(_)),
            "not a success, and not the workflow's failure: {error:?}"
        );
        assert_eq!(runs.count("c"), 0, "nothing ran past the lost commit");
    }
}

/// A list nested as deep as asked, dropped without recursion (a recursive drop of
/// 100,000 levels would overflow a worker thread's stack by itself).
/// (A list, not an `Option`: JSON writes `Some(None)` and `None` alike.)
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Deep(Vec<Deep>);

impl Deep {
    fn nested(levels: usize) -> Deep {
        (0..levels).fold(Deep(Vec::new()), |inner, _| Deep(vec![inner]))
    }
}

impl Drop for Deep {
    fn drop(&mut self) {
        let mut next = std::mem::take(&mut self.0);
        while let Some(mut inner) = next.pop() {
            next.append(&mut inner.0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_nested_100_000_levels_deep_fails_its_step_instead_of_aborting() {
    for store in stores() {
        let runtime = store.runtime();
        for codec in ["bincode", "json"] {
            let deep = step_fn("deep", |levels: usize| async move {
                Ok::<_, Error>(Deep::nested(levels))
            });
            let mut wf = Workflow::new(format!("deep-{codec}"), 1, deep);
            if codec == "json" {
                wf = wf.with_codec(waypost::JsonCodec);
            }
            let id = format!("deep-{codec}");
            // On a tokio worker thread (2 MiB of stack).
            let started = tokio::spawn({
                let (runtime, wf, id) = (runtime.clone(), wf.clone(), id.clone());
                async move { runtime.start(&wf, id, 100_000).await }
            });
            let error = started.await.unwrap().unwrap_err();
            let error = error.error().expect("the step's failure").clone();
            assert_eq!(
                error.name(),
                "States.DataEncodingFailed",
                "{codec}: {error}"
            );
            assert!(
                error.message().contains("deeper than 256 levels")
                    && error.message().contains(&format!("execution `{id}`")),
                "{error}"
            );
            assert_eq!(error.address(), Some("0.deep"));
            // A shallow one is stored and read back as it was.
            let wf = wf.clone();
            assert_eq!(
                runtime
                    .start(&wf, format!("{id}-shallow"), 20)
                    .await
                    .unwrap(),
                Deep::nested(20),
                "{} {codec}",
                store.name
            );
        }
    }
}
