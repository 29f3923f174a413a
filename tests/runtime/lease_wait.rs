//! `start` and `resume` of an execution whose lease another owner holds: a holder that
//! stopped renewing is waited for and taken over, a holder that renews is refused at
//! once, and `RuntimeConfig::lease_wait` bounds the wait.
//!
//! The holder is simulated with the store's own lease call, as an owner on another
//! machine, so that only its lease (not a process check) tells whether it is alive.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use waypost::prelude::*;
use waypost::store::NewExecution;
use waypost::{JsonCodec, RuntimeConfig, Store, StoreError};

use crate::support::{Runs, TestStore, stores};

const HOLDER: &str = "another-host.invalid:4242:0";

/// Long enough that a test that waited it out would fail its own time limit.
const LONG_LEASE: Duration = Duration::from_secs(60);

fn workflow(runs: &Runs) -> Workflow<u64, u64> {
    Workflow::new("leased", 1, runs.step("a", 1).then(runs.step("b", 10))).with_codec(JsonCodec)
}

/// Creates the execution `id` and gives its lease to [`HOLDER`] for `ttl`, as a process
/// elsewhere that started it would have.
async fn held_elsewhere(store: &Arc<dyn Store>, wf: &Workflow<u64, u64>, id: &str, ttl: Duration) {
    let created_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let new = NewExecution {
        id: id.to_owned(),
        workflow: wf.name().to_owned(),
        version: wf.version(),
        fingerprint: wf.fingerprint().to_owned(),
        codec: "json".to_owned(),
        input: b"5".to_vec(),
        graph: wf.graph_json().to_owned(),
        created_ms,
    };
    store.create(new).await.unwrap();
    store.acquire_lease(id, HOLDER, ttl).await.unwrap();
}

fn with_config(store: &TestStore, config: RuntimeConfig) -> Runtime {
    Runtime::builder()
        .shared_store(Arc::clone(&store.store))
        .config(config)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_stops_being_renewed_is_waited_for_and_taken_over() {
    for store in stores() {
        let runs = Runs::default();
        let wf = workflow(&runs);
        held_elsewhere(&store.store, &wf, "e", Duration::from_millis(300)).await;
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(20), store.runtime().resume(&wf, "e"))
            .await
            .expect("the wait ends when the lease runs out");
        assert_eq!(out.unwrap(), 16, "{}", store.name);
        assert!(
            started.elapsed() >= Duration::from_millis(250),
            "{}: took the lease before it ran out",
            store.name
        );
        let record = store.store.execution("e").await.unwrap();
        assert_eq!(
            record.recoveries, 1,
            "{}: the takeover is a recovery",
            store.name
        );
        assert_eq!((runs.count("a"), runs.count("b")), (1, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_renews_its_lease_is_refused_without_waiting_it_out() {
    for store in stores() {
        let runs = Runs::default();
        let wf = workflow(&runs);
        held_elsewhere(&store.store, &wf, "e", LONG_LEASE).await;
        let renewing = tokio::spawn({
            let store = Arc::clone(&store.store);
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    store.acquire_lease("e", HOLDER, LONG_LEASE).await.unwrap();
                }
            }
        });
        let err = tokio::time::timeout(Duration::from_secs(20), store.runtime().start(&wf, "e", 5))
            .await
            .expect("a renewing holder is refused before its lease runs out")
            .unwrap_err();
        renewing.abort();
        match &err {
            RunError::Store(StoreError::Leased {
                owner, remaining, ..
            }) => {
                assert_eq!(owner, HOLDER, "{}", store.name);
                assert!(
                    *remaining > Duration::from_secs(50),
                    "{}: {err}",
                    store.name
                );
            }
            other => panic!("{}: expected Leased, got {other}", store.name),
        }
        assert!(err.to_string().contains(HOLDER), "{err}");
        assert_eq!(runs.count("a"), 0, "{}: nothing ran", store.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_wait_bounds_the_wait_and_zero_refuses_at_once() {
    for store in stores() {
        let runs = Runs::default();
        let wf = workflow(&runs);
        held_elsewhere(&store.store, &wf, "e", LONG_LEASE).await;

        let bounded = with_config(
            &store,
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::from_millis(200)))
                .build(),
        );
        let started = Instant::now();
        let err = tokio::time::timeout(Duration::from_secs(20), bounded.resume(&wf, "e"))
            .await
            .expect("the bound ends the wait")
            .unwrap_err();
        assert!(
            matches!(err, RunError::Store(StoreError::Leased { .. })),
            "{}: {err}",
            store.name
        );
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "{}",
            store.name
        );

        let never = with_config(
            &store,
            RuntimeConfig::builder()
                .lease_wait(Some(Duration::ZERO))
                .build(),
        );
        let err = tokio::time::timeout(Duration::from_secs(20), never.resume(&wf, "e"))
            .await
            .expect("no wait at all")
            .unwrap_err();
        assert!(
            matches!(err, RunError::Store(StoreError::Leased { .. })),
            "{}: {err}",
            store.name
        );
        assert_eq!(runs.count("a"), 0, "{}: nothing ran", store.name);
    }
}
