//! `POST /change-password`, `POST /password-reset/request` and
//! `POST /password-reset/confirm` (which also serves the welcome email's
//! set-password link).

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use uuid::Uuid;

use super::{own_credentials, reauth};
use crate::auth::repo;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        Authz,
        budget::{check_account, fail_account, limit_ip},
        model::{Accepted, ChangePasswordRequest, ResetConfirm, ResetRequest},
        security::{self, Recipient, kind},
        session::{revoke_user_sessions, token_tenant},
        signin::{self, Method},
        tokens::{self, PASSWORD_RESET_TTL, TokenKind},
    },
    db::{TenantId, TenantTx},
    email::{self, EmailTemplate},
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ClientMeta},
    },
    rbac::perm,
    users::accounts::{self, hash_new_password},
};

/// The per-IP budget scope of emailed-link confirmations (reset, set-password,
/// email verification, invitation): 256-bit tokens are not guessable, but each
/// try costs a look-up and, with a password, an Argon2 hash.
pub(super) const TOKEN_SCOPE: &str = "token";

pub(super) fn invalid_token() -> ApiError {
    ApiError::BadRequest("Invalid or expired token".into())
}

/// Uses up an emailed token: its tenant, the tenant transaction the step works
/// in, and the token's user; 400 when it is unknown, used or expired.
pub(super) async fn consume_link(
    state: &AppState,
    kind: TokenKind,
    token: &str,
) -> ApiResult<(TenantId, TenantTx, Uuid)> {
    let tenant = token_tenant(state, kind.lookup_kind(), token)
        .await?
        .ok_or_else(invalid_token)?;
    let mut tx = state.db.tenant_tx(tenant).await?;
    let user = tokens::consume(&mut tx, kind, token).await?.ok_or_else(invalid_token)?;
    Ok((tenant, tx, user))
}

/// Changes the caller's password; every other session of the user is revoked
/// and every open reset, set-password, invitation and unlock link dies. A wrong
/// current password spends the per-account budget and counts toward lockout.
#[utoipa::path(post, path = "/change-password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 204, description = "Password changed"),
        (status = 401, description = "Not authenticated"),
        (status = 422, description = "Current password wrong, or new password violates the policy"),
        (status = 429, description = "Too many guesses (per IP or per account), or the account is locked; see Retry-After")))]
pub async fn change_password(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiJson(input): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    own_credentials(&ctx)?;
    reauth::begin(&state, &ctx, &mut tx).await?;
    let current = repo::password_hash(&mut tx, ctx.user_id).await?;
    if !state
        .passwords
        .verify(&input.current_password, current.as_deref())
        .await
        .ok()
    {
        let err = ApiError::invalid("current_password", "is incorrect");
        return reauth::fail(&state, &ctx, tx, Method::Password, "change_password_invalid", err).await;
    }
    if input.new_password == input.current_password {
        return Err(ApiError::invalid(
            "new_password",
            "must differ from the current password",
        ));
    }
    let hash = hash_new_password(&state, "new_password", &input.new_password, Some(&ctx.email)).await?;
    accounts::set_password(&mut tx, ctx.user_id, &hash).await?;
    tokens::revoke_open_links(&mut tx, ctx.tenant_id, Some(ctx.user_id)).await?;
    let revoked = revoke_user_sessions(&mut tx, ctx.user_id, Some(ctx.session_id), "password_changed").await?;
    let tenant = ctx.tenant_id;
    let details = json!({"other_sessions_revoked": revoked});
    security::record_event(
        &mut tx,
        tenant,
        Some(ctx.user_id),
        kind::PASSWORD_CHANGED,
        details.clone(),
        &ctx.meta,
    )
    .await?;
    audit::record(
        &mut tx,
        tenant,
        &ctx.actor(),
        AuditEvent::new(AuditAction::UserPasswordChanged, "user", ctx.user_id).new_values(details),
    )
    .await?;
    let to = Recipient {
        email: &ctx.email,
        first_name: &ctx.first_name,
    };
    let detail = "Your password was changed. If this was not you, reset your password now.";
    security::alert(&mut tx, tenant, to, "password_changed", detail, &ctx.meta, json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a reset link to each active account with this email (in one tenant
/// when `tenant_slug` is given). Always 202, whether or not an account exists.
#[utoipa::path(post, path = "/password-reset/request", tag = "auth", request_body = ResetRequest,
    responses((status = 202, body = Accepted), (status = 429, description = "Rate limited")))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<ResetRequest>,
) -> ApiResult<(StatusCode, ApiJson<Accepted>)> {
    let email = input.email.trim().to_lowercase();
    limit_ip(&state, "reset", &meta).await?;
    // Every request mails someone, so each one spends the account's budget.
    check_account(&state, "reset", &email).await?;
    fail_account(&state, "reset", &email).await;
    let accepted = (
        StatusCode::ACCEPTED,
        ApiJson(Accepted {
            detail: "If an account exists for this email, a reset link has been sent",
        }),
    );
    if email.is_empty() || email.len() > 254 {
        return Ok(accepted);
    }
    for c in signin::candidates(&state, &email, input.tenant_slug.as_deref()).await? {
        if !c.user_active || !c.tenant_active {
            continue;
        }
        let mut tx = state.db.tenant_tx(c.tenant()).await?;
        let first_name = repo::first_name(&mut tx, c.user_id).await?;
        let token = tokens::issue(&mut tx, TokenKind::PasswordReset, c.user_id, PASSWORD_RESET_TTL).await?;
        let context = json!({"first_name": first_name, "token": token,
            "expires_minutes": PASSWORD_RESET_TTL.whole_minutes()});
        email::enqueue(&mut tx, c.tenant(), &email, EmailTemplate::PasswordReset, context).await?;
        let actor = AuditActor {
            user_id: None,
            impersonator_id: None,
            meta: meta.clone(),
            principal: None,
        };
        audit::record(
            &mut tx,
            c.tenant(),
            &actor,
            AuditEvent::new(AuditAction::UserPasswordResetRequested, "user", c.user_id),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(accepted)
}

/// Sets a new password with a reset (or welcome set-password) token. The token
/// is single use; every session of the user is revoked, and a lock is lifted.
#[utoipa::path(post, path = "/password-reset/confirm", tag = "auth", request_body = ResetConfirm,
    responses(
        (status = 204, description = "Password set"),
        (status = 400, description = "Invalid, used or expired token"),
        (status = 422, description = "Password violates the policy"),
        (status = 429, description = "Rate limited (per IP)")))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<ResetConfirm>,
) -> ApiResult<StatusCode> {
    limit_ip(&state, TOKEN_SCOPE, &meta).await?;
    let token = input.token.trim();
    let tenant = token_tenant(&state, TokenKind::PasswordReset.lookup_kind(), token)
        .await?
        .ok_or_else(invalid_token)?;
    // Look first (policy needs the email), hash outside any transaction, then consume.
    let (user, email) = {
        let mut tx = state.db.tenant_tx(tenant).await?;
        let user = tokens::peek(&mut tx, TokenKind::PasswordReset, token)
            .await?
            .ok_or_else(invalid_token)?;
        let email = repo::email(&mut tx, user).await?;
        (user, email)
    };
    let hash = hash_new_password(&state, "new_password", &input.new_password, Some(&email)).await?;

    let mut tx = state.db.tenant_tx(tenant).await?;
    let consumed: Option<Uuid> = tokens::consume(&mut tx, TokenKind::PasswordReset, token).await?;
    if consumed != Some(user) {
        return Err(invalid_token());
    }
    let first_name = accounts::reset_password(&mut tx, user, &hash).await?;
    // Other outstanding links (reset, set-password, invitation, unlock) die with this one.
    tokens::revoke_open_links(&mut tx, tenant, Some(user)).await?;
    let revoked = revoke_user_sessions(&mut tx, user, None, "password_reset").await?;
    let details = json!({"sessions_revoked": revoked});
    security::record_event(
        &mut tx,
        tenant,
        Some(user),
        kind::PASSWORD_RESET,
        details.clone(),
        &meta,
    )
    .await?;
    let actor = AuditActor::user(user, meta.clone());
    audit::record(
        &mut tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::UserPasswordReset, "user", user).new_values(details),
    )
    .await?;
    let to = Recipient {
        email: &email,
        first_name: &first_name,
    };
    let detail = "Your password was reset and all sessions were signed out.";
    security::alert(&mut tx, tenant, to, "password_reset", detail, &meta, json!({})).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
