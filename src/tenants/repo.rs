//! Tenant SQL. Every function takes a platform connection: tenants are
//! cross-tenant data only super-admin code and system jobs reach.

use crate::db::PlatformTx;
use uuid::Uuid;

use super::{
    model::{TenantFilter, TenantRow},
    stats::{DocumentCounts, LoginCounts, StorageUsage, TenantCounts, TenantStats, UserCounts},
};

const SELECT: &str = "SELECT t.id, t.slug, t.name, t.is_active, t.is_system, t.settings, t.max_users, t.max_projects, \
    t.max_storage_bytes, t.storage_used_bytes, t.created_at, t.updated_at, \
    (SELECT count(*) FROM users u WHERE u.tenant_id = t.id) AS user_count FROM tenants t";

pub async fn find(tx: &mut PlatformTx, id: Uuid) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Locks the row for the rest of the transaction (updates, deletes).
pub async fn find_for_update(tx: &mut PlatformTx, id: Uuid) -> Result<Option<TenantRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE t.id = $1 FOR UPDATE OF t")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// One page of tenants; `order` comes from [`super::model::order_by`].
pub async fn list(tx: &mut PlatformTx, f: &TenantFilter, order: &str) -> Result<(Vec<TenantRow>, i64), sqlx::Error> {
    const WHERE: &str = "WHERE ($1::text IS NULL OR t.name ILIKE '%' || $1 || '%' OR t.slug ILIKE '%' || $1 || '%') \
        AND ($2::bool IS NULL OR t.is_active = $2)";
    let search = f
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(escape_like);
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM tenants t {WHERE}")))
        .bind(&search)
        .bind(f.is_active)
        .fetch_one(&mut **tx)
        .await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} {WHERE} ORDER BY {order} LIMIT $3 OFFSET $4"
    )))
    .bind(&search)
    .bind(f.is_active)
    .bind(f.page.limit())
    .bind(f.page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((rows, total))
}

/// Escapes LIKE wildcards so a search is a plain substring match.
pub fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Revokes every live session of the tenant; answers how many.
pub async fn revoke_all_sessions(tx: &mut PlatformTx, tenant: Uuid, reason: &str) -> Result<u64, sqlx::Error> {
    sqlx::query(
        "UPDATE user_sessions SET revoked_at = now(), revoked_reason = $2 WHERE tenant_id = $1 AND revoked_at IS NULL",
    )
    .bind(tenant)
    .bind(reason)
    .execute(&mut **tx)
    .await
    .map(|r| r.rows_affected())
}

/// Users by state; `tenant = None` counts every tenant's users.
pub async fn user_counts(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<UserCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS total, count(*) FILTER (WHERE is_active) AS active, \
         count(*) FILTER (WHERE NOT is_active) AS inactive, \
         count(*) FILTER (WHERE locked_until > now()) AS locked, \
         count(*) FILTER (WHERE email_verified_at IS NULL) AS unverified, \
         count(*) FILTER (WHERE last_login_at IS NULL) AS never_signed_in \
         FROM users WHERE ($1::uuid IS NULL OR tenant_id = $1)",
    )
    .bind(tenant)
    .fetch_one(&mut **tx)
    .await
}

pub async fn document_counts(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<DocumentCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS total, count(*) FILTER (WHERE status = 'draft') AS draft, \
         count(*) FILTER (WHERE status = 'pending') AS pending, \
         count(*) FILTER (WHERE status = 'uploaded') AS uploaded \
         FROM documents WHERE ($1::uuid IS NULL OR tenant_id = $1)",
    )
    .bind(tenant)
    .fetch_one(&mut **tx)
    .await
}

pub async fn login_counts(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<LoginCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE success AND created_at > now() - interval '24 hours') AS last_24h, \
         count(*) FILTER (WHERE success) AS last_7d, \
         count(*) FILTER (WHERE NOT success AND created_at > now() - interval '24 hours') AS failed_24h, \
         count(*) FILTER (WHERE NOT success) AS failed_7d \
         FROM login_attempts WHERE created_at > now() - interval '7 days' \
         AND ($1::uuid IS NULL OR tenant_id = $1)",
    )
    .bind(tenant)
    .fetch_one(&mut **tx)
    .await
}

async fn count(tx: &mut PlatformTx, sql: &'static str, tenant: Option<Uuid>) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sql).bind(tenant).fetch_one(&mut **tx).await
}

/// Documents in every status, from the trigger-kept counters (migration
/// 20261205190000): one row per tenant, where counting grew with every upload.
pub async fn document_total(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<i64, sqlx::Error> {
    count(
        tx,
        "SELECT COALESCE(sum(document_count), 0)::bigint FROM tenants WHERE ($1::uuid IS NULL OR id = $1)",
        tenant,
    )
    .await
}

pub async fn project_count(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<i64, sqlx::Error> {
    count(
        tx,
        // The trigger-kept counters (migration 20261127000700): one row per
        // tenant, where counting the projects grew with every one created.
        "SELECT COALESCE(sum(project_count), 0)::bigint FROM tenants WHERE ($1::uuid IS NULL OR id = $1)",
        tenant,
    )
    .await
}

pub async fn active_session_count(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<i64, sqlx::Error> {
    count(
        tx,
        "SELECT count(*) FROM user_sessions WHERE revoked_at IS NULL AND expires_at > now() \
         AND ($1::uuid IS NULL OR tenant_id = $1)",
        tenant,
    )
    .await
}

pub async fn tenant_counts(tx: &mut PlatformTx) -> Result<TenantCounts, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) AS total, count(*) FILTER (WHERE is_active) AS active, \
         count(*) FILTER (WHERE NOT is_active) AS inactive FROM tenants",
    )
    .fetch_one(&mut **tx)
    .await
}

/// Stored bytes: the tenant counter, or the sum over tenants.
pub async fn storage(tx: &mut PlatformTx, tenant: Option<Uuid>) -> Result<StorageUsage, sqlx::Error> {
    let (used, max): (i64, Option<i64>) = sqlx::query_as(
        "SELECT COALESCE(sum(storage_used_bytes), 0)::bigint, \
         CASE WHEN $1::uuid IS NULL THEN NULL ELSE max(max_storage_bytes) END \
         FROM tenants WHERE ($1::uuid IS NULL OR id = $1)",
    )
    .bind(tenant)
    .fetch_one(&mut **tx)
    .await?;
    Ok(StorageUsage {
        used_bytes: used,
        max_bytes: max,
    })
}

pub async fn tenant_stats(tx: &mut PlatformTx, tenant: Uuid) -> Result<TenantStats, sqlx::Error> {
    let t = Some(tenant);
    Ok(TenantStats {
        tenant_id: tenant,
        users: user_counts(tx, t).await?,
        projects: project_count(tx, t).await?,
        documents: document_counts(tx, t).await?,
        storage: storage(tx, t).await?,
        logins: login_counts(tx, t).await?,
        active_sessions: active_session_count(tx, t).await?,
    })
}

/// A user one may act as, for the tenant page's "act as" choice.
#[derive(serde::Serialize, sqlx::FromRow)]
pub struct UserChoice {
    pub id: Uuid,
    pub email: String,
}

/// The active users of `tenant` one can act as (super admins never), by email.
pub async fn act_as_choices(tx: &mut PlatformTx, tenant: Uuid) -> Result<Vec<UserChoice>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email FROM users WHERE tenant_id = $1 AND is_active AND NOT is_super_admin \
         ORDER BY email LIMIT 200",
    )
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await
}
