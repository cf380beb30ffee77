//! Projects and their documents: CRUD with optimistic concurrency, uploads to
//! object storage, full-text search, activity and statistics
//! (`/api/v1/projects`).
//!
//! Decisions:
//! - Deleting a project deletes its documents; their bytes leave the quota in
//!   the same transaction and are removed from storage after commit.
//! - Storage quota is reserved when an upload is initiated (see `uploads`).
//! - Every transaction that changes counted resources locks the tenant row
//!   first, which both enforces limits under concurrency and fixes lock order.

pub mod documents;
pub mod download;
pub mod etag;
pub mod handlers;
pub mod insights;
pub mod model;
pub mod repo;
pub mod uploads;

use axum::extract::DefaultBodyLimit;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use uploads::cleanup_expired_uploads;

use crate::app::AppState;

/// Static segments (`/documents`, `/search`, …) take priority over `/{id}` in
/// axum's router, so they are never captured as a project id.
pub fn router() -> OpenApiRouter<AppState> {
    // The upload body is streamed and limited to its declared size by the
    // handler itself, not by the 1 MiB JSON body limit.
    let (paths, schemas, receive) = routes!(uploads::receive_upload);
    OpenApiRouter::new()
        .routes(routes!(handlers::create_project, handlers::list_projects))
        .routes(routes!(
            handlers::get_project,
            handlers::update_project,
            handlers::delete_project
        ))
        .routes(routes!(documents::create_document))
        .routes(routes!(documents::list_documents))
        .routes(routes!(
            documents::get_document,
            documents::update_document,
            documents::delete_document
        ))
        .routes(routes!(uploads::initiate_upload))
        .routes((paths, schemas, receive.layer(DefaultBodyLimit::disable())))
        .routes(routes!(uploads::complete_upload))
        .routes(routes!(download::download_document))
        .routes(routes!(insights::search))
        .routes(routes!(insights::activity))
        .routes(routes!(insights::stats))
}
