//! [`criterion_group`]: the same sweep inside a `cargo bench` (feature `criterion`).

use criterion::{BenchmarkId, Criterion, Throughput};

use crate::bench::MapBench;
use crate::error::BenchError;
use crate::form::Form;

/// Registers the sweep of `bench` as one criterion group named `name`: a benchmark
/// `baseline/<workers>` per worker count and `<store>, batch <n>/<workers>` per point,
/// each timing whole runs over all the items (throughput in items). Criterion then
/// samples each as often as it likes and compares runs; timing comes from the
/// benchmark's own clock (the item clones happen before it starts).
///
/// Every baseline and point runs once here first, so that a failing step or store is
/// an error rather than a panic inside criterion.
///
/// # Examples
///
/// In `benches/my_map.rs` (with `harness = false`), after
/// `criterion_group!(benches, my_map); criterion_main!(benches);`:
///
/// ```no_run
/// use criterion::Criterion;
/// use waypost::bench::{BenchStore, MapBench};
/// use waypost::prelude::*;
///
/// #[step]
/// fn square(x: u64) -> u64 { x * x }
///
/// fn my_map(c: &mut Criterion) {
///     let tokio = tokio::runtime::Runtime::new().unwrap();
///     let bench = MapBench::par_map(square)
///         .items(0..10_000)
///         .threads([1, 2])
///         .batch_sizes([1, 100])
///         .stores([BenchStore::None]);
///     waypost::bench::criterion_group(c, "square", &tokio, &bench).unwrap();
/// }
/// # fn main() { my_map(&mut Criterion::default()); }
/// ```
///
/// # Errors
///
/// The first error of [`MapBench::check`], [`MapBench::measure_baseline`] or
/// [`MapBench::measure`] in the run-through.
///
/// # Panics
///
/// When a run that succeeded in the run-through fails while criterion samples it.
pub fn criterion_group<F: Form>(
    c: &mut Criterion,
    name: &str,
    tokio: &tokio::runtime::Runtime,
    bench: &MapBench<F>,
) -> Result<(), BenchError> {
    bench.check()?;
    for &workers in bench.workers() {
        tokio.block_on(bench.measure_baseline(workers))?;
    }
    for setting in bench.settings() {
        tokio.block_on(bench.measure(setting.workers, setting.batch_size, &setting.store))?;
    }
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(bench.item_count() as u64));
    for &workers in bench.workers() {
        group.bench_function(BenchmarkId::new("baseline", workers), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        tokio
                            .block_on(bench.measure_baseline(workers))
                            .unwrap_or_else(|e| panic!("{e}"))
                            .elapsed
                    })
                    .sum()
            });
        });
        for setting in bench
            .settings()
            .into_iter()
            .filter(|s| s.workers == workers)
        {
            let id = BenchmarkId::new(
                format!("{}, batch {}", setting.store, setting.batch_size),
                workers,
            );
            group.bench_function(id, |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            tokio
                                .block_on(bench.measure(
                                    workers,
                                    setting.batch_size,
                                    &setting.store,
                                ))
                                .unwrap_or_else(|e| panic!("{e}"))
                                .elapsed
                        })
                        .sum()
                });
            });
        }
    }
    group.finish();
    Ok(())
}
