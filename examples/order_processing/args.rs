//! The command line: the flags every mode shares (global, so they go before or after the
//! subcommand) and the `submit` and `worker` subcommands.

use std::path::PathBuf;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};

use crate::workflow::STAGES;

/// Orders as durable executions on a store. Without a subcommand this process submits
/// every order and runs them all (or resumes them, or shows their results); `submit`
/// and `worker` split that between processes: one submits, any number of workers run.
#[derive(Debug, Parser)]
pub(crate) struct Args {
    /// Omitted: submit and run every order here.
    #[command(subcommand)]
    pub(crate) mode: Option<Mode>,
    /// Print the workflow's graph in this format (mermaid, dot or asl) and exit without
    /// running anything.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub(crate) graph: Option<waypost::export::Format>,
    /// How many orders (for the all-in-one run and `submit`: a worker runs every order
    /// of the store).
    #[arg(long, global = true, default_value_t = 200)]
    pub(crate) orders: u32,
    /// Execution ids are `{prefix}-0001`, `{prefix}-0002`, ...; the same prefix again
    /// resumes those executions or shows their results.
    #[arg(long, global = true, default_value = "order")]
    pub(crate) prefix: String,
    /// The store: a SQLite file, shared by the processes of one machine, or a PostgreSQL
    /// URL (`postgres://user@host:port/db`), shared by many machines.
    #[arg(long, global = true, default_value = "waypost-orders.db")]
    pub(crate) store: PathBuf,
    /// The schema of a PostgreSQL store.
    #[arg(long, global = true, default_value = "waypost")]
    pub(crate) schema: String,
    /// Seed of the orders and of every simulated outcome. Workers need the seed the
    /// orders were submitted with to give the outcomes of an all-in-one run.
    #[arg(long, global = true, default_value_t = 42)]
    pub(crate) seed: u64,
    /// Share of cards the payment service declines.
    #[arg(long, global = true, default_value_t = 0.1, value_parser = rate)]
    pub(crate) decline_rate: f64,
    /// Share of payment attempts that fail with a transient gateway error (retried).
    #[arg(long, global = true, default_value_t = 0.2, value_parser = rate)]
    pub(crate) transient_rate: f64,
    /// Share of reviewed orders that fraud review rejects.
    #[arg(long, global = true, default_value_t = 0.3, value_parser = rate)]
    pub(crate) fraud_rate: f64,
    /// Orders over this many dollars go through fraud review.
    #[arg(long, global = true, default_value_t = 500.0)]
    pub(crate) review_over: f64,
    /// Orders over `--review-over`, once past fraud review, wait for a person's
    /// approval: each waits parked until someone answers with the token written to the
    /// outbox (`<store>.approvals`): `waypost callback succeed TOKEN --json '{"by":"ana"}'`
    /// or `waypost callback fail TOKEN --error Rejected --cause 'why'`. Submit and run
    /// with the same setting (it changes the workflow).
    #[arg(long, global = true)]
    pub(crate) approvals: bool,
    /// Average latency of each service call, in milliseconds.
    #[arg(long, global = true, default_value_t = 20)]
    pub(crate) latency_ms: u64,
    /// Kill the process (like `kill -9`) when the first order starts the stage after
    /// this one: validate, route, fulfil (reserve and charge) or ship (or release).
    /// For the all-in-one run and for workers.
    #[arg(long, global = true, value_name = "STAGE")]
    pub(crate) crash_after: Option<String>,
    /// Print every order, not a few of each outcome.
    #[arg(long, global = true)]
    pub(crate) verbose: bool,
}

/// What this process does besides the all-in-one run.
#[derive(Debug, Subcommand)]
pub(crate) enum Mode {
    /// Submit the orders to the store and return once they are durably recorded: workers
    /// run them. Submitting again is harmless (each order is submitted once).
    Submit {
        /// Then wait for every order to finish, with a progress bar, and print their
        /// results.
        #[arg(long)]
        wait: bool,
    },
    /// Run the orders of the store, submitted by any process, until Ctrl-C (which lets
    /// what runs finish, or hands it back to other workers).
    Worker {
        /// How many orders this worker runs at once.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
        concurrency: u32,
        /// Also stop once no order is running or waiting in the store for this many
        /// seconds (2 when given without a value).
        #[arg(
            long,
            value_name = "SECONDS",
            num_args = 0..=1,
            default_missing_value = "2"
        )]
        exit_when_idle: Option<u64>,
        /// Also serve the web console on this address (it decodes the orders and can
        /// redrive failed ones).
        #[arg(long, value_name = "ADDR")]
        console: Option<std::net::SocketAddr>,
    },
    /// Serve the web console over the store until Ctrl-C: every order's execution, its
    /// graph, data (decoded: this program has the workflow's types) and history; cancel
    /// and redrive (which runs here, with this command line's rates).
    Console {
        /// The address to serve on.
        #[arg(long, default_value = "127.0.0.1:7070")]
        addr: std::net::SocketAddr,
        /// The token actions need (a random one when not given).
        #[arg(long)]
        token: Option<String>,
    },
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{text}` is not a rate between 0 and 1")),
    }
}

/// The command line, for the steps and services to read.
static ARGS: OnceLock<Args> = OnceLock::new();

/// The parsed command line.
pub(crate) fn args() -> &'static Args {
    ARGS.get_or_init(Args::parse)
}

impl Args {
    /// Checks what clap cannot: `--crash-after` names a stage, and only for a mode that
    /// runs steps.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        let Some(stage) = &self.crash_after else {
            return Ok(());
        };
        anyhow::ensure!(
            !matches!(self.mode, Some(Mode::Submit { .. })),
            "--crash-after is for the processes that run orders (the all-in-one run and \
             `worker`); `submit` runs none"
        );
        // Nothing runs after the last stage: crashing after it would not interrupt.
        let stages: Vec<&str> = STAGES[..STAGES.len() - 1].iter().map(|s| s.0).collect();
        anyhow::ensure!(
            stages.contains(&stage.as_str()),
            "--crash-after takes one of {stages:?}"
        );
        Ok(())
    }

    /// The execution ids of the orders: `{prefix}-0001`, ...
    pub(crate) fn ids(&self) -> Vec<String> {
        (1..=self.orders)
            .map(|n| format!("{}-{n:04}", self.prefix))
            .collect()
    }
}
