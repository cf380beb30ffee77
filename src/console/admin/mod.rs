//! Tenant administration pages: users (table, a user's page, deactivation with
//! confirmation, bulk actions, invitations), roles on a permission matrix
//! and role assignment.
//!
//! Every page takes the same `Authz<perm::X>` the API route takes (through
//! [`Console`](super::session::Console)) and calls the API's handler or
//! service function, so permission checks, "nobody grants what they do not
//! hold", "not above yourself", the last-admin guard and audit rows are the
//! API's own. A refusal comes back as the API's status with its detail.

mod invite;
mod roles;
mod user_page;
mod users;

use axum::{
    Router,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;

pub(super) use roles::{MatrixRow, matrix};
pub(super) use user_page::expiry;

use super::render;
use crate::{app::AppState, http::ApiError};

/// The administration routes (CSRF-checked with the rest of the console).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(users::list_page))
        .route("/admin/users/bulk", post(users::bulk_submit))
        .route(
            "/admin/users/invite",
            get(invite::invite_page).post(invite::invite_submit),
        )
        .route("/admin/users/{id}", get(user_page::user_page))
        .route(
            "/admin/users/{id}/deactivate",
            get(user_page::deactivate_page).post(user_page::deactivate_submit),
        )
        .route("/admin/users/{id}/roles", post(user_page::assign_submit))
        .route("/admin/roles", get(roles::list_page))
        .route("/admin/roles/new", get(roles::new_page).post(roles::create_submit))
        .route("/admin/roles/{id}", get(roles::role_page).post(roles::update_submit))
}

/// `?done=` on a redirect after a change (a fixed word, never free text).
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn notice(done: &Done) -> Option<&'static str> {
    Some(match done.done.as_deref()? {
        "deactivated" => "The user is deactivated and signed out everywhere.",
        "assigned" => "The role is assigned.",
        "invited" => "The invitation is sent.",
        _ => return None,
    })
}

/// The API's refusal of an action, as a page that says why (403 and 409
/// carry the API's own detail, e.g. the last tenant admin).
pub(in crate::console) fn refused(e: ApiError) -> Response {
    match e {
        ApiError::Forbidden(detail) => render::message(StatusCode::FORBIDDEN, "Not allowed", &detail),
        e @ (ApiError::Conflict { .. } | ApiError::NotFound(_) | ApiError::Validation(_)) => {
            let status = e.status();
            let title = match status {
                StatusCode::CONFLICT => "Not possible",
                StatusCode::NOT_FOUND => "Not found",
                _ => "Check the form",
            };
            render::message(status, title, &field_message(&e))
        }
        other => render::api_error(other),
    }
}

/// A validation error's first field as a sentence, or the error's detail.
pub(in crate::console) fn field_message(e: &ApiError) -> String {
    match e {
        ApiError::Validation(fields) => fields
            .first()
            .map(|f| format!("The {} {}.", f.field.replace('_', " "), f.message))
            .unwrap_or_else(|| "Check the form and try again.".into()),
        other => other.to_string(),
    }
}
