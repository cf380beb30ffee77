//! The rows and queries of the super-admin views, shared by their handlers
//! (`maintenance`, `security`) and their SQL (`repo`), so the SQL does not
//! import the handlers.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::pagination::PageParams;

// Maintenance.
/// Sent emails are kept this long (for support and bounce correlation).
pub const SENT_EMAIL_RETENTION_DAYS: i64 = 30;

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LastRun {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    pub ran_by: Option<Uuid>,
    pub counts: Value,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TableSize {
    pub table: String,
    pub total_bytes: i64,
    pub estimated_rows: i64,
}

/// What one cleanup rule removed the last time it ran.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RuleStatus {
    pub rule: String,
    /// Rows removed by that run.
    pub removed: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    /// The configured retention period; absent for rules that prune at once.
    #[sqlx(skip)]
    pub retention_days: Option<u32>,
}

// Security.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StuffingSource {
    pub ip_address: String,
    pub failures: i64,
    pub distinct_emails: i64,
    pub distinct_tenants: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AccountUnderAttack {
    pub email: String,
    pub failures: i64,
    pub distinct_ips: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub last_attempt: OffsetDateTime,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Lockout {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub user_id: Uuid,
    pub email: String,
    pub failed_login_count: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    pub currently_locked: bool,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ImpersonationSession {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub user_email: String,
    pub impersonator_id: Option<Uuid>,
    pub impersonator_email: Option<String>,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub active: bool,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProblematicQuery {
    /// Only users with this reason: `locked`, `many_failures`, `never_signed_in`, `unverified`.
    pub reason: Option<String>,
    pub tenant_id: Option<Uuid>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ProblematicUser {
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub user_id: Uuid,
    pub email: String,
    pub is_active: bool,
    pub failed_login_count: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub locked_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_login_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub reasons: Vec<String>,
}
