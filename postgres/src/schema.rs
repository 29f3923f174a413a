//! Creating the store's tables and bringing older ones to this build's version; a
//! newer version is refused, leaving it untouched.

use waypost_core::store::StoreError;

use crate::error;
use crate::sql::{migrations, quote};

/// The schema version this build writes and reads.
pub(crate) fn current() -> u32 {
    u32::try_from(migrations("x").len()).unwrap_or(u32::MAX)
}

/// Creates or migrates the store in `schema`, under a transaction-scoped advisory lock
/// so that many processes starting at once migrate once.
pub(crate) async fn migrate(
    client: &mut deadpool_postgres::Object,
    schema: &str,
    server: &str,
    allowed: bool,
) -> Result<(), StoreError> {
    if !allowed {
        return check(client, schema, server).await;
    }
    let fail = |err: tokio_postgres::Error| {
        error::backend(
            server,
            format!("preparing the store's tables in schema `{schema}`"),
            &err,
        )
    };
    let s = quote(schema);
    let tx = client.transaction().await.map_err(fail)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('waypost:' || $1))",
        &[&schema],
    )
    .await
    .map_err(fail)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER NOT NULL);"
    ))
    .await
    .map_err(fail)?;
    let found: Option<i32> = tx
        .query_opt(&format!("SELECT max(version) FROM {s}.schema_version"), &[])
        .await
        .map_err(fail)?
        .and_then(|row| row.get(0));
    let found = u32::try_from(found.unwrap_or(0)).unwrap_or(0);
    let steps = migrations(schema);
    let current = current();
    if found > current {
        return Err(StoreError::NewerSchema {
            path: format!("{server} (schema {schema})"),
            found,
            supported: current,
        });
    }
    for (index, step) in steps.iter().enumerate().skip(found as usize) {
        tx.batch_execute(step).await.map_err(fail)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute(&format!("DELETE FROM {s}.schema_version"), &[])
            .await
            .map_err(fail)?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_version (version) VALUES ($1)"),
            &[&version],
        )
        .await
        .map_err(fail)?;
    }
    tx.commit().await.map_err(fail)
}

/// Checks, without writing anything, that `schema` holds a store of this version.
async fn check(
    client: &deadpool_postgres::Object,
    schema: &str,
    server: &str,
) -> Result<(), StoreError> {
    let fail = |err: tokio_postgres::Error| {
        error::backend(
            server,
            format!("reading the store's version in schema `{schema}`"),
            &err,
        )
    };
    let path = format!("{server} (schema {schema})");
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
             WHERE table_schema = $1 AND table_name = 'schema_version')",
            &[&schema],
        )
        .await
        .map_err(fail)?
        .get(0);
    if !exists {
        return Err(StoreError::NotAStore {
            path,
            reason: "it holds no waypost store (no `schema_version` table)".to_owned(),
        });
    }
    let found: Option<i32> = client
        .query_one(
            &format!("SELECT max(version) FROM {}.schema_version", quote(schema)),
            &[],
        )
        .await
        .map_err(fail)?
        .get(0);
    let found = u32::try_from(found.unwrap_or(0)).unwrap_or(0);
    let current = current();
    match found.cmp(&current) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Greater => Err(StoreError::NewerSchema {
            path,
            found,
            supported: current,
        }),
        std::cmp::Ordering::Less => Err(StoreError::NotAStore {
            path,
            reason: format!(
                "its store is at version {found}, older than this build's {current}: \
                 connect once with a program that may migrate it"
            ),
        }),
    }
}
