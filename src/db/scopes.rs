//! The scoped handles: [`TenantTx`] (one tenant, RLS), [`TenantRead`] (one
//! tenant's single-statement reads) and [`PlatformTx`] (across tenants). Only
//! the constructors in `db/mod.rs` make them.

use std::ops::{Deref, DerefMut};

use sqlx::{
    FromRow, PgConnection, Postgres, Transaction,
    postgres::{PgArguments, PgRow},
    query::QueryAs,
};
use tracing::Instrument;
use uuid::Uuid;

use super::{Db, TenantId, bump_commit_generation};

/// The span of one transaction, from BEGIN to commit or drop (debug level: built
/// only when traces are exported). `db.begin` and `db.commit` are its children.
pub(super) fn transaction_span(kind: &'static str) -> tracing::Span {
    let empty = tracing::field::Empty;
    tracing::debug_span!(
        "db.transaction",
        db.system.name = "postgresql",
        kind,
        tenant_id = empty,
        purpose = empty,
        error = empty
    )
}

async fn commit_in(tx: Transaction<'static, Postgres>, span: &tracing::Span) -> Result<(), sqlx::Error> {
    let commit = tracing::debug_span!(parent: span, "db.commit", db.system.name = "postgresql");
    let result = tx.commit().instrument(commit).await;
    if let Err(e) = &result {
        span.record("error", tracing::field::display(e));
    }
    result
}

/// A transaction in which `app.tenant_id` is set: RLS shows and accepts only that
/// tenant's rows. Rolled back on drop unless committed.
pub struct TenantTx {
    pub(super) tx: Transaction<'static, Postgres>,
    pub(super) tenant: TenantId,
    pub(super) span: tracing::Span,
}

impl TenantTx {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let result = commit_in(self.tx, &self.span).await;
        bump_commit_generation(Some(self.tenant));
        result
    }
}

impl Deref for TenantTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}
impl DerefMut for TenantTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}

/// The statement type [`TenantRead::fetch_all`] builds on.
pub type ReadQuery<T> = QueryAs<'static, Postgres, T, PgArguments>;

/// A tenant's reads that need no transaction of their own, each ONE statement:
/// a call of a `tenant_read_*` SQL function (migration 20261205170000) with the
/// tenant bound as `$1`. The function sets the role and `app.tenant_id` for the
/// statement's implicit transaction before it reads, so RLS confines it exactly
/// as in a [`TenantTx`], in one round trip instead of three (BEGIN with the
/// settings, the query, the rollback). Anything else upgrades with
/// [`TenantRead::begin`]. Only a verified caller's tenant opens one.
pub struct TenantRead {
    pub(super) db: Db,
    pub(super) tenant: TenantId,
}

impl TenantRead {
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// The tenant transaction for work the read functions do not cover.
    pub async fn begin(self) -> Result<TenantTx, sqlx::Error> {
        self.db.tenant_tx(self.tenant).await
    }

    /// Runs `sql`, a `SELECT … FROM tenant_read_<name>($1, …)`, with the tenant
    /// bound as `$1` and `bind` adding the other arguments.
    pub async fn fetch_all<T>(
        &self,
        sql: &'static str,
        bind: impl Fn(ReadQuery<T>) -> ReadQuery<T>,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        debug_assert!(sql.contains("FROM tenant_read_"), "not a tenant read: {sql}");
        let query = || bind(sqlx::query_as(sql).bind(self.tenant.0));
        let span = transaction_span("read");
        span.record("tenant_id", tracing::field::display(self.tenant.0));
        // The two other paths are boxed: their futures (a pool's acquire, a
        // BEGIN) would make every read's future, moved whole into the request's
        // box, several kilobytes larger.
        if self.db.pooled {
            // Behind a transaction pooler only a transaction first drops the
            // statements other clients left on the server connection.
            return Box::pin(async {
                let mut tx = self.db.tenant_tx(self.tenant).await?;
                query().fetch_all(&mut *tx).instrument(span).await
            })
            .await;
        }
        let reads = &self.db.reads;
        if !reads.enabled() {
            return Box::pin(self.db.on_a_live_connection(
                || query().fetch_all(&self.db.pool).instrument(span.clone()),
                || self.db.pool_full(),
            ))
            .await;
        }
        self.db
            .on_a_live_connection(
                || async {
                    let mut conn = reads.acquire().await?;
                    let result = query().fetch_all(&mut *conn).instrument(span.clone()).await;
                    match &result {
                        Err(e) if super::connection_lost(e) => reads.forget_idle(),
                        _ => conn.release(),
                    }
                    result
                },
                || reads.all_busy(),
            )
            .await
    }
}

/// A transaction as the BYPASSRLS platform role: sees every tenant. Only handed
/// out by the super-admin extractor, a [`PlatformAccess`] and
/// [`Db::pre_auth_platform_tx`].
pub struct PlatformTx {
    pub(super) tx: Transaction<'static, Postgres>,
    pub(super) span: tracing::Span,
}

impl PlatformTx {
    /// The id of an existing tenant, looked up as the platform: how a super
    /// admin acting in a tenant (or platform code given a tenant's id) names it.
    /// `Err(RowNotFound)` (a 404) when there is no such tenant.
    pub async fn tenant(&mut self, id: Uuid) -> Result<TenantId, sqlx::Error> {
        sqlx::query_scalar("SELECT id FROM tenants WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await
            .map(TenantId)
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        let result = commit_in(self.tx, &self.span).await;
        bump_commit_generation(None);
        result
    }
}

impl Deref for PlatformTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.tx
    }
}
impl DerefMut for PlatformTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.tx
    }
}
