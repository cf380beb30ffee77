//! One integration-test binary: every feature's tests, sharing the harness.

#[allow(dead_code)] // the harness offers more than any one test module uses
mod helpers;

mod admin;
mod auth;
mod console;
mod deploy;
mod email;
mod embedded_cli;
mod foundation;
mod hardening_admins;
mod hardening_guessing;
mod hardening_headers;
mod hardening_input;
mod hardening_leaks;
mod hardening_logs;
mod hardening_proxy;
mod hardening_roles;
mod hardening_search;
mod hardening_tokens;
mod hardening_unlock;
mod hardening_webhook;
mod key_rotation;
mod oauth;
mod projects;
mod ratelimit_api;
mod rbac;
mod retention;
mod routes;
mod scale;
mod startup_refusals;
mod support;
mod tenants;
mod users;
mod webhooks;
