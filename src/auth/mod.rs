//! Authentication: sign-in, sessions and tokens, password and email flows, MFA.

pub mod extract;
pub mod handlers;
pub mod jwt;
pub mod password;
pub mod session;

pub use extract::{AuthCtx, Authz, SuperAdmin};
