//! `waypost console`: the web console over the store, in a browser.
//!
//! Serves the pages of `waypost-console` over the store, with no workflow code: every
//! execution, its graph, history and data (JSON payloads decoded, the size of binary
//! ones), and cancel. Redrive and decoding of binary payloads need the workflow's code:
//! a program serves those with `waypost_console::Console` (see its docs).
//!
//! Unlike the other commands, the console can write (cancel): it opens a SQLite store
//! read-write (never creating it) unless `--read-only`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use waypost_console::Console;
use waypost_runtime::Runtime;

/// Arguments of `console`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The address to serve on. The console shows every execution's data: keep it on
    /// 127.0.0.1 unless something else guards it.
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: SocketAddr,
    /// The token actions (cancel) need; a random one when not given.
    #[arg(long, env = "WAYPOST_CONSOLE_TOKEN", conflicts_with = "read_only")]
    token: Option<String>,
    /// No actions: pages and the read API only (the store is opened read-only).
    #[arg(long)]
    read_only: bool,
}

/// Serves the console until Ctrl-C.
pub(crate) fn run(args: &Args, store: &Path, schema: &str) -> anyhow::Result<()> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    tokio.block_on(async {
        let (store, name) = crate::store::open_for_writing(store, schema, args.read_only).await?;
        let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
        let mut console = Console::new(runtime)?.describe_store(&name);
        if args.read_only {
            console = console.read_only();
        } else if let Some(token) = &args.token {
            console = console.with_token(token.clone());
        }
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.addr))?;
        let addr = listener.local_addr()?;
        println!("waypost console for {name}");
        println!("  pages:   http://{addr}/executions");
        match console.login_path() {
            Some(login) => println!("  actions: open http://{addr}{login} once to cancel from the pages"),
            None => println!("  read-only: no actions"),
        }
        if !addr.ip().is_loopback() {
            eprintln!(
                "note: {addr} is not a loopback address: whoever reaches it can read every execution"
            );
        }
        println!("Ctrl-C stops it.");
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        console.serve(listener, stop).await?;
        Ok(())
    })
}
