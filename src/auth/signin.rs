//! The sign-in bookkeeping shared by password login and the MFA step: finding
//! the accounts behind an email, recording every attempt, counting consecutive
//! failures, locking and unlocking accounts.
//!
//! Lockout: MAX_FAILED_LOGINS consecutive failed factors (wrong password or
//! wrong TOTP/recovery code) lock the account for LOCKOUT_MINUTES (or
//! LOCKOUT_SECONDS). The lock is a security event, an audit row (`user.locked`)
//! and a security-alert email. A lock that has run out is released on the next
//! attempt (security event + `user.unlocked` audit row) and the count restarts.
//! A successful sign-in resets the count. Counters live in PostgreSQL, so every
//! instance sees the same state.
//!
//! The alert email carries a one-time unlock link (`{FRONTEND_URL}/unlock?token=`,
//! valid until the lock would end, at most an hour): anyone can lock an account
//! by guessing, so its owner must be able to end the lock from their mailbox
//! (`POST /auth/unlock`). The per-IP and per-account budgets still apply after
//! an unlock, so the attacker gains no guesses from it.

use serde_json::json;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{
    security::{self, Recipient, kind},
    tokens::{self, TokenKind},
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::{TenantId, TenantTx},
    http::{error::ApiError, extract::ClientMeta},
    users::accounts,
};

/// An account that may sign in with a given email (from the SECURITY DEFINER
/// `auth_login_candidates`, before any tenant is known).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Candidate {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub tenant_name: String,
    pub tenant_active: bool,
    pub user_id: Uuid,
    pub password_hash: Option<String>,
    pub user_active: bool,
    pub locked_until: Option<OffsetDateTime>,
    pub failed_login_count: i32,
    pub mfa_enabled: bool,
    pub is_super_admin: bool,
}

impl Candidate {
    pub fn tenant(&self) -> TenantId {
        TenantId::from_trusted(self.tenant_id)
    }
    pub fn is_locked(&self) -> bool {
        self.locked_until.is_some_and(|t| t > OffsetDateTime::now_utc())
    }
    /// Locked once, but the window has passed.
    pub fn lock_expired(&self) -> bool {
        self.locked_until.is_some_and(|t| t <= OffsetDateTime::now_utc())
    }
}

/// Accounts with this email, in one tenant when `slug` (as the client sent it:
/// trimmed and lower-cased here, blank meaning none) is given.
pub async fn candidates(state: &AppState, email: &str, slug: Option<&str>) -> Result<Vec<Candidate>, sqlx::Error> {
    let slug = slug.map(str::trim).filter(|s| !s.is_empty()).map(str::to_lowercase);
    let mut tx = state.db.anonymous_tx().await?;
    sqlx::query_as("SELECT * FROM auth_login_candidates($1, $2)")
        .bind(email)
        .bind(slug)
        .fetch_all(&mut *tx)
        .await
}

/// How a factor was presented (`login_attempts.method`).
#[derive(Debug, Clone, Copy)]
pub enum Method {
    Password,
    Totp,
    OAuth,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::OAuth => "oauth",
        }
    }
}

/// One row of `login_attempts`, written through the SECURITY DEFINER function
/// (works with or without a tenant).
pub struct Attempt<'a> {
    pub tenant: Option<TenantId>,
    pub user: Option<Uuid>,
    pub email: &'a str,
    pub method: Method,
    pub success: bool,
    pub reason: Option<&'a str>,
}

/// Appends one row of the login history. A bare connection: a tenant's sign-in
/// records in its [`TenantTx`], an unknown email in the anonymous transaction.
pub async fn record_attempt(
    conn: &mut sqlx::PgConnection,
    attempt: Attempt<'_>,
    meta: &ClientMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT record_login_attempt($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(attempt.tenant.map(TenantId::get))
        .bind(attempt.user)
        .bind(attempt.email)
        .bind(meta.ip.as_deref())
        .bind(meta.user_agent.as_deref())
        .bind(attempt.method.as_str())
        .bind(attempt.success)
        .bind(attempt.reason)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Records an attempt that matched no account (or no tenant).
pub async fn record_anonymous_attempt(
    state: &AppState,
    email: &str,
    reason: &str,
    meta: &ClientMeta,
) -> Result<(), sqlx::Error> {
    let mut tx = state.db.anonymous_tx().await?;
    let attempt = Attempt {
        tenant: None,
        user: None,
        email,
        method: Method::Password,
        success: false,
        reason: Some(reason),
    };
    record_attempt(&mut tx, attempt, meta).await?;
    tx.commit().await
}

fn system_actor(meta: &ClientMeta) -> AuditActor {
    AuditActor {
        user_id: None,
        impersonator_id: None,
        meta: meta.clone(),
        principal: None,
    }
}

/// Releases `user`'s lock if it has run out (security event + audit row);
/// returns whether it did. The caller commits.
pub async fn release_expired_lock(tx: &mut TenantTx, user: Uuid, meta: &ClientMeta) -> Result<bool, sqlx::Error> {
    let locked: Option<OffsetDateTime> = sqlx::query_scalar("SELECT locked_until FROM users WHERE id = $1 FOR UPDATE")
        .bind(user)
        .fetch_optional(&mut **tx)
        .await?
        .flatten();
    let released = locked.filter(|t| *t <= OffsetDateTime::now_utc());
    if released.is_some() {
        accounts::clear_lock(tx, user).await?;
    }
    let Some(was) = released else { return Ok(false) };
    let tenant = tx.tenant();
    let details = json!({"reason": "lock_expired", "locked_until": was.unix_timestamp()});
    security::record_event(tx, tenant, Some(user), kind::ACCOUNT_UNLOCKED, details, meta).await?;
    audit::record(
        tx,
        tenant,
        &system_actor(meta),
        AuditEvent::new(AuditAction::UserUnlocked, "user", user).new_values(json!({"reason": "lock_expired"})),
    )
    .await?;
    Ok(true)
}

/// What a failure did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    Counted,
    /// This failure locked the account.
    Locked,
}

/// Counts a failed factor against `user`, locking the account at the
/// threshold; writes the attempt, the security events, the `user.locked` audit
/// row and the alert email. The caller commits.
pub async fn register_failure(
    state: &AppState,
    tx: &mut TenantTx,
    user: Uuid,
    method: Method,
    reason: &str,
    meta: &ClientMeta,
) -> Result<FailureOutcome, ApiError> {
    let (email, first_name, count, locked_until): (String, String, i32, Option<OffsetDateTime>) = sqlx::query_as(
        "SELECT email, first_name, failed_login_count, locked_until FROM users WHERE id = $1 FOR UPDATE",
    )
    .bind(user)
    .fetch_one(&mut **tx)
    .await?;
    let tenant = tx.tenant();
    let now = OffsetDateTime::now_utc();
    let already_locked = locked_until.is_some_and(|t| t > now);
    let count = count + 1;
    let lock = !already_locked && count >= state.config.max_failed_logins;
    let new_lock = lock.then(|| now + Duration::seconds(state.config.lockout_seconds));
    accounts::count_failure(tx, user, count, new_lock).await?;
    let attempt = Attempt {
        tenant: Some(tenant),
        user: Some(user),
        email: &email,
        method,
        success: false,
        reason: Some(reason),
    };
    record_attempt(tx, attempt, meta).await?;
    let details = json!({"method": method.as_str(), "reason": reason, "consecutive_failures": count});
    security::record_event(tx, tenant, Some(user), kind::LOGIN_FAILED, details, meta).await?;
    let Some(until) = new_lock else {
        return Ok(FailureOutcome::Counted);
    };

    let minutes = (state.config.lockout_seconds + 59) / 60;
    let details = json!({"failed_attempts": count, "locked_until": until.unix_timestamp(),
        "lockout_seconds": state.config.lockout_seconds});
    security::record_event(tx, tenant, Some(user), kind::ACCOUNT_LOCKED, details.clone(), meta).await?;
    audit::record(
        tx,
        tenant,
        &system_actor(meta),
        AuditEvent::new(AuditAction::UserLocked, "user", user).new_values(details),
    )
    .await?;
    let unlock_until = until.min(now + tokens::UNLOCK_MAX_TTL);
    let unlock_token = tokens::issue_until(tx, TokenKind::Unlock, user, unlock_until).await?;
    let detail = format!("Your account was locked after {count} failed sign-in attempts.");
    let to = Recipient {
        email: &email,
        first_name: &first_name,
    };
    security::alert(
        tx,
        tenant,
        to,
        "account_locked",
        &detail,
        meta,
        json!({"locked_minutes": minutes, "unlock_token": unlock_token}),
    )
    .await?;
    tracing::warn!(%user, tenant = %tenant, "account locked after {count} failed sign-ins");
    Ok(FailureOutcome::Locked)
}

/// A completed sign-in: the failure count restarts, `last_login_at` is set and
/// the attempt is recorded. The caller commits.
pub async fn register_success(
    tx: &mut TenantTx,
    user: Uuid,
    email: &str,
    method: Method,
    meta: &ClientMeta,
) -> Result<(), sqlx::Error> {
    accounts::record_sign_in(tx, user).await?;
    let tenant = tx.tenant();
    record_attempt(
        tx,
        Attempt {
            tenant: Some(tenant),
            user: Some(user),
            email,
            method,
            success: true,
            reason: None,
        },
        meta,
    )
    .await
}
