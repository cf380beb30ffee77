//! The verifier the webhook uses: topic allowlist, URL policy, and a per-URL
//! cache of signing certificates fetched with a short timeout and no redirects.
//!
//! Only the topics named in `SNS_TOPIC_ARNS` are accepted; with none configured
//! every delivery is refused. A valid signature alone proves only that *some*
//! AWS account sent the message: anyone can create a topic, subscribe our URL
//! and publish fake bounces for any address.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use super::{SnsError, SnsMessage, UrlPolicy, public_key_from_pem};
use crate::config::{Config, EmailProvider};

/// Certificates are refetched after this long.
const CERT_TTL: Duration = Duration::from_secs(12 * 3600);
const MAX_CACHED_CERTS: usize = 32;
const MAX_CERT_BYTES: usize = 64 * 1024;

/// A certificate's public key and when it was fetched.
type CachedKey = (Instant, Arc<Vec<u8>>);

/// Verifies SNS deliveries: URL policy, topic allowlist, certificate cache.
pub struct SnsVerifier {
    policy: UrlPolicy,
    topics: Vec<String>,
    http: reqwest::Client,
    certs: Mutex<HashMap<String, CachedKey>>,
}

impl SnsVerifier {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(5))
            .build()?;
        if config.sns_topic_arn_allowlist.is_empty() && config.email_provider == EmailProvider::Ses {
            tracing::warn!(
                "SNS_TOPIC_ARNS is unset: the SES webhook refuses every SNS delivery, so bounces and \
                 complaints are not recorded; set it to the topic(s) SES publishes to"
            );
        }
        Ok(Self {
            policy: UrlPolicy::new(&config.sns_cert_url_prefix_allowlist)?,
            topics: config.sns_topic_arn_allowlist.clone(),
            http,
            certs: Mutex::new(HashMap::new()),
        })
    }

    /// Full verification of a delivery: topic, certificate URL, signature.
    pub async fn verify(&self, msg: &SnsMessage) -> Result<(), SnsError> {
        if self.topics.is_empty() {
            return Err(SnsError::NoTopicConfigured);
        }
        if !self.topics.contains(&msg.topic_arn) {
            return Err(SnsError::TopicNotAllowed);
        }
        if !self.policy.allows(&msg.signing_cert_url)
            || !msg.signing_cert_url.split('?').next().unwrap_or("").ends_with(".pem")
        {
            return Err(SnsError::UrlNotAllowed("SigningCertURL"));
        }
        // Reject malformed messages before any network traffic.
        if !matches!(msg.signature_version.as_str(), "1" | "2") {
            return Err(SnsError::UnsupportedSignatureVersion(msg.signature_version.clone()));
        }
        msg.string_to_sign()?;
        let key = self.public_key(&msg.signing_cert_url).await?;
        msg.verify_with(&key)
    }

    /// Visits a (verified) SubscriptionConfirmation's SubscribeURL.
    pub async fn confirm_subscription(&self, msg: &SnsMessage) -> Result<(), SnsError> {
        let url = msg
            .subscribe_url
            .as_deref()
            .ok_or(SnsError::MissingField("SubscribeURL"))?;
        if !self.policy.allows(url) {
            return Err(SnsError::UrlNotAllowed("SubscribeURL"));
        }
        self.get(url, |status| {
            SnsError::CertificateUnavailable(format!("SubscribeURL answered {status}"))
        })
        .await
        .map(drop)
    }

    /// GETs `url`; a transport failure is `CertificateUnavailable`, a non-2xx
    /// answer the error `refused` makes of its status.
    async fn get(
        &self,
        url: &str,
        refused: impl FnOnce(reqwest::StatusCode) -> SnsError,
    ) -> Result<reqwest::Response, SnsError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| SnsError::CertificateUnavailable(e.to_string()))?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(refused(resp.status()))
        }
    }

    async fn public_key(&self, url: &str) -> Result<Arc<Vec<u8>>, SnsError> {
        let cached = self.certs.lock().ok().and_then(|c| c.get(url).cloned());
        if let Some((_, key)) = cached.filter(|(at, _)| at.elapsed() < CERT_TTL) {
            return Ok(key);
        }
        let mut resp = self
            .get(url, |status| {
                SnsError::BadCertificate(format!("certificate URL answered {status}"))
            })
            .await?;
        let mut pem = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| SnsError::CertificateUnavailable(e.to_string()))?
        {
            pem.extend_from_slice(&chunk);
            if pem.len() > MAX_CERT_BYTES {
                return Err(SnsError::BadCertificate("certificate too large".into()));
            }
        }
        let key = Arc::new(public_key_from_pem(&pem)?);
        if let Ok(mut cache) = self.certs.lock() {
            if cache.len() >= MAX_CACHED_CERTS {
                cache.clear();
            }
            cache.insert(url.to_string(), (Instant::now(), key.clone()));
        }
        Ok(key)
    }
}
