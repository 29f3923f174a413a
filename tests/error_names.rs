//! Foreign errors get names that tell them apart: an I/O error is named after its kind,
//! any other error after its crate and type, so that retry and catch on one never match
//! another (three types called `Error` among them).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use waypost::prelude::*;

fn io_failure() -> Result<u32, io::Error> {
    Err(io::Error::new(io::ErrorKind::NotFound, "config.toml"))
}

fn json_failure() -> Result<u32, serde_json::Error> {
    serde_json::from_str("{")
}

fn csv_failure() -> Result<u32, csv::Error> {
    csv::Reader::from_reader("n\nx\n".as_bytes())
        .deserialize()
        .next()
        .expect("one row")
}

/// A failure converted by `?`.
type Failure = fn() -> Result<u32, Error>;

/// Each failure, with the name it gets.
const FAILURES: [(&str, Failure); 3] = [
    ("Io.NotFound", || Ok(io_failure()?)),
    ("serde_json::Error", || Ok(json_failure()?)),
    ("csv::Error", || Ok(csv_failure()?)),
];

/// The names policies match in the tests below: each failure's, the bare `Error` that
/// all three shared before, and a prefix of the I/O error's name (names match exactly).
const POLICIES: [&str; 5] = [
    "Io.NotFound",
    "serde_json::Error",
    "csv::Error",
    "Error",
    "Io",
];

/// A step that fails with `failure`, counting its attempts.
fn failing(
    attempts: &Arc<AtomicU32>,
    failure: Failure,
) -> impl Step<Input = u32, Output = u32> + use<> {
    let attempts = Arc::clone(attempts);
    step_fn("fails", move |_: u32| {
        attempts.fetch_add(1, Ordering::SeqCst);
        std::future::ready(failure())
    })
}

#[step]
async fn recovered((_input, _error): (u32, Error)) -> u32 {
    0
}

#[tokio::test]
async fn foreign_errors_are_named_after_their_kind_or_crate_and_type() {
    for (name, failure) in FAILURES {
        let wf = Workflow::new("fails", 1, failing(&Arc::default(), failure));
        let err = Runtime::new().run(&wf, 1).await.unwrap_err();
        assert_eq!(err.name(), name, "{err}");
    }
}

#[tokio::test]
async fn a_retry_on_one_foreign_error_does_not_retry_another() {
    for policy in POLICIES {
        for (name, failure) in FAILURES {
            let attempts = Arc::new(AtomicU32::new(0));
            let retry = RetryPolicy::builder()
                .errors([policy])
                .max_attempts(3)
                .interval(Duration::ZERO)
                .build();
            let wf = Workflow::new("retried", 1, failing(&attempts, failure).retry(retry));
            let err = Runtime::new().run(&wf, 1).await.unwrap_err();
            assert_eq!(err.name(), name);
            let expected = if policy == name { 3 } else { 1 };
            assert_eq!(
                attempts.load(Ordering::SeqCst),
                expected,
                "a retry on `{policy}` of a step failing with `{name}`"
            );
        }
    }
}

#[tokio::test]
async fn a_catch_of_one_foreign_error_does_not_catch_another() {
    for policy in POLICIES {
        for (name, failure) in FAILURES {
            let wf = Workflow::new(
                "caught",
                1,
                failing(&Arc::default(), failure).catch([policy], recovered),
            );
            let result = Runtime::new().run(&wf, 1).await;
            if policy == name {
                assert_eq!(result.unwrap(), 0, "`{policy}` catches `{name}`");
            } else {
                let err = result.expect_err("another error's name catches nothing");
                assert_eq!(err.name(), name, "a catch of `{policy}`");
            }
        }
    }
}

#[tokio::test]
async fn a_step_returning_an_io_result_fails_with_the_kind_of_its_error() {
    #[step]
    fn read(path: String) -> io::Result<String> {
        std::fs::read_to_string(path)
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    let wf = Workflow::new("read", 1, read);
    let err = Runtime::new()
        .run(&wf, missing.display().to_string())
        .await
        .unwrap_err();
    assert_eq!(err.name(), "Io.NotFound");
    assert_eq!(err.address(), Some("0.read"));
}
