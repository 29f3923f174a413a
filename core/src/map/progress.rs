//! How far a map that commits in batches got: the batch checkpoints `{map}/~items/{n}`
//! of [`par_map`](super::par_map) and of the streaming [`map`](super::map)
//! ([`MapItems`](super::MapItems)), written and read back the same way by both.
//!
//! Each checkpoint starts with a header — the index of the first item it does not
//! cover, and the failures before it — followed by what the sink needs to carry on
//! (the results since the last one, or the folded value). A checkpoint is committed only
//! after the one before it is durable, so the committed batches are always a prefix of
//! the items: a resumed map restores the sink from them, in order, and reads on from the
//! first item not committed.

use std::time::Duration;

use futures::future::BoxFuture;

use super::sink::Sink;
use crate::context::{Context, Recorder};
use crate::error::Error;
use crate::store::CheckpointKind;

/// When a map commits its results.
#[derive(Clone, Copy, Debug)]
pub(super) struct CommitEvery {
    pub(super) items: usize,
    pub(super) interval: Duration,
}

impl Default for CommitEvery {
    fn default() -> Self {
        CommitEvery {
            items: 1_000,
            interval: Duration::from_secs(1),
        }
    }
}

/// Where the driver stands: results handed to the sink, and what is committed.
pub(super) struct Progress<T> {
    pub(super) state: T,
    /// Items whose results the sink took: every item before this index.
    pub(super) done: usize,
    pub(super) failures: usize,
    /// Checkpoints committed so far.
    pub(super) batches: usize,
    pub(super) committed: usize,
    /// A commit failed: the batches after it are not written.
    pub(super) commit_failed: bool,
    /// The indices of the failed items after the last checkpoint.
    pub(super) failed: Vec<usize>,
}

/// The sink and position restored from the committed batches at `{prefix}/{n}`.
pub(super) fn replay<T, K: Sink<T>>(
    sink: &K,
    cx: &Context,
    prefix: &str,
) -> Result<Progress<K::State>, Error> {
    let mut progress = Progress {
        state: sink.start(),
        done: 0,
        failures: 0,
        batches: 0,
        committed: 0,
        commit_failed: false,
        failed: Vec::new(),
    };
    let Some(recorder) = cx.recorder() else {
        return Ok(progress);
    };
    loop {
        let key = format!("{prefix}/{}", progress.batches);
        let Some(entry) = recorder.replay(&key) else {
            return Ok(progress);
        };
        let what = format!("checkpoint `{key}` of execution `{}`", cx.execution_id());
        let header = (entry.kind == CheckpointKind::Output)
            .then(|| split_header(&entry.payload))
            .flatten()
            .filter(|(upto, _, _)| *upto >= progress.done);
        let Some((upto, failures, rest)) = header else {
            return Err(Error::runtime(format!(
                "{what} is not a batch of map results after item {}; was the workflow changed?",
                progress.done
            )));
        };
        sink.restore(&mut progress.state, rest, recorder.codec(), &what)?;
        progress.done = upto;
        progress.committed = upto;
        progress.failures = failures;
        progress.batches += 1;
    }
}

/// Whether the sink holds a full batch: it is written before more items are read.
pub(super) fn batch_waits<T, K: Sink<T>>(sink: &K, progress: &Progress<K::State>) -> bool {
    let batch = sink.batch();
    batch > 0 && sink.held(&progress.state) >= batch
}

/// Where the next checkpoint ends: after the items the sink no longer holds.
pub(super) fn upto<T, K: Sink<T>>(sink: &K, progress: &Progress<K::State>) -> usize {
    progress.done - sink.held(&progress.state)
}

/// Starts committing the results taken since the last commit.
pub(super) fn commit_batch<T, K: Sink<T>>(
    sink: &K,
    recorder: &dyn Recorder,
    cx: &Context,
    prefix: &str,
    progress: &mut Progress<K::State>,
) -> Result<BoxFuture<'static, Result<(), Error>>, Error> {
    let key = format!("{prefix}/{}", progress.batches);
    let what = format!("checkpoint `{key}` of execution `{}`", cx.execution_id());
    // Items the sink still holds are not in this checkpoint: it ends before them.
    let upto = upto(sink, progress);
    progress.failed.retain(|&index| index >= upto);
    let failures = progress.failures - progress.failed.len();
    let mut payload = Vec::with_capacity(16);
    payload.extend_from_slice(&(upto as u64).to_le_bytes());
    payload.extend_from_slice(&(failures as u64).to_le_bytes());
    payload.extend(sink.checkpoint(&mut progress.state, recorder.codec(), &what)?);
    progress.batches += 1;
    progress.committed = upto;
    Ok(recorder.record(vec![(key, CheckpointKind::Output, payload)]))
}

/// A batch checkpoint's header (items done, failures so far) and the sink's bytes.
fn split_header(payload: &[u8]) -> Option<(usize, usize, &[u8])> {
    let (done, rest) = payload.split_first_chunk::<8>()?;
    let (failures, rest) = rest.split_first_chunk::<8>()?;
    let done = usize::try_from(u64::from_le_bytes(*done)).ok()?;
    let failures = usize::try_from(u64::from_le_bytes(*failures)).ok()?;
    Some((done, failures, rest))
}
