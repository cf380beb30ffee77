//! Deletes expired role assignments and records each in its tenant's audit
//! chain. Expired assignments already stop granting at request time (the
//! authentication query filters `expires_at`); this only tidies up.

use std::time::Duration;

use serde_json::json;

use crate::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::PlatformAccess,
    users::accounts,
};

/// How often the sweeper runs.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// One sweep: answers how many assignments were removed.
pub async fn sweep_expired_assignments(job: &PlatformAccess) -> Result<u64, sqlx::Error> {
    let mut tx = job.tx().await?;
    let rows = accounts::delete_expired_assignments(&mut tx).await?;
    let system = AuditActor::default();
    for (tenant, user, role, expires_at, role_name) in &rows {
        let old = json!({"role_id": role, "role_name": role_name, "expires_at": audit::timestamp(*expires_at)});
        let tenant = tx.tenant(*tenant).await?;
        audit::record(
            &mut tx,
            tenant,
            &system,
            AuditEvent::new(AuditAction::RoleAssignmentExpired, "user", user).old(old),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows.len() as u64)
}

/// Runs [`sweep_expired_assignments`] every [`SWEEP_INTERVAL`] until `stop` turns true.
pub async fn run(job: PlatformAccess, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        match sweep_expired_assignments(&job).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired role assignments swept"),
            Err(e) => tracing::warn!(error = ?e.to_string(), "role assignment sweep failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
            changed = stop.changed() => if changed.is_err() || *stop.borrow() { break },
        }
    }
}
