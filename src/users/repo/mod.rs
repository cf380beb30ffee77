//! SQL for user management, on tenant transactions (RLS confines every query).

pub mod insights;

use time::OffsetDateTime;
use uuid::Uuid;

use super::model::{InvitationView, SessionFilter, SessionView, UserFilter, UserView};
use crate::{
    crypto::token_hash,
    db::{TenantId, TenantTx},
    http::ApiError,
    pagination::{Filter, Page, fetch_page, order_by, search_pattern},
};

const USER_COLUMNS: &str = "u.id, u.email, u.first_name, u.last_name, u.is_active, u.is_super_admin, \
    (u.email_verified_at IS NOT NULL) AS email_verified, u.email_verified_at, u.mfa_enabled, \
    COALESCE(u.locked_until > now(), false) AS is_locked, u.last_login_at, \
    ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
          WHERE ur.tenant_id = u.tenant_id AND ur.user_id = u.id AND (ur.expires_at IS NULL OR ur.expires_at > now()) \
          ORDER BY r.name) AS roles, \
    u.created_at, u.updated_at";

pub async fn find_user(tx: &mut TenantTx, id: Uuid) -> Result<Option<UserView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// The user, or 404 (also for another tenant's id: RLS hides it).
pub async fn get_user(tx: &mut TenantTx, id: Uuid) -> Result<UserView, ApiError> {
    find_user(tx, id).await?.ok_or_else(|| ApiError::not_found("User"))
}

/// Locks the user row for the rest of the transaction (404 when absent).
pub async fn lock_user(tx: &mut TenantTx, id: Uuid) -> Result<UserView, ApiError> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    get_user(tx, id).await
}

pub async fn list_users(tx: &mut TenantTx, f: &UserFilter) -> Result<Page<UserView>, ApiError> {
    let order = order_by(
        f.sort.as_deref(),
        &[
            ("created_at", "u.created_at"),
            ("email", "lower(u.email)"),
            ("first_name", "lower(u.first_name)"),
            ("last_name", "lower(u.last_name)"),
            ("last_login_at", "u.last_login_at"),
        ],
        "u.id",
        "u.created_at DESC, u.id DESC",
    )?;
    let role = f.role.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let mut filter = Filter::default();
    filter
        .and_some(
            "(u.email ILIKE $? OR u.first_name ILIKE $? OR u.last_name ILIKE $? \
             OR (u.first_name || ' ' || u.last_name) ILIKE $?)",
            search_pattern(f.search.as_deref()),
        )
        .and_some("u.is_active = $?", f.is_active)
        .and_some(
            "EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
             WHERE ur.tenant_id = u.tenant_id AND ur.user_id = u.id AND r.name = $? \
               AND (ur.expires_at IS NULL OR ur.expires_at > now()))",
            role,
        );
    Ok(fetch_page(tx, USER_COLUMNS, "users u", &filter, &order, &f.page).await?)
}

/// 409 when the tenant's `max_users` active seats are taken. Locks the tenant
/// row first (same lock as account creation), so reactivations cannot race.
pub async fn ensure_seat_available(tx: &mut TenantTx) -> Result<(), ApiError> {
    let tenant = tx.tenant();
    let max_users: i32 = sqlx::query_scalar("SELECT max_users FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant.get())
        .fetch_one(&mut **tx)
        .await?;
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE is_active")
        .fetch_one(&mut **tx)
        .await?;
    if active >= i64::from(max_users) {
        return Err(ApiError::conflict(format!(
            "The tenant's user limit ({max_users}) is reached"
        )));
    }
    Ok(())
}

/// The emails of the tenant's users among `ids`, by id (an id that names no
/// user of this tenant is simply absent): labels for pages that show actors
/// or selections by id.
pub async fn emails_by_id(
    tx: &mut TenantTx,
    ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, String>, sqlx::Error> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, email FROM users WHERE id = ANY($1)")
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?;
    Ok(rows.into_iter().collect())
}

/// The id of the tenant's user with this email (compared case-insensitively).
pub async fn find_id_by_email(tx: &mut TenantTx, email: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
        .bind(email)
        .fetch_optional(&mut **tx)
        .await
}

/// A user's sessions (live ones unless `include_inactive`), newest first: one
/// page and the total.
pub async fn list_sessions(
    tx: &mut TenantTx,
    id: Uuid,
    f: &SessionFilter,
) -> Result<(Vec<SessionView>, i64), sqlx::Error> {
    const WHERE: &str = "WHERE user_id = $1 AND ($2 OR (revoked_at IS NULL AND expires_at > now()))";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM user_sessions {WHERE}"
    )))
    .bind(id)
    .bind(f.include_inactive)
    .fetch_one(&mut **tx)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, ip_address, user_agent, auth_method, impersonator_id, created_at, last_used_at, expires_at, \
         revoked_at, revoked_reason, (revoked_at IS NULL AND expires_at > now()) AS active \
         FROM user_sessions {WHERE} ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    )))
    .bind(id)
    .bind(f.include_inactive)
    .bind(f.page.limit())
    .bind(f.page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((items, total))
}

/// Whether a user of the tenant has this (lower-case) email.
pub async fn email_taken(tx: &mut TenantTx, email: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1)")
        .bind(email)
        .fetch_one(&mut **tx)
        .await
}

/// The tenant's active users and its `max_users`, unlocked (an early answer;
/// acceptance checks again under the tenant lock).
pub async fn seats(tx: &mut TenantTx, tenant: TenantId) -> Result<(i64, i32), sqlx::Error> {
    sqlx::query_as("SELECT (SELECT count(*) FROM users WHERE is_active), max_users FROM tenants WHERE id = $1")
        .bind(tenant.get())
        .fetch_one(&mut **tx)
        .await
}

/// Deletes the open invitation of this (lower-case) email; its id.
pub async fn delete_open_invitation(tx: &mut TenantTx, email: &str) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("DELETE FROM invitations WHERE lower(email) = $1 AND accepted_at IS NULL RETURNING id")
        .bind(email)
        .fetch_optional(&mut **tx)
        .await
}

/// An invitation to store (the token as its hash).
pub struct NewInvitation<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub role_names: &'a [String],
    pub token: &'a str,
    pub invited_by: Uuid,
    pub expires_at: OffsetDateTime,
}

pub async fn insert_invitation(
    tx: &mut TenantTx,
    tenant: TenantId,
    i: &NewInvitation<'_>,
) -> Result<InvitationView, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO invitations (tenant_id, id, email, role_names, token_hash, invited_by, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         RETURNING id, email, role_names, invited_by, expires_at, created_at",
    )
    .bind(tenant.get())
    .bind(i.id)
    .bind(i.email)
    .bind(i.role_names)
    .bind(token_hash(i.token))
    .bind(i.invited_by)
    .bind(i.expires_at)
    .fetch_one(&mut **tx)
    .await
}

/// Locks the user row; its `locked_until` and `failed_login_count`.
pub async fn lock_lock_state(
    tx: &mut TenantTx,
    id: Uuid,
) -> Result<Option<(Option<OffsetDateTime>, i32)>, sqlx::Error> {
    sqlx::query_as("SELECT locked_until, failed_login_count FROM users WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// Runs `f` inside a SAVEPOINT: released on success, rolled back on failure.
pub async fn in_savepoint<T, F>(tx: &mut TenantTx, f: F) -> Result<T, ApiError>
where
    F: AsyncFnOnce(&mut TenantTx) -> Result<T, ApiError>,
{
    sqlx::query("SAVEPOINT bulk_row").execute(&mut **tx).await?;
    match f(tx).await {
        Ok(v) => {
            sqlx::query("RELEASE SAVEPOINT bulk_row").execute(&mut **tx).await?;
            Ok(v)
        }
        Err(e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT bulk_row").execute(&mut **tx).await?;
            Err(e)
        }
    }
}
