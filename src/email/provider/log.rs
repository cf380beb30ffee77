//! The `log` provider: writes the rendered message to the log (development).

use super::{Delivered, EmailSender, OutgoingEmail, SendError, message_id_for};

/// Logs instead of sending. Outside production the text body (with its links)
/// is logged so they are usable while developing; in production only the
/// envelope is, because bodies carry reset, set-password and invitation tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSender {
    pub include_body: bool,
}

#[async_trait::async_trait]
impl EmailSender for LogSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError> {
        let body = if self.include_body {
            email.content.text.as_str()
        } else {
            "[withheld in production]"
        };
        tracing::info!(
            email_id = %email.id,
            to = ?email.to,
            subject = ?email.content.subject,
            body = ?body,
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
