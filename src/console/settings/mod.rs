//! Tenant settings for integration and identity, each behind `tenant:manage`
//! like its API routes: single sign-on ([`sso`], [`sso_test`]), SCIM tokens ([`scim`]),
//! API keys ([`api_keys`]) and webhooks ([`webhooks`]).
//!
//! Pages call the API's own handlers and service functions, so validation,
//! "nobody grants what they do not hold", audit rows and SSRF checks are the
//! API's. A secret (SCIM token, API key, webhook secret) is shown once, on the
//! page answering the request that made it, and never again.
//!
//! Copy buttons use one small static script ([`COPY_JS`]); the CSP forbids
//! inline script.

mod api_keys;
mod scim;
mod sso;
pub(super) mod sso_test;
mod webhooks;

use std::sync::LazyLock;

use axum::{
    Router,
    http::StatusCode,
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};

use super::render::{self, Frame};
use crate::{
    app::AppState,
    auth::{AuthCtx, Authz},
    http::ApiError,
    rbac::perm,
};

const COPY_JS: &[u8] = include_bytes!("../assets/copy.js");

/// The copy script's URL, with a digest of its bytes (cached for a year).
static COPY_JS_URL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "/console/settings-assets/copy-{}.js",
        &crate::crypto::sha256_hex(COPY_JS)[..12]
    )
});

async fn copy_js() -> Response {
    super::asset("text/javascript; charset=utf-8", COPY_JS)
}

/// The settings routes (CSRF-checked with the rest of the console).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(&COPY_JS_URL, get(copy_js))
        .route("/admin/sso", get(sso::overview_page))
        .route("/admin/sso/{provider}", get(sso::provider_page).post(sso::save_submit))
        .route("/admin/sso/{provider}/test", post(sso_test::test_submit))
        .route(
            "/admin/sso/{provider}/delete",
            get(sso::delete_page).post(sso::delete_submit),
        )
        .route("/admin/scim", get(scim::list_page))
        .route("/admin/scim/new", get(scim::new_page).post(scim::create_submit))
        .route(
            "/admin/scim/{id}/revoke",
            get(scim::revoke_page).post(scim::revoke_submit),
        )
        .route("/admin/api-keys", get(api_keys::list_page))
        .route(
            "/admin/api-keys/new",
            get(api_keys::new_page).post(api_keys::create_submit),
        )
        .route(
            "/admin/api-keys/{id}/revoke",
            get(api_keys::revoke_page).post(api_keys::revoke_submit),
        )
        .route("/admin/webhooks", get(webhooks::list_page))
        .route(
            "/admin/webhooks/new",
            get(webhooks::new_page).post(webhooks::create_submit),
        )
        .route(
            "/admin/webhooks/{id}",
            get(webhooks::endpoint_page).post(webhooks::update_submit),
        )
        .route("/admin/webhooks/{id}/edit", get(webhooks::edit_page))
        .route("/admin/webhooks/{id}/enabled", post(webhooks::enabled_submit))
        .route("/admin/webhooks/{id}/rotate", post(webhooks::rotate_submit))
        .route("/admin/webhooks/{id}/test", post(webhooks::test_submit))
        .route(
            "/admin/webhooks/{id}/deliveries/{delivery_id}/retry",
            post(webhooks::retry_submit),
        )
        .route(
            "/admin/webhooks/{id}/delete",
            get(webhooks::delete_page).post(webhooks::delete_submit),
        )
}

/// `?done=` on a redirect after a change (a fixed word, never free text).
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn notice(done: &Done) -> Option<&'static str> {
    Some(match done.done.as_deref()? {
        "saved" => "The changes are saved.",
        "deleted" => "It is deleted.",
        "revoked" => "It is revoked: it is refused from now on.",
        "enabled" => "The webhook is enabled.",
        "disabled" => "The webhook is disabled: nothing is sent to it until it is enabled again.",
        "ping" => "A test ping is queued; it appears in the delivery log below.",
        "retried" => "The delivery is queued again.",
        _ => return None,
    })
}

/// Every field error of a refusal as sentences, or its detail.
fn messages(e: &ApiError) -> Vec<String> {
    match e {
        ApiError::Validation(fields) => fields
            .iter()
            .map(|f| format!("The {} {}.", f.field.replace('_', " "), f.message))
            .collect(),
        other => vec![other.to_string()],
    }
}

/// Whether a refusal belongs on the form that was sent (the person can fix it).
fn fixable(e: &ApiError) -> bool {
    matches!(
        e,
        ApiError::Validation(_)
            | ApiError::Conflict { .. }
            | ApiError::Forbidden(_)
            | ApiError::BadRequest(_)
            | ApiError::BadGateway(_)
    )
}

/// A refusal that has no form to go back to, as a page saying why.
fn refused(e: ApiError) -> Response {
    match e {
        ApiError::Forbidden(detail) => render::message(StatusCode::FORBIDDEN, "Not allowed", &detail),
        e @ ApiError::NotFound(_) => render::message(StatusCode::NOT_FOUND, "Not found", &e.to_string()),
        e @ (ApiError::Validation(_) | ApiError::Conflict { .. } | ApiError::BadRequest(_)) => {
            render::message(e.status(), "Not possible", &messages(&e).join(" "))
        }
        other => render::api_error(other),
    }
}

/// One value to copy on a "shown once" page.
#[derive(Serialize)]
struct CopyItem {
    id: &'static str,
    label: &'static str,
    value: String,
}

#[derive(Serialize)]
struct SecretView {
    frame: Frame,
    copy_js: &'static str,
    title: String,
    text: &'static str,
    items: Vec<CopyItem>,
    next_href: String,
    next_label: &'static str,
}

/// The page that shows a new secret, this once.
fn secret_page(
    frame: Frame,
    title: String,
    text: &'static str,
    items: Vec<CopyItem>,
    next: (String, &'static str),
) -> Response {
    let mut res = render::ok(
        "settings_secret.html",
        SecretView {
            frame,
            copy_js: COPY_JS_URL.as_str(),
            title,
            text,
            items,
            next_href: next.0,
            next_label: next.1,
        },
    );
    // Never kept by a cache or offered again by the back button.
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

#[derive(Serialize)]
struct ConfirmView<'a> {
    frame: Frame,
    title: &'a str,
    text: &'a str,
    action: &'a str,
    button: &'a str,
    back: &'a str,
}

/// "Are you sure?" before something that cannot be undone.
fn confirm_page(frame: Frame, title: &str, text: &str, action: &str, button: &str, back: &str) -> Response {
    render::ok(
        "settings_confirm.html",
        ConfirmView {
            frame,
            title,
            text,
            action,
            button,
            back,
        },
    )
}

/// A second transaction for the same signed-in person, for a page that shows
/// what two API handlers answer (each takes its own `Authz`, with the same
/// permission check).
async fn again(state: &AppState, ctx: &AuthCtx) -> Result<Authz<perm::TenantManage>, ApiError> {
    let tx = state.db.tenant_tx(ctx.tenant_id).await?;
    Authz::checked(ctx.clone(), tx)
}
