//! The email outbox: messages are written in the same transaction as their cause
//! and delivered later by the [worker](super::worker). A rolled-back cause never
//! sends mail; a committed one is never lost.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::kind::EmailTemplate;
use crate::db::TenantId;

/// The caller's mistake (bad address, context missing a key), surfaced through
/// `sqlx::Error::Encode` so `enqueue` keeps the error type of the transaction.
#[derive(Debug, thiserror::Error)]
#[error("cannot queue email: {0}")]
pub struct InvalidEmail(pub String);

/// Queues `template` for `to` in `tenant`, inside the caller's transaction (a
/// [`crate::db::TenantTx`] for `tenant`, or a platform transaction). Nothing is
/// sent unless that transaction commits. See [`super::kind`] for the keys each
/// template expects in `context`.
pub async fn enqueue(
    conn: &mut PgConnection,
    tenant: TenantId,
    to: &str,
    template: EmailTemplate,
    context: Value,
) -> Result<Uuid, sqlx::Error> {
    let to = to.trim();
    if !looks_like_address(to) {
        return Err(sqlx::Error::Encode(Box::new(InvalidEmail(format!(
            "`{to}` is not an email address"
        )))));
    }
    template
        .check_context(&context)
        .map_err(|e| sqlx::Error::Encode(Box::new(InvalidEmail(e))))?;
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO email_outbox (tenant_id, id, to_email, template, context) VALUES ($1, $2, $3, $4, $5)")
        .bind(tenant.get())
        .bind(id)
        .bind(to)
        .bind(template.as_str())
        .bind(&context)
        .execute(conn)
        .await?;
    tracing::debug!(email_id = %id, template = template.as_str(), "email queued");
    Ok(id)
}

/// One `@`, something on both sides, no whitespace or control characters (the
/// provider does the real validation; this keeps header injection out).
pub(crate) fn looks_like_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && addr.len() <= 254
        && !addr
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';'))
}

#[cfg(test)]
mod tests {
    use super::looks_like_address;

    #[test]
    fn address_shape() {
        assert!(looks_like_address("ada@example.com"));
        assert!(looks_like_address("a.b+tag@sub.example.co.uk"));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b.com\r\nBcc: x@y.z",
            "a@@b.com",
            "<a@b.com>",
            "a@b.com,c@d.com",
        ] {
            assert!(!looks_like_address(bad), "{bad:?}");
        }
    }
}
