//! Tenant user management (`/api/v1/users`): the caller's own profile, listing
//! and administering users, sessions, invitations, bulk operations, statistics
//! and security views; [`accounts`], the one writer of `users` and
//! `user_roles` (account creation, shared with `/auth/create-user`, SCIM and
//! OAuth, and every later change of an account). Role assignment's routes
//! live in `rbac`.

pub mod accounts;
pub mod bulk;
pub mod handlers;
pub mod insights;
pub mod invite;
pub mod model;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// Static segments (`/me`, `/invite`, `/bulk/...`, `/stats`) take priority over `/{id}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::get_me, handlers::update_me))
        .routes(routes!(handlers::list_users))
        .routes(routes!(
            handlers::get_user,
            handlers::update_user,
            handlers::delete_user
        ))
        .routes(routes!(handlers::list_sessions, handlers::terminate_sessions))
        .routes(routes!(invite::invite_user))
        .routes(routes!(bulk::bulk_create))
        .routes(routes!(bulk::bulk_action))
        .routes(routes!(insights::user_stats))
        .routes(routes!(insights::user_security))
}
