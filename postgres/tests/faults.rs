//! Bad input and faults on PostgreSQL, each a clear error that says what and where,
//! with nothing lost: an unreachable server, a wrong database or user, a URL that does
//! not parse, a newer schema, a payload over the limit, a connection lost mid-run.

mod support;

use std::time::Duration;

use waypost_core::store::{
    Checkpoint, CheckpointKind, ExecutionStatus, Fence, NewExecution, Store, StoreError, Write,
};
use waypost_postgres::{PostgresOptions, PostgresStore};

fn new_execution(id: &str) -> NewExecution {
    NewExecution {
        id: id.to_owned(),
        workflow: "orders".to_owned(),
        version: 1,
        fingerprint: "fp".to_owned(),
        codec: "json".to_owned(),
        input: b"{}".to_vec(),
        graph: "{}".to_owned(),
        created_ms: 1,
    }
}

fn checkpoint(key: &str, payload: Vec<u8>) -> Write {
    Write::Checkpoint(Checkpoint {
        seq: 0,
        key: key.to_owned(),
        kind: CheckpointKind::Output,
        checksum: 7,
        payload,
    })
}

fn backend(result: Result<PostgresStore, StoreError>) -> (String, String) {
    match result {
        Err(StoreError::Backend { doing, message }) => (doing, message),
        other => panic!("expected a Backend error, got {other:?}"),
    }
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn an_unreachable_server_is_named_with_the_cause() {
    if support::url().is_none() {
        return;
    }
    let port = closed_port();
    let options = PostgresOptions::builder()
        .connect_timeout(Duration::from_secs(2))
        .build();
    let (doing, message) = backend(
        PostgresStore::connect_with(
            &format!("postgres://someone:secret@127.0.0.1:{port}/db"),
            options,
        )
        .await,
    );
    assert!(
        doing.contains(&format!("postgres://someone@127.0.0.1:{port}/db")),
        "{doing}"
    );
    assert!(!doing.contains("secret") && !message.contains("secret"));
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

#[tokio::test]
async fn a_missing_database_or_user_and_a_bad_url_are_named() {
    let Some(url) = support::url() else {
        return;
    };
    let base = url.rsplit_once('/').unwrap().0;
    let (_, message) = backend(PostgresStore::connect(&format!("{base}/no_such_db_xyz")).await);
    assert!(
        message.contains("\"no_such_db_xyz\" does not exist"),
        "{message}"
    );
    let (_, message) =
        backend(PostgresStore::connect("postgres://no_such_role_xyz@127.0.0.1:5432/test").await);
    assert!(message.contains("no_such_role_xyz"), "{message}");
    let (doing, message) = backend(PostgresStore::connect("postgres://[::1:5432/x").await);
    assert!(doing.contains("URL"), "{doing}: {message}");
}

#[tokio::test]
async fn a_newer_schema_is_refused_and_left_alone() {
    let Some(fresh) = support::Fresh::new().await else {
        return;
    };
    fresh.create(new_execution("kept")).await.unwrap();
    let (client, connection) = tokio_postgres::connect(&fresh.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let schema = &fresh.schema;
    client
        .batch_execute(&format!(
            "UPDATE \"{schema}\".schema_version SET version = 99"
        ))
        .await
        .unwrap();
    let options = PostgresOptions::builder().schema(schema.clone()).build();
    match PostgresStore::connect_with(&fresh.url, options).await {
        Err(StoreError::NewerSchema {
            path,
            found,
            supported,
        }) => {
            assert_eq!((found, supported), (99, 1));
            assert!(path.contains(schema.as_str()), "{path}");
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    // Untouched: the version and the execution are still there.
    let version: i32 = client
        .query_one(
            &format!("SELECT version FROM \"{schema}\".schema_version"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, 99);
    assert_eq!(fresh.execution("kept").await.unwrap().id, "kept");
}

#[tokio::test]
async fn a_payload_over_the_limit_is_refused_before_it_is_sent() {
    let options = PostgresOptions::builder().max_payload_bytes(1024).build();
    let Some(fresh) = support::Fresh::with(options).await else {
        return;
    };
    fresh.create(new_execution("e")).await.unwrap();
    let refused = fresh
        .commit(
            "e",
            Fence::Unleased,
            vec![
                checkpoint("small", vec![1; 10]),
                checkpoint("big", vec![2; 2000]),
            ],
        )
        .await;
    match refused {
        Err(StoreError::Backend { doing, message }) => {
            assert!(
                doing.contains("checkpoint `big`") && doing.contains("`e`"),
                "{doing}"
            );
            assert!(
                message.contains("2000 bytes") && message.contains("1024"),
                "{message}"
            );
        }
        other => panic!("expected Backend, got {other:?}"),
    }
    assert!(
        fresh.checkpoints("e").await.unwrap().is_empty(),
        "nothing was written"
    );
    let mut big = new_execution("big-input");
    big.input = vec![0; 4096];
    assert!(matches!(
        fresh.create(big).await,
        Err(StoreError::Backend { .. })
    ));
    assert!(matches!(
        fresh.execution("big-input").await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_lost_connection_fails_a_call_clearly_and_the_store_goes_on() {
    let Some(url) = support::url() else {
        return;
    };
    let name = support::unique_schema("lost");
    let separator = if url.contains('?') { '&' } else { '?' };
    let tagged = format!("{url}{separator}application_name={name}");
    let options = PostgresOptions::builder().schema(name.clone()).build();
    let store = PostgresStore::connect_with(&tagged, options).await.unwrap();
    store.create(new_execution("e")).await.unwrap();
    store
        .commit("e", Fence::Unleased, vec![checkpoint("a", b"1".to_vec())])
        .await
        .unwrap();

    // Every connection of the store is cut, as a server restart or a network failure
    // would.
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let cut = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert!(!cut.is_empty());

    // The next calls fail clearly or succeed on a new connection; none half-writes.
    let mut failures = Vec::new();
    let mut committed = false;
    for attempt in 0..20 {
        match store
            .commit("e", Fence::Unleased, vec![checkpoint("b", b"2".to_vec())])
            .await
        {
            Ok(()) => {
                committed = true;
                break;
            }
            Err(StoreError::Backend { doing, message }) => {
                assert!(doing.contains("PostgreSQL at"), "{doing}");
                failures.push(message);
            }
            Err(other) => panic!("attempt {attempt}: {other:?}"),
        }
    }
    assert!(committed, "the store never recovered: {failures:?}");
    for message in &failures {
        assert!(
            message.contains("connection") || message.contains("terminat"),
            "{message}"
        );
    }
    let keys: Vec<String> = store
        .checkpoints("e")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(
        store.execution("e").await.unwrap().status,
        ExecutionStatus::Running
    );
    store.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_comes_up_later_is_waited_for_and_each_try_is_reported() {
    let Some(url) = support::url() else {
        return;
    };
    // The server appears on a port of its own a second from now: a proxy to it.
    let port = closed_port();
    let target = "127.0.0.1:5432";
    let proxy = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let proxied = url.replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));
    assert_ne!(
        proxied, url,
        "the test server is expected at 127.0.0.1:5432"
    );
    let schema = support::unique_schema("later");
    let options = PostgresOptions::builder()
        .schema(schema.clone())
        .connect_timeout(Duration::from_secs(2))
        .build();
    let mut tries = Vec::new();
    let store = PostgresStore::connect_retrying(
        &proxied,
        options.clone(),
        Duration::from_secs(30),
        |error, pause| {
            tries.push((error.to_string(), pause));
        },
    )
    .await
    .unwrap();
    assert!(!tries.is_empty(), "the first tries found nothing listening");
    assert!(
        tries.iter().all(|(e, _)| e.contains("refused")),
        "{tries:?}"
    );
    assert!(
        tries.windows(2).all(|w| w[1].1 >= w[0].1),
        "pauses grow: {tries:?}"
    );
    store.create(new_execution("e")).await.unwrap();
    store.drop_schema().await.unwrap();

    // What no retry can fix fails at once.
    let started = std::time::Instant::now();
    let bad = PostgresStore::connect_retrying(
        "postgres://[x",
        options,
        Duration::from_secs(30),
        |_, _| panic!("a URL that does not parse is not retried"),
    )
    .await;
    assert!(bad.is_err() && started.elapsed() < Duration::from_secs(5));
    proxy.abort();
}
