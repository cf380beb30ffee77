//! Sign-in with each tenant's own Microsoft Entra ID or Google Workspace
//! (OpenID Connect authorization-code flow with PKCE), and the super-admin
//! configuration of those identity providers.
//!
//! - [`idp`]: `/api/v1/tenants/{id}/identity-providers…` (super admin).
//! - [`flow`]: `/api/v1/auth/oauth/{provider}/login|callback/{tenant_slug}` (public).
//! - [`oidc`]: discovery, JWKS cache, code exchange and ID-token validation.
//! - [`claims`]: provider and tenant rules on the verified ID-token claims.
//! - [`accounts`]: known identity → sign in; same verified email → link; else provision.

pub mod accounts;
pub mod claims;
pub mod flow;
pub mod idp;
pub mod model;
pub mod oidc;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;
pub use oidc::OidcService;

/// Every OAuth route with its full path (merged at the root: the tenants and
/// auth routers are nested under their own prefixes).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(idp::create_microsoft_provider))
        .routes(routes!(idp::create_google_provider))
        .routes(routes!(idp::list_identity_providers))
        .routes(routes!(idp::update_identity_provider, idp::delete_identity_provider))
        .routes(routes!(flow::oauth_login))
        .routes(routes!(flow::oauth_callback))
}
