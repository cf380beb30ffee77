//! Integrations: the ways other systems work with a tenant — API keys for
//! machines (`/api/v1/api-keys`) and signed outbound webhooks (`/api/v1/webhooks`).

pub mod api_keys;
pub mod webhooks;
