//! Tenants: the lifecycle a super admin runs (create with system roles and first
//! admin, list, update, activate/deactivate, delete), tenant statistics and the
//! tenant's identity providers ([`identity_providers`], on the OAuth model).

pub mod handlers;
pub mod identity_providers;
pub mod model;
pub mod repo;
pub mod service;
pub mod stats;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
pub use model::{CreatedTenant, NewTenant};
pub use service::create_tenant;

/// Routes with paths relative to `/api/v1/tenants`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_tenant, handlers::list_tenants))
        .routes(routes!(handlers::global_stats))
        .routes(routes!(
            handlers::get_tenant,
            handlers::update_tenant,
            handlers::delete_tenant
        ))
        .routes(routes!(handlers::activate_tenant))
        .routes(routes!(handlers::deactivate_tenant))
        .routes(routes!(handlers::tenant_stats))
        .routes(routes!(identity_providers::create_microsoft_provider))
        .routes(routes!(identity_providers::create_google_provider))
        .routes(routes!(identity_providers::list_identity_providers))
        .routes(routes!(
            identity_providers::update_identity_provider,
            identity_providers::delete_identity_provider
        ))
}
