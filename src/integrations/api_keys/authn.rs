//! Authentication with an API key: `Authorization: Bearer tnt_…` resolves to
//! an [`AuthCtx`] whose permissions are the key's ∩ its creator's current ones,
//! so it passes the same `Authz<perm::X>` extractor as a user token.
//!
//! Per request: the session cache ([`crate::auth::cache`]) answers for a key
//! seen within `AUTH_CACHE_TTL_MS`; otherwise one SECURITY DEFINER look-up
//! finds the key's tenant and id, the key's own budget (`key:<id>`) is spent,
//! and one query under the tenant's RLS checks it is unrevoked, unexpired, and
//! its creator and tenant active. `last_used_at` is written at most once a
//! minute per key, never once per request.

use std::sync::Arc;

use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::{
        AuthCtx,
        extract::{ApiKeyRef, spend_api_budget, unauthorized},
    },
    db::{TenantId, TenantTx},
    http::{ApiError, extract::client_meta},
    rbac::grants::Permissions,
};

/// Every API key starts with this, so a bearer value is told apart from a JWT.
pub const KEY_PREFIX: &str = "tnt_";

/// What is stored for a key: its SHA-256 (a key carries 256 random bits, so a
/// fast hash suffices).
pub fn key_hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

pub fn is_api_key(bearer: &str) -> bool {
    bearer.starts_with(KEY_PREFIX)
}

/// A live key as resolved from the database; shared by cache hits.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResolvedKey {
    pub tenant_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub created_by: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub tenant_slug: String,
    pub tenant_name: String,
    /// The key's permissions that its creator still holds.
    #[sqlx(try_from = "Vec<String>")]
    pub permissions: Permissions,
    /// `last_used_at` is older than a minute (or unset).
    pub stale: bool,
    /// Seconds until the key or one of the creator's role assignments expires.
    pub valid_for_secs: f64,
}

const KEY_SQL: &str = "\
SELECT k.tenant_id, k.id, k.name, k.created_by, u.email, u.first_name, u.last_name,
       t.slug AS tenant_slug, t.name AS tenant_name,
       ARRAY(SELECT DISTINCT rp.permission FROM user_roles ur
             JOIN role_permissions rp ON rp.tenant_id = ur.tenant_id AND rp.role_id = ur.role_id
             WHERE ur.tenant_id = k.tenant_id AND ur.user_id = k.created_by
               AND (ur.expires_at IS NULL OR ur.expires_at > now())
               AND rp.permission = ANY (k.permissions)) AS permissions,
       (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute') AS stale,
       coalesce(extract(epoch FROM least(k.expires_at,
           (SELECT min(ur.expires_at) FROM user_roles ur
            WHERE ur.tenant_id = k.tenant_id AND ur.user_id = k.created_by AND ur.expires_at > now())) - now()
       ), 86400)::float8 AS valid_for_secs
FROM api_keys k
JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.created_by
JOIN tenants t ON t.id = k.tenant_id
WHERE k.tenant_id = $1 AND k.key_hash = $2
  AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
  AND u.is_active AND t.is_active";

/// Resolves the key `bearer` inside a fresh tenant transaction; 401 for an
/// unknown, revoked or expired key, or one whose creator or tenant is inactive.
pub async fn authenticate_key(bearer: &str, parts: &Parts, state: &AppState) -> Result<(AuthCtx, TenantTx), ApiError> {
    let hash = key_hash(bearer);
    let key = match state.auth_cache.get_key(&hash) {
        Some(hit) => {
            spend_api_budget(parts, state, &format!("key:{}", hit.id), hit.tenant_id).await?;
            hit
        }
        None => {
            let (tenant, id) = key_tenant(state, &hash).await?.ok_or_else(unauthorized)?;
            spend_api_budget(parts, state, &format!("key:{id}"), tenant).await?;
            let generation = crate::db::commit_generation(tenant);
            let mut tx = state.db.tenant_tx(TenantId::from_trusted(tenant)).await?;
            let row: ResolvedKey = sqlx::query_as(KEY_SQL)
                .bind(tenant)
                .bind(hash.as_slice())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(unauthorized)?;
            if row.stale {
                // Its own short transaction: the handler's may roll back.
                sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = $1")
                    .bind(row.id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            let row = Arc::new(row);
            state.auth_cache.put_key(hash, tenant, generation, row.clone());
            row
        }
    };
    let tx = state.db.tenant_tx(TenantId::from_trusted(key.tenant_id)).await?;
    let permissions = key.permissions.0.clone();
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(key.tenant_id));
    span.record("user_id", tracing::field::display(key.created_by));
    let ctx = AuthCtx {
        user_id: key.created_by,
        tenant_id: TenantId::from_trusted(key.tenant_id),
        session_id: key.id,
        email: key.email.clone(),
        first_name: key.first_name.clone(),
        last_name: key.last_name.clone(),
        tenant_slug: key.tenant_slug.clone(),
        tenant_name: key.tenant_name.clone(),
        is_super_admin: false,
        permissions,
        impersonator: None,
        meta: client_meta(parts),
        api_key: Some(ApiKeyRef {
            id: key.id,
            name: key.name.clone(),
        }),
    };
    Ok((ctx, tx))
}

/// The tenant and id of a key hash, via the SECURITY DEFINER look-up.
async fn key_tenant(state: &AppState, hash: &[u8; 32]) -> Result<Option<(Uuid, Uuid)>, sqlx::Error> {
    let mut tx = state.db.anonymous_tx().await?;
    sqlx::query_as("SELECT tenant_id, id FROM api_key_tenant($1)")
        .bind(hash.as_slice())
        .fetch_optional(&mut *tx)
        .await
}
