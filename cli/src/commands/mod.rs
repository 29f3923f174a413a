//! The commands, one module each: its arguments (a clap `Args` struct) and its `run`.
//!
//! Every `run` reads the store (opened read-only by `main`) and writes what it shows to
//! `out`; errors go back to `main`, which prints them and exits with status 1.

pub(crate) mod callback;
pub(crate) mod console;
mod graph;
mod history;
mod list;
pub(crate) mod pause;
mod show;
mod stats;
mod watch;

use std::io::Write;

use clap::Subcommand;

/// What to show.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List executions, newest first: id, workflow and version, status, start, duration,
    /// redrives.
    List(list::Args),
    /// Show one execution: status, workflow, timings, redrives and recoveries, input,
    /// output, and the failed step and its error.
    Show(show::Args),
    /// Print an execution's event history: time from the first event, kind, state
    /// address, attempt, duration and detail.
    History(history::Args),
    /// Draw the workflow graph of an execution (each state coloured by how far it got)
    /// or of a workflow's newest execution (uncoloured).
    Graph(graph::Args),
    /// Per-step statistics of a workflow across its executions: runs, re-runs after an
    /// interruption, failures, retries, and p50/p95/max durations.
    Stats(stats::Args),
    /// Follow a running execution until it ends: the current step, and a progress bar
    /// of the map in flight.
    Watch(watch::Args),
    /// Serve the web console over the store: executions, graphs, histories, data, and
    /// cancel (in a browser, on 127.0.0.1:7070 unless `--addr`).
    Console(console::Args),
    /// Answer a callback state with the token it handed out: `succeed TOKEN --json …`,
    /// `fail TOKEN --error NAME`, or `heartbeat TOKEN` (writes to the store).
    Callback(callback::Args),
    /// Pause a running execution: its steps in flight finish, then no new step starts
    /// until `unpause` (writes to the store).
    Pause(pause::Args),
    /// Let a paused execution go on (writes to the store).
    Unpause(pause::Args),
}

/// Runs `command` over `store`, writing to `out`.
pub(crate) fn run(
    command: &Command,
    store: &crate::store::Source,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        Command::List(args) => list::run(args, store, out),
        Command::Show(args) => show::run(args, store, out),
        Command::History(args) => history::run(args, store, out),
        Command::Graph(args) => graph::run(args, store, out),
        Command::Stats(args) => stats::run(args, store, out),
        Command::Watch(args) => watch::run(args, store, out),
        // `main` serves it before any store is opened read-only.
        Command::Console(_) => anyhow::bail!("the console is not a read-only command"),
        Command::Callback(_) | Command::Pause(_) | Command::Unpause(_) => {
            anyhow::bail!("this command writes to the store: `main` runs it")
        }
    }
}
