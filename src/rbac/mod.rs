//! Role-based access control: the permission catalogue, roles and assignments.
//!
//! A user's permissions are the union over unexpired assignments, resolved on
//! every request by the authentication query (no cache, so a revocation or an
//! expiry takes effect at once); [`sweeper`] later deletes expired rows.
//! [`grants`] holds the "nobody grants what they do not hold" and "not above
//! yourself" checks, [`admins`] the last-tenant-admin invariant: every feature
//! that gives roles or changes a user calls them.

pub mod admins;
pub mod grants;
pub mod handlers;
pub mod model;
pub mod permission;
pub mod repo;
pub mod sweeper;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use permission::{Permission, Required, SYSTEM_ROLES, perm, system_role_permissions};

use crate::app::AppState;

/// `/api/v1/permissions`, `/api/v1/roles` and `/api/v1/users/{id}/roles`, with
/// full paths (merged beside the users feature's `/api/v1/users` routes).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_permissions))
        .routes(routes!(handlers::list_roles, handlers::create_role))
        .routes(routes!(
            handlers::get_role,
            handlers::update_role,
            handlers::delete_role
        ))
        .routes(routes!(handlers::assign_role))
        .routes(routes!(handlers::remove_role))
}
