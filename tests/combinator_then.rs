//! Sequence: steps run in order, each on the previous output, at consecutive slots.

use std::sync::{Arc, Mutex};

use waypost::prelude::*;

#[step]
fn add_one(x: u32) -> u32 {
    x + 1
}

#[step]
async fn double(x: u32) -> u32 {
    x * 2
}

#[step]
fn render(x: u32) -> String {
    format!("={x}")
}

#[tokio::test]
async fn steps_run_in_order_on_the_previous_output() {
    let wf = Workflow::new("seq", 1, add_one.then(double).then(add_one).then(render));
    // ((3 + 1) * 2) + 1 = 9: any other order gives another number.
    assert_eq!(Runtime::new().run(&wf, 3).await.unwrap(), "=9");
}

#[tokio::test]
async fn each_step_sees_its_own_slot_however_the_chain_is_nested() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = |name: &'static str| {
        let seen = Arc::clone(&seen);
        step_fn(name, move |x: u32| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().unwrap().push(name);
                Ok::<_, Error>(x)
            }
        })
    };
    let left = record("a").then(record("b")).then(record("c"));
    let right = record("a").then(record("b").then(record("c")));
    let (left, right) = (Workflow::new("l", 1, left), Workflow::new("r", 1, right));
    Runtime::new().run(&left, 0).await.unwrap();
    Runtime::new().run(&right, 0).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["a", "b", "c", "a", "b", "c"]);

    let addresses = |wf: &Workflow<u32, u32>| -> Vec<String> {
        wf.graph()
            .nodes()
            .iter()
            .map(|n| n.address.to_string())
            .collect()
    };
    assert_eq!(addresses(&left), ["0.a", "1.b", "2.c"]);
    assert_eq!(addresses(&left), addresses(&right));
}

#[tokio::test]
async fn a_failing_step_stops_the_sequence() {
    let ran_after = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&ran_after);
    let fails = step_fn("fails", |_: u32| async {
        Err::<u32, _>(Error::new("Nope", "no"))
    });
    let after = step_fn("after", move |x: u32| {
        let flag = Arc::clone(&flag);
        async move {
            *flag.lock().unwrap() = true;
            Ok::<_, Error>(x)
        }
    });
    let err = Runtime::new()
        .run(
            &Workflow::new("stop", 1, add_one.then(fails).then(after)),
            1,
        )
        .await
        .unwrap_err();
    assert_eq!(err.name(), "Nope");
    assert_eq!(err.address(), Some("1.fails"));
    assert!(!*ran_after.lock().unwrap());
}
