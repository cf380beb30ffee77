//! Authentication: sign-in, sessions and tokens, password and email flows, MFA,
//! and the rate limits in front of them.

pub mod accounts;
pub mod extract;
pub mod handlers;
pub mod jwt;
pub mod model;
pub mod password;
pub mod ratelimit;
pub mod security;
pub mod session;
pub mod signin;
pub mod tokens;
pub mod totp;

pub use extract::{AuthCtx, Authz, SuperAdmin};
