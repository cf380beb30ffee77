//! User statistics and one user's security picture.

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use super::{model::SessionView, repo};
use crate::{
    auth::Authz,
    http::{
        ApiResult,
        extract::{ApiJson, ApiPath},
    },
    rbac::perm,
};

// `YYYY-MM-DD`, not the `time` crate's default (year, ordinal) tuple.
time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserStats {
    pub total: i64,
    pub active: i64,
    pub inactive: i64,
    pub locked: i64,
    pub mfa_enabled: i64,
    pub email_unverified: i64,
    pub max_users: i64,
    /// Users per role name (unexpired assignments).
    pub by_role: BTreeMap<String, i64>,
    pub sign_ins: SignInStats,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignInStats {
    pub successful_24h: i64,
    pub failed_24h: i64,
    pub successful_7d: i64,
    pub failed_7d: i64,
    /// The last 30 days, oldest first (days without sign-ins omitted).
    pub daily: Vec<DailySignIns>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DailySignIns {
    #[schema(value_type = String, format = Date)]
    #[serde(with = "iso_date")]
    pub day: Date,
    pub successful: i64,
    pub failed: i64,
}

/// Users by state and role, and sign-ins over time.
#[utoipa::path(get, path = "/stats", tag = "users", security(("bearer" = ["users:read"])),
    responses((status = 200, body = UserStats)))]
pub async fn user_stats(Authz { ctx, mut tx, .. }: Authz<perm::UsersRead>) -> ApiResult<ApiJson<UserStats>> {
    let (total, active, locked, mfa, unverified): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE locked_until > now()), \
         count(*) FILTER (WHERE mfa_enabled), count(*) FILTER (WHERE email_verified_at IS NULL) FROM users",
    )
    .fetch_one(&mut *tx)
    .await?;
    let max_users: i32 = sqlx::query_scalar("SELECT max_users FROM tenants WHERE id = $1")
        .bind(ctx.tenant_id.get())
        .fetch_one(&mut *tx)
        .await?;
    let by_role: Vec<(String, i64)> = sqlx::query_as(
        "SELECT r.name, count(DISTINCT ur.user_id) FROM roles r \
         LEFT JOIN user_roles ur ON ur.tenant_id = r.tenant_id AND ur.role_id = r.id \
              AND (ur.expires_at IS NULL OR ur.expires_at > now()) \
         GROUP BY r.name ORDER BY r.name",
    )
    .fetch_all(&mut *tx)
    .await?;
    let (s24, f24, s7, f7): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE success AND created_at > now() - interval '24 hours'), \
         count(*) FILTER (WHERE NOT success AND created_at > now() - interval '24 hours'), \
         count(*) FILTER (WHERE success), count(*) FILTER (WHERE NOT success) \
         FROM login_attempts WHERE tenant_id = $1 AND created_at > now() - interval '7 days'",
    )
    .bind(ctx.tenant_id.get())
    .fetch_one(&mut *tx)
    .await?;
    let daily = sqlx::query_as(
        "SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) FILTER (WHERE success) AS successful, \
         count(*) FILTER (WHERE NOT success) AS failed \
         FROM login_attempts WHERE tenant_id = $1 AND created_at > now() - interval '30 days' \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(ctx.tenant_id.get())
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(UserStats {
        total,
        active,
        inactive: total - active,
        locked,
        mfa_enabled: mfa,
        email_unverified: unverified,
        max_users: max_users.into(),
        by_role: by_role.into_iter().collect(),
        sign_ins: SignInStats {
            successful_24h: s24,
            failed_24h: f24,
            successful_7d: s7,
            failed_7d: f7,
            daily,
        },
    }))
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LoginView {
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub success: bool,
    pub method: String,
    pub reason: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserSecurityEventView {
    pub id: Uuid,
    pub event_type: String,
    pub details: serde_json::Value,
    pub ip_address: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserSecurity {
    pub user_id: Uuid,
    pub email: String,
    pub is_active: bool,
    pub is_locked: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    pub failed_login_count: i32,
    pub mfa_enabled: bool,
    pub has_password: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    /// The 20 most recent sign-in attempts, newest first.
    pub recent_logins: Vec<LoginView>,
    pub active_sessions: Vec<SessionView>,
    /// The 20 most recent security events, newest first.
    pub recent_events: Vec<UserSecurityEventView>,
}

/// Lock state, failed attempts, recent sign-ins with IP, live sessions and MFA state.
#[utoipa::path(get, path = "/{id}/security", tag = "users", security(("bearer" = ["users:read"])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = UserSecurity), (status = 404, description = "No such user")))]
pub async fn user_security(
    Authz { mut tx, .. }: Authz<perm::UsersRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<UserSecurity>> {
    let user = repo::get_user(&mut tx, id).await?;
    let (locked_until, failed_login_count, has_password): (Option<OffsetDateTime>, i32, bool) =
        sqlx::query_as("SELECT locked_until, failed_login_count, password_hash IS NOT NULL FROM users WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    let recent_logins = sqlx::query_as(
        "SELECT created_at, success, method, reason, ip_address, user_agent FROM login_attempts \
         WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC LIMIT 20",
    )
    .bind(tx.tenant().get())
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let active_sessions = sqlx::query_as(
        "SELECT id, ip_address, user_agent, auth_method, impersonator_id, created_at, last_used_at, expires_at, \
         revoked_at, revoked_reason, true AS active FROM user_sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY created_at DESC LIMIT 100",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let recent_events = sqlx::query_as(
        "SELECT id, event_type, details, ip_address, created_at FROM security_events \
         WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    Ok(ApiJson(UserSecurity {
        user_id: id,
        email: user.email,
        is_active: user.is_active,
        is_locked: locked_until.is_some_and(|t| t > OffsetDateTime::now_utc()),
        locked_until,
        failed_login_count,
        mfa_enabled: user.mfa_enabled,
        has_password,
        last_login_at: user.last_login_at,
        recent_logins,
        active_sessions,
        recent_events,
    }))
}
