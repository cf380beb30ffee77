//! `/users/me`, user listing, reading, updating, deactivation and sessions.
//!
//! Changing, deactivating or signing out another user needs every permission
//! that user holds ([`grants::ensure_can_manage`], 403); deactivation keeps the
//! tenant's last admin ([`AdminGuard`], 409).

use axum::http::StatusCode;
use serde_json::json;
use uuid::Uuid;

use super::{
    model::{MyChanges, SessionFilter, SessionView, UserChanges, UserFilter, UserView},
    repo,
};
use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::{Authz, session::revoke_user_sessions},
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::Page,
    rbac::{admins::AdminGuard, grants, perm},
    users::accounts::{self, validate_name},
};

/// Trims the names given and applies the one name rule ([`validate_name`]).
fn check_names(first: &mut Option<String>, last: &mut Option<String>) -> ApiResult<()> {
    let mut v = Validator::new();
    for (field, value) in [("first_name", first), ("last_name", last)] {
        if let Some(s) = value {
            *s = s.trim().to_string();
            validate_name(&mut v, field, s);
        }
    }
    v.finish()
}

/// The caller's own account.
#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "Not authenticated")))]
pub async fn get_me(Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(repo::get_user(&mut tx, ctx.user_id).await?))
}

/// Updates the caller's own names.
#[utoipa::path(put, path = "/me", tag = "users", security(("bearer" = [])), request_body = MyChanges,
    responses((status = 200, body = UserView), (status = 422, description = "Invalid fields")))]
pub async fn update_me(
    Authz { ctx, mut tx, .. }: Authz<perm::Authenticated>,
    ApiJson(mut input): ApiJson<MyChanges>,
) -> ApiResult<ApiJson<UserView>> {
    check_names(&mut input.first_name, &mut input.last_name)?;
    let old = repo::lock_user(&mut tx, ctx.user_id).await?;
    let (first, last) = (input.first_name.as_deref(), input.last_name.as_deref());
    accounts::update_names(&mut tx, ctx.user_id, first, last, ctx.user_id).await?;
    let new = repo::get_user(&mut tx, ctx.user_id).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::UserUpdated, "user", ctx.user_id)
            .old(json!({"first_name": old.first_name, "last_name": old.last_name}))
            .new_values(json!({"first_name": new.first_name, "last_name": new.last_name})),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(new))
}

/// Lists the tenant's users.
#[utoipa::path(get, path = "", tag = "users", security(("bearer" = ["users:read"])), params(UserFilter),
    responses((status = 200, body = Page<UserView>), (status = 422, description = "Invalid filter or sort")))]
pub async fn list_users(
    Authz { mut tx, .. }: Authz<perm::UsersRead>,
    ApiQuery(filter): ApiQuery<UserFilter>,
) -> ApiResult<ApiJson<Page<UserView>>> {
    Ok(ApiJson(repo::list_users(&mut tx, &filter).await?))
}

#[utoipa::path(get, path = "/{id}", tag = "users", security(("bearer" = ["users:read"])), params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = 404, description = "No such user")))]
pub async fn get_user(
    Authz { mut tx, .. }: Authz<perm::UsersRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<UserView>> {
    Ok(ApiJson(repo::get_user(&mut tx, id).await?))
}

/// Updates names and active state. Deactivating oneself or the last admin is
/// refused (409), and so is changing a user who holds more than the caller
/// (403); deactivation revokes every session; reactivation needs a free seat.
#[utoipa::path(put, path = "/{id}", tag = "users", security(("bearer" = ["users:update"])),
    params(("id" = Uuid, Path)), request_body = UserChanges,
    responses((status = 200, body = UserView),
        (status = 403, description = "The user holds permissions the caller lacks"),
        (status = 404, description = "No such user"),
        (status = 409, description = "Deactivating oneself or the last tenant admin, or no free seat to reactivate")))]
pub async fn update_user(
    Authz { ctx, mut tx, .. }: Authz<perm::UsersUpdate>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(mut input): ApiJson<UserChanges>,
) -> ApiResult<ApiJson<UserView>> {
    check_names(&mut input.first_name, &mut input.last_name)?;
    if id == ctx.user_id && input.is_active == Some(false) {
        return Err(ApiError::conflict("You cannot deactivate your own account"));
    }
    let current = repo::get_user(&mut tx, id).await?;
    grants::ensure_can_manage(&mut tx, &ctx.permissions, id).await?;
    // Lock order: the tenant (seats) or the admin set before the user row.
    let admins = match input.is_active {
        Some(true) if !current.is_active => {
            repo::ensure_seat_available(&mut tx).await?;
            None
        }
        Some(false) => Some(AdminGuard::lock(&mut tx).await?),
        _ => None,
    };
    let old = repo::lock_user(&mut tx, id).await?;
    let (first, last) = (input.first_name.as_deref(), input.last_name.as_deref());
    accounts::update_names(&mut tx, id, first, last, ctx.user_id).await?;
    let mut revoked = 0;
    if let Some(active) = input.is_active.filter(|a| *a != old.is_active) {
        revoked = accounts::set_active(&mut tx, id, active, Some(ctx.user_id)).await?;
    }
    if let Some(admins) = admins {
        admins.ensure_admin_remains(&mut tx).await?;
    }
    let new = repo::get_user(&mut tx, id).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::UserUpdated, "user", id)
            .old(json!({"first_name": old.first_name, "last_name": old.last_name, "is_active": old.is_active}))
            .new_values(json!({"first_name": new.first_name, "last_name": new.last_name,
                "is_active": new.is_active, "sessions_revoked": revoked})),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(new))
}

/// Deactivates a user (the row is kept) and revokes every session; not a user
/// who holds more than the caller (403), nor oneself or the last admin (409).
#[utoipa::path(delete, path = "/{id}", tag = "users", security(("bearer" = ["users:delete"])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deactivated"),
        (status = 403, description = "The user holds permissions the caller lacks"),
        (status = 404, description = "No such user"),
        (status = 409, description = "Deleting oneself or the last tenant admin")))]
pub async fn delete_user(
    Authz { ctx, mut tx, .. }: Authz<perm::UsersDelete>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    if id == ctx.user_id {
        return Err(ApiError::conflict("You cannot delete your own account"));
    }
    let admins = AdminGuard::lock(&mut tx).await?;
    let old = repo::lock_user(&mut tx, id).await?;
    grants::ensure_can_manage(&mut tx, &ctx.permissions, id).await?;
    let revoked = accounts::set_active(&mut tx, id, false, Some(ctx.user_id)).await?;
    admins.ensure_admin_remains(&mut tx).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::UserDeactivated, "user", id)
            .old(json!({"email": old.email, "is_active": old.is_active}))
            .new_values(json!({"is_active": false, "sessions_revoked": revoked})),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's sessions (live ones unless `include_inactive`), newest first.
#[utoipa::path(get, path = "/{id}/sessions", tag = "users", security(("bearer" = ["users:read"])),
    params(("id" = Uuid, Path), SessionFilter),
    responses((status = 200, body = Page<SessionView>), (status = 404, description = "No such user")))]
pub async fn list_sessions(
    Authz { mut tx, .. }: Authz<perm::UsersRead>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(f): ApiQuery<SessionFilter>,
) -> ApiResult<ApiJson<Page<SessionView>>> {
    repo::get_user(&mut tx, id).await?;
    let (items, total) = repo::list_sessions(&mut tx, id, &f).await?;
    Ok(ApiJson(f.page.wrap(items, total)))
}

/// Revokes every session of a user (sign out everywhere); not of a user who
/// holds more than the caller (403).
#[utoipa::path(delete, path = "/{id}/sessions", tag = "users", security(("bearer" = ["users:update"])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Sessions revoked"),
        (status = 403, description = "The user holds permissions the caller lacks"),
        (status = 404, description = "No such user")))]
pub async fn terminate_sessions(
    Authz { ctx, mut tx, .. }: Authz<perm::UsersUpdate>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    repo::get_user(&mut tx, id).await?;
    grants::ensure_can_manage(&mut tx, &ctx.permissions, id).await?;
    let revoked = revoke_user_sessions(&mut tx, id, None, "terminated by administrator").await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::UserSessionsTerminated, "user", id)
            .new_values(json!({"sessions_revoked": revoked})),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
