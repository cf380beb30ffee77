//! The scoped handles: [`TenantTx`] (one tenant, RLS), [`TenantRead`] (one
//! tenant's single-statement reads) and [`PlatformTx`] (across tenants). Only
//! the constructors in `db/mod.rs` make them.

use std::ops::{Deref, DerefMut};

use sqlx::{PgConnection, Postgres, Transaction};
use tracing::Instrument;
use uuid::Uuid;

use super::{
    Db, TenantId, bump_commit_generation,
    read_row::{AnyRow, Columns, FromRead, ReadArg},
};

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

/// A tenant's reads that need no transaction of their own, each ONE statement:
/// a call of a `tenant_read_*` SQL function (migration 20261205170000) with the
/// tenant bound as `$1`. The function sets the role and `app.tenant_id` for the
/// statement's implicit transaction before it reads, so RLS confines it exactly
/// as in a [`TenantTx`], in one round trip instead of three (BEGIN with the
/// settings, the query, the rollback), pipelined with other requests' reads
/// where it can be (see `reads.rs`). Anything else upgrades with
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
    /// as `$1` and `args` as `$2…`.
    pub async fn fetch_all<T: FromRead>(&self, sql: &'static str, args: &[ReadArg]) -> Result<Vec<T>, sqlx::Error> {
        debug_assert!(sql.contains("FROM tenant_read_"), "not a tenant read: {sql}");
        let span = transaction_span("read");
        span.record("tenant_id", tracing::field::display(self.tenant.0));
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(ReadArg::Uuid(self.tenant.0));
        all.extend_from_slice(args);
        let Some(pipeline) = self.db.reads.pipeline() else {
            // Boxed: a pool's acquire or a BEGIN would make every read's
            // future, moved whole into the request's box, kilobytes larger.
            return Box::pin(self.fetch_on_pool(sql, all, span)).await;
        };
        let rows = self
            .db
            .on_a_live_connection(|| pipeline.query(sql, &all).instrument(span.clone()), || false)
            .await?;
        decode(&rows)
    }

    async fn fetch_on_pool<T: FromRead>(
        &self,
        sql: &'static str,
        args: Vec<ReadArg>,
        span: tracing::Span,
    ) -> Result<Vec<T>, sqlx::Error> {
        let query = || args.iter().fold(sqlx::query(sql), |q, a| a.bind(q));
        let rows = if self.db.pooled {
            // Behind a transaction pooler only a transaction first drops the
            // statements other clients left on the server connection.
            let mut tx = self.db.tenant_tx(self.tenant).await?;
            query().fetch_all(&mut *tx).instrument(span).await?
        } else {
            self.db
                .on_a_live_connection(
                    || query().fetch_all(&self.db.pool).instrument(span.clone()),
                    || self.db.pool_full(),
                )
                .await?
        };
        decode(&rows)
    }
}

/// Every row of a read, in order, whichever driver fetched them.
fn decode<R: AnyRow, T: FromRead>(rows: &[R]) -> Result<Vec<T>, sqlx::Error> {
    rows.iter().map(|row| T::from_read(&mut Columns::new(row))).collect()
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
