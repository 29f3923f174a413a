//! A running execution's page follows it: `/executions/{id}/live` streams server-sent
//! events whose map progress moves as items finish, and ends when the execution does.

use std::sync::LazyLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt as _;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use waypost::prelude::*;
use waypost::{EventKind, JsonCodec, SqliteStore};
use waypost_console::Console;

/// Items wait here for a permit: the test lets them finish a few at a time.
static GATE: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(0));

#[step]
async fn load(item: u32) -> u32 {
    GATE.acquire().await.expect("the gate stays open").forget();
    item
}

#[step]
async fn count(items: Vec<u32>) -> u32 {
    items.len() as u32
}

/// Reads the stream until the next event named `name`; its data.
async fn next_event(body: &mut Body, buffer: &mut String, name: &str) -> String {
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let mut kind = "";
            let mut data = String::new();
            for line in event.lines() {
                if let Some(k) = line.strip_prefix("event:") {
                    kind = k.trim();
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim_start());
                }
            }
            if kind == name {
                return data;
            }
            continue;
        }
        let frame = tokio::time::timeout(Duration::from_secs(20), body.frame())
            .await
            .expect("an event within 20 s")
            .expect("the stream goes on")
            .expect("a frame");
        if let Ok(bytes) = frame.into_data() {
            buffer.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

fn map_done(update: &str) -> (u64, u64) {
    let value: serde_json::Value = serde_json::from_str(update).unwrap();
    let map = &value["maps"][0];
    (
        map["done"].as_u64().unwrap(),
        map["total"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_moves_with_the_map_and_ends_with_the_execution() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("live.db")).unwrap();
    let runtime = Runtime::builder().store(store).build();
    let wf =
        Workflow::new("live", 1, map(load).max_concurrency(2).then(count)).with_codec(JsonCodec);
    let run = tokio::spawn({
        let (runtime, wf) = (runtime.clone(), wf.clone());
        async move { runtime.start(&wf, "live-1", (0..6).collect()).await }
    });
    let router = Console::new(runtime.clone())
        .unwrap()
        .register(&wf)
        .router();
    // One item finishes: its checkpoint's commit stores the map's start (events are
    // stored with the commits of the execution).
    GATE.add_permits(1);
    while runtime
        .history("live-1")
        .await
        .map_or(true, |h| !h.iter().any(|e| e.kind == EventKind::MapStarted))
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let page = router
        .clone()
        .oneshot(
            Request::get("/executions/live-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let page = String::from_utf8(
        page.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    assert!(
        page.contains("data-live=\"/executions/live-1/live\""),
        "a running execution's page follows it"
    );
    assert!(
        page.contains("</span> of <span class=\"total\">6"),
        "{page}"
    );

    let response = router
        .oneshot(
            Request::get("/executions/live-1/live")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "server-sent events"
    );
    let mut body = response.into_body();
    let mut buffer = String::new();
    let first = next_event(&mut body, &mut buffer, "update").await;
    let (before, total) = map_done(&first);
    assert!(before <= 1 && total == 6, "{first}");
    assert!(first.contains("\"status\":\"running\""), "{first}");

    // Items finish one at a time until an update shows the map moved, while the last
    // item still waits. (An item's finish is stored with a later commit of the
    // execution, so the count trails the items by one or two.)
    let mut released = 1;
    loop {
        if released < 5 {
            GATE.add_permits(1);
            released += 1;
        }
        let update = next_event(&mut body, &mut buffer, "update").await;
        assert!(update.contains("\"status\":\"running\""), "{update}");
        if map_done(&update).0 > before {
            break;
        }
    }
    // The rest finish: the stream's last update says succeeded, and it ends.
    GATE.add_permits(6 - released);
    let last = loop {
        let update = next_event(&mut body, &mut buffer, "update").await;
        if update.contains("\"status\":\"succeeded\"") {
            break update;
        }
    };
    assert_eq!(map_done(&last), (6, 6));
    next_event(&mut body, &mut buffer, "end").await;
    assert_eq!(run.await.unwrap().unwrap(), 6);
}
