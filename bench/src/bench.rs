//! [`MapBench`]: a sweep over a map step — what to run, over which items, at which
//! settings — and running it into a [`Report`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use waypost_core::{Step, SyncStep};

use crate::async_form::Async;
use crate::cpu_form::Cpu;
use crate::error::BenchError;
use crate::form::{Form, Measurement};
use crate::latency::Latencies;
use crate::report::{Baseline, Report};
use crate::setting::Setting;
use crate::store::BenchStore;

/// A benchmark of one map step: give it your step and your items, say what to sweep,
/// and [`run`](Self::run) it into a [`Report`].
///
/// For every worker count (the async map's concurrency, or the CPU map's rayon threads)
/// it first runs the raw baseline over all the items, then, for every batch size and
/// store, the same items through waypost. Each point is one run; run the sweep inside
/// criterion ([`criterion_group`](crate::criterion_group)) for repeated samples.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use waypost::bench::{BenchStore, MapBench};
/// use waypost::prelude::*;
///
/// #[step]
/// async fn fetch(id: u64) -> String {
///     tokio::time::sleep(Duration::from_millis(10)).await;
///     format!("item {id}")
/// }
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let report = MapBench::map(fetch)
///     .items(0..100)
///     .concurrency([1, 10])
///     .batch_sizes([1, 10])
///     .stores([BenchStore::None, BenchStore::Memory])
///     .progress(false)
///     .run()
///     .await
///     .unwrap();
/// assert_eq!(report.points.len(), 2 * 2 * 2);
/// let point = report.point(10, 1, &BenchStore::None).unwrap();
/// assert_eq!(point.items, 100);
/// println!("{report}");
/// # }
/// ```
#[must_use = "a benchmark does nothing until it is run"]
pub struct MapBench<F: Form> {
    form: F,
    items: Vec<F::Item>,
    workers: Vec<usize>,
    batch_sizes: Vec<usize>,
    stores: Vec<BenchStore>,
    progress: bool,
    warm_up: bool,
}

impl<S: Step> MapBench<Async<S>>
where
    S::Input: Sync,
{
    /// Benchmarks the async `step` in `map(step).max_concurrency(n)`, for each
    /// concurrency `n` of [`concurrency`](Self::concurrency) (default 1, 4 and 16).
    pub fn map(step: S) -> Self {
        MapBench::with_form(
            Async {
                step: Arc::new(step),
                latencies: Latencies::default(),
            },
            vec![1, 4, 16],
        )
    }

    /// The concurrencies to sweep (the map's `max_concurrency`, and the baseline's
    /// `buffer_unordered` limit). Include 1 to get the scaling efficiency.
    pub fn concurrency(mut self, values: impl IntoIterator<Item = usize>) -> Self {
        self.workers = values.into_iter().collect();
        self
    }
}

impl<S: SyncStep> MapBench<Cpu<S>>
where
    S::Input: Sync,
{
    /// Benchmarks the sync `step` in `par_map(step)` on rayon pools of each size of
    /// [`threads`](Self::threads) (default 1 and the number of CPUs).
    pub fn par_map(step: S) -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let mut threads = vec![1, cpus];
        threads.dedup();
        MapBench::with_form(
            Cpu {
                step: Arc::new(step),
                latencies: Latencies::default(),
                pools: Mutex::new(BTreeMap::new()),
            },
            threads,
        )
    }

    /// The rayon pool sizes to sweep, for both waypost and the baseline. Include 1 to
    /// get the scaling efficiency.
    pub fn threads(mut self, values: impl IntoIterator<Item = usize>) -> Self {
        self.workers = values.into_iter().collect();
        self
    }
}

impl<F: Form> MapBench<F> {
    fn with_form(form: F, workers: Vec<usize>) -> Self {
        MapBench {
            form,
            items: Vec::new(),
            workers,
            batch_sizes: vec![1],
            stores: vec![BenchStore::None],
            progress: true,
            warm_up: true,
        }
    }

    /// The items every run maps over (each run gets a clone, made before its clock
    /// starts).
    pub fn items(mut self, items: impl IntoIterator<Item = F::Item>) -> Self {
        self.items = items.into_iter().collect();
        self
    }

    /// The batch sizes to sweep (default 1): how many items one call of the map's step
    /// gets (ASL's `ItemBatcher`). A batch is checkpointed as one.
    pub fn batch_sizes(mut self, values: impl IntoIterator<Item = usize>) -> Self {
        self.batch_sizes = values.into_iter().collect();
        self
    }

    /// The stores to sweep (default [`BenchStore::None`]).
    pub fn stores(mut self, stores: impl IntoIterator<Item = BenchStore>) -> Self {
        self.stores = stores.into_iter().collect();
        self
    }

    /// Whether [`run`](Self::run) draws a progress bar on stderr (default yes; it is
    /// drawn only when stderr is a terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Whether [`run`](Self::run) first runs, untimed, the baseline and the first
    /// point of each worker count (default yes): the first run on a pool or a runtime
    /// pays for waking threads and filling caches, which is not what is measured.
    pub fn warm_up(mut self, warm_up: bool) -> Self {
        self.warm_up = warm_up;
        self
    }

    /// The benchmarked step's name.
    pub fn step_name(&self) -> &str {
        self.form.step_name()
    }

    /// How many items every run maps over.
    pub fn item_count(&self) -> usize {
        self.items.len()
    }

    /// The worker counts of the sweep (concurrency or threads).
    pub fn workers(&self) -> &[usize] {
        &self.workers
    }

    /// The points of the sweep, in the order [`run`](Self::run) runs them: by worker
    /// count, then batch size, then store.
    pub fn settings(&self) -> Vec<Setting> {
        let mut settings = Vec::new();
        for &workers in &self.workers {
            for &batch_size in &self.batch_sizes {
                for store in &self.stores {
                    settings.push(Setting {
                        kind: self.form.kind(),
                        workers,
                        batch_size,
                        store: store.clone(),
                    });
                }
            }
        }
        settings
    }

    /// Checks the sweep before anything runs.
    ///
    /// # Errors
    ///
    /// [`BenchError::NoItems`] without items; [`BenchError::EmptySweep`] when an axis
    /// lists nothing; [`BenchError::Zero`] for a concurrency, thread count or batch
    /// size of 0.
    pub fn check(&self) -> Result<(), BenchError> {
        let step = || self.step_name().to_owned();
        if self.items.is_empty() {
            return Err(BenchError::NoItems { step: step() });
        }
        let axes: [(&'static str, &[usize]); 2] = [
            (self.form.kind().axis(), &self.workers),
            ("batch size", &self.batch_sizes),
        ];
        for (axis, values) in axes {
            if values.is_empty() {
                return Err(BenchError::EmptySweep { step: step(), axis });
            }
            if values.contains(&0) {
                return Err(BenchError::Zero { step: step(), axis });
            }
        }
        if self.stores.is_empty() {
            return Err(BenchError::EmptySweep {
                step: step(),
                axis: "store",
            });
        }
        Ok(())
    }

    /// Runs the raw baseline once over all the items with `workers` workers.
    ///
    /// # Errors
    ///
    /// The errors of [`check`](Self::check); [`BenchError::BaselineFailed`] when the
    /// step fails or panics; [`BenchError::Miscounted`] when items went missing.
    pub async fn measure_baseline(&self, workers: usize) -> Result<Measurement, BenchError> {
        self.check_workers(workers)?;
        let measured = self.form.baseline(self.items.clone(), workers).await?;
        if measured.items != self.items.len() {
            return Err(BenchError::Miscounted {
                step: self.step_name().to_owned(),
                setting: self.setting(workers, 1, BenchStore::None),
                counted: measured.items,
                expected: self.items.len(),
            });
        }
        Ok(measured)
    }

    /// Runs the items once through waypost at one point: `workers` workers, batches of
    /// `batch_size` items, a fresh `store`.
    ///
    /// # Errors
    ///
    /// The errors of [`check`](Self::check); [`BenchError::StepFailed`] when the step
    /// fails (or panics); [`BenchError::Store`] when the store does not open;
    /// [`BenchError::Run`] when the runtime fails; [`BenchError::Miscounted`] when
    /// items went missing.
    pub async fn measure(
        &self,
        workers: usize,
        batch_size: usize,
        store: &BenchStore,
    ) -> Result<Measurement, BenchError> {
        self.check_workers(workers)?;
        if batch_size == 0 {
            return Err(BenchError::Zero {
                step: self.step_name().to_owned(),
                axis: "batch size",
            });
        }
        let setting = self.setting(workers, batch_size, store.clone());
        let batches: Vec<Vec<F::Item>> = self
            .items
            .chunks(batch_size)
            .map(<[F::Item]>::to_vec)
            .collect();
        let opened = store.open(self.step_name()).await?;
        let measured = self
            .form
            .point(batches, &setting, opened.store.clone())
            .await?;
        drop(opened);
        let expected = self.items.len();
        let counted = if measured.items == expected {
            measured.latencies.len()
        } else {
            measured.items
        };
        if counted != expected {
            return Err(BenchError::Miscounted {
                step: self.step_name().to_owned(),
                setting,
                counted,
                expected,
            });
        }
        Ok(measured)
    }

    /// Runs the whole sweep: for each worker count, the baseline, then every batch size
    /// and store through waypost (after a warm-up, see [`warm_up`](Self::warm_up)). Draws a progress bar on stderr while it runs (see
    /// [`progress`](Self::progress)).
    ///
    /// # Errors
    ///
    /// The first error of [`check`](Self::check), [`measure_baseline`](Self::measure_baseline)
    /// or [`measure`](Self::measure); nothing is reported then.
    pub async fn run(&self) -> Result<Report, BenchError> {
        self.check()?;
        let settings = self.settings();
        let bar = self.progress_bar((self.workers.len() + settings.len()) as u64);
        let mut baselines = Vec::new();
        let mut measured = Vec::new();
        for &workers in &self.workers {
            bar.set_message(format!("baseline at {} {workers}", self.form.kind().axis()));
            if self.warm_up {
                self.measure_baseline(workers).await?;
                if let Some(first) = settings.iter().find(|s| s.workers == workers) {
                    self.measure(workers, first.batch_size, &first.store)
                        .await?;
                }
            }
            let baseline = self.measure_baseline(workers).await;
            bar.inc(1);
            baselines.push(Baseline::new(workers, &baseline?));
            for setting in settings.iter().filter(|s| s.workers == workers) {
                bar.set_message(setting.to_string());
                let point = self
                    .measure(workers, setting.batch_size, &setting.store)
                    .await;
                bar.inc(1);
                measured.push((setting.clone(), point?));
            }
        }
        bar.finish_and_clear();
        Ok(Report::new(
            self.form.kind(),
            self.step_name(),
            self.items.len(),
            baselines,
            measured,
        ))
    }

    fn setting(&self, workers: usize, batch_size: usize, store: BenchStore) -> Setting {
        Setting {
            kind: self.form.kind(),
            workers,
            batch_size,
            store,
        }
    }

    fn check_workers(&self, workers: usize) -> Result<(), BenchError> {
        let step = || self.step_name().to_owned();
        if self.items.is_empty() {
            return Err(BenchError::NoItems { step: step() });
        }
        if workers == 0 {
            return Err(BenchError::Zero {
                step: step(),
                axis: self.form.kind().axis(),
            });
        }
        Ok(())
    }

    fn progress_bar(&self, len: u64) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("a valid template")
            .progress_chars("=> ");
        let prefix = format!("bench {} `{}`", self.form.kind().name(), self.step_name());
        let bar = ProgressBar::new(len).with_style(style).with_prefix(prefix);
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    }
}

impl<F: Form> fmt::Debug for MapBench<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MapBench")
            .field("kind", &self.form.kind())
            .field("step", &self.step_name())
            .field("items", &self.items.len())
            .field(self.form.kind().axis(), &self.workers)
            .field("batch_sizes", &self.batch_sizes)
            .field("stores", &self.stores)
            .field("warm_up", &self.warm_up)
            .finish()
    }
}
