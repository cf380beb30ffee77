//! The delivery worker: claims due deliveries, POSTs them signed, records the
//! outcome and schedules retries.
//!
//! Decisions:
//! - Only the oldest pending delivery of an endpoint is ever claimable, so an
//!   endpoint gets its events in order: event n+1 waits until n succeeded or
//!   was given up. A claim leases the row (pushes `next_attempt_at` past the
//!   request timeout) and commits, so no transaction is held over HTTP and a
//!   crashed worker's claim simply comes due again (at least once).
//! - Claims use `FOR UPDATE SKIP LOCKED`, so any number of instances share the work.
//! - At most one request per endpoint is in flight (the lease), at most
//!   [`MAX_IN_FLIGHT`] in all; one slow endpoint holds one slot, never the
//!   other tenants' deliveries.
//! - Retries back off over ≈24 h ([`BACKOFF`] × `WEBHOOK_RETRY_BASE_MS`);
//!   after the last one the delivery is `failed`, the endpoint is disabled,
//!   the change is audited, and the tenant's admins are emailed.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use super::signing;
use crate::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    crypto::SecretBox,
    db::{PlatformAccess, PlatformTx, TenantId},
    email::{kind::EmailTemplate, outbox},
    http::outbound::{OutboundClient, TIMEOUT},
};

/// Retry delays as multiples of the base (5 s by default): 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 8 h — the last attempt ≈25.6 h after the first.
pub const BACKOFF: [u32; 7] = [1, 60, 360, 1440, 3600, 7200, 5760];
/// Requests in flight at most, over all tenants.
pub const MAX_IN_FLIGHT: usize = 16;
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// What the worker needs; no `AppState`.
#[derive(Clone)]
pub struct Deliverer {
    pub job: PlatformAccess,
    pub secrets: SecretBox,
    pub client: OutboundClient,
    pub retry_base: Duration,
}

/// A claimed delivery with what sending it needs.
#[derive(sqlx::FromRow)]
struct Claimed {
    tenant_id: Uuid,
    id: Uuid,
    endpoint_id: Uuid,
    payload: Value,
    attempts: i32,
    url: String,
    secret_enc: Vec<u8>,
    previous_secret_enc: Option<Vec<u8>>,
}

/// How one attempt went.
struct Outcome {
    status: Option<i32>,
    latency_ms: Option<i32>,
    error: Option<String>,
}

impl Deliverer {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
        while !*stop.borrow() {
            let free = slots.available_permits();
            if free > 0 {
                match self.claim(free as i64).await {
                    Ok(batch) => {
                        for claimed in batch {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                break;
                            };
                            let me = self.clone();
                            tokio::spawn(async move {
                                me.attempt(claimed).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = ?e.to_string(), "claiming webhook deliveries failed"),
                }
            }
            tokio::select! {
                changed = stop.changed() => if changed.is_err() { break },
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// One pass: claims what is due now and delivers it (tests drive the worker with this).
    pub async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let batch = self.claim(MAX_IN_FLIGHT as i64).await?;
        let n = batch.len();
        futures::future::join_all(batch.into_iter().map(|c| self.attempt(c))).await;
        Ok(n)
    }

    async fn claim(&self, limit: i64) -> Result<Vec<Claimed>, sqlx::Error> {
        let mut tx = self.job.tx().await?;
        let lease = (TIMEOUT.as_secs() * 6) as f64;
        let batch = sqlx::query_as::<_, Claimed>(
            "WITH due AS ( \
               SELECT d.tenant_id, d.id FROM webhook_deliveries d \
               JOIN webhook_endpoints e ON e.tenant_id = d.tenant_id AND e.id = d.endpoint_id \
               WHERE d.status = 'pending' AND d.next_attempt_at <= now() AND e.enabled \
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.tenant_id = d.tenant_id \
                   AND p.endpoint_id = d.endpoint_id AND p.status = 'pending' AND p.seq < d.seq) \
               ORDER BY d.next_attempt_at LIMIT $1 FOR UPDATE OF d SKIP LOCKED) \
             UPDATE webhook_deliveries d SET attempts = d.attempts + 1, last_attempt_at = now(), \
               next_attempt_at = now() + make_interval(secs => $2) \
             FROM due, webhook_endpoints e \
             WHERE d.tenant_id = due.tenant_id AND d.id = due.id \
               AND e.tenant_id = d.tenant_id AND e.id = d.endpoint_id \
             RETURNING d.tenant_id, d.id, d.endpoint_id, d.payload, d.attempts, e.url, e.secret_enc, \
               CASE WHEN e.previous_expires_at > now() THEN e.previous_secret_enc END AS previous_secret_enc",
        )
        .bind(limit)
        .bind(lease)
        .fetch_all(&mut *tx)
        .await?;
        // As the email outbox's claim: an idle poll changed nothing and ends
        // without a commit, which would empty the auth cache.
        if !batch.is_empty() {
            tx.commit().await?;
        }
        Ok(batch)
    }

    /// The `webhook-signature` value: one signature per valid secret, newest first.
    fn signatures(&self, c: &Claimed, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
        let context = signing::seal_context(TenantId::from_trusted(c.tenant_id), c.endpoint_id);
        let mut sigs = Vec::new();
        for sealed in std::iter::once(&c.secret_enc).chain(c.previous_secret_enc.as_ref()) {
            let secret = self.secrets.open_string(sealed, &context).ok()?;
            sigs.push(signing::sign(&secret, id, timestamp, body)?);
        }
        Some(sigs.join(" "))
    }

    async fn attempt(&self, c: Claimed) {
        let outcome = self.send(&c).await;
        if let Err(e) = self.record(&c, outcome).await {
            // The lease expires and the delivery is tried again: at least once.
            tracing::warn!(error = ?e.to_string(), delivery = %c.id, "recording a webhook delivery failed");
        }
    }

    async fn send(&self, c: &Claimed) -> Outcome {
        let body = serde_json::to_vec(&c.payload).unwrap_or_default();
        let id = c.id.to_string();
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let Some(signature) = self.signatures(c, &id, timestamp, &body) else {
            return Outcome {
                status: None,
                latency_ms: None,
                error: Some("the signing secret could not be opened".into()),
            };
        };
        let headers = [
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        match self.client.post_json(&c.url, &headers, body).await {
            Ok(r) => Outcome {
                status: Some(i32::from(r.status)),
                latency_ms: Some(r.latency.as_millis().min(i32::MAX as u128) as i32),
                error: (!(200..300).contains(&r.status)).then(|| format!("the endpoint answered {}", r.status)),
            },
            Err(e) => Outcome {
                status: None,
                latency_ms: None,
                error: Some(e.to_string()),
            },
        }
    }

    async fn record(&self, c: &Claimed, o: Outcome) -> Result<(), sqlx::Error> {
        let mut tx = self.job.tx().await?;
        let retry = BACKOFF.get(usize::try_from(c.attempts - 1).unwrap_or(0)).copied();
        let (status, delay) = match (&o.error, retry) {
            (None, _) => ("succeeded", Duration::ZERO),
            (Some(_), Some(mult)) => ("pending", self.retry_base * mult),
            (Some(_), None) => ("failed", Duration::ZERO),
        };
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, response_status = $4, latency_ms = $5, last_error = $6, \
             next_attempt_at = now() + make_interval(secs => $7) WHERE tenant_id = $1 AND id = $2",
        )
        .bind(c.tenant_id)
        .bind(c.id)
        .bind(status)
        .bind(o.status)
        .bind(o.latency_ms)
        .bind(&o.error)
        .bind(delay.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        if status == "failed" {
            disable_endpoint(&mut tx, c, o.error.as_deref()).await?;
        }
        tx.commit().await
    }
}

/// Disables the endpoint whose delivery was given up, audits it and emails
/// the tenant's admins (every active user holding `tenant:manage`) the
/// endpoint, the last attempt's error and how to re-enable it.
async fn disable_endpoint(tx: &mut PlatformTx, c: &Claimed, last_error: Option<&str>) -> Result<(), sqlx::Error> {
    let reason = "Deliveries failed for 24 hours";
    let disabled = sqlx::query(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, updated_at = now() \
         WHERE tenant_id = $1 AND id = $2 AND enabled",
    )
    .bind(c.tenant_id)
    .bind(c.endpoint_id)
    .bind(reason)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if disabled == 0 {
        return Ok(());
    }
    let tenant = TenantId::from_trusted(c.tenant_id);
    let actor = AuditActor {
        principal: Some("system:webhooks".into()),
        ..Default::default()
    };
    audit::record(
        tx,
        tenant,
        &actor,
        AuditEvent::new(AuditAction::WebhookDisabled, "webhook", c.endpoint_id)
            .new_values(json!({"enabled": false, "disabled_reason": reason})),
    )
    .await?;
    let admins: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT u.email FROM users u \
         JOIN user_roles ur ON ur.tenant_id = u.tenant_id AND ur.user_id = u.id \
           AND (ur.expires_at IS NULL OR ur.expires_at > now()) \
         JOIN role_permissions rp ON rp.tenant_id = ur.tenant_id AND rp.role_id = ur.role_id \
         WHERE u.tenant_id = $1 AND u.is_active AND rp.permission = 'tenant:manage'",
    )
    .bind(c.tenant_id)
    .fetch_all(&mut **tx)
    .await?;
    for email in admins {
        outbox::enqueue(
            tx,
            tenant,
            &email,
            EmailTemplate::WebhookDisabled,
            json!({"endpoint_url": c.url, "endpoint_id": c.endpoint_id, "last_error": last_error}),
        )
        .await?;
    }
    Ok(())
}
