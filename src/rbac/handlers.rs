//! `/api/v1/permissions`, `/api/v1/roles` and `/api/v1/users/{id}/roles`.
//!
//! Rules: only catalogue permissions (422 otherwise); nobody grants what they do
//! not hold themselves (403, [`grants::ensure_can_grant`]), so `roles:*` cannot be
//! escalated into more; a role cannot be removed from a user who holds more than
//! the caller (403, [`grants::ensure_can_manage`]); system roles cannot be
//! deleted, renamed or have their permissions edited (409); a role still
//! assigned cannot be deleted (409: remove its assignments first); the tenant
//! keeps at least one active, non-expiring tenant admin (409, [`AdminGuard`]).

use axum::http::StatusCode;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Permission,
    admins::AdminGuard,
    grants,
    model::{
        AssignRole, AssignmentView, NewRole, PermissionView, RoleView, UpdateRole, check_description, check_role_name,
        parse_permissions,
    },
    perm, repo,
};
use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    db::TenantTx,
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::{Page, PageParams},
    users::accounts,
};

/// The role, or 404 (another tenant's roles are invisible).
async fn role_or_404(tx: &mut TenantTx, id: Uuid) -> ApiResult<RoleView> {
    repo::find_role(tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Role"))
}

fn role_perms(role: &RoleView) -> Vec<Permission> {
    role.permissions.iter().filter_map(|p| Permission::parse(p)).collect()
}

/// The permission catalogue (every page holds the whole catalogue).
#[utoipa::path(get, path = "/api/v1/permissions", tag = "roles", security(("bearer" = ["roles:read"])),
    responses((status = 200, body = Page<PermissionView>), (status = 403)))]
pub async fn list_permissions(
    Authz { mut tx, .. }: Authz<perm::RolesRead>,
) -> ApiResult<ApiJson<Page<PermissionView>>> {
    let items = repo::list_permissions(&mut tx).await?;
    let total = items.len() as i64;
    Ok(ApiJson(Page {
        items,
        total,
        page: 1,
        page_size: total.max(1),
    }))
}

#[utoipa::path(get, path = "/api/v1/roles", tag = "roles", security(("bearer" = ["roles:read"])),
    params(PageParams), responses((status = 200, body = Page<RoleView>), (status = 403)))]
pub async fn list_roles(
    Authz { mut tx, .. }: Authz<perm::RolesRead>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Page<RoleView>>> {
    let (rows, total) = repo::list_roles(&mut tx, page.limit(), page.offset()).await?;
    Ok(ApiJson(page.wrap(rows, total)))
}

#[utoipa::path(post, path = "/api/v1/roles", tag = "roles", security(("bearer" = ["roles:create"])),
    request_body = NewRole,
    responses((status = 201, body = RoleView), (status = 403, description = "Permissions the caller lacks"),
        (status = 409, description = "Name taken"), (status = 422)))]
pub async fn create_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesCreate>,
    ApiJson(input): ApiJson<NewRole>,
) -> ApiResult<(StatusCode, ApiJson<RoleView>)> {
    let name = input.name.trim();
    let mut v = Validator::new();
    check_role_name(&mut v, name);
    check_description(&mut v, &input.description);
    v.finish()?;
    let perms = parse_permissions(&input.permissions)?;
    grants::ensure_can_grant(&ctx.permissions, perms.iter().copied())?;
    let tenant = ctx.tenant_id.get();
    let id = repo::insert_role(&mut tx, tenant, name, input.description.trim(), ctx.user_id).await?;
    repo::set_permissions(&mut tx, tenant, id, &perms).await?;
    let role = role_or_404(&mut tx, id).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::RoleCreated, "role", id).new_values(&role),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(role)))
}

#[utoipa::path(get, path = "/api/v1/roles/{id}", tag = "roles", security(("bearer" = ["roles:read"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = RoleView), (status = 404)))]
pub async fn get_role(
    Authz { mut tx, .. }: Authz<perm::RolesRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<RoleView>> {
    Ok(ApiJson(role_or_404(&mut tx, id).await?))
}

/// Updates a custom role. System roles keep their name and permissions (409);
/// only their description can change.
#[utoipa::path(put, path = "/api/v1/roles/{id}", tag = "roles", security(("bearer" = ["roles:update"])),
    params(("id" = Uuid, Path)), request_body = UpdateRole,
    responses((status = 200, body = RoleView), (status = 403, description = "Adds or removes permissions the caller lacks"),
        (status = 404), (status = 409), (status = 422)))]
pub async fn update_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesUpdate>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<UpdateRole>,
) -> ApiResult<ApiJson<RoleView>> {
    let old = role_or_404(&mut tx, id).await?;
    let name = input.name.as_deref().map(str::trim).filter(|n| *n != old.name);
    let mut v = Validator::new();
    if let Some(n) = name {
        check_role_name(&mut v, n);
    }
    if let Some(d) = &input.description {
        check_description(&mut v, d);
    }
    v.finish()?;
    let perms = input.permissions.as_deref().map(parse_permissions).transpose()?;
    let current = role_perms(&old);
    let perms_change = perms.as_ref().filter(|p| **p != current);
    if old.is_system && (name.is_some() || perms_change.is_some()) {
        return Err(ApiError::conflict(
            "System roles cannot be renamed and their permissions cannot be changed",
        ));
    }
    if let Some(p) = perms_change {
        // Adding needs the added permissions; removing needs those removed.
        let changed: Vec<Permission> = p
            .iter()
            .filter(|x| !current.contains(x))
            .chain(current.iter().filter(|x| !p.contains(x)))
            .copied()
            .collect();
        grants::ensure_can_grant(&ctx.permissions, changed)?;
    }
    repo::update_role(
        &mut tx,
        id,
        name,
        input.description.as_deref().map(str::trim),
        ctx.user_id,
    )
    .await?;
    if let Some(p) = perms_change {
        repo::set_permissions(&mut tx, ctx.tenant_id.get(), id, p).await?;
    }
    let new = role_or_404(&mut tx, id).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::RoleUpdated, "role", id)
            .old(&old)
            .new_values(&new),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(new))
}

/// Deletes a custom role that nobody holds (409 while assigned or for system roles).
#[utoipa::path(delete, path = "/api/v1/roles/{id}", tag = "roles", security(("bearer" = ["roles:delete"])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404), (status = 409)))]
pub async fn delete_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesDelete>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let old = role_or_404(&mut tx, id).await?;
    if old.is_system {
        return Err(ApiError::conflict("System roles cannot be deleted"));
    }
    let assigned = repo::assignment_count(&mut tx, id).await?;
    if assigned > 0 {
        return Err(ApiError::Conflict {
            detail: format!("The role is assigned to {assigned} user(s); remove those assignments first"),
            extra: Some(json!({"assignments": assigned})),
        });
    }
    repo::delete_role(&mut tx, id).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::RoleDeleted, "role", id).old(&old),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Path of the assignment routes.
#[derive(serde::Deserialize)]
pub struct UserRolePath {
    pub id: Uuid,
    pub role_id: Uuid,
}

/// Grants a role of the caller's tenant, optionally until `expires_at`.
/// Granting again replaces the expiry (200).
#[utoipa::path(post, path = "/api/v1/users/{id}/roles", tag = "roles", security(("bearer" = ["roles:assign"])),
    params(("id" = Uuid, Path)), request_body = AssignRole,
    responses((status = 201, body = AssignmentView), (status = 200, body = AssignmentView),
        (status = 403, description = "The role gives permissions the caller lacks"), (status = 404),
        (status = 409, description = "An expiry would leave the tenant without a lasting admin"), (status = 422)))]
pub async fn assign_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiPath(user): ApiPath<Uuid>,
    ApiJson(input): ApiJson<AssignRole>,
) -> ApiResult<(StatusCode, ApiJson<AssignmentView>)> {
    if let Some(at) = input.expires_at
        && at <= OffsetDateTime::now_utc()
    {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    if !repo::user_exists(&mut tx, user).await? {
        return Err(ApiError::not_found("User"));
    }
    let role = role_or_404(&mut tx, input.role_id).await?;
    grants::ensure_can_grant(&ctx.permissions, role_perms(&role))?;
    // An expiry on the last lasting admin's `tenant_admin` would take them away.
    let admins = AdminGuard::lock(&mut tx).await?;
    let old = repo::find_assignment(&mut tx, user, role.id).await?;
    accounts::upsert_assignment(
        &mut tx,
        ctx.tenant_id.get(),
        user,
        role.id,
        input.expires_at,
        ctx.user_id,
    )
    .await?;
    admins.ensure_admin_remains(&mut tx).await?;
    let new = repo::find_assignment(&mut tx, user, role.id)
        .await?
        .ok_or_else(|| ApiError::not_found("Role"))?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::RoleAssigned, "user", user)
            .old(&old)
            .new_values(json!({"role_id": role.id, "role_name": role.name,
                "expires_at": audit::timestamp(new.expires_at)})),
    )
    .await?;
    tx.commit().await?;
    Ok((
        if old.is_some() {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        },
        ApiJson(new),
    ))
}

/// Removes a role from a user, at once.
#[utoipa::path(delete, path = "/api/v1/users/{id}/roles/{role_id}", tag = "roles",
    security(("bearer" = ["roles:assign"])), params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 204), (status = 403, description = "The user holds permissions the caller lacks"),
        (status = 404), (status = 409, description = "Last tenant admin")))]
pub async fn remove_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiPath(UserRolePath { id: user, role_id }): ApiPath<UserRolePath>,
) -> ApiResult<StatusCode> {
    let old = repo::find_assignment(&mut tx, user, role_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Assignment"))?;
    let role = role_or_404(&mut tx, role_id).await?;
    let admins = AdminGuard::lock(&mut tx).await?;
    grants::ensure_can_manage(&mut tx, &ctx.permissions, user).await?;
    grants::ensure_can_grant(&ctx.permissions, role_perms(&role))?;
    accounts::delete_assignment(&mut tx, user, role_id).await?;
    admins.ensure_admin_remains(&mut tx).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::RoleRevoked, "user", user).old(&old),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
