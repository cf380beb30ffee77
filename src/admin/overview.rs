//! Super-admin overview: dashboard, growth analytics, cross-tenant audit search
//! and chain verification, and the effective configuration limits.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::Date;
use uuid::Uuid;

use crate::{
    admin::repo as admin_repo,
    app::AppState,
    audit::{
        ChainVerification,
        handlers::{AuditFilter, AuditLogView},
        repo::search,
        verify_chain,
    },
    auth::SuperAdmin,
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiQuery},
    },
    pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page},
    tenants::{
        model::{DEFAULT_MAX_PROJECTS, DEFAULT_MAX_STORAGE_BYTES, DEFAULT_MAX_USERS},
        repo,
        stats::TenantCounts,
    },
};

// `YYYY-MM-DD`, not the `time` crate's default (year, ordinal) tuple.
time::serde::format_description!(iso_date, Date, "[year]-[month]-[day]");

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct EmailQueue {
    pub pending: i64,
    pub dead: i64,
    pub suppressed: i64,
    pub sent_24h: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub tenants: TenantCounts,
    pub users: crate::tenants::stats::UserCounts,
    pub active_sessions: i64,
    pub logins_24h: i64,
    pub failed_logins_24h: i64,
    pub locked_accounts: i64,
    pub active_impersonations: i64,
    pub projects: i64,
    pub documents: i64,
    pub email_queue: EmailQueue,
}

/// The platform at a glance.
#[utoipa::path(get, path = "/dashboard", tag = "admin", security(("bearer" = ["super_admin"])),
    responses((status = 200, body = Dashboard), (status = 403)))]
pub async fn dashboard(SuperAdmin { mut tx, .. }: SuperAdmin) -> ApiResult<ApiJson<Dashboard>> {
    let users = repo::user_counts(&mut tx, None).await?;
    let logins = repo::login_counts(&mut tx, None).await?;
    let email_queue = admin_repo::overview::email_queue(&mut tx).await?;
    let active_impersonations = admin_repo::overview::active_impersonation_count(&mut tx).await?;
    Ok(ApiJson(Dashboard {
        tenants: repo::tenant_counts(&mut tx).await?,
        locked_accounts: users.locked,
        users,
        active_sessions: repo::active_session_count(&mut tx, None).await?,
        logins_24h: logins.last_24h,
        failed_logins_24h: logins.failed_24h,
        active_impersonations,
        projects: repo::project_count(&mut tx, None).await?,
        documents: repo::document_total(&mut tx, None).await?,
        email_queue,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrowthQuery {
    /// 1 to 365; default 30.
    #[serde(default)]
    pub days: Option<i64>,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GrowthPoint {
    #[schema(value_type = String, format = Date)]
    #[serde(with = "iso_date")]
    pub date: Date,
    pub tenants: i64,
    pub users: i64,
    pub projects: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Growth {
    pub days: i64,
    /// One point per day, oldest first, today included.
    pub series: Vec<GrowthPoint>,
    pub totals: Value,
}

/// New tenants, users and projects per day.
#[utoipa::path(get, path = "/analytics/growth", tag = "admin", security(("bearer" = ["super_admin"])),
    params(GrowthQuery), responses((status = 200, body = Growth), (status = 422)))]
pub async fn growth(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(q): ApiQuery<GrowthQuery>,
) -> ApiResult<ApiJson<Growth>> {
    let days = q.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::invalid("days", "must be between 1 and 365"));
    }
    let series = admin_repo::overview::growth_series(&mut tx, days as i32).await?;
    let totals = json!({
        "tenants": series.iter().map(|p| p.tenants).sum::<i64>(),
        "users": series.iter().map(|p| p.users).sum::<i64>(),
        "projects": series.iter().map(|p| p.projects).sum::<i64>(),
    });
    Ok(ApiJson(Growth { days, series, totals }))
}

/// Audit rows of every tenant (filter with `tenant_id`), newest first.
#[utoipa::path(get, path = "/audit/logs", tag = "admin", security(("bearer" = ["super_admin"])),
    params(AuditFilter), responses((status = 200, body = Page<AuditLogView>)))]
pub async fn audit_logs(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(filter): ApiQuery<AuditFilter>,
) -> ApiResult<ApiJson<Page<AuditLogView>>> {
    Ok(ApiJson(search(&mut tx, &filter).await?))
}

/// Every tenant's rows (or one's, with `tenant_id`) as NDJSON or CSV, with
/// their chain fields, ordered by tenant and `seq`.
#[utoipa::path(get, path = "/audit/export", tag = "admin", security(("bearer" = ["super_admin"])),
    params(crate::audit::export::ExportFilter),
    responses((status = 200, description = "A stream of rows (application/x-ndjson or text/csv)"), (status = 403)))]
pub async fn audit_export(
    SuperAdmin { tx, .. }: SuperAdmin,
    ApiQuery(filter): ApiQuery<crate::audit::export::ExportFilter>,
) -> axum::response::Response {
    crate::audit::export::stream(tx, filter)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// One tenant's chain; every tenant's when absent.
    pub tenant_id: Option<Uuid>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// True when every checked chain is intact.
    pub valid: bool,
    pub tenant_id: Option<Uuid>,
    pub rows_checked: i64,
    pub first_broken_id: Option<Uuid>,
    pub first_broken_seq: Option<i64>,
    pub first_broken_tenant_id: Option<Uuid>,
    pub tenants: Vec<ChainVerification>,
}

/// Recomputes the hash chain of one tenant (or all) and reports the first broken row.
#[utoipa::path(get, path = "/audit/verify", tag = "admin", security(("bearer" = ["super_admin"])),
    params(VerifyQuery), responses((status = 200, body = VerifyReport), (status = 404)))]
pub async fn audit_verify(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> ApiResult<ApiJson<VerifyReport>> {
    let ids: Vec<Uuid> = match q.tenant_id {
        Some(id) => {
            repo::find(&mut tx, id)
                .await?
                .ok_or_else(|| ApiError::not_found("Tenant"))?;
            vec![id]
        }
        None => admin_repo::overview::tenant_ids(&mut tx).await?,
    };
    let mut tenants = Vec::with_capacity(ids.len());
    for id in ids {
        tenants.push(verify_chain(&mut tx, id).await?);
    }
    let broken = tenants.iter().find(|c| !c.valid);
    Ok(ApiJson(VerifyReport {
        valid: broken.is_none(),
        tenant_id: q.tenant_id,
        rows_checked: tenants.iter().map(|c| c.rows_checked).sum(),
        first_broken_id: broken.and_then(|c| c.first_broken_id),
        first_broken_seq: broken.and_then(|c| c.first_broken_seq),
        first_broken_tenant_id: broken.map(|c| c.tenant_id),
        tenants,
    }))
}

/// The limits and defaults in force (never a secret).
#[utoipa::path(get, path = "/config/limits", tag = "admin", security(("bearer" = ["super_admin"])),
    responses((status = 200, body = Object)))]
pub async fn config_limits(State(state): State<AppState>, _sa: SuperAdmin) -> ApiResult<ApiJson<Value>> {
    let c = &state.config;
    Ok(ApiJson(json!({
        "environment": format!("{:?}", c.environment).to_lowercase(),
        "tokens": {
            "algorithm": format!("{:?}", c.algorithm),
            "access_token_expire_minutes": c.access_token_expire_minutes,
            "refresh_token_expire_days": c.refresh_token_expire_days,
            "impersonation_max_minutes": 60,
        },
        "login": {
            "max_failed_logins": c.max_failed_logins,
            "lockout_minutes": c.lockout_minutes,
            "lockout_seconds": c.lockout_seconds,
            "rate_limit_login_per_minute": c.rate_limit_login_per_minute,
            "rate_limit_per_account_per_minute": c.rate_limit_per_account_per_minute,
            "password_min_length": 12,
            "password_max_length": 128,
        },
        "http": {
            "request_timeout_seconds": c.request_timeout.as_secs(),
            "max_body_bytes": c.max_body_bytes,
            "max_upload_bytes": c.max_upload_bytes,
            "default_page_size": DEFAULT_PAGE_SIZE,
            "max_page_size": MAX_PAGE_SIZE,
            "rate_limit_api_per_minute": c.rate_limit_api_per_minute,
            "rate_limit_tenant_per_minute": c.rate_limit_tenant_per_minute,
        },
        "tenant_defaults": {
            "max_users": DEFAULT_MAX_USERS,
            "max_projects": DEFAULT_MAX_PROJECTS,
            "max_storage_bytes": DEFAULT_MAX_STORAGE_BYTES,
        },
        "email": {
            "provider": format!("{:?}", c.email_provider).to_lowercase(),
            "max_attempts": c.email_max_attempts,
            "worker_enabled": c.email_worker_enabled,
        },
        "storage": { "backend": format!("{:?}", c.storage_backend).to_lowercase() },
        "maintenance": {
            "sent_email_retention_days": super::maintenance::SENT_EMAIL_RETENTION_DAYS,
            "login_attempts_retention_days": c.retention.login_attempts_days,
            "security_events_retention_days": c.retention.security_events_days,
            "dead_email_retention_days": c.retention.dead_email_days,
            "role_sweep_interval_seconds": crate::rbac::sweeper::SWEEP_INTERVAL.as_secs(),
        },
        "database": { "max_connections": c.database_max_connections },
        "redis_configured": c.redis_url.is_some(),
    })))
}
