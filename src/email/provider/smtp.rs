//! The `smtp` provider (lettre): STARTTLS, implicit TLS or plain per SMTP_TLS,
//! credentials when SMTP_USERNAME is set; pooled connections.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::{
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use super::{Delivered, EmailSender, FailureKind, OutgoingEmail, SendError, message_id_for};
use crate::config::{Config, SmtpTls};

const NAME: &str = "smtp";

/// Sends through an SMTP relay.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    target: String,
}

impl SmtpSender {
    /// Builds the (lazily connecting) transport from SMTP_* settings.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let host = config
            .smtp_host
            .clone()
            .ok_or_else(|| anyhow::anyhow!("SMTP_HOST is not set"))?;
        let tls = match config.smtp_tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(TlsParameters::new(host.clone())?),
            SmtpTls::Tls => Tls::Wrapper(TlsParameters::new(host.clone())?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(config.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(15)));
        if let Some(user) = &config.smtp_username {
            let password = config
                .smtp_password
                .as_ref()
                .map(|p| p.expose().to_string())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            target: format!("{host}:{}", config.smtp_port),
        })
    }
}

fn build_message(email: &OutgoingEmail) -> Result<Message, SendError> {
    let from: Mailbox = email
        .from
        .parse()
        .map_err(|e| SendError::new(NAME, FailureKind::Refused, format!("invalid sender address: {e}")))?;
    let to: Mailbox = email
        .to
        .parse()
        .map_err(|e| SendError::new(NAME, FailureKind::Permanent, format!("invalid recipient address: {e}")))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(email.content.subject.clone())
        .message_id(Some(message_id_for(email)))
        .multipart(MultiPart::alternative_plain_html(
            email.content.text.clone(),
            email.content.html.clone(),
        ))
        .map_err(|e| SendError::new(NAME, FailureKind::Permanent, format!("cannot build message: {e}")))
}

#[async_trait::async_trait]
impl EmailSender for SmtpSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError> {
        let message = build_message(email)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(Delivered {
                provider: NAME,
                message_id: message_id_for(email),
            }),
            Err(e) => {
                // 55x is about this recipient or message; other 5xx (auth, syntax)
                // are our configuration and may be fixed, so keep retrying those.
                let mailbox_problem = e.status().is_some_and(|code| code.to_string().starts_with("55"));
                let kind = match (e.is_permanent(), mailbox_problem) {
                    (true, true) => FailureKind::Permanent,
                    (true, false) => FailureKind::Refused,
                    _ => FailureKind::Transient,
                };
                Err(SendError::new(NAME, kind, format!("{} via {}", e, self.target)))
            }
        }
    }

    fn describe(&self) -> String {
        NAME.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_for_every_tls_mode_with_and_without_credentials() {
        for tls in ["starttls", "tls", "none"] {
            let mut vars: std::collections::HashMap<String, String> = [
                ("SMTP_HOST", "smtp.example.com"),
                ("SMTP_TLS", tls),
                ("SMTP_PORT", "2525"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
            SmtpSender::new(&Config::from_map(vars.clone()).unwrap()).unwrap();
            vars.insert("SMTP_USERNAME".into(), "user".into());
            vars.insert("SMTP_PASSWORD".into(), "pass".into());
            let sender = SmtpSender::new(&Config::from_map(vars).unwrap()).unwrap();
            assert_eq!(sender.target, "smtp.example.com:2525");
        }
    }

    #[test]
    fn a_bad_recipient_is_permanent() {
        let email = OutgoingEmail {
            id: uuid::Uuid::new_v4(),
            from: "\"App\" <no-reply@example.com>".into(),
            to: "not an address".into(),
            content: crate::email::templates::RenderedEmail {
                subject: "s".into(),
                html: "h".into(),
                text: "t".into(),
            },
        };
        assert_eq!(build_message(&email).unwrap_err().kind, FailureKind::Permanent);
    }
}
