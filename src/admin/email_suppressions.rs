//! `/api/v1/admin/email/suppressions`: super admins list and remove entries of
//! the email suppression list (removals are audited in the system tenant). The
//! list itself, and how SES notifications fill it, is `email::suppression_list`.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    admin::repo as admin_repo,
    audit::{self, AuditAction, AuditEvent},
    auth::SuperAdmin,
    db::TenantId,
    email::suppression_list::SuppressionReason,
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::{Page, PageParams},
};

/// One suppressed address.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SuppressionView {
    pub email: String,
    pub reason: String,
    pub details: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Filters of the suppression list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuppressionFilter {
    /// Substring of the address.
    pub search: Option<String>,
    pub reason: Option<SuppressionReason>,
    #[serde(flatten)]
    #[param(inline)]
    pub page: PageParams,
}

/// Suppressed addresses, newest first.
#[utoipa::path(get, path = "/email/suppressions", tag = "admin", security(("bearer" = ["super_admin"])), params(SuppressionFilter),
    responses((status = 200, body = Page<SuppressionView>), (status = 403, description = "Super admin only")))]
pub async fn list_suppressions(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(filter): ApiQuery<SuppressionFilter>,
) -> ApiResult<ApiJson<Page<SuppressionView>>> {
    let (items, total) = admin_repo::suppressions::list(&mut tx, &filter).await?;
    Ok(ApiJson(filter.page.wrap(items, total)))
}

/// Removes an address from the suppression list, so mail to it is sent again.
#[utoipa::path(delete, path = "/email/suppressions/{email}", tag = "admin", security(("bearer" = ["super_admin"])),
    params(("email" = String, Path, description = "The suppressed address")),
    responses((status = 204, description = "Removed"), (status = 404, description = "Not suppressed"),
        (status = 403, description = "Super admin only")))]
pub async fn delete_suppression(
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath(email): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let removed = admin_repo::suppressions::delete(&mut tx, &email).await?;
    let removed = removed.ok_or_else(|| ApiError::not_found("Suppression"))?;
    let event = AuditEvent::new(
        AuditAction::EmailSuppressionDeleted,
        "email_suppression",
        &removed.email,
    )
    .old(json!({"email": removed.email, "reason": removed.reason, "details": removed.details}));
    audit::record(&mut tx, TenantId::SYSTEM, &ctx.actor(), event).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
