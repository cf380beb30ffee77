//! The sign-in budgets every guess at a secret spends (see [`super::ratelimit`]
//! for the counters): per client IP on every request of a scope
//! (RATE_LIMIT_LOGIN_PER_MINUTE) and per account on failures only
//! (RATE_LIMIT_ACCOUNT_PER_MINUTE). A spent budget answers 429 with Retry-After.
//!
//! Scopes keep one route's traffic from spending another's budget: `login`,
//! `mfa` (the TOTP step), `reset` (reset requests), `reauth` (the current
//! password or TOTP code re-entered by a signed-in user: change-password and
//! TOTP disable), `token` (emailed-link confirmations), `oauth` (OAuth starts)
//! and `unlock` (the lockout email's unlock link).

use super::ratelimit::Limit;
use crate::{
    app::AppState,
    http::{ApiResult, extract::ClientMeta},
};

/// Spends one unit of the per-IP budget of `scope` (every request counts).
pub async fn limit_ip(state: &AppState, scope: &str, meta: &ClientMeta) -> ApiResult<()> {
    let ip = meta.ip.as_deref().unwrap_or("unknown");
    state
        .limiter
        .hit(
            &format!("{scope}:ip:{ip}"),
            Limit::per_minute(state.config.rate_limit_login_per_minute),
        )
        .await
}

/// The per-account budget of `scope` (spent by failures only, see [`fail_account`]).
fn account_limit(state: &AppState) -> Limit {
    Limit::per_minute(state.config.rate_limit_per_account_per_minute)
}

fn account_key(scope: &str, account: &str) -> String {
    format!("{scope}:acct:{account}")
}

/// Refuses (429) when `account` has spent its failure budget for `scope`.
pub async fn check_account(state: &AppState, scope: &str, account: &str) -> ApiResult<()> {
    state
        .limiter
        .check(&account_key(scope, account), account_limit(state))
        .await
}

/// Spends one unit of `account`'s failure budget for `scope`.
pub async fn fail_account(state: &AppState, scope: &str, account: &str) {
    // Already answering with the failure; a refusal here only matters next time.
    let _ = state
        .limiter
        .hit(&account_key(scope, account), account_limit(state))
        .await;
}
