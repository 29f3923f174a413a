//! The CLI on a PostgreSQL store (`--store postgres://… --schema …`), as on a file.

mod support;

use std::ffi::OsStr;
use std::process::{Command, Output};

use waypost::prelude::*;
use waypost_postgres::{PostgresOptions, PostgresStore};

#[step]
async fn double(x: u64) -> u64 {
    2 * x
}

#[step]
async fn refuse(x: u64) -> Result<u64, Error> {
    Err(Error::new("Refused", format!("{x} is not welcome")))
}

fn waypost(url: &str, schema: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waypost"))
        .args(["--store", url, "--schema", schema])
        .args(args)
        .env_remove("WAYPOST_STORE")
        .env_remove("WAYPOST_SCHEMA")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_show_history_and_graph_read_a_postgres_store() {
    let url = match std::env::var("WAYPOST_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "WAYPOST_TEST_POSTGRES is not set, and CI is: the PostgreSQL tests must run"
            );
            println!("PostgreSQL CLI test skipped: WAYPOST_TEST_POSTGRES is not set");
            return;
        }
    };
    let schema = format!("t_cli_{}_{:08x}", std::process::id(), fastrand::u32(..));
    let options = PostgresOptions::builder().schema(schema.clone()).build();
    let store = PostgresStore::connect_with(&url, options).await.unwrap();
    let runtime = Runtime::builder().store(store.clone()).build();
    let good = Workflow::new("doubler", 1, double);
    let bad = Workflow::new("refuser", 1, double.then(refuse));
    runtime.start(&good, "good-1", 21).await.unwrap();
    runtime.start(&bad, "bad-1", 5).await.unwrap_err();
    runtime.submit(&good, "waiting-1", 1).await.unwrap();

    let cli = |args: &[&str]| {
        let (url, schema) = (url.clone(), schema.clone());
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        // The CLI blocks: off the test's runtime threads.
        std::thread::spawn(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            waypost(&url, &schema, &args)
        })
        .join()
        .unwrap()
    };
    let list = stdout(&cli(&["list"]));
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(
        list.contains("good-1") && list.contains("succeeded"),
        "{list}"
    );
    assert!(list.contains("bad-1") && list.contains("failed"), "{list}");
    assert!(list.contains("running (waiting for a worker)"), "{list}");
    let show = stdout(&cli(&["show", "bad-1"]));
    assert!(
        show.contains("Refused") && show.contains("10 is not welcome"),
        "{show}"
    );
    let show = stdout(&cli(&["show", "good-1"]));
    assert!(
        show.contains("succeeded") && show.contains("doubler v1"),
        "{show}"
    );
    let history = stdout(&cli(&["history", "bad-1"]));
    assert!(
        history.contains("StepFailed") && history.contains("ExecutionFailed"),
        "{history}"
    );
    let graph = stdout(&cli(&["graph", "good-1", "--format", "mermaid"]));
    assert!(graph.contains("double"), "{graph}");
    let stats = stdout(&cli(&["stats", "refuser"]));
    assert!(stats.contains("refuse"), "{stats}");

    // An unknown id names the server and schema; a schema without a store is refused,
    // and nothing is created in it.
    let missing = cli(&["show", "nope"]);
    assert!(!missing.status.success());
    let message = String::from_utf8_lossy(&missing.stderr);
    assert!(
        message.contains("no execution `nope`") && message.contains(&schema),
        "{message}"
    );
    let empty = format!("{schema}_empty");
    let refused = {
        let (url, empty) = (url.clone(), empty.clone());
        std::thread::spawn(move || waypost(&url, &empty, &["list"]))
            .join()
            .unwrap()
    };
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("holds no waypost store"), "{message}");

    // The console over the same store: its executions, and cancel with its token.
    {
        let (url, schema) = (url.clone(), schema.clone());
        std::thread::spawn(move || {
            let store = [
                OsStr::new("--store"),
                OsStr::new(&url),
                OsStr::new("--schema"),
                OsStr::new(&schema),
            ];
            let served = support::console(&store, &["--token", "pg"]);
            let (status, body) = support::http(&served.addr, "GET", "/api/executions", &[]);
            assert_eq!(status, 200, "{body}");
            for id in ["good-1", "bad-1", "waiting-1"] {
                assert!(body.contains(&format!("\"id\":\"{id}\"")), "{body}");
            }
            let cancel = "/api/executions/waiting-1/cancel";
            let (status, body) =
                support::http(&served.addr, "POST", cancel, &["Authorization: Bearer pg"]);
            assert_eq!(status, 200, "{body}");
        })
        .join()
        .unwrap();
        let show = stdout(&cli(&["show", "waiting-1"]));
        assert!(show.contains("cancelled"), "{show}");
    }

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let created: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
            &[&empty],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(created, 0, "the CLI created nothing");
    store.drop_schema().await.unwrap();
}
