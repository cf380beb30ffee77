//! The outbox worker. Any number of instances may run it at once.
//!
//! A pass claims due rows with `FOR UPDATE SKIP LOCKED` in a short transaction
//! that bumps `attempts` and pushes `next_attempt_at` one lease into the future,
//! and commits. Only then are the messages rendered and sent, and each outcome
//! is written in its own transaction, guarded by the claimed attempt number.
//! A crash between claim and outcome leaves the row pending: it is picked up
//! again when the lease runs out (a retry, never a loss).

use std::{sync::Arc, time::Duration};

use rand::Rng;
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use super::{
    EmailService,
    kind::EmailTemplate,
    provider::{Delivered, FailureKind, OutgoingEmail},
    templates::Recipient,
};
use crate::db::PlatformAccess;

/// Rows claimed per round; each claimed message is sent at once.
const BATCH: i64 = 8;
/// How long a claim holds a row; well above [`SEND_TIMEOUT`].
const LEASE_SECS: f64 = 300.0;
/// Upper bound on one send, fallback included.
const SEND_TIMEOUT: Duration = Duration::from_secs(90);
/// How often an idle worker looks for due mail.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// First retry delay; doubled per attempt up to [`MAX_BACKOFF_SECS`].
const BASE_BACKOFF_SECS: f64 = 10.0;
const MAX_BACKOFF_SECS: f64 = 3600.0;

/// Runs until `stop` turns true: a pass whenever woken, else every second.
pub async fn run(job: PlatformAccess, email: Arc<EmailService>, mut stop: watch::Receiver<bool>) {
    tracing::info!(provider = %email.provider_name(), "email worker started");
    while !*stop.borrow() {
        if let Err(e) = drain(&job, &email, Some(&stop)).await {
            tracing::warn!(error = ?format!("{e:#}"), "email outbox pass failed");
        }
        tokio::select! {
            changed = stop.changed() => if changed.is_err() { break },
            _ = email.wake.notified() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
    tracing::info!("email worker stopped");
}

/// One pass: claims and handles every message due now; returns how many.
pub async fn drain_once(job: &PlatformAccess, email: &EmailService) -> anyhow::Result<usize> {
    drain(job, email, None).await
}

/// Like [`drain_once`], but stops between batches once `stop` turns true, so a
/// large backlog never holds up shutdown (unclaimed rows wait for the next worker).
async fn drain(
    job: &PlatformAccess,
    email: &EmailService,
    stop: Option<&watch::Receiver<bool>>,
) -> anyhow::Result<usize> {
    let mut handled = 0;
    loop {
        if stop.is_some_and(|s| *s.borrow()) {
            return Ok(handled);
        }
        let batch = claim(job).await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        handled += batch.len();
        let results = futures::future::join_all(batch.into_iter().map(|m| handle(job, email, m))).await;
        for err in results.into_iter().filter_map(Result::err) {
            // The row keeps its lease and is retried after it; nothing is lost.
            tracing::warn!(error = ?err.to_string(), "could not record an email outcome");
        }
    }
}

/// A claimed row with what rendering needs.
#[derive(Debug, sqlx::FromRow)]
struct Claimed {
    tenant_id: Uuid,
    id: Uuid,
    to_email: String,
    template: String,
    context: Value,
    attempts: i32,
    tenant_name: String,
    tenant_slug: String,
    suppressed: Option<String>,
}

async fn claim(job: &PlatformAccess) -> Result<Vec<Claimed>, sqlx::Error> {
    let mut tx = job.tx().await?;
    let rows = sqlx::query_as::<_, Claimed>(
        "WITH due AS ( \
             SELECT tenant_id, id FROM email_outbox \
             WHERE status = 'pending' AND next_attempt_at <= now() \
             ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         UPDATE email_outbox o \
         SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => $2) \
         FROM due JOIN tenants t ON t.id = due.tenant_id \
         WHERE o.tenant_id = due.tenant_id AND o.id = due.id \
         RETURNING o.tenant_id, o.id, o.to_email, o.template, o.context, o.attempts, \
                   t.name AS tenant_name, t.slug AS tenant_slug, \
                   (SELECT s.reason FROM email_suppressions s WHERE s.email = lower(o.to_email)) AS suppressed",
    )
    .bind(BATCH)
    .bind(LEASE_SECS)
    .fetch_all(&mut *tx)
    .await?;
    // Nothing due (every idle poll): the UPDATE changed nothing, so the
    // transaction ends without a commit, which would empty the auth cache.
    if !rows.is_empty() {
        tx.commit().await?;
    }
    Ok(rows)
}

/// What became of one claimed message.
#[derive(Debug)]
enum Outcome {
    Sent(Delivered),
    Retry { error: String, after_secs: f64 },
    Dead(String),
    Suppressed(String),
}

async fn handle(job: &PlatformAccess, email: &EmailService, m: Claimed) -> Result<(), sqlx::Error> {
    let outcome = decide(email, &m).await;
    match &outcome {
        Outcome::Sent(d) => tracing::info!(email_id = %m.id, provider = d.provider, "email sent"),
        Outcome::Retry { error, after_secs } => {
            tracing::warn!(email_id = %m.id, attempt = m.attempts, retry_in_secs = *after_secs as u64, ?error, "email send failed")
        }
        Outcome::Dead(error) => {
            tracing::error!(email_id = %m.id, attempt = m.attempts, ?error, "email given up")
        }
        Outcome::Suppressed(reason) => {
            tracing::info!(email_id = %m.id, ?reason, "email skipped: address suppressed")
        }
    }
    record(job, &m, outcome).await
}

async fn decide(service: &EmailService, m: &Claimed) -> Outcome {
    let max_attempts = service.max_attempts;
    if let Some(reason) = &m.suppressed {
        return Outcome::Suppressed(format!("address on the suppression list ({reason})"));
    }
    if m.attempts > max_attempts {
        return Outcome::Dead("gave up: the final attempt's lease expired without an outcome".into());
    }
    let Some(kind) = EmailTemplate::parse(&m.template) else {
        return Outcome::Dead(format!("unknown template `{}`", m.template));
    };
    let to = Recipient {
        to_email: &m.to_email,
        tenant_name: &m.tenant_name,
        tenant_slug: &m.tenant_slug,
    };
    let content = match service.templates.render(kind, &to, &m.context) {
        Ok(content) => content,
        Err(e) => return Outcome::Dead(format!("template error: {e:#}")),
    };
    let email = OutgoingEmail {
        id: m.id,
        from: service.from.clone(),
        to: m.to_email.clone(),
        content,
    };
    let (kind, error) = match tokio::time::timeout(SEND_TIMEOUT, service.sender.send(&email)).await {
        Ok(Ok(delivered)) => {
            service.record_success(delivered.provider);
            return Outcome::Sent(delivered);
        }
        Ok(Err(e)) => (e.kind, e.to_string()),
        Err(_) => (
            FailureKind::Transient,
            format!("send timed out after {}s", SEND_TIMEOUT.as_secs()),
        ),
    };
    service.record_failure(&error);
    if kind == FailureKind::Permanent || m.attempts >= max_attempts {
        Outcome::Dead(error)
    } else {
        Outcome::Retry {
            error,
            after_secs: backoff_secs(m.attempts),
        }
    }
}

/// Exponential backoff with ±20 % jitter so retries of a burst spread out.
fn backoff_secs(attempt: i32) -> f64 {
    let exp = BASE_BACKOFF_SECS * 2f64.powi(attempt.clamp(1, 20) - 1);
    exp.min(MAX_BACKOFF_SECS) * rand::rng().random_range(0.8..1.2)
}

/// Writes the outcome if this worker still holds the claim (same attempt).
/// Raw tokens leave the stored context once the message is settled.
async fn record(job: &PlatformAccess, m: &Claimed, outcome: Outcome) -> Result<(), sqlx::Error> {
    let (status, provider, message_id, error, suppressed, retry_secs) = match outcome {
        Outcome::Sent(d) => ("sent", Some(d.provider), Some(d.message_id), None, None, 0.0),
        Outcome::Retry { error, after_secs } => ("pending", None, None, Some(error), None, after_secs),
        Outcome::Dead(error) => ("dead", None, None, Some(error), None, 0.0),
        Outcome::Suppressed(reason) => ("suppressed", None, None, None, Some(reason), 0.0),
    };
    let mut tx = job.tx().await?;
    let updated = sqlx::query(
        "UPDATE email_outbox SET status = $4, provider = $5, provider_message_id = $6, \
             last_error = COALESCE($7, last_error), suppressed_reason = $8, \
             sent_at = CASE WHEN $4 = 'sent' THEN now() END, \
             next_attempt_at = CASE WHEN $4 = 'pending' THEN now() + make_interval(secs => $9) \
                                    ELSE next_attempt_at END, \
             context = CASE WHEN $4 = 'pending' THEN context ELSE context - 'token' END \
         WHERE tenant_id = $1 AND id = $2 AND attempts = $3 AND status = 'pending'",
    )
    .bind(m.tenant_id)
    .bind(m.id)
    .bind(m.attempts)
    .bind(status)
    .bind(provider)
    .bind(message_id)
    .bind(error.map(|e| truncate(&e, 2000)))
    .bind(suppressed)
    .bind(retry_secs)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if updated == 0 {
        tracing::warn!(email_id = %m.id, "email claim was lost before its outcome was recorded");
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for (attempt, base) in [(1, 10.0), (2, 20.0), (3, 40.0), (8, 1280.0), (30, 3600.0)] {
            let b = backoff_secs(attempt);
            assert!(b >= base * 0.8 && b <= base * 1.2, "attempt {attempt}: {b}");
        }
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "hé");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
