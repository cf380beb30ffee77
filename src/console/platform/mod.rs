//! The platform operator's pages (super admins only): the dashboard with
//! server-drawn SVG charts, tenants (list, create with the first admin,
//! limits, activate/deactivate, delete with a typed confirmation, a tenant's
//! stats, identity providers and recent audit rows), impersonation ("act as"
//! with a reason) and security (threats, problematic users with unlock, email
//! suppressions, maintenance with "run cleanup now").
//!
//! Every page takes [`Platform`]: the console user must be a super admin of
//! the system tenant and not impersonating (the API's `SuperAdmin` rule; a
//! tenant admin gets a 403 page). Pages call the API's own handlers with a
//! `SuperAdmin` handle, so validation, audit rows and refusals are the API's.

mod charts;
mod dashboard;
mod impersonate;
mod security;
mod tenants;

use axum::{
    Router,
    extract::FromRequestParts,
    http::{StatusCode, request::Parts},
    response::Response,
    routing::{get, post},
};
use serde::Deserialize;

use super::{
    render::{self, Frame},
    session::Console,
};
use crate::{
    app::AppState,
    auth::{AuthCtx, SuperAdmin},
    db::SYSTEM_TENANT_ID,
    http::ApiError,
    rbac::perm,
};

pub(super) use impersonate::{RETURN_COOKIE, return_to_self};

/// The platform routes (CSRF-checked with the rest of the console).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/platform", get(dashboard::dashboard_page))
        .route("/platform/tenants", get(tenants::list_page))
        .route(
            "/platform/tenants/new",
            get(tenants::new_page).post(tenants::create_submit),
        )
        .route("/platform/tenants/{id}", get(tenants::tenant_page))
        .route("/platform/tenants/{id}/limits", post(tenants::limits_submit))
        .route("/platform/tenants/{id}/activate", post(tenants::activate_submit))
        .route("/platform/tenants/{id}/deactivate", post(tenants::deactivate_submit))
        .route(
            "/platform/tenants/{id}/delete",
            get(tenants::delete_page).post(tenants::delete_submit),
        )
        .route("/platform/tenants/{id}/act-as", post(impersonate::act_as_submit))
        .route("/platform/security", get(security::security_page))
        .route("/platform/security/users/{id}/unlock", post(security::unlock_submit))
        .route(
            "/platform/security/suppressions/remove",
            post(security::remove_suppression_submit),
        )
        .route("/platform/maintenance/cleanup", post(security::cleanup_submit))
}

/// Whether `ctx` may use the platform pages: the `SuperAdmin` extractor's rule.
pub fn is_platform_admin(ctx: &AuthCtx) -> bool {
    ctx.tenant_id.get() == SYSTEM_TENANT_ID && ctx.is_super_admin && ctx.impersonator.is_none()
}

/// A signed-in super admin on a platform page. Each API call gets its own
/// [`SuperAdmin`] handle (a fresh platform transaction), as the API's
/// handlers take and commit one each.
pub struct Platform {
    pub ctx: AuthCtx,
    pub csrf: String,
    state: AppState,
}

impl Platform {
    /// The page frame with the platform menu.
    pub fn frame(&self, current: &str) -> Frame {
        Frame::new(&self.ctx, &self.csrf, current)
    }

    /// A `SuperAdmin` handle for one API call.
    pub async fn handle(&self) -> Result<SuperAdmin, ApiError> {
        Ok(SuperAdmin {
            ctx: self.ctx.clone(),
            tx: self.state.db.platform_tx().await?,
        })
    }
}

impl FromRequestParts<AppState> for Platform {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let console = Console::<perm::Authenticated>::from_request_parts(parts, state).await?;
        let ctx = console.authz.ctx;
        // The tenant transaction is not needed: platform work runs in its own.
        drop(console.authz.tx);
        if !is_platform_admin(&ctx) {
            return Err(render::message(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "These pages are for platform administrators.",
            ));
        }
        Ok(Platform {
            ctx,
            csrf: console.csrf,
            state: state.clone(),
        })
    }
}

/// `?done=` on a redirect after a change (a fixed word, never free text).
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

fn notice(done: &Done) -> Option<&'static str> {
    Some(match done.done.as_deref()? {
        "created" => "The tenant is created with its first administrator.",
        "limits" => "The limits are saved.",
        "activated" => "The tenant is active again.",
        "deactivated" => "The tenant is deactivated; its sessions are ended and sign-ins refused.",
        "deleted" => "The tenant and all its data are deleted.",
        "unlocked" => "The account is unlocked.",
        "removed" => "The address is removed from the suppression list.",
        "impersonation_ended" => "Impersonation ended. You are yourself again.",
        _ => return None,
    })
}

/// The API's answer to an action that did not go through, as a page.
fn refused(e: ApiError) -> Response {
    super::admin::refused(e)
}

/// An ApiError from a step that must not fail (e.g. opening a transaction).
fn failed(e: impl Into<ApiError>) -> Response {
    render::api_error(e.into())
}
