//! The console in a real browser: headless Chromium through WebDriver
//! (`chromedriver`), plus the plain-HTTP checks of its security rules.

mod admin_roles;
mod admin_users;
mod browser;
mod http;
mod links;
mod platform;
mod platform_pages;
mod settings_integrations;
mod settings_sso;
mod signin;
mod sso;
mod tenant_access;
mod tenant_audit;
mod tenant_documents;
mod tenant_import;
