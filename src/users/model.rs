//! User-management DTOs.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::pagination::PageParams;

/// A user as every user endpoint shows it (no secrets): `/users`, `/users/me`,
/// `/auth/create-user`, bulk create. Token responses and `/auth/status` carry
/// the shorter [`crate::auth::session::UserSummary`], a subset of these fields.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_super_admin: bool,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    pub mfa_enabled: bool,
    pub is_locked: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    /// Names of unexpired role assignments, sorted.
    pub roles: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// Case-insensitive match on first name, last name, full name or email.
    pub search: Option<String>,
    #[serde(default, deserialize_with = "crate::pagination::query_bool")]
    pub is_active: Option<bool>,
    /// Role name: users holding it (unexpired).
    pub role: Option<String>,
    /// `created_at`, `email`, `first_name`, `last_name` or `last_login_at`; `-` for descending.
    pub sort: Option<String>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

/// `PUT /users/me`. Unknown fields are refused (422), unlike elsewhere: a field
/// the caller may not change here (email, roles, `is_active`) must not look accepted.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MyChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// `PUT /users/{id}`. Unknown fields are refused (422): email and roles change
/// through their own endpoints, and an ignored `roles` must not look applied.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChanges {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub is_active: Option<bool>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionView {
    pub id: Uuid,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub auth_method: String,
    pub impersonator_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
    pub active: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionFilter {
    /// Also list revoked and expired sessions.
    #[serde(default, deserialize_with = "crate::pagination::query_flag")]
    pub include_inactive: bool,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InviteRequest {
    pub email: String,
    /// Roles granted on acceptance; `["user"]` when absent or empty.
    #[serde(default)]
    pub role_names: Option<Vec<String>>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InvitationView {
    pub id: Uuid,
    pub email: String,
    pub role_names: Vec<String>,
    pub invited_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// One row of a bulk creation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct BulkUser {
    pub email: String,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    /// Without a password the welcome email carries a set-password link.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub role_names: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkCreateRequest {
    /// At most 500 rows.
    pub users: Vec<serde_json::Value>,
    /// Queue welcome emails for the created users (default true).
    #[serde(default)]
    pub send_welcome_email: Option<bool>,
}

/// Why one row failed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RowError {
    pub index: usize,
    pub email: Option<String>,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<crate::http::error::FieldError>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedRow {
    pub index: usize,
    pub user: UserView,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkCreateResult {
    pub created: Vec<CreatedRow>,
    pub errors: Vec<RowError>,
    pub total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BulkActionKind {
    Activate,
    Deactivate,
    TerminateSessions,
    Unlock,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkActionRequest {
    /// At most 500 ids.
    pub user_ids: Vec<Uuid>,
    pub action: BulkActionKind,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkActionRow {
    pub user_id: Uuid,
    pub success: bool,
    pub status: u16,
    pub detail: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkActionResult {
    pub action: BulkActionKind,
    pub results: Vec<BulkActionRow>,
    pub succeeded: usize,
    pub failed: usize,
}
