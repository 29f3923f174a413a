//! `waypost pause ID` and `waypost unpause ID`: hold a running execution after its steps
//! in flight, and let it go on.
//!
//! They write to the store (one request each), so they open a SQLite file read-write
//! (never creating or migrating it). Whoever runs the execution sees the request within
//! about a second; a worker parks a paused execution (no lease) and any worker goes on
//! with it once it is unpaused.

use std::path::Path;

use waypost_runtime::Runtime;

/// Arguments of `pause` and `unpause`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The execution id.
    id: String,
}

/// Pauses (`paused: true`) or unpauses the execution and says what changed.
pub(crate) fn run(args: &Args, paused: bool, store: &Path, schema: &str) -> anyhow::Result<()> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let (store, _) = crate::store::open_for_writing(store, schema, false).await?;
        let runtime = Runtime::builder().shared_store(store).build();
        let id = &args.id;
        let changed = if paused {
            runtime.pause(id).await?
        } else {
            runtime.unpause(id).await?
        };
        match (paused, changed) {
            (true, true) => println!(
                "paused `{id}`: its steps in flight finish, then it holds until `waypost unpause {id}`"
            ),
            (true, false) => println!("`{id}` was already paused"),
            (false, true) => println!("unpaused `{id}`: it goes on"),
            (false, false) => println!("`{id}` was not paused"),
        }
        Ok(())
    })
}
