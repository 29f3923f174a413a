//! Reading rows into records, checkpoints and events; every value checked, so that a
//! damaged row is a [`StoreError::Corrupt`] naming it, never a panic.

use tokio_postgres::Row;
use tokio_postgres::types::FromSql;
use waypost_core::error::Error;
use waypost_core::history::{Event, EventDetails, EventKind};
use waypost_core::store::{
    Checkpoint, CheckpointKind, ExecutionRecord, ExecutionStatus, LeaseState, StoreError,
};

use crate::error::corrupt;

/// A millisecond time or counter as stored (BIGINT).
pub(crate) fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The inverse of [`to_sql`]: `i64::MAX` is "never" (`u64::MAX`).
pub(crate) fn from_sql(value: i64) -> u64 {
    if value == i64::MAX {
        u64::MAX
    } else {
        u64::try_from(value).unwrap_or(0)
    }
}

fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    id: &str,
    index: usize,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(index)
        .map_err(|err| corrupt(id, column, format!("cannot be read: {err}")))
}

fn int<T: TryFrom<i64>>(row: &Row, id: &str, index: usize, column: &str) -> Result<T, StoreError> {
    let value: i64 = match row.try_get::<_, i64>(index) {
        Ok(value) => value,
        Err(_) => i64::from(get::<i32>(row, id, index, column)?),
    };
    T::try_from(value).map_err(|_| corrupt(id, column, format!("holds {value}, out of range")))
}

/// An execution row of [`EXECUTION_COLUMNS`](crate::sql::EXECUTION_COLUMNS).
pub(crate) fn execution(row: &Row) -> Result<ExecutionRecord, StoreError> {
    let id: String = row.try_get(0).map_err(|err| StoreError::Corrupt {
        detail: format!("an execution has an unreadable id: {err}"),
    })?;
    let status_text: String = get(row, &id, 5, "status")?;
    let status = ExecutionStatus::parse(&status_text).ok_or_else(|| {
        corrupt(
            &id,
            "status",
            format!("holds `{status_text}`, not a status"),
        )
    })?;
    let error = match get::<Option<String>>(row, &id, 8, "error")? {
        None => None,
        Some(json) => Some(
            serde_json::from_str::<Error>(&json)
                .map_err(|err| corrupt(&id, "error", format!("is not an error as JSON: {err}")))?,
        ),
    };
    let lease = match get::<Option<String>>(row, &id, 14, "lease_owner")? {
        None => None,
        Some(owner) => Some(LeaseState {
            owner,
            expires_ms: from_sql(
                get::<Option<i64>>(row, &id, 15, "lease_expires_ms")?.unwrap_or(0),
            ),
        }),
    };
    Ok(ExecutionRecord {
        workflow: get(row, &id, 1, "workflow")?,
        version: int(row, &id, 2, "version")?,
        fingerprint: get(row, &id, 3, "fingerprint")?,
        codec: get(row, &id, 4, "codec")?,
        status,
        input: get(row, &id, 6, "input")?,
        output: get(row, &id, 7, "output")?,
        error,
        graph: get(row, &id, 9, "graph")?,
        redrives: int(row, &id, 10, "redrives")?,
        recoveries: int(row, &id, 11, "recoveries")?,
        created_ms: int(row, &id, 12, "created_ms")?,
        updated_ms: int(row, &id, 13, "updated_ms")?,
        lease,
        lease_epoch: int(row, &id, 16, "lease_epoch")?,
        wake_at_ms: from_sql(get(row, &id, 17, "wake_at_ms")?),
        id,
    })
}

/// A checkpoint row: `seq, key, kind, payload, checksum`.
pub(crate) fn checkpoint(row: &Row, id: &str) -> Result<Checkpoint, StoreError> {
    let key: String = get(row, id, 1, "checkpoints.key")?;
    let code: i16 = get(row, id, 2, "checkpoints.kind")?;
    let kind = u8::try_from(code)
        .ok()
        .and_then(CheckpointKind::from_code)
        .ok_or_else(|| corrupt(id, "checkpoints.kind", format!("of `{key}` holds {code}")))?;
    let checksum: i64 = get(row, id, 4, "checkpoints.checksum")?;
    Ok(Checkpoint {
        seq: int(row, id, 0, "checkpoints.seq")?,
        checksum: u32::try_from(checksum).map_err(|_| {
            corrupt(
                id,
                "checkpoints.checksum",
                format!("of `{key}` holds {checksum}"),
            )
        })?,
        payload: get(row, id, 3, "checkpoints.payload")?,
        kind,
        key,
    })
}

/// An event row: `seq, at_ms, kind, address, attempt, duration_ms, details`.
pub(crate) fn event(row: &Row, id: &str) -> Result<Event, StoreError> {
    let kind_text: String = get(row, id, 2, "events.kind")?;
    let kind = EventKind::parse(&kind_text)
        .ok_or_else(|| corrupt(id, "events.kind", format!("holds `{kind_text}`")))?;
    let details = match get::<Option<String>>(row, id, 6, "events.details")? {
        None => EventDetails::default(),
        Some(json) => serde_json::from_str(&json).map_err(|err| {
            corrupt(
                id,
                "events.details",
                format!("is not event details as JSON: {err}"),
            )
        })?,
    };
    let duration_ms: Option<i64> = get(row, id, 5, "events.duration_ms")?;
    Ok(Event {
        seq: int(row, id, 0, "events.seq")?,
        at_ms: int(row, id, 1, "events.at_ms")?,
        kind,
        address: get(row, id, 3, "events.address")?,
        attempt: int(row, id, 4, "events.attempt")?,
        duration_ms: duration_ms.map(from_sql),
        details,
    })
}
