//! Fleets of real worker processes on one store, killed and stopped at random.
//!
//! The test binary re-runs itself as worker processes (`--ignored --exact
//! harness::fleet_worker`); the test process submits the executions (it is the process
//! that is not a worker) and checks what ran. Every task step appends `<execution>
//! <checkpoint key>` to a side-effect log outside the store.
//!
//! - `kills`: workers SIGKILLed at random, new ones started; every execution succeeds
//!   with an uninterrupted run's output, a step committed when a kill was seen never
//!   runs again, and a step runs at most once more than its execution's recoveries.
//! - `fencing`: a worker SIGSTOPped past its lease while another takes over and
//!   finishes; once SIGCONTed, none of its writes land.

#[path = "../support/crash.rs"]
mod support;

mod fencing;
mod harness;
mod kills;
mod workflow;
