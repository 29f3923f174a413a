//! `waypost`: inspect the executions in a waypost store — a SQLite file or a PostgreSQL
//! database — without the workflows' code.
//!
//! What the Step Functions console shows, from a terminal: the executions of a store
//! (`list`), one execution's status, timings, input, output and error (`show`), its
//! event history (`history`), its workflow's graph coloured by how far each state got
//! (`graph`), per-step statistics of a workflow (`stats`), a live view of a running
//! execution (`watch`), and the web console over it all (`console`).
//!
//! The store is opened read-only ([`SqliteStore::open_read_only`]): the CLI never creates,
//! migrates or writes a store, so it is safe to point at the file of a running program.
//! The exceptions are `console`, whose actions write (unless `--read-only`), `callback`,
//! which answers a callback state, and `pause`/`unpause` (one request each).
//! Resuming and redriving need the workflow's code, so they are not commands here; see
//! `Runtime::resume`, `Runtime::redrive` and `Runtime::resume_all`.
//!
//! Layout: this file parses the command line and dispatches; `commands/` holds one module
//! per command; `store.rs` opens the store and turns store errors into messages;
//! `format.rs` holds the shared formatting (times, durations, tables, payloads, errors).
//! What an execution's history says (each state's status, the step and map in flight)
//! is `waypost_core::inspect`, shared with any other view of a store.

mod commands;
mod format;
mod store;

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Inspect the executions in a waypost store file: list them, show one, read its
/// history, draw its graph, compute per-step statistics, watch it run, or serve the web
/// console over them.
#[derive(Debug, Parser)]
#[command(name = "waypost", version, after_help = AFTER_HELP)]
struct Cli {
    /// The store: a SQLite file written by `SqliteStore`, or a PostgreSQL URL
    /// (`postgres://user@host:port/db`). It is never created or migrated, and opened
    /// read-only, except by the commands that write (`callback`, `pause`, `unpause`, and
    /// `console` unless `--read-only`).
    #[arg(
        long,
        global = true,
        env = "WAYPOST_STORE",
        default_value = "waypost.db",
        value_name = "PATH|URL"
    )]
    store: PathBuf,

    /// The schema of a PostgreSQL store (`--store postgres://…`).
    #[arg(long, global = true, env = "WAYPOST_SCHEMA", default_value = "waypost")]
    schema: String,

    #[command(subcommand)]
    command: commands::Command,
}

/// The end of `--help`: what the CLI deliberately does not do, and where that lives.
const AFTER_HELP: &str = "\
Resuming and redriving are not commands: they run the workflow's steps, which only the
program that defines the workflow has. Call them from that program:
  Runtime::resume(&workflow, id)      continue an interrupted execution
  Runtime::redrive(&workflow, id)     run a failed execution again from the failed step
  Runtime::resume_all(&workflow)      at start-up, continue every interrupted execution

Exit status: 0 on success, 1 on an error (missing store, unknown id, ...), 2 on a usage error.";

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `waypost history x | head` closes the pipe early: not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(io::stderr().lock(), "error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    // The console opens the store its own way (it may write: cancel).
    if let commands::Command::Console(args) = &cli.command {
        return commands::console::run(args, &cli.store, &cli.schema);
    }
    match &cli.command {
        commands::Command::Callback(args) => {
            return commands::callback::run(args, &cli.store, &cli.schema);
        }
        commands::Command::Pause(args) => {
            return commands::pause::run(args, true, &cli.store, &cli.schema);
        }
        commands::Command::Unpause(args) => {
            return commands::pause::run(args, false, &cli.store, &cli.schema);
        }
        _ => {}
    }
    let store = store::open(&cli.store, &cli.schema)?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    commands::run(&cli.command, &store, &mut out)?;
    out.flush()?;
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
