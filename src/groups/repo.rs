//! The one writer of the group tables; each change writes its audit row in
//! the same transaction with the caller's actor (a user, or `scim:<token>`).

use serde::Serialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::TenantTx,
    http::{ApiError, error::Validator},
    pagination::PageParams,
    rbac::Permission,
};

/// A group row.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GroupRow {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub version: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A member as groups list them.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct MemberRef {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
}

/// A role granted to a group.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GroupRoleRef {
    pub id: Uuid,
    pub name: String,
}

pub const SELECT_GROUPS: &str = "\
SELECT g.id, g.display_name, g.external_id, g.version, g.created_at, g.updated_at
FROM groups g";

pub async fn find(tx: &mut TenantTx, id: Uuid) -> Result<Option<GroupRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_GROUPS} WHERE g.id = $1")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

/// The group, or 404.
pub async fn get(tx: &mut TenantTx, id: Uuid) -> Result<GroupRow, ApiError> {
    find(tx, id).await?.ok_or_else(|| ApiError::not_found("Group"))
}

/// Members that SCIM has not deleted, by email.
pub async fn members(tx: &mut TenantTx, id: Uuid) -> Result<Vec<MemberRef>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.email, btrim(u.first_name || ' ' || u.last_name) AS display_name \
         FROM group_members gm JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id \
         WHERE gm.group_id = $1 AND u.scim_deleted_at IS NULL ORDER BY u.email",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
}

pub async fn roles(tx: &mut TenantTx, id: Uuid) -> Result<Vec<GroupRoleRef>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.id, r.name FROM group_roles gr JOIN roles r ON r.tenant_id = gr.tenant_id AND r.id = gr.role_id \
         WHERE gr.group_id = $1 ORDER BY r.name",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
}

/// The permissions the group's roles give its members.
pub async fn permissions(tx: &mut TenantTx, id: Uuid) -> Result<Vec<Permission>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT rp.permission FROM group_roles gr \
         JOIN role_permissions rp ON rp.tenant_id = gr.tenant_id AND rp.role_id = gr.role_id WHERE gr.group_id = $1",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(names.iter().filter_map(|n| Permission::parse(n)).collect())
}

/// 1 to 256 characters, no control characters (422 naming `field`).
pub fn validate_name(field: &str, name: &str) -> Result<(), ApiError> {
    let mut v = Validator::new();
    v.check(
        !name.is_empty() && name.chars().count() <= 256,
        field,
        "must be 1 to 256 characters",
    );
    v.check(
        !name.chars().any(char::is_control),
        field,
        "must not contain control characters",
    );
    v.finish()
}

/// Whether another group of the tenant has this name (case-insensitive).
pub async fn name_taken(tx: &mut TenantTx, name: &str, except: Option<Uuid>) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM groups WHERE lower(display_name) = lower($1) AND id IS DISTINCT FROM $2)",
    )
    .bind(name)
    .bind(except)
    .fetch_one(&mut **tx)
    .await
}

fn duplicate() -> ApiError {
    ApiError::conflict("A group with this name already exists in this tenant")
}

pub async fn create(
    tx: &mut TenantTx,
    actor: &AuditActor,
    name: &str,
    external_id: Option<&str>,
) -> Result<GroupRow, ApiError> {
    validate_name("display_name", name)?;
    if name_taken(tx, name, None).await? {
        return Err(duplicate());
    }
    let id = Uuid::new_v4();
    let tenant = tx.tenant();
    let row: GroupRow = sqlx::query_as(
        "INSERT INTO groups (tenant_id, id, display_name, external_id) VALUES ($1, $2, $3, $4) \
         RETURNING id, display_name, external_id, version, created_at, updated_at",
    )
    .bind(tenant.get())
    .bind(id)
    .bind(name)
    .bind(external_id)
    .fetch_one(&mut **tx)
    .await?;
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::GroupCreated, "group", id)
            .new_values(json!({"display_name": name, "external_id": external_id})),
    )
    .await?;
    Ok(row)
}

pub async fn rename(
    tx: &mut TenantTx,
    actor: &AuditActor,
    old: &GroupRow,
    name: &str,
    external_id: Option<&str>,
) -> Result<(), ApiError> {
    validate_name("display_name", name)?;
    if name != old.display_name && name_taken(tx, name, Some(old.id)).await? {
        return Err(duplicate());
    }
    sqlx::query("UPDATE groups SET display_name = $2, external_id = $3, version = version + 1 WHERE id = $1")
        .bind(old.id)
        .bind(name)
        .bind(external_id)
        .execute(&mut **tx)
        .await?;
    let tenant = tx.tenant();
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::GroupUpdated, "group", old.id)
            .old(json!({"display_name": old.display_name, "external_id": old.external_id}))
            .new_values(json!({"display_name": name, "external_id": external_id})),
    )
    .await?;
    Ok(())
}

pub async fn delete(tx: &mut TenantTx, actor: &AuditActor, old: &GroupRow) -> Result<(), ApiError> {
    let members: Vec<Uuid> = members(tx, old.id).await?.into_iter().map(|m| m.id).collect();
    sqlx::query("DELETE FROM groups WHERE id = $1")
        .bind(old.id)
        .execute(&mut **tx)
        .await?;
    let tenant = tx.tenant();
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::GroupDeleted, "group", old.id)
            .old(json!({"display_name": old.display_name, "members": members})),
    )
    .await?;
    Ok(())
}

/// Makes the group's members exactly `wanted` (users of the tenant not
/// deleted through SCIM; 422 on `members` otherwise); audits what changed.
pub async fn set_members(
    tx: &mut TenantTx,
    actor: &AuditActor,
    group: &GroupRow,
    wanted: &[Uuid],
) -> Result<(), ApiError> {
    let known: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = ANY($1) AND scim_deleted_at IS NULL")
        .bind(wanted)
        .fetch_one(&mut **tx)
        .await?;
    let mut unique = wanted.to_vec();
    unique.sort();
    unique.dedup();
    if known != unique.len() as i64 {
        return Err(ApiError::invalid("members", "names a user that does not exist"));
    }
    let removed: Vec<Uuid> = sqlx::query_scalar(
        "DELETE FROM group_members WHERE group_id = $1 AND NOT (user_id = ANY($2)) RETURNING user_id",
    )
    .bind(group.id)
    .bind(&unique)
    .fetch_all(&mut **tx)
    .await?;
    let tenant = tx.tenant();
    let added: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO group_members (tenant_id, group_id, user_id) SELECT $1, $2, unnest($3::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING user_id",
    )
    .bind(tenant.get())
    .bind(group.id)
    .bind(&unique)
    .fetch_all(&mut **tx)
    .await?;
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE groups SET version = version + 1 WHERE id = $1")
        .bind(group.id)
        .execute(&mut **tx)
        .await?;
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::GroupMembersChanged, "group", group.id)
            .old(json!({"removed": removed}))
            .new_values(json!({"added": added})),
    )
    .await?;
    Ok(())
}

/// One page of the tenant's groups by name, and their total.
pub async fn list(tx: &mut TenantTx, page: &PageParams) -> Result<(Vec<GroupRow>, i64), sqlx::Error> {
    let rows: Vec<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} ORDER BY lower(g.display_name), g.id LIMIT $1 OFFSET $2",
        SELECT_GROUPS
    )))
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM groups")
        .fetch_one(&mut **tx)
        .await?;
    Ok((rows, total))
}

/// Grants the role `(id, name)` to the group; audited when it was not granted yet.
pub async fn add_role(
    tx: &mut TenantTx,
    actor: &AuditActor,
    group: Uuid,
    (role_id, role_name): (Uuid, &str),
    granted_by: Uuid,
) -> Result<(), ApiError> {
    let tenant = tx.tenant();
    let added = sqlx::query(
        "INSERT INTO group_roles (tenant_id, group_id, role_id, granted_by) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.get())
    .bind(group)
    .bind(role_id)
    .bind(granted_by)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if added > 0 {
        audit::record(
            tx,
            tenant,
            actor,
            AuditEvent::new(AuditAction::GroupRoleAdded, "group", group)
                .new_values(json!({"role_id": role_id, "role": role_name})),
        )
        .await?;
    }
    Ok(())
}

/// Takes the role from the group (404 when the group does not hold it); audited.
pub async fn remove_role(tx: &mut TenantTx, actor: &AuditActor, group: Uuid, role_id: Uuid) -> Result<(), ApiError> {
    let name: String = sqlx::query_scalar(
        "DELETE FROM group_roles gr USING roles r WHERE gr.group_id = $1 AND gr.role_id = $2 \
         AND r.tenant_id = gr.tenant_id AND r.id = gr.role_id RETURNING r.name",
    )
    .bind(group)
    .bind(role_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| ApiError::not_found("Group role"))?;
    let tenant = tx.tenant();
    audit::record(
        tx,
        tenant,
        actor,
        AuditEvent::new(AuditAction::GroupRoleRemoved, "group", group).old(json!({"role_id": role_id, "role": name})),
    )
    .await?;
    Ok(())
}
