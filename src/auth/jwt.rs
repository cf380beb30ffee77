//! Our own access tokens: short-lived HMAC JWTs. Only the configured HS*
//! algorithm is accepted; `alg: none` and asymmetric algorithms never verify.
//!
//! Key rotation: tokens carry `kid`, the first 8 hex digits of SHA-256 of the
//! signing key. SECRET_KEY signs; SECRET_KEY_PREVIOUS still verifies until the
//! tokens it signed have expired. Verification takes the key the `kid` names and
//! tries every key only for tokens without a known `kid` (issued before kids).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::{Config, JwtAlgorithm};

/// Issuer of our tokens. Fixed rather than derived from BASE_URL, which may
/// default to each instance's own listen address: every instance behind one load
/// balancer must accept every other instance's tokens.
pub const ISSUER: &str = "tenantry";

/// Audience of API access tokens.
pub const ACCESS_AUDIENCE: &str = "tenantry-api";
/// Audience of the short-lived token between password and TOTP code.
pub const MFA_AUDIENCE: &str = "tenantry-mfa";

/// RFC 8693 actor: the super admin acting as the subject.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Actor {
    pub sub: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub tid: Uuid,
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
}

/// One HMAC key with its id.
#[derive(Clone)]
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl SigningKey {
    fn new(secret: &str) -> Self {
        Self {
            kid: key_id(secret),
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
        }
    }
}

/// The `kid` of a signing key: the first 8 hex digits of its SHA-256. Names the
/// key without revealing anything usable about it.
pub fn key_id(secret: &str) -> String {
    crate::crypto::sha256_hex(secret.as_bytes())[..8].to_string()
}

#[derive(Clone)]
pub struct JwtKeys {
    alg: Algorithm,
    /// Signs and verifies.
    current: SigningKey,
    /// Only verifies (tokens issued before the last rotation).
    previous: Option<SigningKey>,
    issuer: String,
    access_ttl_secs: i64,
    /// The checks for access tokens, built once: every API request verifies one.
    access: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("alg", &self.alg)
            .field("kid", &self.current.kid)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(config: &Config) -> Self {
        let alg = match config.algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::HS384 => Algorithm::HS384,
            JwtAlgorithm::HS512 => Algorithm::HS512,
        };
        Self {
            alg,
            current: SigningKey::new(config.secret_key.expose()),
            previous: config.secret_key_previous.as_ref().map(|k| SigningKey::new(k.expose())),
            issuer: ISSUER.to_string(),
            access_ttl_secs: config.access_token_expire_minutes * 60,
            access: validation(alg, ISSUER, ACCESS_AUDIENCE),
        }
    }

    /// The `kid` new tokens carry.
    pub fn current_kid(&self) -> &str {
        &self.current.kid
    }

    pub fn access_ttl_secs(&self) -> i64 {
        self.access_ttl_secs
    }

    /// Issues a token for `audience`, valid for `ttl_secs` (capped by `not_after`).
    pub fn issue(
        &self,
        audience: &str,
        user: Uuid,
        tenant: Uuid,
        session: Uuid,
        ttl_secs: i64,
        act: Option<Actor>,
    ) -> (String, i64) {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let claims = Claims {
            sub: user,
            tid: tenant,
            sid: session,
            iat: now,
            exp: now + ttl_secs,
            iss: self.issuer.clone(),
            aud: audience.to_string(),
            act,
        };
        let header = Header {
            kid: Some(self.current.kid.clone()),
            ..Header::new(self.alg)
        };
        let token = encode(&header, &claims, &self.current.encoding).expect("HMAC signing cannot fail");
        (token, ttl_secs)
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str, audience: &str) -> Option<Claims> {
        let built;
        let v = if audience == ACCESS_AUDIENCE {
            &self.access
        } else {
            built = validation(self.alg, &self.issuer, audience);
            &built
        };
        let kid = decode_header(token).ok()?.kid;
        let keys = std::iter::once(&self.current).chain(&self.previous);
        let named: Vec<&SigningKey> = keys.clone().filter(|k| Some(&k.kid) == kid.as_ref()).collect();
        let candidates = if named.is_empty() { keys.collect() } else { named };
        candidates
            .into_iter()
            .find_map(|k| decode::<Claims>(token, &k.decoding, v).ok())
            .map(|d| d.claims)
    }
}

/// What [`JwtKeys::verify`] checks besides the signature: exactly `alg`, the
/// issuer and the audience, no leeway on expiry, and the claims it relies on.
fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.leeway = 0;
    v.set_audience(&[audience]);
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use std::collections::HashMap;

    fn keys() -> JwtKeys {
        JwtKeys::new(&Config::from_map(HashMap::new()).unwrap())
    }

    /// An access token for fresh ids, valid for `ttl` seconds (negative: already expired).
    fn access_token(k: &JwtKeys, ttl: i64) -> String {
        k.issue(
            ACCESS_AUDIENCE,
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            ttl,
            None,
        )
        .0
    }

    #[test]
    fn round_trip_and_audience_separation() {
        let k = keys();
        let t = access_token(&k, 60);
        assert!(k.verify(&t, ACCESS_AUDIENCE).is_some());
        assert!(k.verify(&t, MFA_AUDIENCE).is_none());
    }

    fn keys_with(pairs: &[(&str, &str)]) -> JwtKeys {
        let vars = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        JwtKeys::new(&Config::from_map(vars).unwrap())
    }

    #[test]
    fn tokens_of_the_previous_key_verify_until_it_is_dropped() {
        const OLD: &str = "old-secret-key-0123456789abcdef0123456789";
        const NEW: &str = "new-secret-key-0123456789abcdef0123456789";
        let old = keys_with(&[("SECRET_KEY", OLD)]);
        let rotated = keys_with(&[("SECRET_KEY", NEW), ("SECRET_KEY_PREVIOUS", OLD)]);
        let dropped = keys_with(&[("SECRET_KEY", NEW)]);

        let before = access_token(&old, 60);
        assert_eq!(decode_header(&before).unwrap().kid.as_deref(), Some(&key_id(OLD)[..]));
        assert!(rotated.verify(&before, ACCESS_AUDIENCE).is_some());
        assert!(dropped.verify(&before, ACCESS_AUDIENCE).is_none());

        let after = access_token(&rotated, 60);
        assert_eq!(
            decode_header(&after).unwrap().kid.as_deref(),
            Some(rotated.current_kid())
        );
        assert_eq!(rotated.current_kid(), &crate::crypto::sha256_hex(NEW.as_bytes())[..8]);
        assert!(dropped.verify(&after, ACCESS_AUDIENCE).is_some());
        assert!(old.verify(&after, ACCESS_AUDIENCE).is_none());

        // A token without a kid (issued before kids existed) is tried with every key.
        let claims = old.verify(&before, ACCESS_AUDIENCE).unwrap();
        let no_kid = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(OLD.as_bytes()),
        )
        .unwrap();
        assert!(rotated.verify(&no_kid, ACCESS_AUDIENCE).is_some());
        // A kid naming the current key does not fall back to the previous one.
        let forged = encode(
            &Header {
                kid: Some(rotated.current_kid().to_string()),
                ..Header::new(Algorithm::HS256)
            },
            &claims,
            &EncodingKey::from_secret(OLD.as_bytes()),
        )
        .unwrap();
        assert!(rotated.verify(&forged, ACCESS_AUDIENCE).is_none());
    }

    #[test]
    fn rejects_alg_none_and_expired() {
        let k = keys();
        let t = access_token(&k, 60);
        let payload = t.split('.').nth(1).unwrap();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            payload
        );
        assert!(k.verify(&none, ACCESS_AUDIENCE).is_none());
        let expired = access_token(&k, -5);
        assert!(k.verify(&expired, ACCESS_AUDIENCE).is_none());
    }
}
