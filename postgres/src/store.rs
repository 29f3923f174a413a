//! [`PostgresStore`]: executions, checkpoints, histories and leases in PostgreSQL.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Transaction,
};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_postgres::NoTls;
use waypost_core::history::{Event, EventDetails};
use waypost_core::store::{
    Checkpoint, Claim, ClaimRequest, Decision, ExecutionRecord, ExecutionStatus, Fence, Lease,
    LeaseState, LeaseToken, ListFilter, NewExecution, Notice, Notices, Notifier, Snapshot, Store,
    StoreError, StoreFuture, Write, check_fence, decide, recovery_event,
};

use crate::options::PostgresOptions;
use crate::rows::{self, from_sql, to_sql};
use crate::sql::{EXECUTION_COLUMNS, NOW_MS, quote};
use crate::{error, listen, schema, writer};

/// A [`Store`] in a PostgreSQL database: for many workers on many machines.
///
/// Every process that opens the same database (and schema) shares its executions. A
/// lease is decided by the database's clock, and an owner that died is taken over once
/// its lease runs out (no process can tell whether one on another machine lives).
/// Commits of many executions share transactions (group commit); workers are woken by
/// `LISTEN/NOTIFY` and poll as well.
///
/// The connection is plain TCP (or a Unix socket): run it on a network you trust, or
/// through a TLS tunnel.
///
/// Clones share the same connections.
///
/// # Examples
///
/// ```no_run
/// use waypost::prelude::*;
/// use waypost_postgres::PostgresStore;
///
/// #[step]
/// async fn double(x: u64) -> u64 { 2 * x }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test").await?;
/// let runtime = Runtime::builder().store(store).build();
/// let wf = Workflow::new("double", 1, double);
/// assert_eq!(runtime.start(&wf, "d-1", 21).await?, 42);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    /// Where, for messages (no password).
    pub(crate) server: String,
    /// The quoted schema name, for statements.
    pub(crate) schema: String,
    pub(crate) channel: String,
    pub(crate) options: PostgresOptions,
    jobs: mpsc::UnboundedSender<writer::Job>,
    notifier: Notifier,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("server", &self.inner.server)
            .field("schema", &self.inner.options.schema)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) with
    /// the default [`PostgresOptions`], creating the store's tables (schema `waypost`)
    /// or bringing older ones to the current version.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] naming the server when it cannot be reached, refuses the
    /// credentials or has no such database; [`StoreError::NewerSchema`] when the
    /// tables were written by a newer waypost.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database at `url` with `options`. See [`connect`](Self::connect).
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect); [`StoreError::Backend`] for a URL that does not
    /// parse.
    pub async fn connect_with(
        url: &str,
        options: PostgresOptions,
    ) -> Result<PostgresStore, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|err| StoreError::Backend {
                doing: "reading the PostgreSQL URL".to_owned(),
                message: format!("{err} (expected postgres://user:password@host:port/database)"),
            })?;
        config.connect_timeout(options.connect_timeout);
        let server = error::describe(&config);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|err| StoreError::Backend {
                doing: format!("setting up connections to PostgreSQL at `{server}`"),
                message: err.to_string(),
            })?;
        {
            let mut client = pool
                .get()
                .await
                .map_err(|err| error::pool(&server, "connecting", &err))?;
            schema::migrate(&mut client, &options.schema, &server, options.migrate).await?;
        }
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue: writer::Queue = Arc::new(Mutex::new(queue));
        let notifier = Notifier::new();
        let channel = crate::sql::channel(&options.schema);
        let (ready, listening) = oneshot::channel();
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let mut tasks: Vec<_> = (0..options.writers.max(1))
                .map(|_| {
                    tokio::spawn(writer::run(
                        weak.clone(),
                        Arc::clone(&queue),
                        options.max_batch.max(1),
                    ))
                })
                .collect();
            tasks.push(tokio::spawn(listen::run(
                config,
                channel.clone(),
                notifier.clone(),
                server.clone(),
                ready,
            )));
            Inner {
                pool,
                server,
                schema: quote(&options.schema),
                channel,
                options,
                jobs,
                notifier,
                tasks,
            }
        });
        // Notices sent from now on reach this process's subscribers (a listener that
        // cannot start is retried in the background; subscribers poll meanwhile).
        let _ = tokio::time::timeout(inner.options.connect_timeout, listening).await;
        Ok(PostgresStore { inner })
    }

    /// Connects like [`connect_with`](Self::connect_with), and while the server cannot
    /// be reached (it is starting, or the network is down), tries again with pauses
    /// that double from 100 ms up to 10 s, for at most `give_up_after`. Each failed try
    /// is reported to `on_retry` with the pause before the next (a worker says so in
    /// its log), and as a `tracing` warning.
    ///
    /// # Errors
    ///
    /// The last failure once `give_up_after` has passed; at once, the failures no
    /// retry can fix: a URL that does not parse, a newer schema.
    pub async fn connect_retrying(
        url: &str,
        options: PostgresOptions,
        give_up_after: Duration,
        mut on_retry: impl FnMut(&StoreError, Duration),
    ) -> Result<PostgresStore, StoreError> {
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(100);
        loop {
            match Self::connect_with(url, options.clone()).await {
                Ok(store) => return Ok(store),
                Err(StoreError::Backend { doing, message })
                    if !doing.starts_with("reading the PostgreSQL URL")
                        && started.elapsed() + pause < give_up_after =>
                {
                    let error = StoreError::Backend { doing, message };
                    tracing::warn!(%error, retry_in = ?pause, "waypost-postgres: cannot connect yet");
                    on_retry(&error, pause);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Where the store is: `postgres://user@host:port/db` (no password) and its schema.
    pub fn describe(&self) -> String {
        format!(
            "{} (schema {})",
            self.inner.server, self.inner.options.schema
        )
    }

    /// Drops the store's schema with everything in it: for tests that made their own.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the server fails.
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        let client = self.client("dropping the store's schema").await?;
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.inner.schema
            ))
            .await
            .map_err(|err| error::backend(&self.inner.server, "dropping the store's schema", &err))
    }

    async fn client(&self, doing: &str) -> Result<deadpool_postgres::Object, StoreError> {
        self.inner
            .pool
            .get()
            .await
            .map_err(|err| error::pool(&self.inner.server, doing, &err))
    }

    fn fail(&self, doing: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
        let doing = doing.to_owned();
        move |err| error::backend(&self.inner.server, doing.clone(), &err)
    }

    async fn load(
        client: &impl GenericClient,
        schema: &str,
        id: &str,
    ) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
        client
            .query_opt(
                &format!("SELECT {EXECUTION_COLUMNS} FROM {schema}.executions WHERE id = $1"),
                &[&id],
            )
            .await
    }

    async fn create_now(&self, new: NewExecution) -> Result<(ExecutionRecord, bool), StoreError> {
        let doing = format!("creating execution `{}`", new.id);
        self.inner
            .check_size(&new.id, "the input", new.input.len())?;
        let fail = self.fail(&doing);
        let mut client = self.client(&doing).await?;
        let tx = client.transaction().await.map_err(&fail)?;
        let s = &self.inner.schema;
        let created_ms = to_sql(new.created_ms);
        let version = i64::from(new.version);
        let row = tx
            .query_opt(
                &format!(
                    "INSERT INTO {s}.executions (id, workflow, version, fingerprint, codec, \
                     status, input, graph, created_ms, updated_ms, wake_at_ms) \
                     VALUES ($1, $2, $3, $4, $5, 'running', $6, $7, $8, $8, $8) \
                     ON CONFLICT (id) DO NOTHING RETURNING {EXECUTION_COLUMNS}"
                ),
                &[
                    &new.id,
                    &new.workflow,
                    &version,
                    &new.fingerprint,
                    &new.codec,
                    &new.input,
                    &new.graph,
                    &created_ms,
                ],
            )
            .await
            .map_err(&fail)?;
        let (row, created) = match row {
            Some(row) => {
                notify(
                    &self.inner,
                    &tx,
                    &Notice::Runnable {
                        workflow: new.workflow.clone(),
                    },
                )
                .await
                .map_err(&fail)?;
                (row, true)
            }
            None => (
                Self::load(&tx, s, &new.id)
                    .await
                    .map_err(&fail)?
                    .ok_or_else(|| StoreError::Corrupt {
                        detail: format!("execution `{}` neither inserted nor found", new.id),
                    })?,
                false,
            ),
        };
        tx.commit().await.map_err(&fail)?;
        Ok((rows::execution(&row)?, created))
    }

    async fn execution_now(&self, id: &str) -> Result<ExecutionRecord, StoreError> {
        let doing = format!("reading execution `{id}`");
        let client = self.client(&doing).await?;
        let row = Self::load(&client, &self.inner.schema, id)
            .await
            .map_err(self.fail(&doing))?
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        rows::execution(&row)
    }

    async fn list_now(&self, filter: &ListFilter) -> Result<Vec<ExecutionRecord>, StoreError> {
        let doing = "listing executions";
        let client = self.client(doing).await?;
        let s = &self.inner.schema;
        let status = filter.status.map(ExecutionStatus::as_str);
        let limit = filter.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
        let offset = i64::try_from(filter.offset).unwrap_or(i64::MAX);
        let found = client
            .query(
                &format!(
                    "SELECT {EXECUTION_COLUMNS} FROM {s}.executions \
                     WHERE ($1::text IS NULL OR status = $1) \
                     AND ($2::text IS NULL OR workflow = $2) \
                     AND ($4::text IS NULL OR strpos(id, $4) > 0) \
                     ORDER BY created_ms DESC, id DESC LIMIT $3 OFFSET $5"
                ),
                &[
                    &status,
                    &filter.workflow,
                    &limit,
                    &filter.id_contains,
                    &offset,
                ],
            )
            .await
            .map_err(self.fail(doing))?;
        found.iter().map(rows::execution).collect()
    }

    async fn checkpoints_in(
        client: &impl GenericClient,
        schema: &str,
        id: &str,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        client
            .query(
                &format!(
                    "SELECT seq, key, kind, payload, checksum FROM {schema}.checkpoints \
                     WHERE execution_id = $1 ORDER BY seq"
                ),
                &[&id],
            )
            .await
    }

    async fn events_in(
        client: &impl GenericClient,
        schema: &str,
        id: &str,
    ) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
        client
            .query(
                &format!(
                    "SELECT seq, at_ms, kind, address, attempt, duration_ms, details \
                     FROM {schema}.events WHERE execution_id = $1 ORDER BY seq"
                ),
                &[&id],
            )
            .await
    }

    async fn snapshot_now(&self, id: &str) -> Result<Snapshot, StoreError> {
        let doing = format!("reading execution `{id}`");
        let fail = self.fail(&doing);
        let mut client = self.client(&doing).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(&fail)?;
        let s = &self.inner.schema;
        let (row, checkpoints, events) = futures::try_join!(
            Self::load(&tx, s, id),
            Self::checkpoints_in(&tx, s, id),
            Self::events_in(&tx, s, id)
        )
        .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        let row = row.ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        Ok(Snapshot {
            record: rows::execution(&row)?,
            checkpoints: checkpoints
                .iter()
                .map(|r| rows::checkpoint(r, id))
                .collect::<Result<_, _>>()?,
            history: events
                .iter()
                .map(|r| rows::event(r, id))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The transaction of a lease operation on `id`: the row locked, with the
    /// database's time.
    async fn locked(
        tx: &Transaction<'_>,
        schema: &str,
        id: &str,
    ) -> Result<Option<(ExecutionRecord, u64)>, StoreError> {
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {EXECUTION_COLUMNS}, {NOW_MS} FROM {schema}.executions \
                     WHERE id = $1 FOR UPDATE"
                ),
                &[&id],
            )
            .await
            .map_err(|err| StoreError::Backend {
                doing: format!("locking execution `{id}`"),
                message: error::message(&err),
            })?;
        match row {
            None => Ok(None),
            Some(row) => {
                let now: i64 = row.try_get(18).map_err(|err| StoreError::Backend {
                    doing: "reading the server's clock".to_owned(),
                    message: err.to_string(),
                })?;
                Ok(Some((rows::execution(&row)?, from_sql(now))))
            }
        }
    }

    async fn acquire_now(&self, id: &str, owner: &str, ttl: Duration) -> Result<Lease, StoreError> {
        let doing = format!("acquiring the lease on execution `{id}` for `{owner}`");
        let fail = self.fail(&doing);
        let mut client = self.client(&doing).await?;
        let tx = client.transaction().await.map_err(&fail)?;
        let (record, now) = Self::locked(&tx, &self.inner.schema, id)
            .await?
            .ok_or_else(|| StoreError::NotFound { id: id.to_owned() })?;
        // Across machines, no owner is known to be dead before its lease runs out.
        let decision = decide(id, record.lease.as_ref(), owner, now, |_| false)?;
        let lease = take(&self.inner, &tx, &record, owner, ttl, now, decision)
            .await
            .map_err(&fail)?;
        tx.commit().await.map_err(&fail)?;
        Ok(lease)
    }

    async fn renew_now(
        &self,
        id: &str,
        token: &LeaseToken,
        ttl: Duration,
    ) -> Result<Lease, StoreError> {
        let doing = format!(
            "renewing the lease on execution `{id}` for `{}`",
            token.owner
        );
        let fail = self.fail(&doing);
        let client = self.client(&doing).await?;
        let s = &self.inner.schema;
        let ttl_ms = to_sql(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let epoch = to_sql(token.epoch);
        let row = client
            .query_opt(
                &format!(
                    "UPDATE {s}.executions SET lease_expires_ms = LEAST({NOW_MS} + $4, {max}) \
                     WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 \
                     RETURNING lease_expires_ms",
                    max = i64::MAX
                ),
                &[&id, &token.owner, &epoch, &ttl_ms],
            )
            .await
            .map_err(&fail)?;
        if let Some(row) = row {
            let expires: i64 = row.try_get(0).map_err(&fail)?;
            return Ok(Lease {
                token: token.clone(),
                expires_ms: from_sql(expires),
                recovered_from: None,
            });
        }
        let record = self.execution_now(id).await?;
        check_fence(
            id,
            Fence::Lease(token),
            record.lease_epoch,
            record.lease.as_ref().map(|l| l.owner.as_str()),
        )?;
        // Held by the token after all (it moved in between): try again.
        Box::pin(self.renew_now(id, token, ttl)).await
    }

    async fn release_now(&self, id: &str, token: &LeaseToken) -> Result<(), StoreError> {
        let doing = format!(
            "releasing the lease on execution `{id}` held by `{}`",
            token.owner
        );
        let fail = self.fail(&doing);
        let mut client = self.client(&doing).await?;
        let tx = client.transaction().await.map_err(&fail)?;
        let s = &self.inner.schema;
        let epoch = to_sql(token.epoch);
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE {s}.executions SET lease_owner = NULL, lease_expires_ms = NULL \
                     WHERE id = $1 AND lease_owner = $2 AND lease_epoch = $3 \
                     RETURNING status, workflow"
                ),
                &[&id, &token.owner, &epoch],
            )
            .await
            .map_err(&fail)?;
        if let Some(row) = row {
            let status: String = row.try_get(0).map_err(&fail)?;
            if status == ExecutionStatus::Running.as_str() {
                let workflow: String = row.try_get(1).map_err(&fail)?;
                notify(&self.inner, &tx, &Notice::Runnable { workflow })
                    .await
                    .map_err(&fail)?;
            }
        }
        tx.commit().await.map_err(&fail)
    }

    async fn claim_now(&self, request: &ClaimRequest) -> Result<Vec<Claim>, StoreError> {
        if request.workflows.is_empty() || request.limit == 0 {
            return Ok(Vec::new());
        }
        let doing = format!("claiming executions for `{}`", request.owner);
        let fail = self.fail(&doing);
        let mut client = self.client(&doing).await?;
        let tx = client.transaction().await.map_err(&fail)?;
        let s = &self.inner.schema;
        let names: Vec<&str> = request.workflows.iter().map(|(n, _)| n.as_str()).collect();
        let versions: Vec<i64> = request
            .workflows
            .iter()
            .map(|(_, v)| i64::from(*v))
            .collect();
        let limit = i64::try_from(request.limit).unwrap_or(i64::MAX);
        // The due, unleased (or run out) executions of the registered workflows and
        // versions, longest due first; rows another claim holds are skipped.
        let found = tx
            .query(
                &format!(
                    "SELECT {EXECUTION_COLUMNS}, {NOW_MS} FROM {s}.executions \
                     WHERE status = 'running' AND wake_at_ms <= {NOW_MS} \
                     AND (workflow, version) IN (SELECT * FROM unnest($1::text[], $2::bigint[])) \
                     AND (lease_owner IS NULL OR lease_expires_ms <= {NOW_MS}) \
                     ORDER BY wake_at_ms, created_ms, id LIMIT $3 \
                     FOR UPDATE SKIP LOCKED"
                ),
                &[&names, &versions, &limit],
            )
            .await
            .map_err(&fail)?;
        let mut claims = Vec::with_capacity(found.len());
        for row in &found {
            let record = rows::execution(row)?;
            let now: i64 = row.try_get(18).map_err(&fail)?;
            let decision = match &record.lease {
                None => Decision::Take,
                Some(LeaseState { owner, .. }) => Decision::TakeOver {
                    from: owner.clone(),
                },
            };
            let lease = take(
                &self.inner,
                &tx,
                &record,
                &request.owner,
                request.ttl,
                from_sql(now),
                decision,
            )
            .await
            .map_err(&fail)?;
            claims.push((record.id.clone(), lease));
        }
        // Read back as taken (lease, epoch, recovery count).
        let mut taken = Vec::with_capacity(claims.len());
        for (id, lease) in claims {
            let row = Self::load(&tx, s, &id).await.map_err(&fail)?;
            let record = rows::execution(&row.ok_or(StoreError::NotFound { id })?)?;
            taken.push(Claim { record, lease });
        }
        tx.commit().await.map_err(&fail)?;
        Ok(taken)
    }
}

/// Applies `decision` (from [`decide`]) in `tx`: `owner` holds the lease of `record`
/// for `ttl` from `now`; a takeover of a running execution is a recovery, counted and
/// recorded in the history in the same transaction.
async fn take(
    inner: &Inner,
    tx: &Transaction<'_>,
    record: &ExecutionRecord,
    owner: &str,
    ttl: Duration,
    now: u64,
    decision: Decision,
) -> Result<Lease, tokio_postgres::Error> {
    let s = &inner.schema;
    let epoch = match decision {
        Decision::Renew => record.lease_epoch,
        _ => record.lease_epoch + 1,
    };
    let expires_ms = waypost_core::store::expiry_ms(now, ttl);
    let mut recovered_from = None;
    let mut recoveries = record.recoveries;
    let mut event: Option<Event> = None;
    if let Decision::TakeOver { from } = decision
        && record.status == ExecutionStatus::Running
    {
        recoveries = recoveries.saturating_add(1);
        event = Some(recovery_event(owner, &from, recoveries, now));
        recovered_from = Some(from);
    }
    let recoveries_sql = i64::from(recoveries);
    tx.execute(
        &format!(
            "UPDATE {s}.executions SET lease_owner = $2, lease_expires_ms = $3, \
             lease_epoch = $4, recoveries = $5 WHERE id = $1"
        ),
        &[
            &record.id,
            &owner,
            &to_sql(expires_ms),
            &to_sql(epoch),
            &recoveries_sql,
        ],
    )
    .await?;
    if let Some(event) = event {
        insert_event(inner, tx, &record.id, &event).await?;
    }
    Ok(Lease {
        token: LeaseToken {
            owner: owner.to_owned(),
            epoch,
        },
        expires_ms,
        recovered_from,
    })
}

/// Appends one event to the history of `id`, numbered after the last.
async fn insert_event(
    inner: &Inner,
    tx: &Transaction<'_>,
    id: &str,
    event: &Event,
) -> Result<(), tokio_postgres::Error> {
    let s = &inner.schema;
    let details = if event.details == EventDetails::default() {
        None
    } else {
        serde_json::to_string(&event.details).ok()
    };
    let attempt = i64::from(event.attempt);
    tx.execute(
        &format!(
            "WITH n AS (UPDATE {s}.executions SET next_event = next_event + 1 WHERE id = $1 \
                        RETURNING next_event - 1 AS seq) \
             INSERT INTO {s}.events \
             (execution_id, seq, at_ms, kind, address, attempt, duration_ms, details) \
             SELECT $1, n.seq, $2, $3, $4, $5, $6, $7 FROM n"
        ),
        &[
            &id,
            &to_sql(event.at_ms),
            &event.kind.as_str(),
            &event.address,
            &attempt,
            &event.duration_ms.map(to_sql),
            &details,
        ],
    )
    .await?;
    Ok(())
}

/// Sends `notice` to every listener once `tx` commits.
pub(crate) async fn notify(
    inner: &Inner,
    tx: &Transaction<'_>,
    notice: &Notice,
) -> Result<(), tokio_postgres::Error> {
    if let Some(payload) = notice_payload(notice) {
        tx.execute("SELECT pg_notify($1, $2)", &[&inner.channel, &payload])
            .await?;
    }
    Ok(())
}

/// A notice as `NOTIFY` sends it: `r:<workflow>`, `f:<id>` (read back by the
/// listener). Payloads are limited to 8000 bytes: a longer one is left out (its
/// subscribers poll).
pub(crate) fn notice_payload(notice: &Notice) -> Option<String> {
    let payload = match notice {
        Notice::Runnable { workflow } => format!("r:{workflow}"),
        Notice::Finished { id } => format!("f:{id}"),
        _ => return None,
    };
    (payload.len() <= 7_900).then_some(payload)
}

impl Inner {
    /// Refuses a payload over the store's limit before anything is sent.
    pub(crate) fn check_size(&self, id: &str, what: &str, size: usize) -> Result<(), StoreError> {
        let limit = self.options.max_payload_bytes;
        if size > limit {
            return Err(StoreError::Backend {
                doing: format!(
                    "storing {what} of execution `{id}` on PostgreSQL at `{}`",
                    self.server
                ),
                message: format!(
                    "it is {size} bytes, over this store's limit of {limit} bytes \
                     (PostgresOptions::max_payload_bytes); nothing was written"
                ),
            });
        }
        Ok(())
    }
}

impl Store for PostgresStore {
    fn create(&self, new: NewExecution) -> StoreFuture<'_, (ExecutionRecord, bool)> {
        Box::pin(self.create_now(new))
    }

    fn execution<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ExecutionRecord> {
        Box::pin(self.execution_now(id))
    }

    fn list<'a>(&'a self, filter: &'a ListFilter) -> StoreFuture<'a, Vec<ExecutionRecord>> {
        Box::pin(self.list_now(filter))
    }

    fn checkpoints<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Checkpoint>> {
        Box::pin(async move { Ok(self.snapshot_now(id).await?.checkpoints) })
    }

    fn checkpoints_after<'a>(
        &'a self,
        id: &'a str,
        after: u64,
    ) -> StoreFuture<'a, Vec<Checkpoint>> {
        Box::pin(async move {
            let doing = format!("reading the new checkpoints of execution `{id}`");
            let fail = self.fail(&doing);
            let client = self.client(&doing).await?;
            let s = &self.inner.schema;
            let after = i64::try_from(after).unwrap_or(i64::MAX);
            let sql = format!(
                "SELECT seq, key, kind, payload, checksum FROM {s}.checkpoints \
                 WHERE execution_id = $1 AND seq > $2 ORDER BY seq"
            );
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&id, &after];
            let (row, rows) =
                futures::try_join!(Self::load(&client, s, id), client.query(&sql, &params))
                    .map_err(&fail)?;
            if row.is_none() {
                return Err(StoreError::NotFound { id: id.to_owned() });
            }
            rows.iter().map(|r| rows::checkpoint(r, id)).collect()
        })
    }

    fn history<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Vec<Event>> {
        Box::pin(async move { Ok(self.snapshot_now(id).await?.history) })
    }

    fn snapshot<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Snapshot> {
        Box::pin(self.snapshot_now(id))
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        fence: Fence<'a>,
        writes: Vec<Write>,
    ) -> StoreFuture<'a, ()> {
        let (reply, answer) = oneshot::channel();
        let job = writer::Job {
            id: id.to_owned(),
            token: match fence {
                Fence::Lease(token) => Some(token.clone()),
                Fence::Unleased => None,
            },
            writes,
            reply,
        };
        let sent = self.inner.jobs.send(job);
        Box::pin(async move {
            sent.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn acquire_lease<'a>(
        &'a self,
        id: &'a str,
        owner: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        Box::pin(self.acquire_now(id, owner, ttl))
    }

    fn renew_lease<'a>(
        &'a self,
        id: &'a str,
        token: &'a LeaseToken,
        ttl: Duration,
    ) -> StoreFuture<'a, Lease> {
        Box::pin(self.renew_now(id, token, ttl))
    }

    fn release_lease<'a>(&'a self, id: &'a str, token: &'a LeaseToken) -> StoreFuture<'a, ()> {
        Box::pin(self.release_now(id, token))
    }

    fn claim<'a>(&'a self, request: &'a ClaimRequest) -> StoreFuture<'a, Vec<Claim>> {
        Box::pin(self.claim_now(request))
    }

    fn notices(&self) -> Option<Notices> {
        Some(self.inner.notifier.subscribe())
    }
}
