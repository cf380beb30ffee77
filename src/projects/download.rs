//! Downloads: a document's bytes streamed from local disk with its content type
//! and a safe `Content-Disposition`, or a redirect to a short-lived presigned S3 URL.
//!
//! Every download is audited (`document.downloaded`, with how the bytes were
//! handed out) in the tenant's chain, committed before the bytes or the URL
//! leave: a failed audit write means no download.

use std::time::Duration;

use axum::{
    body::Body,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use uuid::Uuid;

use super::repo;
use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditEvent},
    auth::Authz,
    config::StorageBackend,
    http::{ApiError, ApiResult, extract::ApiPath},
    rbac::perm,
};

/// How long a presigned S3 download URL stays valid.
const DOWNLOAD_TTL: Duration = Duration::from_secs(5 * 60);

/// The document's bytes (local disk: streamed, with its content type and a safe
/// `Content-Disposition`) or a redirect to a short-lived presigned S3 URL.
#[utoipa::path(get, path = "/documents/{id}/download", tag = "documents", security(("bearer" = ["documents:download"])),
    params(("id" = Uuid, Path)),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 302, description = "Redirect to a presigned S3 URL"), (status = 404, description = "No such document"),
        (status = 409, description = "Nothing has been uploaded yet")))]
pub async fn download_document(
    State(state): State<AppState>,
    Authz { ctx, mut tx, .. }: Authz<perm::DocumentsDownload>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    let doc = repo::get_document(&mut tx, id, false).await?;
    if doc.status != "uploaded" {
        return Err(ApiError::conflict("The document has no uploaded content"));
    }
    let key = repo::storage_key(&mut tx, id).await?;
    let audited = |via: &'static str| {
        AuditEvent::new(AuditAction::DocumentDownloaded, "document", id).new_values(json!({
            "project_id": doc.project_id, "name": doc.name, "size_bytes": doc.size_bytes, "via": via,
        }))
    };
    if state.storage.backend() == StorageBackend::S3 {
        let url = state
            .storage
            .presign(object_store::signer::Method::GET, &key, DOWNLOAD_TTL)
            .await
            .map_err(anyhow::Error::from)?
            .ok_or_else(|| anyhow::anyhow!("S3 storage without a signer"))?;
        audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), audited("signed_url")).await?;
        tx.commit().await?;
        let mut res = StatusCode::FOUND.into_response();
        res.headers_mut().insert(
            header::LOCATION,
            HeaderValue::from_str(url.as_str()).map_err(anyhow::Error::from)?,
        );
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return Ok(res);
    }
    let stream = state.storage.stream(&key).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => ApiError::NotFound("The document's content is missing".into()),
        other => ApiError::Internal(other.into()),
    })?;
    audit::record(&mut tx, ctx.tenant_id, &ctx.actor(), audited("bytes")).await?;
    tx.commit().await?;
    let mut res = Response::new(Body::from_stream(stream));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&doc.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Some(size) = doc.size_bytes {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    h.insert(header::CONTENT_DISPOSITION, content_disposition(&doc.name));
    // User content on our origin: never rendered, never sniffed, never cached by proxies.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    if let Some(sha) = &doc.sha256 {
        h.insert(
            header::ETAG,
            HeaderValue::from_str(&format!("\"{sha}\"")).map_err(anyhow::Error::from)?,
        );
    }
    Ok(res)
}

/// `attachment` with an ASCII fallback name and the exact name as RFC 5987
/// `filename*` (RFC 6266), so no name can break out of the header.
pub fn content_disposition(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '%' | ';') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        let h = content_disposition("résumé \"final\";\r\nX-Evil: 1.pdf");
        let s = h.to_str().unwrap();
        assert!(s.starts_with("attachment; filename=\""));
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert!(s.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%3B%0D%0AX-Evil%3A%201.pdf"));
    }
}
