//! SQL of the platform security views (`admin::security`): sign-in
//! patterns across tenants, locked and problematic accounts.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    admin::model::{
        AccountUnderAttack, ImpersonationSession, Lockout, ProblematicQuery, ProblematicUser, StuffingSource,
    },
    db::PlatformTx,
};

/// IPs whose failed sign-ins in the last `window` minutes named at least `min_emails` accounts.
pub async fn credential_stuffing(
    tx: &mut PlatformTx,
    window: i32,
    min_emails: i64,
) -> Result<Vec<StuffingSource>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ip_address, count(*) AS failures, count(DISTINCT lower(email)) AS distinct_emails, \
         count(DISTINCT tenant_id) AS distinct_tenants, min(created_at) AS first_seen, max(created_at) AS last_seen \
         FROM login_attempts WHERE NOT success AND ip_address IS NOT NULL \
           AND created_at > now() - make_interval(mins => $1::int) \
         GROUP BY ip_address HAVING count(DISTINCT lower(email)) >= $2 \
         ORDER BY distinct_emails DESC, failures DESC LIMIT 100",
    )
    .bind(window)
    .bind(min_emails)
    .fetch_all(&mut **tx)
    .await
}

/// Accounts with at least `min_failures` failed sign-ins in the last `window` minutes.
pub async fn accounts_under_attack(
    tx: &mut PlatformTx,
    window: i32,
    min_failures: i64,
) -> Result<Vec<AccountUnderAttack>, sqlx::Error> {
    sqlx::query_as(
        "SELECT lower(email) AS email, count(*) AS failures, count(DISTINCT ip_address) AS distinct_ips, \
         max(created_at) AS last_attempt FROM login_attempts \
         WHERE NOT success AND created_at > now() - make_interval(mins => $1::int) \
         GROUP BY lower(email) HAVING count(*) >= $2 ORDER BY failures DESC LIMIT 100",
    )
    .bind(window)
    .bind(min_failures)
    .fetch_all(&mut **tx)
    .await
}

/// Accounts locked in the last 24 hours.
pub async fn recent_lockouts(tx: &mut PlatformTx) -> Result<Vec<Lockout>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.tenant_id, t.slug AS tenant_slug, u.id AS user_id, u.email, u.failed_login_count, u.locked_until, \
         COALESCE(u.locked_until > now(), false) AS currently_locked \
         FROM users u JOIN tenants t ON t.id = u.tenant_id \
         WHERE u.locked_until > now() - interval '24 hours' ORDER BY u.locked_until DESC LIMIT 100",
    )
    .fetch_all(&mut **tx)
    .await
}

/// Impersonation sessions started in the last 7 days.
pub async fn recent_impersonations(tx: &mut PlatformTx) -> Result<Vec<ImpersonationSession>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.tenant_id, t.slug AS tenant_slug, s.id AS session_id, s.user_id, u.email AS user_email, \
         s.impersonator_id, s.impersonator_email, s.impersonation_reason AS reason, s.created_at AS started_at, \
         s.expires_at, s.revoked_at, (s.revoked_at IS NULL AND s.expires_at > now()) AS active \
         FROM user_sessions s JOIN tenants t ON t.id = s.tenant_id \
         JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id \
         WHERE s.impersonator_id IS NOT NULL AND s.created_at > now() - interval '7 days' \
         ORDER BY s.created_at DESC LIMIT 100",
    )
    .fetch_all(&mut **tx)
    .await
}

/// One page of the users that are locked, failing (`many_failures` or more
/// failures), never signed in or unverified, and their total.
pub async fn problematic_users(
    tx: &mut PlatformTx,
    q: &ProblematicQuery,
    many_failures: i32,
) -> Result<(Vec<ProblematicUser>, i64), sqlx::Error> {
    const INNER: &str = "SELECT u.tenant_id, t.slug AS tenant_slug, u.id AS user_id, u.email, u.is_active, \
        u.failed_login_count, u.locked_until, u.last_login_at, u.email_verified_at, u.created_at, \
        array_remove(ARRAY[ \
          CASE WHEN u.locked_until > now() THEN 'locked' END, \
          CASE WHEN u.failed_login_count >= $3 THEN 'many_failures' END, \
          CASE WHEN u.last_login_at IS NULL THEN 'never_signed_in' END, \
          CASE WHEN u.email_verified_at IS NULL THEN 'unverified' END], NULL) AS reasons \
        FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE ($2::uuid IS NULL OR u.tenant_id = $2)";
    const FILTER: &str = "WHERE cardinality(reasons) > 0 AND ($1::text IS NULL OR $1 = ANY(reasons))";
    let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM ({INNER}) x {FILTER}"
    )))
    .bind(&q.reason)
    .bind(q.tenant_id)
    .bind(many_failures)
    .fetch_one(&mut **tx)
    .await?;
    let items = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT * FROM ({INNER}) x {FILTER} ORDER BY (locked_until > now()) DESC NULLS LAST, \
         failed_login_count DESC, created_at DESC, user_id LIMIT $4 OFFSET $5"
    )))
    .bind(&q.reason)
    .bind(q.tenant_id)
    .bind(many_failures)
    .bind(q.page.limit())
    .bind(q.page.offset())
    .fetch_all(&mut **tx)
    .await?;
    Ok((items, total))
}

/// Locks the user (in any tenant); its tenant, email, failure count and lock.
pub async fn lock_lock_state(
    tx: &mut PlatformTx,
    id: Uuid,
) -> Result<Option<(Uuid, String, i32, Option<OffsetDateTime>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT tenant_id, email, failed_login_count, locked_until FROM users WHERE id = $1 \
         ORDER BY tenant_id LIMIT 1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut **tx)
    .await
}
