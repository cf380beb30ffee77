//! The SCIM front door: `Authorization: Bearer <SCIM token>` → the token's
//! tenant (looked up by its SHA-256 through the SECURITY DEFINER
//! `scim_token_tenant`, since the tenant is not known before), a tenant
//! transaction, and the audit actor `scim:<token name>`. Each token spends the
//! same per-principal and per-tenant API budget as a signed-in user.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{StatusCode, header, request::Parts},
};
use bytes::Bytes;
use serde_json::Value;
use uuid::Uuid;

use super::error::{ScimError, ScimResult};
use crate::{
    app::AppState,
    audit::AuditActor,
    auth::ratelimit::{ApiLimits, api_budget},
    crypto::token_hash,
    db::{TenantId, TenantTx},
    http::{extract::client_meta, ratelimit::RateLimitSlot},
};

/// A SCIM client authenticated by a live token of an active tenant.
pub struct ScimAuth {
    pub tx: TenantTx,
    pub tenant: TenantId,
    pub token_id: Uuid,
    pub actor: AuditActor,
}

/// How often `last_used_at` is written at most (coarse, to spare a write per request).
const LAST_USED_GRANULARITY: &str = "5 minutes";

impl FromRequestParts<AppState> for ScimAuth {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ScimResult<Self> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .ok_or_else(ScimError::unauthorized)?;
        let hash = token_hash(token);
        let tenant: Option<Uuid> = {
            let mut anon = state.db.anonymous_tx().await?;
            sqlx::query_scalar("SELECT scim_token_tenant($1)")
                .bind(&hash)
                .fetch_one(&mut *anon)
                .await?
        };
        let tenant = TenantId::from_trusted(tenant.ok_or_else(ScimError::unauthorized)?);
        let mut tx = state.db.tenant_tx(tenant).await?;
        let (token_id, name, stale): (Uuid, String, bool) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, name, last_used_at IS NULL OR last_used_at < now() - interval '{LAST_USED_GRANULARITY}' \
             FROM scim_tokens \
             WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
        )))
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(ScimError::unauthorized)?;
        if stale {
            // Its own short transaction: the request's may roll back (reads, errors).
            let mut touch = state.db.tenant_tx(tenant).await?;
            sqlx::query("UPDATE scim_tokens SET last_used_at = now() WHERE id = $1")
                .bind(token_id)
                .execute(&mut *touch)
                .await?;
            touch.commit().await?;
        }
        spend_budget(parts, state, token_id, tenant).await?;
        let actor = AuditActor {
            user_id: None,
            impersonator_id: None,
            meta: client_meta(parts),
            principal: Some(format!("scim:{name}")),
        };
        tracing::Span::current().record("tenant_id", tracing::field::display(tenant.get()));
        Ok(ScimAuth {
            tx,
            tenant,
            token_id,
            actor,
        })
    }
}

/// The token's and its tenant's API budget (429 when spent).
async fn spend_budget(parts: &Parts, state: &AppState, token: Uuid, tenant: TenantId) -> ScimResult<()> {
    let limits = ApiLimits {
        per_principal: state.config.rate_limit_api_per_minute,
        per_tenant: state.config.rate_limit_tenant_per_minute,
    };
    if limits.per_principal == 0 || limits.per_tenant == 0 {
        return Ok(());
    }
    let (states, verdict) = api_budget(&state.limiter, limits, &format!("scim:{token}"), tenant.get(), 1).await;
    if let Some(slot) = parts.extensions.get::<RateLimitSlot>() {
        slot.report(states);
    }
    Ok(verdict?)
}

/// A SCIM request body: `application/scim+json` or `application/json` (or no
/// type), a JSON object, within the app's body limit. 400 `invalidSyntax` else.
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> ScimResult<Self> {
        let ok_type = match req.headers().get(header::CONTENT_TYPE) {
            None => true,
            Some(v) => v.to_str().ok().and_then(|v| v.split(';').next()).is_some_and(|m| {
                let m = m.trim().to_ascii_lowercase();
                m == "application/json" || m == "application/scim+json"
            }),
        };
        if !ok_type {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                "Expected Content-Type: application/scim+json or application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ScimError::new(StatusCode::PAYLOAD_TOO_LARGE, None, "Request body is too large")
            } else {
                ScimError::bad("invalidSyntax", "Could not read the request body")
            }
        })?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ScimError::bad("invalidSyntax", format!("The body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(ScimError::bad("invalidSyntax", "The body must be a JSON object"));
        }
        Ok(ScimBody(value))
    }
}

/// `If-Match` against the resource's current `W/"<version>"`: 412 on mismatch
/// (`*` and an absent header match).
pub fn check_if_match(parts_headers: &axum::http::HeaderMap, current: &str) -> ScimResult<()> {
    let Some(v) = parts_headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let v = v.to_str().unwrap_or_default();
    let matches = v
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag.trim_start_matches("W/") == current.trim_start_matches("W/"));
    if matches {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "The resource has changed (If-Match does not match meta.version)",
        ))
    }
}
