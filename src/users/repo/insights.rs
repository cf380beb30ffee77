//! SQL of the user statistics and one user's security view (`users::insights`).

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    db::{TenantId, TenantTx},
    users::{
        insights::{DailySignIns, LoginView, UserSecurityEventView},
        model::SessionView,
    },
};

/// The tenant's users: `(total, active, locked, mfa_enabled, email_unverified)`.
pub async fn user_counts(tx: &mut TenantTx) -> Result<(i64, i64, i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE locked_until > now()), \
         count(*) FILTER (WHERE mfa_enabled), count(*) FILTER (WHERE email_verified_at IS NULL) FROM users",
    )
    .fetch_one(&mut **tx)
    .await
}

pub async fn max_users(tx: &mut TenantTx, tenant: TenantId) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT max_users FROM tenants WHERE id = $1")
        .bind(tenant.get())
        .fetch_one(&mut **tx)
        .await
}

/// Holders of each role (unexpired grants), by role name.
pub async fn users_by_role(tx: &mut TenantTx) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.name, count(DISTINCT ur.user_id) FROM roles r \
         LEFT JOIN user_roles ur ON ur.tenant_id = r.tenant_id AND ur.role_id = r.id \
              AND (ur.expires_at IS NULL OR ur.expires_at > now()) \
         GROUP BY r.name ORDER BY r.name",
    )
    .fetch_all(&mut **tx)
    .await
}

/// Sign-ins `(successful 24 h, failed 24 h, successful 7 d, failed 7 d)`.
pub async fn sign_in_counts(tx: &mut TenantTx, tenant: TenantId) -> Result<(i64, i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE success AND created_at > now() - interval '24 hours'), \
         count(*) FILTER (WHERE NOT success AND created_at > now() - interval '24 hours'), \
         count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) \
         FROM login_attempts WHERE tenant_id = $1 AND created_at > now() - interval '7 days'",
    )
    .bind(tenant.get())
    .fetch_one(&mut **tx)
    .await
}

/// Sign-ins per UTC day over the last 30 days (days without any are absent).
pub async fn daily_sign_ins(tx: &mut TenantTx, tenant: TenantId) -> Result<Vec<DailySignIns>, sqlx::Error> {
    sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) FILTER (WHERE success) AS successful, \
         count(*) FILTER (WHERE NOT success) AS failed \
         FROM login_attempts WHERE tenant_id = $1 AND created_at > now() - interval '30 days' \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(tenant.get())
    .fetch_all(&mut **tx)
    .await
}

/// The user's `(locked_until, failed_login_count, has_password)`.
pub async fn credential_state(tx: &mut TenantTx, id: Uuid) -> Result<(Option<OffsetDateTime>, i32, bool), sqlx::Error> {
    sqlx::query_as("SELECT locked_until, failed_login_count, password_hash IS NOT NULL FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
}

/// The user's 20 most recent sign-in attempts, newest first.
pub async fn recent_logins(tx: &mut TenantTx, id: Uuid) -> Result<Vec<LoginView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT created_at, success, method, reason, ip_address, user_agent FROM login_attempts \
         WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC LIMIT 20",
    )
    .bind(tx.tenant().get())
    .bind(id)
    .fetch_all(&mut **tx)
    .await
}

/// The user's live sessions (at most 100), newest first.
pub async fn live_sessions(tx: &mut TenantTx, id: Uuid) -> Result<Vec<SessionView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ip_address, user_agent, auth_method, impersonator_id, created_at, last_used_at, expires_at, \
         revoked_at, revoked_reason, true AS active FROM user_sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC LIMIT 100",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
}

/// The user's 20 most recent security events, newest first.
pub async fn recent_security_events(tx: &mut TenantTx, id: Uuid) -> Result<Vec<UserSecurityEventView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, event_type, details, ip_address, created_at FROM security_events \
         WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
}
