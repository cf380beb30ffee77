//! SQL of direct uploads (`projects::uploads`): pending documents, the
//! upload target check, and the sweep of expired uploads (on the system job's
//! platform transaction).

use time::OffsetDateTime;
use uuid::Uuid;

use super::NewDocument;
use crate::db::{PlatformTx, TenantId, TenantTx};

/// A document awaiting its upload: a new document's fields plus its reserved
/// size and object key.
pub struct PendingDocument<'a> {
    pub document: NewDocument<'a>,
    pub size_bytes: i64,
    pub storage_key: &'a str,
    pub expires_at: OffsetDateTime,
}

/// Inserts a document in `pending` status.
pub async fn insert_pending(tx: &mut TenantTx, tenant: TenantId, d: &PendingDocument<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO documents (tenant_id, id, project_id, name, description, content_type, status, size_bytes, \
         storage_key, upload_expires_at, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, $10, $10)",
    )
    .bind(tenant.get())
    .bind(d.document.id)
    .bind(d.document.project_id)
    .bind(d.document.name)
    .bind(d.document.description)
    .bind(d.document.content_type)
    .bind(d.size_bytes)
    .bind(d.storage_key)
    .bind(d.expires_at)
    .bind(d.document.by)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// The object key of a document, and whether it awaits this upload.
#[derive(sqlx::FromRow)]
pub struct UploadTarget {
    pub storage_key: Option<String>,
    pub awaiting: Option<bool>,
}

/// The document's object key, and whether it awaits an upload of `size` bytes.
pub async fn upload_target(tx: &mut TenantTx, id: Uuid, size: i64) -> Result<Option<UploadTarget>, sqlx::Error> {
    sqlx::query_as(
        "SELECT storage_key, (status = 'pending' AND size_bytes = $2 AND upload_expires_at > now()) AS awaiting \
         FROM documents WHERE id = $1",
    )
    .bind(id)
    .bind(size)
    .fetch_optional(&mut **tx)
    .await
}

/// The tenants that have pending uploads past their window.
pub async fn tenants_with_expired_uploads(tx: &mut PlatformTx) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT tenant_id FROM documents WHERE status = 'pending' AND upload_expires_at < now()",
    )
    .fetch_all(&mut **tx)
    .await
}

/// Locks the tenant row (the request handlers' lock order: tenant first).
pub async fn lock_tenant(tx: &mut PlatformTx, tenant: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE")
        .bind(tenant)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

/// A pending document removed by the sweep.
#[derive(sqlx::FromRow)]
pub struct ExpiredUpload {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub storage_key: Option<String>,
    pub size_bytes: Option<i64>,
}

/// Deletes the tenant's pending uploads past their window.
pub async fn delete_expired(tx: &mut PlatformTx, tenant: Uuid) -> Result<Vec<ExpiredUpload>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM documents WHERE tenant_id = $1 AND status = 'pending' AND upload_expires_at < now() \
         RETURNING id, project_id, name, storage_key, size_bytes",
    )
    .bind(tenant)
    .fetch_all(&mut **tx)
    .await
}
