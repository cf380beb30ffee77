//! SQL the auth handlers and the console's account pages call, on the
//! caller's transaction (sessions, refresh tokens, sign-in history). The
//! session and token writers shared with sign-in stay in `session.rs` and
//! `tokens.rs`.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    AuthCtx,
    model::{LoginAttemptView, SecurityEventView},
};
use crate::{
    crypto::token_hash,
    db::TenantTx,
    pagination::{Page, PageParams},
};

/// One live session, as the sessions page lists it.
#[derive(sqlx::FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub auth_method: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
}

/// The user's live sessions (at most 100), `current` first, then by last use.
pub async fn live_sessions(tx: &mut TenantTx, user: Uuid, current: Uuid) -> Result<Vec<SessionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, ip_address, user_agent, auth_method, created_at, last_used_at FROM user_sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() \
         ORDER BY (id = $2) DESC, last_used_at DESC LIMIT 100",
    )
    .bind(user)
    .bind(current)
    .fetch_all(&mut **tx)
    .await
}

/// The session's id when it belongs to `user`.
pub async fn find_own_session(tx: &mut TenantTx, session: Uuid, user: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM user_sessions WHERE id = $1 AND user_id = $2")
        .bind(session)
        .bind(user)
        .fetch_optional(&mut **tx)
        .await
}

/// A page of the caller's own rows of a per-user log table, newest first.
/// `table` and `columns` are fixed fragments from this module, never input.
async fn own_rows<T>(
    tx: &mut TenantTx,
    ctx: &AuthCtx,
    table: &'static str,
    columns: &'static str,
    page: &PageParams,
) -> Result<Page<T>, sqlx::Error>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE tenant_id = $1 AND user_id = $2"
    )))
    .bind(ctx.tenant_id.get())
    .bind(ctx.user_id)
    .fetch_one(&mut **tx)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {columns} FROM {table} WHERE tenant_id = $1 AND user_id = $2 \
         ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    )))
    .bind(ctx.tenant_id.get())
    .bind(ctx.user_id)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok(page.wrap(items, total))
}

/// The caller's sign-in attempts, newest first.
pub async fn own_login_attempts(
    tx: &mut TenantTx,
    ctx: &AuthCtx,
    page: &PageParams,
) -> Result<Page<LoginAttemptView>, sqlx::Error> {
    own_rows(
        tx,
        ctx,
        "login_attempts",
        "id, email, ip_address, user_agent, method, success, reason, created_at",
        page,
    )
    .await
}

/// The caller's security events, newest first.
pub async fn own_security_events(
    tx: &mut TenantTx,
    ctx: &AuthCtx,
    page: &PageParams,
) -> Result<Page<SecurityEventView>, sqlx::Error> {
    own_rows(
        tx,
        ctx,
        "security_events",
        "id, event_type, details, ip_address, user_agent, created_at",
        page,
    )
    .await
}

/// An invitation as its acceptance reads it.
#[derive(sqlx::FromRow)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role_names: Vec<String>,
    pub expires_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
    pub tenant_active: bool,
}

/// Locks the invitation with this token (its tenant's state included).
pub async fn lock_invitation(tx: &mut TenantTx, token: &str) -> Result<Option<Invitation>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.email, i.role_names, i.expires_at, i.accepted_at, t.is_active AS tenant_active \
         FROM invitations i JOIN tenants t ON t.id = i.tenant_id WHERE i.token_hash = $1 FOR UPDATE OF i",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut **tx)
    .await
}

pub async fn mark_invitation_accepted(tx: &mut TenantTx, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE invitations SET accepted_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// What the MFA step of sign-in reads of the user and its tenant.
#[derive(sqlx::FromRow)]
pub struct MfaUser {
    pub email: String,
    pub user_active: bool,
    pub tenant_active: bool,
    pub mfa_enabled: bool,
    pub locked: bool,
    pub totp_secret_enc: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub recovery_codes: Vec<String>,
}

/// Locks the user for the MFA step of sign-in.
pub async fn lock_mfa_user(tx: &mut TenantTx, user: Uuid) -> Result<Option<MfaUser>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.email, u.is_active AS user_active, t.is_active AS tenant_active, u.mfa_enabled, \
         coalesce(u.locked_until > now(), false) AS locked, u.totp_secret_enc, u.totp_last_step, u.recovery_codes \
         FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE u.id = $1 FOR UPDATE OF u",
    )
    .bind(user)
    .fetch_optional(&mut **tx)
    .await
}

/// The user's TOTP state.
#[derive(sqlx::FromRow)]
pub struct MfaRow {
    pub mfa_enabled: bool,
    pub totp_secret_enc: Option<Vec<u8>>,
    pub totp_pending_enc: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub recovery_codes: Vec<String>,
}

/// Locks the user row; its TOTP state.
pub async fn lock_mfa_state(tx: &mut TenantTx, user: Uuid) -> Result<MfaRow, sqlx::Error> {
    sqlx::query_as(
        "SELECT mfa_enabled, totp_secret_enc, totp_pending_enc, totp_last_step, recovery_codes \
         FROM users WHERE id = $1 FOR UPDATE",
    )
    .bind(user)
    .fetch_one(&mut **tx)
    .await
}

/// The user's password hash (none for an account without a password).
pub async fn password_hash(tx: &mut TenantTx, user: Uuid) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut **tx)
        .await
}

pub async fn first_name(tx: &mut TenantTx, user: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT first_name FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut **tx)
        .await
}

pub async fn email(tx: &mut TenantTx, user: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut **tx)
        .await
}

pub async fn locked_until(tx: &mut TenantTx, user: Uuid) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar("SELECT locked_until FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(&mut **tx)
        .await
}

/// A refresh token with its session, user and tenant state.
#[derive(sqlx::FromRow)]
pub struct RefreshRow {
    pub session_id: Uuid,
    pub used: bool,
    pub user_id: Uuid,
    pub live: bool,
    pub active: bool,
    pub impersonator_id: Option<Uuid>,
    pub impersonator_email: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// Locks the refresh token and its session.
pub async fn lock_refresh_token(tx: &mut TenantTx, token: &str) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT rt.session_id, rt.used_at IS NOT NULL AS used, s.user_id, \
                (s.revoked_at IS NULL AND s.expires_at > now()) AS live, (u.is_active AND t.is_active) AS active, \
                s.impersonator_id, s.impersonator_email, s.expires_at \
         FROM refresh_tokens rt \
         JOIN user_sessions s ON s.tenant_id = rt.tenant_id AND s.id = rt.session_id \
         JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
         JOIN tenants t ON t.id = s.tenant_id \
         WHERE rt.token_hash = $1 FOR UPDATE OF rt, s",
    )
    .bind(token_hash(token))
    .fetch_optional(&mut **tx)
    .await
}

pub async fn mark_refresh_token_used(tx: &mut TenantTx, token: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// Records that the session was used now.
pub async fn touch_session(tx: &mut TenantTx, session: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE user_sessions SET last_used_at = now() WHERE id = $1")
        .bind(session)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// A user a super admin may act as.
#[derive(sqlx::FromRow)]
pub struct Target {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub is_active: bool,
    pub is_super_admin: bool,
}

const SELECT_TARGET: &str = "SELECT u.id, u.email, u.first_name, u.is_active, u.is_super_admin FROM users u";

/// Whether the tenant is active, and its name.
pub async fn tenant_state(conn: &mut PgConnection, tenant: Uuid) -> Result<Option<(bool, String)>, sqlx::Error> {
    sqlx::query_as("SELECT is_active, name FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_optional(conn)
        .await
}

/// The user of `tenant` to act as.
pub async fn impersonation_target(
    conn: &mut PgConnection,
    tenant: Uuid,
    user: Uuid,
) -> Result<Option<Target>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_TARGET} WHERE u.tenant_id = $1 AND u.id = $2"
    )))
    .bind(tenant)
    .bind(user)
    .fetch_optional(conn)
    .await
}

/// The tenant's first active tenant admin (by creation), the default target.
pub async fn first_tenant_admin(conn: &mut PgConnection, tenant: Uuid) -> Result<Option<Target>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_TARGET} JOIN user_roles ur ON ur.tenant_id = u.tenant_id AND ur.user_id = u.id \
         JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
         WHERE u.tenant_id = $1 AND r.name = 'tenant_admin' AND r.is_system AND u.is_active \
           AND NOT u.is_super_admin AND (ur.expires_at IS NULL OR ur.expires_at > now()) \
         ORDER BY u.created_at, u.id LIMIT 1"
    )))
    .bind(tenant)
    .fetch_optional(conn)
    .await
}
