//! The HTTP kernel: errors (problem+json), extractors, middleware and the
//! health primitives. It names no feature and not `crate::app`: the route
//! table, the OpenAPI document and the middleware stack are assembled in
//! `crate::router`, one layer up.

pub mod client_ip;
pub mod error;
pub mod extract;
pub mod health;
pub mod middleware;
pub mod outbound;
pub mod ratelimit;

pub use error::{ApiError, ApiResult};
