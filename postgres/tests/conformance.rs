//! The `Store` contract (`waypost_core::conformance`) on PostgreSQL: the same checks as
//! `MemoryStore` and `SqliteStore` pass, each test in a schema of its own.

mod support;

async fn fresh() -> Option<support::Fresh> {
    support::Fresh::new().await
}

waypost_core::store_conformance!(optional fresh);
