//! A project's documents: the browser's two-step upload (start → PUT to the
//! signed URL with progress → complete) through the API's `initiate_upload`
//! and `complete_upload`, download through `download_document`, and deletion
//! behind a confirmation page through `delete_document`.
//!
//! The two upload steps answer JSON to `console.js`; the bytes never pass
//! through these handlers: they go to the URL the API signed (tenantry's own
//! upload endpoint on local disk, or a presigned S3 URL).

use axum::{
    Form,
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::refused;
use crate::{
    app::AppState,
    auth::Authz,
    console::{
        render::{self, Frame},
        see_other,
        session::Console,
    },
    http::{
        ApiError,
        extract::{ApiJson, ApiPath, parse_json},
    },
    projects::{documents, download, etag::IfMatch, model::UploadRequest, uploads},
    rbac::perm,
};

/// What the page's script sends to start an upload.
#[derive(Deserialize)]
struct StartUpload {
    name: String,
    #[serde(default)]
    content_type: String,
    size_bytes: i64,
}

/// `POST /projects/{id}/uploads` (JSON): a pending document and where to PUT
/// its bytes, and where to say they are there.
pub async fn upload_start(
    State(state): State<AppState>,
    me: Console<perm::DocumentsCreate>,
    Path(project_id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let start: StartUpload = parse_json(&body)?;
    let content_type = if start.content_type.trim().is_empty() {
        "application/octet-stream".to_string()
    } else {
        start.content_type
    };
    let request = UploadRequest {
        project_id,
        name: start.name,
        content_type,
        size_bytes: start.size_bytes,
        description: None,
    };
    let (_, ApiJson(ticket)) = uploads::initiate_upload(State(state), me.authz, ApiJson(request)).await?;
    let id = ticket.document.id;
    let body = json!({
        "document_id": id,
        "upload_url": ticket.upload_url,
        "upload_method": ticket.upload_method,
        "complete_url": format!("/projects/documents/{id}/upload-complete"),
    });
    Ok((StatusCode::CREATED, ApiJson(body)).into_response())
}

/// `POST /projects/documents/{id}/upload-complete` (JSON, optional
/// `{sha256}`): the API checks the stored bytes and marks the document uploaded.
pub async fn upload_complete(
    State(state): State<AppState>,
    me: Console<perm::DocumentsCreate>,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (_, ApiJson(doc)) = uploads::complete_upload(State(state), me.authz, ApiPath(id), body).await?;
    Ok(
        ApiJson(json!({"id": doc.id, "name": doc.name, "size_bytes": doc.size_bytes, "sha256": doc.sha256}))
            .into_response(),
    )
}

/// The bytes (or a redirect to a presigned URL), audited by the API's handler.
pub async fn download(
    State(state): State<AppState>,
    me: Console<perm::DocumentsDownload>,
    Path(id): Path<Uuid>,
) -> Response {
    match download::download_document(State(state), me.authz, ApiPath(id)).await {
        Ok(res) => res,
        Err(e) => refused(e),
    }
}

#[derive(Serialize)]
struct DeleteView {
    frame: Frame,
    id: Uuid,
    project_id: Uuid,
    name: String,
    version: i32,
}

/// "Delete this document?" (reading it needs documents:read as well).
pub async fn delete_page(me: Console<perm::DocumentsDelete>, Path(id): Path<Uuid>) -> Response {
    let frame = me.frame("/projects");
    let authz = match Authz::<perm::DocumentsRead>::checked(me.authz.ctx, me.authz.tx) {
        Ok(a) => a,
        Err(e) => return render::api_error(e),
    };
    match documents::get_document(authz, ApiPath(id)).await {
        Ok((_, ApiJson(doc))) => render::ok(
            "tenant_document_delete.html",
            DeleteView {
                frame,
                id,
                project_id: doc.project_id,
                name: doc.name,
                version: doc.version,
            },
        ),
        Err(e) => refused(e),
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    project_id: Uuid,
    /// The version the person saw: a document changed since gets 412.
    version: i32,
}

pub async fn delete_submit(
    State(state): State<AppState>,
    me: Console<perm::DocumentsDelete>,
    Path(id): Path<Uuid>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let if_match = IfMatch::Versions(vec![form.version]);
    match documents::delete_document(State(state), me.authz, ApiPath(id), if_match).await {
        Ok(_) => see_other(&format!("/projects/{}?done=deleted", form.project_id)),
        Err(ApiError::PreconditionFailed(_)) => render::message(
            StatusCode::PRECONDITION_FAILED,
            "Changed meanwhile",
            "Someone changed this document after you opened the confirmation. Go back, reload and decide again.",
        ),
        Err(e) => refused(e),
    }
}
