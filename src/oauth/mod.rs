//! Sign-in with each tenant's own Microsoft Entra ID or Google Workspace
//! (OpenID Connect authorization-code flow with PKCE). The super-admin
//! configuration of those identity providers is served by the tenants feature
//! (`tenants::identity_providers`) on this feature's model and SQL.
//!
//! - [`flow`]: `/api/v1/auth/oauth/{provider}/login|callback/{tenant_slug}` (public).
//! - [`oidc`]: discovery, JWKS cache, code exchange and ID-token validation.
//! - [`claims`]: provider and tenant rules on the verified ID-token claims.
//! - [`accounts`]: known identity → sign in; same verified email → link; else provision.
//! - [`test_sign_in`]: an administrator's test of the configuration (reports, never signs in).

pub mod accounts;
pub mod claims;
pub mod flow;
pub mod model;
pub mod oidc;
pub mod repo;
pub mod test_sign_in;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
pub use oidc::OidcService;

/// The sign-in flow, with paths relative to `/api/v1/auth/oauth`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(flow::start::oauth_login))
        .routes(routes!(flow::callback::oauth_callback))
}
