//! Email providers behind one trait, selected by EMAIL_PROVIDER: `ses` (AWS SES
//! v2, falling back to SMTP when SMTP_HOST is set), `smtp` (lettre) and `log`.

mod fallback;
mod log;
mod ses;
mod smtp;

use std::sync::Arc;

use uuid::Uuid;

pub use fallback::Fallback;
pub use log::LogSender;
pub use ses::SesSender;
pub use smtp::SmtpSender;

use super::templates::RenderedEmail;
use crate::config::{Config, EmailProvider};

/// One message to deliver.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    /// The outbox id; also the basis of the Message-ID header, so receivers can
    /// spot a duplicate.
    pub id: Uuid,
    pub from: String,
    pub to: String,
    pub content: RenderedEmail,
}

/// A provider's receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Which provider accepted the message (`ses`, `smtp`, `log`).
    pub provider: &'static str,
    pub message_id: String,
}

/// How a failed send should be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Throttling, 5xx, timeouts, network: retry later, or try the fallback now.
    Transient,
    /// The provider refused for a reason of its own, not the recipient's
    /// (configuration, credentials, unverified sender, paused or suspended
    /// account): try the fallback now, else retry later once it is fixed.
    Refused,
    /// This message can never be delivered as it is (invalid or suppressed
    /// recipient, rejected content): no fallback, no retry.
    Permanent,
}

/// A failed send. The message never carries secrets (credentials, bodies).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{provider}: {message}")]
pub struct SendError {
    pub provider: &'static str,
    pub kind: FailureKind,
    pub message: String,
}

impl SendError {
    pub fn new(provider: &'static str, kind: FailureKind, message: impl Into<String>) -> Self {
        let mut message: String = message.into();
        if message.len() > 500 {
            let mut cut = 500;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        Self {
            provider,
            kind,
            message,
        }
    }
}

/// Something that can deliver a rendered message.
#[async_trait::async_trait]
pub trait EmailSender: Send + Sync {
    /// Delivers one message or says why not.
    async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError>;
    /// Describes the configured path for health checks (e.g. `ses+smtp`).
    fn describe(&self) -> String;
}

/// Builds the sender EMAIL_PROVIDER selects.
pub async fn from_config(config: &Config) -> anyhow::Result<Arc<dyn EmailSender>> {
    let smtp = match &config.smtp_host {
        Some(_) => Some(SmtpSender::new(config)?),
        None => None,
    };
    Ok(match (config.email_provider, smtp) {
        (EmailProvider::Log, _) => Arc::new(LogSender {
            include_body: !config.is_production(),
        }),
        (EmailProvider::Smtp, Some(smtp)) => Arc::new(smtp),
        (EmailProvider::Smtp, None) => {
            anyhow::bail!("SMTP_HOST is required when EMAIL_PROVIDER=smtp")
        }
        (EmailProvider::Ses, None) => Arc::new(SesSender::new(config).await),
        (EmailProvider::Ses, Some(smtp)) => Arc::new(Fallback::new(SesSender::new(config).await, smtp)),
    })
}

/// The Message-ID header value for an outbox message.
pub(crate) fn message_id_for(email: &OutgoingEmail) -> String {
    let domain = email
        .from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>'))
        .unwrap_or("localhost");
    format!("<{}@{}>", email.id, domain)
}
