//! The budget every authenticated request spends: per principal, then per tenant.

use std::time::Duration;

use super::RateLimiter;
use crate::http::error::ApiError;

/// The per-minute budgets every authenticated request spends (see [`api_budget`]).
#[derive(Debug, Clone, Copy)]
pub struct ApiLimits {
    /// Per principal (a user today; an API key is one more kind later).
    pub per_principal: u32,
    /// Per tenant, over all its principals.
    pub per_tenant: u32,
}

/// What a request costs in budget units: 1, more for the expensive routes.
/// `route` is the matched route template (`/api/v1/users/bulk/create`).
///
/// | route | units |
/// |---|---|
/// | bulk user create/action (`…/bulk/…`) | 10 |
/// | exports (`…/export`) | 10 |
/// | search (`…/search`), upload start and completion (`…/documents/upload`, `…/upload-complete`) | 5 |
/// | anything else | 1 |
///
/// The upload bytes themselves (`PUT …/content`) go to a signed URL without a
/// bearer token; their cost is charged when the upload is started.
pub fn request_cost(route: &str) -> u64 {
    if route.contains("/bulk/") || route.ends_with("/export") {
        10
    } else if route.ends_with("/search") || route.ends_with("/documents/upload") || route.ends_with("/upload-complete")
    {
        5
    } else {
        1
    }
}

/// Spends `cost` units of the principal's and then the tenant's one-minute
/// budget; answers the state of both for the `RateLimit` headers, and 429 when
/// either is exceeded. The tenant's budget is not spent by a principal that is
/// already over its own (one runaway client cannot starve its colleagues).
pub async fn api_budget(
    limiter: &RateLimiter,
    limits: ApiLimits,
    principal: &str,
    tenant: uuid::Uuid,
    cost: u64,
) -> (Vec<crate::http::ratelimit::QuotaState>, Result<(), ApiError>) {
    let window = Duration::from_secs(60);
    let principal_key = format!("api:p:{principal}");
    let tenant_key = format!("api:t:{tenant}");
    let chain = [
        (principal_key.as_str(), limits.per_principal),
        (tenant_key.as_str(), limits.per_tenant),
    ];
    let spent = limiter.spend_chain(&chain, cost, window).await;
    let mut verdict = Ok(());
    let states = ["principal", "tenant"]
        .into_iter()
        .zip(chain.iter().zip(&spent))
        .map(|(name, ((_, quota), s))| {
            if s.count > u64::from(*quota) && verdict.is_ok() {
                verdict = Err(ApiError::RateLimited {
                    retry_after_secs: s.reset_secs,
                });
            }
            crate::http::ratelimit::QuotaState {
                name,
                quota: *quota,
                window_secs: window.as_secs(),
                remaining: u64::from(*quota).saturating_sub(s.count),
                reset_secs: s.reset_secs,
            }
        })
        .collect();
    (states, verdict)
}
