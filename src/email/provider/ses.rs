//! The `ses` provider: AWS SES v2 `SendEmail` through the official SDK. Region
//! AWS_REGION, endpoint AWS_ENDPOINT_URL when set, static credentials when
//! AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are set (else the SDK's default
//! chain: environment, profile, instance role), SES_CONFIGURATION_SET when set.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_sesv2::{
    Client,
    config::Credentials,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    operation::send_email::SendEmailError,
    types::{Body, Content, Destination, EmailContent, Message},
};

use super::{Delivered, EmailSender, FailureKind, OutgoingEmail, SendError};
use crate::config::Config;

const NAME: &str = "ses";

/// Sends through AWS SES v2.
#[derive(Clone, Debug)]
pub struct SesSender {
    client: Client,
    configuration_set: Option<String>,
}

impl SesSender {
    /// Builds the SDK client; credentials are resolved lazily on first send.
    pub async fn new(config: &Config) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(config.aws_region.clone()))
            // Our outbox retries with backoff and may fall back to SMTP, so the
            // SDK only gets one quick retry of its own.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(2)
                    .with_initial_backoff(Duration::from_millis(200)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(10))
                    .operation_timeout(Duration::from_secs(25))
                    .build(),
            );
        if let Some(endpoint) = &config.aws_endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let (Some(id), Some(secret)) = (&config.aws_access_key_id, &config.aws_secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(id, secret.expose(), None, None, "tenantry-config"));
        }
        let sdk_config = loader.load().await;
        Self {
            client: Client::new(&sdk_config),
            configuration_set: config.ses_configuration_set.clone(),
        }
    }
}

fn content(data: &str) -> Result<Content, SendError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| SendError::new(NAME, FailureKind::Permanent, format!("cannot build message: {e}")))
}

/// Throttling, 5xx, timeouts and network failures are transient; a refusal
/// caused by the recipient (an invalid or suppressed address) or by the
/// message's content is permanent; every other refusal is SES's own
/// (credentials, unverified sender, paused or suspended account, missing
/// configuration set, …): [`FailureKind::Refused`], which the SMTP fallback
/// may still deliver.
fn classify(err: &SdkError<SendEmailError>) -> FailureKind {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => FailureKind::Transient,
        SdkError::ServiceError(service) => {
            let e = service.err();
            classify_refusal(
                service.raw().status().as_u16(),
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default(),
            )
        }
        _ => FailureKind::Refused,
    }
}

/// [`classify`] on the parts of an SES error response: status, error code and message.
fn classify_refusal(status: u16, code: &str, message: &str) -> FailureKind {
    let message = message.to_ascii_lowercase();
    let throttled = matches!(
        code,
        "Throttling" | "ThrottlingException" | "TooManyRequestsException" | "LimitExceededException"
    );
    if throttled || status == 429 || status >= 500 {
        return FailureKind::Transient;
    }
    let recipient_at_fault = match code {
        // "Email address is not verified" is the sender (or a sandboxed account): SES's side.
        "MessageRejected" => !message.contains("not verified"),
        // SES checks address syntax: "Illegal address", "Missing final '@domain'", …
        "BadRequestException" => ["address", "@domain", "domain contains", "recipient"]
            .iter()
            .any(|m| message.contains(m)),
        _ => false,
    };
    if recipient_at_fault {
        FailureKind::Permanent
    } else {
        FailureKind::Refused
    }
}

#[async_trait::async_trait]
impl EmailSender for SesSender {
    async fn send(&self, email: &OutgoingEmail) -> Result<Delivered, SendError> {
        let message = Message::builder()
            .subject(content(&email.content.subject)?)
            .body(
                Body::builder()
                    .text(content(&email.content.text)?)
                    .html(content(&email.content.html)?)
                    .build(),
            )
            .build();
        let result = self
            .client
            .send_email()
            .from_email_address(&email.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Delivered {
                provider: NAME,
                message_id: out
                    .message_id()
                    .map(str::to_string)
                    .unwrap_or_else(|| email.id.to_string()),
            }),
            Err(err) => Err(SendError::new(
                NAME,
                classify(&err),
                DisplayErrorContext(&err).to_string(),
            )),
        }
    }

    fn describe(&self) -> String {
        NAME.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recipient_or_the_message_makes_a_refusal_permanent() {
        use FailureKind::*;
        let cases = [
            (400, "MessageRejected", "Address blacklisted.", Permanent),
            (
                400,
                "MessageRejected",
                "Email address is not verified. The following identities failed the check in region EU-CENTRAL-1: no-reply@x.test",
                Refused,
            ),
            (400, "BadRequestException", "Illegal address", Permanent),
            (400, "BadRequestException", "Missing final '@domain'", Permanent),
            (
                400,
                "SendingPausedException",
                "Sending is paused for this account.",
                Refused,
            ),
            (400, "AccountSuspendedException", "Account suspended", Refused),
            (
                400,
                "MailFromDomainNotVerifiedException",
                "MAIL FROM domain not verified",
                Refused,
            ),
            (404, "NotFoundException", "Configuration set does not exist", Refused),
            (
                403,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
                Refused,
            ),
            (
                403,
                "AccessDeniedException",
                "not authorized to perform ses:SendEmail",
                Refused,
            ),
            (429, "TooManyRequestsException", "Too many requests", Transient),
            (
                400,
                "LimitExceededException",
                "Maximum sending rate exceeded.",
                Transient,
            ),
            (503, "ServiceUnavailable", "", Transient),
        ];
        for (status, code, message, kind) in cases {
            assert_eq!(classify_refusal(status, code, message), kind, "{code}: {message}");
        }
    }
}
