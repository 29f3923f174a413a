//! The contract of the [`Store`] trait as checks any store can be run against: the
//! same suite runs on `MemoryStore`, `SqliteStore` and `PostgresStore`.
//!
//! Each check is an `async fn(&dyn Store)` given a fresh, empty store. The macro takes
//! an `async fn` that returns a pointer to a fresh store (a `Box`, or a guard that
//! cleans up when dropped) and needs `tokio` (`macros`, `rt-multi-thread`) in the
//! tests that call it.
//! [`store_conformance!`](crate::store_conformance) turns every check into one test,
//! so that a failure names both the check and the store:
//!
//! ```ignore
//! async fn fresh() -> Box<waypost::MemoryStore> { Box::new(waypost::MemoryStore::new()) }
//! waypost::store_conformance!(fresh);
//! ```
//!
//! Behind the `conformance` feature: for the tests of store implementations.
#![allow(clippy::missing_panics_doc, missing_docs)]

use std::time::Duration;

use crate::error::Error;
use crate::history::{Event, EventDetails, EventError, EventKind};
use crate::store::{
    Checkpoint, CheckpointKind, ClaimRequest, ExecutionStatus, Fence, Lease, LeaseToken,
    ListFilter, NewExecution, Notice, Store, StoreError, Write,
};

// ---------------------------------------------------------------------------------------
// Fixtures

/// The token `owner` would hold the lease of execution `id` with now (the execution's
/// current epoch; 0 for an unknown id).
async fn token_of(store: &dyn Store, id: &str, owner: &str) -> LeaseToken {
    LeaseToken {
        owner: owner.to_owned(),
        epoch: store.execution(id).await.map_or(0, |r| r.lease_epoch),
    }
}

fn new_execution(id: &str, workflow: &str, created_ms: u64) -> NewExecution {
    NewExecution {
        id: id.to_owned(),
        workflow: workflow.to_owned(),
        version: 3,
        fingerprint: "fp-1".to_owned(),
        codec: "json".to_owned(),
        input: format!("input of {id}").into_bytes(),
        graph: r#"{"nodes":[]}"#.to_owned(),
        created_ms,
    }
}

/// A stand-in for the runtime's CRC-32: the store only keeps and compares it.
fn checksum(payload: &[u8]) -> u32 {
    payload.iter().fold(17u32, |sum, byte| {
        sum.wrapping_mul(31).wrapping_add(u32::from(*byte))
    })
}

fn output(key: &str, payload: &[u8]) -> Checkpoint {
    Checkpoint {
        // The store numbers checkpoints itself: whatever comes in is ignored.
        seq: 77,
        key: key.to_owned(),
        kind: CheckpointKind::Output,
        payload: payload.to_vec(),
        checksum: checksum(payload),
    }
}

fn write(checkpoint: Checkpoint) -> Write {
    Write::Checkpoint(checkpoint)
}

fn event(kind: EventKind, address: &str, at_ms: u64) -> Event {
    Event {
        // The store numbers events itself: whatever comes in is ignored.
        seq: 77,
        at_ms,
        kind,
        address: address.to_owned(),
        attempt: 1,
        duration_ms: None,
        details: EventDetails::default(),
    }
}

fn record(event: Event) -> Write {
    Write::Event(Box::new(event))
}

/// `(seq, kind, address)` of every event, for short assertions.
async fn history_summary(store: &dyn Store, id: &str) -> Vec<(u64, EventKind, String)> {
    store
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.kind, e.address))
        .collect()
}

fn happened(seq: u64, kind: EventKind, address: &str) -> (u64, EventKind, String) {
    (seq, kind, address.to_owned())
}

fn status(status: ExecutionStatus, at_ms: u64) -> Write {
    Write::Status {
        status,
        output: None,
        error: None,
        redrive: false,
        at_ms,
    }
}

/// A status write with an error: `Failed` or `Cancelled`.
fn ended_with(status: ExecutionStatus, error: &Error, at_ms: u64) -> Write {
    Write::Status {
        status,
        output: None,
        error: Some(error.clone()),
        redrive: false,
        at_ms,
    }
}

fn succeeded_with(output: &[u8], at_ms: u64) -> Write {
    Write::Status {
        status: ExecutionStatus::Succeeded,
        output: Some(output.to_vec()),
        error: None,
        redrive: false,
        at_ms,
    }
}

fn redrive(at_ms: u64) -> Write {
    Write::Status {
        status: ExecutionStatus::Running,
        output: None,
        error: None,
        redrive: true,
        at_ms,
    }
}

/// Asserts `result` is `NotRunning` for `e1` in `expected`.
fn assert_not_running(result: Result<(), StoreError>, expected: ExecutionStatus) {
    match result {
        Err(StoreError::NotRunning { id, status }) => {
            assert_eq!(id, "e1");
            assert_eq!(status, expected);
            let err = StoreError::NotRunning { id, status };
            assert_eq!(
                err.to_string(),
                format!("execution `e1` is {expected}, not running; nothing was written")
            );
            assert_eq!(err.into_error().name(), "Store.NotRunning");
        }
        other => panic!("expected NotRunning ({expected}), got {other:?}"),
    }
}

/// `(seq, key, payload)` of every checkpoint, for short assertions.
async fn summary(store: &dyn Store, id: &str) -> Vec<(u64, String, Vec<u8>)> {
    store
        .checkpoints(id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.seq, c.key, c.payload))
        .collect()
}

fn entry(seq: u64, key: &str, payload: &[u8]) -> (u64, String, Vec<u8>) {
    (seq, key.to_owned(), payload.to_vec())
}

// ---------------------------------------------------------------------------------------
// Checks

/// Checks that create is idempotent.
pub async fn create_is_idempotent(store: &dyn Store) {
    let new = new_execution("e1", "orders", 1_000);
    let (record, created) = store.create(new.clone()).await.unwrap();
    assert!(created);
    assert_eq!(record.id, "e1");
    assert_eq!(record.workflow, "orders");
    assert_eq!(record.version, 3);
    assert_eq!(record.fingerprint, "fp-1");
    assert_eq!(record.codec, "json");
    assert_eq!(record.status, ExecutionStatus::Running);
    assert_eq!(record.input, b"input of e1");
    assert_eq!(record.output, None);
    assert_eq!(record.error, None);
    assert_eq!(record.graph, r#"{"nodes":[]}"#);
    assert_eq!(record.redrives, 0);
    assert_eq!(record.created_ms, 1_000);
    assert_eq!(record.updated_ms, 1_000);
    assert_eq!(store.execution("e1").await.unwrap(), record);

    // Same id again, other input: the stored execution comes back untouched (the
    // caller compares inputs, not the store).
    let other = NewExecution {
        input: b"other".to_vec(),
        created_ms: 2_000,
        ..new
    };
    let (again, created) = store.create(other).await.unwrap();
    assert!(!created);
    assert_eq!(again, record);
    assert_eq!(store.execution("e1").await.unwrap(), record);
}

/// Checks that commit reads back in seq order.
pub async fn commit_reads_back_in_seq_order(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![write(output("b", b"first")), write(output("a", b"second"))],
        )
        .await
        .unwrap();
    let mut decision = output("a/choice", b"express");
    decision.kind = CheckpointKind::Decision;
    store
        .commit("e1", Fence::Unleased, vec![write(decision)])
        .await
        .unwrap();

    let checkpoints = store.checkpoints("e1").await.unwrap();
    assert_eq!(checkpoints.len(), 3);
    let expected = [
        (1, "b", CheckpointKind::Output, &b"first"[..]),
        (2, "a", CheckpointKind::Output, &b"second"[..]),
        (3, "a/choice", CheckpointKind::Decision, &b"express"[..]),
    ];
    for (checkpoint, (seq, key, kind, payload)) in checkpoints.iter().zip(expected) {
        assert_eq!(checkpoint.seq, seq);
        assert_eq!(checkpoint.key, key);
        assert_eq!(checkpoint.kind, kind);
        assert_eq!(checkpoint.payload, payload);
        assert_eq!(checkpoint.checksum, checksum(payload));
    }

    // Numbering is per execution.
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    store
        .commit("e2", Fence::Unleased, vec![write(output("x", b"x"))])
        .await
        .unwrap();
    assert_eq!(summary(store, "e2").await, [entry(1, "x", b"x")]);

    // An empty batch is a no-op, and an execution without checkpoints has none.
    store
        .commit("e2", Fence::Unleased, Vec::new())
        .await
        .unwrap();
    store
        .create(new_execution("e3", "orders", 3))
        .await
        .unwrap();
    assert!(store.checkpoints("e3").await.unwrap().is_empty());
}

/// Checks that identical rewrite is accepted.
pub async fn identical_rewrite_is_accepted(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit("e1", Fence::Unleased, vec![write(output("a", b"one"))])
        .await
        .unwrap();

    // A replayed step writes its checkpoint again, with the same bytes: accepted, no
    // new row, and the next new key takes the next number.
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![write(output("a", b"one")), write(output("b", b"two"))],
        )
        .await
        .unwrap();
    // The same key twice in one batch, same bytes: one checkpoint.
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![write(output("c", b"3")), write(output("c", b"3"))],
        )
        .await
        .unwrap();
    assert_eq!(
        summary(store, "e1").await,
        [
            entry(1, "a", b"one"),
            entry(2, "b", b"two"),
            entry(3, "c", b"3")
        ]
    );
}

/// Checks that different bytes are refused.
pub async fn different_bytes_are_refused(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let original = output("a", b"original");
    store
        .commit("e1", Fence::Unleased, vec![write(original.clone())])
        .await
        .unwrap();

    let other_payload = output("a", b"changed");
    let other_checksum = Checkpoint {
        checksum: original.checksum ^ 1,
        ..original.clone()
    };
    let other_kind = Checkpoint {
        kind: CheckpointKind::Failure,
        ..original.clone()
    };
    for changed in [other_payload, other_checksum, other_kind] {
        let err = store
            .commit("e1", Fence::Unleased, vec![write(changed)])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Conflict { id, key } if id == "e1" && key == "a"),
            "{err:?}"
        );
    }
    let stored = store.checkpoints("e1").await.unwrap();
    assert_eq!(stored, [Checkpoint { seq: 1, ..original }]);
}

/// Checks that batch is atomic.
pub async fn batch_is_atomic(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit("e1", Fence::Unleased, vec![write(output("a", b"a"))])
        .await
        .unwrap();

    // A new checkpoint and a status write before the conflicting write, a checkpoint
    // and the final status after it: none of them may stay.
    let err = store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                write(output("b", b"b")),
                status(ExecutionStatus::Running, 50),
                write(output("a", b"not a")),
                write(output("c", b"c")),
                status(ExecutionStatus::Succeeded, 60),
            ],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(summary(store, "e1").await, [entry(1, "a", b"a")]);
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Running);
    assert_eq!(record.updated_ms, 1);

    // Two different payloads for one new key in one batch conflict with each other.
    let err = store
        .commit(
            "e1",
            Fence::Unleased,
            vec![write(output("d", b"1")), write(output("d", b"2"))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");

    // A refused batch used no numbers: the next checkpoint is 2.
    store
        .commit("e1", Fence::Unleased, vec![write(output("b", b"b"))])
        .await
        .unwrap();
    assert_eq!(
        summary(store, "e1").await,
        [entry(1, "a", b"a"), entry(2, "b", b"b")]
    );
}

/// Checks that status and redrive.
pub async fn status_and_redrive(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let error = Error::new("PaymentDeclined", "card ending 4242 was declined");
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![Write::Status {
                status: ExecutionStatus::Failed,
                output: None,
                error: Some(error.clone()),
                redrive: false,
                at_ms: 10,
            }],
        )
        .await
        .unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error, Some(error));
    assert_eq!(record.updated_ms, 10);
    assert_eq!(record.created_ms, 1);
    assert_eq!(record.redrives, 0);

    // A redrive sets it running again, clears the error and counts.
    let redrive = Write::Status {
        status: ExecutionStatus::Running,
        output: None,
        error: None,
        redrive: true,
        at_ms: 20,
    };
    store
        .commit("e1", Fence::Unleased, vec![redrive.clone()])
        .await
        .unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Running);
    assert_eq!(record.error, None);
    assert_eq!(record.redrives, 1);
    store
        .commit("e1", Fence::Unleased, vec![redrive])
        .await
        .unwrap();
    assert_eq!(store.execution("e1").await.unwrap().redrives, 2);

    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![Write::Status {
                status: ExecutionStatus::Succeeded,
                output: Some(b"done".to_vec()),
                error: None,
                redrive: false,
                at_ms: 30,
            }],
        )
        .await
        .unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output.as_deref(), Some(&b"done"[..]));
    assert_eq!(record.updated_ms, 30);
    assert_eq!(record.redrives, 2);
}

/// Checks that list filters newest first.
pub async fn list_filters_newest_first(store: &dyn Store) {
    let ids = |records: Vec<crate::store::ExecutionRecord>| {
        records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert!(store.list(&ListFilter::default()).await.unwrap().is_empty());

    // Created out of order; "b" and "c" share a timestamp (ties: by id, descending).
    for (id, workflow, created_ms) in [
        ("c", "orders", 20),
        ("a", "orders", 10),
        ("d", "pricing", 30),
        ("b", "pricing", 20),
        ("e", "orders", 40),
    ] {
        store
            .create(new_execution(id, workflow, created_ms))
            .await
            .unwrap();
    }
    store
        .commit(
            "a",
            Fence::Unleased,
            vec![status(ExecutionStatus::Succeeded, 50)],
        )
        .await
        .unwrap();
    store
        .commit(
            "d",
            Fence::Unleased,
            vec![status(ExecutionStatus::Failed, 60)],
        )
        .await
        .unwrap();
    store
        .commit(
            "e",
            Fence::Unleased,
            vec![status(ExecutionStatus::Succeeded, 70)],
        )
        .await
        .unwrap();

    let all = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(all[0], store.execution("e").await.unwrap());
    assert_eq!(ids(all), ["e", "d", "c", "b", "a"]);

    let filter = |status, workflow: Option<&str>, limit| ListFilter {
        status,
        workflow: workflow.map(str::to_owned),
        limit,
        ..ListFilter::default()
    };
    let running = filter(Some(ExecutionStatus::Running), None, None);
    assert_eq!(ids(store.list(&running).await.unwrap()), ["c", "b"]);
    let orders = filter(None, Some("orders"), None);
    assert_eq!(ids(store.list(&orders).await.unwrap()), ["e", "c", "a"]);
    let done_orders = filter(Some(ExecutionStatus::Succeeded), Some("orders"), None);
    assert_eq!(ids(store.list(&done_orders).await.unwrap()), ["e", "a"]);
    let newest_two = filter(None, None, Some(2));
    assert_eq!(ids(store.list(&newest_two).await.unwrap()), ["e", "d"]);
    let newest_order = filter(None, Some("orders"), Some(1));
    assert_eq!(ids(store.list(&newest_order).await.unwrap()), ["e"]);
    let none = filter(None, None, Some(0));
    assert!(store.list(&none).await.unwrap().is_empty());
    let cancelled = filter(Some(ExecutionStatus::Cancelled), None, None);
    assert!(store.list(&cancelled).await.unwrap().is_empty());
    let unknown = filter(None, Some("unknown"), None);
    assert!(store.list(&unknown).await.unwrap().is_empty());
}

/// Checks that list pages by offset and finds ids by a literal part of them.
pub async fn list_pages_and_searches_ids(store: &dyn Store) {
    let ids = |records: Vec<crate::store::ExecutionRecord>| {
        records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    for (i, id) in ["order-1", "order-2", "refund-1", "order_3", "100%-x"]
        .into_iter()
        .enumerate()
    {
        store
            .create(new_execution(id, "orders", 10 * (i as u64 + 1)))
            .await
            .unwrap();
    }
    let page = |offset, limit| ListFilter {
        offset,
        limit,
        ..ListFilter::default()
    };
    assert_eq!(
        ids(store.list(&page(0, Some(2))).await.unwrap()),
        ["100%-x", "order_3"]
    );
    assert_eq!(
        ids(store.list(&page(2, Some(2))).await.unwrap()),
        ["refund-1", "order-2"]
    );
    assert_eq!(
        ids(store.list(&page(4, Some(2))).await.unwrap()),
        ["order-1"]
    );
    assert!(store.list(&page(5, Some(2))).await.unwrap().is_empty());
    assert_eq!(
        ids(store.list(&page(3, None)).await.unwrap()),
        ["order-2", "order-1"]
    );

    let search = |text: &str| ListFilter {
        id_contains: Some(text.to_owned()),
        ..ListFilter::default()
    };
    assert_eq!(
        ids(store.list(&search("order-")).await.unwrap()),
        ["order-2", "order-1"]
    );
    // `_` and `%` are literal characters, not patterns.
    assert_eq!(ids(store.list(&search("r_")).await.unwrap()), ["order_3"]);
    assert_eq!(ids(store.list(&search("%")).await.unwrap()), ["100%-x"]);
    assert!(
        store.list(&search("ORDER")).await.unwrap().is_empty(),
        "case-sensitive"
    );
    let both = ListFilter {
        id_contains: Some("-1".to_owned()),
        offset: 1,
        ..ListFilter::default()
    };
    assert_eq!(ids(store.list(&both).await.unwrap()), ["order-1"]);
}

/// Checks that unknown ids are not found.
pub async fn unknown_ids_are_not_found(store: &dyn Store) {
    store
        .create(new_execution("known", "orders", 1))
        .await
        .unwrap();
    let not_found = |result: Result<(), StoreError>| match result {
        Err(StoreError::NotFound { id }) => assert_eq!(id, "missing"),
        other => panic!("expected NotFound for `missing`, got {other:?}"),
    };
    not_found(store.execution("missing").await.map(drop));
    not_found(store.checkpoints("missing").await.map(drop));
    not_found(store.history("missing").await.map(drop));
    not_found(store.commit("missing", Fence::Unleased, Vec::new()).await);
    not_found(
        store
            .commit("missing", Fence::Unleased, vec![write(output("a", b"a"))])
            .await,
    );
    not_found(
        store
            .commit(
                "missing",
                Fence::Unleased,
                vec![status(ExecutionStatus::Succeeded, 2)],
            )
            .await,
    );
    not_found(
        store
            .commit(
                "missing",
                Fence::Unleased,
                vec![record(event(EventKind::ExecutionStarted, "", 2))],
            )
            .await,
    );
    not_found(
        store
            .acquire_lease("missing", "me", Duration::from_secs(1))
            .await
            .map(drop),
    );
    // Giving up a lease that nobody holds is not an error.
    store
        .release_lease("missing", &token_of(store, "missing", "me").await)
        .await
        .unwrap();
    // Nothing was created on the way.
    assert_eq!(store.list(&ListFilter::default()).await.unwrap().len(), 1);
}

/// Checks that lease is renewed refused and released.
pub async fn lease_is_renewed_refused_and_released(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let ttl = Duration::from_secs(60);
    store.acquire_lease("e1", "alpha", ttl).await.unwrap();
    store.acquire_lease("e1", "alpha", ttl).await.unwrap();

    let refused = |result: Result<Lease, StoreError>| match result {
        Err(StoreError::Leased {
            id,
            owner,
            remaining,
        }) => {
            assert_eq!(id, "e1");
            assert_eq!(owner, "alpha");
            assert!(
                remaining > Duration::ZERO && remaining <= ttl,
                "{remaining:?}"
            );
        }
        other => panic!("expected Leased by `alpha`, got {other:?}"),
    };
    refused(store.acquire_lease("e1", "beta", ttl).await);

    // Only the holder can give it up.
    store
        .release_lease("e1", &token_of(store, "e1", "beta").await)
        .await
        .unwrap();
    refused(store.acquire_lease("e1", "beta", ttl).await);

    store
        .release_lease("e1", &token_of(store, "e1", "alpha").await)
        .await
        .unwrap();
    store.acquire_lease("e1", "beta", ttl).await.unwrap();
    let err = store.acquire_lease("e1", "alpha", ttl).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Leased { owner, .. } if owner == "beta"),
        "{err:?}"
    );

    // Leases are per execution.
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    store.acquire_lease("e2", "alpha", ttl).await.unwrap();
}

/// Checks that lease is taken over after expiry.
pub async fn lease_is_taken_over_after_expiry(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .acquire_lease("e1", "alpha", Duration::from_millis(500))
        .await
        .unwrap();
    let err = store
        .acquire_lease("e1", "beta", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Leased { remaining, .. } if *remaining <= Duration::from_millis(500)),
        "{err:?}"
    );

    // A real sleep: the lease clock is the wall clock, shared with other processes.
    sleep(Duration::from_millis(700)).await;
    store
        .acquire_lease("e1", "beta", Duration::from_secs(60))
        .await
        .unwrap();
    let err = store
        .acquire_lease("e1", "alpha", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Leased { .. }), "{err:?}");
}

/// Checks that events commit with checkpoints in seq order.
pub async fn events_commit_with_checkpoints_in_seq_order(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    // A fresh execution has an empty history.
    assert!(store.history("e1").await.unwrap().is_empty());

    // Events in the same batch as a checkpoint and a status, interleaved.
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                record(event(EventKind::ExecutionStarted, "", 10)),
                record(event(EventKind::StepStarted, "charge", 11)),
                write(output("charge", b"paid")),
                record(event(EventKind::StepSucceeded, "charge", 12)),
            ],
        )
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                write(output("ship", b"shipped")),
                status(ExecutionStatus::Succeeded, 20),
                record(event(EventKind::ExecutionSucceeded, "", 20)),
            ],
        )
        .await
        .unwrap();

    assert_eq!(
        history_summary(store, "e1").await,
        [
            happened(1, EventKind::ExecutionStarted, ""),
            happened(2, EventKind::StepStarted, "charge"),
            happened(3, EventKind::StepSucceeded, "charge"),
            happened(4, EventKind::ExecutionSucceeded, ""),
        ]
    );
    let at: Vec<u64> = store
        .history("e1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.at_ms)
        .collect();
    assert_eq!(at, [10, 11, 12, 20]);
    // The checkpoints and status of those batches are there too, numbered on their own.
    assert_eq!(
        summary(store, "e1").await,
        [entry(1, "charge", b"paid"), entry(2, "ship", b"shipped")]
    );
    assert_eq!(
        store.execution("e1").await.unwrap().status,
        ExecutionStatus::Succeeded
    );

    // Numbering is per execution; a batch of events alone is fine.
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    store
        .commit(
            "e2",
            Fence::Unleased,
            vec![record(event(EventKind::ExecutionStarted, "", 30))],
        )
        .await
        .unwrap();
    store
        .commit(
            "e2",
            Fence::Unleased,
            vec![record(event(EventKind::TimerStarted, "wait", 31))],
        )
        .await
        .unwrap();
    assert_eq!(
        history_summary(store, "e2").await,
        [
            happened(1, EventKind::ExecutionStarted, ""),
            happened(2, EventKind::TimerStarted, "wait"),
        ]
    );
    assert_eq!(history_summary(store, "e1").await.len(), 4);
}

/// Checks that a refused batch writes no events.
pub async fn a_refused_batch_writes_no_events(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                write(output("a", b"a")),
                record(event(EventKind::StepSucceeded, "a", 1)),
            ],
        )
        .await
        .unwrap();

    // Events before and after the conflicting checkpoint: none of them may stay.
    let err = store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                record(event(EventKind::StepStarted, "b", 2)),
                write(output("b", b"b")),
                write(output("a", b"not a")),
                record(event(EventKind::StepSucceeded, "b", 3)),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Conflict { id, key } if id == "e1" && key == "a"),
        "{err:?}"
    );
    assert_eq!(
        history_summary(store, "e1").await,
        [happened(1, EventKind::StepSucceeded, "a")]
    );
    assert_eq!(summary(store, "e1").await, [entry(1, "a", b"a")]);

    // A refused batch used no numbers: the next event is 2.
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![record(event(EventKind::StepStarted, "b", 4))],
        )
        .await
        .unwrap();
    assert_eq!(
        history_summary(store, "e1").await,
        [
            happened(1, EventKind::StepSucceeded, "a"),
            happened(2, EventKind::StepStarted, "b"),
        ]
    );
}

/// Checks that an event with every field round trips.
pub async fn an_event_with_every_field_round_trips(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let error = Error::new(
        "Timeout",
        "no answer in 5s\nretrying — \"quoted\" \u{1b}[2J",
    )
    .at("map/3/charge ✓")
    .caused_by(Error::new("Io", "reset by peer \u{202e}").caused_by(Error::new("", "")));
    // Every field set, to its largest value where it has one.
    let full = Event {
        seq: 0,
        at_ms: i64::MAX as u64,
        kind: EventKind::RetryScheduled,
        address: "map/3/charge ✓".to_owned(),
        attempt: u32::MAX,
        duration_ms: Some(1_234_567_890_123),
        details: EventDetails {
            error: Some(EventError::from(&error)),
            branch: Some("big \u{0}\"spender\"".to_owned()),
            delay_ms: Some(u64::MAX),
            items: Some(u64::MAX),
            committed: Some(7),
            failed: Some(0),
            run: Some(u32::MAX),
            message: Some(u64::MAX),
            child: Some("order-1/2.fulfil/0.pay ✓".to_owned()),
            item: Some("ord-7 \u{1b}[31m".to_owned()),
            workflow: Some("orders\r\n".to_owned()),
            version: Some(u32::MAX),
            owner: Some("host/4026531836:12:ab".to_owned()),
            previous_owner: Some("host/4026531836:11:cd".to_owned()),
            recoveries: Some(u32::MAX),
            completion: Some("min successful reached".to_owned()),
            poll: Some(u32::MAX),
            done: Some(true),
            detail: Some("Timeout: no answer in 5s\nretrying in 2s — \"quoted\"".to_owned()),
        },
    };
    let empty = Event {
        seq: 0,
        at_ms: 0,
        kind: EventKind::ExecutionStarted,
        address: String::new(),
        attempt: 0,
        duration_ms: Some(0),
        details: EventDetails {
            detail: Some(String::new()),
            branch: Some(String::new()),
            ..EventDetails::default()
        },
    };
    // Every kind, by its name.
    let mut writes = vec![record(full.clone()), record(empty.clone())];
    writes.extend(
        EventKind::ALL
            .into_iter()
            .map(|kind| record(event(kind, "s", 5))),
    );
    store.commit("e1", Fence::Unleased, writes).await.unwrap();

    let history = store.history("e1").await.unwrap();
    assert_eq!(history.len(), 2 + EventKind::ALL.len());
    assert_eq!(history[0], Event { seq: 1, ..full });
    assert_eq!(history[1], Event { seq: 2, ..empty });
    for (i, (stored, kind)) in history[2..].iter().zip(EventKind::ALL).enumerate() {
        assert_eq!(
            *stored,
            Event {
                seq: i as u64 + 3,
                ..event(kind, "s", 5)
            }
        );
    }
}

/// Checks that a checkpoint after cancel is refused.
pub async fn a_checkpoint_after_cancel_is_refused(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit("e1", Fence::Unleased, vec![write(output("a", b"a"))])
        .await
        .unwrap();
    let cancelled = Error::new("Cancelled", "execution `e1` was cancelled");
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                record(event(EventKind::ExecutionCancelled, "", 5)),
                ended_with(ExecutionStatus::Cancelled, &cancelled, 5),
            ],
        )
        .await
        .unwrap();

    // The process still running it goes on: its checkpoints and events are refused,
    // alone or together, and nothing of them stays.
    assert_not_running(
        store
            .commit("e1", Fence::Unleased, vec![write(output("b", b"b"))])
            .await,
        ExecutionStatus::Cancelled,
    );
    assert_not_running(
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![
                    record(event(EventKind::StepSucceeded, "b", 6)),
                    write(output("b", b"b")),
                ],
            )
            .await,
        ExecutionStatus::Cancelled,
    );
    assert_not_running(
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![record(event(EventKind::StepStarted, "c", 7))],
            )
            .await,
        ExecutionStatus::Cancelled,
    );
    // Re-writing a checkpoint it already holds is refused as well.
    assert_not_running(
        store
            .commit("e1", Fence::Unleased, vec![write(output("a", b"a"))])
            .await,
        ExecutionStatus::Cancelled,
    );
    assert_eq!(summary(store, "e1").await, [entry(1, "a", b"a")]);
    assert_eq!(
        history_summary(store, "e1").await,
        [happened(1, EventKind::ExecutionCancelled, "")]
    );
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Cancelled);
    assert_eq!(record.error, Some(cancelled));
    assert_eq!(record.updated_ms, 5);

    // In one batch, a checkpoint after a status that finishes the execution is refused.
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    let err = store
        .commit(
            "e2",
            Fence::Unleased,
            vec![succeeded_with(b"out", 8), write(output("late", b"late"))],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotRunning { id, status: ExecutionStatus::Succeeded } if id == "e2"),
        "{err:?}"
    );
    assert!(store.checkpoints("e2").await.unwrap().is_empty());
    assert_eq!(
        store.execution("e2").await.unwrap().status,
        ExecutionStatus::Running
    );
}

/// Checks that succeeded after cancelled is refused.
pub async fn succeeded_after_cancelled_is_refused(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let cancelled = Error::new("Cancelled", "execution `e1` was cancelled");
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![ended_with(ExecutionStatus::Cancelled, &cancelled, 5)],
        )
        .await
        .unwrap();

    // The run that did not see the cancel finishes: refused, with its final events.
    assert_not_running(
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![
                    record(event(EventKind::ExecutionSucceeded, "", 9)),
                    succeeded_with(b"done", 9),
                ],
            )
            .await,
        ExecutionStatus::Cancelled,
    );
    // Nor may it fail it, set it running or cancel it again.
    let error = Error::new("Boom", "it broke");
    for refused in [
        ended_with(ExecutionStatus::Failed, &error, 10),
        ended_with(ExecutionStatus::Cancelled, &error, 10),
        status(ExecutionStatus::Running, 10),
        redrive(10),
    ] {
        assert_not_running(
            store.commit("e1", Fence::Unleased, vec![refused]).await,
            ExecutionStatus::Cancelled,
        );
    }
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Cancelled);
    assert_eq!(record.error, Some(cancelled));
    assert_eq!(record.output, None);
    assert_eq!(record.updated_ms, 5);
    assert_eq!(record.redrives, 0);
    assert!(store.history("e1").await.unwrap().is_empty());
}

/// Checks that cancelled after succeeded is refused.
pub async fn cancelled_after_succeeded_is_refused(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![succeeded_with(b"the output", 5)],
        )
        .await
        .unwrap();

    // A cancel that read `running` before the run finished commits late: refused, and
    // the output stays.
    let cancelled = Error::new("Cancelled", "execution `e1` was cancelled");
    assert_not_running(
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![
                    record(event(EventKind::ExecutionCancelled, "", 6)),
                    ended_with(ExecutionStatus::Cancelled, &cancelled, 6),
                ],
            )
            .await,
        ExecutionStatus::Succeeded,
    );
    // Nor may anything else change a succeeded execution.
    let error = Error::new("Boom", "it broke");
    for refused in [
        ended_with(ExecutionStatus::Failed, &error, 7),
        succeeded_with(b"another output", 7),
        status(ExecutionStatus::Running, 7),
    ] {
        assert_not_running(
            store.commit("e1", Fence::Unleased, vec![refused]).await,
            ExecutionStatus::Succeeded,
        );
    }
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output.as_deref(), Some(&b"the output"[..]));
    assert_eq!(record.error, None);
    assert_eq!(record.updated_ms, 5);
    assert!(store.history("e1").await.unwrap().is_empty());

    // A failed execution is not cancelled either, nor set running without a redrive.
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    store
        .commit(
            "e2",
            Fence::Unleased,
            vec![ended_with(ExecutionStatus::Failed, &error, 8)],
        )
        .await
        .unwrap();
    for refused in [
        ended_with(ExecutionStatus::Cancelled, &cancelled, 9),
        ended_with(ExecutionStatus::Failed, &error, 9),
        succeeded_with(b"out", 9),
        status(ExecutionStatus::Running, 9),
    ] {
        let err = store
            .commit("e2", Fence::Unleased, vec![refused])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::NotRunning { id, status: ExecutionStatus::Failed } if id == "e2"),
            "{err:?}"
        );
    }
    let record = store.execution("e2").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Failed);
    assert_eq!(record.error, Some(error));
    assert_eq!(record.updated_ms, 8);
}

/// Checks that a redrive batch of a failed execution is accepted.
pub async fn a_redrive_batch_of_a_failed_execution_is_accepted(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit("e1", Fence::Unleased, vec![write(output("a", b"a"))])
        .await
        .unwrap();
    let error = Error::new("PaymentDeclined", "card ending 4242 was declined");
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![ended_with(ExecutionStatus::Failed, &error, 10)],
        )
        .await
        .unwrap();
    // A checkpoint for the failed execution alone is refused...
    assert_not_running(
        store
            .commit("e1", Fence::Unleased, vec![write(output("b", b"b"))])
            .await,
        ExecutionStatus::Failed,
    );

    // ... but the redrive marker goes with the status that sets it running again,
    // wherever it is in the batch, and so do events.
    let mut marker = output("~redrive/1", b"charge");
    marker.kind = CheckpointKind::Redrive;
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                write(marker),
                record(event(EventKind::ExecutionRedriven, "", 20)),
                redrive(20),
            ],
        )
        .await
        .unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Running);
    assert_eq!(record.error, None);
    assert_eq!(record.redrives, 1);
    assert_eq!(record.updated_ms, 20);
    assert_eq!(
        summary(store, "e1").await,
        [entry(1, "a", b"a"), entry(2, "~redrive/1", b"charge")]
    );
    assert_eq!(
        history_summary(store, "e1").await,
        [happened(1, EventKind::ExecutionRedriven, "")]
    );

    // Running again: it checkpoints and finishes as usual.
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![
                write(output("r1:charge", b"paid")),
                succeeded_with(b"ok", 30),
            ],
        )
        .await
        .unwrap();
    assert_eq!(summary(store, "e1").await.len(), 3);
    assert_eq!(
        store.execution("e1").await.unwrap().status,
        ExecutionStatus::Succeeded
    );
}

/// Checks that a redrive of a succeeded execution is refused.
pub async fn a_redrive_of_a_succeeded_execution_is_refused(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![succeeded_with(b"the output", 5)],
        )
        .await
        .unwrap();
    let mut marker = output("~redrive/1", b"charge");
    marker.kind = CheckpointKind::Redrive;
    assert_not_running(
        store
            .commit(
                "e1",
                Fence::Unleased,
                vec![
                    write(marker.clone()),
                    record(event(EventKind::ExecutionRedriven, "", 20)),
                    redrive(20),
                ],
            )
            .await,
        ExecutionStatus::Succeeded,
    );
    assert_not_running(
        store.commit("e1", Fence::Unleased, vec![redrive(21)]).await,
        ExecutionStatus::Succeeded,
    );
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Succeeded);
    assert_eq!(record.output.as_deref(), Some(&b"the output"[..]));
    assert_eq!(record.redrives, 0);
    assert_eq!(record.updated_ms, 5);
    assert!(store.checkpoints("e1").await.unwrap().is_empty());
    assert!(store.history("e1").await.unwrap().is_empty());

    // Nor is a cancelled one redriven.
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    let cancelled = Error::new("Cancelled", "execution `e2` was cancelled");
    store
        .commit(
            "e2",
            Fence::Unleased,
            vec![ended_with(ExecutionStatus::Cancelled, &cancelled, 6)],
        )
        .await
        .unwrap();
    let err = store
        .commit("e2", Fence::Unleased, vec![write(marker), redrive(22)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::NotRunning { id, status: ExecutionStatus::Cancelled } if id == "e2"),
        "{err:?}"
    );
    let record = store.execution("e2").await.unwrap();
    assert_eq!(record.status, ExecutionStatus::Cancelled);
    assert_eq!(record.redrives, 0);
    assert!(store.checkpoints("e2").await.unwrap().is_empty());
}

/// Checks that final events commit with the final status.
pub async fn final_events_commit_with_the_final_status(store: &dyn Store) {
    let error = Error::new("Boom", "it broke");
    let cancelled = Error::new("Cancelled", "cancelled");
    let endings = [
        (
            "succeeded",
            succeeded_with(b"out", 10),
            EventKind::ExecutionSucceeded,
        ),
        (
            "failed",
            ended_with(ExecutionStatus::Failed, &error, 10),
            EventKind::ExecutionFailed,
        ),
        (
            "cancelled",
            ended_with(ExecutionStatus::Cancelled, &cancelled, 10),
            EventKind::ExecutionCancelled,
        ),
    ];
    for (id, ending, kind) in endings {
        store.create(new_execution(id, "orders", 1)).await.unwrap();
        let Write::Status {
            status: final_status,
            ..
        } = ending
        else {
            unreachable!()
        };
        // Events before and after the final status, with a checkpoint before it: all
        // accepted, since the execution was running before the batch.
        store
            .commit(
                id,
                Fence::Unleased,
                vec![
                    record(event(EventKind::StepSucceeded, "a", 9)),
                    write(output("a", b"a")),
                    ending.clone(),
                    record(event(kind, "", 10)),
                ],
            )
            .await
            .unwrap();
        assert_eq!(
            history_summary(store, id).await,
            [
                happened(1, EventKind::StepSucceeded, "a"),
                happened(2, kind, "")
            ]
        );
        assert_eq!(summary(store, id).await, [entry(1, "a", b"a")]);
        let stored = store.execution(id).await.unwrap();
        assert_eq!(stored.status, final_status);
        assert_eq!(stored.updated_ms, 10);

        // Once finished, later events are refused.
        let err = store
            .commit(id, Fence::Unleased, vec![record(event(kind, "", 99))])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::NotRunning { status, .. } if *status == final_status),
            "{err:?}"
        );
        assert_eq!(history_summary(store, id).await.len(), 2);
    }
}

/// `(owner, previous owner, recoveries)` of every `ExecutionRecovered` event of `e1`,
/// after checking that each is an execution event of its own.
async fn recoveries_in_history(store: &dyn Store) -> Vec<(String, String, u32)> {
    let history = store.history("e1").await.unwrap();
    for (i, event) in history.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1, "{history:?}");
    }
    history
        .into_iter()
        .filter(|e| e.kind == EventKind::ExecutionRecovered)
        .map(|e| {
            assert_eq!((e.address.as_str(), e.attempt), ("", 1));
            assert!(e.at_ms > 0);
            let d = e.details;
            (
                d.owner.unwrap(),
                d.previous_owner.unwrap(),
                d.recoveries.unwrap(),
            )
        })
        .collect()
}

/// Checks that each recovery is an event of the takeover.
pub async fn each_recovery_is_an_event_of_the_takeover(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![record(event(EventKind::ExecutionStarted, "", 1))],
        )
        .await
        .unwrap();
    // Free leases, renewals and refused takeovers record nothing.
    store.acquire_lease("e1", "alpha", hour).await.unwrap();
    store.acquire_lease("e1", "alpha", hour).await.unwrap();
    assert!(store.acquire_lease("e1", "beta", hour).await.is_err());
    store
        .release_lease("e1", &token_of(store, "e1", "alpha").await)
        .await
        .unwrap();
    store
        .acquire_lease("e1", "beta", Duration::from_millis(1))
        .await
        .unwrap();
    assert!(recoveries_in_history(store).await.is_empty());

    // Each takeover is one event, after the events committed before it, carrying the
    // count it made.
    sleep(Duration::from_millis(5)).await;
    store
        .acquire_lease("e1", "gamma", Duration::from_millis(1))
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![record(event(EventKind::StepStarted, "a", 2))],
        )
        .await
        .unwrap();
    sleep(Duration::from_millis(5)).await;
    store.acquire_lease("e1", "delta", hour).await.unwrap();
    assert_eq!(
        recoveries_in_history(store).await,
        [
            ("gamma".to_owned(), "beta".to_owned(), 1),
            ("delta".to_owned(), "gamma".to_owned(), 2),
        ]
    );
    assert_eq!(
        history_summary(store, "e1")
            .await
            .into_iter()
            .map(|(_, kind, _)| kind)
            .collect::<Vec<_>>(),
        [
            EventKind::ExecutionStarted,
            EventKind::ExecutionRecovered,
            EventKind::StepStarted,
            EventKind::ExecutionRecovered,
        ]
    );
    assert_eq!(store.execution("e1").await.unwrap().recoveries, 2);

    // After a redrive the count starts again; the history keeps every recovery.
    let error = Error::new("Boom", "failed");
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![ended_with(ExecutionStatus::Failed, &error, 10)],
        )
        .await
        .unwrap();
    store
        .commit("e1", Fence::Unleased, vec![redrive(20)])
        .await
        .unwrap();
    store
        .release_lease("e1", &token_of(store, "e1", "delta").await)
        .await
        .unwrap();
    store
        .acquire_lease("e1", "epsilon", Duration::from_millis(1))
        .await
        .unwrap();
    sleep(Duration::from_millis(5)).await;
    store.acquire_lease("e1", "zeta", hour).await.unwrap();
    let recorded = recoveries_in_history(store).await;
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[2], ("zeta".to_owned(), "epsilon".to_owned(), 1));
}

/// Checks that a takeover of a finished execution is no recovery.
pub async fn a_takeover_of_a_finished_execution_is_no_recovery(store: &dyn Store) {
    for (id, status) in [
        ("e1", ExecutionStatus::Succeeded),
        ("e2", ExecutionStatus::Failed),
        ("e3", ExecutionStatus::Cancelled),
    ] {
        store.create(new_execution(id, "orders", 1)).await.unwrap();
        store
            .acquire_lease(id, "alpha", Duration::from_millis(1))
            .await
            .unwrap();
        let end = match status {
            ExecutionStatus::Succeeded => succeeded_with(b"out", 5),
            _ => ended_with(status, &Error::new("Boom", "ended"), 5),
        };
        store.commit(id, Fence::Unleased, vec![end]).await.unwrap();
        sleep(Duration::from_millis(5)).await;
        // The lease is left behind (its owner stopped before releasing it) and taken.
        store
            .acquire_lease(id, "beta", Duration::from_secs(60))
            .await
            .unwrap();
        let record = store.execution(id).await.unwrap();
        assert_eq!((record.status, record.recoveries), (status, 0), "{id}");
        assert!(store.history(id).await.unwrap().is_empty(), "{id}");
    }
}

/// Checks that takeovers count recoveries and a redrive resets them.
pub async fn takeovers_count_recoveries_and_a_redrive_resets_them(store: &dyn Store) {
    let recoveries = async |store: &dyn Store| store.execution("e1").await.unwrap().recoveries;
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    assert_eq!(recoveries(store).await, 0);
    let hour = Duration::from_secs(3600);
    // Taking a free lease, renewing it, releasing it and taking it again: no recovery.
    store.acquire_lease("e1", "alpha", hour).await.unwrap();
    store.acquire_lease("e1", "alpha", hour).await.unwrap();
    store
        .release_lease("e1", &token_of(store, "e1", "alpha").await)
        .await
        .unwrap();
    store.acquire_lease("e1", "beta", hour).await.unwrap();
    // A refused takeover is not one either.
    assert!(store.acquire_lease("e1", "gamma", hour).await.is_err());
    assert_eq!(recoveries(store).await, 0);

    // Taking over a lease that ran out is a recovery, counted once per takeover.
    store
        .release_lease("e1", &token_of(store, "e1", "beta").await)
        .await
        .unwrap();
    for (n, owner) in ["a", "b", "c"].into_iter().enumerate() {
        store
            .acquire_lease("e1", owner, Duration::from_millis(1))
            .await
            .unwrap();
        // A real sleep: the lease clock is the wall clock.
        sleep(Duration::from_millis(5)).await;
        assert_eq!(recoveries(store).await, n as u32);
    }
    store.acquire_lease("e1", "d", hour).await.unwrap();
    assert_eq!(recoveries(store).await, 3);

    // Taking a lease that was given up is no recovery; a takeover after it is.
    store
        .release_lease("e1", &token_of(store, "e1", "d").await)
        .await
        .unwrap();
    store
        .acquire_lease("e1", "gone", Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(recoveries(store).await, 3);
    sleep(Duration::from_millis(5)).await;
    store.acquire_lease("e1", "fresh", hour).await.unwrap();
    assert_eq!(recoveries(store).await, 4);

    // A failure keeps the count; a redrive resets it.
    let before = recoveries(store).await;
    let error = Error::new("States.RecoveryLimitExceeded", "parked");
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![ended_with(ExecutionStatus::Failed, &error, 10)],
        )
        .await
        .unwrap();
    assert_eq!(recoveries(store).await, before);
    store
        .commit("e1", Fence::Unleased, vec![redrive(20)])
        .await
        .unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(
        (record.status, record.recoveries, record.redrives),
        (ExecutionStatus::Running, 0, 1)
    );
}

// ---------------------------------------------------------------------------------------
// Fleets: fencing, claims, parking, notices

fn token(owner: &str, epoch: u64) -> LeaseToken {
    LeaseToken {
        owner: owner.to_owned(),
        epoch,
    }
}

fn park(wake_at_ms: u64) -> Write {
    Write::Park { wake_at_ms }
}

fn claim_request(owner: &str, workflows: &[(&str, u32)], limit: usize) -> ClaimRequest {
    ClaimRequest {
        owner: owner.to_owned(),
        workflows: workflows
            .iter()
            .map(|(name, version)| ((*name).to_owned(), *version))
            .collect(),
        limit,
        ttl: Duration::from_secs(60),
    }
}

fn fenced(result: Result<(), StoreError>, epoch: u64, current: u64) {
    match result {
        Err(StoreError::Fenced {
            epoch: e,
            current: c,
            ..
        }) => assert_eq!((e, c), (epoch, current)),
        other => panic!("expected Fenced (epoch {epoch}, now {current}), got {other:?}"),
    }
}

/// Checks that a run's commits land only while its lease token (owner and epoch) is
/// the execution's current one.
pub async fn commits_are_fenced_by_the_lease_epoch(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let alpha = store
        .acquire_lease("e1", "alpha", Duration::from_millis(40))
        .await
        .unwrap();
    assert_eq!(alpha.token, token("alpha", 1));
    assert_eq!(alpha.recovered_from, None);
    store
        .commit(
            "e1",
            Fence::Lease(&alpha.token),
            vec![write(output("a", b"1"))],
        )
        .await
        .unwrap();

    // alpha stalls past its lease; beta takes over.
    sleep(Duration::from_millis(80)).await;
    let beta = store
        .acquire_lease("e1", "beta", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(beta.token, token("beta", 2));
    assert_eq!(beta.recovered_from.as_deref(), Some("alpha"));
    fenced(
        store
            .commit(
                "e1",
                Fence::Lease(&alpha.token),
                vec![write(output("b", b"stale"))],
            )
            .await,
        1,
        2,
    );
    // A renewal keeps the epoch.
    let renewed = store
        .acquire_lease("e1", "beta", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(renewed.token, beta.token);
    assert_eq!(renewed.recovered_from, None);
    store
        .commit(
            "e1",
            Fence::Lease(&beta.token),
            vec![write(output("b", b"2"))],
        )
        .await
        .unwrap();
    // A token of the right epoch but another owner is refused too.
    fenced(
        store
            .commit(
                "e1",
                Fence::Lease(&token("alpha", 2)),
                vec![write(output("c", b"x"))],
            )
            .await,
        2,
        2,
    );
    // Given up, the lease fences its former holder out.
    store.release_lease("e1", &beta.token).await.unwrap();
    fenced(
        store
            .commit(
                "e1",
                Fence::Lease(&beta.token),
                vec![write(output("c", b"x"))],
            )
            .await,
        2,
        2,
    );
    // Writes of no run (a cancel) pass the fence.
    store
        .commit("e1", Fence::Unleased, vec![write(output("c", b"3"))])
        .await
        .unwrap();
    assert_eq!(
        summary(store, "e1").await,
        [
            entry(1, "a", b"1"),
            entry(2, "b", b"2"),
            entry(3, "c", b"3")
        ]
    );
}

/// Checks that a renewal extends the lease its token holds, even one that ran out, and
/// never takes a lease.
pub async fn a_renewal_extends_only_the_current_lease(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let alpha = store
        .acquire_lease("e1", "alpha", Duration::from_millis(20))
        .await
        .unwrap();
    sleep(Duration::from_millis(40)).await;
    // Ran out, but nobody took it: the holder may go on.
    let renewed = store
        .renew_lease("e1", &alpha.token, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(renewed.token, alpha.token);
    assert!(renewed.expires_ms > alpha.expires_ms);
    assert!(
        store
            .acquire_lease("e1", "beta", Duration::from_secs(60))
            .await
            .is_err()
    );
    // Given up, it cannot be renewed (nor taken by a renewal).
    store.release_lease("e1", &alpha.token).await.unwrap();
    match store
        .renew_lease("e1", &alpha.token, Duration::from_secs(60))
        .await
    {
        Err(StoreError::Fenced {
            epoch: 1,
            current: 1,
            ..
        }) => {}
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(store.execution("e1").await.unwrap().lease, None);
    // Taken over, the old token cannot renew.
    store
        .acquire_lease("e1", "beta", Duration::from_millis(20))
        .await
        .unwrap();
    sleep(Duration::from_millis(40)).await;
    let gamma = store
        .acquire_lease("e1", "gamma", Duration::from_secs(60))
        .await
        .unwrap();
    match store
        .renew_lease("e1", &token("beta", 2), Duration::from_secs(60))
        .await
    {
        Err(StoreError::Fenced {
            epoch: 2,
            current: 3,
            ..
        }) => {}
        other => panic!("expected Fenced, got {other:?}"),
    }
    assert_eq!(gamma.token.epoch, 3);
    let missing = store
        .renew_lease("missing", &token("x", 1), Duration::from_secs(1))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );
}

/// Checks that a release with a token that no longer holds the lease changes nothing.
pub async fn a_release_by_a_stale_token_changes_nothing(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let first = store
        .acquire_lease("e1", "alpha", Duration::from_secs(60))
        .await
        .unwrap();
    store.release_lease("e1", &first.token).await.unwrap();
    let second = store
        .acquire_lease("e1", "alpha", Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        second.token.epoch,
        first.token.epoch + 1,
        "taken again: a new epoch"
    );
    // The first token is stale: the lease stays.
    store.release_lease("e1", &first.token).await.unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.lease.map(|l| l.owner).as_deref(), Some("alpha"));
    assert!(
        store
            .acquire_lease("e1", "beta", Duration::from_secs(60))
            .await
            .is_err()
    );
}

/// Checks that an execution's record shows who holds its lease, until when, and the
/// epoch.
pub async fn the_record_shows_the_lease_and_its_epoch(store: &dyn Store) {
    let (record, _) = store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    assert_eq!((record.lease, record.lease_epoch), (None, 0));
    assert_eq!(record.wake_at_ms, 1, "a new execution is due when created");
    let lease = store
        .acquire_lease("e1", "alpha", Duration::from_secs(60))
        .await
        .unwrap();
    let record = store.execution("e1").await.unwrap();
    let held = record.lease.clone().expect("alpha holds it");
    assert_eq!(held.owner, "alpha");
    assert_eq!(held.expires_ms, lease.expires_ms);
    assert_eq!(record.lease_epoch, 1);
    assert!(!record.waits_for_a_worker(crate::store::now_ms()));
    // Listed records show it too.
    let listed = store.list(&ListFilter::default()).await.unwrap();
    assert_eq!(
        listed[0].lease.as_ref().map(|l| l.owner.as_str()),
        Some("alpha")
    );
    store.release_lease("e1", &lease.token).await.unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!((record.lease.clone(), record.lease_epoch), (None, 1));
    assert!(record.waits_for_a_worker(crate::store::now_ms()));
}

/// Checks that a claim takes exactly the running, due, unleased executions of the
/// registered workflow names and versions.
pub async fn claims_take_due_unleased_executions_of_registered_workflows(store: &dyn Store) {
    for (id, workflow, created) in [
        ("due", "orders", 1),
        ("leased", "orders", 2),
        ("elsewhere", "billing", 3),
        ("finished", "orders", 4),
        ("parked", "orders", 5),
        ("older-too", "orders", 0),
    ] {
        store
            .create(new_execution(id, workflow, created))
            .await
            .unwrap();
    }
    let mut v4 = new_execution("v4", "orders", 6);
    v4.version = 4;
    store.create(v4).await.unwrap();
    store
        .acquire_lease("leased", "other", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .commit(
            "finished",
            Fence::Unleased,
            vec![succeeded_with(b"done", 7)],
        )
        .await
        .unwrap();
    let parker = store
        .acquire_lease("parked", "parker", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .commit("parked", Fence::Lease(&parker.token), vec![park(u64::MAX)])
        .await
        .unwrap();
    store.release_lease("parked", &parker.token).await.unwrap();

    let claims = store
        .claim(&claim_request("worker", &[("orders", 3)], 10))
        .await
        .unwrap();
    let ids: Vec<&str> = claims.iter().map(|c| c.record.id.as_str()).collect();
    assert_eq!(ids, ["older-too", "due"], "longest due first");
    for claim in &claims {
        assert_eq!(claim.lease.token, token("worker", 1));
        assert_eq!(claim.lease.recovered_from, None);
        assert_eq!(
            claim.record.lease.as_ref().map(|l| l.owner.as_str()),
            Some("worker")
        );
        assert_eq!(claim.record.lease_epoch, 1);
        // The claimed lease fences like any other.
        store
            .commit(
                &claim.record.id,
                Fence::Lease(&claim.lease.token),
                vec![write(output("a", b"1"))],
            )
            .await
            .unwrap();
    }
    // Claimed now: nothing is left for another worker.
    assert!(
        store
            .claim(&claim_request("another", &[("orders", 3)], 10))
            .await
            .unwrap()
            .is_empty()
    );
    // The limit is kept; the other version and workflow are there for their workers.
    let v4 = store
        .claim(&claim_request("w4", &[("orders", 4), ("billing", 3)], 1))
        .await
        .unwrap();
    assert_eq!(v4.len(), 1);
    assert_eq!(v4[0].record.id, "elsewhere");
    // Nothing for a worker without workflows, nor with a limit of 0.
    assert!(
        store
            .claim(&claim_request("none", &[], 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim(&claim_request("zero", &[("orders", 4)], 0))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .claim(&claim_request("w4", &[("orders", 4)], 5))
            .await
            .unwrap()[0]
            .record
            .id,
        "v4"
    );
}

/// Checks that a claim takes an execution whose lease ran out over, as a recovery.
pub async fn a_claim_takes_over_an_expired_lease_as_a_recovery(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let gone = store
        .acquire_lease("e1", "gone", Duration::from_millis(500))
        .await
        .unwrap();
    assert!(
        store
            .claim(&claim_request("worker", &[("orders", 3)], 5))
            .await
            .unwrap()
            .is_empty(),
        "not while the lease runs"
    );
    sleep(Duration::from_millis(700)).await;
    let claims = store
        .claim(&claim_request("worker", &[("orders", 3)], 5))
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    assert_eq!(claim.lease.recovered_from.as_deref(), Some("gone"));
    assert_eq!(claim.lease.token.epoch, gone.token.epoch + 1);
    assert_eq!(claim.record.recoveries, 1);
    assert_eq!(
        recoveries_in_history(store).await,
        [("worker".to_owned(), "gone".to_owned(), 1)]
    );
}

/// Checks that a parked execution is claimed once its wake-up time has come, and that
/// only a running execution can be parked.
pub async fn parked_executions_are_claimed_when_due(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let lease = store
        .acquire_lease("e1", "runner", Duration::from_secs(60))
        .await
        .unwrap();
    let wake = crate::store::now_ms() + 1_000;
    store
        .commit(
            "e1",
            Fence::Lease(&lease.token),
            vec![write(output("a", b"1")), park(wake)],
        )
        .await
        .unwrap();
    store.release_lease("e1", &lease.token).await.unwrap();
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.wake_at_ms, wake);
    assert!(!record.waits_for_a_worker(wake - 1));
    assert!(record.waits_for_a_worker(wake));
    let request = claim_request("worker", &[("orders", 3)], 5);
    assert!(
        store.claim(&request).await.unwrap().is_empty(),
        "not yet due"
    );
    sleep(Duration::from_millis(1_200)).await;
    let claims = store.claim(&request).await.unwrap();
    assert_eq!(claims.len(), 1, "due now");
    assert_eq!(
        claims[0].lease.recovered_from, None,
        "a parked execution is no recovery"
    );

    store
        .commit("e1", Fence::Unleased, vec![succeeded_with(b"x", 3)])
        .await
        .unwrap();
    assert_not_running(
        store.commit("e1", Fence::Unleased, vec![park(9)]).await,
        ExecutionStatus::Succeeded,
    );
}

/// Checks what a callback's sender does: a caller that does not run the execution adds a
/// checkpoint to it while a runner holds its lease, and wakes it (`Park` at now); the
/// runner reads it with `checkpoints_after`, and its own fenced commits go on.
pub async fn a_caller_adds_a_checkpoint_to_a_leased_execution(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let lease = store
        .acquire_lease("e1", "runner", Duration::from_secs(60))
        .await
        .unwrap();
    store
        .commit(
            "e1",
            Fence::Lease(&lease.token),
            vec![write(output("a", b"1")), park(u64::MAX)],
        )
        .await
        .unwrap();
    let seen = store.checkpoints("e1").await.unwrap().last().unwrap().seq;
    let now = crate::store::now_ms();
    store
        .commit(
            "e1",
            Fence::Unleased,
            vec![write(output("a~callback~msg/0", b"{}")), park(now)],
        )
        .await
        .unwrap();
    let fresh = store.checkpoints_after("e1", seen).await.unwrap();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0].key, "a~callback~msg/0");
    assert!(fresh[0].seq > seen);
    let record = store.execution("e1").await.unwrap();
    assert_eq!(record.wake_at_ms, now, "woken");
    assert!(
        !record.waits_for_a_worker(now),
        "still leased by its runner"
    );
    store
        .commit(
            "e1",
            Fence::Lease(&lease.token),
            vec![write(output("b", b"2"))],
        )
        .await
        .unwrap();
    assert!(
        store
            .checkpoints_after("e1", u64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Checks that a redrive makes a failed execution due again, whatever it parked on.
pub async fn a_redrive_makes_the_execution_due_again(store: &dyn Store) {
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let lease = store
        .acquire_lease("e1", "runner", Duration::from_secs(60))
        .await
        .unwrap();
    let failed = Error::new("Boom", "it broke");
    store
        .commit(
            "e1",
            Fence::Lease(&lease.token),
            vec![
                park(u64::MAX),
                ended_with(ExecutionStatus::Failed, &failed, 2),
            ],
        )
        .await
        .unwrap();
    store.release_lease("e1", &lease.token).await.unwrap();
    let request = claim_request("worker", &[("orders", 3)], 5);
    assert!(
        store.claim(&request).await.unwrap().is_empty(),
        "failed: nothing to run"
    );
    store
        .commit("e1", Fence::Unleased, vec![redrive(3)])
        .await
        .unwrap();
    let claims = store.claim(&request).await.unwrap();
    assert_eq!(claims.len(), 1, "redriven: due again");
    assert_eq!(claims[0].record.redrives, 1);
}

/// Checks that claims made at the same time never hand out one execution twice.
pub async fn concurrent_claims_never_share_an_execution(store: &dyn Store) {
    for i in 0..60 {
        store
            .create(new_execution(&format!("e{i:02}"), "orders", i))
            .await
            .unwrap();
    }
    let requests: Vec<ClaimRequest> = (0..6)
        .map(|w| claim_request(&format!("worker-{w}"), &[("orders", 3)], 15))
        .collect();
    let claims = futures::future::join_all(requests.iter().map(|r| store.claim(r))).await;
    let mut ids: Vec<String> = claims
        .into_iter()
        .flat_map(|claims| claims.unwrap())
        .map(|claim| claim.record.id)
        .collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "an execution was claimed twice");
    assert_eq!(claimed, 60, "6 claims of 15 take all 60");
}

/// Checks that a store that sends notices tells of a submission, a hand-back and an
/// end.
pub async fn notices_tell_of_submissions_and_ends(store: &dyn Store) {
    use futures::StreamExt as _;
    let Some(mut notices) = store.notices() else {
        return; // A store without notices: its subscribers poll.
    };
    let mut next = async move || {
        tokio::time::timeout(Duration::from_secs(10), notices.next())
            .await
            .expect("a notice within 10 s")
            .expect("the stream goes on")
    };
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    assert_eq!(
        next().await,
        Notice::Runnable {
            workflow: "orders".into()
        }
    );
    let lease = store
        .acquire_lease("e1", "runner", Duration::from_secs(60))
        .await
        .unwrap();
    store.release_lease("e1", &lease.token).await.unwrap();
    assert_eq!(
        next().await,
        Notice::Runnable {
            workflow: "orders".into()
        }
    );
    store
        .commit("e1", Fence::Unleased, vec![succeeded_with(b"x", 2)])
        .await
        .unwrap();
    assert_eq!(next().await, Notice::Finished { id: "e1".into() });
}

/// One test per conformance check (see [`conformance`](crate::conformance)), each on a
/// store from `$fresh`: an `async fn` returning a pointer to a fresh, empty store.
/// `store_conformance!(optional fresh)` takes one returning an `Option` of it: `None`
/// skips the check (`fresh` says why, once).
#[macro_export]
macro_rules! store_conformance {
    (optional $fresh:path) => {
        $crate::store_conformance!(@tests $fresh, optional; create_is_idempotent, commit_reads_back_in_seq_order, identical_rewrite_is_accepted, different_bytes_are_refused, batch_is_atomic, status_and_redrive, list_filters_newest_first, list_pages_and_searches_ids, unknown_ids_are_not_found, lease_is_renewed_refused_and_released, lease_is_taken_over_after_expiry, events_commit_with_checkpoints_in_seq_order, a_refused_batch_writes_no_events, an_event_with_every_field_round_trips, a_checkpoint_after_cancel_is_refused, succeeded_after_cancelled_is_refused, cancelled_after_succeeded_is_refused, a_redrive_batch_of_a_failed_execution_is_accepted, a_redrive_of_a_succeeded_execution_is_refused, final_events_commit_with_the_final_status, each_recovery_is_an_event_of_the_takeover, a_takeover_of_a_finished_execution_is_no_recovery, takeovers_count_recoveries_and_a_redrive_resets_them, commits_are_fenced_by_the_lease_epoch, a_release_by_a_stale_token_changes_nothing, a_renewal_extends_only_the_current_lease, the_record_shows_the_lease_and_its_epoch, claims_take_due_unleased_executions_of_registered_workflows, a_claim_takes_over_an_expired_lease_as_a_recovery, parked_executions_are_claimed_when_due, a_caller_adds_a_checkpoint_to_a_leased_execution, a_redrive_makes_the_execution_due_again, concurrent_claims_never_share_an_execution, notices_tell_of_submissions_and_ends);
    };
    ($fresh:path) => {
        $crate::store_conformance!(@tests $fresh, always; create_is_idempotent, commit_reads_back_in_seq_order, identical_rewrite_is_accepted, different_bytes_are_refused, batch_is_atomic, status_and_redrive, list_filters_newest_first, list_pages_and_searches_ids, unknown_ids_are_not_found, lease_is_renewed_refused_and_released, lease_is_taken_over_after_expiry, events_commit_with_checkpoints_in_seq_order, a_refused_batch_writes_no_events, an_event_with_every_field_round_trips, a_checkpoint_after_cancel_is_refused, succeeded_after_cancelled_is_refused, cancelled_after_succeeded_is_refused, a_redrive_batch_of_a_failed_execution_is_accepted, a_redrive_of_a_succeeded_execution_is_refused, final_events_commit_with_the_final_status, each_recovery_is_an_event_of_the_takeover, a_takeover_of_a_finished_execution_is_no_recovery, takeovers_count_recoveries_and_a_redrive_resets_them, commits_are_fenced_by_the_lease_epoch, a_release_by_a_stale_token_changes_nothing, a_renewal_extends_only_the_current_lease, the_record_shows_the_lease_and_its_epoch, claims_take_due_unleased_executions_of_registered_workflows, a_claim_takes_over_an_expired_lease_as_a_recovery, parked_executions_are_claimed_when_due, a_caller_adds_a_checkpoint_to_a_leased_execution, a_redrive_makes_the_execution_due_again, concurrent_claims_never_share_an_execution, notices_tell_of_submissions_and_ends);
    };
    (@tests $fresh:path, $mode:ident; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                $crate::store_conformance!(@fresh $mode, store, $fresh);
                $crate::conformance::$check(&*store).await;
            }
        )*
    };
    (@fresh always, $store:ident, $fresh:path) => {
        let $store = $fresh().await;
    };
    (@fresh optional, $store:ident, $fresh:path) => {
        let Some($store) = $fresh().await else {
            return;
        };
    };
}

/// Sleeps on the caller's tokio runtime (leases run on the wall clock).
async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}
