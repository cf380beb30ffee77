//! Role and assignment DTOs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::Permission;
use crate::http::{ApiError, error::Validator};

/// One catalogue entry.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PermissionView {
    pub name: String,
    pub description: String,
}

/// A role with its permissions and how many users hold it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RoleView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub is_system: bool,
    pub permissions: Vec<String>,
    pub user_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// `POST /roles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewRole {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// `PUT /roles/{id}`: any subset. System roles accept only `description`
/// (and a `name`/`permissions` equal to the current ones).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateRole {
    pub name: Option<String>,
    pub description: Option<String>,
    pub permissions: Option<Vec<String>>,
}

/// `POST /users/{id}/roles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AssignRole {
    pub role_id: Uuid,
    /// The assignment stops granting at this instant (must be in the future).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// A user's role assignment.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AssignmentView {
    pub user_id: Uuid,
    pub role_id: Uuid,
    pub role_name: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub granted_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Same rule as the `roles.name` CHECK constraint.
pub fn check_role_name(v: &mut Validator, name: &str) {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ' ' | '.' | '-'));
    v.check(
        first_ok && rest_ok && name.len() <= 63,
        "name",
        "must be 1 to 63 characters of letters, digits, `_`, `-`, `.` or space, starting with a letter, digit or `_`",
    );
}

pub fn check_description(v: &mut Validator, d: &str) {
    v.check(
        d.chars().count() <= 500,
        "description",
        "must be at most 500 characters",
    );
}

/// Parses catalogue names; every unknown one is a 422 naming its index.
pub fn parse_permissions(names: &[String]) -> Result<Vec<Permission>, ApiError> {
    let mut v = Validator::new();
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        match Permission::parse(n.trim()) {
            Some(p) => out.push(p),
            None => {
                v.push(
                    &format!("permissions[{i}]"),
                    format!("`{n}` is not a permission of the catalogue"),
                );
            }
        }
    }
    v.finish()?;
    out.sort();
    out.dedup();
    Ok(out)
}
