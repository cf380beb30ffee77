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

use crate::{auth::AuthCtx, http::ApiError, rbac::Permission};

/// No inline script or style anywhere in the console: everything comes from
/// this origin's assets. `form-action` is left open because SSO buttons
/// post here and are redirected on to the organisation's identity provider.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),*]
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

/// One menu entry, shown only to users holding `needs`.
struct NavEntry {
    href: &'static str,
    label: &'static str,
    needs: Option<Permission>,
}

/// The menu: the account pages, then the administration pages, each with
/// the permission its routes require.
const NAV: &[NavEntry] = &[
    NavEntry {
        href: "/account",
        label: "Profile",
        needs: None,
    },
    NavEntry {
        href: "/account/password",
        label: "Password",
        needs: None,
    },
    NavEntry {
        href: "/account/mfa",
        label: "Two-factor",
        needs: None,
    },
    NavEntry {
        href: "/account/sessions",
        label: "Sessions",
        needs: None,
    },
    NavEntry {
        href: "/account/activity",
        label: "Activity",
        needs: None,
    },
    NavEntry {
        href: "/overview",
        label: "Overview",
        needs: Some(Permission::UsersRead),
    },
    NavEntry {
        href: "/admin/users",
        label: "Users",
        needs: Some(Permission::UsersRead),
    },
    NavEntry {
        href: "/admin/roles",
        label: "Roles",
        needs: Some(Permission::RolesRead),
    },
    NavEntry {
        href: "/admin/sso",
        label: "Single sign-on",
        needs: Some(Permission::TenantManage),
    },
    NavEntry {
        href: "/admin/scim",
        label: "SCIM provisioning",
        needs: Some(Permission::TenantManage),
    },
    NavEntry {
        href: "/admin/api-keys",
        label: "API keys",
        needs: Some(Permission::TenantManage),
    },
    NavEntry {
        href: "/admin/webhooks",
        label: "Webhooks",
        needs: Some(Permission::TenantManage),
    },
    NavEntry {
        href: "/projects",
        label: "Projects",
        needs: Some(Permission::ProjectsRead),
    },
    NavEntry {
        href: "/projects/search",
        label: "Search",
        needs: Some(Permission::ProjectsRead),
    },
    NavEntry {
        href: "/audit",
        label: "Audit log",
        needs: Some(Permission::AuditRead),
    },
];

/// The platform menu, after the others, for super admins only (signed in to
/// the system tenant, not impersonating: see `platform::is_platform_admin`).
const PLATFORM_NAV: &[NavEntry] = &[
    NavEntry {
        href: "/platform",
        label: "Dashboard",
        needs: None,
    },
    NavEntry {
        href: "/platform/tenants",
        label: "Tenants",
        needs: None,
    },
    NavEntry {
        href: "/platform/security",
        label: "Security",
        needs: None,
    },
];

#[derive(Serialize)]
pub struct NavItem {
    href: &'static str,
    label: &'static str,
    current: bool,
}

fn nav_for(entries: &[NavEntry], ctx: &AuthCtx, current: &str) -> Vec<NavItem> {
    entries
        .iter()
        .filter(|e| e.needs.is_none_or(|p| ctx.has(p)))
        .map(|e| NavItem {
            href: e.href,
            label: e.label,
            current: e.href == current,
        })
        .collect()
}

/// What every signed-in page shows around its content.
#[derive(Serialize)]
pub struct Frame {
    pub user_name: String,
    pub email: String,
    pub tenant_name: String,
    pub nav: Vec<NavItem>,
    /// Who is acting as this user, when impersonating.
    pub impersonator: Option<String>,
    pub csrf: String,
}

impl Frame {
    pub fn new(ctx: &AuthCtx, csrf: &str, current: &str) -> Self {
        let name = format!("{} {}", ctx.first_name, ctx.last_name).trim().to_string();
        let mut nav = nav_for(NAV, ctx, current);
        if super::platform::is_platform_admin(ctx) {
            nav.extend(nav_for(PLATFORM_NAV, ctx, current));
        }
        Frame {
            user_name: if name.is_empty() { ctx.email.clone() } else { name },
            email: ctx.email.clone(),
            tenant_name: ctx.tenant_name.clone(),
            nav,
            impersonator: ctx
                .impersonator
                .as_ref()
                .map(|a| a.email.clone().unwrap_or_else(|| a.sub.to_string())),
            csrf: csrf.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{db::TenantId, http::extract::ClientMeta};

    fn ctx(permissions: Vec<Permission>) -> AuthCtx {
        AuthCtx {
            user_id: uuid::Uuid::nil(),
            tenant_id: TenantId::from_trusted(uuid::Uuid::nil()),
            session_id: uuid::Uuid::nil(),
            email: "a@example.com".into(),
            first_name: String::new(),
            last_name: String::new(),
            tenant_slug: "acme".into(),
            tenant_name: "Acme".into(),
            is_super_admin: false,
            permissions,
            impersonator: None,
            meta: ClientMeta::default(),
            api_key: None,
        }
    }

    #[test]
    fn menu_items_need_their_permission() {
        let entries = [
            NavEntry {
                href: "/account",
                label: "Profile",
                needs: None,
            },
            NavEntry {
                href: "/users",
                label: "Users",
                needs: Some(Permission::UsersRead),
            },
        ];
        let labels = |c: &AuthCtx| {
            nav_for(&entries, c, "/account")
                .iter()
                .map(|i| i.label)
                .collect::<Vec<_>>()
        };
        assert_eq!(labels(&ctx(vec![])), ["Profile"]);
        assert_eq!(labels(&ctx(vec![Permission::UsersRead])), ["Profile", "Users"]);
    }

    #[test]
    fn only_a_super_admin_outside_impersonation_sees_the_platform_menu() {
        let has_platform = |c: &AuthCtx| Frame::new(c, "", "/account").nav.iter().any(|i| i.href == "/platform");
        let mut c = ctx(vec![Permission::UsersRead]);
        assert!(!has_platform(&c), "a tenant user");
        c.is_super_admin = true;
        assert!(!has_platform(&c), "a super admin flag outside the system tenant");
        c.tenant_id = TenantId::SYSTEM;
        assert!(has_platform(&c));
        c.impersonator = Some(crate::auth::jwt::Actor {
            sub: uuid::Uuid::nil(),
            email: None,
        });
        assert!(!has_platform(&c), "while impersonating");
    }

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
