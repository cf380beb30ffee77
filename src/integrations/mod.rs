//! Integrations with other systems: outbound webhooks (and, merged from other
//! branches, API keys and SCIM).

pub mod webhooks;
