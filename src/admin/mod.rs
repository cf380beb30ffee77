//! The super-admin API (`/api/v1/admin/*`): dashboards, audit, security views,
//! maintenance and the email suppression list. Every handler takes the
//! `SuperAdmin` extractor. (Impersonation is `auth::impersonation`.)

pub mod email_suppressions;
pub mod maintenance;
pub mod model;
pub mod overview;
pub mod repo;
pub mod retention;
pub mod security;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// Routes with paths relative to `/api/v1/admin`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview::dashboard))
        .routes(routes!(overview::growth))
        .routes(routes!(overview::audit_logs))
        .routes(routes!(overview::audit_verify))
        .routes(routes!(overview::audit_export))
        .routes(routes!(overview::config_limits))
        .routes(routes!(security::threats))
        .routes(routes!(security::problematic_users))
        .routes(routes!(security::unlock_user))
        .routes(routes!(maintenance::cleanup))
        .routes(routes!(maintenance::status))
        .routes(routes!(email_suppressions::list_suppressions))
        .routes(routes!(email_suppressions::delete_suppression))
}
