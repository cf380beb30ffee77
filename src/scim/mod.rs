//! SCIM 2.0 provisioning (RFC 7643/7644) at `/scim/v2`, and the tokens that
//! open it (`/api/v1/scim/tokens`). An identity provider (Entra ID, Okta)
//! creates, updates, deactivates and deletes a tenant's users and groups; every
//! change is audited in the tenant's chain with the token as actor
//! (`scim:<token name>`).
//!
//! - [`tokens`]: issuing and revoking SCIM tokens [tenant:manage].
//! - [`auth`]: the bearer token → tenant transaction front door.
//! - [`discovery`], [`users`], [`groups`]: the resources.
//! - [`filter`], [`patch`], [`list`], [`attributes`]: the protocol's query and
//!   update languages, and which attributes a response carries.
//! - [`error`]: RFC 7644 §3.12 errors as `application/scim+json`.

pub mod attributes;
pub mod auth;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod groups;
pub mod list;
pub mod patch;
pub mod repo;
pub mod tokens;
pub mod users;

use axum::{Router, routing::get};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// The most resources one list answer holds (`filter.maxResults`).
pub const MAX_RESULTS: i64 = 200;

/// `/api/v1/scim/tokens…` (documented in OpenAPI, bearer JWT with tenant:manage).
pub fn tokens_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tokens::create_token, tokens::list_tokens))
        .routes(routes!(tokens::revoke_token))
}

/// The SCIM protocol routes, relative to `/scim/v2` (SCIM-token bearer; not
/// part of the OpenAPI document, whose security is the user's JWT).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ServiceProviderConfig", get(discovery::service_provider_config))
        .route("/Schemas", get(discovery::list_schemas))
        .route("/Schemas/{id}", get(discovery::get_schema))
        .route("/ResourceTypes", get(discovery::list_resource_types))
        .route("/ResourceTypes/{id}", get(discovery::get_resource_type))
        .route("/Users", get(users::list).post(users::create))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
}
