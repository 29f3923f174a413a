//! The reliability suite: fault injection into the store, seeded random workflows
//! checked against a model under interruptions, and corrupt payloads. See
//! RELIABILITY.md at the repository root for what each test injects and the figures
//! of the last soak.

mod corrupt;
mod faults;
mod model;
mod support;
