//! The `email` entry of `/health/detailed`: configured provider, last success,
//! queue depth and the age of the oldest pending message.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::EmailService;
use crate::db::{Db, PreAuth};

/// Pending mail older than this marks the email check as degraded.
const STALE_AFTER_SECS: f64 = 15.0 * 60.0;

#[derive(sqlx::FromRow)]
struct QueueStats {
    pending: i64,
    due: i64,
    dead: i64,
    oldest_pending_secs: Option<f64>,
    last_sent_at: Option<OffsetDateTime>,
    last_sent_provider: Option<String>,
}

async fn queue_stats(db: &Db) -> Result<QueueStats, sqlx::Error> {
    // Aggregates only; no tenant's rows leave the database.
    let mut tx = db.pre_auth_platform_tx(PreAuth::EmailQueueStats).await?;
    let stats = sqlx::query_as(
        "SELECT (SELECT count(*) FROM email_outbox WHERE status = 'pending') AS pending, \
                (SELECT count(*) FROM email_outbox WHERE status = 'pending' AND next_attempt_at <= now()) AS due, \
                (SELECT count(*) FROM email_outbox WHERE status = 'dead') AS dead, \
                (SELECT extract(epoch FROM now() - min(created_at))::float8 FROM email_outbox \
                 WHERE status = 'pending') AS oldest_pending_secs, \
                last.sent_at AS last_sent_at, last.provider AS last_sent_provider \
         FROM (SELECT 1) AS one \
         LEFT JOIN LATERAL (SELECT sent_at, provider FROM email_outbox WHERE status = 'sent' \
                            ORDER BY sent_at DESC LIMIT 1) AS last ON true",
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(stats)
}

fn rfc3339(t: Option<OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .map(Value::String)
        .unwrap_or(Value::Null)
}

/// The email check: `ok`, or `degraded` when mail is stuck or the last send on
/// this instance failed. `worker_enabled`: whether this instance runs the outbox worker.
pub async fn check(db: &Db, email: &EmailService, worker_enabled: bool) -> Value {
    let start = Instant::now();
    let local = email.status();
    let stats = tokio::time::timeout(Duration::from_secs(2), queue_stats(db)).await;
    let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut out = json!({
        "provider": email.provider_name(),
        "worker_enabled": worker_enabled,
        "latency_ms": latency_ms,
        "last_failure_at": rfc3339(local.last_failure_at),
        // Shown to super admins only: `/health/detailed` strips it for everyone else.
        "last_failure": local.last_failure,
    });
    let failing = match (local.last_failure_at, local.last_success_at) {
        (Some(f), Some(s)) => f > s,
        (Some(_), None) => true,
        _ => false,
    };
    match stats {
        Ok(Ok(s)) => {
            let stale = s.oldest_pending_secs.is_some_and(|a| a > STALE_AFTER_SECS);
            // The newest success across all instances (the database), else this one's.
            let (last_success_at, last_provider) = match s.last_sent_at {
                Some(at) => (Some(at), s.last_sent_provider),
                None => (local.last_success_at, local.last_success_provider.map(str::to_string)),
            };
            out["status"] = json!(if stale || failing { "degraded" } else { "ok" });
            out["last_success_at"] = rfc3339(last_success_at);
            out["last_success_provider"] = json!(last_provider);
            out["queue_depth"] = json!(s.pending);
            out["due_now"] = json!(s.due);
            out["dead"] = json!(s.dead);
            out["oldest_pending_age_seconds"] = json!(s.oldest_pending_secs.map(f64::round));
        }
        Ok(Err(e)) => {
            tracing::warn!(error = ?e.to_string(), "email health query failed");
            out["status"] = json!("degraded");
            out["error"] = json!("outbox statistics unavailable");
        }
        Err(_) => {
            out["status"] = json!("degraded");
            out["error"] = json!("outbox statistics timed out");
        }
    }
    out
}
