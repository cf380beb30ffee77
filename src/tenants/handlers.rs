//! `/api/v1/tenants` handlers (super admin only).

use axum::{extract::State, http::StatusCode};
use uuid::Uuid;

use super::{
    model::{CreatedTenant, NewTenant, TenantFilter, TenantView, UpdateTenant, order_by},
    repo, service,
    stats::{GlobalStats, TenantStats},
};
use crate::{
    app::AppState,
    auth::SuperAdmin,
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::Page,
};

/// Creates a tenant, its four system roles and its first administrator.
#[utoipa::path(post, path = "", tag = "tenants", security(("bearer" = ["super_admin"])),
    request_body = NewTenant,
    responses((status = 201, body = CreatedTenant), (status = 409, description = "Slug taken"),
        (status = 422, description = "Invalid input"), (status = 403, description = "Super admin only")))]
pub async fn create_tenant(
    State(state): State<AppState>,
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiJson(input): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, ApiJson<CreatedTenant>)> {
    let created = service::create_tenant(&mut tx, &ctx.actor(), &state.passwords, input).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(created)))
}

/// Lists tenants; `search` matches name or slug, `sort` e.g. `-created_at,name`.
#[utoipa::path(get, path = "", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(TenantFilter), responses((status = 200, body = Page<TenantView>)))]
pub async fn list_tenants(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiQuery(filter): ApiQuery<TenantFilter>,
) -> ApiResult<ApiJson<Page<TenantView>>> {
    let order = order_by(filter.sort.as_deref())?;
    let (rows, total) = repo::list(&mut tx, &filter, &order).await?;
    Ok(ApiJson(
        filter.page.wrap(rows.into_iter().map(Into::into).collect(), total),
    ))
}

#[utoipa::path(get, path = "/{id}", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = TenantView), (status = 404)))]
pub async fn get_tenant(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<TenantView>> {
    let row = repo::find(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    Ok(ApiJson(row.into()))
}

/// Updates name, settings, limits or status. The slug can change only while the
/// tenant has no users (409 afterwards); the system tenant's slug and status never.
#[utoipa::path(put, path = "/{id}", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), request_body = UpdateTenant,
    responses((status = 200, body = TenantView), (status = 404), (status = 409), (status = 422)))]
pub async fn update_tenant(
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<UpdateTenant>,
) -> ApiResult<ApiJson<TenantView>> {
    let view = service::update_tenant(&mut tx, &ctx.actor(), id, input).await?;
    tx.commit().await?;
    Ok(ApiJson(view))
}

/// Deletes the tenant with all its data and stored files (not the system tenant).
#[utoipa::path(delete, path = "/{id}", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404), (status = 409)))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    service::delete_tenant(&mut tx, &ctx.actor(), id).await?;
    tx.commit().await?;
    // Rows are gone; files follow. A storage failure leaves orphans behind (logged),
    // never a half-deleted tenant.
    if let Err(e) = crate::storage::delete_tenant_objects(&state.storage, id).await {
        tracing::error!(tenant_id = %id, error = ?format!("{e:#}"), "deleting the tenant's stored files failed");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/{id}/activate", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = TenantView), (status = 404)))]
pub async fn activate_tenant(
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<TenantView>> {
    let view = service::set_active(&mut tx, &ctx.actor(), id, true).await?;
    tx.commit().await?;
    Ok(ApiJson(view))
}

/// Deactivates the tenant: every session is revoked and sign-ins are refused.
#[utoipa::path(post, path = "/{id}/deactivate", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = TenantView), (status = 404), (status = 409)))]
pub async fn deactivate_tenant(
    SuperAdmin { ctx, mut tx }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<TenantView>> {
    let view = service::set_active(&mut tx, &ctx.actor(), id, false).await?;
    tx.commit().await?;
    Ok(ApiJson(view))
}

/// Platform-wide counts.
#[utoipa::path(get, path = "/stats", tag = "tenants", security(("bearer" = ["super_admin"])),
    responses((status = 200, body = GlobalStats)))]
pub async fn global_stats(SuperAdmin { mut tx, .. }: SuperAdmin) -> ApiResult<ApiJson<GlobalStats>> {
    Ok(ApiJson(GlobalStats {
        tenants: repo::tenant_counts(&mut tx).await?,
        users: repo::user_counts(&mut tx, None).await?,
        projects: repo::project_count(&mut tx, None).await?,
        documents: repo::document_counts(&mut tx, None).await?,
        storage: repo::storage(&mut tx, None).await?,
        logins: repo::login_counts(&mut tx, None).await?,
        active_sessions: repo::active_session_count(&mut tx, None).await?,
    }))
}

/// One tenant's users by state, projects, documents, storage and recent sign-ins.
#[utoipa::path(get, path = "/{id}/stats", tag = "tenants", security(("bearer" = ["super_admin"])),
    params(("id" = Uuid, Path)), responses((status = 200, body = TenantStats), (status = 404)))]
pub async fn tenant_stats(
    SuperAdmin { mut tx, .. }: SuperAdmin,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<ApiJson<TenantStats>> {
    repo::find(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tenant"))?;
    Ok(ApiJson(repo::tenant_stats(&mut tx, id).await?))
}
