//! One integration-test binary: every feature's tests, sharing the harness.

#[allow(dead_code)] // the harness offers more than any one test module uses

mod admin;
mod auth;
mod deploy;
mod documents;
mod email;
mod foundation;
mod hardening_guessing;
mod hardening_search;
mod hardening_tokens;
mod hardening_unlock;
mod helpers;
mod key_rotation;
mod oauth;
mod oauth_idp;
mod projects;
mod rbac;
mod routes;
mod scale;
mod startup_refusals;
mod support;
mod tenants;
mod users;
