//! Role and assignment SQL, run inside the caller's tenant transaction (RLS
//! confines every statement to that tenant).

use crate::db::TenantTx;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    Permission,
    model::{AssignmentView, PermissionView, RoleView},
};

const SELECT_ROLE: &str = "SELECT r.id, r.name, r.description, r.is_system, \
    ARRAY(SELECT rp.permission FROM role_permissions rp WHERE rp.tenant_id = r.tenant_id AND rp.role_id = r.id \
          ORDER BY rp.permission) AS permissions, \
    (SELECT count(*) FROM user_roles ur WHERE ur.tenant_id = r.tenant_id AND ur.role_id = r.id \
       AND (ur.expires_at IS NULL OR ur.expires_at > now())) AS user_count, \
    r.created_at, r.updated_at FROM roles r";

pub async fn list_roles(tx: &mut TenantTx, limit: i64, offset: i64) -> Result<(Vec<RoleView>, i64), sqlx::Error> {
    let total = sqlx::query_scalar("SELECT count(*) FROM roles")
        .fetch_one(&mut **tx)
        .await?;
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT_ROLE} ORDER BY r.is_system DESC, r.name LIMIT $1 OFFSET $2"
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut **tx)
    .await?;
    Ok((rows, total))
}

pub async fn find_role(tx: &mut TenantTx, id: Uuid) -> Result<Option<RoleView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT_ROLE} WHERE r.id = $1")))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await
}

pub async fn insert_role(
    tx: &mut TenantTx,
    tenant: Uuid,
    name: &str,
    description: &str,
    by: Uuid,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO roles (tenant_id, id, name, description, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(tenant)
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Replaces a role's permission set.
pub async fn set_permissions(
    tx: &mut TenantTx,
    tenant: Uuid,
    role: Uuid,
    perms: &[Permission],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM role_permissions WHERE tenant_id = $1 AND role_id = $2")
        .bind(tenant)
        .bind(role)
        .execute(&mut **tx)
        .await?;
    let names: Vec<&str> = perms.iter().map(|p| p.as_str()).collect();
    sqlx::query("INSERT INTO role_permissions (tenant_id, role_id, permission) SELECT $1, $2, unnest($3::text[])")
        .bind(tenant)
        .bind(role)
        .bind(&names)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

pub async fn update_role(
    tx: &mut TenantTx,
    role: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE roles SET name = COALESCE($2, name), description = COALESCE($3, description), updated_by = $4 \
         WHERE id = $1",
    )
    .bind(role)
    .bind(name)
    .bind(description)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Assignments of a role, expired ones included (they still block deletion
/// until swept).
pub async fn assignment_count(tx: &mut TenantTx, role: Uuid) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM user_roles WHERE role_id = $1")
        .bind(role)
        .fetch_one(&mut **tx)
        .await
}

pub async fn delete_role(tx: &mut TenantTx, role: Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM roles WHERE id = $1 AND NOT is_system")
        .bind(role)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
}

pub async fn user_exists(tx: &mut TenantTx, user: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)")
        .bind(user)
        .fetch_one(&mut **tx)
        .await
}

pub async fn find_assignment(tx: &mut TenantTx, user: Uuid, role: Uuid) -> Result<Option<AssignmentView>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ur.user_id, ur.role_id, r.name AS role_name, ur.expires_at, ur.granted_by, ur.created_at \
         FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
         WHERE ur.user_id = $1 AND ur.role_id = $2",
    )
    .bind(user)
    .bind(role)
    .fetch_optional(&mut **tx)
    .await
}

/// A role a user holds now, with the end of the grant if it expires.
#[derive(sqlx::FromRow)]
pub struct HeldRole {
    pub name: String,
    pub expires_at: Option<OffsetDateTime>,
}

/// The roles `user` holds now (unexpired grants), by name.
pub async fn held_roles(tx: &mut TenantTx, user: Uuid) -> Result<Vec<HeldRole>, sqlx::Error> {
    sqlx::query_as(
        "SELECT r.name, ur.expires_at FROM user_roles ur JOIN roles r ON r.tenant_id = ur.tenant_id AND r.id = ur.role_id \
         WHERE ur.user_id = $1 AND (ur.expires_at IS NULL OR ur.expires_at > now()) ORDER BY r.name",
    )
    .bind(user)
    .fetch_all(&mut **tx)
    .await
}

/// The permission catalogue, by name.
pub async fn list_permissions(tx: &mut TenantTx) -> Result<Vec<PermissionView>, sqlx::Error> {
    sqlx::query_as("SELECT name, description FROM permissions ORDER BY name")
        .fetch_all(&mut **tx)
        .await
}
