//! [`BenchStore`]: the stores a sweep runs on, and opening a fresh one per point.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use waypost_core::Store;
use waypost_runtime::{MemoryStore, SqliteStore};

use crate::error::BenchError;

/// Where a point's execution keeps its checkpoints.
///
/// Each point gets a fresh store: a new SQLite file in a temporary directory (removed
/// afterwards), a new `MemoryStore`, or a new execution in the PostgreSQL database.
///
/// # Examples
///
/// ```
/// use waypost::bench::BenchStore;
///
/// let stores: Vec<BenchStore> = "none,memory,sqlite".split(',').map(|s| s.parse().unwrap()).collect();
/// assert_eq!(stores, [BenchStore::None, BenchStore::Memory, BenchStore::Sqlite]);
/// assert_eq!(BenchStore::Sqlite.to_string(), "sqlite");
/// assert!("mongo".parse::<BenchStore>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BenchStore {
    /// No store: `Runtime::run`, nothing is checkpointed.
    None,
    /// [`MemoryStore`]: checkpoints encoded and kept in memory.
    Memory,
    /// [`SqliteStore`] in a temporary file, fsync on every commit (the default
    /// durability).
    Sqlite,
    /// `PostgresStore` at this URL (feature `postgres`); each point is a new execution,
    /// left in the database.
    #[cfg(feature = "postgres")]
    Postgres(String),
}

impl fmt::Display for BenchStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BenchStore::None => "none",
            BenchStore::Memory => "memory",
            BenchStore::Sqlite => "sqlite",
            #[cfg(feature = "postgres")]
            BenchStore::Postgres(_) => "postgres",
        })
    }
}

impl FromStr for BenchStore {
    type Err = BenchError;

    /// `none`, `memory`, `sqlite`, or (feature `postgres`) a `postgres://` URL.
    fn from_str(text: &str) -> Result<Self, BenchError> {
        match text.trim() {
            "none" => Ok(BenchStore::None),
            "memory" => Ok(BenchStore::Memory),
            "sqlite" => Ok(BenchStore::Sqlite),
            #[cfg(feature = "postgres")]
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(BenchStore::Postgres(url.to_owned()))
            }
            other => Err(BenchError::UnknownStore {
                given: other.to_owned(),
            }),
        }
    }
}

/// A store opened for one point, and what must live as long as it (the temporary
/// directory of a SQLite file).
pub(crate) struct Opened {
    pub(crate) store: Option<Arc<dyn Store>>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchStore {
    /// A fresh store of this kind.
    pub(crate) async fn open(&self, step: &str) -> Result<Opened, BenchError> {
        let failed = |error: Box<dyn std::error::Error + Send + Sync>| BenchError::Store {
            step: step.to_owned(),
            store: self.to_string(),
            error,
        };
        let (store, dir): (Option<Arc<dyn Store>>, _) = match self {
            BenchStore::None => (None, None),
            BenchStore::Memory => (Some(Arc::new(MemoryStore::new())), None),
            BenchStore::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("waypost-bench-")
                    .tempdir()
                    .map_err(|e| failed(Box::new(e)))?;
                let store = SqliteStore::open(dir.path().join("bench.db"))
                    .map_err(|e| failed(Box::new(e)))?;
                (Some(Arc::new(store)), Some(dir))
            }
            #[cfg(feature = "postgres")]
            BenchStore::Postgres(url) => {
                let store = waypost_postgres::PostgresStore::connect(url)
                    .await
                    .map_err(|e| failed(Box::new(e)))?;
                (Some(Arc::new(store)), None)
            }
        };
        Ok(Opened { store, _dir: dir })
    }
}
