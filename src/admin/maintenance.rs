//! `POST /admin/maintenance/cleanup` and `GET /admin/maintenance/status`.
//!
//! Cleanup deletes what has no further use: expired sessions (with their
//! refresh tokens), used or expired single-use tokens and invitations, sent
//! emails past retention, documents whose upload window closed without an
//! upload, and — in short batches, see [`super::retention`] — sign-in history,
//! security events and dead mail past their retention and spent OAuth states.
//! The audit log is kept. Each run is recorded in `maintenance_runs` (the
//! status page reports each rule's last count from it) and the system tenant's
//! audit chain. `serve` also runs it on a schedule
//! (`MAINTENANCE_INTERVAL_SECS`, default hourly; 0 = only on request).

use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use serde_json::{Map, Value, json};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::SuperAdmin,
    db::{PlatformAccess, PlatformTx, TenantId},
    http::{ApiResult, extract::ApiJson},
};

/// Sent emails are kept this long (for support and bounce correlation).
pub const SENT_EMAIL_RETENTION_DAYS: i64 = 30;

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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CleanupResult {
    pub run_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    /// Rows deleted per kind.
    pub counts: Value,
    pub total: u64,
}

/// Deletes expired and used data now.
#[utoipa::path(post, path = "/maintenance/cleanup", tag = "admin", security(("bearer" = ["super_admin"])),
    responses((status = 200, body = CleanupResult), (status = 403)))]
pub async fn cleanup(State(state): State<AppState>, admin: SuperAdmin) -> ApiResult<ApiJson<CleanupResult>> {
    let access = admin.access(&state.db);
    let SuperAdmin { ctx, tx } = admin;
    Ok(ApiJson(cleanup_in(&state, &access, tx, ctx.actor()).await?))
}

/// One cleanup run in `tx`, recorded as run by `actor` (the system when nobody);
/// `access` opens the batches' own transactions.
async fn cleanup_in(
    state: &AppState,
    access: &PlatformAccess,
    mut tx: PlatformTx,
    actor: AuditActor,
) -> anyhow::Result<CleanupResult> {
    // Retention first, each batch in its own transaction (not `tx`).
    let pruned = super::retention::prune_all(state, access).await?;
    let mut counts = run_cleanup(&mut tx).await?;
    counts.extend(pruned);
    // Expired uploads go through the documents feature so their stored bytes
    // are removed and each removal is audited in its tenant.
    let uploads = crate::projects::cleanup_expired_uploads(state, access).await?;
    counts.insert("expired_pending_documents".into(), json!(uploads));
    let total = counts.values().filter_map(Value::as_u64).sum();
    let counts = Value::Object(counts);
    let run_id = Uuid::new_v4();
    let ran_at: OffsetDateTime =
        sqlx::query_scalar("INSERT INTO maintenance_runs (id, ran_by, counts) VALUES ($1, $2, $3) RETURNING ran_at")
            .bind(run_id)
            .bind(actor.user_id)
            .bind(&counts)
            .fetch_one(&mut *tx)
            .await?;
    audit::record(
        &mut tx,
        TenantId::SYSTEM,
        &actor,
        AuditEvent::new(AuditAction::MaintenanceCleanup, "maintenance_run", run_id).new_values(&counts),
    )
    .await?;
    tx.commit().await?;
    Ok(CleanupResult {
        run_id,
        ran_at,
        counts,
        total,
    })
}

/// The scheduled cleanup: every `MAINTENANCE_INTERVAL_SECS` (the first one
/// interval after start-up) unless some instance ran one within that time, so
/// a fleet runs it about once per interval. An advisory lock keeps two
/// instances from running it together. Answers `None` when it was not due.
pub async fn scheduled_cleanup(
    state: &AppState,
    job: &PlatformAccess,
    interval: Duration,
) -> anyhow::Result<Option<CleanupResult>> {
    let mut tx = job.tx().await?;
    let due: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('tenantry.maintenance')) \
         AND NOT EXISTS (SELECT 1 FROM maintenance_runs WHERE ran_at > now() - make_interval(secs => $1))",
    )
    .bind(interval.as_secs_f64() * 0.9)
    .fetch_one(&mut *tx)
    .await?;
    if !due {
        return Ok(None);
    }
    cleanup_in(state, job, tx, AuditActor::default()).await.map(Some)
}

/// Runs [`scheduled_cleanup`] every `interval` until `stop` turns true.
pub async fn run(
    state: AppState,
    job: PlatformAccess,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
        }
        match scheduled_cleanup(&state, &job, interval).await {
            Ok(Some(run)) => tracing::info!(total = run.total, counts = %run.counts, "scheduled cleanup"),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = ?e.to_string(), "scheduled cleanup failed"),
        }
    }
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct LastRun {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    pub ran_by: Option<Uuid>,
    pub counts: Value,
}

#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TableSize {
    pub table: String,
    pub total_bytes: i64,
    pub estimated_rows: i64,
}

/// What one cleanup rule removed the last time it ran.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct RuleStatus {
    pub rule: String,
    /// Rows removed by that run.
    pub removed: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub ran_at: OffsetDateTime,
    /// The configured retention period; absent for rules that prune at once.
    #[sqlx(skip)]
    pub retention_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MaintenanceStatus {
    pub last_cleanup: Option<LastRun>,
    /// Each rule's last count (retention rules, expired tokens, …), by name.
    pub rules: Vec<RuleStatus>,
    pub database_bytes: i64,
    pub tables: Vec<TableSize>,
    pub pending_migrations: Option<usize>,
    pub applied_migrations: i64,
}

/// Last cleanup, table sizes and pending migrations.
#[utoipa::path(get, path = "/maintenance/status", tag = "admin", security(("bearer" = ["super_admin"])),
    responses((status = 200, body = MaintenanceStatus)))]
pub async fn status(
    State(state): State<AppState>,
    SuperAdmin { mut tx, .. }: SuperAdmin,
) -> ApiResult<ApiJson<MaintenanceStatus>> {
    let last_cleanup =
        sqlx::query_as("SELECT id, ran_at, ran_by, counts FROM maintenance_runs ORDER BY ran_at DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let mut rules: Vec<RuleStatus> = sqlx::query_as(
        "SELECT DISTINCT ON (k.rule) k.rule, COALESCE((r.counts ->> k.rule)::bigint, 0) AS removed, r.ran_at \
         FROM maintenance_runs r, jsonb_object_keys(r.counts) AS k(rule) \
         WHERE jsonb_typeof(r.counts -> k.rule) = 'number' \
         ORDER BY k.rule, r.ran_at DESC",
    )
    .fetch_all(&mut *tx)
    .await?;
    for rule in &mut rules {
        rule.retention_days = super::retention::RULES
            .iter()
            .find(|r| r.name == rule.rule)
            .and_then(|r| r.retention_days(&state.config.retention));
    }
    let tables = sqlx::query_as(
        "SELECT c.relname::text AS table, pg_total_relation_size(c.oid) AS total_bytes, \
         GREATEST(c.reltuples, 0)::bigint AS estimated_rows \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY total_bytes DESC, c.relname",
    )
    .fetch_all(&mut *tx)
    .await?;
    let database_bytes = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut *tx)
        .await?;
    let applied_migrations = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&mut *tx)
        .await?;
    let pending_migrations = state.db.pending_migrations().await.ok();
    Ok(ApiJson(MaintenanceStatus {
        last_cleanup,
        rules,
        database_bytes,
        tables,
        pending_migrations,
        applied_migrations,
    }))
}
