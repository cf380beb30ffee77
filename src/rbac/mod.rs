//! Role-based access control: the permission catalogue, roles and assignments.

pub mod permission;

pub use permission::{Permission, Required, SYSTEM_ROLES, perm, system_role_permissions};
