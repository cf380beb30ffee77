//! `GET /api/v1/audit/logs` and `/export`: a tenant's own audit trail, for holders of `audit:read`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    app::AppState,
    auth::Authz,
    http::{
        ApiResult,
        extract::{ApiJson, ApiQuery},
    },
    pagination::{Page, PageParams},
    rbac::perm,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit_logs))
        .routes(routes!(export_audit_logs))
}

/// One audit row as clients see it (hash chain fields included for verification).
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditLogView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub actor_id: Option<Uuid>,
    pub impersonator_id: Option<Uuid>,
    pub action: String,
    pub resource_type: String,
    pub resource_id: Option<String>,
    pub old_values: Option<serde_json::Value>,
    pub new_values: Option<serde_json::Value>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub hash: String,
}

/// Filters shared by the tenant and the super-admin audit searches.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    pub tenant_id: Option<Uuid>,
    pub user_id: Option<Uuid>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    /// RFC 3339; a date-time without offset is UTC, a bare date is its midnight UTC.
    #[serde(default, deserialize_with = "crate::pagination::query_instant")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    #[serde(default, deserialize_with = "crate::pagination::query_instant")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

/// The caller's tenant's audit log, newest first.
#[utoipa::path(get, path = "/logs", tag = "audit", security(("bearer" = ["audit:read"])), params(AuditFilter),
    responses((status = 200, body = Page<AuditLogView>), (status = 403, description = "Missing audit:read")))]
pub async fn list_audit_logs(
    Authz { ctx, mut tx, .. }: Authz<perm::AuditRead>,
    ApiQuery(mut filter): ApiQuery<AuditFilter>,
) -> ApiResult<ApiJson<Page<AuditLogView>>> {
    filter.tenant_id = Some(ctx.tenant_id.get());
    Ok(ApiJson(super::repo::search(&mut tx, &filter).await?))
}

/// Every row of the caller's tenant matching the filters, oldest first, with
/// its chain fields: NDJSON (one object a line) or CSV (RFC 4180, header row;
/// NULL is an empty field, an empty string `""`). `old_values`/`new_values` are
/// PostgreSQL's `jsonb` text, which the chain hashes: `tenantry audit verify
/// --file` checks an unfiltered export offline.
#[utoipa::path(get, path = "/export", tag = "audit", security(("bearer" = ["audit:read"])),
    params(super::export::ExportFilter),
    responses((status = 200, description = "A stream of rows (application/x-ndjson or text/csv)"),
        (status = 403, description = "Missing audit:read")))]
pub async fn export_audit_logs(
    Authz { ctx, tx, .. }: Authz<perm::AuditRead>,
    ApiQuery(mut filter): ApiQuery<super::export::ExportFilter>,
) -> axum::response::Response {
    filter.tenant_id = Some(ctx.tenant_id.get());
    super::export::stream(tx, filter)
}
