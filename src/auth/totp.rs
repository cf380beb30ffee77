//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, ±1 step accepted) and
//! recovery codes.
//!
//! Seeds are stored sealed with [`crate::crypto::SecretBox`], bound to the tenant
//! and user, so a ciphertext copied to another row does not open. A code's step
//! is remembered in `users.totp_last_step`: a step is accepted once, later codes
//! must belong to a later step. Recovery codes (10, single use) are shown once
//! and stored as SHA-256 hex of their normalised form.

use rand::Rng;
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use crate::{
    crypto::{ct_eq, sha256_hex},
    db::TenantId,
};

/// Number of recovery codes handed out at setup.
pub const RECOVERY_CODES: usize = 10;
const RECOVERY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Associated data binding a sealed seed to its row.
pub fn seal_context(tenant: TenantId, user: Uuid) -> Vec<u8> {
    format!("totp:{tenant}:{user}").into_bytes()
}

/// A fresh 160-bit seed (the RFC 4226 recommendation).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rng().fill(&mut s[..]);
    s
}

fn totp(secret: &[u8]) -> Totp {
    Builder::new().with_secret(secret.to_vec()).build_noncompliant()
}

/// Base32 form of the seed (what authenticator apps take by hand).
pub fn secret_base32(secret: &[u8]) -> String {
    totp(secret).secret().to_base32()
}

/// `otpauth://totp/…` provisioning URL for QR codes.
pub fn otpauth_url(secret: &[u8], issuer: &str, account: &str) -> String {
    let clean = |s: &str| s.replace(':', " ");
    let built = Builder::new()
        .with_secret(secret.to_vec())
        .with_issuer(Some(clean(issuer)))
        .with_account_name(clean(account))
        .build_noncompliant();
    built.to_url().unwrap_or_else(|_| {
        format!(
            "otpauth://totp/{}?secret={}&issuer={}",
            clean(account),
            secret_base32(secret),
            clean(issuer)
        )
    })
}

fn unix_now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64
}

/// The step of a valid 6-digit `code` (±1 step around now) that is newer than
/// `last_step`; `None` when the code is wrong or its step was already used.
pub fn check_code(secret: &[u8], code: &str, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret);
    let now_step = unix_now() / 30;
    (now_step.saturating_sub(1)..=now_step + 1)
        .find(|step| ct_eq(t.generate(step * 30).to_string().as_bytes(), code.as_bytes()))
        .map(|s| s as i64)
        .filter(|s| last_step.is_none_or(|last| *s > last))
}

fn normalise_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Stored form of a recovery code.
pub fn recovery_hash(code: &str) -> String {
    sha256_hex(normalise_recovery(code).as_bytes())
}

/// Ten fresh codes (`xxxxx-xxxxx`) and their stored hashes.
pub fn new_recovery_codes() -> (Vec<String>, Vec<String>) {
    let mut rng = rand::rng();
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..10)
                .map(|_| RECOVERY_ALPHABET[rng.random_range(0..RECOVERY_ALPHABET.len())] as char)
                .collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes = codes.iter().map(|c| recovery_hash(c)).collect();
    (codes, hashes)
}

/// A second factor that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Factor {
    /// A TOTP code of this step (store it as `totp_last_step`).
    Totp(i64),
    /// A recovery code; the codes left after removing it.
    Recovery(Vec<String>),
}

/// Checks `code` as a TOTP code, else as one of `recovery` (stored hashes).
pub fn verify_factor(secret: &[u8], code: &str, last_step: Option<i64>, recovery: &[String]) -> Option<Factor> {
    if let Some(step) = check_code(secret, code, last_step) {
        return Some(Factor::Totp(step));
    }
    let normalised = normalise_recovery(code);
    if normalised.len() != 10 {
        return None;
    }
    let hash = recovery_hash(&normalised);
    let pos = recovery.iter().position(|h| ct_eq(h.as_bytes(), hash.as_bytes()))?;
    let mut left = recovery.to_vec();
    left.remove(pos);
    Some(Factor::Recovery(left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_code_checks_once_per_step() {
        let s = new_secret();
        let code = totp(&s).generate(unix_now()).to_string();
        let step = check_code(&s, &code, None).expect("valid");
        assert_eq!(check_code(&s, &code, Some(step)), None, "same step is not reusable");
        assert_eq!(check_code(&s, "000000x", None), None);
    }

    #[test]
    fn recovery_codes_are_single_use() {
        let s = new_secret();
        let (codes, hashes) = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let Some(Factor::Recovery(left)) = verify_factor(&s, &codes[3].to_uppercase(), None, &hashes) else {
            panic!("recovery code refused")
        };
        assert_eq!(left.len(), 9);
        assert_eq!(verify_factor(&s, &codes[3], None, &left), None);
    }

    #[test]
    fn otpauth_url_names_issuer_and_account() {
        let url = otpauth_url(&new_secret(), "Tenantry", "ada@example.com");
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(url.contains("issuer=Tenantry"), "{url}");
    }
}
