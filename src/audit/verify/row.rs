//! One exported row as the digest needs it, and the digest itself.

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{VerifyError, broken};
use crate::audit::jsonb_text::Jsonb;

/// One row as the digest needs it.
pub(super) struct Row {
    pub(super) line: u64,
    pub(super) tenant_id: Uuid,
    pub(super) id: Uuid,
    pub(super) seq: i64,
    pub(super) values: Vec<Jsonb>,
    pub(super) prev_hash: String,
    pub(super) hash: String,
}

/// Builds a row from a field getter (NDJSON member or CSV column).
pub(super) fn row_from(
    line: u64,
    get: impl Fn(&str) -> Result<Option<Jsonb>, VerifyError>,
) -> Result<Row, VerifyError> {
    let text = |name: &'static str| -> Result<Option<String>, VerifyError> {
        match get(name)? {
            None | Some(Jsonb::Null) => Ok(None),
            Some(Jsonb::String(s)) => Ok(Some(s)),
            Some(other) => Err(broken(line, name, "a string", other.to_pg_text())),
        }
    };
    let required = |name: &'static str| -> Result<String, VerifyError> {
        text(name)?.ok_or_else(|| broken(line, name, "a value", "nothing"))
    };
    let uuid = |name: &'static str| -> Result<Option<Uuid>, VerifyError> {
        text(name)?
            .map(|s| Uuid::parse_str(&s).map_err(|_| broken(line, name, "a UUID", s)))
            .transpose()
    };
    let uuid_value = |u: Option<Uuid>| u.map_or(Jsonb::Null, |u| Jsonb::String(u.to_string()));
    let text_value = |s: Option<String>| s.map_or(Jsonb::Null, Jsonb::String);
    let json = |name: &'static str| -> Result<Jsonb, VerifyError> { Ok(get(name)?.unwrap_or(Jsonb::Null)) };

    let tenant_id = uuid("tenant_id")?.ok_or_else(|| broken(line, "tenant_id", "a value", "nothing"))?;
    let id = uuid("id")?.ok_or_else(|| broken(line, "id", "a value", "nothing"))?;
    let seq = match get("seq")? {
        Some(Jsonb::Number(n)) => n.parse::<i64>().map_err(|_| broken(line, "seq", "an integer", n))?,
        other => {
            return Err(broken(
                line,
                "seq",
                "an integer",
                other.map_or("nothing".into(), |v| v.to_pg_text()),
            ));
        }
    };
    let created_at = required("created_at")?;
    // The export adds `Z`; the digest hashes the UTC time without it.
    let hashed_time = created_at.strip_suffix('Z').unwrap_or(&created_at).to_string();
    let mut values = vec![
        Jsonb::String(tenant_id.to_string()),
        Jsonb::String(id.to_string()),
        Jsonb::Number(seq.to_string()),
        Jsonb::String(hashed_time),
        uuid_value(uuid("actor_id")?),
        uuid_value(uuid("impersonator_id")?),
        Jsonb::String(required("action")?),
        Jsonb::String(required("resource_type")?),
        text_value(text("resource_id")?),
        json("old_values")?,
        json("new_values")?,
        text_value(text("ip_address")?),
        text_value(text("user_agent")?),
        text_value(text("request_id")?),
    ];
    if let Some(principal) = text("actor_principal")? {
        values.push(Jsonb::String(principal));
    }
    Ok(Row {
        line,
        tenant_id,
        id,
        seq,
        values,
        prev_hash: text("prev_hash")?.unwrap_or_default(),
        hash: required("hash")?,
    })
}

/// The hash `audit_row_digest` gives a row: hex of SHA-256(prev_hash bytes ‖ canonical text).
pub(super) fn digest(prev_hash: &[u8], values: Vec<Jsonb>) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash);
    h.update(Jsonb::Array(values).to_pg_text().as_bytes());
    hex::encode(h.finalize())
}
