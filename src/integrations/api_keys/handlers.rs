//! Create, list and revoke API keys.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::authn::{KEY_PREFIX, key_hash};
use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::{Page, PageParams},
    rbac::{
        grants,
        model::{check_role_name, parse_permissions},
        perm,
    },
};

/// Characters of the key kept for display (`tnt_` and 8 more).
const DISPLAY_PREFIX_LEN: usize = 12;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewApiKey {
    pub name: String,
    pub permissions: Vec<String>,
    /// RFC 3339; must be in the future. Absent: the key does not expire.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// An API key as listed; never the key itself.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub permissions: Vec<String>,
    pub created_by: Uuid,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// `active`, `expired` or `revoked`.
    pub status: String,
}

/// The one response that carries the key.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    /// Shown once; store it now.
    pub key: String,
    pub permissions: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

const VIEW_COLUMNS: &str = "id, name, prefix, permissions, created_by, expires_at, last_used_at, revoked_at, created_at, \
    CASE WHEN revoked_at IS NOT NULL THEN 'revoked' \
         WHEN expires_at IS NOT NULL AND expires_at <= now() THEN 'expired' ELSE 'active' END AS status";

/// Mints a key holding at most the caller's permissions.
#[utoipa::path(post, path = "", tag = "integrations", security(("bearer" = ["tenant:manage"])),
    request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 403, description = "Permissions the caller lacks"),
        (status = 409, description = "Name taken"), (status = 422)))]
pub async fn create_api_key(
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiJson(input): ApiJson<NewApiKey>,
) -> ApiResult<(StatusCode, ApiJson<CreatedApiKey>)> {
    let name = input.name.trim();
    let mut v = Validator::new();
    check_role_name(&mut v, name);
    v.check(
        !input.permissions.is_empty(),
        "permissions",
        "must name at least one permission",
    );
    if let Some(at) = input.expires_at {
        v.check(at > OffsetDateTime::now_utc(), "expires_at", "must be in the future");
    }
    v.finish()?;
    let perms = parse_permissions(&input.permissions)?;
    grants::ensure_can_grant(&ctx.permissions, perms.iter().copied())?;
    let names: Vec<String> = perms.iter().map(|p| p.as_str().to_owned()).collect();
    let key = format!("{KEY_PREFIX}{}", crate::crypto::random_token());
    let prefix = key[..DISPLAY_PREFIX_LEN].to_owned();
    let id = Uuid::new_v4();
    let created_at: OffsetDateTime = sqlx::query_scalar(
        "INSERT INTO api_keys (tenant_id, id, name, prefix, key_hash, permissions, created_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING created_at",
    )
    .bind(ctx.tenant_id.get())
    .bind(id)
    .bind(name)
    .bind(&prefix)
    .bind(key_hash(&key).as_slice())
    .bind(&names)
    .bind(ctx.user_id)
    .bind(input.expires_at)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match ApiError::from(e) {
        ApiError::Conflict { .. } => ApiError::conflict("An API key with this name already exists"),
        other => other,
    })?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ApiKeyCreated, "api_key", id).new_values(json!({
            "name": name, "prefix": prefix, "permissions": names,
            "expires_at": audit::timestamp(input.expires_at),
        })),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(CreatedApiKey {
            id,
            name: name.to_owned(),
            prefix,
            key,
            permissions: names,
            expires_at: input.expires_at,
            created_at,
        }),
    ))
}

/// The tenant's keys, newest first, revoked and expired ones included.
#[utoipa::path(get, path = "", tag = "integrations", security(("bearer" = ["tenant:manage"])),
    params(PageParams), responses((status = 200, body = Page<ApiKeyView>), (status = 403)))]
pub async fn list_api_keys(
    Authz { mut tx, .. }: Authz<perm::TenantManage>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Page<ApiKeyView>>> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM api_keys")
        .fetch_one(&mut *tx)
        .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM api_keys ORDER BY created_at DESC, id LIMIT $1 OFFSET $2"
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(page.wrap(items, total)))
}

/// Revokes a key: refused from the next request on this instance, within
/// `AUTH_CACHE_TTL_MS` on the others. Revoking a revoked key is a no-op 204.
#[utoipa::path(delete, path = "/{id}", tag = "integrations", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 403), (status = 404)))]
pub async fn revoke_api_key(
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let row: Option<(String, Option<OffsetDateTime>)> =
        sqlx::query_as("SELECT name, revoked_at FROM api_keys WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let (name, revoked_at) = row.ok_or_else(|| ApiError::not_found("API key"))?;
    if revoked_at.is_none() {
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        audit::record(
            &mut tx,
            ctx.tenant_id,
            &ctx.actor(),
            AuditEvent::new(AuditAction::ApiKeyRevoked, "api_key", id).old(json!({ "name": name })),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
