//! The stores that ship with waypost: [`MemoryStore`] for tests, [`SqliteStore`] as the
//! embedded default.

mod memory;
mod sqlite;

pub use memory::MemoryStore;
pub use sqlite::{Durability, SqliteStore, SqliteStoreOptions};
