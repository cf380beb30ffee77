//! Re-authentication of a signed-in user: the current password (and TOTP
//! code) re-entered to change the password or turn MFA off. A stolen access
//! token must not become an unlimited oracle for those secrets, so each guess
//! is budgeted like a login: per IP on every request, per account on failures,
//! and each failure counts toward the account's lockout (MAX_FAILED_LOGINS →
//! locked, security events, alert email with the unlock link).

use time::OffsetDateTime;

use crate::auth::repo;
use crate::{
    app::AppState,
    auth::{
        AuthCtx,
        budget::{check_account, fail_account, limit_ip},
        signin::{self, Method},
    },
    db::TenantTx,
    http::{ApiError, ApiResult},
};

const SCOPE: &str = "reauth";

/// Spends the budgets and refuses (429 with Retry-After) while the account is
/// locked, before any secret is checked. A lock that ran out is released.
pub(super) async fn begin(state: &AppState, ctx: &AuthCtx, tx: &mut TenantTx) -> ApiResult<()> {
    limit_ip(state, SCOPE, &ctx.meta).await?;
    check_account(state, SCOPE, &ctx.user_id.to_string()).await?;
    signin::release_expired_lock(tx, ctx.user_id, &ctx.meta).await?;
    let locked_until = repo::locked_until(tx, ctx.user_id).await?;
    let now = OffsetDateTime::now_utc();
    match locked_until.filter(|t| *t > now) {
        Some(until) => Err(ApiError::RateLimited {
            retry_after_secs: u64::try_from((until - now).whole_seconds()).unwrap_or(0).max(1),
        }),
        None => Ok(()),
    }
}

/// Counts a wrong secret (lockout, attempt row, security events; the alert
/// email when this failure locks), commits that bookkeeping, spends the
/// account's failure budget and answers `err`.
pub(super) async fn fail<T>(
    state: &AppState,
    ctx: &AuthCtx,
    mut tx: TenantTx,
    method: Method,
    reason: &str,
    err: ApiError,
) -> ApiResult<T> {
    signin::register_failure(state, &mut tx, ctx.user_id, method, reason, &ctx.meta).await?;
    tx.commit().await?;
    fail_account(state, SCOPE, &ctx.user_id.to_string()).await;
    Err(err)
}
