//! The statements of one store, with its schema's name in them.

/// The database's clock in milliseconds since the Unix epoch: leases and wake-up times
/// are decided by one clock for every machine.
pub(crate) const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The columns of an execution row, in the order `rows::execution` reads them.
pub(crate) const EXECUTION_COLUMNS: &str = "id, workflow, version, fingerprint, codec, status, \
     input, output, error, graph, redrives, recoveries, created_ms, updated_ms, lease_owner, \
     lease_expires_ms, lease_epoch, wake_at_ms";

/// Quotes `schema` as an SQL identifier.
pub(crate) fn quote(schema: &str) -> String {
    format!("\"{}\"", schema.replace('"', "\"\""))
}

/// The tables of the store in `schema`, by migration: version `n` is `MIGRATIONS[n-1]`.
pub(crate) fn migrations(schema: &str) -> Vec<String> {
    let s = quote(schema);
    vec![format!(
        "CREATE TABLE {s}.executions (
             id               TEXT PRIMARY KEY,
             workflow         TEXT NOT NULL,
             version          BIGINT NOT NULL,
             fingerprint      TEXT NOT NULL,
             codec            TEXT NOT NULL,
             status           TEXT NOT NULL,
             input            BYTEA NOT NULL,
             output           BYTEA,
             error            TEXT,
             graph            TEXT NOT NULL,
             redrives         BIGINT NOT NULL DEFAULT 0,
             recoveries       BIGINT NOT NULL DEFAULT 0,
             created_ms       BIGINT NOT NULL,
             updated_ms       BIGINT NOT NULL,
             lease_owner      TEXT,
             lease_expires_ms BIGINT,
             lease_epoch      BIGINT NOT NULL DEFAULT 0,
             wake_at_ms       BIGINT NOT NULL,
             next_checkpoint  BIGINT NOT NULL DEFAULT 1,
             next_event       BIGINT NOT NULL DEFAULT 1
         );
         CREATE INDEX executions_by_created ON {s}.executions (created_ms DESC, id DESC);
         CREATE INDEX executions_due ON {s}.executions (workflow, wake_at_ms)
             WHERE status = 'running';
         CREATE TABLE {s}.checkpoints (
             execution_id TEXT NOT NULL REFERENCES {s}.executions (id) ON DELETE CASCADE,
             seq          BIGINT NOT NULL,
             key          TEXT NOT NULL,
             kind         SMALLINT NOT NULL,
             payload      BYTEA NOT NULL,
             checksum     BIGINT NOT NULL,
             PRIMARY KEY (execution_id, key),
             UNIQUE (execution_id, seq)
         );
         CREATE TABLE {s}.events (
             execution_id TEXT NOT NULL REFERENCES {s}.executions (id) ON DELETE CASCADE,
             seq          BIGINT NOT NULL,
             at_ms        BIGINT NOT NULL,
             kind         TEXT NOT NULL,
             address      TEXT NOT NULL,
             attempt      BIGINT NOT NULL,
             duration_ms  BIGINT,
             details      TEXT,
             PRIMARY KEY (execution_id, seq)
         );"
    )]
}

/// The channel of the store's notices (`LISTEN`/`NOTIFY`), one per schema.
pub(crate) fn channel(schema: &str) -> String {
    format!("waypost_{schema}")
}
