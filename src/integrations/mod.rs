//! Integrations: the ways other systems work with a tenant — API keys
//! (`/api/v1/api-keys`) and, alongside, outbound webhooks.

pub mod api_keys;
