//! Tenants: the lifecycle a super admin runs (create with system roles and first
//! admin, list, update, activate/deactivate, delete) and tenant statistics.
//! Identity-provider configuration lives in the OAuth feature.

pub mod handlers;
pub mod model;
pub mod repo;
pub mod service;
pub mod stats;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
pub use model::{CreatedTenant, NewTenant};
pub use service::create_tenant;

/// Routes with their full `/api/v1/tenants` paths (merged, so the OAuth feature
/// can add `/api/v1/tenants/{id}/identity-providers` beside them).
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
}
