//! Our own access tokens: short-lived HMAC JWTs. Only the configured HS*
//! algorithm is accepted; `alg: none` and asymmetric algorithms never verify.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
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

#[derive(Clone)]
pub struct JwtKeys {
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    access_ttl_secs: i64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("alg", &self.alg)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtKeys {
    pub fn new(config: &Config) -> Self {
        let secret = config.secret_key.expose().as_bytes();
        Self {
            alg: match config.algorithm {
                JwtAlgorithm::HS256 => Algorithm::HS256,
                JwtAlgorithm::HS384 => Algorithm::HS384,
                JwtAlgorithm::HS512 => Algorithm::HS512,
            },
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer: ISSUER.to_string(),
            access_ttl_secs: config.access_token_expire_minutes * 60,
        }
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
        let token = encode(&Header::new(self.alg), &claims, &self.encoding).expect("HMAC signing cannot fail");
        (token, ttl_secs)
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str, audience: &str) -> Option<Claims> {
        let mut v = Validation::new(self.alg);
        v.algorithms = vec![self.alg];
        v.leeway = 0;
        v.set_audience(&[audience]);
        v.set_issuer(&[&self.issuer]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        decode::<Claims>(token, &self.decoding, &v).ok().map(|d| d.claims)
    }
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
