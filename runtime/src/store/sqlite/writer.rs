//! The writer thread: the one connection that writes a store file, and group commit.
//!
//! Every write ([`Store::create`], [`Store::commit`], lease calls) becomes an
//! [`Operation`] sent to the thread `waypost-sqlite-writer`, which owns the writing
//! connection. The thread blocks for a first request, drains up to `max_batch - 1` more
//! that are already queued, and runs the whole group in one `BEGIN IMMEDIATE`
//! transaction — one fsync for the group. Requests rarely fail, so a group first runs
//! without savepoints; if one fails (a conflict, an unknown execution, ...), the
//! transaction is rolled back and the group runs again with each request inside its
//! own `SAVEPOINT`, so that the failing one is rolled back alone and answered with its
//! error while the others commit together. Answers to successful requests are sent
//! only after `COMMIT` returns, so a resolved future means durable.
//!
//! If SQLite aborts the whole transaction mid-group (it may on a full disk or an I/O
//! error), the request that hit the error gets it, and the requests applied before it,
//! whose work went with the transaction, are run again in the next one.
//!
//! The thread stops when every sender is gone ([`Writer::close`] or drop), after
//! finishing what is queued; dropping the connection then checkpoints the WAL.
//!
//! [`Store::create`]: waypost_core::store::Store::create
//! [`Store::commit`]: waypost_core::store::Store::commit

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use rusqlite::Connection;
use waypost_core::history::Event;
use waypost_core::store::{
    Claim, ClaimRequest, Decision, ExecutionRecord, ExecutionStatus, Fence, Lease, LeaseState,
    LeaseToken, NewExecution, Notice, StoreError, Write, batch_order, check_fence, decide,
    expiry_ms, is_claimable, now_ms, recovery_event,
};

use super::error::{OpError, duplicate, sql_error};
use super::rows;
use crate::liveness::owner_is_dead;
use crate::store::memory::notice_between;

/// One kind of write the writer thread runs.
pub(super) trait Operation: Send + 'static {
    /// What the caller gets once the transaction committed.
    type Output: Send + 'static;

    /// Applies the operation inside the open transaction (and savepoint).
    fn apply(&self, conn: &Connection) -> Result<Self::Output, OpError>;

    /// What the operation does, for error messages ("committing 3 writes to ...").
    fn describe(&self) -> String;
}

/// The handle on the writer thread.
#[derive(Debug)]
pub(super) struct Writer {
    /// `None` once closed: requests then fail with [`StoreError::Closed`].
    sender: Mutex<Option<Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    committed: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread on `conn`, grouping up to `max_batch` requests (at least
    /// one) per transaction.
    pub(super) fn spawn(
        conn: Connection,
        path: String,
        file: Option<FileIdentity>,
        max_batch: usize,
    ) -> std::io::Result<Writer> {
        let (sender, receiver) = mpsc::channel();
        let committed = Arc::new(AtomicU64::new(0));
        // Every statement the writer runs stays prepared (rusqlite keeps 16 by default,
        // fewer than the writer uses, and re-parsing evicted ones cost a fifth of its
        // time).
        conn.set_prepared_statement_cache_capacity(64);
        let thread = std::thread::Builder::new()
            .name("waypost-sqlite-writer".to_owned())
            .spawn({
                let committed = Arc::clone(&committed);
                move || {
                    Thread {
                        conn,
                        path,
                        max_batch: max_batch.max(1),
                        committed,
                        file,
                    }
                    .run(&receiver);
                }
            })?;
        Ok(Writer {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            committed,
        })
    }

    /// Runs `op` in the next group and waits for the group's commit.
    pub(super) async fn call<O: Operation>(&self, op: O) -> Result<O::Output, StoreError> {
        let answer = self.submit(op)?;
        // A dropped reply means the thread stopped without answering (it panicked).
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `op` for the writer thread; the receiver gets its answer.
    fn submit<O: Operation>(&self, op: O) -> Result<Answer<O::Output>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        sender
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Box::new(Pending { op, reply }))
            .map_err(|_| StoreError::Closed)?;
        Ok(answer)
    }

    /// How many transactions the thread has committed.
    pub(super) fn transactions_committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Stops the thread after it finished what is queued, and waits for it (and so for
    /// the connection to be closed). Later calls fail with [`StoreError::Closed`].
    pub(super) fn close(&self) {
        drop(
            self.sender
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            // A panic on the writer thread has been reported by the panic hook already,
            // and every caller waiting on it got `Closed`: nothing is left to tell.
            let _ = thread.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Where the answer to a request arrives.
type Answer<T> = oneshot::Receiver<Result<T, StoreError>>;

/// A request in the queue: an operation not yet applied.
trait Job: Send {
    fn describe(&self) -> String;
    /// Applies it; on failure gives the job back with the error.
    fn apply(
        self: Box<Self>,
        conn: &Connection,
    ) -> Result<Box<dyn Applied>, (Box<dyn Job>, OpError)>;
    /// Answers with `error`.
    fn fail(self: Box<Self>, error: StoreError);
}

/// A request applied in the open transaction, waiting for its commit.
trait Applied: Send {
    /// The transaction committed: send the output.
    fn confirm(self: Box<Self>);
    /// The transaction did not commit: answer with `error`.
    fn fail(self: Box<Self>, error: StoreError);
    /// The transaction was lost: back to the queue, to run again.
    fn undo(self: Box<Self>) -> Box<dyn Job>;
}

struct Pending<O: Operation> {
    op: O,
    reply: oneshot::Sender<Result<O::Output, StoreError>>,
}

struct Done<O: Operation> {
    pending: Pending<O>,
    output: O::Output,
}

impl<O: Operation> Job for Pending<O> {
    fn describe(&self) -> String {
        self.op.describe()
    }

    fn apply(
        self: Box<Self>,
        conn: &Connection,
    ) -> Result<Box<dyn Applied>, (Box<dyn Job>, OpError)> {
        match self.op.apply(conn) {
            Ok(output) => Ok(Box::new(Done {
                pending: *self,
                output,
            })),
            Err(err) => Err((self, err)),
        }
    }

    fn fail(self: Box<Self>, error: StoreError) {
        // The caller may have stopped waiting; nothing to do then.
        let _ = self.reply.send(Err(error));
    }
}

impl<O: Operation> Applied for Done<O> {
    fn confirm(self: Box<Self>) {
        let _ = self.pending.reply.send(Ok(self.output));
    }

    fn fail(self: Box<Self>, error: StoreError) {
        let _ = self.pending.reply.send(Err(error));
    }

    fn undo(self: Box<Self>) -> Box<dyn Job> {
        Box::new(self.pending)
    }
}

/// How a transaction runs its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One after the other, as if they were one: the first time a group runs, since
    /// requests rarely fail.
    Plain,
    /// Each inside its own savepoint, so that one that fails is rolled back alone: a
    /// group runs so again after one of its requests failed.
    Savepoints,
}

/// A request that failed inside the transaction.
struct Refused {
    job: Box<dyn Job>,
    error: OpError,
    /// Whether the whole transaction is gone with it (not only the request's savepoint).
    aborted: bool,
}

/// The state of the writer thread.
struct Thread {
    conn: Connection,
    path: String,
    max_batch: usize,
    committed: Arc<AtomicU64>,
    /// The file the store opened, to check before each commit that it is still there.
    file: Option<FileIdentity>,
}

/// Which file a store opened: its path and its device and inode numbers.
#[derive(Debug, Clone)]
pub(super) struct FileIdentity {
    path: std::path::PathBuf,
    dev: u64,
    ino: u64,
}

impl FileIdentity {
    /// The identity of the file at `path` now.
    pub(super) fn of(path: &std::path::Path) -> std::io::Result<FileIdentity> {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path)?;
        Ok(FileIdentity {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// Why the file at the path is no longer the one opened, if it is not: it was
    /// deleted, or another file took its place. A commit into the opened file would
    /// then go where no one will read it.
    fn gone(&self) -> Option<String> {
        match FileIdentity::of(&self.path) {
            Ok(now) if (now.dev, now.ino) == (self.dev, self.ino) => None,
            Ok(_) => Some("another file took its place".to_owned()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                Some("it was deleted".to_owned())
            }
            // Unreadable now (permissions changed, ...): SQLite will say what it can.
            Err(_) => None,
        }
    }
}

impl Thread {
    fn run(&self, receiver: &Receiver<Box<dyn Job>>) {
        // Requests received but not yet run: a group may put some back (see `group`).
        let mut queue: VecDeque<Box<dyn Job>> = VecDeque::new();
        loop {
            if queue.is_empty() {
                match receiver.recv() {
                    Ok(job) => queue.push_back(job),
                    Err(mpsc::RecvError) => return,
                }
            }
            while queue.len() < self.max_batch {
                match receiver.try_recv() {
                    Ok(job) => queue.push_back(job),
                    Err(_) => break,
                }
            }
            let take = queue.len().min(self.max_batch);
            let jobs: Vec<_> = queue.drain(..take).collect();
            for job in self.group(jobs).into_iter().rev() {
                queue.push_front(job);
            }
        }
    }

    /// Runs `jobs` in one transaction and answers them; returns the jobs to run again
    /// when SQLite aborted the transaction under them.
    fn group(&self, jobs: Vec<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
        crate::crash::reach("before-commit");
        self.transaction(jobs, Instant::now(), Mode::Plain)
    }

    /// Runs `jobs` in one transaction, each as `mode` says, and answers them; returns the
    /// jobs to run again when SQLite aborted the transaction under them.
    fn transaction(
        &self,
        jobs: Vec<Box<dyn Job>>,
        started: Instant,
        mode: Mode,
    ) -> Vec<Box<dyn Job>> {
        let count = jobs.len();
        if let Err(err) = self.statement("BEGIN IMMEDIATE") {
            let err = sql_error(&err, &self.path, started, || {
                format!("starting a transaction for {count} requests")
            });
            for job in jobs {
                job.fail(duplicate(&err));
            }
            return Vec::new();
        }

        let mut applied: Vec<Box<dyn Applied>> = Vec::with_capacity(count);
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            let applied_one = match mode {
                Mode::Plain => self.plain(job),
                Mode::Savepoints => self.in_savepoint(job),
            };
            match applied_one {
                Ok(done) => applied.push(done),
                // No savepoint to roll the request back to, and others in the group:
                // the group runs again, each request in a savepoint of its own.
                Err(Refused { job, .. }) if mode == Mode::Plain && count > 1 => {
                    self.rollback();
                    let again = applied
                        .into_iter()
                        .map(|done| done.undo())
                        .chain(std::iter::once(job))
                        .chain(jobs)
                        .collect();
                    return self.transaction(again, started, Mode::Savepoints);
                }
                Err(Refused {
                    job,
                    error,
                    aborted,
                }) => {
                    let what = job.describe();
                    job.fail(error.into_store_error(&self.path, started, || what));
                    if aborted {
                        self.rollback();
                        return applied
                            .into_iter()
                            .map(|done| done.undo())
                            .chain(jobs)
                            .collect();
                    }
                }
            }
        }

        if let Some(why) = self.file.as_ref().and_then(FileIdentity::gone) {
            let err = StoreError::Backend {
                doing: format!(
                    "committing a transaction of {count} requests in `{}`",
                    self.path
                ),
                message: format!(
                    "the store file is not the one this store opened any more: {why}; \
                     nothing was committed (open the store again)"
                ),
            };
            self.rollback();
            for done in applied {
                done.fail(duplicate(&err));
            }
            return Vec::new();
        }

        match self.statement("COMMIT") {
            Ok(()) => {
                crate::crash::reach("after-commit");
                self.committed.fetch_add(1, Ordering::Relaxed);
                for done in applied {
                    done.confirm();
                }
            }
            Err(err) => {
                let err = sql_error(&err, &self.path, started, || {
                    format!("committing a transaction of {count} requests")
                });
                self.rollback();
                for done in applied {
                    done.fail(duplicate(&err));
                }
            }
        }
        Vec::new()
    }

    /// Applies `job` without a savepoint (two statements less per request): on failure
    /// the whole transaction must be rolled back.
    fn plain(&self, job: Box<dyn Job>) -> Result<Box<dyn Applied>, Refused> {
        job.apply(&self.conn).map_err(|(job, error)| Refused {
            job,
            error,
            aborted: true,
        })
    }

    /// Applies `job` inside its own savepoint; on failure, rolls the savepoint back.
    fn in_savepoint(&self, job: Box<dyn Job>) -> Result<Box<dyn Applied>, Refused> {
        if let Err(err) = self.statement("SAVEPOINT request") {
            return Err(Refused {
                job,
                error: err.into(),
                aborted: self.conn.is_autocommit(),
            });
        }
        match job.apply(&self.conn) {
            Ok(done) => match self.statement("RELEASE request") {
                Ok(()) => Ok(done),
                Err(err) => Err(Refused {
                    job: done.undo(),
                    error: err.into(),
                    aborted: true,
                }),
            },
            Err((job, error)) => {
                // SQLite may have rolled the whole transaction back itself (full disk,
                // I/O error); then there is no savepoint left to roll back to.
                let aborted = self.conn.is_autocommit()
                    || self
                        .conn
                        .execute_batch("ROLLBACK TO request; RELEASE request")
                        .is_err();
                Err(Refused {
                    job,
                    error,
                    aborted,
                })
            }
        }
    }

    /// Runs one statement that returns no rows, prepared once per connection: the
    /// transaction and savepoint statements run for every request, and parsing them
    /// each time was a fifth of the writer's work.
    fn statement(&self, sql: &str) -> rusqlite::Result<()> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    /// Ends the transaction, if SQLite has not already.
    fn rollback(&self) {
        if !self.conn.is_autocommit() {
            // Nothing more can be done if this fails too: the next BEGIN will report it.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// Creates an execution, or finds the one with its id.
#[derive(Debug)]
pub(super) struct Create(pub(super) NewExecution);

impl Operation for Create {
    type Output = (ExecutionRecord, bool);

    fn apply(&self, conn: &Connection) -> Result<Self::Output, OpError> {
        let new = &self.0;
        let created_ms = sql_int(new.created_ms, "created_ms")?;
        let mut stmt = conn.prepare_cached(
            "INSERT INTO executions (id, workflow, version, fingerprint, codec, status, input, \
             output, error, graph, redrives, created_ms, updated_ms, input_checksum, \
             wake_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, ?8, 0, ?9, ?9, ?10, ?9) \
             ON CONFLICT (id) DO NOTHING",
        )?;
        let inserted = stmt.execute(rusqlite::params![
            new.id,
            new.workflow,
            new.version,
            new.fingerprint,
            new.codec,
            ExecutionStatus::Running.as_str(),
            new.input,
            new.graph,
            created_ms,
            i64::from(waypost_core::replay::checksum(&new.input)),
        ])?;
        if inserted == 1 {
            let record = ExecutionRecord {
                id: new.id.clone(),
                workflow: new.workflow.clone(),
                version: new.version,
                fingerprint: new.fingerprint.clone(),
                codec: new.codec.clone(),
                status: ExecutionStatus::Running,
                input: new.input.clone(),
                output: None,
                error: None,
                graph: new.graph.clone(),
                redrives: 0,
                recoveries: 0,
                created_ms: new.created_ms,
                updated_ms: new.created_ms,
                lease: None,
                lease_epoch: 0,
                wake_at_ms: new.created_ms,
            };
            return Ok((record, true));
        }
        let existing = rows::load_execution(conn, &new.id)?.ok_or_else(|| StoreError::Corrupt {
            detail: format!("execution `{}` neither inserted nor found", new.id),
        })?;
        Ok((existing, false))
    }

    fn describe(&self) -> String {
        format!("creating execution `{}`", self.0.id)
    }
}

/// Applies a batch of writes to one execution, under a fence.
#[derive(Debug)]
pub(super) struct Commit {
    pub(super) id: String,
    /// The lease the writes are made under (`None`: [`Fence::Unleased`]).
    pub(super) token: Option<LeaseToken>,
    pub(super) writes: Vec<Write>,
}

impl Operation for Commit {
    /// What the subscribers are told once it committed.
    type Output = Option<Notice>;

    fn apply(&self, conn: &Connection) -> Result<Option<Notice>, OpError> {
        let id = &self.id;
        // Read inside the transaction, which holds the file's write lock: no other
        // process can change the status or the lease between these checks and the
        // writes below.
        let Some(row) = rows::load_fence(conn, id)? else {
            return Err(StoreError::NotFound { id: id.clone() }.into());
        };
        let fence = self.token.as_ref().map_or(Fence::Unleased, Fence::Lease);
        check_fence(id, fence, row.lease_epoch, row.holder.as_deref())?;
        let before = row.status;
        let mut after = before;
        // Refuses writes to an execution that is not running, before writing anything.
        let order = batch_order(id, before, &self.writes)?;
        // The store numbers checkpoints and events (after the execution's last ones; the
        // incoming `seq` is ignored): each table's last number is read once per commit,
        // by the first row written to it.
        let mut checkpoint_seq = Sequence::new(LAST_CHECKPOINT);
        let mut event_seq = Sequence::new(LAST_EVENT);
        // Whether the batch wrote an event row yet.
        let mut wrote_event = false;
        // Whether the batch wrote a checkpoint row and no event row yet (a crash point).
        let mut checkpoint_before_event = false;
        for write in order.into_iter().map(|index| &self.writes[index]) {
            match write {
                Write::Checkpoint(checkpoint) => {
                    let seq = checkpoint_seq.peek(conn, id)?;
                    let inserted = conn
                        .prepare_cached(
                            "INSERT INTO checkpoints \
                             (execution_id, seq, key, kind, payload, checksum) \
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                             ON CONFLICT (execution_id, key) DO NOTHING",
                        )?
                        .execute(rusqlite::params![
                            id,
                            seq,
                            checkpoint.key,
                            checkpoint.kind.code(),
                            checkpoint.payload,
                            checkpoint.checksum,
                        ])?;
                    if inserted == 1 {
                        checkpoint_seq.take();
                        checkpoint_before_event |= !wrote_event;
                        continue;
                    }
                    // Compared in SQL, so a large payload is not copied out to compare.
                    let same: bool = conn
                        .prepare_cached(
                            "SELECT kind = ?3 AND payload = ?4 AND checksum = ?5 \
                             FROM checkpoints WHERE execution_id = ?1 AND key = ?2",
                        )?
                        .query_row(
                            rusqlite::params![
                                id,
                                checkpoint.key,
                                checkpoint.kind.code(),
                                checkpoint.payload,
                                checkpoint.checksum,
                            ],
                            |row| row.get(0),
                        )?;
                    if !same {
                        return Err(StoreError::Conflict {
                            id: id.clone(),
                            key: checkpoint.key.clone(),
                        }
                        .into());
                    }
                }
                Write::Event(event) => {
                    if std::mem::take(&mut checkpoint_before_event) {
                        crate::crash::reach("between-checkpoint-and-event");
                    }
                    let seq = event_seq.peek(conn, id)?;
                    insert_event(conn, id, seq, event)?;
                    event_seq.take();
                    wrote_event = true;
                }
                Write::Status {
                    status,
                    output,
                    error,
                    redrive,
                    at_ms,
                } => {
                    let error = error
                        .as_ref()
                        .map(serde_json::to_string)
                        .transpose()
                        .map_err(|err| StoreError::Backend {
                            doing: format!("encoding the error of execution `{id}`"),
                            message: err.to_string(),
                        })?;
                    conn.prepare_cached(
                        "UPDATE executions SET status = ?2, output = ?3, error = ?4, \
                         updated_ms = ?5, redrives = redrives + ?6, output_checksum = ?7, \
                         recoveries = CASE WHEN ?6 THEN 0 ELSE recoveries END, \
                         wake_at_ms = CASE WHEN ?6 THEN ?5 ELSE wake_at_ms END \
                         WHERE id = ?1",
                    )?
                    .execute(rusqlite::params![
                        id,
                        status.as_str(),
                        output,
                        error,
                        sql_int(*at_ms, "at_ms")?,
                        i64::from(*redrive),
                        output
                            .as_deref()
                            .map(|o| i64::from(waypost_core::replay::checksum(o))),
                    ])?;
                    after = *status;
                }
                Write::Park { wake_at_ms } => {
                    conn.prepare_cached("UPDATE executions SET wake_at_ms = ?2 WHERE id = ?1")?
                        .execute(rusqlite::params![id, rows::wake_to_sql(*wake_at_ms)])?;
                }
                // `Write` is non-exhaustive: a write this store does not know must not
                // be dropped silently.
                other => {
                    return Err(StoreError::Backend {
                        doing: format!("committing to execution `{id}`"),
                        message: format!("this store cannot apply {other:?}"),
                    }
                    .into());
                }
            }
        }
        Ok(notice_between(id, &row.workflow, before, after))
    }

    fn describe(&self) -> String {
        let count = self.writes.len();
        let plural = if count == 1 { "" } else { "s" };
        format!(
            "committing {count} write{plural} to execution `{}`",
            self.id
        )
    }
}

/// The highest checkpoint number of an execution (0 for none).
const LAST_CHECKPOINT: &str =
    "SELECT COALESCE(MAX(seq), 0) FROM checkpoints WHERE execution_id = ?1";

/// The highest event number of an execution (0 for none).
const LAST_EVENT: &str = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE execution_id = ?1";

/// The next number of a table's rows for one execution, read from the table the first
/// time it is needed and counted up from there.
struct Sequence {
    last: &'static str,
    next: Option<i64>,
}

impl Sequence {
    /// Numbers rows after what `last` (a query of the highest number, given the
    /// execution's id) reads.
    fn new(last: &'static str) -> Sequence {
        Sequence { last, next: None }
    }

    /// The number the next row gets.
    fn peek(&mut self, conn: &Connection, id: &str) -> Result<i64, OpError> {
        match self.next {
            Some(next) => Ok(next),
            None => {
                let last: i64 = conn
                    .prepare_cached(self.last)?
                    .query_row([id], |row| row.get(0))?;
                self.next = Some(last + 1);
                Ok(last + 1)
            }
        }
    }

    /// The row numbered by [`peek`](Self::peek) was written.
    fn take(&mut self) {
        if let Some(next) = &mut self.next {
            *next += 1;
        }
    }
}

/// Appends `event` to the history of execution `id`, as number `seq`.
fn insert_event(conn: &Connection, id: &str, seq: i64, event: &Event) -> Result<(), OpError> {
    let details = if event.details.is_empty() {
        None
    } else {
        let json = serde_json::to_string(&event.details).map_err(|err| StoreError::Backend {
            doing: format!(
                "encoding the details of a {} event of execution `{id}`",
                event.kind
            ),
            message: err.to_string(),
        })?;
        Some(json)
    };
    conn.prepare_cached(
        "INSERT INTO events \
         (execution_id, seq, at_ms, kind, address, attempt, duration_ms, details) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(rusqlite::params![
        id,
        seq,
        sql_int(event.at_ms, "at_ms")?,
        event.kind.as_str(),
        event.address,
        event.attempt,
        event
            .duration_ms
            .map(|ms| sql_int(ms, "duration_ms"))
            .transpose()?,
        details,
    ])?;
    Ok(())
}

/// Takes or renews an execution's lease.
#[derive(Debug)]
pub(super) struct AcquireLease {
    pub(super) id: String,
    pub(super) owner: String,
    pub(super) ttl: Duration,
}

impl Operation for AcquireLease {
    type Output = Lease;

    fn apply(&self, conn: &Connection) -> Result<Lease, OpError> {
        let Some(record) = rows::load_execution(conn, &self.id)? else {
            return Err(StoreError::NotFound {
                id: self.id.clone(),
            }
            .into());
        };
        // Read the clock inside the transaction: no other writer can move the lease now.
        let now = now_ms();
        let decision = decide(
            &self.id,
            record.lease.as_ref(),
            &self.owner,
            now,
            owner_is_dead,
        )?;
        take_lease(conn, &record, &self.owner, self.ttl, now, decision)
    }

    fn describe(&self) -> String {
        format!(
            "acquiring the lease on execution `{}` for `{}`",
            self.id, self.owner
        )
    }
}

/// Applies `decision` (from [`decide`]) in the open transaction: `owner` holds the
/// lease of `record` for `ttl` from `now`. A takeover of a running execution is a
/// recovery: counted and recorded in the history with the takeover, in the same
/// transaction, so that they are durable together (a finished execution has nothing
/// left to recover).
fn take_lease(
    conn: &Connection,
    record: &ExecutionRecord,
    owner: &str,
    ttl: Duration,
    now: u64,
    decision: Decision,
) -> Result<Lease, OpError> {
    let id = &record.id;
    let mut epoch = record.lease_epoch;
    let mut recovered_from = None;
    if decision != Decision::Renew {
        epoch += 1;
        conn.prepare_cached("UPDATE executions SET lease_epoch = ?2 WHERE id = ?1")?
            .execute(rusqlite::params![id, sql_int(epoch, "lease_epoch")?])?;
    }
    if let Decision::TakeOver { from } = decision
        && record.status == ExecutionStatus::Running
    {
        let recoveries: i64 = conn
            .prepare_cached(
                "UPDATE executions SET recoveries = recoveries + 1 WHERE id = ?1 \
                 RETURNING recoveries",
            )?
            .query_row([id], |row| row.get(0))?;
        let recoveries = u32::try_from(recoveries).unwrap_or(u32::MAX);
        let seq = Sequence::new(LAST_EVENT).peek(conn, id)?;
        insert_event(
            conn,
            id,
            seq,
            &recovery_event(owner, &from, recoveries, now),
        )?;
        recovered_from = Some(from);
    }
    let expires_ms = expiry_ms(now, ttl);
    conn.prepare_cached(
        "INSERT INTO leases (execution_id, owner, expires_ms) VALUES (?1, ?2, ?3) \
         ON CONFLICT (execution_id) DO UPDATE SET owner = excluded.owner, \
         expires_ms = excluded.expires_ms",
    )?
    .execute(rusqlite::params![
        id,
        owner,
        sql_int(expires_ms, "expires_ms")?
    ])?;
    Ok(Lease {
        token: LeaseToken {
            owner: owner.to_owned(),
            epoch,
        },
        expires_ms,
        recovered_from,
    })
}

/// Extends the lease a token holds.
#[derive(Debug)]
pub(super) struct RenewLease {
    pub(super) id: String,
    pub(super) token: LeaseToken,
    pub(super) ttl: Duration,
}

impl Operation for RenewLease {
    type Output = Lease;

    fn apply(&self, conn: &Connection) -> Result<Lease, OpError> {
        let Some(record) = rows::load_execution(conn, &self.id)? else {
            return Err(StoreError::NotFound {
                id: self.id.clone(),
            }
            .into());
        };
        let holder = record.lease.as_ref().map(|l| l.owner.as_str());
        check_fence(
            &self.id,
            Fence::Lease(&self.token),
            record.lease_epoch,
            holder,
        )?;
        let expires_ms = expiry_ms(now_ms(), self.ttl);
        conn.prepare_cached("UPDATE leases SET expires_ms = ?2 WHERE execution_id = ?1")?
            .execute(rusqlite::params![
                self.id,
                sql_int(expires_ms, "expires_ms")?
            ])?;
        Ok(Lease {
            token: self.token.clone(),
            expires_ms,
            recovered_from: None,
        })
    }

    fn describe(&self) -> String {
        format!(
            "renewing the lease on execution `{}` held by `{}`",
            self.id, self.token.owner
        )
    }
}

/// Gives an execution's lease up, if the token holds it.
#[derive(Debug)]
pub(super) struct ReleaseLease {
    pub(super) id: String,
    pub(super) token: LeaseToken,
}

impl Operation for ReleaseLease {
    /// [`Notice::Runnable`] when a running execution was handed back.
    type Output = Option<Notice>;

    fn apply(&self, conn: &Connection) -> Result<Option<Notice>, OpError> {
        let released = conn
            .prepare_cached(
                "DELETE FROM leases WHERE execution_id = ?1 AND owner = ?2 \
                 AND (SELECT lease_epoch FROM executions WHERE id = ?1) = ?3",
            )?
            .execute(rusqlite::params![
                self.id,
                self.token.owner,
                sql_int(self.token.epoch, "lease_epoch")?
            ])?;
        if released == 0 {
            return Ok(None);
        }
        Ok(rows::load_execution(conn, &self.id)?
            .filter(|record| record.status == ExecutionStatus::Running)
            .map(|record| Notice::Runnable {
                workflow: record.workflow,
            }))
    }

    fn describe(&self) -> String {
        format!(
            "releasing the lease on execution `{}` held by `{}`",
            self.id, self.token.owner
        )
    }
}

/// Claims the executions a worker may run now.
#[derive(Debug)]
pub(super) struct ClaimExecutions(pub(super) ClaimRequest);

impl Operation for ClaimExecutions {
    type Output = Vec<Claim>;

    fn apply(&self, conn: &Connection) -> Result<Vec<Claim>, OpError> {
        let request = &self.0;
        let now = now_ms();
        // The due running executions of the registered workflows' names, longest due
        // first; versions, leases and liveness are checked on the records (a worker
        // registers a few workflows, and a due execution is claimed soon).
        let names: Vec<&str> = request.workflows.iter().map(|(n, _)| n.as_str()).collect();
        let mut claims = Vec::new();
        if names.is_empty() || request.limit == 0 {
            return Ok(claims);
        }
        let placeholders = vec!["?"; names.len()].join(", ");
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id FROM executions WHERE status = 'running' AND wake_at_ms <= ? \
             AND workflow IN ({placeholders}) ORDER BY wake_at_ms, created_ms, id"
        ))?;
        let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(names.len() + 1);
        let now_sql = sql_int(now, "now")?;
        params.push(&now_sql);
        params.extend(names.iter().map(|name| name as &dyn rusqlite::ToSql));
        let ids: Vec<String> = stmt
            .query_map(params.as_slice(), |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        for id in ids {
            if claims.len() == request.limit {
                break;
            }
            let Some(record) = rows::load_execution(conn, &id)? else {
                continue;
            };
            if !is_claimable(&record, request, now, owner_is_dead) {
                continue;
            }
            let decision = match &record.lease {
                None => Decision::Take,
                Some(LeaseState { owner, .. }) => Decision::TakeOver {
                    from: owner.clone(),
                },
            };
            let lease = take_lease(conn, &record, &request.owner, request.ttl, now, decision)?;
            let record = rows::load_execution(conn, &id)?.unwrap_or(record);
            claims.push(Claim { record, lease });
        }
        Ok(claims)
    }

    fn describe(&self) -> String {
        format!("claiming executions for `{}`", self.0.owner)
    }
}

/// A millisecond timestamp as SQLite's INTEGER (i64).
fn sql_int(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Backend {
        doing: format!("storing `{what}`"),
        message: format!("{value} does not fit a SQLite INTEGER"),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use futures::executor::block_on;

    use super::*;

    /// Holds the writer thread inside its transaction until the test opens it, so that
    /// the requests submitted meanwhile form the next group, deterministically.
    struct Gate {
        entered: mpsc::Sender<()>,
        open: mpsc::Receiver<()>,
    }

    /// Returns the gate, a receiver that says when the writer is inside it, and the
    /// sender that opens it.
    fn gate() -> (Gate, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (entered, entered_rx) = mpsc::channel();
        let (open_tx, open) = mpsc::channel();
        (Gate { entered, open }, entered_rx, open_tx)
    }

    impl Operation for Gate {
        type Output = ();
        fn apply(&self, _: &Connection) -> Result<(), OpError> {
            let _ = self.entered.send(());
            // Returns at once when run again after the test dropped its sender.
            let _ = self.open.recv();
            Ok(())
        }
        fn describe(&self) -> String {
            "waiting at the gate".to_owned()
        }
    }

    struct Insert(i64);

    impl Operation for Insert {
        type Output = ();
        fn apply(&self, conn: &Connection) -> Result<(), OpError> {
            conn.execute("INSERT INTO t (x) VALUES (?1)", [self.0])?;
            Ok(())
        }
        fn describe(&self) -> String {
            format!("inserting {}", self.0)
        }
    }

    /// Writes, then fails like a conflict: only its savepoint is rolled back.
    struct Refuse;

    impl Operation for Refuse {
        type Output = ();
        fn apply(&self, conn: &Connection) -> Result<(), OpError> {
            conn.execute("INSERT INTO t (x) VALUES (-1)", [])?;
            Err(StoreError::Conflict {
                id: "e".to_owned(),
                key: "k".to_owned(),
            }
            .into())
        }
        fn describe(&self) -> String {
            "refusing".to_owned()
        }
    }

    /// Fails the way SQLite may on a full disk: the whole transaction is rolled back.
    struct Abort;

    impl Operation for Abort {
        type Output = ();
        fn apply(&self, conn: &Connection) -> Result<(), OpError> {
            conn.execute("INSERT INTO t (x) VALUES (-2)", [])?;
            conn.execute_batch("ROLLBACK")?;
            let full = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL);
            Err(rusqlite::Error::SqliteFailure(full, None).into())
        }
        fn describe(&self) -> String {
            "aborting".to_owned()
        }
    }

    struct Select;

    impl Operation for Select {
        type Output = Vec<i64>;
        fn apply(&self, conn: &Connection) -> Result<Vec<i64>, OpError> {
            let mut stmt = conn.prepare("SELECT x FROM t ORDER BY rowid")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        }
        fn describe(&self) -> String {
            "selecting".to_owned()
        }
    }

    fn writer(max_batch: usize) -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER NOT NULL)")
            .unwrap();
        Writer::spawn(conn, "test.db".to_owned(), None, max_batch).unwrap()
    }

    #[test]
    fn a_failed_request_is_rolled_back_alone() {
        let writer = writer(16);
        let (gate, entered, open) = gate();
        let gated = writer.submit(gate).unwrap();
        entered.recv().unwrap();
        let answers = [
            writer.submit(Insert(1)).unwrap(),
            writer.submit(Refuse).unwrap(),
            writer.submit(Insert(2)).unwrap(),
        ];
        open.send(()).unwrap();
        block_on(gated).unwrap().unwrap();
        let [one, refused, two] = answers.map(|answer| block_on(answer).unwrap());
        one.unwrap();
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{refused:?}"
        );
        two.unwrap();
        // The gate's group, then one group for the three.
        assert_eq!(writer.transactions_committed(), 2);
        assert_eq!(block_on(writer.call(Select)).unwrap(), [1, 2]);
    }

    #[test]
    fn an_aborted_transaction_runs_the_others_again() {
        let writer = writer(16);
        let (gate, entered, open) = gate();
        let gated = writer.submit(gate).unwrap();
        entered.recv().unwrap();
        let answers = [
            writer.submit(Insert(1)).unwrap(),
            writer.submit(Refuse).unwrap(),
            writer.submit(Abort).unwrap(),
            writer.submit(Insert(2)).unwrap(),
        ];
        open.send(()).unwrap();
        drop(open);
        block_on(gated).unwrap().unwrap();
        let [one, refused, aborted, two] = answers.map(|answer| block_on(answer).unwrap());
        one.unwrap();
        assert!(
            matches!(refused, Err(StoreError::Conflict { .. })),
            "{refused:?}"
        );
        match aborted {
            Err(StoreError::Backend { doing, message }) => {
                assert!(
                    doing.contains("aborting") && doing.contains("test.db"),
                    "{doing}"
                );
                assert!(message.contains("full"), "{message}");
            }
            other => panic!("expected a full-disk Backend error, got {other:?}"),
        }
        two.unwrap();
        // The gate's group; the aborted group commits nothing; 1 and 2 run again and
        // commit together.
        assert_eq!(writer.transactions_committed(), 2);
        assert_eq!(block_on(writer.call(Select)).unwrap(), [1, 2]);
    }

    #[test]
    fn groups_hold_at_most_max_batch_requests() {
        let writer = writer(2);
        let (gate, entered, open) = gate();
        let gated = writer.submit(gate).unwrap();
        entered.recv().unwrap();
        let answers: Vec<_> = (1..=5).map(|x| writer.submit(Insert(x)).unwrap()).collect();
        open.send(()).unwrap();
        block_on(gated).unwrap().unwrap();
        for answer in answers {
            block_on(answer).unwrap().unwrap();
        }
        // The gate's group, then 2 + 2 + 1.
        assert_eq!(writer.transactions_committed(), 4);
        assert_eq!(block_on(writer.call(Select)).unwrap(), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn close_finishes_the_queue_then_refuses() {
        let writer = writer(16);
        let (gate, entered, open) = gate();
        let gated = writer.submit(gate).unwrap();
        entered.recv().unwrap();
        let queued = writer.submit(Insert(7)).unwrap();
        let opener = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            open.send(()).unwrap();
        });
        writer.close();
        opener.join().unwrap();
        block_on(gated).unwrap().unwrap();
        block_on(queued).unwrap().unwrap();
        assert!(matches!(
            block_on(writer.call(Select)),
            Err(StoreError::Closed)
        ));
    }
}
