//! The criterion helper registers and runs the sweep (briefly: speed is not checked).

use std::time::Duration;

use criterion::Criterion;
use waypost::bench::{BenchError, BenchStore, MapBench};
use waypost::prelude::*;

#[step]
fn square(x: u64) -> u64 {
    x * x
}

#[step]
fn fail(_x: u64) -> Result<u64, Error> {
    Err(Error::new("Nope", "never"))
}

fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(20))
        .sample_size(10)
        .nresamples(1_000)
        .without_plots()
}

#[test]
fn a_sweep_runs_inside_criterion() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench = MapBench::par_map(square)
        .items(0..50)
        .threads([1])
        .batch_sizes([1, 10])
        .stores([BenchStore::None]);
    let mut c = quick();
    waypost::bench::criterion_group(&mut c, "square", &tokio, &bench).unwrap();
}

#[test]
fn a_failing_step_is_an_error_before_criterion_runs_it() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bench = MapBench::par_map(fail).items(0..5).threads([1]);
    let error = waypost::bench::criterion_group(&mut quick(), "fail", &tokio, &bench).unwrap_err();
    assert!(
        matches!(error, BenchError::BaselineFailed { .. }),
        "{error:?}"
    );
}
