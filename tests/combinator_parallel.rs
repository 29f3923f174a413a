//! Parallel: every branch gets the input; the output is the tuple (or Vec) of outputs;
//! the first failure cancels the other branches and fails the state.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use waypost::prelude::*;

#[step]
async fn plus_one(x: u32) -> u32 {
    x + 1
}

#[step]
async fn as_text(x: u32) -> String {
    x.to_string()
}

#[step]
fn is_even(x: u32) -> bool {
    x.is_multiple_of(2)
}

#[tokio::test]
async fn every_branch_gets_the_input_and_outputs_keep_their_places() {
    let wf = Workflow::new("fan-out", 1, parallel((plus_one, as_text, is_even)));
    assert_eq!(
        Runtime::new().run(&wf, 41).await.unwrap(),
        (42, "41".to_string(), false)
    );
}

#[tokio::test]
async fn eight_branches_run_concurrently() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let branch = |i: u32| {
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        step_fn(format!("b{i}"), move |x: u32| {
            let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, Error>(x + i)
            }
        })
    };
    let wf = Workflow::new(
        "eight",
        1,
        parallel((
            branch(0),
            branch(1),
            branch(2),
            branch(3),
            branch(4),
            branch(5),
            branch(6),
            branch(7),
        )),
    );
    let out = Runtime::new().run(&wf, 10).await.unwrap();
    assert_eq!(out, (10, 11, 12, 13, 14, 15, 16, 17));
    assert_eq!(peak.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn the_vec_form_returns_outputs_in_branch_order() {
    let branches: Vec<BoxStep<u32, String>> = vec![
        as_text.boxed(),
        plus_one.then(as_text).boxed(),
        pass("hex", |x: u32| format!("{x:x}")).boxed(),
    ];
    let wf = Workflow::new("vec", 1, parallel(branches));
    assert_eq!(
        Runtime::new().run(&wf, 255).await.unwrap(),
        ["255", "256", "ff"]
    );
}

#[tokio::test(start_paused = true)]
async fn the_first_failure_cancels_the_other_branches() {
    let finished = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&finished);
    let slow = step_fn("slow", move |x: u32| {
        let flag = Arc::clone(&flag);
        async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            flag.store(true, Ordering::SeqCst);
            Ok::<_, Error>(x)
        }
    });
    let broken = step_fn("broken", |_: u32| async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        Err::<u32, _>(Error::new("Broken", "branch failed"))
    });
    let wf = Workflow::new("cancel", 1, parallel((slow, broken)));
    let started = tokio::time::Instant::now();
    let err = Runtime::new().run(&wf, 1).await.unwrap_err();
    assert_eq!(err.name(), "Broken");
    assert_eq!(err.address(), Some("0.parallel/1/0.broken"));
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        !finished.load(Ordering::SeqCst),
        "the slow branch was not cancelled"
    );
}

/// Records when each branch starts and ends, and how many ran at once at most.
#[derive(Clone, Default)]
struct Track(std::sync::Arc<std::sync::Mutex<(Vec<String>, usize, usize)>>);

impl Track {
    fn branch(&self, name: &'static str, fail: bool) -> waypost::BoxStep<u32, u32> {
        let track = self.clone();
        step_fn(name, move |x: u32| {
            let track = track.clone();
            async move {
                {
                    let mut t = track.0.lock().unwrap();
                    t.0.push(format!("start {name}"));
                    t.1 += 1;
                    t.2 = t.2.max(t.1);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                track.0.lock().unwrap().1 -= 1;
                if fail {
                    return Err(Error::new("Broken", name));
                }
                Ok(x)
            }
        })
        .boxed()
    }

    fn starts(&self) -> Vec<String> {
        self.0.lock().unwrap().0.clone()
    }

    fn most_at_once(&self) -> usize {
        self.0.lock().unwrap().2
    }
}

#[tokio::test(start_paused = true)]
async fn max_concurrency_starts_branches_in_order_and_at_most_n_at_once() {
    let track = Track::default();
    let branches: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|n| track.branch(n, false))
        .collect();
    let wf = Workflow::new("limited", 1, parallel(branches).max_concurrency(2));
    assert_eq!(Runtime::new().run(&wf, 1).await.unwrap(), [1; 5]);
    assert_eq!(track.most_at_once(), 2);
    assert_eq!(
        track.starts(),
        ["start a", "start b", "start c", "start d", "start e"]
    );

    // Without a limit, all at once.
    let track = Track::default();
    let all = parallel((
        track.branch("a", false),
        track.branch("b", false),
        track.branch("c", false),
    ));
    Runtime::new()
        .run(&Workflow::new("all", 1, all), 1)
        .await
        .unwrap();
    assert_eq!(track.most_at_once(), 3);
}

#[tokio::test(start_paused = true)]
async fn one_at_a_time_a_failure_stops_the_branches_not_yet_started() {
    let track = Track::default();
    let wf = Workflow::new(
        "sequential",
        1,
        parallel((
            track.branch("a", false),
            track.branch("b", true),
            track.branch("c", false),
        ))
        .max_concurrency(1),
    );
    let error = Runtime::new().run(&wf, 1).await.unwrap_err();
    assert_eq!(error.name(), "Broken");
    assert_eq!(track.starts(), ["start a", "start b"], "c never started");
}

#[test]
fn a_limited_parallel_says_its_limit_in_the_asl_export() {
    let track = Track::default();
    let wf = Workflow::new(
        "limited",
        1,
        parallel(vec![track.branch("a", false), track.branch("b", false)]).max_concurrency(1),
    );
    let asl = waypost::export::asl(wf.graph());
    let comment = asl["States"]["parallel"]["Comment"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(comment.contains("max_concurrency: 1"), "{comment}");
}
