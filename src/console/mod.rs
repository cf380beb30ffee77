//! The console: the web UI for people, served by the same binary at the root.
//!
//! - [`signin`]: `/login` (password, tenant choice, MFA, SSO), `/auth/callback`,
//!   sign-out and ending an impersonation.
//! - [`links`]: the landing page of every email link (`/set-password`,
//!   `/reset-password`, `/verify-email`, `/accept-invitation`, `/unlock`,
//!   `/security`) and "forgot password".
//! - [`account`]: the signed-in user's own profile, password, MFA, sessions
//!   and activity.
//! - [`admin`]: tenant administration (users, role assignment), each page
//!   behind the permission its API route needs.
//! - [`platform`]: the platform operator's pages (super admins only):
//!   dashboard with server-drawn SVG charts, tenants, impersonation, security.
//! - [`tenant`]: the tenant's work and oversight pages (CSV import, projects
//!   and documents, search, audit log, overview), likewise.
//! - [`settings`]: the tenant's integration and identity settings (single
//!   sign-on, SCIM tokens, API keys, webhooks), behind `tenant:manage`.
//! - [`session`]: the cookie session (the same `user_sessions` row a token
//!   uses) and CSRF; [`render`]: templates and the page frame.
//!
//! Pages call the API's own handlers and service functions (sign-in, MFA,
//! password policy, tokens), so rate limits, lockout, audit rows and security
//! events are exactly the API's.
//!
//! Templates: `minijinja`, already the email templates' engine, with the
//! sources compiled in by `include_str!`, auto-escaping on `.html` and strict
//! undefined variables; a test parses every template. One engine for email and
//! console keeps one syntax and no extra proc-macro build step; askama's
//! compile-time field checks are traded for that test and strict undefined.
//! htmx 2 (vendored from the npm package `htmx.org`, embedded) upgrades forms
//! in place where it helps; every core form works with JavaScript off.

mod account;
mod admin;
mod links;
mod platform;
mod render;
mod session;
mod settings;
mod signin;
mod tenant;

use std::sync::LazyLock;

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

use crate::app::AppState;

const HTMX_JS: &[u8] = include_bytes!("assets/htmx.min.js");
const CONSOLE_CSS: &[u8] = include_bytes!("assets/console.css");
/// The console's own script: progress bars of CSV imports and uploads.
const CONSOLE_JS: &[u8] = include_bytes!("assets/console.js");

/// The product name in page titles (`APP_NAME`, set when the router is built).
static APP_NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Asset URLs carry a digest of their bytes, so they can be cached for a year.
static ASSET_URLS: LazyLock<(String, String)> = LazyLock::new(|| {
    let tag = |b: &[u8]| crate::crypto::sha256_hex(b)[..12].to_string();
    (
        format!("/console/assets/htmx-{}.js", tag(HTMX_JS)),
        format!("/console/assets/console-{}.css", tag(CONSOLE_CSS)),
    )
});

/// The content-hashed URL of [`CONSOLE_JS`].
static SCRIPT_URL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "/console/assets/console-{}.js",
        &crate::crypto::sha256_hex(CONSOLE_JS)[..12]
    )
});

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    res
}

async fn serve_asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (js, css) = &*ASSET_URLS;
    match format!("/console/assets/{name}") {
        p if p == *js => asset("text/javascript; charset=utf-8", HTMX_JS),
        p if p == *css => asset("text/css; charset=utf-8", CONSOLE_CSS),
        p if p == *SCRIPT_URL => asset("text/javascript; charset=utf-8", CONSOLE_JS),
        _ => render::message(StatusCode::NOT_FOUND, "Not found", "There is no such file."),
    }
}

/// A 303 See Other (after a POST, the browser follows with GET).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Every console route (merged at the root by `http::router`).
pub fn router(state: AppState) -> Router<AppState> {
    let _ = APP_NAME.set(state.config.app_name.clone());
    Router::new()
        .route("/", get(signin::home))
        .route("/login", get(signin::login_page).post(signin::login_submit))
        .route("/login/mfa", get(signin::mfa_page).post(signin::mfa_submit))
        .route("/login/sso", post(signin::sso_start))
        // A sign-in's return, or an administrator's test sign-in (settings::sso_test).
        .route("/auth/callback", get(settings::sso_test::callback))
        .route("/logout", post(signin::logout))
        .route("/end-impersonation", post(signin::end_impersonation))
        .route("/forgot-password", get(links::forgot_page).post(links::forgot_submit))
        .route(
            "/set-password",
            get(links::set_password_page).post(links::set_password_submit),
        )
        .route(
            "/reset-password",
            get(links::reset_password_page).post(links::reset_password_submit),
        )
        .route(
            "/verify-email",
            get(links::verify_email_page).post(links::verify_email_submit),
        )
        .route(
            "/accept-invitation",
            get(links::invitation_page).post(links::invitation_submit),
        )
        .route("/unlock", get(links::unlock_page).post(links::unlock_submit))
        .route("/security", get(links::security_page))
        .route("/account", get(account::profile_page).post(account::profile_submit))
        .route(
            "/account/password",
            get(account::password_page).post(account::password_submit),
        )
        .route("/account/password/check", post(account::password_check))
        .route("/account/mfa", get(account::mfa_page))
        .route("/account/mfa/setup", post(account::mfa_setup))
        .route("/account/mfa/enable", post(account::mfa_enable))
        .route("/account/mfa/disable", post(account::mfa_disable))
        .route("/account/mfa/recovery-codes", post(account::recovery_codes_download))
        .route("/account/sessions", get(account::sessions_page))
        .route("/account/sessions/others", post(account::end_other_sessions))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route("/account/activity", get(account::activity_page))
        .merge(admin::router())
        .merge(platform::router())
        .merge(tenant::router())
        .merge(settings::router())
        .layer(middleware::from_fn_with_state(state, session::require_csrf))
        .route("/console/assets/{name}", get(serve_asset))
}
