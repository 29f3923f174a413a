//! `#[step]`: sync and async functions, names, error conversions, the step context,
//! and panics turned into errors.

use std::fmt;

use waypost::prelude::*;

#[step]
async fn async_len(s: String) -> usize {
    s.len()
}

#[step]
fn sync_len(s: String) -> usize {
    s.chars().count()
}

#[step(name = "parse-number")]
fn parse(s: String) -> Result<i64, std::num::ParseIntError> {
    s.parse()
}

#[step]
fn unit() -> u8 {
    7
}

#[derive(Debug)]
enum PaymentError {
    Declined { card: String },
    Transient,
}

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaymentError::Declined { card } => write!(f, "card {card} declined"),
            PaymentError::Transient => f.write_str("gateway busy"),
        }
    }
}

impl std::error::Error for PaymentError {}

impl NamedError for PaymentError {
    fn error_name(&self) -> &'static str {
        match self {
            PaymentError::Declined { .. } => "PaymentDeclined",
            PaymentError::Transient => "Transient",
        }
    }
}

#[step]
async fn charge(cents: u64) -> Result<u64, PaymentError> {
    match cents {
        0 => Err(PaymentError::Transient),
        c if c > 100 => Err(PaymentError::Declined {
            card: "4242".into(),
        }),
        c => Ok(c),
    }
}

#[tokio::test]
async fn sync_and_async_functions_become_steps_named_after_them() {
    assert_eq!(async_len.name(), "async_len");
    assert_eq!(sync_len.name(), "sync_len");
    assert_eq!(parse.name(), "parse-number");
    let wf = Workflow::new("lens", 1, parallel((async_len, sync_len)));
    assert_eq!(
        Runtime::new().run(&wf, "héllo".into()).await.unwrap(),
        (6, 5)
    );
    assert_eq!(
        Runtime::new()
            .run(&Workflow::new("u", 1, unit), ())
            .await
            .unwrap(),
        7
    );
}

#[tokio::test]
async fn the_function_stays_callable() {
    assert_eq!(async_len::call("abc".into()).await, 3);
    assert_eq!(sync_len::call("abc".into()), 3);
    assert!(parse::call("x".into()).is_err());
}

#[tokio::test]
async fn std_errors_are_named_after_their_crate_and_type() {
    let err = Runtime::new()
        .run(&Workflow::new("p", 1, parse), "12a".into())
        .await
        .unwrap_err();
    assert_eq!(err.name(), "std::ParseIntError");
    assert_eq!(err.message(), "invalid digit found in string");
    assert_eq!(err.address(), Some("0.parse-number"));
}

#[tokio::test]
async fn named_errors_keep_their_own_name() {
    let wf = Workflow::new("pay", 1, charge);
    let runtime = Runtime::new();
    assert_eq!(runtime.run(&wf, 50).await.unwrap(), 50);
    let declined = runtime.run(&wf, 500).await.unwrap_err();
    assert_eq!(
        (declined.name(), declined.message()),
        ("PaymentDeclined", "card 4242 declined")
    );
    assert_eq!(runtime.run(&wf, 0).await.unwrap_err().name(), "Transient");
}

#[tokio::test]
async fn the_step_context_gives_address_attempt_and_idempotency_key() {
    #[step]
    async fn whoami(cx: &StepContext, tag: String) -> (String, u32, String) {
        (
            format!("{tag}@{}", cx.address()),
            cx.attempt(),
            cx.idempotency_key(),
        )
    }
    let wf = Workflow::new(
        "who",
        1,
        async_len
            .then(pass("tag", |n: usize| n.to_string()))
            .then(whoami),
    );
    let (at, attempt, key) = Runtime::new().run(&wf, "abc".into()).await.unwrap();
    assert_eq!(at, "3@2.whoami");
    assert_eq!(attempt, 1);
    assert!(
        key.starts_with("who-") && key.ends_with("/2.whoami#1"),
        "{key}"
    );
}

#[tokio::test]
async fn a_panicking_step_becomes_an_error_and_the_runtime_goes_on() {
    #[step]
    fn divide((a, b): (u32, u32)) -> u32 {
        a / b
    }
    let runtime = Runtime::new();
    let wf = Workflow::new("div", 1, divide);
    let err = runtime.run(&wf, (1, 0)).await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(err.name(), "States.Panic");
    assert_eq!(
        err.message(),
        "step `divide` at `0.divide` panicked with message \"attempt to divide by zero\""
    );
    // The same runtime runs the next execution normally.
    assert_eq!(runtime.run(&wf, (9, 3)).await.unwrap(), 3);
}
