//! Reading executions, checkpoints and events out of their tables, for the read
//! connection and for the writer (which returns the existing record from `create`).
//!
//! Decoding never panics: a value that does not fit its type (a status string that does
//! not parse, a checkpoint kind out of range, an event kind this build does not know, a
//! negative timestamp, a column of the wrong SQL type) is a [`StoreError::Corrupt`]
//! naming the execution and the column (and the checkpoint's key or the event's `seq`).
//! Such values can only come from outside waypost (the sqlite3 shell, a damaged file).

use std::fmt;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, Row, ToSql};
use waypost_core::error::Error;
use waypost_core::history::{Event, EventDetails, EventKind};
use waypost_core::replay::checksum;
use waypost_core::store::{
    Checkpoint, CheckpointKind, ExecutionRecord, ExecutionStatus, LeaseState, ListFilter, Snapshot,
    StoreError,
};

use super::error::OpError;

/// The columns of `executions`, in the order [`execution`] reads them.
const EXECUTION_COLUMNS: &str = "id, workflow, version, fingerprint, codec, status, input, \
                                 output, error, graph, redrives, created_ms, updated_ms, \
                                 input_checksum, output_checksum, recoveries, lease_epoch, \
                                 wake_at_ms, \
                                 (SELECT owner FROM leases WHERE execution_id = executions.id), \
                                 (SELECT expires_ms FROM leases \
                                  WHERE execution_id = executions.id)";

/// The execution with this id, if any.
pub(super) fn load_execution(
    conn: &Connection,
    id: &str,
) -> Result<Option<ExecutionRecord>, OpError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EXECUTION_COLUMNS} FROM executions WHERE id = ?1"
    ))?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(execution(row)?)),
        None => Ok(None),
    }
}

/// What a commit checks before it writes: an execution's status, lease and workflow.
#[derive(Debug)]
pub(super) struct FenceRow {
    pub(super) status: ExecutionStatus,
    pub(super) lease_epoch: u64,
    /// Who holds the lease, if anyone.
    pub(super) holder: Option<String>,
    pub(super) workflow: String,
}

/// The [`FenceRow`] of the execution with this id, if any: one indexed lookup that
/// reads none of the execution's large columns (input, output, graph), which a commit
/// does not need and which cost most of its reading time when it loaded the whole row.
pub(super) fn load_fence(conn: &Connection, id: &str) -> Result<Option<FenceRow>, OpError> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, lease_epoch, workflow, \
         (SELECT owner FROM leases WHERE execution_id = executions.id) \
         FROM executions WHERE id = ?1",
    )?;
    let mut rows = stmt.query([id])?;
    let Some(row) = rows.next()? else {
        return Ok(None);
    };
    let cell = Cell { row, id };
    let text: String = cell.get(0, "status")?;
    let status = ExecutionStatus::parse(&text)
        .ok_or_else(|| cell.corrupt("status", format!("`{text}` is not a status")))?;
    Ok(Some(FenceRow {
        status,
        lease_epoch: cell.int(1, "lease_epoch")?,
        workflow: cell.get(2, "workflow")?,
        holder: cell.get(3, "leases.owner")?,
    }))
}

/// Whether an execution with this id exists.
pub(super) fn execution_exists(conn: &Connection, id: &str) -> Result<bool, OpError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM executions WHERE id = ?1")?;
    Ok(stmt.exists([id])?)
}

/// The executions matching `filter`, newest first (by `created_ms`, then by id, both
/// descending).
pub(super) fn list_executions(
    conn: &Connection,
    filter: &ListFilter,
) -> Result<Vec<ExecutionRecord>, OpError> {
    let mut conditions = Vec::new();
    let mut params: Vec<&dyn ToSql> = Vec::new();
    let status = filter.status.map(ExecutionStatus::as_str);
    if let Some(status) = &status {
        conditions.push("status = ?");
        params.push(status);
    }
    if let Some(workflow) = &filter.workflow {
        conditions.push("workflow = ?");
        params.push(workflow);
    }
    // `instr`, not `LIKE`: the text is literal, and case-sensitive.
    if let Some(part) = &filter.id_contains {
        conditions.push("instr(id, ?) > 0");
        params.push(part);
    }
    // SQLite reads a negative LIMIT as "no limit".
    let limit = filter
        .limit
        .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
    params.push(&limit);
    let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
    params.push(&offset);

    let mut sql = format!("SELECT {EXECUTION_COLUMNS} FROM executions");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY created_ms DESC, id DESC LIMIT ? OFFSET ?");

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params.as_slice())?;
    let mut records = Vec::new();
    while let Some(row) = rows.next()? {
        records.push(execution(row)?);
    }
    Ok(records)
}

/// Every checkpoint of the execution, in `seq` order; `None` when there is no such
/// execution.
pub(super) fn load_checkpoints(
    conn: &Connection,
    id: &str,
) -> Result<Option<Vec<Checkpoint>>, OpError> {
    // One read transaction, so the existence check and the rows are one snapshot.
    let tx = conn.unchecked_transaction()?;
    if !execution_exists(&tx, id)? {
        return Ok(None);
    }
    let checkpoints = checkpoint_rows(&tx, id)?;
    tx.finish()?;
    Ok(Some(checkpoints))
}

/// The execution's checkpoints whose `seq` is above `after`, in `seq` order; `None`
/// when there is no such execution.
pub(super) fn load_checkpoints_after(
    conn: &Connection,
    id: &str,
    after: u64,
) -> Result<Option<Vec<Checkpoint>>, OpError> {
    let tx = conn.unchecked_transaction()?;
    if !execution_exists(&tx, id)? {
        return Ok(None);
    }
    let mut stmt = tx.prepare_cached(
        "SELECT seq, key, kind, payload, checksum FROM checkpoints \
         WHERE execution_id = ?1 AND seq > ?2 ORDER BY seq",
    )?;
    let mut rows = stmt.query(rusqlite::params![
        id,
        i64::try_from(after).unwrap_or(i64::MAX)
    ])?;
    let mut checkpoints = Vec::new();
    while let Some(row) = rows.next()? {
        checkpoints.push(checkpoint(row, id)?);
    }
    drop(rows);
    drop(stmt);
    tx.finish()?;
    Ok(Some(checkpoints))
}

/// The execution's history, in `seq` order; `None` when there is no such execution.
pub(super) fn load_history(conn: &Connection, id: &str) -> Result<Option<Vec<Event>>, OpError> {
    let tx = conn.unchecked_transaction()?;
    if !execution_exists(&tx, id)? {
        return Ok(None);
    }
    let events = event_rows(&tx, id)?;
    tx.finish()?;
    Ok(Some(events))
}

/// The execution, its checkpoints and its history from one snapshot; `None` when there
/// is no such execution.
pub(super) fn load_snapshot(conn: &Connection, id: &str) -> Result<Option<Snapshot>, OpError> {
    let tx = conn.unchecked_transaction()?;
    let Some(record) = load_execution(&tx, id)? else {
        return Ok(None);
    };
    let snapshot = Snapshot {
        record,
        checkpoints: checkpoint_rows(&tx, id)?,
        history: event_rows(&tx, id)?,
    };
    tx.finish()?;
    Ok(Some(snapshot))
}

fn checkpoint_rows(conn: &Connection, id: &str) -> Result<Vec<Checkpoint>, OpError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, key, kind, payload, checksum FROM checkpoints \
         WHERE execution_id = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([id])?;
    let mut checkpoints = Vec::new();
    while let Some(row) = rows.next()? {
        checkpoints.push(checkpoint(row, id)?);
    }
    Ok(checkpoints)
}

fn event_rows(conn: &Connection, id: &str) -> Result<Vec<Event>, OpError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at_ms, kind, address, attempt, duration_ms, details FROM events \
         WHERE execution_id = ?1 ORDER BY seq",
    )?;
    let mut rows = stmt.query([id])?;
    let mut events = Vec::new();
    while let Some(row) = rows.next()? {
        events.push(event(row, id)?);
    }
    Ok(events)
}

/// A wake-up time as stored: SQLite's INTEGER is an i64, so "never" (`u64::MAX`) is
/// stored as `i64::MAX`.
pub(super) fn wake_to_sql(wake_at_ms: u64) -> i64 {
    i64::try_from(wake_at_ms).unwrap_or(i64::MAX)
}

/// The inverse of [`wake_to_sql`] (a negative value, which it never writes, is due).
pub(super) fn wake_from_sql(value: i64) -> u64 {
    if value == i64::MAX {
        u64::MAX
    } else {
        u64::try_from(value).unwrap_or(0)
    }
}

/// Decodes one row of [`EXECUTION_COLUMNS`].
fn execution(row: &Row<'_>) -> Result<ExecutionRecord, StoreError> {
    let id: String = row.get(0).map_err(|err| StoreError::Corrupt {
        detail: format!("an execution has an unreadable id: {err}"),
    })?;
    let cell = Cell { row, id: &id };
    let status_text: String = cell.get(5, "status")?;
    let status = ExecutionStatus::parse(&status_text)
        .ok_or_else(|| cell.corrupt("status", format!("`{status_text}` is not a status")))?;
    let error = match cell.get::<Option<String>>(8, "error")? {
        None => None,
        Some(json) => Some(
            serde_json::from_str::<Error>(&json)
                .map_err(|err| cell.corrupt("error", format!("not an error as JSON: {err}")))?,
        ),
    };
    let input: Vec<u8> = cell.blob(6, "input")?;
    let output: Option<Vec<u8>> = cell.opt_blob(7, "output")?;
    // Rows written before schema version 3 have no checksums: nothing to compare.
    let verify = |column: &str, bytes: &[u8], index: usize| -> Result<(), StoreError> {
        match cell.get::<Option<i64>>(index, &format!("{column}_checksum"))? {
            Some(sum) if i64::from(checksum(bytes)) != sum => Err(cell.corrupt(
                column,
                format!("its {} bytes do not match their checksum", bytes.len()),
            )),
            _ => Ok(()),
        }
    };
    verify("input", &input, 13)?;
    if let Some(output) = &output {
        verify("output", output, 14)?;
    }
    Ok(ExecutionRecord {
        workflow: cell.get(1, "workflow")?,
        version: cell.int(2, "version")?,
        fingerprint: cell.get(3, "fingerprint")?,
        codec: cell.get(4, "codec")?,
        status,
        input,
        output,
        error,
        graph: cell.get(9, "graph")?,
        redrives: cell.int(10, "redrives")?,
        recoveries: cell.int(15, "recoveries")?,
        created_ms: cell.int(11, "created_ms")?,
        updated_ms: cell.int(12, "updated_ms")?,
        lease_epoch: cell.int(16, "lease_epoch")?,
        wake_at_ms: wake_from_sql(cell.get(17, "wake_at_ms")?),
        lease: match cell.get::<Option<String>>(18, "leases.owner")? {
            None => None,
            Some(owner) => Some(LeaseState {
                owner,
                expires_ms: cell.int(19, "leases.expires_ms")?,
            }),
        },
        id,
    })
}

/// Decodes one checkpoint row (`seq, key, kind, payload, checksum`) of execution `id`.
fn checkpoint(row: &Row<'_>, id: &str) -> Result<Checkpoint, StoreError> {
    let cell = Cell { row, id };
    let key: String = cell.get(1, "key")?;
    let at = |column: &str, what: String| StoreError::Corrupt {
        detail: format!("checkpoint `{key}` of execution `{id}`: column `{column}` {what}"),
    };
    let code: i64 = cell.get(2, "kind")?;
    let kind = u8::try_from(code)
        .ok()
        .and_then(CheckpointKind::from_code)
        .ok_or_else(|| at("kind", format!("holds {code}, not a checkpoint kind")))?;
    let seq = cell.get::<i64>(0, "seq")?;
    let checksum = cell.get::<i64>(4, "checksum")?;
    Ok(Checkpoint {
        seq: u64::try_from(seq).map_err(|_| at("seq", format!("holds {seq}, out of range")))?,
        checksum: u32::try_from(checksum)
            .map_err(|_| at("checksum", format!("holds {checksum}, not a CRC-32")))?,
        payload: cell.blob(3, "payload")?,
        kind,
        key,
    })
}

/// Decodes one event row (`seq, at_ms, kind, address, attempt, duration_ms, details`)
/// of execution `id`.
fn event(row: &Row<'_>, id: &str) -> Result<Event, StoreError> {
    let seq: i64 = Cell { row, id }.get(0, "seq")?;
    let at = |column: &str, what: &dyn fmt::Display| StoreError::Corrupt {
        detail: format!("event {seq} of execution `{id}`: column `{column}`: {what}"),
    };
    let out_of_range =
        |column: &str, value: i64| at(column, &format!("holds {value}, out of range"));
    let kind_text: String = row.get(2).map_err(|err| at("kind", &err))?;
    let kind = EventKind::parse(&kind_text)
        .ok_or_else(|| at("kind", &format!("holds `{kind_text}`, not an event kind")))?;
    let at_ms: i64 = row.get(1).map_err(|err| at("at_ms", &err))?;
    let attempt: i64 = row.get(4).map_err(|err| at("attempt", &err))?;
    let duration_ms: Option<i64> = row.get(5).map_err(|err| at("duration_ms", &err))?;
    let details = match row
        .get::<_, Option<String>>(6)
        .map_err(|err| at("details", &err))?
    {
        None => EventDetails::default(),
        Some(json) => serde_json::from_str(&json)
            .map_err(|err| at("details", &format!("not event details as JSON: {err}")))?,
    };
    Ok(Event {
        seq: u64::try_from(seq).map_err(|_| out_of_range("seq", seq))?,
        at_ms: u64::try_from(at_ms).map_err(|_| out_of_range("at_ms", at_ms))?,
        kind,
        address: row.get(3).map_err(|err| at("address", &err))?,
        attempt: u32::try_from(attempt).map_err(|_| out_of_range("attempt", attempt))?,
        duration_ms: duration_ms
            .map(|value| u64::try_from(value).map_err(|_| out_of_range("duration_ms", value)))
            .transpose()?,
        details,
    })
}

/// One row of execution `id`, read column by column with errors naming both.
struct Cell<'a, 'r> {
    row: &'a Row<'r>,
    id: &'a str,
}

impl Cell<'_, '_> {
    fn corrupt(&self, column: &str, what: impl fmt::Display) -> StoreError {
        StoreError::Corrupt {
            detail: format!("execution `{}`: column `{column}`: {what}", self.id),
        }
    }

    fn get<T: rusqlite::types::FromSql>(&self, idx: usize, column: &str) -> Result<T, StoreError> {
        self.row.get(idx).map_err(|err| self.corrupt(column, err))
    }

    /// An integer column that must fit `T` (no negative timestamps or counts).
    fn int<T: TryFrom<i64>>(&self, idx: usize, column: &str) -> Result<T, StoreError> {
        let value: i64 = self.get(idx, column)?;
        T::try_from(value).map_err(|_| self.corrupt(column, format!("holds {value}, out of range")))
    }

    /// A blob column. Text is taken as its bytes: someone editing the file with the
    /// sqlite3 shell writes `'...'` literals, and the payload checksum still guards them.
    fn blob(&self, idx: usize, column: &str) -> Result<Vec<u8>, StoreError> {
        self.opt_blob(idx, column)?
            .ok_or_else(|| self.corrupt(column, "is NULL"))
    }

    fn opt_blob(&self, idx: usize, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self.row.get_ref(idx) {
            Ok(ValueRef::Null) => Ok(None),
            Ok(ValueRef::Blob(bytes) | ValueRef::Text(bytes)) => Ok(Some(bytes.to_vec())),
            Ok(other) => Err(self.corrupt(
                column,
                format!("holds a value of type {}, not a blob", other.data_type()),
            )),
            Err(err) => Err(self.corrupt(column, err)),
        }
    }
}
