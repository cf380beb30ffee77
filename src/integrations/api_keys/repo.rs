//! API key SQL, on the caller's tenant transaction (the look-up of a
//! presented key is `authn`'s).

use time::OffsetDateTime;
use uuid::Uuid;

use super::{authn::key_hash, handlers::ApiKeyView};
use crate::{
    db::{TenantId, TenantTx},
    pagination::PageParams,
};

const VIEW_COLUMNS: &str = "id, name, prefix, permissions, created_by, expires_at, last_used_at, revoked_at, created_at, \
    CASE WHEN revoked_at IS NOT NULL THEN 'revoked' \
         WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'active' END AS status";

/// A key to store: its hash, never the key.
pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub prefix: &'a str,
    pub key: &'a str,
    pub permissions: &'a [String],
    pub created_by: Uuid,
    pub expires_at: Option<OffsetDateTime>,
}

/// Stores the key; its `created_at`.
pub async fn insert(tx: &mut TenantTx, tenant: TenantId, k: &NewApiKey<'_>) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, key_hash, permissions, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at",
    )
    .bind(tenant.get())
    .bind(k.id)
    .bind(k.name)
    .bind(k.prefix)
    .bind(key_hash(k.key).as_slice())
    .bind(k.permissions)
    .bind(k.created_by)
    .bind(k.expires_at)
    .fetch_one(&mut **tx)
    .await
}

/// One page of the tenant's keys, newest first, and their total.
pub async fn list(tx: &mut TenantTx, page: &PageParams) -> Result<(Vec<ApiKeyView>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&mut **tx)
        .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM api_keys ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((items, total))
}

/// Locks the key; its name and when it was revoked.
pub async fn lock(tx: &mut TenantTx, id: Uuid) -> Result<Option<(String, Option<OffsetDateTime>)>, sqlx::Error> {
    sqlx::query_as("SELECT name, revoked_at FROM api_keys WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn revoke(tx: &mut TenantTx, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}
