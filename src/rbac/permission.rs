//! The fixed permission catalogue and the marker types handlers name in their
//! signatures (`Authz<perm::ProjectsRead>`), so a route's permission is part of its type.

macro_rules! catalogue {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// A `resource:action` permission from the catalogue of API.md.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Permission { $($variant),* }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name),* }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($name => Some(Permission::$variant),)* _ => None }
            }
        }

        /// Zero-sized markers, one per permission, for [`crate::auth::Authz`].
        pub mod perm {
            use super::Permission;
            $(
                #[doc = concat!("Requires `", $name, "`.")]
                pub struct $variant;
                impl super::Required for $variant {
                    const PERMISSION: Option<Permission> = Some(Permission::$variant);
                }
            )*
            /// Any authenticated user of the tenant; no permission needed.
            pub struct Authenticated;
            impl super::Required for Authenticated {
                const PERMISSION: Option<Permission> = None;
            }
        }
    };
}

/// What a route requires; implemented by the markers in [`perm`].
pub trait Required: Send + Sync + 'static {
    const PERMISSION: Option<Permission>;
}

catalogue! {
    UsersCreate = "users:create",
    UsersRead = "users:read",
    UsersUpdate = "users:update",
    UsersDelete = "users:delete",
    UsersInvite = "users:invite",
    ProjectsCreate = "projects:create",
    ProjectsRead = "projects:read",
    ProjectsUpdate = "projects:update",
    ProjectsDelete = "projects:delete",
    DocumentsCreate = "documents:create",
    DocumentsRead = "documents:read",
    DocumentsUpdate = "documents:update",
    DocumentsDelete = "documents:delete",
    DocumentsDownload = "documents:download",
    TenantManage = "tenant:manage",
    TenantBilling = "tenant:billing",
    RolesCreate = "roles:create",
    RolesRead = "roles:read",
    RolesUpdate = "roles:update",
    RolesDelete = "roles:delete",
    RolesAssign = "roles:assign",
    AuditRead = "audit:read",
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The four roles every tenant is created with, and exactly their permissions.
pub const SYSTEM_ROLES: &[(&str, &str)] = &[
    ("tenant_admin", "Full control of the tenant"),
    ("project_manager", "Manages projects and documents; reads users"),
    ("user", "Works on projects and documents"),
    ("viewer", "Reads projects and documents"),
];

pub fn system_role_permissions(role: &str) -> Vec<Permission> {
    use Permission::*;
    match role {
        "tenant_admin" => Permission::ALL.to_vec(),
        "project_manager" => vec![
            ProjectsCreate,
            ProjectsRead,
            ProjectsUpdate,
            ProjectsDelete,
            DocumentsCreate,
            DocumentsRead,
            DocumentsUpdate,
            DocumentsDelete,
            DocumentsDownload,
            UsersRead,
        ],
        "user" => vec![
            ProjectsRead,
            ProjectsCreate,
            ProjectsUpdate,
            DocumentsRead,
            DocumentsCreate,
            DocumentsUpdate,
            DocumentsDownload,
        ],
        "viewer" => vec![ProjectsRead, DocumentsRead],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_round_trips() {
        assert_eq!(Permission::ALL.len(), 22);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
        assert_eq!(Permission::parse("projects:fly"), None);
    }
}
