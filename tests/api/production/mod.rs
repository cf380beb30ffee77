//! Production safety: start-up refusals, key rotation, the development-only
//! embedded cluster, rate limits on every route and data retention.

mod embedded_cli;
pub(crate) mod key_rotation;
mod rate_limits;
mod retention;
mod startup_refusals;
