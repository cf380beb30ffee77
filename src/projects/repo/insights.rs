//! SQL of project search, activity and statistics (`projects::insights`).

use crate::{
    db::{TenantId, TenantTx},
    pagination::PageParams,
    projects::insights::{ActivityEntry, ContentTypeCount, SearchHit},
};

/// Full-text hits among projects and/or documents (`(projects, documents)`),
/// best first, at most `limit`; `marks` holds the two characters
/// `ts_headline` puts around matches in the snippet.
pub async fn search(
    tx: &mut TenantTx,
    query: &str,
    (projects, documents): (bool, bool),
    limit: i64,
    marks: &str,
) -> Result<Vec<SearchHit>, sqlx::Error> {
    sqlx::query_as(
        "WITH q AS (SELECT websearch_to_tsquery('english', $1) AS q), \
         hits AS ( \
           SELECT 'project' AS kind, p.id, NULL::uuid AS project_id, p.name, p.description, p.status, \
                  ts_rank(p.search, q.q) AS rank, p.updated_at \
           FROM projects p, q WHERE $2 AND p.search @@ q.q \
           UNION ALL \
           SELECT 'document', d.id, d.project_id, d.name, d.description, d.status, \
                  ts_rank(d.search, q.q), d.updated_at \
           FROM documents d, q WHERE $3 AND d.search @@ q.q \
           ORDER BY rank DESC, updated_at DESC LIMIT $4) \
         SELECT h.kind, h.id, h.project_id, h.name, h.description, h.status, h.rank, \
                ts_headline('english', translate(h.description, $5, ''), q.q, \
                    'StartSel=' || substr($5, 1, 1) || ', StopSel=' || substr($5, 2, 1) || \
                    ', MaxWords=25, MinWords=8, MaxFragments=2') AS snippet \
         FROM hits h, q ORDER BY h.rank DESC, h.updated_at DESC",
    )
    .bind(query)
    .bind(projects)
    .bind(documents)
    .bind(limit)
    .bind(marks)
    .fetch_all(&mut **tx)
    .await
}

/// One page of audit rows about `types` (`project`, `document`), newest first, and their total.
pub async fn activity(
    tx: &mut TenantTx,
    types: &[&str],
    page: &PageParams,
) -> Result<(Vec<ActivityEntry>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_logs WHERE resource_type = ANY($1)")
        .bind(types)
        .fetch_one(&mut **tx)
        .await?;
    let items = sqlx::query_as(
        "SELECT a.id, a.created_at, a.action, a.resource_type, a.resource_id, a.actor_id, u.email AS actor_email, \
         a.impersonator_id, a.old_values, a.new_values \
         FROM audit_logs a LEFT JOIN users u ON u.tenant_id = a.tenant_id AND u.id = a.actor_id \
         WHERE a.resource_type = ANY($1) ORDER BY a.created_at DESC, a.seq DESC LIMIT $2 OFFSET $3",
    )
    .bind(types)
    .bind(page.limit())
    .bind(page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((items, total))
}

/// The tenant's `(max_projects, max_storage_bytes, storage_used_bytes)`.
pub async fn limits(tx: &mut TenantTx, tenant: TenantId) -> Result<(i32, i64, i64), sqlx::Error> {
    sqlx::query_as("SELECT max_projects, max_storage_bytes, storage_used_bytes FROM tenants WHERE id = $1")
        .bind(tenant.get())
        .fetch_one(&mut **tx)
        .await
}

pub async fn projects_by_status(tx: &mut TenantTx) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, count(*) FROM projects GROUP BY status")
        .fetch_all(&mut **tx)
        .await
}

pub async fn documents_by_status(tx: &mut TenantTx) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT status, count(*) FROM documents GROUP BY status")
        .fetch_all(&mut **tx)
        .await
}

/// Documents and uploaded bytes per content type, most documents first.
pub async fn documents_by_content_type(tx: &mut TenantTx) -> Result<Vec<ContentTypeCount>, sqlx::Error> {
    sqlx::query_as(
        "SELECT content_type, count(*) AS count, COALESCE(sum(size_bytes) FILTER (WHERE status = 'uploaded'), 0)::bigint AS bytes \
         FROM documents GROUP BY content_type ORDER BY count(*) DESC, content_type",
    )
    .fetch_all(&mut **tx)
    .await
}
