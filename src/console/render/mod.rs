//! Templates (compiled into the binary) and the page frame.
//!
//! Templates own markup, handlers own data: a handler builds a serialisable
//! view and renders one template. Every `.html` template is auto-escaped; the
//! only values marked safe are the QR code SVG this server draws itself and
//! search snippets, escaped by the API with `<b>` as their only markup (and
//! checked again before they are marked, see `tenant::search`).

use std::sync::LazyLock;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

pub use self::frame::Frame;
use crate::http::ApiError;

mod frame;

/// No inline script or style anywhere in the console: everything comes from
/// this origin's assets. `form-action` is left open because SSO buttons
/// post here and are redirected on to the organisation's identity provider.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),*]
    };
}

const SOURCES: &[(&str, &str)] = templates![
    "base.html",
    "public.html",
    "message.html",
    "login.html",
    "login_mfa.html",
    "login_tenant.html",
    "forgot.html",
    "new_password.html",
    "verify_email.html",
    "accept_invitation.html",
    "unlock.html",
    "unlock_confirm.html",
    "security.html",
    "account.html",
    "password.html",
    "policy.html",
    "mfa.html",
    "mfa_setup.html",
    "sessions.html",
    "activity.html",
    "admin_users.html",
    "admin_user.html",
    "admin_bulk.html",
    "admin_deactivate.html",
    "admin_invite.html",
    "admin_roles.html",
    "admin_role.html",
    "platform_dashboard.html",
    "platform_tenants.html",
    "platform_tenant.html",
    "platform_tenant_new.html",
    "platform_tenant_delete.html",
    "platform_security.html",
    "platform_cleanup.html",
    "tenant_pager.html",
    "tenant_import.html",
    "tenant_projects.html",
    "tenant_project.html",
    "tenant_project_new.html",
    "tenant_document_delete.html",
    "tenant_search.html",
    "tenant_audit.html",
    "tenant_audit_row.html",
    "tenant_audit_verify.html",
    "tenant_overview.html",
    "_permission_matrix.html",
    "settings_secret.html",
    "settings_confirm.html",
    "settings_sso.html",
    "settings_sso_provider.html",
    "settings_sso_test.html",
    "settings_scim.html",
    "settings_scim_new.html",
    "settings_api_keys.html",
    "settings_api_key_new.html",
    "settings_webhooks.html",
    "settings_webhook_form.html",
    "settings_webhook.html",
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // A misspelt variable is an error, not an empty string.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let (js_url, css_url) = &*super::ASSET_URLS;
    env.add_global("js_url", js_url.as_str());
    env.add_global("css_url", css_url.as_str());
    env.add_global("script_url", super::SCRIPT_URL.as_str());
    env.add_global("app_name", super::APP_NAME.get().map_or("Tenantry", String::as_str));
    for (name, source) in SOURCES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("console template {name}: {e}"));
    }
    env
});

/// Renders `template` with `view` as an HTML page with the console's CSP.
pub fn page(status: StatusCode, template: &str, view: impl Serialize) -> Response {
    let html = match ENV
        .get_template(template)
        .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&view))))
    {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(template, error = %e, "console template failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be drawn.").into_response();
        }
    };
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    res
}

pub fn ok(template: &str, view: impl Serialize) -> Response {
    page(StatusCode::OK, template, view)
}

/// [`ok`] whose script may also connect to `origin` (the object store a
/// browser uploads to directly with a presigned URL).
pub fn ok_connecting(template: &str, view: impl Serialize, origin: &str) -> Response {
    let mut res = ok(template, view);
    let csp = CSP.replace("connect-src 'self'", &format!("connect-src 'self' {origin}"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        res.headers_mut().insert("content-security-policy", v);
    }
    res
}

#[derive(Serialize)]
struct MessageView<'a> {
    title: &'a str,
    text: &'a str,
}

/// A page saying one thing (errors, confirmations), outside the frame.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, "message.html", MessageView { title, text })
}

/// An API error as a page for people (its detail is written for them already).
pub fn api_error(e: ApiError) -> Response {
    let status = e.status();
    let text = match &e {
        ApiError::Internal(err) => {
            tracing::error!(error = %err, "console request failed");
            "Something went wrong on our side. Try again in a moment.".to_string()
        }
        ApiError::RateLimited { .. } => "Too many attempts. Wait a minute, then try again.".to_string(),
        ApiError::Forbidden(_) => "You do not have access to this page.".to_string(),
        other => other.to_string(),
    };
    message(status, status.canonical_reason().unwrap_or("Error"), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes() {
        for (name, _) in SOURCES {
            ENV.get_template(name).unwrap();
        }
        let html = ENV
            .get_template("message.html")
            .unwrap()
            .render(minijinja::Value::from(minijinja::value::Serde(MessageView {
                title: "<script>x</script>",
                text: "t",
            })))
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;x") && !html.contains("<script>x"),
            "{html}"
        );
    }
}
