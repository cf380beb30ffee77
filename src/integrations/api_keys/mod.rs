//! API keys (`/api/v1/api-keys`, `tenant:manage`): non-person principals of a
//! tenant that authenticate with `Authorization: Bearer tnt_…` on every
//! `/api/v1` route their permissions allow.
//!
//! Decisions:
//! - The key (`tnt_` + 32 random bytes, base64url) is shown once; only its
//!   SHA-256 is stored, plus a short `prefix` for recognising it in lists.
//! - A key's permissions are a subset of its creator's at creation
//!   (`rbac::grants::ensure_can_grant`), and at use its effective permissions
//!   are the key's ∩ its creator's *current* ones: demoting the creator shrinks
//!   the key, deactivating the creator ends it. This is the safer choice: a key
//!   can never outlive or outrank the person accountable for it.
//! - Ownership columns (`created_by`, `updated_by`) name the key's creator
//!   (`AuthCtx::user_id`); the audit actor names the key (`api_key:<name>`).
//! - Names are unique per tenant forever (revoked keys keep theirs), so an
//!   audit principal always names one key.
//! - Routes for a person only (`/users/me`, change-password, MFA, logout,
//!   login history, `/auth/status`) answer 403 to a key: see [`crate::auth::Authz`].

pub mod authn;
pub mod handlers;
pub mod repo;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::app::AppState;

/// Paths relative to `/api/v1/api-keys`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create_api_key, handlers::list_api_keys))
        .routes(routes!(handlers::revoke_api_key))
}
