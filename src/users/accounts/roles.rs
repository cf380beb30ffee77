//! Writes of `user_roles`: who holds which role, until when.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::{PlatformTx, TenantTx};

/// Adds `role` to a user who does not hold it yet (a new account). A bare
/// connection: tenant ([`super::create_user`]) and platform (a new tenant's
/// admin, sample data) transactions share it.
pub async fn add_role(
    conn: &mut PgConnection,
    tenant: Uuid,
    user: Uuid,
    role: Uuid,
    granted_by: Option<Uuid>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO user_roles (tenant_id, user_id, role_id, granted_by) VALUES ($1, $2, $3, $4)")
        .bind(tenant)
        .bind(user)
        .bind(role)
        .bind(granted_by)
        .execute(conn)
        .await?;
    Ok(())
}

/// Grants (or re-grants with a new expiry) `role` to `user`.
pub async fn upsert_assignment(
    tx: &mut TenantTx,
    tenant: Uuid,
    user: Uuid,
    role: Uuid,
    expires_at: Option<OffsetDateTime>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_roles (tenant_id, user_id, role_id, expires_at, granted_by) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, user_id, role_id) DO UPDATE SET expires_at = EXCLUDED.expires_at, \
         granted_by = EXCLUDED.granted_by, created_at = now()",
    )
    .bind(tenant)
    .bind(user)
    .bind(role)
    .bind(expires_at)
    .bind(by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Removes `role` from `user`; answers how many rows went (0 or 1).
pub async fn delete_assignment(tx: &mut TenantTx, user: Uuid, role: Uuid) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
        .bind(user)
        .bind(role)
        .execute(&mut **tx)
        .await
        .map(|r| r.rows_affected())
}

/// A removed assignment: tenant, user, role, expiry, role name.
pub type Expired = (Uuid, Uuid, Uuid, Option<OffsetDateTime>, Option<String>);

/// Deletes every expired assignment of every tenant, ordered by tenant and
/// expiry (the order their audit rows are written in).
pub async fn delete_expired_assignments(tx: &mut PlatformTx) -> Result<Vec<Expired>, sqlx::Error> {
    sqlx::query_as(
        "WITH gone AS (DELETE FROM user_roles WHERE expires_at <= now() \
                       RETURNING tenant_id, user_id, role_id, expires_at) \
         SELECT g.tenant_id, g.user_id, g.role_id, g.expires_at, r.name \
         FROM gone g LEFT JOIN roles r ON r.tenant_id = g.tenant_id AND r.id = g.role_id \
         ORDER BY g.tenant_id, g.expires_at",
    )
    .fetch_all(&mut **tx)
    .await
}
