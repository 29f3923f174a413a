//! The waypost web console: every execution of a store in a browser — the workflow
//! drawn as a graph with each state coloured by how it went, the timeline of its
//! attempts, each state's input, output and error, map progress that moves while it
//! runs, recoveries and redrives — and actions on them (cancel, redrive, pause,
//! callbacks).
//!
//! Two ways to run it, the same pages:
//!
//! - over a store, with no workflow code: `waypost console --store waypost.db` (or a
//!   `postgres://` URL). It shows everything stored, decodes JSON payloads, shows the
//!   size of binary ones, and can cancel.
//! - embedded in a program (or a worker) that has the workflows' code:
//!   [`Console::new`]`(runtime)?.`[`register`](Console::register)`(&workflow)`, served
//!   with [`Console::serve`] or [`Console::spawn`], or nested in your own axum app with
//!   [`Console::router`]. It also decodes every payload (bincode included) as JSON,
//!   and redrives failed executions.
//!
//! Pages are HTML rendered on the server and read without JavaScript; a small script
//! (embedded in the binary, like the stylesheet: the console works offline) follows a
//! running execution through server-sent events.
//!
//! # Actions and their token
//!
//! Cancel and redrive are POST requests that need the console's token: a random one
//! made at start ([`Console::token`]), or one you give ([`Console::with_token`]). A
//! browser opens `/login?token=…` once ([`Console::login_path`]; the CLI prints the
//! whole link) and gets it as an `HttpOnly`, `SameSite=Strict` cookie; a script sends
//! `Authorization: Bearer TOKEN`. Requests that another site's page made are refused
//! (`Origin`, `Sec-Fetch-Site`), whatever they carry. [`Console::read_only`] turns
//! actions off. Serve it on 127.0.0.1 unless you put it behind your own access control.
//!
//! # The JSON API
//!
//! | route | answers |
//! |---|---|
//! | `GET /api/executions?status=&workflow=&q=&page=&per_page=` | `{"executions": [summary…], "page", "per_page", "has_next"}`, newest first; `q` finds ids containing it |
//! | `GET /api/executions/{id}` | the summary plus `input`, `output` (payloads), `error` (with its `cause` chain), `states` (per state: status, attempts, retries, input, output, error), `maps` (done, total, failed), `runner`, `registered` |
//! | `GET /api/executions/{id}/history` | every event, in order |
//! | `GET /api/workflows/{name}?version=` | versions, statuses, per-step statistics (runs, re-runs, failures, retries, p50/p95/max ms) and the ASL |
//! | `POST /api/executions/{id}/cancel` | `{"id", "status": "cancelled"}` |
//! | `POST /api/executions/{id}/redrive` | `{"id", "status": "running"}` (embedded console) |
//! | `POST /api/executions/{id}/pause`, `…/unpause` | `{"id", "paused", "changed"}`: the step in flight finishes, no new one starts until unpaused |
//! | `POST /api/callbacks/succeed` `{"token", "output"}`, `…/fail` `{"token", "error", "cause"}`, `…/heartbeat` `{"token"}` | `{"execution_id", "key", "message"}`: answers a callback state; 400 malformed token, 404 unknown, 409 reused or ended |
//!
//! A summary is `{"id", "workflow", "version", "status", "status_text", "started_ms",
//! "ended_ms", "duration_ms", "redrives", "recoveries", "codec"}`; a payload is
//! `{"codec", "bytes", "value"?, "problem"?}` (`value` when it could be decoded).
//! Errors answer `{"error": "what went wrong", "status": 404}` with that HTTP status:
//! 404 for an unknown id, 400 for a bad query, 403 for an action without the token,
//! 409 for an action that does not fit (cancel of a finished execution), 503 when the
//! store cannot be read.
//!
//! # Examples
//!
//! ```
//! use waypost::prelude::*;
//! use waypost::MemoryStore;
//! use waypost_console::Console;
//!
//! #[step]
//! fn double(x: u32) -> u32 { x * 2 }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let runtime = Runtime::builder().store(MemoryStore::new()).build();
//! let wf = Workflow::new("doubling", 1, double);
//! runtime.start(&wf, "d-1", 21).await?;
//!
//! let console = Console::new(runtime)?.register(&wf).with_token("secret");
//! let addr = console.spawn("127.0.0.1:0".parse()?).await?;
//! println!("open http://{addr}/login?token=secret");
//! # Ok(())
//! # }
//! ```
#![doc(test(attr(deny(warnings))))]

mod actions;
mod api;
mod auth;
mod console;
mod error;
mod graph_svg;
mod live;
mod pages;
mod registry;
mod routes;
mod view;
mod workflow;

pub use console::Console;
