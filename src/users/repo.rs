//! SQL for user management, on tenant transactions (RLS confines every query).

use uuid::Uuid;

use super::model::{UserFilter, UserView};
use crate::{
    db::TenantTx,
    http::ApiError,
    pagination::{Page, order_by, search_pattern},
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
    let search = search_pattern(f.search.as_deref());
    let role = f.role.as_deref().map(str::trim).filter(|s| !s.is_empty());
    const WHERE: &str = "WHERE ($1::text IS NULL OR u.email ILIKE $1 OR u.first_name ILIKE $1 OR u.last_name ILIKE $1 \
            OR (u.first_name || ' ' || u.last_name) ILIKE $1) \
        AND ($2::boolean IS NULL OR u.is_active = $2) \
        AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM user_roles ur JOIN roles r \
             ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
             WHERE ur.tenant_id = u.tenant_id AND ur.user_id = u.id AND r.name = $3 \
               AND (ur.expires_at IS NULL OR ur.expires_at > now())))";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM users u {WHERE}")))
        .bind(&search)
        .bind(f.is_active)
        .bind(role)
        .fetch_one(&mut **tx)
        .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u {WHERE} ORDER BY {order} LIMIT $4 OFFSET $5"
    )))
    .bind(&search)
    .bind(f.is_active)
    .bind(role)
    .bind(f.page.limit())
    .bind(f.page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok(f.page.wrap(items, total))
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
