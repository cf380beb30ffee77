//! Document metadata CRUD: `/projects/{id}/documents` and `/projects/documents/...`.
//! Bytes are handled in `uploads`.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use uuid::Uuid;

use super::{
    etag::{IfMatch, VersionedUpdate, etag_headers},
    model::{
        DocumentChanges, DocumentFilter, DocumentView, NewDocument, check_description, check_name, valid_content_type,
    },
    repo,
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    http::{
        ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery},
    },
    pagination::Page,
    rbac::perm,
};

/// Creates a document's metadata in a project (status `draft`, no bytes).
#[utoipa::path(post, path = "/{id}/documents", tag = "documents", security(("bearer" = ["documents:create"])),
    params(("id" = Uuid, Path, description = "Project id")), request_body = NewDocument,
    responses((status = 201, body = DocumentView, headers(("ETag" = String))), (status = 404, description = "No such project"),
        (status = 422, description = "Invalid fields")))]
pub async fn create_document(
    Authz { ctx, mut tx, .. }: Authz<perm::DocumentsCreate>,
    ApiPath(project_id): ApiPath<Uuid>,
    ApiJson(input): ApiJson<NewDocument>,
) -> ApiResult<(StatusCode, HeaderMap, ApiJson<DocumentView>)> {
    let mut v = Validator::new();
    let name = check_name(&mut v, "name", &input.name, 255);
    if let Some(d) = &input.description {
        check_description(&mut v, d);
    }
    if let Some(ct) = &input.content_type {
        v.check(valid_content_type(ct), "content_type", "must look like type/subtype");
    }
    v.finish()?;
    repo::get_project(&mut tx, project_id, false).await?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO documents (tenant_id, id, project_id, name, description, content_type, status, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7)",
    )
    .bind(ctx.tenant_id.get())
    .bind(id)
    .bind(project_id)
    .bind(&name)
    .bind(input.description.as_deref().unwrap_or(""))
    .bind(input.content_type.as_deref().unwrap_or("application/octet-stream"))
    .bind(ctx.user_id)
    .execute(&mut *tx)
    .await?;
    let doc = repo::get_document(&mut tx, id, false).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::DocumentCreated, "document", id).new_values(&doc),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, etag_headers(doc.version), ApiJson(doc)))
}

/// Lists documents, optionally of one project.
#[utoipa::path(get, path = "/documents", tag = "documents", security(("bearer" = ["documents:read"])),
    params(DocumentFilter), responses((status = 200, body = Page<DocumentView>)))]
pub async fn list_documents(
    Authz { mut tx, .. }: Authz<perm::DocumentsRead>,
    ApiQuery(filter): ApiQuery<DocumentFilter>,
) -> ApiResult<ApiJson<Page<DocumentView>>> {
    Ok(ApiJson(repo::list_documents(&mut tx, &filter).await?))
}

/// One document's metadata.
#[utoipa::path(get, path = "/documents/{id}", tag = "documents", security(("bearer" = ["documents:read"])),
    params(("id" = Uuid, Path)),
    responses((status = 200, body = DocumentView, headers(("ETag" = String))), (status = 404, description = "No such document")))]
pub async fn get_document(
    Authz { mut tx, .. }: Authz<perm::DocumentsRead>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(HeaderMap, ApiJson<DocumentView>)> {
    let doc = repo::get_document(&mut tx, id, false).await?;
    Ok((etag_headers(doc.version), ApiJson(doc)))
}

/// Partial update of a document's metadata; a stale `If-Match` gets 412.
#[utoipa::path(put, path = "/documents/{id}", tag = "documents", security(("bearer" = ["documents:update"])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)), request_body = DocumentChanges,
    responses((status = 200, body = DocumentView, headers(("ETag" = String))), (status = 404, description = "No such document"),
        (status = 412, description = "If-Match does not match the current version")))]
pub async fn update_document(
    Authz { ctx, tx, .. }: Authz<perm::DocumentsUpdate>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
    ApiJson(mut changes): ApiJson<DocumentChanges>,
) -> ApiResult<(HeaderMap, ApiJson<DocumentView>)> {
    changes.validate()?;
    let mut update = VersionedUpdate::<DocumentView>::begin(tx, id, &if_match).await?;
    repo::update_document(update.parts().0, id, &changes, ctx.user_id).await?;
    update
        .finish(&ctx, |old, new| {
            AuditEvent::new(AuditAction::DocumentUpdated, "document", id)
                .old(old)
                .new_values(new)
        })
        .await
}

/// Deletes a document; its bytes leave the quota now and storage after commit.
#[utoipa::path(delete, path = "/documents/{id}", tag = "documents", security(("bearer" = ["documents:delete"])),
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such document"),
        (status = 412, description = "If-Match does not match the current version")))]
pub async fn delete_document(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::DocumentsDelete>,
    ApiPath(id): ApiPath<Uuid>,
    if_match: IfMatch,
) -> ApiResult<StatusCode> {
    repo::lock_tenant_limits(&mut tx, ctx.tenant_id).await?;
    let old = repo::get_document(&mut tx, id, true).await?;
    if_match.check(old.version)?;
    let stored: repo::StoredRef =
        sqlx::query_as("DELETE FROM documents WHERE id = $1 RETURNING storage_key, size_bytes")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::DocumentDeleted, "document", id).old(&old),
    )
    .await?;
    tx.commit().await?;
    if let Some(key) = stored.storage_key {
        state.storage.delete_all_logged(&[key]).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
