//! Security events (the user-facing trail of sign-in risk: failures, locks,
//! unlocks, token reuse, password and MFA changes) and the security-alert emails
//! that go with some of them.

use serde_json::{Value, json};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{db::TenantId, email, http::extract::ClientMeta};

/// Event types written to `security_events.event_type`.
pub mod kind {
    pub const LOGIN_FAILED: &str = "login.failed";
    pub const ACCOUNT_LOCKED: &str = "account.locked";
    pub const ACCOUNT_UNLOCKED: &str = "account.unlocked";
    pub const REFRESH_REUSE: &str = "session.refresh_token_reused";
    pub const PASSWORD_CHANGED: &str = "password.changed";
    pub const PASSWORD_RESET: &str = "password.reset";
    pub const MFA_ENABLED: &str = "mfa.enabled";
    pub const MFA_DISABLED: &str = "mfa.disabled";
    pub const RECOVERY_CODE_USED: &str = "mfa.recovery_code_used";
}

/// Appends one security event for `user` in `tenant` (RLS: `conn` must be that
/// tenant's transaction). A bare connection: the super admin's unlock writes
/// it from a platform transaction.
pub async fn record_event(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: Option<Uuid>,
    event_type: &str,
    details: Value,
    meta: &ClientMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO security_events (tenant_id, id, user_id, event_type, details, ip_address, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant.get())
    .bind(Uuid::new_v4())
    .bind(user)
    .bind(event_type)
    .bind(details)
    .bind(meta.ip.as_deref())
    .bind(meta.user_agent.as_deref())
    .execute(conn)
    .await
    .map(|_| ())
}

/// Who receives an alert.
#[derive(Debug, Clone, Copy)]
pub struct Recipient<'a> {
    pub email: &'a str,
    pub first_name: &'a str,
}

/// Queues a security-alert email (`event` is one of the codes the template knows,
/// e.g. `account_locked`, `password_changed`).
pub async fn alert(
    conn: &mut PgConnection,
    tenant: TenantId,
    to: Recipient<'_>,
    event: &str,
    detail: &str,
    meta: &ClientMeta,
    extra: Value,
) -> Result<(), sqlx::Error> {
    let mut context = json!({
        "first_name": to.first_name,
        "event": event,
        "detail": detail,
        "occurred_at": OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    });
    if let Some(ip) = &meta.ip {
        context["ip_address"] = json!(ip);
    }
    if let (Value::Object(ctx), Value::Object(extra)) = (&mut context, extra) {
        ctx.extend(extra);
    }
    email::enqueue(conn, tenant, to.email, email::EmailTemplate::SecurityAlert, context)
        .await
        .map(|_| ())
}
