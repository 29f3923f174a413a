//! Catch: only the listed error names are caught; the handler gets the original input
//! and the error; other errors pass through.

use std::time::Duration;

use waypost::prelude::*;

#[step]
async fn charge(cents: i64) -> Result<String, Error> {
    match cents {
        c if c < 0 => Err(Error::new("InvalidAmount", format!("{c} is negative"))),
        c if c > 1000 => Err(Error::new(
            "PaymentDeclined",
            format!("{c} is over the limit"),
        )),
        c => Ok(format!("charged {c}")),
    }
}

#[step]
async fn decline_note((cents, error): (i64, Error)) -> String {
    format!("declined {cents}: {} ({})", error.message(), error.name())
}

#[tokio::test]
async fn the_handler_gets_the_input_and_the_error() {
    let wf = Workflow::new("pay", 1, charge.catch(["PaymentDeclined"], decline_note));
    let runtime = Runtime::new();
    assert_eq!(runtime.run(&wf, 5).await.unwrap(), "charged 5");
    assert_eq!(
        runtime.run(&wf, 5000).await.unwrap(),
        "declined 5000: 5000 is over the limit (PaymentDeclined)"
    );
}

#[tokio::test]
async fn other_errors_pass_through() {
    let wf = Workflow::new("pay", 1, charge.catch(["PaymentDeclined"], decline_note));
    let err = Runtime::new().run(&wf, -3).await.unwrap_err();
    assert_eq!(err.name(), "InvalidAmount");
    assert_eq!(err.address(), Some("0.charge"));
}

#[tokio::test]
async fn states_all_catches_everything_even_a_panic() {
    #[step]
    async fn explode(_x: i64) -> String {
        panic!("kaboom")
    }
    let wf = Workflow::new(
        "pay",
        1,
        explode.catch([waypost::error::names::ALL], decline_note),
    );
    let out = Runtime::new().run(&wf, 1).await.unwrap();
    assert_eq!(
        out,
        "declined 1: step `explode` at `0.explode` panicked with message \"kaboom\" (States.Panic)"
    );
}

#[tokio::test(start_paused = true)]
async fn catch_sees_the_error_once_retries_are_exhausted() {
    let policy = RetryPolicy::builder()
        .errors(["PaymentDeclined"])
        .max_attempts(2)
        .interval(Duration::from_millis(5))
        .build();
    let wf = Workflow::new(
        "pay",
        1,
        charge
            .retry(policy)
            .catch(["PaymentDeclined"], decline_note),
    );
    assert!(
        Runtime::new()
            .run(&wf, 2000)
            .await
            .unwrap()
            .starts_with("declined 2000")
    );
}

#[tokio::test]
async fn the_handler_runs_in_the_slot_after_the_protected_steps() {
    #[step]
    async fn validate(cents: i64) -> i64 {
        cents
    }
    let wf = Workflow::new(
        "pay",
        1,
        validate
            .then(charge)
            .catch(["PaymentDeclined"], decline_note),
    );
    let nodes: Vec<(String, String)> = wf
        .graph()
        .nodes()
        .iter()
        .map(|n| (format!("{:?}", n.kind), n.address.to_string()))
        .collect();
    assert_eq!(
        nodes,
        [
            ("Group".to_string(), "0.group".to_string()),
            ("Task".to_string(), "0.validate".to_string()),
            ("Task".to_string(), "1.charge".to_string()),
            ("Task".to_string(), "2.decline_note".to_string()),
        ]
    );
}

#[step]
async fn declined(cents: u64) -> Result<String, Error> {
    Err(
        Error::new("PaymentDeclined", format!("{cents} cents declined"))
            .caused_by(Error::new("Gateway", "card 4242 expired")),
    )
}

#[step]
async fn released((cents, error): (u64, Error)) -> (u64, Error) {
    (cents, error)
}

/// A `fail` at the end of a catch handler reports the caught error (name, message and
/// cause), raised at the fail state, after the handler's steps ran.
#[tokio::test]
async fn fail_caught_reports_the_error_the_catch_caught() {
    let wf = Workflow::new(
        "pay",
        1,
        declined.catch(["PaymentDeclined"], released.then(fail_caught())),
    );
    let store = waypost::MemoryStore::new();
    let runtime = Runtime::builder().store(store.clone()).build();
    let err = runtime.start(&wf, "p-1", 250).await.unwrap_err();
    let RunError::Failed { error, .. } = err else {
        panic!("expected a failed execution, got {err:?}");
    };
    assert_eq!(error.name(), "PaymentDeclined");
    assert_eq!(error.message(), "250 cents declined");
    assert_eq!(
        error.source().map(Error::message),
        Some("card 4242 expired")
    );
    assert_eq!(error.address(), Some("2.fail"), "raised at the fail state");
    // The graph says so: ASL reads its error from the input.
    let asl = waypost::export::asl(wf.graph());
    let fail = asl["States"]["fail"].clone();
    assert_eq!(fail["Type"], "Fail");
    assert_eq!(fail["ErrorPath"], "$.error.name");
}
