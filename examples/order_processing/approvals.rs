//! Approvals by a person (`--approvals`): a big order, once past fraud review, waits
//! for someone to approve or reject it. The workflow hands a callback token to
//! [`ask`], which writes it to the outbox file beside the store (in real life: a mail,
//! a chat message, a ticket) and prints how to answer with the `waypost` CLI. The
//! execution waits parked, holding no worker, until the answer comes from any process.

use std::io::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use waypost::prelude::*;

use crate::args::args;

/// What an approver sends: `{"by": "ana"}`. A rejection is a failure named `Rejected`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Approval {
    /// Who approved.
    pub(crate) by: String,
}

/// The outbox: one line per order that waits, `id<TAB>dollars<TAB>token`.
pub(crate) fn outbox() -> PathBuf {
    let store = args().store.to_string_lossy().into_owned();
    if store.starts_with("postgres://") || store.starts_with("postgresql://") {
        PathBuf::from("waypost-orders.approvals")
    } else {
        PathBuf::from(format!("{store}.approvals"))
    }
}

/// Hands `token` for the order `id` of `cents` to the approvers: a line in the outbox,
/// and how to answer on stdout. Called again with the same token after a crash.
pub(crate) fn ask(id: &str, cents: u64, token: &CallbackToken) -> Result<(), Error> {
    let dollars = format!("{}.{:02}", cents / 100, cents % 100);
    let line = format!("{id}\t{dollars}\t{token}\n");
    let path = outbox();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(line.as_bytes()))
        .map_err(|e| {
            Error::new(
                "OutboxUnavailable",
                format!("cannot write to {}: {e}", path.display()),
            )
        })?;
    println!(
        "{id} (${dollars}) waits for approval: waypost --store {} callback succeed {token} --json '{{\"by\":\"you\"}}'",
        args().store.display()
    );
    Ok(())
}
