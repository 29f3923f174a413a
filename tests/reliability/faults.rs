//! Store faults: every fault surfaces as an error (no panic, no hang), a resume with a
//! healthy store gives the uninterrupted output, nothing committed changes, SQLite
//! stays sound — for the N-th store call failing once or for good (N = 1, 2, … until a
//! run meets no fault), for 5, 20 and 50 % of writes failing (before or after they
//! reach the store), and for a really full disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;
use waypost::store::{Checkpoint, CheckpointKind, Fence, NewExecution, Write};
use waypost::{Durability, RunError, SqliteStore, SqliteStoreOptions, Store, StoreError};

use crate::model::{Case, Node, TaskSpec, outcome_of};
use crate::support::{
    Ended, Fault, FaultStore, Plan, TestStore, assert_kept, checkpoints_of, panics, run_or_kill,
};

/// A workflow with every combinator: a map of retried tasks, a parallel with a caught
/// terminal failure, a choice, a durable wait.
fn sample() -> Case {
    let task =
        |id, fail_on, error, terminal| Node::Task(TaskSpec::new(id, fail_on, error, terminal));
    let tree = Node::Seq(vec![
        task(1, 0, "Boom", false),
        Node::Map {
            items: 3,
            concurrency: 2,
            item: Box::new(Node::Retry {
                max_attempts: 3,
                errors: "Boom",
                inner: Box::new(task(2, 0b01, "Boom", false)),
            }),
        },
        Node::Parallel(vec![
            task(3, 0, "Boom", false),
            Node::Catch {
                errors: "Fatal",
                inner: Box::new(task(4, 0b1, "Fatal", true)),
                handler: Box::new(task(5, 0, "Boom", false)),
            },
        ]),
        Node::Choice(
            vec![(2, 0, task(6, 0, "Boom", false))],
            Box::new(task(7, 0, "Boom", false)),
        ),
        Node::Wait(1),
        task(8, 0, "Boom", false),
    ]);
    Case::new(tree, 5)
}

/// Checks one run under faults: its result is the expected outcome or an error, and
/// it is an error only if a fault was injected.
fn check_faulty_run(
    case: &Case,
    faulty: &FaultStore,
    ended: Ended<Result<i64, RunError>>,
    what: &str,
) -> bool {
    let Ended::Returned(result) = ended else {
        panic!("{what}: killed without a crash plan");
    };
    match outcome_of(&result) {
        Some(got) => {
            assert_eq!(got, case.expected(), "{what}: {result:?}");
            true
        }
        None => {
            assert!(
                faulty.faults() > 0,
                "{what}: failed without an injected fault: {result:?}"
            );
            false
        }
    }
}

/// A healthy `start` over `store` gives the expected outcome, keeps what was
/// committed, and leaves SQLite sound.
async fn recover(case: &Case, store: &TestStore, id: &str, what: &str) {
    let before = checkpoints_of(&*store.store, id).await;
    let healthy = FaultStore::new(Arc::clone(&store.store), Plan::Healthy);
    let runtime = Runtime::builder().shared_store(healthy.clone()).build();
    let ended = run_or_kill(
        healthy.kill(),
        what,
        runtime.start(&case.workflow(), id, case.input),
    )
    .await;
    let Ended::Returned(result) = ended else {
        unreachable!()
    };
    assert_eq!(
        outcome_of(&result),
        Some(case.expected()),
        "{what}: the resume gave {result:?}"
    );
    assert_kept(&before, &checkpoints_of(&*store.store, id).await, what);
    store.assert_integrity(what);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nth_store_call_fails_once_or_for_good() {
    let panics_before = panics();
    let case = sample();
    let mut trials = 0;
    for sqlite in [false, true] {
        for (onward, fault) in [
            (false, Fault::Before),
            (false, Fault::After),
            (true, Fault::Before),
            (true, Fault::After),
        ] {
            for n in 1.. {
                let store = if sqlite {
                    TestStore::sqlite(Durability::Os)
                } else {
                    TestStore::memory()
                };
                let plan = if onward {
                    Plan::Onward { n, fault }
                } else {
                    Plan::Once { n, fault }
                };
                let what = format!("{} {plan:?}", store.name());
                let faulty = FaultStore::new(Arc::clone(&store.store), plan);
                let runtime = Runtime::builder().shared_store(faulty.clone()).build();
                let id = "nth";
                let ended = run_or_kill(
                    faulty.kill(),
                    &what,
                    runtime.start(&case.workflow(), id, case.input),
                )
                .await;
                check_faulty_run(&case, &faulty, ended, &what);
                store.assert_integrity(&what);
                trials += 1;
                if faulty.faults() == 0 {
                    // The run made fewer than `n` calls: every call has had its fault.
                    assert!(n > 10, "{what}: only {} store calls", n - 1);
                    break;
                }
                if !onward {
                    // The fault is spent: the same store resumes the run.
                    let ended = run_or_kill(
                        faulty.kill(),
                        &what,
                        runtime.start(&case.workflow(), id, case.input),
                    )
                    .await;
                    assert!(check_faulty_run(&case, &faulty, ended, &what), "{what}");
                }
                recover(&case, &store, id, &what).await;
            }
        }
    }
    println!("n-th call faults: {trials} trials");
    assert!(trials > 80, "{trials} trials");
    assert_eq!(panics(), panics_before, "a fault made something panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_at_5_20_and_50_percent() {
    let panics_before = panics();
    let mut injected = 0;
    for per_mille in [50, 200, 500] {
        for seed in 0..12u64 {
            // The sample and generated workflows, on both stores.
            let case = if seed == 0 {
                sample()
            } else {
                crate::model::case(seed)
            };
            let store = if seed.is_multiple_of(3) {
                TestStore::sqlite(Durability::Fsync)
            } else {
                TestStore::memory()
            };
            let id = format!("rate-{per_mille}-{seed}");
            let rng = fastrand::Rng::with_seed(seed * 1000 + u64::from(per_mille));
            let faulty = FaultStore::new(Arc::clone(&store.store), Plan::Rate { per_mille, rng });
            let runtime = Runtime::builder().shared_store(faulty.clone()).build();
            // Start again and again through the faulty store, as a supervisor would.
            for attempt in 1..=30 {
                let what = format!("{} {id} attempt {attempt}", store.name());
                let before = checkpoints_of(&*store.store, &id).await;
                let ended = run_or_kill(
                    faulty.kill(),
                    &what,
                    runtime.start(&case.workflow(), &id, case.input),
                )
                .await;
                let done = check_faulty_run(&case, &faulty, ended, &what);
                assert_kept(&before, &checkpoints_of(&*store.store, &id).await, &what);
                store.assert_integrity(&what);
                if done {
                    break;
                }
            }
            injected += faulty.faults();
            recover(&case, &store, &id, &format!("{} {id}", store.name())).await;
        }
    }
    println!("write faults at 5/20/50 %: 36 executions, {injected} faults injected");
    assert!(injected > 50, "only {injected} faults injected");
    assert_eq!(panics(), panics_before, "a fault made something panic");
}

fn new_execution(id: &str) -> NewExecution {
    NewExecution {
        id: id.to_owned(),
        workflow: "w".to_owned(),
        version: 1,
        fingerprint: "f".to_owned(),
        codec: "bincode".to_owned(),
        input: vec![1],
        graph: "{}".to_owned(),
        created_ms: 1,
    }
}

fn checkpoint(key: &str, payload: &[u8]) -> Write {
    Write::Checkpoint(Checkpoint {
        seq: 0,
        key: key.to_owned(),
        kind: CheckpointKind::Output,
        payload: payload.to_vec(),
        checksum: crc32fast::hash(payload),
    })
}

#[tokio::test]
async fn a_committed_checkpoint_takes_its_own_bytes_again_and_refuses_others() {
    for store in [TestStore::memory(), TestStore::sqlite(Durability::Fsync)] {
        let s = &*store.store;
        s.create(new_execution("e")).await.unwrap();
        s.commit("e", Fence::Unleased, vec![checkpoint("0.a", b"first")])
            .await
            .unwrap();
        // The same bytes again (a retried commit whose answer was lost): accepted.
        s.commit("e", Fence::Unleased, vec![checkpoint("0.a", b"first")])
            .await
            .unwrap();
        // Other bytes: refused, alone or with other writes, and nothing of the batch
        // is applied.
        for batch in [
            vec![checkpoint("0.a", b"other")],
            vec![checkpoint("1.b", b"new"), checkpoint("0.a", b"other")],
        ] {
            let err = s.commit("e", Fence::Unleased, batch).await.unwrap_err();
            assert!(
                matches!(&err, StoreError::Conflict { id, key } if id == "e" && key == "0.a"),
                "{}: {err:?}",
                store.name()
            );
        }
        let stored = s.checkpoints("e").await.unwrap();
        assert_eq!(stored.len(), 1, "{}: {stored:?}", store.name());
        assert_eq!(stored[0].payload, b"first", "{}", store.name());
        store.assert_integrity("after conflicts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_the_run_and_a_resume_with_space_finishes_it() {
    let panics_before = panics();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("full.db");
    SqliteStore::open(&path).unwrap().close();
    let pages: u32 = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .unwrap();

    let runs = Arc::new(AtomicU32::new(0));
    let workflow = {
        let runs = Arc::clone(&runs);
        let chunk = step_fn("chunk", move |i: u32| {
            let runs = Arc::clone(&runs);
            async move {
                runs.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>(vec![u8::try_from(i % 251).unwrap(); 32 << 10])
            }
        });
        let total = pass("total", |chunks: Vec<Vec<u8>>| {
            chunks
                .iter()
                .map(|c| c.iter().map(|b| u64::from(*b)).sum::<u64>())
                .sum::<u64>()
        });
        Workflow::new("full-disk", 1, map(chunk).max_concurrency(2).then(total))
    };
    let items: Vec<u32> = (0..24).collect();
    let expected: u64 = items.iter().map(|i| u64::from(i % 251) * (32 << 10)).sum();

    // Room for a few chunks only: the run fails like on a full disk, twice.
    let full = SqliteStore::open_with(
        &path,
        SqliteStoreOptions {
            max_page_count: Some(pages + 40),
            ..SqliteStoreOptions::default()
        },
    )
    .unwrap();
    let runtime = Runtime::builder().store(full.clone()).build();
    for attempt in 0..2 {
        let result = tokio::time::timeout(
            Duration::from_secs(20),
            runtime.start(&workflow, "big", items.clone()),
        )
        .await
        .expect("a full disk makes the run hang");
        let err = result.unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, RunError::Stopped { .. } | RunError::Store(_)),
            "attempt {attempt}: {err:?}"
        );
        assert!(text.contains("full") && text.contains("big"), "{text}");
        assert_eq!(full.integrity_check().unwrap(), "ok");
    }
    let committed = full.checkpoints("big").await.unwrap();
    assert!(!committed.is_empty(), "nothing fitted");
    let runs_before = runs.load(Ordering::SeqCst);
    full.close();

    // With room again, a resume finishes it from the checkpoints that fitted.
    let store = SqliteStore::open(&path).unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let output = tokio::time::timeout(Duration::from_secs(20), runtime.resume(&workflow, "big"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output, expected);
    assert_kept(
        &committed,
        &store.checkpoints("big").await.unwrap(),
        "full disk",
    );
    let chunk_checkpoints = committed.iter().filter(|c| c.key.contains("chunk")).count() as u32;
    assert!(
        runs.load(Ordering::SeqCst) <= runs_before + 24 - chunk_checkpoints,
        "a chunk whose checkpoint fitted ran again"
    );
    assert_eq!(store.integrity_check().unwrap(), "ok");
    assert_eq!(panics(), panics_before, "a fault made something panic");
}
