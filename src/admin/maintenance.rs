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
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

pub use super::model::{LastRun, RuleStatus, SENT_EMAIL_RETENTION_DAYS, TableSize};
use crate::{
    admin::repo::maintenance as repo,
    app::AppState,
    audit::{self, AuditAction, AuditActor, AuditEvent},
    auth::SuperAdmin,
    db::{PlatformAccess, PlatformTx, TenantId},
    http::{ApiResult, extract::ApiJson},
};

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
    let mut counts = repo::run_cleanup(&mut tx).await?;
    counts.extend(pruned);
    // Expired uploads go through the documents feature so their stored bytes
    // are removed and each removal is audited in its tenant.
    let uploads = crate::projects::cleanup_expired_uploads(state, access).await?;
    counts.insert("expired_pending_documents".into(), json!(uploads));
    let total = counts.values().filter_map(Value::as_u64).sum();
    let counts = Value::Object(counts);
    let run_id = Uuid::new_v4();
    let ran_at = repo::insert_run(&mut tx, run_id, actor.user_id, &counts).await?;
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
    let due = repo::lock_if_due(&mut tx, interval.as_secs_f64() * 0.9).await?;
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
    let last_cleanup = repo::last_run(&mut tx).await?;
    let mut rules = repo::rule_statuses(&mut tx).await?;
    for rule in &mut rules {
        rule.retention_days = super::retention::RULES
            .iter()
            .find(|r| r.name == rule.rule)
            .and_then(|r| r.retention_days(&state.config.retention));
    }
    let tables = repo::table_sizes(&mut tx).await?;
    let database_bytes = repo::database_bytes(&mut tx).await?;
    let applied_migrations = repo::applied_migrations(&mut tx).await?;
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
