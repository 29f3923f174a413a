//! Points on PostgreSQL (`WAYPOST_TEST_POSTGRES`; skipped with a line without it, and
//! failing on CI without it). Each point leaves its execution in the database.

use waypost::bench::{BenchError, BenchStore, MapBench};
use waypost::prelude::*;

#[step]
async fn double(x: u64) -> u64 {
    2 * x
}

#[step]
fn triple(x: u64) -> u64 {
    3 * x
}

/// The test server's URL, or `None` (with a line) when the tests are skipped.
fn url() -> Option<String> {
    match std::env::var("WAYPOST_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "WAYPOST_TEST_POSTGRES is not set, and CI is: the PostgreSQL tests must run \
                 (.ci/run sets it to postgres://postgres@127.0.0.1:5432/test)"
            );
            println!("PostgreSQL test skipped: WAYPOST_TEST_POSTGRES is not set");
            None
        }
    }
}

#[tokio::test]
async fn every_item_is_counted_on_postgres() {
    let Some(url) = url() else { return };
    let store: BenchStore = url.parse().unwrap();
    assert_eq!(store.to_string(), "postgres");
    let report = MapBench::map(double)
        .items(0..20)
        .concurrency([1, 4])
        .batch_sizes([1, 5])
        .stores([store.clone()])
        .progress(false)
        .run()
        .await
        .unwrap();
    assert_eq!(report.points.len(), 4);
    assert!(
        report
            .points
            .iter()
            .all(|p| p.items == 20 && p.store == store)
    );
    let measured = MapBench::par_map(triple)
        .items(0..20)
        .measure(2, 3, &store)
        .await
        .unwrap();
    assert_eq!(measured.items, 20);
}

#[tokio::test]
async fn an_unreachable_server_is_an_error_naming_the_store() {
    let store: BenchStore = "postgres://nobody@127.0.0.1:1/none".parse().unwrap();
    let error = MapBench::map(double)
        .items(0..3)
        .measure(1, 1, &store)
        .await
        .unwrap_err();
    assert!(matches!(error, BenchError::Store { .. }), "{error:?}");
    assert!(
        error
            .to_string()
            .starts_with("cannot open the postgres store for the benchmark of `double`: "),
        "{error}"
    );
}
