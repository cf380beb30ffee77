//! Tenant DTOs and validated values: the slug newtype, limits, and the views
//! the API answers with.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::{ApiError, error::Validator};

/// Defaults for a new tenant's limits (the same as the column defaults).
pub const DEFAULT_MAX_USERS: i32 = 100;
pub const DEFAULT_MAX_PROJECTS: i32 = 1000;
pub const DEFAULT_MAX_STORAGE_BYTES: i64 = 10 * 1024 * 1024 * 1024;

/// Slugs that would collide with routes, hostnames or the platform itself.
pub const RESERVED_SLUGS: &[&str] = &[
    "system",
    "admin",
    "administrator",
    "api",
    "www",
    "app",
    "auth",
    "root",
    "support",
    "help",
    "static",
    "assets",
    "docs",
    "status",
    "health",
    "metrics",
    "mail",
    "email",
    "billing",
    "login",
    "logout",
    "signup",
    "register",
    "dashboard",
    "public",
    "internal",
    "tenant",
    "tenants",
    "default",
    "null",
    "undefined",
    "superadmin",
    "platform",
    "oauth",
    "webhooks",
    "cdn",
    "security",
];

/// A tenant slug: 3–63 characters of `a-z0-9-`, starting and ending with a
/// letter or digit, and not reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        let valid_chars = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(3..=63).contains(&s.len()) {
            return Err("must be 3 to 63 characters".into());
        }
        if !valid_chars {
            return Err("may contain only lowercase letters, digits and hyphens".into());
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err("must start and end with a letter or digit".into());
        }
        if RESERVED_SLUGS.contains(&s) {
            return Err("is reserved".into());
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Per-tenant quotas; creation beyond them is refused by the features that create.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantLimits {
    pub max_users: i32,
    pub max_projects: i32,
    pub max_storage_bytes: i64,
}

impl Default for TenantLimits {
    fn default() -> Self {
        Self {
            max_users: DEFAULT_MAX_USERS,
            max_projects: DEFAULT_MAX_PROJECTS,
            max_storage_bytes: DEFAULT_MAX_STORAGE_BYTES,
        }
    }
}

/// Limits as sent by a client: any of them may be left out.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
pub struct LimitsInput {
    pub max_users: Option<i64>,
    pub max_projects: Option<i64>,
    pub max_storage_bytes: Option<i64>,
}

impl LimitsInput {
    /// Applies the given values over `base`, collecting range errors.
    pub fn apply(&self, base: TenantLimits, v: &mut Validator) -> TenantLimits {
        let int = |v: &mut Validator, field: &str, value: Option<i64>, current: i32| match value {
            None => current,
            Some(n) if (0..=i32::MAX as i64).contains(&n) => n as i32,
            Some(_) => {
                v.push(field, "must be between 0 and 2147483647");
                current
            }
        };
        let max_users = int(v, "limits.max_users", self.max_users, base.max_users);
        let max_projects = int(v, "limits.max_projects", self.max_projects, base.max_projects);
        let max_storage_bytes = match self.max_storage_bytes {
            None => base.max_storage_bytes,
            Some(n) if n >= 0 => n,
            Some(_) => {
                v.push("limits.max_storage_bytes", "must not be negative");
                base.max_storage_bytes
            }
        };
        TenantLimits {
            max_users,
            max_projects,
            max_storage_bytes,
        }
    }
}

/// `POST /tenants`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewTenant {
    pub name: String,
    pub slug: String,
    pub admin_email: String,
    #[serde(default)]
    pub admin_first_name: String,
    #[serde(default)]
    pub admin_last_name: String,
    /// When absent, the admin receives a welcome email with a set-password link.
    #[serde(default)]
    pub admin_password: Option<String>,
    #[serde(default)]
    pub settings: Option<Value>,
    #[serde(default)]
    pub limits: Option<LimitsInput>,
}

/// `PUT /tenants/{id}`: every field optional.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateTenant {
    pub name: Option<String>,
    /// Refused (409) once the tenant has users: sign-in URLs and OAuth redirect
    /// URIs embed the slug.
    pub slug: Option<String>,
    pub settings: Option<Value>,
    pub limits: Option<LimitsInput>,
    pub is_active: Option<bool>,
}

/// Largest accepted `settings` object, serialised.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;

pub fn check_name(v: &mut Validator, name: &str) {
    let n = name.trim().chars().count();
    v.check((1..=200).contains(&n), "name", "must be 1 to 200 characters");
}

pub fn check_settings(v: &mut Validator, settings: &Value) {
    if !settings.is_object() {
        v.push("settings", "must be a JSON object");
    } else if settings.to_string().len() > MAX_SETTINGS_BYTES {
        v.push("settings", format!("must be at most {MAX_SETTINGS_BYTES} bytes"));
    }
}

/// A tenant row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TenantRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub is_active: bool,
    pub is_system: bool,
    pub settings: Value,
    pub max_users: i32,
    pub max_projects: i32,
    pub max_storage_bytes: i64,
    pub storage_used_bytes: i64,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub user_count: i64,
}

/// A tenant as the API shows it (limits both flat and grouped).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub is_active: bool,
    pub is_system: bool,
    pub settings: Value,
    pub limits: TenantLimits,
    pub max_users: i32,
    pub max_projects: i32,
    pub max_storage_bytes: i64,
    pub storage_used_bytes: i64,
    pub user_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<TenantRow> for TenantView {
    fn from(r: TenantRow) -> Self {
        Self {
            id: r.id,
            slug: r.slug,
            name: r.name,
            is_active: r.is_active,
            is_system: r.is_system,
            settings: r.settings,
            limits: TenantLimits {
                max_users: r.max_users,
                max_projects: r.max_projects,
                max_storage_bytes: r.max_storage_bytes,
            },
            max_users: r.max_users,
            max_projects: r.max_projects,
            max_storage_bytes: r.max_storage_bytes,
            storage_used_bytes: r.storage_used_bytes,
            user_count: r.user_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The tenant's first administrator, as created with it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdminUserView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub roles: Vec<String>,
    /// False when the admin must first set a password from the welcome email.
    pub has_password: bool,
    pub set_password_email_sent: bool,
}

/// The answer of `POST /tenants`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedTenant {
    pub tenant: TenantView,
    pub admin_user: AdminUserView,
}

/// `GET /tenants` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantFilter {
    /// Matches name or slug (case-insensitive substring).
    pub search: Option<String>,
    #[serde(default, deserialize_with = "crate::pagination::query_bool")]
    pub is_active: Option<bool>,
    /// Comma-separated keys of `created_at, updated_at, name, slug`; `-` for descending.
    pub sort: Option<String>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: crate::pagination::PageParams,
}

/// Builds a whitelisted ORDER BY from `sort` (never user text in SQL).
pub fn order_by(sort: Option<&str>) -> Result<String, ApiError> {
    let Some(sort) = sort.filter(|s| !s.trim().is_empty()) else {
        return Ok("t.created_at DESC, t.id".into());
    };
    let mut parts = Vec::new();
    for key in sort.split(',').map(str::trim).filter(|k| !k.is_empty()) {
        let (desc, name) = match key.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, key.strip_prefix('+').unwrap_or(key)),
        };
        let column = match name {
            "created_at" => "t.created_at",
            "updated_at" => "t.updated_at",
            "name" => "lower(t.name)",
            "slug" => "t.slug",
            _ => {
                return Err(ApiError::invalid("sort", format!("cannot sort by `{name}`")));
            }
        };
        parts.push(format!("{column} {}", if desc { "DESC" } else { "ASC" }));
    }
    parts.push("t.id".into());
    Ok(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_rules() {
        assert!(Slug::parse("acme").is_ok());
        assert!(Slug::parse("a-1").is_ok());
        assert!(Slug::parse("ab").is_err());
        assert!(Slug::parse(&"a".repeat(64)).is_err());
        assert!(Slug::parse("Acme").is_err());
        assert!(Slug::parse("-acme").is_err());
        assert!(Slug::parse("acme_co").is_err());
        assert!(Slug::parse("system").is_err());
        assert!(Slug::parse("admin").is_err());
    }

    #[test]
    fn sort_is_whitelisted() {
        assert_eq!(
            order_by(Some("-created_at,name")).unwrap(),
            "t.created_at DESC, lower(t.name) ASC, t.id"
        );
        assert!(order_by(Some("password_hash")).is_err());
        assert!(order_by(None).is_ok());
    }
}
