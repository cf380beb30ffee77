//! `POST /refresh` (rotation with reuse detection) and `POST /logout`.
//!
//! Each refresh marks the presented token used and issues its successor. A used
//! token presented again means it was copied: the whole session (every token of
//! the family, and the access tokens, which the extractor checks against the
//! session row on every request) is revoked at once.
//!
//! Routine rotations are not audited (they happen every few minutes per user and
//! would serialise on the tenant's audit chain); revocations are. Refresh is
//! rate limited per IP only: an unknown token names no account to charge.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use time::OffsetDateTime;

use crate::auth::repo;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        Authz,
        budget::limit_ip,
        jwt::{ACCESS_AUDIENCE, Actor},
        model::RefreshRequest,
        security::{self, kind},
        session::{TokenResponse, load_summaries, new_refresh_token, revoke_session, token_tenant},
    },
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ClientMeta},
    },
    rbac::perm,
};

fn invalid_refresh() -> ApiError {
    ApiError::Unauthorized("Invalid, expired or revoked refresh token".into())
}

/// Exchanges a refresh token for new tokens; the old refresh token dies.
#[utoipa::path(post, path = "/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, description = "Invalid, expired, revoked or reused refresh token"),
        (status = 429, description = "Rate limited")))]
pub async fn refresh(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<RefreshRequest>,
) -> ApiResult<ApiJson<TokenResponse>> {
    limit_ip(&state, "refresh", &meta).await?;
    let token = input.refresh_token.trim();
    let tenant = token_tenant(&state, "refresh", token)
        .await?
        .ok_or_else(invalid_refresh)?;
    let mut tx = state.db.tenant_tx(tenant).await?;
    let row = repo::lock_refresh_token(&mut tx, token)
        .await?
        .ok_or_else(invalid_refresh)?;

    if row.used {
        if revoke_session(&mut tx, row.session_id, "refresh_token_reuse").await? > 0 {
            let details = json!({"session_id": row.session_id});
            security::record_event(&mut tx, tenant, Some(row.user_id), kind::REFRESH_REUSE, details, &meta).await?;
            let actor = AuditActor {
                user_id: None,
                impersonator_id: None,
                meta: meta.clone(),
                principal: None,
            };
            let event = AuditEvent::new(AuditAction::SessionRevoked, "session", row.session_id)
                .new_values(json!({"reason": "refresh_token_reuse", "user_id": row.user_id}));
            audit::record(&mut tx, tenant, &actor, event).await?;
            tracing::warn!(session = %row.session_id, "refresh token reuse: session family revoked");
        }
        tx.commit().await?;
        return Err(invalid_refresh());
    }
    if !row.live || !row.active {
        return Err(invalid_refresh());
    }

    repo::mark_refresh_token_used(&mut tx, token).await?;
    repo::touch_session(&mut tx, row.session_id).await?;
    let refresh_token = new_refresh_token(&mut tx, row.session_id).await?;
    let left = (row.expires_at - OffsetDateTime::now_utc()).whole_seconds().max(1);
    let act = row.impersonator_id.map(|sub| Actor {
        sub,
        email: row.impersonator_email.clone(),
    });
    let (access_token, expires_in) = state.jwt.issue(
        ACCESS_AUDIENCE,
        row.user_id,
        tenant.get(),
        row.session_id,
        state.jwt.access_ttl_secs().min(left),
        act,
    );
    let (user, tenant) = load_summaries(&mut tx, row.user_id).await?;
    let response = TokenResponse {
        access_token,
        refresh_token,
        token_type: "bearer",
        expires_in,
        user,
        tenant,
        session_id: row.session_id,
    };
    tx.commit().await?;
    Ok(ApiJson(response))
}

/// Ends the caller's session: its refresh token and access tokens stop working now.
#[utoipa::path(post, path = "/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Session revoked"), (status = 401, description = "Not authenticated")))]
pub async fn logout(Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>) -> ApiResult<StatusCode> {
    revoke_session(&mut tx, ctx.session_id, "logout").await?;
    let event =
        AuditEvent::new(AuditAction::SessionRevoked, "session", ctx.session_id).new_values(json!({"reason": "logout"}));
    audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
