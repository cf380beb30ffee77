//! Integrations: API keys and the audit export.

mod api_keys;
mod api_keys_lifecycle;
mod audit_export;
mod audit_verify;
