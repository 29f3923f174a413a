//! The console over HTTP, in process: every page and API route on a store that real
//! workflows wrote, bad input, escaping, damaged and vanished stores, actions and their
//! token, redrive, and paging through many executions.
//!
//! Each test drives the console's axum router with `tower::ServiceExt::oneshot` (no
//! network) over a fresh SQLite store in a temporary directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower::ServiceExt as _;
use waypost::prelude::*;
use waypost::store::NewExecution;
use waypost::{Durability, EventKind, JsonCodec, SqliteStore, SqliteStoreOptions, Store};
use waypost_console::Console;

// ---------------------------------------------------------------------------------------
// The pages.

/// The console's address opens on the executions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_goes_to_the_executions() {
    let fx = Fixture::empty();
    let reply = get(&fx.router(), "/").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header(&header::LOCATION), "/executions");
}

/// The executions page lists every execution newest first, each row linking to its
/// page and its workflow, with its status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executions_page_lists_newest_first() {
    let fx = Fixture::standard().await;
    let reply = get(&fx.router(), "/executions").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.header(&header::CONTENT_TYPE).starts_with("text/html"),
        "{reply:?}"
    );
    assert_eq!(
        row_ids(&reply.body),
        ["import-1", "pricing-1", "refund-1", "order-1"]
    );
    for (id, status) in [
        ("import-1", "running"),
        ("pricing-1", "succeeded"),
        ("refund-1", "failed"),
        ("order-1", "succeeded"),
    ] {
        let row = row(&reply.body, id);
        assert!(row.contains(&format!("href=\"/executions/{id}\"")), "{row}");
        assert!(row.contains(&format!("data-status=\"{status}\"")), "{row}");
    }
    let pricing = row(&reply.body, "pricing-1");
    assert!(
        pricing.contains("href=\"/workflows/pricing?version=2\""),
        "{pricing}"
    );
    assert!(text(pricing).contains("pricing v2"), "{pricing}");
    // Four executions fit on one page.
    assert!(!reply.body.contains("rel=\"next\""));
    assert!(!reply.body.contains("rel=\"prev\""));
}

/// The list filters by status and by workflow, and finds ids by a part of them; the
/// filter form shows what is chosen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executions_page_filters_and_searches() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    let ids = |query: &'static str| {
        let app = app.clone();
        async move {
            let reply = get(&app, &format!("/executions?{query}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
            (row_ids(&reply.body), reply.body)
        }
    };

    let (failed, body) = ids("status=failed").await;
    assert_eq!(failed, ["refund-1"]);
    assert!(
        body.contains("<option value=\"failed\" selected>failed</option>"),
        "the form keeps the status"
    );
    assert_eq!(ids("status=running").await.0, ["import-1"]);
    assert_eq!(ids("status=succeeded").await.0, ["pricing-1", "order-1"]);

    let (pricing, body) = ids("workflow=pricing").await;
    assert_eq!(pricing, ["pricing-1"]);
    assert!(
        body.contains("name=\"workflow\" value=\"pricing\""),
        "{body}"
    );
    assert_eq!(ids("workflow=orders&status=succeeded").await.0, ["order-1"]);

    let (found, body) = ids("q=ricing").await;
    assert_eq!(found, ["pricing-1"]);
    assert!(body.contains("name=\"q\" value=\"ricing\""), "{body}");
    assert_eq!(
        ids("q=-1").await.0,
        ["import-1", "pricing-1", "refund-1", "order-1"]
    );
    // Empty fields are "any", as a form submitted untouched sends them.
    assert_eq!(ids("status=&workflow=&q=").await.0.len(), 4);

    let (none, body) = ids("status=cancelled").await;
    assert!(none.is_empty());
    assert!(text(&body).contains("No executions match."), "{body}");
    let (none, _) = ids("workflow=nope").await;
    assert!(none.is_empty());
}

/// Pages of the list link to the next and previous ones, keeping the filters and the
/// page size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executions_page_pages_with_next_and_prev_links() {
    let fx = Fixture::standard().await;
    let app = fx.router();

    let first = get(&app, "/executions?per_page=2").await;
    assert_eq!(row_ids(&first.body), ["import-1", "pricing-1"]);
    assert!(
        first
            .body
            .contains("rel=\"next\" href=\"/executions?page=2&amp;per_page=2\""),
        "{}",
        first.body
    );
    assert!(!first.body.contains("rel=\"prev\""));

    let second = get(&app, "/executions?page=2&per_page=2").await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(row_ids(&second.body), ["refund-1", "order-1"]);
    assert!(
        second
            .body
            .contains("rel=\"prev\" href=\"/executions?page=1&amp;per_page=2\""),
        "{}",
        second.body
    );
    assert!(!second.body.contains("rel=\"next\""), "no third page");
    assert!(text(&second.body).contains("page 2"));

    let past = get(&app, "/executions?page=3&per_page=2").await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(row_ids(&past.body).is_empty());
    assert!(text(&past.body).contains("No executions on this page."));

    let filtered = get(&app, "/executions?status=succeeded&per_page=1").await;
    assert_eq!(row_ids(&filtered.body), ["pricing-1"]);
    assert!(
        filtered.body.contains(
            "rel=\"next\" href=\"/executions?page=2&amp;status=succeeded&amp;per_page=1\""
        ),
        "{}",
        filtered.body
    );
}

/// A failed execution's page shows its status, its graph with the failed state marked,
/// the error with its cause, the timeline and the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_execution_page_shows_where_and_why() {
    let fx = Fixture::standard().await;
    let reply = get(&fx.router(), "/executions/refund-1").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = &reply.body;
    assert!(
        body.contains("class=\"badge status-failed\" data-status=\"failed\""),
        "{body}"
    );

    let svg = svg(body);
    assert!(
        svg.contains("data-address=\"1.refund\" data-status=\"failed\""),
        "{svg}"
    );
    assert!(
        svg.contains("data-address=\"0.lookup\" data-status=\"succeeded\""),
        "{svg}"
    );

    let error = section(body, "<section class=\"error-box\">");
    let error = text(error);
    for part in [
        "PaymentDeclined",
        "at 1.refund",
        "refund 42 was declined",
        "GatewayError",
        "issuer answered 05: do not honor",
    ] {
        assert!(error.contains(part), "{part} in {error}");
    }
    // The failed state's details are open, with its error.
    assert!(
        body.contains(
            "<details class=\"state\" id=\"state-1\" data-address=\"1.refund\" \
             data-status=\"failed\" open>"
        ),
        "{body}"
    );

    let timeline = section(body, "<section class=\"timeline\">");
    assert!(timeline.contains("title=\"0.lookup attempt 1: succeeded\""));
    assert!(timeline.contains("title=\"1.refund attempt 1: failed\""));
    assert!(timeline.contains("outcome-failed"));

    let history = section(body, "<section class=\"history\">");
    assert!(text(history).contains("(6 events)"), "{history}");
    let kinds: Vec<&str> = history
        .match_indices("<tr class=\"event kind-")
        .map(|(at, found)| {
            let rest = &history[at + found.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "StepStarted",
            "StepFailed",
            "ExecutionFailed"
        ]
    );
    assert!(text(history).contains("PaymentDeclined: refund 42 was declined"));
}

/// A succeeded execution's page shows its JSON input and output, and each state's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_succeeded_execution_page_shows_its_data() {
    let fx = Fixture::standard().await;
    let reply = get(&fx.router(), "/executions/order-1").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = &reply.body;
    assert!(body.contains("data-status=\"succeeded\""));
    assert!(!body.contains("data-status=\"failed\""), "nothing failed");
    assert!(!body.contains("error-box"));
    let data = text(section(body, "<section class=\"data\">"));
    assert!(data.contains("\"note\": \"leave at the door\""), "{data}");
    assert!(data.contains("\"cents\": 1499"), "{data}");
    let states = section(body, "<section class=\"states\">");
    let charged = section(states, "data-address=\"1.charge\"");
    assert!(text(charged).contains("\"cents\": 1499"), "{charged}");
    // No token in the request: no button, a hint how to get one.
    assert!(!body.contains("Cancel execution"));
}

/// A map's page says how many of its items finished: all of them once it is done, part
/// of them for one that was interrupted and waits for a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_progress_shows_items_finished() {
    let fx = Fixture::standard().await;
    let app = fx.router();

    let done = get(&app, "/executions/pricing-1").await;
    assert_eq!(done.status, StatusCode::OK);
    let progress = text(section(&done.body, "<div class=\"map-progress\""));
    assert!(
        progress.contains("3 of 3 items finished, 0 failed"),
        "{progress}"
    );
    assert!(progress.contains("finished"), "{progress}");

    let api = get(&app, "/api/executions/import-1").await.json();
    let map = &api["maps"][0];
    assert_eq!(map["address"], "1.load");
    assert_eq!(map["total"], 4);
    assert_eq!(map["finished"], false);
    let finished = map["done"].as_u64().unwrap();
    assert!(
        (1..=2).contains(&finished),
        "one or two rows were committed: {api}"
    );

    let running = get(&app, "/executions/import-1").await;
    assert_eq!(running.status, StatusCode::OK);
    let body = &running.body;
    assert!(body.contains("class=\"badge status-running\""), "{body}");
    assert!(body.contains("data-live=\"/executions/import-1/live\""));
    let progress = text(section(body, "<div class=\"map-progress\""));
    assert!(
        progress.contains(&format!("{finished} of 4 items finished")),
        "{progress}"
    );
    assert!(!progress.contains("· finished"), "{progress}");
    assert!(
        text(body).contains("Runner"),
        "a running execution says who runs it"
    );
    assert!(
        svg(body).contains("data-address=\"1.load\" data-status=\"running\""),
        "{}",
        svg(body)
    );
}

/// The workflows page lists every workflow with its versions and executions; a
/// workflow's page draws it and gives per-step statistics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_pages_show_graphs_and_statistics() {
    let fx = Fixture::standard().await;
    let app = fx.router();

    let index = get(&app, "/workflows").await;
    assert_eq!(index.status, StatusCode::OK);
    let table = text(section(&index.body, "<table class=\"workflows\">"));
    for name in ["import", "orders", "pricing", "refunds"] {
        assert!(table.contains(name), "{name} in {table}");
    }
    assert!(index.body.contains("href=\"/workflows/pricing?version=2\""));

    let page = get(&app, "/workflows/refunds").await;
    assert_eq!(page.status, StatusCode::OK);
    let body = &page.body;
    assert!(text(body).contains("Workflow refunds v1"), "{body}");
    assert!(svg(body).contains("data-address=\"1.refund\""));
    assert!(
        text(body).contains("1 execution · 1 failed"),
        "{}",
        text(body)
    );
    let stats = section(body, "<table class=\"stats\">");
    let rows: Vec<Vec<String>> = stats
        .split("<tr>")
        .skip(2)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| text(&format!("<td{cell}")))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), 2, "{stats}");
    // Step, runs, re-runs, failures, retries.
    assert_eq!(rows[0][..5], ["lookup", "1", "0", "0", "0"]);
    assert_eq!(rows[1][..5], ["refund", "1", "0", "1", "0"]);
    assert!(body.contains("href=\"/workflows/refunds/export/asl.json?version=1\""));

    let v2 = get(&app, "/workflows/pricing?version=2").await;
    assert_eq!(v2.status, StatusCode::OK);
    assert!(text(&v2.body).contains("Workflow pricing v2"));
}

/// The graph downloads come as Mermaid, DOT and ASL JSON with their content types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workflow_exports_download() {
    let fx = Fixture::standard().await;
    let app = fx.router();

    let mmd = get(&app, "/workflows/refunds/export/graph.mmd").await;
    assert_eq!(mmd.status, StatusCode::OK);
    assert_eq!(
        mmd.header(&header::CONTENT_TYPE),
        "text/plain; charset=utf-8"
    );
    assert!(mmd.body.contains("refund"), "{}", mmd.body);
    assert!(
        mmd.header(&header::CONTENT_DISPOSITION)
            .contains("refunds-v1-graph.mmd"),
        "{mmd:?}"
    );

    let dot = get(&app, "/workflows/refunds/export/graph.dot").await;
    assert_eq!(dot.status, StatusCode::OK);
    assert_eq!(
        dot.header(&header::CONTENT_TYPE),
        "text/vnd.graphviz; charset=utf-8"
    );
    assert!(dot.body.contains("digraph"), "{}", dot.body);
    assert!(dot.body.contains("refund"));

    let asl = get(&app, "/workflows/refunds/export/asl.json?version=1").await;
    assert_eq!(asl.status, StatusCode::OK);
    assert_eq!(asl.header(&header::CONTENT_TYPE), "application/json");
    assert!(
        asl.header(&header::CONTENT_DISPOSITION)
            .starts_with("attachment;")
    );
    let asl = asl.json();
    let start = asl["StartAt"].as_str().expect("StartAt");
    assert!(asl["States"].get(start).is_some(), "{asl}");
}

/// The stylesheet and the script are served from the binary, with their types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_static_files_are_served() {
    let fx = Fixture::empty();
    let app = fx.router();
    let css = get(&app, "/static/console.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header(&header::CONTENT_TYPE), "text/css; charset=utf-8");
    assert!(css.body.contains(".status-failed"), "the status colours");
    let js = get(&app, "/static/console.js").await;
    assert_eq!(js.status, StatusCode::OK);
    assert_eq!(
        js.header(&header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert!(
        js.body.contains("EventSource"),
        "it follows the live stream"
    );
}

// ---------------------------------------------------------------------------------------
// The JSON API.

/// `/api/executions` lists summaries newest first, statuses in lowercase, with the
/// page it is and whether another follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_executions() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    let reply = get(&app, "/api/executions").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header(&header::CONTENT_TYPE)
            .starts_with("application/json")
    );
    let list = reply.json();
    assert_eq!(list["page"], 1);
    assert_eq!(list["per_page"], 50);
    assert_eq!(list["has_next"], false);
    let rows = list["executions"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["import-1", "pricing-1", "refund-1", "order-1"]);
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["running", "succeeded", "failed", "succeeded"]);

    let failed = &rows[2];
    let mut keys: Vec<&str> = failed
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "codec",
            "duration_ms",
            "ended_ms",
            "id",
            "recoveries",
            "redrives",
            "started_ms",
            "status",
            "status_text",
            "version",
            "workflow"
        ]
    );
    assert_eq!(failed["workflow"], "refunds");
    assert_eq!(failed["version"], 1);
    assert_eq!(failed["codec"], "json");
    assert!(failed["ended_ms"].as_u64() >= failed["started_ms"].as_u64());
    assert_eq!(rows[0]["ended_ms"], Value::Null, "import-1 runs");
    assert_eq!(rows[1]["codec"], "bincode");

    let page = get(&app, "/api/executions?status=succeeded&per_page=1")
        .await
        .json();
    assert_eq!(page["executions"][0]["id"], "pricing-1");
    assert_eq!(page["executions"].as_array().unwrap().len(), 1);
    assert_eq!(page["has_next"], true);
    let page = get(&app, "/api/executions?q=order&workflow=orders")
        .await
        .json();
    assert_eq!(page["executions"][0]["id"], "order-1");
}

/// `/api/executions/{id}` gives the states with their statuses, data and errors, and
/// the error with its cause chain; JSON payloads are decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_an_execution() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    let failed = get(&app, "/api/executions/refund-1").await.json();
    assert_eq!(failed["id"], "refund-1");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["registered"], false);
    assert_eq!(failed["runner"], Value::Null);
    assert_eq!(failed["input"]["codec"], "json");
    assert_eq!(failed["input"]["value"], 42);
    assert_eq!(failed["output"], Value::Null);
    assert_eq!(failed["error"]["name"], "PaymentDeclined");
    assert_eq!(failed["error"]["address"], "1.refund");
    assert_eq!(failed["error"]["cause"]["name"], "GatewayError");
    assert_eq!(
        failed["error"]["cause"]["message"],
        "issuer answered 05: do not honor"
    );
    let states = failed["states"].as_array().unwrap();
    assert_eq!(states.len(), 2);
    assert_eq!(states[0]["address"], "0.lookup");
    assert_eq!(states[0]["status"], "succeeded");
    assert_eq!(states[0]["output"]["value"], 42);
    assert_eq!(states[1]["address"], "1.refund");
    assert_eq!(states[1]["status"], "failed");
    assert_eq!(states[1]["attempts"], 1);
    assert_eq!(
        states[1]["input"]["value"], 42,
        "the output of the state before"
    );
    assert_eq!(states[1]["error"]["cause"]["name"], "GatewayError");

    let order = get(&app, "/api/executions/order-1").await.json();
    assert_eq!(order["input"]["value"]["note"], "leave at the door");
    assert_eq!(
        order["output"]["value"],
        serde_json::json!({"order": 1, "cents": 1499})
    );
    assert!(order["output"].get("problem").is_none());
    assert_eq!(order["output"]["bytes"], 24);

    let import = get(&app, "/api/executions/import-1").await.json();
    assert_eq!(import["status"], "running");
    assert!(import["runner"].is_string(), "{import}");
}

/// Without the workflow's code, bincode payloads are shown by size with why they are
/// not decoded; a console that registers the workflow decodes the input, the output
/// and every step's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bincode_payloads_are_decoded_once_the_workflow_is_registered() {
    let fx = Fixture::standard().await;

    let bare = get(&fx.router(), "/api/executions/pricing-1").await.json();
    assert_eq!(bare["registered"], false);
    for payload in [
        &bare["input"],
        &bare["output"],
        &bare["states"][2]["output"],
    ] {
        assert_eq!(payload["codec"], "bincode", "{payload}");
        assert!(payload.get("value").is_none(), "{payload}");
        assert!(payload["bytes"].as_u64().unwrap() > 0, "{payload}");
        assert!(
            payload["problem"]
                .as_str()
                .unwrap()
                .contains("knows the workflow's types"),
            "{payload}"
        );
    }
    let page = get(&fx.router(), "/executions/pricing-1").await;
    assert!(text(&page.body).contains("bincode payloads are decoded by a console"));

    let app = fx.console().register(&pricing()).router();
    let typed = get(&app, "/api/executions/pricing-1").await.json();
    assert_eq!(typed["registered"], true);
    assert_eq!(typed["input"]["value"], serde_json::json!([4, 1, 7]));
    assert_eq!(typed["output"]["value"], 3000);
    assert!(typed["input"].get("problem").is_none());
    let states = typed["states"].as_array().unwrap();
    let state = |address: &str| {
        states
            .iter()
            .find(|s| s["address"] == address)
            .unwrap_or_else(|| panic!("no state {address} in {typed}"))
    };
    assert_eq!(
        state("0.map/item/0.price")["output"]["value"],
        1750,
        "the last item's"
    );
    assert_eq!(state("0.map/item/0.price")["outputs"], 3);
    assert_eq!(state("1.total")["output"]["value"], 3000);
    let page = get(&app, "/executions/pricing-1").await;
    let data = text(section(&page.body, "<section class=\"data\">"));
    assert!(data.contains("3000"), "{data}");
}

/// A state with its own codec (`step.codec(JsonCodec)`) in a bincode workflow shows its
/// output as JSON, without the workflow registered; a raw blob by its size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_with_its_own_codec_is_shown_in_that_codec() {
    let fx = Fixture::empty();
    let note = step_fn("note", |x: u32| async move {
        Ok::<_, Error>(format!("{x} orders"))
    });
    let blob = step_fn("blob", |s: String| async move {
        Ok::<_, Error>(waypost::Blob::from(s.into_bytes()))
    });
    let size = step_fn(
        "size",
        |b: waypost::Blob| async move { Ok::<_, Error>(b.len()) },
    );
    let wf = Workflow::new(
        "notes",
        1,
        note.codec(JsonCodec)
            .then(blob.codec(waypost::RawBytes))
            .then(size),
    );
    fx.runtime.start(&wf, "notes-1", 12).await.unwrap();
    let api = get(&fx.router(), "/api/executions/notes-1").await.json();
    let state = |address: &str| {
        api["states"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["address"] == address)
            .unwrap_or_else(|| panic!("no state {address} in {api}"))
            .clone()
    };
    let note = state("0.note");
    assert_eq!(note["output"]["codec"], "json", "{note}");
    assert_eq!(note["output"]["value"], "12 orders", "{note}");
    let blob = state("1.blob");
    assert_eq!(blob["output"]["codec"], "raw", "{blob}");
    assert_eq!(blob["output"]["bytes"], 9, "{blob}");
    assert!(blob["output"].get("value").is_none(), "{blob}");
    assert_eq!(state("2.size")["output"]["codec"], "bincode");
}

/// `/api/executions/{id}/history` gives every event in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_gives_the_history_in_order() {
    let fx = Fixture::standard().await;
    let history = get(&fx.router(), "/api/executions/refund-1/history").await;
    assert_eq!(history.status, StatusCode::OK);
    let events = history.json();
    let events = events.as_array().unwrap();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<u64>>());
    assert_eq!(events[0]["kind"], "ExecutionStarted");
    assert_eq!(events[4]["kind"], "StepFailed");
    assert_eq!(events[4]["address"], "1.refund");
    assert_eq!(events[5]["kind"], "ExecutionFailed");
    let stored = fx.store.history("refund-1").await.unwrap();
    assert_eq!(events.len(), stored.len());
}

/// `/api/workflows/{name}` gives the versions, statuses, per-step statistics and ASL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_gives_workflow_statistics() {
    let fx = Fixture::standard().await;
    let reply = get(&fx.router(), "/api/workflows/refunds").await;
    assert_eq!(reply.status, StatusCode::OK);
    let workflow = reply.json();
    assert_eq!(workflow["name"], "refunds");
    assert_eq!(workflow["version"], 1);
    assert_eq!(workflow["versions"], serde_json::json!([1]));
    assert_eq!(workflow["executions"], 1);
    assert_eq!(workflow["statuses"], serde_json::json!({"failed": 1}));
    let steps = workflow["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lookup", "refund"]);
    assert_eq!(steps[1]["runs"], 1);
    assert_eq!(steps[1]["failures"], 1);
    assert!(steps[1]["p50_ms"].is_u64());
    assert!(workflow["asl"]["StartAt"].is_string(), "{workflow}");

    let pricing = get(&fx.router(), "/api/workflows/pricing").await.json();
    assert_eq!(pricing["version"], 2);
    assert_eq!(pricing["statuses"], serde_json::json!({"succeeded": 1}));
}

/// The live stream of a finished execution sends its state once and ends, so the page
/// does not wait for updates that will not come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_stream_of_a_finished_execution_ends() {
    let fx = Fixture::standard().await;
    let reply = get(&fx.router(), "/executions/refund-1/live").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .header(&header::CONTENT_TYPE)
            .starts_with("text/event-stream")
    );
    assert!(reply.body.contains("event: update"), "{}", reply.body);
    assert!(
        reply.body.contains("\"status\":\"failed\""),
        "{}",
        reply.body
    );
    assert!(
        reply.body.contains("\"1.refund\":\"failed\""),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("event: end"), "{}", reply.body);
}

// ---------------------------------------------------------------------------------------
// Bad input.

/// An unknown execution is a 404 page naming the id, and a JSON 404 on the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_execution_is_a_404_naming_it() {
    let fx = Fixture::standard().await;
    let app = fx.router();

    let page = get(&app, "/executions/order-404").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.header(&header::CONTENT_TYPE).starts_with("text/html"));
    let words = text(&page.body);
    assert!(words.contains("404 · Not found"), "{words}");
    assert!(words.contains("order-404"), "{words}");
    assert!(page.body.contains("href=\"/executions\""), "a way back");

    for uri in [
        "/api/executions/order-404",
        "/api/executions/order-404/history",
    ] {
        let api = get(&app, uri).await;
        assert_eq!(api.status, StatusCode::NOT_FOUND, "{uri}");
        let error = api.json();
        assert_eq!(error["status"], 404, "{uri}");
        assert!(
            error["error"].as_str().unwrap().contains("order-404"),
            "{uri}: {error}"
        );
    }

    let live = get(&app, "/executions/order-404/live").await;
    assert_eq!(live.status, StatusCode::NOT_FOUND);
    assert!(text(&live.body).contains("order-404"));
}

/// An id with `/`, spaces, `?`, `#`, `%` and non-ASCII letters is found through its
/// percent-encoded URL, and the console's own links to it are encoded so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_with_reserved_characters_is_found() {
    const ID: &str = "a/b c?d#e%f é✓";
    let fx = Fixture::empty();
    fx.queue(ID).await;
    let app = fx.router();
    let encoded = encode(ID);
    assert_eq!(encoded, "a%2Fb%20c%3Fd%23e%25f%20%C3%A9%E2%9C%93");

    let list = get(&app, "/executions").await;
    assert_eq!(row_ids(&list.body), [ID]);
    assert!(
        list.body
            .contains(&format!("href=\"/executions/{encoded}\"")),
        "{}",
        list.body
    );

    let page = get(&app, &format!("/executions/{encoded}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(text(&page.body).contains(&format!("Execution {ID}")));

    let api = get(&app, &format!("/api/executions/{encoded}")).await;
    assert_eq!(api.status, StatusCode::OK);
    assert_eq!(api.json()["id"], ID);
    let history = get(&app, &format!("/api/executions/{encoded}/history")).await;
    assert_eq!(history.status, StatusCode::OK);

    let search = get(&app, &format!("/executions?q={}", encode("c?d#e%f é"))).await;
    assert_eq!(row_ids(&search.body), [ID]);

    // The cancel form comes back to the same page.
    let cancel = post(
        &app,
        &format!("/executions/{encoded}/cancel"),
        &[("cookie", "waypost_console_token=t")],
    )
    .await;
    assert_eq!(cancel.status, StatusCode::SEE_OTHER, "{}", cancel.body);
    assert_eq!(
        cancel.header(&header::LOCATION),
        format!("/executions/{encoded}")
    );
}

/// A bad list query is a 400 that says what is wrong, on the page and the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_list_queries_are_400() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    for (query, says) in [
        ("status=bogus", "`bogus` is not a status"),
        ("page=0", "pages count from 1"),
        (
            "per_page=100000",
            "per_page must be from 1 to 1000, not 100000",
        ),
        ("per_page=0", "per_page must be from 1 to 1000, not 0"),
    ] {
        let page = get(&app, &format!("/executions?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        let words = text(&page.body);
        assert!(words.contains("400 · Bad request"), "{query}: {words}");
        assert!(words.contains(says), "{query}: {words}");

        let api = get(&app, &format!("/api/executions?{query}")).await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST, "{query}");
        let error = api.json();
        assert_eq!(error["status"], 400);
        assert!(error["error"].as_str().unwrap().contains(says), "{error}");
    }
}

/// A query number that is not a number is the console's own 400: a JSON error on the
/// API (as its docs promise for a bad query), an error page on the pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_that_is_not_a_number_is_the_consoles_400() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    for query in ["page=abc", "per_page=-1", "page=1.5"] {
        let api = get(&app, &format!("/api/executions?{query}")).await;
        assert_eq!(api.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            api.headers
                .get(header::CONTENT_TYPE)
                .is_some_and(|t| t.to_str().unwrap().starts_with("application/json")),
            "{query}: {api:?}"
        );
        assert_eq!(api.json()["status"], 400, "{query}");

        let page = get(&app, &format!("/executions?{query}")).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            text(&page.body).contains("400 · Bad request"),
            "{query}: {page:?}"
        );
    }
    let api = get(&app, "/api/workflows/refunds?version=abc").await;
    assert_eq!(api.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.json()["status"], 400);
    let page = get(&app, "/workflows/refunds?version=abc").await;
    assert!(text(&page.body).contains("400 · Bad request"), "{page:?}");
}

/// A huge page number is an empty page (or a 400), never a store failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_page_number_is_an_empty_page() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    let uri = format!("/api/executions?page={}&per_page=1000", usize::MAX);
    let reply = get(&app, &uri).await;
    assert!(
        reply.status == StatusCode::OK || reply.status == StatusCode::BAD_REQUEST,
        "{reply:?}"
    );
    if reply.status == StatusCode::OK {
        assert_eq!(reply.json()["executions"], serde_json::json!([]));
    }
}

/// Unknown workflows, versions, exports and routes are 404 pages that say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_workflows_exports_and_routes_are_404() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    for (uri, says) in [
        ("/workflows/nope", "there is no workflow `nope`"),
        (
            "/workflows/orders?version=9",
            "there is no version 9 of workflow `orders`",
        ),
        (
            "/workflows/nope/export/graph.dot",
            "there is no workflow `nope`",
        ),
        (
            "/workflows/orders/export/graph.png",
            "there is no export `graph.png`",
        ),
        ("/nowhere", "there is no such page in the console"),
        (
            "/executions/order-1/nowhere",
            "there is no such page in the console",
        ),
    ] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(reply.header(&header::CONTENT_TYPE).starts_with("text/html"));
        let words = text(&reply.body);
        assert!(words.contains("404 · Not found"), "{uri}: {words}");
        assert!(words.contains(says), "{uri}: {words}");
    }
    let api = get(&app, "/api/workflows/nope").await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert_eq!(api.json()["status"], 404);
}

// ---------------------------------------------------------------------------------------
// Escaping.

#[step(name = "<script>alert(2)</script>")]
async fn hostile(order: Order) -> Result<Order, Error> {
    Err(Error::new(
        "Bad<script>alert(3)</script>",
        format!("<script>alert(4)</script> for {}", order.note),
    ))
}

/// A workflow whose names, error and payload all carry markup.
fn hostile_workflow() -> Workflow<Order, Order> {
    Workflow::new("<script>alert(6)</script>", 1, validate.then(hostile)).with_codec(JsonCodec)
}

/// Markup in ids, workflow and step names, error names and messages, payloads and
/// queries is shown as text on every page and in the SVG, never run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_user_text_is_escaped_everywhere() {
    const ID: &str = "<script>alert(1)</script>";
    let fx = Fixture::empty();
    let order = Order {
        id: 7,
        note: "<script>alert(5)</script>".to_owned(),
    };
    fx.runtime
        .start(&hostile_workflow(), ID, order)
        .await
        .unwrap_err();
    let app = fx.router();
    let workflow = encode("<script>alert(6)</script>");
    let pages = [
        "/executions".to_owned(),
        format!("/executions/{}", encode(ID)),
        format!("/executions?q={}", encode("<script>alert(7)</script>")),
        format!(
            "/executions?workflow={}",
            encode("<script>alert(8)</script>")
        ),
        format!("/executions?status={}", encode("<script>alert(9)</script>")),
        "/workflows".to_owned(),
        format!("/workflows/{workflow}"),
        format!("/workflows/{workflow}?version=2"),
        format!("/executions/{}", encode("<script>alert(10)</script>")),
        format!("/workflows/{}", encode("<script>alert(11)</script>")),
    ];
    for uri in &pages {
        let reply = get(&app, uri).await;
        assert!(
            !reply.body.contains("<script>alert"),
            "{uri} has raw markup: {}",
            reply.body
        );
        assert!(
            reply.body.contains("&lt;script&gt;alert("),
            "{uri}: {}",
            reply.body
        );
    }

    let page = get(&app, &format!("/executions/{}", encode(ID))).await;
    assert_eq!(page.status, StatusCode::OK);
    for n in 1..=6 {
        assert!(
            page.body
                .contains(&format!("&lt;script&gt;alert({n})&lt;/script&gt;")),
            "alert({n}) shown as text: {}",
            page.body
        );
    }
    let svg = svg(&page.body);
    assert!(!svg.contains("<script"), "{svg}");
    assert!(
        svg.contains("&lt;script&gt;alert(2)"),
        "the step's name: {svg}"
    );
    assert!(svg.contains("data-status=\"failed\""), "{svg}");

    // The ASL, which holds the names as they are, is served as JSON, never as a page.
    let asl = get(&app, &format!("/workflows/{workflow}/export/asl.json")).await;
    assert_eq!(asl.header(&header::CONTENT_TYPE), "application/json");
}

#[step]
async fn wipe(order: Order) -> Result<Order, Error> {
    Err(Error::new(
        "TerminalTrick",
        format!("\u{1b}[2J wiped \u{202e}{}", order.note),
    ))
}

/// Control characters and bidirectional overrides in an error message show as visible
/// escapes, so that a message cannot clear a terminal it is pasted in or reorder what
/// is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_show_as_escapes() {
    let fx = Fixture::empty();
    let workflow = Workflow::new("wipes", 1, wipe).with_codec(JsonCodec);
    let order = Order {
        id: 1,
        note: "exe.txt".to_owned(),
    };
    fx.runtime
        .start(&workflow, "wipe-1", order)
        .await
        .unwrap_err();
    let app = fx.router();
    let page = get(&app, "/executions/wipe-1").await;
    assert_eq!(page.status, StatusCode::OK);
    let error = text(section(&page.body, "<section class=\"error-box\">"));
    assert!(error.contains("\\e[2J wiped \\u{202e}exe.txt"), "{error}");
    for page in [
        page,
        get(&app, "/workflows/wipes").await,
        get(&app, "/executions").await,
    ] {
        assert!(
            !page.body.contains(['\u{1b}', '\u{202e}']),
            "a raw control character: {}",
            page.body
        );
    }
}

// ---------------------------------------------------------------------------------------
// Damaged and vanished stores.

/// A checkpoint whose bytes are not JSON any more: the page still shows the execution,
/// and says what is wrong with that payload where it would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_is_not_json_shows_its_problem() {
    let fx = Fixture::standard().await;
    let key = fx.corrupt_checkpoint("order-1", "0.validate", |_| b"{not json".to_vec());
    assert!(key.starts_with("0.validate"), "{key}");
    // With a checksum that matches: bytes a faulty codec wrote, not damaged ones.
    fx.reseal_checkpoint("order-1", &key);
    let app = fx.router();

    let page = get(&app, "/executions/order-1").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let states = section(&page.body, "<section class=\"states\">");
    let validated = text(section(states, "data-address=\"0.validate\""));
    assert!(
        validated.contains("9 bytes, json: invalid JSON"),
        "{validated}"
    );
    assert!(
        text(&page.body).contains("\"cents\": 1499"),
        "the rest is shown"
    );

    let api = get(&app, "/api/executions/order-1").await.json();
    let output = &api["states"][0]["output"];
    assert!(output.get("value").is_none(), "{output}");
    assert!(output["problem"].as_str().unwrap().contains("invalid JSON"));
    assert!(
        api["states"][1]["input"]["problem"].is_string(),
        "the next state's input"
    );
    assert_eq!(api["output"]["value"]["cents"], 1499);
}

/// A checkpoint whose bytes were changed but still read as JSON: its checksum no longer
/// matches, and the console says so instead of showing the changed value as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_does_not_match_its_checksum_is_flagged() {
    let fx = Fixture::standard().await;
    fx.corrupt_checkpoint("order-1", "0.validate", |bytes| {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .replace("\"id\":1", "\"id\":9")
            .into_bytes()
    });
    let api = get(&fx.router(), "/api/executions/order-1").await.json();
    let output = &api["states"][0]["output"];
    assert!(
        output["problem"]
            .as_str()
            .is_some_and(|p| p.contains("checksum")),
        "a changed payload shown as stored: {output}"
    );
}

/// An execution input that does not match its checksum: the store refuses to read it,
/// and the console says so with the id, as a 503, rather than fail without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_that_does_not_match_its_checksum_is_a_clear_503() {
    let fx = Fixture::standard().await;
    let conn = rusqlite::Connection::open(&fx.path).unwrap();
    let changed = conn
        .execute(
            "UPDATE executions SET input = CAST('{\"id\":9,\"note\":\"leave at the door\"}' AS BLOB) \
             WHERE id = 'order-1'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    let app = fx.router();

    let page = get(&app, "/executions/order-1").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    let words = text(&page.body);
    assert!(words.contains("The store cannot be read"), "{words}");
    assert!(words.contains("order-1"), "{words}");
    assert!(words.contains("checksum"), "{words}");

    let api = get(&app, "/api/executions/order-1").await;
    assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = api.json();
    assert_eq!(error["status"], 503);
    assert!(
        error["error"].as_str().unwrap().contains("order-1"),
        "{error}"
    );

    // The other executions are still shown one by one.
    assert_eq!(
        get(&app, "/executions/refund-1").await.status,
        StatusCode::OK
    );
}

/// A stored graph that cannot be read: the execution page shows everything else and
/// says why there is no graph.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_that_cannot_be_read_still_shows_the_execution() {
    let fx = Fixture::standard().await;
    let conn = rusqlite::Connection::open(&fx.path).unwrap();
    conn.execute(
        "UPDATE executions SET graph = '{' WHERE id = 'refund-1'",
        [],
    )
    .unwrap();
    let app = fx.router();
    let page = get(&app, "/executions/refund-1").await;
    assert_eq!(page.status, StatusCode::OK);
    let words = text(&page.body);
    assert!(words.contains("the stored graph cannot be read"), "{words}");
    assert!(words.contains("PaymentDeclined"), "{words}");
    assert!(words.contains("StepFailed"), "the history: {words}");
    let api = get(&app, "/api/executions/refund-1").await;
    assert_eq!(api.status, StatusCode::OK);
}

/// A store closed under a running console: pages answer 503 saying the store cannot be
/// read, and the API a JSON 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_answers_503() {
    let fx = Fixture::standard().await;
    let app = fx.router();
    fx.store.close();
    for uri in [
        "/executions",
        "/executions/order-1",
        "/workflows",
        "/workflows/orders",
    ] {
        let page = get(&app, uri).await;
        assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        let words = text(&page.body);
        assert!(
            words.contains("503 · The store cannot be read"),
            "{uri}: {words}"
        );
        assert!(words.contains("closed"), "{uri}: {words}");
    }
    for uri in [
        "/api/executions",
        "/api/executions/order-1",
        "/api/executions/order-1/history",
        "/api/workflows/orders",
    ] {
        let api = get(&app, uri).await;
        assert_eq!(api.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(api.json()["status"], 503, "{uri}");
    }
    // What does not need the store still works.
    assert_eq!(
        get(&app, "/static/console.css").await.status,
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------------------
// Actions.

/// Cancel without the token is refused, and says how to get the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_without_the_token_is_refused() {
    let fx = Fixture::empty();
    fx.queue("queued-1").await;
    let app = fx.router();
    for headers in [
        &[][..],
        &[("authorization", "Bearer wrong")],
        &[("authorization", "t")],
        &[("cookie", "waypost_console_token=wrong")],
    ] {
        let reply = post(&app, "/api/executions/queued-1/cancel", headers).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
        let error = reply.json();
        assert_eq!(error["status"], 403);
        assert!(
            error["error"].as_str().unwrap().contains("token"),
            "{error}"
        );
    }
    let form = post(&app, "/executions/queued-1/cancel", &[]).await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(text(&form.body).contains("needs the console's token"));
    assert_eq!(fx.status("queued-1").await, ExecutionStatus::Running);
}

/// Cancel with the bearer token cancels a running execution in the store; a second
/// cancel is a 409, since it has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_with_the_bearer_token_cancels_once() {
    let fx = Fixture::empty();
    fx.queue("queued-1").await;
    let app = fx.router();
    let bearer = [("authorization", "Bearer t")];

    let reply = post(&app, "/api/executions/queued-1/cancel", &bearer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({"id": "queued-1", "status": "cancelled"})
    );
    assert_eq!(fx.status("queued-1").await, ExecutionStatus::Cancelled);
    let api = get(&app, "/api/executions/queued-1").await.json();
    assert_eq!(api["status"], "cancelled");

    let again = post(&app, "/api/executions/queued-1/cancel", &bearer).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let error = again.json();
    assert_eq!(error["status"], 409);
    assert!(
        error["error"].as_str().unwrap().contains("queued-1"),
        "{error}"
    );

    let unknown = post(&app, "/api/executions/nope/cancel", &bearer).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// Pause and unpause through the API: an action, with the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_and_unpause_through_the_api() {
    let fx = Fixture::empty();
    fx.queue("queued-1").await;
    let app = fx.router();
    let bearer = [("authorization", "Bearer t")];

    let refused = post(&app, "/api/executions/queued-1/pause", &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let paused = post(&app, "/api/executions/queued-1/pause", &bearer).await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.body);
    assert_eq!(
        paused.json(),
        serde_json::json!({"id": "queued-1", "paused": true, "changed": true})
    );
    let again = post(&app, "/api/executions/queued-1/pause", &bearer).await;
    assert_eq!(again.json()["changed"], false);
    let badge = |page: &str| {
        let at = page.find("class=\"badge").expect("a status badge");
        page[at..at + page[at..].find("</span>").unwrap()].to_owned()
    };
    let page = get(&app, "/executions/queued-1").await.body;
    assert!(badge(&page).contains(", paused"), "{}", badge(&page));
    let unpaused = post(&app, "/api/executions/queued-1/unpause", &bearer).await;
    assert_eq!(unpaused.json()["paused"], false);
    let page = get(&app, "/executions/queued-1").await.body;
    assert!(!badge(&page).contains("paused"), "{}", badge(&page));
    let history = get(&app, "/api/executions/queued-1/history").await.json();
    let kinds: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"ExecutionPaused") && kinds.contains(&"ExecutionUnpaused"),
        "{kinds:?}"
    );

    let unknown = post(&app, "/api/executions/nope/pause", &bearer).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// A callback answered through the API; malformed, unknown and reused tokens get the
/// statuses they deserve, each with a message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_answered_through_the_api() {
    let fx = Fixture::empty();
    let outbox: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
    let sent = outbox.clone();
    let approve = wait_for_callback("approve", move |_n: u32, token: CallbackToken| {
        let sent = sent.clone();
        async move {
            *sent.lock().unwrap() = Some(token.to_string());
            Ok(())
        }
    });
    let wf: Workflow<u32, String> = Workflow::new("approve", 1, approve);
    let run = tokio::spawn({
        let runtime = fx.runtime.clone();
        async move { runtime.start(&wf, "cb-1", 1).await }
    });
    let token = loop {
        if let Some(token) = outbox.lock().unwrap().clone() {
            break token;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let app = fx.router();
    let send = async |action: &str, body: Value| {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/callbacks/{action}"))
            .header("authorization", "Bearer t")
            .body(Body::from(body.to_string()))
            .unwrap();
        send(&app, request).await
    };

    let malformed = send(
        "succeed",
        serde_json::json!({"token": "nope", "output": "x"}),
    )
    .await;
    assert_eq!(
        malformed.status,
        StatusCode::BAD_REQUEST,
        "{}",
        malformed.body
    );
    assert!(
        malformed.json()["error"]
            .as_str()
            .unwrap()
            .contains("not a waypost callback token")
    );
    let forged = format!("wpt1.{}{}", "0".repeat(32), &token[37..]);
    let unknown = send(
        "succeed",
        serde_json::json!({"token": forged, "output": "x"}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let no_output = send("succeed", serde_json::json!({"token": token})).await;
    assert_eq!(
        no_output.status,
        StatusCode::BAD_REQUEST,
        "{}",
        no_output.body
    );
    let beat = send("heartbeat", serde_json::json!({"token": token})).await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.body);

    let ok = send(
        "succeed",
        serde_json::json!({"token": token, "output": "approved"}),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["execution_id"], "cb-1");
    assert_eq!(ok.json()["message"], 1, "the heartbeat was message 0");
    let output = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(output.unwrap(), "approved");
    let reused = send(
        "succeed",
        serde_json::json!({"token": token, "output": "again"}),
    )
    .await;
    assert_eq!(reused.status, StatusCode::CONFLICT, "{}", reused.body);
}

/// A child execution's page links its parent, and the parent's page its children
/// (ids with `/`, percent-encoded in the links).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parent_and_child_pages_link_each_other() {
    let fx = Fixture::empty();
    let double = step_fn("double", |x: u32| async move { Ok::<_, Error>(2 * x) });
    let inner = Workflow::new("doubler", 1, double);
    let parent = Workflow::new("parent", 1, waypost::child(&inner));
    fx.runtime.start(&parent, "fam-1", 4).await.unwrap();
    let app = fx.router();
    let child = get(&app, "/executions/fam-1%2F0.doubler").await;
    assert_eq!(child.status, StatusCode::OK, "{}", child.body);
    assert!(
        child.body.contains(r#"href="/executions/fam-1""#),
        "a link to the parent"
    );
    let page = get(&app, "/executions/fam-1").await;
    assert!(
        page.body
            .contains(r#"href="/executions/fam-1%2F0.doubler""#),
        "a link to the child"
    );
}

/// A request another site's page made is refused even with the right token; the
/// console's own pages (same origin) are allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_from_another_site_are_refused() {
    let fx = Fixture::empty();
    fx.queue("queued-1").await;
    let app = fx.router();
    for headers in [
        [
            ("authorization", "Bearer t"),
            ("origin", "http://evil.example"),
        ],
        [
            ("authorization", "Bearer t"),
            ("sec-fetch-site", "cross-site"),
        ],
        [("cookie", "waypost_console_token=t"), ("origin", "null")],
    ] {
        let reply = post(&app, "/api/executions/queued-1/cancel", &headers).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .contains("another site"),
            "{headers:?}"
        );
        let form = post(&app, "/executions/queued-1/cancel", &headers).await;
        assert_eq!(form.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(fx.status("queued-1").await, ExecutionStatus::Running);

    let same = post(
        &app,
        "/executions/queued-1/cancel",
        &[
            ("host", "127.0.0.1:7070"),
            ("origin", "http://127.0.0.1:7070"),
            ("sec-fetch-site", "same-origin"),
            ("cookie", "waypost_console_token=t"),
        ],
    )
    .await;
    assert_eq!(same.status, StatusCode::SEE_OTHER, "{}", same.body);
    assert_eq!(fx.status("queued-1").await, ExecutionStatus::Cancelled);
}

/// A read-only console refuses every action and says it is read-only, and shows no
/// action buttons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_console_refuses_actions() {
    let fx = Fixture::standard().await;
    fx.queue("queued-1").await;
    let console = fx.console().register(&refunds()).read_only();
    assert_eq!(console.token(), None);
    assert_eq!(console.login_path(), None);
    let app = console.router();
    let bearer = [("authorization", "Bearer t")];
    for uri in [
        "/api/executions/queued-1/cancel",
        "/api/executions/refund-1/redrive",
    ] {
        let reply = post(&app, uri, &bearer).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap()
                .contains("read-only"),
            "{uri}"
        );
    }
    let form = post(&app, "/executions/queued-1/cancel", &bearer).await;
    assert_eq!(form.status, StatusCode::FORBIDDEN);
    assert!(text(&form.body).contains("read-only"));
    assert_eq!(
        get(&app, "/login?token=t").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(fx.status("queued-1").await, ExecutionStatus::Running);

    let page = get(&app, "/executions/queued-1").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("<form method=\"post\""),
        "{}",
        page.body
    );
}

/// The login link sets the token as an `HttpOnly`, `SameSite=Strict` cookie and goes to
/// the executions; with it, the execution page shows the cancel button, and the form
/// cancels and comes back to the execution's page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_then_cancel_from_the_page() {
    let fx = Fixture::empty();
    fx.queue("queued-1").await;
    let console = fx.console();
    assert_eq!(console.login_path().as_deref(), Some("/login?token=t"));
    let app = console.router();

    let login = get(&app, "/login?token=t").await;
    assert_eq!(login.status, StatusCode::SEE_OTHER);
    assert_eq!(login.header(&header::LOCATION), "/executions");
    let cookie = login.header(&header::SET_COOKIE);
    assert!(cookie.starts_with("waypost_console_token=t;"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();

    let anonymous = get(&app, "/executions/queued-1").await;
    assert!(!anonymous.body.contains("Cancel execution"));
    assert!(text(&anonymous.body).contains("open the login link"));

    let signed_in = send(
        &app,
        Request::get("/executions/queued-1")
            .header(header::COOKIE, format!("theme=dark; {pair}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        signed_in
            .body
            .contains("<form method=\"post\" action=\"/executions/queued-1/cancel\">"),
        "{}",
        signed_in.body
    );
    assert!(signed_in.body.contains("Cancel execution"));

    let cancel = post(
        &app,
        "/executions/queued-1/cancel",
        &[
            ("cookie", pair),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
    )
    .await;
    assert_eq!(cancel.status, StatusCode::SEE_OTHER, "{}", cancel.body);
    assert_eq!(cancel.header(&header::LOCATION), "/executions/queued-1");
    assert_eq!(fx.status("queued-1").await, ExecutionStatus::Cancelled);

    let again = post(&app, "/executions/queued-1/cancel", &[("cookie", pair)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(text(&again.body).contains("409 · Not possible now"));
}

/// A console made without a token gets a fresh random one of 128 bits, so that actions
/// are never open by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_gets_a_random_token() {
    let fx = Fixture::empty();
    let first = Console::new(fx.runtime.clone()).unwrap();
    let second = Console::new(fx.runtime.clone()).unwrap();
    let token = first.token().unwrap().to_owned();
    assert_eq!(token.len(), 32, "{token}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    assert_ne!(Some(token.as_str()), second.token());
    assert_eq!(first.login_path(), Some(format!("/login?token={token}")));
    let app = first.router();
    fx.queue("queued-1").await;
    let bearer = format!("Bearer {token}");
    let reply = post(
        &app,
        "/api/executions/queued-1/cancel",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let empty = Console::new(Runtime::new());
    assert!(empty.is_err(), "a console needs a store");
}

/// A wrong token at the login link is refused, and no cookie is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_a_wrong_token_is_refused() {
    let fx = Fixture::empty();
    let app = fx.router();
    for uri in ["/login?token=wrong", "/login?token=", "/login?token=tt"] {
        let reply = get(&app, uri).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{uri}");
        assert!(reply.headers.get(header::SET_COOKIE).is_none(), "{uri}");
        assert!(
            text(&reply.body).contains("not the console's token"),
            "{uri}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Redrive.

/// Whether `sync` fails; only `redrive_runs_the_failed_execution_again` sets it.
static WAREHOUSE_DOWN: AtomicBool = AtomicBool::new(true);

#[step]
async fn extract(day: u32) -> u32 {
    day
}

#[step]
async fn sync(day: u32) -> Result<u32, Error> {
    if WAREHOUSE_DOWN.load(Ordering::SeqCst) {
        return Err(Error::new("Unavailable", "the warehouse is down"));
    }
    Ok(day)
}

/// Fails in its second step while the warehouse is down; bincode payloads.
fn nightly() -> Workflow<u32, u32> {
    Workflow::new("nightly", 1, extract.then(sync))
}

/// An embedded console that registers the workflow redrives its failed execution,
/// which then runs to success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_runs_the_failed_execution_again() {
    let fx = Fixture::empty();
    fx.runtime
        .start(&nightly(), "nightly-1", 20250102)
        .await
        .unwrap_err();
    assert_eq!(fx.status("nightly-1").await, ExecutionStatus::Failed);
    let app = fx.console().register(&nightly()).router();

    let page = send(
        &app,
        Request::get("/executions/nightly-1")
            .header(header::AUTHORIZATION, "Bearer t")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(
        page.body
            .contains("<form method=\"post\" action=\"/executions/nightly-1/redrive\">"),
        "{}",
        page.body
    );

    WAREHOUSE_DOWN.store(false, Ordering::SeqCst);
    let reply = post(
        &app,
        "/api/executions/nightly-1/redrive",
        &[("authorization", "Bearer t")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.json(),
        serde_json::json!({"id": "nightly-1", "status": "running"})
    );
    eventually("the redriven execution succeeds", || async {
        fx.status("nightly-1").await == ExecutionStatus::Succeeded
    })
    .await;
    let record = fx.store.execution("nightly-1").await.unwrap();
    assert_eq!(record.redrives, 1);
    let api = get(&app, "/api/executions/nightly-1").await.json();
    assert_eq!(api["status"], "succeeded");
    assert_eq!(api["redrives"], 1);
    assert_eq!(api["output"]["value"], 20250102);
}

/// Redrive needs the workflow's code (a registering console) and a failed execution;
/// otherwise it is a 409 that says why, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redrive_needs_the_code_and_a_failed_execution() {
    let fx = Fixture::standard().await;
    let bearer = [("authorization", "Bearer t")];

    let bare = fx.router();
    let reply = post(&bare, "/api/executions/refund-1/redrive", &bearer).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    let error = reply.json();
    assert_eq!(error["status"], 409);
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("needs the code of workflow `refunds` v1"),
        "{message}"
    );
    assert!(message.contains("Console::register"), "{message}");
    let page = get(&bare, "/executions/refund-1").await;
    assert!(
        text(&page.body).contains("Redrive runs the workflow's code"),
        "the page says so too"
    );

    let typed = fx
        .console()
        .register(&orders())
        .register(&refunds())
        .router();
    let reply = post(&typed, "/api/executions/order-1/redrive", &bearer).await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    let message = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.contains("only a failed execution can be redriven"),
        "{message}"
    );
    let form = post(&typed, "/executions/order-1/redrive", &bearer).await;
    assert_eq!(form.status, StatusCode::CONFLICT);

    let anonymous = post(&typed, "/api/executions/refund-1/redrive", &[]).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    let unknown = post(&typed, "/api/executions/nope/redrive", &bearer).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    assert_eq!(fx.status("refund-1").await, ExecutionStatus::Failed);
    assert_eq!(fx.status("order-1").await, ExecutionStatus::Succeeded);
    assert_eq!(fx.store.execution("refund-1").await.unwrap().redrives, 0);
}

// ---------------------------------------------------------------------------------------
// Many executions.

/// With 10,000 executions, the last page of 50 lists exactly the 50 oldest, and the
/// page after it is empty with no next link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_executions_page_to_the_oldest() {
    const COUNT: usize = 10_000;
    let fx = Fixture::empty();
    let graph = serde_json::to_string(orders().graph()).unwrap();
    for chunk in (0..COUNT).collect::<Vec<_>>().chunks(1000) {
        let creates = chunk.iter().map(|&i| {
            fx.store.create(NewExecution {
                id: format!("bulk-{i:05}"),
                workflow: "orders".to_owned(),
                version: 1,
                fingerprint: "f".to_owned(),
                codec: "json".to_owned(),
                input: b"{}".to_vec(),
                graph: graph.clone(),
                created_ms: 1_700_000_000_000 + i as u64,
            })
        });
        for result in futures::future::join_all(creates).await {
            assert!(result.unwrap().1, "created");
        }
    }
    let app = fx.router();

    let last = get(&app, "/executions?page=200&per_page=50").await;
    assert_eq!(last.status, StatusCode::OK);
    let expected: Vec<String> = (0..50).rev().map(|i| format!("bulk-{i:05}")).collect();
    assert_eq!(row_ids(&last.body), expected);
    assert!(
        last.body
            .contains("rel=\"prev\" href=\"/executions?page=199\""),
        "{}",
        last.body
    );
    assert!(!last.body.contains("rel=\"next\""), "no page 201");

    let before = get(&app, "/executions?page=199&per_page=50").await;
    assert_eq!(row_ids(&before.body)[0], "bulk-00099");
    assert!(
        before
            .body
            .contains("rel=\"next\" href=\"/executions?page=200\"")
    );

    let past = get(&app, "/executions?page=201&per_page=50").await;
    assert_eq!(past.status, StatusCode::OK);
    assert!(row_ids(&past.body).is_empty());
    assert!(text(&past.body).contains("No executions on this page."));
    assert!(!past.body.contains("rel=\"next\""));
    assert!(
        past.body
            .contains("rel=\"prev\" href=\"/executions?page=200\"")
    );

    let api = get(&app, "/api/executions?page=200&per_page=50")
        .await
        .json();
    assert_eq!(api["has_next"], false);
    let ids: Vec<&str> = api["executions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, expected);
    let first = get(&app, "/api/executions?per_page=1000").await.json();
    assert_eq!(first["executions"][0]["id"], "bulk-09999");
    assert_eq!(first["has_next"], true);
}

// ---------------------------------------------------------------------------------------
// The workflows.

/// The token of every console in these tests.
const TOKEN: &str = "t";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    id: u32,
    note: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Receipt {
    order: u32,
    cents: u64,
}

#[step]
async fn validate(order: Order) -> Result<Order, Error> {
    Ok(order)
}

#[step]
async fn charge(order: Order) -> Receipt {
    Receipt {
        order: order.id,
        cents: 1499,
    }
}

/// Two steps, JSON payloads.
fn orders() -> Workflow<Order, Receipt> {
    Workflow::new("orders", 1, validate.then(charge)).with_codec(JsonCodec)
}

#[step]
async fn lookup(id: u32) -> u32 {
    id
}

#[step]
async fn refund(id: u32) -> Result<u32, Error> {
    Err(
        Error::terminal("PaymentDeclined", format!("refund {id} was declined")).caused_by(
            Error::new("GatewayError", "issuer answered 05: do not honor"),
        ),
    )
}

/// Fails in its second step with an error that has a cause; JSON payloads.
fn refunds() -> Workflow<u32, u32> {
    Workflow::new("refunds", 1, lookup.then(refund)).with_codec(JsonCodec)
}

#[step]
async fn price(item: u32) -> u64 {
    u64::from(item) * 250
}

#[step]
async fn total(prices: Vec<u64>) -> u64 {
    prices.iter().sum()
}

/// A map over the items, then a sum; bincode payloads (the default codec).
fn pricing() -> Workflow<Vec<u32>, u64> {
    Workflow::new("pricing", 2, map(price).max_concurrency(1).then(total))
}

#[step]
async fn fetch_rows(count: u32) -> Vec<u32> {
    (0..count).collect()
}

/// Rows from 2 on never finish: the execution stays in flight until it is dropped.
#[step]
async fn load_row(row: u32) -> u32 {
    if row >= 2 {
        std::future::pending::<()>().await;
    }
    row
}

#[step]
async fn summarize(rows: Vec<u32>) -> u32 {
    rows.len() as u32
}

/// A map that hangs on its third item; JSON payloads.
fn import() -> Workflow<u32, u32> {
    Workflow::new(
        "import",
        1,
        fetch_rows
            .then(map(load_row).max_concurrency(1).named("load"))
            .then(summarize),
    )
    .with_codec(JsonCodec)
}

// ---------------------------------------------------------------------------------------
// The fixture.

/// A SQLite store in a temporary directory, and a runtime over it.
struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
    runtime: Runtime,
}

impl Fixture {
    /// An empty store.
    fn empty() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("waypost.db");
        let options = SqliteStoreOptions {
            durability: Durability::Os,
            ..SqliteStoreOptions::default()
        };
        let store = SqliteStore::open_with(&path, options).unwrap();
        let runtime = Runtime::builder().store(store.clone()).build();
        Fixture {
            _dir: dir,
            path,
            store,
            runtime,
        }
    }

    /// A store holding, oldest first:
    ///
    /// | id          | workflow     | codec   | status                                     |
    /// |-------------|--------------|---------|--------------------------------------------|
    /// | `order-1`   | `orders` v1  | json    | succeeded                                  |
    /// | `refund-1`  | `refunds` v1 | json    | failed: `PaymentDeclined` with a cause     |
    /// | `pricing-1` | `pricing` v2 | bincode | succeeded: a map over three items          |
    /// | `import-1`  | `import` v1  | json    | running: interrupted in a map, 2 of 4 done |
    async fn standard() -> Fixture {
        let fx = Fixture::empty();
        let rt = &fx.runtime;
        let order = Order {
            id: 1,
            note: "leave at the door".to_owned(),
        };
        rt.start(&orders(), "order-1", order).await.unwrap();
        fx.tick().await;
        rt.start(&refunds(), "refund-1", 42).await.unwrap_err();
        fx.tick().await;
        rt.start(&pricing(), "pricing-1", vec![4, 1, 7])
            .await
            .unwrap();
        fx.tick().await;
        fx.interrupt_import("import-1").await;
        fx
    }

    /// Waits for the clock to move on, so that the next execution is newer.
    async fn tick(&self) {
        let now = now_ms();
        while now_ms() <= now + 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Starts `import` as `id` and drops it once two of its four items finished: it is
    /// left running, with no runner.
    async fn interrupt_import(&self, id: &str) {
        let run = tokio::spawn({
            let runtime = self.runtime.clone();
            let id = id.to_owned();
            async move { runtime.start(&import(), id, 4).await }
        });
        eventually("two rows of the import are stored", || async {
            self.store.history(id).await.is_ok_and(|history| {
                history
                    .iter()
                    .filter(|e| {
                        e.kind == EventKind::StepSucceeded && e.address.contains("load_row")
                    })
                    .count()
                    == 2
            })
        })
        .await;
        run.abort();
        let _ = run.await;
        eventually("the import's lease is released", || async {
            self.store.execution(id).await.unwrap().lease.is_none()
        })
        .await;
    }

    /// Submits an `orders` execution `id` that no worker runs: it stays running.
    async fn queue(&self, id: &str) {
        let order = Order {
            id: 2,
            note: "queued".to_owned(),
        };
        self.runtime.submit(&orders(), id, order).await.unwrap();
    }

    /// The stored status of execution `id`.
    async fn status(&self, id: &str) -> ExecutionStatus {
        self.store.execution(id).await.unwrap().status
    }

    /// Rewrites the payload of the checkpoint of execution `id` whose key starts with
    /// `key` in the file, behind the store's back (its checksum unchanged); returns the
    /// whole key.
    fn corrupt_checkpoint(&self, id: &str, key: &str, change: impl Fn(&[u8]) -> Vec<u8>) -> String {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let (key, payload): (String, Vec<u8>) = conn
            .query_row(
                "SELECT key, payload FROM checkpoints WHERE execution_id = ?1 \
                 AND substr(key, 1, length(?2)) = ?2",
                rusqlite::params![id, key],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        let changed = change(&payload);
        assert_ne!(changed, payload, "the payload changes");
        conn.execute(
            "UPDATE checkpoints SET payload = ?1 WHERE execution_id = ?2 AND key = ?3",
            rusqlite::params![changed, id, key],
        )
        .unwrap();
        key
    }

    /// Stores the checksum of checkpoint `key`'s current bytes, as if written so.
    fn reseal_checkpoint(&self, id: &str, key: &str) {
        let conn = rusqlite::Connection::open(&self.path).unwrap();
        let payload: Vec<u8> = conn
            .query_row(
                "SELECT payload FROM checkpoints WHERE execution_id = ?1 AND key = ?2",
                rusqlite::params![id, key],
                |row| row.get(0),
            )
            .unwrap();
        conn.execute(
            "UPDATE checkpoints SET checksum = ?1 WHERE execution_id = ?2 AND key = ?3",
            rusqlite::params![waypost::replay::checksum(&payload), id, key],
        )
        .unwrap();
    }

    /// A console over the store with the token [`TOKEN`] and no workflow registered.
    fn console(&self) -> Console {
        Console::new(self.runtime.clone())
            .unwrap()
            .with_token(TOKEN)
    }

    /// The router of [`console`](Self::console).
    fn router(&self) -> Router {
        self.console().router()
    }
}

/// Milliseconds since the Unix epoch, as the runtime stamps executions.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Polls `done` until it holds, for at most 20 s.
async fn eventually<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ---------------------------------------------------------------------------------------
// Requests.

/// What the console answered.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &header::HeaderName) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {self:?}"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

async fn get(app: &Router, uri: &str) -> Reply {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// A POST with these headers.
async fn post(app: &Router, uri: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = Request::builder().method(Method::POST).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

/// Percent-encodes `text` for a path segment.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Reading pages.

/// The ids of the rows of an executions table, in order.
fn row_ids(html: &str) -> Vec<String> {
    html.match_indices("<tr data-id=\"")
        .map(|(at, found)| {
            let rest = &html[at + found.len()..];
            unescape(&rest[..rest.find('"').unwrap()])
        })
        .collect()
}

/// The row of execution `id` in an executions table.
fn row<'a>(html: &'a str, id: &str) -> &'a str {
    section(html, &format!("<tr data-id=\"{id}\""))
}

/// The element that starts with `start`, up to its end (by tag nesting).
fn section<'a>(html: &'a str, start: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("no `{start}` in {html}"));
    let rest = &html[from..];
    let name_end = rest[1..].find([' ', '>']).map_or(rest.len(), |i| i + 1);
    let tag = if rest.starts_with('<') {
        &rest[1..name_end]
    } else {
        // Started inside a tag: find its opening `<`.
        let open = html[..from].rfind('<').unwrap();
        return section(html, &html[open..from + start.len()]);
    };
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut depth = 0;
    let mut at = 0;
    loop {
        let next_open = rest[at..].find(&open).map(|i| at + i);
        let next_close = rest[at..]
            .find(&close)
            .map(|i| at + i)
            .unwrap_or_else(|| panic!("`{start}` is not closed"));
        match next_open {
            Some(o) if o < next_close => {
                depth += 1;
                at = o + open.len();
            }
            _ => {
                depth -= 1;
                at = next_close + close.len();
                if depth == 0 {
                    return &rest[..at];
                }
            }
        }
    }
}

/// The inline SVG of the graph.
fn svg(html: &str) -> &str {
    section(html, "<svg")
}

/// The text of `html`: tags dropped, entities of `<>&"` read, blanks folded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
