//! Project CRUD: `/api/v1/projects` and `/api/v1/projects/{id}`.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use serde_json::json;
use uuid::Uuid;

use super::{
    etag::{IfMatch, VersionedUpdate, etag_headers},
    model::{NewProject, ProjectChanges, ProjectFilter, ProjectView},
    repo,
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::{Authz, AuthzRead},
    http::{
        ApiError, ApiResult,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::Page,
    rbac::perm,
};

/// Creates a project, holding the tenant's `max_projects` under concurrency:
/// the tenant row is locked before counting, so parallel creations queue.
#[utoipa::path(post, path = "", tag = "projects", security(("bearer" = ["projects:create"])),
    request_body = NewProject,
    responses((status = 201, body = ProjectView, headers(("ETag" = String))),
        (status = 403, description = "Missing projects:create"),
        (status = 409, description = "The tenant's project limit is reached"),
        (status = 422, description = "Invalid fields")))]
pub async fn create_project(
    Authz { ctx, mut tx, .. }: Authz<perm::ProjectsCreate>,
    ApiJson(input): ApiJson<NewProject>,
) -> ApiResult<(StatusCode, HeaderMap, ApiJson<ProjectView>)> {
    let name = input.validate()?;
    let limits = repo::lock_tenant_limits(&mut tx, ctx.tenant_id).await?;
    if limits.project_count >= limits.max_projects {
        return Err(ApiError::conflict(format!(
            "Project limit reached: this tenant may have at most {} projects",
            limits.max_projects
        )));
    }
    let id = Uuid::new_v4();
    let description = input.description.as_deref().unwrap_or("");
    let status = input.status.map_or("active", |s| s.as_str());
    repo::insert_project(&mut tx, ctx.tenant_id, id, &name, description, status, ctx.user_id).await?;
    let project = repo::get_project(&mut tx, id, false).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ProjectCreated, "project", id).new_values(&project),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, etag_headers(project.version), ApiJson(project)))
}

/// Lists the tenant's projects.
#[utoipa::path(get, path = "", tag = "projects", security(("bearer" = ["projects:read"])), params(ProjectFilter),
    responses((status = 200, body = Page<ProjectView>), (status = 422, description = "Invalid filter or sort")))]
pub async fn list_projects(
    AuthzRead { read, .. }: AuthzRead<perm::ProjectsRead>,
    ApiQuery(filter): ApiQuery<ProjectFilter>,
) -> ApiResult<ApiJson<Page<ProjectView>>> {
    if let Some(page) = repo::read_default_page(&read, &filter).await? {
        return Ok(ApiJson(page));
    }
    let mut tx = read.begin().await?;
    Ok(ApiJson(repo::list_projects(&mut tx, &filter).await?))
}

/// One project, with its version as `ETag`.
#[utoipa::path(get, path = "/{id}", tag = "projects", security(("bearer" = ["projects:read"])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = ProjectView, headers(("ETag" = String))), (status = 404, description = "No such project")))]
pub async fn get_project(
    AuthzRead { read, .. }: AuthzRead<perm::ProjectsRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(HeaderMap, ApiJson<ProjectView>)> {
    let project = repo::read_project(&read, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Project"))?;
    Ok((etag_headers(project.version), ApiJson(project)))
}

/// Partial update; a stale `If-Match` gets 412.
#[utoipa::path(put, path = "/{id}", tag = "projects", security(("bearer" = ["projects:update"])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "ETag from a previous read")),
    request_body = ProjectChanges,
    responses((status = 200, body = ProjectView, headers(("ETag" = String))), (status = 404, description = "No such project"),
        (status = 412, description = "If-Match does not match the current version")))]
pub async fn update_project(
    Authz { ctx, tx, .. }: Authz<perm::ProjectsUpdate>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(mut changes): ApiJson<ProjectChanges>,
) -> ApiResult<(HeaderMap, ApiJson<ProjectView>)> {
    changes.validate()?;
    let mut update = VersionedUpdate::<ProjectView>::begin(tx, id, &if_match).await?;
    repo::update_project(update.parts().0, id, &changes, ctx.user_id).await?;
    update
        .finish(&ctx, |old, new| {
            AuditEvent::new(AuditAction::ProjectUpdated, "project", id)
                .old(old)
                .new_values(new)
        })
        .await
}

/// Deletes a project together with its documents; their stored bytes are
/// released from the tenant's quota and removed from storage after commit.
#[utoipa::path(delete, path = "/{id}", tag = "projects", security(("bearer" = ["projects:delete"])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Deleted with its documents"), (status = 404, description = "No such project"),
        (status = 412, description = "If-Match does not match the current version")))]
pub async fn delete_project(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::ProjectsDelete>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    repo::lock_tenant_limits(&mut tx, ctx.tenant_id).await?;
    let old = repo::get_project(&mut tx, id, true).await?;
    if_match.check(old.version)?;
    let docs = repo::delete_project_documents(&mut tx, id).await?;
    let released: i64 = docs.iter().filter_map(|d| d.3).sum();
    // The reserved bytes are released by the `documents_release_storage` trigger.
    repo::delete_project(&mut tx, id).await?;
    for (doc_id, name, _, size) in &docs {
        audit::record(
            &mut tx,
            ctx.tenant_id,
            &ctx.actor(),
            AuditEvent::new(AuditAction::DocumentDeleted, "document", doc_id)
                .old(json!({"id": doc_id, "project_id": id, "name": name, "size_bytes": size}))
                .new_values(json!({"reason": "project deleted"})),
        )
        .await?;
    }
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::ProjectDeleted, "project", id)
            .old(&old)
            .new_values(json!({"documents_deleted": docs.len(), "bytes_released": released})),
    )
    .await?;
    tx.commit().await?;
    let keys: Vec<String> = docs.into_iter().filter_map(|d| d.2).collect();
    // After commit: a crash here leaves orphaned objects, never rows pointing at missing bytes.
    state.storage.delete_all_logged(&keys).await;
    Ok(StatusCode::NO_CONTENT)
}
