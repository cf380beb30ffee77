//! SQL of the platform overview (`admin::overview`).

use uuid::Uuid;

use crate::{
    admin::overview::{EmailQueue, GrowthPoint},
    db::PlatformTx,
};

/// The email outbox by status (sent: in the last 24 hours).
pub async fn email_queue(tx: &mut PlatformTx) -> Result<EmailQueue, sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending, count(*) FILTER (WHERE status = 'dead') AS dead, \
         count(*) FILTER (WHERE status = 'suppressed') AS suppressed, \
         count(*) FILTER (WHERE status = 'sent' AND sent_at > now() - interval '24 hours') AS sent_24h FROM email_outbox",
    )
    .fetch_one(&mut **tx)
    .await
}

/// Live impersonation sessions.
pub async fn active_impersonation_count(tx: &mut PlatformTx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM user_sessions WHERE impersonator_id IS NOT NULL AND revoked_at IS NULL AND expires_at > now()",
    )
    .fetch_one(&mut **tx)
    .await
}

/// New tenants, users and projects on each of the last `days` UTC days, oldest first.
pub async fn growth_series(tx: &mut PlatformTx, days: i32) -> Result<Vec<GrowthPoint>, sqlx::Error> {
    sqlx::query_as(
        "WITH d AS (SELECT generate_series((now() AT TIME ZONE 'UTC')::date - ($1::int - 1), \
                                           (now() AT TIME ZONE 'UTC')::date, interval '1 day')::date AS date) \
         SELECT d.date, \
           (SELECT count(*) FROM tenants t WHERE (t.created_at AT TIME ZONE 'UTC')::date = d.date) AS tenants, \
           (SELECT count(*) FROM users u WHERE (u.created_at AT TIME ZONE 'UTC')::date = d.date) AS users, \
           (SELECT count(*) FROM projects p WHERE (p.created_at AT TIME ZONE 'UTC')::date = d.date) AS projects \
         FROM d ORDER BY d.date",
    )
    .bind(days)
    .fetch_all(&mut **tx)
    .await
}

/// Every tenant's id, oldest first.
pub async fn tenant_ids(tx: &mut PlatformTx) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM tenants ORDER BY created_at, id")
        .fetch_all(&mut **tx)
        .await
}
