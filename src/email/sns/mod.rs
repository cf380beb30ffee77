//! Amazon SNS message verification, as AWS documents it: the signing
//! certificate must come over HTTPS from an SNS host, and the signature
//! (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA) must match the canonical
//! string of the message's fields. Certificates are cached per URL.
//!
//! SNS_CERT_URL_PREFIX_ALLOWLIST may name extra URL prefixes (tests serve a
//! self-signed certificate on loopback); nothing else relaxes the host check.

mod policy;
mod verifier;

use std::time::SystemTime;

use base64::Engine;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use serde::Deserialize;
use x509_cert::{Certificate, der::DecodePem};

pub use policy::UrlPolicy;
pub use verifier::SnsVerifier;

/// rsaEncryption (RFC 8017).
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// Why an SNS message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum SnsError {
    #[error("unsupported SNS message type `{0}`")]
    UnsupportedType(String),
    #[error("SNS message lacks `{0}`")]
    MissingField(&'static str),
    #[error("unsupported SignatureVersion `{0}`")]
    UnsupportedSignatureVersion(String),
    #[error("{0} is not an allowed SNS URL")]
    UrlNotAllowed(&'static str),
    #[error("the SNS topic is not one of SNS_TOPIC_ARNS")]
    TopicNotAllowed,
    #[error("no SNS topic is configured (SNS_TOPIC_ARNS), so no delivery is accepted")]
    NoTopicConfigured,
    #[error("signing certificate unusable: {0}")]
    BadCertificate(String),
    #[error("signing certificate could not be fetched: {0}")]
    CertificateUnavailable(String),
    #[error("signature does not match")]
    BadSignature,
}

/// An SNS HTTP(S) delivery, as posted to the webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnsMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    pub message_id: String,
    pub topic_arn: String,
    pub message: String,
    pub timestamp: String,
    pub signature_version: String,
    pub signature: String,
    #[serde(rename = "SigningCertURL")]
    pub signing_cert_url: String,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub token: Option<String>,
    #[serde(rename = "SubscribeURL", default)]
    pub subscribe_url: Option<String>,
}

impl SnsMessage {
    /// The string AWS signs: selected `Name\nvalue\n` pairs in byte order of name.
    pub fn string_to_sign(&self) -> Result<String, SnsError> {
        let mut fields: Vec<(&str, &str)> = vec![("Message", &self.message), ("MessageId", &self.message_id)];
        match self.kind.as_str() {
            "Notification" => {
                if let Some(subject) = &self.subject {
                    fields.push(("Subject", subject));
                }
            }
            "SubscriptionConfirmation" | "UnsubscribeConfirmation" => {
                fields.push((
                    "SubscribeURL",
                    self.subscribe_url
                        .as_deref()
                        .ok_or(SnsError::MissingField("SubscribeURL"))?,
                ));
                fields.push(("Token", self.token.as_deref().ok_or(SnsError::MissingField("Token"))?));
            }
            other => return Err(SnsError::UnsupportedType(other.to_string())),
        }
        fields.extend([
            ("Timestamp", self.timestamp.as_str()),
            ("TopicArn", &self.topic_arn),
            ("Type", &self.kind),
        ]);
        fields.sort_by_key(|(name, _)| *name);
        Ok(fields.iter().map(|(k, v)| format!("{k}\n{v}\n")).collect())
    }

    /// Checks the signature with the certificate's RSA public key (PKCS#1 DER).
    pub fn verify_with(&self, public_key: &[u8]) -> Result<(), SnsError> {
        let algorithm: &'static dyn VerificationAlgorithm = match self.signature_version.as_str() {
            "1" => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            "2" => &signature::RSA_PKCS1_2048_8192_SHA256,
            other => return Err(SnsError::UnsupportedSignatureVersion(other.to_string())),
        };
        let sig = base64::engine::general_purpose::STANDARD
            .decode(&self.signature)
            .map_err(|_| SnsError::BadSignature)?;
        UnparsedPublicKey::new(algorithm, public_key)
            .verify(self.string_to_sign()?.as_bytes(), &sig)
            .map_err(|_| SnsError::BadSignature)
    }
}

/// The RSA public key of a PEM certificate that is valid now.
pub fn public_key_from_pem(pem: &[u8]) -> Result<Vec<u8>, SnsError> {
    let cert = Certificate::from_pem(pem).map_err(|e| SnsError::BadCertificate(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let now = SystemTime::now();
    let validity = tbs.validity();
    if now < validity.not_before.to_system_time() || now > validity.not_after.to_system_time() {
        return Err(SnsError::BadCertificate("outside its validity period".into()));
    }
    let spki = tbs.subject_public_key_info();
    if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
        return Err(SnsError::BadCertificate("not an RSA key".into()));
    }
    Ok(spki.subject_public_key.raw_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(subject: Option<&str>) -> SnsMessage {
        SnsMessage {
            kind: "Notification".into(),
            message_id: "m-1".into(),
            topic_arn: "arn:aws:sns:eu-central-1:123456789012:ses".into(),
            message: "{\"x\":1}".into(),
            timestamp: "2026-11-27T10:00:00.000Z".into(),
            signature_version: "1".into(),
            signature: "c2ln".into(),
            signing_cert_url: "https://sns.eu-central-1.amazonaws.com/cert.pem".into(),
            subject: subject.map(str::to_string),
            token: None,
            subscribe_url: None,
        }
    }

    #[test]
    fn canonical_string_for_notifications() {
        let n = notification(Some("Hi"));
        assert_eq!(
            n.string_to_sign().unwrap(),
            "Message\n{\"x\":1}\nMessageId\nm-1\nSubject\nHi\nTimestamp\n2026-11-27T10:00:00.000Z\n\
             TopicArn\narn:aws:sns:eu-central-1:123456789012:ses\nType\nNotification\n"
        );
        assert!(!notification(None).string_to_sign().unwrap().contains("Subject"));
    }

    #[test]
    fn canonical_string_for_subscription_confirmations() {
        let mut m = notification(Some("ignored"));
        m.kind = "SubscriptionConfirmation".into();
        assert!(matches!(
            m.string_to_sign(),
            Err(SnsError::MissingField("SubscribeURL"))
        ));
        m.subscribe_url = Some("https://sns.eu-central-1.amazonaws.com/?Action=ConfirmSubscription".into());
        m.token = Some("tok".into());
        let s = m.string_to_sign().unwrap();
        assert!(
            s.starts_with("Message\n{\"x\":1}\nMessageId\nm-1\nSubscribeURL\nhttps://"),
            "{s}"
        );
        assert!(s.contains("\nTimestamp\n") && s.contains("Token\ntok\nTopicArn\n") && !s.contains("Subject"));
        m.kind = "Other".into();
        assert!(matches!(m.string_to_sign(), Err(SnsError::UnsupportedType(_))));
    }
    #[test]
    fn unknown_signature_versions_and_garbage_are_refused() {
        let mut n = notification(None);
        n.signature_version = "3".into();
        assert!(matches!(
            n.verify_with(b"key"),
            Err(SnsError::UnsupportedSignatureVersion(_))
        ));
        n.signature_version = "2".into();
        n.signature = "%%%".into();
        assert!(matches!(n.verify_with(b"key"), Err(SnsError::BadSignature)));
        assert!(public_key_from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").is_err());
    }
}
