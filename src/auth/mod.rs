//! Authentication: sign-in, sessions and tokens, password and email flows, MFA,
//! and the rate limits in front of them.
//!
//! Decisions worth knowing:
//! - Login failures of every kind answer one 401 after the same Argon2 work;
//!   each attempt is a `login_attempts` row, each failure against a real account
//!   also a `login.failed` security event. Audit rows are written for sessions
//!   created/revoked, locks and unlocks, password changes/resets, MFA changes
//!   and user creation, not for every failed guess (those would serialise on the
//!   tenant's audit chain during a credential-stuffing run).
//! - Rate limits ([`ratelimit`], spent through [`budget`]): per IP on every
//!   request to login, refresh, password-reset request, MFA verify,
//!   change-password, TOTP disable, the emailed-token confirmations, unlock and
//!   OAuth starts; per account only on failed attempts (login by email, MFA by
//!   user, a wrong current password or code when re-authenticating) and on
//!   every reset request (each one sends mail), so one admin signing in
//!   repeatedly is never throttled. Re-authentication failures also count
//!   toward lockout.
//! - Password change, password reset and deactivation end every open emailed
//!   link of the account ([`tokens::revoke_open_links`]); the lockout alert
//!   carries a one-time unlock link (`POST /unlock`).
//! - Recovery codes are issued at TOTP setup (shown once, stored hashed) and are
//!   valid once MFA is enabled; setup again replaces them.
//! - Credentials (password, MFA) cannot be changed while impersonating.

pub mod budget;
pub mod cache;
pub mod extract;
pub mod handlers;
pub mod impersonation;
pub mod jwt;
pub mod model;
pub mod password;
pub mod ratelimit;
pub mod repo;
pub mod security;
pub mod session;
pub mod signin;
pub mod tokens;
pub mod totp;

use utoipa_axum::{router::OpenApiRouter, routes};

pub use extract::{AuthCtx, Authz, AuthzRead, SuperAdmin};

use crate::app::AppState;

/// Every `/api/v1/auth` route, with paths relative to that prefix (the OAuth
/// sign-in flow under `/api/v1/auth/oauth` is the oauth feature's).
pub fn router() -> OpenApiRouter<AppState> {
    handlers::router()
        .routes(routes!(impersonation::impersonate))
        .routes(routes!(impersonation::end_impersonation))
}
