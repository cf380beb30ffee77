//! The page frame: who is signed in, the menu for their permissions (the
//! platform menu for super admins), the CSRF token.

use serde::Serialize;

use crate::{auth::AuthCtx, rbac::Permission};

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
        if crate::console::platform::is_platform_admin(ctx) {
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
}
