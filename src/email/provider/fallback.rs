//! SES first, SMTP when SES fails in a way that retrying SES won't fix quickly
//! (throttling, 5xx, timeouts, network). The receipt names whoever sent it.

use super::{Delivered, EmailSender, FailureKind, OutgoingEmail, SendError};

/// A primary provider with a fallback for transient failures.
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
            Err(e) if e.kind == FailureKind::Transient => e,
            Err(e) => return Err(e),
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
    async fn falls_back_only_on_transient_failures() {
        let f = Fallback::new(
            Scripted::new("ses", vec![Err(FailureKind::Transient)]),
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
