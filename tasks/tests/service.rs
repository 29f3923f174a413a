//! tower services as steps: the response is the output, tower's timeout and load-shed
//! errors get their names, a concurrency limit is shared by every execution, and
//! waypost's retry and catch wrap the step.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tower::ServiceBuilder;
use waypost::prelude::*;
use waypost::tasks::service;

#[tokio::test]
async fn the_response_is_the_output() {
    let svc =
        tower::service_fn(
            |name: String| async move { Ok::<_, Infallible>(format!("hello, {name}")) },
        );
    let wf = Workflow::new("greet", 1, service::service("greet", svc));
    assert_eq!(
        Runtime::new().run(&wf, "ada".to_owned()).await.unwrap(),
        "hello, ada"
    );
}

#[tokio::test]
async fn a_tower_timeout_is_service_timeout_and_waypost_retries_it() {
    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let svc = ServiceBuilder::new()
        .timeout(Duration::from_millis(50))
        .service_fn(move |x: u32| {
            // The first call hangs past the layer's timeout; the second answers.
            let first = counted.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    std::future::pending::<()>().await;
                }
                Ok::<_, Infallible>(x + 1)
            }
        });
    let policy = RetryPolicy::builder()
        .errors(["Service.Timeout"])
        .interval(Duration::from_millis(1))
        .build();
    let wf = Workflow::new(
        "slow",
        1,
        service::service("slow", svc.clone()).retry(policy),
    );
    assert_eq!(Runtime::new().run(&wf, 1).await.unwrap(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn load_shed_is_overloaded_and_catch_handles_it() {
    // A concurrency limit of one, shedding load: a call while another holds the only
    // permit is refused at once. Calls hold the permit until released.
    let (entered, mut inside) = tokio::sync::mpsc::unbounded_channel();
    let (release, hold) = tokio::sync::watch::channel(false);
    let svc = ServiceBuilder::new()
        .load_shed()
        .concurrency_limit(1)
        .service_fn(move |x: u32| {
            let mut hold = hold.clone();
            let entered = entered.clone();
            async move {
                let _ = entered.send(x);
                let _ = hold.wait_for(|go| *go).await;
                Ok::<_, Infallible>(x)
            }
        });
    let first = Workflow::new("first", 1, service::service("call", svc.clone()));
    let running = tokio::spawn(async move { Runtime::new().run(&first, 1).await });
    // The first call holds the permit now.
    assert_eq!(inside.recv().await, Some(1));
    let fallback = pass("fallback", |(_, error): (u32, Error)| {
        assert_eq!(error.name(), "Service.Overloaded");
        0
    });
    let second = Workflow::new(
        "second",
        1,
        service::service("call", svc.clone()).catch(["Service.Overloaded"], fallback),
    );
    assert_eq!(Runtime::new().run(&second, 2).await.unwrap(), 0);
    release.send(true).unwrap();
    assert_eq!(running.await.unwrap().unwrap(), 1);
    // With the permit free again, a call goes through.
    assert_eq!(Runtime::new().run(&second, 3).await.unwrap(), 3);
    assert_eq!(inside.recv().await, Some(3));
}

#[tokio::test]
async fn other_errors_are_service_failed_with_their_message() {
    let svc =
        tower::service_fn(
            |_: u32| async move { Err::<u32, _>(std::io::Error::other("backend down")) },
        );
    let error = Runtime::new()
        .run(&Workflow::new("down", 1, service::service("down", svc)), 1)
        .await
        .unwrap_err();
    assert_eq!(error.name(), "Service.Failed");
    assert_eq!(error.message(), "backend down");
}

#[test]
fn exports_name_the_service() {
    let svc = tower::service_fn(|x: u32| async move { Ok::<_, Infallible>(x) });
    let wf = Workflow::new("svc", 1, service::service("ledger", svc));
    let asl = waypost::export::asl(wf.graph());
    assert_eq!(
        asl["States"]["ledger"]["Resource"],
        "waypost:service:ledger"
    );
}
