//! SQL for projects and documents. Every function runs on a tenant transaction,
//! so RLS already confines it to one tenant; `tenant_id` is still named where it
//! helps the planner use the tenant-led indexes.

pub mod insights;
pub mod uploads;
mod writes;

pub use writes::{
    NewDocument, delete_document, delete_project, delete_project_documents, insert_document, insert_project,
};

use uuid::Uuid;

use super::etag::Versioned;
use super::model::{DocumentChanges, DocumentFilter, DocumentView, ProjectChanges, ProjectFilter, ProjectView};
use crate::{
    db::{AnyRow, Columns, FromRead, TenantId, TenantRead, TenantTx},
    http::ApiError,
    pagination::{Filter, Page, fetch_page, order_by, search_pattern},
};

/// `document_count` is kept by a trigger on documents (migration
/// 20261205140000), not counted per row.
pub const PROJECT_COLUMNS: &str = "p.id, p.name, p.description, p.status, p.version, \
    p.document_count::bigint AS document_count, p.created_at, p.updated_at, p.created_by, p.updated_by";

pub const DOCUMENT_COLUMNS: &str = "d.id, d.project_id, d.name, d.description, d.content_type, d.status, \
    d.size_bytes, d.sha256, d.version, d.upload_expires_at, d.uploaded_at, d.created_at, d.updated_at, \
    d.created_by, d.updated_by";

/// Locks the tenant row for this transaction. Every transaction that changes a
/// counted resource (projects, stored bytes) takes this lock first, so limit
/// checks cannot race and lock order is always tenant → rows.
pub async fn lock_tenant_limits(tx: &mut TenantTx, tenant: TenantId) -> Result<TenantLimits, sqlx::Error> {
    sqlx::query_as(
        "SELECT max_projects, project_count, max_storage_bytes, storage_used_bytes FROM tenants \
         WHERE id = $1 FOR NO KEY UPDATE",
    )
    .bind(tenant.get())
    .fetch_one(&mut **tx)
    .await
}

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct TenantLimits {
    pub max_projects: i32,
    /// The trigger-kept counter (migration 20261127000700): exact under the
    /// lock, where counting the rows took longer the more projects there were.
    pub project_count: i32,
    pub max_storage_bytes: i64,
    pub storage_used_bytes: i64,
}

/// Adds `delta` to the tenant's stored-bytes counter (reservations; releases are
/// done by the `documents_release_storage` trigger when a document row is deleted).
pub async fn add_storage_used(tx: &mut TenantTx, tenant: TenantId, delta: i64) -> Result<(), sqlx::Error> {
    if delta == 0 {
        return Ok(());
    }
    sqlx::query("UPDATE tenants SET storage_used_bytes = GREATEST(0, storage_used_bytes + $2) WHERE id = $1")
        .bind(tenant.get())
        .bind(delta)
        .execute(&mut **tx)
        .await
        .map(|_| ())
}

pub async fn find_project(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<Option<ProjectView>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE OF p" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PROJECT_COLUMNS} FROM projects p WHERE p.id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

/// A project by id in one statement (`tenant_read_project`).
pub async fn read_project(read: &TenantRead, id: Uuid) -> Result<Option<ProjectView>, sqlx::Error> {
    let rows = read
        .fetch_all(
            "SELECT id, name, description, status, version, document_count, created_at, updated_at, \
             created_by, updated_by FROM tenant_read_project($1, $2)",
            &[id.into()],
        )
        .await?;
    Ok(rows.into_iter().next())
}

/// The default page of projects (no filter, newest first) in one statement
/// (`tenant_read_projects`), with the tenant's project counter as its total.
/// `None` for any other list, a deep page or a page past the end (which has
/// no row to carry the total): those take [`list_projects`] in a transaction.
/// Deeper pages (which scan every row before them) take a transaction of
/// their own, so a slow scan never holds up the reads pipelined behind it.
const MAX_READ_OFFSET: i64 = 1_000;

pub async fn read_default_page(read: &TenantRead, f: &ProjectFilter) -> Result<Option<Page<ProjectView>>, sqlx::Error> {
    let (limit, offset) = (f.page.limit(), f.page.offset());
    if f.search.is_some() || f.status.is_some() || f.sort.is_some() || offset > MAX_READ_OFFSET {
        return Ok(None);
    }
    let rows: Vec<Counted> = read
        .fetch_all(
            "SELECT id, name, description, status, version, document_count, created_at, updated_at, \
             created_by, updated_by, total_count FROM tenant_read_projects($1, $2, $3)",
            &[(limit as i32).into(), offset.into()],
        )
        .await?;
    let Some(total) = rows.first().and_then(|r| r.total_count) else {
        return Ok(None);
    };
    Ok(Some(f.page.wrap(rows.into_iter().map(|r| r.item).collect(), total)))
}

pub async fn get_project(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<ProjectView, ApiError> {
    find_project(tx, id, lock)
        .await?
        .ok_or_else(|| ApiError::not_found("Project"))
}

pub async fn list_projects(tx: &mut TenantTx, f: &ProjectFilter) -> Result<Page<ProjectView>, ApiError> {
    let order = order_by(
        f.sort.as_deref(),
        &[
            ("created_at", "p.created_at"),
            ("updated_at", "p.updated_at"),
            ("name", "lower(p.name)"),
            ("status", "p.status"),
        ],
        "p.id",
        "p.created_at DESC, p.id DESC",
    )?;
    let mut filter = Filter::default();
    filter
        .and_some(
            "(p.name ILIKE $? OR p.description ILIKE $?)",
            search_pattern(f.search.as_deref()),
        )
        .and_some("p.status = $?", f.status.map(|s| s.as_str()));
    if !filter.is_empty() {
        return Ok(fetch_page(tx, PROJECT_COLUMNS, "projects p", &filter, &order, &f.page).await?);
    }
    // Unfiltered, the total is the trigger-maintained counter on the tenant row
    // (constant cost however many projects the tenant has), read by the page
    // statement itself: one round trip for the whole list.
    let (limit, offset) = (f.page.limit(), f.page.offset());
    let rows: Vec<Counted> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {PROJECT_COLUMNS}, ({PROJECT_COUNTER}) AS total_count FROM projects p \
         ORDER BY {order} LIMIT {limit} OFFSET {offset}"
    )))
    .fetch_all(&mut **tx)
    .await?;
    let total = match rows.first().and_then(|r| r.total_count) {
        Some(total) => total,
        // An empty page past the end has no row to carry it.
        None => sqlx::query_scalar(PROJECT_COUNTER).fetch_one(&mut **tx).await?,
    };
    Ok(f.page.wrap(rows.into_iter().map(|r| r.item).collect(), total))
}

/// The tenant's project count, kept by a trigger on `projects`.
const PROJECT_COUNTER: &str = "SELECT project_count::bigint FROM tenants WHERE id = app_current_tenant()";

/// A page row with the list's total when the statement could compute it cheaply.
#[derive(sqlx::FromRow)]
struct Counted {
    #[sqlx(flatten)]
    item: ProjectView,
    total_count: Option<i64>,
}

impl FromRead for Counted {
    fn from_read<R: AnyRow>(c: &mut Columns<'_, R>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            item: ProjectView::from_read(c)?,
            total_count: c.next()?,
        })
    }
}

pub async fn find_document(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<Option<DocumentView>, sqlx::Error> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}

pub async fn get_document(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<DocumentView, ApiError> {
    find_document(tx, id, lock)
        .await?
        .ok_or_else(|| ApiError::not_found("Document"))
}

pub async fn list_documents(tx: &mut TenantTx, f: &DocumentFilter) -> Result<Page<DocumentView>, ApiError> {
    let order = order_by(
        f.sort.as_deref(),
        &[
            ("created_at", "d.created_at"),
            ("updated_at", "d.updated_at"),
            ("name", "lower(d.name)"),
            ("size_bytes", "d.size_bytes"),
        ],
        "d.id",
        "d.created_at DESC, d.id DESC",
    )?;
    if let Some(s) = &f.status
        && !["draft", "pending", "uploaded"].contains(&s.as_str())
    {
        return Err(ApiError::invalid("status", "must be one of draft, pending, uploaded"));
    }
    let mut filter = Filter::default();
    filter
        .and_some("d.project_id = $?", f.project_id)
        .and_some(
            "(d.name ILIKE $? OR d.description ILIKE $?)",
            search_pattern(f.search.as_deref()),
        )
        .and_some("d.status = $?", f.status.as_deref());
    Ok(fetch_page(tx, DOCUMENT_COLUMNS, "documents d", &filter, &order, &f.page).await?)
}

/// A document row's storage bookkeeping, for deletes.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredRef {
    pub storage_key: Option<String>,
    pub size_bytes: Option<i64>,
}

/// Partial update of a project (each field kept when `None`); bumps the version.
pub async fn update_project(
    tx: &mut TenantTx,
    id: Uuid,
    changes: &ProjectChanges,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE projects SET name = COALESCE($2, name), description = COALESCE($3, description), \
         status = COALESCE($4, status), version = version + 1, updated_by = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(&changes.name)
    .bind(&changes.description)
    .bind(changes.status.map(|s| s.as_str()))
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Partial update of a document's metadata; bumps the version.
pub async fn update_document(
    tx: &mut TenantTx,
    id: Uuid,
    changes: &DocumentChanges,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE documents SET name = COALESCE($2, name), description = COALESCE($3, description), \
         content_type = COALESCE($4, content_type), version = version + 1, updated_by = $5 WHERE id = $1",
    )
    .bind(id)
    .bind(&changes.name)
    .bind(&changes.description)
    .bind(&changes.content_type)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A completed upload: the stored bytes' checksum, no expiry any more.
pub async fn mark_uploaded(tx: &mut TenantTx, id: Uuid, sha256: &str, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE documents SET status = 'uploaded', sha256 = $2, uploaded_at = now(), upload_expires_at = NULL, \
         version = version + 1, updated_by = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(sha256)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The object key of a document.
pub async fn storage_key(tx: &mut TenantTx, id: Uuid) -> Result<String, sqlx::Error> {
    sqlx::query_scalar("SELECT storage_key FROM documents WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
}

impl Versioned for ProjectView {
    fn version(&self) -> i32 {
        self.version
    }
    async fn load(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<Self, ApiError> {
        get_project(tx, id, lock).await
    }
}

impl Versioned for DocumentView {
    fn version(&self) -> i32 {
        self.version
    }
    async fn load(tx: &mut TenantTx, id: Uuid, lock: bool) -> Result<Self, ApiError> {
        get_document(tx, id, lock).await
    }
}
