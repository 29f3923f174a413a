//! [`Journal`]: the checkpoints of one execution, as replay sees them.

use std::collections::HashMap;
use std::sync::Arc;

use crate::store::{Checkpoint, CheckpointKind};

/// CRC-32 (IEEE) of a payload, as stored beside it.
pub fn checksum(payload: &[u8]) -> u32 {
    crc32fast::hash(payload)
}

/// A checkpoint as replay uses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What the payload is.
    pub kind: CheckpointKind,
    /// The payload.
    pub payload: Arc<[u8]>,
}

/// What [`Journal::record`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// A new checkpoint: write it to the store under this stored key.
    New(String),
    /// The same checkpoint is already recorded: nothing to write.
    Unchanged,
}

/// Why a journal cannot be replayed or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// A stored payload does not match its checksum, or a record makes no sense.
    #[error("checkpoint `{key}` of execution `{execution}` is corrupt: {detail}")]
    Corrupt {
        /// The execution.
        execution: String,
        /// The checkpoint key.
        key: String,
        /// What is wrong.
        detail: String,
    },
    /// A key already holds a different checkpoint.
    #[error(
        "checkpoint `{key}` of execution `{execution}` already holds a different {existing:?}; it is never overwritten"
    )]
    Conflict {
        /// The execution.
        execution: String,
        /// The checkpoint key.
        key: String,
        /// The kind of the checkpoint already there.
        existing: CheckpointKind,
    },
    /// The workflow's structure differs from the one the execution was started with.
    #[error(
        "execution `{execution}` was started with workflow `{workflow}` v{stored_version} \
         (fingerprint {stored}), but is being resumed with v{current_version} (fingerprint \
         {current}); resume with the workflow it was started with, or allow changed workflows"
    )]
    FingerprintMismatch {
        /// The execution.
        execution: String,
        /// The workflow name.
        workflow: String,
        /// The version the execution was started with.
        stored_version: u32,
        /// The fingerprint it was started with.
        stored: String,
        /// The version it is being resumed with.
        current_version: u32,
        /// The fingerprint of that version.
        current: String,
    },
    /// The workflow's version differs from the one the execution was started with
    /// (its structure is the same, but its steps' code may not be).
    #[error(
        "execution `{execution}` was started with workflow `{workflow}` v{stored_version}, \
         but is being run with v{current_version}; run it with the version it was started \
         with, or allow changed workflows"
    )]
    VersionMismatch {
        /// The execution.
        execution: String,
        /// The workflow name.
        workflow: String,
        /// The version the execution was started with.
        stored_version: u32,
        /// The version it is being run with.
        current_version: u32,
    },
}

/// What a redrive of a step failed at `address` resets: the innermost map or parallel
/// around it (every failed item or branch runs again, as in Step Functions), or the step
/// itself when it is in none.
///
/// ```
/// use waypost::replay::redrive_scope;
///
/// assert_eq!(redrive_scope("0.map/3/0.fetch#2"), "0.map");
/// assert_eq!(redrive_scope("1.route/express/0.ship"), "1.route/express/0.ship");
/// assert_eq!(redrive_scope("2.fulfil/1/0.charge"), "2.fulfil");
/// assert_eq!(redrive_scope("0.a"), "0.a");
/// ```
pub fn redrive_scope(address: &str) -> &str {
    let segments: Vec<&str> = address.split('/').collect();
    // The last segment that is an index (a map item or parallel branch) follows its
    // container's segment.
    match segments
        .iter()
        .rposition(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    {
        Some(i) if i > 0 => {
            let len: usize = segments[..i].iter().map(|s| s.len() + 1).sum::<usize>() - 1;
            &address[..len]
        }
        _ => address,
    }
}

/// Whether `key` (a checkpoint key or an address) is `address` or below it: a step
/// inside it, one of its retry attempts (`#n`) or its own records (`~…`).
pub fn within(key: &str, address: &str) -> bool {
    key.strip_prefix(address)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['#', '~', '/']))
}

/// The stored key of the redrive marker number `generation` (1 for the first redrive).
pub fn redrive_key(generation: u32) -> String {
    format!("~redrive/{generation}")
}

/// Splits a stored key into its redrive generation and the key replay looks up.
///
/// Checkpoints written after the n-th redrive are stored as `r{n}:{key}`, so that a step
/// that runs again after a redrive gets keys of its own: the store never overwrites.
/// Keys of steps always start with a digit (a slot), so the prefix is unambiguous.
fn split_generation(stored: &str) -> (u32, &str) {
    stored
        .strip_prefix('r')
        .and_then(|rest| rest.split_once(':'))
        .and_then(|(n, key)| Some((n.parse().ok()?, key)))
        .unwrap_or((0, stored))
}

/// The checkpoints of one execution, keyed for replay.
#[derive(Debug, Default)]
pub struct Journal {
    execution: String,
    /// The number of redrives so far: new checkpoints are written in this generation.
    generation: u32,
    /// Each key's newest checkpoint, and the generation it was written in.
    entries: HashMap<String, (u32, Entry)>,
    /// The address the last redrive runs again (its failed step's scope).
    redriven: Option<String>,
    /// The highest `seq` of the stored checkpoints read (loaded or absorbed).
    last_seq: u64,
}

impl Journal {
    /// The journal of a new execution: nothing to replay.
    pub fn empty(execution: impl Into<String>) -> Self {
        Journal {
            execution: execution.into(),
            ..Journal::default()
        }
    }

    /// The journal of an execution from its stored checkpoints, in `seq` order.
    ///
    /// Each redrive marker (payload: the address of the step that failed) sets aside the
    /// failures and deadlines recorded before it at that address, or below it (its
    /// attempts `#n`, timers `~…`, and map items or branches `/…`), so the redriven step
    /// runs again with a fresh retry budget; everything else is kept.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Corrupt`] naming the execution and key of the first checkpoint
    /// whose payload does not match its checksum.
    pub fn load(
        execution: impl Into<String>,
        checkpoints: Vec<Checkpoint>,
    ) -> Result<Self, ReplayError> {
        let mut journal = Journal::empty(execution);
        for checkpoint in checkpoints {
            journal.last_seq = journal.last_seq.max(checkpoint.seq);
            if checksum(&checkpoint.payload) != checkpoint.checksum {
                return Err(journal.corrupt(
                    checkpoint.key,
                    format!(
                        "its {} payload bytes do not match their checksum",
                        checkpoint.payload.len()
                    ),
                ));
            }
            if checkpoint.kind == CheckpointKind::Redrive {
                let Ok(address) = std::str::from_utf8(&checkpoint.payload) else {
                    return Err(journal.corrupt(
                        checkpoint.key,
                        "a redrive marker whose address is not UTF-8".into(),
                    ));
                };
                journal.set_aside(address);
                journal.redriven = Some(address.to_owned());
                journal.generation += 1;
                continue;
            }
            let (generation, key) = split_generation(&checkpoint.key);
            let entry = Entry {
                kind: checkpoint.kind,
                payload: checkpoint.payload.into(),
            };
            journal.entries.insert(key.to_owned(), (generation, entry));
        }
        Ok(journal)
    }

    /// Adds checkpoints read from the store after the journal was loaded (written into
    /// the running execution by another process: a callback's messages). A checkpoint
    /// the journal has already is left as it is. Returns how many it added.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Corrupt`] for a payload that does not match its checksum, or a
    /// redrive marker (a running execution is never redriven).
    pub fn absorb(&mut self, checkpoints: Vec<Checkpoint>) -> Result<usize, ReplayError> {
        let mut added = 0;
        for checkpoint in checkpoints {
            self.last_seq = self.last_seq.max(checkpoint.seq);
            if checksum(&checkpoint.payload) != checkpoint.checksum {
                return Err(self.corrupt(
                    checkpoint.key,
                    format!(
                        "its {} payload bytes do not match their checksum",
                        checkpoint.payload.len()
                    ),
                ));
            }
            if checkpoint.kind == CheckpointKind::Redrive {
                return Err(self.corrupt(
                    checkpoint.key,
                    "a redrive marker written while the execution was running".into(),
                ));
            }
            let (generation, key) = split_generation(&checkpoint.key);
            if generation != self.generation || self.entries.contains_key(key) {
                continue;
            }
            let entry = Entry {
                kind: checkpoint.kind,
                payload: checkpoint.payload.into(),
            };
            self.entries.insert(key.to_owned(), (generation, entry));
            added += 1;
        }
        Ok(added)
    }

    fn corrupt(&self, key: String, detail: String) -> ReplayError {
        ReplayError::Corrupt {
            execution: self.execution.clone(),
            key,
            detail,
        }
    }

    /// Forgets the failures and deadlines at `address` and below it, and the recorded
    /// failures of containers (`…~failed`), which the redriven steps decide anew.
    fn set_aside(&mut self, address: &str) {
        self.entries.retain(|key, (_, entry)| {
            let below = within(key, address);
            let container_failure = key.ends_with("~failed");
            let reset = (below || container_failure)
                && matches!(
                    entry.kind,
                    CheckpointKind::Failure | CheckpointKind::Deadline
                );
            !reset
        });
    }

    /// The execution this journal belongs to.
    pub fn execution(&self) -> &str {
        &self.execution
    }

    /// The address the last redrive runs again, if the execution was redriven: what
    /// ran there before belongs to an earlier run of it.
    pub fn redriven(&self) -> Option<&str> {
        self.redriven.as_deref()
    }

    /// The highest `seq` of the stored checkpoints it read: later ones are new to it.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// How many redrives the execution has had.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The checkpoint at `key`, if it is to be replayed.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).map(|(_, entry)| entry)
    }

    /// How many checkpoints are to be replayed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records a checkpoint about to be written, and says under which stored key.
    ///
    /// # Errors
    ///
    /// [`ReplayError::Conflict`] when `key` already holds another checkpoint written in
    /// this generation: a committed checkpoint is never overwritten.
    pub fn record(
        &mut self,
        key: &str,
        kind: CheckpointKind,
        payload: &[u8],
    ) -> Result<Recorded, ReplayError> {
        match self.entries.get(key) {
            Some((_, entry)) if entry.kind == kind && *entry.payload == *payload => {
                return Ok(Recorded::Unchanged);
            }
            Some((generation, entry)) if *generation == self.generation => {
                return Err(ReplayError::Conflict {
                    execution: self.execution.clone(),
                    key: key.to_owned(),
                    existing: entry.kind,
                });
            }
            _ => {}
        }
        let entry = Entry {
            kind,
            payload: payload.into(),
        };
        self.entries
            .insert(key.to_owned(), (self.generation, entry));
        Ok(Recorded::New(match self.generation {
            0 => key.to_owned(),
            n => format!("r{n}:{key}"),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A checkpoint with a correct checksum.
    fn cp(key: &str, kind: CheckpointKind, payload: &[u8]) -> Checkpoint {
        Checkpoint {
            seq: 0,
            key: key.to_owned(),
            kind,
            payload: payload.to_vec(),
            checksum: checksum(payload),
        }
    }

    #[test]
    fn checksum_is_crc32_ieee() {
        assert_eq!(checksum(b"123456789"), 0xCBF4_3926);
        assert_eq!(checksum(b""), 0);
    }

    /// Journal: `0.a` output, `1.b#1` failure, `1.b#1~delay` deadline, `1.b#2` output.
    #[test]
    fn replays_outputs_failures_and_deadlines() {
        let journal = Journal::load(
            "e1",
            vec![
                cp("0.a", CheckpointKind::Output, b"A"),
                cp("1.b#1", CheckpointKind::Failure, b"E"),
                cp("1.b#1~delay", CheckpointKind::Deadline, &7u64.to_le_bytes()),
                cp("1.b#2", CheckpointKind::Output, b"B"),
            ],
        )
        .unwrap();
        assert_eq!(journal.len(), 4);
        assert_eq!(&*journal.get("0.a").unwrap().payload, b"A");
        assert_eq!(journal.get("1.b#1").unwrap().kind, CheckpointKind::Failure);
        assert!(journal.get("2.c").is_none());
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_checksum() {
        let mut bad = cp("0.a", CheckpointKind::Output, b"payload");
        bad.payload[3] ^= 0x10;
        let err = Journal::load("order-7", vec![bad]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "checkpoint `0.a` of execution `order-7` is corrupt: its 7 payload bytes do not match their checksum"
        );
    }

    #[test]
    fn a_truncated_payload_is_caught_by_the_checksum() {
        let mut bad = cp("0.a", CheckpointKind::Output, b"payload");
        bad.payload.truncate(3);
        assert!(matches!(
            Journal::load("e", vec![bad]),
            Err(ReplayError::Corrupt { .. })
        ));
    }

    /// Journal: `0.a` ok, `1.b#1` and `1.b#2` failed, `1.b#1~delay` deadline, redrive of
    /// `1.b`. `1.bc#1` failed is a different step and stays.
    #[test]
    fn a_redrive_sets_aside_failures_and_deadlines_at_and_below_its_address() {
        let journal = Journal::load(
            "e",
            vec![
                cp("0.a", CheckpointKind::Output, b"A"),
                cp("1.b#1", CheckpointKind::Failure, b"E1"),
                cp("1.b#1~delay", CheckpointKind::Deadline, &[0; 8]),
                cp("1.b#2", CheckpointKind::Failure, b"E2"),
                cp("1.bc#1", CheckpointKind::Failure, b"E3"),
                cp(&redrive_key(1), CheckpointKind::Redrive, b"1.b"),
            ],
        )
        .unwrap();
        let mut keys: Vec<_> = journal.entries.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["0.a", "1.bc#1"]);
        assert_eq!(journal.generation(), 1);
    }

    /// After a redrive, a step that runs again is recorded under `r1:` and replayed
    /// from there; a second redrive sets it aside again.
    #[test]
    fn checkpoints_after_a_redrive_get_keys_of_their_own() {
        let mut journal = Journal::load(
            "e",
            vec![
                cp("1.b#1", CheckpointKind::Failure, b"E1"),
                cp(&redrive_key(1), CheckpointKind::Redrive, b"1.b"),
            ],
        )
        .unwrap();
        assert_eq!(
            journal.record("1.b#1", CheckpointKind::Failure, b"E2"),
            Ok(Recorded::New("r1:1.b#1".into()))
        );
        let reloaded = Journal::load(
            "e",
            vec![
                cp("1.b#1", CheckpointKind::Failure, b"E1"),
                cp(&redrive_key(1), CheckpointKind::Redrive, b"1.b"),
                cp("r1:1.b#1", CheckpointKind::Failure, b"E2"),
            ],
        )
        .unwrap();
        assert_eq!(&*reloaded.get("1.b#1").unwrap().payload, b"E2");
        let twice = Journal::load(
            "e",
            vec![
                cp("1.b#1", CheckpointKind::Failure, b"E1"),
                cp(&redrive_key(1), CheckpointKind::Redrive, b"1.b"),
                cp("r1:1.b#1", CheckpointKind::Failure, b"E2"),
                cp(&redrive_key(2), CheckpointKind::Redrive, b"1.b"),
            ],
        )
        .unwrap();
        assert!(twice.get("1.b#1").is_none());
        assert_eq!(twice.generation(), 2);
    }

    #[test]
    fn identical_rewrites_are_unchanged_and_different_bytes_are_refused() {
        let mut journal =
            Journal::load("e", vec![cp("0.a", CheckpointKind::Output, b"A")]).unwrap();
        assert_eq!(
            journal.record("0.a", CheckpointKind::Output, b"A"),
            Ok(Recorded::Unchanged)
        );
        assert_eq!(
            journal.record("1.b", CheckpointKind::Output, b"B"),
            Ok(Recorded::New("1.b".into()))
        );
        let err = journal
            .record("0.a", CheckpointKind::Output, b"other")
            .unwrap_err();
        assert!(matches!(err, ReplayError::Conflict { ref key, .. } if key == "0.a"));
        assert_eq!(&*journal.get("0.a").unwrap().payload, b"A");
    }

    /// A redrive scoped to a map sets aside the failures of all its items and the
    /// map's own recorded failure; outputs stay.
    #[test]
    fn a_redrive_of_a_map_sets_aside_every_failed_item() {
        let journal = Journal::load(
            "e",
            vec![
                cp("0.map/0/0.f", CheckpointKind::Output, b"ok"),
                cp("0.map/1/0.f", CheckpointKind::Failure, b"E1"),
                cp("0.map/3/0.f", CheckpointKind::Failure, b"E3"),
                cp("0.map~failed", CheckpointKind::Failure, b"E1"),
                cp(
                    &redrive_key(1),
                    CheckpointKind::Redrive,
                    redrive_scope("0.map/1/0.f").as_bytes(),
                ),
            ],
        )
        .unwrap();
        let mut keys: Vec<_> = journal.entries.keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["0.map/0/0.f"]);
    }
}
