//! Webhook endpoints and deliveries as stored and as clients see them.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    pub url: String,
    /// Event types (see `GET /api/v1/webhooks/event-types`) or `*` for all.
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

/// `PUT /api/v1/webhooks/{id}`: absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` re-enables an endpoint disabled after failed deliveries.
    pub enabled: Option<bool>,
}

/// One row of `webhook_endpoints` (the sealed secrets stay in the database).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub previous_expires_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// The columns of [`EndpointRow`].
pub const ENDPOINT_COLUMNS: &str =
    "id, url, description, event_types, enabled, disabled_reason, previous_expires_at, created_at, updated_at";

/// An endpoint as clients see it: never its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why the endpoint was disabled (after its deliveries failed for 24 h).
    pub disabled_reason: Option<String>,
    /// Until when deliveries are also signed with the secret before the last rotation.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<EndpointRow> for WebhookView {
    fn from(r: EndpointRow) -> Self {
        Self {
            id: r.id,
            url: r.url,
            description: r.description,
            event_types: r.event_types,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            previous_secret_expires_at: r.previous_expires_at.filter(|t| *t > OffsetDateTime::now_utc()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An endpoint with its signing secret: the one response that shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// `whsec_…`: shown once, keep it to verify signatures.
    pub secret: String,
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct DeliveryView {
    pub id: Uuid,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    /// The HTTP status of the last attempt's response.
    pub response_status: Option<i32>,
    pub latency_ms: Option<i32>,
    pub last_error: Option<String>,
    /// When the next attempt is due (pending deliveries only).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The columns of [`DeliveryView`].
pub const DELIVERY_COLUMNS: &str = "id, event_type, status, attempts, response_status, latency_ms, last_error, \
     CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, last_attempt_at, created_at";

/// `GET /api/v1/webhooks/event-types`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypes {
    pub event_types: Vec<&'static str>,
}

/// `POST /api/v1/webhooks/{id}/test`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enqueued {
    pub delivery_id: Uuid,
}
