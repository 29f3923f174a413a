//! The durable runtime: resume, redrive, idempotent starts, timers that survive an
//! interruption, bad input, and concurrent starts — on the memory and SQLite stores.

mod bad_input;
mod callbacks;
mod concurrency;
mod edge_cases;
mod history;
mod lease_wait;
mod map_stream;
mod pause;
mod resume;
mod support;
mod timers;
mod worker;
