//! Properties of the API itself: combinators are `Send + Sync` when their parts are,
//! and every public type prints with `Debug`.

use std::time::Duration;

use static_assertions::assert_impl_all;
use waypost::prelude::*;

#[step]
async fn a(x: u32) -> u32 {
    x
}

#[step]
fn b(x: u32) -> u32 {
    x
}

#[step]
async fn handler((x, _e): (u32, Error)) -> u32 {
    x
}

assert_impl_all!(a: Step, Send, Sync, Clone, Copy, std::fmt::Debug);
assert_impl_all!(b: SyncStep, Send, Sync);
assert_impl_all!(waypost::Then<a, b>: Step, Send, Sync);
assert_impl_all!(waypost::Retry<a>: Step, Send, Sync);
assert_impl_all!(waypost::Catch<a, handler>: Step, Send, Sync);
assert_impl_all!(waypost::Timeout<a>: Step, Send, Sync);
assert_impl_all!(waypost::Parallel<(a, b)>: Step, Send, Sync);
assert_impl_all!(waypost::Parallel<Vec<a>>: Step, Send, Sync);
assert_impl_all!(waypost::Map<a>: Step, Send, Sync);
assert_impl_all!(waypost::ParMap<b>: Step, Send, Sync);
assert_impl_all!(waypost::MapItems<a>: Step, Send, Sync);
assert_impl_all!(waypost::Parallel<(a, b), waypost::map::Settle>: Step, Send, Sync);
assert_impl_all!(waypost::Map<a, waypost::map::Settle>: Step, Send, Sync);
assert_impl_all!(waypost::Settled<Vec<waypost::Outcome<u32>>>: Send, Sync, Clone, serde::Serialize);
assert_impl_all!(waypost::Choice<u32, u32>: Step, Send, Sync);
assert_impl_all!(waypost::Wait<u32>: Step, Send, Sync);
assert_impl_all!(BoxStep<u32, u32>: Step, Send, Sync, Clone);
assert_impl_all!(Error: Send, Sync, Clone, serde::Serialize);
assert_impl_all!(Workflow<u32, u32>: Send, Sync);
assert_impl_all!(Runtime: Send, Sync, Clone);

#[test]
fn every_public_type_is_debug() {
    let policy = RetryPolicy::builder().build();
    let values: Vec<Box<dyn std::fmt::Debug>> = vec![
        Box::new(a.then(b)),
        Box::new(a.retry(policy.clone())),
        Box::new(a.catch(["X"], handler)),
        Box::new(a.timeout(Duration::from_secs(1))),
        Box::new(parallel((a, b))),
        Box::new(map(a).max_concurrency(2)),
        Box::new(map(a).items(vec_items()).fold(0u32, |s, x| s + x)),
        Box::new(par_map(b)),
        Box::new(map(a).settled().min_successful(1).complete_when(|_| false)),
        Box::new(parallel((a, b)).settled()),
        Box::new(par_map(b).settled()),
        Box::new(choice().when("x", |_: &u32| true, a).otherwise(b)),
        Box::new(wait::<u32>(Duration::from_secs(1))),
        Box::new(pass("p", |x: u32| x)),
        Box::new(succeed::<u32>()),
        Box::new(fail::<u32, u32>("E", "m")),
        Box::new(step_fn("s", |x: u32| async move { Ok::<_, Error>(x) })),
        Box::new(sync_step_fn("s", |x: u32| Ok::<_, Error>(x))),
        Box::new(a.boxed()),
        Box::new(policy),
        Box::new(Error::new("E", "m")),
        Box::new(Workflow::new("w", 1, a)),
        Box::new(Runtime::new()),
    ];
    for value in values {
        assert!(!format!("{value:?}").is_empty());
    }
}
