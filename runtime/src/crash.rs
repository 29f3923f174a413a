//! Named crash points: places in the runtime and the SQLite store where a test can make
//! the process abort, to check that whatever was durable before the abort is enough to
//! resume.
//!
//! Compiled in only with the `crash-points` feature (off by default; the `waypost`
//! facade turns it on for its own tests through `[dev-dependencies]`), and armed only
//! by the environment variable `WAYPOST_CRASH_AT=<point>:<n>`, read once: the process
//! calls [`std::process::abort`] the `n`-th time it reaches `<point>` (`n` counts from
//! 1). An abort is as abrupt as a `SIGKILL` for what matters here: no destructor runs,
//! no buffer is flushed, no transaction is rolled back or committed.
//!
//! Without the feature, [`reach`] is an empty inline function.

/// The points, by name: where each one sits.
///
/// - `before-commit`: the SQLite writer has a group of requests, before `BEGIN`.
/// - `after-commit`: the group's transaction committed (and synced), before any caller
///   is told.
/// - `between-checkpoint-and-event`: inside a commit's transaction, after its
///   checkpoint rows and before its event rows.
/// - `redrive-decided`: a redrive's marker is built, before it is written.
/// - `redrive-written`: a redrive's marker is committed, before any step runs again.
/// - `migration`: inside the migration transaction, after each schema step.
/// - `finish-start`: the workflow ended, before its final status is written.
/// - `finish-end`: the final status is written, before the caller is told.
#[cfg_attr(
    not(feature = "crash-points"),
    allow(dead_code, reason = "only `reach` reads it, with the feature")
)]
pub(crate) const POINTS: &[&str] = &[
    "before-commit",
    "after-commit",
    "between-checkpoint-and-event",
    "redrive-decided",
    "redrive-written",
    "migration",
    "finish-start",
    "finish-end",
];

/// Marks the crash point `name` (one of [`POINTS`]) as reached; aborts the process if
/// it is the armed point and this is its `n`-th time.
#[cfg(feature = "crash-points")]
pub(crate) fn reach(name: &'static str) {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// The armed point and `n`, if any.
    static ARMED: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static REACHED: AtomicU64 = AtomicU64::new(0);

    debug_assert!(POINTS.contains(&name), "unknown crash point `{name}`");
    let armed = ARMED.get_or_init(|| {
        let spec = std::env::var("WAYPOST_CRASH_AT").ok()?;
        let (point, n) = spec.rsplit_once(':')?;
        let n = n.parse().ok()?;
        // A typo must not make a crash test pass without crashing.
        assert!(
            POINTS.contains(&point),
            "WAYPOST_CRASH_AT names an unknown crash point `{point}` (known: {POINTS:?})"
        );
        Some((point.to_owned(), n))
    });
    if let Some((point, n)) = armed
        && point == name
        && REACHED.fetch_add(1, Ordering::SeqCst) + 1 == *n
    {
        // The parent tells an abort at a crash point from any other by this line.
        eprintln!("waypost: crash point `{name}` reached {n} times: aborting");
        std::process::abort();
    }
}

/// Marks the crash point `name` as reached: nothing, without the `crash-points` feature.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn reach(_name: &'static str) {}
