//! Callback states: a token handed out, a result sent back — refused when it does not
//! fit, failures caught by name, timeouts and heartbeats, wrong and reused tokens, and
//! a worker that parks the waiting execution and resumes it when the answer comes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use waypost::callback::{Delivered, Verdict};
use waypost::prelude::*;
use waypost::{EventKind, RunError, WaitForCallback, Worker, WorkerOptions};

use crate::support::{TestStore, stores};

const HANG: Duration = Duration::from_secs(20);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Approval {
    approved: bool,
    by: String,
}

/// Where the state's `send` puts the tokens it hands out, and how many times it ran.
#[derive(Clone, Default)]
struct Outbox(Arc<Mutex<Vec<String>>>);

impl Outbox {
    fn state(&self, name: &'static str) -> WaitForCallback<u32, Approval> {
        let outbox = self.clone();
        wait_for_callback(name, move |_order: u32, token: CallbackToken| {
            let outbox = outbox.clone();
            async move {
                outbox.0.lock().unwrap().push(token.to_string());
                Ok(())
            }
        })
    }

    /// The `n`-th token handed out (from 1), once there is one.
    async fn token(&self, n: usize) -> String {
        tokio::time::timeout(HANG, async {
            loop {
                if let Some(token) = self.0.lock().unwrap().get(n - 1) {
                    return token.clone();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("a token was handed out")
    }

    fn sent(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

async fn verdict(runtime: &Runtime, delivered: &Delivered) -> Verdict {
    tokio::time::timeout(HANG, async {
        loop {
            if let Some(verdict) = runtime.callback_verdict(delivered).await.unwrap() {
                return verdict;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the state looked at the message")
}

fn kinds(history: &[waypost::Event]) -> Vec<EventKind> {
    history.iter().map(|e| e.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_of_the_wrong_shape_is_refused_and_the_state_waits_on() {
    for store in stores() {
        let outbox = Outbox::default();
        let wf = Workflow::new("approve", 1, outbox.state("approve"));
        let runtime = store.runtime();
        let run = tokio::spawn({
            let (runtime, wf) = (runtime.clone(), wf.clone());
            async move { runtime.start(&wf, "o-1", 7).await }
        });
        let token = outbox.token(1).await;

        let wrong = runtime
            .send_task_success(&token, &serde_json::json!({"approved": "yes"}))
            .await
            .unwrap();
        let Verdict::Refused(why) = verdict(&runtime, &wrong).await else {
            panic!("{}: a string is no bool", store.name);
        };
        assert!(why.message().contains("Approval"), "{why}");
        assert!(why.message().contains("invalid type"), "{why}");

        let right = Approval {
            approved: true,
            by: "ana".into(),
        };
        let delivered = runtime.send_task_success(&token, &right).await.unwrap();
        assert_eq!(delivered.number, 1, "the refused message was number 0");
        let output = tokio::time::timeout(HANG, run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(output, right, "{}", store.name);
        assert_eq!(verdict(&runtime, &delivered).await, Verdict::Accepted);
        assert_eq!(outbox.sent(), 1, "the token was handed out once");

        let history = runtime.history("o-1").await.unwrap();
        let kinds = kinds(&history);
        for kind in [
            EventKind::CallbackStarted,
            EventKind::CallbackRefused,
            EventKind::CallbackSucceeded,
        ] {
            assert_eq!(
                kinds.iter().filter(|k| **k == kind).count(),
                1,
                "{kind}: {kinds:?}"
            );
        }

        // The token completed its state: reused, it is refused.
        let again = runtime.send_task_success(&token, &right).await.unwrap_err();
        assert!(again.to_string().contains("has ended"), "{again}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_sent_is_caught_by_its_name() {
    for store in stores() {
        let outbox = Outbox::default();
        let rejected = pass("rejected", |(_order, error): (u32, Error)| Approval {
            approved: false,
            by: error.message().to_owned(),
        });
        let wf = Workflow::new(
            "approve",
            1,
            outbox.state("approve").catch(["Rejected"], rejected),
        );
        let runtime = store.runtime();
        let run = tokio::spawn({
            let (runtime, wf) = (runtime.clone(), wf.clone());
            async move { runtime.start(&wf, "o-2", 7).await }
        });
        let token = outbox.token(1).await;
        runtime
            .send_task_failure(&token, Error::new("Rejected", "too big"))
            .await
            .unwrap();
        let output = tokio::time::timeout(HANG, run)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(
            output,
            Approval {
                approved: false,
                by: "too big".into()
            },
            "{}",
            store.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_foreign_and_reused_tokens_get_named_errors() {
    let store = TestStore::sqlite();
    let outbox = Outbox::default();
    let wf = Workflow::new("approve", 1, outbox.state("approve"));
    let runtime = store.runtime();
    let run = tokio::spawn({
        let (runtime, wf) = (runtime.clone(), wf.clone());
        async move { runtime.start(&wf, "o-3", 7).await }
    });
    let token = outbox.token(1).await;
    let yes = Approval {
        approved: true,
        by: "ana".into(),
    };
    let name = |result: Result<Delivered, RunError>| match result.unwrap_err() {
        RunError::Callback { error } => (error.name().to_owned(), error.message().to_owned()),
        other => panic!("not a callback error: {other}"),
    };

    let (n, why) = name(runtime.send_task_success("not-a-token", &yes).await);
    assert_eq!(n, "Callback.InvalidToken", "{why}");
    // Another secret for the same state: guessed, or from another store.
    let mut forged = token.clone();
    let flip = if forged.as_bytes()[5] == b'0' {
        "1"
    } else {
        "0"
    };
    forged.replace_range(5..6, flip);
    let (n, why) = name(runtime.send_task_success(&forged, &yes).await);
    assert_eq!(n, "Callback.UnknownToken");
    assert!(why.contains("not the token that state issued"), "{why}");
    // The same token in another store.
    let elsewhere = TestStore::sqlite();
    let (n, why) = name(elsewhere.runtime().send_task_success(&token, &yes).await);
    assert!(why.contains("no such execution"), "{n}: {why}");
    assert_eq!(n, "Callback.UnknownToken");

    runtime.send_task_success(&token, &yes).await.unwrap();
    // Sent twice before the state took the first: the second is refused already.
    let second = runtime.send_task_success(&token, &yes).await;
    let done = tokio::time::timeout(HANG, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(done, yes);
    let (n, _) = name(second);
    assert!(
        n == "Callback.AlreadyCompleted" || n == "Callback.ExecutionEnded",
        "{n}"
    );
    let (n, _) = name(runtime.send_task_heartbeat(&token).await);
    assert_eq!(n, "Callback.ExecutionEnded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_in_time_fails_with_timeout_and_missed_heartbeats_with_heartbeat_timeout() {
    let store = TestStore::sqlite();
    let runtime = store.runtime();

    let outbox = Outbox::default();
    let timed = Workflow::new(
        "timed",
        1,
        outbox.state("approve").timeout(Duration::from_millis(300)),
    );
    let error = runtime.start(&timed, "t-1", 1).await.unwrap_err();
    let RunError::Failed { error, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(error.name(), "States.Timeout", "{error}");

    // Heartbeats keep it alive past its heartbeat timeout; then they stop.
    let outbox = Outbox::default();
    let beating = Workflow::new(
        "beating",
        1,
        outbox
            .state("approve")
            .heartbeat_timeout(Duration::from_millis(400)),
    );
    let run = tokio::spawn({
        let (runtime, wf) = (runtime.clone(), beating.clone());
        async move { runtime.start(&wf, "h-1", 1).await }
    });
    let token = outbox.token(1).await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        runtime.send_task_heartbeat(&token).await.unwrap();
    }
    assert!(
        !run.is_finished(),
        "heartbeats every 150 ms keep a 400 ms limit from running out"
    );
    let error = tokio::time::timeout(HANG, run)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let RunError::Failed { error, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(error.name(), "States.HeartbeatTimeout", "{error}");
    assert!(
        error.matches("States.TaskFailed"),
        "a heartbeat timeout is a task failure"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_parks_a_waiting_execution_and_resumes_it_when_the_answer_comes() {
    for store in stores() {
        let outbox = Outbox::default();
        let wf = Workflow::new("approve", 1, outbox.state("approve"));
        let submitter = store.runtime();
        let handle = submitter.submit(&wf, "p-1", 9).await.unwrap();
        let options = WorkerOptions::builder()
            .poll_interval(Duration::from_millis(20))
            .park_waits_over(Duration::from_millis(50))
            .shutdown_grace(Duration::from_millis(100))
            .build();
        let worker = Worker::new(store.runtime(), options).register(&wf);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let working = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        let token = outbox.token(1).await;
        // Parked: no lease, and no wake-up of its own.
        tokio::time::timeout(HANG, async {
            loop {
                let record = handle.record().await.unwrap();
                if record.lease.is_none() && record.wake_at_ms == u64::MAX {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{}: the waiting execution was parked", store.name));

        let yes = Approval {
            approved: true,
            by: "ana".into(),
        };
        submitter.send_task_success(&token, &yes).await.unwrap();
        let output = tokio::time::timeout(HANG, handle.output())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(output, yes, "{}", store.name);
        assert_eq!(
            outbox.sent(),
            1,
            "{}: resuming did not hand the token out again",
            store.name
        );
        let _ = stop.send(());
        let report = working.await.unwrap().unwrap();
        assert!(report.parked >= 1 && report.finished == 1, "{report:?}");
    }
}

#[tokio::test]
async fn without_a_store_the_state_says_it_needs_one() {
    let outbox = Outbox::default();
    let wf = Workflow::new("approve", 1, outbox.state("approve"));
    let error = Runtime::new().run(&wf, 1).await.unwrap_err();
    assert!(error.to_string().contains("needs a store"), "{error}");
    assert_eq!(outbox.sent(), 0);
}
