//! The audit searches' SQL (the chain's writer is `audit::record`, its
//! checker `verify`, its export `export`).

use uuid::Uuid;

use super::handlers::{AuditFilter, AuditLogView};
use crate::pagination::Page;

/// The columns of an [`AuditLogView`].
const VIEW_COLUMNS: &str = "id, tenant_id, seq, created_at, actor_id, impersonator_id, action, resource_type, \
    resource_id, old_values, new_values, ip_address, user_agent, request_id, encode(hash, 'hex') AS hash";

/// One row by id, as the searches show it (RLS decides whether it is visible).
pub async fn find(conn: &mut sqlx::PgConnection, id: Uuid) -> Result<Option<AuditLogView>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM audit_logs WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The SELECT behind both audit searches; RLS (or the platform role) decides
/// which tenants it can see.
pub async fn search(conn: &mut sqlx::PgConnection, f: &AuditFilter) -> Result<Page<AuditLogView>, sqlx::Error> {
    const WHERE: &str = "WHERE ($1::uuid IS NULL OR tenant_id = $1) AND ($2::uuid IS NULL OR actor_id = $2) \
        AND ($3::text IS NULL OR action = $3) AND ($4::text IS NULL OR resource_type = $4) \
        AND ($5::timestamptz IS NULL OR created_at >= $5) AND ($6::timestamptz IS NULL OR created_at <= $6)";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM audit_logs {WHERE}")))
        .bind(f.tenant_id)
        .bind(f.user_id)
        .bind(&f.action)
        .bind(&f.resource_type)
        .bind(f.from)
        .bind(f.to)
        .fetch_one(&mut *conn)
        .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {VIEW_COLUMNS} FROM audit_logs {WHERE} ORDER BY created_at DESC, seq DESC LIMIT $7 OFFSET $8"
    )))
    .bind(f.tenant_id)
    .bind(f.user_id)
    .bind(&f.action)
    .bind(&f.resource_type)
    .bind(f.from)
    .bind(f.to)
    .bind(f.page.limit())
    .bind(f.page.offset())
    .fetch_all(&mut *conn)
    .await?;
    Ok(f.page.wrap(items, total))
}
