//! `/api/v1/groups`: reading groups needs `users:read`; every write needs
//! `roles:assign`, because membership hands out the group's roles. Nobody
//! grants what they do not hold: attaching a role, or adding members to a
//! group with roles, requires holding every permission involved (403,
//! [`grants::ensure_can_grant`]).

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::repo::{self, GroupRoleRef, GroupRow, MemberRef};
use crate::{
    audit::{self, AuditAction, AuditEvent},
    auth::{AuthCtx, Authz},
    db::TenantTx,
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::{Page, PageParams},
    rbac::{grants, perm, repo as roles_repo},
};

/// A group with its members and roles.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    #[serde(flatten)]
    pub group: GroupRow,
    pub members: Vec<MemberRef>,
    pub roles: Vec<GroupRoleRef>,
}

/// `POST` and `PUT` body: the name and, optionally, the complete member list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GroupInput {
    pub display_name: String,
    #[serde(default)]
    pub external_id: Option<String>,
    /// User ids; when present, the group's members become exactly these.
    #[serde(default)]
    pub members: Option<Vec<Uuid>>,
}

async fn view(tx: &mut TenantTx, id: Uuid) -> ApiResult<GroupView> {
    Ok(GroupView {
        group: repo::get(tx, id).await?,
        members: repo::members(tx, id).await?,
        roles: repo::roles(tx, id).await?,
    })
}

/// Sets the members, after checking the caller could grant the group's roles.
async fn set_members(tx: &mut TenantTx, ctx: &AuthCtx, group: &GroupRow, members: &[Uuid]) -> ApiResult<()> {
    grants::ensure_can_grant(&ctx.permissions, repo::permissions(tx, group.id).await?)?;
    repo::set_members(tx, &ctx.actor(), group, members).await
}

#[utoipa::path(get, path = "", tag = "groups", security(("bearer" = ["users:read"])),
    params(PageParams), responses((status = 200, body = Page<GroupRow>), (status = 403)))]
pub async fn list_groups(
    Authz { mut tx, .. }: Authz<perm::UsersRead>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<ApiJson<Page<GroupRow>>> {
    let rows: Vec<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} ORDER BY lower(g.display_name), g.id LIMIT $1 OFFSET $2",
        repo::SELECT_GROUPS
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut *tx)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM groups")
        .fetch_one(&mut *tx)
        .await?;
    Ok(ApiJson(page.wrap(rows, total)))
}

#[utoipa::path(post, path = "", tag = "groups", security(("bearer" = ["roles:assign"])),
    request_body = GroupInput,
    responses((status = 201, body = GroupView), (status = 403), (status = 409, description = "Name taken"), (status = 422)))]
pub async fn create_group(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiJson(input): ApiJson<GroupInput>,
) -> ApiResult<(StatusCode, ApiJson<GroupView>)> {
    let group = repo::create(
        &mut tx,
        &ctx.actor(),
        input.display_name.trim(),
        input.external_id.as_deref(),
    )
    .await?;
    if let Some(members) = &input.members {
        set_members(&mut tx, &ctx, &group, members).await?;
    }
    let v = view(&mut tx, group.id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(v)))
}

#[utoipa::path(get, path = "/{id}", tag = "groups", security(("bearer" = ["users:read"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = GroupView), (status = 403), (status = 404)))]
pub async fn get_group(
    Authz { mut tx, .. }: Authz<perm::UsersRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<GroupView>> {
    Ok(ApiJson(view(&mut tx, id).await?))
}

#[utoipa::path(put, path = "/{id}", tag = "groups", security(("bearer" = ["roles:assign"])),
    params(("id" = Uuid, Path)), request_body = GroupInput,
    responses((status = 200, body = GroupView), (status = 403), (status = 404), (status = 409), (status = 422)))]
pub async fn update_group(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<GroupInput>,
) -> ApiResult<ApiJson<GroupView>> {
    let old = repo::get(&mut tx, id).await?;
    let external_id = input.external_id.as_deref().or(old.external_id.as_deref());
    repo::rename(&mut tx, &ctx.actor(), &old, input.display_name.trim(), external_id).await?;
    if let Some(members) = &input.members {
        set_members(&mut tx, &ctx, &old, members).await?;
    }
    let v = view(&mut tx, id).await?;
    tx.commit().await?;
    Ok(ApiJson(v))
}

#[utoipa::path(delete, path = "/{id}", tag = "groups", security(("bearer" = ["roles:assign"])),
    params(("id" = Uuid, Path)), responses((status = 204, description = "Deleted"), (status = 403), (status = 404)))]
pub async fn delete_group(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    let old = repo::get(&mut tx, id).await?;
    repo::delete(&mut tx, &ctx.actor(), &old).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grants a role to the group: its members hold the role's permissions from
/// their next request. 403 for a role with permissions the caller lacks.
#[utoipa::path(post, path = "/{id}/roles/{role_id}", tag = "groups", security(("bearer" = ["roles:assign"])),
    params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 200, body = GroupView), (status = 403), (status = 404)))]
pub async fn add_group_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiPath((id, role_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<ApiJson<GroupView>> {
    let group = repo::get(&mut tx, id).await?;
    let role = roles_repo::find_role(&mut tx, role_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Role"))?;
    let perms = role
        .permissions
        .iter()
        .filter_map(|p| crate::rbac::Permission::parse(p));
    grants::ensure_can_grant(&ctx.permissions, perms)?;
    let added = sqlx::query(
        "INSERT INTO group_roles (tenant_id, group_id, role_id, granted_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(ctx.tenant_id.get())
    .bind(group.id)
    .bind(role.id)
    .bind(ctx.user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added > 0 {
        audit::record(
            &mut tx,
            ctx.tenant_id,
            &ctx.actor(),
            AuditEvent::new(AuditAction::GroupRoleAdded, "group", group.id)
                .new_values(json!({"role_id": role.id, "role": role.name})),
        )
        .await?;
    }
    let v = view(&mut tx, id).await?;
    tx.commit().await?;
    Ok(ApiJson(v))
}

/// Takes a role from the group (and so from its members, at once).
#[utoipa::path(delete, path = "/{id}/roles/{role_id}", tag = "groups", security(("bearer" = ["roles:assign"])),
    params(("id" = Uuid, Path), ("role_id" = Uuid, Path)),
    responses((status = 204, description = "Removed"), (status = 403), (status = 404)))]
pub async fn remove_group_role(
    Authz { ctx, mut tx, .. }: Authz<perm::RolesAssign>,
    ApiPath((id, role_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let group = repo::get(&mut tx, id).await?;
    let name: String = sqlx::query_scalar(
        "DELETE FROM group_roles gr USING roles r WHERE gr.group_id = $1 AND gr.role_id = $2 \
         AND r.tenant_id = gr.tenant_id AND r.id = gr.role_id RETURNING r.name",
    )
    .bind(group.id)
    .bind(role_id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::not_found("Group role"))?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::GroupRoleRemoved, "group", group.id)
            .old(json!({"role_id": role_id, "role": name})),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
