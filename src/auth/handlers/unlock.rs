//! `POST /unlock`: the owner of a locked account ends the lock with the
//! one-time link of the lockout alert (`{FRONTEND_URL}/unlock?token=`).
//!
//! Anyone can lock an account by guessing its password (that is what the lock
//! is for), so the mailbox owner needs a way out that does not wait for the
//! lock to run out or for an administrator. The link proves the mailbox, as a
//! reset link does, but changes nothing else: the per-IP and per-account
//! budgets keep running, so an attacker gains no guesses when the owner unlocks.

use axum::{extract::State, http::StatusCode};
use serde_json::json;

use super::passwords::consume_link;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::{
        budget::limit_ip,
        model::UnlockRequest,
        security::{self, kind},
        tokens::TokenKind,
    },
    http::{
        ApiResult,
        extract::{ApiJson, ClientMeta},
    },
    users::accounts,
};

/// Ends the lock of the account the token was mailed for. Single use; the
/// token expires when the lock would have ended (at most an hour).
#[utoipa::path(post, path = "/unlock", tag = "auth", request_body = UnlockRequest,
    responses(
        (status = 204, description = "The lock is over and the failure count restarts"),
        (status = 400, description = "Invalid, used or expired token"),
        (status = 429, description = "Rate limited (per IP)")))]
pub async fn unlock_account(
    State(state): State<AppState>,
    meta: ClientMeta,
    ApiJson(input): ApiJson<UnlockRequest>,
) -> ApiResult<StatusCode> {
    limit_ip(&state, "unlock", &meta).await?;
    let token = input.token.trim();
    let kind = TokenKind::Unlock;
    let (tenant, mut tx, user) = consume_link(&state, kind, token).await?;
    accounts::clear_lock(&mut tx, user).await?;
    let details = json!({"reason": "unlock_link"});
    security::record_event(
        &mut tx,
        tenant,
        Some(user),
        kind::ACCOUNT_UNLOCKED,
        details.clone(),
        &meta,
    )
    .await?;
    let actor = AuditActor::user(user, meta);
    audit::record(
        &mut tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::UserUnlocked, "user", user).new_values(details),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
