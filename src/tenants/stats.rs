//! What the tenant statistics endpoints answer: counts of users, sign-ins,
//! documents and storage, per tenant and across tenants.

use serde::Serialize;
use uuid::Uuid;

/// Users of a tenant by state.
#[derive(Debug, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserCounts {
    pub total: i64,
    pub active: i64,
    pub inactive: i64,
    pub locked: i64,
    pub unverified: i64,
    pub never_signed_in: i64,
}

/// Sign-ins in the recent past.
#[derive(Debug, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LoginCounts {
    pub last_24h: i64,
    pub last_7d: i64,
    pub failed_24h: i64,
    pub failed_7d: i64,
}

#[derive(Debug, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DocumentCounts {
    pub total: i64,
    pub draft: i64,
    pub pending: i64,
    pub uploaded: i64,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct StorageUsage {
    pub used_bytes: i64,
    pub max_bytes: Option<i64>,
}

/// `GET /tenants/{id}/stats`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantStats {
    pub tenant_id: Uuid,
    pub users: UserCounts,
    pub projects: i64,
    pub documents: DocumentCounts,
    pub storage: StorageUsage,
    pub logins: LoginCounts,
    pub active_sessions: i64,
}

/// `GET /tenants/stats`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GlobalStats {
    pub tenants: TenantCounts,
    pub users: UserCounts,
    pub projects: i64,
    pub documents: DocumentCounts,
    pub storage: StorageUsage,
    pub logins: LoginCounts,
    pub active_sessions: i64,
}

#[derive(Debug, Default, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TenantCounts {
    pub total: i64,
    pub active: i64,
    pub inactive: i64,
}
