//! `waypost callback succeed|fail|heartbeat TOKEN`: answer a callback state.
//!
//! A workflow's `wait_for_callback` state hands a token to someone (a mail, a queue);
//! this command sends the state its result with that token, from any machine that
//! reaches the store. It writes to the store (one message), so it opens a SQLite file
//! read-write (never creating or migrating it). After a success or failure it waits
//! (`--wait`, 10 s by default) for the state to take the message and says what it made
//! of it: taken, or refused (an output of the wrong shape; the state waits on and the
//! token can be used again). A parked execution takes it when a worker resumes it.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use waypost_core::Error;
use waypost_core::callback::{Message, Verdict};
use waypost_runtime::Runtime;

/// Arguments of `callback`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
    /// How long to wait for the state to take a success or failure (seconds; 0: do
    /// not wait).
    #[arg(long, global = true, default_value_t = 10.0, value_name = "SECONDS")]
    wait: f64,
}

/// What to send.
#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Complete the state with an output (JSON of the state's output type).
    Succeed {
        /// The token the state handed out.
        token: String,
        /// The output, as JSON: `--json '{"approved": true}'`.
        #[arg(long, value_name = "JSON")]
        json: String,
    },
    /// Fail the state with an error that retry and catch match by name.
    Fail {
        /// The token the state handed out.
        token: String,
        /// The error's name, such as `Rejected`.
        #[arg(long, value_name = "NAME")]
        error: String,
        /// What happened, in words.
        #[arg(long, default_value = "", value_name = "TEXT")]
        cause: String,
    },
    /// Tell the state its work goes on (its heartbeat timeout starts again).
    Heartbeat {
        /// The token the state handed out.
        token: String,
    },
}

/// Sends the message and reports what became of it.
pub(crate) fn run(args: &Args, store: &Path, schema: &str) -> anyhow::Result<()> {
    if !(args.wait.is_finite() && args.wait >= 0.0) {
        bail!(
            "--wait must be a number of seconds, 0 or more (got {})",
            args.wait
        );
    }
    let (token, message) = match &args.action {
        Action::Succeed { token, json } => {
            let output = serde_json::from_str(json)
                .with_context(|| format!("--json is not JSON: {json}"))?;
            (token, Message::Success { output })
        }
        Action::Fail {
            token,
            error,
            cause,
        } => {
            if error.trim().is_empty() {
                bail!("--error needs a name (such as `Rejected`), which retry and catch match");
            }
            (
                token,
                Message::Failure {
                    error: Error::new(error.clone(), cause.clone()),
                },
            )
        }
        Action::Heartbeat { token } => (token, Message::Heartbeat),
    };
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let (store, _) = crate::store::open_for_writing(store, schema, false).await?;
        let runtime = Runtime::builder().shared_store(store).build();
        let kind = message.kind();
        let delivered = runtime.send_to_callback(token, message).await?;
        let (id, key) = (&delivered.execution_id, &delivered.key);
        println!(
            "sent {kind} to `{key}` of execution `{id}` (message {})",
            delivered.number
        );
        if kind == "heartbeat" || args.wait == 0.0 {
            return Ok(());
        }
        let until = tokio::time::Instant::now() + Duration::from_secs_f64(args.wait);
        loop {
            match runtime.callback_verdict(&delivered).await? {
                Some(Verdict::Accepted) => {
                    println!("taken: execution `{id}` goes on");
                    return Ok(());
                }
                Some(Verdict::Refused(error)) => {
                    bail!(
                        "refused by `{key}`: {}; it waits on, and the token can be used again",
                        error.message()
                    );
                }
                Some(_) => return Ok(()),
                None if tokio::time::Instant::now() >= until => {
                    println!(
                        "stored: the execution has not taken it yet (it is parked, or its \
                         worker is busy); a worker takes it when it resumes the execution"
                    );
                    return Ok(());
                }
                None => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
}
