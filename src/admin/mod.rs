//! The super-admin API (`/api/v1/admin/*`) and impersonation
//! (`/api/v1/auth/impersonate`, `/api/v1/auth/end-impersonation`).
//! Every handler but `end-impersonation` takes the `SuperAdmin` extractor.

pub mod impersonation;
pub mod maintenance;
pub mod overview;
pub mod retention;
pub mod security;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// Routes with full paths, merged beside the auth and email-suppression routers.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(impersonation::impersonate))
        .routes(routes!(impersonation::end_impersonation))
        .routes(routes!(overview::dashboard))
        .routes(routes!(overview::growth))
        .routes(routes!(overview::audit_logs))
        .routes(routes!(overview::audit_verify))
        .routes(routes!(overview::config_limits))
        .routes(routes!(security::threats))
        .routes(routes!(security::problematic_users))
        .routes(routes!(security::unlock_user))
        .routes(routes!(maintenance::cleanup))
        .routes(routes!(maintenance::status))
}
