//! Opening the store named by `--store`: a SQLite file, or PostgreSQL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use waypost::{SqliteStore, Store};
use waypost_postgres::{PostgresOptions, PostgresStore};

/// The store `--store` names: a PostgreSQL URL (`postgres://user@host:port/db`, its
/// tables in `schema`), or a SQLite file, created if it does not exist. A
/// PostgreSQL that cannot be reached yet (it is starting) is waited for, a minute at
/// most, saying so at each try.
pub(crate) async fn open_store(store: &Path, schema: &str) -> anyhow::Result<Arc<dyn Store>> {
    let text = store.to_string_lossy();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let store = PostgresStore::connect_retrying(
            &text,
            PostgresOptions::builder().schema(schema.to_owned()).build(),
            Duration::from_secs(60),
            |error, pause| eprintln!("waiting for PostgreSQL: {error}; trying again in {pause:?}"),
        )
        .await?;
        return Ok(Arc::new(store));
    }
    // Its errors name the file and what is wrong with it.
    Ok(Arc::new(SqliteStore::open(store)?))
}
