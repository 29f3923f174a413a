//! `console`: the web console over the orders' store, embedded in this program, so it
//! knows the order workflow's types: it decodes every order's data and can redrive a
//! failed order (the redrive runs here, with this command line's rates and seed).

use std::net::SocketAddr;
use std::sync::Arc;

use waypost::prelude::*;
use waypost_console::Console;

use crate::args::args;
use crate::store::open_store;
use crate::workflow::workflow;

/// Serves the console until Ctrl-C.
pub(crate) async fn serve(addr: SocketAddr, token: Option<String>) -> anyhow::Result<()> {
    let args = args();
    let store = open_store(&args.store, &args.schema).await?;
    let runtime = Runtime::builder().shared_store(Arc::clone(&store)).build();
    spawn(runtime, addr, token).await?;
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// Starts the console on `addr` over `runtime`'s store, in a task of its own, and
/// prints where it is.
pub(crate) async fn spawn(
    runtime: Runtime,
    addr: SocketAddr,
    token: Option<String>,
) -> anyhow::Result<()> {
    let mut console = Console::new(runtime)?
        .register(&workflow())
        .describe_store(args().store.display().to_string());
    if let Some(token) = token {
        console = console.with_token(token);
    }
    let login = console.login_path().unwrap_or_default();
    let addr = console.spawn(addr).await?;
    println!("console: http://{addr}/executions");
    println!("  to cancel and redrive from the pages, open http://{addr}{login} once");
    Ok(())
}
