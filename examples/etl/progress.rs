//! Crashing on request, progress bars and timings.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::{ARGS, STEPS};

/// Called when a step starts: dies here if the step before it is the one to crash
/// after (its checkpoint is committed by now, since this step started). Returns the
/// step's start time.
pub(crate) fn begin(name: &'static str) -> Instant {
    let args = ARGS.get().expect("set in main");
    let index = STEPS.iter().position(|s| *s == name).unwrap_or(0);
    if let Some(after) = &args.crash_after
        && index > 0
        && STEPS[index - 1] == after
    {
        println!("  crashing after `{after}` as asked: the process dies before `{name}`");
        std::process::abort();
    }
    let now = Instant::now();
    checkpointed(now);
    now
}

/// Prints what a step did and how long it took.
pub(crate) fn done(name: &'static str, started: Instant, what: &str) {
    TIMINGS.lock().expect("not poisoned").push(Timing {
        step: name,
        ran: started.elapsed(),
        finished: Instant::now(),
        checkpoint: None,
    });
    println!(
        "  {name:<10} {what} ({:.2} s)",
        started.elapsed().as_secs_f64()
    );
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub(crate) fn bar(len: u64, prefix: &'static str, template: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(template)
        .expect("a valid template")
        .progress_chars("=> ");
    let bar = ProgressBar::new(len).with_style(style).with_prefix(prefix);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// How long a step ran, and how long from its end to the next step's start: mostly
/// encoding and committing its checkpoint.
pub(crate) struct Timing {
    pub(crate) step: &'static str,
    pub(crate) ran: Duration,
    pub(crate) finished: Instant,
    pub(crate) checkpoint: Option<Duration>,
}

pub(crate) static TIMINGS: Mutex<Vec<Timing>> = Mutex::new(Vec::new());

/// Notes, when the next step starts or the execution ends at `now`, how long the last
/// step's checkpoint took.
pub(crate) fn checkpointed(now: Instant) {
    let mut timings = TIMINGS.lock().expect("not poisoned");
    if let Some(last) = timings.last_mut().filter(|t| t.checkpoint.is_none()) {
        last.checkpoint = Some(now - last.finished);
    }
}

/// The transform's progress, shared by its chunks on the rayon threads.
pub(crate) struct Progress {
    pub(crate) bar: ProgressBar,
    pub(crate) started: Instant,
    pub(crate) chunks: AtomicU64,
    pub(crate) rows: AtomicU64,
}

impl Progress {
    pub(crate) fn start(name: &'static str, chunks: u64) -> Progress {
        Progress {
            started: begin(name),
            bar: bar(
                chunks,
                name,
                "{prefix:>11} [{bar:40}] {pos}/{len} chunks {eta}",
            ),
            chunks: AtomicU64::new(0),
            rows: AtomicU64::new(0),
        }
    }
}

pub(crate) static TRANSFORM: OnceLock<Progress> = OnceLock::new();

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: impl fmt::Display) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
