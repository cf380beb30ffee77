//! The two comparisons of permission sets behind the hardening rules of API.md:
//!
//! - **Nobody grants what they do not hold** ([`ensure_can_grant`]): every path
//!   that gives permissions — roles at user creation, bulk creation, invitation
//!   (checked when the invitation is made; acceptance only carries out that
//!   decision), `POST /users/{id}/roles`, creating or editing a role, and the
//!   coming SCIM group roles and API-key permissions — passes the caller's
//!   permissions and what it gives to this one function.
//! - **Nobody manages someone above them** ([`ensure_can_manage`]): deactivating,
//!   changing, unlocking, ending the sessions of, or removing a role from a user
//!   who holds a permission the caller lacks is refused.
//!
//! Both answer 403 naming the missing permissions. A super admin impersonating
//! a user holds exactly that user's permissions, so the same rules apply.

use sqlx::PgConnection;

use crate::db::TenantTx;
use uuid::Uuid;

use super::Permission;
use crate::http::{ApiError, error::Validator};

/// The role a new user gets when the caller names none.
pub const DEFAULT_ROLE: &str = "user";

/// A role of the tenant about to be given to someone, with its permissions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GrantedRole {
    pub id: Uuid,
    pub name: String,
    #[sqlx(try_from = "Vec<String>")]
    pub permissions: Permissions,
}

/// Catalogue permissions parsed from their stored names (unknown names
/// dropped), sorted and unique: what `AuthCtx::has` searches.
#[derive(Debug, Clone, Default)]
pub struct Permissions(pub Vec<Permission>);

impl From<Vec<String>> for Permissions {
    fn from(names: Vec<String>) -> Self {
        let mut parsed: Vec<Permission> = names.iter().filter_map(|n| Permission::parse(n)).collect();
        parsed.sort();
        parsed.dedup();
        Permissions(parsed)
    }
}

/// Resolves role names of the transaction's tenant with their permissions.
/// Names are trimmed, blanks dropped and duplicates merged; none at all means
/// [`DEFAULT_ROLE`] (which is a grant like any other). Unknown names → 422 on `field`.
/// A bare connection: tenant handlers and the super admin's identity-provider
/// configuration (a platform transaction) share it.
pub async fn resolve_roles(
    conn: &mut PgConnection,
    field: &str,
    names: &[String],
) -> Result<Vec<GrantedRole>, ApiError> {
    let mut names: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        names.push(DEFAULT_ROLE.to_string());
    }
    names.sort();
    names.dedup();
    let roles: Vec<GrantedRole> = sqlx::query_as(
        "SELECT r.id, r.name, ARRAY(SELECT rp.permission FROM role_permissions rp \
            WHERE rp.tenant_id = r.tenant_id AND rp.role_id = r.id) AS permissions \
         FROM roles r WHERE r.name = ANY($1) ORDER BY r.name",
    )
    .bind(&names)
    .fetch_all(conn)
    .await?;
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !roles.iter().any(|r| &r.name == *n))
        .map(String::as_str)
        .collect();
    let mut v = Validator::new();
    v.check(
        unknown.is_empty(),
        field,
        format!("unknown role(s): {}", unknown.join(", ")),
    );
    v.finish()?;
    Ok(roles)
}

/// Every permission of `roles`, for [`ensure_can_grant`].
pub fn permissions_of(roles: &[GrantedRole]) -> impl Iterator<Item = Permission> + '_ {
    roles.iter().flat_map(|r| r.permissions.0.iter().copied())
}

/// The permissions of `wanted` missing from `held`, sorted and unique.
fn missing(held: &[Permission], wanted: impl IntoIterator<Item = Permission>) -> Vec<Permission> {
    let mut out: Vec<Permission> = wanted.into_iter().filter(|p| !held.contains(p)).collect();
    out.sort();
    out.dedup();
    out
}

fn names(perms: &[Permission]) -> String {
    perms.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// The one "nobody grants what they do not hold" check: 403 unless the caller
/// (whose permissions are `held`) holds every permission in `granted` — the
/// union of the roles given ([`permissions_of`]), a role's new permissions, or
/// an API key's permission list.
pub fn ensure_can_grant(held: &[Permission], granted: impl IntoIterator<Item = Permission>) -> Result<(), ApiError> {
    let missing = missing(held, granted);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "You cannot grant permissions you do not hold: {}",
            names(&missing)
        )))
    }
}

/// The unexpired permissions of a user of the transaction's tenant (direct
/// roles and their groups' roles) (none for an
/// unknown id: the caller's own 404 comes from loading the user).
pub async fn user_permissions(tx: &mut TenantTx, user: Uuid) -> Result<Vec<Permission>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT rp.permission FROM role_permissions rp WHERE rp.role_id IN ( \
           SELECT ur.role_id FROM user_roles ur \
           WHERE ur.user_id = $1 AND (ur.expires_at IS NULL OR ur.expires_at > now()) \
           UNION ALL \
           SELECT gr.role_id FROM group_members gm \
           JOIN group_roles gr ON gr.tenant_id = gm.tenant_id AND gr.group_id = gm.group_id \
           WHERE gm.user_id = $1)",
    )
    .bind(user)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Permissions::from(names).0)
}

/// The one "not above yourself" check: 403 when `target` holds a permission
/// the caller (whose permissions are `held`) lacks. Used before deactivating,
/// changing, unlocking or ending the sessions of a user, and before removing
/// one of their roles.
pub async fn ensure_can_manage(tx: &mut TenantTx, held: &[Permission], target: Uuid) -> Result<(), ApiError> {
    let missing = missing(held, user_permissions(tx, target).await?);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "You cannot manage a user who holds permissions you do not: {}",
            names(&missing)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Permission::*;

    #[test]
    fn granting_needs_every_permission() {
        let held = [UsersCreate, ProjectsRead];
        assert!(ensure_can_grant(&held, [ProjectsRead]).is_ok());
        assert!(ensure_can_grant(&held, []).is_ok());
        let err = ensure_can_grant(&held, [ProjectsRead, TenantManage, AuditRead, TenantManage]).unwrap_err();
        assert_eq!(err.status().as_u16(), 403);
        assert_eq!(
            err.to_string(),
            "You cannot grant permissions you do not hold: tenant:manage, audit:read"
        );
    }
}
