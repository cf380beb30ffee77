//! The audit searches' SQL (the chain's writer is `audit::record`, its
//! checker `verify`, its export `export`).

use uuid::Uuid;

use super::handlers::{AuditFilter, AuditLogView};
use crate::pagination::{Filter, Page, fetch_page};

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
    let mut filter = Filter::default();
    filter
        .and_some("tenant_id = $?", f.tenant_id)
        .and_some("actor_id = $?", f.user_id)
        .and_some("action = $?", f.action.as_deref())
        .and_some("resource_type = $?", f.resource_type.as_deref())
        .and_some("created_at >= $?", f.from)
        .and_some("created_at <= $?", f.to);
    fetch_page(
        conn,
        VIEW_COLUMNS,
        "audit_logs",
        &filter,
        "created_at DESC, seq DESC",
        &f.page,
    )
    .await
}
