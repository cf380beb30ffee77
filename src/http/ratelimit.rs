//! The `RateLimit-Policy` and `RateLimit` response header fields
//! (draft-ietf-httpapi-ratelimit-headers-10…12 syntax: Structured Field lists of
//! quota policies, e.g. `RateLimit-Policy: "principal";q=600;w=60` and
//! `RateLimit: "principal";r=599;t=42`).
//!
//! Budgets are spent where the caller becomes known (the authentication
//! extractor), which runs inside the handler; [`rate_limit_headers`] hands it a
//! [`RateLimitSlot`] through the request extensions and writes what was
//! reported there onto the response, whatever the status (429 included).

use std::{
    fmt::Write as _,
    sync::{Arc, OnceLock},
};

use axum::{
    extract::Request,
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};

pub static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One quota policy as it stands after this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaState {
    /// The policy's name (a Structured Field string), e.g. `principal`.
    pub name: &'static str,
    /// Units allowed per window (`q`).
    pub quota: u32,
    /// The window in seconds (`w`).
    pub window_secs: u64,
    /// Units left in the current window (`r`).
    pub remaining: u64,
    /// Seconds until the window resets (`t`).
    pub reset_secs: u64,
}

/// Where the authentication extractor reports the budgets it spent.
#[derive(Debug, Clone, Default)]
pub struct RateLimitSlot(Arc<OnceLock<Vec<QuotaState>>>);

impl RateLimitSlot {
    /// Records the budgets of this request (the first report wins).
    pub fn report(&self, states: Vec<QuotaState>) {
        let _ = self.0.set(states);
    }
}

/// Gives every request a [`RateLimitSlot`] and writes what was reported in it
/// as `RateLimit-Policy`/`RateLimit` headers (absent on unauthenticated routes).
pub async fn rate_limit_headers(mut req: Request, next: Next) -> Response {
    let slot = RateLimitSlot::default();
    req.extensions_mut().insert(slot.clone());
    let mut res = next.run(req).await;
    if let Some(states) = slot.0.get().filter(|s| !s.is_empty()) {
        let (policy, current) = render(states);
        if let (Ok(policy), Ok(current)) = (HeaderValue::try_from(policy), HeaderValue::try_from(current)) {
            res.headers_mut().insert(RATELIMIT_POLICY.clone(), policy);
            res.headers_mut().insert(RATELIMIT.clone(), current);
        }
    }
    res
}

/// The two field values for `states`.
fn render(states: &[QuotaState]) -> (String, String) {
    let (mut policy, mut current) = (String::new(), String::new());
    for (i, s) in states.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(policy, "{sep}\"{}\";q={};w={}", s.name, s.quota, s.window_secs);
        let _ = write!(current, "{sep}\"{}\";r={};t={}", s.name, s.remaining, s.reset_secs);
    }
    (policy, current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_structured_field_lists() {
        let states = [
            QuotaState {
                name: "principal",
                quota: 600,
                window_secs: 60,
                remaining: 599,
                reset_secs: 42,
            },
            QuotaState {
                name: "tenant",
                quota: 6000,
                window_secs: 60,
                remaining: 5990,
                reset_secs: 42,
            },
        ];
        let (policy, current) = render(&states);
        assert_eq!(policy, r#""principal";q=600;w=60, "tenant";q=6000;w=60"#);
        assert_eq!(current, r#""principal";r=599;t=42, "tenant";r=5990;t=42"#);
    }
}
