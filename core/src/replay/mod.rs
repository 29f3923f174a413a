//! The replay engine: "stored result, or run?" for one execution, without any I/O.
//!
//! The runtime loads an execution's checkpoints from its store and hands them to
//! [`Journal::load`], which checks every payload's checksum and sets aside what a
//! redrive superseded. While the execution runs, each step asks [`Journal::get`] for
//! its key: a hit is replayed instead of running the step; a miss means the step runs
//! and its result goes through [`Journal::record`], which says whether the store must
//! be written ([`Recorded::New`]), whether an identical checkpoint is already there
//! ([`Recorded::Unchanged`]), or refuses different bytes for a committed key.
//!
//! The [`fingerprint`] module checks that an execution resumes with the workflow it was
//! started with. Nothing here touches a store, a clock or a thread: tests feed journals
//! and read decisions.

pub mod fingerprint;
mod journal;

pub use journal::{
    Entry, Journal, Recorded, ReplayError, checksum, redrive_key, redrive_scope, within,
};
