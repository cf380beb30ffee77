//! The audit trail: one append-only, per-tenant hash-chained row per state change,
//! written inside the caller's transaction so it commits (or not) with the change.
//!
//! [`record`] is the only writer. The chain (seq, prev_hash, hash) is filled by a
//! database trigger that locks the tenant's chain head for this transaction only.

pub mod action;
pub mod export;
pub mod handlers;
pub mod jsonb_text;
pub mod repo;
pub mod verify;

pub use action::AuditAction;

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{db::TenantId, http::extract::ClientMeta};

/// Who did it, on whose behalf, from where.
#[derive(Debug, Clone, Default)]
pub struct AuditActor {
    pub user_id: Option<Uuid>,
    pub impersonator_id: Option<Uuid>,
    pub meta: ClientMeta,
    /// A caller that is not a person: `api_key:<name>`, `scim:<name>`
    /// (`user_id` is then `None`). Part of the row's hash when set.
    pub principal: Option<String>,
}

impl AuditActor {
    /// A person acting for themselves: not impersonated, not a machine principal.
    pub fn user(user_id: Uuid, meta: ClientMeta) -> Self {
        Self {
            user_id: Some(user_id),
            impersonator_id: None,
            meta,
            principal: None,
        }
    }
}

/// What happened to which resource; old and new values are redacted on write.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub action: AuditAction,
    pub resource_type: &'static str,
    pub resource_id: Option<String>,
    pub old_values: Option<Value>,
    pub new_values: Option<Value>,
}

impl AuditEvent {
    pub fn new(action: AuditAction, resource_type: &'static str, resource_id: impl ToString) -> Self {
        Self {
            action,
            resource_type,
            resource_id: Some(resource_id.to_string()),
            old_values: None,
            new_values: None,
        }
    }
    pub fn old(mut self, v: impl serde::Serialize) -> Self {
        self.old_values = serde_json::to_value(v).ok();
        self
    }
    pub fn new_values(mut self, v: impl serde::Serialize) -> Self {
        self.new_values = serde_json::to_value(v).ok();
        self
    }
}

/// Appends one audit row for `tenant` on `conn`. `&mut PgConnection` because
/// both scopes write audit rows: a [`TenantTx`](crate::db::TenantTx) for its own
/// tenant, a [`PlatformTx`](crate::db::PlatformTx) for any (the system chain, jobs).
pub async fn record(
    conn: &mut PgConnection,
    tenant: TenantId,
    actor: &AuditActor,
    event: AuditEvent,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_logs (tenant_id, id, seq, actor_id, impersonator_id, action, resource_type, \
         resource_id, old_values, new_values, ip_address, user_agent, request_id, actor_principal, prev_hash, hash) \
         VALUES ($1, $2, 0, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '\\x', '\\x')",
    )
    .bind(tenant.get())
    .bind(Uuid::new_v4())
    .bind(actor.user_id)
    .bind(actor.impersonator_id)
    .bind(event.action.as_str())
    .bind(event.resource_type)
    .bind(event.resource_id)
    .bind(event.old_values.map(redact))
    .bind(event.new_values.map(redact))
    .bind(actor.meta.ip.as_deref())
    .bind(actor.meta.user_agent.as_deref())
    .bind(actor.meta.request_id.as_deref())
    .bind(actor.principal.as_deref())
    .execute(conn)
    .await
    .map(|_| ())
}

/// Keys whose values never reach an audit row.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password", "secret", "token", "hash", "totp", "recovery", "api_key", "private",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// An instant for `old`/`new_values`: RFC 3339 text (`null` when absent). `json!`
/// would otherwise write the `time` crate's default, a tuple of numbers.
pub fn timestamp(t: Option<time::OffsetDateTime>) -> Value {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .map_or(Value::Null, Value::String)
}

/// Replaces every secret-looking field, at any depth, with `"[REDACTED]"`.
pub fn redact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    if is_secret_key(&k) && !v.is_null() && !v.is_boolean() {
                        (k, Value::String("[REDACTED]".into()))
                    } else {
                        (k, redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact).collect()),
        other => other,
    }
}

/// Result of walking a tenant's chain.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ChainVerification {
    pub tenant_id: Uuid,
    pub valid: bool,
    pub rows_checked: i64,
    pub first_broken_id: Option<Uuid>,
    pub first_broken_seq: Option<i64>,
}

/// Recomputes every hash of `tenant`'s chain in order; reports the first bad row.
/// A bare connection: a tenant's own check and the platform's check of every
/// tenant share it.
pub async fn verify_chain(conn: &mut PgConnection, tenant: Uuid) -> Result<ChainVerification, sqlx::Error> {
    let (checked, broken_id, broken_seq): (i64, Option<Uuid>, Option<i64>) =
        sqlx::query_as("SELECT checked, first_broken_id, first_broken_seq FROM audit_verify_chain($1)")
            .bind(tenant)
            .fetch_one(conn)
            .await?;
    Ok(ChainVerification {
        tenant_id: tenant,
        valid: broken_id.is_none(),
        rows_checked: checked,
        first_broken_id: broken_id,
        first_broken_seq: broken_seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_nested_secrets_but_keeps_flags() {
        let v = redact(
            json!({"email":"a@b.c","password":"x","idp":{"client_secret":"s","has_client_secret":true},
            "list":[{"refresh_token":"t"}]}),
        );
        assert_eq!(v["password"], "[REDACTED]");
        assert_eq!(v["idp"]["client_secret"], "[REDACTED]");
        assert_eq!(v["idp"]["has_client_secret"], true);
        assert_eq!(v["list"][0]["refresh_token"], "[REDACTED]");
        assert_eq!(v["email"], "a@b.c");
    }
}
