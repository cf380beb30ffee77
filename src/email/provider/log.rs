//! The `log` provider: writes the rendered message to the log (development).

use super::{Delivered, EmailSender, OutgoingEmail, SendError, message_id_for};

/// Logs instead of sending; links in the text body are usable while developing.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSender;

#[async_trait::async_trait]
impl EmailSender for LogSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError> {
        tracing::info!(
            email_id = %email.id,
            to = %email.to,
            subject = %email.content.subject,
            body = %email.content.text,
            "email (EMAIL_PROVIDER=log, not sent)"
        );
        Ok(Delivered {
            provider: "log",
            message_id: message_id_for(email),
        })
    }

    fn describe(&self) -> String {
        "log".into()
    }
}
