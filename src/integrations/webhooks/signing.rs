//! Standard Webhooks 1.0 secrets and signatures.
//!
//! A secret is `whsec_` + base64 of 32 random bytes; the signing key is the
//! decoded bytes. A signature is `v1,` + base64(HMAC-SHA256(key,
//! "{id}.{timestamp}.{body}")); several are sent space-separated while a
//! rotated secret is still valid.

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use uuid::Uuid;

use crate::db::TenantId;

const PREFIX: &str = "whsec_";

/// A new secret, shown to the tenant once.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

/// The associated data a secret is sealed with: it opens only for its endpoint.
pub fn seal_context(tenant: TenantId, endpoint: Uuid) -> Vec<u8> {
    format!("webhook_secret:{}:{endpoint}", tenant.get()).into_bytes()
}

/// `v1,<signature>` of one message under one secret (`None`: not a valid secret).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX)?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_reference_vector() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
    }

    #[test]
    fn secrets_decode_to_32_bytes() {
        let s = new_secret();
        assert_eq!(STANDARD.decode(&s[PREFIX.len()..]).unwrap().len(), 32);
    }
}
