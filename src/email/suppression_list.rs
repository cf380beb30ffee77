//! The email suppression list: addresses SES reported as permanently bouncing
//! or complaining. The SES webhook adds them ([`upsert`]), the outbox worker
//! skips them, and super admins list and remove entries through
//! `admin::email_suppressions`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{
    audit::{self, AuditAction, AuditActor, AuditEvent},
    db::{PlatformTx, TenantId},
};

/// Why an address is suppressed (the `email_suppressions.reason` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Bounce,
    Complaint,
    Manual,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
            Self::Manual => "manual",
        }
    }
}

/// Adds or refreshes a suppression (on a platform transaction) and audits it in
/// the system tenant. Returns whether the address was new.
pub async fn upsert(
    tx: &mut PlatformTx,
    email: &str,
    reason: SuppressionReason,
    details: Value,
) -> Result<bool, sqlx::Error> {
    let email = email.trim().to_lowercase();
    let inserted: bool = sqlx::query_scalar(
        "INSERT INTO email_suppressions (email, reason, details) VALUES ($1, $2, $3) \
         ON CONFLICT (email) DO UPDATE SET reason = EXCLUDED.reason, details = EXCLUDED.details, updated_at = now() \
         RETURNING (xmax = 0)",
    )
    .bind(&email)
    .bind(reason.as_str())
    .bind(&details)
    .fetch_one(&mut **tx)
    .await?;
    let event = AuditEvent::new(AuditAction::EmailSuppressionUpserted, "email_suppression", &email)
        .new_values(json!({"email": email, "reason": reason.as_str(), "details": details}));
    audit::record(tx, TenantId::SYSTEM, &AuditActor::default(), event).await?;
    Ok(inserted)
}
