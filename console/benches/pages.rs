//! The console's executions page over a store of 10,000 executions (SQLite, a temporary
//! file), against reading the same page of records from the store directly in the same
//! run: the ratio is what the console adds (its query, the HTML, the response). The
//! issue's target is under 200 ms per page, first and last page alike.
//!
//! `cargo bench -p waypost-console --bench pages`

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use criterion::Criterion;
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;
use waypost::prelude::*;
use waypost::store::{ListFilter, NewExecution, Store};
use waypost::{SqliteStore, SqliteStoreOptions};
use waypost_console::Console;

const EXECUTIONS: u64 = 10_000;
const PER_PAGE: usize = 50;

fn main() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(
        dir.path().join("pages.db"),
        SqliteStoreOptions {
            durability: waypost::Durability::Os,
            ..SqliteStoreOptions::default()
        },
    )
    .unwrap();
    let graph =
        serde_json::to_string(Workflow::new("orders", 1, pass("p", |x: u32| x)).graph()).unwrap();
    tokio.block_on(async {
        for i in 0..EXECUTIONS {
            store
                .create(NewExecution {
                    id: format!("order-{i:05}"),
                    workflow: "orders".to_owned(),
                    version: 1,
                    fingerprint: "f".to_owned(),
                    codec: "json".to_owned(),
                    input: b"1".to_vec(),
                    graph: graph.clone(),
                    created_ms: 1_700_000_000_000 + i,
                })
                .await
                .unwrap();
        }
    });
    let runtime = Runtime::builder().store(store.clone()).build();
    let router = Console::new(runtime).unwrap().router();

    let mut criterion = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    let mut group = criterion.benchmark_group("console_executions_page");
    for page in [1, EXECUTIONS as usize / PER_PAGE] {
        group.bench_function(format!("store_list/page_{page}"), |b| {
            b.to_async(&tokio).iter(|| async {
                let filter = ListFilter {
                    offset: (page - 1) * PER_PAGE,
                    limit: Some(PER_PAGE + 1),
                    ..ListFilter::default()
                };
                assert!(!store.list(&filter).await.unwrap().is_empty());
            });
        });
        group.bench_function(format!("page/page_{page}"), |b| {
            b.to_async(&tokio).iter(|| async {
                let request = Request::get(format!("/executions?page={page}"))
                    .body(Body::empty())
                    .unwrap();
                let response = router.clone().oneshot(request).await.unwrap();
                assert!(response.status().is_success());
                let body = response.into_body().collect().await.unwrap().to_bytes();
                assert!(body.len() > 10_000);
            });
        });
    }
    group.finish();
    criterion.final_summary();
}
