//! Documents and their bytes: metadata CRUD, upload round trips on local disk and
//! on an S3-compatible server (moto), signed-URL tampering and expiry, declared
//! size enforcement, the storage quota, deletion and the expired-upload sweep.
//!
//! This file holds the upload steps the tests share (initiate, PUT the bytes,
//! complete, download) and the look-ups at the stored bytes.

mod metadata;
mod quota;
mod s3;
mod signed_urls;
mod uploads;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::*;

/// Initiates an upload; returns the ticket.
async fn initiate(app: &TestApp, token: &str, project: &str, name: &str, ct: &str, size: usize) -> Resp {
    app.post(
        "/api/v1/projects/documents/upload",
        token,
        json!({"project_id": project, "name": name, "content_type": ct, "size_bytes": size}),
    )
    .await
}

async fn put_bytes(app: &TestApp, url: &str, bytes: Vec<u8>) -> Resp {
    let r = app
        .client
        .put(url)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    Resp::from(r).await
}

/// Completes the upload of document `id`.
async fn complete(app: &TestApp, token: &str, id: &str, body: Value) -> Resp {
    app.post(&format!("/api/v1/projects/documents/{id}/upload-complete"), token, body)
        .await
}

/// The raw download response (bytes, or a redirect to the object store).
async fn download(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.client
        .get(app.url(&format!("/api/v1/projects/documents/{id}/download")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// Full local upload (initiate, PUT, complete); returns the document.
pub async fn upload_local(app: &TestApp, token: &str, project: &str, name: &str, bytes: &[u8]) -> Value {
    let r = initiate(app, token, project, name, "application/octet-stream", bytes.len()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let put = put_bytes(app, r.body["upload_url"].as_str().unwrap(), bytes.to_vec()).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let id = r.body["document"]["id"].as_str().unwrap();
    let done = complete(app, token, id, json!({})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    done.body
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn storage_used(app: &TestApp, tenant: Uuid) -> i64 {
    let mut su = app.db.superuser().await;
    sqlx::query_scalar("SELECT storage_used_bytes FROM tenants WHERE id = $1")
        .bind(tenant)
        .fetch_one(&mut su)
        .await
        .unwrap()
}

fn object_path(app: &TestApp, tenant: Uuid, doc: &str) -> std::path::PathBuf {
    app.storage_dir.path().join(format!("tenants/{tenant}/documents/{doc}"))
}
