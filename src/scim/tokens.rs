//! `/api/v1/scim/tokens` [tenant:manage]: the bearer tokens an identity
//! provider uses at `/scim/v2`. The token is shown once (`scim_` + 256 random
//! bits) and stored as its SHA-256; revocation takes effect on the next request.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    crypto::{random_token, token_hash},
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath},
    },
    rbac::perm,
};

/// Every SCIM token starts with this, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "scim_";

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewScimToken {
    pub name: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A SCIM token as listed (never the secret).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ScimTokenView {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the token, to recognise it.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Updated at most every few minutes.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The created token with its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedScimToken {
    #[serde(flatten)]
    pub view: ScimTokenView,
    pub token: String,
}

const VIEW_COLUMNS: &str = "id, name, prefix, expires_at, last_used_at, created_at";

/// Creates a SCIM token for the caller's tenant.
#[utoipa::path(post, path = "/tokens", tag = "scim", security(("bearer" = ["tenant:manage"])),
    request_body = NewScimToken,
    responses((status = 201, body = CreatedScimToken), (status = 403), (status = 422)))]
pub async fn create_token(
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiJson(input): ApiJson<NewScimToken>,
) -> ApiResult<(StatusCode, ApiJson<CreatedScimToken>)> {
    let name = input.name.trim().to_string();
    let mut v = Validator::new();
    v.check(
        !name.is_empty() && name.chars().count() <= 100,
        "name",
        "must be 1 to 100 characters",
    );
    v.check(
        !name.chars().any(char::is_control),
        "name",
        "must not contain control characters",
    );
    v.check(
        input.expires_at.is_none_or(|e| e > OffsetDateTime::now_utc()),
        "expires_at",
        "must be in the future",
    );
    v.finish()?;
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 4).collect();
    let id = Uuid::new_v4();
    let view: ScimTokenView = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO scim_tokens (tenant_id, id, name, token_hash, prefix, expires_at, created_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {VIEW_COLUMNS}"
    )))
    .bind(ctx.tenant_id.get())
    .bind(id)
    .bind(&name)
    .bind(token_hash(&token))
    .bind(&prefix)
    .bind(input.expires_at)
    .bind(ctx.user_id)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ScimTokenCreated, "scim_token", id)
            .new_values(json!({"name": name, "prefix": prefix, "expires_at": input.expires_at})),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(CreatedScimToken { view, token })))
}

/// The tenant's live SCIM tokens, newest first.
#[utoipa::path(get, path = "/tokens", tag = "scim", security(("bearer" = ["tenant:manage"])),
    responses((status = 200, body = Vec<ScimTokenView>), (status = 403)))]
pub async fn list_tokens(Authz { mut tx, .. }: Authz<perm::TenantManage>) -> ApiResult<ApiJson<Vec<ScimTokenView>>> {
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM scim_tokens WHERE revoked_at IS NULL ORDER BY created_at DESC, id"
    )))
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(items))
}

/// Revokes a SCIM token: the next request with it answers 401.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "scim", security(("bearer" = ["tenant:manage"])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Revoked"), (status = 403), (status = 404)))]
pub async fn revoke_token(
    Authz { ctx, mut tx, .. }: Authz<perm::TenantManage>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let name: String = sqlx::query_scalar(
        "UPDATE scim_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING name",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("SCIM token"))?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ScimTokenRevoked, "scim_token", id).old(json!({"name": name})),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
