//! The `Store` contract (`waypost_core::conformance`) run against the stores of this
//! crate: `MemoryStore`, and `SqliteStore` with each durability level; and what only a
//! store on one machine does: take over at once from an owner it knows is dead.

use std::ops::Deref;
use std::time::Duration;

use waypost_core::store::{NewExecution, Store, StoreError};
use waypost_runtime::{Durability, MemoryStore, SqliteStore, SqliteStoreOptions};

mod memory {
    async fn fresh() -> Box<waypost_runtime::MemoryStore> {
        Box::new(waypost_runtime::MemoryStore::new())
    }
    waypost_core::store_conformance!(fresh);
}

mod sqlite {
    async fn fresh() -> super::OnSqlite {
        super::OnSqlite::new(waypost_runtime::Durability::Fsync)
    }
    waypost_core::store_conformance!(fresh);
}

mod sqlite_os {
    async fn fresh() -> super::OnSqlite {
        super::OnSqlite::new(waypost_runtime::Durability::Os)
    }
    waypost_core::store_conformance!(fresh);
}

/// A fresh SQLite store in a temporary directory, whose file is checked when dropped.
struct OnSqlite {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl OnSqlite {
    fn new(durability: Durability) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteStoreOptions {
            durability,
            ..SqliteStoreOptions::default()
        };
        let store = SqliteStore::open_with(dir.path().join("store.db"), options).unwrap();
        OnSqlite { store, _dir: dir }
    }
}

impl Deref for OnSqlite {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

impl Drop for OnSqlite {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(self.store.integrity_check().unwrap(), "ok");
        }
    }
}

fn new_execution(id: &str, workflow: &str, created_ms: u64) -> NewExecution {
    NewExecution {
        id: id.to_owned(),
        workflow: workflow.to_owned(),
        version: 3,
        fingerprint: "fp-1".to_owned(),
        codec: "json".to_owned(),
        input: format!("input of {id}").into_bytes(),
        graph: r#"{"nodes":[]}"#.to_owned(),
        created_ms,
    }
}

#[tokio::test]
async fn memory_takes_over_at_once_from_a_dead_owner() {
    lease_of_a_dead_owner_is_taken_over_at_once(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_takes_over_at_once_from_a_dead_owner() {
    lease_of_a_dead_owner_is_taken_over_at_once(&*OnSqlite::new(Durability::Fsync)).await;
}

/// This machine as lease owners name it: the hostname, then `/` and the pid namespace's
/// inode (the format the runtime writes; see the runtime's `liveness` module). Linux
/// always has both.
fn this_machine() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("Linux names its host in /proc/sys/kernel/hostname")
        .trim()
        .to_owned();
    let namespace: Option<String> = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|link| {
            link.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect()
        })
        .filter(|digits: &String| !digits.is_empty());
    match namespace {
        Some(ns) => format!("{host}/{ns}"),
        None => host,
    }
}

async fn lease_of_a_dead_owner_is_taken_over_at_once(store: &dyn Store) {
    let host = this_machine();
    store
        .create(new_execution("e1", "orders", 1))
        .await
        .unwrap();
    let hour = Duration::from_secs(3600);

    // pid 999999999 is above any pid_max: that process does not exist.
    let dead = format!("{host}:999999999:x");
    store.acquire_lease("e1", &dead, hour).await.unwrap();
    store.acquire_lease("e1", "fresh", hour).await.unwrap();

    // A live process on this machine, or any process on another, is waited for.
    let alive = format!("{host}:{}:x", std::process::id());
    store
        .create(new_execution("e2", "orders", 2))
        .await
        .unwrap();
    store.acquire_lease("e2", &alive, hour).await.unwrap();
    let err = store.acquire_lease("e2", "fresh", hour).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Leased { owner, .. } if *owner == alive),
        "{err:?}"
    );

    let remote = "another-host.invalid:999999999:x";
    store
        .create(new_execution("e3", "orders", 3))
        .await
        .unwrap();
    store.acquire_lease("e3", remote, hour).await.unwrap();
    let err = store.acquire_lease("e3", "fresh", hour).await.unwrap_err();
    assert!(matches!(err, StoreError::Leased { .. }), "{err:?}");
}

#[test]
fn stores_are_debug_and_clone() {
    fn assert_traits<T: std::fmt::Debug + Clone + Send + Sync + 'static>() {}
    assert_traits::<MemoryStore>();
    assert_traits::<SqliteStore>();
    assert!(format!("{:?}", MemoryStore::new()).contains("MemoryStore"));
}
