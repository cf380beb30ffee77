//! Document bytes in: initiate an upload (signed URL), receive it (local disk),
//! complete it (size and checksum check), and sweep uploads that were never
//! completed. Downloads are in `download.rs`.
//!
//! Quota: the declared size is reserved against `max_storage_bytes` when the
//! upload is initiated (tenant row locked, so parallel uploads cannot overshoot),
//! and released when the document row is deleted (by the `documents_release_storage`
//! trigger, so every deletion path releases it) or its upload expires. The stored
//! object must match the declared size exactly, so the reservation is the usage.

use std::time::Duration;

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, StatusCode, header},
};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    etag::{IfMatch, VersionedUpdate},
    model::{
        DocumentView, UploadComplete, UploadReceipt, UploadRequest, UploadTicket, check_description, check_name,
        valid_content_type,
    },
    repo,
};
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::Authz,
    config::StorageBackend,
    db::{PlatformAccess, TenantId, TenantTx},
    http::{
        ApiError, ApiResult,
        error::Validator,
        extract::{ApiJson, ApiPath, ApiQuery, parse_json},
    },
    rbac::perm,
    storage::{
        Storage, WriteError,
        signed::{SignatureError, UploadGrant},
    },
};

/// How long an upload URL stays valid.
pub const UPLOAD_TTL: Duration = Duration::from_secs(15 * 60);

/// Creates a `pending` document, reserves its declared size and returns where to
/// PUT the bytes: a presigned S3 URL, or tenantry's own signed URL on local disk.
#[utoipa::path(post, path = "/documents/upload", tag = "documents", security(("bearer" = ["documents:create"])),
    request_body = UploadRequest,
    responses((status = 201, body = UploadTicket), (status = 404, description = "No such project"),
        (status = 409, description = "The tenant's storage limit would be exceeded"),
        (status = 422, description = "Invalid fields")))]
pub async fn initiate_upload(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::DocumentsCreate>,
    ApiJson(input): ApiJson<UploadRequest>,
) -> ApiResult<(StatusCode, ApiJson<UploadTicket>)> {
    let max = state.config.max_upload_bytes;
    let mut v = Validator::new();
    let name = check_name(&mut v, "name", &input.name, 255);
    v.check(
        valid_content_type(&input.content_type),
        "content_type",
        "must look like type/subtype",
    );
    v.check(
        input.size_bytes >= 1 && (input.size_bytes as u64) <= max,
        "size_bytes",
        format!("must be between 1 and {max}"),
    );
    if let Some(d) = &input.description {
        check_description(&mut v, d);
    }
    v.finish()?;

    let limits = repo::lock_tenant_limits(&mut tx, ctx.tenant_id).await?;
    repo::get_project(&mut tx, input.project_id, false).await?;
    if limits.storage_used_bytes.saturating_add(input.size_bytes) > limits.max_storage_bytes {
        return Err(ApiError::conflict(format!(
            "Storage limit reached: {} of {} bytes used; this upload needs {} more",
            limits.storage_used_bytes, limits.max_storage_bytes, input.size_bytes
        )));
    }
    let id = Uuid::new_v4();
    let key = Storage::document_key(ctx.tenant_id.get(), id);
    let expires_at = OffsetDateTime::now_utc() + UPLOAD_TTL;
    let pending = repo::uploads::PendingDocument {
        document: repo::NewDocument {
            id,
            project_id: input.project_id,
            name: &name,
            description: input.description.as_deref().unwrap_or(""),
            content_type: &input.content_type,
            by: ctx.user_id,
        },
        size_bytes: input.size_bytes,
        storage_key: &key,
        expires_at,
    };
    repo::uploads::insert_pending(&mut tx, ctx.tenant_id, &pending).await?;
    repo::add_storage_used(&mut tx, ctx.tenant_id, input.size_bytes).await?;
    let document = repo::get_document(&mut tx, id, false).await?;
    audit::record(
        &mut tx,
        ctx.tenant_id,
        &ctx.actor(),
        AuditEvent::new(AuditAction::DocumentUploadStarted, "document", id).new_values(&document),
    )
    .await?;

    let upload_url = match state.storage.backend() {
        StorageBackend::S3 => state
            .storage
            .presign(object_store::signer::Method::PUT, &key, UPLOAD_TTL)
            .await
            .map_err(anyhow::Error::from)?
            .map(String::from)
            .ok_or_else(|| anyhow::anyhow!("S3 storage without a signer"))?,
        StorageBackend::Local => {
            let grant = UploadGrant {
                tenant: ctx.tenant_id.get(),
                document: id,
                size: input.size_bytes as u64,
                expires: expires_at.unix_timestamp(),
            };
            local_upload_url(&state, &grant)
        }
    };
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(UploadTicket {
            document,
            upload_url,
            upload_method: "PUT",
            expires_at,
        }),
    ))
}

/// The URL of tenantry's own upload endpoint for `grant`.
pub fn local_upload_url(state: &AppState, grant: &UploadGrant) -> String {
    let sig = state.storage.url_signer().sign(grant);
    format!(
        "{}/api/v1/projects/documents/{}/content?tenant={}&size={}&expires={}&sig={}",
        state.config.base_url, grant.document, grant.tenant, grant.size, grant.expires, sig
    )
}

/// The signed query of an upload URL.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    pub tenant: Uuid,
    pub size: u64,
    /// Unix seconds.
    pub expires: i64,
    pub sig: String,
}

/// Receives the bytes of a pending upload (local disk). Authorised by the URL's
/// signature, not a bearer token. The body is streamed to storage and must be
/// exactly the declared size; on any failure nothing is kept.
#[utoipa::path(put, path = "/documents/{id}/content", tag = "documents", security(()),
    params(("id" = Uuid, Path), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = UploadReceipt), (status = 403, description = "Tampered or expired URL"),
        (status = 409, description = "The document is not awaiting an upload"),
        (status = 413, description = "More bytes than declared"), (status = 422, description = "Fewer bytes than declared"),
        (status = 507, description = "The server's storage is full; nothing was kept")))]
pub async fn receive_upload(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<ApiJson<UploadReceipt>> {
    let grant = UploadGrant {
        tenant: q.tenant,
        document: id,
        size: q.size,
        expires: q.expires,
    };
    state
        .storage
        .url_signer()
        .verify(&grant, &q.sig, OffsetDateTime::now_utc().unix_timestamp())
        .map_err(|e| match e {
            SignatureError::Expired => ApiError::forbidden("The upload URL has expired"),
            SignatureError::BadSignature => ApiError::forbidden("The upload URL signature is invalid"),
        })?;
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > grant.size) {
        return Err(too_large(grant.size));
    }
    let key = {
        let mut tx = state.db.tenant_tx(TenantId::from_trusted(grant.tenant)).await?;
        let row = repo::uploads::upload_target(&mut tx, id, grant.size as i64).await?;
        match row.ok_or_else(|| ApiError::not_found("Document"))? {
            repo::uploads::UploadTarget {
                storage_key: Some(key),
                awaiting: Some(true),
            } => key,
            _ => return Err(ApiError::conflict("This document is not awaiting an upload")),
        }
    };
    let stored = state
        .storage
        .write_exact(&key, grant.size, body.into_data_stream())
        .await
        .map_err(|e| match e {
            WriteError::TooLarge { declared } => too_large(declared),
            WriteError::TooSmall { .. } => ApiError::invalid("body", e.to_string()),
            WriteError::Body(msg) => ApiError::BadRequest(msg),
            // Disk full: 507, and the partial object was discarded.
            WriteError::Store(err) if crate::storage::is_disk_full(&err) => {
                tracing::error!(error = %err, "storage is full; upload refused");
                ApiError::InsufficientStorage("Storage is full; the upload was not kept".into())
            }
            WriteError::Store(err) => ApiError::Internal(err.into()),
        })?;
    Ok(ApiJson(UploadReceipt {
        document_id: id,
        size_bytes: stored.size,
        sha256: stored.sha256,
    }))
}

fn too_large(declared: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!("The body is larger than the declared {declared} bytes"))
}

/// Verifies the stored object (size, and SHA-256 when given) and marks the
/// document `uploaded`.
#[utoipa::path(post, path = "/documents/{id}/upload-complete", tag = "documents",
    security(("bearer" = ["documents:create"])), params(("id" = Uuid, Path)), request_body = UploadComplete,
    responses((status = 200, body = DocumentView, headers(("ETag" = String))), (status = 404, description = "No such document"),
        (status = 409, description = "Not pending, expired, or nothing uploaded yet"),
        (status = 422, description = "Size or checksum mismatch")))]
pub async fn complete_upload(
    State(state): State<AppState>,
    Authz { ctx, tx, .. }: Authz<perm::DocumentsCreate>,
    ApiPath(id): ApiPath<Uuid>,
    body: Bytes,
) -> ApiResult<(HeaderMap, ApiJson<DocumentView>)> {
    // The body is optional: an empty one means "no checksum to compare".
    let input: UploadComplete = if body.iter().all(u8::is_ascii_whitespace) {
        UploadComplete::default()
    } else {
        parse_json(&body)?
    };
    let expected_sha = input.sha256.as_deref().map(str::to_ascii_lowercase);
    if let Some(sha) = &expected_sha
        && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ApiError::invalid("sha256", "must be 64 hex characters"));
    }
    // No If-Match: completing is a one-way step that the status already guards.
    let mut update = VersionedUpdate::<DocumentView>::begin(tx, id, &IfMatch::Absent).await?;
    let (tx, old) = update.parts();
    let sha256 = verify_stored(&state.storage, tx, old, expected_sha.as_deref()).await?;
    repo::mark_uploaded(tx, id, &sha256, ctx.user_id).await?;
    update
        .finish(&ctx, |old, new| {
            AuditEvent::new(AuditAction::DocumentUploaded, "document", id)
                .old(json!({"status": old.status, "size_bytes": old.size_bytes}))
                .new_values(json!({"status": new.status, "size_bytes": new.size_bytes, "sha256": new.sha256}))
        })
        .await
}

/// Checks that `doc` awaits its upload and that the stored object has the
/// declared size (and `expected_sha` when given); answers its SHA-256.
async fn verify_stored(
    storage: &Storage,
    tx: &mut TenantTx,
    doc: &DocumentView,
    expected_sha: Option<&str>,
) -> Result<String, ApiError> {
    if doc.status != "pending" {
        return Err(ApiError::conflict(format!(
            "The document is {}, not awaiting an upload",
            doc.status
        )));
    }
    if doc.upload_expires_at.is_none_or(|e| e <= OffsetDateTime::now_utc()) {
        return Err(ApiError::conflict("The upload has expired; start a new one"));
    }
    let key = repo::storage_key(tx, doc.id).await?;
    let declared = doc.size_bytes.unwrap_or(0) as u64;
    match storage.size(&key).await.map_err(anyhow::Error::from)? {
        None => {
            return Err(ApiError::conflict("No bytes have been uploaded for this document yet"));
        }
        Some(size) if size != declared => {
            storage.delete_all_logged(&[key]).await;
            return Err(ApiError::invalid(
                "size_bytes",
                format!("the stored object has {size} bytes but {declared} were declared; upload again"),
            ));
        }
        Some(_) => {}
    }
    let stored = storage.digest(&key).await.map_err(anyhow::Error::from)?;
    if let Some(sha) = expected_sha
        && sha != stored.sha256
    {
        return Err(ApiError::invalid("sha256", "does not match the stored bytes"));
    }
    Ok(stored.sha256)
}

/// Deletes pending uploads whose URL expired without completion, releases their
/// reserved bytes and removes any partial object. For the maintenance job.
/// Each tenant is swept in its own transaction, tenant row locked first (the
/// same lock order as the request handlers). Returns how many were removed.
pub async fn cleanup_expired_uploads(state: &AppState, access: &PlatformAccess) -> anyhow::Result<u64> {
    let tenants: Vec<Uuid> = {
        let mut tx = access.tx().await?;
        repo::uploads::tenants_with_expired_uploads(&mut tx).await?
    };
    let mut removed = 0u64;
    for tenant in tenants {
        let mut tx = access.tx().await?;
        repo::uploads::lock_tenant(&mut tx, tenant).await?;
        let rows = repo::uploads::delete_expired(&mut tx, tenant).await?;
        for r in &rows {
            let old = json!({"id": r.id, "project_id": r.project_id, "name": r.name, "status": "pending",
                "size_bytes": r.size_bytes});
            let event = AuditEvent::new(AuditAction::DocumentUploadExpired, "document", r.id)
                .old(old)
                .new_values(json!({"reason": "upload not completed before its URL expired"}));
            audit::record(&mut tx, TenantId::from_trusted(tenant), &AuditActor::default(), event).await?;
        }
        tx.commit().await?;
        let keys: Vec<String> = rows.iter().filter_map(|r| r.storage_key.clone()).collect();
        state.storage.delete_all_logged(&keys).await;
        removed += rows.len() as u64;
    }
    Ok(removed)
}
