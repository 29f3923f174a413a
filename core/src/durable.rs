//! The durable side of running a step: replay a checkpoint or record a new one.
//!
//! Combinators call these helpers with the key of what they are about to do; without
//! a [`Recorder`] in the context they do nothing but the work itself.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::codec::per_state::{self, CODEC_SUFFIX};
use crate::codec::{Codec, decode, encode, encode_checked};
use crate::context::{Context, Recorder};
use crate::error::Error;
use crate::replay::Entry;
use crate::step::Payload;
use crate::store::CheckpointKind;

/// What a replayed task checkpoint says: the step's output or its error.
///
/// An output is decoded with the codec it was stored with, which must be the state's
/// codec now (see [`per_state`](crate::codec::per_state)).
pub(crate) fn replayed_result<O: Payload>(
    recorder: &dyn Recorder,
    cx: &Context,
    key: &str,
    entry: &Entry,
) -> Result<O, Error> {
    let what = || format!("checkpoint `{key}` of execution `{}`", cx.execution_id());
    match entry.kind {
        CheckpointKind::Output => decode(replay_codec(recorder, cx, key)?, &entry.payload, &what()),
        CheckpointKind::Failure => Err(decode::<Error>(recorder.codec(), &entry.payload, &what())?),
        other => Err(Error::runtime(format!(
            "{} holds a {other:?} where a step result was expected; was the workflow changed?",
            what()
        ))),
    }
}

/// The codec the output at `key` is written with: the state's own when it overrides
/// the execution's, and whether it does.
fn output_codec<'a>(
    recorder: &'a dyn Recorder,
    cx: &'a Context,
    key: &str,
) -> (&'a dyn Codec, bool) {
    match cx.codec_override() {
        Some(over) if over.applies(key) => (&*over.codec, true),
        _ => (recorder.codec(), false),
    }
}

/// The codec to decode the stored output at `key` with: the state's codec, once the
/// name recorded beside the output (`{key}~codec`; none: the execution's codec) says
/// that it was written with that codec.
///
/// # Errors
///
/// A runtime error naming the state, the stored codec and the expected one when they
/// differ (the state's codec changed since the output was stored), or when the record
/// of the codec cannot be read.
fn replay_codec<'a>(
    recorder: &'a dyn Recorder,
    cx: &'a Context,
    key: &str,
) -> Result<&'a dyn Codec, Error> {
    let (expected, overridden) = output_codec(recorder, cx, key);
    let codec_key = format!("{key}{CODEC_SUFFIX}");
    let recorded = recorder.replay(&codec_key);
    // Nothing to check for a state that never had its own codec.
    if recorded.is_none() && !overridden {
        return Ok(expected);
    }
    let address = per_state::strip_attempts(key);
    let stored = match &recorded {
        None => recorder.codec().name(),
        Some(entry) => match (entry.kind, std::str::from_utf8(&entry.payload)) {
            (CheckpointKind::Decision, Ok(name)) => name,
            _ => {
                return Err(Error::runtime(format!(
                    "checkpoint `{codec_key}` of execution `{}` should name the codec of the \
                     output of state `{address}`, but holds a {:?} of {} bytes that is not one",
                    cx.execution_id(),
                    entry.kind,
                    entry.payload.len()
                )));
            }
        },
    };
    if stored == expected.name() {
        return Ok(expected);
    }
    let describe = |name: &str, own: bool| {
        if own {
            format!("`{name}` (its own codec)")
        } else {
            format!("`{name}` (the execution's codec)")
        }
    };
    Err(Error::runtime(format!(
        "the output of state `{address}` in execution `{}` was stored with codec {}, but the \
         state now stores its output with codec {}; its codec changed since the checkpoint \
         was written: run the execution with the workflow that wrote it",
        cx.execution_id(),
        describe(stored, recorded.is_some()),
        describe(expected.name(), overridden),
    )))
}

/// A checkpoint to record: key, kind, payload.
pub(crate) type Record = (String, CheckpointKind, Vec<u8>);

/// Encodes a task's result as the checkpoints to record at `key`, and hands the result
/// back. An output its codec cannot store (it would not read back) becomes the task's
/// failure, a [`DATA_ENCODING_FAILED`](crate::error::names::DATA_ENCODING_FAILED)
/// error at `address`, which is recorded instead: nothing undecodable is committed.
///
/// An output is written with the state's own codec when it has one, the name of that
/// codec beside it (`{key}~codec`, in the same write); a failure always with the
/// execution's codec.
///
/// # Errors
///
/// When even the failure cannot be encoded.
pub(crate) fn result_record<O: Payload>(
    recorder: &dyn Recorder,
    cx: &Context,
    key: String,
    address: &str,
    result: Result<O, Error>,
) -> Result<(Vec<Record>, Result<O, Error>), Error> {
    let what = format!("checkpoint `{key}` of execution `{}`", cx.execution_id());
    let failed = |error: Error, key: String| -> Result<(Vec<Record>, Result<O, Error>), Error> {
        let payload = encode(recorder.codec(), &error, &what)?;
        Ok((vec![(key, CheckpointKind::Failure, payload)], Err(error)))
    };
    match result {
        Ok(output) => {
            let stored = format!(
                "the output of step `{address}` in execution `{}`",
                cx.execution_id()
            );
            let (codec, overridden) = output_codec(recorder, cx, &key);
            match encode_checked(codec, &output, &stored) {
                Ok(payload) => {
                    let mut records = Vec::with_capacity(2);
                    if overridden {
                        records.push((
                            format!("{key}{CODEC_SUFFIX}"),
                            CheckpointKind::Decision,
                            codec.name().as_bytes().to_vec(),
                        ));
                    }
                    records.push((key, CheckpointKind::Output, payload));
                    Ok((records, Ok(output)))
                }
                Err(error) => failed(error.at(address), key),
            }
        }
        Err(error) => failed(error, key),
    }
}

/// Records a task's result at `key` (see [`result_record`]) and hands the result back,
/// or the recording error.
pub(crate) async fn record_result<O: Payload>(
    cx: &Context,
    key: String,
    address: &str,
    result: Result<O, Error>,
) -> Result<O, Error> {
    let Some(recorder) = cx.recorder() else {
        return result;
    };
    let (records, result) = result_record(recorder, cx, key, address, result)?;
    recorder.record(records).await?;
    result
}

/// Runs a container (parallel, map) whose failure depends on which of its children
/// failed first. The error it fails with is recorded at `key`, so that a resumed
/// execution fails (or is caught) the same way even when replayed children would now
/// report another failure first.
pub(crate) async fn container<O>(
    cx: &Context,
    key: impl FnOnce() -> String,
    run: impl Future<Output = Result<O, Error>>,
) -> Result<O, Error> {
    let Some(recorder) = cx.recorder() else {
        return run.await;
    };
    let key = format!("{}~failed", key());
    if let Some(entry) = recorder.replay(&key) {
        return Err(decode::<Error>(
            recorder.codec(),
            &entry.payload,
            &format!("checkpoint `{key}` of execution `{}`", cx.execution_id()),
        )?);
    }
    match run.await {
        // A runtime failure is not the container's outcome: nothing to record.
        Err(error) if error.kind() != crate::ErrorKind::Runtime => {
            let address = error.address().unwrap_or_default().to_owned();
            let (records, _) =
                result_record::<()>(recorder, cx, key, &address, Err(error.clone()))?;
            recorder.record(records).await?;
            Err(error)
        }
        other => other,
    }
}

/// Sleeps `duration` from the first time this timer at `key` started: the deadline is
/// recorded, so a resumed execution sleeps only what is left.
pub(crate) async fn durable_sleep(
    cx: &Context,
    key: String,
    duration: Duration,
) -> Result<(), Error> {
    let first = millis(cx.host().now())
        .saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    durable_sleep_until(cx, key, first).await
}

/// Sleeps until `first` (milliseconds since the Unix epoch) the first time this timer at
/// `key` starts, and until that same recorded deadline when a resumed execution comes
/// back to it.
pub(crate) async fn durable_sleep_until(
    cx: &Context,
    key: String,
    first: u64,
) -> Result<(), Error> {
    let deadline = deadline_at(cx, key, first).await?;
    let remaining = Duration::from_millis(deadline.saturating_sub(millis(cx.host().now())));
    if !remaining.is_zero() {
        let _timer = cx
            .recorder()
            .and_then(|r| r.activity())
            .map(|a| a.timer(deadline));
        cx.sleep(remaining).await;
    }
    Ok(())
}

/// The deadline (milliseconds since the Unix epoch) `duration` after the first time
/// the clock at `key` started: recorded then, read back by a resumed execution, so that
/// a crash never restarts the clock. Without a recorder (an in-memory run), `duration`
/// from now.
pub(crate) async fn deadline(cx: &Context, key: String, duration: Duration) -> Result<u64, Error> {
    let fresh = millis(cx.host().now())
        .saturating_add(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
    deadline_at(cx, key, fresh).await
}

/// The deadline recorded at `key`, or `fresh`, recorded there now when there is none.
async fn deadline_at(cx: &Context, key: String, fresh: u64) -> Result<u64, Error> {
    let Some(recorder) = cx.recorder() else {
        return Ok(fresh);
    };
    if let Some(deadline) = recorded_deadline(cx, &key)? {
        return Ok(deadline);
    }
    recorder
        .record(vec![(
            key,
            CheckpointKind::Deadline,
            fresh.to_le_bytes().to_vec(),
        )])
        .await?;
    Ok(fresh)
}

/// The deadline an earlier run recorded at `key`, if any.
pub(crate) fn recorded_deadline(cx: &Context, key: &str) -> Result<Option<u64>, Error> {
    let Some(entry) = cx.recorder().and_then(|r| r.replay(key)) else {
        return Ok(None);
    };
    if entry.kind != CheckpointKind::Deadline {
        return Err(Error::runtime(format!(
            "timer `{key}` of execution `{}` holds a {:?}; was the workflow changed?",
            cx.execution_id(),
            entry.kind
        )));
    }
    let bytes: [u8; 8] = entry.payload[..].try_into().map_err(|_| {
        Error::runtime(format!(
            "timer `{key}` of execution `{}` holds {} bytes, not an 8-byte deadline",
            cx.execution_id(),
            entry.payload.len()
        ))
    })?;
    Ok(Some(u64::from_le_bytes(bytes)))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
