//! SES first, SMTP when SES fails for any reason that is not the message's or
//! the recipient's: transient trouble (throttling, 5xx, timeouts, network) and
//! SES's own refusals (configuration, credentials, unverified sender, paused
//! account). An invalid or suppressed recipient is not retried elsewhere: the
//! fallback would deliver what SES rightly refused. The receipt names whoever sent it.

use super::{Delivered, EmailSender, FailureKind, OutgoingEmail, SendError};

/// A primary provider with a fallback for every failure but [`FailureKind::Permanent`].
pub struct Fallback<P, F> {
    primary: P,
    fallback: F,
}

impl<P, F> Fallback<P, F> {
    pub fn new(primary: P, fallback: F) -> Self {
        Self { primary, fallback }
    }
}

#[async_trait::async_trait]
impl<P: EmailSender, F: EmailSender> EmailSender for Fallback<P, F> {
    async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError> {
        let first = match self.primary.send(email).await {
            Ok(delivered) => return Ok(delivered),
            Err(e) if e.kind == FailureKind::Permanent => return Err(e),
            Err(e) => e,
        };
        tracing::warn!(email_id = %email.id, error = ?first.to_string(), "primary email provider failed; trying the fallback");
        self.fallback.send(email).await.map_err(|second| {
            // Both failed: retry later unless the fallback says the message itself is bad.
            SendError::new(second.provider, second.kind, format!("{first}; then {second}"))
        })
    }

    fn describe(&self) -> String {
        format!("{}+{}", self.primary.describe(), self.fallback.describe())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use uuid::Uuid;

    use super::*;
    use crate::email::templates::RenderedEmail;

    struct Scripted {
        name: &'static str,
        answers: Mutex<Vec<Result<(), FailureKind>>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(name: &'static str, answers: Vec<Result<(), FailureKind>>) -> Self {
            Self {
                name,
                answers: Mutex::new(answers),
                calls: AtomicUsize::new(0),
            }
        }
    }

    #[async_trait::async_trait]
    impl EmailSender for Scripted {
        async fn send(&self, _email: &OutgoingEmail) -> Result<Delivered, SendError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match self.answers.lock().unwrap().remove(0) {
                Ok(()) => Ok(Delivered {
                    provider: self.name,
                    message_id: "m".into(),
                }),
                Err(kind) => Err(SendError::new(self.name, kind, "failed")),
            }
        }
        fn describe(&self) -> String {
            self.name.into()
        }
    }

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            id: Uuid::new_v4(),
            from: "a@b.c".into(),
            to: "d@e.f".into(),
            content: RenderedEmail {
                subject: "s".into(),
                html: "h".into(),
                text: "t".into(),
            },
        }
    }

    #[tokio::test]
    async fn falls_back_on_transient_failures_and_refusals_but_not_on_a_bad_message() {
        let f = Fallback::new(
            Scripted::new("ses", vec![Err(FailureKind::Transient)]),
            Scripted::new("smtp", vec![Ok(())]),
        );
        assert_eq!(f.send(&email()).await.unwrap().provider, "smtp");

        let f = Fallback::new(
            Scripted::new("ses", vec![Err(FailureKind::Refused)]),
            Scripted::new("smtp", vec![Ok(())]),
        );
        assert_eq!(f.send(&email()).await.unwrap().provider, "smtp");

        let f = Fallback::new(
            Scripted::new("ses", vec![Err(FailureKind::Permanent)]),
            Scripted::new("smtp", vec![]),
        );
        assert_eq!(f.send(&email()).await.unwrap_err().kind, FailureKind::Permanent);
        assert_eq!(f.fallback.calls.load(Ordering::SeqCst), 0);

        let f = Fallback::new(Scripted::new("ses", vec![Ok(())]), Scripted::new("smtp", vec![]));
        assert_eq!(f.send(&email()).await.unwrap().provider, "ses");
        assert_eq!(f.describe(), "ses+smtp");

        let f = Fallback::new(
            Scripted::new("ses", vec![Err(FailureKind::Transient)]),
            Scripted::new("smtp", vec![Err(FailureKind::Transient)]),
        );
        let err = f.send(&email()).await.unwrap_err();
        assert_eq!(err.kind, FailureKind::Transient);
        assert!(err.message.contains("ses: failed"), "{err}");
    }
}
