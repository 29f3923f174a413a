//! What the benches share: the trivial step they chain, and the tokio runtime they
//! run on.

#![allow(dead_code, reason = "each bench uses its own part of this module")]

use waypost::prelude::*;

pub(crate) mod layout;

/// A trivial async step: the work is nothing, so the bench measures waypost.
#[step]
pub(crate) async fn add_one(x: u64) -> u64 {
    x + 1
}

/// A workflow of `len` `add_one` steps in a row, built at run time.
pub(crate) fn sequence(name: &'static str, len: usize) -> Workflow<u64, u64> {
    let mut chain = add_one.boxed();
    for _ in 1..len {
        chain = chain.then(add_one).boxed();
    }
    Workflow::new(name, 1, chain)
}

/// Runs `write` in one `BEGIN IMMEDIATE … COMMIT` transaction, as the store's writer
/// does (the two statements prepared once).
pub(crate) fn transaction(conn: &rusqlite::Connection, write: impl FnOnce()) {
    conn.prepare_cached("BEGIN IMMEDIATE")
        .unwrap()
        .execute([])
        .unwrap();
    write();
    conn.prepare_cached("COMMIT").unwrap().execute([]).unwrap();
}

/// A multi-threaded tokio runtime with one worker per core of the 2-core bench
/// machine.
pub(crate) fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
