//! Signed, expiring upload URLs for local-disk storage, served by tenantry itself
//! (the local counterpart of a presigned S3 PUT).
//!
//! The signature is HMAC-SHA256 over the method, tenant, document, declared size
//! and expiry, keyed by a key derived from SECRET_KEY. No bearer token is needed:
//! the URL itself is the capability, limited to one object and 15 minutes. URLs
//! signed with SECRET_KEY_PREVIOUS keep verifying, so a key rotation does not
//! break uploads in flight.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// What an upload URL grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadGrant {
    pub tenant: Uuid,
    pub document: Uuid,
    pub size: u64,
    /// Unix seconds.
    pub expires: i64,
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the upload URL signature is invalid")]
    BadSignature,
    #[error("the upload URL has expired")]
    Expired,
}

/// Signs and checks upload grants.
#[derive(Clone)]
pub struct UrlSigner {
    /// The current key first (it signs); then the previous one (it only verifies).
    keys: Vec<[u8; 32]>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(***)")
    }
}

impl UrlSigner {
    /// Derives a purpose-bound key, so the signing key is never the JWT key itself.
    pub fn new(secret_key: &str) -> Self {
        Self {
            keys: vec![Self::derive(secret_key)],
        }
    }

    /// Also accepts URLs signed with the key before the last rotation.
    pub fn with_previous(mut self, previous: Option<&str>) -> Self {
        self.keys.extend(previous.map(Self::derive));
        self
    }

    fn derive(secret_key: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"tenantry/upload-url/v1\0");
        h.update(secret_key.as_bytes());
        h.finalize().into()
    }

    fn mac(key: &[u8; 32], g: &UploadGrant) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(format!("PUT\n{}\n{}\n{}\n{}", g.tenant, g.document, g.size, g.expires).as_bytes());
        mac
    }

    /// Hex signature of `grant`.
    pub fn sign(&self, grant: &UploadGrant) -> String {
        hex::encode(Self::mac(&self.keys[0], grant).finalize().into_bytes())
    }

    /// Checks the signature (constant time) and then the expiry against `now` (unix seconds).
    pub fn verify(&self, grant: &UploadGrant, sig: &str, now: i64) -> Result<(), SignatureError> {
        let sig = hex::decode(sig).map_err(|_| SignatureError::BadSignature)?;
        // Each check is constant time; the number of keys tried is not secret.
        if !self.keys.iter().any(|k| Self::mac(k, grant).verify_slice(&sig).is_ok()) {
            return Err(SignatureError::BadSignature);
        }
        if now >= grant.expires {
            Err(SignatureError::Expired)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> UploadGrant {
        UploadGrant {
            tenant: Uuid::new_v4(),
            document: Uuid::new_v4(),
            size: 10,
            expires: 1_000,
        }
    }

    #[test]
    fn verifies_its_own_signatures_only_until_expiry() {
        let s = UrlSigner::new("a-secret-key-a-secret-key-a-secret-key");
        let g = grant();
        let sig = s.sign(&g);
        assert_eq!(s.verify(&g, &sig, 999), Ok(()));
        assert_eq!(s.verify(&g, &sig, 1_000), Err(SignatureError::Expired));
        assert_eq!(
            s.verify(&UploadGrant { size: 11, ..g }, &sig, 0),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(s.verify(&g, "zz", 0), Err(SignatureError::BadSignature));
        let other = UrlSigner::new("another-secret-key-another-secret-key");
        assert_eq!(other.verify(&g, &sig, 0), Err(SignatureError::BadSignature));
        // After a rotation the old key still verifies; new URLs use the new key.
        let rotated = other.with_previous(Some("a-secret-key-a-secret-key-a-secret-key"));
        assert_eq!(rotated.verify(&g, &sig, 999), Ok(()));
        assert_ne!(rotated.sign(&g), sig);
        assert_eq!(s.verify(&g, &rotated.sign(&g), 999), Err(SignatureError::BadSignature));
    }
}
