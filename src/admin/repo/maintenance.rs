//! SQL of maintenance (`admin::maintenance`): the cleanup steps, the record
//! of runs, and the status figures.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    admin::model::{LastRun, RuleStatus, SENT_EMAIL_RETENTION_DAYS, TableSize},
    db::PlatformTx,
};

/// What each cleanup step deletes, in order (refresh tokens before the sessions
/// that would take them by cascade, so both are counted).
const STEPS: &[(&str, &str)] = &[
    (
        "refresh_tokens",
        "DELETE FROM refresh_tokens rt USING user_sessions s \
         WHERE s.tenant_id = rt.tenant_id AND s.id = rt.session_id AND s.expires_at < now()",
    ),
    ("sessions", "DELETE FROM user_sessions WHERE expires_at < now()"),
    (
        "password_reset_tokens",
        "DELETE FROM password_reset_tokens WHERE used_at IS NOT NULL OR expires_at < now()",
    ),
    (
        "email_verification_tokens",
        "DELETE FROM email_verification_tokens WHERE used_at IS NOT NULL OR expires_at < now()",
    ),
    (
        "account_unlock_tokens",
        "DELETE FROM account_unlock_tokens WHERE used_at IS NOT NULL OR expires_at < now()",
    ),
    (
        "invitations",
        "DELETE FROM invitations WHERE accepted_at IS NOT NULL OR expires_at < now()",
    ),
];

/// Runs every step in `conn` (a platform transaction); answers the counts.
pub async fn run_cleanup(tx: &mut PlatformTx) -> Result<Map<String, Value>, sqlx::Error> {
    let mut counts = Map::new();
    for (name, sql) in STEPS {
        let n = sqlx::query(*sql).execute(&mut **tx).await?.rows_affected();
        counts.insert((*name).to_string(), json!(n));
    }
    let sent = sqlx::query(
        "DELETE FROM email_outbox WHERE status = 'sent' \
         AND COALESCE(sent_at, created_at) < now() - make_interval(days => $1::int)",
    )
    .bind(SENT_EMAIL_RETENTION_DAYS as i32)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    counts.insert("sent_emails".into(), json!(sent));
    Ok(counts)
}

/// Records a run; when it ran.
pub async fn insert_run(
    tx: &mut PlatformTx,
    id: Uuid,
    ran_by: Option<Uuid>,
    counts: &Value,
) -> Result<OffsetDateTime, sqlx::Error> {
    sqlx::query_scalar("INSERT INTO maintenance_runs (id, ran_by, counts) VALUES ($1, $2, $3) RETURNING ran_at")
        .bind(id)
        .bind(ran_by)
        .bind(counts)
        .fetch_one(&mut **tx)
        .await
}

/// Whether a scheduled run is due: takes the maintenance advisory lock (for
/// the transaction) and finds no run within the last `secs` seconds.
pub async fn lock_if_due(tx: &mut PlatformTx, secs: f64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('tenantry.maintenance')) \
         AND NOT EXISTS (SELECT 1 FROM maintenance_runs WHERE ran_at > now() - make_interval(secs => $1))",
    )
    .bind(secs)
    .fetch_one(&mut **tx)
    .await
}

pub async fn last_run(tx: &mut PlatformTx) -> Result<Option<LastRun>, sqlx::Error> {
    sqlx::query_as("SELECT id, ran_at, ran_by, counts FROM maintenance_runs ORDER BY ran_at DESC LIMIT 1")
        .fetch_optional(&mut **tx)
        .await
}

/// Each rule's count from the last run that reported it (retention unset).
pub async fn rule_statuses(tx: &mut PlatformTx) -> Result<Vec<RuleStatus>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT ON (k.rule) k.rule, COALESCE((r.counts ->> k.rule)::bigint, 0) AS removed, r.ran_at \
         FROM maintenance_runs r, jsonb_object_keys(r.counts) AS k(rule) \
         WHERE jsonb_typeof(r.counts -> k.rule) = 'number' \
         ORDER BY k.rule, r.ran_at DESC",
    )
    .fetch_all(&mut **tx)
    .await
}

/// The public tables by size, largest first.
pub async fn table_sizes(tx: &mut PlatformTx) -> Result<Vec<TableSize>, sqlx::Error> {
    sqlx::query_as(
        "SELECT c.relname::text AS table, pg_total_relation_size(c.oid) AS total_bytes, \
         GREATEST(c.reltuples, 0)::bigint AS estimated_rows \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY total_bytes DESC, c.relname",
    )
    .fetch_all(&mut **tx)
    .await
}

pub async fn database_bytes(tx: &mut PlatformTx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut **tx)
        .await
}

pub async fn applied_migrations(tx: &mut PlatformTx) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut **tx)
        .await
}
