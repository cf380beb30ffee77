//! Database access: the pool, the tenant transaction and the platform handle.
//!
//! Every pooled connection runs as `tenantry_app` (NOSUPERUSER, NOBYPASSRLS), so
//! Row-Level Security applies even when DATABASE_URL names a superuser. Tenant data
//! is reached only through [`TenantTx`], which sets `app.tenant_id` for the
//! transaction alone (safe behind PgBouncer in transaction mode). Cross-tenant work
//! goes through [`PlatformTx`], which only super-admin code, named system jobs
//! and commands ([`PlatformAccess`]) and the named pre-authentication purposes
//! ([`PreAuth`]) can open.

mod address;
pub mod embedded;
mod outage;
mod read_row;
mod reads;
mod scopes;

pub use address::{behind_transaction_pooler, is_local_database};
pub use read_row::{AnyRow, Columns, FromRead, ReadArg, ReadValue};
pub use scopes::{PlatformTx, TenantRead, TenantTx};

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use futures::future::BoxFuture;
use scopes::transaction_span;
use sqlx::{
    Connection, Executor, PgPool, Postgres, Transaction,
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tracing::Instrument;
use uuid::Uuid;

/// The migrations compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The role every server query runs as; RLS applies to it.
pub const APP_ROLE: &str = "tenantry_app";
/// The BYPASSRLS role of the platform handle.
pub const PLATFORM_ROLE: &str = "tenantry_platform";

/// The platform's own tenant (slug `system`), which holds the super admins.
pub const SYSTEM_TENANT_ID: Uuid = Uuid::from_u128(1);

/// A tenant id that came from an authenticated token or a pre-authentication
/// look-up; the only key that opens a [`TenantTx`]. The field is private: an id
/// from a request's path or body becomes one only through
/// [`PlatformTx::tenant`] (a super admin naming an existing tenant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// The system tenant (slug `system`), which holds the super admins and the
    /// platform's own audit chain.
    pub const SYSTEM: Self = Self(SYSTEM_TENANT_ID);

    /// Wraps an id the caller vouches for: one read from a verified token, a
    /// pre-authentication look-up or a system job's own query, never from input.
    /// Only the files `src/layout_tests/` lists call it.
    pub const fn from_trusted(id: Uuid) -> Self {
        Self(id)
    }

    /// The id itself (for binding into SQL and for output).
    pub const fn get(self) -> Uuid {
        self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Counts transactions committed by this process, per tenant and for
/// cross-tenant work. Caches of database state (the session cache) remember the
/// generation of the tenant they hold data of and drop entries once anything has
/// been committed in that tenant, or across tenants, since: a login in one tenant
/// leaves every other tenant's entries alone. Tenants share a fixed number of
/// counters (a collision only invalidates more than needed).
static PLATFORM_GENERATION: AtomicU64 = AtomicU64::new(0);
static TENANT_GENERATIONS: [AtomicU64; GENERATION_SLOTS] = [const { AtomicU64::new(0) }; GENERATION_SLOTS];
const GENERATION_SLOTS: usize = 256;

fn generation_slot(tenant: Uuid) -> &'static AtomicU64 {
    &TENANT_GENERATIONS[(tenant.as_u128() % GENERATION_SLOTS as u128) as usize]
}

/// Changes whenever a transaction of `tenant` or a cross-tenant one commits.
pub fn commit_generation(tenant: Uuid) -> u64 {
    // Both counters only grow, so their sum changes whenever either does.
    PLATFORM_GENERATION.load(Ordering::Acquire) + generation_slot(tenant).load(Ordering::Acquire)
}

/// Records a commit in `tenant`, or across tenants with `None`.
pub fn bump_commit_generation(tenant: Option<TenantId>) {
    match tenant {
        Some(t) => generation_slot(t.0).fetch_add(1, Ordering::AcqRel),
        None => PLATFORM_GENERATION.fetch_add(1, Ordering::AcqRel),
    };
}

/// Whether `e` means the connection itself is gone: an I/O error, or the server
/// ending the session (SQLSTATE class 57P: shutdown, crash, terminated backend).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("57P")),
        _ => false,
    }
}

/// The shared pool plus the (superuser-capable) options used for migrations.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
    /// Behind a transaction pooler (PgBouncer `pool_mode = transaction`): see
    /// [`behind_transaction_pooler`].
    pooled: bool,
    outage: std::sync::Arc<outage::Outage>,
    /// Where the single-statement tenant reads run: their own pipelined
    /// connections, or the pool.
    reads: std::sync::Arc<reads::Reads>,
}

impl Db {
    /// Connects a pool whose connections `SET ROLE tenantry_app` on connect
    /// (unless [`behind_transaction_pooler`]). `max_connections` is the
    /// process's whole budget: from 8 up two connections carry the pipelined
    /// single-statement reads (see `reads.rs`), the rest is the pool's; below
    /// that, behind a pooler and over the network with TLS the reads run on
    /// the pool, which has it all.
    /// Every connection is opened only when needed.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.application_name("tenantry");
        let pooled = behind_transaction_pooler(url);
        let pipeline = if pooled {
            Err("behind a transaction pooler".to_string())
        } else {
            reads::pipeline_config(url)
        };
        if let Err(why) = &pipeline {
            tracing::info!(why, "the tenant reads use the pool, not pipelined connections");
        }
        let (pool_size, read_size) = reads::split_budget(max_connections, pipeline.is_ok());
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(Duration::from_secs(600))
            // sqlx pings every connection on release (flushing a pending ROLLBACK)
            // and, by default, again on every acquire: one extra round trip per
            // request. Only a connection idle long enough to have been dropped by
            // a firewall, pooler or server timeout is tested again before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > Duration::from_secs(30) {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    // Behind a transaction pooler a session setting would stay on
                    // whichever server connection this ran on, for other clients.
                    if !pooled {
                        conn.execute("SET ROLE tenantry_app").await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        Ok(Self {
            pool,
            pooled,
            outage: Default::default(),
            reads: std::sync::Arc::new(reads::Reads::new(options, pipeline.ok().map(|c| (c, read_size)))),
        })
    }

    /// Applies pending migrations over a dedicated connection as the URL's own user
    /// (which must be able to create the roles the first migration creates).
    pub async fn migrate(url: &str) -> Result<(), sqlx::migrate::MigrateError> {
        let options: PgConnectOptions = url.parse().map_err(sqlx::migrate::MigrateError::from)?;
        let pool = PgPoolOptions::new().max_connections(1).connect_with(options).await?;
        let result = MIGRATOR.run(&pool).await;
        pool.close().await;
        result
    }

    /// How many compiled migrations the database has not applied (or `Err` when
    /// the database cannot be asked).
    pub async fn pending_migrations(&self) -> Result<usize, sqlx::Error> {
        // Inside a transaction that sets the role itself: behind a transaction
        // pooler the connection's session-level SET ROLE may not apply.
        let mut tx = self.anonymous_tx().await?;
        let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut *tx)
            .await
            .or_else(|e| match &e {
                sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(vec![]),
                _ => Err(e),
            })?;
        Ok(MIGRATOR.iter().filter(|m| !applied.contains(&m.version)).count())
    }

    /// Round trip for health checks; touches no tenant data.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.anonymous_tx().await.map(drop)
    }

    /// Opens a transaction scoped to one tenant.
    pub async fn tenant_tx(&self, tenant: TenantId) -> Result<TenantTx, sqlx::Error> {
        let span = transaction_span("tenant");
        span.record("tenant_id", tracing::field::display(tenant.0));
        // One round trip: BEGIN and the transaction-local settings travel as one
        // simple query. Interpolating is safe: a Uuid formats as hex and dashes only.
        let tx = self
            .begin(format!(
                "SELECT set_config('role', '{APP_ROLE}', true), set_config('app.tenant_id', '{}', true)",
                tenant.0
            ))
            .instrument(span.clone())
            .await?;
        Ok(TenantTx { tx, tenant, span })
    }

    /// A tenant's single-statement reads (see [`TenantRead`]); opens nothing yet.
    pub fn tenant_read(&self, tenant: TenantId) -> TenantRead {
        TenantRead {
            db: self.clone(),
            tenant,
        }
    }

    /// Pre-authentication access: no tenant set, so only the narrow SECURITY
    /// DEFINER functions (login candidates, tenant by slug, token owner) return rows.
    pub async fn anonymous_tx(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin(format!("SELECT set_config('role', '{APP_ROLE}', true)"))
            .await
    }

    /// The platform handle for a super admin: only the super-admin extractors
    /// (`auth/extract.rs`, the console's platform pages) call it
    /// (`src/layout_tests/` checks).
    pub(crate) async fn platform_tx(&self) -> Result<PlatformTx, sqlx::Error> {
        let span = transaction_span("platform");
        let tx = self
            .begin(format!("SELECT set_config('role', '{PLATFORM_ROLE}', true)"))
            .instrument(span.clone())
            .await?;
        Ok(PlatformTx { tx, span })
    }

    /// Cross-tenant access for the background job `job` (outbox worker, webhook
    /// deliveries, role sweeper, maintenance). Only `src/jobs.rs` calls it
    /// (`src/layout_tests/` checks): a job's code in its feature receives the
    /// [`PlatformAccess`] and cannot mint one.
    pub fn system_job(&self, job: &'static str) -> PlatformAccess {
        PlatformAccess::new(self, job)
    }

    /// Cross-tenant access for the one-off command `command` (`seed`,
    /// `create-super-admin` and the configured super admin at start-up,
    /// `rotate-keys`). Only the command modules and `main` call it
    /// (`src/layout_tests/` checks).
    pub fn cli_command(&self, command: &'static str) -> PlatformAccess {
        PlatformAccess::new(self, command)
    }

    /// Cross-tenant access for a super admin's run of work that commits in
    /// batches (the maintenance cleanup). Only the super-admin extractor calls
    /// it (`src/layout_tests/` checks); handlers get it from `SuperAdmin`.
    pub(crate) fn super_admin_access(&self) -> PlatformAccess {
        PlatformAccess::new(self, "super admin")
    }

    /// Cross-tenant access for a request nobody has authenticated, for one of
    /// the few purposes [`PreAuth`] names (each says why it cannot wait for a
    /// user). Only the files `src/layout_tests/` lists call it.
    pub async fn pre_auth_platform_tx(&self, purpose: PreAuth) -> Result<PlatformTx, sqlx::Error> {
        self.platform_tx_for(purpose.name()).await
    }

    async fn platform_tx_for(&self, purpose: &'static str) -> Result<PlatformTx, sqlx::Error> {
        let tx = self.platform_tx().await?;
        tx.span.record("purpose", purpose);
        Ok(tx)
    }

    /// Starts a transaction whose `settings` statement travels with BEGIN (one
    /// round trip).
    /// Pooled connections are only pinged before use after 30 s idle, so one that
    /// died sooner (a database restart, a failover, a terminated backend) fails
    /// here, before any work was done: that failure is retried on another
    /// connection instead of reaching the client.
    ///
    /// Boxed: the pool's acquire is a future of kilobytes, which would make
    /// every handler's future as large, copied whole on each move.
    fn begin(&self, settings: String) -> BoxFuture<'_, Result<Transaction<'static, Postgres>, sqlx::Error>> {
        let deallocate = if self.pooled { "DEALLOCATE ALL; " } else { "" };
        let begin = format!("BEGIN; {deallocate}{settings}");
        Box::pin(async move {
            // Made when first polled, inside the caller's transaction span.
            let span = tracing::debug_span!("db.begin", db.system.name = "postgresql");
            self.on_a_live_connection(
                || self.pool.begin_with(sqlx::AssertSqlSafe(begin.clone())),
                || self.pool_full(),
            )
            .instrument(span)
            .await
        })
    }

    /// Whether the pool has opened all it may: an acquire timeout then means
    /// busy, not unreachable.
    fn pool_full(&self) -> bool {
        self.pool.size() >= self.pool.options().get_max_connections()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The unauthenticated requests that need the platform handle, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreAuth {
    /// `/health/detailed`'s email check: monitors call it without a token, and
    /// it reads only aggregates of the outbox across tenants (counts, ages).
    EmailQueueStats,
    /// The SES notification endpoint: Amazon SNS calls it, authenticated by the
    /// message's signature (checked first), not a user; it adds bounced
    /// addresses to the platform-wide suppression list.
    SesNotification,
}

impl PreAuth {
    fn name(self) -> &'static str {
        match self {
            Self::EmailQueueStats => "email health",
            Self::SesNotification => "ses webhook",
        }
    }
}

/// The right to open cross-tenant transactions one after another, for work
/// that commits in batches: a background job ([`Db::system_job`]), a command
/// ([`Db::cli_command`]) or a super admin's maintenance run (from the super-admin
/// extractor). Its code receives it rather than opening the platform handle
/// itself. [`db`](Self::db) gives the pool for tenant transactions.
#[derive(Clone, Debug)]
pub struct PlatformAccess {
    db: Db,
    purpose: &'static str,
}

impl PlatformAccess {
    /// Only through the named constructors above (and [`Db::super_admin_access`]).
    fn new(db: &Db, purpose: &'static str) -> Self {
        Self {
            db: db.clone(),
            purpose,
        }
    }

    /// Opens one cross-tenant transaction.
    pub async fn tx(&self) -> Result<PlatformTx, sqlx::Error> {
        self.db.platform_tx_for(self.purpose).await
    }

    /// The database, for tenant transactions.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The job, command or role it was granted to.
    pub fn purpose(&self) -> &'static str {
        self.purpose
    }
}
