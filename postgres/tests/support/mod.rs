//! The PostgreSQL the tests run against (`WAYPOST_TEST_POSTGRES`), one schema per test.
#![allow(dead_code, reason = "each test file uses its own part")]

use std::ops::Deref;
use std::sync::Once;

use waypost_postgres::{PostgresOptions, PostgresStore};

/// The URL of the test server: `None` (and one line saying the tests are skipped)
/// without `WAYPOST_TEST_POSTGRES`. On CI (`CI` set) a missing URL fails the test.
pub(crate) fn url() -> Option<String> {
    match std::env::var("WAYPOST_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "WAYPOST_TEST_POSTGRES is not set, and CI is: the PostgreSQL tests must run \
                 (.ci/run sets it to postgres://postgres@127.0.0.1:5432/test)"
            );
            static SAID: Once = Once::new();
            SAID.call_once(|| {
                println!("PostgreSQL tests skipped: WAYPOST_TEST_POSTGRES is not set");
            });
            None
        }
    }
}

/// A schema name no other test uses.
pub(crate) fn unique_schema(prefix: &str) -> String {
    format!(
        "t_{prefix}_{}_{:08x}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// A store in a schema of its own, dropped with it.
pub(crate) struct Fresh {
    pub(crate) store: PostgresStore,
    pub(crate) schema: String,
    pub(crate) url: String,
}

impl Fresh {
    /// A fresh store, or `None` when the tests are skipped.
    pub(crate) async fn new() -> Option<Fresh> {
        Self::with(PostgresOptions::default()).await
    }

    /// A fresh store with `options` (its schema replaced by a unique one).
    pub(crate) async fn with(mut options: PostgresOptions) -> Option<Fresh> {
        let url = url()?;
        let schema = unique_schema("s");
        options.schema = schema.clone();
        let store = PostgresStore::connect_with(&url, options).await.unwrap();
        Some(Fresh { store, schema, url })
    }
}

impl Deref for Fresh {
    type Target = PostgresStore;
    fn deref(&self) -> &PostgresStore {
        &self.store
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // Dropped on a runtime thread: drop the schema from a thread of its own.
        let _ = std::thread::spawn(move || drop_schema(&url, &schema)).join();
    }
}

/// Drops `schema` on the server at `url`.
pub(crate) fn drop_schema(url: &str, schema: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .await
            .unwrap();
    });
}
