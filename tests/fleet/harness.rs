//! Worker processes, the stores they share, and what the tests read back.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use waypost::store::{CheckpointKind, ListFilter};
use waypost::{Runtime, RuntimeConfig, SqliteStore, Store, Worker, WorkerOptions};

/// The store the workers share: a SQLite file's path.
pub(crate) const STORE: &str = "WAYPOST_FLEET_STORE";
/// Each worker's lease, in ms.
const LEASE_MS: &str = "WAYPOST_FLEET_LEASE_MS";

/// Opens the store named by `url`.
pub(crate) fn open_store(url: &str) -> Arc<dyn Store> {
    Arc::new(SqliteStore::open(url).unwrap())
}

/// A worker process: runs the fleet's workflow from the store in the environment until
/// it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the fleet tests as a worker process"]
async fn fleet_worker() {
    let url = std::env::var(STORE).expect("WAYPOST_FLEET_STORE");
    let lease: u64 = std::env::var(LEASE_MS).unwrap().parse().unwrap();
    let runtime = Runtime::builder()
        .shared_store(open_store(&url))
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
    store: String,
    log: std::path::PathBuf,
    lease: Duration,
    pause_ms: u64,
    pub(crate) workers: Vec<Child>,
}

impl Fleet {
    pub(crate) fn new(store: &str, log: &Path, lease: Duration, pause_ms: u64) -> Fleet {
        Fleet {
            store: store.to_owned(),
            log: log.to_owned(),
            lease,
            pause_ms,
            workers: Vec::new(),
        }
    }

    /// Starts one more worker process.
    pub(crate) fn spawn(&mut self) {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--ignored",
                "--exact",
                "harness::fleet_worker",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(STORE, &self.store)
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
