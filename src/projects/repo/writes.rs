//! Creating and deleting projects and documents (their updates are in the
//! parent module, with the reads they share columns with).

use sqlx::PgConnection;
use uuid::Uuid;

use super::StoredRef;
use crate::db::TenantId;

/// Inserts a project at version 1, created and last updated by `by`.
pub async fn insert_project(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Uuid,
    name: &str,
    description: &str,
    status: &str,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO projects (tenant_id, id, name, description, status, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(tenant.get())
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(status)
    .bind(by)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Deletes the project's documents: `(id, name, storage_key, size_bytes)` of each.
pub async fn delete_project_documents(
    conn: &mut PgConnection,
    project: Uuid,
) -> Result<Vec<(Uuid, String, Option<String>, Option<i64>)>, sqlx::Error> {
    sqlx::query_as("DELETE FROM documents WHERE project_id = $1 RETURNING id, name, storage_key, size_bytes")
        .bind(project)
        .fetch_all(conn)
        .await
}

pub async fn delete_project(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM projects WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// A draft document's fields, before any upload.
pub struct NewDocument<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub content_type: &'a str,
    pub by: Uuid,
}

/// Inserts a document in `draft` status.
pub async fn insert_document(
    conn: &mut PgConnection,
    tenant: TenantId,
    d: &NewDocument<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO documents (tenant_id, id, project_id, name, description, content_type, status, created_by, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7)",
    )
    .bind(tenant.get())
    .bind(d.id)
    .bind(d.project_id)
    .bind(d.name)
    .bind(d.description)
    .bind(d.content_type)
    .bind(d.by)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Deletes the document; where its bytes were stored and how many.
pub async fn delete_document(conn: &mut PgConnection, id: Uuid) -> Result<StoredRef, sqlx::Error> {
    sqlx::query_as("DELETE FROM documents WHERE id = $1 RETURNING storage_key, size_bytes")
        .bind(id)
        .fetch_one(conn)
        .await
}
