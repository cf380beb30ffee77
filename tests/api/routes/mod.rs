//! Authorisation on every route, walked from the served OpenAPI document (every
//! handler is registered with `utoipa_axum::routes!`, so a new route appears
//! here without anyone editing this file):
//! - no token → 401 on every non-public `/api/v1` operation;
//! - a signed-in user holding no role → 403 on every operation needing a
//!   permission or super admin;
//! - each system role → 403 exactly where its permission set lacks the declared
//!   permission, and never 401/403 where it has it;
//! - a concrete business matrix with real resources, and 404 for another tenant's ids.

mod business_matrix;
mod every_route;
mod schemas;
