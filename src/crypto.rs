//! Small cryptographic building blocks: opaque tokens, their hashes, and
//! authenticated encryption of secrets at rest.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new opaque token: 256 random bits, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What we store for an opaque token: its SHA-256. Tokens carry 256 bits of
/// entropy, so a fast hash is enough (no salt or stretching needed).
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Constant-time equality for secrets.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// AES-256-GCM with a key id, so keys can be rotated: ciphertexts are
/// `key_id_len (1 byte) | key_id | nonce (12) | ciphertext+tag`. Old keys stay
/// readable while new writes use the current one.
#[derive(Clone)]
pub struct SecretBox {
    current_id: String,
    keys: Vec<(String, Aes256Gcm)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("unknown encryption key id `{0}`")]
    UnknownKey(String),
    #[error("ciphertext failed authentication")]
    Tampered,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretBox")
            .field("current_id", &self.current_id)
            .finish_non_exhaustive()
    }
}

impl SecretBox {
    /// `key_material` is stretched to 256 bits with SHA-256.
    pub fn new(key_id: &str, key_material: &str) -> Self {
        Self {
            current_id: key_id.to_string(),
            keys: vec![(key_id.to_string(), Self::cipher(key_material))],
        }
    }

    /// Adds an older key that can still decrypt.
    pub fn with_old_key(mut self, key_id: &str, key_material: &str) -> Self {
        self.keys.push((key_id.to_string(), Self::cipher(key_material)));
        self
    }

    /// The id new values are sealed under.
    pub fn current_id(&self) -> &str {
        &self.current_id
    }

    /// How every value sealed under the current key begins (length byte and id):
    /// lets SQL pick the rows still sealed under another key.
    pub fn current_prefix(&self) -> Vec<u8> {
        let mut prefix = vec![self.current_id.len() as u8];
        prefix.extend_from_slice(self.current_id.as_bytes());
        prefix
    }

    /// The key id a sealed value names, if it is well-formed.
    pub fn key_id_of(sealed: &[u8]) -> Option<&str> {
        let (&len, rest) = sealed.split_first()?;
        std::str::from_utf8(rest.get(..len as usize)?).ok()
    }

    /// Opens `sealed` (with whichever key made it) and seals it again under the
    /// current key; `None` when it already is under the current key.
    pub fn reseal(&self, sealed: &[u8], context: &[u8]) -> Result<Option<Vec<u8>>, SecretBoxError> {
        if Self::key_id_of(sealed) == Some(self.current_id.as_str()) {
            return Ok(None);
        }
        Ok(Some(self.seal(&self.open(sealed, context)?, context)))
    }

    fn cipher(material: &str) -> Aes256Gcm {
        let key = Sha256::digest(material.as_bytes());
        Aes256Gcm::new_from_slice(&key).expect("32-byte key")
    }

    /// Encrypts `plaintext`; `context` (e.g. the tenant id) is bound as associated
    /// data so a ciphertext cannot be moved to another row.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                &Nonce::try_from(&nonce[..]).expect("12-byte nonce"),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + id.len() + 12 + ct.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, SecretBoxError> {
        let (&id_len, rest) = sealed.split_first().ok_or(SecretBoxError::Malformed)?;
        let id_len = id_len as usize;
        if rest.len() < id_len + 12 + 16 {
            return Err(SecretBoxError::Malformed);
        }
        let id = std::str::from_utf8(&rest[..id_len]).map_err(|_| SecretBoxError::Malformed)?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(k, _)| k == id)
            .ok_or_else(|| SecretBoxError::UnknownKey(id.to_string()))?;
        let nonce = &rest[id_len..id_len + 12];
        cipher
            .decrypt(
                &Nonce::try_from(nonce).map_err(|_| SecretBoxError::Malformed)?,
                Payload {
                    msg: &rest[id_len + 12..],
                    aad: context,
                },
            )
            .map_err(|_| SecretBoxError::Tampered)
    }

    pub fn seal_str(&self, plaintext: &str, context: &[u8]) -> Vec<u8> {
        self.seal(plaintext.as_bytes(), context)
    }

    pub fn open_string(&self, sealed: &[u8], context: &[u8]) -> Result<String, SecretBoxError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| SecretBoxError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let b = SecretBox::new("k1", "material-material-material-material");
        let sealed = b.seal(b"client-secret", b"tenant-a");
        assert_eq!(b.open(&sealed, b"tenant-a").unwrap(), b"client-secret");
        assert!(matches!(b.open(&sealed, b"tenant-b"), Err(SecretBoxError::Tampered)));
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(b.open(&bad, b"tenant-a").is_err());
    }

    #[test]
    fn rotated_keys_still_open_old_ciphertexts() {
        let old = SecretBox::new("k1", "old-material-old-material-old-material");
        let sealed = old.seal(b"x", b"");
        let new = SecretBox::new("k2", "new-material-new-material-new-material")
            .with_old_key("k1", "old-material-old-material-old-material");
        assert_eq!(new.open(&sealed, b"").unwrap(), b"x");
        assert_eq!(new.seal(b"y", b"")[1..3], *b"k2");
    }

    #[test]
    fn reseal_moves_old_values_to_the_current_key_once() {
        let old = SecretBox::new("k1", "old-material-old-material-old-material");
        let sealed = old.seal(b"seed", b"ctx");
        let new = SecretBox::new("k2", "new-material-new-material-new-material")
            .with_old_key("k1", "old-material-old-material-old-material");
        assert_eq!(SecretBox::key_id_of(&sealed), Some("k1"));
        let resealed = new.reseal(&sealed, b"ctx").unwrap().unwrap();
        assert!(resealed.starts_with(&new.current_prefix()));
        assert_eq!(new.reseal(&resealed, b"ctx").unwrap(), None);
        let only_new = SecretBox::new("k2", "new-material-new-material-new-material");
        assert_eq!(only_new.open(&resealed, b"ctx").unwrap(), b"seed");
        assert!(matches!(
            only_new.open(&sealed, b"ctx"),
            Err(SecretBoxError::UnknownKey(_))
        ));
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (random_token(), random_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
