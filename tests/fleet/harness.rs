//! Worker processes, the stores they share, and what the tests read back.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use waypost::store::{CheckpointKind, ListFilter};
use waypost::{Runtime, RuntimeConfig, SqliteStore, Store, Worker, WorkerOptions};
use waypost_postgres::{PostgresOptions, PostgresStore};

/// The store the workers share: a SQLite file's path, or a PostgreSQL URL.
pub(crate) const STORE: &str = "WAYPOST_FLEET_STORE";
/// The schema of a PostgreSQL store.
pub(crate) const SCHEMA: &str = "WAYPOST_FLEET_SCHEMA";
/// Each worker's lease, in ms.
const LEASE_MS: &str = "WAYPOST_FLEET_LEASE_MS";

/// Where a fleet keeps its executions.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A schema of a PostgreSQL database.
    Postgres { url: String, schema: String },
}

impl Target {
    /// Opens the store.
    pub(crate) async fn open(&self) -> Arc<dyn Store> {
        match self {
            Target::Sqlite(path) => Arc::new(SqliteStore::open(path).unwrap()),
            Target::Postgres { url, schema } => {
                let options = PostgresOptions::builder().schema(schema.clone()).build();
                Arc::new(PostgresStore::connect_with(url, options).await.unwrap())
            }
        }
    }

    /// The environment that names it to a worker process.
    fn env(&self) -> Vec<(&'static str, String)> {
        match self {
            Target::Sqlite(path) => vec![(STORE, path.display().to_string())],
            Target::Postgres { url, schema } => {
                vec![(STORE, url.clone()), (SCHEMA, schema.clone())]
            }
        }
    }

    /// The target a worker process was given.
    fn from_env() -> Target {
        let store = std::env::var(STORE).expect("WAYPOST_FLEET_STORE");
        match std::env::var(SCHEMA) {
            Ok(schema) => Target::Postgres { url: store, schema },
            Err(_) => Target::Sqlite(store.into()),
        }
    }
}

/// A worker process: runs the fleet's workflow from the store in the environment until
/// it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the fleet tests as a worker process"]
async fn fleet_worker() {
    let target = Target::from_env();
    let lease: u64 = std::env::var(LEASE_MS).unwrap().parse().unwrap();
    let runtime = Runtime::builder()
        .shared_store(target.open().await)
        .config(
            RuntimeConfig::builder()
                .lease_ttl(Duration::from_millis(lease))
                .build(),
        )
        .build();
    let options = WorkerOptions::builder()
        .concurrency(16)
        .lease_ttl(Duration::from_millis(lease))
        .poll_interval(Duration::from_millis(50))
        .build();
    let worker = Worker::new(runtime, options).register(&crate::workflow::workflow());
    println!("WORKER READY");
    worker.run(std::future::pending()).await.unwrap();
}

/// The worker processes of one test.
pub(crate) struct Fleet {
    target: Target,
    log: std::path::PathBuf,
    lease: Duration,
    pause_ms: u64,
    pub(crate) workers: Vec<Child>,
}

impl Fleet {
    pub(crate) fn new(target: &Target, log: &Path, lease: Duration, pause_ms: u64) -> Fleet {
        Fleet {
            target: target.clone(),
            log: log.to_owned(),
            lease,
            pause_ms,
            workers: Vec::new(),
        }
    }

    /// Starts one more worker process.
    pub(crate) fn spawn(&mut self) {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.envs(self.target.env());
        let child = command
            .args([
                "--ignored",
                "--exact",
                "harness::fleet_worker",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(crate::support::LOG, &self.log)
            .env(LEASE_MS, self.lease.as_millis().to_string())
            .env(crate::workflow::PAUSE_MS, self.pause_ms.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.workers.push(child);
    }

    /// SIGKILLs the worker at `index` and reaps it.
    pub(crate) fn kill(&mut self, index: usize) {
        let mut child = self.workers.swap_remove(index);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in &mut self.workers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `(execution, key)` of every committed task result (output or failure) in `store`.
pub(crate) async fn committed(store: &dyn Store) -> BTreeSet<(String, String)> {
    let mut keys = BTreeSet::new();
    for record in store.list(&ListFilter::default()).await.unwrap() {
        for checkpoint in store.checkpoints(&record.id).await.unwrap() {
            if matches!(
                checkpoint.kind,
                CheckpointKind::Output | CheckpointKind::Failure
            ) {
                keys.insert((record.id.clone(), checkpoint.key));
            }
        }
    }
    keys
}

/// How many times each `(execution, key)` ran, from the side-effect log.
pub(crate) fn runs(log: &Path) -> HashMap<(String, String), u32> {
    crate::support::counts(log)
        .into_iter()
        .map(|(line, count)| {
            let (id, key) = line.split_once(' ').unwrap();
            ((id.to_owned(), key.to_owned()), count)
        })
        .collect()
}

/// A schema of its own on the test PostgreSQL (`WAYPOST_TEST_POSTGRES`), dropped at
/// the end.
pub(crate) struct Postgres {
    pub(crate) target: Target,
}

impl Postgres {
    /// `None` (saying so) without `WAYPOST_TEST_POSTGRES`; on CI that fails.
    pub(crate) fn schema(prefix: &str) -> Option<Postgres> {
        let url = match std::env::var("WAYPOST_TEST_POSTGRES") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "WAYPOST_TEST_POSTGRES is not set, and CI is: the PostgreSQL fleet tests must run"
                );
                println!("PostgreSQL fleet test skipped: WAYPOST_TEST_POSTGRES is not set");
                return None;
            }
        };
        let schema = format!(
            "t_fleet_{prefix}_{}_{:08x}",
            std::process::id(),
            fastrand::u32(..)
        );
        Some(Postgres {
            target: Target::Postgres { url, schema },
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Target::Postgres { url, schema } = self.target.clone() else {
            return;
        };
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .unwrap();
                tokio::spawn(connection);
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .await;
            });
        })
        .join();
    }
}
