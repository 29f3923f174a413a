//! Seeded random workflows against a model.
//!
//! Each seed generates a random tree of combinators (sequence, choice, parallel, map,
//! retry, catch, wait) over `i64` payloads, whose task steps fail by design on chosen
//! attempts (and inputs). A plain recursive interpreter of the same tree (the model)
//! says what the output must be and which task attempts must run. Then the tree runs
//! as a durable workflow:
//!
//! 1. once, uninterrupted, on a memory store: output and task attempts must match the
//!    model, each attempt run exactly once;
//! 2. again on a fresh store (SQLite for one seed in four), interrupted 1 to 4 times —
//!    a simulated crash at a random store call (its write applied or not), a crash
//!    inside a random task, a random rate of store faults (5, 20 or 50 % of writes), or
//!    one failed call — each followed by a resume; then a last resume with faults off
//!    must finish (liveness) with the model's output. No interrupted run may return
//!    another output or a workflow failure the model does not predict; nothing
//!    committed may change; each task attempt runs at most once more than the number
//!    of interruptions; SQLite's `integrity_check` stays `ok`.
//!
//! 200 seeds run with `cargo test`; `WAYPOST_SEED=n` runs seed `n` alone (a failure
//! prints its seed); the soak runs `WAYPOST_SOAK` seeds (default 10 000):
//! `cargo test --release --test reliability -- --ignored soak --nocapture`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use waypost::prelude::*;
use waypost::task::run_task;
use waypost::{Context, Durability, EventKind, RunError, Store};

use crate::support::{
    Ended, Fault, FaultStore, Kill, Plan, TestStore, assert_kept, checkpoints_of, panics,
    run_or_kill,
};

/// Task outputs stay below this, so arithmetic never overflows.
const MODULUS: i64 = 1_000_003;

/// A task step as the generator draws it.
#[derive(Clone, Debug)]
pub(crate) struct TaskSpec {
    id: u32,
    mul: i64,
    add: i64,
    /// Bit `k` set: fails on attempt `k + 1` (for attempts 1 to 4) ...
    fail_on: u8,
    /// ... when the input is `rem` modulo `modulus`.
    modulus: i64,
    rem: i64,
    error: &'static str,
    terminal: bool,
}

impl TaskSpec {
    /// Task `id`: `x -> 2x + id`, failing with `error` on the attempts of `fail_on`.
    pub(crate) fn new(id: u32, fail_on: u8, error: &'static str, terminal: bool) -> Self {
        TaskSpec {
            id,
            mul: 2,
            add: i64::from(id),
            fail_on,
            modulus: 1,
            rem: 0,
            error,
            terminal,
        }
    }

    fn fails(&self, attempt: u32, x: i64) -> bool {
        (1..=4).contains(&attempt)
            && self.fail_on & (1 << (attempt - 1)) != 0
            && x.rem_euclid(self.modulus) == self.rem
    }

    fn output(&self, x: i64) -> i64 {
        (x * self.mul + self.add).rem_euclid(MODULUS)
    }

    fn run(&self, attempt: u32, x: i64) -> Result<i64, Error> {
        if !self.fails(attempt, x) {
            return Ok(self.output(x));
        }
        let message = format!("t{} failed on attempt {attempt}", self.id);
        Err(if self.terminal {
            Error::terminal(self.error, message)
        } else {
            Error::new(self.error, message)
        })
    }
}

/// A workflow tree over `i64`.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Task(TaskSpec),
    Seq(Vec<Node>),
    /// Rules `(modulus, remainder, branch)`: the first whose remainder the input has.
    Choice(Vec<(i64, i64, Node)>, Box<Node>),
    Parallel(Vec<Node>),
    /// Spreads `x` into `x, x+1, …` (`items` of them), maps, folds.
    Map {
        items: i64,
        concurrency: usize,
        item: Box<Node>,
    },
    Retry {
        max_attempts: u32,
        errors: &'static str,
        inner: Box<Node>,
    },
    /// The handler gets the input plus the length of the error's name.
    Catch {
        errors: &'static str,
        inner: Box<Node>,
        handler: Box<Node>,
    },
    Wait(u64),
}

/// Folds outputs in order (order matters, as for the real combinators).
fn fold(values: &[i64]) -> i64 {
    values.iter().enumerate().fold(0, |acc, (i, y)| {
        (acc + (i as i64 + 1) * y).rem_euclid(MODULUS)
    })
}

fn spread(x: i64, items: i64) -> Vec<i64> {
    (0..items).map(|i| x + i).collect()
}

fn error_matches(listed: &str, name: &str) -> bool {
    listed == "States.ALL" || listed == name
}

// ---------------------------------------------------------------------------------
// The generator.

struct Gen {
    rng: fastrand::Rng,
    next_id: u32,
    budget: u32,
}

impl Gen {
    fn node(&mut self, depth: u32, maps: u32) -> Node {
        if depth == 0 || self.budget == 0 {
            return if self.rng.u32(..6) == 0 {
                Node::Wait(self.rng.u64(0..=3))
            } else {
                self.task()
            };
        }
        self.budget -= 1;
        match self.rng.u32(..100) {
            0..18 => self.task(),
            18..40 => {
                let len = self.rng.usize(2..=3);
                Node::Seq((0..len).map(|_| self.node(depth - 1, maps)).collect())
            }
            40..50 => {
                let rules = self.rng.usize(1..=2);
                let rules = (0..rules)
                    .map(|_| {
                        let modulus = self.rng.i64(2..=3);
                        let rem = self.rng.i64(0..modulus);
                        (modulus, rem, self.node(depth - 1, maps))
                    })
                    .collect();
                Node::Choice(rules, Box::new(self.node(depth - 1, maps)))
            }
            50..60 => {
                let len = self.rng.usize(2..=3);
                Node::Parallel((0..len).map(|_| self.node(depth - 1, maps)).collect())
            }
            60..70 if maps < 2 => Node::Map {
                items: self.rng.i64(1..=4),
                concurrency: self.rng.usize(0..=3),
                item: Box::new(self.node(depth - 1, maps + 1)),
            },
            60..82 => Node::Retry {
                max_attempts: self.rng.u32(1..=4),
                errors: ["Boom", "Boom", "States.ALL", "Fatal"][self.rng.usize(..4)],
                inner: Box::new(self.node(depth - 1, maps)),
            },
            82..95 => Node::Catch {
                errors: ["Boom", "Fatal", "States.ALL"][self.rng.usize(..3)],
                inner: Box::new(self.node(depth - 1, maps)),
                handler: Box::new(self.node(depth - 1, maps)),
            },
            _ => Node::Wait(self.rng.u64(0..=3)),
        }
    }

    fn task(&mut self) -> Node {
        self.next_id += 1;
        let modulus = self.rng.i64(1..=3);
        Node::Task(TaskSpec {
            id: self.next_id,
            mul: self.rng.i64(1..=3),
            add: self.rng.i64(0..50),
            fail_on: if self.rng.u32(..3) != 0 {
                0
            } else {
                self.rng.u8(1..16)
            },
            modulus,
            rem: self.rng.i64(0..modulus),
            error: if self.rng.u32(..4) == 0 {
                "Fatal"
            } else {
                "Boom"
            },
            terminal: self.rng.u32(..6) == 0,
        })
    }
}

// ---------------------------------------------------------------------------------
// The model: a plain interpreter.

/// Task attempts, as `(task id, attempt) -> how many`.
type Attempts = BTreeMap<(u32, u32), u32>;

/// What the model says runs: `must` certainly, `may` perhaps (branches and items
/// cancelled when a sibling fails).
#[derive(Clone, Debug, Default)]
pub(crate) struct Trace {
    must: Attempts,
    may: Attempts,
}

fn add_to(to: &mut Attempts, from: &Attempts) {
    for (k, n) in from {
        *to.entry(*k).or_default() += n;
    }
}

/// How the model's run ended when it did not produce an output.
#[derive(Clone, Debug, PartialEq)]
enum ModelError {
    Failed {
        name: &'static str,
        terminal: bool,
    },
    /// Two children of a parallel or map fail differently: which one fails the
    /// container first depends on timing. The generator draws again.
    Ambiguous,
}

fn eval(node: &Node, x: i64, attempt: u32, trace: &mut Trace) -> Result<i64, ModelError> {
    match node {
        Node::Task(spec) => {
            *trace.must.entry((spec.id, attempt)).or_default() += 1;
            if spec.fails(attempt, x) {
                Err(ModelError::Failed {
                    name: spec.error,
                    terminal: spec.terminal,
                })
            } else {
                Ok(spec.output(x))
            }
        }
        Node::Seq(nodes) => nodes
            .iter()
            .try_fold(x, |x, node| eval(node, x, attempt, trace)),
        Node::Choice(rules, otherwise) => {
            let branch = rules
                .iter()
                .find(|(m, r, _)| x.rem_euclid(*m) == *r)
                .map_or(&**otherwise, |(_, _, b)| b);
            eval(branch, x, attempt, trace)
        }
        Node::Parallel(branches) => {
            let inputs = vec![x; branches.len()];
            let children: Vec<&Node> = branches.iter().collect();
            eval_all(&children, &inputs, attempt, trace).map(|v| fold(&v))
        }
        Node::Map { items, item, .. } => {
            let inputs = spread(x, *items);
            let children = vec![&**item; inputs.len()];
            eval_all(&children, &inputs, attempt, trace).map(|v| fold(&v))
        }
        Node::Retry {
            max_attempts,
            errors,
            inner,
        } => {
            let mut attempt = 1;
            loop {
                match eval(inner, x, attempt, trace) {
                    Err(ModelError::Failed { name, terminal })
                        if attempt < *max_attempts && !terminal && error_matches(errors, name) =>
                    {
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        }
        Node::Catch {
            errors,
            inner,
            handler,
        } => match eval(inner, x, attempt, trace) {
            Err(ModelError::Failed { name, .. }) if error_matches(errors, name) => eval(
                handler,
                (x + name.len() as i64).rem_euclid(MODULUS),
                attempt,
                trace,
            ),
            other => other,
        },
        Node::Wait(_) => Ok(x),
    }
}

/// Children that run concurrently, each on its input.
fn eval_all(
    children: &[&Node],
    inputs: &[i64],
    attempt: u32,
    trace: &mut Trace,
) -> Result<Vec<i64>, ModelError> {
    let runs: Vec<(Result<i64, ModelError>, Trace)> = children
        .iter()
        .zip(inputs)
        .map(|(child, x)| {
            let mut sub = Trace::default();
            (eval(child, *x, attempt, &mut sub), sub)
        })
        .collect();
    let errors: Vec<&ModelError> = runs.iter().filter_map(|(r, _)| r.as_ref().err()).collect();
    if errors.iter().any(|e| **e == ModelError::Ambiguous) {
        return Err(ModelError::Ambiguous);
    }
    match errors.as_slice() {
        [] => {
            for (_, sub) in &runs {
                add_to(&mut trace.must, &sub.must);
                add_to(&mut trace.may, &sub.may);
            }
            Ok(runs.into_iter().map(|(r, _)| r.unwrap()).collect())
        }
        [first, rest @ ..] => {
            if rest.iter().any(|e| e != first) {
                return Err(ModelError::Ambiguous);
            }
            let error = (*first).clone();
            // The one failing child runs to its end; siblings may be cancelled at any
            // point. With several failing alike, any of them may be the one.
            for (result, sub) in &runs {
                if result.is_err() && rest.is_empty() {
                    add_to(&mut trace.must, &sub.must);
                } else {
                    add_to(&mut trace.may, &sub.must);
                }
                add_to(&mut trace.may, &sub.may);
            }
            Err(error)
        }
    }
}

// ---------------------------------------------------------------------------------
// The real workflow.

/// What every run of one seed shares: how often each task key ran.
#[derive(Default)]
struct Tracker {
    /// key -> (task id, attempt, runs)
    runs: Mutex<HashMap<String, (u32, u32, u32)>>,
}

/// What one run shares: when to die.
struct RunEnv {
    tracker: Arc<Tracker>,
    kill: Arc<Kill>,
    /// The task start (1-based, counted in this run) at which the process dies.
    kill_at_task: Option<u64>,
    started: AtomicU64,
}

struct Task {
    name: String,
    spec: TaskSpec,
    env: Arc<RunEnv>,
}

impl Step for Task {
    type Input = i64;
    type Output = i64;

    fn name(&self) -> &str {
        &self.name
    }

    async fn run(&self, cx: &Context, input: i64) -> Result<i64, Error> {
        run_task(cx, &self.name, input, |scx, x| async move {
            {
                let mut runs = self.env.tracker.runs.lock().unwrap();
                let entry = runs
                    .entry(scx.key())
                    .or_insert((self.spec.id, scx.attempt(), 0));
                entry.2 += 1;
            }
            let n = self.env.started.fetch_add(1, Ordering::SeqCst) + 1;
            if self.env.kill_at_task == Some(n) {
                self.env.kill.fire();
                futures::future::pending::<()>().await;
            }
            // An await inside the task: a crash elsewhere can find it in flight.
            tokio::task::yield_now().await;
            self.spec.run(scx.attempt(), x)
        })
        .await
    }
}

fn build(node: &Node, env: &Arc<RunEnv>) -> BoxStep<i64, i64> {
    match node {
        Node::Task(spec) => Task {
            name: format!("t{}", spec.id),
            spec: spec.clone(),
            env: Arc::clone(env),
        }
        .boxed(),
        Node::Seq(nodes) => {
            let mut steps = nodes.iter().map(|n| build(n, env));
            let first = steps.next().expect("a sequence has steps");
            steps.fold(first, |chain, next| chain.then(next).boxed())
        }
        Node::Choice(rules, otherwise) => {
            let mut rules = rules.iter().enumerate();
            let (_, (m, r, branch)) = rules.next().expect("a choice has rules");
            let (m, r) = (*m, *r);
            let mut choice = choice().when(
                "r0",
                move |x: &i64| x.rem_euclid(m) == r,
                build(branch, env),
            );
            for (i, (m, r, branch)) in rules {
                let (m, r) = (*m, *r);
                choice = choice.when(
                    format!("r{i}"),
                    move |x: &i64| x.rem_euclid(m) == r,
                    build(branch, env),
                );
            }
            choice.otherwise(build(otherwise, env)).boxed()
        }
        Node::Parallel(branches) => {
            let branches: Vec<BoxStep<i64, i64>> = branches.iter().map(|b| build(b, env)).collect();
            parallel(branches)
                .then(pass("fold", |v: Vec<i64>| fold(&v)))
                .boxed()
        }
        Node::Map {
            items,
            concurrency,
            item,
        } => {
            let items = *items;
            // 0 stands for no limit: the map is left without one.
            let each = map(build(item, env));
            let each = match *concurrency {
                0 => each,
                limit => each.max_concurrency(limit),
            };
            pass("spread", move |x: i64| spread(x, items))
                .then(each)
                .then(pass("fold", |v: Vec<i64>| fold(&v)))
                .boxed()
        }
        Node::Retry {
            max_attempts,
            errors,
            inner,
        } => build(inner, env)
            .retry(
                RetryPolicy::builder()
                    .errors([*errors])
                    .max_attempts(*max_attempts)
                    .interval(Duration::from_millis(1))
                    .backoff_rate(1.0)
                    .build(),
            )
            .boxed(),
        Node::Catch {
            errors,
            inner,
            handler,
        } => {
            let handler = pass("recover", |(x, e): (i64, Error)| {
                (x + e.name().len() as i64).rem_euclid(MODULUS)
            })
            .then(build(handler, env));
            build(inner, env).catch([*errors], handler).boxed()
        }
        Node::Wait(ms) => wait(Duration::from_millis(*ms)).boxed(),
    }
}

fn workflow(tree: &Node, env: &Arc<RunEnv>) -> Workflow<i64, i64> {
    Workflow::new("model", 1, build(tree, env))
}

// ---------------------------------------------------------------------------------
// Checking one seed.

/// A generated case: the tree, its input, and what the model says.
pub(crate) struct Case {
    pub(crate) tree: Node,
    pub(crate) input: i64,
    expected: Result<i64, &'static str>,
    trace: Trace,
}

impl Case {
    /// The case of `tree` on `input`.
    ///
    /// # Panics
    ///
    /// When the model cannot tell the outcome (see [`ModelError::Ambiguous`]).
    pub(crate) fn new(tree: Node, input: i64) -> Self {
        let mut trace = Trace::default();
        let expected = match eval(&tree, input, 1, &mut trace) {
            Ok(output) => Ok(output),
            Err(ModelError::Failed { name, .. }) => Err(name),
            Err(ModelError::Ambiguous) => panic!("the model cannot tell {tree:?}"),
        };
        Case {
            tree,
            input,
            expected,
            trace,
        }
    }

    /// What a run must return: the output, or the name of the error that fails it.
    pub(crate) fn expected(&self) -> Result<i64, String> {
        expected_outcome(self)
    }

    /// The case's workflow, with steps that count their runs in a tracker of their own.
    pub(crate) fn workflow(&self) -> Workflow<i64, i64> {
        let tracker = Arc::new(Tracker::default());
        workflow(&self.tree, &env(&tracker, &Kill::new(), None))
    }
}

/// The outcome of a run as [`Case::expected`] states it; `None` for an error that is
/// not the workflow's failure (a store fault, an interruption).
pub(crate) fn outcome_of(result: &Result<i64, RunError>) -> Option<Result<i64, String>> {
    outcome(result)
}

/// Draws the case of `seed`: a tree whose outcome the model can tell.
pub(crate) fn case(seed: u64) -> Case {
    let mut generator = Gen {
        rng: fastrand::Rng::with_seed(seed),
        next_id: 0,
        budget: 0,
    };
    loop {
        generator.budget = generator.rng.u32(10..=30);
        let tree = generator.node(6, 0);
        let input = generator.rng.i64(0..1000);
        let mut trace = Trace::default();
        match eval(&tree, input, 1, &mut trace) {
            Err(ModelError::Ambiguous) => continue,
            Err(ModelError::Failed { name, .. }) => {
                return Case {
                    tree,
                    input,
                    expected: Err(name),
                    trace,
                };
            }
            Ok(output) => {
                return Case {
                    tree,
                    input,
                    expected: Ok(output),
                    trace,
                };
            }
        }
    }
}

/// Figures of checked seeds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Figures {
    pub(crate) seeds: u64,
    pub(crate) runs: u64,
    pub(crate) interruptions: u64,
    pub(crate) faults: u64,
    pub(crate) task_attempts: u64,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.seeds += other.seeds;
        self.runs += other.runs;
        self.interruptions += other.interruptions;
        self.faults += other.faults;
        self.task_attempts += other.task_attempts;
    }
}

macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

/// The outcome as the model states it: the output or the failing error's name.
fn outcome(result: &Result<i64, RunError>) -> Option<Result<i64, String>> {
    match result {
        Ok(output) => Some(Ok(*output)),
        Err(RunError::Failed { error, .. }) => Some(Err(error.name().to_owned())),
        Err(_) => None,
    }
}

fn expected_outcome(case: &Case) -> Result<i64, String> {
    case.expected.map_err(str::to_owned)
}

/// Notes the run counts of task keys whose checkpoint is now in the store.
async fn note_committed(
    store: &dyn Store,
    id: &str,
    tracker: &Tracker,
    committed: &mut HashMap<String, u32>,
) {
    let runs = tracker.runs.lock().unwrap().clone();
    for checkpoint in checkpoints_of(store, id).await {
        if let Some((_, _, count)) = runs.get(&checkpoint.key) {
            committed.entry(checkpoint.key).or_insert(*count);
        }
    }
}

/// Checks that no task whose checkpoint was committed ran again afterwards.
fn check_committed(tracker: &Tracker, committed: &HashMap<String, u32>) -> Result<(), String> {
    let runs = tracker.runs.lock().unwrap();
    for (key, count) in committed {
        let now = runs[key].2;
        ensure!(
            now == *count,
            "task key `{key}` ran again after its checkpoint was committed ({count} -> {now} runs)"
        );
    }
    Ok(())
}

/// Checks the task attempts that ran against the model; `interruptions` bounds reruns.
fn check_attempts(case: &Case, tracker: &Tracker, interruptions: u64) -> Result<u64, String> {
    let runs = tracker.runs.lock().unwrap();
    let mut ran = Attempts::new();
    let mut total = 0;
    for (key, (id, attempt, count)) in runs.iter() {
        *ran.entry((*id, *attempt)).or_default() += 1;
        total += u64::from(*count);
        ensure!(
            u64::from(*count) <= 1 + interruptions,
            "task key `{key}` ran {count} times with {interruptions} interruptions"
        );
    }
    let mut allowed = case.trace.must.clone();
    add_to(&mut allowed, &case.trace.may);
    for (k, n) in &case.trace.must {
        let got = ran.get(k).copied().unwrap_or(0);
        ensure!(
            got >= *n,
            "task t{} attempt {} ran for {got} keys, the model says {n}",
            k.0,
            k.1
        );
    }
    for (k, n) in &ran {
        let most = allowed.get(k).copied().unwrap_or(0);
        ensure!(
            *n <= most,
            "task t{} attempt {} ran for {n} keys, the model allows {most}",
            k.0,
            k.1
        );
    }
    Ok(total)
}

fn env(tracker: &Arc<Tracker>, kill: &Arc<Kill>, kill_at_task: Option<u64>) -> Arc<RunEnv> {
    Arc::new(RunEnv {
        tracker: Arc::clone(tracker),
        kill: Arc::clone(kill),
        kill_at_task,
        started: AtomicU64::new(0),
    })
}

fn runtime(store: Arc<dyn Store>) -> Runtime {
    Runtime::builder().shared_store(store).build()
}

/// Runs the checks of `seed` (see the module docs).
pub(crate) async fn check_seed(seed: u64) -> Result<Figures, String> {
    let case = case(seed);
    let expected = expected_outcome(&case);
    let mut figures = Figures {
        seeds: 1,
        ..Figures::default()
    };
    let id = format!("model-{seed}");

    // 1. Uninterrupted.
    let tracker = Arc::new(Tracker::default());
    let clean = TestStore::memory();
    let counted = FaultStore::new(Arc::clone(&clean.store), Plan::Healthy);
    let kill = Arc::clone(counted.kill());
    let wf = workflow(&case.tree, &env(&tracker, &kill, None));
    let result = match run_or_kill(
        &kill,
        &id,
        runtime(counted.clone()).start(&wf, &id, case.input),
    )
    .await
    {
        Ended::Returned(result) => result,
        Ended::Killed => return Err("a healthy run was killed".to_owned()),
    };
    ensure!(
        outcome(&result).as_ref() == Some(&expected),
        "uninterrupted run gave {result:?}, the model says {expected:?}"
    );
    let calls = counted.calls();
    let tasks = tracker.runs.lock().unwrap().len() as u64;
    check_attempts(&case, &tracker, 0).map_err(|e| format!("uninterrupted run: {e}"))?;
    // The history has one outcome event per task attempt that ran.
    let history = clean.store.history(&id).await.map_err(|e| e.to_string())?;
    let outcomes = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepSucceeded | EventKind::StepFailed))
        .count() as u64;
    // (Siblings of a failed branch or item may be cancelled before their outcome.)
    let must: u64 = case.trace.must.values().map(|n| u64::from(*n)).sum();
    ensure!(
        outcomes == tasks || !case.trace.may.is_empty() && (must..=tasks).contains(&outcomes),
        "uninterrupted run: {tasks} task attempts ran ({must} certainly), the history has {outcomes} outcomes"
    );
    figures.runs += 1;

    // 2. Interrupted, then resumed with faults off.
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed_f00d);
    let store = if seed.is_multiple_of(4) {
        TestStore::sqlite(Durability::Os)
    } else {
        TestStore::memory()
    };
    let tracker = Arc::new(Tracker::default());
    let rounds = rng.u32(1..=4);
    let mut interruptions = 0;
    let mut committed = HashMap::new();
    for round in 1..=rounds {
        let kill = Kill::new();
        let mut kill_at_task = None;
        let plan = match rng.u32(..4) {
            0 => Plan::CrashAt {
                n: rng.u64(1..=calls.max(1)),
                applied: rng.bool(),
            },
            1 => {
                kill_at_task = Some(rng.u64(1..=tasks.max(1)));
                Plan::Healthy
            }
            2 => Plan::Rate {
                per_mille: [50, 200, 500][rng.usize(..3)],
                rng: fastrand::Rng::with_seed(rng.u64(..)),
            },
            _ => Plan::Once {
                n: rng.u64(1..=calls.max(1)),
                fault: if rng.bool() {
                    Fault::Before
                } else {
                    Fault::After
                },
            },
        };
        let what = format!("{id} round {round} ({plan:?}, kill at task {kill_at_task:?})");
        let faulty = FaultStore::with_kill(Arc::clone(&store.store), plan, Arc::clone(&kill));
        let before = checkpoints_of(&*store.store, &id).await;
        let wf = workflow(&case.tree, &env(&tracker, &kill, kill_at_task));
        let ended = run_or_kill(
            &kill,
            &what,
            runtime(faulty.clone()).start(&wf, &id, case.input),
        )
        .await;
        figures.runs += 1;
        figures.faults += faulty.faults() + u64::from(kill_at_task.is_some() && kill.is_dead());
        match ended {
            Ended::Killed => interruptions += 1,
            Ended::Returned(result) => match outcome(&result) {
                Some(got) => ensure!(
                    got == expected,
                    "{what}: gave {result:?}, the model says {expected:?}"
                ),
                None => interruptions += 1,
            },
        }
        // Let a killed run's drop-time work (lease release) settle before reading.
        tokio::task::yield_now().await;
        let after = checkpoints_of(&*store.store, &id).await;
        assert_kept(&before, &after, &what);
        store.assert_integrity(&what);
        note_committed(&*store.store, &id, &tracker, &mut committed).await;
    }
    figures.interruptions += interruptions;

    let what = format!("{id} last resume");
    let kill = Kill::new();
    let before = checkpoints_of(&*store.store, &id).await;
    let wf = workflow(&case.tree, &env(&tracker, &kill, None));
    let result = match run_or_kill(
        &kill,
        &what,
        runtime(Arc::clone(&store.store)).start(&wf, &id, case.input),
    )
    .await
    {
        Ended::Returned(result) => result,
        Ended::Killed => return Err(format!("{what}: killed without faults")),
    };
    figures.runs += 1;
    ensure!(
        outcome(&result).as_ref() == Some(&expected),
        "{what} on {}: gave {result:?}, the model says {expected:?}",
        store.name()
    );
    let after = checkpoints_of(&*store.store, &id).await;
    assert_kept(&before, &after, &what);
    store.assert_integrity(&what);
    check_committed(&tracker, &committed).map_err(|e| format!("{what}: {e}"))?;
    figures.task_attempts +=
        check_attempts(&case, &tracker, interruptions).map_err(|e| format!("{what}: {e}"))?;

    // 3. A failed execution, redriven under store faults then without: its steps fail
    // by attempt, so it fails again the same way, and nothing committed changes.
    if expected.is_err() {
        redrive(&case, &store, &id, &mut rng, &mut figures).await?;
    }
    Ok(figures)
}

async fn redrive(
    case: &Case,
    store: &TestStore,
    id: &str,
    rng: &mut fastrand::Rng,
    figures: &mut Figures,
) -> Result<(), String> {
    let expected = expected_outcome(case);
    let tracker = Arc::new(Tracker::default());
    let mut faulty_rounds = rng.u32(0..=3);
    for round in 1.. {
        let healthy = faulty_rounds == 0;
        let plan = if healthy {
            Plan::Healthy
        } else {
            faulty_rounds -= 1;
            Plan::Rate {
                per_mille: [50, 200, 500][rng.usize(..3)],
                rng: fastrand::Rng::with_seed(rng.u64(..)),
            }
        };
        let what = format!("{id} redrive {round} ({plan:?})");
        let faulty = FaultStore::new(Arc::clone(&store.store), plan);
        let runtime = runtime(faulty.clone());
        let wf = workflow(&case.tree, &env(&tracker, faulty.kill(), None));
        let before = checkpoints_of(&*store.store, id).await;
        // A redrive whose status write went through before its answer was lost left
        // the execution running: resume it then.
        let running = store
            .store
            .execution(id)
            .await
            .map_err(|e| e.to_string())?
            .status
            == ExecutionStatus::Running;
        let run = async {
            if running {
                runtime.start(&wf, id, case.input).await
            } else {
                runtime.redrive(&wf, id).await
            }
        };
        let Ended::Returned(result) = run_or_kill(faulty.kill(), &what, run).await else {
            return Err(format!("{what}: killed without a crash plan"));
        };
        figures.runs += 1;
        figures.faults += faulty.faults();
        assert_kept(&before, &checkpoints_of(&*store.store, id).await, &what);
        store.assert_integrity(&what);
        match outcome(&result) {
            Some(got) => {
                ensure!(
                    got == expected,
                    "{what}: gave {result:?}, the model says {expected:?}"
                );
                if healthy || faulty_rounds == 0 {
                    return Ok(());
                }
            }
            None => {
                ensure!(!healthy, "{what}: failed without faults: {result:?}");
                figures.interruptions += 1;
            }
        }
    }
    unreachable!()
}

/// Checks `seeds` (4 at a time), panicking with the first failing seed and how to
/// replay it.
pub(crate) async fn check_seeds(seeds: impl Iterator<Item = u64>) -> Figures {
    let mut checks = futures::stream::iter(seeds)
        .map(|seed| async move { (seed, tokio::spawn(check_seed(seed)).await) })
        .buffer_unordered(4);
    let mut figures = Figures::default();
    while let Some((seed, result)) = checks.next().await {
        let failure = match result {
            Ok(Ok(seed_figures)) => {
                figures.add(seed_figures);
                continue;
            }
            Ok(Err(message)) => message,
            Err(panic) => format!("panicked: {panic}"),
        };
        panic!(
            "seed {seed} failed: {failure}\ntree: {:#?}\nreplay it with `WAYPOST_SEED={seed} cargo test --test reliability model::`",
            case(seed).tree
        );
    }
    figures
}

fn seeds_to_run(default: u64) -> Box<dyn Iterator<Item = u64> + Send> {
    match std::env::var("WAYPOST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(0..default),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_workflows_match_the_model_under_interruptions() {
    let panics_before = panics();
    let started = Instant::now();
    let figures = check_seeds(seeds_to_run(200)).await;
    println!("{figures:?} in {:?}", started.elapsed());
    assert!(figures.seeds >= 1);
    assert_eq!(panics(), panics_before, "something panicked");
}

/// The soak: `WAYPOST_SOAK` seeds (default 10 000), from `WAYPOST_SOAK_FROM` (default
/// 0), printing the figures RELIABILITY.md reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the soak: run with --release -- --ignored soak"]
async fn soak() {
    let count = std::env::var("WAYPOST_SOAK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let from: u64 = std::env::var("WAYPOST_SOAK_FROM")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let panics_before = panics();
    let started = Instant::now();
    let figures = check_seeds(from..from + count).await;
    assert_eq!(panics(), panics_before, "something panicked");
    println!(
        "soak: {} seeds, {} runs, {} interruptions, {} faults injected, {} task attempts checked, 0 violations, in {:.1?}",
        figures.seeds,
        figures.runs,
        figures.interruptions,
        figures.faults,
        figures.task_attempts,
        started.elapsed()
    );
}

#[test]
fn the_model_is_deterministic_and_varied() {
    // The same seed draws the same case; different seeds draw different shapes,
    // failures included.
    assert_eq!(format!("{:?}", case(7).tree), format!("{:?}", case(7).tree));
    let cases: Vec<Case> = (0..200).map(case).collect();
    let failing = cases.iter().filter(|c| c.expected.is_err()).count();
    let shapes: std::collections::HashSet<String> =
        cases.iter().map(|c| format!("{:?}", c.tree)).collect();
    assert!(shapes.len() > 190, "{} shapes", shapes.len());
    assert!(failing > 10 && failing < 190, "{failing} of 200 fail");
    for kind in ["Map", "Parallel", "Choice", "Retry", "Catch", "Wait", "Seq"] {
        assert!(
            cases.iter().any(|c| format!("{:?}", c.tree).contains(kind)),
            "no tree has a {kind}"
        );
    }
}

/// A retry around a retry: the outer one's second attempt runs the inner step's
/// attempts 1 and 2 again, under keys of their own. Its history must show them (their
/// events carry the outer attempt after their address).
#[tokio::test]
async fn a_nested_retry_keeps_the_events_of_every_outer_attempt() {
    let retry = |max_attempts, inner| Node::Retry {
        max_attempts,
        errors: "Boom",
        inner: Box::new(inner),
    };
    let tree = retry(
        2,
        Node::Seq(vec![
            retry(2, Node::Task(TaskSpec::new(1, 0b01, "Boom", false))),
            Node::Task(TaskSpec::new(2, 0b01, "Boom", false)),
        ]),
    );
    let case = Case::new(tree, 3);
    let store = TestStore::memory();
    let output = runtime(Arc::clone(&store.store))
        .start(&case.workflow(), "nested", case.input)
        .await
        .unwrap();
    assert_eq!(Ok(output), case.expected());
    let history = store.store.history("nested").await.unwrap();
    let outcomes: Vec<(EventKind, String, u32)> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StepSucceeded | EventKind::StepFailed))
        .map(|e| (e.kind, e.address.clone(), e.attempt))
        .collect();
    // t1 fails, succeeds, t2 fails; t1 fails, succeeds, t2 succeeds.
    assert_eq!(outcomes.len(), 6, "{outcomes:#?}");
}
