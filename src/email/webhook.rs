//! `POST /api/v1/webhooks/ses`: SES bounce and complaint notifications delivered
//! by SNS. No bearer token: the SNS signature and the topic allowlist
//! (`SNS_TOPIC_ARNS`, none = refuse all) are the authentication. A message that
//! fails verification is refused with 403 and changes nothing.
//!
//! Every field of the body is the caller's text until verified (and the
//! `Message` after): it is logged with `?` (Debug), so a newline cannot forge a
//! log line.
//!
//! SNS posts with `Content-Type: text/plain`, so the body is read as bytes.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{FromRef, State},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    EmailService,
    sns::{SnsError, SnsMessage},
    suppression_list::{self, SuppressionReason},
};
use crate::{
    db::{Db, PreAuth},
    http::{ApiError, ApiResult, extract::ApiJson, extract::parse_json},
};

/// `POST /ses`, nested under `/api/v1/webhooks`. Any state that hands out the
/// database and the email service will do: this module never sees `AppState`.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Db: FromRef<S>,
    Arc<EmailService>: FromRef<S>,
{
    OpenApiRouter::new().routes(routes!(ses_webhook))
}

/// What the webhook did with a delivery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    /// `subscription_confirmed`, `unsubscribed`, `suppressed` or `ignored`.
    pub result: &'static str,
    /// Addresses added to (or refreshed on) the suppression list.
    pub suppressed: Vec<String>,
}

impl From<SnsError> for ApiError {
    fn from(err: SnsError) -> Self {
        match err {
            SnsError::UnsupportedType(_) | SnsError::MissingField(_) | SnsError::UnsupportedSignatureVersion(_) => {
                ApiError::BadRequest(err.to_string())
            }
            SnsError::CertificateUnavailable(_) => ApiError::BadGateway(err.to_string()),
            SnsError::UrlNotAllowed(_)
            | SnsError::TopicNotAllowed
            | SnsError::NoTopicConfigured
            | SnsError::BadCertificate(_)
            | SnsError::BadSignature => ApiError::Forbidden(format!("SNS message refused: {err}")),
        }
    }
}

/// Receives an SNS delivery for the SES event topic.
#[utoipa::path(post, path = "/ses", tag = "webhooks", request_body(content = String, content_type = "text/plain",
        description = "The SNS message (JSON)"),
    responses((status = 200, body = WebhookOutcome), (status = 400, description = "Not an SNS message"),
        (status = 403, description = "Signature, certificate URL or topic refused")))]
pub async fn ses_webhook(
    State(db): State<Db>,
    State(email): State<Arc<EmailService>>,
    body: Bytes,
) -> ApiResult<ApiJson<WebhookOutcome>> {
    let msg: SnsMessage = parse_json(&body)?;
    email.sns.verify(&msg).await.inspect_err(|e| {
        tracing::warn!(error = ?e.to_string(), topic = ?msg.topic_arn, message_id = ?msg.message_id, "SNS delivery refused");
    })?;
    let outcome = match msg.kind.as_str() {
        "SubscriptionConfirmation" => {
            email.sns.confirm_subscription(&msg).await?;
            tracing::info!(topic = ?msg.topic_arn, "SNS subscription confirmed");
            WebhookOutcome {
                result: "subscription_confirmed",
                suppressed: vec![],
            }
        }
        "UnsubscribeConfirmation" => {
            tracing::warn!(topic = ?msg.topic_arn, "SNS subscription ended");
            WebhookOutcome {
                result: "unsubscribed",
                suppressed: vec![],
            }
        }
        _ => handle_notification(&db, &msg).await?,
    };
    Ok(ApiJson(outcome))
}

/// An SES event as published to SNS: identity notifications use
/// `notificationType`, configuration-set event publishing uses `eventType`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesEvent {
    notification_type: Option<String>,
    event_type: Option<String>,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
    mail: Option<Mail>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    #[serde(default)]
    bounced_recipients: Vec<Recipient>,
    feedback_id: Option<String>,
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Recipient>,
    complaint_feedback_type: Option<String>,
    feedback_id: Option<String>,
    timestamp: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Recipient {
    email_address: String,
    diagnostic_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: Option<String>,
}

/// `Name <a@b>` or `a@b` → `a@b`.
fn bare_address(raw: &str) -> String {
    let raw = raw.trim();
    match (raw.rfind('<'), raw.rfind('>')) {
        (Some(start), Some(end)) if start < end => raw[start + 1..end].trim().to_lowercase(),
        _ => raw.to_lowercase(),
    }
}

/// The addresses to suppress, with why, from one SES event.
fn suppressions_of(event: &SesEvent, sns_message_id: &str) -> Vec<(String, SuppressionReason, serde_json::Value)> {
    let kind = event
        .event_type
        .as_deref()
        .or(event.notification_type.as_deref())
        .unwrap_or_default();
    let ses_message_id = event.mail.as_ref().and_then(|m| m.message_id.clone());
    match (kind, &event.bounce, &event.complaint) {
        ("Bounce", Some(b), _) if b.bounce_type == "Permanent" => b
            .bounced_recipients
            .iter()
            .map(|r| {
                let details = json!({"bounce_type": b.bounce_type, "bounce_sub_type": b.bounce_sub_type,
                    "diagnostic_code": r.diagnostic_code, "feedback_id": b.feedback_id, "timestamp": b.timestamp,
                    "ses_message_id": ses_message_id, "sns_message_id": sns_message_id});
                (bare_address(&r.email_address), SuppressionReason::Bounce, details)
            })
            .collect(),
        ("Complaint", _, Some(c)) => c
            .complained_recipients
            .iter()
            .map(|r| {
                let details = json!({"complaint_feedback_type": c.complaint_feedback_type,
                    "feedback_id": c.feedback_id, "timestamp": c.timestamp,
                    "ses_message_id": ses_message_id, "sns_message_id": sns_message_id});
                (bare_address(&r.email_address), SuppressionReason::Complaint, details)
            })
            .collect(),
        _ => Vec::new(),
    }
}

async fn handle_notification(db: &Db, msg: &SnsMessage) -> ApiResult<WebhookOutcome> {
    // Other topic traffic (setup notifications, deliveries) is acknowledged and ignored.
    let Ok(event) = serde_json::from_str::<SesEvent>(&msg.message) else {
        return Ok(WebhookOutcome {
            result: "ignored",
            suppressed: vec![],
        });
    };
    let entries: Vec<_> = suppressions_of(&event, &msg.message_id)
        .into_iter()
        .filter(|(email, ..)| super::outbox::looks_like_address(email))
        .collect();
    if entries.is_empty() {
        return Ok(WebhookOutcome {
            result: "ignored",
            suppressed: vec![],
        });
    }
    let mut tx = db.pre_auth_platform_tx(PreAuth::SesNotification).await?;
    let mut suppressed = Vec::with_capacity(entries.len());
    for (email, reason, details) in entries {
        suppression_list::upsert(&mut tx, &email, reason, details).await?;
        tracing::info!(reason = reason.as_str(), "address added to the email suppression list");
        suppressed.push(email);
    }
    tx.commit().await?;
    Ok(WebhookOutcome {
        result: "suppressed",
        suppressed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(v: serde_json::Value) -> SesEvent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn permanent_bounces_and_complaints_are_suppressed() {
        let bounce = event(
            json!({"notificationType": "Bounce", "bounce": {"bounceType": "Permanent",
            "bounceSubType": "General", "bouncedRecipients": [{"emailAddress": "Ada <ADA@Example.com>"}]},
            "mail": {"messageId": "ses-1"}}),
        );
        let s = suppressions_of(&bounce, "sns-1");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0, "ada@example.com");
        assert_eq!(s[0].1, SuppressionReason::Bounce);
        assert_eq!(s[0].2["ses_message_id"], "ses-1");

        let complaint = event(json!({"eventType": "Complaint", "complaint": {"complainedRecipients":
            [{"emailAddress": "b@example.com"}], "complaintFeedbackType": "abuse"}}));
        assert_eq!(suppressions_of(&complaint, "sns-2")[0].1, SuppressionReason::Complaint);
    }

    #[test]
    fn transient_bounces_and_deliveries_are_not() {
        let transient = event(
            json!({"notificationType": "Bounce", "bounce": {"bounceType": "Transient",
            "bouncedRecipients": [{"emailAddress": "a@example.com"}]}}),
        );
        assert!(suppressions_of(&transient, "x").is_empty());
        assert!(suppressions_of(&event(json!({"notificationType": "Delivery"})), "x").is_empty());
    }
}
