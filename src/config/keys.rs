//! The signing and encryption keys, current and previous.
//!
//! Decisions:
//! - Rotation without downtime: the current keys sign and seal; the previous
//!   ones (`SECRET_KEY_PREVIOUS`, `ENCRYPTION_KEYS_PREVIOUS=id:key,…`) only
//!   verify and open, until tokens have expired and `tenantry rotate-keys` has
//!   re-sealed everything.
//! - Encryption key ids travel inside every sealed value (one length byte), so
//!   an id is 1–64 characters of `[A-Za-z0-9._-]` and each names one key.

use super::{
    production::MIN_KEY_BYTES,
    vars::{ConfigError, Secret, Vars},
};

/// The development-only signing key used when SECRET_KEY is unset.
const DEV_SECRET_KEY: &str = "development-only-secret-key-change-me-0123456789";

pub(super) struct Keys {
    pub secret_key: Secret,
    pub secret_key_previous: Option<Secret>,
    pub encryption_key: Secret,
    pub encryption_key_id: String,
    pub encryption_keys_previous: Vec<(String, Secret)>,
}

/// Reads the keys; production presence and strength were checked before.
pub(super) fn read(v: &Vars) -> Result<Keys, ConfigError> {
    let secret_key = match v.get("SECRET_KEY") {
        Some(k) => Secret::new(long_enough(v, "SECRET_KEY", k)?),
        None => Secret::new(DEV_SECRET_KEY),
    };
    let secret_key_previous = match v.get("SECRET_KEY_PREVIOUS") {
        Some(k) if k == secret_key.expose() => {
            return Err(v.bad("SECRET_KEY_PREVIOUS", "must differ from SECRET_KEY".into()));
        }
        Some(k) => Some(Secret::new(long_enough(v, "SECRET_KEY_PREVIOUS", k)?)),
        None => None,
    };
    let encryption_key = match v.get("ENCRYPTION_KEY") {
        Some(k) => Secret::new(long_enough(v, "ENCRYPTION_KEY", k)?),
        // Development only (production refuses a missing ENCRYPTION_KEY).
        None => Secret::new(format!("enc:{}", secret_key.expose())),
    };
    let encryption_key_id = v.get("ENCRYPTION_KEY_ID").unwrap_or_else(|| "k1".into());
    if !valid_key_id(&encryption_key_id) {
        return Err(v.bad(
            "ENCRYPTION_KEY_ID",
            "must be 1-64 characters of A-Z a-z 0-9 . _ -".into(),
        ));
    }
    let mut encryption_keys_previous: Vec<(String, Secret)> = Vec::new();
    for entry in v.list("ENCRYPTION_KEYS_PREVIOUS") {
        let bad = |reason: &str| v.bad("ENCRYPTION_KEYS_PREVIOUS", reason.to_string());
        let (id, key) = entry
            .split_once(':')
            .ok_or_else(|| bad("entries are id:key, comma-separated"))?;
        if !valid_key_id(id) {
            return Err(bad("key ids are 1-64 characters of A-Z a-z 0-9 . _ -"));
        }
        if id == encryption_key_id || encryption_keys_previous.iter().any(|(i, _)| i == id) {
            return Err(bad("each key id appears once and differs from ENCRYPTION_KEY_ID"));
        }
        if key.len() < MIN_KEY_BYTES {
            return Err(bad("keys must be at least 32 bytes"));
        }
        encryption_keys_previous.push((id.to_string(), Secret::new(key)));
    }
    Ok(Keys {
        secret_key,
        secret_key_previous,
        encryption_key,
        encryption_key_id,
        encryption_keys_previous,
    })
}

fn long_enough(v: &Vars, var: &'static str, key: String) -> Result<String, ConfigError> {
    if key.len() < MIN_KEY_BYTES {
        return Err(v.bad(var, "must be at least 32 bytes".into()));
    }
    Ok(key)
}

fn valid_key_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
