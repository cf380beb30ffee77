//! Email delivery: templates, the transactional outbox and its worker, the
//! providers (SES with SMTP fallback, SMTP, log), and bounce/complaint
//! suppression fed by SES notifications over SNS.
//!
//! Features queue mail with [`outbox::enqueue`] inside their own transaction;
//! everything else here runs in the background or behind the SES webhook. The
//! super-admin suppression endpoints are `admin::email_suppressions`.

pub mod health;
pub mod kind;
pub mod outbox;
pub mod provider;
pub mod sns;
pub mod suppression_list;
pub mod templates;
pub mod webhook;
pub mod worker;

use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use tokio::sync::Notify;

pub use kind::EmailTemplate;
pub use outbox::enqueue;
pub use worker::drain_once;

use crate::config::Config;
use provider::EmailSender;
use templates::Templates;

/// Everything email needs at run time; one per process, shared behind an `Arc`.
pub struct EmailService {
    pub templates: Templates,
    sender: Arc<dyn EmailSender>,
    /// The From header: APP_NAME and AWS_SES_FROM_EMAIL.
    from: String,
    status: Mutex<ProviderStatus>,
    pub(crate) sns: sns::SnsVerifier,
    wake: Notify,
    /// EMAIL_MAX_ATTEMPTS: sends before a message is given up (at least one).
    max_attempts: i32,
}

/// What this instance last saw from its provider (for `/health/detailed`).
#[derive(Debug, Clone, Default)]
pub struct ProviderStatus {
    pub last_success_at: Option<OffsetDateTime>,
    pub last_success_provider: Option<&'static str>,
    /// When the last send failed, and why: shown on `/health/detailed` to a
    /// super admin only (the public view is status and provider).
    pub last_failure_at: Option<OffsetDateTime>,
    pub last_failure: Option<String>,
}

impl EmailService {
    /// Parses and test-renders the templates (a broken template fails start-up)
    /// and builds the provider EMAIL_PROVIDER selects.
    pub async fn new(config: &Config) -> anyhow::Result<Self> {
        let sender = provider::from_config(config).await?;
        Self::with_sender(config, sender)
    }

    /// Like [`new`](Self::new) with a given sender (tests, custom transports).
    pub fn with_sender(config: &Config, sender: Arc<dyn EmailSender>) -> anyhow::Result<Self> {
        let templates = Templates::new(&config.app_name, &config.frontend_url)
            .map_err(|e| anyhow::anyhow!("email templates: {e:#}"))?;
        Ok(Self {
            templates,
            sender,
            from: from_header(&config.app_name, &config.aws_ses_from_email),
            status: Mutex::new(ProviderStatus::default()),
            sns: sns::SnsVerifier::new(config)?,
            wake: Notify::new(),
            max_attempts: config.email_max_attempts.max(1),
        })
    }

    /// Asks the worker to look at the outbox now instead of at its next tick.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The configured provider path, e.g. `ses+smtp`.
    pub fn provider_name(&self) -> String {
        self.sender.describe()
    }

    /// A snapshot of this instance's provider status.
    pub fn status(&self) -> ProviderStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn record_success(&self, provider: &'static str) {
        if let Ok(mut s) = self.status.lock() {
            s.last_success_at = Some(OffsetDateTime::now_utc());
            s.last_success_provider = Some(provider);
        }
    }

    fn record_failure(&self, error: &str) {
        if let Ok(mut s) = self.status.lock() {
            s.last_failure_at = Some(OffsetDateTime::now_utc());
            s.last_failure = Some(error.to_string());
        }
    }
}

/// `"App Name" <address>` when the name is plain ASCII, else the bare address.
fn from_header(app_name: &str, address: &str) -> String {
    let name: String = app_name.chars().filter(|c| !matches!(c, '"' | '\\')).collect();
    if !name.trim().is_empty() && name.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        format!("\"{}\" <{}>", name.trim(), address)
    } else {
        address.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::from_header;

    #[test]
    fn from_header_quotes_plain_names_only() {
        assert_eq!(from_header("Tenantry", "no-reply@x.io"), "\"Tenantry\" <no-reply@x.io>");
        assert_eq!(from_header("Say \"hi\"", "a@x.io"), "\"Say hi\" <a@x.io>");
        assert_eq!(from_header("Tenantrÿ", "a@x.io"), "a@x.io");
        assert_eq!(from_header("", "a@x.io"), "a@x.io");
    }
}
