//! Tenant groups (`/api/v1/groups`): named sets of users whose members
//! inherit the group's roles. The permission query of every request
//! (`auth::extract`) and `rbac::grants::user_permissions` include group roles,
//! and every change commits in the tenant, which invalidates the session cache
//! there, so joining or leaving a group takes effect on the next request.
//! Groups are also provisioned by identity providers through `/scim/v2/Groups`
//! (`crate::scim::groups`); both front doors write through [`repo`].

pub mod handlers;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list_groups, handlers::create_group))
        .routes(routes!(
            handlers::get_group,
            handlers::update_group,
            handlers::delete_group
        ))
        .routes(routes!(handlers::add_group_role, handlers::remove_group_role))
}
