//! Durable steps on PostgreSQL (`WAYPOST_TEST_POSTGRES`, or skipped with a line), each
//! beside its floor measured in the same run on the same server:
//!
//! - latency: one execution of 100 trivial steps, `PostgresStore`, against 100
//!   `INSERT … ; COMMIT` round trips (one row each, `synchronous_commit = on`) on one
//!   connection: the ratio is the cost of a durable step in commits;
//! - throughput: 200 executions × 10 steps submitted at once and run by 1, 2 and 4
//!   worker processes (this bench binary, run again as a worker), against 2,000
//!   single-row `INSERT … ; COMMIT`s from 16 connections at once: the server's own
//!   commit rate.
//!
//! `WAYPOST_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test cargo bench --bench postgres`

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use waypost::prelude::*;
use waypost::{Worker, WorkerOptions};
use waypost_postgres::{PostgresOptions, PostgresStore};

mod common;

const URL: &str = "WAYPOST_TEST_POSTGRES";
/// Set in a worker process: the schema whose executions it runs.
const WORKER: &str = "WAYPOST_BENCH_WORKER_SCHEMA";
const EXECUTIONS: u64 = 200;
const STEPS: usize = 10;

fn options(schema: &str) -> PostgresOptions {
    PostgresOptions::builder().schema(schema.to_owned()).build()
}

/// A worker process: runs the throughput workflow until killed.
fn worker(url: &str, schema: &str) {
    let tokio = common::tokio_runtime();
    tokio.block_on(async {
        let store = PostgresStore::connect_with(url, options(schema))
            .await
            .unwrap();
        let runtime = Runtime::builder().store(store).build();
        let options = WorkerOptions::builder()
            .concurrency(256)
            .poll_interval(Duration::from_millis(50))
            .build();
        Worker::new(runtime, options)
            .register(&common::sequence("pg-throughput", STEPS))
            .run(std::future::pending())
            .await
            .unwrap();
    });
}

fn spawn_workers(url: &str, schema: &str, n: usize) -> Vec<Child> {
    (0..n)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .env(URL, url)
                .env(WORKER, schema)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect()
}

async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

fn latency(c: &mut Criterion, url: &str) {
    let tokio = common::tokio_runtime();
    let schema = format!("bench_latency_{}", std::process::id());
    let (store, floor) = tokio.block_on(async {
        let store = PostgresStore::connect_with(url, options(&schema))
            .await
            .unwrap();
        let floor = admin(url).await;
        floor
            .batch_execute(&format!(
                "SET synchronous_commit = on; \
                 CREATE TABLE IF NOT EXISTS \"{schema}\".floor (id BIGINT, payload BYTEA)"
            ))
            .await
            .unwrap();
        (store, floor)
    });
    let runtime = Runtime::builder().store(store.clone()).build();
    let wf = common::sequence("pg-latency", 100);
    let insert = format!("INSERT INTO \"{schema}\".floor VALUES ($1, $2)");
    let mut next = 0i64;

    let mut group = c.benchmark_group("postgres_step");
    group.sample_size(10);
    group.bench_function(
        "baseline: 100 × (INSERT; COMMIT), synchronous_commit on",
        |b| {
            b.iter(|| {
                tokio.block_on(async {
                    for _ in 0..100 {
                        next += 1;
                        floor
                            .execute(&insert, &[&next, &vec![7u8; 48]])
                            .await
                            .unwrap();
                    }
                });
            });
        },
    );
    group.bench_function("100 durable steps (PostgresStore)", |b| {
        b.iter(|| {
            next += 1;
            let out = tokio
                .block_on(runtime.start(&wf, format!("run-{next}"), 0))
                .unwrap();
            assert_eq!(out, 100);
        });
    });
    group.finish();
    tokio.block_on(store.drop_schema()).unwrap();
}

fn throughput(c: &mut Criterion, url: &str) {
    let tokio = common::tokio_runtime();
    let mut group = c.benchmark_group("postgres_throughput");
    group.sample_size(10);
    group.throughput(Throughput::Elements(EXECUTIONS * STEPS as u64));

    let schema = format!("bench_floor_{}", std::process::id());
    let floor: Vec<Arc<tokio_postgres::Client>> = tokio.block_on(async {
        let first = admin(url).await;
        first
            .batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS \"{schema}\"; \
                 CREATE TABLE \"{schema}\".floor (id BIGINT, payload BYTEA)"
            ))
            .await
            .unwrap();
        let mut clients = vec![Arc::new(first)];
        for _ in 1..16 {
            clients.push(Arc::new(admin(url).await));
        }
        clients
    });
    let insert = format!("INSERT INTO \"{schema}\".floor VALUES ($1, $2)");
    group.bench_function(
        "baseline: 2,000 × (INSERT; COMMIT) from 16 connections",
        |b| {
            b.iter(|| {
                tokio.block_on(async {
                    let per = (EXECUTIONS * STEPS as u64) / 16;
                    let tasks: Vec<_> = floor
                        .iter()
                        .map(|client| {
                            let (client, insert) = (Arc::clone(client), insert.clone());
                            tokio::spawn(async move {
                                for i in 0..per {
                                    let id = i as i64;
                                    client
                                        .execute(&insert, &[&id, &vec![7u8; 48]])
                                        .await
                                        .unwrap();
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.unwrap();
                    }
                });
            });
        },
    );
    tokio
        .block_on(floor[0].batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .unwrap();

    for workers in [1, 2, 4] {
        let schema = format!("bench_workers_{workers}_{}", std::process::id());
        let store = tokio
            .block_on(PostgresStore::connect_with(url, options(&schema)))
            .unwrap();
        let mut children = spawn_workers(url, &schema, workers);
        let runtime = Runtime::builder().store(store.clone()).build();
        let wf = common::sequence("pg-throughput", STEPS);
        let mut round = 0u64;
        group.bench_function(
            format!("200 executions × 10 durable steps, {workers} worker processes"),
            |b| {
                b.iter_custom(|iterations| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        round += 1;
                        let started = Instant::now();
                        tokio.block_on(async {
                            let mut handles = Vec::new();
                            for i in 0..EXECUTIONS {
                                handles.push(
                                    runtime
                                        .submit(&wf, format!("r{round}-{i}"), i)
                                        .await
                                        .unwrap(),
                                );
                            }
                            for (i, handle) in handles.iter().enumerate() {
                                assert_eq!(handle.output().await.unwrap(), i as u64 + STEPS as u64);
                            }
                        });
                        total += started.elapsed();
                    }
                    total
                });
            },
        );
        for child in &mut children {
            let _ = child.kill();
            let _ = child.wait();
        }
        tokio.block_on(store.drop_schema()).unwrap();
    }
    group.finish();
}

fn main() {
    let Ok(url) = std::env::var(URL) else {
        println!("postgres bench skipped: {URL} is not set");
        return;
    };
    if let Ok(schema) = std::env::var(WORKER) {
        worker(&url, &schema);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    latency(&mut criterion, &url);
    throughput(&mut criterion, &url);
    criterion.final_summary();
}
