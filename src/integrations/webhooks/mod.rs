//! Outbound webhooks (Standard Webhooks 1.0), served at `/api/v1/webhooks`.
//!
//! - An endpoint subscribes to event types: the audit actions (see [`events`]).
//! - The outbox is `webhook_deliveries`: a trigger on `audit_logs` inserts one
//!   row per subscribed enabled endpoint in the transaction of the change, so
//!   a rolled-back change sends nothing. [`worker`] delivers them.
//! - Every request goes through the SSRF-safe [`OutboundClient`]; URLs are also
//!   checked when saved, for a clear 422.
//! - The prefix also serves the inbound SES hook (`POST /ses`, `email::webhook`).

pub mod events;
pub mod handlers;
pub mod model;
pub mod repo;
pub mod signing;
pub mod worker;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    app::AppState,
    config::Config,
    http::outbound::{OutboundClient, OutboundPolicy},
};

/// Routes relative to `/api/v1/webhooks`, with the SES hook merged in.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_webhook, handlers::list_webhooks))
        .routes(routes!(handlers::list_event_types))
        .routes(routes!(
            handlers::get_webhook,
            handlers::update_webhook,
            handlers::delete_webhook
        ))
        .routes(routes!(handlers::rotate_secret))
        .routes(routes!(handlers::test_webhook))
        .routes(routes!(handlers::list_deliveries))
        .routes(routes!(handlers::retry_delivery))
        .merge(crate::email::webhook::router())
}

/// Which targets webhook URLs may name under `config`.
pub fn policy(config: &Config) -> OutboundPolicy {
    OutboundPolicy {
        allow_private: config.webhook_allow_private,
        https_only: config.is_production(),
    }
}

/// The delivery worker's handles.
pub fn deliverer(
    config: &Config,
    job: crate::db::PlatformAccess,
    secrets: crate::crypto::SecretBox,
) -> worker::Deliverer {
    worker::Deliverer {
        job,
        secrets,
        client: OutboundClient::new(policy(config)),
        retry_base: config.webhook_retry_base,
    }
}
